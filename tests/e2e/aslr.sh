#!/bin/bash
# aslr.sh - one image restarted 25 times in a row.
#
# `selfckpt restart` is a position-independent program: with address space
# randomization each run loads the launcher, its libraries, heap and stack
# at new random places, which may lie where the image's memory has to go.
# The restorer must find its room and move out of the way every time
# (restore.c, make_hole and the moves). The program is mem01 (memory of
# every common kind, checked after the restart) run without SCK_READY: it
# writes its image and exits (zdtm.h). Every restart must exit 0 printing
# PASS, and the image must stay as it was.
#
# Env: B, ROOT, WORK (see run-tests.sh). Last line: a summary.
set -eu
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
n=25
start=$EPOCHREALTIME

# The premise: addresses do change from run to run.
aslr=$(cat /proc/sys/kernel/randomize_va_space)
readelf -h "$sck" | grep -q 'Type: *DYN' || die "$sck is not position-independent"

env -u SCK_READY SCK_IMAGE="$WORK/mem01.img" "$B/tests/e2e/bin/mem01" 2>&1 | cat >first.log
[ "${PIPESTATUS[0]}" -eq 0 ] || die "mem01 failed: $(cat first.log)"
grep -q '^info: checkpoint 1 written (no runner: exiting)$' first.log ||
	die "unexpected output from mem01: $(cat first.log)"
sum=$(sha256sum <mem01.img)

for i in $(seq $n); do
	timeout 60 "$sck" restart mem01.img </dev/null 2>&1 | cat >"restart-$i.log"
	st=${PIPESTATUS[0]}
	[ "$st" -eq 0 ] && [ "$(cat "restart-$i.log")" = PASS ] ||
		die "restart $i of $n: status $st, output: $(cat "restart-$i.log")"
done
[ "$(sha256sum <mem01.img)" = "$sum" ] || die "the image changed"

echo "aslr: one mem01 image restarted $n times in a row, PASS each time (randomize_va_space $aslr, $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s)"

#!/bin/bash
# clocks01.sh - the clocks a restarted program sees (issue 5): by default,
# in the private namespaces of a restart, CLOCK_MONOTONIC and
# CLOCK_BOOTTIME go on from their values at the checkpoint (a time
# namespace), so they never go back and the time the image waited does not
# count; with --host-clocks, or with new ids (--no-namespaces), the program
# sees this machine's, and a restart whose clock is behind the image's says
# so.
#
# helpers/clockprog checks, in the restarted process, what the file
# expect.txt says it should see (see there). Every restart here comes at
# least SLEEP seconds after its checkpoint:
#   1. checkpointed here: restart (namespace), --host-clocks (host: the
#      SLEEP seconds counted), --no-namespaces (host);
#   2. checkpointed in a time namespace whose clocks are 100000 s ahead
#      (unshare --time; -c, a user namespace mapping only ourselves, when
#      not root), as after a reboot on a machine that had been up longer:
#      restart (namespace: the clock goes on from there), --host-clocks
#      (back: the program sees its clock go back, and the restart warns).
# Env: B, ROOT, WORK (see run-tests.sh). Last line: a summary.
set -eu
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
me=clocks01
prog=$B/tests/e2e/helpers/clockprog
SLEEP=2
runs=0

# restart IMAGE EXPECT [OPTIONS...]: the program's verdict, and what the
# restart said on stderr in restart.err.
restart() {
	local img=$1 want=$2
	shift 2
	echo "$want" >expect.txt
	local out st=0
	out=$("$sck" restart "$@" "$img" </dev/null 2>restart.err) || st=$?
	runs=$((runs + 1))
	[ $st -eq 0 ] && [[ "$out" == "PASS $want:"* ]] ||
		die "restart $* $img (expecting $want): status $st: $out $(cat restart.err)"
}

if ! unshare --time true 2>/dev/null && ! unshare -c --time true 2>/dev/null; then
	echo "clocks01: not run: no time namespaces here (unshare --time)"
	exit 77
fi

# 1. Checkpointed in this machine's time.
# Its stdout and stderr a pipe: the restarted program's are the restart's.
"$prog" "$WORK/here.img" "$WORK/expect.txt" $SLEEP </dev/null 2>&1 | cat >ckpt.log
[ "${PIPESTATUS[0]}" -eq 0 ] || die "the checkpoint failed: $(cat ckpt.log)"
sleep $SLEEP
restart here.img namespace
grep -q warning restart.err && die "a warning about the clocks: $(cat restart.err)"
restart here.img host --host-clocks
restart here.img host --no-namespaces

# 2. Checkpointed 100000 s ahead; restarted here, where the clock is behind.
if [ "$(id -u)" = 0 ]; then
	ahead=(unshare --time --monotonic 100000 --boottime 100000)
else
	ahead=(unshare -c --time --monotonic 100000 --boottime 100000)
fi
# The image's CLOCK_BOOTTIME must be this machine's (/proc/uptime, read
# outside the namespace) at some moment of the run, plus 100000 s.
up0=$(cut -d. -f1 /proc/uptime)
"${ahead[@]}" "$prog" "$WORK/ahead.img" "$WORK/expect.txt" $SLEEP </dev/null 2>&1 | cat >ckpt.log
[ "${PIPESTATUS[0]}" -eq 0 ] || die "the checkpoint in a time namespace failed: $(cat ckpt.log)"
up1=$(($(cut -d. -f1 /proc/uptime) + 1))
boot=$("$sck" info --json ahead.img | sed -n 's/.*"boottime_sec":\([0-9]*\).*/\1/p')
[ -n "$boot" ] && [ "$boot" -ge $((up0 + 100000)) ] && [ "$boot" -le $((up1 + 100000)) ] ||
	die "ahead.img does not record the clocks of its time namespace (boottime ${boot:-none}, expected $((up0 + 100000)) to $((up1 + 100000))): $("$sck" info ahead.img | grep clocks)"
sleep $SLEEP
restart ahead.img namespace
restart ahead.img back --host-clocks
grep -q "warning: this machine's CLOCK_MONOTONIC is .* behind the image's" restart.err ||
	die "--host-clocks with a clock behind the image's: no warning: $(cat restart.err)"
echo "clocks01: $runs restarts: the clocks go on from the checkpoint in a time namespace, this machine's with --host-clocks or new ids (with a warning when they go back)"

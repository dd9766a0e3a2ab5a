#!/bin/bash
# noguard.sh - checkpoints where PAGEMAP_SCAN exists but refuses
# PAGE_IS_GUARD (Linux 6.7-6.14), forced on any kernel with
# SELFCKPT_TEST_FAULT=no-page-is-guard (docs/reliability.md): the writer
# scans without the bit and tells guard pages from swapped-out pages by
# reading them (writer.c, split_guards).
#
#   - guard01 (guard regions of every shape, a thread stack's, written in
#     place and by the writer child), maps01 (every kind of mapping, guard
#     pages among them) and threads01 pass, from a file and from a pipe;
#     the library's log says each time that the fallback was taken (so
#     this test fails where the knob does nothing);
#   - `selfckpt check` with the knob says "PAGEMAP_SCAN guard" is absent,
#     optional, and what the checkpoint does instead; it still exits 0.
#
# Env: B, ROOT, WORK (see run-tests.sh). Last line: a summary.
set -eu
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
export SELFCKPT_TEST_FAULT=no-page-is-guard
runs=0

for t in guard01 maps01 threads01; do
	for mode in file pipe; do
		opts=()
		[ $mode = file ] || opts=(--pipe)
		d=$WORK/$t-$mode
		st=0
		SELFCKPT_LOG_FD=2,3 timeout 300 "$B/tests/runner" --selfckpt "$sck" --dir "$d" \
			"${opts[@]}" -- "$B/tests/e2e/bin/$t" >"$d.log" 2>&1 || st=$?
		[ $st -eq 0 ] || die "$t ($mode): status $st: $(tail -n 20 "$d.log")"
		n=$(grep -c 'PAGEMAP_SCAN does not take PAGE_IS_GUARD here (SELFCKPT_TEST_FAULT=no-page-is-guard)' "$d/output" || :)
		[ "$n" -ge 1 ] || die "$t ($mode): the library did not take the fallback: $(head -n 20 "$d/output")"
		grep -q 'no guard regions\|MADV_GUARD_INSTALL unsupported' "$d/output" && noguards=1
		runs=$((runs + 1))
	done
done

st=0
"$sck" check >check.out 2>check.err || st=$?
[ $st -eq 0 ] || die "check with the knob: status $st: $(cat check.out check.err)"
grep -qE '^PAGEMAP_SCAN guard +no +optional .*tells guard pages from swapped-out ones by reading them.*\(PAGE_IS_GUARD in the masks: .* \(SELFCKPT_TEST_FAULT=no-page-is-guard\)\)$' check.out ||
	die "check with the knob: $(grep '^PAGEMAP_SCAN guard' check.out)"

echo "noguard: $runs runs of guard01, maps01, threads01 (file and pipe) with PAGEMAP_SCAN without PAGE_IS_GUARD passed${noguards:+ (this kernel has no guard regions: data only)}; selfckpt check says so"

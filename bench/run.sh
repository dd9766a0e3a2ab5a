#!/bin/bash
# run.sh [BUILD] [SIZES_MIB...] - checkpoint and restart cost, side by side.
#
# For each size, interleaved over REPEAT rounds (default 5), in one run:
#   write+fsync   the same bytes written by the same process with write(2)
#                 into a new file, fsync, renamed over the previous one: the
#                 durable-replace protocol of the checkpoint, nothing else
#   checkpoint    selfckpt_checkpoint() with fsync (the default)
#   write         as above without fsync (page cache only)
#   ckpt-nosync   selfckpt_checkpoint(SELFCKPT_NO_SYNC)
#   restart       `selfckpt restart` until the program runs again, image in
#                 the page cache, including the full up-front verification
#   restart-nv    the same with --no-verify (page data still checked while read)
# Medians are reported, with the ratios checkpoint/write+fsync and
# ckpt-nosync/write. These VMs are noisy: compare within one run only.
set -eu
B=$(cd "${1:-build}" && pwd)
shift || true
sizes=("${@:-64 256 1024}")
[ $# -gt 0 ] && sizes=("$@") || sizes=(64 256 1024)
REPEAT=${REPEAT:-5}
bin=$B/bench/bench-ckpt
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh" bench

echo "selfckpt $(basename "$(readlink -f "$B/libselfckpt.so")") on $(uname -r), $(nproc) CPUs, $work ($(df -T "$work" | awk 'NR==2{print $2}'))"
printf '%8s %12s %12s %8s %12s %12s %8s %12s %12s %12s\n' MiB write+fsync checkpoint ratio write ckpt-nosync ratio image restart restart-nv
for mib in "${sizes[@]}"; do
	declare -A t=()
	for r in $(seq "$REPEAT"); do
		t[wf]+="$("$bin" "$mib" "$work/base" baseline | field seconds) "
		t[ck]+="$("$bin" "$mib" "$work/img" checkpoint | field seconds) "
		t[w]+="$("$bin" "$mib" "$work/base" baseline-nosync | field seconds) "
		out=$("$bin" "$mib" "$work/img" checkpoint-nosync)
		t[cn]+="$(echo "$out" | field seconds) "
		bytes=$(echo "$out" | field bytes)
		for v in "" --no-verify; do
			start=$(date +%s.%N)
			res=$("$B/selfckpt" restart $v "$work/img" | field resumed_at)
			key=rs
			[ -n "$v" ] && key=rn
			t[$key]+="$(echo "$res - $start" | bc -l) "
		done
	done
	m() { echo "${t[$1]}" | tr ' ' '\n' | grep . | median; }
	wf=$(m wf) ck=$(m ck) w=$(m w) cn=$(m cn) rs=$(m rs) rn=$(m rn)
	printf '%8s %11.3fs %11.3fs %8.2f %11.3fs %11.3fs %8.2f %11.1fM %11.3fs %11.3fs\n' \
		"$mib" "$wf" "$ck" "$(echo "$ck / $wf" | bc -l)" "$w" "$cn" \
		"$(echo "$cn / $w" | bc -l)" "$(echo "$bytes / 1048576" | bc -l)" "$rs" "$rn"
	unset t
done

#!/bin/bash
# run-preload.sh [BUILD] [N] - what running under `selfckpt run` costs a
# program's own system calls: a tight open/close loop and a read/write loop
# on a pipe (N iterations each, default 1000000), plain and with
# libselfckpt-preload.so loaded and active (SELFCKPT_DIR set, as selfckpt
# run does). Runs are interleaved; medians of REPEAT (default 7); the
# ratio is preload / plain.
set -eu
B=$(cd "${1:-build}" && pwd)
N=${2:-1000000}
REPEAT=${REPEAT:-7}
bin=$B/bench/bench-syscalls
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh" preload
echo "$N iterations, $(nproc) CPUs, medians of $REPEAT (interleaved)"
printf '%-10s %12s %12s %8s\n' loop plain-s preload-s ratio
for loop in openclose readwrite; do
	declare -a a=() b=()
	for _ in $(seq "$REPEAT"); do
		a+=("$("$bin" "$loop" "$N" | field seconds)")
		b+=("$("$B/selfckpt" run --dir "$work/ck" -- "$bin" "$loop" "$N" | field seconds)")
	done
	pa=$(printf '%s\n' "${a[@]}" | median)
	pb=$(printf '%s\n' "${b[@]}" | median)
	printf '%-10s %12.4f %12.4f %8.3f\n' "$loop" "$pa" "$pb" "$(awk -v a="$pa" -v b="$pb" 'BEGIN { print b / a }')"
done

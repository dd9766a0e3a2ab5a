#!/bin/bash
# run-pause.sh [BUILD] [MIB] - the pause a checkpoint imposes on the other
# threads, with 1, 8 and 64 threads, copy-on-write (the default) next to
# SELFCKPT_NO_FORK (threads stopped until the image is written), beside
# the checkpoint's own duration (image written and fsync'd). Medians of
# REPEAT runs (default 5), interleaved; "noise" is the largest gap between
# wake-ups of a worker without any checkpoint (the scheduler, 2 CPUs).
set -eu
B=$(cd "${1:-build}" && pwd)
MIB=${2:-256}
REPEAT=${REPEAT:-5}
bin=$B/bench/bench-pause
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh" pause
echo "$MIB MiB of data, $(nproc) CPUs, medians of $REPEAT; times in ms"
printf '%8s %-10s %12s %12s %12s %12s\n' threads mode checkpoint pause pause-max noise
for n in 1 8 64; do
	for mode in cow nofork; do
		declare -a c=() p=() m=() z=()
		for _ in $(seq "$REPEAT"); do
			out=$("$bin" "$n" "$MIB" "$work/img" $([ $mode = nofork ] && echo nofork))
			c+=("$(echo "$out" | field checkpoint)")
			p+=("$(echo "$out" | field pause)")
			m+=("$(echo "$out" | field pause_max)")
			z+=("$(echo "$out" | field noise)")
		done
		ms() { printf '%s\n' "$@" | median | awk '{printf "%.1f", $1 * 1000}'; }
		label=$mode
		[ "$n" = 1 ] && label="(caller)"
		printf '%8s %-10s %12s %12s %12s %12s\n' "$n" "$label" "$(ms "${c[@]}")" \
			"$(ms "${p[@]}")" "$(ms "${m[@]}")" "$(ms "${z[@]}")"
		[ "$n" = 1 ] && break
	done
done

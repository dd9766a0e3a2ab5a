#!/bin/bash
# run.sh short|long|coverage FUZZDIR - run the image reader's fuzzer
# (docs/fuzzing.md). FUZZDIR is $(BUILD)/fuzz, where `make fuzz-build` put
# fuzz-image; everything the run writes goes there too.
#
#   short     what `make test` runs, about FUZZ_SHORT_TIME seconds (60):
#             the seed corpus replayed; then FUZZ_SHORT_RUNS executions
#             (60000) with the fixed seed 1, the same on every machine
#             (also stopped at half the time); then the rest of the time
#             with a random seed that is printed (FUZZ_SEED=N sets it),
#             also bounded by 2000000 executions. Any finding fails, with
#             the file that reproduces it.
#   long      FUZZ_HOURS hours (default 4) on FUZZ_JOBS processes (default:
#             the number of CPUs), with a corpus kept in FUZZDIR/long/corpus
#             from one long run to the next; stops at the first finding.
#   coverage  build the harness with clang's source coverage and report the
#             line and branch coverage of the reader and of `info` reached
#             by the seeds and by the corpora of earlier short and long
#             runs (needs llvm-profdata-14 and llvm-cov-14, package llvm-14).
set -u
mode=${1:-}
D=${2:-}
if [ -z "$mode" ] || [ -z "$D" ]; then
	echo "usage: run.sh short|long|coverage FUZZDIR" >&2
	exit 2
fi
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
D=$(cd "$D" && pwd)
SEEDS=$ROOT/tests/fuzz/corpus
FZ=$D/fuzz-image
# Images of the corpus are up to ~200 KiB; room for growth, no slow ramp.
COMMON=(-max_len=262144 -len_control=0 -timeout=10 -rss_limit_mb=2048
	-print_final_stats=1)

# A finding: what it is, where the input is, how to reproduce it.
finding() { # log artifacts-dir
	local first
	# The report from its first line (sanitizer, contract, time-out...).
	first=$(grep -n -m1 -E '^==[0-9]+==|^fuzz_image: |runtime error:|ERROR: libFuzzer|^ALARM' "$1" |
		cut -d: -f1)
	echo "---- $1${first:+, from line $first}"
	if [ -n "$first" ]; then
		tail -n +"$first" "$1" | grep -v -e '^    #[0-9]* 0x[0-9a-f]* in fuzzer::' \
			-e '^  0x[0-9a-f]*: ' -e 'redzone:\|Shadow byte\|Addressable:\|Partially\|Freed heap\|Stack \(after\|use\)\|Global \|Poisoned\|Container\|Array cookie\|Intra object\|ASan internal' |
			head -n 50
	else
		grep -v -e '^#[0-9]' -e '^	NEW_FUNC' "$1" | tail -n 40
	fi
	echo "----"
	for a in "$2"/*; do
		[ -e "$a" ] || continue
		echo "fuzz: finding: $a"
		echo "      reproduce: $FZ $a"
		echo "      or:        selfckpt info $a"
	done
	echo "fuzz: see docs/fuzzing.md, \"Reproducing a finding\""
}

# One line from libFuzzer's final statistics.
summary() { # log
	local done runs eps cov ft corp
	done=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$1" | tail -n 1)
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$1")
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$1")
	cov=$(echo "$done" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$done" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$done" | sed -n 's/.* corp: \([0-9]*\)\/\([0-9]*[a-zA-Z]*\).*/\1 inputs, \2/p')
	echo "${runs:-?} runs, ${eps:-?} exec/s, coverage ${cov:-?} edges, ${ft:-?} features, corpus ${corp:-?}"
}

case $mode in
short)
	W=$D/short
	rm -rf "$W"
	mkdir -p "$W/corpus" "$W/artifacts"
	total=${FUZZ_SHORT_TIME:-60}
	runs1=${FUZZ_SHORT_RUNS:-60000}
	seed2=${FUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
	start=$(date +%s)
	# Every seed as it is: the checked-in corpus must pass.
	"$FZ" "${COMMON[@]}" -runs=0 -artifact_prefix="$W/artifacts/" "$SEEDS" \
		>"$W/replay.log" 2>&1
	st=$?
	n=$(find "$SEEDS" -type f | wc -l)
	if [ $st -ne 0 ]; then
		echo "fuzz-short: FAIL: a seed of tests/fuzz/corpus (status $st)"
		finding "$W/replay.log" "$W/artifacts"
		exit 1
	fi
	echo "fuzz-short: $n seeds replayed"
	for run in "1 fixed" "$seed2 random"; do
		set -- $run
		log=$W/seed-$1.log
		if [ "$2" = fixed ]; then
			limit=(-runs="$runs1" -max_total_time=$((total / 2)))
			echo "fuzz-short: $runs1 runs with the fixed seed 1"
		else
			left=$((total - ($(date +%s) - start)))
			[ $left -ge 5 ] || left=5
			limit=(-runs=2000000 -max_total_time=$left)
			echo "fuzz-short: $left s with the random seed $1 (to use it again: make fuzz-short FUZZ_SEED=$1)"
		fi
		# New inputs go to the first directory: the seeds stay untouched.
		"$FZ" "${COMMON[@]}" -seed="$1" "${limit[@]}" \
			-artifact_prefix="$W/artifacts/" "$W/corpus" "$SEEDS" >"$log" 2>&1
		st=$?
		if [ $st -ne 0 ] || [ -n "$(ls -A "$W/artifacts")" ]; then
			echo "fuzz-short: FAIL: seed $1 found something (status $st)"
			finding "$log" "$W/artifacts"
			exit 1
		fi
		echo "fuzz-short: seed $1: $(summary "$log")"
	done
	echo "fuzz-short: PASS: no finding in $(($(date +%s) - start)) s (logs: $W)"
	;;
long)
	W=$D/long
	mkdir -p "$W/corpus" "$W/artifacts"
	hours=${FUZZ_HOURS:-4}
	jobs=${FUZZ_JOBS:-$(nproc)}
	secs=$(awk -v h="$hours" 'BEGIN { printf "%d", h * 3600 }')
	seed=${FUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
	log=$W/fuzz-$(date +%Y%m%d-%H%M%S).log
	echo "fuzz-long: $hours h on $jobs processes, seed $seed, corpus $W/corpus"
	echo "fuzz-long: progress: tail -f $log"
	"$FZ" "${COMMON[@]}" -rss_limit_mb=4096 -seed="$seed" -fork="$jobs" \
		-max_total_time="$secs" -artifact_prefix="$W/artifacts/" \
		"$W/corpus" "$SEEDS" >"$log" 2>&1
	st=$?
	if [ $st -ne 0 ] || [ -n "$(ls -A "$W/artifacts")" ]; then
		echo "fuzz-long: FAIL: a finding (status $st)"
		finding "$log" "$W/artifacts"
		exit 1
	fi
	echo "fuzz-long: PASS: no finding in $hours h; $(grep -E '^#[0-9]+: cov:' "$log" | tail -n 1)"
	echo "fuzz-long: corpus $(find "$W/corpus" -type f | wc -l) inputs in $W/corpus"
	;;
coverage)
	W=$D/cov
	mkdir -p "$W"
	rm -f "$W"/*.profraw
	cov=(-std=gnu11 -O0 -g -I"$ROOT/include" -I"$ROOT/libselfckpt"
	     -I"$ROOT/libselfckpt/arch/x86_64" -I"$ROOT/tools" -D_GNU_SOURCE
	     -fno-strict-aliasing)
	prof=(-fprofile-instr-generate -fcoverage-mapping)
	set -e
	clang "${cov[@]}" "${prof[@]}" -c "$ROOT/libselfckpt/image-dec.c" -o "$W/image-dec.o"
	clang "${cov[@]}" "${prof[@]}" -c "$ROOT/tools/cmd-info.c" -o "$W/cmd-info.o"
	clang "${cov[@]}" -fsanitize=fuzzer -o "$W/fuzz-cov" "$W/image-dec.o" "$W/cmd-info.o" \
		"$ROOT/libselfckpt/nolibc/xxh64.c" "$ROOT/tests/fuzz/fuzz_image.c" \
		"$ROOT/tests/fuzz/mutator.c" "$ROOT/tests/fuzz/imgmut.c" -fprofile-instr-generate
	dirs=("$SEEDS")
	for c in "$D/short/corpus" "$D/long/corpus"; do
		[ -d "$c" ] && dirs+=("$c")
	done
	LLVM_PROFILE_FILE="$W/cov.profraw" "$W/fuzz-cov" -runs=0 "${COMMON[@]}" "${dirs[@]}" \
		>"$W/replay.log" 2>&1
	llvm-profdata-14 merge -o "$W/cov.profdata" "$W/cov.profraw"
	echo "coverage of ${dirs[*]}:"
	llvm-cov-14 report "$W/fuzz-cov" -instr-profile="$W/cov.profdata" \
		"$ROOT/libselfckpt/image-dec.c" "$ROOT/tools/cmd-info.c"
	llvm-cov-14 show "$W/fuzz-cov" -instr-profile="$W/cov.profdata" -format=html \
		-output-dir="$W/html" "$ROOT/libselfckpt/image-dec.c" "$ROOT/tools/cmd-info.c"
	echo "line by line: $W/html/index.html"
	;;
*)
	echo "run.sh: unknown mode '$mode'" >&2
	exit 2
	;;
esac

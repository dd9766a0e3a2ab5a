#!/bin/bash
# heat.sh - the example simulation (examples/heat.c), checkpointed, killed
# with SIGKILL well after the checkpoint and restarted, ends exactly as a
# run that was never interrupted: the output file is byte-identical (cmp),
# the final checksum line is the same, and the progress lines printed
# before the checkpoint and after the restart are together those of the
# uninterrupted run. Three ways:
#
#   1. the dynamically linked binary, restarted from the image file;
#   2. the statically linked one, restarted from a pipe (restart -);
#   3. five generations: --checkpoint-every, each stage killed a little
#      after its checkpoint, and the image restarted, five times in a row,
#      the last restart running to the end.
#
# Env: B (build dir), ROOT (repository), WORK (empty work dir). Prints a
# one-line summary last; exits non-zero on any difference.
set -eu
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
steps=90
args=(--size 64 --steps "$steps" --progress 1)
start=$EPOCHREALTIME

die() {
	echo "heat.sh: $*" >&2
	for f in "$WORK"/*.log; do
		[ -e "$f" ] && { echo "--- $f"; tail -n 5 "$f"; } >&2
	done
	exit 1
}

# A stage runs in the background with stdout and stderr into a FIFO (a
# pipe, as in a batch job: the restarted process writes to the restart
# command's own), read into LOG, so that we know its PID and its progress.
stage_pid=
stage_reader=
stage_start() { # LOG COMMAND...
	local log=$1
	shift
	rm -f fifo
	mkfifo fifo
	: >"$log"
	cat fifo >"$log" &
	stage_reader=$!
	"$@" >fifo 2>&1 &
	stage_pid=$!
}

# Wait until LOG has a line matching PATTERN, the stage being still alive.
stage_wait() { # LOG PATTERN
	local tries=0
	until grep -q -- "$2" "$1"; do
		tries=$((tries + 1))
		[ $tries -lt 1000 ] || die "timed out waiting for '$2' in $1"
		kill -0 "$stage_pid" 2>/dev/null ||
			grep -q -- "$2" "$1" || die "the stage ended before '$2' (see $1)"
		sleep 0.01
	done
}

stage_kill() { # LOG
	kill -KILL "$stage_pid"
	local st=0
	wait "$stage_pid" 2>/dev/null || st=$?
	wait "$stage_reader" || true
	[ $st -eq 137 ] || die "the stage was not killed by SIGKILL (status $st, $1)"
	! grep -q '^final:' "$1" || die "the stage finished before it was killed ($1)"
}

# The uninterrupted run of PROGRAM: REF.txt (output file), REF.log (stdout).
reference() { # PROGRAM REF
	"$1" "${args[@]}" --out "$2.txt" 2>&1 | cat >"$2.log"
	[ "${PIPESTATUS[0]}" -eq 0 ] || die "$1 failed: $(cat "$2.log")"
	[ "$(grep -c '^step .* of' "$2.log")" -eq $steps ] || die "unexpected $2.log"
	grep -q '^final: ' "$2.log" || die "no final line in $2.log"
}

# The lines of LOG up to the first matching PATTERN (included).
upto() { # LOG PATTERN
	sed -n "1,/$2/p" "$1"
}

# The stitched progress output, checkpoint and restart messages left out,
# must be the reference's, and so must the final line and the output file.
same_as_ref() { # REF STITCHED OUT
	local ref=$1 stitched=$2 out=$3
	grep -v -e '^checkpoint [0-9]* written' -e '^restarted from' "$stitched" \
		>"$stitched.filtered"
	cmp -s "$ref.log" "$stitched.filtered" ||
		die "output differs from the uninterrupted run: diff $ref.log $stitched.filtered"
	[ "$(grep '^final:' "$ref.log")" = "$(grep '^final:' "$stitched")" ] ||
		die "final checksum differs: $(grep '^final:' "$stitched" || echo none)"
	cmp "$ref.txt" "$out" || die "$out differs from $ref.txt"
}

# One checkpoint at step 30, killed after step 60, restarted from MODE
# (file or pipe).
once() { # PROGRAM REF NAME MODE
	local prog=$1 ref=$2 name=$3 mode=$4
	stage_start "$name-first.log" "$prog" "${args[@]}" --slow 5 \
		--out "$name.txt" --checkpoint-at 30 --image "$name.img"
	stage_wait "$name-first.log" '^step 60 of'
	stage_kill "$name-first.log"
	grep -qx "checkpoint 1 written to $name.img after step 30" "$name-first.log" ||
		die "no checkpoint message in $name-first.log"
	# The output file has the lines after step 30 too: the restart
	# recomputes them and must overwrite them with the same bytes.
	[ "$(wc -l <"$name.txt")" -ge 60 ] || die "$name.txt was not written past step 60"

	local st
	if [ "$mode" = pipe ]; then
		# A pipe, not a redirection: the image must not be seekable.
		# shellcheck disable=SC2002
		cat "$name.img" | "$sck" restart - 2>&1 | cat >"$name-restart.log"
		st=${PIPESTATUS[1]}
	else
		"$sck" restart "$name.img" 2>&1 | cat >"$name-restart.log"
		st=${PIPESTATUS[0]}
	fi
	[ "$st" -eq 0 ] || die "restart exited with $st"
	[ "$(head -n 1 "$name-restart.log")" = "restarted from checkpoint 1 after step 30" ] ||
		die "unexpected first line in $name-restart.log"
	{
		upto "$name-first.log" '^checkpoint 1 written'
		cat "$name-restart.log"
	} >"$name-stitched.log"
	same_as_ref "$ref" "$name-stitched.log" "$name.txt"
}

# Five generations: a checkpoint every 15 steps; each stage is killed two
# steps after its checkpoint, and the next restarts the image it wrote.
generations() { # PROGRAM REF
	local prog=$1 ref=$2 every=15 g k
	stage_start gen-0.log "$prog" "${args[@]}" --slow 5 --out gen.txt \
		--checkpoint-every $every --image gen.img
	: >gen-stitched.log
	for g in 1 2 3 4 5; do
		k=$((g * every))
		local log=gen-$((g - 1)).log
		stage_wait "$log" "^step $((k + 2)) of"
		stage_kill "$log"
		grep -qx "checkpoint $g written to gen.img after step $k" "$log" ||
			die "no checkpoint $g message in $log"
		upto "$log" "^checkpoint $g written" >>gen-stitched.log
		stage_start "gen-$g.log" "$sck" restart gen.img
		stage_wait "gen-$g.log" "^restarted from"
		[ "$(head -n 1 "gen-$g.log")" = "restarted from checkpoint $g after step $k" ] ||
			die "unexpected first line in gen-$g.log"
	done
	local st=0
	wait "$stage_pid" || st=$?
	wait "$stage_reader" || true
	[ $st -eq 0 ] || die "the last restart exited with $st"
	cat gen-5.log >>gen-stitched.log
	[ "$(grep -c '^restarted from' gen-stitched.log)" -eq 5 ] || die "not 5 restarts"
	same_as_ref "$ref" gen-stitched.log gen.txt
}

reference "$B/examples/heat" ref-dyn
reference "$B/examples/heat-static" ref-static
[ "$(grep '^final:' ref-dyn.log)" = "$(grep '^final:' ref-static.log)" ] ||
	die "the static and dynamic builds compute different results"
# The references themselves must not be trivially equal to anything.
! cmp -s ref-dyn.txt /dev/null || die "empty reference output"

once "$B/examples/heat" ref-dyn dyn file
once "$B/examples/heat-static" ref-static static pipe
generations "$B/examples/heat" ref-dyn

t=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
echo "heat: restarted from a file, from a pipe (static) and 5 generations in a row; output files and checksums identical ($(grep '^final:' ref-dyn.log | sed 's/.*checksum //'), ${t}s)"

# lib.sh - what every end-to-end script (tests/e2e/*.sh) does first. Each
# sources it right after `set -eu`, as
#
#	. "$(dirname "$0")/lib.sh"
#
# and then:
#   - B, ROOT and WORK are set (see run-tests.sh), or the script stops;
#   - descriptors above 2 the script inherited are closed: the programs it
#     starts, and checkpoints, get only what it gives them;
#   - the working directory is WORK, and sck is the selfckpt program;
#   - die MESSAGE prints "NAME: MESSAGE" on stderr and exits 1; NAME is
#     $me, the script's file name unless the script sets me.
# For the scripts that want them:
#   - seed_random: RANDOM seeded with SELFCKPT_SEED, or with a seed drawn
#     here; $seed, which the script prints, replays the run;
#   - kill_jobs: kills the script's background jobs (trap kill_jobs EXIT).
#
# Not a test: run-tests.sh does not run it.
# shellcheck shell=bash disable=SC2034
: "${B:?}" "${ROOT:?}" "${WORK:?}"
for fd in /proc/$$/fd/*; do
	fd=${fd##*/}
	[ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null || true
done
cd "$WORK"
sck=$B/selfckpt
me=${0##*/}

die() {
	echo "$me: $*" >&2
	exit 1
}

seed_random() {
	seed=${SELFCKPT_SEED:-$((RANDOM))}
	RANDOM=$seed
}

kill_jobs() {
	local c
	for c in $(jobs -p); do
		kill -KILL "$c" 2>/dev/null || true
	done
}

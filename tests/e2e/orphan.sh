#!/bin/bash
# orphan.sh - the copy-on-write writer child of a multi-threaded program
# never puts an image in place once its program is dead (issue 6): it
# dies with the program (PR_SET_PDEATHSIG), and checks that its parent is
# still the program before it publishes.
#
# helpers/crashloop with 3 threads and 64 MiB (so that each image takes a
# while to write) checkpoints itself in a loop to the same path, under
# helpers/subreap. Once its first image is there, the writer child of the
# next one is found and stopped (SIGSTOP) before it could rename, then
# the program is killed (SIGKILL). The writer must then be gone within 2 s
# although it was stopped (a SIGKILL reaches a stopped process), unless it
# was stopped so early that it had not asked for PR_SET_PDEATHSIG yet:
# then it is let go on (SIGCONT) and must see that its parent is no
# longer the program. The test fails if the writer renamed its image over
# the program's last good one (the library before did). After each round:
# the image at the path is the first one, complete, restartable, and no
# temporary file is left (the writer's file had no name: O_TMPFILE).
#
# A round where the writer was found too late (the image at the path
# already new when it was stopped) is not counted; 5 counted rounds are
# needed, out of at most 30.
#
# Env: B, ROOT, WORK (see run-tests.sh). Last line: a summary.
set -eu
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
H=$B/tests/e2e/helpers
MIB=64
STEPS=400
want=5
counted=0 late=0 rounds=0 checked=0

uuid() { # IMAGE: its uuid, or die if it is not complete
	local o
	o=$("$sck" info --json "$1" 2>&1) || die "selfckpt info $1: $(head -c 300 <<<"$o")"
	[[ $o =~ \"complete\":true ]] || die "$1 is not complete"
	[[ $o =~ \"image_uuid\":\"([0-9a-f-]+)\" ]] || die "no uuid in info"
	echo "${BASH_REMATCH[1]}"
}

# The first child of any thread of process $1 (its image writer), or empty.
writer_of() {
	local f c
	for f in /proc/$1/task/*/children; do
		c=
		read -r c 2>/dev/null <"$f" || :
		[ -z "$c" ] || { echo "${c%% *}"; return 0; }
	done
	return 0
}

expected=$("$H/crashloop" - ref.log 3 "$MIB" 3)
[[ $expected == "DONE steps=3 "* ]] || die "reference run: $expected"

while [ $counted -lt $want ] && [ $rounds -lt 30 ]; do
	rounds=$((rounds + 1))
	rm -rf r && mkdir r
	: >r/log
	"$H/subreap" r/pid "$H/crashloop" "$WORK/r/img" r/log 3 "$MIB" "$STEPS" >/dev/null 2>r/err &
	reaper=$!
	for _ in $(seq 3000); do [ -s r/pid ] && break; sleep 0.01; done
	pid=$(<r/pid)
	for _ in $(seq 3000); do grep -q '^ckpt 1$' r/log && break; sleep 0.01; done
	grep -q '^ckpt 1$' r/log || die "round $rounds: no first checkpoint: $(cat r/log r/err)"
	first=$(uuid r/img)
	w=
	for _ in $(seq 20000); do
		w=$(writer_of "$pid")
		[ -z "$w" ] || break
	done
	[ -n "$w" ] || die "round $rounds: no writer child found"
	kill -STOP "$w" 2>/dev/null || :
	# Too late if it had renamed already (or was gone).
	if [ "$(uuid r/img)" != "$first" ] || ! grep -q '^State:.*T' "/proc/$w/status" 2>/dev/null; then
		late=$((late + 1))
		kill -9 "$pid" "$w" 2>/dev/null || :
		wait $reaper || :
		continue
	fi
	kill -9 "$pid"
	gone=0
	for _ in $(seq 200); do
		[ -e "/proc/$w" ] && ! grep -q '^State:.*Z' "/proc/$w/status" 2>/dev/null || { gone=1; break; }
		sleep 0.01
	done
	st=0
	if [ $gone = 0 ]; then
		# Stopped before it could ask for PR_SET_PDEATHSIG: let it go on;
		# its check of its parent must keep it from publishing.
		kill -CONT "$w" 2>/dev/null || :
		wait $reaper || st=$?
		[ "$(uuid r/img)" = "$first" ] ||
			die "round $rounds: the writer child outlived its killed program and put its image in place"
		checked=$((checked + 1))
	else
		wait $reaper || st=$?
	fi
	[ $st -eq 137 ] || die "round $rounds: the program ended with status $st: $(cat r/err)"
	[ "$(uuid r/img)" = "$first" ] || die "round $rounds: the image at the path changed"
	left=$(ls -A r | grep -v '^\(img\|log\|err\|pid\)$' || :)
	[ -z "$left" ] || die "round $rounds: left in the directory: $left"
	o=$(timeout 120 "$sck" restart r/img </dev/null 2>r/restart.err) || die "round $rounds: restart: $(cat r/restart.err)"
	grep -qx 'resumed 1' <<<"$o" || die "round $rounds: restart did not resume at 1: $o"
	counted=$((counted + 1))
done
[ $counted -ge $want ] || die "only $counted rounds of $rounds found the writer in time ($late too late)"
echo "orphan: $counted rounds: a stopped writer child died with its killed program ($checked times it had been stopped before it asked for that, and its own check of its parent kept it from publishing), the previous image stayed in place, nothing left ($late rounds found the writer too late, not counted)"

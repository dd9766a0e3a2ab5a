#!/bin/bash
# crash01.sh - crash safety (issue 6): SIGKILL at random moments during
# checkpoints, many times over; the image at the path, and DIR/latest, are
# always complete and restartable.
#
# Three rounds, each up to CRASH01_ITERATIONS iterations (default 200) or
# CRASH01_SECONDS seconds (default 30), whichever comes first:
#
#  st   helpers/crashloop, single-threaded (the image is written in
#       place), checkpoints itself with selfckpt_checkpoint(PATH) in a
#       loop, always to the same PATH; SIGKILL after a random delay;
#  mt   the same with 3 threads (the image is written by the copy-on-write
#       writer child, write_forked): by turns SIGKILL of the program, of
#       the writer child at a random moment of its work and then of the
#       program, and of both at once;
#  dir  helpers/run-crash01 (unmodified, 1 or 3 threads by turns) under
#       `selfckpt run --dir D`, with `selfckpt checkpoint --wait PID` asked
#       again and again from another process, killed the same ways.
#
# Every program runs under helpers/subreap, which waits for every
# descendant: a writer child whose program was killed dies with it
# (PR_SET_PDEATHSIG), but not at once, so the checks start only once it
# is gone. After each kill:
#
#  - the image at PATH (dir: the one DIR/latest names) is complete
#    (`selfckpt info` exits 0 and says complete);
#  - it is the previous one (same image uuid), or a new one written by
#    this run's process whose id is the last one the program (dir:
#    checkpoint --wait) reported, or a later one written but not reported:
#    the next, or up to one more per checkpoint that failed since (its
#    writer was killed, so its image may exist: its id is not used again;
#    with none reported: counting from the first id of the run, 1, or in
#    dir mode the newest id in D plus one); once a checkpoint was
#    reported, the image must be new;
#  - `selfckpt restart` from it resumes at that id (path: the program
#    checks every page against its step, the id against the step) and
#    ends with the line of an uninterrupted run;
#  - leftovers are counted, not removed at once: temporary files
#    (.selfckpt-PID-RND.tmp), .latest.tmp, .result-* files, complete
#    images latest does not name. Where the file system has O_TMPFILE
#    (probed here), the image is written to a nameless file and gets a
#    name only when complete: a temporary file that is not a complete
#    image fails the test (one that is, killed between the link and the
#    rename, is counted). A later checkpoint must not trip on leftovers:
#    every failed checkpoint in the log must be "the image writer died"
#    after a writer kill, nothing else (they are removed every 25
#    iterations, to bound the disk used).
#
# Env: B, ROOT, WORK (see run-tests.sh); CRASH01_ITERATIONS, CRASH01_SECONDS.
# Last line: a summary with the iterations and leftovers of each round.
set -eu
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
H=$B/tests/e2e/helpers
maxit=${CRASH01_ITERATIONS:-200}
budget=${CRASH01_SECONDS:-30}
MIB=8		# memory of crashloop: a checkpoint takes some milliseconds
STEPS=400	# crashloop never gets there (80 ms) before it is killed
RMIB=4		# run-crash01
RSTEPS=1000	# 2 s in slow mode; a restart finishes at full speed
summary=()

# Sleeps without a fork: a read with a timeout on a FIFO nobody writes.
mkfifo nap.fifo
exec {NAP}<>nap.fifo
nap() { read -r -t "$1" -u "$NAP" _ || :; }
nap_ms() { # up to MS milliseconds, at random
	local d
	printf -v d '0.%03d' $((RANDOM % $1))
	nap "$d"
}

# W: a child of process $1 (its image writer), polled until $2 seconds
# have passed; empty if none came.
W=
find_writer() {
	local f c end=$((SECONDS + $2))
	W=
	while [ $SECONDS -le $end ]; do
		for f in /proc/$1/task/*/children; do
			c=
			read -r c 2>/dev/null <"$f" || :
			if [ -n "$c" ]; then
				W=${c%% *}
				return 0
			fi
		done
		[ -e "/proc/$1/task" ] || return 1
	done
	return 1
}

wait_pidfile() { # FILE
	local n=0
	until [ -s "$1" ]; do
		n=$((n + 1))
		[ $n -lt 5000 ] || die "no pid file $1"
		nap 0.001
	done
	pid=$(<"$1")
}

# The image: INFO_ID, INFO_UUID, INFO_PID, or die if it is not complete.
info() { # IMAGE WHAT
	local out st=0
	out=$("$sck" info --json "$1" 2>&1) || st=$?
	[ $st -eq 0 ] || die "$2: selfckpt info $1: status $st: $(head -c 600 <<<"$out")"
	[[ $out =~ \"complete\":true ]] || die "$2: $1 is not complete: $(head -c 300 <<<"$out")"
	[[ $out =~ \"checkpoint\":\{\"id\":([0-9]+), ]] || die "$2: no id in info"
	INFO_ID=${BASH_REMATCH[1]}
	[[ $out =~ \"image_uuid\":\"([0-9a-f-]+)\" ]] || die "$2: no uuid in info"
	INFO_UUID=${BASH_REMATCH[1]}
	[[ $out =~ \"time\":[0-9]+,\"pid\":([0-9]+), ]] || die "$2: no pid in info"
	INFO_PID=${BASH_REMATCH[1]}
}

# Restart IMAGE|DIR; it must end with the line $expected (and print
# "resumed ID" first when $3 is given).
restart_check() { # TARGET WHAT [ID]
	local out st=0
	out=$(timeout 120 "$sck" restart "$1" </dev/null 2>restart.err) || st=$?
	[ $st -eq 0 ] || die "$2: restart $1: status $st: $out $(head -c 600 restart.err)"
	if [ $# -ge 3 ]; then
		grep -qx "resumed $3" <<<"$out" || die "$2: restart $1 did not resume at $3: $out"
	fi
	[ "${out##*$'\n'}" = "$expected" ] ||
		die "$2: restart $1 ended with '${out##*$'\n'}', not '$expected': $out $(head -c 600 restart.err)"
}

# Kill program $1 (and maybe its writer child) the way iteration $2 of a
# round with $3 threads says; counts in k_prog, k_writer, k_both, k_missed.
k_prog=0 k_writer=0 k_both=0 k_missed=0
kill_it() { # PID ITER NTHREADS PROGRAM_WINDOW_MS
	local how=0
	[ "$3" -gt 1 ] && how=$(($2 % 3))
	case $how in
	0)
		nap_ms "$4"
		kill -9 "$1" 2>/dev/null || :
		k_prog=$((k_prog + 1))
		;;
	1)
		if find_writer "$1" 5; then
			nap_ms 10
			if kill -9 "$W" 2>/dev/null; then
				k_writer=$((k_writer + 1))
			else
				k_missed=$((k_missed + 1))
			fi
		else
			k_missed=$((k_missed + 1))
		fi
		nap_ms 60
		kill -9 "$1" 2>/dev/null || :
		;;
	2)
		if find_writer "$1" 5; then
			nap_ms 10
			kill -9 "$W" "$1" 2>/dev/null || :
			k_both=$((k_both + 1))
		else
			k_missed=$((k_missed + 1))
			kill -9 "$1" 2>/dev/null || :
		fi
		;;
	esac
}

# Does the file system under WORK take O_TMPFILE? Then the library
# writes nameless images (checkpoint.c, open_target).
tmpfile=no
python3 -c 'import os, sys; os.close(os.open(sys.argv[1], os.O_TMPFILE | os.O_WRONLY, 0o600))' \
	"$WORK" 2>/dev/null && tmpfile=yes

# Count and list leftovers in DIR (names, without the images and latest);
# with "clean", remove the temporary ones. With O_TMPFILE, a temporary
# file must be a complete image (the kill came between link and rename).
left_tmp=0 left_bytes=0 left_complete=0
declare -A seen
leftovers() { # DIR WHAT [clean]
	local f n
	for f in "$1"/.selfckpt-*.tmp; do
		[ -e "$f" ] || continue
		if [ -z "${seen[$f]:-}" ]; then
			seen[$f]=1
			n=$(stat -c %s "$f")
			left_bytes=$((left_bytes + n))
			left_tmp=$((left_tmp + 1))
			if "$sck" info "$f" >/dev/null 2>&1; then
				left_complete=$((left_complete + 1))
			elif [ $tmpfile = yes ]; then
				die "$2: ${f##*/} ($n bytes), not a complete image, was left although the file system has O_TMPFILE"
			fi
		fi
		[ "${3:-}" != clean ] || rm -f "$f"
	done
}

# ---- path mode: crashloop, st and mt --------------------------------------
round_path() { # LABEL NTHREADS
	local label=$1 nt=$2 dir=$WORK/$1 img it=0 t0=$SECONDS st last ok=0
	local prev_uuid='' unchanged=0 newer=0 noimg=0 fails=0
	mkdir -p "$dir"
	img=$dir/run.img
	seen=()
	left_tmp=0 left_bytes=0 left_complete=0 k_prog=0 k_writer=0 k_both=0 k_missed=0
	expected=$("$H/crashloop" - "$dir/ref.log" "$nt" "$MIB" "$STEPS")
	[[ $expected == "DONE steps=$STEPS "* ]] || die "$label: reference run: $expected"
	while [ $it -lt "$maxit" ] && [ $((SECONDS - t0)) -lt "$budget" ]; do
		it=$((it + 1))
		: >"$dir/log"
		rm -f "$dir/pid"
		"$H/subreap" "$dir/pid" "$H/crashloop" "$img" "$dir/log" "$nt" "$MIB" "$STEPS" \
			>/dev/null 2>"$dir/err" {NAP}>&- &
		local reaper=$!
		wait_pidfile "$dir/pid"
		kill_it "$pid" "$it" "$nt" 80
		st=0
		wait "$reaper" || st=$?
		[ $st -eq 137 ] || die "$label/$it: the program was not killed (status $st): $(tail -n 3 "$dir/log") $(head -c 300 "$dir/err")"
		# What the program reported: the last good checkpoint, failures.
		last=$(grep '^ckpt ' "$dir/log" | tail -n 1 | cut -d' ' -f2)
		last=${last:-0}
		# Failures since the last good one: each may have used up an id.
		after=$(awk '/^ckpt /{n=0} /^fail /{n++} END{print n+0}' "$dir/log")
		[ "$last" -eq 0 ] || ok=$((ok + 1))
		if grep -q '^fail ' "$dir/log"; then
			fails=$((fails + $(grep -c '^fail ' "$dir/log")))
			# Only a killed writer may make a checkpoint fail here.
			if grep '^fail ' "$dir/log" | grep -vq '^fail [0-9]* 5 the image writer died'; then
				die "$label/$it: a checkpoint failed for another reason: $(grep '^fail ' "$dir/log" | grep -v 'writer died' | head -n 3)"
			fi
		fi
		grep -q '^FAIL' "$dir/log" && die "$label/$it: $(grep '^FAIL' "$dir/log")"
		leftovers "$dir" "$label/$it"
		if [ ! -e "$img" ]; then
			[ -z "$prev_uuid" ] && [ "$last" -eq 0 ] ||
				die "$label/$it: no image at $img (last reported checkpoint: $last)"
			noimg=$((noimg + 1))
			continue
		fi
		info "$img" "$label/$it"
		if [ "$INFO_UUID" = "$prev_uuid" ]; then
			[ "$last" -eq 0 ] || die "$label/$it: checkpoint $last was reported, but $img is still the previous image"
			unchanged=$((unchanged + 1))
		else
			[ "$INFO_PID" = "$pid" ] || die "$label/$it: $img is new but was not written by pid $pid (by $INFO_PID)"
			[ "$INFO_ID" -ge "$last" ] && [ "$INFO_ID" -le $((last + 1 + after)) ] ||
				die "$label/$it: $img holds checkpoint $INFO_ID, the last reported was $last, $after failed since"
			newer=$((newer + 1))
			prev_uuid=$INFO_UUID
		fi
		restart_check "$img" "$label/$it" "$INFO_ID"
		[ $((it % 25)) -ne 0 ] || leftovers "$dir" "$label/$it" clean
	done
	[ $ok -gt 0 ] || die "$label: no checkpoint was ever reported"
	[ "$nt" -eq 1 ] || [ $((k_writer + k_both)) -gt 0 ] || die "$label: no writer child was ever killed"
	local left='' f
	for f in "$dir"/* "$dir"/.[!.]*; do
		[ -e "$f" ] || [ -L "$f" ] || continue
		case ${f##*/} in
		run.img | log | err | ref.log | pid | .selfckpt-*.tmp) ;;
		*) left+=" ${f##*/}" ;;
		esac
	done
	[ -z "$left" ] || die "$label: unexpected files in $dir:$left"
	echo "$label: $it iterations in $((SECONDS - t0)) s: kills program $k_prog, writer then program $k_writer, both $k_both, writer not found or gone $k_missed; image unchanged $unchanged, new $newer, none yet $noimg; failed checkpoints $fails (all 'the image writer died'); leftover temporary files $left_tmp ($((left_bytes / 1024)) KiB; complete images $left_complete; O_TMPFILE $tmpfile)"
	summary+=("$label $it it, $left_tmp tmp left")
	leftovers "$dir" "$label" clean
}

# ---- dir mode: selfckpt run + checkpoint --wait ----------------------------
# The asking side: checkpoint --wait again and again until the process is
# gone; "ok ID" or "err STATUS" lines in ask.log.
asker() { # PID LOG
	local st out n=0
	while :; do
		st=0
		out=$("$sck" checkpoint --wait --timeout 60 "$1" 2>>ask.err) || st=$?
		case $st in
		0) echo "ok $out" >>"$2" ;;
		1) echo "err 1" >>"$2" ;;
		69) # not handling the signal yet: just started, or gone
			n=$((n + 1))
			[ $n -lt 2000 ] && [ -e "/proc/$1" ] || return 0
			nap 0.001
			;;
		3 | 66) return 0 ;;
		*) echo "err $st" >>"$2" ;;
		esac
	done
}

round_dir() {
	local dir=$WORK/dir D it=0 t0=$SECONDS st last nt prev='' target
	local base reported f n
	local unchanged=0 newer=0 noimg=0 fails=0 ok=0 unpublished=0 other=()
	mkdir -p "$dir"
	D=$dir/ckpt
	seen=()
	left_tmp=0 left_bytes=0 left_complete=0 k_prog=0 k_writer=0 k_both=0 k_missed=0
	: >"$dir/go"
	expected=$("$H/run-crash01" 3 "$RMIB" "$RSTEPS" "$dir/go")
	[[ $expected == "DONE steps=$RSTEPS "* ]] || die "dir: reference run: $expected"
	while [ $it -lt "$maxit" ] && [ $((SECONDS - t0)) -lt "$budget" ]; do
		it=$((it + 1))
		nt=$((it % 2 ? 3 : 1))
		rm -f "$dir/go" "$dir/pid"
		: >"$dir/ask.log"
		# Ids go on from the directory's newest image.
		base=0
		for f in "$D"/ckpt-*.img; do
			[ -e "$f" ] || continue
			n=${f##*/ckpt-}
			n=$((10#${n%.img}))
			[ $n -le $base ] || base=$n
		done
		"$H/subreap" "$dir/pid" "$sck" run --dir "$D" -- \
			"$H/run-crash01" "$nt" "$RMIB" "$RSTEPS" "$dir/go" >/dev/null 2>"$dir/err" {NAP}>&- &
		local reaper=$!
		wait_pidfile "$dir/pid"
		asker "$pid" "$dir/ask.log" &
		local ask=$!
		# Half of the time, the kill comes after a good checkpoint or two.
		[ $((it % 4)) -lt 2 ] || nap_ms 150
		kill_it "$pid" $((it / 2)) "$nt" 250
		st=0
		wait "$reaper" || st=$?
		[ $st -eq 137 ] || die "dir/$it: the program was not killed (status $st): $(head -c 300 "$dir/err")"
		wait "$ask" || :
		last=$(grep '^ok ' "$dir/ask.log" | tail -n 1 | sed 's/.*ckpt-0*\([0-9][0-9]*\)\.img$/\1/')
		reported=${last:-0}
		last=${last:-$base}
		after=$(awk '/^ok /{n=0} /^err /{n++} END{print n+0}' "$dir/ask.log")
		[ "$reported" -eq 0 ] || ok=$((ok + 1))
		fails=$((fails + $(grep -c '^err ' "$dir/ask.log" || :)))
		if grep '^err ' "$dir/ask.log" | grep -vq '^err 1$'; then
			die "dir/$it: checkpoint --wait: $(grep '^err ' "$dir/ask.log" | head -n 2) $(tail -n 3 ask.err)"
		fi
		if grep -q '^err 1$' "$dir/ask.log" &&
			grep 'the checkpoint failed' ask.err | grep -vq 'the image writer died'; then
			die "dir/$it: a checkpoint failed for another reason: $(grep 'the checkpoint failed' ask.err | grep -v 'writer died' | tail -n 2)"
		fi
		: >ask.err
		leftovers "$D" "dir/$it"
		if [ ! -L "$D/latest" ]; then
			[ -z "$prev" ] && [ "$reported" -eq 0 ] || die "dir/$it: no $D/latest (last reported: $reported)"
			noimg=$((noimg + 1))
			continue
		fi
		target=$(readlink "$D/latest")
		[[ $target =~ ^ckpt-[0-9]{6}\.img$ ]] || die "dir/$it: latest names '$target'"
		info "$D/latest" "dir/$it"
		[ "$target" = "$(printf 'ckpt-%06d.img' "$INFO_ID")" ] ||
			die "dir/$it: latest names $target, which holds checkpoint $INFO_ID"
		if [ "$INFO_UUID" = "$prev" ]; then
			[ "$reported" -eq 0 ] || die "dir/$it: checkpoint $reported was reported, but latest is still the previous image"
			unchanged=$((unchanged + 1))
		else
			[ "$INFO_PID" = "$pid" ] || die "dir/$it: latest names a new image not written by pid $pid (by $INFO_PID)"
			[ "$INFO_ID" -ge "$last" ] && [ "$INFO_ID" -le $((last + 1 + after)) ] ||
				die "dir/$it: latest holds checkpoint $INFO_ID; the last reported was $reported, the newest image before this run $base, $after failed since"
			newer=$((newer + 1))
			prev=$INFO_UUID
		fi
		# Complete images of this run that latest does not name: written by
		# a writer child whose program was killed before it could publish.
		# Then older images go (latest's stays), to bound the disk used.
		for f in "$D"/ckpt-*.img; do
			[ "${f##*/}" != "$target" ] || continue
			n=${f##*/ckpt-}
			n=$((10#${n%.img}))
			if [ $n -gt "$INFO_ID" ]; then
				"$sck" info "$f" >/dev/null 2>&1 ||
					die "dir/$it: ${f##*/}, newer than latest's, is not a complete image"
				unpublished=$((unpublished + 1))
			fi
			rm -f "$f"
		done
		for f in "$D"/.latest.tmp "$D"/.result-*; do
			[ -e "$f" ] || [ -L "$f" ] || continue
			other+=("${f##*/}")
			rm -f "$f"
		done
		: >"$dir/go"
		restart_check "$D" "dir/$it"
		[ $((it % 25)) -ne 0 ] || leftovers "$D" "dir/$it" clean
	done
	[ $ok -gt 0 ] || die "dir: no checkpoint was ever reported"
	[ $((k_writer + k_both)) -gt 0 ] || die "dir: no writer child was ever killed"
	echo "dir: $it iterations in $((SECONDS - t0)) s: kills program $k_prog, writer then program $k_writer, both $k_both, writer not found or gone $k_missed; latest unchanged $unchanged, new $newer, none yet $noimg; failed checkpoints $fails (all 'the image writer died'); leftover temporary files $left_tmp ($((left_bytes / 1024)) KiB; complete images $left_complete; O_TMPFILE $tmpfile), complete images latest does not name $unpublished, other leftovers: ${other[*]:-none}"
	summary+=("dir $it it, $left_tmp tmp left, $unpublished unpublished")
	leftovers "$D" dir clean
}

round_path st 1
round_path mt 3
round_dir
printf -v line '%s; ' "${summary[@]}"
echo "crash01: ${line}all images complete and restartable (O_TMPFILE $tmpfile)"

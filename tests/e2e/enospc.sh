#!/bin/bash
# enospc.sh - full disk and I/O errors (issue 6): a checkpoint into a file
# system that fills up, or whose writes fail with EIO, returns -1 with
# ENOSPC or EIO, leaves no partial file, the program goes on unharmed and
# finishes right, and the previous image stays intact and restartable.
#
# Runs in a private mount namespace (as root: unshare -m; otherwise a user
# and mount namespace, unshare -Urm), so every mount goes away with it.
# The program is helpers/ckptfault (see its comment), single-threaded
# (image written in place) and with 3 threads (image written by the
# copy-on-write writer child, which reports its error through a pipe).
#
# ENOSPC, on small tmpfs mounts:
#  1. mid-image: a 16 MiB tmpfs holds a first image; then the program
#     grows by 24 MiB and checkpoints to the same path: -1/ENOSPC while the
#     page data is written; the image is still the first one byte for
#     byte; nothing else is left in the directory; the program goes on.
#     Twice: with the nameless image file (O_TMPFILE) and with the named
#     temporary file used where a file system has none
#     (SELFCKPT_TEST_FAULT=no-tmpfile);
#  2. full before the checkpoint: a file fills the tmpfs to the last byte,
#     the checkpoint fails with ENOSPC; once the file is removed, the next
#     checkpoint to the same path succeeds (no space was leaked);
#  3. no inode left (nr_inodes): the temporary file cannot be created;
#  4. `selfckpt run --dir D` on a tmpfs that fills up: `selfckpt checkpoint
#     --wait` says the checkpoint failed (status 1, naming ENOSPC) instead
#     of waiting, latest still names the previous image, the program goes
#     on and ends with the output of an uninterrupted run.
# After each, `selfckpt info` says the image at the path is complete and
# `selfckpt restart` from it ends with the same DONE line as the program.
#
# EIO, from the kernel, through a FUSE file system (helpers/fusefault: a
# passthrough whose WRITE, FSYNC or RENAME of checkpoint temporary files
# fail with EIO on demand; it needs /dev/fuse and the right to mount it,
# which is root's here): the first write, a write 1 MiB into the image,
# the fsync of the image and its rename each make the checkpoint return
# -1/EIO with the previous image intact and no temporary file left, and
# fusefault confirms each fault was hit where intended. A failing fsync
# of the directory (after the rename): -1/EIO with a message that says the
# new image is in place, complete; its id is not used again.
#
# Exit 77 (not run here, never a pass) when no tmpfs can be mounted, or
# when the EIO part cannot run (unprivileged: SKIP(needs root); no FUSE in
# the kernel); the last line then says what ran and what passed.
#
# Env: B, ROOT, WORK (see run-tests.sh). Last line: a summary.
set -eu
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

if [ "${ENOSPC_INNER:-}" != 1 ]; then
	if [ "$(id -u)" = 0 ]; then
		exec unshare -m --propagation private env ENOSPC_INNER=1 ENOSPC_ROOT=1 bash "$0"
	fi
	if ! unshare -Urm true 2>unshare.err; then
		echo "enospc: SKIP(no user and mount namespace here: $(head -n 1 unshare.err))"
		exit 77
	fi
	exec unshare -Urm env ENOSPC_INNER=1 ENOSPC_ROOT=0 bash "$0"
fi

H=$B/tests/e2e/helpers
prog=$H/ckptfault
M=$WORK/m
N=$WORK/n
F=$WORK/f
CTL=$WORK/fctl
srv=
done_=()

cleanup() {
	[ -z "${pid:-}" ] || kill -9 "$pid" 2>/dev/null || :
	mountpoint -q "$F" 2>/dev/null && umount -l "$F" 2>/dev/null
	[ -z "$srv" ] || kill "$srv" 2>/dev/null || :
	mountpoint -q "$M" 2>/dev/null && umount -l "$M" 2>/dev/null
	mountpoint -q "$N" 2>/dev/null && umount -l "$N" 2>/dev/null
	return 0
}
trap cleanup EXIT

mkdir -p "$M" "$N" "$F" "$WORK/fback"
if ! mount -t tmpfs -o size=16m,mode=0700 tmpfs "$M" 2>mount.err; then
	echo "enospc: SKIP(cannot mount a tmpfs here: $(head -n 1 mount.err))"
	exit 77
fi
mount -t tmpfs -o size=16m,nr_inodes=16,mode=0700 tmpfs "$N" || die "cannot mount the second tmpfs"

# Run ckptfault ARGS; its output in $out, status checked; stdout through
# a pipe (a restart gives the resumed process its own).
run() { # LOG ARGS...
	local log=$1 st=0
	shift
	"$prog" "$@" </dev/null 2>"$log.err" | cat >"$log"
	st=${PIPESTATUS[0]}
	out=$(<"$log")
	[ "$st" -eq 0 ] || die "$log: ckptfault $*: status $st: $out $(head -c 500 "$log.err")"
	grep -q '^FAIL' <<<"$out" && die "$log: $out"
	done_line=$(grep '^DONE ' <<<"$out") || die "$log: no DONE line: $out"
}

expect() { # LOG PATTERN...
	local p
	for p in "${@:2}"; do
		grep -qE -- "$p" "$1" || die "$1: no line matching '$p': $(cat "$1")"
	done
}

# The image at PATH is complete and holds checkpoint ID.
complete() { # PATH ID WHAT
	local o st=0
	o=$("$sck" info --json "$1" 2>&1) || st=$?
	[ $st -eq 0 ] || die "$3: selfckpt info $1: status $st: $(head -c 400 <<<"$o")"
	[[ $o =~ \"complete\":true ]] || die "$3: $1 is not complete"
	[[ $o =~ \"checkpoint\":\{\"id\":([0-9]+), ]] || die "$3: no id in info"
	[ "${BASH_REMATCH[1]}" = "$2" ] || die "$3: $1 holds checkpoint ${BASH_REMATCH[1]}, not $2"
}

# Restart PATH: it resumes at ID and ends with $done_line.
restart_ok() { # PATH ID WHAT
	local o st=0
	o=$(timeout 120 "$sck" restart "$1" </dev/null 2>restart.err) || st=$?
	[ $st -eq 0 ] || die "$3: restart $1: status $st: $o $(head -c 500 restart.err)"
	grep -qx "resumed $2" <<<"$o" || die "$3: restart $1 did not resume at $2: $o"
	grep -q '^FAIL' <<<"$o" && die "$3: restart $1: $o"
	[ "$(tail -n 1 <<<"$o")" = "$done_line" ] || die "$3: restart $1 ended with '$(tail -n 1 <<<"$o")', not '$done_line'"
}

only() { # DIR NAMES... : nothing else in DIR
	local f name extra=
	for f in "$1"/* "$1"/.[!.]*; do
		[ -e "$f" ] || [ -L "$f" ] || continue
		name=${f##*/}
		[[ " ${*:2} " == *" $name "* ]] || extra+=" $name"
	done
	[ -z "$extra" ] || die "$1 holds more than ${*:2}:$extra"
}

# ---- 1. ENOSPC in the middle of the image ----------------------------------
for tf in tmpfile no-tmpfile; do
	for nt in 1 3; do
		w="mid/$nt/$tf"
		rm -rf "${M:?}"/*
		SELFCKPT_TEST_FAULT=$tf run mid$nt$tf.log threads:$nt grow:2 ck:$M/a.img \
			hash:$M/a.img grow:24 fail:$M/a.img:ENOSPC same:$M/a.img verify
		expect mid$nt$tf.log '^ckpt 1$' '^failed ENOSPC: write: cannot write the image: ENOSPC'
		only "$M" a.img
		complete "$M/a.img" 1 "$w"
		restart_ok "$M/a.img" 1 "$w"
		only "$M" a.img
	done
done
done_+=("mid-image (O_TMPFILE and named)")

# ---- 2. ENOSPC: full before the checkpoint; then space again ---------------
for nt in 1 3; do
	w="full/$nt"
	rm -rf "${M:?}"/*
	run full$nt.log threads:$nt grow:2 ck:$M/b.img hash:$M/b.img fill:$M/filler \
		fail:$M/b.img:ENOSPC same:$M/b.img rm:$M/filler ck:$M/b.img verify
	expect full$nt.log '^ckpt 1$' '^failed ENOSPC: ' '^ckpt 2$'
	only "$M" b.img
	complete "$M/b.img" 2 "$w"
	restart_ok "$M/b.img" 2 "$w"
done
done_+=("full")

# ---- 3. ENOSPC: no inode for the temporary file -----------------------------
rm -rf "${N:?}"/*
run inodes.log grow:1 ck:$N/c.img hash:$N/c.img inodes:$N/i fail:$N/c.img:ENOSPC \
	same:$N/c.img rmall:$N/i ck:$N/c.img
expect inodes.log '^ckpt 1$' '^failed ENOSPC: cannot create the image next to .*: ENOSPC' '^ckpt 2$'
only "$N" c.img
complete "$N/c.img" 2 inodes
restart_ok "$N/c.img" 2 inodes
done_+=("no inode")

# ---- 4. selfckpt run --dir on a tmpfs that fills up --------------------------
rm -rf "${M:?}"/* go
: >go
expected=$("$H/run-crash01" 3 4 20000 "$WORK/go")
rm -f go
D=$M/d
# stdout through a pipe (a restart gives the resumed process its own);
# the program's status in run.st ($! is cat's).
{
	st=0
	"$sck" run --dir "$D" -- "$H/run-crash01" 3 4 20000 "$WORK/go" </dev/null 2>run.err || st=$?
	echo $st >run.st
} | cat >run.out &
runner=$!
pid=
for _ in $(seq 500); do
	pid=$(pgrep -f -n "run-crash01 3 4 20000 $WORK/go" || :)
	[ -n "$pid" ] && break
	sleep 0.01
done
[ -n "$pid" ] || die "run: the program did not start"
ask() { # EXPECTED_STATUS
	local st=0
	ask_out=$("$sck" checkpoint --wait --timeout 20 "$pid" 2>ask.err) || st=$?
	[ $st -eq "$1" ] || die "run: checkpoint --wait: status $st, not $1: $ask_out $(cat ask.err)"
}
for _ in $(seq 200); do # until the library's handler is there
	st=0
	"$sck" checkpoint --wait --timeout 30 "$pid" >ask.out 2>ask.err || st=$?
	[ $st -ne 69 ] || { sleep 0.01; continue; }
	break
done
[ $st -eq 0 ] || die "run: first checkpoint --wait: status $st: $(cat ask.err)"
[ "$(readlink "$D/latest")" = ckpt-000001.img ] || die "run: latest names $(readlink "$D/latest")"
cp "$D/ckpt-000001.img" "$WORK/run1.img"
head -c 64m /dev/zero >"$M/filler" 2>/dev/null || :
ask 1
grep -qiE 'the checkpoint failed: .*(ENOSPC|no space left)' ask.err || die "run: checkpoint --wait on a full disk: $(cat ask.err)"
[ "$(readlink "$D/latest")" = ckpt-000001.img ] || die "run: latest changed to $(readlink "$D/latest")"
cmp -s "$D/ckpt-000001.img" "$WORK/run1.img" || die "run: the previous image changed"
only "$D" ckpt-000001.img latest
rm -f "$M/filler"
ask 0
[ "$(readlink "$D/latest")" = ckpt-000002.img ] || die "run: after space came back, latest names $(readlink "$D/latest")"
: >go
wait $runner || :
pid=
st=$(<run.st)
[ "$st" -eq 0 ] || die "run: the program ended with status $st: $(cat run.out run.err)"
grep -q "checkpoint into $D failed: write: cannot write the image: ENOSPC" run.err ||
	die "run: the program's stderr lacks the full reason: $(cat run.err)"
[ "$(tail -n 1 run.out)" = "$expected" ] || die "run: the program ended with '$(tail -n 1 run.out)', not '$expected'"
complete "$D/latest" 2 run
rm -f go
o=$(timeout 120 "$sck" restart "$WORK/run1.img" 2>restart.err </dev/null & sleep 0.2; : >go; wait $!) ||
	die "run: restart of the image kept through the full disk: $o $(cat restart.err)"
[ "$(tail -n 1 <<<"$o")" = "$expected" ] || die "run: its restart ended with '$(tail -n 1 <<<"$o")'"
done_+=("selfckpt run")
enospc="ENOSPC ok (${done_[*]}; 1 and 3 threads)"

# ---- 5. EIO through FUSE -------------------------------------------------------
echo none >"$CTL"
rm -f "$CTL.count"
"$H/fusefault" "$WORK/fback" "$F" "$CTL" 2>fuse.err &
srv=$!
for _ in $(seq 300); do
	mountpoint -q "$F" && break
	kill -0 $srv 2>/dev/null || break
	sleep 0.01
done
if ! mountpoint -q "$F"; then
	why=$(head -n 1 fuse.err)
	if [ "$ENOSPC_ROOT" = 1 ]; then
		if [ ! -c /dev/fuse ] || ! grep -qw fuse /proc/filesystems; then
			echo "enospc: $enospc; EIO SKIP(no FUSE on this machine: $why)"
			exit 77
		fi
		die "EIO: fusefault could not mount as root: $why"
	fi
	echo "enospc: $enospc; EIO SKIP(needs root: $why)"
	exit 77
fi
for nt in 1 3; do
	w="eio/$nt"
	rm -f "$WORK"/fback/* "$CTL.count"
	run eio$nt.log threads:$nt grow:2 ck:$F/e.img hash:$F/e.img \
		"put:$CTL:write 0" fail:$F/e.img:EIO same:$F/e.img \
		"put:$CTL:write 1048576" fail:$F/e.img:EIO same:$F/e.img \
		put:$CTL:fsync fail:$F/e.img:EIO same:$F/e.img \
		put:$CTL:rename fail:$F/e.img:EIO same:$F/e.img \
		put:$CTL:none ck:$F/e.img verify
	expect eio$nt.log '^ckpt 1$' '^ckpt 2$' \
		'^failed EIO: write: cannot write the image: EIO' \
		'^failed EIO: fsync of the image failed: EIO' \
		'^failed EIO: cannot rename the image into place: EIO'
	[ "$(grep -c '^failed EIO' eio$nt.log)" -eq 4 ] || die "$w: not 4 failures: $(cat eio$nt.log)"
	# Each fault was hit, on a temporary file: writes (a write(2) that
	# wrote part of its bytes returns the count, the next one gets EIO),
	# then one fsync, one rename.
	c=$(cut -d' ' -f1 "$CTL.count" | uniq | tr '\n' ' ')
	[ "$c" = "write fsync rename " ] && [ "$(grep -c '^fsync ' "$CTL.count")" -eq 1 ] &&
		[ "$(grep -c '^rename ' "$CTL.count")" -eq 1 ] || die "$w: faults hit: $(tr '\n' ' ' <"$CTL.count")"
	grep -q '^write \.selfckpt-' "$CTL.count" || die "$w: no write fault on a temporary file"
	only "$WORK/fback" e.img
	complete "$F/e.img" 2 "$w"
	restart_ok "$F/e.img" 2 "$w"
done
# The directory's fsync fails after the rename: -1/EIO, the message says
# the new image (id 2) is in place; it is complete, and its id is never
# used again: the next checkpoint is 3 (two images with id 2 would
# confuse the lineage). Both restart: 3 to the end, 2 inside the call
# that failed (which returns 0 there), then on to checkpoint 3.
for nt in 1 3; do
	w="eio/dir/$nt"
	rm -f "$WORK"/fback/* "$CTL.count" g2.img
	run eiodir$nt.log threads:$nt grow:2 ck:$F/g.img put:$CTL:fsyncdir fail:$F/g.img:EIO \
		put:$CTL:none copy:$F/g.img:$WORK/g2.img ck:$F/g.img verify
	expect eiodir$nt.log '^ckpt 1$' '^ckpt 3$' \
		"^failed EIO: fsync of the image's directory failed: EIO \(input/output error\): the new image \(checkpoint 2\) is in place as g.img, but the rename may not survive a crash of the machine$"
	only "$WORK/fback" g.img
	complete "$WORK/g2.img" 2 "$w"
	complete "$F/g.img" 3 "$w"
	restart_ok "$F/g.img" 3 "$w"
	o=$(timeout 120 "$sck" restart "$WORK/g2.img" </dev/null 2>restart.err) ||
		die "$w: restart of the image the failed call left: $o $(cat restart.err)"
	grep -qx 'resumed 2 (a checkpoint that failed)' <<<"$o" && grep -qx 'ckpt 3' <<<"$o" &&
		[ "$(tail -n 1 <<<"$o")" = "$done_line" ] || die "$w: restart of g2.img: $o"
done
dirnote="-1/EIO, the new image (id 2) in place and complete, id 2 not used again"
echo "eio/dir: fsync of the directory failed: $dirnote; both restart"
umount "$F"
wait $srv || die "fusefault ended with status $?: $(cat fuse.err)"
srv=
echo "enospc: $enospc; EIO ok (first write, write at 1 MiB, fsync, rename; 1 and 3 threads; failed directory fsync: $dirnote)"

#!/bin/bash
# run01.sh - `selfckpt run` and `selfckpt checkpoint` (issue 4), end to end,
# with the unmodified program tests/e2e/helpers/run-prog (see its comment):
# every run's output is compared with an uninterrupted run's, and the
# program waits at gates (files this script creates), so that nothing here
# depends on how fast the machine is.
#
#  1. checkpoint --wait PID prints DIR/ckpt-NNNNNN.img (DIR made absolute),
#     DIR/latest names it, the image is mode 0600; after SIGKILL, restart
#     DIR ends with the uninterrupted run's output and its exit status;
#  2. --interval 1 --keep 2: checkpoints come by themselves; only the two
#     newest images remain, latest names the newest, nothing else is left
#     in DIR; the newest restarts;
#  3. --exit-signal USR1: kill -USR1 makes the process write an image and
#     exit with 85; restart DIR goes on to the same end; and checkpoint
#     --wait --exit PID prints the path and the process exits with 85;
#  4. a checkpoint while the program holds a TCP connection, then one end
#     of a pipe, fails: checkpoint --wait exits 1 with the library's
#     message naming the descriptor, no image is written, the program goes
#     on; once it holds neither, the checkpoint succeeds and the program
#     ends normally; under run --close-connections the checkpoint with the
#     TCP connection succeeds, and the restarted program ends the same;
#  5. a statically linked program (plain and static-pie): run exits 69,
#     saying it is statically linked, without running it;
#  6. checkpoint of a process not run under selfckpt (with and without
#     SELFCKPT_DIR in its environment) exits 69 with a message; of a PID
#     that does not exist, 66;
#  7. a program with its own sigaction handler for SIGRTMAX-2 (the
#     library's signal): raise, kill and sigqueue run it (si_code and value
#     as without the library), sigaction reads it back; checkpoint --wait
#     then works, and after the restart raise still runs it;
#  8. execve and execle with environments of the program's own, lacking
#     LD_PRELOAD and SELFCKPT_*: after each exec, checkpoint --wait works
#     (the library followed), each image under a name of its own (the ids
#     go on across the exec); the restart of the last one ends right;
#  9. a program with live children (one forked, one spawned, both with the
#     environment, the spawned one loading the library): checkpoint --wait
#     fails with the library's message about child processes, and so do
#     the periodic checkpoints (on the program's stderr); the children
#     write no image into DIR: checkpoint --wait of a child gets an answer
#     (not an image, and not a wait until --timeout), and the exit signal
#     (USR1) sent to them does what it does without the library (they die
#     of it); once they are reaped, checkpoint --wait succeeds;
# 10. a multi-threaded program (3 threads computing, 2 in a condition
#     wait): checkpoint --wait at a random moment, SIGKILL, restart DIR,
#     same output;
# 11. (after 1) a restarted process, whose PID outside the restart's PID
#     namespace is another (--pidfile), is checkpointed again with
#     checkpoint --wait: a new image, latest names it, nothing left in
#     DIR; killed, restart DIR ends right.
#
# Env: B, ROOT, WORK (see run-tests.sh). Last line: a summary.
set -eu
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
W=$(pwd -P)
prog=$B/tests/e2e/helpers/run-prog
start=$EPOCHREALTIME
checks=0
cur=ref
ok() { checks=$((checks + 1)); }
# What a failure would leave behind: this shell's background jobs not yet
# waited for, the children of run-prog fork and a restarted program, each
# while its parent is still the one it had: no PID that might have been
# reused is killed.
grandchildren=() # "pid:parent"
ppid_of() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f2; }
cleanup() {
	local g c
	for g in "${grandchildren[@]}"; do
		c=${g%:*}
		[ "$(ppid_of "$c")" = "${g#*:}" ] &&
			kill -KILL "$c" 2>/dev/null || true
	done
	kill_jobs
}
trap cleanup EXIT
[ -x "$prog" ] || die "$prog is missing: make tests"

# until_ SECONDS WHAT CMD...: poll (bounded) until CMD succeeds.
until_() {
	local limit=$1 what=$2 i
	shift 2
	for ((i = 0; i < limit * 100; i++)); do
		"$@" && return 0
		sleep 0.01
	done
	die "after ${limit}s, still not: $what; $cur.out ends: $(tail -2 "$cur.out" 2>/dev/null); $cur.err: $(tail -3 "$cur.err" 2>/dev/null)"
}
has_line() { grep -q -- "$2" "$1" 2>/dev/null; }

# ref NAME MODE ARGS...: an uninterrupted run, every gate open, no library.
ref() {
	local name=$1
	shift
	mkdir -p "$W/ref-$name.g"
	touch "$W/ref-$name.g/"{go,go1,go2,go3,go-a,go-b,go-end}
	local st=0
	"$prog" "$1" "$W/ref-$name.g" "${@:2}" </dev/null >"ref-$name.out" 2>"ref-$name.err" || st=$?
	[ ! -s "ref-$name.err" ] || die "reference run $name: $(cat "ref-$name.err")"
	echo $st >"ref-$name.status"
}

# run NAME [OPTIONS] -- MODE ARGS...: selfckpt run --dir NAME.d in the
# background, gates in NAME.g, output in NAME.out and NAME.err; sets pid.
run() {
	local name=$1
	shift
	local opts=()
	while [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	shift
	mkdir -p "$W/$name.g"
	cur=$name
	"$sck" run --dir "$name.d" "${opts[@]}" -- "$prog" "$1" "$W/$name.g" "${@:2}" \
		</dev/null >"$name.out" 2>"$name.err" &
	pid=$!
}

status_of() { # PID: st := its exit status
	st=0
	wait "$1" 2>/dev/null || st=$?
}

images() { # DIR: its ckpt-*.img, sorted
	(cd "$1" && ls -1 | grep -E '^ckpt-[0-9]{6}\.img$' | sort) || true
}
strays() { # DIR: what is neither an image nor latest
	(cd "$1" && ls -1A | grep -vE '^(ckpt-[0-9]{6}\.img|latest)$') || true
}

# same NAME REF: NAME.out is REF's output.
same() {
	cmp -s "$1.out" "ref-$2.out" ||
		die "$1: the output differs from an uninterrupted run: $(diff "ref-$2.out" "$1.out" | head -8)"
}

# restart_dir NAME REF: restart NAME.d; the output and status are REF's.
restart_dir() {
	local st=0
	timeout 60 "$sck" restart "$W/$1.d" </dev/null >"$1.restart.log" 2>&1 || st=$?
	[ "$st" = "$(cat "ref-$2.status")" ] ||
		die "$1: restart $1.d: status $st, expected $(cat "ref-$2.status"): $(cat "$1.restart.log") $(tail -3 "$1.err")"
	same "$1" "$2"
}

# ckpt_wait NAME [OPTIONS]: selfckpt checkpoint --wait OPTIONS $pid; sets
# cst, cout (stdout), cerr (stderr).
ckpt_wait() {
	local name=$1
	shift
	cst=0
	timeout 60 "$sck" checkpoint --wait "$@" "$pid" >"$name.ckpt.out" 2>"$name.ckpt.err" || cst=$?
	cout=$(cat "$name.ckpt.out")
	cerr=$(cat "$name.ckpt.err")
}

killed() { # NAME: SIGKILL $pid, which must still have been running
	kill -KILL "$pid"
	status_of "$pid"
	[ "$st" = 137 ] || die "$1: the program was not running when killed (status $st): $(tail -3 "$1.err")"
}

ref count7 count 40 7
ref count0 count 40 0
ref count9 count 40 9
ref hold hold
ref sig62 sig62
ref exec exec1
ref fork fork
ref threads threads 100
[ "$(cat ref-count7.status)" = 7 ] && [ "$(tail -1 ref-count7.out)" = "done $(sed -n 's/^step 39 //p' ref-count7.out) status 7" ] ||
	die "run-prog count does not do what it should: $(tail -2 ref-count7.out)"

# ---- 1. checkpoint --wait, latest, mode 0600, SIGKILL, restart DIR -----------
run c1 -- count 40 7
until_ 30 "c1 at step 3" has_line c1.out '^step 3 '
ckpt_wait c1
[ "$cst" = 0 ] && [ -z "$cerr" ] || die "c1: checkpoint --wait: status $cst: $cerr"
[[ $cout =~ ^"$W/c1.d/ckpt-"[0-9]{6}".img"$ ]] ||
	die "c1: checkpoint --wait printed '$cout', not $W/c1.d/ckpt-NNNNNN.img"
img=${cout##*/}
[ "$(readlink c1.d/latest)" = "$img" ] || die "c1: latest is '$(readlink c1.d/latest)', not $img"
[ "$(images c1.d)" = "$img" ] || die "c1: images in c1.d: $(images c1.d)"
[ "$(stat -c %a "$cout")" = 600 ] || die "c1: $cout has mode $(stat -c %a "$cout"), not 600"
[ -z "$(strays c1.d)" ] || die "c1: left in c1.d: $(strays c1.d)"
killed c1
touch c1.g/go
restart_dir c1 count7
ok

# ---- 11 (here, after 1). a restarted process is checkpointed again ----------------
# (outside the PID namespace of the restart it has another PID: --pidfile's)
run c11 -- count 40 7
until_ 30 "c11 at step 3" has_line c11.out '^step 3 '
ckpt_wait c11
[ "$cst" = 0 ] && [ -s "$cout" ] || die "c11: checkpoint --wait: status $cst: $cerr"
c11first=$cout
killed c11
"$sck" restart --pidfile "$W/c11.pid" "$W/c11.d" </dev/null >c11.restart1.log 2>&1 &
rpid=$!
until_ 30 "c11 restarted (--pidfile)" test -s c11.pid
pid=$(cat c11.pid)
grandchildren+=("$pid:$(ppid_of "$pid")")
catches62() { # the library's handler is back in $pid
	local m
	m=$(sed -n 's/^SigCgt:\t*//p' "/proc/$pid/status" 2>/dev/null) && [ -n "$m" ] &&
		[ $(((0x$m >> 61) & 1)) = 1 ]
}
until_ 30 "c11: the restarted process handles signal 62" catches62
ckpt_wait c11 --timeout 20
[ "$cst" = 0 ] && [[ $cout =~ ^"$W/c11.d/ckpt-"[0-9]{6}".img"$ ]] && [ "$cout" != "$c11first" ] ||
	die "c11: checkpoint --wait of the restarted process (PID $pid outside, $(awk '/^NSpid/ {print $NF}' "/proc/$pid/status" 2>/dev/null) inside): status $cst, printed '$cout' (the first image: $c11first): $cerr; c11.d holds $(ls -A c11.d | tr '\n' ' ')"
[ "$(readlink c11.d/latest)" = "${cout##*/}" ] && [ -z "$(strays c11.d)" ] ||
	die "c11: latest is $(readlink c11.d/latest), c11.d holds $(ls -A c11.d | tr '\n' ' ')"
kill -KILL "$pid"
status_of "$rpid"
[ "$st" = 137 ] || die "c11: the restart of the killed program: status $st: $(cat c11.restart1.log)"
touch c11.g/go
restart_dir c11 count7
ok

# ---- 2. --interval 1 --keep 2 ---------------------------------------------------
run c2 --interval 1 --keep 2 -- count 40 0
latest_id() { # DIR: the id latest names, or 0
	local t
	t=$(readlink "$1/latest" 2>/dev/null) || t=
	[[ $t =~ ^ckpt-0*([0-9]+)\.img$ ]] && echo "${BASH_REMATCH[1]}" || echo 0
}
at_least() { [ "$(latest_id "$1")" -ge "$2" ]; }
until_ 30 "three periodic checkpoints in c2.d" at_least c2.d 3
touch c2.g/go
status_of "$pid"
[ "$st" = 0 ] || die "c2: status $st: $(cat c2.err)"
same c2 count0
[ ! -s c2.err ] || die "c2: the program's stderr: $(cat c2.err)"
n=$(latest_id c2.d)
want=$(printf 'ckpt-%06d.img\nckpt-%06d.img' $((n - 1)) "$n")
[ "$(images c2.d)" = "$want" ] || die "c2: --keep 2 left $(images c2.d | tr '\n' ' '), expected $(echo $want)"
[ -z "$(strays c2.d)" ] || die "c2: left in c2.d: $(strays c2.d)"
restart_dir c2 count0
ok

# ---- 3. --exit-signal USR1, and checkpoint --wait --exit ----------------------
run c3 --exit-signal USR1 -- count 40 9
until_ 30 "c3 at step 3" has_line c3.out '^step 3 '
kill -USR1 "$pid"
status_of "$pid"
[ "$st" = 85 ] || die "c3: kill -USR1: status $st, expected 85: $(cat c3.err)"
[ "$(images c3.d)" = "$(readlink c3.d/latest)" ] && [ -n "$(images c3.d)" ] ||
	die "c3: after USR1: images $(images c3.d), latest $(readlink c3.d/latest)"
touch c3.g/go
restart_dir c3 count9
ok
run c3x -- count 40 9
until_ 30 "c3x at step 3" has_line c3x.out '^step 3 '
ckpt_wait c3x --exit
[ "$cst" = 0 ] && [ "$cout" = "$W/c3x.d/$(readlink c3x.d/latest)" ] ||
	die "c3x: checkpoint --wait --exit: status $cst, printed '$cout', latest $(readlink c3x.d/latest): $cerr"
status_of "$pid"
[ "$st" = 85 ] || die "c3x: checkpoint --exit: status $st, expected 85: $(cat c3x.err)"
touch c3x.g/go
restart_dir c3x count9
ok

# ---- 4. a checkpoint that fails: a TCP connection, one end of a pipe ------------
run c4 -- hold
until_ 30 "c4 holding a socket" has_line c4.out '^holding a socket on fd '
fd=$(sed -n 's/^holding a socket on fd //p' c4.out)
ckpt_wait c4
[ "$cst" = 1 ] || die "c4: checkpoint --wait with a socket: status $cst, expected 1: $cout $cerr"
[[ $cerr =~ ^"selfckpt checkpoint: process $pid: the checkpoint failed: ".*"fd $fd is a TCP connection 127.0.0.1:"[0-9]+" -> 127.0.0.1:"[0-9]+" (socket:["[0-9]+"]): a connection cannot be restored; checkpoint with SELFCKPT_CLOSE_CONNECTIONS to restore it closed"$ ]] ||
	die "c4: with a TCP connection on fd $fd, the message was: $cerr"
[ -z "$cout" ] || die "c4: a failed checkpoint printed '$cout'"
msg_socket=${cerr#*failed: }
touch c4.g/go1
until_ 30 "c4 holding a pipe" has_line c4.out '^holding a pipe on fd '
p0=$(sed -n 's/^holding a pipe on fd //p' c4.out)
ckpt_wait c4
[ "$cst" = 1 ] || die "c4: checkpoint --wait with one end of a pipe: status $cst, expected 1: $cout $cerr"
[[ $cerr =~ ^"selfckpt checkpoint: process $pid: the checkpoint failed: ".*"fd $p0 is a pipe whose other end is not in this process (pipe:["[0-9]+"]): not supported"$ ]] ||
	die "c4: with the read end of a pipe on fd $p0, the message was: $cerr"
msg_pipe=${cerr#*failed: }
[ -z "$(ls -A c4.d)" ] || die "c4: failed checkpoints left $(ls -A c4.d | tr '\n' ' ')"
touch c4.g/go2
until_ 30 "c4 holding nothing" has_line c4.out '^holding nothing$'
ckpt_wait c4
[ "$cst" = 0 ] && [ -s "$cout" ] || die "c4: checkpoint --wait once nothing is held: status $cst: $cerr"
touch c4.g/go3
status_of "$pid"
[ "$st" = 0 ] || die "c4: status $st: $(cat c4.err)"
same c4 hold
[ ! -s c4.err ] || die "c4: the program's stderr: $(cat c4.err)"
# Under run --close-connections the connection does not stop the checkpoint.
run c4c --close-connections -- hold
until_ 30 "c4c holding a socket" has_line c4c.out '^holding a socket on fd '
ckpt_wait c4c
[ "$cst" = 0 ] && [ -s "$cout" ] ||
	die "c4c: checkpoint --wait with a TCP connection under --close-connections: status $cst: $cerr"
"$sck" info "$cout" | grep -q 'closed at checkpoint (SELFCKPT_CLOSE_CONNECTIONS)' ||
	die "c4c: info does not show the closed connection: $("$sck" info "$cout" | grep -A12 '^file descriptors')"
killed c4c
touch c4c.g/go1 c4c.g/go2 c4c.g/go3
restart_dir c4c hold
ok

# ---- 5. a statically linked program --------------------------------------------
cat >static.c <<'EOF'
void _start(void);
void _start(void)
{
	__asm__ volatile("mov $60, %eax\n\tmov $3, %edi\n\tsyscall");
}
EOF
${CC:-cc} -static -nostdlib -fno-stack-protector -o static static.c ||
	die "cannot build a static program"
${CC:-cc} -static-pie -fPIE -nostdlib -fno-stack-protector -o static-pie static.c ||
	die "cannot build a static-pie program"
for s in static static-pie; do
	st=0
	./$s || st=$?
	[ $st = 3 ] || die "$s does not run by itself (status $st)"
	st=0
	"$sck" run --dir c5.d -- "./$s" </dev/null >c5.out 2>c5.err || st=$?
	[ $st = 69 ] || die "run $s: status $st, expected 69: $(cat c5.err)"
	grep -q "^selfckpt run: \./$s is statically linked" c5.err ||
		die "run $s: the message does not say it is statically linked: $(cat c5.err)"
done
msg_static=$(cat c5.err)
ok

# ---- 6. checkpoint of what selfckpt run did not start --------------------------
cur=c6
sleep 60 </dev/null >/dev/null 2>&1 &
pid=$!
ckpt_wait c6
[ "$cst" = 69 ] && [[ $cerr == *"process $pid was not started with 'selfckpt run'"* ]] ||
	die "c6: checkpoint of a plain process: status $cst: $cerr"
kill "$pid"
env SELFCKPT_DIR="$W/c6.d" sleep 60 </dev/null >/dev/null 2>&1 &
pid=$!
until_ 30 "sleep has SELFCKPT_DIR in its environment" grep -qa SELFCKPT_DIR "/proc/$pid/environ"
ckpt_wait c6
[ "$cst" = 69 ] && [[ $cerr == *"process $pid does not run the selfckpt library"* ]] ||
	die "c6: checkpoint of a process with SELFCKPT_DIR but not the library: status $cst: $cerr"
kill "$pid"
pid=$(cat /proc/sys/kernel/pid_max) # PIDs are below it
ckpt_wait c6
[ "$cst" = 66 ] && [[ $cerr == *"process $pid: no such process"* ]] ||
	die "c6: checkpoint of PID $pid, which does not exist: status $cst: $cerr"
[ ! -e c6.d ] || die "c6: c6.d was created"
ok

# ---- 7. the program's own handler for the library's signal ---------------------
run c7 -- sig62
until_ 30 "c7 past its sigqueue" has_line c7.out '^sigqueue: '
ckpt_wait c7
[ "$cst" = 0 ] && [ -s "$cout" ] || die "c7: checkpoint --wait: status $cst: $cerr"
killed c7
touch c7.g/go
restart_dir c7 sig62
ok

# ---- 8. exec with an environment of the program's own -------------------------
run c8 -- exec1
until_ 30 "c8 at stage 2" has_line c8.out '^exec: stage 2'
ckpt_wait c8
[ "$cst" = 0 ] && [ -s "$cout" ] || die "c8: checkpoint --wait after execve: status $cst: $cerr"
c8first=$cout
touch c8.g/go2
until_ 30 "c8 at stage 3, step 3" has_line c8.out '^step 3 '
ckpt_wait c8
[ "$cst" = 0 ] && [ -s "$cout" ] || die "c8: checkpoint --wait after execle: status $cst: $cerr"
[ "$cout" = "$W/c8.d/$(readlink c8.d/latest)" ] || die "c8: printed $cout, latest is $(readlink c8.d/latest)"
# Each image under its own name: the first one is still there.
[ "$cout" != "$c8first" ] && [ "$(images c8.d | wc -l)" = 2 ] ||
	die "c8: the checkpoint after execle printed $cout, the one before it $c8first: images $(images c8.d | tr '\n' ' ')(do the ids start again after an exec?)"
killed c8
touch c8.g/go3
restart_dir c8 exec
ok

# ---- 9. live children ------------------------------------------------------------
run c9 --interval 1 -- fork
until_ 30 "c9 children started" has_line c9.out '^fork: children started$'
read -r ca cb <c9.g/children
grandchildren+=("$ca:$pid" "$cb:$pid")
ckpt_wait c9
[ "$cst" = 1 ] || die "c9: checkpoint --wait with live children: status $cst, expected 1: $cout $cerr"
[[ $cerr =~ ^"selfckpt checkpoint: process $pid: the checkpoint failed: ".*"the process has child processes: process trees are not supported yet"$ ]] ||
	die "c9: with live children, the message was: $cerr"
msg_children=${cerr#*failed: }
# The periodic ones fail too, and say so on the program's stderr.
periodic_failed() { [ "$(grep -c "^selfckpt: checkpoint into $W/c9.d failed: .*the process has child processes: process trees are not supported yet$" c9.err)" -ge 2 ]; }
until_ 30 "two periodic checkpoints failed on c9's stderr" periodic_failed
# A request to a child: no image, and an answer rather than a wait.
for c in "$ca" "$cb"; do
	cst=0
	timeout 60 "$sck" checkpoint --wait --timeout 10 "$c" >c9c.out 2>c9c.err || cst=$?
	[ "$cst" != 0 ] && [ ! -s c9c.out ] || die "c9: checkpoint --wait of child $c: status $cst, printed $(cat c9c.out)"
	[ "$cst" != 4 ] || die "c9: checkpoint --wait of child $c (forked: $ca, spawned: $cb): no answer, it waited until --timeout: $(cat c9c.err)"
done
# Nothing in DIR (the children have the environment, and the spawned one
# the library and SELFCKPT_INTERVAL, but they are not the started process).
[ -z "$(ls -A c9.d)" ] || die "c9: with live children, c9.d holds $(ls -A c9.d | tr '\n' ' ')"
touch c9.g/go-a c9.g/go-b
until_ 30 "c9 children reaped" has_line c9.out '^fork: children reaped$'
[ "$(cat c9.g/statuses)" = "a exit 3, b exit 4" ] || die "c9: the children ended with: $(cat c9.g/statuses)"
ckpt_wait c9
[ "$cst" = 0 ] && [ -s "$cout" ] || die "c9: checkpoint --wait once the children are reaped: status $cst: $cerr"
touch c9.g/go-end
status_of "$pid"
[ "$st" = 0 ] || die "c9: status $st: $(cat c9.err)"
same c9 fork
ok
# The exit signal, sent to the children, does what it does without the
# library: they die of it, and write nothing into DIR.
run c9u --exit-signal USR1 -- fork
until_ 30 "c9u children started" has_line c9u.out '^fork: children started$'
read -r ca cb <c9u.g/children
grandchildren+=("$ca:$pid" "$cb:$pid")
kill -USR1 "$ca" "$cb"
until_ 30 "c9u children reaped" has_line c9u.out '^fork: children reaped$'
statuses=$(cat c9u.g/statuses)
[ "$statuses" = "a signal 10, b signal 10" ] && [ -z "$(ls -A c9u.d)" ] ||
	die "c9u: after kill -USR1, the children (forked: $ca, spawned: $cb) ended with '$statuses' (expected: a signal 10, b signal 10), and c9u.d holds: $(ls -A c9u.d | tr '\n' ' ')$(cd c9u.d && for f in ckpt-*.img; do [ -e "$f" ] && echo " ($f: $("$sck" info "$f" | sed -n 's/^created *//p'))"; done)"
touch c9u.g/go-end
status_of "$pid"
[ "$st" = 0 ] || die "c9u: status $st: $(cat c9u.err)"
same c9u fork
ok

# ---- 10. threads, at a random moment ---------------------------------------------
run c10 -- threads 100
until_ 30 "c10 threads started" has_line c10.out '^threads: 3 busy, 2 waiting$'
delay=$(printf '0.%03d' $((RANDOM % 800)))
sleep "$delay"
ckpt_wait c10
[ "$cst" = 0 ] && [ -s "$cout" ] || die "c10: checkpoint --wait: status $cst: $cerr"
busy_done=$(grep -c '^busy ' c10.out || true)
killed c10
touch c10.g/go
restart_dir c10 threads
ok

echo "run01: checkpoint --wait, latest, 0600, kill, restart DIR, checkpoint of the restarted process; --interval/--keep 2 (kept $(images c2.d | tr '\n' ' ' | sed 's/ $//')); --exit-signal and --exit (85); refused: $msg_socket / $msg_pipe / $msg_children; static refused (69); plain, library-less and missing processes refused; own SIGRTMAX-2 handler; execve+execle followed; children write no image; threads at +${delay}s ($busy_done of 3 done); $checks checks ($(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s)"

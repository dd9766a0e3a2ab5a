#!/bin/bash
# evlprogs.sh - real event loops, unmodified, under `selfckpt run` (issue 5):
#
#   tail -f   coreutils' tail follows a file through inotify (the watch's
#             path is known only from the interposed inotify_add_watch:
#             unprivileged, nothing else could find it). Checkpointed while
#             it waits, killed, restarted: lines appended to the file after
#             the restart come out, once, after those from before.
#   python3   an event loop on select.epoll: a timerfd (20 ms period, made
#             with ctypes), a pipe, an eventfd (edge-triggered) and a
#             signalfd for SIGUSR1, 150 steps, every event checked by the
#             script. Checkpointed at a random moment (SELFCKPT_SEED),
#             killed, restarted: its output is an uninterrupted run's, and
#             the timer has its period at the end.
#
# asyncio, which would be the natural Python program here, keeps a
# socketpair for its self-pipe: asyncio01.sh.
#
# Env: B, ROOT, WORK (see run-tests.sh). Last line: a summary.
set -eu
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
seed_random
export LC_ALL=C

trap kill_jobs EXIT

# wait_for FILE TEXT: until FILE holds the line TEXT (20 s at most).
wait_for() {
	local n
	for ((n = 0; n < 2000; n++)); do
		grep -qx "$2" "$1" 2>/dev/null && return 0
		sleep 0.01
	done
	return 1
}

for p in /usr/bin/tail /usr/bin/python3; do
	[ -x "$p" ] || die "$p is not installed (tools/setup-deps.sh test installs it)"
done

# ---- tail -f ----------------------------------------------------------------

printf 'one\ntwo\n' >log
"$sck" run --dir "$WORK/tail.d" -- /usr/bin/tail -n +1 -f log >tail.out 2>tail.err &
pid=$!
wait_for tail.out two || die "tail -f did not print the file: $(cat tail.err)"
# Waiting in its loop on the inotify descriptor:
grep -q inotify <(ls -l "/proc/$pid/fd/") || die "tail -f holds no inotify descriptor"
timeout 60 "$sck" checkpoint --wait "$pid" >tail.ckpt 2>&1 ||
	die "checkpoint of tail -f failed: $(cat tail.ckpt)"
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
"$sck" info "$(cat tail.ckpt)" | grep -q 'inotify, 1 watches' ||
	die "the image of tail -f has no inotify watch: $("$sck" info "$(cat tail.ckpt)" | grep object)"
"$sck" restart "$WORK/tail.d" >tail.restart 2>&1 &
rpid=$!
# Restarted when the restarted tail has its descriptors again.
for ((n = 0; n < 2000; n++)); do
	[ -s tail.restart ] && break
	kill -0 "$rpid" 2>/dev/null || break
	pgrep -f "^/usr/bin/tail -n \+1 -f log" >/dev/null && break
	sleep 0.01
done
sleep 0.2
echo three >>log
wait_for tail.out three || die "the restarted tail -f did not print a line appended after the restart: $(cat tail.out tail.restart)"
echo four >>log
wait_for tail.out four || die "the restarted tail -f did not print a second line: $(cat tail.out tail.restart)"
kill -TERM "$rpid"
wait "$rpid" 2>/dev/null || true
printf 'one\ntwo\nthree\nfour\n' | cmp -s - tail.out ||
	die "tail -f printed, across the restart: $(tr '\n' ' ' <tail.out)"
tail_ok="tail -f: 4 lines, 2 after the restart"

# ---- python3 on select.epoll --------------------------------------------------

cat >loop.py <<'EOF'
# An event loop on select.epoll: a timerfd (by ctypes, 20 ms period) drives
# 150 steps; each step writes its number into a pipe and adds it to an
# eventfd, both watched by the same epoll, as is SIGUSR1 through a
# signalfd, sent to itself every 10 steps. Every event is checked; one
# line per step, and the timer's settings at the end.
import ctypes, os, select, signal, struct, sys

libc = ctypes.CDLL(None, use_errno=True)

class ts(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]

class its(ctypes.Structure):
    _fields_ = [("interval", ts), ("value", ts)]

def check(ok, what):
    if not ok:
        print("FAIL", what, flush=True)
        sys.exit(1)

tfd = libc.timerfd_create(1, os.O_NONBLOCK | os.O_CLOEXEC)
check(tfd >= 0, "timerfd_create")
period = its(ts(0, 20000000), ts(0, 20000000))
check(libc.timerfd_settime(tfd, 0, ctypes.byref(period), None) == 0, "timerfd_settime")
r, w = os.pipe()
os.set_blocking(r, False)
efd = os.eventfd(0, os.EFD_NONBLOCK)
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
mask = ctypes.c_uint64(1 << (signal.SIGUSR1 - 1))
sfd = libc.signalfd(-1, ctypes.byref(mask), os.O_NONBLOCK)
check(sfd >= 0, "signalfd")
ep = select.epoll()
ep.register(tfd, select.EPOLLIN)
ep.register(r, select.EPOLLIN)
ep.register(efd, select.EPOLLIN | select.EPOLLET)
ep.register(sfd, select.EPOLLIN)
steps = got = evsum = sigs = sent = want_sum = 0
while steps < 150 or got < steps or evsum < want_sum or sigs < sent:
    events = ep.poll(5)
    check(events, "the loop stopped: nothing for 5 s")
    for fd, ev in events:
        if fd == tfd:
            struct.unpack("Q", os.read(tfd, 8))
            if steps < 150:
                steps += 1
                os.write(w, struct.pack("I", steps))
                os.eventfd_write(efd, steps)
                want_sum += steps
                if steps % 10 == 0:
                    os.kill(os.getpid(), signal.SIGUSR1)
                    sent += 1
                print("step", steps, flush=True)
        elif fd == r:
            for (n,) in struct.iter_unpack("I", os.read(r, 4096)):
                got += 1
                check(n == got, "pipe gave %d, expected %d" % (n, got))
        elif fd == efd:
            evsum += os.eventfd_read(efd)
        elif fd == sfd:
            info = os.read(sfd, 128)
            check(struct.unpack_from("I", info)[0] == signal.SIGUSR1, "signalfd")
            sigs += 1
        else:
            check(False, "event on fd %d" % fd)
cur = its()
check(libc.timerfd_gettime(tfd, ctypes.byref(cur)) == 0, "timerfd_gettime")
print("done", steps, got, evsum, sigs, "interval", cur.interval.sec, cur.interval.nsec)
EOF

/usr/bin/python3 loop.py >py.ref.out 2>py.ref.err || die "the reference run failed: $(tail -n 3 py.ref.out py.ref.err)"
grep -qx 'done 150 150 11325 15 interval 0 20000000' py.ref.out ||
	die "the reference run ended with: $(tail -n 1 py.ref.out)"
# The moment: between steps 10 and 100 of 150 (0.2-2 s of 3 s).
at=$((200 + RANDOM % 1800))
"$sck" run --dir "$WORK/py.d" -- /usr/bin/python3 loop.py >py.out 2>py.err &
pid=$!
sleep "$((at / 1000)).$(printf %03d $((at % 1000)))"
timeout 60 "$sck" checkpoint --wait "$pid" >py.ckpt 2>&1 ||
	die "checkpoint of the python loop at +${at} ms failed (seed $seed): $(cat py.ckpt)"
kill -KILL "$pid"
st=0
wait "$pid" 2>/dev/null || st=$?
[ "$st" = 137 ] || die "the python loop ended (status $st) before it was killed (seed $seed)"
steps=$(grep -c '^step' py.out || true)
"$sck" info "$(cat py.ckpt)" >py.info
for k in timerfd signalfd epoll eventfd; do
	grep -q "object.* $k" py.info || die "the image of the python loop has no $k: $(grep object py.info)"
done
st=0
timeout 60 "$sck" restart "$WORK/py.d" </dev/null >py.restart 2>&1 || st=$?
[ "$st" = 0 ] || die "the restarted python loop exited with $st: $(tail -n 3 py.restart py.out py.err)"
cmp -s py.out py.ref.out ||
	die "the python loop's output differs from an uninterrupted run's (checkpoint at +${at} ms, seed $seed): $(diff py.ref.out py.out | head -n 6 | tr '\n' ' ')"

echo "evlprogs: $tail_ok; python3 epoll loop: checkpoint at +${at} ms after $steps of 150 steps, output identical (seed $seed)"

#!/bin/bash
# threads-ids.sh - a multi-threaded program restarted with --no-namespaces
# (issue 3): every process and thread id is new, and glibc's copies of the
# thread ids follow, so that what uses them still works.
#
# threads03 runs with SCK_NEW_IDS=1 (it then expects new ids, see its
# comment): checkpoint 1 from a thread that is not the main one; restart
# --no-namespaces from the file with --pidfile; it checks, after the
# restart, that pthread_self is unchanged, pthread_kill runs the handler in
# the thread it was sent to, pthread_getschedparam finds every thread, an
# error-checking mutex (lock, EDEADLK on relock, EPERM for another thread,
# unlock), a contended priority-inheritance mutex and a robust mutex whose
# owner exits (EOWNERDEAD) work, then takes checkpoint 2; restart
# --no-namespaces again, from a pipe: new ids again, pthread_kill and
# pthread_join of every thread. Here: the PID is the restart command's
# (--pidfile says so too), and differs from the checkpoint's.
#
# Mutexes HELD ACROSS the checkpoint: their owner field holds the old
# thread id. A checkpoint that knows its image is for new ids (here
# SELFCKPT_NEW_IDS=1; by itself where namespaces are unavailable) searches
# memory for such locks and refuses, naming one: checked first. An image
# made without that search restarts with --no-namespaces after a warning
# on stderr, and then, as the warning says, pthread_mutex_unlock by the
# holder returns EPERM for an error-checking, a recursive and a robust
# mutex, so they stay locked, and their waiters stay blocked (a robust
# mutex whose holder exits does not become EOWNERDEAD: the kernel compares
# the lock word with the holder's new id). This script asserts that too;
# if it changes, the script fails and says so: update it then.
#
# Last, an image made with SELFCKPT_NEW_IDS=1 from a program that holds no
# such lock (mem01): info says new ids are safe, and the restart with
# --no-namespaces prints no warning and passes.
#
# Env: B, ROOT, WORK (see run-tests.sh). Last line: a summary.
set -eu
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
prog=$B/tests/e2e/bin/threads03
start=$EPOCHREALTIME
checks=0
ok() { checks=$((checks + 1)); }

held_today='errorcheck-unlock=EPERM recursive-unlocks=EPERM,EPERM,EPERM robust-unlock=EPERM errorcheck-waiter=blocked robust-waiter=blocked,blocked,blocked'
held_right='errorcheck-unlock=0 recursive-unlocks=0,0,EPERM robust-unlock=0 errorcheck-waiter=0 robust-waiter=EOWNERDEAD,0,0'

# ---- SELFCKPT_NEW_IDS=1: the held mutexes are refused ----------------------
env -u SCK_READY SELFCKPT_NEW_IDS=1 SCK_NEW_IDS=1 SCK_IMAGE="$WORK/refused.img" "$prog" 2>&1 |
	cat >refused.log
[ "${PIPESTATUS[0]}" -ne 0 ] || die "SELFCKPT_NEW_IDS=1 with mutexes held: the checkpoint did not fail: $(cat refused.log)"
grep -qE "holds an? (error-checking|recursive|robust|priority-inheritance) mutex at 0x[0-9a-f]+, which records its owner's thread id; this image is for a restart with new ids \(SELFCKPT_NEW_IDS=1\)" refused.log ||
	die "SELFCKPT_NEW_IDS=1: no message naming a held mutex: $(cat refused.log)"
[ ! -e refused.img ] || die "SELFCKPT_NEW_IDS=1: an image was left behind"
ok

# ---- the first run: checkpoint 1 ------------------------------------------
rm -f ids.img ids.pid
env -u SCK_READY SCK_NEW_IDS=1 SCK_IMAGE="$WORK/ids.img" "$prog" 2>&1 | cat >first.log
[ "${PIPESTATUS[0]}" -eq 0 ] && grep -qx 'info: checkpoint 1 written (no runner: exiting)' first.log ||
	die "threads03 did not checkpoint: $(cat first.log)"
ok

# ---- restart 1: --no-namespaces, from the file ------------------------------
"$sck" restart --no-namespaces --pidfile "$WORK/ids.pid" ids.img </dev/null 2>&1 |
	cat >restart1.log
st=${PIPESTATUS[0]}
[ "$st" -eq 0 ] || die "restart 1 --no-namespaces: status $st: $(cat restart1.log)"
grep -qx 'info: checkpoint 2 written (no runner: exiting)' restart1.log ||
	die "restart 1 --no-namespaces: no second checkpoint: $(cat restart1.log)"
grep -q '^selfckpt restart: warning: restarting with new process and thread ids (--no-namespaces); the image was not searched for held locks' restart1.log ||
	die "restart 1 --no-namespaces: no warning about unchecked locks: $(cat restart1.log)"
line=$(grep '^info: pid ' restart1.log) || die "no pid line: $(cat restart1.log)"
if [[ ! $line =~ ^info:\ pid\ ([0-9]+)\ \(was\ ([0-9]+)\)\;\ thread\ ids:\ 0\ kept,\ ([0-9]+)\ changed$ ]]; then
	die "unexpected ids line: $line"
fi
pid1=${BASH_REMATCH[1]}
pid0=${BASH_REMATCH[2]}
[ "$pid1" != "$pid0" ] && [ "${BASH_REMATCH[3]}" -ge 5 ] || die "ids not new: $line"
[ -s ids.pid ] && [ "$(cat ids.pid)" = "$pid1" ] ||
	die "--pidfile wrote '$(cat ids.pid 2>/dev/null)', the process says $pid1"
ok

# The mutexes held across the checkpoint: today's behaviour, documented.
held=$(sed -n 's/^info: held across: //p' restart1.log)
if [ "$held" = "$held_right" ]; then
	die "mutexes held across a checkpoint now work with --no-namespaces: update threads-ids.sh (held_today) and issue 3"
fi
[ "$held" = "$held_today" ] ||
	die "mutexes held across the checkpoint: '$held', expected (today) '$held_today': $(cat restart1.log)"
# ...because the owner fields hold the old thread ids.
owners=$(grep '^info: owner fields then: ' restart1.log) || die "no owner line"
re='errorcheck ([0-9]+) \(holder.s tid ([0-9]+), was ([0-9]+)\), recursive ([0-9]+) \(([0-9]+), was ([0-9]+)\), robust ([0-9]+) \(([0-9]+), was ([0-9]+)\)'
[[ $owners =~ $re ]] || die "unexpected owner line: $owners"
for k in 0 3 6; do
	o=${BASH_REMATCH[$((k + 1))]} now=${BASH_REMATCH[$((k + 2))]} was=${BASH_REMATCH[$((k + 3))]}
	[ "$o" = "$was" ] && [ "$now" != "$was" ] ||
		die "owner field $o, holder's tid $now, was $was: not the old id? $owners"
done
ok

# ---- restart 2: --no-namespaces again, from a pipe --------------------------
"$sck" restart --no-namespaces --pidfile "$WORK/ids2.pid" - <ids.img 2>&1 | cat >restart2.log
st=${PIPESTATUS[0]}
[ "$st" -eq 0 ] && grep -qx PASS restart2.log ||
	die "restart 2 --no-namespaces (pipe): status $st: $(cat restart2.log)"
pid2=$(sed -n 's/^info: second generation: pid //p' restart2.log)
[ -n "$pid2" ] && [ "$pid2" != "$pid1" ] && [ "$(cat ids2.pid)" = "$pid2" ] ||
	die "second generation: pid '$pid2', pid file '$(cat ids2.pid 2>/dev/null)', first restart $pid1"
ok

# ---- an image searched and found safe for new ids -----------------------
env -u SCK_READY SELFCKPT_NEW_IDS=1 SCK_IMAGE="$WORK/safe.img" "$B/tests/e2e/bin/mem01" 2>&1 |
	cat >safe-first.log
[ "${PIPESTATUS[0]}" -eq 0 ] && [ -s safe.img ] || die "mem01 with SELFCKPT_NEW_IDS=1: $(cat safe-first.log)"
"$sck" info safe.img | grep -qx 'new ids       safe: searched, no held lock records a thread id' ||
	die "info does not say new ids are safe: $("$sck" info safe.img | head -12)"
"$sck" info safe.img | grep -qx 'restarted     never (first run)' || die "info: restart mode of a first run"
"$sck" restart --no-namespaces safe.img </dev/null >safe-restart.log 2>&1 ||
	die "mem01 restart --no-namespaces: $(cat safe-restart.log)"
grep -qx PASS safe-restart.log && ! grep -q warning safe-restart.log ||
	die "mem01 restart --no-namespaces: $(cat safe-restart.log)"
ok

echo "threads-ids: held owner-recording mutexes refused with SELFCKPT_NEW_IDS=1; new pids $pid0 -> $pid1 -> $pid2 and new thread ids; pthread_self, pthread_kill, pthread_getschedparam, join, error-checking, PI and robust mutexes work; held across, in an image not searched (warned): $held; $checks checks ($(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s)"

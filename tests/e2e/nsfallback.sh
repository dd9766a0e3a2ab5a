#!/bin/bash
# nsfallback.sh - `selfckpt restart` falls back to new process and thread
# ids, with a note saying why, when the private namespaces are created but
# what comes next fails (restore-ns.c): the uid and gid maps of the user
# namespace (unprivileged), a thread id not below the new namespace's
# pid_max (which clone3 would refuse, for the threads after the point of
# no return), or clone3 with the image's PID as set_tid. Each is forced
# with SELFCKPT_TEST_FAULT=ns-map, ns-pid-max (pid_max taken as 301) and
# ns-set-tid (docs/reliability.md); ns-map only where restart makes a
# user namespace, that is when not root. For each:
#
#   - mem01, from an image made with SELFCKPT_NEW_IDS=1 (searched for held
#     locks): the restart prints the note naming the step that failed,
#     exits 0 with PASS, and --pidfile holds the restart command's own
#     PID (new ids: the command became the program);
#   - threads03 (SCK_NEW_IDS=1, it then expects new ids; its image holds
#     locks that record a thread id and was not searched): the note, then
#     the warning about such locks, and the program's own checks of
#     pthread_self, pthread_kill, join and its mutexes pass with new ids,
#     up to its second checkpoint.
#
# An image with System V IPC objects (sysvshm01) cannot go on with new
# ids, whose objects could not have theirs: with each knob, and with
# --no-namespaces, restart fails with status 69 and a message naming
# them, before the program runs (no output of its own).
#
# Without the knob the same mem01 image restarts with its ids kept (a
# PID namespace: --pidfile differs from the command's PID), so that the
# test tells one way from the other. Before the fallback, a failure at
# these steps ended the restart with status 71.
#
# Env: B, ROOT, WORK (see run-tests.sh). Last line: a summary.
set -eu
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
E=$B/tests/e2e/bin
done_=()

# Can restart keep ids here at all? (The suite's other tests need it.)
unshare_args=(-p -f)
[ "$(id -u)" = 0 ] || unshare_args=(-U -p -f)
if ! unshare "${unshare_args[@]}" true 2>/dev/null; then
	echo "nsfallback: SKIP(no namespaces here: restart always uses new ids)"
	exit 77
fi

env -u SCK_READY SELFCKPT_NEW_IDS=1 SCK_IMAGE="$WORK/mem.img" "$E/mem01" >mem-first.log 2>&1 ||
	die "mem01: $(cat mem-first.log)"
env -u SCK_READY SCK_NEW_IDS=1 SCK_IMAGE="$WORK/thr.img" "$E/threads03" >thr-first.log 2>&1 ||
	die "threads03: $(cat thr-first.log)"
# The restarted programs checkpoint again to the same paths: keep these.
cp mem.img mem0.img
cp thr.img thr0.img

# restart IMAGE LOG [KNOB]: $rpid is the command's PID, $ppid the pid file's.
restart() {
	local st=0
	rm -f pf
	cp "${1%.img}0.img" "$1"
	SELFCKPT_TEST_FAULT=${3:-} "$sck" restart --stdio=inherit --pidfile "$WORK/pf" "$1" </dev/null >"$2" 2>&1 &
	rpid=$!
	wait $rpid || st=$?
	[ $st -eq 0 ] || die "restart $1 ${3:+with $3 }: status $st: $(cat "$2")"
	ppid=$(cat pf 2>/dev/null || :)
}

restart mem.img plain.log
grep -qx PASS plain.log || die "mem01 without the knob: $(cat plain.log)"
[ -n "$ppid" ] && [ "$ppid" != "$rpid" ] ||
	die "without the knob the ids were not kept: pid file '$ppid', restart $rpid: $(cat plain.log)"

knobs=(ns-pid-max ns-set-tid)
[ "$(id -u)" = 0 ] || knobs=(ns-map ns-pid-max ns-set-tid)
for k in "${knobs[@]}"; do
	case $k in
	ns-map) note='note: cannot map user and group ids in a new user namespace \(Operation not permitted\): restarting with new process and thread ids' ;;
	ns-pid-max) note='note: thread id [0-9]+ is not below the pid_max of a new PID namespace here \(301\): restarting with new process and thread ids' ;;
	ns-set-tid) note='note: cannot create the process with its pid [0-9]+ in a new (user and )?PID namespace \(clone3 with set_tid: Invalid argument\): restarting with new process and thread ids' ;;
	esac
	restart mem.img "mem-$k.log" "$k"
	grep -qE "^selfckpt restart: $note\$" "mem-$k.log" || die "mem01 with $k: no note: $(cat "mem-$k.log")"
	grep -qx PASS "mem-$k.log" && ! grep -q warning "mem-$k.log" || die "mem01 with $k: $(cat "mem-$k.log")"
	[ "$ppid" = "$rpid" ] || die "mem01 with $k: pid file '$ppid', not the restart command's $rpid"

	restart thr.img "thr-$k.log" "$k"
	grep -qE "^selfckpt restart: $note\$" "thr-$k.log" || die "threads03 with $k: no note: $(cat "thr-$k.log")"
	grep -q '^selfckpt restart: warning: restarting with new process and thread ids (.*namespaces unavailable); the image was not searched for held locks' "thr-$k.log" ||
		die "threads03 with $k: no warning about held locks: $(cat "thr-$k.log")"
	grep -qE '^info: pid [0-9]+ \(was [0-9]+\); thread ids: 0 kept, [0-9]+ changed$' "thr-$k.log" &&
		grep -qx 'info: checkpoint 2 written (no runner: exiting)' "thr-$k.log" ||
		die "threads03 with $k: $(cat "thr-$k.log")"
	[ "$ppid" = "$rpid" ] || die "threads03 with $k: pid file '$ppid', not the restart command's $rpid"
	done_+=("$k")
done
env -u SCK_READY SCK_IMAGE="$WORK/sysv.img" "$E/sysvshm01" >sysv-first.log 2>&1 ||
	die "sysvshm01: $(cat sysv-first.log)"
sysv_msg='^selfckpt restart: the image has 5 System V IPC objects \(first: shared memory segment [0-9]+\), whose ids the program holds and which can be made again with their ids only in a private IPC namespace \((--no-namespaces|the namespaces could not be made)\): not restarted$'
for k in "${knobs[@]}" --no-namespaces; do
	st=0
	if [ "$k" = --no-namespaces ]; then
		"$sck" restart --stdio=inherit --no-namespaces sysv.img </dev/null >"sysv$k.log" 2>&1 || st=$?
	else
		SELFCKPT_TEST_FAULT=$k "$sck" restart --stdio=inherit sysv.img </dev/null >"sysv-$k.log" 2>&1 || st=$?
	fi
	log=sysv$k.log
	[ "$k" = --no-namespaces ] || log=sysv-$k.log
	[ $st = 69 ] && grep -qE "$sysv_msg" "$log" && ! grep -qE '^(PASS|FAIL|info)' "$log" ||
		die "sysvshm01 with $k: status $st: $(cat "$log")"
done
done_+=(sysv)
echo "nsfallback: ${done_[*]}: restart fell back to new ids with a note (mem01 PASS, threads03 to its second checkpoint); without the knob ids kept; sysv: an image with System V IPC objects refused (69) with each knob and --no-namespaces"

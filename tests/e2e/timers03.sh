#!/bin/bash
# timers03.sh - POSIX timer ids on kernels without
# PR_TIMER_CREATE_RESTORE_IDS (before Linux 6.17): the restorer creates and
# deletes timers until each id comes, in increasing order. On a kernel that
# has the prctl, SELFCKPT_TEST_TIMER_IDS=linear makes the restart do it
# that way anyway:
#   1. timers02 (ids above 100, with holes; a timer signalling a thread;
#      CPU-time clocks; two restarts) passes so, from a file and a pipe;
#   2. a timer whose id is above 2^20 (the program created and deleted that
#      many first): such a restart refuses it before the program runs
#      (status 69, saying why), while one with the prctl (if this kernel
#      has it) gets the id back.
# Env: B, ROOT, WORK (see run-tests.sh). Last line: a summary.
set -eu
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
me=timers03

# 1. timers02, every timer made again one id at a time.
for mode in file pipe; do
	opts=()
	[ $mode = pipe ] && opts=(--pipe)
	SELFCKPT_TEST_TIMER_IDS=linear "$B/tests/runner" --selfckpt "$sck" \
		--dir "$WORK/timers02-$mode" "${opts[@]}" -- "$B/tests/e2e/bin/timers02" \
		>"timers02-$mode.log" 2>&1 || die "timers02 with ids made one by one ($mode): $(tail -n 20 "timers02-$mode.log")"
done

# 2. An id too far for that.
cat >farid.c <<'C'
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <selfckpt.h>

int main(int argc, char **argv)
{
	struct sigevent sev = { .sigev_notify = SIGEV_NONE };
	struct itimerspec its = { { 0, 0 }, { 1000, 0 } }, cur;
	timer_t t;

	for (int i = 0; i <= (1 << 20); i++) {
		if (timer_create(CLOCK_MONOTONIC, &sev, &t) || timer_delete(t))
			return 3;
	}
	if (timer_create(CLOCK_MONOTONIC, &sev, &t) || timer_settime(t, 0, &its, NULL))
		return 3;
	long id = selfckpt_checkpoint(argv[1], SELFCKPT_NO_SYNC);

	if (id < 0) {
		fprintf(stderr, "farid: %s\n", selfckpt_last_error());
		return 1;
	}
	if (id > 0) {
		printf("timer id %ld\n", (long)(intptr_t)t);
		return 0;
	}
	if (timer_gettime(t, &cur) || cur.it_value.tv_sec < 900) {
		printf("timer %ld lost after the restart\n", (long)(intptr_t)t);
		return 1;
	}
	printf("timer %ld back\n", (long)(intptr_t)t);
	return 0;
}
C
cc -O1 -I"$ROOT/include" -o farid farid.c -L"$B" -lselfckpt -Wl,-rpath,"$B" ||
	die "cannot build farid"
# Its stdout a pipe: the restarted program's is the restart's.
./farid "$WORK/farid.img" </dev/null 2>&1 | cat >farid.log
[ "${PIPESTATUS[0]}" -eq 0 ] || die "farid failed: $(cat farid.log)"
st=0
SELFCKPT_TEST_TIMER_IDS=linear "$sck" restart farid.img </dev/null >linear.log 2>&1 || st=$?
[ $st -eq 69 ] && grep -q "cannot create a timer with a chosen id" linear.log ||
	die "restart of a timer id above 2^20, one by one: status $st: $(cat linear.log)"
if prctl_ok=$(python3 -c 'import ctypes; print(ctypes.CDLL(None).prctl(77, 2, 0, 0, 0))') &&
	[ "$prctl_ok" -ge 0 ]; then
	"$sck" restart farid.img </dev/null 2>&1 | cat >exact.log
	grep -q "^timer .* back$" exact.log || die "restart of a timer id above 2^20: $(cat exact.log)"
	exact="got it back with PR_TIMER_CREATE_RESTORE_IDS"
else
	exact="this kernel has no PR_TIMER_CREATE_RESTORE_IDS"
fi
echo "timers03: timers02 passes with ids made one by one (file and pipe); $(head -n 1 farid.log | cut -d' ' -f1-3) refused so ($exact)"

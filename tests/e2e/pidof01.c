/*
 * pidof01 - a restarted process keeps its PID: restart recreates it in a
 * private PID namespace (P14), so getpid() after the restart is what it was
 * before, and glibc's view and the kernel's agree. With SCK_PID_NEW=1 (a
 * restart with --no-namespaces) the PID must instead be new.
 *
 * With SCK_WAIT_USR1=1 the restarted process then waits (up to 30 s) for a
 * SIGUSR1 and passes only when it gets one: tests/e2e/cli.sh sends it to
 * the PID `selfckpt restart --pidfile` wrote, which shows that signals
 * sent from outside reach the restarted process there.
 */
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>

#include "zdtm.h"

int main(void)
{
	pid_t before = getpid();
	sigset_t usr1;

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);

	test_checkpoint();

	pid_t now = getpid();
	long kernel = syscall(SYS_getpid);
	const char *fresh = getenv("SCK_PID_NEW");

	CHECK(now == (pid_t)kernel, "getpid() says %d, the kernel %ld", (int)now,
	      kernel);
	if (fresh && !strcmp(fresh, "1"))
		CHECK(now != before, "still pid %d after a restart with new ids",
		      (int)now);
	else
		CHECK(now == before, "pid %d after the restart, %d before", (int)now,
		      (int)before);
	test_log("pid %d", (int)now);
	if (getenv("SCK_WAIT_USR1")) {
		struct timespec ts = { 30, 0 };
		siginfo_t si;

		CHECK(sigtimedwait(&usr1, &si, &ts) == SIGUSR1,
		      "no SIGUSR1 within 30 s: %s", strerror(errno));
		test_log("got SIGUSR1");
	}
	pass();
}

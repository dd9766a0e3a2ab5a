/*
 * pidof01 - after a restart the process has the PID of the restart
 * command (the launcher becomes the program), and getpid() says so: libc
 * caches nothing stale. It logs "pid N" after the restart, which
 * tests/e2e/cli.sh compares with the PID it started `selfckpt restart` as
 * and with the file `selfckpt restart --pidfile FILE` wrote.
 */
#include <sys/syscall.h>

#include "zdtm.h"

int main(void)
{
	pid_t before = getpid();

	test_checkpoint();

	pid_t now = getpid();
	long kernel = syscall(SYS_getpid);

	CHECK(now == (pid_t)kernel, "getpid() says %d, the kernel %ld", (int)now,
	      kernel);
	CHECK(now != before, "still pid %d after the restart", (int)now);
	test_log("pid %d", (int)now);
	pass();
}

/*
 * sysv.h - for the System V IPC tests (sysvshm01, sysvsem01, sysvmsg01).
 *
 * The runner kills the checkpointed process with SIGKILL; the objects it
 * made stay in this machine's IPC namespace (the restarted one has its
 * own copies in a private namespace). sysv_reaper() starts, before any
 * object exists, a process outside the test's process group and not its
 * child (so that the checkpoint neither sees it nor refuses it), which
 * removes the ids listed with sysv_forget() once the test's first stage
 * has died.
 */
#ifndef SELFCKPT_TEST_SYSV_H
#define SELFCKPT_TEST_SYSV_H

#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>

#include "zdtm.h"

#include <poll.h>
#include <sys/syscall.h>

static char sysv_ids_path[4200];

/* Record "kind id" for the reaper: kind 'm' shm, 's' sem, 'q' msg. */
static inline void sysv_forget(char kind, int id)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "%c %d\n", kind, id);
	int fd = open(sysv_ids_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

	CHECK(fd >= 0 && write(fd, line, (size_t)n) == n && close(fd) == 0,
	      "cannot write %s: %s", sysv_ids_path, strerror(errno));
}

static inline void sysv_reap(void)
{
	char buf[4096];
	ssize_t n;
	int fd = open(sysv_ids_path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	unlink(sysv_ids_path);
	buf[n > 0 ? n : 0] = '\0';
	for (char *p = buf; *p;) {
		char kind = *p;
		int id = atoi(p + 2);

		if (kind == 'm')
			shmctl(id, IPC_RMID, NULL);
		else if (kind == 's')
			semctl(id, 0, IPC_RMID);
		else if (kind == 'q')
			msgctl(id, IPC_RMID, NULL);
		p = strchr(p, '\n');
		if (!p)
			break;
		p++;
	}
}

static inline void sysv_reaper(void)
{
	pid_t me = getpid(), child;

	snprintf(sysv_ids_path, sizeof(sysv_ids_path), "%s.ids", test_image());
	unlink(sysv_ids_path);
	child = fork();
	CHECK(child >= 0, "fork: %s", strerror(errno));
	if (child == 0) {
		int pfd = (int)syscall(SYS_pidfd_open, me, 0);

		if (fork() != 0)
			_exit(0);
		setsid();
		for (int fd = 0; fd < 1024; fd++)
			if (fd != pfd)
				close(fd);
		struct pollfd q = { pfd, POLLIN, 0 };

		while (pfd >= 0 && poll(&q, 1, -1) < 0 && errno == EINTR)
			;
		sysv_reap();
		_exit(0);
	}
	CHECK(waitpid(child, NULL, 0) == child, "waitpid");
}

#endif

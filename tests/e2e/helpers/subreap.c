/*
 * subreap - run a command as a child subreaper, for tests/e2e/crash01.sh.
 *
 *   subreap PIDFILE COMMAND [ARGS...]
 *
 * Becomes a child subreaper (PR_SET_CHILD_SUBREAPER), starts COMMAND,
 * writes its PID to PIDFILE (atomically: PIDFILE.tmp, then rename), and
 * exits only when every descendant is gone: the command, and what it left
 * behind when it was killed, such as the copy-on-write child that writes
 * the image of a multi-threaded process (a clone without exit signal,
 * reparented here when the program dies; wait(__WALL) reaps it). Exit
 * status: the command's, or 128 + the signal that killed it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char tmp[4096], line[32];
	int st, status = 127, n, fd;
	pid_t pid, w;

	if (argc < 3) {
		fprintf(stderr, "usage: subreap PIDFILE COMMAND [ARGS...]\n");
		return 64;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
		perror("subreap: PR_SET_CHILD_SUBREAPER");
		return 71;
	}
	pid = fork();
	if (pid < 0) {
		perror("subreap: fork");
		return 71;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "subreap: %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
	n = snprintf(line, sizeof(line), "%d\n", (int)pid);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, line, (size_t)n) != n || close(fd) < 0 ||
	    rename(tmp, argv[1]) < 0) {
		perror("subreap: pid file");
		kill(pid, SIGKILL);
	}
	for (;;) {
		w = waitpid(-1, &st, __WALL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			break;	/* ECHILD: nobody left */
		}
		if (w == pid)
			status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	}
	return status;
}

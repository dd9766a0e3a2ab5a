/*
 * ptyrun - run a command on a fresh pseudo-terminal, for tests that need
 * one (tests/e2e/tty01.c, under the runner's --pty).
 *
 *   ptyrun [--size COLSxROWS] [--keep-stdin] -- COMMAND [ARGS...]
 *
 * COMMAND runs in a new session whose controlling terminal is a new pty
 * of COLSxROWS (default 80x24), in its foreground process group, with
 * its stdin, stdout and stderr on it; with --keep-stdin, its stdin is
 * ptyrun's own instead (for `selfckpt restart -`, which reads the image
 * there). Nothing is typed on the terminal. What COMMAND writes to it is
 * copied to ptyrun's stdout, with the terminal's "\r\n" turned back into
 * "\n" so that the runner finds its PASS line. COMMAND dies with ptyrun
 * (SIGKILL, PR_SET_PDEATHSIG): the runner kills ptyrun's process group,
 * which COMMAND, in a session of its own, is not part of.
 *
 * Exit status: COMMAND's, 128 + N if it died of signal N, 2 on a usage
 * error, 126 if the pty cannot be made, 127 if COMMAND cannot be run.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static int pending_cr;	/* a '\r' read last, not written yet */

static void out(const char *b, ssize_t n)
{
	char buf[8192 + 1];
	ssize_t k = 0;

	for (ssize_t i = 0; i < n; i++) {
		if (pending_cr && b[i] != '\n')
			buf[k++] = '\r';
		pending_cr = b[i] == '\r';
		if (!pending_cr)
			buf[k++] = b[i];
	}
	if (k && write(1, buf, (size_t)k) != k) {
		/* stdout gone: nothing to tell it */
	}
}

/* Copy what the terminal has now; 1 if there was something. */
static int copy(int m)
{
	char b[8192];
	ssize_t n = read(m, b, sizeof(b));

	if (n <= 0)
		return 0;
	out(b, n);
	return 1;
}

int main(int argc, char **argv)
{
	struct winsize ws = { .ws_row = 24, .ws_col = 80 };
	int keep = -1, i, m, status;
	pid_t parent = getpid(), pid;

	for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		unsigned c, r;

		if (!strcmp(argv[i], "--keep-stdin")) {
			keep = 1;
		} else if (!strcmp(argv[i], "--size") && i + 1 < argc &&
			   sscanf(argv[i + 1], "%ux%u", &c, &r) == 2) {
			ws.ws_col = (unsigned short)c;
			ws.ws_row = (unsigned short)r;
			i++;
		} else {
			break;
		}
	}
	if (i + 1 >= argc || strcmp(argv[i], "--")) {
		fprintf(stderr, "usage: ptyrun [--size COLSxROWS] [--keep-stdin] -- COMMAND [ARGS...]\n");
		return 2;
	}
	if (keep > 0)
		keep = fcntl(0, F_DUPFD_CLOEXEC, 3);
	pid = forkpty(&m, NULL, NULL, &ws);
	if (pid < 0) {
		fprintf(stderr, "ptyrun: forkpty: %s\n", strerror(errno));
		return 126;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);	/* ptyrun is already gone */
		if (keep >= 0 && dup2(keep, 0) < 0)
			_exit(127);
		execvp(argv[i + 1], argv + i + 1);
		fprintf(stderr, "ptyrun: %s: %s\n", argv[i + 1], strerror(errno));
		_exit(127);
	}
	fcntl(m, F_SETFL, O_NONBLOCK);
	for (;;) {
		struct pollfd p = { m, POLLIN, 0 };

		/* With every slave closed, poll says POLLHUP at once: wait. */
		if (poll(&p, 1, 50) > 0 && !(p.revents & POLLIN))
			usleep(20000);
		copy(m);
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
	}
	while (copy(m) > 0)
		;
	if (pending_cr && write(1, "\r", 1) != 1)
		return 1;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/*
 * lenient01 - a lenient checkpoint records /dev/null for each descriptor
 * it cannot restore, and says so (issue 5's leak detection):
 *
 *   - with SELFCKPT_LENIENT, a process holding a netlink socket (and its dup), a
 *     pidfd and the read end of a pipe whose write end is gone is
 *     checkpointed; after the restart each of those numbers is /dev/null
 *     with its access mode, O_NONBLOCK and close-on-exec, the dup shares
 *     its open file description again, and a regular file beside them is
 *     untouched;
 *   - the image says it: header flag LENIENT and one NOTE per descriptor
 *     naming it and why it was refused (`selfckpt info --json`, when the
 *     runner gives SCK_SELFCKPT);
 *   - SELFCKPT_LENIENT=1 in the environment does the same for every
 *     checkpoint of a process (a child that checkpoints with a socket);
 *   - without it, the same process is refused (leak01 checks the
 *     messages).
 */
#include <stdint.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "zdtm.h"

static void is_null(int fd, int acc, const char *what)
{
	struct stat st;

	CHECK(fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3),
	      "%s: fd %d is not /dev/null", what, fd);
	CHECK((fcntl(fd, F_GETFL) & O_ACCMODE) == acc, "%s: fd %d has access mode %d", what,
	      fd, fcntl(fd, F_GETFL) & O_ACCMODE);
}

/* The image's header flag and notes, as `selfckpt info --json` prints them. */
static void image_says(const char *image, int notes, const char *word)
{
	const char *sck = getenv("SCK_SELFCKPT");
	char cmd[8400], out[65536];
	size_t len = 0;
	int n = 0;

	if (!sck || !*sck) {
		test_log("SCK_SELFCKPT not set: %s not read", image);
		return;
	}
	snprintf(cmd, sizeof(cmd), "'%s' info --json '%s'", sck, image);
	FILE *p = popen(cmd, "r");

	CHECK(p, "popen: %s", strerror(errno));
	len = fread(out, 1, sizeof(out) - 1, p);
	CHECK(pclose(p) == 0, "selfckpt info %s failed", image);
	out[len] = '\0';
	CHECK(strstr(out, "\"lenient\":true"), "%s: no LENIENT flag", image);
	for (char *q = strstr(out, "becomes /dev/null at restart"); q;
	     q = strstr(q + 1, "becomes /dev/null at restart"))
		n++;
	CHECK(n == notes, "%s: %d notes, expected %d", image, n, notes);
	CHECK(strstr(out, word), "%s: the notes do not say \"%s\"", image, word);
}

static int env_child(void)
{
	int s = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	long id;

	CHECK(s >= 0, "socket: %s", strerror(errno));
	id = selfckpt_checkpoint("env.img", SELFCKPT_NO_SYNC);
	CHECK(id > 0, "SELFCKPT_LENIENT=1: checkpoint failed: %s", selfckpt_last_error());
	return 0;
}

int main(int argc, char **argv)
{
	int fds[2];

	if (argc > 1 && !strcmp(argv[1], "env"))
		return env_child();

	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK, NETLINK_ROUTE);
	int s2 = dup(s);
	int t = (int)syscall(SYS_pidfd_open, getpid(), 0);	/* close-on-exec */

	CHECK(s >= 0 && s2 >= 0 && t >= 0, "socket/pidfd: %s", strerror(errno));
	CHECK(pipe(fds) == 0, "pipe");
	close(fds[1]);
	int r = fds[0];
	int f = open("plain.dat", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	CHECK(f >= 0 && write(f, "plain", 5) == 5, "plain.dat: %s", strerror(errno));

	long id = selfckpt_checkpoint("refused.img", SELFCKPT_NO_SYNC);

	CHECK(id < 0 && errno == ENOTSUP, "a checkpoint without SELFCKPT_LENIENT: %ld", id);

	id = test_checkpoint_flags(SELFCKPT_NO_SYNC | SELFCKPT_LENIENT);
	CHECK(id == 1, "id %ld", id);
	is_null(s, O_RDWR, "socket");
	is_null(s2, O_RDWR, "its dup");
	CHECK(fcntl(s, F_GETFL) & O_NONBLOCK, "socket: O_NONBLOCK lost");
	CHECK(fcntl(s2, F_SETFL, 0) == 0 && !(fcntl(s, F_GETFL) & O_NONBLOCK),
	      "the dup no longer shares the socket's open file description");
	is_null(t, O_RDWR, "pidfd");
	CHECK(fcntl(t, F_GETFD) & FD_CLOEXEC, "pidfd: close-on-exec lost");
	is_null(r, O_RDONLY, "pipe read end");
	char c;

	CHECK(read(r, &c, 1) == 0, "the pipe's stand-in does not read end-of-file");
	char buf[8] = "";

	CHECK(pread(f, buf, 5, 0) == 5 && !memcmp(buf, "plain", 5), "plain.dat");
	image_says(test_image(), 4, "fd 3 becomes /dev/null at restart: fd 3 is a netlink socket");

	pid_t pid = fork();
	int st;

	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		char *args[] = { "lenient01", "env", NULL };

		setenv("SELFCKPT_LENIENT", "1", 1);
		syscall(SYS_close_range, 3, ~0U, 0);
		execv("/proc/self/exe", args);
		_exit(127);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "the SELFCKPT_LENIENT=1 child failed (status %x)", st);
	image_says("env.img", 1, "is a netlink socket");
	pass();
}

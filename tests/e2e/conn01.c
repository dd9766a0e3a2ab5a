/*
 * conn01 - connections to another process: refused by default, restored
 * closed with SELFCKPT_CLOSE_CONNECTIONS.
 *
 * The other process is a helper started with a double fork (not a child
 * of the test, which the checkpoint would refuse for itself): it listens
 * on TCP and on an abstract unix name, sends "bye" on every connection it
 * accepts and then echoes what it reads, and connects once to the test's
 * own TCP listener without being accepted.
 *
 *   1. Without the option: a TCP listener holding the helper's connection
 *      not accepted yet, a unix stream socket connected to the helper, a
 *      TCP connection to it: each makes the checkpoint fail with ENOTSUP
 *      and a message naming the socket, its address and the option.
 *   2. With the flag SELFCKPT_CLOSE_CONNECTIONS (to another image, not
 *      restarted) the checkpoint succeeds, and the running process's
 *      connection is untouched: what was queued is still there, in
 *      order, and writing and reading go on.
 *   3. The test runs itself again with SELFCKPT_CLOSE_CONNECTIONS=1 in
 *      the environment (as `selfckpt run --close-connections` sets it)
 *      and checkpoints without the flag: after the restart the TCP and
 *      unix connections read the "bye" that had arrived, then
 *      end-of-file, and writing fails with EPIPE; they are still a TCP
 *      and a unix stream socket; the listener is on its port, the
 *      connection it had not accepted is gone, new ones are accepted.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "zdtm.h"

static char uname_[64];

static socklen_t abstract_addr(struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	memcpy(a->sun_path + 1, uname_, strlen(uname_));
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(uname_));
}

static struct sockaddr_in loopback(unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	return a;
}

static unsigned port_of(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0, "getsockname: %s",
	      strerror(errno));
	return ntohs(a.sin_port);
}

static __attribute__((noreturn)) void helper(int info, unsigned their_port)
{
	struct sockaddr_in a = loopback(0);
	struct sockaddr_un ua;
	struct pollfd p[64];
	int n = 2;

	alarm(60);
	p[0].fd = socket(AF_INET, SOCK_STREAM, 0);
	p[1].fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (p[0].fd < 0 || bind(p[0].fd, (void *)&a, sizeof(a)) || listen(p[0].fd, 8) ||
	    p[1].fd < 0 || bind(p[1].fd, (void *)&ua, abstract_addr(&ua)) || listen(p[1].fd, 8))
		_exit(1);
	dprintf(info, "%u %d\n", port_of(p[0].fd), getpid());
	close(info);
	if (their_port) {
		/* Connect to the test's listener; it will not accept. */
		struct sockaddr_in t = loopback(their_port);
		int c = socket(AF_INET, SOCK_STREAM, 0);

		if (c < 0 || connect(c, (void *)&t, sizeof(t)))
			_exit(1);
	}
	for (;;) {
		for (int i = 0; i < n; i++)
			p[i].events = POLLIN;
		if (poll(p, (nfds_t)n, -1) < 0)
			continue;
		for (int i = 0; i < n; i++) {
			char buf[256];

			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (i < 2) {
				int c = accept(p[i].fd, NULL, NULL);

				if (c >= 0 && n < 64 && write(c, "bye", 3) == 3)
					p[n++].fd = c;
				continue;
			}
			ssize_t r = read(p[i].fd, buf, sizeof(buf));

			if (r > 0 && write(p[i].fd, buf, (size_t)r) == r)
				continue;
			close(p[i].fd);
			p[i] = p[--n];
		}
	}
}

/* Start the helper, not as a child; its TCP port and pid. */
static unsigned start_helper(unsigned their_port, pid_t *pid)
{
	int info[2];
	char line[64];
	unsigned port = 0;

	CHECK(pipe2(info, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
	pid_t c = fork();

	CHECK(c >= 0, "fork: %s", strerror(errno));
	if (c == 0) {
		if (fork() == 0) {
			close(info[0]);
			helper(info[1], their_port);
		}
		_exit(0);
	}
	close(info[1]);
	CHECK(waitpid(c, NULL, 0) == c, "waitpid: %s", strerror(errno));
	ssize_t r = read(info[0], line, sizeof(line) - 1);

	close(info[0]);
	CHECK(r > 0, "the helper did not start");
	line[r] = '\0';
	CHECK(sscanf(line, "%u %d", &port, pid) == 2, "the helper said \"%s\"", line);
	return port;
}

static int tcp_to(unsigned port)
{
	struct sockaddr_in a = loopback(port);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(s >= 0 && connect(s, (void *)&a, sizeof(a)) == 0, "connect to port %u: %s", port,
	      strerror(errno));
	return s;
}

static int unix_to(void)
{
	struct sockaddr_un a;
	socklen_t len = abstract_addr(&a);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(s >= 0 && connect(s, (void *)&a, len) == 0, "connect to @%s: %s", uname_,
	      strerror(errno));
	return s;
}

static void wait_readable(int fd, const char *what)
{
	struct pollfd p = { fd, POLLIN, 0 };

	CHECK(poll(&p, 1, 10000) == 1, "%s: nothing arrived", what);
}

/* The listener has a connection waiting (the helper's). */
static void wait_pending(int l)
{
	wait_readable(l, "the helper's connection to the listener");
}

static void refused(const char *what, int fd, const char *w1, const char *w2)
{
	char image[4200], num[32];
	long r;

	snprintf(image, sizeof(image), "%s.refused", test_image());
	snprintf(num, sizeof(num), "fd %d ", fd);
	errno = 0;
	r = selfckpt_checkpoint(image, SELFCKPT_NO_SYNC);
	const char *msg = selfckpt_last_error();

	CHECK(r == -1 && errno == ENOTSUP, "%s: checkpoint returned %ld, errno %d (%s)", what, r,
	      errno, msg);
	CHECK(strstr(msg, num) && strstr(msg, w1) && strstr(msg, w2) &&
	      strstr(msg, "SELFCKPT_CLOSE_CONNECTIONS"),
	      "%s: the message \"%s\" does not say \"%s\", \"%s\", \"%s\" and the option", what,
	      msg, num, w1, w2);
	test_log("%s: \"%s\"", what, msg);
	CHECK(access(image, F_OK) < 0, "%s: an image was written", what);
}

static void expect(int fd, const char *want, const char *what)
{
	char buf[64];
	size_t n = strlen(want), got = 0;

	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);

		CHECK(r > 0, "%s: read: %zd (%s) after %zu bytes", what, r,
		      r < 0 ? strerror(errno) : "end of file", got);
		got += (size_t)r;
	}
	CHECK(!memcmp(buf, want, n), "%s: read \"%.*s\", expected \"%s\"", what, (int)n, buf, want);
}

static void closed_now(int fd, const char *what)
{
	char b;

	CHECK(read(fd, &b, 1) == 0, "%s: no end-of-file after the queued bytes (%s)", what,
	      strerror(errno));
	CHECK(send(fd, "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE,
	      "%s: writing does not fail with EPIPE (%s)", what, strerror(errno));
}

static int iopt(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);

	CHECK(getsockopt(fd, level, name, &v, &len) == 0, "getsockopt: %s", strerror(errno));
	return v;
}

static void without_option(char **argv)
{
	struct sockaddr_in a = loopback(0);
	pid_t hp;
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(l >= 0 && bind(l, (void *)&a, sizeof(a)) == 0 && listen(l, 4) == 0,
	      "listener: %s", strerror(errno));
	unsigned hport = start_helper(port_of(l), &hp);
	char lname[64];

	wait_pending(l);
	snprintf(lname, sizeof(lname), "127.0.0.1:%u", port_of(l));
	refused("a listener with another process's connection waiting", l, lname,
		"1 connection not accepted yet");
	close(accept(l, NULL, NULL));

	int u = unix_to();

	wait_readable(u, "unix connection");
	refused("a unix connection", u, "unix stream socket connected to @", "another process");

	/* The flag: an image, and the live connection untouched. */
	char image[4200];

	snprintf(image, sizeof(image), "%s.flag", test_image());
	long id = selfckpt_checkpoint(image, SELFCKPT_NO_SYNC | SELFCKPT_CLOSE_CONNECTIONS);

	CHECK(id > 0, "with SELFCKPT_CLOSE_CONNECTIONS: %ld (%s)", id, selfckpt_last_error());
	expect(u, "bye", "the unix connection after a checkpoint with the flag");
	CHECK(write(u, "still", 5) == 5, "write: %s", strerror(errno));
	expect(u, "still", "the unix connection's echo");
	close(u);

	int t = tcp_to(hport);
	char tname[64];

	wait_readable(t, "TCP connection");
	snprintf(tname, sizeof(tname), "-> 127.0.0.1:%u", hport);
	refused("a TCP connection", t, "a TCP connection 127.0.0.1:", tname);
	close(t);
	close(l);
	kill(hp, SIGKILL);

	/* Again, with the environment variable, through a restart. */
	setenv("SELFCKPT_CLOSE_CONNECTIONS", "1", 1);
	execv("/proc/self/exe", argv);
	fail("execv: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	(void)argc;
	/*
	 * The helpers outlive the test (up to 60 s) and pids come round
	 * again (pid_max 32768, and the suite forks a lot): the name must
	 * not be the pid alone, or a new run's helper cannot bind it.
	 */
	unsigned long long nonce = 0;

	CHECK(getrandom(&nonce, sizeof(nonce), 0) == (ssize_t)sizeof(nonce), "getrandom: %s",
	      strerror(errno));
	snprintf(uname_, sizeof(uname_), "selfckpt-conn01-%d-%016llx", getpid(), nonce);
	if (!getenv("SELFCKPT_CLOSE_CONNECTIONS"))
		without_option(argv);

	struct sockaddr_in a = loopback(0);
	pid_t hp;
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	CHECK(l >= 0 && bind(l, (void *)&a, sizeof(a)) == 0 && listen(l, 4) == 0,
	      "listener: %s", strerror(errno));
	unsigned lport = port_of(l), hport = start_helper(lport, &hp);

	wait_pending(l);
	int u = unix_to(), t = tcp_to(hport);

	wait_readable(u, "unix connection");
	wait_readable(t, "TCP connection");
	test_checkpoint();
	test_log("restarted");

	expect(t, "bye", "the closed TCP connection");
	closed_now(t, "the closed TCP connection");
	CHECK(iopt(t, SOL_SOCKET, SO_TYPE) == SOCK_STREAM &&
	      iopt(t, SOL_SOCKET, SO_DOMAIN) == AF_INET, "the TCP socket is no longer one");
	expect(u, "bye", "the closed unix connection");
	closed_now(u, "the closed unix connection");
	CHECK(iopt(u, SOL_SOCKET, SO_DOMAIN) == AF_UNIX, "the unix socket is no longer one");

	CHECK(port_of(l) == lport, "the listener is on port %u, was %u", port_of(l), lport);
	CHECK(accept(l, NULL, NULL) < 0 && errno == EAGAIN,
	      "the helper's connection is still waiting on the listener (%s)", strerror(errno));
	int c = tcp_to(lport);

	wait_readable(l, "a new connection to the listener");
	int acc = accept(l, NULL, NULL);

	CHECK(acc >= 0 && write(c, "hi", 2) == 2, "accept: %s", strerror(errno));
	expect(acc, "hi", "a new connection to the listener");
	pass();
}

/*
 * scmrights01 - descriptors in flight (SCM_RIGHTS) in the queues of unix
 * socket pairs are there after a restart, each message in order with its
 * boundaries and its descriptors, each descriptor in its state:
 *
 *   - a stream pair: "AAAA", then "BBB" sent with a regular file open
 *     only in flight (O_RDWR | O_APPEND, offset 5) and the write end of
 *     pipe A (its read end at an fd numbered below the socket's, 9 bytes
 *     in it), then "CC", then "DDDD" with an eventfd (counter 42), then
 *     "EE". A read stops right after the bytes sent with descriptors and
 *     gets them: "AAAABBB" and two, "CCDDDD" and one, "EE" and none (after
 *     the restart the descriptors come with the bytes queued before them
 *     too: a read of "AAAA" alone would get them; docs/limitations.md);
 *   - a datagram pair: "one"; "two" with a memfd (offset 3); an empty
 *     message with the read end of pipe B (its write end at an fd
 *     numbered above the socket's); "four" with the same descriptor of a
 *     file twice, that file also open at an fd (the three share one open
 *     file description: one offset); "five". Each read gives one message
 *     whole with its descriptors;
 *   - the memfd, only in flight, in two queues, is one open file
 *     description after the restart (moving one offset moves the other);
 *   - a seqpacket pair: "x" with 3 descriptors (the memfd, pipe A's
 *     write end again, the file of "four"), "yy";
 *   - the checkpointed process goes on unharmed: each check is also run
 *     by a child forked from it right after the checkpoint, on the same
 *     queues (the checkpoint takes nothing out of them);
 *   - sockets in flight, in a datagram: one end of a seqpacket pair only
 *     in flight, its peer at an fd, its own queue holding a message and
 *     a message with an eventfd in flight (its queue comes back, and its
 *     peer); the other end, also at its fd (the same socket after);
 *   - a cycle of sockets only in flight, each in the other's queue,
 *     reachable from a socket at an fd: the same cycle after;
 *   - the stream's receiving end is fd 40, far above the others: its
 *     queue is copied last, its object comes first (SCM records must be
 *     sorted into queue order, or the reader refuses the image);
 *   - refused, with its message, and the process goes on (the message
 *     still there with its descriptor): a netlink socket in flight, a
 *     pidfd in flight (kinds refused at an fd too).
 *
 * Each descriptor received is checked: the file's offset, flags and
 * contents; pipe A: what was in it, what is written through the received
 * end comes out at the read end, and closing it gives end-of-file (no
 * other write end was made); pipe B: its bytes, and what the fd end
 * writes comes out of the received end; the eventfd's counter; the
 * memfd's offset and contents; the shared file: moving one offset moves
 * the others.
 */
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "zdtm.h"

static int pa[2], pb[2], str[2], dg[2], sq[2], kp[2], cy_h[2], cy_a[2], cy_b[2], shared_fd;
static char file_path[600], shared_path[600];

static void send_with(int s, const char *data, const int *fds, int nfds)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(8 * sizeof(int))];
	} c;
	struct iovec iov = { (void *)data, strlen(data) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		memset(&c, 0, sizeof(c));
		m.msg_control = c.b;
		m.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *h = CMSG_FIRSTHDR(&m);

		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(h), fds, nfds * sizeof(int));
	}
	CHECK(sendmsg(s, &m, 0) == (ssize_t)strlen(data), "sendmsg %s: %s", data,
	      strerror(errno));
}

/* Read up to n bytes: they must be want, with nfds descriptors into fds. */
static void recv_expect(const char *what, int s, size_t n, const char *want, int *fds,
			int nfds)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(16 * sizeof(int))];
	} c;
	char buf[256];
	struct iovec iov = { buf, n };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.b,
			    .msg_controllen = sizeof(c.b) };
	ssize_t r = recvmsg(s, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	int got = 0;

	CHECK(r >= 0, "%s: recvmsg: %s", what, strerror(errno));
	CHECK((size_t)r == strlen(want) && !memcmp(buf, want, (size_t)r),
	      "%s: got %zd bytes \"%.*s\", expected \"%s\"", what, r, (int)(r > 0 ? r : 0), buf,
	      want);
	CHECK(!(m.msg_flags & (MSG_CTRUNC | MSG_TRUNC)), "%s: truncated", what);
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		int k = (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));

		CHECK(got + k <= nfds, "%s: %d descriptors or more, expected %d", what, got + k,
		      nfds);
		memcpy(fds + got, CMSG_DATA(h), (size_t)k * sizeof(int));
		got += k;
	}
	CHECK(got == nfds, "%s: %d descriptors, expected %d", what, got, nfds);
}

static void nothing_left(const char *what, int s)
{
	char b;

	CHECK(recv(s, &b, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN, "%s: more in the queue", what);
}

static void check_file(const char *what, int fd, off_t off, const char *rest)
{
	char buf[64] = { 0 };
	int fl = fcntl(fd, F_GETFL);

	CHECK(lseek(fd, 0, SEEK_CUR) == off, "%s: offset %lld, expected %lld", what,
	      (long long)lseek(fd, 0, SEEK_CUR), (long long)off);
	CHECK((fl & O_ACCMODE) == O_RDWR && (fl & O_APPEND), "%s: flags %#x", what, fl);
	CHECK(read(fd, buf, sizeof(buf) - 1) == (ssize_t)strlen(rest) && !strcmp(buf, rest),
	      "%s: reads \"%s\", expected \"%s\"", what, buf, rest);
}

static void check_memfd(const char *what, int fd)
{
	char buf[32] = { 0 };
	struct stat st;

	CHECK(fstat(fd, &st) == 0 && st.st_size == 13, "%s: memfd size", what);
	CHECK(lseek(fd, 0, SEEK_CUR) == 3, "%s: memfd offset %lld", what,
	      (long long)lseek(fd, 0, SEEK_CUR));
	CHECK(pread(fd, buf, sizeof(buf) - 1, 0) == 13 && !strcmp(buf, "memfd-content"),
	      "%s: memfd holds \"%s\"", what, buf);
}

/* Pipe A: its bytes; what the received write end w writes comes out; then EOF. */
static void check_pipe_a(const char *what, int w)
{
	char buf[64] = { 0 };

	CHECK(write(w, "+more", 5) == 5, "%s: write to pipe A: %s", what, strerror(errno));
	CHECK(close(w) == 0, "%s: close", what);
	CHECK(read(pa[0], buf, sizeof(buf) - 1) == 14 && !strcmp(buf, "pipe-data+more"),
	      "%s: pipe A gives \"%s\"", what, buf);
	CHECK(read(pa[0], buf, 1) == 0, "%s: pipe A has another write end", what);
}

static void check_eventfd(const char *what, int fd)
{
	uint64_t v = 0;

	CHECK(read(fd, &v, 8) == 8 && v == 42, "%s: eventfd counter %llu", what,
	      (unsigned long long)v);
}

/* The sockets in flight: kp's second end with its queue, and kp[0] itself. */
static void check_sockets(const char *what)
{
	struct stat a, b;
	int k[2], e;
	char w[64], buf[16] = { 0 };
	uint64_t v = 0;

	snprintf(w, sizeof(w), "%s: datagram sock", what);
	recv_expect(w, dg[1], 100, "sock", k, 2);
	CHECK(fstat(k[1], &a) == 0 && fstat(kp[0], &b) == 0 && a.st_ino == b.st_ino,
	      "%s: the socket in flight that is also fd %d is another socket", w, kp[0]);
	snprintf(w, sizeof(w), "%s: queue of the socket only in flight", what);
	recv_expect(w, k[0], 100, "to-k1", &e, 0);
	recv_expect(w, k[0], 100, "nest", &e, 1);
	CHECK(read(e, &v, 8) == 8 && v == 7, "%s: eventfd in flight in it: %llu", w,
	      (unsigned long long)v);
	nothing_left(w, k[0]);
	CHECK(write(k[0], "back", 4) == 4 && read(kp[0], buf, sizeof(buf)) == 4 &&
	      !strcmp(buf, "back"), "%s: its peer is not fd %d", w, kp[0]);
	close(e);
	close(k[0]);
	close(k[1]);
}

/* The cycle: cy_a[1] from cy_h[1], cy_b[1] from it, cy_a[1] again from that. */
static void check_cycle(const char *what)
{
	struct stat s1, s2;
	char w[64], b[4];
	int x, y, z;

	snprintf(w, sizeof(w), "%s: cycle", what);
	recv_expect(w, cy_h[1], 100, "h", &x, 1);
	recv_expect(w, x, 100, "b", &y, 1);
	recv_expect(w, y, 100, "a", &z, 1);
	CHECK(fstat(x, &s1) == 0 && fstat(z, &s2) == 0 && s1.st_ino == s2.st_ino,
	      "%s: the socket in the cycle is two sockets", w);
	CHECK(send(cy_a[0], "q", 1, 0) == 1 && recv(x, b, sizeof(b), MSG_DONTWAIT) == 1,
	      "%s: the socket in flight is not its fd's peer", w);
	close(x);
	close(y);
	close(z);
}

/* Everything queued, read in order and checked; by the restarted process or a child. */
static void check_all(const char *what)
{
	int f[4], g[4], h[4], sq_memfd;
	char buf[32] = { 0 };
	char w[64];

	/*
	 * The stream: a read stops right after the bytes sent with
	 * descriptors, and gets them (those queued before them since the
	 * last descriptors come with them: docs/limitations.md).
	 */
	snprintf(w, sizeof(w), "%s: stream AAAABBB", what);
	recv_expect(w, str[1], 100, "AAAABBB", f, 2);
	snprintf(w, sizeof(w), "%s: stream CCDDDD", what);
	recv_expect(w, str[1], 100, "CCDDDD", g, 1);
	snprintf(w, sizeof(w), "%s: stream EE", what);
	recv_expect(w, str[1], 100, "EE", h, 0);
	nothing_left(w, str[1]);
	snprintf(w, sizeof(w), "%s: file in flight", what);
	check_file(w, f[0], 5, "56789");
	snprintf(w, sizeof(w), "%s: eventfd in flight", what);
	check_eventfd(w, g[0]);
	close(f[0]);
	close(g[0]);

	/* The seqpacket pair, before pipe A's end goes. */
	snprintf(w, sizeof(w), "%s: seqpacket x", what);
	recv_expect(w, sq[1], 100, "x", h, 3);
	snprintf(w, sizeof(w), "%s: memfd in flight (seqpacket)", what);
	check_memfd(w, h[0]);
	sq_memfd = h[0];
	close(h[1]);		/* pipe A's write end, again */
	snprintf(w, sizeof(w), "%s: shared file (seqpacket)", what);
	CHECK(lseek(shared_fd, 11, SEEK_SET) == 11 && lseek(h[2], 0, SEEK_CUR) == 11, "%s: not shared with fd %d",
	      w, shared_fd);
	close(h[2]);
	snprintf(w, sizeof(w), "%s: seqpacket yy", what);
	recv_expect(w, sq[1], 100, "yy", h, 0);
	nothing_left(w, sq[1]);
	snprintf(w, sizeof(w), "%s: pipe A", what);
	check_pipe_a(w, f[1]);

	/* The datagrams. */
	snprintf(w, sizeof(w), "%s: datagram one", what);
	recv_expect(w, dg[1], 100, "one", f, 0);
	snprintf(w, sizeof(w), "%s: datagram two", what);
	recv_expect(w, dg[1], 100, "two", f, 1);
	snprintf(w, sizeof(w), "%s: memfd in flight", what);
	check_memfd(w, f[0]);
	/* Only in flight, in two queues: one open file description. */
	CHECK(lseek(f[0], 9, SEEK_SET) == 9 && lseek(sq_memfd, 0, SEEK_CUR) == 9,
	      "%s: the memfd sent twice is two open file descriptions", w);
	close(sq_memfd);
	close(f[0]);
	snprintf(w, sizeof(w), "%s: empty datagram", what);
	recv_expect(w, dg[1], 100, "", g, 1);
	snprintf(w, sizeof(w), "%s: pipe B", what);
	CHECK(read(g[0], buf, sizeof(buf) - 1) == 6 && !strcmp(buf, "pipe-b"),
	      "%s gives \"%s\"", w, buf);
	CHECK(write(pb[1], "later", 5) == 5 && read(g[0], buf, sizeof(buf)) == 5 &&
	      !memcmp(buf, "later", 5), "%s: the fd end does not reach the received one", w);
	snprintf(w, sizeof(w), "%s: datagram four", what);
	recv_expect(w, dg[1], 100, "four", h, 2);
	CHECK(lseek(shared_fd, 3, SEEK_SET) == 3 && lseek(h[0], 0, SEEK_CUR) == 3 &&
	      lseek(h[1], 7, SEEK_SET) == 7 && lseek(shared_fd, 0, SEEK_CUR) == 7,
	      "%s: the two in flight and fd %d do not share one offset", w, shared_fd);
	snprintf(w, sizeof(w), "%s: datagram five", what);
	recv_expect(w, dg[1], 100, "five", f + 1, 0);
	check_sockets(what);
	nothing_left(w, dg[1]);
	check_cycle(what);
}

static void setup(void)
{
	char dir[512];
	int fd, efd, mfd, both[2];

	CHECK(getcwd(dir, sizeof(dir)) != NULL, "getcwd");
	snprintf(file_path, sizeof(file_path), "%s/scm-flight.dat", dir);
	snprintf(shared_path, sizeof(shared_path), "%s/scm-shared.dat", dir);
	fd = open(file_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd >= 0 && write(fd, "0123456789", 10) == 10, "%s: %s", file_path, strerror(errno));
	close(fd);
	fd = open(shared_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd >= 0 && write(fd, "shared file contents", 20) == 20, "%s", shared_path);
	close(fd);

	/* Pipe A's read end below the sockets. */
	CHECK(pipe2(pa, O_CLOEXEC) == 0 && write(pa[1], "pipe-data", 9) == 9, "pipe A");
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, str) == 0, "stream pair");
	/*
	 * The receiving end far above: its queue is copied after the others
	 * (fd order), its object numbered before theirs (with its pair's
	 * first end), so the SCM records must be put in queue order.
	 */
	CHECK(dup3(str[1], 40, O_CLOEXEC) == 40 && close(str[1]) == 0, "dup3");
	str[1] = 40;
	CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, dg) == 0, "dgram pair");
	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sq) == 0, "seqpacket pair");
	/* Pipe B's write end above them. */
	CHECK(pipe2(pb, O_CLOEXEC) == 0 && write(pb[1], "pipe-b", 6) == 6, "pipe B");

	fd = open(file_path, O_RDWR | O_APPEND | O_CLOEXEC);
	CHECK(fd >= 0 && lseek(fd, 5, SEEK_SET) == 5, "flight file");
	efd = eventfd(42, EFD_CLOEXEC);
	CHECK(efd >= 0, "eventfd");
	mfd = memfd_create("scm-memfd", MFD_CLOEXEC);
	CHECK(mfd >= 0 && write(mfd, "memfd-content", 13) == 13 && lseek(mfd, 3, SEEK_SET) == 3,
	      "memfd");
	shared_fd = open(shared_path, O_RDWR | O_APPEND | O_CLOEXEC);
	CHECK(shared_fd >= 0, "shared file");

	send_with(str[0], "AAAA", NULL, 0);
	both[0] = fd;
	both[1] = pa[1];
	send_with(str[0], "BBB", both, 2);
	send_with(str[0], "CC", NULL, 0);
	send_with(str[0], "DDDD", &efd, 1);
	send_with(str[0], "EE", NULL, 0);

	send_with(dg[0], "one", NULL, 0);
	send_with(dg[0], "two", &mfd, 1);
	send_with(dg[0], "", &pb[0], 1);
	both[0] = both[1] = shared_fd;
	send_with(dg[0], "four", both, 2);
	send_with(dg[0], "five", NULL, 0);

	/*
	 * Sockets in flight: kp[1], only in flight, whose peer kp[0] is at
	 * an fd and whose own queue holds "to-k1", then "nest" with an
	 * eventfd (7) in flight in it; and kp[0] itself, also at its fd.
	 */
	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, kp) == 0, "socket pair kp");
	int nest = eventfd(7, EFD_CLOEXEC), ks[2] = { kp[1], kp[0] };

	CHECK(nest >= 0, "eventfd");
	send_with(kp[0], "to-k1", NULL, 0);
	send_with(kp[0], "nest", &nest, 1);
	close(nest);
	send_with(dg[0], "sock", ks, 2);
	close(kp[1]);
	kp[1] = -1;

	/*
	 * A cycle: cy_a[1] in cy_b[1]'s queue and cy_b[1] in cy_a[1]'s, both
	 * only in flight, reachable from cy_h[1], whose queue holds cy_a[1].
	 */
	CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, cy_h) == 0 &&
	      socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, cy_a) == 0 &&
	      socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, cy_b) == 0, "cycle pairs");
	send_with(cy_b[0], "a", &cy_a[1], 1);
	send_with(cy_a[0], "b", &cy_b[1], 1);
	send_with(cy_h[0], "h", &cy_a[1], 1);
	close(cy_a[1]);
	close(cy_b[1]);

	int three[3] = { mfd, pa[1], shared_fd };

	send_with(sq[0], "x", three, 3);
	send_with(sq[0], "yy", NULL, 0);

	/* Only in flight from now on. */
	close(fd);
	close(efd);
	close(mfd);
	close(pa[1]);
	close(pb[0]);
	pa[1] = pb[0] = -1;
}

/* A pidfd in flight: refused with the reason an fd would get; the process goes on. */
static void refused_pidfd(void)
{
	int p[2], pfd = (int)syscall(SYS_pidfd_open, getpid(), 0), got;
	char path[600];

	if (pfd < 0) {
		test_log("no pidfd_open here (%s): not tried", strerror(errno));
		return;
	}
	snprintf(path, sizeof(path), "%s.refused", test_image());
	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p) == 0, "socketpair");
	send_with(p[0], "pidfd", &pfd, 1);
	close(pfd);
	errno = 0;
	long r = selfckpt_checkpoint(path, SELFCKPT_NO_SYNC);
	const char *msg = selfckpt_last_error();

	CHECK(r == -1 && errno == ENOTSUP, "a pidfd in flight: checkpoint gave %ld (%s)", r,
	      strerror(errno));
	CHECK(msg && strstr(msg, "in its queue that cannot be saved (it was fd ") &&
	      strstr(msg, "during the checkpoint only): fd ") && strstr(msg, "[pidfd]"),
	      "a pidfd in flight: message \"%s\"", msg ? msg : "");
	test_log("refused: %s", msg);
	CHECK(access(path, F_OK) != 0, "a refused checkpoint left %s", path);
	recv_expect("pidfd in flight after the refusal", p[1], 100, "pidfd", &got, 1);
	close(got);
	close(p[0]);
	close(p[1]);
}

/* A netlink socket in flight: refused with the reason an fd would get. */
static void refused_netlink(void)
{
	int p[2], nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0), got;
	char path[600];

	CHECK(nl >= 0, "netlink socket: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s.refused", test_image());
	CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, p) == 0, "socketpair");
	send_with(p[0], "nl", &nl, 1);
	close(nl);
	errno = 0;
	long r = selfckpt_checkpoint(path, SELFCKPT_NO_SYNC);
	const char *msg = selfckpt_last_error();

	CHECK(r == -1 && errno == ENOTSUP, "a netlink socket in flight: checkpoint gave %ld (%s)",
	      r, strerror(errno));
	CHECK(msg && strstr(msg, "in its queue that cannot be saved (it was fd ") &&
	      strstr(msg, "is a netlink socket (socket:["),
	      "a netlink socket in flight: message \"%s\"", msg ? msg : "");
	test_log("refused: %s", msg);
	CHECK(access(path, F_OK) != 0, "a refused checkpoint left %s", path);
	recv_expect("netlink socket in flight after the refusal", p[1], 100, "nl", &got, 1);
	close(got);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	refused_netlink();
	refused_pidfd();
	setup();
	long id = selfckpt_checkpoint(test_image(), SELFCKPT_NO_SYNC);

	if (id < 0)
		fail("checkpoint failed: %s: %s", strerror(errno), selfckpt_last_error());
	if (id > 0) {
		/* The checkpointed process: a child reads everything, unharmed. */
		pid_t c = fork();
		int st;

		CHECK(c >= 0, "fork");
		if (c == 0) {
			check_all("after the checkpoint");
			_exit(0);
		}
		CHECK(waitpid(c, &st, 0) == c, "waitpid");
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			_exit(1);	/* the child said why */
		/* The test contract: wait to be killed (test_checkpoint). */
		const char *ready = getenv("SCK_READY");
		char tmp[4096], line[32];

		if (!ready || !*ready)
			pass();
		snprintf(tmp, sizeof(tmp), "%s.tmp", ready);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		int n = snprintf(line, sizeof(line), "%ld\n", id);

		if (fd < 0 || write(fd, line, (size_t)n) != n || close(fd) || rename(tmp, ready))
			fail("cannot tell the runner: %s", strerror(errno));
		for (;;)
			pause();
	}
	check_all("after the restart");
	unlink(file_path);
	unlink(shared_path);
	pass();
}

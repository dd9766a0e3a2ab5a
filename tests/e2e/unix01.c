/*
 * unix01 - unix sockets the process holds are there after a restart, at
 * the same numbers, with what they held:
 *
 *   - socketpairs of the three types with data queued both ways (some of
 *     it already read): a stream gives the rest of the bytes in order;
 *     datagram and seqpacket pairs give each message whole, with its own
 *     length (a zero-length one too), in order, and nothing more;
 *   - a stream pair whose one end shut its writing side: the other end
 *     reads the queued bytes, then end-of-file, and can still write back;
 *   - a stream pair whose one end was closed: the other reads what was
 *     queued, then end-of-file, and writing gives EPIPE;
 *   - a listening stream socket on a path relative to the working
 *     directory (mode 0640) and a seqpacket one on an abstract name:
 *     each accepts new connections after the restart, on the same name
 *     (the killed process's socket file is replaced), and the backlog is
 *     kept (SO_ACCEPTCONN); a connection made before the checkpoint and
 *     not accepted yet (and that sent nothing yet) is accepted after it,
 *     and its data flows;
 *   - a connection made through the listener and accepted: both ends
 *     with their queued bytes;
 *   - a datagram socket bound to an absolute path, with messages queued
 *     from a named sender of the process (recvfrom gives its name) and
 *     from an unnamed one; a datagram socket connected to it (sending
 *     without an address reaches it); a named datagram socket whose peer
 *     was closed keeps its queue (with the sender's name) and sending on
 *     it fails with ECONNREFUSED; a listener whose socket file was
 *     removed: getsockname still gives the name, the file stays away;
 *   - options: SO_PASSCRED, SO_RCVBUF, SO_SNDBUF, SO_RCVTIMEO, SO_PEEK_OFF
 *     (set by the program, so peeking goes on where it was), O_NONBLOCK
 *     and close-on-exec as they were;
 *   - a checkpoint (one not restarted) takes nothing out of the running
 *     process's queues and leaves SO_PEEK_OFF as it was (the empty
 *     message is sent after it: see docs/limitations.md);
 *   - a second generation, after consuming and adding data, again.
 */
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>

#include "zdtm.h"

static char abs_path[600], abstract[64], gone_path[600];
static struct timeval rcvtimeo;		/* as the kernel had it (in jiffies) */

static socklen_t addr_of(const char *name, int abstract_name, struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (abstract_name) {
		memcpy(a->sun_path + 1, name, strlen(name));
		return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
	}
	snprintf(a->sun_path, sizeof(a->sun_path), "%s", name);
	return (socklen_t)sizeof(*a);
}

static int sock(int type)
{
	int s = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	CHECK(s >= 0, "socket: %s", strerror(errno));
	return s;
}

static int listener(int type, const char *name, int abstract_name, int backlog)
{
	struct sockaddr_un a;
	socklen_t len = addr_of(name, abstract_name, &a);
	int s = sock(type);

	CHECK(bind(s, (struct sockaddr *)&a, len) == 0, "bind %s: %s", name, strerror(errno));
	CHECK(listen(s, backlog) == 0, "listen: %s", strerror(errno));
	return s;
}

static int connect_to(int type, const char *name, int abstract_name)
{
	struct sockaddr_un a;
	socklen_t len = addr_of(name, abstract_name, &a);
	int s = sock(type);

	CHECK(connect(s, (struct sockaddr *)&a, len) == 0, "connect %s: %s", name,
	      strerror(errno));
	return s;
}

static void put(int fd, const char *s)
{
	size_t n = strlen(s);

	CHECK(send(fd, s, n, MSG_NOSIGNAL) == (ssize_t)n, "send %zu bytes on fd %d: %s", n, fd,
	      strerror(errno));
}

/* Read exactly the bytes of want (a stream). */
static void get(int fd, const char *want, const char *what)
{
	size_t n = strlen(want), got = 0;
	char buf[256];

	while (got < n) {
		ssize_t r = recv(fd, buf + got, n - got, MSG_DONTWAIT);

		CHECK(r > 0, "%s: recv on fd %d: %zd (%s) after %zu of %zu bytes", what, fd, r,
		      r < 0 ? strerror(errno) : "end of file", got, n);
		got += (size_t)r;
	}
	CHECK(!memcmp(buf, want, n), "%s: got \"%.*s\", expected \"%s\"", what, (int)n, buf, want);
}

/* One whole message of exactly want (datagram, seqpacket). */
static void get_msg(int fd, const char *want, const char *what)
{
	char buf[256];
	ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);

	CHECK(r == (ssize_t)strlen(want), "%s: message of %zd bytes (%s), expected \"%s\"", what, r,
	      r < 0 ? strerror(errno) : "", want);
	CHECK(!memcmp(buf, want, (size_t)r), "%s: got \"%.*s\", expected \"%s\"", what, (int)r,
	      buf, want);
}

static void nothing_more(int fd, const char *what)
{
	char b;
	ssize_t r = recv(fd, &b, 1, MSG_DONTWAIT);

	CHECK(r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK),
	      "%s: more data on fd %d (%zd, %s)", what, fd, r, r < 0 ? strerror(errno) : "");
}

static void at_eof(int fd, const char *what)
{
	char b;
	ssize_t r = recv(fd, &b, 1, MSG_DONTWAIT);

	CHECK(r == 0, "%s: fd %d is not at end-of-file (%zd, %s)", what, fd, r,
	      r < 0 ? strerror(errno) : "data");
}

static int opt(int fd, int name)
{
	int v = -12345;
	socklen_t len = sizeof(v);

	CHECK(getsockopt(fd, SOL_SOCKET, name, &v, &len) == 0, "getsockopt %d: %s", name,
	      strerror(errno));
	return v;
}

/* A new connection to a listener is accepted and carries bytes both ways. */
static void serves(int l, int type, const char *name, int abstract_name, const char *what)
{
	int c = connect_to(type, name, abstract_name);
	struct pollfd p = { l, POLLIN, 0 };

	CHECK(poll(&p, 1, 5000) == 1, "%s: the listener does not see the new connection", what);
	int a = accept4(l, NULL, NULL, SOCK_CLOEXEC);

	CHECK(a >= 0, "%s: accept: %s", what, strerror(errno));
	put(c, "ping");
	if (type == SOCK_SEQPACKET)
		get_msg(a, "ping", what);
	else
		get(a, "ping", what);
	put(a, "pong");
	if (type == SOCK_SEQPACKET)
		get_msg(c, "pong", what);
	else
		get(c, "pong", what);
	close(a);
	close(c);
}

struct fds {
	int st[2], dg[2], sp[2], half[2], lone, path_l, abs_l, pend, acc, conn, recv, named,
		anon, to_recv, gone_l, dclosed;
};

static void check_gen1(const struct fds *f)
{
	struct sockaddr_un a;
	socklen_t len;
	char buf[64];
	struct stat st;

	/* Stream pair: the rest of what was queued, each way. */
	get(f->st[1], "lo stream", "stream pair, end 1");
	nothing_more(f->st[1], "stream pair, end 1");
	get(f->st[0], "back", "stream pair, end 0");
	nothing_more(f->st[0], "stream pair, end 0");
	CHECK(fcntl(f->st[1], F_GETFL) & O_NONBLOCK, "stream pair end 1 lost O_NONBLOCK");
	CHECK(!(fcntl(f->st[0], F_GETFL) & O_NONBLOCK), "stream pair end 0 gained O_NONBLOCK");
	CHECK(fcntl(f->st[0], F_GETFD) == FD_CLOEXEC && fcntl(f->st[1], F_GETFD) == 0,
	      "stream pair: close-on-exec changed");
	CHECK(opt(f->st[1], SO_PASSCRED) == 1 && opt(f->st[0], SO_PASSCRED) == 0,
	      "SO_PASSCRED not kept");
	CHECK(opt(f->st[1], SO_RCVBUF) == 2 * 65536, "SO_RCVBUF is %d", opt(f->st[1], SO_RCVBUF));
	CHECK(opt(f->st[0], SO_SNDBUF) == 2 * 32768, "SO_SNDBUF is %d", opt(f->st[0], SO_SNDBUF));
	struct timeval tv;

	len = sizeof(tv);
	CHECK(getsockopt(f->st[0], SOL_SOCKET, SO_RCVTIMEO, &tv, &len) == 0 &&
	      tv.tv_sec == rcvtimeo.tv_sec && tv.tv_usec == rcvtimeo.tv_usec,
	      "SO_RCVTIMEO is %ld.%06ld, was %ld.%06ld", (long)tv.tv_sec, (long)tv.tv_usec,
	      (long)rcvtimeo.tv_sec, (long)rcvtimeo.tv_usec);
	put(f->st[0], "new");
	get(f->st[1], "new", "stream pair after restart");

	/* Datagram pair: boundaries, the empty message, order. */
	get_msg(f->dg[1], "two", "dgram pair");
	get_msg(f->dg[1], "", "dgram pair, empty message");
	get_msg(f->dg[1], "three!", "dgram pair");
	nothing_more(f->dg[1], "dgram pair");
	get_msg(f->dg[0], "reply", "dgram pair, other way");
	put(f->dg[1], "x");
	get_msg(f->dg[0], "x", "dgram pair after restart");

	/* Seqpacket pair, with SO_PEEK_OFF the program had set and used. */
	CHECK(opt(f->sp[1], SO_PEEK_OFF) == 5, "SO_PEEK_OFF is %d, expected 5",
	      opt(f->sp[1], SO_PEEK_OFF));
	ssize_t r = recv(f->sp[1], buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);

	CHECK(r == 3 && !memcmp(buf, "ge1", 3), "seqpacket: a peek at offset 5 gave %zd bytes", r);
	int off = -1;

	CHECK(setsockopt(f->sp[1], SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off)) == 0, "peek off");
	get_msg(f->sp[1], "message1", "seqpacket pair");
	get_msg(f->sp[1], "message2", "seqpacket pair");
	nothing_more(f->sp[1], "seqpacket pair");

	/* Half shut: queued bytes, end-of-file, and the other way still works. */
	get(f->half[1], "last words", "shut pair");
	at_eof(f->half[1], "shut pair");
	put(f->half[1], "still");
	get(f->half[0], "still", "shut pair, other way");

	/* The other end closed: bytes, end-of-file, EPIPE. */
	get(f->lone, "orphan", "closed pair");
	at_eof(f->lone, "closed pair");
	CHECK(send(f->lone, "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE,
	      "closed pair: send did not fail with EPIPE (%s)", strerror(errno));

	/* Listeners: names, backlog, the connection not accepted yet. */
	CHECK(opt(f->path_l, SO_ACCEPTCONN) == 1 && opt(f->abs_l, SO_ACCEPTCONN) == 1,
	      "a listener does not listen");
	CHECK(stat("unix01.sock", &st) == 0 && S_ISSOCK(st.st_mode) &&
	      (st.st_mode & 0777) == 0640, "unix01.sock: %s, mode %o", strerror(errno),
	      st.st_mode & 0777);
	len = sizeof(a);
	CHECK(getsockname(f->path_l, (struct sockaddr *)&a, &len) == 0 &&
	      !strcmp(a.sun_path, "unix01.sock"), "path listener's name: %s", a.sun_path);
	int acc = accept4(f->path_l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	CHECK(acc >= 0, "the pending connection is not there: %s", strerror(errno));
	put(f->pend, "early");
	get(acc, "early", "pending connection");
	put(acc, "welcome");
	get(f->pend, "welcome", "pending connection, reply");
	close(acc);
	serves(f->path_l, SOCK_STREAM, "unix01.sock", 0, "path listener");
	serves(f->abs_l, SOCK_SEQPACKET, abstract, 1, "abstract listener");

	/* The accepted connection. */
	get(f->acc, "to server", "accepted end");
	get(f->conn, "to client", "connecting end");
	put(f->conn, "more");
	get(f->acc, "more", "accepted pair after restart");

	/* Named datagram receiver: senders' names, in order. */
	len = sizeof(a);
	memset(&a, 0, sizeof(a));
	r = recvfrom(f->recv, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&a, &len);
	CHECK(r == 4 && !memcmp(buf, "from", 4), "named receiver: first message %zd bytes", r);
	CHECK(len > offsetof(struct sockaddr_un, sun_path) && !strcmp(a.sun_path, "unix01.dsend"),
	      "named receiver: the sender is \"%s\" (length %u)", a.sun_path, len);
	len = sizeof(a);
	r = recvfrom(f->recv, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&a, &len);
	CHECK(r == 4 && !memcmp(buf, "anon", 4), "named receiver: second message %zd bytes", r);
	CHECK(len <= offsetof(struct sockaddr_un, sun_path) || !a.sun_path[0],
	      "named receiver: the unnamed sender has a name, %s", a.sun_path);
	get_msg(f->recv, "connected", "named receiver, from the connected socket");
	nothing_more(f->recv, "named receiver");
	put(f->to_recv, "again");
	get_msg(f->recv, "again", "connected socket after restart");

	/* A named datagram socket whose peer was closed: its queue, then ECONNREFUSED. */
	len = sizeof(a);
	memset(&a, 0, sizeof(a));
	r = recvfrom(f->dclosed, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&a, &len);
	CHECK(r == 5 && !memcmp(buf, "early", 5) && !strcmp(a.sun_path, "unix01.dsend"),
	      "datagram socket with a closed peer: %zd bytes from \"%s\"", r, a.sun_path);
	CHECK(send(f->dclosed, "x", 1, 0) < 0 && errno == ECONNREFUSED,
	      "datagram socket with a closed peer: send gave %s", strerror(errno));

	/* A listener whose file was removed: the name stays, the file does not. */
	len = sizeof(a);
	CHECK(getsockname(f->gone_l, (struct sockaddr *)&a, &len) == 0 &&
	      !strcmp(a.sun_path, gone_path), "removed listener's name: \"%s\"", a.sun_path);
	CHECK(access(gone_path, F_OK) < 0 && errno == ENOENT, "%s exists after the restart",
	      gone_path);
}

int main(void)
{
	struct fds f;
	char cwd[512];
	int one = 1, rcv = 65536, snd = 32768;
	struct timeval tv = { 3, 250000 };

	CHECK(getcwd(cwd, sizeof(cwd)), "getcwd");
	snprintf(abs_path, sizeof(abs_path), "%s/unix01.drecv", cwd);
	snprintf(gone_path, sizeof(gone_path), "%s/unix01.gone", cwd);
	snprintf(abstract, sizeof(abstract), "selfckpt-unix01-%d-%ld", getpid(), (long)time(NULL));

	/* Stream pair: end 1 non-blocking, PASSCRED, buffers, a timeout. */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, f.st) == 0, "socketpair: %s", strerror(errno));
	fcntl(f.st[0], F_SETFD, FD_CLOEXEC);
	fcntl(f.st[1], F_SETFL, O_NONBLOCK);
	CHECK(setsockopt(f.st[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) == 0 &&
	      setsockopt(f.st[1], SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)) == 0 &&
	      setsockopt(f.st[0], SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd)) == 0 &&
	      setsockopt(f.st[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0,
	      "setsockopt: %s", strerror(errno));
	socklen_t tl = sizeof(rcvtimeo);

	CHECK(getsockopt(f.st[0], SOL_SOCKET, SO_RCVTIMEO, &rcvtimeo, &tl) == 0 &&
	      rcvtimeo.tv_sec == 3, "SO_RCVTIMEO: %s", strerror(errno));
	put(f.st[0], "hello stream");
	get(f.st[1], "hel", "stream pair before");
	put(f.st[1], "back");

	CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, f.dg) == 0, "socketpair dgram");
	put(f.dg[0], "one");
	put(f.dg[0], "two");
	get_msg(f.dg[1], "one", "dgram pair before");
	put(f.dg[1], "reply");

	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, f.sp) == 0, "socketpair seqpacket");
	put(f.sp[0], "message1");
	put(f.sp[0], "message2");
	int five = 5;
	char pb[8];

	/* The program's own peek offset: within the first message. */
	CHECK(setsockopt(f.sp[1], SOL_SOCKET, SO_PEEK_OFF, &five, sizeof(five)) == 0, "peek off");

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f.half) == 0, "socketpair");
	put(f.half[0], "last words");
	CHECK(shutdown(f.half[0], SHUT_WR) == 0, "shutdown: %s", strerror(errno));

	int lp[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, lp) == 0, "socketpair");
	put(lp[1], "orphan");
	close(lp[1]);
	f.lone = lp[0];

	mode_t old = umask(0);

	f.path_l = listener(SOCK_STREAM, "unix01.sock", 0, 7);
	CHECK(chmod("unix01.sock", 0640) == 0, "chmod: %s", strerror(errno));
	umask(old);
	f.abs_l = listener(SOCK_SEQPACKET, abstract, 1, 3);
	/* Not accepted yet, and nothing sent: its data would be out of reach. */
	f.pend = connect_to(SOCK_STREAM, "unix01.sock", 0);

	int tmp_l = listener(SOCK_STREAM, "unix01.tmp", 0, 2);

	f.conn = connect_to(SOCK_STREAM, "unix01.tmp", 0);
	f.acc = accept4(tmp_l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	CHECK(f.acc >= 0, "accept: %s", strerror(errno));
	close(tmp_l);
	unlink("unix01.tmp");
	put(f.conn, "to server");
	put(f.acc, "to client");
	fcntl(f.conn, F_SETFL, O_NONBLOCK);

	struct sockaddr_un a;
	socklen_t len = addr_of(abs_path, 0, &a);

	f.recv = sock(SOCK_DGRAM);
	CHECK(bind(f.recv, (struct sockaddr *)&a, len) == 0, "bind %s: %s", abs_path, strerror(errno));
	f.named = sock(SOCK_DGRAM);
	struct sockaddr_un sa;
	socklen_t slen = addr_of("unix01.dsend", 0, &sa);

	CHECK(bind(f.named, (struct sockaddr *)&sa, slen) == 0, "bind unix01.dsend: %s",
	      strerror(errno));
	f.anon = sock(SOCK_DGRAM);
	CHECK(sendto(f.named, "from", 4, 0, (struct sockaddr *)&a, len) == 4, "sendto: %s",
	      strerror(errno));
	CHECK(sendto(f.anon, "anon", 4, 0, (struct sockaddr *)&a, len) == 4, "sendto: %s",
	      strerror(errno));
	f.to_recv = sock(SOCK_DGRAM);
	CHECK(connect(f.to_recv, (struct sockaddr *)&a, len) == 0, "connect: %s", strerror(errno));
	put(f.to_recv, "connected");

	/* Named, a message from a named sender, then connected to a peer that goes. */
	f.dclosed = sock(SOCK_DGRAM);
	slen = addr_of("unix01.dclosed", 0, &sa);
	CHECK(bind(f.dclosed, (struct sockaddr *)&sa, slen) == 0, "bind: %s", strerror(errno));
	CHECK(sendto(f.named, "early", 5, 0, (struct sockaddr *)&sa, slen) == 5, "sendto: %s",
	      strerror(errno));
	int dpeer = sock(SOCK_DGRAM);

	slen = addr_of("unix01.dpeer", 0, &sa);
	CHECK(bind(dpeer, (struct sockaddr *)&sa, slen) == 0 &&
	      connect(f.dclosed, (struct sockaddr *)&sa, slen) == 0, "connect: %s",
	      strerror(errno));
	close(dpeer);

	f.gone_l = listener(SOCK_STREAM, gone_path, 0, 1);
	CHECK(unlink(gone_path) == 0, "unlink: %s", strerror(errno));

	/* The peek offset moved by the program's own peek: to 5 + 3. */
	CHECK(recv(f.sp[1], pb, 3, MSG_PEEK | MSG_DONTWAIT) == 3, "peek");
	five = 5;
	CHECK(setsockopt(f.sp[1], SOL_SOCKET, SO_PEEK_OFF, &five, sizeof(five)) == 0, "peek off");

	/* A checkpoint takes nothing out and leaves SO_PEEK_OFF as it was. */
	int inq_st = -1, inq_dg = -1, inq_recv = -1, after;
	char live[4200];

	CHECK(ioctl(f.st[1], FIONREAD, &inq_st) == 0 && ioctl(f.dg[1], FIONREAD, &inq_dg) == 0 &&
	      ioctl(f.recv, FIONREAD, &inq_recv) == 0, "FIONREAD: %s", strerror(errno));
	snprintf(live, sizeof(live), "%s.live", test_image());
	long id = selfckpt_checkpoint(live, SELFCKPT_NO_SYNC);

	CHECK(id > 0, "a checkpoint to %s: %ld (%s)", live, id, selfckpt_last_error());
	CHECK(opt(f.sp[1], SO_PEEK_OFF) == 5 && opt(f.st[1], SO_PEEK_OFF) == -1 &&
	      opt(f.dg[1], SO_PEEK_OFF) == -1 && opt(f.recv, SO_PEEK_OFF) == -1,
	      "after a checkpoint, SO_PEEK_OFF is %d, %d, %d, %d (was 5, -1, -1, -1)",
	      opt(f.sp[1], SO_PEEK_OFF), opt(f.st[1], SO_PEEK_OFF), opt(f.dg[1], SO_PEEK_OFF),
	      opt(f.recv, SO_PEEK_OFF));
	CHECK(ioctl(f.st[1], FIONREAD, &after) == 0 && after == inq_st,
	      "the stream pair held %d bytes, %d after a checkpoint", inq_st, after);
	CHECK(ioctl(f.dg[1], FIONREAD, &after) == 0 && after == inq_dg &&
	      ioctl(f.recv, FIONREAD, &after) == 0 && after == inq_recv,
	      "a datagram queue changed with a checkpoint");
	unlink(live);
	/*
	 * After that checkpoint: a peek (the checkpoint's) marks an empty
	 * message as seen, and peeks at an offset skip it from then on.
	 */
	CHECK(send(f.dg[0], "", 0, 0) == 0, "empty datagram: %s", strerror(errno));
	put(f.dg[0], "three!");

	test_checkpoint();
	test_log("restarted, generation 1");
	check_gen1(&f);

	/* Second generation: new data everywhere, checkpoint again. */
	put(f.st[0], "gen2");
	put(f.dg[0], "g2");
	put(f.sp[0], "seq2");
	put(f.to_recv, "dg2");
	f.pend = connect_to(SOCK_STREAM, "unix01.sock", 0);
	test_checkpoint();
	test_log("restarted, generation 2");
	get(f.st[1], "gen2", "generation 2 stream");
	get_msg(f.dg[1], "g2", "generation 2 dgram");
	get_msg(f.sp[1], "seq2", "generation 2 seqpacket");
	get_msg(f.recv, "dg2", "generation 2 named receiver");
	int acc = accept4(f.path_l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	CHECK(acc >= 0, "generation 2: the pending connection is not there: %s", strerror(errno));
	put(f.pend, "late");
	get(acc, "late", "generation 2 pending connection");
	serves(f.path_l, SOCK_STREAM, "unix01.sock", 0, "generation 2 path listener");
	serves(f.abs_l, SOCK_SEQPACKET, abstract, 1, "generation 2 abstract listener");
	pass();
}

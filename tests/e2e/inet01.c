/*
 * inet01 - TCP and UDP sockets the process holds are there after a
 * restart, on the same addresses and ports, with their options:
 *
 *   - a TCP socket listening on 127.0.0.1, port 0 at bind time (the port
 *     the kernel gave is recorded before the checkpoint), with a backlog
 *     and O_NONBLOCK, and without SO_REUSEADDR: the same port after the
 *     restart, a new connection is accepted and carries bytes both ways,
 *     and accept on the empty queue gives EAGAIN;
 *   - an IPv6 TCP socket listening on ::1 with IPV6_V6ONLY, SO_REUSEADDR,
 *     SO_KEEPALIVE, TCP_NODELAY, TCP_KEEPIDLE and SO_RCVBUF set (where the
 *     machine has ::1; else that part is left out, said in the log);
 *   - a UDP socket bound to 127.0.0.1: datagrams sent to its port after
 *     the restart arrive, with SO_BROADCAST kept; a UDP socket connected
 *     to it: send() without an address reaches it, getpeername agrees;
 *   - a TCP socket never bound nor connected: still a TCP socket, port 0;
 *     one bound and not listening: on its port, not listening;
 *   - connections that had ended before the checkpoint (the other end of
 *     each closed and gone): one reset (SO_LINGER 0) gives the bytes that
 *     had arrived, then ECONNRESET, then end-of-file; one closed in order
 *     (and shut down for writing here) gives its bytes, then end-of-file,
 *     and writing fails with EPIPE; neither needs SELFCKPT_CLOSE_CONNECTIONS;
 *   - a UDP socket with a datagram queued at the checkpoint: the datagram
 *     is not there after the restart (docs/limitations.md), the socket is;
 *   - a second generation, after accepting and closing a connection
 *     (the client closes first), again.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "zdtm.h"

static unsigned port_of(int fd)
{
	struct sockaddr_storage a;
	socklen_t len = sizeof(a);

	CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0, "getsockname: %s",
	      strerror(errno));
	return a.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&a)->sin_port)
				      : ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
}

static int iopt(int fd, int level, int name)
{
	int v = -12345;
	socklen_t len = sizeof(v);

	CHECK(getsockopt(fd, level, name, &v, &len) == 0, "getsockopt %d/%d: %s", level, name,
	      strerror(errno));
	return v;
}

static void set(int fd, int level, int name, int v)
{
	CHECK(setsockopt(fd, level, name, &v, sizeof(v)) == 0, "setsockopt %d/%d: %s", level,
	      name, strerror(errno));
}

/* A connection to the listener is accepted and carries bytes both ways. */
static void serves(int l, int family, unsigned port, const char *what)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port),
				   .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int c = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char buf[8];

	CHECK(c >= 0, "socket: %s", strerror(errno));
	CHECK(connect(c, family == AF_INET ? (void *)&a4 : (void *)&a6,
		      family == AF_INET ? sizeof(a4) : sizeof(a6)) == 0,
	      "%s: connect to port %u: %s", what, port, strerror(errno));
	struct pollfd p = { l, POLLIN, 0 };

	CHECK(poll(&p, 1, 5000) == 1, "%s: the listener does not see the connection", what);
	int a = accept4(l, NULL, NULL, SOCK_CLOEXEC);

	CHECK(a >= 0, "%s: accept: %s", what, strerror(errno));
	CHECK(write(c, "ping", 4) == 4 && read(a, buf, 4) == 4 && !memcmp(buf, "ping", 4),
	      "%s: client to server", what);
	CHECK(write(a, "pong", 4) == 4 && read(c, buf, 4) == 4 && !memcmp(buf, "pong", 4),
	      "%s: server to client", what);
	/* The client closes first: its side, not the listener's port, waits. */
	close(c);
	CHECK(read(a, buf, 1) == 0, "%s: no end-of-file on the server side", what);
	close(a);
}

/* A connection to listener l that the other end ends: reset or closed. */
static int ended(int l, unsigned port, int reset, const char *data)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), fl = fcntl(l, F_GETFL);
	char b;

	CHECK(c >= 0 && connect(c, (void *)&a, sizeof(a)) == 0, "connect: %s", strerror(errno));
	fcntl(l, F_SETFL, fl & ~O_NONBLOCK);
	int srv = accept(l, NULL, NULL);

	fcntl(l, F_SETFL, fl);
	CHECK(srv >= 0 && write(srv, data, strlen(data)) == (ssize_t)strlen(data),
	      "accept/write: %s", strerror(errno));
	/* Everything arrived before the end. */
	for (int i = 0; i < 2000; i++) {
		int q = 0;

		if (ioctl(c, FIONREAD, &q) == 0 && q == (int)strlen(data))
			break;
		usleep(1000);
	}
	if (reset) {
		struct linger lg = { 1, 0 };

		CHECK(setsockopt(srv, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0, "linger");
		close(srv);
	} else {
		close(srv);
		struct pollfd p = { c, POLLRDHUP, 0 };

		CHECK(poll(&p, 1, 5000) == 1, "no end-of-file from the closed end");
		CHECK(shutdown(c, SHUT_WR) == 0, "shutdown: %s", strerror(errno));
	}
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	for (int i = 0; i < 2000; i++) {
		if (getsockopt(c, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 && ti.tcpi_state == TCP_CLOSE)
			break;
		usleep(1000);
	}
	CHECK(ti.tcpi_state == TCP_CLOSE, "the %s connection is in TCP state %d", reset ? "reset" : "closed",
	      ti.tcpi_state);
	(void)b;
	return c;
}

static void udp_gets(int u, unsigned port, const char *what)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int c = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	char buf[16];

	CHECK(c >= 0 && sendto(c, "dgram", 5, 0, (void *)&a, sizeof(a)) == 5, "%s: sendto: %s",
	      what, strerror(errno));
	struct pollfd p = { u, POLLIN, 0 };

	CHECK(poll(&p, 1, 5000) == 1, "%s: nothing arrives on port %u", what, port);
	CHECK(recv(u, buf, sizeof(buf), 0) == 5 && !memcmp(buf, "dgram", 5), "%s: recv", what);
	close(c);
}

int main(void)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int l4, l6, u, uc, fresh;
	unsigned p4, p6 = 0, pu;

	l4 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	CHECK(l4 >= 0 && bind(l4, (void *)&a4, sizeof(a4)) == 0 && listen(l4, 5) == 0,
	      "TCP listener: %s", strerror(errno));
	p4 = port_of(l4);
	test_log("TCP listener on 127.0.0.1:%u", p4);

	l6 = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(l6 >= 0, "IPv6 socket: %s", strerror(errno));
	set(l6, IPPROTO_IPV6, IPV6_V6ONLY, 1);
	set(l6, SOL_SOCKET, SO_REUSEADDR, 1);
	set(l6, SOL_SOCKET, SO_KEEPALIVE, 1);
	set(l6, IPPROTO_TCP, TCP_NODELAY, 1);
	set(l6, IPPROTO_TCP, TCP_KEEPIDLE, 77);
	set(l6, SOL_SOCKET, SO_RCVBUF, 100000);
	int rcvbuf = iopt(l6, SOL_SOCKET, SO_RCVBUF);

	if (bind(l6, (void *)&a6, sizeof(a6)) == 0 && listen(l6, 9) == 0) {
		p6 = port_of(l6);
		test_log("IPv6 TCP listener on [::1]:%u", p6);
	} else {
		test_log("no ::1 here (%s): the IPv6 listener is left unbound", strerror(errno));
	}

	u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHECK(u >= 0 && bind(u, (void *)&a4, sizeof(a4)) == 0, "UDP: %s", strerror(errno));
	set(u, SOL_SOCKET, SO_BROADCAST, 1);
	pu = port_of(u);
	uc = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	a4.sin_port = htons(pu);
	CHECK(uc >= 0 && connect(uc, (void *)&a4, sizeof(a4)) == 0, "UDP connect: %s",
	      strerror(errno));
	unsigned puc = port_of(uc);

	fresh = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fresh >= 0, "socket: %s", strerror(errno));
	a4.sin_port = 0;
	int bound = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(bound >= 0 && bind(bound, (void *)&a4, sizeof(a4)) == 0, "bind: %s", strerror(errno));
	unsigned pb = port_of(bound);
	/*
	 * A listener of their own, closed before the checkpoint: the end
	 * that closes first keeps the port in TIME_WAIT for a minute.
	 */
	int tl = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(tl >= 0 && bind(tl, (void *)&a4, sizeof(a4)) == 0 && listen(tl, 2) == 0,
	      "listener: %s", strerror(errno));
	int rst = ended(tl, port_of(tl), 1, "reset data");
	int fin = ended(tl, port_of(tl), 0, "final words");

	close(tl);
	int uq = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	CHECK(uq >= 0 && bind(uq, (void *)&a4, sizeof(a4)) == 0, "UDP: %s", strerror(errno));
	a4.sin_port = htons(port_of(uq));
	CHECK(sendto(uc, "lost", 4, 0, (void *)&a4, sizeof(a4)) == 4, "sendto: %s", strerror(errno));
	struct pollfd pq = { uq, POLLIN, 0 };

	CHECK(poll(&pq, 1, 5000) == 1, "the datagram to be dropped did not arrive");

	for (int gen = 1; gen <= 2; gen++) {
		test_checkpoint();
		test_log("restarted, generation %d", gen);
		CHECK(port_of(l4) == p4, "the TCP listener is on port %u, was %u", port_of(l4), p4);
		CHECK(iopt(l4, SOL_SOCKET, SO_ACCEPTCONN) == 1, "the TCP listener does not listen");
		CHECK(iopt(l4, SOL_SOCKET, SO_REUSEADDR) == 0, "SO_REUSEADDR appeared");
		CHECK(fcntl(l4, F_GETFL) & O_NONBLOCK, "the listener lost O_NONBLOCK");
		CHECK(accept(l4, NULL, NULL) < 0 && errno == EAGAIN,
		      "accept on an empty queue: %s", strerror(errno));
		serves(l4, AF_INET, p4, "TCP listener");

		if (p6) {
			CHECK(port_of(l6) == p6, "the IPv6 listener is on port %u, was %u",
			      port_of(l6), p6);
			serves(l6, AF_INET6, p6, "IPv6 listener");
		}
		CHECK(iopt(l6, IPPROTO_IPV6, IPV6_V6ONLY) == 1 &&
		      iopt(l6, SOL_SOCKET, SO_REUSEADDR) == 1 &&
		      iopt(l6, SOL_SOCKET, SO_KEEPALIVE) == 1 &&
		      iopt(l6, IPPROTO_TCP, TCP_NODELAY) == 1 &&
		      iopt(l6, IPPROTO_TCP, TCP_KEEPIDLE) == 77 &&
		      iopt(l6, SOL_SOCKET, SO_RCVBUF) == rcvbuf,
		      "IPv6 listener options: v6only %d reuseaddr %d keepalive %d nodelay %d keepidle %d rcvbuf %d (was %d)",
		      iopt(l6, IPPROTO_IPV6, IPV6_V6ONLY), iopt(l6, SOL_SOCKET, SO_REUSEADDR),
		      iopt(l6, SOL_SOCKET, SO_KEEPALIVE), iopt(l6, IPPROTO_TCP, TCP_NODELAY),
		      iopt(l6, IPPROTO_TCP, TCP_KEEPIDLE), iopt(l6, SOL_SOCKET, SO_RCVBUF), rcvbuf);

		CHECK(port_of(u) == pu, "the UDP socket is on port %u, was %u", port_of(u), pu);
		CHECK(iopt(u, SOL_SOCKET, SO_BROADCAST) == 1, "SO_BROADCAST lost");
		udp_gets(u, pu, "bound UDP socket");
		struct sockaddr_in peer;
		socklen_t len = sizeof(peer);

		CHECK(getpeername(uc, (void *)&peer, &len) == 0 && ntohs(peer.sin_port) == pu,
		      "the connected UDP socket's peer: %s", strerror(errno));
		CHECK(port_of(uc) == puc, "the connected UDP socket is on port %u, was %u",
		      port_of(uc), puc);
		CHECK(send(uc, "via", 3, 0) == 3, "send on the connected UDP socket: %s",
		      strerror(errno));
		char buf[8];
		struct pollfd p = { u, POLLIN, 0 };

		CHECK(poll(&p, 1, 5000) == 1 && recv(u, buf, sizeof(buf), 0) == 3 &&
		      !memcmp(buf, "via", 3), "the connected UDP socket's datagram did not arrive");

		CHECK(iopt(fresh, SOL_SOCKET, SO_TYPE) == SOCK_STREAM &&
		      iopt(fresh, SOL_SOCKET, SO_PROTOCOL) == IPPROTO_TCP && port_of(fresh) == 0,
		      "the fresh TCP socket is not one any more");
		CHECK(port_of(bound) == pb && iopt(bound, SOL_SOCKET, SO_ACCEPTCONN) == 0,
		      "the bound TCP socket is on port %u (was %u), listening %d", port_of(bound), pb,
		      iopt(bound, SOL_SOCKET, SO_ACCEPTCONN));
		if (gen == 1) {
			char b[32];

			CHECK(read(rst, b, sizeof(b)) == 10 && !memcmp(b, "reset data", 10),
			      "the reset connection lost its bytes");
			CHECK(read(rst, b, sizeof(b)) < 0 && errno == ECONNRESET,
			      "the reset connection: no ECONNRESET (%s)", strerror(errno));
			CHECK(read(rst, b, sizeof(b)) == 0, "the reset connection: no end-of-file");
			CHECK(read(fin, b, sizeof(b)) == 11 && !memcmp(b, "final words", 11),
			      "the closed connection lost its bytes");
			CHECK(read(fin, b, sizeof(b)) == 0, "the closed connection: no end-of-file");
			CHECK(send(fin, "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE,
			      "the closed connection: writing gives %s", strerror(errno));
			CHECK(recv(uq, b, sizeof(b), MSG_DONTWAIT) < 0 && errno == EAGAIN,
			      "the queued datagram is there after all (%s)", strerror(errno));
			close(rst);
			close(fin);
		}
	}
	pass();
}

/*
 * restore-sock.c - restart: sockets.
 *
 * Two passes, both in the launcher before the descriptors are placed
 * (restore-objs.c calls them):
 *
 *  1. every socket object is made: a unix socket bound to its name again
 *     (a stale socket file of the killed process is removed first, never
 *     anything else, and never a socket someone still listens on) and
 *     listening with its backlog; both ends of a pair at once
 *     (socketpair), the second waiting in fd[1] of the first until its own
 *     object takes it; a connection the process's listener had not
 *     accepted yet connected to it again, in the order it had; a closed
 *     connection as a pair whose other end is closed once its queue is
 *     back. A TCP or UDP socket on its address and port, listening or
 *     connected (UDP); a closed TCP connection through the loopback
 *     (closed_tcp). Options first, except SO_PEEK_OFF.
 *  2. once all exist: queues refilled through the other end (for
 *     datagrams, from a socket bound to the sender's name where one can
 *     be), datagram sockets connected to their names, shutdowns applied,
 *     names whose file was gone removed again, SO_PEEK_OFF set last.
 *
 * Options are only set where a fresh socket has another value, so that
 * defaults (autotuned buffer sizes) stay defaults.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "restore.h"
#include "sockets.h"

static const struct sck_obj_unix *ust(const struct sck_img_obj *o)
{
	return (const void *)o->state;
}

static const struct sck_obj_inet *ist(const struct sck_img_obj *o)
{
	return (const void *)o->state;
}

/* "the unix stream socket @srv (object 3)", "the TCP socket 127.0.0.1:80 (object 4)" */
static const char *what(const struct sck_img_obj *o, char *b, size_t n)
{
	char name[4 * SCK_UNIX_NAME_MAX + 8];

	if (o->o.kind == SCK_OBJ_UNIX) {
		const struct sck_obj_unix *u = ust(o);

		sck_unix_name_str(name, sizeof(name), u->name, u->name_len);
		snprintf(b, n, "the unix %s socket %s (object %u)", sck_unix_type_name(u->type),
			 name, o->o.id);
	} else {
		const struct sck_obj_inet *t = ist(o);

		sck_inet_str(name, sizeof(name), t->local);
		snprintf(b, n, "the %s socket %s (object %u)",
			 t->type == SOCK_STREAM ? "TCP" : "UDP", name, o->o.id);
	}
	return b;
}

/* ---- options ---------------------------------------------------------------- */

static int get_opt(int fd, int i, int64_t *v)
{
	const struct sck_sockopt_def *def = &sck_sockopt_defs[i];
	union {
		int i;
		struct linger l;
		struct timeval tv;
	} u;
	socklen_t len = sizeof(u);

	memset(&u, 0, sizeof(u));
	if (getsockopt(fd, def->level, def->name, &u, &len) < 0)
		return -1;
	switch (def->enc) {
	case SCK_OPT_LINGER:
		*v = u.l.l_onoff ? u.l.l_linger : -1;
		break;
	case SCK_OPT_TIMEO:
		*v = (int64_t)u.tv.tv_sec * 1000000 + u.tv.tv_usec;
		break;
	default:
		*v = u.i;
	}
	return 0;
}

static int set_opt(int fd, int i, int64_t v)
{
	const struct sck_sockopt_def *def = &sck_sockopt_defs[i];

	switch (def->enc) {
	case SCK_OPT_LINGER: {
		struct linger l = { v >= 0, v >= 0 ? (int)v : 0 };

		return setsockopt(fd, def->level, def->name, &l, sizeof(l));
	}
	case SCK_OPT_TIMEO: {
		struct timeval tv = { (time_t)(v / 1000000), (suseconds_t)(v % 1000000) };

		return setsockopt(fd, def->level, def->name, &tv, sizeof(tv));
	}
	case SCK_OPT_BUF: {
		int half = (int)(v / 2);	/* the kernel doubles what is set */

		return setsockopt(fd, def->level, def->name, &half, sizeof(half));
	}
	default: {
		int iv = (int)v;

		return setsockopt(fd, def->level, def->name, &iv, sizeof(iv));
	}
	}
}

/*
 * The options of o that differ from a fresh socket's; late: SO_PEEK_OFF
 * only (after the queue is back), else all others. An option that cannot
 * be set as it was (a buffer above net.core.rmem_max for this user...) is
 * a warning, not a failure.
 */
static void apply_opts(struct rs *s, const struct sck_img_obj *o, int fd,
		       const struct sck_sockopts *op, int late)
{
	char w[SCK_MAX_PATH + 96];

	for (int i = 0; i < SCK_NSOCKOPT; i++) {
		int64_t now;

		if (!(op->valid & (1ULL << i)) || (i == SCK_SO_PEEK_OFF) != late)
			continue;
		if (get_opt(fd, i, &now) == 0 && now == op->val[i])
			continue;
		if (set_opt(fd, i, op->val[i]) == 0 && get_opt(fd, i, &now) == 0 &&
		    now == op->val[i])
			continue;
		selfckpt__rs_note(s, "warning: %s had %s %lld; it has %lld now",
				  what(o, w, sizeof(w)), sck_sockopt_defs[i].label,
				  (long long)op->val[i], (long long)now);
	}
}

static void pause_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- unix names --------------------------------------------------------------- */

static socklen_t unix_addr(const uint8_t *name, uint32_t len, struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	memcpy(a->sun_path, name, len);
	/* A path is terminated if there is room, as bind(2) and connect(2) like. */
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
			   (len && name[0] && len < SCK_UNIX_NAME_MAX));
}

/*
 * bind(2), given two seconds when the address is in use: the process that
 * was killed to be restarted may still be exiting (its sockets with it).
 */
static int bind_retry(int fd, const struct sockaddr *a, socklen_t len)
{
	for (int tries = 0;; tries++) {
		if (bind(fd, a, len) == 0)
			return 0;
		if (errno != EADDRINUSE || tries == 40)
			return -1;
		pause_ms(50);
	}
}

static int is_path(const uint8_t *name, uint32_t len)
{
	return len && name[0];
}

/*
 * Run op with the working directory of the image for a relative path
 * name (the checkpoint resolved it from there), then come back.
 */
struct in_cwd {
	int back;
};

static int enter_cwd(struct rs *s, const uint8_t *name, uint32_t len, struct in_cwd *c)
{
	c->back = -1;
	if (!is_path(name, len) || name[0] == '/')
		return 0;
	c->back = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->back < 0 || chdir(s->img.cwd) < 0) {
		selfckpt__rs_msg(s, "cannot change to %s for a relative socket name: %s",
				 s->img.cwd, strerror(errno));
		if (c->back >= 0)
			close(c->back);
		return -1;
	}
	return 0;
}

static void leave_cwd(struct in_cwd *c)
{
	if (c->back >= 0) {
		if (fchdir(c->back) < 0) {
			/* The launcher changes to the image's directory later anyway. */
		}
		close(c->back);
	}
}

/*
 * A socket file left at path by the process that was killed is removed:
 * only if it is a socket and nobody answers on it (connecting gives
 * ECONNREFUSED). The killed process may still be exiting: it gets two
 * seconds, as FIFOs do (restore-objs.c). Returns 0 when path is free,
 * -1 with a message.
 */
static int clear_stale(struct rs *s, const struct sck_img_obj *o, const char *path,
		       uint32_t type)
{
	struct sockaddr_un a;
	socklen_t len = unix_addr((const uint8_t *)path, (uint32_t)strlen(path), &a);
	char w[SCK_MAX_PATH + 96];

	for (int tries = 0;; tries++) {
		struct stat st;

		if (lstat(path, &st) < 0)
			return 0;
		if (!S_ISSOCK(st.st_mode)) {
			selfckpt__rs_msg(s, "cannot bind %s again: %s is there and is not a socket",
					 what(o, w, sizeof(w)), path);
			return -1;
		}
		int probe = socket(AF_UNIX, (int)type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		int r = probe < 0 ? -1 : connect(probe, (struct sockaddr *)&a, len);
		int err = errno;

		if (probe >= 0)
			close(probe);
		if (probe < 0) {
			selfckpt__rs_msg(s, "cannot make a socket: %s", strerror(err));
			return -1;
		}
		if (r < 0 && err == ECONNREFUSED) {
			if (unlink(path) == 0 || errno == ENOENT)
				return 0;
			selfckpt__rs_msg(s, "cannot remove the old socket file %s: %s", path,
					 strerror(errno));
			return -1;
		}
		if (tries == 40) {
			selfckpt__rs_msg(s, "cannot bind %s again: another socket is bound to %s and answers",
					 what(o, w, sizeof(w)), path);
			return -1;
		}
		pause_ms(50);
	}
}

static int bind_unix(struct rs *s, const struct sck_img_obj *o, int fd)
{
	const struct sck_obj_unix *u = ust(o);
	char path[SCK_UNIX_NAME_MAX + 1], w[SCK_MAX_PATH + 96];
	struct sockaddr_un a;
	struct in_cwd c;
	int ret = 0;

	if (!u->name_len)
		return 0;
	socklen_t len = unix_addr(u->name, u->name_len, &a);

	if (enter_cwd(s, u->name, u->name_len, &c))
		return -1;
	if (is_path(u->name, u->name_len)) {
		memcpy(path, u->name, u->name_len);
		path[u->name_len] = '\0';
		ret = clear_stale(s, o, path, u->type);
	}
	if (!ret && bind_retry(fd, (struct sockaddr *)&a, len) < 0) {
		selfckpt__rs_msg(s, "cannot bind %s again: %s", what(o, w, sizeof(w)),
				 strerror(errno));
		ret = -1;
	}
	if (!ret && is_path(u->name, u->name_len) && !(u->flags & SCK_SOCKF_UNLINKED) &&
	    u->file_mode && chmod(path, (mode_t)u->file_mode) < 0)
		selfckpt__rs_note(s, "warning: cannot give the socket file %s its mode %o: %s",
				  path, u->file_mode, strerror(errno));
	leave_cwd(&c);
	return ret;
}

static int connect_unix(struct rs *s, int fd, const uint8_t *name, uint32_t len)
{
	struct sockaddr_un a;
	socklen_t alen = unix_addr(name, len, &a);
	struct in_cwd c;
	int r;

	if (enter_cwd(s, name, len, &c))
		return -2;
	r = connect(fd, (struct sockaddr *)&a, alen);
	leave_cwd(&c);
	return r;
}

/* ---- unix sockets: pass one ----------------------------------------------------- */

static int make_unix(struct rs *s, const struct sck_img_obj *o, struct rs_obj *ro)
{
	const struct sck_obj_unix *u = ust(o);
	int type = (int)u->type, sv[2];
	char w[SCK_MAX_PATH + 96];

	switch (u->state) {
	case SCK_SOCK_PAIR:
		if (u->peer < o->o.id) {
			/* The second end, made with the first. */
			struct rs_obj *first = &s->objs[u->peer - 1];

			ro->fd[0] = first->fd[1];
			first->fd[1] = -1;
			break;
		}
		goto pair;
	case SCK_SOCK_CLOSED:
		/*
		 * A named datagram socket takes its messages from their senders'
		 * names first, and its dead peer afterwards (connect_dead).
		 */
		if (u->type == SOCK_DGRAM && u->name_len)
			goto plain;
pair:
		if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0) {
			selfckpt__rs_msg(s, "cannot make %s: socketpair: %s",
					 what(o, w, sizeof(w)), strerror(errno));
			return -1;
		}
		ro->fd[0] = sv[0];
		ro->fd[1] = sv[1];
		break;
	default:
plain:
		ro->fd[0] = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
		if (ro->fd[0] < 0) {
			selfckpt__rs_msg(s, "cannot make %s: %s", what(o, w, sizeof(w)),
					 strerror(errno));
			return -1;
		}
	}
	apply_opts(s, o, ro->fd[0], &u->opts, 0);
	if (u->state != SCK_SOCK_PAIR && bind_unix(s, o, ro->fd[0]))
		return -1;
	if (u->state == SCK_SOCK_LISTEN && listen(ro->fd[0], (int)u->backlog) < 0) {
		selfckpt__rs_msg(s, "cannot listen on %s: %s", what(o, w, sizeof(w)),
				 strerror(errno));
		return -1;
	}
	if (u->state == SCK_SOCK_PENDING) {
		/* Its listener (an earlier object) listens already; it accepts later. */
		const struct sck_obj_unix *l = ust(&s->img.objs[u->peer - 1]);
		int fl = fcntl(ro->fd[0], F_GETFL);

		fcntl(ro->fd[0], F_SETFL, fl | O_NONBLOCK);
		if (connect_unix(s, ro->fd[0], l->name, l->name_len) < 0) {
			selfckpt__rs_msg(s, "cannot connect %s to its listener (object %u) again: %s",
					 what(o, w, sizeof(w)), u->peer, strerror(errno));
			return -1;
		}
		fcntl(ro->fd[0], F_SETFL, fl);
	}
	return 0;
}

/* ---- TCP and UDP: pass one ------------------------------------------------------ */

static socklen_t inet_len(const struct sck_obj_inet *t)
{
	return t->family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

static unsigned inet_port(const uint8_t *sa)
{
	return (unsigned)sa[2] << 8 | sa[3];
}

/* Wait until cond(fd) holds, for up to about two seconds. */
static int wait_for(int fd, int (*cond)(int fd, long arg), long arg)
{
	for (int i = 0; i < 400; i++) {
		if (cond(fd, arg))
			return 0;
		pause_ms(5);
	}
	return -1;
}

static int queued_is(int fd, long n)
{
	int q = -1;

	return ioctl(fd, FIONREAD, &q) == 0 && q == n;
}

static int tcp_state_is(int fd, long state)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	       ti.tcpi_state == state;
}

static int got_fin(int fd, long unused)
{
	struct pollfd p = { fd, POLLRDHUP, 0 };

	(void)unused;
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP));
}

/*
 * A TCP connection that ended, or that SELFCKPT_CLOSE_CONNECTIONS closed:
 * the socket connects to a listener of ours on the loopback, which sends
 * it the bytes it had received and closes (a reset if the connection had
 * been reset); the socket shuts its side. Reading gives those bytes and
 * then end-of-file (or ECONNRESET once), writing EPIPE.
 */
static int closed_tcp(struct rs *s, const struct sck_img_obj *o, int fd)
{
	const struct sck_obj_inet *t = ist(o);
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int v6 = t->family == AF_INET6, l = -1, peer = -1, ret = -1;
	char w[SCK_MAX_PATH + 96];
	socklen_t len;

	for (int mapped = 0; mapped < 2 && l < 0; mapped++) {
		int fam = v6 && !mapped ? AF_INET6 : AF_INET;
		struct sockaddr *a = fam == AF_INET6 ? (void *)&a6 : (void *)&a4;

		if (mapped && !v6)
			break;
		len = fam == AF_INET6 ? sizeof(a6) : sizeof(a4);
		l = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (l >= 0 && (bind(l, a, len) < 0 || listen(l, 1) < 0 ||
			       getsockname(l, a, &len) < 0)) {
			close(l);
			l = -1;
		}
		if (l >= 0 && mapped) {
			/* No ::1 here: an IPv6 socket reaches 127.0.0.1 as ::ffff:127.0.0.1. */
			memset(&a6, 0, sizeof(a6));
			a6.sin6_family = AF_INET6;
			a6.sin6_port = a4.sin_port;
			a6.sin6_addr.s6_addr[10] = a6.sin6_addr.s6_addr[11] = 0xff;
			memcpy(&a6.sin6_addr.s6_addr[12], &a4.sin_addr, 4);
		}
	}
	if (l < 0) {
		selfckpt__rs_msg(s, "cannot make %s again as a closed connection: no listener on the loopback: %s",
				 what(o, w, sizeof(w)), strerror(errno));
		return -1;
	}
	if (o->o.data_len) {
		int want = (int)(o->o.data_len < (1U << 29) ? 2 * o->o.data_len : 1U << 30);

		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want));
	}
	if (connect(fd, v6 ? (void *)&a6 : (void *)&a4, v6 ? sizeof(a6) : sizeof(a4)) < 0 ||
	    (peer = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		selfckpt__rs_msg(s, "cannot make %s again as a closed connection: %s",
				 what(o, w, sizeof(w)), strerror(errno));
		goto out;
	}
	uint64_t sent = 0;

	for (int stalls = 0; sent < o->o.data_len && stalls < 400;) {
		ssize_t k = send(peer, o->data + sent, o->o.data_len - sent,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (k > 0) {
			sent += (uint64_t)k;
			stalls = 0;
		} else if (k < 0 && errno != EAGAIN && errno != EINTR) {
			break;
		} else {
			stalls++;
			pause_ms(5);
		}
	}
	if (sent < o->o.data_len)
		selfckpt__rs_note(s, "warning: %s gets back %llu of the %llu bytes it had received",
				  what(o, w, sizeof(w)), (unsigned long long)sent,
				  (unsigned long long)o->o.data_len);
	wait_for(fd, queued_is, (long)sent);
	if (t->flags & SCK_SOCKF_RESET) {
		struct linger lg = { 1, 0 };	/* close sends a reset */

		setsockopt(peer, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(peer);
		peer = -1;
	} else {
		close(peer);
		peer = -1;
		wait_for(fd, got_fin, 0);
		shutdown(fd, SHUT_WR);
	}
	wait_for(fd, tcp_state_is, TCP_CLOSE);
	ret = 0;
out:
	if (peer >= 0)
		close(peer);
	close(l);
	return ret;
}

/*
 * Bind to the address and port the socket had (its options, SO_REUSEADDR
 * and SO_REUSEPORT among them, are set already). The killed process's
 * listener may still be going away: bind_retry gives it two seconds.
 */
static int bind_inet(struct rs *s, const struct sck_img_obj *o, int fd)
{
	const struct sck_obj_inet *t = ist(o);
	char w[SCK_MAX_PATH + 96];
	int r = bind_retry(fd, (const struct sockaddr *)t->local, inet_len(t));
	int err = errno;

	if (r == 0)
		return 0;
	/* A connected UDP socket's port was most likely picked by the kernel. */
	if (err == EADDRINUSE && t->state == SCK_SOCK_CONNECTED) {
		uint8_t any[28];

		memcpy(any, t->local, sizeof(any));
		any[2] = any[3] = 0;
		if (bind(fd, (const struct sockaddr *)any, inet_len(t)) == 0) {
			selfckpt__rs_note(s, "warning: %s is connected again from another port: its port is taken",
					  what(o, w, sizeof(w)));
			return 0;
		}
	}
	selfckpt__rs_msg(s, "cannot bind %s again: %s", what(o, w, sizeof(w)), strerror(err));
	return -1;
}

static int make_inet(struct rs *s, const struct sck_img_obj *o, struct rs_obj *ro)
{
	const struct sck_obj_inet *t = ist(o);
	char w[SCK_MAX_PATH + 96];
	int fd = socket((int)t->family, (int)t->type | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		selfckpt__rs_msg(s, "cannot make %s: %s", what(o, w, sizeof(w)), strerror(errno));
		return -1;
	}
	ro->fd[0] = fd;
	apply_opts(s, o, fd, &t->opts, 0);
	switch (t->state) {
	case SCK_SOCK_CLOSED:
		return closed_tcp(s, o, fd);
	case SCK_SOCK_LISTEN:
		if (bind_inet(s, o, fd))
			return -1;
		if (listen(fd, (int)t->backlog) < 0) {
			selfckpt__rs_msg(s, "cannot listen on %s: %s", what(o, w, sizeof(w)),
					 strerror(errno));
			return -1;
		}
		return 0;
	case SCK_SOCK_CONNECTED:
		if (inet_port(t->local) && bind_inet(s, o, fd))
			return -1;
		if (connect(fd, (const struct sockaddr *)t->peer, inet_len(t)) < 0) {
			char p[64];

			sck_inet_str(p, sizeof(p), t->peer);
			selfckpt__rs_msg(s, "cannot connect %s to %s again: %s",
					 what(o, w, sizeof(w)), p, strerror(errno));
			return -1;
		}
		break;
	default:
		if (inet_port(t->local) && bind_inet(s, o, fd))
			return -1;
	}
	/* Shut down on a socket without a connection: ENOTCONN, but it sticks. */
	if (t->shutdown)
		shutdown(fd, (int)t->shutdown - 1);
	return 0;
}

int selfckpt__rs_make_socket(struct rs *s, const struct sck_img_obj *o,
			     struct rs_obj *ro)
{
	return o->o.kind == SCK_OBJ_UNIX ? make_unix(s, o, ro) : make_inet(s, o, ro);
}

/* ---- pass two ------------------------------------------------------------------- */

/* The other end of unix object o, through which its queue is refilled. */
static int other_end(struct rs *s, const struct sck_img_obj *o)
{
	const struct sck_obj_unix *u = ust(o);

	if (u->state == SCK_SOCK_PAIR)
		return s->objs[u->peer - 1].fd[0];
	if (u->state == SCK_SOCK_CLOSED)
		return s->objs[o->o.id - 1].fd[1];
	return -1;
}

static int send_all(int fd, const uint8_t *p, uint64_t n, const struct sockaddr_un *to,
		    socklen_t tolen)
{
	while (n) {
		ssize_t k = sendto(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL,
				   (const struct sockaddr *)to, to ? tolen : 0);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (uint64_t)k;
	}
	return 0;
}

/* One message, whole (an empty one too). */
static int send_msg(int fd, const uint8_t *p, uint64_t n, const struct sockaddr_un *to,
		    socklen_t tolen)
{
	ssize_t k;

	do
		k = sendto(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *)to,
			   to ? tolen : 0);
	while (k < 0 && errno == EINTR);
	return k == (ssize_t)n ? 0 : -1;
}

/* ---- descriptors in flight (SCM records) ------------------------------------- */

/*
 * The descriptor for a descriptor in flight, made the first time its
 * flight number is met and kept until every queue is refilled, so that
 * the same open file description goes into every message that had it:
 * shared with the image's fd that shares it, else opened (a file at its
 * offset) or made on its object as an FD record would be. -1 if not.
 */
static int flight_fd(struct rs *s, const struct sck_img_obj *o, const struct sck_scm_fd *sf)
{
	int *fd = &s->flight[sf->flight - 1];
	const struct sck_fd *r = &sf->fd;
	char w[SCK_MAX_PATH + 96];

	if (*fd >= 0)
		return *fd;
	/* With --stdio=inherit fds 0-2 are the command's: not what it shared. */
	if (r->share_with && !(r->share_with <= 3 && s->o->stdio_inherit))
		*fd = fcntl((int)r->share_with - 1, F_DUPFD_CLOEXEC, 0);
	else if (r->kind == SCK_FD_OBJ)
		*fd = selfckpt__rs_obj_fd(s, r);
	else
		*fd = selfckpt__rs_open_file(s, r);
	if (*fd < 0)
		selfckpt__rs_msg(s, "cannot make descriptor %u in flight in the queue of %s%s%s",
				 sf->flight, what(o, w, sizeof(w)), r->share_with ? ": " : "",
				 r->share_with ? strerror(errno) : "");
	return *fd;
}

/*
 * The SCM record for message (or stream offset) at of object o, from
 * *cur on (records are in queue order), or NULL.
 */
static const struct sck_img_scm *scm_at(struct rs *s, const struct sck_img_obj *o,
					uint64_t at, uint32_t *cur)
{
	for (; *cur < s->img.nscms; ++*cur) {
		const struct sck_img_scm *m = &s->img.scms[*cur];

		if (m->s.obj > o->o.id || (m->s.obj == o->o.id && m->s.at > at))
			return NULL;
		if (m->s.obj == o->o.id && m->s.at == at)
			return m;
	}
	return NULL;
}

/*
 * Send n bytes at p with the descriptors of SCM record m (SCM_RIGHTS);
 * a stream's bytes the kernel did not take at once follow without them.
 */
static int send_fds(struct rs *s, const struct sck_img_obj *o, int fd, const uint8_t *p,
		    uint64_t n, const struct sockaddr_un *to, socklen_t tolen,
		    const struct sck_img_scm *m)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(SCK_SCM_MAX_FDS * sizeof(int))];
	} c;
	struct iovec iov = { (void *)p, n };
	struct msghdr mh = { .msg_name = (void *)to, .msg_namelen = to ? tolen : 0,
			     .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.b,
			     .msg_controllen = CMSG_SPACE(m->s.nfds * sizeof(int)) };
	struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
	ssize_t k;

	memset(&c, 0, sizeof(c));
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(m->s.nfds * sizeof(int));
	for (uint32_t i = 0; i < m->s.nfds; i++) {
		int f = flight_fd(s, o, &m->fds[i]);

		if (f < 0)
			return -2;
		memcpy(CMSG_DATA(h) + i * sizeof(int), &f, sizeof(int));
	}
	do
		k = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return -1;
	if ((uint64_t)k == n)
		return 0;
	return ust(o)->type == SOCK_STREAM ? send_all(fd, p + k, n - (uint64_t)k, NULL, 0) : -1;
}

void selfckpt__rs_flight_close(struct rs *s)
{
	for (uint32_t i = 0; s->flight && i < s->img.nflight; i++)
		if (s->flight[i] >= 0)
			close(s->flight[i]);
	free(s->flight);
	s->flight = NULL;
}

/* A unix datagram object of the image bound to name, or NULL. */
static int named_sender(struct rs *s, const uint8_t *name, uint32_t len)
{
	for (uint32_t i = 0; i < s->img.nobjs; i++) {
		const struct sck_img_obj *o = &s->img.objs[i];

		if (o->o.kind == SCK_OBJ_UNIX && ust(o)->type == SOCK_DGRAM &&
		    ust(o)->name_len == len && !memcmp(ust(o)->name, name, len) &&
		    !(ust(o)->flags & SCK_SOCKF_UNLINKED))
			return s->objs[i].fd[0];
	}
	return -1;
}

/*
 * A socket standing in for a sender that is not in the image, bound to
 * its name if that can be done without disturbing anything (an abstract
 * name that is free, a path where nothing is); else unnamed, with a
 * warning. Returns the socket and whether a file must go (*made).
 */
static int stand_in(struct rs *s, const struct sck_img_obj *o, const uint8_t *name,
		    uint32_t len, int *made)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	char w[SCK_MAX_PATH + 96], n[4 * SCK_UNIX_NAME_MAX + 8];
	struct sockaddr_un a;
	struct in_cwd c;

	*made = 0;
	if (fd < 0 || !len)
		return fd;
	if (enter_cwd(s, name, len, &c) == 0) {
		*made = bind(fd, (struct sockaddr *)&a, unix_addr(name, len, &a)) == 0;
		leave_cwd(&c);
	}
	if (!*made) {
		sck_unix_name_str(n, sizeof(n), name, len);
		selfckpt__rs_note(s, "warning: a message queued in %s came from %s, which cannot be bound now: it comes from an unnamed socket",
				  what(o, w, sizeof(w)), n);
	}
	*made = *made && is_path(name, len);
	return fd;
}

static void drop_stand_in(struct rs *s, int fd, int made, const uint8_t *name, uint32_t len)
{
	char path[SCK_UNIX_NAME_MAX + 1];
	struct in_cwd c;

	if (made && enter_cwd(s, name, len, &c) == 0) {
		memcpy(path, name, len);
		path[len] = '\0';
		unlink(path);
		leave_cwd(&c);
	}
	if (fd >= 0)
		close(fd);
}

/*
 * Put the messages of datagram or seqpacket object o back, in order,
 * before it is connected anywhere: through its other end (via) when the
 * sender had no name or o has none; else sent to o's name from the
 * image's socket of the sender's name, or a stand-in for it.
 */
static int refill_msgs(struct rs *s, const struct sck_img_obj *o, int via)
{
	const struct sck_obj_unix *u = ust(o);
	struct sockaddr_un to;
	socklen_t tolen = unix_addr(u->name, u->name_len, &to);
	char w[SCK_MAX_PATH + 96];
	uint64_t off = 0;
	uint32_t cur = 0;

	for (uint32_t i = 0; i < u->nmsgs; i++) {
		const struct sck_img_scm *m = scm_at(s, o, i, &cur);
		struct sck_unix_msg h;

		memcpy(&h, o->data + off, sizeof(h));
		const uint8_t *addr = o->data + off + sizeof(h), *body = addr + h.addr_len;
		int fd = -1, made = 0, tmp = -1, addressed = 0, r = -1, err = ENOTCONN;
		struct in_cwd c;

		off += sizeof(h) + h.addr_len + h.len;
		if (via >= 0 && (!h.addr_len || !u->name_len || u->type != SOCK_DGRAM)) {
			fd = via;
		} else if (u->name_len && u->type == SOCK_DGRAM) {
			addressed = 1;
			fd = h.addr_len ? named_sender(s, addr, h.addr_len) : -1;
			if (fd < 0)
				fd = tmp = stand_in(s, o, addr, h.addr_len, &made);
		}
		if (fd >= 0 && !addressed) {
			r = m ? send_fds(s, o, fd, body, h.len, NULL, 0, m) :
				send_msg(fd, body, h.len, NULL, 0);
			err = errno;
		} else if (fd >= 0 && enter_cwd(s, u->name, u->name_len, &c) == 0) {
			r = m ? send_fds(s, o, fd, body, h.len, &to, tolen, m) :
				send_msg(fd, body, h.len, &to, tolen);
			err = errno;
			leave_cwd(&c);
		}
		if (tmp >= 0)
			drop_stand_in(s, tmp, made, addr, h.addr_len);
		if (r == -2)
			return -1;	/* flight_fd said why */
		if (r) {
			selfckpt__rs_msg(s, "cannot put message %u of %u back into %s: %s%s", i + 1,
					 u->nmsgs, what(o, w, sizeof(w)), strerror(err),
					 err == EAGAIN ? " (more messages than net.unix.max_dgram_qlen from senders it is not connected to?)" : "");
			return -1;
		}
	}
	return 0;
}

/*
 * Put a stream's bytes back through its other end, those that came with
 * descriptors in flight in a send of their own with them (SCM records).
 */
static int refill_stream(struct rs *s, const struct sck_img_obj *o, int via)
{
	uint64_t done = 0, len = o->o.data_len;
	uint32_t cur = 0;
	char w[SCK_MAX_PATH + 96];
	int r = 0;

	if (len && via < 0) {
		selfckpt__rs_msg(s, "cannot put the %llu bytes queued back into %s: no other end",
				 (unsigned long long)len, what(o, w, sizeof(w)));
		return -1;
	}
	for (; !r && cur < s->img.nscms; cur++) {
		const struct sck_img_scm *m = &s->img.scms[cur];

		if (m->s.obj != o->o.id)
			continue;
		r = send_all(via, o->data + done, m->s.at - done, NULL, 0);
		if (!r)
			r = send_fds(s, o, via, o->data + m->s.at, m->s.len, NULL, 0, m);
		done = m->s.at + m->s.len;
	}
	if (!r)
		r = send_all(via, o->data + done, len - done, NULL, 0);
	if (r == -1)
		selfckpt__rs_msg(s, "cannot put the %llu bytes queued back into %s: %s",
				 (unsigned long long)len, what(o, w, sizeof(w)), strerror(errno));
	return r ? -1 : 0;
}

static int finish_unix_queue(struct rs *s, const struct sck_img_obj *o)
{
	const struct sck_obj_unix *u = ust(o);
	int via = other_end(s, o);

	if (u->type == SOCK_STREAM)
		return refill_stream(s, o, via);
	return refill_msgs(s, o, via);
}

/*
 * Connect datagram socket fd to a peer that is gone, as it was: an
 * autobound socket closed at once. Sending fails with ECONNREFUSED.
 */
static void connect_dead(int fd)
{
	int gone = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	socklen_t len = sizeof(a);

	if (gone >= 0 && bind(gone, (struct sockaddr *)&a, sizeof(sa_family_t)) == 0 &&
	    getsockname(gone, (struct sockaddr *)&a, &len) == 0)
		connect(fd, (struct sockaddr *)&a, len);
	if (gone >= 0)
		close(gone);
}

/* Connected to a name: again, or, if nothing answers there, to a closed socket. */
static void connect_dgram(struct rs *s, const struct sck_img_obj *o, int fd)
{
	const struct sck_obj_unix *u = ust(o);
	char w[SCK_MAX_PATH + 96], n[4 * SCK_UNIX_NAME_MAX + 8];
	int r = connect_unix(s, fd, u->peer_name, u->peer_name_len);

	if (r == 0 || r == -2)
		return;
	int err = errno;

	connect_dead(fd);
	sck_unix_name_str(n, sizeof(n), u->peer_name, u->peer_name_len);
	selfckpt__rs_note(s, "warning: %s was connected to %s, which does not take connections now (%s): sending fails with ECONNREFUSED",
			  what(o, w, sizeof(w)), n, strerror(err));
}

int selfckpt__rs_sockets_finish(struct rs *s)
{
	const struct sck_image *img = &s->img;

	s->flight = malloc((img->nflight ? img->nflight : 1) * sizeof(int));
	if (!s->flight) {
		selfckpt__rs_msg(s, "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < img->nflight; i++)
		s->flight[i] = -1;
	/* Queues first: shutdowns and connections would stop the senders. */
	for (uint32_t i = 0; i < img->nobjs; i++)
		if (img->objs[i].o.kind == SCK_OBJ_UNIX && finish_unix_queue(s, &img->objs[i])) {
			selfckpt__rs_flight_close(s);
			return -1;
		}
	/* In the queues now; the only descriptors on some of them. */
	selfckpt__rs_flight_close(s);
	for (uint32_t i = 0; i < img->nobjs; i++) {
		const struct sck_img_obj *o = &img->objs[i];
		struct rs_obj *ro = &s->objs[i];

		if (o->o.kind == SCK_OBJ_INET) {
			apply_opts(s, o, ro->fd[0], &ist(o)->opts, 1);
			continue;
		}
		if (o->o.kind != SCK_OBJ_UNIX)
			continue;
		const struct sck_obj_unix *u = ust(o);

		if (u->state == SCK_SOCK_CONNECTED)
			connect_dgram(s, o, ro->fd[0]);
		if (u->state == SCK_SOCK_CLOSED && ro->fd[1] >= 0) {
			close(ro->fd[1]);	/* the other end is gone */
			ro->fd[1] = -1;
		} else if (u->state == SCK_SOCK_CLOSED) {
			connect_dead(ro->fd[0]);
		} else if (u->shutdown) {
			shutdown(ro->fd[0], (int)u->shutdown - 1);
		}
		if ((u->flags & SCK_SOCKF_UNLINKED) && is_path(u->name, u->name_len)) {
			char path[SCK_UNIX_NAME_MAX + 1];
			struct in_cwd c;

			memcpy(path, u->name, u->name_len);
			path[u->name_len] = '\0';
			if (enter_cwd(s, u->name, u->name_len, &c) == 0) {
				unlink(path);
				leave_cwd(&c);
			}
		}
		apply_opts(s, o, ro->fd[0], &u->opts, 1);
	}
	return 0;
}

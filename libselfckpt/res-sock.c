/*
 * res-sock.c - sockets, at checkpoint.
 *
 * A socket becomes an OBJ record (kind unix or inet) with what restart
 * needs to make it again, so that the process finds it where it was:
 *
 *  - unix sockets: the type, the name (file system or abstract), whether
 *    it listens (and its backlog), what it is connected to, the shutdown
 *    state and the receive queue, copied with MSG_PEEK and SO_PEEK_OFF so
 *    that nothing is taken out (datagram and seqpacket messages one by
 *    one, with the sender's name). The kernel's unix_diag (NETLINK_SOCK_
 *    DIAG) tells a socket's peer, its name and file, the backlog and the
 *    connections a listener has not accepted yet. Two connected sockets
 *    both in the process are a pair again after restart; a client whose
 *    connection the process's own listener has not accepted yet connects
 *    again; a datagram socket connected to a named socket elsewhere
 *    connects to that name again.
 *  - TCP and UDP sockets, IPv4 and IPv6: bound, listening (backlog from
 *    TCP_INFO) or, for UDP, connected, with the address and port.
 *  - options worth keeping (sockets.h) on both.
 *
 * A connection to another process (a TCP connection, a unix stream or
 * seqpacket socket whose peer is elsewhere, a listener holding
 * connections it has not accepted) cannot be restored: the checkpoint
 * fails and names it (P16), unless SELFCKPT_CLOSE_CONNECTIONS (a flag, or
 * the environment variable) is given, in which case it is recorded as a
 * closed connection: after restart reading gives what had arrived, then
 * end-of-file (docs/limitations.md). Descriptors 0-2 on such a connection
 * follow the stdio rule (res-file.c).
 *
 * Async-signal-safe: raw system calls and the arena only; the sock_diag
 * socket is opened and closed around each question.
 */
#define LOG_PREFIX "fd: "

#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>

#include <linux/errno.h>

#include "selfckpt.h"
#include "internal.h"
#include "log.h"
#include "nolibc/fmt.h"
#include "nolibc/str.h"
#include "objects.h"
#include "sockets.h"
#include "sys.h"

#define SCK_SIOCINQ 0x541B		/* FIONREAD */
#define DIAG_BUF (64 << 10)
/* The kernel's socket states (include/net/tcp_states.h). */
enum { ST_ESTABLISHED = 1, ST_SYN_SENT = 2, ST_CLOSE = 7, ST_LISTEN = 10 };

/*
 * SELFCKPT_CLOSE_CONNECTIONS=1 in the environment: as if every checkpoint
 * had the flag (`selfckpt run --close-connections`). Read once, before
 * main; a restarted process keeps the value it had.
 */
static int close_conns_env;

__attribute__((constructor(101))) static void close_conns_from_env(void)
{
	const char *s = getenv("SELFCKPT_CLOSE_CONNECTIONS");

	close_conns_env = s && s[0] == '1' && !s[1];
}

static int cut_allowed(const struct sck_dump *d)
{
	return (d->flags & SELFCKPT_CLOSE_CONNECTIONS) || close_conns_env;
}

static int refuse(const struct sck_fdx *x, const char *what)
{
	return sck_fail(EOPNOTSUPP, "fd %d is %s (%s): not supported", x->fd, what,
			x->target);
}

static int opt_int(int fd, int level, int name, int *v)
{
	uint32_t len = sizeof(*v);

	*v = 0;
	return (int)sys_getsockopt(fd, level, name, v, &len);
}

/*
 * The descriptor among all[0..n) on the socket with inode ino, or else the
 * one kept for it in flight in a queue (res-scm.c), or NULL.
 */
static const struct sck_fdx *sock_fd(const struct sck_dump *d, const struct sck_fdx *all,
				     int n, uint64_t ino)
{
	const struct sck_fdx *flight;
	int nflight = selfckpt__scm_inflight(d, &flight);

	for (int i = 0; i < n + nflight; i++) {
		const struct sck_fdx *x = i < n ? &all[i] : &flight[i - n];

		if (S_ISSOCK(x->st.st_mode) && x->st.st_ino == ino)
			return x;
	}
	return NULL;
}

/* The object already recorded for socket inode ino, or 0. */
static uint32_t sock_obj_id(const struct sck_dump *d, uint64_t dev, uint64_t ino)
{
	for (uint32_t i = 0; i < d->nobjs; i++)
		if ((d->objs[i].kind == SCK_OBJ_UNIX || d->objs[i].kind == SCK_OBJ_INET) &&
		    d->objs[i].ino == ino && d->objs[i].dev == dev)
			return d->objs[i].id;
	return 0;
}

static int add(struct sck_dump *d, const struct sck_fdx *x, uint32_t kind,
	       const void *st, uint32_t st_len, const void *data, uint64_t len)
{
	struct sck_obj o = { .kind = kind, .ino = x->st.st_ino, .state_len = st_len,
			     .data_len = len };
	int id;

	if (len > SCK_MAX_OBJ_DATA)
		return sck_fail(EOPNOTSUPP, "fd %d: its socket holds %llu bytes, more than an image keeps for one object (%llu)",
				x->fd, (unsigned long long)len,
				(unsigned long long)SCK_MAX_OBJ_DATA);
	id = selfckpt__obj_add(d, &o, st, data);
	if (id < 0)
		return id;
	selfckpt__scm_owner(d, (uint32_t)id, x->fd);	/* what its queue carries */

	struct sck_dump_obj *m = &d->objs[id - 1];

	m->dev = x->st.st_dev;
	m->ino = x->st.st_ino;
	m->id = (uint32_t)id;
	m->kind = kind;
	m->fd = x->fd;
	return id;
}

/* ---- options ---------------------------------------------------------------- */

static void read_opts(int fd, struct sck_sockopts *o)
{
	o->valid = 0;
	for (int i = 0; i < SCK_NSOCKOPT; i++) {
		const struct sck_sockopt_def *def = &sck_sockopt_defs[i];
		union {
			int i;
			struct { int onoff, sec; } l;
			struct { long sec, usec; } tv;
		} v;
		uint32_t len = sizeof(v);

		__builtin_memset(&v, 0, sizeof(v));
		if (sys_getsockopt(fd, def->level, def->name, &v, &len) < 0)
			continue;
		switch (def->enc) {
		case SCK_OPT_LINGER:
			o->val[i] = v.l.onoff ? v.l.sec : -1;
			break;
		case SCK_OPT_TIMEO:
			o->val[i] = (int64_t)v.tv.sec * 1000000 + v.tv.usec;
			break;
		default:
			o->val[i] = v.i;
		}
		o->valid |= 1ULL << i;
	}
}

/* ---- the receive queue ---------------------------------------------------- */

/*
 * Control messages that came with a peek: descriptors in flight were
 * installed in this process (the kernel hands copies to a peek) and are
 * closed again. Returns 1 if there were descriptors in flight.
 */
static int drop_cmsg_fds(const uint8_t *c, uint64_t len)
{
	int found = 0;

	while (len >= sizeof(struct cmsghdr)) {
		struct cmsghdr h;

		__builtin_memcpy(&h, c, sizeof(h));
		if (h.cmsg_len < sizeof(h) || h.cmsg_len > len)
			break;
		if (h.cmsg_level == SOL_SOCKET &&
		    (h.cmsg_type == SCM_RIGHTS || h.cmsg_type == 4 /* SCM_PIDFD */)) {
			for (uint64_t k = sizeof(h); k + sizeof(int) <= h.cmsg_len;
			     k += sizeof(int)) {
				int fd;

				__builtin_memcpy(&fd, c + k, sizeof(fd));
				sys_close(fd);
			}
			found |= h.cmsg_type == SCM_RIGHTS;
		}
		uint64_t step = (h.cmsg_len + 7) & ~7ULL;

		if (step >= len)
			break;
		c += step;
		len -= step;
	}
	return found;
}

/* Is there an SCM_RIGHTS message in control data c[0..len)? */
static int has_rights(const uint8_t *c, uint64_t len)
{
	while (len >= sizeof(struct cmsghdr)) {
		struct cmsghdr h;

		__builtin_memcpy(&h, c, sizeof(h));
		if (h.cmsg_len < sizeof(h) || h.cmsg_len > len)
			break;
		if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SCM_RIGHTS)
			return 1;
		uint64_t step = (h.cmsg_len + 7) & ~7ULL;

		if (step >= len)
			break;
		c += step;
		len -= step;
	}
	return 0;
}

/* Errors of a peek whose reason is set already (descriptors in flight). */
static int passed_on(long r)
{
	return r == -EOPNOTSUPP || r == -EMFILE || r == -ENOMEM || r == -EBUSY;
}

struct queue {
	uint8_t *buf;			/* in the arena */
	uint64_t cap, len;
	uint64_t dirty;			/* bytes of buf written, len or more */
	uint32_t nmsgs;
	uint32_t noted;			/* peeks that came with descriptors */
};

/*
 * One peek at offset q->len, into want bytes at p; with the sender's
 * name for messages. Returns the length the kernel reports (with
 * MSG_TRUNC, the whole message's), or -errno. Descriptors in flight that
 * come with it are noted (res-scm.c): for message q->nmsgs, or for the
 * stream's bytes of this peek.
 */
static long peek_one(struct sck_dump *d, const struct sck_fdx *x, struct queue *q,
		     void *p, uint64_t want, struct sockaddr_un *from, uint32_t *fromlen,
		     int trunc)
{
	uint64_t ctl[(SCK_SCM_MAX_FDS * 4 + 256) / 8];
	struct iovec iov = { p, (size_t)want };
	struct msghdr m = { .msg_name = from, .msg_namelen = from ? sizeof(*from) : 0,
			    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
			    .msg_controllen = sizeof(ctl) };
	long r;
	int ret = 0;

	do
		r = sys_recvmsg(x->fd, &m, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC |
				(trunc ? MSG_TRUNC : 0));
	while (r == -EINTR);
	if (r >= 0 && (m.msg_flags & MSG_CTRUNC)) {
		drop_cmsg_fds((const uint8_t *)ctl, m.msg_controllen);
		return sck_fail(EMFILE, "fd %d: the descriptors in flight in its socket's queue cannot all be received during the checkpoint (MSG_CTRUNC: RLIMIT_NOFILE reached?)",
				x->fd);
	}
	if (r > 0 && !from && m.msg_controllen) {
		/*
		 * A stream: a peek takes the bytes up to the end of those sent
		 * with the descriptors and stops there, but no peek tells
		 * where those start (one of a byte anywhere before reports
		 * them too): all the bytes of this peek go back with them, as
		 * CRIU does (docs/limitations.md).
		 */
		ret = selfckpt__scm_note(d, x, ctl, m.msg_controllen, q->len, (uint64_t)r);
	} else if (r >= 0 && m.msg_controllen) {
		ret = selfckpt__scm_note(d, x, ctl, m.msg_controllen, q->nmsgs, 0);
	}
	if (ret)
		return ret;
	q->noted += m.msg_controllen && has_rights((const uint8_t *)ctl, m.msg_controllen);
	if (fromlen)
		*fromlen = m.msg_namelen;
	return r;
}

/*
 * The bytes queued in a stream socket (unix or TCP): expect of them, as
 * SIOCINQ counts. With SO_PEEK_OFF each peek goes on where the last one
 * stopped (a unix stream peek stops where the sender's credentials
 * change); without it (TCP before Linux 6.10) one peek takes them all.
 */
static int peek_stream(struct sck_dump *d, const struct sck_fdx *x, struct queue *q,
		       int use_off,
		       uint64_t expect)
{
	while (q->len < expect) {
		long r = peek_one(d, x, q, q->buf + q->len, expect - q->len, NULL, NULL, 0);

		if (r < 0 && r != -EAGAIN)
			return passed_on(r) ? (int)r :
			       sck_fail((int)-r, "fd %d: cannot copy what its socket holds: %s",
					x->fd, selfckpt__errname((int)-r));
		if (r <= 0)
			break;
		q->len += (uint64_t)r;
		q->dirty = q->len;
		if (!use_off)
			break;
	}
	if (q->len != expect)
		return sck_fail(EAGAIN, "fd %d: copied %llu of the %llu bytes queued in its socket",
				x->fd, (unsigned long long)q->len,
				(unsigned long long)expect);
	return 0;
}

/*
 * The messages queued in a datagram or seqpacket unix socket, each as a
 * struct sck_unix_msg, the sender's name and the bytes (image-format.h).
 * Every peek (SO_PEEK_OFF at 0, then advanced by the kernel) returns one
 * whole message, MSG_TRUNC its real length; a zero-length message is
 * marked peeked by the kernel and skipped by the next peek. (So one that
 * was peeked at before, by the program or an earlier checkpoint, is never
 * seen: no interface counts the messages queued. docs/limitations.md.)
 */
static int peek_msgs(struct sck_dump *d, const struct sck_fdx *x, struct queue *q,
		     uint32_t type,
		     uint64_t rq_bytes, int eof)
{
	uint64_t bytes = 0;

	for (uint32_t guard = 0; guard < (1U << 20); guard++) {
		uint64_t hdr = sizeof(struct sck_unix_msg) + SCK_UNIX_NAME_MAX;
		struct sockaddr_un from;
		uint32_t fromlen = 0;

		if (q->cap - q->len < hdr)
			return sck_fail(ENOMEM, "fd %d: no checkpoint memory for the messages queued in its socket",
					x->fd);
		uint8_t *at = q->buf + q->len, *body = at + hdr;
		uint32_t noted = q->noted;
		long r = peek_one(d, x, q, body, q->cap - q->len - hdr, &from, &fromlen, 1);

		if (r == -EAGAIN)
			return 0;
		if (r < 0)
			return passed_on(r) ? (int)r :
			       sck_fail((int)-r, "fd %d: cannot copy the messages its socket holds: %s",
					x->fd, selfckpt__errname((int)-r));
		/* A seqpacket socket shut for reading says end-of-file at the end. */
		if (r == 0 && eof && bytes == rq_bytes && type == SOCK_SEQPACKET &&
		    q->noted == noted)
			return 0;
		uint64_t wrote = q->len + hdr + (uint64_t)r;

		if (wrote > q->dirty)
			q->dirty = wrote < q->cap ? wrote : q->cap;
		if ((uint64_t)r > q->cap - q->len - hdr)
			return sck_fail(ENOMEM, "fd %d: a message of %ld bytes queued in its socket does not fit in the checkpoint's memory",
					x->fd, r);
		struct sck_unix_msg h = { .len = (uint32_t)r };

		if (fromlen > sizeof(sa_family_t) && type == SOCK_DGRAM)
			h.addr_len = fromlen - (uint32_t)sizeof(sa_family_t);
		if (h.addr_len > SCK_UNIX_NAME_MAX)
			h.addr_len = SCK_UNIX_NAME_MAX;
		/* A path name arrives with its terminating NUL: not part of it. */
		while (h.addr_len && from.sun_path[0] && !from.sun_path[h.addr_len - 1])
			h.addr_len--;
		__builtin_memcpy(at, &h, sizeof(h));
		__builtin_memcpy(at + sizeof(h), from.sun_path, h.addr_len);
		/* Close the gap the unused part of the name left. */
		uint8_t *to = at + sizeof(h) + h.addr_len;

		for (uint64_t i = 0; i < h.len; i++)
			to[i] = body[i];
		q->len += sizeof(h) + h.addr_len + h.len;
		q->nmsgs++;
		bytes += h.len;
	}
	return sck_fail(EOPNOTSUPP, "fd %d: too many messages queued in its socket", x->fd);
}

/*
 * Out-of-band data (MSG_OOB, a unix stream or TCP socket): an ordinary
 * peek skips it, so the copy would lose it without a word. Peeking with
 * MSG_OOB sees it without taking it; EINVAL says there is none.
 */
static int has_oob(int fd)
{
	uint8_t b;
	struct iovec iov = { &b, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	long r;

	do
		r = sys_recvmsg(fd, &m, MSG_OOB | MSG_PEEK | MSG_DONTWAIT);
	while (r == -EINTR);
	return r == 1;
}

/* How much a socket's queue may need: for sizing, and for its buffer. */
static uint64_t queue_bound(int fd, int type)
{
	int rcv = 0, snd = 0, inq = 0;

	opt_int(fd, SOL_SOCKET, SO_RCVBUF, &rcv);
	opt_int(fd, SOL_SOCKET, SO_SNDBUF, &snd);
	if (sys_ioctl(fd, SCK_SIOCINQ, &inq) < 0 || inq < 0)
		inq = 0;
	uint64_t b = 2 * ((uint64_t)(rcv > 0 ? rcv : 0) + (uint64_t)(snd > 0 ? snd : 0)) +
		     (uint64_t)inq;

	/* A datagram receiver's queue is charged to its senders. */
	if (type != SOCK_STREAM)
		b *= 4;
	return b + (64 << 10);
}

/*
 * Copy the receive queue of x: bytes for a stream, messages otherwise.
 * SO_PEEK_OFF is put back as it was.
 */
static int copy_queue(struct sck_dump *d, const struct sck_fdx *x, int type, int unix_msgs,
		      uint64_t rq_bytes, int eof, struct queue *q)
{
	int old = -1, zero = 0, inq = 0, ret;
	int use_off = opt_int(x->fd, SOL_SOCKET, SO_PEEK_OFF, &old) == 0 &&
		      sys_setsockopt(x->fd, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero)) == 0;

	__builtin_memset(q, 0, sizeof(*q));
	if (!unix_msgs) {
		if (sys_ioctl(x->fd, SCK_SIOCINQ, &inq) < 0 || inq < 0)
			inq = 0;
		q->cap = (uint64_t)inq;
	} else {
		q->cap = queue_bound(x->fd, type);
	}
	q->buf = selfckpt__arena_alloc(&d->arena, q->cap ? q->cap : 1, 8);
	if (!q->buf)
		ret = sck_fail(ENOMEM, "fd %d: no checkpoint memory for the %llu bytes its socket may hold",
			       x->fd, (unsigned long long)q->cap);
	else if (!unix_msgs && has_oob(x->fd))
		ret = sck_fail(EOPNOTSUPP, "fd %d has out-of-band data (MSG_OOB) queued in its socket (%s): not supported",
			       x->fd, x->target);
	else if (!unix_msgs)
		ret = peek_stream(d, x, q, use_off, (uint64_t)inq);
	else if (!use_off)
		ret = sck_fail(EOPNOTSUPP, "fd %d: the kernel does not let its socket's messages be copied (SO_PEEK_OFF)",
			       x->fd);
	else
		ret = peek_msgs(d, x, q, (uint32_t)type, rq_bytes, eof);
	if (use_off)
		sys_setsockopt(x->fd, SOL_SOCKET, SO_PEEK_OFF, &old, sizeof(old));
	/*
	 * The buffer was the arena's last allocation: keep what was used,
	 * and give the rest back zeroed, as the arena hands memory out.
	 */
	if (q->buf) {
		for (uint64_t i = q->len; i < q->dirty; i++)
			q->buf[i] = 0;
		d->arena.used = (size_t)(q->buf - d->arena.base) + q->len;
	}
	return ret;
}

/* ---- unix_diag -------------------------------------------------------------- */

struct udiag {
	uint32_t ino, type, state, peer, shutdown;
	uint32_t rq, wq;
	uint32_t vfs_dev, vfs_ino;
	int has_vfs;
	uint32_t name_len;
	uint8_t name[SCK_UNIX_NAME_MAX];
	const uint32_t *icons;		/* in the query's buffer */
	uint32_t nicons;
};

/*
 * Ask unix_diag about the socket with inode ino. Returns 0, -ENOENT if
 * there is no such socket (it was closed), or -errno with the reason set.
 */
static int udiag_ask(uint8_t *buf, uint32_t ino, struct udiag *u)
{
	struct {
		struct nlmsghdr h;
		struct unix_diag_req r;
	} req = { 0 };
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	long nl, r;

	__builtin_memset(u, 0, sizeof(*u));
	nl = sys_socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return sck_fail((int)-nl, "cannot ask the kernel about sockets (NETLINK_SOCK_DIAG): %s",
				selfckpt__errname((int)-nl));
	req.h.nlmsg_len = sizeof(req);
	req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.h.nlmsg_flags = NLM_F_REQUEST;
	req.r.sdiag_family = AF_UNIX;
	req.r.udiag_states = ~0U;
	req.r.udiag_ino = ino;
	req.r.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER |
			   UDIAG_SHOW_ICONS | UDIAG_SHOW_RQLEN;
	req.r.udiag_cookie[0] = req.r.udiag_cookie[1] = ~0U;	/* no cookie */
	r = sys_sendto((int)nl, &req, sizeof(req), 0, &kernel, sizeof(kernel));
	if (r >= 0) {
		struct iovec iov = { buf, DIAG_BUF };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

		do
			r = sys_recvmsg((int)nl, &m, 0);
		while (r == -EINTR);
		if (r >= 0 && (m.msg_flags & MSG_TRUNC))
			r = -EMSGSIZE;
	}
	sys_close((int)nl);
	if (r < 0)
		return sck_fail((int)-r, "cannot ask the kernel about a unix socket (unix_diag): %s",
				selfckpt__errname((int)-r));

	const struct nlmsghdr *h = (const void *)buf;

	if ((size_t)r < sizeof(*h) || h->nlmsg_len > (size_t)r)
		return sck_fail(EIO, "short answer from unix_diag");
	if (h->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(h);

		if (e->error == -ENOENT)
			return -ENOENT;
		return sck_fail(e->error ? -e->error : EIO,
				"unix_diag cannot tell about socket:[%u]: %s (is unix_diag in this kernel?)",
				ino, selfckpt__errname(-e->error));
	}
	const struct unix_diag_msg *msg = NLMSG_DATA(h);
	long left = (long)h->nlmsg_len - (long)NLMSG_LENGTH(sizeof(*msg));
	const struct rtattr *a = (const void *)(msg + 1);

	u->ino = msg->udiag_ino;
	u->type = msg->udiag_type;
	u->state = msg->udiag_state;
	for (; left > 0 && RTA_OK(a, left); a = RTA_NEXT(a, left)) {
		const void *p = RTA_DATA(a);
		uint32_t plen = (uint32_t)RTA_PAYLOAD(a);

		switch (a->rta_type) {
		case UNIX_DIAG_NAME:
			u->name_len = plen < SCK_UNIX_NAME_MAX ? plen : SCK_UNIX_NAME_MAX;
			__builtin_memcpy(u->name, p, u->name_len);
			/* A path name comes with its terminating NUL. */
			while (u->name_len && u->name[0] && !u->name[u->name_len - 1])
				u->name_len--;
			break;
		case UNIX_DIAG_VFS: {
			const struct unix_diag_vfs *v = p;

			u->vfs_dev = v->udiag_vfs_dev;
			u->vfs_ino = v->udiag_vfs_ino;
			u->has_vfs = 1;
			break;
		}
		case UNIX_DIAG_PEER:
			__builtin_memcpy(&u->peer, p, 4);
			break;
		case UNIX_DIAG_ICONS:
			u->icons = p;
			u->nicons = plen / 4;
			break;
		case UNIX_DIAG_RQLEN: {
			const struct unix_diag_rqlen *q = p;

			u->rq = q->udiag_rqueue;
			u->wq = q->udiag_wqueue;
			break;
		}
		case UNIX_DIAG_SHUTDOWN:
			u->shutdown = *(const uint8_t *)p & 3;
			break;
		}
	}
	return 0;
}

/*
 * udiag_ask with an answer buffer at the end of the arena, given back
 * once read: only the list of connections a listener has not accepted
 * yet (u->icons) stays, moved to the start of that space.
 */
static int udiag(struct sck_dump *d, uint32_t ino, struct udiag *u)
{
	size_t used = d->arena.used;
	uint8_t *buf = selfckpt__arena_alloc(&d->arena, DIAG_BUF, 8);
	int ret;

	if (!buf)
		return sck_fail(ENOMEM, "out of checkpoint memory for socket queries");
	ret = udiag_ask(buf, ino, u);
	d->arena.used = used;
	if (!ret && u->nicons) {
		/* buf is where this allocation starts; the list lies further on. */
		uint32_t *icons = selfckpt__arena_alloc(&d->arena,
							u->nicons * sizeof(*icons), 8);

		for (uint32_t i = 0; i < u->nicons; i++) {
			uint32_t v;

			__builtin_memcpy(&v, &u->icons[i], sizeof(v));
			icons[i] = v;
		}
		u->icons = icons;
	}
	/* The arena hands out zeroed memory: clear what goes back to it. */
	uint8_t *end = buf + DIAG_BUF;

	for (uint8_t *p = d->arena.base + d->arena.used; p < end; p++)
		*p = 0;
	return ret;
}

/* ---- unix sockets ----------------------------------------------------------- */

/*
 * The name of socket x as it is to be bound again. A path's file must
 * still be the socket's (unix_diag's device and inode); if it is not,
 * restart binds the name and removes the file again (UNLINKED), since
 * the name no longer reached the socket.
 */
static void unix_name(const struct udiag *u, struct sck_obj_unix *st)
{
	struct stat now;
	char path[SCK_UNIX_NAME_MAX + 1];

	st->name_len = u->name_len;
	__builtin_memcpy(st->name, u->name, u->name_len);
	if (!u->name_len || !u->name[0])
		return;
	__builtin_memcpy(path, u->name, u->name_len);
	path[u->name_len] = '\0';
	/* A relative name resolves from the working directory: the image's. */
	if (u->has_vfs && sys_fstatat(-100, path, &now, 0x100 /* AT_SYMLINK_NOFOLLOW */) == 0 &&
	    S_ISSOCK(now.st_mode) && now.st_ino == u->vfs_ino &&
	    major(now.st_dev) == (u->vfs_dev >> 20) &&
	    minor(now.st_dev) == (u->vfs_dev & 0xfffff)) {
		st->file_mode = now.st_mode & 07777;
		return;
	}
	st->flags |= SCK_SOCKF_UNLINKED;
}

/* ---- queues copied first ---------------------------------------------------- */

/*
 * A unix socket's queue copied before the descriptors were classified
 * (res-scm.c says why), or the reason it could not be: given when the
 * socket is saved, if it is (a connection to another process is refused
 * first, by its own reason).
 */
struct sck_sock_pre {
	int fd;
	int ret;
	struct queue q;
	char *why;			/* the reason, kept in the arena */
};

int selfckpt__sock_precopy(struct sck_dump *d, const struct sck_fdx *all, int n)
{
	uint32_t count = 0;

	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < n; i++) {
			const struct sck_fdx *x = &all[i];
			int dom = 0, acc = 0;
			struct udiag u;

			if (!S_ISSOCK(x->st.st_mode) || x->fd <= 2 ||
			    opt_int(x->fd, SOL_SOCKET, SO_DOMAIN, &dom) || dom != AF_UNIX ||
			    (opt_int(x->fd, SOL_SOCKET, SO_ACCEPTCONN, &acc) == 0 && acc))
				continue;
			if (!pass) {
				count++;
				continue;
			}
			struct sck_sock_pre *p = &d->sock_pre[d->nsock_pre++];

			p->fd = x->fd;
			p->ret = udiag(d, (uint32_t)x->st.st_ino, &u);
			if (p->ret)
				p->ret = 1;	/* copied when saved, if it is */
			else
				p->ret = copy_queue(d, x, (int)u.type, u.type != SOCK_STREAM, u.rq,
						    (u.shutdown & 1) != 0, &p->q);
			if (p->ret < 0) {
				const char *e = selfckpt_last_error();
				size_t len = e ? sck_strlen(e) + 1 : 1;

				p->why = selfckpt__arena_alloc(&d->arena, len, 8);
				if (p->why)
					sck_strlcpy(p->why, e ? e : "", len);
			}
		}
		if (!pass) {
			d->nsock_pre = 0;
			d->sock_pre = count ? selfckpt__arena_alloc(&d->arena,
								    count * sizeof(*d->sock_pre), 8)
					    : NULL;
			if (count && !d->sock_pre)
				return sck_fail(ENOMEM, "out of checkpoint memory for sockets");
		}
	}
	return 0;
}

/* The copy of x's queue made first: 0 with q, -errno, or 1 if none. */
static int precopied(struct sck_dump *d, const struct sck_fdx *x, struct queue *q)
{
	for (uint32_t i = 0; i < d->nsock_pre; i++) {
		struct sck_sock_pre *p = &d->sock_pre[i];

		if (p->fd != x->fd)
			continue;
		if (p->ret < 0)
			return sck_fail(-p->ret, "%s", !p->why ? "cannot copy a socket's queue" :
					sck_starts_with(p->why, LOG_PREFIX) ?
					p->why + sizeof(LOG_PREFIX) - 1 : p->why);
		if (p->ret == 0)
			*q = p->q;
		return p->ret;
	}
	return 1;
}

/*
 * Record x as a unix object in the given state; to is the peer whose
 * name a connected datagram socket connects to again.
 */
static int unix_save(struct sck_dump *d, const struct sck_fdx *x, const struct udiag *u,
		     uint32_t state, uint32_t peer, uint32_t flags, const struct udiag *to,
		     uint32_t dropped)
{
	struct sck_obj_unix *st = selfckpt__arena_alloc(&d->arena, sizeof(*st), 8);
	struct queue q = { 0 };
	int ret;

	if (!st)
		return sck_fail(ENOMEM, "out of checkpoint memory for sockets");
	st->type = u->type;
	st->state = state;
	st->peer = peer;
	st->flags = flags;
	st->shutdown = u->shutdown;
	st->dropped = dropped;
	if (state == SCK_SOCK_LISTEN)
		st->backlog = u->wq;	/* unix_diag: the listener's backlog */
	/*
	 * The ends of a stream connection get no name back: an accepted
	 * socket shares its listener's, which cannot be bound twice.
	 */
	if (!((state == SCK_SOCK_PAIR || state == SCK_SOCK_CLOSED) && u->type != SOCK_DGRAM))
		unix_name(u, st);
	if (to) {
		st->peer_name_len = to->name_len;
		__builtin_memcpy(st->peer_name, to->name, to->name_len);
	}
	read_opts(x->fd, &st->opts);
	if (state != SCK_SOCK_LISTEN && state != SCK_SOCK_PENDING) {
		ret = precopied(d, x, &q);
		if (ret == 1)
			ret = copy_queue(d, x, (int)u->type, u->type != SOCK_STREAM, u->rq,
					 (u->shutdown & 1) != 0, &q);
		if (ret)
			return ret;
		st->nmsgs = q.nmsgs;
	}
	return add(d, x, SCK_OBJ_UNIX, st, sizeof(*st), q.buf, q.len);
}

/*
 * A connection the process cannot keep: refused by name, or, with
 * SELFCKPT_CLOSE_CONNECTIONS, recorded closed. Descriptors 0-2 on one
 * follow the stdio rule instead (returns 0).
 */
static int unix_outside(struct sck_dump *d, const struct sck_fdx *x,
			const struct udiag *u, const struct udiag *peer)
{
	char name[4 * SCK_UNIX_NAME_MAX + 8], what[5 * SCK_UNIX_NAME_MAX + 96];

	if (x->fd <= 2)
		return 0;
	if (cut_allowed(d))
		return unix_save(d, x, u, SCK_SOCK_CLOSED, 0, SCK_SOCKF_CUT, NULL, 0);
	if (peer && peer->name_len) {
		sck_unix_name_str(name, sizeof(name), peer->name, peer->name_len);
		selfckpt__fmt(what, sizeof(what), "a unix %s socket connected to %s in another process",
			      sck_unix_type_name(u->type), name);
	} else {
		selfckpt__fmt(what, sizeof(what), "a unix %s socket connected to another process",
			      sck_unix_type_name(u->type));
	}
	return sck_fail(EOPNOTSUPP, "fd %d is %s (%s): a connection to another process cannot be restored; checkpoint with SELFCKPT_CLOSE_CONNECTIONS to restore it closed",
			x->fd, what, x->target);
}

/*
 * A listening socket, and right after it, in the order it would accept
 * them, the process's own sockets connected to it and not accepted yet:
 * restart connects them again in that order.
 */
static int unix_listener(struct sck_dump *d, const struct sck_fdx *all, int n,
			 const struct sck_fdx *l, const struct udiag *u)
{
	uint32_t outside = 0, id = sock_obj_id(d, l->st.st_dev, l->st.st_ino);
	struct udiag cu;
	int ret, lid;

	if (id)
		return (int)id;
	for (uint32_t i = 0; i < u->nicons; i++) {
		const struct sck_fdx *c = sock_fd(d, all, n, u->icons[i]);

		if (!c) {
			outside++;
			continue;
		}
		ret = udiag(d, u->icons[i], &cu);
		if (ret)
			return ret == -ENOENT ? sck_fail(EAGAIN, "fd %d closed during the checkpoint",
							 c->fd) : ret;
		/* What it sent waits in the connection's own queue, out of reach. */
		if (cu.wq)
			return sck_fail(EOPNOTSUPP, "fd %d is a unix socket connected to the listening socket on fd %d, which has not accepted it yet, with data it sent waiting there (%s): not supported",
					c->fd, l->fd, c->target);
	}
	if (outside && !cut_allowed(d)) {
		char name[4 * SCK_UNIX_NAME_MAX + 8];

		sck_unix_name_str(name, sizeof(name), u->name, u->name_len);
		return sck_fail(EOPNOTSUPP, "fd %d is a unix socket listening on %s with %u connection%s from other processes not accepted yet (%s): connections to other processes cannot be restored; checkpoint with SELFCKPT_CLOSE_CONNECTIONS to drop them",
				l->fd, name, outside, outside == 1 ? "" : "s", l->target);
	}
	lid = unix_save(d, l, u, SCK_SOCK_LISTEN, 0, outside ? SCK_SOCKF_CUT : 0, NULL,
			outside);
	if (lid < 0)
		return lid;
	for (uint32_t i = 0; i < u->nicons; i++) {
		const struct sck_fdx *c = sock_fd(d, all, n, u->icons[i]);

		if (!c || sock_obj_id(d, c->st.st_dev, c->st.st_ino))
			continue;
		ret = udiag(d, u->icons[i], &cu);
		if (!ret)
			ret = unix_save(d, c, &cu, SCK_SOCK_PENDING, (uint32_t)lid, 0, NULL, 0);
		if (ret < 0)
			return ret;
	}
	return lid;
}

/* Is x connected to a listener of the process that has not accepted it? */
static const struct sck_fdx *pending_on(struct sck_dump *d, const struct sck_fdx *all,
					int n, const struct sck_fdx *x, struct udiag *lu)
{
	for (int i = 0; i < n; i++) {
		int acc = 0;

		if (!S_ISSOCK(all[i].st.st_mode) ||
		    opt_int(all[i].fd, SOL_SOCKET, SO_ACCEPTCONN, &acc) || !acc ||
		    udiag(d, (uint32_t)all[i].st.st_ino, lu))
			continue;
		for (uint32_t k = 0; k < lu->nicons; k++)
			if (lu->icons[k] == x->st.st_ino)
				return &all[i];
	}
	return NULL;
}

/* Returns the object's id, 0 for the stdio rule, or -errno. */
static int unix_obj(struct sck_dump *d, const struct sck_fdx *all, int n,
		    const struct sck_fdx *x)
{
	struct udiag u, v;
	const struct sck_fdx *y;
	int ret = udiag(d, (uint32_t)x->st.st_ino, &u);

	if (ret)
		return ret == -ENOENT ? sck_fail(EIO, "fd %d: unix_diag does not know its socket (is unix_diag in this kernel?)",
						 x->fd) : ret;
	if (u.type != SOCK_STREAM && u.type != SOCK_DGRAM && u.type != SOCK_SEQPACKET)
		return refuse(x, "a unix socket of an unknown type");
	switch (u.state) {
	case ST_LISTEN:
		return unix_listener(d, all, n, x, &u);
	case ST_CLOSE:
		return unix_save(d, x, &u, SCK_SOCK_UNCONNECTED, 0, 0, NULL, 0);
	case ST_ESTABLISHED:
		break;
	default:
		return refuse(x, "a unix socket in a state this library does not know");
	}
	y = u.peer ? sock_fd(d, all, n, u.peer) : NULL;
	if (u.peer) {
		ret = udiag(d, u.peer, &v);
		if (ret == -ENOENT && y)
			return sck_fail(EAGAIN, "fd %d closed during the checkpoint", y->fd);
		if (ret == -ENOENT)		/* the peer was closed */
			return unix_save(d, x, &u, SCK_SOCK_CLOSED, 0, 0, NULL, 0);
		if (ret)
			return ret;
	}
	if (y && (u.type != SOCK_DGRAM || (v.peer == u.ino && !u.name_len && !v.name_len))) {
		/* Both ends here: a pair, its two records one after the other. */
		uint32_t first = d->nobjs + 1;

		ret = unix_save(d, x, &u, SCK_SOCK_PAIR, first + 1, 0, NULL, 0);
		if (ret < 0)
			return ret;
		ret = unix_save(d, y, &v, SCK_SOCK_PAIR, first, 0, NULL, 0);
		return ret < 0 ? ret : (int)first;
	}
	/* A datagram socket connected to a name is connected to it again. */
	if (u.peer && u.type == SOCK_DGRAM && v.name_len)
		return unix_save(d, x, &u, SCK_SOCK_CONNECTED, 0, 0, &v, 0);
	if (y)
		return refuse(x, "a datagram socket connected to an unnamed socket that is connected elsewhere");
	if (u.peer)
		return unix_outside(d, x, &u, &v);
	/*
	 * No peer. A datagram socket that others connected to shows as
	 * connected too (unix_dgram_connect), and one whose peer was closed
	 * shows no peer either: only the latter still has a peer name.
	 */
	if (u.type == SOCK_DGRAM) {
		struct sockaddr_un a;
		uint32_t alen = sizeof(a);

		if (sys_getpeername(x->fd, &a, &alen) == -ENOTCONN)
			return unix_save(d, x, &u, SCK_SOCK_UNCONNECTED, 0, 0, NULL, 0);
		return unix_save(d, x, &u, SCK_SOCK_CLOSED, 0, 0, NULL, 0);
	}
	/* A stream: its peer was closed, or the connection is not accepted yet. */
	if (u.shutdown == 3)
		return unix_save(d, x, &u, SCK_SOCK_CLOSED, 0, 0, NULL, 0);
	y = pending_on(d, all, n, x, &v);
	if (!y)
		return unix_outside(d, x, &u, NULL);
	ret = unix_listener(d, all, n, y, &v);
	return ret < 0 ? ret : (int)sock_obj_id(d, x->st.st_dev, x->st.st_ino);
}

/* ---- TCP and UDP ------------------------------------------------------------ */

static int inet_outside(const struct sck_fdx *x, const struct sck_obj_inet *st,
			const char *state)
{
	char a[64], b[64];

	sck_inet_str(a, sizeof(a), st->local);
	sck_inet_str(b, sizeof(b), st->peer);
	return sck_fail(EOPNOTSUPP, "fd %d is a TCP connection %s -> %s%s (%s): a connection cannot be restored; checkpoint with SELFCKPT_CLOSE_CONNECTIONS to restore it closed",
			x->fd, a, b, state, x->target);
}

/* Returns the object's id, 0 for the stdio rule, or -errno. */
static int inet_obj(struct sck_dump *d, const struct sck_fdx *x, int family)
{
	struct sck_obj_inet *st = selfckpt__arena_alloc(&d->arena, sizeof(*st), 8);
	int type = 0, proto = 0, inq = 0, ret;
	struct queue q = { 0 };
	uint32_t len;

	if (!st)
		return sck_fail(ENOMEM, "out of checkpoint memory for sockets");
	opt_int(x->fd, SOL_SOCKET, SO_TYPE, &type);
	opt_int(x->fd, SOL_SOCKET, SO_PROTOCOL, &proto);
	if (!(type == SOCK_STREAM && proto == IPPROTO_TCP) &&
	    !(type == SOCK_DGRAM && proto == IPPROTO_UDP)) {
		char what[96];

		selfckpt__fmt(what, sizeof(what), "an %s socket of type %d, protocol %d",
			      family == AF_INET ? "IPv4" : "IPv6", type, proto);
		return refuse(x, what);
	}
	st->family = (uint32_t)family;
	st->type = (uint32_t)type;
	len = sizeof(st->local);
	if (sys_getsockname(x->fd, st->local, &len) < 0)
		return sck_fail(EIO, "fd %d: cannot get its socket's address", x->fd);
	len = sizeof(st->peer);
	if (sys_getpeername(x->fd, st->peer, &len) < 0)
		__builtin_memset(st->peer, 0, sizeof(st->peer));
	read_opts(x->fd, &st->opts);

	/* poll reads the shutdown state and a pending error without clearing it. */
	struct pollfd pf = { x->fd, POLLIN | POLLRDHUP, 0 };
	struct __kernel_timespec zero = { 0, 0 };

	if (sys_ppoll(&pf, 1, &zero) < 0)
		pf.revents = 0;
	if (pf.revents & POLLRDHUP)
		st->shutdown = (pf.revents & POLLHUP) ? 3 : 1;
	if (type == SOCK_DGRAM) {
		st->state = (st->peer[0] | st->peer[1]) ? SCK_SOCK_CONNECTED :
							SCK_SOCK_UNCONNECTED;
		if (sys_ioctl(x->fd, SCK_SIOCINQ, &inq) == 0 && inq > 0) {
			/* A sender cannot be made again: see docs/limitations.md. */
			st->flags |= SCK_SOCKF_DROPPED;
			sck_warn("fd %d: the datagrams queued in its UDP socket are not saved",
				 x->fd);
		}
		return add(d, x, SCK_OBJ_INET, st, sizeof(*st), NULL, 0);
	}

	struct tcp_info ti;

	__builtin_memset(&ti, 0, sizeof(ti));
	len = sizeof(ti);
	if (sys_getsockopt(x->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return sck_fail(EIO, "fd %d: cannot get its TCP state (TCP_INFO)", x->fd);
	switch (ti.tcpi_state) {
	case ST_LISTEN:
		st->state = SCK_SOCK_LISTEN;
		st->shutdown = 0;
		/* TCP_INFO on a listener: its backlog, and the connections waiting. */
		st->backlog = ti.tcpi_sacked;
		if (ti.tcpi_unacked) {
			char a[64];

			if (!cut_allowed(d)) {
				sck_inet_str(a, sizeof(a), st->local);
				return sck_fail(EOPNOTSUPP, "fd %d is a TCP socket listening on %s with %u connection%s not accepted yet (%s): connections cannot be restored; checkpoint with SELFCKPT_CLOSE_CONNECTIONS to drop them",
						x->fd, a, ti.tcpi_unacked,
						ti.tcpi_unacked == 1 ? "" : "s", x->target);
			}
			st->flags |= SCK_SOCKF_CUT;
			st->dropped = ti.tcpi_unacked;
		}
		return add(d, x, SCK_OBJ_INET, st, sizeof(*st), NULL, 0);
	case ST_CLOSE:
		/* Never connected, or a connection that ended (reset: an error). */
		if (!(pf.revents & (POLLRDHUP | POLLERR))) {
			st->state = SCK_SOCK_UNCONNECTED;
			st->shutdown = 0;
			return add(d, x, SCK_OBJ_INET, st, sizeof(*st), NULL, 0);
		}
		st->state = SCK_SOCK_CLOSED;
		if (pf.revents & POLLERR)
			st->flags |= SCK_SOCKF_RESET;
		break;
	default:
		if (x->fd <= 2)
			return 0;	/* the stdio rule */
		if (!cut_allowed(d))
			return inet_outside(x, st, ti.tcpi_state == ST_ESTABLISHED ? "" :
					    ti.tcpi_state == ST_SYN_SENT ? " (connecting)" :
					    " (closing)");
		st->state = SCK_SOCK_CLOSED;
		st->flags |= SCK_SOCKF_CUT;
	}
	st->shutdown = 3;
	ret = copy_queue(d, x, SOCK_STREAM, 0, 0, 0, &q);
	if (ret)
		return ret;
	return add(d, x, SCK_OBJ_INET, st, sizeof(*st), q.buf, q.len);
}

int selfckpt__sock_obj(struct sck_dump *d, const struct sck_fdx *all, int n,
		       const struct sck_fdx *x, struct sck_fd *r)
{
	uint32_t id = sock_obj_id(d, x->st.st_dev, x->st.st_ino);
	int domain = 0, ret;

	if (!id) {
		if (opt_int(x->fd, SOL_SOCKET, SO_DOMAIN, &domain) < 0)
			return sck_fail(EIO, "fd %d: cannot tell its socket's family", x->fd);
		switch (domain) {
		case AF_UNIX:
			ret = unix_obj(d, all, n, x);
			break;
		case AF_INET:
		case AF_INET6:
			ret = inet_obj(d, x, domain);
			break;
		case AF_NETLINK:
			return refuse(x, "a netlink socket");
		case AF_PACKET:
			return refuse(x, "a packet socket");
		default: {
			char what[64];

			selfckpt__fmt(what, sizeof(what), "a socket of family %d", domain);
			return refuse(x, what);
		}
		}
		if (ret <= 0)
			return ret;
		id = (uint32_t)ret;
	}
	r->kind = SCK_FD_OBJ;
	r->obj_id = id;
	return 1;
}

uint64_t selfckpt__sock_plan(int fd)
{
	int type = SOCK_STREAM;

	opt_int(fd, SOL_SOCKET, SO_TYPE, &type);
	/* The queue's copy, and unix_diag answers (a few per socket). */
	return queue_bound(fd, type) + 4 * DIAG_BUF + 2 * sizeof(struct sck_obj_unix);
}

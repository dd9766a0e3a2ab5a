/*
 * res-scm.c - descriptors in flight on unix sockets (SCM_RIGHTS), at
 * checkpoint.
 *
 * A message in a unix socket's queue may carry descriptors: open file
 * descriptions that belong to no descriptor of the process until the
 * message is read, and that may also be open at some fd. The queue is
 * copied with MSG_PEEK (res-sock.c), and a peek hands the process a new
 * descriptor on each of them without taking them out of the queue: the
 * checkpointed process goes on exactly as before, every message where
 * it was, with its descriptors and boundaries.
 *
 * Three steps, all in the checkpoint of the descriptors (res-file.c):
 *
 *  1. scan, before any descriptor is classified: res-sock.c copies every
 *     unix socket's queue at once (selfckpt__sock_precopy), and one
 *     descriptor on each distinct open file description in flight (kcmp,
 *     P15) is kept open for the rest of the checkpoint. First, so that a
 *     pipe whose other end is only in flight is seen with both ends
 *     whatever the order of the fds (res-obj.c pipe_ends), and so that
 *     kcmp keeps answering for objects first seen in flight (res-obj.c
 *     same_description). Once only: a second peek would not see the
 *     empty messages the first marked as peeked (docs/limitations.md).
 *  2. note, while the queue is copied: which message (or which bytes of
 *     a stream) carries which of them; owner: whose queue it was, once
 *     the socket's OBJ record is added.
 *  3. collect, once every fd is classified: each one in flight is
 *     classified like an fd (a file with its offset and flags, a pipe
 *     end, an eventfd, a memfd...), shares its open file description
 *     with an fd if kcmp says so, and is written in SCM records
 *     (image-format.h); the kept descriptors are closed.
 *
 * A socket in flight is saved as a socket at an fd would be (res-sock.c
 * finds the peers and clients of sockets among those in flight too, and
 * copies the queue of one only in flight when it saves it, noting what
 * flies in it in turn). Restart makes every socket first and closes the
 * descriptors it sent only once every queue is full, so the kernel's
 * garbage collector (net/unix/garbage.c) finds what the process had:
 * sockets reachable from an fd stay, a cycle reachable from none is
 * garbage again.
 *
 * Refused, by name: a descriptor in flight of a kind an fd could not have
 * either (the fd's own reason, wrapped), one holding a file lock, more
 * than SCM_FLIGHT_MAX distinct descriptions, SCM_NOTES_MAX messages or
 * SCM_IDS_MAX descriptors.
 *
 * Async-signal-safe: raw system calls and the arena only.
 */
#define LOG_PREFIX "fd: "

#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <linux/errno.h>

#include "internal.h"
#include "log.h"
#include "nolibc/fmt.h"
#include "nolibc/str.h"
#include "objects.h"
#include "sys.h"

#define SCM_FLIGHT_MAX 64		/* distinct descriptions in flight */
#define SCM_NOTES_MAX 128		/* messages carrying descriptors */
#define SCM_IDS_MAX 1024		/* descriptors over all those messages */

/* A message (or a stream's bytes) carrying descriptors. */
struct scm_note {
	uint32_t obj;			/* 0 until its socket's OBJ is added */
	uint32_t nfds;
	uint64_t at, len;
	uint32_t first;			/* its entries in ids[] */
	int sock_fd;			/* the fd of the socket, for messages */
};

struct sck_scm_dump {
	int dirfd;				/* /proc/self/fd */
	struct sck_fdx flight[SCM_FLIGHT_MAX];	/* fd: kept open */
	struct sck_fd rec[SCM_FLIGHT_MAX];	/* filled by collect */
	uint32_t out_no[SCM_FLIGHT_MAX];	/* flight number written, or 0 */
	int sock_fd[SCM_FLIGHT_MAX];		/* the socket it was first noted in */
	uint32_t nflight;
	struct scm_note notes[SCM_NOTES_MAX];
	uint32_t nnotes;
	uint16_t ids[SCM_IDS_MAX];
	uint32_t nids;
	struct sck_scm_fd out[SCK_SCM_MAX_FDS];	/* one record's, being written */
};

/* What a pipe, epoll or inotify instance only in flight may need. */
#define SCM_OBJ_RESERVE (1ULL << 20)

uint64_t selfckpt__scm_plan(void)
{
	/*
	 * The tables, the SCM records in the metadata, and objects only in
	 * flight, which selfckpt__obj_plan cannot see: a pipe's bytes are
	 * copied into the arena (beyond this reserve the checkpoint fails
	 * with ENOMEM and says so).
	 */
	return sizeof(struct sck_scm_dump) + 64 +
	       SCM_NOTES_MAX * (sizeof(struct sck_scm) + sizeof(struct sck_rec) + 8) +
	       SCM_IDS_MAX * sizeof(struct sck_scm_fd) + SCM_OBJ_RESERVE;
}

/*
 * The index of the descriptor kept on the open file description of fd,
 * -1 if none is, or -errno (with the reason set) if kcmp cannot tell:
 * without it, one description sent twice would come back as two, so
 * nothing is guessed here (res-file.c guesses for fds, and warns).
 */
static int flight_index(const struct sck_scm_dump *s, int fd)
{
	long pid = sys_getpid();

	for (uint32_t i = 0; i < s->nflight; i++) {
		long r = sys_kcmp((int)pid, (int)pid, KCMP_FILE,
				  (unsigned long)s->flight[i].fd, (unsigned long)fd);

		if (r == 0)
			return (int)i;
		if (r < 0)
			return sck_fail(EOPNOTSUPP, "kcmp() is not available (%s): descriptors in flight (SCM_RIGHTS) cannot be told apart: not supported",
					selfckpt__errname((int)-r));
	}
	return -1;
}

/*
 * The descriptors in control data ctl[0..len), each handed to fn (which
 * owns it from then on). Returns how many there were, or fn's error.
 */
static int each_fd(const uint8_t *c, uint64_t len, int (*fn)(void *, int), void *arg)
{
	int count = 0, ret = 0;

	while (len >= sizeof(struct cmsghdr)) {
		struct cmsghdr h;

		__builtin_memcpy(&h, c, sizeof(h));
		if (h.cmsg_len < sizeof(h) || h.cmsg_len > len)
			break;
		for (uint64_t k = sizeof(h); k + sizeof(int) <= h.cmsg_len; k += sizeof(int)) {
			int fd;

			__builtin_memcpy(&fd, c + k, sizeof(fd));
			if (h.cmsg_level != SOL_SOCKET || h.cmsg_type != SCM_RIGHTS) {
				/* SCM_PIDFD (4) and the like: not a descriptor in flight. */
				if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == 4)
					sys_close(fd);
				continue;
			}
			count++;
			if (ret)
				sys_close(fd);
			else
				ret = fn(arg, fd);
		}
		uint64_t step = (h.cmsg_len + 7) & ~7ULL;

		if (step >= len)
			break;
		c += step;
		len -= step;
	}
	return ret ? ret : count;
}

/* ---- 1. scan ---------------------------------------------------------------- */

/*
 * Keep fd, a descriptor a peek just handed over, as the one for its open
 * file description; returns its index, or -errno with the reason set.
 */
static int keep(struct sck_scm_dump *s, int fd)
{
	if (s->nflight >= SCM_FLIGHT_MAX) {
		sys_close(fd);
		return sck_fail(EOPNOTSUPP, "more than %d distinct descriptors in flight (SCM_RIGHTS) in the process's unix sockets: not supported",
				SCM_FLIGHT_MAX);
	}
	/* Never at 0-2, where res-file.c's stdio rule would apply. */
	if (fd <= 2) {
		long up = sys_fcntl(fd, F_DUPFD_CLOEXEC, 3);

		sys_close(fd);
		if (up < 0)
			return sck_fail((int)-up, "cannot keep a descriptor in flight: %s",
					selfckpt__errname((int)-up));
		fd = (int)up;
	}
	struct sck_fdx *x = &s->flight[s->nflight];

	x->fd = fd;
	int ret = selfckpt__fd_describe(s->dirfd, x);

	if (ret) {
		sys_close(fd);
		return ret;
	}
	s->sock_fd[s->nflight] = -1;
	return (int)s->nflight++;
}

int selfckpt__scm_scan(struct sck_dump *d, int dirfd, const struct sck_fdx *all, int n)
{
	int socks = 0;

	d->scm = NULL;
	for (int i = 0; i < n; i++)
		socks |= S_ISSOCK(all[i].st.st_mode);
	if (!socks)
		return 0;
	/* Planned for when there are sockets (selfckpt__obj_plan). */
	d->scm = selfckpt__arena_alloc(&d->arena, sizeof(*d->scm), 8);
	if (!d->scm)
		return sck_fail(ENOMEM, "out of checkpoint memory for descriptors in flight");
	d->scm->dirfd = dirfd;
	/* The queues, copied now, before any descriptor is classified. */
	return selfckpt__sock_precopy(d, all, n);
}

int selfckpt__scm_inflight(const struct sck_dump *d, const struct sck_fdx **out)
{
	*out = d->scm ? d->scm->flight : NULL;
	return d->scm ? (int)d->scm->nflight : 0;
}

/* ---- 2. note ---------------------------------------------------------------- */

struct noting {
	struct sck_scm_dump *s;
	const struct sck_fdx *x;
	struct scm_note *n;
};

static int note_one(void *arg, int fd)
{
	struct noting *nt = arg;
	struct sck_scm_dump *s = nt->s;
	int i = flight_index(s, fd);

	if (i >= 0 || i < -1)
		sys_close(fd);
	if (i == -1)
		i = keep(s, fd);
	if (i < 0)
		return i;
	if (s->nids >= SCM_IDS_MAX)
		return sck_fail(EOPNOTSUPP, "more than %d descriptors in flight (SCM_RIGHTS) in the process's unix sockets: not supported",
				SCM_IDS_MAX);
	if (s->sock_fd[i] < 0)
		s->sock_fd[i] = nt->x->fd;
	s->ids[s->nids++] = (uint16_t)i;
	nt->n->nfds++;
	return 0;
}

static int close_one(void *arg, int fd)
{
	(void)arg;
	sys_close(fd);
	return 0;
}

int selfckpt__scm_note(struct sck_dump *d, const struct sck_fdx *x, const void *ctl,
		       uint64_t ctllen, uint64_t at, uint64_t len)
{
	struct sck_scm_dump *s = d->scm;
	struct noting nt = { s, x, NULL };
	int ret;

	if (!s || s->nnotes >= SCM_NOTES_MAX) {
		int count = each_fd(ctl, ctllen, close_one, NULL);

		if (count <= 0)
			return 0;
		return !s ? sck_fail(EBUSY, "fd %d: descriptors in flight in its socket's queue came during the checkpoint",
				     x->fd) :
			    sck_fail(EOPNOTSUPP, "more than %d messages carrying descriptors (SCM_RIGHTS) in the process's unix sockets: not supported",
				     SCM_NOTES_MAX);
	}
	nt.n = &s->notes[s->nnotes];
	__builtin_memset(nt.n, 0, sizeof(*nt.n));
	nt.n->at = at;
	nt.n->len = len;
	nt.n->first = s->nids;
	nt.n->sock_fd = x->fd;
	ret = each_fd(ctl, ctllen, note_one, &nt);
	if (ret < 0)
		return ret;
	if (nt.n->nfds)
		s->nnotes++;
	return 0;
}

void selfckpt__scm_owner(struct sck_dump *d, uint32_t obj, int sock_fd)
{
	for (uint32_t i = 0; d->scm && i < d->scm->nnotes; i++)
		if (!d->scm->notes[i].obj && d->scm->notes[i].sock_fd == sock_fd)
			d->scm->notes[i].obj = obj;
}

/* ---- 3. collect --------------------------------------------------------------- */

/*
 * The lowest fd sharing flight entry x's open file description, +1; 0 if
 * none does; -errno with the reason set if kcmp cannot tell.
 */
static long shared_fd(const struct sck_fdx *x, const struct sck_fdx *all,
		      const struct sck_fd *recs, int n)
{
	long pid = sys_getpid();

	for (int j = 0; j < n; j++) {
		if (all[j].st.st_ino != x->st.st_ino || all[j].st.st_dev != x->st.st_dev)
			continue;
		long r = sys_kcmp((int)pid, (int)pid, KCMP_FILE, (unsigned long)all[j].fd,
				  (unsigned long)x->fd);

		if (r == 0)
			return recs[j].share_with ? recs[j].share_with : (uint32_t)all[j].fd + 1;
		if (r < 0)
			return sck_fail(EOPNOTSUPP, "kcmp() is not available (%s): whether a descriptor in flight (SCM_RIGHTS) is also fd %d cannot be told: not supported",
					selfckpt__errname((int)-r), all[j].fd);
	}
	return 0;
}

/* Does fdinfo text show a lock held through this open file description? */
static int holds_lock(const char *info)
{
	for (const char *p = info; *p; p++)
		if ((p == info || p[-1] == '\n') && sck_starts_with(p, "lock:"))
			return 1;
	return 0;
}

/*
 * Flight entry i as an FD record with no number. The reasons of a refusal
 * name the descriptor by the number it had during the checkpoint only.
 */
static int classify(struct sck_dump *d, const struct sck_fdx *all, const struct sck_fd *recs,
		    int n, uint32_t i)
{
	struct sck_scm_dump *s = d->scm;
	const struct sck_fdx *x = &s->flight[i];
	struct sck_fd *r = &s->rec[i];
	int ret;

	if (holds_lock(x->info))
		return sck_fail(EOPNOTSUPP, "fd %d is a unix socket with a descriptor in flight (SCM_RIGHTS) in its queue holding a file lock (%s): not supported",
				s->sock_fd[i], x->target);
	__builtin_memset(r, 0, sizeof(*r));
	ret = selfckpt__fd_classify(d, all, n, x, r);
	if (ret) {
		const char *e = selfckpt_last_error() ? selfckpt_last_error() : "?";
		char why[512];

		/* The fd's own reason, without its "fd: " */
		if (sck_starts_with(e, LOG_PREFIX))
			e += sizeof(LOG_PREFIX) - 1;
		sck_strlcpy(why, e, sizeof(why));
		return sck_fail(-ret, "fd %d is a unix socket with a descriptor in flight (SCM_RIGHTS) in its queue that cannot be saved (it was fd %d during the checkpoint only): %s",
				s->sock_fd[i], x->fd, why);
	}
	if (r->kind == SCK_FD_STDIO)
		return sck_fail(EOPNOTSUPP, "fd %d is a unix socket with a descriptor in flight (SCM_RIGHTS) in its queue (%s) that restart cannot make: not supported",
				s->sock_fd[i], x->target);
	/* A pipe whose other end is fd 0-2 would be a new pipe, fd 0-2 the restart's. */
	for (int j = 0; j < n && r->kind == SCK_FD_OBJ && S_ISFIFO(x->st.st_mode); j++)
		if (recs[j].kind == SCK_FD_STDIO && all[j].st.st_ino == x->st.st_ino &&
		    all[j].st.st_dev == x->st.st_dev)
			return sck_fail(EOPNOTSUPP, "fd %d is a unix socket with a pipe in flight (SCM_RIGHTS) in its queue whose other end is fd %d, which restart takes from its caller (stdio): not supported",
					s->sock_fd[i], all[j].fd);
	long sh = shared_fd(x, all, recs, n);

	if (sh < 0)
		return (int)sh;
	r->fd = -1;
	r->fd_flags = 0;
	r->share_with = (uint32_t)sh;
	return 0;
}

static int write_note(struct sck_dump *d, const struct scm_note *nt, uint32_t *next_no)
{
	struct sck_scm_dump *s = d->scm;
	struct sck_scm h = { .obj = nt->obj, .nfds = nt->nfds, .at = nt->at, .len = nt->len };

	for (uint32_t k = 0; k < nt->nfds; k++) {
		uint32_t i = s->ids[nt->first + k];

		if (!s->out_no[i])
			s->out_no[i] = ++*next_no;
		__builtin_memset(&s->out[k], 0, sizeof(s->out[k]));
		s->out[k].flight = s->out_no[i];
		s->out[k].fd = s->rec[i];
	}

	struct sck_part parts[2] = { { &h, sizeof(h) },
				     { s->out, nt->nfds * sizeof(s->out[0]) } };

	if (selfckpt__meta_add(&d->meta, SCK_REC_SCM, 0, parts, 2, NULL))
		return sck_fail(ENOMEM, "metadata buffer full");
	return 0;
}

/*
 * Notes in queue order, as SCM records must be (image-format.md 6.21): by
 * object, each socket's in the order its queue was copied. The queues
 * were copied in fd order (and some later, as sockets in flight were
 * saved), the objects numbered otherwise (the two ends of a pair one
 * after the other): a stable insertion sort by object.
 */
static void sort_notes(struct sck_scm_dump *s)
{
	for (uint32_t i = 1; i < s->nnotes; i++)
		for (uint32_t j = i; j > 0 && s->notes[j - 1].obj > s->notes[j].obj; j--) {
			struct scm_note t = s->notes[j];

			s->notes[j] = s->notes[j - 1];
			s->notes[j - 1] = t;
		}
}

int selfckpt__scm_collect(struct sck_dump *d, const struct sck_fdx *all,
			  const struct sck_fd *recs, int n)
{
	struct sck_scm_dump *s = d->scm;
	uint32_t next_no = 0;
	uint8_t done[SCM_FLIGHT_MAX] = { 0 };
	int ret;

	/*
	 * Classifying a socket in flight may copy its queue, and note more
	 * descriptors: s->nnotes is read again at each turn.
	 */
	for (uint32_t k = 0; s && k < s->nnotes; k++) {
		const struct scm_note *nt = &s->notes[k];

		if (!nt->obj)
			continue;	/* a socket not saved (fd 0-2 outside) */
		for (uint32_t j = 0; j < nt->nfds; j++) {
			uint32_t i = s->ids[nt->first + j];

			if (done[i]++)
				continue;
			ret = classify(d, all, recs, n, i);
			if (ret)
				return ret;
		}
	}
	if (s)
		sort_notes(s);
	for (uint32_t k = 0; s && k < s->nnotes; k++)
		if (s->notes[k].obj && (ret = write_note(d, &s->notes[k], &next_no)))
			return ret;
	if (next_no)
		sck_debug("%u descriptors in flight saved", next_no);
	return 0;
}

void selfckpt__scm_close(struct sck_dump *d)
{
	for (uint32_t i = 0; d->scm && i < d->scm->nflight; i++)
		sys_close(d->scm->flight[i].fd);
	if (d->scm)
		d->scm->nflight = 0;
}

/*
 * res-flock.c - file locks held through descriptors, at checkpoint.
 *
 * Locks are kernel state, not memory (P15): each lock the process holds
 * becomes a LOCK record after the FD records, and restart takes it again
 * before the program runs, or fails naming the file and range
 * (restore-flock.c). Three kinds:
 *
 *   - POSIX (fcntl F_SETLK): the process's own, on byte ranges;
 *   - OFD (fcntl F_OFD_SETLK): the open file description's, on ranges;
 *   - FLOCK (flock): the open file description's, on the whole file.
 *
 * /proc/self/fdinfo/N lists, on "lock:" lines, the locks held through the
 * open file description of N (for POSIX locks: the ones this process took
 * through it; fs/locks.c show_fd_locks). A description shared by several
 * descriptors shows the same lines on each: they are recorded once, on
 * the lowest one, which the others share (share_with). Leases are
 * refused.
 *
 * Async-signal-safe: raw system calls and the arena only.
 */
#define LOG_PREFIX "fd: "

#include <fcntl.h>

#include <linux/errno.h>

#include "internal.h"
#include "log.h"
#include "nolibc/fmt.h"
#include "nolibc/str.h"
#include "objects.h"
#include "sys.h"

#define FDINFO_MAX (64 << 10)	/* about a thousand lock lines */

/* The next word of *s (spaces and tabs between words); "" at the end. */
static const char *word(const char **s, size_t *len)
{
	const char *p = *s, *w;

	while (*p == ' ' || *p == '\t')
		p++;
	w = p;
	while (*p && *p != ' ' && *p != '\t' && *p != '\n')
		p++;
	*len = (size_t)(p - w);
	*s = p;
	return w;
}

static int is(const char *w, size_t len, const char *lit)
{
	return len == sck_strlen(lit) && !sck_strncmp(w, lit, len);
}

/*
 * One "lock:" line (after "lock:"): "1: POSIX  ADVISORY  WRITE 4242
 * fe:00:1234 0 99" or "... 100 EOF". Returns 0 with l filled, 1 for a
 * lease, -1 if the line is not understood.
 */
static int parse_lock(const char *s, struct sck_lock *l)
{
	const char *w, *end;
	size_t n;

	word(&s, &n);				/* "1:" */
	w = word(&s, &n);
	if (is(w, n, "POSIX"))
		l->kind = SCK_LOCK_POSIX;
	else if (is(w, n, "FLOCK"))
		l->kind = SCK_LOCK_FLOCK;
	else if (is(w, n, "OFDLCK"))
		l->kind = SCK_LOCK_OFD;
	else if (is(w, n, "LEASE") || is(w, n, "DELEG"))
		return 1;
	else
		return -1;
	w = word(&s, &n);			/* ADVISORY */
	if (!is(w, n, "ADVISORY"))
		return -1;
	w = word(&s, &n);
	if (is(w, n, "READ"))
		l->type = SCK_LOCK_READ;
	else if (is(w, n, "WRITE"))
		l->type = SCK_LOCK_WRITE;
	else
		return -1;
	word(&s, &n);				/* pid */
	word(&s, &n);				/* dev:ino */
	w = word(&s, &n);
	l->start = selfckpt__parse_u64(w, 10, &end);
	if (end != w + n || !n)
		return -1;
	w = word(&s, &n);
	if (is(w, n, "EOF")) {
		l->end = SCK_LOCK_EOF;
	} else {
		l->end = selfckpt__parse_u64(w, 10, &end);
		if (end != w + n || !n || l->end < l->start)
			return -1;
	}
	if (l->kind == SCK_LOCK_FLOCK) {
		l->start = 0;
		l->end = SCK_LOCK_EOF;
	}
	return 0;
}

/* Can restart take a lock again on what descriptor x becomes? */
static int lockable(const struct sck_dump *d, const struct sck_fd *r)
{
	if (r->kind == SCK_FD_FILE || r->kind == SCK_FD_DIR)
		return 1;
	if (r->kind != SCK_FD_OBJ || !r->obj_id)
		return 0;
	uint32_t k = d->objs[r->obj_id - 1].kind;

	return k == SCK_OBJ_UNLINKED || k == SCK_OBJ_MEMFD;
}

static int locks_of(struct sck_dump *d, const struct sck_fdx *x,
		    const struct sck_fd *r, char *buf)
{
	char path[40];
	long len;
	int nlocks = 0;

	selfckpt__fmt(path, sizeof(path), "/proc/self/fdinfo/%d", x->fd);
	len = selfckpt__read_file(-100, path, buf, FDINFO_MAX);
	if (len == -7 /* E2BIG */)
		return sck_fail(EOPNOTSUPP, "fd %d (%s) holds more locks than a checkpoint can save (its fdinfo is over %d bytes)",
				x->fd, x->target, FDINFO_MAX);
	if (len < 0)
		return sck_fail(EAGAIN, "cannot read /proc/self/fdinfo/%d", x->fd);
	for (const char *line = buf; *line;) {
		const char *next = line;

		while (*next && *next != '\n')
			next++;
		if (sck_starts_with(line, "lock:")) {
			struct sck_lock l = { .fd = r->fd };
			int ret = parse_lock(line + 5, &l);

			if (ret == 1)
				return sck_fail(EOPNOTSUPP, "fd %d holds a lease (F_SETLEASE) on %s: not supported",
						x->fd, x->target);
			if (ret < 0)
				return sck_fail(EOPNOTSUPP, "fd %d (%s) holds a lock this library does not understand: %.*s",
						x->fd, x->target, (int)(next - line), line);

			struct sck_part part = { &l, sizeof(l) };

			if (selfckpt__meta_add(&d->meta, SCK_REC_LOCK, 0, &part, 1, NULL))
				return sck_fail(ENOMEM, "metadata buffer full");
			nlocks++;
		}
		line = *next ? next + 1 : next;
	}
	if (nlocks)
		sck_debug("fd %d: %d locks", x->fd, nlocks);
	return 0;
}

/* Remember the file of each POSIX lock line of buf (an fdinfo). */
static void note_posix(struct sck_dump *d, const char *buf, uint32_t cap)
{
	for (const char *line = buf; *line;) {
		const char *next = line, *s, *w, *end;
		size_t n;

		while (*next && *next != '\n')
			next++;
		s = line + 5;
		if (sck_starts_with(line, "lock:")) {
			word(&s, &n);			/* "1:" */
			w = word(&s, &n);
			if (is(w, n, "POSIX")) {
				word(&s, &n);		/* ADVISORY */
				word(&s, &n);		/* READ/WRITE */
				word(&s, &n);		/* pid */
				w = word(&s, &n);	/* MAJ:MIN:INO, hex, hex, decimal */
				uint64_t ma = selfckpt__parse_u64(w, 16, &end);
				uint64_t mi = *end == ':' ? selfckpt__parse_u64(end + 1, 16, &end) : 0;
				uint64_t ino = *end == ':' ? selfckpt__parse_u64(end + 1, 10, &end) : 0;
				/* glibc's makedev() encoding, as st_dev. */
				uint64_t dev = ((ma & 0xfffff000ULL) << 32) | ((ma & 0xfffULL) << 8) |
					       ((mi & 0xffffff00ULL) << 12) | (mi & 0xffULL);
				uint32_t k = 0;

				while (k < d->nposix_locked &&
				       (d->posix_locked[2 * k] != dev ||
					d->posix_locked[2 * k + 1] != ino))
					k++;
				if (k == d->nposix_locked && k < cap) {
					d->posix_locked[2 * k] = dev;
					d->posix_locked[2 * k + 1] = ino;
					d->nposix_locked++;
				}
			}
		}
		line = *next ? next + 1 : next;
	}
}

/*
 * A POSIX lock is listed in the fdinfo of the descriptor it was taken
 * through, which is still open (closing it would have dropped the lock):
 * the fdinfo of every descriptor of a file or directory names them all.
 */
static void scan_posix(struct sck_dump *d)
{
	uint32_t cap = d->objs_cap;
	long dirfd;
	char dents[2048];
	long len;

	d->posix_scanned = 1;
	d->posix_locked = selfckpt__arena_alloc(&d->arena, cap * 16, 8);
	dirfd = sys_openat(-100, "/proc/self/fdinfo", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (!d->posix_locked || dirfd < 0) {
		if (dirfd >= 0)
			sys_close((int)dirfd);
		return;
	}
	char *big = NULL, small[2048];

	while ((len = sys_getdents64((int)dirfd, dents, sizeof(dents))) > 0)
		for (long off = 0; off < len;) {
			unsigned short reclen;
			const char *name = dents + off + 19;

			__builtin_memcpy(&reclen, dents + off + 16, 2);
			off += reclen;
			if (*name < '0' || *name > '9')
				continue;
			long n = selfckpt__read_file((int)dirfd, name, small, sizeof(small));

			if (n == -7 /* E2BIG */) {
				if (!big)
					big = selfckpt__arena_alloc(&d->arena, FDINFO_MAX, 8);
				if (!big || selfckpt__read_file((int)dirfd, name, big, FDINFO_MAX) < 0)
					continue;
				note_posix(d, big, cap);
			} else if (n > 0) {
				note_posix(d, small, cap);
			}
		}
	sys_close((int)dirfd);
}

int selfckpt__posix_locked(struct sck_dump *d, uint64_t dev, uint64_t ino)
{
	if (!d->posix_scanned)
		scan_posix(d);
	for (uint32_t k = 0; k < d->nposix_locked; k++)
		if (d->posix_locked[2 * k] == dev && d->posix_locked[2 * k + 1] == ino)
			return 1;
	return 0;
}

uint64_t selfckpt__flock_plan(int fd, const struct stat *st)
{
	char path[40], buf[1024];

	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
		return 0;
	selfckpt__fmt(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	long len = selfckpt__read_file(-100, path, buf, sizeof(buf));

	if (len == -7)	/* E2BIG: lock lines */
		return FDINFO_MAX + 64;
	for (long i = 0; i + 6 < len; i++)
		if (buf[i] == '\n' && sck_starts_with(buf + i + 1, "lock:"))
			return FDINFO_MAX + 64;	/* records of 64 bytes, lines of 70+ */
	return 0;
}

int selfckpt__flock_collect(struct sck_dump *d, const struct sck_fdx *all,
			    const struct sck_fd *recs, int n)
{
	char *buf = NULL;

	for (int i = 0; i < n; i++) {
		const struct sck_fdx *x = &all[i];
		int ret;

		if (!x->fi.has_lock || recs[i].share_with)
			continue;
		if (!lockable(d, &recs[i]))
			return sck_fail(EOPNOTSUPP, "fd %d is a file with a lock held (%s): not supported yet",
					x->fd, x->target);
		if (!buf)
			buf = selfckpt__arena_alloc(&d->arena, FDINFO_MAX, 8);
		if (!buf)
			return sck_fail(ENOMEM, "no checkpoint memory to read the locks of fd %d",
					x->fd);
		ret = locks_of(d, x, &recs[i], buf);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * res-obj.c - kernel objects behind descriptors, at checkpoint.
 *
 * A descriptor that is not a plain file may still be an object restart can
 * make again: a pipe with both ends in the process (its queued bytes are
 * copied with tee(2), which consumes nothing, so the running process sees
 * no difference), a FIFO reopened by path, an eventfd with its counter, a
 * socket (res-sock.c).
 * Each becomes an OBJ record that the FD records name (image-format.h).
 * What is not recognised here is left to res-file.c, which refuses it with
 * the descriptor's number and kind (leak detection).
 *
 * Identity (P15): a pipe is one object, found by its inode, whatever the
 * descriptors on its ends; an anonymous-inode object (eventfd...) is one
 * per open file description, found with kcmp(KCMP_FILE), since they all
 * share one inode.
 *
 * Async-signal-safe: raw system calls and the arena only.
 */
#define LOG_PREFIX "fd: "

#include <fcntl.h>
#include <linux/kcmp.h>

#include <linux/errno.h>

#include "internal.h"
#include "log.h"
#include "nolibc/fmt.h"
#include "nolibc/str.h"
#include "objects.h"
#include "sys.h"

#ifndef F_SETPIPE_SZ
#define F_SETPIPE_SZ 1031
#define F_GETPIPE_SZ 1032
#endif
#define SCK_FIONREAD 0x541B
#define SCK_SPLICE_F_NONBLOCK 2

int selfckpt__obj_add(struct sck_dump *d, struct sck_obj *o, const void *state,
		      const void *data)
{
	if (d->nobjs >= d->objs_cap)
		return sck_fail(ENOMEM, "too many objects");
	o->id = d->nobjs + 1;

	struct sck_part parts[3] = { { o, sizeof(*o) },
				     { state, o->state_len },
				     { data, (size_t)o->data_len } };

	if (selfckpt__meta_add(&d->meta, SCK_REC_OBJ, 0, parts, 3, NULL))
		return sck_fail(ENOMEM, "metadata buffer full");
	d->nobjs++;
	return (int)o->id;
}

static struct sck_dump_obj *remember(struct sck_dump *d, const struct sck_fdx *x,
				     uint32_t kind, uint32_t id)
{
	struct sck_dump_obj *m = &d->objs[id - 1];

	m->dev = x->st.st_dev;
	m->ino = x->st.st_ino;
	m->id = id;
	m->kind = kind;
	m->fd = x->fd;
	return m;
}

static int refuse(const struct sck_fdx *x, const char *what)
{
	return sck_fail(EOPNOTSUPP, "fd %d is %s (%s): not supported", x->fd, what,
			x->target);
}

/* ---- pipes and FIFOs ------------------------------------------------------ */

/*
 * The ends of pipe x that the process holds: bit 0 read, bit 1 write;
 * bit 2 if one of them is in packet mode (O_DIRECT, shown on write ends).
 */
static unsigned pipe_ends(const struct sck_dump *d, const struct sck_fdx *all, int n,
			  const struct sck_fdx *x, const struct sck_fdx **reader)
{
	const struct sck_fdx *flight;
	int nflight = selfckpt__scm_inflight(d, &flight);
	unsigned ends = 0;

	*reader = NULL;
	/* The descriptors, then those in flight in unix sockets (res-scm.c). */
	for (int i = 0; i < n + nflight; i++) {
		const struct sck_fdx *o = i < n ? &all[i] : &flight[i - n];

		if (o->st.st_ino != x->st.st_ino || o->st.st_dev != x->st.st_dev ||
		    (o->st.st_mode & S_IFMT) != S_IFIFO)
			continue;
		switch (o->fi.flags & O_ACCMODE) {
		case O_RDONLY:
			ends |= 1;
			break;
		case O_WRONLY:
			ends |= 2;
			break;
		default:
			ends |= 3;
		}
		if ((o->fi.flags & O_ACCMODE) != O_WRONLY && !*reader)
			*reader = o;
		if (o->fi.flags & O_DIRECT)
			ends |= 4;
	}
	return ends;
}

/*
 * Copy what is queued in the pipe that reader reads from, without taking
 * it out: tee(2) into a pipe of our own as big, then read that.
 */
static int pipe_data(struct sck_dump *d, const struct sck_fdx *reader,
		     uint32_t capacity, void **data, uint64_t *len)
{
	int queued = 0, tmp[2];
	long r;

	*data = NULL;
	*len = 0;
	r = sys_ioctl(reader->fd, SCK_FIONREAD, &queued);
	if (r < 0)
		return sck_fail((int)-r, "fd %d: cannot see what its pipe holds: %s",
				reader->fd, selfckpt__errname((int)-r));
	if (queued <= 0)
		return 0;
	uint8_t *buf = selfckpt__arena_alloc(&d->arena, (size_t)queued, 8);

	if (!buf)
		return sck_fail(ENOMEM, "fd %d: no checkpoint memory for the %d bytes in its pipe",
				reader->fd, queued);
	r = sys_pipe2(tmp, O_CLOEXEC);
	if (r < 0)
		return sck_fail((int)-r, "cannot make a pipe to copy fd %d's data: %s",
				reader->fd, selfckpt__errname((int)-r));
	if (queued > 65536 && sys_fcntl(tmp[1], F_SETPIPE_SZ, (long)capacity) < 0) {
		sys_close(tmp[0]);
		sys_close(tmp[1]);
		return sck_fail(EOPNOTSUPP,
				"fd %d: its pipe holds %d bytes, more than this process may put in a pipe of its own to copy them (fs.pipe-max-size, pipe-user-pages-soft)",
				reader->fd, queued);
	}
	r = sys_tee(reader->fd, tmp[1], (size_t)queued, SCK_SPLICE_F_NONBLOCK);
	if (r != queued) {
		sys_close(tmp[0]);
		sys_close(tmp[1]);
		return sck_fail(r < 0 ? (int)-r : EAGAIN,
				"fd %d: copied %ld of the %d bytes in its pipe", reader->fd,
				r, queued);
	}
	for (uint64_t got = 0; got < (uint64_t)queued;) {
		r = sys_read(tmp[0], buf + got, (size_t)queued - got);
		if (r == -EINTR)
			continue;
		if (r <= 0) {
			sys_close(tmp[0]);
			sys_close(tmp[1]);
			return sck_fail(r < 0 ? (int)-r : EIO,
					"fd %d: cannot read the copy of its pipe's data",
					reader->fd);
		}
		got += (uint64_t)r;
	}
	sys_close(tmp[0]);
	sys_close(tmp[1]);
	*data = buf;
	*len = (uint64_t)queued;
	return 0;
}

static int pipe_obj(struct sck_dump *d, const struct sck_fdx *all, int n,
		    const struct sck_fdx *x, struct sck_fd *r)
{
	int fifo = !sck_starts_with(x->target, "pipe:");
	const struct sck_fdx *reader;
	unsigned ends = pipe_ends(d, all, n, x, &reader);

	/* Already recorded from another descriptor of the same pipe? */
	for (uint32_t i = 0; i < d->nobjs; i++)
		if (d->objs[i].kind == SCK_OBJ_PIPE && d->objs[i].ino == x->st.st_ino &&
		    d->objs[i].dev == x->st.st_dev) {
			r->obj_id = d->objs[i].id;
			return 1;
		}
	if ((ends & 3) != 3) {
		/* fds 0-2 follow the stdio rule (res-file.c) */
		if (x->fd <= 2)
			return 0;
		return refuse(x, fifo ? "a FIFO whose other end is not in this process" :
				  "a pipe whose other end is not in this process");
	}
	/* Packets would be merged: tee copies bytes, not their boundaries. */
	if (ends & 4)
		return refuse(x, "an end of a packet-mode pipe (O_DIRECT)");

	long cap = sys_fcntl(x->fd, F_GETPIPE_SZ, 0);

	if (cap <= 0)
		return sck_fail(cap < 0 ? (int)-cap : EIO, "fd %d: cannot get its pipe's size",
				x->fd);

	struct sck_obj o = { .kind = SCK_OBJ_PIPE, .ino = x->st.st_ino,
			     .state_len = sizeof(struct sck_obj_pipe) };
	struct sck_obj_pipe st = { .capacity = (uint32_t)cap };
	void *data;
	int ret = pipe_data(d, reader, (uint32_t)cap, &data, &o.data_len);

	if (ret)
		return ret;
	if (fifo) {
		struct sck_fdx named = *x;
		struct sck_file f = { 0 };

		if (x->target[0] != '/')
			return refuse(x, "a FIFO no longer reachable by its path");
		f.kind = SCK_FILE_FIFO;
		f.dev = named.st.st_dev;
		f.ino = named.st.st_ino;
		f.mode = named.st.st_mode;
		ret = selfckpt__file_add(d, &f, x->target);
		if (ret < 0)
			return ret;
		o.file_id = (uint32_t)ret;
	}
	ret = selfckpt__obj_add(d, &o, &st, data);
	if (ret < 0)
		return ret;
	remember(d, x, SCK_OBJ_PIPE, o.id);
	r->obj_id = o.id;
	return 1;
}

/* ---- anonymous-inode objects ------------------------------------------------ */

/* An earlier descriptor on the same open file description, or NULL. */
static const struct sck_dump_obj *same_description(const struct sck_dump *d,
						   const struct sck_fdx *x)
{
	long pid = sys_getpid();

	for (uint32_t i = 0; i < d->nobjs; i++) {
		const struct sck_dump_obj *m = &d->objs[i];

		if (m->ino != x->st.st_ino || m->dev != x->st.st_dev)
			continue;
		if (sys_kcmp((int)pid, (int)pid, KCMP_FILE, (unsigned long)m->fd,
			     (unsigned long)x->fd) == 0)
			return m;
	}
	return NULL;
}

static int eventfd_obj(struct sck_dump *d, const struct sck_fdx *x,
		       struct sck_fd *r)
{
	struct sck_obj o = { .kind = SCK_OBJ_EVENTFD, .ino = x->st.st_ino,
			     .state_len = sizeof(struct sck_obj_eventfd) };
	struct sck_obj_eventfd st = { 0 };
	uint64_t v;

	if (selfckpt__proc_field(x->info, "eventfd-count:", 16, &st.count))
		return sck_fail(EIO, "fd %d: no eventfd-count in its fdinfo", x->fd);
	/* Linux 6.6 shows the flag; before, EFD_SEMAPHORE cannot be seen. */
	if (selfckpt__proc_field(x->info, "eventfd-semaphore:", 10, &v) == 0)
		st.semaphore = v != 0;
	else
		sck_warn("fd %d: this kernel does not show whether eventfd is in semaphore mode; restored without EFD_SEMAPHORE",
			 x->fd);

	int id = selfckpt__obj_add(d, &o, &st, NULL);

	if (id < 0)
		return id;
	remember(d, x, SCK_OBJ_EVENTFD, o.id);
	r->obj_id = o.id;
	return 1;
}

/*
 * The anonymous-inode kinds saved, by the name readlink shows after
 * "anon_inode:". Each saves descriptor x as a new object.
 */
static const struct {
	const char *name;
	int (*save)(struct sck_dump *d, const struct sck_fdx *x, struct sck_fd *r);
} anon_kinds[] = {
	{ "[eventfd]", eventfd_obj },
	{ "[timerfd]", selfckpt__timerfd_obj },		/* res-evl.c */
	{ "[signalfd]", selfckpt__signalfd_obj },
	{ "[eventpoll]", selfckpt__epoll_obj },
	{ "inotify", selfckpt__inotify_obj },
};

int selfckpt__obj_fd(struct sck_dump *d, const struct sck_fdx *all, int n,
		     const struct sck_fdx *x, struct sck_fd *r)
{
	int ret;

	if (S_ISFIFO(x->st.st_mode)) {
		ret = pipe_obj(d, all, n, x, r);
		if (ret == 1)
			r->kind = SCK_FD_OBJ;
		return ret;
	}
	if (S_ISCHR(x->st.st_mode))
		return selfckpt__tty_fd(d, all, n, x, r);	/* res-tty.c */
	/* Unlinked files and memfds (res-ghost.c). */
	if (S_ISREG(x->st.st_mode))
		return selfckpt__ghost_fd(d, x, r);
	if (S_ISSOCK(x->st.st_mode))
		return selfckpt__sock_obj(d, all, n, x, r);	/* res-sock.c */
	if (!sck_starts_with(x->target, "anon_inode:"))
		return 0;
	for (size_t i = 0; i < sizeof(anon_kinds) / sizeof(anon_kinds[0]); i++) {
		if (sck_strcmp(x->target + 11, anon_kinds[i].name))
			continue;
		const struct sck_dump_obj *m = same_description(d, x);

		r->kind = SCK_FD_OBJ;
		if (m) {
			r->obj_id = m->id;	/* share_with says the rest */
			return 1;
		}
		return anon_kinds[i].save(d, x, r);
	}
	return 0;
}

uint64_t selfckpt__obj_plan(void)
{
	long dirfd = sys_openat(-100, "/proc/self/fd",
				O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	char buf[4096];
	uint64_t total = 0, socks = 0;
	long len;

	if (dirfd < 0)
		return 0;
	while ((len = sys_getdents64((int)dirfd, buf, sizeof(buf))) > 0)
		for (long off = 0; off < len;) {
			unsigned short reclen;
			const char *name = buf + off + 19, *end;
			struct stat st;

			__builtin_memcpy(&reclen, buf + off + 16, 2);
			off += reclen;
			int fd = (int)selfckpt__parse_u64(name, 10, &end);

			if (*name < '0' || *name > '9' || *end || fd == dirfd ||
			    sys_fstat(fd, &st) < 0)
				continue;
			/* A pipe holds at most its capacity: counted per end. */
			if (S_ISFIFO(st.st_mode)) {
				long cap = sys_fcntl(fd, F_GETPIPE_SZ, 0);

				total += cap > 0 ? (uint64_t)cap : 0;
			} else {
				total += selfckpt__evl_plan(fd);
			}
			total += selfckpt__ghost_plan(&st) +
				 selfckpt__flock_plan(fd, &st);
			if (S_ISSOCK(st.st_mode)) {
				total += selfckpt__sock_plan(fd);
				socks++;
			}
		}
	sys_close((int)dirfd);
	/* Descriptors in flight on sockets (res-scm.c), their tables once. */
	return total + (socks ? selfckpt__scm_plan() : 0);
}

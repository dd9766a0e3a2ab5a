/*
 * res-file.c - files and file descriptors.
 *
 * Files: every file a mapping or a descriptor refers to is recorded once
 * (FILE record, keyed by device and inode) with what restart checks to
 * know it is still the same file.
 *
 * Descriptors: /proc/self/fd, fdinfo and fstat say what each one is.
 * Regular files and directories are reopened by path at their offset with
 * their flags; /dev/null and friends by path; descriptors that share one
 * open file description (dup, dup2, "2>&1") share it again after restart,
 * found with kcmp(KCMP_FILE) (P15). Descriptors 0-2 that are a terminal,
 * /dev/null, or a pipe or socket whose other end is outside the process
 * become the restart command's own. Anything else fails the checkpoint
 * with the descriptor's number and what it is (Linux-CR's leak detection).
 *
 * Async-signal-safe: raw system calls and the arena only.
 */
#define LOG_PREFIX "fd: "

#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <linux/errno.h>

#include "internal.h"
#include "log.h"
#include "nolibc/fmt.h"
#include "nolibc/str.h"
#include "objects.h"
#include "proc.h"
#include "sys.h"

static uint32_t file_slot(uint64_t dev, uint64_t ino, uint32_t cap)
{
	uint64_t h = (dev * 0x9E3779B97F4A7C15ULL) ^ (ino * 0xC2B2AE3D27D4EB4FULL);

	return (uint32_t)(h >> 32) & (cap - 1);
}

int selfckpt__file_add(struct sck_dump *d, const struct sck_file *f,
		       const char *path)
{
	uint32_t slot = file_slot(f->dev, f->ino, d->file_hash_cap);

	/* Objects without an inode (none today) are never merged. */
	for (; d->file_hash[slot]; slot = (slot + 1) & (d->file_hash_cap - 1)) {
		struct sck_dump_file *o = &d->files[d->file_hash[slot] - 1];

		if (o->f.dev == f->dev && o->f.ino == f->ino &&
		    o->f.kind == f->kind && o->f.flags == f->flags)
			return (int)o->f.id;
	}
	if (d->nfiles >= d->files_cap || d->nfiles + 1 >= d->file_hash_cap / 2)
		return sck_fail(ENOMEM, "too many files");

	struct sck_dump_file *n = &d->files[d->nfiles];
	size_t len = sck_strlen(path);
	char *copy = selfckpt__arena_alloc(&d->arena, len + 1, 1);

	if (!copy)
		return sck_fail(ENOMEM, "out of checkpoint memory for paths");
	__builtin_memcpy(copy, path, len + 1);
	n->f = *f;
	n->f.id = d->nfiles + 1;
	n->f.path_len = (uint32_t)len;
	n->path = copy;
	d->nfiles++;
	d->file_hash[slot] = n->f.id;

	struct sck_part parts[2] = { { &n->f, sizeof(n->f) }, { copy, len } };
	int ret = selfckpt__meta_add(&d->meta, SCK_REC_FILE, 0, parts, 2, NULL);

	if (ret)
		return sck_fail(ENOMEM, "metadata buffer full");
	return (int)n->f.id;
}

int selfckpt__fd_excluded(const struct sck_dump *d, int fd)
{
	for (int i = 0; i < d->nexcl; i++)
		if (d->excl_fd[i] == fd)
			return 1;
	return 0;
}

/* The character devices any process can reopen with the same meaning. */
static int plain_device(dev_t rdev)
{
	if (major(rdev) != 1)
		return 0;
	switch (minor(rdev)) {
	case 3: /* null */
	case 5: /* zero */
	case 7: /* full */
	case 8: /* random */
	case 9: /* urandom */
		return 1;
	}
	return 0;
}

static int is_tty(dev_t rdev)
{
	unsigned ma = major(rdev);

	return ma == 4 || ma == 5 || (ma >= 136 && ma <= 143);
}

/* Is there another descriptor on the same pipe, used the other way? */
static int inner_pipe(const struct sck_fdx *all, int n, const struct sck_fdx *p)
{
	uint32_t mode = p->fi.flags & O_ACCMODE;

	for (int i = 0; i < n; i++)
		if (all[i].fd != p->fd && S_ISFIFO(all[i].st.st_mode) &&
		    all[i].st.st_ino == p->st.st_ino &&
		    all[i].st.st_dev == p->st.st_dev &&
		    (all[i].fi.flags & O_ACCMODE) != mode)
			return 1;
	return 0;
}

static int add_fd_file(struct sck_dump *d, const struct sck_fdx *x,
		       uint32_t kind)
{
	struct sck_file f = { 0 };

	f.kind = kind;
	f.dev = x->st.st_dev;
	f.ino = x->st.st_ino;
	f.size = (uint64_t)x->st.st_size;
	f.mtime_sec = x->st.st_mtim.tv_sec;
	f.mtime_nsec = (uint32_t)x->st.st_mtim.tv_nsec;
	f.ctime_sec = x->st.st_ctim.tv_sec;
	f.ctime_nsec = (uint32_t)x->st.st_ctim.tv_nsec;
	f.mode = x->st.st_mode;
	f.rdev = x->st.st_rdev;
	return selfckpt__file_add(d, &f, x->target);
}

static int unsupported(const struct sck_fdx *x, const char *what)
{
	return sck_fail(EOPNOTSUPP, "fd %d is %s (%s): not supported yet", x->fd,
			what, x->target);
}

/*
 * Is this descriptor on a /proc entry of this very process ("/proc/self/
 * status" reads back as "/proc/1234/status")? Restart would reopen it by
 * that path, which names a process that no longer exists, or, once the
 * pid is reused, another process. Only paths under this process's own
 * /proc/<pid> and only on the file system mounted at /proc count; global
 * files such as /proc/meminfo reopen fine.
 */
static int own_proc_entry(const struct sck_fdx *x)
{
	char prefix[32];
	struct stat proc;
	int n = selfckpt__fmt(prefix, sizeof(prefix), "/proc/%ld", sys_getpid());

	if (sck_strncmp(x->target, prefix, (size_t)n) ||
	    (x->target[n] != '/' && x->target[n] != '\0'))
		return 0;
	return sys_fstatat(-100, "/proc", &proc, 0) == 0 &&
	       proc.st_dev == x->st.st_dev;
}

/* Decide what one descriptor is and fill its FD record. */
static int classify_fd(struct sck_dump *d, const struct sck_fdx *all, int n,
		       const struct sck_fdx *x, struct sck_fd *r)
{
	mode_t m = x->st.st_mode;
	int stdio = x->fd <= 2;
	int id;

	r->fd = x->fd;
	r->open_flags = x->fi.flags & ~(uint32_t)O_CLOEXEC;
	/*
	 * From the descriptor itself: fdinfo's flags also show O_CLOEXEC for
	 * a file opened with it by TIOCGPTPEER, which keeps it in the file's
	 * flags after FD_CLOEXEC is cleared.
	 */
	long fdfl = sys_fcntl(x->fd, F_GETFD, 0);

	r->fd_flags = fdfl >= 0 ? (uint32_t)fdfl & FD_CLOEXEC
				: (x->fi.flags & O_CLOEXEC) ? FD_CLOEXEC : 0;
	r->pos = x->fi.pos;

	/* Pipes, eventfds... (res-obj.c) */
	id = selfckpt__obj_fd(d, all, n, x, r);
	if (id)
		return id < 0 ? id : 0;
	if (sck_starts_with(x->target, "anon_inode:")) {
		char what[96];

		selfckpt__fmt(what, sizeof(what), "a kernel object, %s",
			      x->target + 11);
		return unsupported(x, what);
	}
	if (sck_starts_with(x->target, "/memfd:"))
		return unsupported(x, "a memfd");
	if (S_ISREG(m) || S_ISDIR(m)) {
		struct stat now;

		if (own_proc_entry(x))
			return unsupported(x, "a /proc file of this process, which a restarted process cannot reopen");
		if (x->st.st_nlink == 0)	/* files: res-ghost.c */
			return unsupported(x, S_ISDIR(m) ? "a removed directory" :
					   "an unlinked file");
		if (x->target[0] != '/' ||
		    sys_fstatat(-100, x->target, &now, 0) != 0 ||
		    now.st_ino != x->st.st_ino || now.st_dev != x->st.st_dev)
			return unsupported(x, "a file no longer reachable by its path");
		r->kind = S_ISREG(m) ? SCK_FD_FILE : SCK_FD_DIR;
		r->size_at_ckpt = (uint64_t)x->st.st_size;
		id = add_fd_file(d, x, S_ISREG(m) ? SCK_FILE_REG : SCK_FILE_DIR);
		if (id < 0)
			return id;
		r->file_id = (uint32_t)id;
		return 0;
	}
	if (S_ISCHR(m) && plain_device(x->st.st_rdev) && !(stdio && minor(x->st.st_rdev) == 3)) {
		r->kind = SCK_FD_DEV;
		id = add_fd_file(d, x, SCK_FILE_CHR);
		if (id < 0)
			return id;
		r->file_id = (uint32_t)id;
		return 0;
	}
	if (stdio) {
		r->kind = SCK_FD_STDIO;
		if (S_ISCHR(m) && minor(x->st.st_rdev) == 3 &&
		    major(x->st.st_rdev) == 1)
			r->stdio_kind = SCK_STDIO_NULL;
		else if (S_ISCHR(m) && is_tty(x->st.st_rdev))
			r->stdio_kind = SCK_STDIO_TTY;
		else if (S_ISFIFO(m) && !inner_pipe(all, n, x))
			r->stdio_kind = SCK_STDIO_PIPE;
		else if (S_ISSOCK(m))
			r->stdio_kind = SCK_STDIO_SOCKET;
		else if (S_ISFIFO(m))
			return unsupported(x, "one end of a pipe whose other end is in this process");
		else
			return unsupported(x, "a device");
		return 0;
	}
	if (S_ISFIFO(m))
		return unsupported(x, "a pipe");
	if (S_ISSOCK(m))
		return unsupported(x, "a socket");
	if (S_ISCHR(m) && is_tty(x->st.st_rdev))
		return unsupported(x, "a terminal");
	if (S_ISCHR(m) || S_ISBLK(m))
		return unsupported(x, "a device");
	return unsupported(x, "of an unknown kind");
}

/* Does fd share its open file description with an earlier descriptor? */
static int find_share(const struct sck_fd *recs, const struct sck_fdx *all,
		      int i, int *warned)
{
	long pid = sys_getpid();

	for (int j = 0; j < i; j++) {
		if (recs[j].kind != recs[i].kind || recs[j].kind == SCK_FD_STDIO ||
		    all[j].st.st_ino != all[i].st.st_ino ||
		    all[j].st.st_dev != all[i].st.st_dev)
			continue;
		long r = sys_kcmp((int)pid, (int)pid, KCMP_FILE,
				  (unsigned long)all[j].fd,
				  (unsigned long)all[i].fd);

		if (r == 0)
			return recs[j].share_with ? (int)recs[j].share_with
						  : all[j].fd + 1;
		if (r < 0 && !*warned) {
			/* Without kcmp, identical offset and flags are the best guess. */
			sck_warn("kcmp() unavailable (error %ld): guessing shared descriptors", -r);
			*warned = 1;
		}
		if (r < 0 && all[j].fi.pos == all[i].fi.pos &&
		    all[j].fi.flags == all[i].fi.flags)
			return recs[j].share_with ? (int)recs[j].share_with
						  : all[j].fd + 1;
	}
	return 0;
}

static int gather(struct sck_dump *d, int dirfd, struct sck_fdx *all, int cap)
{
	char buf[4096];
	int n = 0;

	for (;;) {
		long len = sys_getdents64(dirfd, buf, sizeof(buf));

		if (len < 0)
			return sck_fail((int)-len, "cannot list /proc/self/fd");
		if (len == 0)
			break;
		for (long off = 0; off < len;) {
			struct {
				uint64_t ino;
				int64_t off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *de = (void *)(buf + off);
			const char *s;
			int fd = (int)selfckpt__parse_u64(de->name, 10, &s);

			off += de->reclen;
			if (de->name[0] < '0' || de->name[0] > '9' || *s ||
			    fd == dirfd || selfckpt__fd_excluded(d, fd))
				continue;
			if (n >= cap)
				return sck_fail(EAGAIN, "descriptors were opened during the checkpoint");
			all[n++].fd = fd;
		}
	}
	return n;
}

int selfckpt__fd_describe(int dirfd, struct sck_fdx *x)
{
	char name[32];
	long len;

	selfckpt__fmt(name, sizeof(name), "%d", x->fd);
	len = sys_readlinkat(dirfd, name, x->target, SCK_MAX_PATH);
	if (len < 0)
		return sck_fail((int)-len, "cannot read /proc/self/fd/%d", x->fd);
	x->target[len] = '\0';
	if (sys_fstat(x->fd, &x->st) < 0)
		return sck_fail(EAGAIN, "fd %d closed during the checkpoint", x->fd);
	selfckpt__fmt(name, sizeof(name), "/proc/self/fdinfo/%d", x->fd);
	len = selfckpt__read_file(-100, name, x->info, sizeof(x->info));
	if (len == -7) {	/* E2BIG: many lock or epoll lines; keep the start */
		len = 0;
		x->info[sizeof(x->info) - 1] = '\0';
	}
	if (len < 0 || selfckpt__parse_fdinfo(x->info, &x->fi))
		return sck_fail(EAGAIN, "cannot read /proc/self/fdinfo/%d", x->fd);
	return 0;
}

int selfckpt__fd_collect(struct sck_dump *d)
{
	long dirfd = sys_openat(-100, "/proc/self/fd",
				O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	int cap = (int)d->objs_cap, n, ret = 0, warned = 0;	/* fds + 16 */
	struct sck_fdx *all;
	struct sck_fd *recs;

	if (dirfd < 0)
		return sck_fail((int)-dirfd, "cannot open /proc/self/fd");
	all = selfckpt__arena_alloc(&d->arena, sizeof(*all) * (size_t)cap, 8);
	recs = selfckpt__arena_alloc(&d->arena, sizeof(*recs) * (size_t)cap, 8);
	if (!all || !recs) {
		ret = sck_fail(ENOMEM, "out of checkpoint memory for descriptors");
		goto out;
	}
	n = gather(d, (int)dirfd, all, cap);
	if (n < 0) {
		ret = n;
		goto out;
	}
	/* getdents on /proc/self/fd is in order, but do not rely on it. */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && all[j - 1].fd > all[j].fd; j--) {
			int t = all[j].fd;

			all[j].fd = all[j - 1].fd;
			all[j - 1].fd = t;
		}
	for (int i = 0; i < n && !ret; i++)
		ret = selfckpt__fd_describe((int)dirfd, &all[i]);
	/* Descriptors in flight in unix sockets' queues, kept open (res-scm.c). */
	if (!ret)
		ret = selfckpt__scm_scan(d, (int)dirfd, all, n);
	for (int i = 0; i < n && !ret; i++) {
		ret = classify_fd(d, all, n, &all[i], &recs[i]);
		/* /dev/null instead, and a note (res-lenient.c) */
		if (ret == -EOPNOTSUPP && selfckpt__lenient(d))
			ret = selfckpt__lenient_fd(d, &all[i], &recs[i]);
	}
	for (int i = 0; i < n && !ret; i++) {
		recs[i].share_with = (uint32_t)find_share(recs, all, i, &warned);
		struct sck_part part = { &recs[i], sizeof(recs[i]) };

		if (selfckpt__meta_add(&d->meta, SCK_REC_FD, 0, &part, 1, NULL))
			ret = sck_fail(ENOMEM, "metadata buffer full");
	}
	/* Locks, once their descriptors are recorded (res-flock.c). */
	if (!ret)
		ret = selfckpt__flock_collect(d, all, recs, n);
	/* Then the descriptors in flight, which may share with them. */
	if (!ret)
		ret = selfckpt__scm_collect(d, all, recs, n);
	if (!ret)
		sck_debug("%d descriptors", n);
out:
	sys_close((int)dirfd);
	return ret;
}

int selfckpt__fd_classify(struct sck_dump *d, const struct sck_fdx *all, int n,
			  const struct sck_fdx *x, struct sck_fd *r)
{
	return classify_fd(d, all, n, x, r);
}

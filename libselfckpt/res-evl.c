/*
 * res-evl.c - event-loop objects at checkpoint: timerfd, signalfd, epoll
 * and inotify instances (issue 5).
 *
 * Each is one open file description on the shared anonymous inode; the
 * dispatcher of res-obj.c (anon_kinds[]) finds descriptors that share one
 * with kcmp(KCMP_FILE) and calls the save function here for the first of
 * them, which adds its OBJ record (image-format.h):
 *
 *  - timerfd: clock, timerfd_settime() flags, interval, the time left and
 *    the expirations not read yet, from timerfd_gettime() and fdinfo;
 *  - signalfd: the mask, from fdinfo (the signals pending are the
 *    process's, saved with it);
 *  - epoll: every registration, "tfd: events: data:" lines of fdinfo,
 *    each checked with kcmp(KCMP_EPOLL_TFD) to be the file that is open at
 *    that descriptor number now: a registration outlives its descriptor
 *    when the file stays open elsewhere, and restart could not recreate it;
 *  - inotify: every watch with its mask and wd number, and the path that
 *    leads to its inode. fdinfo gives only the inode and a file handle, so
 *    the paths come from the interposed inotify_add_watch() (the registry
 *    below), or, for a process with CAP_DAC_READ_SEARCH, from
 *    open_by_handle_at(); events queued and not read yet cannot be copied
 *    without taking them from the process, so such an instance is refused.
 *
 * The fdinfo of an epoll or inotify instance has a line per registration,
 * so it is read a line at a time, never whole (P15, P17 for the kinds
 * still refused).
 *
 * Async-signal-safe at checkpoint: raw system calls and the arena only.
 * The registry functions run in the interposers of the shared library
 * (interpose.c), in whatever thread calls inotify_add_watch(), with every
 * signal blocked while they change it.
 */
#define LOG_PREFIX "fd: "

#include <fcntl.h>
#include <linux/kcmp.h>
#include <linux/mman.h>
#include <sys/stat.h>

#include <linux/errno.h>

#include "compat.h"
#include "internal.h"
#include "log.h"
#include "nolibc/fmt.h"
#include "nolibc/str.h"
#include "objects.h"
#include "sort.h"
#include "sys.h"

#define SCK_FIONREAD 0x541B
#define SCK_AT_FDCWD (-100)
#define SCK_AT_SYMLINK_NOFOLLOW 0x100

/* inotify(7) bits as fdinfo shows a watch's mask. */
#define SCK_IN_ALL_EVENTS 0x00000fffu
#define SCK_IN_DONT_FOLLOW 0x02000000u
#define SCK_IN_EXCL_UNLINK 0x04000000u
#define SCK_IN_ONESHOT 0x80000000u

/* ---- small helpers ------------------------------------------------------- */

/* The OBJ record just added is this descriptor's (as res-obj.c does). */
static void note_obj(struct sck_dump *d, const struct sck_fdx *x, uint32_t kind,
		     uint32_t id, struct sck_fd *r)
{
	struct sck_dump_obj *m = &d->objs[id - 1];

	m->dev = x->st.st_dev;
	m->ino = x->st.st_ino;
	m->id = id;
	m->kind = kind;
	m->fd = x->fd;
	r->obj_id = id;
}

/* Where key appears in line, just after it, or NULL. */
static const char *after(const char *line, const char *key)
{
	size_t n = sck_strlen(key);

	for (const char *p = line; *p; p++)
		if (!sck_strncmp(p, key, n))
			return p + n;
	return NULL;
}

static const char *spaces(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* The number after key in line (base 8, 10 or 16); -ENOENT without it. */
static int field(const char *line, const char *key, int base, uint64_t *v)
{
	const char *p = after(line, key), *end;

	if (!p)
		return -ENOENT;
	p = spaces(p);
	*v = selfckpt__parse_u64(p, base, &end);
	return end == p ? -EINVAL : 0;
}

/*
 * Call fn on each line of /proc/self/fdinfo/FD (NUL-terminated, without
 * its newline), reading 4 KiB at a time: an epoll or inotify instance has
 * a line per registration, as many as the program made. The file is one
 * snapshot (single_open). Returns 0, fn's first non-zero result (fn sets
 * the reason), or -errno with the reason set.
 */
static int each_line(int fd, int (*fn)(void *arg, char *line), void *arg)
{
	char path[48], buf[4096];
	size_t have = 0;
	int eof = 0, ret = 0;
	long f;

	selfckpt__fmt(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = sys_openat(SCK_AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	if (f < 0)
		return sck_fail((int)-f, "cannot read %s: %s", path,
				selfckpt__errname((int)-f));
	while (!ret && (!eof || have)) {
		if (!eof) {
			long n = sys_read((int)f, buf + have, sizeof(buf) - 1 - have);

			if (n == -EINTR)
				continue;
			if (n < 0) {
				ret = sck_fail((int)-n, "cannot read %s: %s", path,
					       selfckpt__errname((int)-n));
				break;
			}
			eof = n == 0;
			have += (size_t)n;
		}
		size_t used = 0;

		for (size_t i = 0; i < have && !ret; i++)
			if (buf[i] == '\n') {
				buf[i] = '\0';
				ret = fn(arg, buf + used);
				used = i + 1;
			}
		if (!ret && eof && used < have) {
			buf[have] = '\0';
			ret = fn(arg, buf + used);
			used = have;
		}
		if (!ret && !used && have >= sizeof(buf) - 1)
			/* A line longer than any the kernel writes. */
			ret = sck_fail(E2BIG, "%s has a line of 4 KiB or more", path);
		for (size_t i = used; i < have; i++)
			buf[i - used] = buf[i];
		have -= used;
	}
	sys_close((int)f);
	return ret;
}

static int count_prefix(void *arg, char *line)
{
	uint64_t *c = arg;

	c[0] += sck_starts_with(line, (const char *)(uintptr_t)c[1]);
	return 0;
}

/* How many lines of fd's fdinfo start with prefix (-errno on failure). */
static long count_lines(int fd, const char *prefix)
{
	uint64_t c[2] = { 0, (uint64_t)(uintptr_t)prefix };
	int ret = each_line(fd, count_prefix, c);

	return ret < 0 ? ret : (long)c[0];
}

/* The kernel's dev_t as fdinfo prints it (MINORBITS 20), as st_dev has it. */
static uint64_t user_dev(uint64_t kdev)
{
	uint64_t ma = kdev >> 20, mi = kdev & 0xfffff;

	return ((ma & 0xfff) << 8) | (mi & 0xff) | ((mi & ~0xffULL) << 12) |
	       ((ma & ~0xfffULL) << 32);
}

static uint64_t ts_ns(const struct __kernel_timespec *t)
{
	return (uint64_t)t->tv_sec * 1000000000ULL + (uint64_t)t->tv_nsec;
}

/* ---- timerfd ------------------------------------------------------------------ */

struct tfd_info {
	uint64_t clockid, ticks, flags, value[2], interval[2];
	int have;
};

/* "it_value: (0, 49782568)" */
static int pair(const char *line, const char *key, uint64_t v[2])
{
	const char *p = after(line, key), *end;

	if (!p || *(p = spaces(p)) != '(')
		return -EINVAL;
	v[0] = selfckpt__parse_u64(p + 1, 10, &end);
	if (end[0] != ',')
		return -EINVAL;
	v[1] = selfckpt__parse_u64(spaces(end + 1), 10, &end);
	return *end == ')' ? 0 : -EINVAL;
}

static int tfd_line(void *arg, char *line)
{
	struct tfd_info *t = arg;

	if (sck_starts_with(line, "clockid:"))
		t->have |= field(line, "clockid:", 10, &t->clockid) ? 0 : 1;
	else if (sck_starts_with(line, "ticks:"))
		t->have |= field(line, "ticks:", 10, &t->ticks) ? 0 : 2;
	else if (sck_starts_with(line, "settime flags:"))
		t->have |= field(line, "settime flags:", 8, &t->flags) ? 0 : 4;
	else if (sck_starts_with(line, "it_value:"))
		t->have |= pair(line, "it_value:", t->value) ? 0 : 8;
	else if (sck_starts_with(line, "it_interval:"))
		t->have |= pair(line, "it_interval:", t->interval) ? 0 : 16;
	return 0;
}

int selfckpt__timerfd_obj(struct sck_dump *d, const struct sck_fdx *x,
			  struct sck_fd *r)
{
	struct sck_obj o = { .kind = SCK_OBJ_TIMERFD, .ino = x->st.st_ino,
			     .state_len = sizeof(struct sck_obj_timerfd) };
	struct sck_obj_timerfd st = { 0 };
	struct __kernel_timespec cur[2];	/* interval, value */
	struct tfd_info t;
	int ret;

	/*
	 * A periodic timer that expired is moved on to its next period only
	 * when it is read or asked (timerfd_gettime); until then fdinfo shows
	 * it with no time left, as if disarmed. Ask first, then read fdinfo,
	 * and again if it expired in between.
	 */
	for (int tries = 0;; tries++) {
		long g = sys_timerfd_gettime(x->fd, cur);

		if (g < 0)
			return sck_fail((int)-g, "fd %d: timerfd_gettime: %s", x->fd,
					selfckpt__errname((int)-g));
		__builtin_memset(&t, 0, sizeof(t));
		ret = each_line(x->fd, tfd_line, &t);
		if (ret)
			return ret;
		if (t.have != 31)
			return sck_fail(EIO, "fd %d: cannot read the timerfd's state from its fdinfo",
					x->fd);
		if (t.value[0] || t.value[1] || !(t.interval[0] || t.interval[1]))
			break;
		if (tries == 100) {
			/* An interval too short to catch between two calls. */
			t.value[0] = t.interval[0];
			t.value[1] = t.interval[1];
			break;
		}
	}
	if (t.flags & ~(uint64_t)(SCK_TFD_ABSTIME | SCK_TFD_CANCEL_ON_SET))
		return sck_fail(EOPNOTSUPP, "fd %d is a timerfd with settime flags %llo, unknown to this library: not supported",
				x->fd, (unsigned long long)t.flags);
	st.clockid = (int32_t)t.clockid;
	st.flags = (uint32_t)t.flags;
	st.ticks = t.ticks;
	st.value_ns = t.value[0] * 1000000000ULL + t.value[1];
	st.interval_ns = t.interval[0] * 1000000000ULL + t.interval[1];
	if ((st.flags & SCK_TFD_ABSTIME) && st.value_ns) {
		struct __kernel_timespec now;
		long c = sys_clock_gettime(st.clockid, &now);

		if (c < 0)
			return sck_fail((int)-c, "fd %d: cannot read the timerfd's clock %d: %s",
					x->fd, st.clockid, selfckpt__errname((int)-c));
		st.deadline_ns = ts_ns(&now) + st.value_ns;
	}
	ret = selfckpt__obj_add(d, &o, &st, NULL);
	if (ret < 0)
		return ret;
	note_obj(d, x, SCK_OBJ_TIMERFD, o.id, r);
	return 1;
}

/* ---- signalfd ----------------------------------------------------------------- */

int selfckpt__signalfd_obj(struct sck_dump *d, const struct sck_fdx *x,
			   struct sck_fd *r)
{
	struct sck_obj o = { .kind = SCK_OBJ_SIGNALFD, .ino = x->st.st_ino,
			     .state_len = sizeof(struct sck_obj_signalfd) };
	struct sck_obj_signalfd st = { 0 };
	int ret;

	/* "sigmask:" is short and comes early: x->info has it. */
	if (selfckpt__proc_field(x->info, "sigmask:", 16, &st.mask))
		return sck_fail(EIO, "fd %d: no sigmask in its fdinfo", x->fd);
	/* The kernel never takes SIGKILL and SIGSTOP; fdinfo never shows them. */
	st.mask &= ~((1ULL << (9 - 1)) | (1ULL << (19 - 1)));
	ret = selfckpt__obj_add(d, &o, &st, NULL);
	if (ret < 0)
		return ret;
	note_obj(d, x, SCK_OBJ_SIGNALFD, o.id, r);
	return 1;
}

/* ---- epoll ------------------------------------------------------------------- */

struct ep_walk {
	struct sck_dump *d;
	const struct sck_fdx *x;
	struct sck_epoll_watch *w;
	uint32_t n, cap;
};

/* Is the file registered as (tfd, toff) the one open at tfd now? */
static int ep_target_ok(struct ep_walk *e, int tfd, uint32_t toff)
{
	struct kcmp_epoll_slot slot = { .efd = (uint32_t)e->x->fd,
					.tfd = (uint32_t)tfd, .toff = toff };
	long pid = sys_getpid();
	long r = sys_kcmp((int)pid, (int)pid, KCMP_EPOLL_TFD, (unsigned long)tfd,
			  (unsigned long)&slot);

	if (r == 0) {
		if (selfckpt__fd_excluded(e->d, tfd))
			return sck_fail(EOPNOTSUPP, "fd %d is an epoll instance watching fd %d, which the checkpoint itself writes to: not supported",
					e->x->fd, tfd);
		return 0;
	}
	if (r == -ENOSYS || r == -EPERM)
		return sck_fail(EOPNOTSUPP, "fd %d is an epoll instance, and this kernel does not let the library check what it watches (kcmp KCMP_EPOLL_TFD: %s): not supported",
				e->x->fd, selfckpt__errname((int)-r));
	/* (EBADF, or another file: the checkpoint's own fds take low numbers.) */
	return sck_fail(EOPNOTSUPP, "fd %d is an epoll instance watching a file registered as fd %d, which is no longer that file (the descriptor was closed or replaced without EPOLL_CTL_DEL while the file stayed open elsewhere): not supported",
			e->x->fd, tfd);
}

static int ep_line(void *arg, char *line)
{
	struct ep_walk *e = arg;
	uint64_t tfd, events, data;
	uint32_t toff = 0;

	if (!sck_starts_with(line, "tfd:"))
		return 0;
	if (field(line, "tfd:", 10, &tfd) || field(line, "events:", 16, &events) ||
	    field(line, "data:", 16, &data) || tfd >= SCK_MAX_FDS)
		return sck_fail(EIO, "fd %d: cannot read the epoll registration \"%s\"",
				e->x->fd, line);
	if (e->n >= e->cap)
		return sck_fail(EAGAIN, "fd %d: registrations were added to the epoll instance during the checkpoint",
				e->x->fd);
	/* The kernel's rb-tree order, which KCMP_EPOLL_TFD's toff counts in. */
	for (uint32_t i = 0; i < e->n; i++)
		toff += e->w[i].fd == (int32_t)tfd;
	int ret = ep_target_ok(e, (int)tfd, toff);

	if (ret)
		return ret;
	e->w[e->n++] = (struct sck_epoll_watch){ .fd = (int32_t)tfd,
						 .events = (uint32_t)events,
						 .data = data };
	return 0;
}

static int cmp_watch_fd(const void *a, const void *b)
{
	const struct sck_epoll_watch *x = a, *y = b;

	return (x->fd > y->fd) - (x->fd < y->fd);
}

int selfckpt__epoll_obj(struct sck_dump *d, const struct sck_fdx *x,
			struct sck_fd *r)
{
	struct sck_obj o = { .kind = SCK_OBJ_EPOLL, .ino = x->st.st_ino,
			     .state_len = sizeof(struct sck_obj_epoll) };
	struct sck_obj_epoll st = { 0 };
	struct ep_walk e = { .d = d, .x = x };
	long n = count_lines(x->fd, "tfd:");
	int ret;

	if (n < 0)
		return (int)n;
	e.cap = (uint32_t)n;
	e.w = selfckpt__arena_alloc(&d->arena, sizeof(*e.w) * (size_t)(n ? n : 1), 8);
	if (!e.w)
		return sck_fail(ENOMEM, "fd %d: no checkpoint memory for its %ld epoll registrations",
				x->fd, n);
	ret = each_line(x->fd, ep_line, &e);
	if (ret)
		return ret;
	/* By fd: fdinfo lists registrations in the kernel's order. */
	sck_sort(e.w, e.n, sizeof(*e.w), cmp_watch_fd);
	st.nwatches = e.n;
	o.data_len = sizeof(*e.w) * (uint64_t)e.n;
	ret = selfckpt__obj_add(d, &o, &st, e.w);
	if (ret < 0)
		return ret;
	note_obj(d, x, SCK_OBJ_EPOLL, o.id, r);
	return 1;
}

/* ---- inotify: the registry of watched paths ---------------------------------- */

/*
 * Every successful inotify_add_watch() of a program linked with the shared
 * library (or run under `selfckpt run`) appends a record: the instance's
 * descriptor, the wd, the inode and the absolute path. inotify_rm_watch()
 * and a later add that returns the same wd mark the older ones dead, and
 * dead records are dropped when the area must grow. Watches the kernel
 * removes by itself (IN_ONESHOT, a deleted file) leave their record, a
 * path the checkpoint then finds leads elsewhere or nowhere and ignores.
 *
 * The area is an anonymous mapping of the process, so it is in the image
 * and the paths are still known after a restart. A spin lock, taken with
 * every signal blocked, keeps threads (and the checkpoint, which stops
 * threads with a signal) from seeing a record half written.
 */
struct inw_rec {
	uint64_t dev, ino;
	int32_t fd, wd;
	uint32_t len;			/* of path, without its NUL */
	uint32_t dead;
	char path[];			/* NUL-terminated, padded to 8 */
};

static struct {
	uint8_t *base;
	size_t used, cap;
	int lock;
} inw;

static size_t rec_size(uint32_t len)
{
	return (sizeof(struct inw_rec) + len + 1 + 7) & ~(size_t)7;
}

static void inw_lock(uint64_t *old)
{
	uint64_t all = ~0ULL;

	sys_rt_sigprocmask(0 /* SIG_BLOCK */, &all, old);
	while (__atomic_exchange_n(&inw.lock, 1, __ATOMIC_ACQUIRE))
		sck_syscall0(__NR_sched_yield);
}

static void inw_unlock(const uint64_t *old)
{
	__atomic_store_n(&inw.lock, 0, __ATOMIC_RELEASE);
	sys_rt_sigprocmask(2 /* SIG_SETMASK */, old, NULL);
}

/* Room for need more bytes: drop dead records, then grow. 0 or -ENOMEM. */
static int inw_room(size_t need)
{
	size_t out = 0;

	if (inw.used + need <= inw.cap)
		return 0;
	for (size_t off = 0; off < inw.used;) {
		struct inw_rec *rec = (void *)(inw.base + off);
		size_t sz = rec_size(rec->len);

		if (!rec->dead) {
			if (out != off)
				__builtin_memmove(inw.base + out, rec, sz);
			out += sz;
		}
		off += sz;
	}
	inw.used = out;
	/* Half full or less after that: keep the size, else double it. */
	if (inw.used + need <= inw.cap && inw.used <= inw.cap / 2)
		return 0;
	size_t cap = inw.cap ? inw.cap * 2 : 64 << 10;

	while (cap < inw.used + need)
		cap *= 2;
	void *p = inw.base ? (void *)sys_mremap(inw.base, inw.cap, cap, 1 /* MAYMOVE */, NULL)
			   : sys_mmap(NULL, cap, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (sck_is_err((long)p))
		return -ENOMEM;
	if (!inw.base)
		sys_prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)p, cap,
			  (unsigned long)"selfckpt-inotify-paths");
	inw.base = p;
	inw.cap = cap;
	return 0;
}

static void inw_forget(int fd, int wd)
{
	for (size_t off = 0; off < inw.used;) {
		struct inw_rec *rec = (void *)(inw.base + off);

		if (rec->fd == fd && rec->wd == wd)
			rec->dead = 1;
		off += rec_size(rec->len);
	}
}

/* path made absolute (the cwd now), in out[SCK_MAX_PATH + 1]; its length or -1. */
static long absolute(const char *path, char *out)
{
	size_t n = sck_strlen(path), c = 0;

	if (path[0] != '/') {
		long r = sck_syscall2(__NR_getcwd, (long)out, SCK_MAX_PATH + 1);

		if (r <= 0 || out[0] != '/')
			return -1;
		c = sck_strlen(out);
		if (c > 1)
			out[c++] = '/';
		else
			c = 1;
	}
	if (c + n > SCK_MAX_PATH)
		return -1;
	__builtin_memcpy(out + c, path, n + 1);
	return (long)(c + n);
}

int selfckpt__inotify_add_watch(int (*real)(int, const char *, uint32_t), int fd,
				const char *path, uint32_t mask)
{
	char abs[SCK_MAX_PATH + 1];
	struct stat st;
	uint64_t old;
	long len;
	int wd;

	/* Blocked from before the call: no checkpoint between it and the record. */
	inw_lock(&old);
	wd = real(fd, path, mask);
	if (wd < 0 || !path) {
		inw_unlock(&old);
		return wd;
	}
	len = absolute(path, abs);
	if (len > 0 && sys_fstatat(SCK_AT_FDCWD, abs, &st,
				   (mask & SCK_IN_DONT_FOLLOW) ? SCK_AT_SYMLINK_NOFOLLOW : 0) == 0) {
		inw_forget(fd, wd);
		if (inw_room(rec_size((uint32_t)len)) == 0) {
			struct inw_rec *rec = (void *)(inw.base + inw.used);

			rec->dev = st.st_dev;
			rec->ino = st.st_ino;
			rec->fd = fd;
			rec->wd = wd;
			rec->len = (uint32_t)len;
			rec->dead = 0;
			__builtin_memcpy(rec->path, abs, (size_t)len + 1);
			inw.used += rec_size((uint32_t)len);
		}
	}
	inw_unlock(&old);
	return wd;
}

int selfckpt__inotify_rm_watch(int (*real)(int, int), int fd, int wd)
{
	uint64_t old;
	int r;

	inw_lock(&old);
	r = real(fd, wd);
	if (r == 0)
		inw_forget(fd, wd);
	inw_unlock(&old);
	return r;
}

/* ---- inotify at checkpoint ------------------------------------------------------- */

struct in_watch {
	struct sck_inotify_watch w;
	const char *path;
};

struct in_walk {
	struct sck_dump *d;
	const struct sck_fdx *x;
	struct in_watch *w;
	uint32_t n, cap;
	uint64_t data_len;
};

/* Does path lead to (dev, ino) now? Sets *flags for a symbolic link. */
static int leads_to(const char *path, uint64_t dev, uint64_t ino, uint32_t *flags)
{
	struct stat st;

	if (sys_fstatat(SCK_AT_FDCWD, path, &st, SCK_AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_ino == ino && st.st_dev == dev) {
		*flags = S_ISLNK(st.st_mode) ? SCK_INW_DONT_FOLLOW : 0;
		return 1;
	}
	if (sys_fstatat(SCK_AT_FDCWD, path, &st, 0) == 0 && st.st_ino == ino &&
	    st.st_dev == dev) {
		*flags = 0;
		return 1;
	}
	return 0;
}

/*
 * The path the registry knows for the inode (dev, ino) watched as wd on
 * instance fd, checked to lead there now; NULL if none does. *known: a
 * path was recorded for it, but leads elsewhere now.
 */
static const char *registry_path(int fd, int wd, uint64_t dev, uint64_t ino,
				 uint32_t *flags, uint64_t *st_dev, int *known)
{
	const char *found = NULL;

	*known = 0;
	for (size_t off = 0; off < inw.used && !found;) {
		struct inw_rec *rec = (void *)(inw.base + off);

		off += rec_size(rec->len);
		/*
		 * st_dev is the file system's device, as fdinfo's sdev, except
		 * where a file system gives each subvolume its own (btrfs): the
		 * instance and wd then say it is the same watch.
		 */
		if (rec->ino != ino || (rec->dev != dev && (rec->fd != fd || rec->wd != wd)))
			continue;
		*known = 1;
		if (leads_to(rec->path, rec->dev, ino, flags)) {
			found = rec->path;
			*st_dev = rec->dev;
		}
	}
	return found;
}

/*
 * An fd on the file system of device dev (sdev as the kernel encodes it),
 * for open_by_handle_at(); or -errno.
 */
static long mount_fd(uint64_t dev, uint64_t sdev)
{
	struct stat st;
	char buf[4096], want[32];
	long f, n, fd = -ENOENT;

	/* Not O_PATH: open_by_handle_at() does not take those. */
	if (sys_fstatat(SCK_AT_FDCWD, ".", &st, 0) == 0 && st.st_dev == dev)
		return sys_openat(SCK_AT_FDCWD, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	/* "36 35 98:0 /root /mnt ...": the mount point is the fifth field. */
	selfckpt__fmt(want, sizeof(want), " %u:%u ", (unsigned)(sdev >> 20),
		      (unsigned)(sdev & 0xfffff));
	f = sys_openat(SCK_AT_FDCWD, "/proc/self/mountinfo", O_RDONLY | O_CLOEXEC, 0);
	if (f < 0)
		return f;
	/* Only the first 4 KiB: enough for the mounts a process usually has. */
	n = sys_read((int)f, buf, sizeof(buf) - 1);
	sys_close((int)f);
	if (n <= 0)
		return -ENOENT;
	buf[n] = '\0';
	for (char *line = buf; *line && fd < 0;) {
		char *end = line;

		while (*end && *end != '\n')
			end++;
		char keep = *end;

		*end = '\0';
		const char *p = after(line, want);

		if (p) {
			char *mp = (char *)spaces(after(p, " ") ? after(p, " ") : p);
			char *e = mp;

			while (*e && *e != ' ')
				e++;
			*e = '\0';
			if (mp[0] == '/' && !after(mp, "\\"))
				fd = sys_openat(SCK_AT_FDCWD, mp,
						O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
		}
		*end = keep;
		line = *end ? end + 1 : end;
	}
	return fd;
}

static int unhex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * The path of the inode behind the file handle of an fdinfo line, by
 * open_by_handle_at() (CAP_DAC_READ_SEARCH) and /proc/self/fd; into out.
 */
static int handle_path(const char *line, uint64_t sdev, uint64_t dev,
		       uint64_t ino, char *out, uint32_t *flags)
{
	uint64_t bytes, type;
	const char *hex = after(line, "f_handle:");
	struct {
		uint32_t handle_bytes;
		int32_t handle_type;
		uint8_t h[128];
	} fh;
	char link[48];
	long mfd, fd, len;

	if (!hex || field(line, "fhandle-bytes:", 16, &bytes) ||
	    field(line, "fhandle-type:", 16, &type) || bytes > sizeof(fh.h))
		return -ENOENT;
	fh.handle_bytes = (uint32_t)bytes;
	fh.handle_type = (int32_t)type;
	for (uint64_t i = 0; i < bytes; i++) {
		int hi = unhex(hex[2 * i]), lo = hi < 0 ? -1 : unhex(hex[2 * i + 1]);

		if (lo < 0)
			return -ENOENT;
		fh.h[i] = (uint8_t)(hi << 4 | lo);
	}
	mfd = mount_fd(dev, sdev);
	if (mfd < 0)
		return (int)mfd;
	fd = sys_open_by_handle_at((int)mfd, &fh, O_PATH | O_CLOEXEC);
	sys_close((int)mfd);
	if (fd < 0)
		return (int)fd;
	selfckpt__fmt(link, sizeof(link), "/proc/self/fd/%ld", fd);
	len = sys_readlinkat(SCK_AT_FDCWD, link, out, SCK_MAX_PATH);
	sys_close((int)fd);
	if (len <= 0)
		return -ENOENT;
	out[len] = '\0';
	return out[0] == '/' && leads_to(out, dev, ino, flags) ? 0 : -ENOENT;
}

static int in_line(void *arg, char *line)
{
	struct in_walk *e = arg;
	uint64_t wd, ino, sdev, mask, dev, st_dev;
	uint32_t flags = 0;
	int known;

	if (!sck_starts_with(line, "inotify "))
		return 0;
	if (field(line, "wd:", 16, &wd) || field(line, "ino:", 16, &ino) ||
	    field(line, "sdev:", 16, &sdev) || field(line, " mask:", 16, &mask) ||
	    !wd || wd > 0x7fffffff)
		return sck_fail(EIO, "fd %d: cannot read the inotify watch \"%s\"", e->x->fd,
				line);
	if (e->n >= e->cap)
		return sck_fail(EAGAIN, "fd %d: watches were added to the inotify instance during the checkpoint",
				e->x->fd);
	if (!(mask & SCK_IN_ALL_EVENTS) ||
	    (mask & ~(uint64_t)(SCK_IN_ALL_EVENTS | SCK_IN_EXCL_UNLINK | SCK_IN_ONESHOT)))
		return sck_fail(EOPNOTSUPP, "fd %d is an inotify instance whose watch %llu has a mask (%llx) this library does not know: not supported",
				e->x->fd, (unsigned long long)wd, (unsigned long long)mask);
	dev = user_dev(sdev);
	st_dev = dev;
	const char *path = registry_path(e->x->fd, (int)wd, dev, ino, &flags, &st_dev, &known);

	if (!path) {
		char *buf = selfckpt__arena_alloc(&e->d->arena, SCK_MAX_PATH + 1, 8);

		if (!buf)
			return sck_fail(ENOMEM, "no checkpoint memory for inotify paths");
		if (handle_path(line, sdev, dev, ino, buf, &flags) == 0)
			path = buf;
	}
	if (!path && known)
		return sck_fail(EOPNOTSUPP, "fd %d is an inotify instance whose watch %llu (inode %llu on device %u:%u) was added by a path that now leads to another file or nowhere (renamed or removed since): not supported",
				e->x->fd, (unsigned long long)wd, (unsigned long long)ino,
				(unsigned)(sdev >> 20), (unsigned)(sdev & 0xfffff));
	if (!path)
		return sck_fail(EOPNOTSUPP, "fd %d is an inotify instance whose watch %llu (inode %llu on device %u:%u) has no known path: the library did not see it added (a statically linked program, a watch added before an exec) and finding a path from the inode needs CAP_DAC_READ_SEARCH: not supported",
				e->x->fd, (unsigned long long)wd, (unsigned long long)ino,
				(unsigned)(sdev >> 20), (unsigned)(sdev & 0xfffff));
	struct in_watch *w = &e->w[e->n++];

	w->w.wd = (int32_t)wd;
	w->w.mask = (uint32_t)mask;
	w->w.dev = st_dev;
	w->w.ino = ino;
	w->w.flags = flags;
	w->w.path_len = (uint32_t)sck_strlen(path);
	w->path = path;
	e->data_len += (sizeof(w->w) + w->w.path_len + 7) & ~(uint64_t)7;
	return 0;
}

static int cmp_watch_wd(const void *a, const void *b)
{
	const struct in_watch *x = a, *y = b;

	return (x->w.wd > y->w.wd) - (x->w.wd < y->w.wd);
}

int selfckpt__inotify_obj(struct sck_dump *d, const struct sck_fdx *x,
			  struct sck_fd *r)
{
	struct sck_obj o = { .kind = SCK_OBJ_INOTIFY, .ino = x->st.st_ino,
			     .state_len = sizeof(struct sck_obj_inotify) };
	struct sck_obj_inotify st = { 0 };
	struct in_walk e = { .d = d, .x = x };
	int queued = 0, ret;
	long n;

	/*
	 * Reading the events is the only way to see them, and it takes them
	 * from the process, which goes on after the checkpoint.
	 */
	ret = (int)sys_ioctl(x->fd, SCK_FIONREAD, &queued);
	if (ret < 0)
		return sck_fail(-ret, "fd %d: cannot see what its inotify instance holds: %s",
				x->fd, selfckpt__errname(-ret));
	if (queued > 0)
		return sck_fail(EOPNOTSUPP, "fd %d is an inotify instance with %d bytes of events not read yet, which cannot be saved without taking them from the process: read them before the checkpoint (not supported)",
				x->fd, queued);
	n = count_lines(x->fd, "inotify ");
	if (n < 0)
		return (int)n;
	e.cap = (uint32_t)n;
	e.w = selfckpt__arena_alloc(&d->arena, sizeof(*e.w) * (size_t)(n ? n : 1), 8);
	if (!e.w)
		return sck_fail(ENOMEM, "fd %d: no checkpoint memory for its %ld inotify watches",
				x->fd, n);
	ret = each_line(x->fd, in_line, &e);
	if (ret)
		return ret;
	/* By wd: restart gives the numbers back in increasing order. */
	sck_sort(e.w, e.n, sizeof(*e.w), cmp_watch_wd);
	uint8_t *data = selfckpt__arena_alloc(&d->arena, e.data_len ? e.data_len : 1, 8);

	if (!data)
		return sck_fail(ENOMEM, "fd %d: no checkpoint memory for its inotify watches",
				x->fd);
	uint64_t off = 0;

	for (uint32_t i = 0; i < e.n; i++) {
		__builtin_memcpy(data + off, &e.w[i].w, sizeof(e.w[i].w));
		__builtin_memcpy(data + off + sizeof(e.w[i].w), e.w[i].path,
				 e.w[i].w.path_len);
		off += (sizeof(e.w[i].w) + e.w[i].w.path_len + 7) & ~(uint64_t)7;
	}
	st.nwatches = e.n;
	o.data_len = e.data_len;
	ret = selfckpt__obj_add(d, &o, &st, data);
	if (ret < 0)
		return ret;
	note_obj(d, x, SCK_OBJ_INOTIFY, o.id, r);
	return 1;
}

/* ---- sizing ---------------------------------------------------------------------- */

uint64_t selfckpt__evl_plan(int fd)
{
	char name[48], target[64];
	long len, lines;

	selfckpt__fmt(name, sizeof(name), "/proc/self/fd/%d", fd);
	len = sys_readlinkat(SCK_AT_FDCWD, name, target, sizeof(target) - 1);
	if (len <= 0)
		return 0;
	target[len] = '\0';
	if (!sck_strcmp(target, "anon_inode:[eventpoll]")) {
		lines = count_lines(fd, "tfd:");
		return lines > 0 ? (uint64_t)(lines + lines / 4 + 64) * 2 *
					   sizeof(struct sck_epoll_watch)
				 : 0;
	}
	if (!sck_strcmp(target, "anon_inode:inotify")) {
		/* Each watch: its record, a path, and the path's buffer. */
		lines = count_lines(fd, "inotify ");
		return lines > 0 ? (uint64_t)(lines + lines / 4 + 64) *
					   (2 * (sizeof(struct sck_inotify_watch) + 8) +
					    2 * (SCK_MAX_PATH + 8) + sizeof(struct in_watch))
				 : 0;
	}
	return 0;
}

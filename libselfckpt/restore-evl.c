/*
 * restore-evl.c - restart: timerfd, signalfd, epoll and inotify instances
 * (res-evl.c saved them).
 *
 * Each is made in the launcher before the descriptors are placed
 * (restore-objs.c calls the make functions), except what needs the final
 * descriptor numbers or the final moment:
 *
 *  - epoll registrations name descriptors by number: they are made once
 *    every descriptor of the image is in place (selfckpt__rs_epoll_register,
 *    from selfckpt__rs_objects_done);
 *    registrations of signalfds are made by the restored process itself,
 *    in the restorer: a signalfd is ready for the process that polls it,
 *    and the launcher's registration would wait on the launcher's signals;
 *  - a timerfd is made disarmed here, and the restorer arms it as the very
 *    last thing before the process goes on (rst-main.c), so that reading
 *    the image's memory does not eat into the time that was left; its
 *    expirations not read yet come back with TFD_IOC_SET_TICKS, which this
 *    launcher checks the kernel has before giving anything up.
 *
 * inotify watches get their wd numbers back: the kernel allocates them
 * cyclically from 1 (idr_alloc_cyclic), so watches are added in increasing
 * wd order, and a gap is skipped by adding and removing a watch on a memfd
 * of our own as many times as the gap is wide; the IN_IGNORED events that
 * leaves, and any event of the real watches meanwhile, are read away at the
 * end, as events while the process was not running are lost anyway.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "restore.h"
#include "rst/rst.h"

/* More skipped wd numbers than this and the restart gives up (seconds). */
#define MAX_WD_GAPS (1u << 22)

static const char *clock_name(int32_t c)
{
	switch (c) {
	case CLOCK_REALTIME:
		return "realtime";
	case CLOCK_MONOTONIC:
		return "monotonic";
	case CLOCK_BOOTTIME:
		return "boottime";
	case CLOCK_REALTIME_ALARM:
		return "realtime-alarm";
	case CLOCK_BOOTTIME_ALARM:
		return "boottime-alarm";
	}
	return "?";
}

/* The descriptor the image puts object id at, or -1 if it places none. */
static int placed_fd(const struct rs *s, uint32_t id)
{
	for (uint32_t i = 0; i < s->img.nfds; i++) {
		const struct sck_fd *r = &s->img.fds[i];

		if (r->kind != SCK_FD_OBJ || r->obj_id != id)
			continue;
		/* fds 0-2 are the restart command's own with --stdio=inherit */
		if (r->fd <= 2 && s->o->stdio_inherit)
			continue;
		return r->fd;
	}
	return -1;
}

/* ---- timerfd ------------------------------------------------------------- */

int selfckpt__rs_make_timerfd(struct rs *s, const struct sck_img_obj *o, int *fd)
{
	const struct sck_obj_timerfd *st = (const void *)o->state;
	uint64_t zero = 0;

	*fd = timerfd_create(st->clockid, TFD_CLOEXEC);
	if (*fd < 0) {
		selfckpt__rs_msg(s, "cannot make a timerfd on the %s clock (object %u): %s%s",
				 clock_name(st->clockid), o->o.id, strerror(errno),
				 errno == EPERM ? " (alarm clocks need CAP_WAKE_ALARM)" : "");
		return -1;
	}
	/*
	 * Expirations not read yet need TFD_IOC_SET_TICKS, which kernels
	 * built without CONFIG_CHECKPOINT_RESTORE lack (ENOTTY); a count of
	 * 0 is refused (EINVAL) by those that have it. Asked now, while the
	 * restart can still stop with a message.
	 */
	if (st->ticks && ioctl(*fd, RST_TFD_IOC_SET_TICKS, &zero) < 0 && errno != EINVAL) {
		selfckpt__rs_msg(s, "this kernel cannot give a timerfd back the %llu expirations it had not read (object %u; TFD_IOC_SET_TICKS: %s; it needs CONFIG_CHECKPOINT_RESTORE)",
				 (unsigned long long)st->ticks, o->o.id, strerror(errno));
		close(*fd);
		*fd = -1;
		return -1;
	}
	return 0;
}

/*
 * The timerfds for the restorer to arm, into out (or only counted, with
 * out NULL). An absolute timer keeps its deadline on a wall clock, and on
 * the other clocks when this is the boot that wrote the image; after a
 * reboot, the monotonic and boot clocks started again, and it gets the
 * time that was left, as a relative timer does.
 */
uint32_t selfckpt__rs_timerfds(const struct rs *s, struct rst_timerfd *out)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < s->img.nobjs; i++) {
		const struct sck_img_obj *o = &s->img.objs[i];
		const struct sck_obj_timerfd *st = (const void *)o->state;
		int fd;

		if (o->o.kind != SCK_OBJ_TIMERFD || (fd = placed_fd(s, o->o.id)) < 0)
			continue;
		if (out) {
			struct rst_timerfd *t = &out[n];
			int wall = st->clockid == CLOCK_REALTIME ||
				   st->clockid == CLOCK_REALTIME_ALARM;

			memset(t, 0, sizeof(*t));
			t->fd = fd;
			t->clockid = st->clockid;
			t->flags = st->flags;
			t->interval_ns = st->interval_ns;
			t->ticks = st->ticks;
			t->value_ns = st->value_ns;
			if ((st->flags & SCK_TFD_ABSTIME) && st->value_ns) {
				if (wall || s->same_boot)
					t->value_ns = st->deadline_ns;
				else
					t->add_now = 1;
			}
		}
		n++;
	}
	return n;
}

/* ---- signalfd ------------------------------------------------------------ */

int selfckpt__rs_make_signalfd(struct rs *s, const struct sck_img_obj *o, int *fd)
{
	const struct sck_obj_signalfd *st = (const void *)o->state;
	sigset_t set;

	sigemptyset(&set);
	for (int sig = 1; sig <= 64; sig++)
		if ((st->mask & (1ULL << (sig - 1))) && sig != SIGKILL && sig != SIGSTOP)
			sigaddset(&set, sig);
	*fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (*fd < 0) {
		selfckpt__rs_msg(s, "cannot make a signalfd (object %u): %s", o->o.id,
				 strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- epoll --------------------------------------------------------------- */

int selfckpt__rs_make_epoll(struct rs *s, const struct sck_img_obj *o, int *fd)
{
	*fd = epoll_create1(EPOLL_CLOEXEC);
	if (*fd < 0) {
		selfckpt__rs_msg(s, "cannot make an epoll instance (object %u): %s", o->o.id,
				 strerror(errno));
		return -1;
	}
	return 0;
}

/* Bits epoll keeps of a one-shot registration once it fired (EP_PRIVATE_BITS). */
#define EP_PRIVATE (EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE)

static int ctl(struct rs *s, int efd, int op, const struct sck_epoll_watch *w,
	       uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u64 = w->data };

	if (epoll_ctl(efd, op, w->fd, &ev) == 0)
		return 0;
	selfckpt__rs_msg(s, "cannot register fd %d with the epoll instance of fd %d again (events %#x): %s",
			 w->fd, efd, w->events, strerror(errno));
	return -1;
}

/*
 * A one-shot registration that fired has no event bit left, which
 * epoll_ctl() cannot make: it always adds EPOLLERR and EPOLLHUP. So it is
 * registered for every event and made to fire, by an epoll_wait() while it
 * is the only registration that can report (the others are added after).
 * A file ready for nothing keeps EPOLLERR and EPOLLHUP.
 */
static int add_fired(struct rs *s, int efd, const struct sck_epoll_watch *w)
{
	struct epoll_event got;
	uint32_t all = EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLRDHUP;

	if (ctl(s, efd, EPOLL_CTL_ADD, w, w->events | all))
		return -1;
	if (epoll_wait(efd, &got, 1, 0) == 1 && got.data.u64 == w->data)
		return 0;
	return ctl(s, efd, EPOLL_CTL_MOD, w, w->events);
}

/* Is descriptor fd of the image a signalfd? */
static int is_signalfd(const struct rs *s, int fd)
{
	for (uint32_t i = 0; i < s->img.nfds; i++) {
		const struct sck_fd *r = &s->img.fds[i];

		if (r->fd == fd)
			return r->kind == SCK_FD_OBJ &&
			       s->img.objs[r->obj_id - 1].o.kind == SCK_OBJ_SIGNALFD;
	}
	return 0;
}

/*
 * The registrations of signalfds, which the restorer makes (rst.h), into
 * out (NULL: only count them). A fired one-shot one gets EPOLLERR and
 * EPOLLHUP, which a signalfd never reports.
 */
uint32_t selfckpt__rs_epoll_late(const struct rs *s, struct rst_epoll_add *out)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < s->img.nobjs; i++) {
		const struct sck_img_obj *o = &s->img.objs[i];
		const struct sck_epoll_watch *w = (const void *)o->data;
		const struct sck_obj_epoll *st = (const void *)o->state;
		int efd;

		if (o->o.kind != SCK_OBJ_EPOLL || (efd = placed_fd(s, o->o.id)) < 0)
			continue;
		for (uint32_t k = 0; k < st->nwatches; k++) {
			if (!is_signalfd(s, w[k].fd))
				continue;
			if (out)
				out[n] = (struct rst_epoll_add){ .epfd = efd, .fd = w[k].fd,
								 .events = w[k].events,
								 .data = w[k].data };
			n++;
		}
	}
	return n;
}

int selfckpt__rs_epoll_register(struct rs *s)
{
	for (int pass = 0; pass < 2; pass++)
		for (uint32_t i = 0; i < s->img.nobjs; i++) {
			const struct sck_img_obj *o = &s->img.objs[i];
			const struct sck_epoll_watch *w = (const void *)o->data;
			const struct sck_obj_epoll *st = (const void *)o->state;
			int efd;

			if (o->o.kind != SCK_OBJ_EPOLL || (efd = placed_fd(s, o->o.id)) < 0)
				continue;
			for (uint32_t k = 0; k < st->nwatches; k++) {
				int fired = (w[k].events & EPOLLONESHOT) &&
					    !(w[k].events & ~(uint32_t)EP_PRIVATE);

				/* The fired one-shot ones first, alone. */
				if (fired != !pass || is_signalfd(s, w[k].fd))
					continue;
				if (fired ? add_fired(s, efd, &w[k])
					  : ctl(s, efd, EPOLL_CTL_ADD, &w[k], w[k].events))
					return -1;
			}
		}
	return 0;
}

/* ---- inotify ------------------------------------------------------------- */

/* Read every queued event away (fd is non-blocking). */
static void drain(int fd)
{
	char buf[65536];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* Add and remove watches on our own memfd until the next wd is want. */
static int skip_to(struct rs *s, int fd, int *next, int want, int *gap_fd,
		   uint64_t *skipped)
{
	char path[64];

	if (*next == want)
		return 0;
	if (*gap_fd < 0) {
		*gap_fd = memfd_create("selfckpt-inotify-gap", MFD_CLOEXEC);
		if (*gap_fd < 0) {
			selfckpt__rs_msg(s, "cannot make a memfd to skip inotify watch numbers: %s",
					 strerror(errno));
			return -1;
		}
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", *gap_fd);
	while (*next < want) {
		if (++*skipped > MAX_WD_GAPS) {
			selfckpt__rs_msg(s, "an inotify watch had the number %d: reaching it would take more than %u watches added and removed",
					 want, MAX_WD_GAPS);
			return -1;
		}
		int wd = inotify_add_watch(fd, path, IN_ACCESS);

		if (wd != *next || inotify_rm_watch(fd, wd) < 0) {
			selfckpt__rs_msg(s, "cannot skip inotify watch number %d (got %d): %s",
					 *next, wd, wd < 0 ? strerror(errno) : "another number");
			return -1;
		}
		++*next;
		if (!(*next & 4095))
			drain(fd);	/* IN_IGNORED events: keep the queue short */
	}
	return 0;
}

int selfckpt__rs_make_inotify(struct rs *s, const struct sck_img_obj *o, int *fd)
{
	const struct sck_obj_inotify *st = (const void *)o->state;
	uint64_t off = 0, skipped = 0;
	int next = 1, gap_fd = -1, ret = -1;

	*fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (*fd < 0) {
		selfckpt__rs_msg(s, "cannot make an inotify instance (object %u): %s", o->o.id,
				 strerror(errno));
		return -1;
	}
	for (uint32_t i = 0; i < st->nwatches; i++) {
		struct sck_inotify_watch w;
		char path[SCK_MAX_PATH + 1];
		struct stat sb;

		memcpy(&w, o->data + off, sizeof(w));
		memcpy(path, o->data + off + sizeof(w), w.path_len);
		path[w.path_len] = '\0';
		off += (sizeof(w) + w.path_len + 7) & ~(uint64_t)7;
		if (skip_to(s, *fd, &next, w.wd, &gap_fd, &skipped))
			goto out;
		uint32_t mask = w.mask | ((w.flags & SCK_INW_DONT_FOLLOW) ? IN_DONT_FOLLOW : 0);
		int wd = inotify_add_watch(*fd, path, mask);

		if (wd < 0) {
			selfckpt__rs_msg(s, "cannot watch %s again (inotify watch %d): %s", path,
					 w.wd, strerror(errno));
			goto out;
		}
		if (wd != w.wd) {
			/* A lower number: two watches lead to one file now. */
			selfckpt__rs_msg(s, "cannot give the inotify watch on %s its number %d back: the kernel gave %d%s",
					 path, w.wd, wd,
					 wd < w.wd ? ", an earlier watch's: both paths lead to one file now"
						   : "");
			goto out;
		}
		next = wd + 1;
		if (s->same_boot &&
		    fstatat(AT_FDCWD, path, &sb,
			    (w.flags & SCK_INW_DONT_FOLLOW) ? AT_SYMLINK_NOFOLLOW : 0) == 0 &&
		    ((uint64_t)sb.st_ino != w.ino || (uint64_t)sb.st_dev != w.dev))
			selfckpt__rs_note(s, "warning: %s is not the file it was at the checkpoint (replaced since); inotify watch %d watches the new one",
					  path, w.wd);
	}
	drain(*fd);
	ret = 0;
out:
	if (gap_fd >= 0)
		close(gap_fd);
	if (ret) {
		close(*fd);
		*fd = -1;
	}
	return ret;
}

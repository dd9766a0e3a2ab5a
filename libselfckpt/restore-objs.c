/*
 * restore-objs.c - restart: kernel objects behind descriptors.
 *
 * Every OBJ record of the image is made again before the descriptors are
 * placed (restore-files.c): a pipe with its queued bytes written back, a
 * FIFO opened by its path and refilled, an eventfd with its counter, the
 * event-loop kinds of restore-evl.c, a socket (restore-sock.c). The
 * objects wait above the image's descriptors (helper_base); each FD record
 * of kind SCK_FD_OBJ then gets a descriptor on its object with its own
 * status flags, and what is left over is closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "restore.h"

/* Status flags F_SETFL sets (the rest of open_flags is fixed at open). */
#define SETFL_MASK (O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME)

static int write_all(int fd, const uint8_t *p, uint64_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (uint64_t)k;
	}
	return 0;
}

static const char *what(const struct rs *s, const struct sck_img_obj *o, char *b,
			size_t n)
{
	if (o->o.file_id && o->o.kind != SCK_OBJ_PIPE)
		snprintf(b, n, "%s", s->img.files[o->o.file_id - 1].path);
	else if (o->o.file_id)
		snprintf(b, n, "the FIFO %s", s->img.files[o->o.file_id - 1].path);
	else
		snprintf(b, n, "a %s (object %u)", selfckpt__obj_kind_name(o->o.kind),
			 o->o.id);
	return b;
}

/* A pipe, or a FIFO held open both ways, holding the image's bytes. */
static int make_pipe(struct rs *s, const struct sck_img_obj *o, struct rs_obj *ro)
{
	const struct sck_obj_pipe *st = (const void *)o->state;
	char w[SCK_MAX_PATH + 64];
	int wfd;

	if (o->o.file_id) {
		const char *path = s->img.files[o->o.file_id - 1].path;
		struct stat sb;
		int fd, queued = 0;

		/*
		 * A FIFO's bytes live as long as anyone has it open. If it holds
		 * some now, another process has it open (or had, and is still
		 * exiting, as the killed process may be): refilling would put
		 * the bytes there twice. Give an exiting holder a moment.
		 */
		for (int tries = 0;; tries++) {
			/* Read and write: opening either end alone could block. */
			fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
			if (fd < 0) {
				selfckpt__rs_msg(s, "cannot open the FIFO %s: %s", path,
						 strerror(errno));
				return -1;
			}
			if (fstat(fd, &sb) < 0 || !S_ISFIFO(sb.st_mode)) {
				selfckpt__rs_msg(s, "%s is no longer a FIFO", path);
				close(fd);
				return -1;
			}
			if (ioctl(fd, FIONREAD, &queued) < 0 || queued == 0)
				break;
			close(fd);
			if (tries == 40) {
				selfckpt__rs_msg(s, "the FIFO %s holds %d bytes already: another process has it open",
						 path, queued);
				return -1;
			}
			usleep(50000);
		}
		ro->fd[0] = ro->fd[1] = fd;
	} else {
		int p[2];

		if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
			selfckpt__rs_msg(s, "cannot make a pipe: %s", strerror(errno));
			return -1;
		}
		ro->fd[0] = p[0];
		ro->fd[1] = p[1];
	}
	wfd = ro->fd[1];
	long now = fcntl(wfd, F_GETPIPE_SZ);

	if (now >= 0 && (uint64_t)now != st->capacity &&
	    fcntl(wfd, F_SETPIPE_SZ, (int)st->capacity) < 0) {
		if (o->o.data_len > (uint64_t)now) {
			selfckpt__rs_msg(s, "%s held %llu bytes; this user may not make a pipe that big here (fs.pipe-max-size): %s",
					 what(s, o, w, sizeof(w)),
					 (unsigned long long)o->o.data_len, strerror(errno));
			return -1;
		}
		selfckpt__rs_note(s, "warning: %s had a size of %u bytes; it has %ld now (fs.pipe-max-size)",
				  what(s, o, w, sizeof(w)), st->capacity, now);
	}
	if (write_all(wfd, o->data, o->o.data_len)) {
		selfckpt__rs_msg(s, "cannot put the %llu bytes back into %s: %s",
				 (unsigned long long)o->o.data_len,
				 what(s, o, w, sizeof(w)), strerror(errno));
		return -1;
	}
	return 0;
}

static int make_eventfd(struct rs *s, const struct sck_img_obj *o,
			struct rs_obj *ro)
{
	const struct sck_obj_eventfd *st = (const void *)o->state;
	int fd = eventfd(0, EFD_CLOEXEC | (st->semaphore ? EFD_SEMAPHORE : 0));

	/* The count may exceed eventfd()'s unsigned int: written instead. */
	if (fd < 0 || (st->count && write_all(fd, (const void *)&st->count, 8))) {
		selfckpt__rs_msg(s, "cannot make an eventfd with count %llu: %s",
				 (unsigned long long)st->count, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	ro->fd[0] = fd;
	return 0;
}

int selfckpt__rs_make_objects(struct rs *s)
{
	const struct sck_image *img = &s->img;

	s->objs = calloc(img->nobjs ? img->nobjs : 1, sizeof(*s->objs));
	if (!s->objs) {
		selfckpt__rs_msg(s, "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < img->nobjs; i++)
		s->objs[i].fd[0] = s->objs[i].fd[1] = -1;
	for (uint32_t i = 0; i < img->nobjs; i++) {
		const struct sck_img_obj *o = &img->objs[i];
		struct rs_obj *ro = &s->objs[i];
		int ret = -1;

		switch (o->o.kind) {
		case SCK_OBJ_PIPE:
			ret = make_pipe(s, o, ro);
			break;
		case SCK_OBJ_EVENTFD:
			ret = make_eventfd(s, o, ro);
			break;
		case SCK_OBJ_TIMERFD:	/* restore-evl.c */
			ret = selfckpt__rs_make_timerfd(s, o, &ro->fd[0]);
			break;
		case SCK_OBJ_SIGNALFD:
			ret = selfckpt__rs_make_signalfd(s, o, &ro->fd[0]);
			break;
		case SCK_OBJ_EPOLL:
			ret = selfckpt__rs_make_epoll(s, o, &ro->fd[0]);
			break;
		case SCK_OBJ_INOTIFY:
			ret = selfckpt__rs_make_inotify(s, o, &ro->fd[0]);
			break;
		case SCK_OBJ_PTY:	/* and its slave, the pts object */
			ret = selfckpt__rs_make_pty(s, o, ro->fd);
			break;
		case SCK_OBJ_PTS:	/* made with its pty */
		case SCK_OBJ_TTY:	/* the restart command's own (stdio) */
			ret = 0;
			break;
		case SCK_OBJ_UNLINKED:
		case SCK_OBJ_MEMFD:
			ret = selfckpt__rs_make_ghost(s, o, &ro->fd[0]);
			break;
		case SCK_OBJ_UNIX:
		case SCK_OBJ_INET:
			ret = selfckpt__rs_make_socket(s, o, ro);
			break;
		}
		if (ret)
			return -1;
		/* Out of the way of the descriptors still to be placed. */
		int same = ro->fd[1] == ro->fd[0];

		if (selfckpt__rs_move_fd_up(s, &ro->fd[0]))
			return -1;
		if (same)
			ro->fd[1] = ro->fd[0];
		else if (selfckpt__rs_move_fd_up(s, &ro->fd[1]))
			return -1;
	}
	return 0;	/* queues: selfckpt__rs_sockets_finish, once fds are placed */
}

/* A new descriptor of its own on object end fd, opened afresh. */
static int reopen(struct rs *s, int fd, int flags)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int n = open(path, flags | O_CLOEXEC);

	if (n < 0)
		selfckpt__rs_msg(s, "cannot open %s again: %s", path, strerror(errno));
	return n;
}

int selfckpt__rs_obj_fd(struct rs *s, const struct sck_fd *r)
{
	const struct sck_img_obj *o = &s->img.objs[r->obj_id - 1];
	struct rs_obj *ro = &s->objs[r->obj_id - 1];
	int acc = (int)(r->open_flags & O_ACCMODE), n = -1;
	char w[SCK_MAX_PATH + 64];

	switch (o->o.kind) {
	case SCK_OBJ_PIPE:
		if (o->o.file_id) {
			/* Never blocks: the FIFO is held open both ways. */
			n = open(s->img.files[o->o.file_id - 1].path,
				 acc | O_NONBLOCK | O_CLOEXEC);
			if (n < 0)
				selfckpt__rs_msg(s, "cannot open %s for fd %d: %s",
						 what(s, o, w, sizeof(w)), r->fd,
						 strerror(errno));
			break;
		}
		if (acc == O_RDWR) {
			n = reopen(s, ro->fd[0], O_RDWR);
			break;
		}
		int end = acc == O_WRONLY;

		if (ro->used[end]++) {
			n = reopen(s, ro->fd[end], acc);
			break;
		}
		n = fcntl(ro->fd[end], F_DUPFD_CLOEXEC, 0);
		break;
	case SCK_OBJ_PTS:
		/* The slave, opened with its master (fd[1] of the pty object). */
		ro = &s->objs[((const struct sck_obj_pts *)(const void *)o->state)->master - 1];
		if (ro->used[1]++)
			n = reopen(s, ro->fd[1], acc | O_NOCTTY);
		else
			n = fcntl(ro->fd[1], F_DUPFD_CLOEXEC, 0);
		break;
	case SCK_OBJ_UNLINKED:
	case SCK_OBJ_MEMFD:
		n = selfckpt__rs_ghost_fd(s, o, r);	/* its own open, at its offset */
		break;
	default:
		n = fcntl(ro->fd[0], F_DUPFD_CLOEXEC, 0);
		break;
	}
	if (n < 0) {
		if (o->o.kind != SCK_OBJ_PIPE && o->o.kind != SCK_OBJ_PTS)
			selfckpt__rs_msg(s, "cannot place fd %d on %s: %s", r->fd,
					 what(s, o, w, sizeof(w)), strerror(errno));
		return -1;
	}
	if (fcntl(n, F_SETFL, (int)(r->open_flags & SETFL_MASK)) < 0) {
		selfckpt__rs_msg(s, "cannot set the flags of fd %d (%s): %s", r->fd,
				 what(s, o, w, sizeof(w)), strerror(errno));
		close(n);
		return -1;
	}
	return n;
}

int selfckpt__rs_objects_done(struct rs *s)
{
	/* Registrations name descriptors: all are in place now. */
	int ret = selfckpt__rs_epoll_register(s);

	selfckpt__rs_stdio_ttys(s);
	for (uint32_t i = 0; i < s->img.nobjs; i++) {
		struct rs_obj *ro = &s->objs[i];

		if (s->img.objs[i].o.kind == SCK_OBJ_PTY)
			selfckpt__rs_pty_done(s, &s->img.objs[i], ro->fd);
		if (ro->fd[1] >= 0 && ro->fd[1] != ro->fd[0])
			close(ro->fd[1]);
		if (ro->fd[0] >= 0)
			close(ro->fd[0]);
		ro->fd[0] = ro->fd[1] = -1;
	}
	selfckpt__rs_ghosts_placed(s);
	return ret;
}

/*
 * res-tty.c - terminals, at checkpoint.
 *
 * Two kinds of terminal can be saved (the restart side is restore-tty.c):
 *
 *  - A terminal on descriptors 0-2 that restart cannot give back, since
 *    it belongs to whoever ran the program (a pty of a terminal emulator,
 *    a console): those descriptors become the restart command's own (FD
 *    kind stdio), and an OBJ record of kind tty, which they name, keeps
 *    the settings the program had made (termios), its window size and
 *    whether the process was in the foreground of it, so that restart
 *    can put the program's modes back on its own terminal.
 *  - A pseudo-terminal pair the process opened itself (posix_openpt,
 *    openpty), with its master and its slave both open here: an OBJ
 *    record of kind pty (the master side, with the pair's settings, lock
 *    and packet mode) and one of kind pts (the slave side) that the
 *    descriptors name; restart opens a new pair. Bytes queued in the pair
 *    either way cannot be read without consuming them (a terminal has no
 *    MSG_PEEK, and writing them back would run them through the line
 *    discipline again): such a pair is refused, as is a pair that is the
 *    controlling terminal of a session or runs another line discipline.
 *
 * Any other terminal (one end of a pty whose other end is elsewhere, a
 * console, a serial line) on descriptor 3 or above is refused by name.
 * Which descriptors share an open file description (P15) is left to
 * res-file.c (kcmp), as for files.
 *
 * Async-signal-safe: raw system calls and the arena only. Every ioctl
 * used here only reads, except TIOCGPTPEER with O_PATH, which opens a
 * path descriptor of a pty's slave without calling the driver (nothing
 * of the terminal changes) and is closed at once.
 */
#define LOG_PREFIX "fd: "

#include <fcntl.h>
#include <linux/poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <linux/errno.h>

#include "internal.h"
#include "log.h"
#include "nolibc/fmt.h"
#include "objects.h"
#include "sys.h"

/* struct termios2 is struct sck_termios (image-format.h checks its size). */
#define SCK_TCGETS2 _IOR('T', 0x2A, struct sck_termios)

#define PTMX_MAJOR 5
#define PTMX_MINOR 2
#define PTS_MAJOR 136			/* 136-143: Unix98 pty slaves */

/* Terminal devices by major number (Documentation/admin-guide/devices.txt). */
static int is_terminal(dev_t rdev)
{
	unsigned ma = major(rdev);

	return ma == 4 || ma == 5 || (ma >= PTS_MAJOR && ma <= PTS_MAJOR + 7);
}

static int is_master(const struct sck_fdx *x)
{
	return S_ISCHR(x->st.st_mode) && major(x->st.st_rdev) == PTMX_MAJOR &&
	       minor(x->st.st_rdev) == PTMX_MINOR && !(x->fi.flags & O_PATH);
}

static int is_slave(const struct sck_fdx *x)
{
	unsigned ma = major(x->st.st_rdev);

	return S_ISCHR(x->st.st_mode) && ma >= PTS_MAJOR && ma <= PTS_MAJOR + 7 &&
	       !(x->fi.flags & O_PATH);
}

static uint32_t slave_index(dev_t rdev)
{
	return (major(rdev) - PTS_MAJOR) * 256 + minor(rdev);
}

/*
 * The slave of the pty whose master is open on fd m: its pts number, and
 * its device and file system (which devpts instance), which tell it apart
 * from a slave of the same number in another instance. The path
 * descriptor TIOCGPTPEER (Linux 4.13) opens with O_PATH runs no driver
 * code. Before 4.13, only the number: *dev stays 0.
 */
struct peer {
	uint32_t index;
	uint64_t dev, rdev;
};

static int pty_peer(int m, struct peer *p)
{
	unsigned int idx = 0;
	struct stat st;
	long r = sys_ioctl(m, TIOCGPTN, &idx);

	if (r < 0)
		return (int)r;
	p->index = idx;
	p->dev = p->rdev = 0;
	r = sys_ioctl(m, TIOCGPTPEER, (void *)(long)(O_PATH | O_NOCTTY | O_CLOEXEC));
	if (r >= 0) {
		if (sys_fstat((int)r, &st) == 0) {
			p->dev = st.st_dev;
			p->rdev = st.st_rdev;
		}
		sys_close((int)r);
	}
	return 0;
}

static int peer_is(const struct peer *p, const struct sck_fdx *s)
{
	if (p->dev)
		return s->st.st_dev == p->dev && s->st.st_rdev == p->rdev;
	return slave_index(s->st.st_rdev) == p->index;
}

/* The first descriptor on the slave of master m, or NULL. */
static const struct sck_fdx *find_slave(const struct sck_fdx *all, int n,
					const struct peer *p)
{
	for (int i = 0; i < n; i++)
		if (is_slave(&all[i]) && peer_is(p, &all[i]))
			return &all[i];
	return NULL;
}

/* The first descriptor on the master of slave s, or NULL. */
static const struct sck_fdx *find_master(const struct sck_fdx *all, int n,
					 const struct sck_fdx *s, struct peer *p)
{
	for (int i = 0; i < n; i++)
		if (is_master(&all[i]) && pty_peer(all[i].fd, p) == 0 && peer_is(p, s))
			return &all[i];
	return NULL;
}

/* An object of this checkpoint by kind and key, or NULL. */
static const struct sck_dump_obj *find_obj(const struct sck_dump *d, uint32_t kind,
					   uint64_t dev, uint64_t ino)
{
	for (uint32_t i = 0; i < d->nobjs; i++)
		if (d->objs[i].kind == kind && d->objs[i].dev == dev &&
		    d->objs[i].ino == ino)
			return &d->objs[i];
	return NULL;
}

static int add(struct sck_dump *d, struct sck_obj *o, const void *state, int fd,
	       uint64_t dev, uint64_t ino)
{
	int id = selfckpt__obj_add(d, o, state, NULL);

	if (id < 0)
		return id;
	struct sck_dump_obj *m = &d->objs[id - 1];

	m->dev = dev;
	m->ino = ino;
	m->id = (uint32_t)id;
	m->kind = o->kind;
	m->fd = fd;
	return id;
}

/* The settings and window size of terminal fd; 0 or -errno. */
static int settings(int fd, struct sck_termios *t, struct sck_winsize *ws)
{
	long r = sys_ioctl(fd, SCK_TCGETS2, t);

	if (r < 0)
		return (int)r;
	/* A terminal without a size (a serial line) says 0x0, or nothing. */
	if (sys_ioctl(fd, TIOCGWINSZ, ws) < 0)
		__builtin_memset(ws, 0, sizeof(*ws));
	return 0;
}

/* ---- a pseudo-terminal pair of the process -------------------------------- */

/*
 * Refuse what cannot be made again: a pair that is a session's controlling
 * terminal, another line discipline, bytes queued either way.
 */
static int pty_check(const struct sck_fdx *m, const struct sck_fdx *s,
		     uint32_t index)
{
	int v = 0, q = 0;
	long r;

	/*
	 * On the master, TIOCGSID answers for the slave, whoever's controlling
	 * terminal it is (a session restart cannot give it back).
	 */
	if (sys_ioctl(m->fd, TIOCGSID, &v) == 0)
		return sck_fail(EOPNOTSUPP,
				"fd %d is a pseudo-terminal (/dev/pts/%u) that is the controlling terminal of a session (%d): not supported",
				s->fd, index, v);
	if (sys_ioctl(s->fd, TIOCGETD, &v) == 0 && v != 0)
		return sck_fail(EOPNOTSUPP,
				"fd %d is a pseudo-terminal (/dev/pts/%u) with line discipline %d: not supported",
				s->fd, index, v);
	/*
	 * A poll that finds nothing first pushes what the kernel still holds
	 * between the two sides (n_tty_poll flushes the port's buffer), so
	 * that FIONREAD counts it. In canonical mode the slave counts whole
	 * lines only: a line typed without its end is not seen (and is lost).
	 */
	struct pollfd pf[2] = { { m->fd, POLLIN | POLLPRI, 0 }, { s->fd, POLLIN, 0 } };
	struct __kernel_timespec zero = { 0, 0 };

	r = sys_ppoll(pf, 2, &zero);
	if (r < 0)
		return sck_fail((int)-r, "fd %d: cannot poll its pseudo-terminal: %s", m->fd,
				selfckpt__errname((int)-r));
	if (pf[0].revents & (POLLIN | POLLPRI)) {
		sys_ioctl(m->fd, FIONREAD, &q);
		if (q == 0)
			return sck_fail(EOPNOTSUPP,
					"fd %d is a pseudo-terminal master (/dev/pts/%u) in packet mode with a status change not yet read: not supported (read it before the checkpoint)",
					m->fd, index);
		return sck_fail(EOPNOTSUPP,
				"fd %d is a pseudo-terminal master (/dev/pts/%u) with %d bytes not yet read: bytes queued in a terminal cannot be saved (read them before the checkpoint)",
				m->fd, index, q);
	}
	if (pf[1].revents & POLLIN) {
		sys_ioctl(s->fd, FIONREAD, &q);
		return sck_fail(EOPNOTSUPP,
				"fd %d is a pseudo-terminal (/dev/pts/%u) with input not yet read (%d bytes): bytes queued in a terminal cannot be saved (read them before the checkpoint)",
				s->fd, index, q);
	}
	return 0;
}

/* Record the pair of master m and slave s (objects pty, then pts). */
static int pty_add(struct sck_dump *d, const struct sck_fdx *m,
		   const struct sck_fdx *s, uint32_t index)
{
	struct sck_obj o = { .kind = SCK_OBJ_PTY, .ino = index,
			     .state_len = sizeof(struct sck_obj_pty) };
	struct sck_obj_pty st = { .index = index };
	int v, ret = pty_check(m, s, index);

	if (ret)
		return ret;
	ret = settings(s->fd, &st.t, &st.ws);
	if (ret)
		return sck_fail(-ret, "fd %d: cannot read the settings of its pseudo-terminal: %s",
				s->fd, selfckpt__errname(-ret));
	/* Linux 3.8; before, no one can tell, and the defaults are these. */
	if (sys_ioctl(m->fd, TIOCGPTLCK, &v) == 0 && v)
		st.flags |= SCK_PTYF_LOCKED;
	if (sys_ioctl(m->fd, TIOCGPKT, &v) == 0 && v)
		st.flags |= SCK_PTYF_PACKET;
	if (sys_ioctl(s->fd, TIOCGEXCL, &v) == 0 && v)
		st.flags |= SCK_PTYF_EXCL;
	ret = add(d, &o, &st, m->fd, s->st.st_dev, index);
	if (ret < 0)
		return ret;

	struct sck_obj so = { .kind = SCK_OBJ_PTS, .ino = s->st.st_ino,
			      .state_len = sizeof(struct sck_obj_pts) };
	struct sck_obj_pts sst = { .master = (uint32_t)ret };

	ret = add(d, &so, &sst, s->fd, s->st.st_dev, index);
	return ret < 0 ? ret : 0;
}

/*
 * Descriptor x on the pair of master m and slave s: its FD record names
 * the pty object (the master) or the pts object (the slave).
 */
static int pty_fd(struct sck_dump *d, const struct sck_fdx *m,
		  const struct sck_fdx *s, uint32_t index, const struct sck_fdx *x,
		  struct sck_fd *r)
{
	const struct sck_dump_obj *o = find_obj(d, SCK_OBJ_PTY, s->st.st_dev, index);

	if (!o) {
		int ret = pty_add(d, m, s, index);

		if (ret)
			return ret;
		o = find_obj(d, SCK_OBJ_PTY, s->st.st_dev, index);
	}
	r->kind = SCK_FD_OBJ;
	r->obj_id = is_master(x) ? o->id
				 : find_obj(d, SCK_OBJ_PTS, s->st.st_dev, index)->id;
	return 1;
}

/* ---- a terminal on stdio ---------------------------------------------------- */

/*
 * Was the process in the foreground of its controlling terminal? Compared
 * as this process sees the ids: after a restart in a PID namespace, its
 * process group and the terminal's foreground group are both outside it
 * and read 0, and then no one can tell (neither flag).
 */
static uint32_t job_flags(int fd)
{
	int fg = 0;
	long mine;

	if (sys_ioctl(fd, TIOCGPGRP, &fg) < 0)
		return 0;	/* not its controlling terminal: no job control */
	mine = sys_getpgid(0);
	if (mine < 0 || (fg == 0 && mine == 0))
		return SCK_TTYF_CTTY;
	return SCK_TTYF_CTTY | (fg == mine ? SCK_TTYF_FOREGROUND : SCK_TTYF_BACKGROUND);
}

static int stdio_tty(struct sck_dump *d, const struct sck_fdx *x, struct sck_fd *r)
{
	const struct sck_dump_obj *known = find_obj(d, SCK_OBJ_TTY, 0, x->st.st_rdev);
	struct sck_obj o = { .kind = SCK_OBJ_TTY, .ino = x->st.st_ino,
			     .state_len = sizeof(struct sck_obj_tty) };
	struct sck_obj_tty st = { .rdev_major = major(x->st.st_rdev),
				  .rdev_minor = minor(x->st.st_rdev) };
	int id;

	r->kind = SCK_FD_STDIO;
	r->stdio_kind = SCK_STDIO_TTY;
	if (known) {
		r->obj_id = known->id;
		return 1;
	}
	id = settings(x->fd, &st.t, &st.ws);
	if (id < 0) {
		/* Still the restart command's terminal, with its own settings. */
		sck_warn("fd %d: cannot read the terminal's settings (%s): they will not be reapplied at restart",
			 x->fd, selfckpt__errname(-id));
		return 1;
	}
	st.flags = job_flags(x->fd);
	id = add(d, &o, &st, x->fd, 0, x->st.st_rdev);
	if (id < 0)
		return id;
	r->obj_id = (uint32_t)id;
	return 1;
}

/* ---- the dispatcher --------------------------------------------------------- */

int selfckpt__tty_fd(struct sck_dump *d, const struct sck_fdx *all, int n,
		     const struct sck_fdx *x, struct sck_fd *r)
{
	struct peer p = { 0, 0, 0 };

	struct sck_termios t;

	if (!S_ISCHR(x->st.st_mode) || (x->fi.flags & O_PATH))
		return 0;	/* res-file.c decides */
	/*
	 * Terminals by major number; on stdio also any other device that
	 * answers TCGETS2 as a terminal does (a USB serial line, a
	 * console of another driver): it is the restart command's own.
	 */
	if (!is_terminal(x->st.st_rdev) &&
	    (x->fd > 2 || sys_ioctl(x->fd, SCK_TCGETS2, &t) < 0))
		return 0;
	if (is_master(x)) {
		const struct sck_fdx *s;
		int ret = pty_peer(x->fd, &p);

		if (ret < 0)
			return sck_fail(-ret, "fd %d: cannot tell which pseudo-terminal it is the master of: %s",
					x->fd, selfckpt__errname(-ret));
		s = find_slave(all, n, &p);
		if (!s)
			return sck_fail(EOPNOTSUPP,
					"fd %d is a pseudo-terminal master whose slave (/dev/pts/%u) is not open in this process (another process may hold it): not supported",
					x->fd, p.index);
		return pty_fd(d, x, s, p.index, x, r);
	}
	if (is_slave(x)) {
		const struct sck_fdx *m = find_master(all, n, x, &p);

		if (m)
			return pty_fd(d, m, x, p.index, x, r);
		if (x->fd > 2)
			return sck_fail(EOPNOTSUPP,
					"fd %d is a terminal whose pseudo-terminal master is not in this process (%s): not supported",
					x->fd, x->target);
	}
	if (x->fd <= 2)
		return stdio_tty(d, x, r);
	return sck_fail(EOPNOTSUPP, "fd %d is a terminal (%s): not supported", x->fd,
			x->target);
}

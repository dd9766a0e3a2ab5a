/*
 * restore-tty.c - restart: terminals (res-tty.c saved them).
 *
 * A pseudo-terminal pair the process had opened is opened again: a new
 * master on /dev/ptmx, its slave, the slave's settings (every termios
 * field: the pair is the program's own), its window size and packet
 * mode. The new pair has the number the kernel gives it, not the old
 * one (a note says so). Locking it (TIOCSPTLCK) and exclusive mode
 * (TIOCEXCL) would stop the slave from being opened again for a second
 * descriptor on it: they are set once every descriptor is placed.
 *
 * A terminal on stdio is the restart command's own; the program gets
 * back the modes it had set on the old one, the input, output and local
 * flags and the control characters (raw mode, no echo...), but not the
 * line settings of the control flags (speed, character size, parity),
 * which belong to the new terminal. Nothing is changed when the process
 * was in the background of its terminal at the checkpoint (the settings
 * were the foreground job's), nor when they are the same already, so
 * that a restart in the background of its terminal does not stop on
 * SIGTTOU for nothing; when they differ, such a restart stops as any
 * background job that changes its terminal's modes does, until it is
 * brought to the foreground. They are set last, just before the jump to
 * the restorer (restore.c, go()), so that a restart that fails before
 * leaves the terminal as it was. The window size is the new terminal's;
 * when it differs from the old one, the program gets a SIGWINCH after
 * the restart, as if the window had been resized.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "restore.h"

/* struct termios2 is struct sck_termios (image-format.h checks its size). */
#define SCK_TCGETS2 _IOR('T', 0x2A, struct sck_termios)
#define SCK_TCSETS2 _IOW('T', 0x2B, struct sck_termios)

/* The access mode of the first descriptor of object id, or def. */
static int acc_of(const struct sck_image *img, uint32_t id, int def)
{
	for (uint32_t i = 0; i < img->nfds; i++)
		if (img->fds[i].kind == SCK_FD_OBJ && img->fds[i].obj_id == id)
			return (int)(img->fds[i].open_flags & O_ACCMODE);
	return def;
}

/* The pts object of pty object id, or NULL. */
static const struct sck_img_obj *slave_of(const struct sck_image *img, uint32_t id)
{
	for (uint32_t i = 0; i < img->nobjs; i++) {
		const struct sck_img_obj *o = &img->objs[i];

		if (o->o.kind == SCK_OBJ_PTS &&
		    ((const struct sck_obj_pts *)(const void *)o->state)->master == id)
			return o;
	}
	return NULL;
}

int selfckpt__rs_make_pty(struct rs *s, const struct sck_img_obj *o, int fd[2])
{
	const struct sck_obj_pty *st = (const void *)o->state;
	const struct sck_img_obj *pts = slave_of(&s->img, o->o.id);
	int sflags = acc_of(&s->img, pts ? pts->o.id : 0, O_RDWR) | O_NOCTTY;
	unsigned int idx = 0;
	int zero = 0;
	char path[64];

	fd[0] = open("/dev/ptmx", acc_of(&s->img, o->o.id, O_RDWR) | O_NOCTTY | O_CLOEXEC);
	if (fd[0] < 0) {
		selfckpt__rs_msg(s, "cannot open /dev/ptmx for the pseudo-terminal /dev/pts/%u: %s",
				 st->index, strerror(errno));
		return -1;
	}
	if (ioctl(fd[0], TIOCSPTLCK, &zero) < 0 || ioctl(fd[0], TIOCGPTN, &idx) < 0) {
		selfckpt__rs_msg(s, "cannot unlock a new pseudo-terminal: %s", strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "/dev/pts/%u", idx);
	/*
	 * Linux 4.13: the slave of this very master, whatever /dev/pts is.
	 * Not with O_CLOEXEC: TIOCGPTPEER keeps it among the file's flags,
	 * where fdinfo shows it even after FD_CLOEXEC is cleared.
	 */
	fd[1] = ioctl(fd[0], TIOCGPTPEER, sflags);
	if (fd[1] < 0 && (errno == EINVAL || errno == ENOTTY))
		fd[1] = open(path, sflags);
	if (fd[1] < 0 || fcntl(fd[1], F_SETFD, FD_CLOEXEC) < 0) {
		selfckpt__rs_msg(s, "cannot open %s, the slave of a new pseudo-terminal: %s",
				 path, strerror(errno));
		return -1;
	}
	struct winsize ws = { st->ws.rows, st->ws.cols, st->ws.xpixel, st->ws.ypixel };
	int one = 1;

	if (ioctl(fd[1], SCK_TCSETS2, &st->t) < 0 || ioctl(fd[1], TIOCSWINSZ, &ws) < 0 ||
	    ((st->flags & SCK_PTYF_PACKET) && ioctl(fd[0], TIOCPKT, &one) < 0)) {
		selfckpt__rs_msg(s, "cannot give %s the settings of /dev/pts/%u: %s", path,
				 st->index, strerror(errno));
		return -1;
	}
	if (idx != st->index)
		selfckpt__rs_note(s, "note: the pseudo-terminal /dev/pts/%u is /dev/pts/%u now",
				  st->index, idx);
	return 0;
}

void selfckpt__rs_pty_done(struct rs *s, const struct sck_img_obj *o, const int fd[2])
{
	const struct sck_obj_pty *st = (const void *)o->state;
	int one = 1;

	if (fd[0] < 0 || fd[1] < 0)
		return;
	if (((st->flags & SCK_PTYF_EXCL) && ioctl(fd[1], TIOCEXCL) < 0) ||
	    ((st->flags & SCK_PTYF_LOCKED) && ioctl(fd[0], TIOCSPTLCK, &one) < 0))
		selfckpt__rs_note(s, "warning: cannot lock the pseudo-terminal that was /dev/pts/%u: %s",
				  st->index, strerror(errno));
}

/* ---- the restart command's own terminal ------------------------------------ */

/*
 * The settings go() gives the restart command's terminals, as late as it
 * can: a restart that fails before that leaves them as they were.
 */
static struct {
	int fd;
	struct sck_termios t;
} pending[3];
static int npending;

/* The modes of st on terminal fd, whose settings are now, if they differ. */
static void reapply(struct rs *s, int fd, const struct sck_obj_tty *st,
		    const struct sck_termios *now)
{
	struct sck_termios t = *now;

	t.iflag = st->t.iflag;
	t.oflag = st->t.oflag;
	t.lflag = st->t.lflag;
	memcpy(t.cc, st->t.cc, sizeof(t.cc));
	if (!memcmp(&t, now, sizeof(t)) || npending == 3)
		return;
	pending[npending].fd = fd;
	pending[npending++].t = t;
	if (s->o->verbose)
		selfckpt__rs_note(s, "the terminal on fd %d gets the program's settings again", fd);
}

void selfckpt__rs_tty_modes(struct rs *s)
{
	/* In the background of its terminal: stopped by SIGTTOU until fg. */
	for (int i = 0; i < npending; i++)
		if (ioctl(pending[i].fd, SCK_TCSETS2, &pending[i].t) < 0)
			selfckpt__rs_note(s, "warning: cannot give the terminal on fd %d the program's settings: %s",
					  pending[i].fd, strerror(errno));
	npending = 0;
}

/* "fd 0", "fds 0 and 2", "fds 0, 1 and 2". */
static void fd_list(const int *fds, int n, char *b, size_t len)
{
	int k = snprintf(b, len, "fd%s %d", n > 1 ? "s" : "", fds[0]);

	for (int i = 1; i < n && k > 0 && (size_t)k < len; i++)
		k += snprintf(b + k, len - (size_t)k, "%s%d", i == n - 1 ? " and " : ", ",
			      fds[i]);
}

/* One terminal of the image: reapply its settings where stdio is one now. */
static void stdio_tty(struct rs *s, const struct sck_img_obj *o)
{
	const struct sck_obj_tty *st = (const void *)o->state;
	int fds[3], n = 0, terminals = 0;
	dev_t seen[3];

	for (uint32_t i = 0; i < s->img.nfds && n < 3; i++)
		if (s->img.fds[i].kind == SCK_FD_STDIO && s->img.fds[i].obj_id == o->o.id)
			fds[n++] = s->img.fds[i].fd;
	for (int i = 0; i < n; i++) {
		struct sck_termios now;
		struct winsize ws;
		struct stat sb;
		int again = 0;

		if (ioctl(fds[i], SCK_TCGETS2, &now) < 0 || fstat(fds[i], &sb) < 0)
			continue;	/* not a terminal here */
		for (int k = 0; k < terminals; k++)
			again |= seen[k] == sb.st_rdev;
		if (again)
			continue;
		seen[terminals++] = sb.st_rdev;
		if (!(st->flags & SCK_TTYF_BACKGROUND))
			reapply(s, fds[i], st, &now);
		else if (s->o->verbose)
			selfckpt__rs_note(s, "the program was in the background of its terminal: the settings of the terminal on fd %d stay as they are",
					  fds[i]);
		/* Its size is right as it is; the program may want to know it. */
		if (ioctl(fds[i], TIOCGWINSZ, &ws) == 0 &&
		    (ws.ws_row != st->ws.rows || ws.ws_col != st->ws.cols))
			s->raise |= 1ULL << (SIGWINCH - 1);
	}
	if (!terminals && n) {
		char b[64];

		fd_list(fds, n, b, sizeof(b));
		selfckpt__rs_note(s, "note: %s %s a terminal at the checkpoint and %s not here: the program's terminal settings are not reapplied",
				  b, n > 1 ? "were" : "was", n > 1 ? "are" : "is");
	}
}

void selfckpt__rs_stdio_ttys(struct rs *s)
{
	for (uint32_t i = 0; i < s->img.nobjs; i++)
		if (s->img.objs[i].o.kind == SCK_OBJ_TTY)
			stdio_tty(s, &s->img.objs[i]);
}

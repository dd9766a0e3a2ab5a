/*
 * res-lenient.c - lenient checkpoints: a documented substitute instead of
 * a refusal (issue 5's leak detection, "so that users can choose
 * knowingly").
 *
 * With SELFCKPT_LENIENT (the flag, or SELFCKPT_LENIENT=1 in the
 * environment when the library is loaded), a descriptor that res-file.c
 * or res-obj.c refuses (ENOTSUP: a socket, a timerfd, one end of a pipe
 * to another process...) is recorded as /dev/null instead: same number,
 * access mode, O_NONBLOCK, O_APPEND and close-on-exec. A NOTE record says
 * which descriptor and why, and the header gets SCK_HDR_LENIENT, so that
 * `selfckpt info` shows what the restarted program will not have. Only
 * descriptors: a mapping, a child process or a timer still fails the
 * checkpoint.
 *
 * Async-signal-safe: raw system calls and the arena only (the variable is
 * read when the library is loaded).
 */
#define LOG_PREFIX "fd: "

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <linux/errno.h>

#include "internal.h"
#include "log.h"
#include "nolibc/fmt.h"
#include "nolibc/str.h"
#include "objects.h"
#include "sys.h"

static int lenient_env;

__attribute__((constructor(101))) static void lenient_from_env(void)
{
	const char *s = getenv("SELFCKPT_LENIENT");

	lenient_env = s && !strcmp(s, "1");
}

int selfckpt__lenient(const struct sck_dump *d)
{
	return lenient_env || (d->flags & SELFCKPT_LENIENT);
}

int selfckpt__lenient_fd(struct sck_dump *d, const struct sck_fdx *x,
			 struct sck_fd *r)
{
	const char *why = selfckpt_last_error();
	struct sck_file f = { 0 };
	struct stat st;
	char note[SCK_MAX_PATH + 600];
	long ret;

	if (sck_starts_with(why, LOG_PREFIX))
		why += sizeof(LOG_PREFIX) - 1;
	ret = sys_fstatat(-100, "/dev/null", &st, 0);
	if (ret < 0 || !S_ISCHR(st.st_mode))
		return sck_fail(EOPNOTSUPP, "no /dev/null to stand in for fd %d", x->fd);
	f.kind = SCK_FILE_CHR;
	f.dev = st.st_dev;
	f.ino = st.st_ino;
	f.mode = st.st_mode;
	f.rdev = st.st_rdev;
	ret = selfckpt__file_add(d, &f, "/dev/null");
	if (ret < 0)
		return (int)ret;
	*r = (struct sck_fd){ .fd = x->fd, .kind = SCK_FD_DEV,
			      .open_flags = x->fi.flags & (O_ACCMODE | O_NONBLOCK | O_APPEND),
			      .fd_flags = (x->fi.flags & O_CLOEXEC) ? FD_CLOEXEC : 0,
			      .file_id = (uint32_t)ret };
	if ((r->open_flags & O_ACCMODE) == O_ACCMODE)
		r->open_flags &= ~(uint32_t)O_ACCMODE;	/* 3: ioctl-only opens */
	int n = selfckpt__fmt(note, sizeof(note), "fd %d becomes /dev/null at restart: %s",
			      x->fd, why);
	struct sck_part part = { note, (size_t)n };

	if (selfckpt__meta_add(&d->meta, SCK_REC_NOTE, 0, &part, 1, NULL))
		return sck_fail(ENOMEM, "metadata buffer full");
	d->hdr->flags |= SCK_HDR_LENIENT;
	sck_warn("lenient: %s", note);
	selfckpt__clear_error();
	return 0;
}

/*
 * restore-flock.c - restart: the file locks of the image (LOCK records).
 *
 * Every lock is taken again before the program runs, never blocking: if
 * another process holds a conflicting one two seconds long (the process
 * killed before the restart may still be exiting), the restart fails
 * naming the file and the range, since a program that believes it holds a
 * lock and does not would corrupt what the lock protects.
 *
 * Where each kind is taken (P15):
 *
 *   - flock() and OFD locks belong to the open file description: taken in
 *     the process that becomes the program, once the descriptors are
 *     placed (go() in restore.c); they stay with the description whatever
 *     other processes of the restart machinery close;
 *   - POSIX (fcntl) locks belong to the process and go as soon as it
 *     closes any descriptor of the file: the process that becomes the
 *     program first checks that nobody holds them (F_GETLK), and the
 *     restorer takes them after it has closed its helper descriptors, a
 *     mapped file's among them (rst-main.c take_locks).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "restore.h"
#include "rst/rst.h"

static const char *lock_path(const struct rs *s, int32_t fd)
{
	for (uint32_t i = 0; i < s->img.nfds; i++) {
		const struct sck_fd *r = &s->img.fds[i];

		if (r->fd != fd)
			continue;
		if (r->kind == SCK_FD_OBJ)
			return s->img.files[s->img.objs[r->obj_id - 1].o.file_id - 1].path;
		return s->img.files[r->file_id - 1].path;
	}
	return "?";
}

/* "the write lock on /path (bytes 0-99)", for messages. */
static int lock_what(const struct rs *s, const struct sck_lock *l, char *b, size_t n)
{
	const char *type = l->type == SCK_LOCK_WRITE ? "write" : "read";
	const char *path = lock_path(s, l->fd);
	char range[64];

	if (l->end == SCK_LOCK_EOF)
		snprintf(range, sizeof(range), "bytes %llu to the end",
			 (unsigned long long)l->start);
	else
		snprintf(range, sizeof(range), "bytes %llu-%llu",
			 (unsigned long long)l->start, (unsigned long long)l->end);
	switch (l->kind) {
	case SCK_LOCK_FLOCK:
		return snprintf(b, n, "the flock() %s lock on %s", type, path);
	case SCK_LOCK_OFD:
		return snprintf(b, n, "the %s lock on %s (%s, open file description lock)",
				type, path, range);
	default:
		return snprintf(b, n, "the %s lock on %s (%s)", type, path, range);
	}
}

static void to_flock(const struct sck_lock *l, struct flock *fl)
{
	memset(fl, 0, sizeof(*fl));
	fl->l_type = l->type == SCK_LOCK_WRITE ? F_WRLCK : F_RDLCK;
	fl->l_whence = SEEK_SET;
	fl->l_start = (off_t)l->start;
	fl->l_len = l->end == SCK_LOCK_EOF ? 0 : (off_t)(l->end - l->start + 1);
}

/* 0 taken (POSIX: free), -1 with errno. */
static int try_one(const struct sck_lock *l)
{
	struct flock fl;
	int r;

	to_flock(l, &fl);
	switch (l->kind) {
	case SCK_LOCK_FLOCK:
		r = flock(l->fd, (l->type == SCK_LOCK_WRITE ? LOCK_EX : LOCK_SH) | LOCK_NB);
		break;
	case SCK_LOCK_OFD:
		r = fcntl(l->fd, F_OFD_SETLK, &fl);
		break;
	default:
		/* Only asked: the restorer takes it (see the top). */
		r = fcntl(l->fd, F_GETLK, &fl);
		if (r == 0 && fl.l_type != F_UNLCK) {
			r = -1;
			errno = EAGAIN;
		}
		break;
	}
	return r;
}

static int busy(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK || err == EACCES;
}

static int take_one(struct rs *s, const struct sck_lock *l)
{
	char what[SCK_MAX_PATH + 128];
	int r;

	/*
	 * The killed process may still be exiting, its locks with it (a
	 * restart right after a SIGKILL): give it two seconds, as for FIFOs.
	 */
	for (int tries = 0; (r = try_one(l)) < 0 && busy(errno) && tries < 40; tries++)
		usleep(50000);
	if (r == 0)
		return 0;
	lock_what(s, l, what, sizeof(what));
	if (busy(errno))
		selfckpt__rs_msg(s, "cannot take back %s: held by another process", what);
	else
		selfckpt__rs_msg(s, "cannot take back %s: %s", what, strerror(errno));
	return -1;
}

/* With --stdio=inherit, fds 0-2 are the restart command's: not locked. */
static int inherited(const struct rs *s, const struct sck_lock *l)
{
	return l->fd <= 2 && s->o->stdio_inherit;
}

int selfckpt__rs_take_locks(struct rs *s)
{
	for (uint32_t i = 0; i < s->img.nlocks; i++) {
		const struct sck_lock *l = &s->img.locks[i];
		char what[SCK_MAX_PATH + 128];

		if (inherited(s, l)) {
			lock_what(s, l, what, sizeof(what));
			selfckpt__rs_note(s, "warning: fd %d is this command's own (--stdio=inherit): %s is not taken back",
					  l->fd, what);
		} else if (take_one(s, l)) {
			return -1;
		}
	}
	return 0;
}

size_t selfckpt__rs_posix_locks(const struct rs *s, struct rst_lock *out,
				char *text, size_t *text_len)
{
	size_t n = 0, len = 0;

	for (uint32_t i = 0; i < s->img.nlocks; i++) {
		const struct sck_lock *l = &s->img.locks[i];
		char what[SCK_MAX_PATH + 128];
		int k;

		if (l->kind != SCK_LOCK_POSIX || inherited(s, l))
			continue;
		k = lock_what(s, l, what, sizeof(what));
		if (k < 0)
			k = 0;
		if ((size_t)k >= sizeof(what))
			k = (int)sizeof(what) - 1;
		if (out) {
			struct flock fl;

			to_flock(l, &fl);
			memcpy(text + len, what, (size_t)k + 1);
			out[n] = (struct rst_lock){ l->fd, fl.l_type, fl.l_start, fl.l_len,
						    (uint64_t)(uintptr_t)(text + len) };
		}
		len += (size_t)k + 1;
		n++;
	}
	*text_len = len;
	return n;
}

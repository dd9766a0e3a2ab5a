/*
 * restore-ghost.c - restart: unlinked files and memfds held by descriptors.
 *
 * Each such file of the image (OBJ kinds UNLINKED and MEMFD, res-ghost.c)
 * is made again before the descriptors are placed:
 *
 *   - a memfd with memfd_create(), under its name, sealable (the seals
 *     come back after the data: see below), with its mode;
 *   - an unlinked file with O_TMPFILE in the directory it was unlinked
 *     from, so that it is on the same file system, invisible, and can be
 *     given a name with linkat() as before; where that directory is gone
 *     or refuses O_TMPFILE, a memfd stands in, with a note.
 *
 * Each descriptor is a new open of it (through /proc/self/fd) with its
 * own flags and offset; descriptors that shared one open share it again
 * (restore-files.c). A file that is also mapped is the mappings' object
 * too (rs_file.map_fd), so writes through one show in the other.
 *
 * The contents are in the page data, which only the restorer reads: the
 * launcher passes it one fill per run, into the file at its offset, and
 * after the data, the size and the seals (rst.h). A write seal forbids
 * writable shared mappings: the mappings of a write-sealed file are made
 * through a read-only descriptor, which gives them no VM_MAYWRITE.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "restore.h"
#include "rst/rst.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x10U			/* Linux 6.3 */
#endif

static int is_ghost(const struct sck_img_obj *o)
{
	return o->o.kind == SCK_OBJ_UNLINKED || o->o.kind == SCK_OBJ_MEMFD;
}

static const char *path_of(const struct rs *s, const struct sck_img_obj *o)
{
	return s->img.files[o->o.file_id - 1].path;
}

/* name without prefix and " (deleted)" into buf. */
static void strip(char *buf, size_t n, const char *name, const char *prefix)
{
	size_t pl = strlen(prefix), len;

	if (!strncmp(name, prefix, pl))
		name += pl;
	snprintf(buf, n, "%s", name);
	len = strlen(buf);
	if (len >= 10 && !strcmp(buf + len - 10, " (deleted)"))
		buf[len - 10] = '\0';
}

/*
 * MFD_EXEC, whatever the mode: the mode is set afterwards (fchmod) and
 * F_SEAL_EXEC comes back with the other seals, whereas without it
 * vm.memfd_noexec=1 would seal it against exec at once. EINVAL before
 * Linux 6.3, EACCES with vm.memfd_noexec=2: then without.
 */
static int make_memfd(struct rs *s, const char *name)
{
	unsigned fl = MFD_CLOEXEC | MFD_ALLOW_SEALING;
	int fd = memfd_create(name, fl | MFD_EXEC);

	if (fd < 0 && (errno == EINVAL || errno == EACCES))
		fd = memfd_create(name, fl);
	if (fd < 0)
		selfckpt__rs_msg(s, "cannot make the memfd %s: %s", name, strerror(errno));
	return fd;
}

/* The mount namespace the files were made in (see ghosts_here). */
static ino_t made_in;

/* The directory an unlinked file was in, into dir; its name into name. */
static int dir_of(const char *path, char *dir, size_t n, char *name, size_t nn)
{
	char *slash;

	strip(dir, n, path, "");
	slash = strrchr(dir, '/');
	if (!slash)
		return -1;
	snprintf(name, nn, "%s", slash + 1);
	if (slash == dir)
		slash++;
	*slash = '\0';
	return 0;
}

/* O_TMPFILE where the file was; else a memfd, and a note saying why. */
static int make_unlinked(struct rs *s, const struct sck_img_obj *o, int *tmpfile)
{
	char path[SCK_MAX_PATH + 1], name[256];
	int fd = -1;

	errno = ENOENT;
	if (dir_of(path_of(s, o), path, sizeof(path), name, sizeof(name)) == 0)
		fd = open(path, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0) {
		*tmpfile = 1;
		return fd;
	}
	selfckpt__rs_note(s, "note: the unlinked file %s (object %u) comes back as a memfd: cannot make a file in %s (%s)",
			  path_of(s, o), o->o.id, path, strerror(errno));
	return make_memfd(s, name);
}

/*
 * The mappings of the same file map this one. Read-only when a write
 * seal is coming and no shared mapping must write (F_SEAL_WRITE fails
 * while a shared mapping may write, VM_MAYWRITE included).
 */
static int give_to_mappings(struct rs *s, const struct sck_img_obj *o, int fd)
{
	const struct sck_obj_ghost *g = (const void *)o->state;
	struct rs_file *rf = &s->files[o->o.file_id - 1];
	int ro = (g->seals & F_SEAL_WRITE) != 0;
	char self[64];

	if (!rf->nmaps)
		return 0;
	for (uint32_t i = 0; i < s->img.nvmas && ro; i++) {
		const struct sck_vma *v = &s->img.vmas[i].v;

		if (v->file_id == o->o.file_id && (v->flags & SCK_VMAF_SHARED) &&
		    ((v->prot & PROT_WRITE) || (v->flags & SCK_VMAF_MAYWRITE) ||
		     v->nruns))
			ro = 0;
	}
	if (rf->map_fd >= 0)
		close(rf->map_fd);	/* the stand-in restore-files.c made */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	rf->map_fd = ro ? open(self, O_RDONLY | O_CLOEXEC)
			: fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (rf->map_fd < 0) {
		selfckpt__rs_msg(s, "cannot open %s again for its mappings: %s",
				 path_of(s, o), strerror(errno));
		return -1;
	}
	return selfckpt__rs_move_fd_up(s, &rf->map_fd);
}

int selfckpt__rs_make_ghost(struct rs *s, const struct sck_img_obj *o, int *out)
{
	const struct sck_obj_ghost *g = (const void *)o->state;
	char name[SCK_MAX_PATH + 1];
	int fd;

	if (!s->ghosts) {
		struct stat ns;

		s->ghosts = malloc(s->img.nobjs * sizeof(*s->ghosts));
		if (!s->ghosts) {
			selfckpt__rs_msg(s, "out of memory");
			return -1;
		}
		for (uint32_t i = 0; i < s->img.nobjs; i++)
			s->ghosts[i] = (struct rs_ghost){ -1, 0 };
		made_in = stat("/proc/self/ns/mnt", &ns) == 0 ? ns.st_ino : 0;
	}
	if (o->o.kind == SCK_OBJ_MEMFD) {
		strip(name, sizeof(name), path_of(s, o), "/memfd:");
		fd = make_memfd(s, name);
	} else {
		fd = make_unlinked(s, o, &s->ghosts[o->o.id - 1].tmpfile);
	}
	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)g->size) < 0) {
		selfckpt__rs_msg(s, "cannot make %s %llu bytes long again: %s",
				 path_of(s, o), (unsigned long long)g->size,
				 strerror(errno));
		close(fd);
		return -1;
	}
	/* Kept for the restorer, which fills and seals the file. */
	s->ghosts[o->o.id - 1].fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (s->ghosts[o->o.id - 1].fd < 0 ||
	    selfckpt__rs_move_fd_up(s, &s->ghosts[o->o.id - 1].fd) ||
	    give_to_mappings(s, o, fd)) {
		if (s->ghosts[o->o.id - 1].fd < 0)
			selfckpt__rs_msg(s, "cannot duplicate a descriptor: %s",
					 strerror(errno));
		close(fd);
		return -1;
	}
	*out = fd;
	return 0;
}

int selfckpt__rs_ghost_fd(struct rs *s, const struct sck_img_obj *o,
			  const struct sck_fd *r)
{
	int flags = (int)r->open_flags &
		    (O_ACCMODE | O_APPEND | O_NONBLOCK | O_SYNC | O_DSYNC | O_DIRECT |
		     O_NOATIME | O_LARGEFILE);
	char self[64];
	int fd;

	snprintf(self, sizeof(self), "/proc/self/fd/%d", s->ghosts[o->o.id - 1].fd);
	fd = open(self, flags | O_CLOEXEC);
	if (fd < 0 && (flags & O_NOATIME) && errno == EPERM)
		fd = open(self, (flags & ~O_NOATIME) | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (lseek(fd, (off_t)r->pos, SEEK_SET) != (off_t)r->pos) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/* Modes last: a file may be read-only to its owner and open for writing. */
void selfckpt__rs_ghosts_placed(struct rs *s)
{
	for (uint32_t i = 0; s->ghosts && i < s->img.nobjs; i++) {
		const struct sck_img_obj *o = &s->img.objs[i];
		const struct sck_obj_ghost *g = (const void *)o->state;

		if (!is_ghost(o) || s->ghosts[i].fd < 0)
			continue;
		if (fchmod(s->ghosts[i].fd, (mode_t)g->mode) < 0)
			selfckpt__rs_note(s, "warning: cannot give %s its mode %o again: %s",
					  path_of(s, o), g->mode, strerror(errno));
	}
}

size_t selfckpt__rs_ghost_fills(const struct rs *s, struct rst_fill *fill,
				uint64_t *data_off)
{
	size_t n = 0;

	for (uint32_t i = 0; i < s->img.nobjs; i++) {
		const struct sck_img_obj *o = &s->img.objs[i];

		if (!is_ghost(o))
			continue;
		for (uint64_t k = 0; k < o->o.data_len / sizeof(struct sck_run); k++, n++) {
			struct sck_run run;

			if (!fill)
				continue;
			memcpy(&run, o->data + k * sizeof(run), sizeof(run));
			fill[n] = (struct rst_fill){ run.addr, run.npages * SCK_PAGE_SIZE,
						     s->ghosts[i].fd, 0 };
			data_off[n] = run.data_off;
		}
	}
	return n;
}

size_t selfckpt__rs_ghost_fixes(const struct rs *s, struct rst_file_fix *fix)
{
	size_t n = 0;

	for (uint32_t i = 0; i < s->img.nobjs; i++) {
		const struct sck_img_obj *o = &s->img.objs[i];
		const struct sck_obj_ghost *g = (const void *)o->state;

		if (!is_ghost(o))
			continue;
		if (fix)
			fix[n] = (struct rst_file_fix){ s->ghosts[i].fd, g->seals, g->size,
							o->o.id, 0 };
		n++;
	}
	return n;
}

/*
 * Object o's O_TMPFILE file made again here, in place of the one the
 * launcher made: every descriptor number on the old one (the restorer's,
 * the mappings', the image's) now refers to the new one, with the same
 * flags and offsets.
 */
static int make_here(struct rs *s, const struct sck_img_obj *o)
{
	const struct sck_obj_ghost *g = (const void *)o->state;
	struct rs_ghost *gh = &s->ghosts[o->o.id - 1];
	struct rs_file *rf = &s->files[o->o.file_id - 1];
	char dir[SCK_MAX_PATH + 1], name[256], self[64];
	int fd = -1, n;

	if (dir_of(path_of(s, o), dir, sizeof(dir), name, sizeof(name)) == 0)
		fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)g->size) < 0 ||
	    dup3(fd, gh->fd, O_CLOEXEC) < 0)
		goto err;
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	if (rf->nmaps && rf->map_fd >= 0) {
		int acc = fcntl(rf->map_fd, F_GETFL) & O_ACCMODE;

		n = acc == O_RDONLY ? open(self, O_RDONLY | O_CLOEXEC) : dup(fd);
		if (n < 0 || dup3(n, rf->map_fd, O_CLOEXEC) < 0)
			goto err;
		close(n);
	}
	for (uint32_t i = 0; i < s->img.nfds; i++) {
		const struct sck_fd *r = &s->img.fds[i];
		int cloexec = (r->fd_flags & FD_CLOEXEC) ? O_CLOEXEC : 0;

		if (r->kind != SCK_FD_OBJ || r->obj_id != o->o.id ||
		    (r->fd <= 2 && s->o->stdio_inherit))
			continue;
		if (r->share_with) {
			if (dup3((int)r->share_with - 1, r->fd, cloexec) < 0)
				goto err;
			continue;
		}
		n = selfckpt__rs_ghost_fd(s, o, r);
		if (n < 0 || fcntl(n, F_SETFL, (int)(r->open_flags & (O_APPEND | O_NONBLOCK |
								      O_ASYNC | O_DIRECT |
								      O_NOATIME))) < 0 ||
		    dup3(n, r->fd, cloexec) < 0)
			goto err;
		close(n);
	}
	if (fchmod(gh->fd, (mode_t)g->mode) < 0)
		selfckpt__rs_note(s, "warning: cannot give %s its mode %o again: %s",
				  path_of(s, o), g->mode, strerror(errno));
	close(fd);
	return 0;
err:
	selfckpt__rs_msg(s, "cannot make %s again in the restarted process's mount namespace: %s",
			 path_of(s, o), strerror(errno));
	return -1;
}

/*
 * The program may run in a mount namespace of its own (restore-ns.c):
 * a file made before it was created belongs to the launcher's mounts,
 * and linkat() of an O_TMPFILE file to a path the program names fails
 * with EXDEV. Such files are made again here, still empty: the restorer
 * fills them afterwards.
 */
int selfckpt__rs_ghosts_here(struct rs *s)
{
	struct stat ns;

	if (!s->ghosts || stat("/proc/self/ns/mnt", &ns) < 0 || ns.st_ino == made_in)
		return 0;
	for (uint32_t i = 0; i < s->img.nobjs; i++)
		if (s->ghosts[i].tmpfile && make_here(s, &s->img.objs[i]))
			return -1;
	return 0;
}

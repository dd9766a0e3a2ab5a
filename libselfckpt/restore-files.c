/*
 * restore-files.c - restart: files for the mappings, and the descriptors.
 *
 * Mapped files must be the files the image was made with (P24): on the
 * machine that wrote the image, the same inode, size and mtime; on another
 * machine (its /etc/machine-id differs), the same size and mtime, and for
 * ELF files the same build-id. A mismatch stops the restart with the file's
 * name and what changed, before anything is given up. Objects that will
 * not exist any more (unlinked files, memfds, shared anonymous memory) are
 * recreated as memfds and filled from the image.
 *
 * Descriptors are recreated at their numbers, with offset, status flags and
 * close-on-exec; those that shared an open file description share one
 * again (P15). Descriptors 0-2 that were a terminal, /dev/null, or a pipe
 * or socket to the outside are the restart command's own.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "restore.h"

/*
 * The image may hold descriptors above the RLIMIT_NOFILE soft limit this
 * program started with (a program may raise its own up to the hard limit),
 * and helpers go above every image descriptor: F_DUPFD fails with EINVAL
 * there, and placing the image's descriptors with EBADF. Raise the soft
 * limit to the hard one, which needs no privilege; the restorer sets the
 * image's own limits afterwards (rst-main.c, restore_process).
 */
static int raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return -1;
	rl.rlim_cur = rl.rlim_max;
	return setrlimit(RLIMIT_NOFILE, &rl);
}

int selfckpt__rs_move_fd_up(struct rs *s, int *fd)
{
	if (*fd < 0 || *fd >= s->helper_base)
		return 0;
	int n = fcntl(*fd, F_DUPFD_CLOEXEC, s->helper_base);

	if (n < 0 && (errno == EINVAL || errno == EMFILE) && raise_nofile() == 0)
		n = fcntl(*fd, F_DUPFD_CLOEXEC, s->helper_base);
	if (n < 0) {
		struct rlimit rl = { 0, 0 };
		int err = errno;

		getrlimit(RLIMIT_NOFILE, &rl);
		selfckpt__rs_msg(s, "cannot move a descriptor above %d (RLIMIT_NOFILE %llu/%llu here): %s",
				 s->helper_base, (unsigned long long)rl.rlim_cur,
				 (unsigned long long)rl.rlim_max, strerror(err));
		return -1;
	}
	if (*fd > 2)
		close(*fd);
	*fd = n;
	return 0;
}

static const char *when(int64_t sec, uint32_t nsec, char *buf, size_t n)
{
	time_t t = (time_t)sec;
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, n, "%lld", (long long)sec);
	size_t len = strlen(buf);

	snprintf(buf + len, n - len, ".%09u UTC", nsec);
	return buf;
}

/*
 * Is the file open on fd the one described by f? Returns 0, or -1 with a
 * message saying what differs.
 */
static int same_file(struct rs *s, int fd, const struct sck_file *f,
		     const char *path, int check_content)
{
	struct stat st;
	char a[64], b[64];

	if (fstat(fd, &st) < 0) {
		selfckpt__rs_msg(s, "cannot stat %s: %s", path, strerror(errno));
		return -1;
	}
	if ((st.st_mode & S_IFMT) != (f->mode & S_IFMT)) {
		selfckpt__rs_msg(s, "%s is no longer the same kind of file", path);
		return -1;
	}
	if (f->kind == SCK_FILE_CHR) {
		if (st.st_rdev != f->rdev) {
			selfckpt__rs_msg(s, "%s is another device now", path);
			return -1;
		}
		return 0;
	}
	if (!check_content)
		return 0;
	if ((uint64_t)st.st_size != f->size) {
		selfckpt__rs_msg(s,
				 "%s changed since the checkpoint: its size was %llu bytes, it is %llu now",
				 path, (unsigned long long)f->size,
				 (unsigned long long)st.st_size);
		return -1;
	}
	if (st.st_mtim.tv_sec != f->mtime_sec ||
	    (uint32_t)st.st_mtim.tv_nsec != f->mtime_nsec) {
		selfckpt__rs_msg(s,
				 "%s changed since the checkpoint: modified %s, the image has %s",
				 path, when(st.st_mtim.tv_sec, (uint32_t)st.st_mtim.tv_nsec, a, sizeof(a)),
				 when(f->mtime_sec, f->mtime_nsec, b, sizeof(b)));
		return -1;
	}
	/*
	 * On the machine that wrote the image it must be the same inode
	 * (device numbers too, within one boot), untouched since: an edit in
	 * place with the mtime put back still changes the ctime, which no one
	 * can set. Elsewhere the same size, mtime and build-id must do.
	 */
	if (s->same_machine && (uint64_t)st.st_ino != f->ino) {
		selfckpt__rs_msg(s,
				 "%s was replaced since the checkpoint (inode %llu, the image has %llu)",
				 path, (unsigned long long)st.st_ino,
				 (unsigned long long)f->ino);
		return -1;
	}
	if (s->same_boot && (uint64_t)st.st_dev != f->dev) {
		selfckpt__rs_msg(s,
				 "%s is on another file system than at the checkpoint (device %llx, the image has %llx)",
				 path, (unsigned long long)st.st_dev,
				 (unsigned long long)f->dev);
		return -1;
	}
	if (s->same_machine && (st.st_ctim.tv_sec != f->ctime_sec ||
				(uint32_t)st.st_ctim.tv_nsec != f->ctime_nsec)) {
		selfckpt__rs_msg(s,
				 "%s changed since the checkpoint: its inode was changed %s, the image has %s",
				 path, when(st.st_ctim.tv_sec, (uint32_t)st.st_ctim.tv_nsec, a, sizeof(a)),
				 when(f->ctime_sec, f->ctime_nsec, b, sizeof(b)));
		return -1;
	}
	if (f->build_id_len) {
		uint8_t id[32];
		int n = selfckpt__elf_build_id(fd, id, sizeof(id));

		if (n != (int)f->build_id_len || memcmp(id, f->build_id, (size_t)n)) {
			selfckpt__rs_msg(s, "%s has another ELF build-id than the image's",
					 path);
			return -1;
		}
	}
	return 0;
}

/* A memfd standing in for an object that no longer exists. */
static int make_object(struct rs *s, const struct sck_img_file *f,
		       struct rs_file *rf)
{
	char name[64];
	const char *base = strrchr(f->path, '/');
	size_t len;

	base = base ? base + 1 : f->path;
	if (!strncmp(f->path, "/memfd:", 7))
		base = f->path + 7;
	snprintf(name, sizeof(name), "%s", base);
	len = strlen(name);
	if (len > 10 && !strcmp(name + len - 10, " (deleted)"))
		name[len - 10] = '\0';
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0) {
		selfckpt__rs_msg(s, "memfd_create failed: %s", strerror(errno));
		return -1;
	}
	if (ftruncate(fd, (off_t)rf->obj_size) < 0) {
		selfckpt__rs_msg(s, "cannot size the copy of %s to %llu bytes: %s",
				 f->path, (unsigned long long)rf->obj_size,
				 strerror(errno));
		close(fd);
		return -1;
	}
	rf->map_fd = fd;
	return selfckpt__rs_move_fd_up(s, &rf->map_fd);
}

/* Open every file a mapping needs, checked; create the objects. */
int selfckpt__rs_open_files(struct rs *s)
{
	struct sck_image *img = &s->img;

	s->files = calloc(img->nfiles ? img->nfiles : 1, sizeof(*s->files));
	if (!s->files) {
		selfckpt__rs_msg(s, "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < img->nfiles; i++)
		s->files[i].map_fd = -1;

	/* What each file is mapped as, and how big objects must be. */
	int need_rw[img->nfiles ? img->nfiles : 1];
	int need_exec[img->nfiles ? img->nfiles : 1];

	memset(need_rw, 0, sizeof(need_rw));
	memset(need_exec, 0, sizeof(need_exec));
	for (uint32_t i = 0; i < img->nvmas; i++) {
		const struct sck_vma *v = &img->vmas[i].v;

		if (!v->file_id)
			continue;
		struct rs_file *rf = &s->files[v->file_id - 1];

		rf->nmaps++;
		if (v->obj_size > rf->obj_size)
			rf->obj_size = v->obj_size;
		if ((v->flags & SCK_VMAF_SHARED) &&
		    ((v->prot & PROT_WRITE) || (v->flags & SCK_VMAF_MAYWRITE)))
			need_rw[v->file_id - 1] = 1 + !!(v->prot & PROT_WRITE);
		if (v->prot & PROT_EXEC)
			need_exec[v->file_id - 1] = 1;
	}

	for (uint32_t i = 0; i < img->nfiles; i++) {
		const struct sck_img_file *f = &img->files[i];
		struct rs_file *rf = &s->files[i];

		if (!rf->nmaps)
			continue;	/* only descriptors use it */
		if (f->f.flags & SCK_FILEF_OBJECT) {
			/* A lone shared anonymous mapping is recreated as one. */
			const struct sck_vma *only = NULL;

			for (uint32_t k = 0; k < img->nvmas; k++)
				if (img->vmas[k].v.file_id == f->f.id)
					only = &img->vmas[k].v;
			if (rf->nmaps == 1 && only->kind == SCK_VMA_SHM_ANON &&
			    only->pgoff == 0) {
				rf->anon_shared = 1;
				continue;
			}
			if (make_object(s, f, rf))
				return -1;
			continue;
		}
		int flags = need_rw[i] ? O_RDWR : O_RDONLY;
		int fd = open(f->path, flags | O_CLOEXEC | O_NOCTTY);

		if (fd < 0 && need_rw[i] == 1 && errno == EACCES)
			fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			selfckpt__rs_msg(s, "cannot open %s, which the image maps: %s",
					 f->path, strerror(errno));
			return -1;
		}
		/* Private mappings show the file's contents: they must match. */
		int content = !need_rw[i];

		for (uint32_t k = 0; k < img->nvmas && content; k++)
			if (img->vmas[k].v.file_id == f->f.id &&
			    img->vmas[k].v.kind == SCK_VMA_FILE_SHARED)
				content = 0;
		if (same_file(s, fd, &f->f, f->path, content)) {
			close(fd);
			return -1;
		}
		struct statvfs vfs;

		if (need_exec[i] && fstatvfs(fd, &vfs) == 0 &&
		    (vfs.f_flag & ST_NOEXEC)) {
			selfckpt__rs_msg(s, "%s is on a noexec file system; it cannot be mapped executable",
					 f->path);
			close(fd);
			return -1;
		}
		rf->map_fd = fd;
		if (selfckpt__rs_move_fd_up(s, &rf->map_fd))
			return -1;
	}
	return 0;
}

int selfckpt__rs_open_file(struct rs *s, const struct sck_fd *r)
{
	const struct sck_img_file *f = &s->img.files[r->file_id - 1];
	int flags = (int)r->open_flags &
		    (O_ACCMODE | O_APPEND | O_NONBLOCK | O_SYNC | O_DSYNC |
		     O_DIRECT | O_NOATIME | O_PATH | O_DIRECTORY | O_LARGEFILE);
	int fd = open(f->path, flags | O_NOCTTY);

	if (fd < 0 && (flags & O_NOATIME) && errno == EPERM)
		fd = open(f->path, (flags & ~O_NOATIME) | O_NOCTTY);
	if (fd < 0) {
		selfckpt__rs_msg(s, "cannot reopen %s as fd %d: %s", f->path, r->fd,
				 strerror(errno));
		return -1;
	}
	/* Files read from must not have changed; files written to will have. */
	int content = r->kind == SCK_FD_FILE &&
		      (r->open_flags & O_ACCMODE) == O_RDONLY;

	if (same_file(s, fd, &f->f, f->path, content)) {
		close(fd);
		return -1;
	}
	if ((r->kind == SCK_FD_FILE || r->kind == SCK_FD_DIR) &&
	    !(r->open_flags & O_PATH) &&
	    lseek(fd, (off_t)r->pos, SEEK_SET) != (off_t)r->pos) {
		selfckpt__rs_msg(s, "cannot seek %s (fd %d) to %lld: %s", f->path,
				 r->fd, (long long)r->pos, strerror(errno));
		close(fd);
		return -1;
	}
	if (r->kind == SCK_FD_FILE && (r->open_flags & O_ACCMODE) != O_RDONLY) {
		struct stat st;

		if (fstat(fd, &st) == 0 && (uint64_t)st.st_size < r->size_at_ckpt)
			selfckpt__rs_msg(s,
					 "warning: %s (fd %d) is shorter than at the checkpoint",
					 f->path, r->fd);
		/*
		 * --truncate-outputs: what the killed process wrote after the
		 * checkpoint goes, so that nothing is there twice (O_APPEND)
		 * or left over past the end of what the restarted run writes.
		 */
		else if (s->o->truncate_outputs && (uint64_t)st.st_size > r->size_at_ckpt &&
			 ftruncate(fd, (off_t)r->size_at_ckpt) < 0) {
			selfckpt__rs_msg(s, "cannot truncate %s (fd %d) back to %llu bytes: %s",
					 f->path, r->fd, (unsigned long long)r->size_at_ckpt,
					 strerror(errno));
			close(fd);
			return -1;
		}
	}
	return fd;
}

/* Recreate the image's descriptors at their numbers. */
int selfckpt__rs_place_fds(struct rs *s)
{
	const struct sck_image *img = &s->img;
	char *is_image_fd = calloc((size_t)s->helper_base + 1, 1);
	int stdio_stand_in[3] = { -1, -1, -1 };

	if (!is_image_fd) {
		selfckpt__rs_msg(s, "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < img->nfds; i++) {
		const struct sck_fd *r = &img->fds[i];
		int cloexec = (r->fd_flags & FD_CLOEXEC) ? O_CLOEXEC : 0;
		int fd;

		is_image_fd[r->fd] = 1;
		if (r->fd <= 2 && (r->kind == SCK_FD_STDIO || s->o->stdio_inherit))
			continue;	/* the restart command's own */
		/*
		 * With --stdio=inherit, a lower fd 0-2 that this one shared (say
		 * fd 7 = dup(2) on a log file) is now the command's own: sharing
		 * it would make fd 7 the command's stderr, not the file. The
		 * first such fd opens the file again, later ones share with it;
		 * only the sharing with fd 0-2 is lost.
		 */
		int from = r->share_with ? (int)r->share_with - 1 : -1;
		int *stand_in = NULL;

		if (from >= 0 && from <= 2 && s->o->stdio_inherit) {
			stand_in = &stdio_stand_in[from];
			from = *stand_in;
		}
		if (from >= 0) {
			fd = dup3(from, r->fd, cloexec);
			if (fd < 0) {
				selfckpt__rs_msg(s, "cannot share fd %d with fd %d: %s",
						 r->fd, from, strerror(errno));
				free(is_image_fd);
				return -1;
			}
			continue;
		}
		if (stand_in)
			*stand_in = r->fd;
		fd = r->kind == SCK_FD_OBJ ? selfckpt__rs_obj_fd(s, r) : selfckpt__rs_open_file(s, r);
		if (fd < 0) {
			free(is_image_fd);
			return -1;
		}
		if (fd != r->fd) {
			if (dup3(fd, r->fd, cloexec) < 0) {
				selfckpt__rs_msg(s, "cannot place fd %d: %s", r->fd,
						 strerror(errno));
				close(fd);
				free(is_image_fd);
				return -1;
			}
			close(fd);
		} else if (!cloexec) {
			fcntl(fd, F_SETFD, 0);
		} else {
			fcntl(fd, F_SETFD, FD_CLOEXEC);
		}
	}
	/*
	 * Queues now: a descriptor in flight may share its open file
	 * description with one just placed (restore-sock.c).
	 */
	if (selfckpt__rs_sockets_finish(s) || selfckpt__rs_objects_done(s)) {
		free(is_image_fd);
		return -1;
	}
	/* Descriptors the launcher inherited that the image does not have. */
	for (int fd = 0; fd < s->helper_base; fd++) {
		if (is_image_fd[fd])
			continue;
		if (fd <= 2 && s->o->stdio_inherit)
			continue;
		close(fd);
	}
	free(is_image_fd);
	return 0;
}

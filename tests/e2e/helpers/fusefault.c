/*
 * fusefault - a FUSE file system that passes a flat directory through and
 * makes chosen operations on checkpoint temporary files fail with EIO, for
 * tests/e2e/enospc.sh: a real EIO from the kernel to the writing process,
 * without device-mapper (not in every kernel) or libfuse (the protocol of
 * <linux/fuse.h> is spoken directly; nothing to install).
 *
 *   fusefault BACKDIR MOUNTPOINT CTLFILE
 *
 * Mounts itself on MOUNTPOINT (needs CAP_SYS_ADMIN and /dev/fuse) and
 * serves until it is unmounted. Files live in BACKDIR (one directory, no
 * subdirectories). Before each operation that can fail, CTLFILE is read;
 * it holds one of
 *
 *   none          nothing fails
 *   write N       a WRITE to a file named .selfckpt-* that reaches beyond
 *                 byte N fails (0: the first write; the write(2) that the
 *                 kernel sends through returns EIO)
 *   fsync         FSYNC of a .selfckpt-* file fails
 *   rename        RENAME of a .selfckpt-* file fails
 *   fsyncdir      FSYNC of the directory fails
 *
 * Each injected fault is counted in CTLFILE.count (a line per fault, the
 * operation and the name). Write-through (no writeback cache, no attribute
 * or name caching): every write(2) and fsync(2) reaches this server while
 * the caller waits. Exit status 0 once unmounted; 71 if it cannot mount.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAXNODES 4096
#define MAX_WRITE (128 * 1024)

static int devfd, backfd;
static const char *ctl;
static char ctlcount[4096];
static char *names[MAXNODES];	/* node id -> name in BACKDIR; [1] is the root */
static uint64_t nnodes = 2;

static int reply(uint64_t unique, int err, const void *body, size_t len)
{
	struct fuse_out_header h = { sizeof(h) + (err ? 0 : len), err, unique };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)body, err ? 0 : len } };

	return writev(devfd, iov, 2) < 0 ? -errno : 0;
}

static uint64_t node_of(const char *name)
{
	for (uint64_t i = 2; i < nnodes; i++)
		if (names[i] && !strcmp(names[i], name))
			return i;
	if (nnodes == MAXNODES)
		return 0;
	names[nnodes] = strdup(name);
	return nnodes++;
}

static void attr_of(const struct stat *st, uint64_t node, struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = node;
	a->size = (uint64_t)st->st_size;
	a->blocks = (uint64_t)st->st_blocks;
	a->atime = (uint64_t)st->st_atim.tv_sec;
	a->mtime = (uint64_t)st->st_mtim.tv_sec;
	a->ctime = (uint64_t)st->st_ctim.tv_sec;
	a->atimensec = (uint32_t)st->st_atim.tv_nsec;
	a->mtimensec = (uint32_t)st->st_mtim.tv_nsec;
	a->ctimensec = (uint32_t)st->st_ctim.tv_nsec;
	a->mode = st->st_mode;
	a->nlink = (uint32_t)st->st_nlink;
	a->uid = st->st_uid;
	a->gid = st->st_gid;
	a->blksize = 4096;
}

static int stat_node(uint64_t node, struct stat *st)
{
	if (node == FUSE_ROOT_ID)
		return fstat(backfd, st) ? -errno : 0;
	if (node >= nnodes || !names[node])
		return -ENOENT;
	return fstatat(backfd, names[node], st, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

static int entry(uint64_t unique, const char *name, struct fuse_open_out *open_out)
{
	struct {
		struct fuse_entry_out e;
		struct fuse_open_out o;
	} out;
	struct stat st;
	uint64_t node;

	memset(&out, 0, sizeof(out));
	if (fstatat(backfd, name, &st, AT_SYMLINK_NOFOLLOW))
		return reply(unique, -errno, NULL, 0);
	node = node_of(name);
	if (!node)
		return reply(unique, -ENFILE, NULL, 0);
	out.e.nodeid = node;
	out.e.generation = 1;
	attr_of(&st, node, &out.e.attr);
	if (open_out)
		out.o = *open_out;
	return reply(unique, 0, &out, open_out ? sizeof(out) : sizeof(out.e));
}

/* The fault CTLFILE asks for: 1 if OP on NAME (at bytes [off, end)) fails. */
static int fault(const char *op, const char *name, uint64_t end)
{
	char buf[128] = "";
	int fd = open(ctl, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? 0 : read(fd, buf, sizeof(buf) - 1);
	unsigned long long limit;
	int hit = 0;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (!strcmp(op, "fsyncdir"))
		hit = !strncmp(buf, "fsyncdir", 8);
	else if (!name || strncmp(name, ".selfckpt-", 10))
		hit = 0;
	else if (!strcmp(op, "write"))
		hit = sscanf(buf, "write %llu", &limit) == 1 && end > limit;
	else
		hit = !strncmp(buf, op, strlen(op)) &&
		      (buf[strlen(op)] == '\n' || buf[strlen(op)] == '\0');
	if (hit) {
		fd = open(ctlcount, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dprintf(fd, "%s %s\n", op, name ? name : ".");
			close(fd);
		}
	}
	return hit;
}

static const char *name_of(uint64_t node)
{
	return node < nnodes ? names[node] : NULL;
}

static void readdir_reply(uint64_t unique, uint64_t off, uint32_t size)
{
	static char buf[MAX_WRITE];
	size_t len = 0;
	uint64_t i = 0;
	DIR *d;
	struct dirent *de;
	int fd = openat(backfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || !(d = fdopendir(fd))) {
		reply(unique, -EIO, NULL, 0);
		return;
	}
	if (size > sizeof(buf))
		size = sizeof(buf);
	while ((de = readdir(d))) {
		size_t nl = strlen(de->d_name);
		size_t rec = (sizeof(struct fuse_dirent) + nl + 7) & ~(size_t)7;
		struct fuse_dirent *fd_;

		if (i++ < off)
			continue;
		if (len + rec > size)
			break;
		fd_ = (struct fuse_dirent *)(buf + len);
		memset(fd_, 0, rec);
		fd_->ino = de->d_ino;
		fd_->off = i;
		fd_->namelen = (uint32_t)nl;
		fd_->type = de->d_type;
		memcpy(fd_->name, de->d_name, nl);
		len += rec;
	}
	closedir(d);
	reply(unique, 0, buf, len);
}

int main(int argc, char **argv)
{
	static char buf[MAX_WRITE + 65536];
	char opts[256];

	if (argc != 4) {
		fprintf(stderr, "usage: fusefault BACKDIR MOUNTPOINT CTLFILE\n");
		return 64;
	}
	ctl = argv[3];
	snprintf(ctlcount, sizeof(ctlcount), "%s.count", ctl);
	backfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	devfd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (backfd < 0 || devfd < 0) {
		fprintf(stderr, "fusefault: %s: %s\n", backfd < 0 ? argv[1] : "/dev/fuse",
			strerror(errno));
		return 71;
	}
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=%u,group_id=%u,allow_other",
		 devfd, (unsigned)getuid(), (unsigned)getgid());
	if (mount("fusefault", argv[2], "fuse.fusefault", MS_NOSUID | MS_NODEV, opts)) {
		fprintf(stderr, "fusefault: mount %s: %s\n", argv[2], strerror(errno));
		return 71;
	}
	for (;;) {
		ssize_t n = read(devfd, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR || errno == ENOENT || errno == EAGAIN)
				continue;
			if (errno == ENODEV)	/* unmounted */
				return 0;
			perror("fusefault: read /dev/fuse");
			return 71;
		}
		if ((size_t)n < sizeof(struct fuse_in_header))
			continue;
		struct fuse_in_header *in = (void *)buf;
		void *arg = buf + sizeof(*in);
		uint64_t u = in->unique;
		const char *nm = name_of(in->nodeid);
		struct stat st;

		switch (in->opcode) {
		case FUSE_INIT: {
			struct fuse_init_in *ii = arg;
			struct fuse_init_out o;

			memset(&o, 0, sizeof(o));
			o.major = FUSE_KERNEL_VERSION;
			o.minor = ii->minor < FUSE_KERNEL_MINOR_VERSION ? ii->minor :
									 FUSE_KERNEL_MINOR_VERSION;
			o.max_readahead = ii->max_readahead;
			o.max_background = 16;
			o.congestion_threshold = 12;
			o.max_write = MAX_WRITE;
			o.time_gran = 1;
			reply(u, 0, &o, sizeof(o));
			break;
		}
		case FUSE_DESTROY:
			reply(u, 0, NULL, 0);
			return 0;
		case FUSE_FORGET:
		case FUSE_BATCH_FORGET:
		case FUSE_INTERRUPT:
			break;	/* no reply */
		case FUSE_LOOKUP:
			if (in->nodeid != FUSE_ROOT_ID)
				reply(u, -ENOENT, NULL, 0);
			else
				entry(u, arg, NULL);
			break;
		case FUSE_GETATTR:
		case FUSE_SETATTR: {
			struct fuse_attr_out o;
			int r = 0;

			if (in->opcode == FUSE_SETATTR) {
				struct fuse_setattr_in *si = arg;

				if (!nm && in->nodeid != FUSE_ROOT_ID)
					r = -ENOENT;
				else if ((si->valid & FATTR_SIZE) && in->nodeid != FUSE_ROOT_ID) {
					int fd = openat(backfd, nm, O_WRONLY | O_CLOEXEC);

					r = fd < 0 || ftruncate(fd, (off_t)si->size) ? -errno : 0;
					if (fd >= 0)
						close(fd);
				}
				if (!r && (si->valid & FATTR_MODE) && in->nodeid != FUSE_ROOT_ID &&
				    fchmodat(backfd, nm, si->mode & 07777, 0))
					r = -errno;
			}
			if (!r)
				r = stat_node(in->nodeid, &st);
			if (r) {
				reply(u, r, NULL, 0);
				break;
			}
			memset(&o, 0, sizeof(o));
			attr_of(&st, in->nodeid, &o.attr);
			reply(u, 0, &o, sizeof(o));
			break;
		}
		case FUSE_OPEN:
		case FUSE_CREATE: {
			struct fuse_open_out o;
			int fd;

			memset(&o, 0, sizeof(o));
			if (in->opcode == FUSE_CREATE) {
				struct fuse_create_in *ci = arg;
				const char *name = (const char *)(ci + 1);

				fd = openat(backfd, name,
					    (int)(ci->flags & ~(unsigned)O_NOFOLLOW) | O_CREAT | O_CLOEXEC,
					    ci->mode & ~ci->umask & 07777);
				if (fd < 0) {
					reply(u, -errno, NULL, 0);
					break;
				}
				o.fh = (uint64_t)fd;
				if (entry(u, name, &o))
					close(fd);
				break;
			}
			struct fuse_open_in *oi = arg;

			if (!nm) {
				reply(u, -ENOENT, NULL, 0);
				break;
			}
			fd = openat(backfd, nm,
				    (int)(oi->flags & ~(unsigned)(O_CREAT | O_EXCL | O_NOFOLLOW)) | O_CLOEXEC);
			if (fd < 0) {
				reply(u, -errno, NULL, 0);
				break;
			}
			o.fh = (uint64_t)fd;
			reply(u, 0, &o, sizeof(o));
			break;
		}
		case FUSE_READ: {
			struct fuse_read_in *ri = arg;
			static char data[MAX_WRITE];
			uint32_t sz = ri->size > sizeof(data) ? sizeof(data) : ri->size;
			ssize_t r = pread((int)ri->fh, data, sz, (off_t)ri->offset);

			reply(u, r < 0 ? -errno : 0, data, r < 0 ? 0 : (size_t)r);
			break;
		}
		case FUSE_WRITE: {
			struct fuse_write_in *wi = arg;
			struct fuse_write_out o = { 0, 0 };
			ssize_t r;

			if (fault("write", nm, wi->offset + wi->size)) {
				reply(u, -EIO, NULL, 0);
				break;
			}
			r = pwrite((int)wi->fh, wi + 1, wi->size, (off_t)wi->offset);
			if (r < 0) {
				reply(u, -errno, NULL, 0);
				break;
			}
			o.size = (uint32_t)r;
			reply(u, 0, &o, sizeof(o));
			break;
		}
		case FUSE_FLUSH:
			reply(u, 0, NULL, 0);
			break;
		case FUSE_RELEASE:
			close((int)((struct fuse_release_in *)arg)->fh);
			reply(u, 0, NULL, 0);
			break;
		case FUSE_FSYNC:
			if (fault("fsync", nm, 0))
				reply(u, -EIO, NULL, 0);
			else
				reply(u, fsync((int)((struct fuse_fsync_in *)arg)->fh) ? -errno : 0,
				      NULL, 0);
			break;
		case FUSE_OPENDIR: {
			struct fuse_open_out o;

			memset(&o, 0, sizeof(o));
			reply(u, in->nodeid == FUSE_ROOT_ID ? 0 : -ENOTDIR, &o, sizeof(o));
			break;
		}
		case FUSE_READDIR: {
			struct fuse_read_in *ri = arg;

			readdir_reply(u, ri->offset, ri->size);
			break;
		}
		case FUSE_RELEASEDIR:
			reply(u, 0, NULL, 0);
			break;
		case FUSE_FSYNCDIR:
			if (fault("fsyncdir", NULL, 0))
				reply(u, -EIO, NULL, 0);
			else
				reply(u, fsync(backfd) ? -errno : 0, NULL, 0);
			break;
		case FUSE_UNLINK: {
			const char *name = arg;
			uint64_t node = node_of(name);

			if (unlinkat(backfd, name, 0)) {
				reply(u, -errno, NULL, 0);
				break;
			}
			if (node) {
				free(names[node]);
				names[node] = NULL;
			}
			reply(u, 0, NULL, 0);
			break;
		}
		case FUSE_RENAME:
		case FUSE_RENAME2: {
			unsigned flags = 0;
			const char *from;

			if (in->opcode == FUSE_RENAME2) {
				flags = ((struct fuse_rename2_in *)arg)->flags;
				from = (const char *)arg + sizeof(struct fuse_rename2_in);
			} else {
				from = (const char *)arg + sizeof(struct fuse_rename_in);
			}
			const char *to = from + strlen(from) + 1;

			if (fault("rename", from, 0)) {
				reply(u, -EIO, NULL, 0);
				break;
			}
			if (renameat2(backfd, from, backfd, to, flags)) {
				reply(u, -errno, NULL, 0);
				break;
			}
			uint64_t a = node_of(from), b = node_of(to);

			if (b) {
				free(names[b]);
				names[b] = NULL;
			}
			if (a) {
				free(names[a]);
				names[a] = strdup(to);
			}
			reply(u, 0, NULL, 0);
			break;
		}
		case FUSE_STATFS: {
			struct fuse_statfs_out o;
			struct statfs sf;

			memset(&o, 0, sizeof(o));
			if (fstatfs(backfd, &sf)) {
				reply(u, -errno, NULL, 0);
				break;
			}
			o.st.blocks = sf.f_blocks;
			o.st.bfree = sf.f_bfree;
			o.st.bavail = sf.f_bavail;
			o.st.files = sf.f_files;
			o.st.ffree = sf.f_ffree;
			o.st.bsize = (uint32_t)sf.f_bsize;
			o.st.namelen = 255;
			o.st.frsize = (uint32_t)sf.f_bsize;
			reply(u, 0, &o, sizeof(o));
			break;
		}
		case FUSE_ACCESS:
			reply(u, 0, NULL, 0);
			break;
		default:
			reply(u, -ENOSYS, NULL, 0);
			break;
		}
	}
}

/*
 * res-ghost.c - unlinked files and memfds held by descriptors, at
 * checkpoint (CRIU calls such files "ghost files").
 *
 * A regular file unlinked while open, or a memfd, will not exist when the
 * process is restarted: its contents go into the image (P15). Each such
 * file is one OBJ record (SCK_OBJ_UNLINKED, SCK_OBJ_MEMFD), whatever the
 * descriptors on it; each descriptor keeps its own offset and flags, and
 * those that share an open file description say so (share_with, found
 * with kcmp by res-file.c).
 *
 * The contents are stored like a mapping's pages, in the page data, not
 * in the metadata (which is held in memory whole and limited to 64 MiB a
 * record): only the parts that hold data (SEEK_DATA/SEEK_HOLE), a page at
 * a time, so a sparse file stays sparse. The OBJ record lists them as
 * runs whose address is the file offset; the writer (writer.c) sends them
 * before the mappings' pages, reading the file with pread, which moves no
 * offset of the program's.
 *
 * The same file may also be mapped. Its FILE record (flag OBJECT), made
 * for the mappings by res-mem.c, is then the OBJ's too, and restart makes
 * one file for both, so that a write through one shows in the other.
 * Since the OBJ holds the whole file, its shared mappings store no pages
 * and its private ones only those no longer the file's.
 *
 * A file holding more data than SELFCKPT_MAX_FILE_DATA (default 1 GiB)
 * fails the checkpoint with its size: an image is not the place for an
 * unbounded scratch file by surprise.
 *
 * Async-signal-safe: raw system calls and the arena only (the limit is
 * read from the environment when the library is loaded).
 */
#define LOG_PREFIX "fd: "

#include <fcntl.h>
#include <stdlib.h>

#include <linux/errno.h>

#include "internal.h"
#include "log.h"
#include "nolibc/fmt.h"
#include "nolibc/str.h"
#include "objects.h"
#include "sys.h"

#ifndef F_GET_SEALS
#define F_GET_SEALS 1034
#endif
#ifndef SEEK_DATA
#define SEEK_DATA 3
#define SEEK_HOLE 4
#endif
#define HUGETLBFS_MAGIC 0x958458f6

#define PAGE SCK_PAGE_SIZE
#define PAGE_DOWN(x) ((x) & ~(PAGE - 1))
#define PAGE_UP(x) (((x) + PAGE - 1) & ~(PAGE - 1))

/*
 * Runs per file at most: past that, a run grows over the hole before it
 * (stored as zeros: correct, only larger). Bounds the arena and the OBJ
 * record whatever the file's layout.
 */
#define GHOST_MAX_RUNS 4096

/* SELFCKPT_MAX_FILE_DATA: bytes of data one file may hold. */
static uint64_t max_file_data = 1ULL << 30;

__attribute__((constructor(101))) static void limit_from_env(void)
{
	const char *s = getenv("SELFCKPT_MAX_FILE_DATA");
	const char *end;
	uint64_t v;

	if (!s || *s < '0' || *s > '9')
		return;
	v = selfckpt__parse_u64(s, 10, &end);
	switch (*end) {
	case 'k': case 'K':
		v <<= 10;
		break;
	case 'm': case 'M':
		v <<= 20;
		break;
	case 'g': case 'G':
		v <<= 30;
		break;
	}
	max_file_data = v;
}

/* A memfd: no link (a file really named /memfd:... has one). */
static int is_memfd(const struct sck_fdx *x)
{
	return sck_starts_with(x->target, "/memfd:") && !x->st.st_nlink;
}

uint64_t selfckpt__ghost_plan(const struct stat *st)
{
	if (!S_ISREG(st->st_mode) || st->st_nlink)
		return 0;
	/* The runs, in the arena and again in the OBJ record. */
	return GHOST_MAX_RUNS * sizeof(struct sck_run) + 64;
}

struct scan {
	struct sck_run *runs;
	uint32_t n;
	uint64_t bytes;			/* page data they hold */
};

static void add_run(struct scan *sc, uint64_t start, uint64_t end)
{
	struct sck_run *last = sc->n ? &sc->runs[sc->n - 1] : NULL;

	start = PAGE_DOWN(start);
	end = PAGE_UP(end);
	if (last && (last->addr + last->npages * PAGE >= start ||
		     sc->n == GHOST_MAX_RUNS)) {
		uint64_t old = last->npages;

		if (end > last->addr + last->npages * PAGE)
			last->npages = (end - last->addr) / PAGE;
		sc->bytes += (last->npages - old) * PAGE;
		return;
	}
	sc->runs[sc->n++] = (struct sck_run){ start, (end - start) / PAGE, 0, 0, 0 };
	sc->bytes += end - start;
}

/*
 * The parts of the file on fd that hold data. SEEK_DATA/SEEK_HOLE move the
 * offset of fd's open file description: the caller gives one of its own,
 * or puts the offset back. A file system without them is all data.
 */
static int find_data(int fd, uint64_t size, struct scan *sc)
{
	uint64_t off = 0;

	while (off < size) {
		long d = sys_lseek(fd, (int64_t)off, SEEK_DATA);

		if (d == -ENXIO)
			break;
		if (d < 0) {
			sc->n = 0;
			sc->bytes = 0;
			add_run(sc, 0, size);
			return 0;
		}
		long h = sys_lseek(fd, d, SEEK_HOLE);

		if (h < 0 || (uint64_t)h > size)
			h = (long)size;
		if (h <= d)
			break;
		add_run(sc, (uint64_t)d, (uint64_t)h);
		off = (uint64_t)h;
	}
	return 0;
}

/* Look at the file's data through a descriptor that moves nothing of the
 * program's: a new open of it, or fd itself with its offset put back. */
static int scan_file(struct sck_dump *d, const struct sck_fdx *x, struct scan *sc,
		     int *reopen)
{
	char path[32];
	uint32_t acc = x->fi.flags & O_ACCMODE;
	/* Closing a new open would drop the process's POSIX locks (P15). */
	int locked = selfckpt__posix_locked(d, x->st.st_dev, x->st.st_ino);
	long fd = -EDEADLK;

	if (locked && acc == O_WRONLY)
		return sck_fail(EOPNOTSUPP,
				"fd %d is %s (%s) open for writing only, with a POSIX lock on it: reading it would drop the lock: not supported",
				x->fd, is_memfd(x) ? "a memfd" : "an unlinked file", x->target);
	selfckpt__fmt(path, sizeof(path), "/proc/self/fd/%d", x->fd);
	if (!locked)
		fd = sys_openat(-100, path, O_RDONLY | O_CLOEXEC, 0);
	if (fd >= 0) {
		*reopen = 1;
		find_data((int)fd, (uint64_t)x->st.st_size, sc);
		sys_close((int)fd);
		return 0;
	}
	if (acc == O_WRONLY)
		return sck_fail(EOPNOTSUPP,
				"fd %d is %s (%s) that this process cannot read (open for writing only, and reopening it for reading fails: %s): not supported",
				x->fd, is_memfd(x) ? "a memfd" : "an unlinked file",
				x->target, selfckpt__errname((int)-fd));
	*reopen = 0;
	long pos = sys_lseek(x->fd, 0, 1 /* SEEK_CUR */);

	find_data(x->fd, (uint64_t)x->st.st_size, sc);
	if (pos >= 0)
		sys_lseek(x->fd, pos, 0 /* SEEK_SET */);
	return 0;
}

/*
 * Room for more chunk hashes: the files' data is page data too. The table
 * was sized for the mappings; files add theirs (geometric growth, so that
 * many small files cost no more than one big one).
 */
static int more_chunks(struct sck_dump *d, uint64_t bytes)
{
	if (!d->chunk_hash_maps)
		d->chunk_hash_maps = d->chunk_hash_cap;
	uint64_t need = d->chunk_hash_maps + (d->data_len + bytes) / SCK_CHUNK_SIZE + 2;
	uint64_t cap = d->chunk_hash_cap + d->chunk_hash_cap / 2;

	if (need <= d->chunk_hash_cap)
		return 0;
	if (cap < need)
		cap = need;
	uint64_t *h = selfckpt__arena_alloc(&d->arena, cap * 8, 8);

	if (!h)
		return sck_fail(ENOMEM, "no checkpoint memory for the hashes of %lu bytes of file data",
				(unsigned long)bytes);
	d->chunk_hash = h;	/* nothing written to the old one yet */
	d->chunk_hash_cap = cap;
	return 0;
}

/*
 * Its shared mappings need no pages of their own, its private ones only
 * those no longer the file's: the OBJ holds the file.
 */
static void share_with_mappings(struct sck_dump *d, uint32_t file_id)
{
	for (uint32_t i = 0; i < d->nvmas; i++) {
		struct sck_dump_vma *v = &d->vmas[i];

		if (v->v.file_id != file_id)
			continue;
		if (v->scan == SCK_SCAN_SHARED)
			v->scan = SCK_SCAN_NONE;
		else if (v->scan == SCK_SCAN_ALL)
			v->scan = SCK_SCAN_COW;
	}
}

static int refuse(const struct sck_fdx *x, const char *what)
{
	return sck_fail(EOPNOTSUPP, "fd %d is %s (%s): not supported", x->fd, what,
			x->target);
}

int selfckpt__ghost_fd(struct sck_dump *d, const struct sck_fdx *x,
		       struct sck_fd *r)
{
	int memfd = is_memfd(x);
	uint32_t kind = memfd ? SCK_OBJ_MEMFD : SCK_OBJ_UNLINKED;
	const char *what = memfd ? "a memfd" : "an unlinked file";

	if (!S_ISREG(x->st.st_mode) || x->st.st_nlink)
		return 0;
	if (x->fi.flags & O_PATH)
		return refuse(x, memfd ? "an O_PATH descriptor of a memfd" :
				  "an O_PATH descriptor of an unlinked file");
	/* One object per file, whatever the descriptors on it. */
	for (uint32_t i = 0; i < d->nobjs; i++)
		if (d->objs[i].kind == kind && d->objs[i].ino == x->st.st_ino &&
		    d->objs[i].dev == x->st.st_dev) {
			r->kind = SCK_FD_OBJ;
			r->obj_id = d->objs[i].id;
			return 1;
		}

	struct {
		int64_t f_type;
		int64_t rest[15];
	} fs;

	if (sys_fstatfs(x->fd, &fs) == 0 && (uint32_t)fs.f_type == HUGETLBFS_MAGIC)
		return refuse(x, "a hugetlbfs file, which is not supported (P10)");

	struct sck_obj o = { .kind = kind, .ino = x->st.st_ino,
			     .state_len = sizeof(struct sck_obj_ghost) };
	struct sck_obj_ghost st = { .size = (uint64_t)x->st.st_size,
				    .mode = x->st.st_mode & 07777 };
	struct scan sc = { 0 };
	int reopen, ret;

	if (memfd) {
		long seals = sys_fcntl(x->fd, F_GET_SEALS, 0);

		st.seals = seals > 0 ? (uint32_t)seals & SCK_SEALS_KNOWN : 0;
	}
	sc.runs = selfckpt__arena_alloc(&d->arena,
					GHOST_MAX_RUNS * sizeof(struct sck_run), 8);
	if (!d->fdata)
		d->fdata = selfckpt__arena_alloc(&d->arena,
						 d->objs_cap * sizeof(*d->fdata), 8);
	if (!sc.runs || !d->fdata || d->nfdata >= d->objs_cap)
		return sck_fail(ENOMEM, "no checkpoint memory to save fd %d (%s)",
				x->fd, x->target);
	ret = scan_file(d, x, &sc, &reopen);
	if (ret)
		return ret;
	if (sc.bytes > max_file_data)
		return sck_fail(EOPNOTSUPP,
				"fd %d is %s (%s) holding %lu bytes of data, more than the %lu a checkpoint saves of one file (SELFCKPT_MAX_FILE_DATA)",
				x->fd, what, x->target, (unsigned long)sc.bytes,
				(unsigned long)max_file_data);
	ret = more_chunks(d, sc.bytes);
	if (ret)
		return ret;

	/* Its name, and the FILE record its mappings have, if any. */
	struct sck_file f = { 0 };

	f.kind = SCK_FILE_REG;
	f.flags = SCK_FILEF_OBJECT;
	f.dev = x->st.st_dev;
	f.ino = x->st.st_ino;
	ret = selfckpt__file_add(d, &f, x->target);
	if (ret < 0)
		return ret;
	o.file_id = (uint32_t)ret;

	for (uint32_t i = 0; i < sc.n; i++) {
		sc.runs[i].data_off = d->data_len;
		d->data_len += sc.runs[i].npages * PAGE;
	}
	o.data_len = (uint64_t)sc.n * sizeof(struct sck_run);
	ret = selfckpt__obj_add(d, &o, &st, sc.runs);
	if (ret < 0)
		return ret;
	d->fdata[d->nfdata++] = (struct sck_dump_fdata){
		x->fd, reopen, st.size, sc.runs, sc.n
	};
	share_with_mappings(d, o.file_id);

	struct sck_dump_obj *m = &d->objs[o.id - 1];

	m->dev = x->st.st_dev;
	m->ino = x->st.st_ino;
	m->id = o.id;
	m->kind = kind;
	m->fd = x->fd;
	r->kind = SCK_FD_OBJ;
	r->obj_id = o.id;
	sck_debug("fd %d: %s, %lu bytes, %lu of data in %u runs", x->fd, x->target,
		  (unsigned long)st.size, (unsigned long)sc.bytes, sc.n);
	return 1;
}

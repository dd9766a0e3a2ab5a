/*
 * image-dec.c - reading and checking an image (see image.h).
 *
 * The reader trusts nothing: every length is checked against a limit
 * before memory is allocated for it and against the record it came from,
 * every record's hashes are checked before its payload is looked at, and
 * every cross-reference (file ids, run offsets, counts) is checked before
 * the restorer may act on it. Messages name the record and its offset.
 *
 * It reads with exact sizes, never ahead, so that when the image arrives on
 * a pipe the restorer can continue reading the page data from the same fd.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "image.h"
#include "nolibc/xxh64.h"

struct rd {
	int fd;
	uint64_t off;
	char *err;
	size_t errlen;
};

static int fail(struct rd *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct rd *r, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, r->errlen, fmt, ap);
	va_end(ap);
	return code;
}

static int read_exact(struct rd *r, void *buf, size_t n, const char *what)
{
	size_t done = 0;

	while (done < n) {
		ssize_t k = read(r->fd, (char *)buf + done, n - done);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return fail(r, -EIO, "read error at byte %llu: %s",
				    (unsigned long long)(r->off + done),
				    strerror(errno));
		if (k == 0) {
			int ret = fail(r, -ENODATA,
				       "image is truncated: it ends at byte %llu, inside %s",
				       (unsigned long long)(r->off + done), what);

			/*
			 * Count the bytes consumed: read_meta tells an empty
			 * image from one shorter than the preamble by r->off.
			 */
			r->off += done;
			return ret;
		}
		done += (size_t)k;
	}
	r->off += n;
	return 0;
}

const char *selfckpt__rec_type_name(uint32_t type)
{
	static const char *const names[] = {
		"?",	      "HEADER",	  "PROCESS",	 "RLIMITS",
		"SIGACTIONS", "FILE",	  "VMA",	 "FD",
		"THREAD",     "END_META", "PAD",	 "PAGES",
		"PAGE_HASHES", "COMMIT",  "NOTE",	 "OBJ",
		"LOCK",       "POSIX_TIMER", "SIGINFO", "CLOCKS",
		"SYSV",       "SCM",
	};

	return type < sizeof(names) / sizeof(names[0]) ? names[type] : "?";
}

const char *selfckpt__vma_kind_name(uint32_t kind)
{
	static const char *const names[] = {
		"?",	   "anon",  "heap",	 "stack",   "file",	  "file-shared",
		"shm-anon", "memfd", "deleted", "vdso",   "vvar", "vvar_vclock",
		"sysv-shm",
	};

	return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}

const char *selfckpt__fd_kind_name(uint32_t kind)
{
	static const char *const names[] = { "?", "file", "dir", "dev",
					     "stdio", "object" };

	return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}

const char *selfckpt__obj_kind_name(uint32_t kind)
{
	static const char *const names[] = {
		[0] = "?",
		[SCK_OBJ_PIPE] = "pipe",
		[SCK_OBJ_EVENTFD] = "eventfd",
		[SCK_OBJ_TIMERFD] = "timerfd",
		[SCK_OBJ_SIGNALFD] = "signalfd",
		[SCK_OBJ_EPOLL] = "epoll",
		[SCK_OBJ_INOTIFY] = "inotify",
		[SCK_OBJ_UNIX] = "unix",
		[SCK_OBJ_INET] = "inet",
		[SCK_OBJ_UNLINKED] = "unlinked file",
		[SCK_OBJ_MEMFD] = "memfd",
		[SCK_OBJ_PTY] = "pty",
		[SCK_OBJ_PTS] = "pts",
		[SCK_OBJ_TTY] = "terminal",
	};

	return kind < sizeof(names) / sizeof(names[0]) && names[kind] ? names[kind]
								     : "?";
}

/* Read one record header and check its place in the chain. */
static int read_rec(struct rd *r, struct sck_image *img, struct sck_rec *rec,
		    uint64_t *rec_off)
{
	char what[64];
	int ret;

	*rec_off = r->off;
	snprintf(what, sizeof(what), "record header %llu",
		 (unsigned long long)img->nrecords + 1);
	ret = read_exact(r, rec, sizeof(*rec), what);
	if (ret)
		return ret;
	if (selfckpt__xxh64(rec, 24, img->chain) != rec->hdr_hash)
		return fail(r, -EBADMSG,
			    "image is damaged: record header at byte %llu fails its checksum",
			    (unsigned long long)*rec_off);
	img->chain = rec->hdr_hash;
	img->nrecords++;
	if (img->seen)
		img->seen(img->seen_arg, *rec_off, rec);
	return 0;
}

static uint64_t max_len(uint32_t type)
{
	switch (type) {
	case SCK_REC_PAGES:
		return UINT64_MAX;
	case SCK_REC_PAGE_HASHES:
		return UINT64_MAX;	/* checked exactly against the page data */
	case SCK_REC_COMMIT:
		return SCK_MAX_FIXED;
	case SCK_REC_PAD:
		return SCK_PAGE_SIZE * 2;
	default:
		return SCK_MAX_META_REC;
	}
}

/* Read a payload (and its padding) and check its hash. Caller frees. */
static int read_payload(struct rd *r, const struct sck_rec *rec,
			uint64_t rec_off, uint8_t **out)
{
	char what[64];
	uint64_t total;
	uint8_t *p;
	int ret;

	/* No length may make the padded total wrap (fuzzing found one). */
	if (rec->len > max_len(rec->type) || rec->len > UINT64_MAX - 8)
		return fail(r, -EBADMSG,
			    "image is damaged: %s record at byte %llu claims %llu bytes",
			    selfckpt__rec_type_name(rec->type),
			    (unsigned long long)rec_off,
			    (unsigned long long)rec->len);
	total = rec->len + sck_pad8(rec->len);
	p = malloc(total ? total : 1);
	if (!p)
		return fail(r, -ENOMEM, "out of memory reading the image");
	snprintf(what, sizeof(what), "a %s record",
		 selfckpt__rec_type_name(rec->type));
	ret = read_exact(r, p, total, what);
	if (ret) {
		free(p);
		return ret;
	}
	for (uint64_t i = rec->len; i < total; i++)
		if (p[i]) {
			free(p);
			return fail(r, -EBADMSG,
				    "image is damaged: non-zero padding after the %s record at byte %llu",
				    selfckpt__rec_type_name(rec->type),
				    (unsigned long long)rec_off);
		}
	if (selfckpt__xxh64(p, rec->len, 0) != rec->payload_hash) {
		free(p);
		return fail(r, -EBADMSG,
			    "image is damaged: the %s record at byte %llu fails its checksum",
			    selfckpt__rec_type_name(rec->type),
			    (unsigned long long)rec_off);
	}
	*out = p;
	return 0;
}

static char *dup_str(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

/*
 * Make room for element n of an array that doubles at powers of two. On
 * failure arr is still allocated and the caller must keep it, not NULL:
 * the counts say it holds elements that selfckpt__image_free() will free.
 */
static void *grow(void *arr, uint32_t n, size_t elem)
{
	if (n == 0)
		return realloc(arr, elem);
	if ((n & (n - 1)) == 0)
		return realloc(arr, (size_t)n * 2 * elem);
	return arr;
}

#define BAD(fmt, ...)                                                        \
	fail(r, -EBADMSG, "image is damaged: %s record at byte %llu: " fmt, \
	     selfckpt__rec_type_name(rec->type), (unsigned long long)off,  \
	     ##__VA_ARGS__)

/*
 * Is a record's fixed part (its payload without the variable tail) of an
 * acceptable length? Exactly its size in the image's minor version, or,
 * for an image from a newer minor version, at least the size this reader
 * knows (a newer writer appended fields; image-format.h).
 *
 * Format 1 has one minor version so far, in which every fixed part is the
 * size of its structure. When a minor version appends a field, the size
 * for the older minor versions is kept here, so that their images stay
 * readable, and the reader zero-fills the fields they lack.
 */
static size_t fixed_size(size_t current, uint16_t minor)
{
	(void)minor;	/* 1.0 is the only minor version so far */
	return current;
}

static int fixed_ok(const struct sck_image *img, uint64_t fixed, size_t known)
{
	if (img->pre.minor > SCK_VERSION_MINOR)
		return fixed >= known && fixed <= SCK_MAX_FIXED;
	return fixed == fixed_size(known, img->pre.minor);
}

static int has_nul(const char *s, size_t n)
{
	return memchr(s, '\0', n) != NULL;
}

static int take_header(struct rd *r, struct sck_image *img,
		       const struct sck_rec *rec, uint64_t off, const uint8_t *p)
{
	if (!fixed_ok(img, rec->len, sizeof(img->hdr)))
		return BAD("wrong length (%llu bytes)", (unsigned long long)rec->len);
	memcpy(&img->hdr, p, sizeof(img->hdr));
	struct sck_header *h = &img->hdr;
	uint32_t how = h->flags & (SCK_HDR_RESTARTED_PIDNS | SCK_HDR_RESTARTED_USERNS |
				   SCK_HDR_RESTARTED_NEW_IDS);

	/* A newer minor version may define more flags. */
	if (img->pre.minor <= SCK_VERSION_MINOR && (h->flags & ~SCK_HDR_FLAGS))
		return BAD("unknown header flags 0x%x", h->flags & ~SCK_HDR_FLAGS);
	if (h->generation ? how != SCK_HDR_RESTARTED_PIDNS &&
			    how != (SCK_HDR_RESTARTED_PIDNS | SCK_HDR_RESTARTED_USERNS) &&
			    how != SCK_HDR_RESTARTED_NEW_IDS :
			    how != 0)
		return BAD("bad restart mode flags 0x%x for generation %u", how,
			   h->generation);

	if (!h->ckpt_id || h->parent_id >= h->ckpt_id)
		return BAD("bad checkpoint ids %llu/%llu",
			   (unsigned long long)h->ckpt_id,
			   (unsigned long long)h->parent_id);
	if (h->page_size != SCK_PAGE_SIZE)
		return fail(r, -EPROTONOSUPPORT,
			    "image has page size %u; only 4096 is supported",
			    h->page_size);
	if (!has_nul(h->kernel_release, sizeof(h->kernel_release)) ||
	    !has_nul(h->kernel_version, sizeof(h->kernel_version)) ||
	    !has_nul(h->machine, sizeof(h->machine)) ||
	    !has_nul(h->glibc_version, sizeof(h->glibc_version)) ||
	    !has_nul(h->hostname, sizeof(h->hostname)) ||
	    !has_nul(h->machine_id, sizeof(h->machine_id)) ||
	    !has_nul(h->boot_id, sizeof(h->boot_id)) ||
	    !has_nul(h->selfckpt_version, sizeof(h->selfckpt_version)) ||
	    !has_nul(h->cpu.vendor, sizeof(h->cpu.vendor)) ||
	    !has_nul(h->cpu.model_name, sizeof(h->cpu.model_name)))
		return BAD("unterminated string");
	if (h->nspecial > SCK_MAX_SPECIAL || h->nthreads == 0 ||
	    h->nthreads > SCK_MAX_THREADS)
		return BAD("bad counts");
	if (h->cpu.xsave_size > SCK_MAX_XSAVE)
		return BAD("xsave size %u", h->cpu.xsave_size);
	return 0;
}

static int take_process(struct rd *r, struct sck_image *img,
			const struct sck_rec *rec, uint64_t off, const uint8_t *p)
{
	if (rec->len < sizeof(img->proc))
		return BAD("too short");
	memcpy(&img->proc, p, sizeof(img->proc));
	if (img->proc.auxv_len > SCK_AUXV_MAX * 2 || img->proc.auxv_len % 2)
		return BAD("bad auxv length %u", img->proc.auxv_len);
	/* The cwd is the tail: the fixed part may be longer than we know. */
	if (img->proc.cwd_len == 0 || img->proc.cwd_len > SCK_MAX_PATH ||
	    img->proc.cwd_len > rec->len ||
	    !fixed_ok(img, rec->len - img->proc.cwd_len, sizeof(img->proc)))
		return BAD("bad cwd length %u", img->proc.cwd_len);
	img->cwd = dup_str(p + rec->len - img->proc.cwd_len, img->proc.cwd_len);
	if (!img->cwd)
		return -ENOMEM;
	if (img->cwd[0] != '/' || strlen(img->cwd) != img->proc.cwd_len)
		return BAD("cwd is not an absolute path");
	if (img->proc.start_brk > img->proc.brk)
		return BAD("brk below start_brk");
	return 0;
}

static int take_file(struct rd *r, struct sck_image *img,
		     const struct sck_rec *rec, uint64_t off, const uint8_t *p)
{
	struct sck_img_file *f;

	if (rec->len < sizeof(struct sck_file))
		return BAD("too short");
	if (img->nfiles >= SCK_MAX_VMAS + SCK_MAX_FDS)
		return BAD("too many files");
	f = grow(img->files, img->nfiles, sizeof(*img->files));
	if (!f)
		return -ENOMEM;
	img->files = f;
	f = &img->files[img->nfiles];
	memcpy(&f->f, p, sizeof(f->f));
	f->path = NULL;
	if (f->f.path_len == 0 || f->f.path_len > SCK_MAX_PATH ||
	    f->f.path_len > rec->len ||
	    !fixed_ok(img, rec->len - f->f.path_len, sizeof(f->f)))
		return BAD("bad path length %u", f->f.path_len);
	if (f->f.build_id_len > sizeof(f->f.build_id))
		return BAD("bad build-id length");
	if (f->f.kind < SCK_FILE_REG || f->f.kind > SCK_FILE_FIFO)
		return BAD("bad file kind %u", f->f.kind);
	if (f->f.flags & ~SCK_FILEF_OBJECT)
		return BAD("unknown file flags %x", f->f.flags);
	if (f->f.id != img->nfiles + 1)
		return BAD("file id %u out of sequence", f->f.id);
	f->path = dup_str(p + rec->len - f->f.path_len, f->f.path_len);
	if (!f->path)
		return -ENOMEM;
	if (strlen(f->path) != f->f.path_len) {
		/* Not counted yet, so selfckpt__image_free() would not free it. */
		free(f->path);
		f->path = NULL;
		return BAD("NUL inside a path");
	}
	img->nfiles++;
	return 0;
}

static int take_vma(struct rd *r, struct sck_image *img,
		    const struct sck_rec *rec, uint64_t off, const uint8_t *p,
		    uint64_t *data_next)
{
	struct sck_img_vma *v;
	const uint8_t *q;

	if (rec->len < sizeof(struct sck_vma))
		return BAD("too short");
	if (img->nvmas >= SCK_MAX_VMAS)
		return BAD("too many mappings");
	v = grow(img->vmas, img->nvmas, sizeof(*img->vmas));
	if (!v)
		return -ENOMEM;
	img->vmas = v;
	v = &img->vmas[img->nvmas];
	memset(v, 0, sizeof(*v));
	memcpy(&v->v, p, sizeof(v->v));
	img->nvmas++;

	struct sck_vma *m = &v->v;
	uint64_t tail = (uint64_t)m->nruns * sizeof(struct sck_run) +
			(uint64_t)m->nguards * sizeof(struct sck_range) +
			m->name_len;

	/* The tail (runs, guards, name) ends the payload; the fixed part
	 * before it may be longer than this reader knows. */
	if (m->nruns > rec->len || m->nguards > rec->len ||
	    m->name_len > SCK_MAX_PATH || tail > rec->len ||
	    !fixed_ok(img, rec->len - tail, sizeof(*m)))
		return BAD("lengths do not add up");
	if (m->start >= m->end || m->start % SCK_PAGE_SIZE ||
	    m->end % SCK_PAGE_SIZE || m->end > (1ULL << 56))
		return BAD("bad range %llx-%llx", (unsigned long long)m->start,
			   (unsigned long long)m->end);
	if (m->kind < SCK_VMA_ANON || m->kind > SCK_VMA_SYSV_SHM)
		return BAD("bad kind %u", m->kind);
	if (m->kind != SCK_VMA_SYSV_SHM && m->sysv_id != 0)
		return BAD("%s mapping names System V segment %d",
			   selfckpt__vma_kind_name(m->kind), m->sysv_id);
	if (m->kind == SCK_VMA_SYSV_SHM && (m->sysv_id < 0 || !(m->flags & SCK_VMAF_SHARED)))
		return BAD("bad System V shared memory mapping (segment %d)", m->sysv_id);
	if (m->prot & ~7u)
		return BAD("bad protection %x", m->prot);
	if (m->file_id > img->nfiles)
		return BAD("refers to unknown file %u", m->file_id);
	if ((m->kind == SCK_VMA_FILE_PRIVATE || m->kind == SCK_VMA_FILE_SHARED ||
	     m->kind == SCK_VMA_MEMFD || m->kind == SCK_VMA_DELETED) &&
	    !m->file_id)
		return BAD("file mapping without a file");
	if (m->file_id && (m->kind == SCK_VMA_ANON || m->kind == SCK_VMA_HEAP ||
			   m->kind == SCK_VMA_STACK || sck_vma_special(m->kind) ||
			   m->kind == SCK_VMA_SYSV_SHM))
		return BAD("%s mapping with a file", selfckpt__vma_kind_name(m->kind));
	/* Object kinds need an object, file kinds a file with a path. */
	if (m->file_id) {
		int object = !!(img->files[m->file_id - 1].f.flags & SCK_FILEF_OBJECT);
		int wants = m->kind == SCK_VMA_MEMFD || m->kind == SCK_VMA_DELETED ||
			    m->kind == SCK_VMA_SHM_ANON;

		if (object != wants ||
		    img->files[m->file_id - 1].f.kind != SCK_FILE_REG)
			return BAD("mapping of the wrong kind of file");
	}
	/*
	 * Page data only where the restorer puts it: never into the vDSO or
	 * vvar, which are moved, not mapped, nor into a shared file mapping,
	 * which would write it into the file.
	 */
	if (m->nruns && (sck_vma_special(m->kind) || m->kind == SCK_VMA_FILE_SHARED ||
			 m->kind == SCK_VMA_SYSV_SHM))
		return BAD("page data for a %s mapping", selfckpt__vma_kind_name(m->kind));
	if (m->pgoff % SCK_PAGE_SIZE)
		return BAD("unaligned file offset");
	if (img->nvmas > 1 && img->vmas[img->nvmas - 2].v.end > m->start)
		return BAD("mappings overlap or are out of order");

	q = p + rec->len - tail;
	if (m->nruns) {
		v->runs = malloc(m->nruns * sizeof(struct sck_run));
		if (!v->runs)
			return -ENOMEM;
		memcpy(v->runs, q, m->nruns * sizeof(struct sck_run));
	}
	q += m->nruns * sizeof(struct sck_run);
	if (m->nguards) {
		v->guards = malloc(m->nguards * sizeof(struct sck_range));
		if (!v->guards)
			return -ENOMEM;
		memcpy(v->guards, q, m->nguards * sizeof(struct sck_range));
	}
	q += m->nguards * sizeof(struct sck_range);
	v->name = dup_str(q, m->name_len);
	if (!v->name)
		return -ENOMEM;

	uint64_t stored = 0, prev_end = m->start;

	for (uint32_t i = 0; i < m->nruns; i++) {
		struct sck_run *run = &v->runs[i];

		if (run->src != 0)
			return BAD("run refers to another image (incremental images are not supported yet)");
		if (run->addr % SCK_PAGE_SIZE || run->addr < prev_end ||
		    run->addr >= m->end || !run->npages ||
		    run->npages > (m->end - run->addr) / SCK_PAGE_SIZE)
			return BAD("page run %u outside its mapping", i);
		if (run->data_off != *data_next)
			return BAD("page run %u has data offset %llu, expected %llu",
				   i, (unsigned long long)run->data_off,
				   (unsigned long long)*data_next);
		prev_end = run->addr + run->npages * SCK_PAGE_SIZE;
		*data_next += run->npages * SCK_PAGE_SIZE;
		stored += run->npages;
	}
	if (stored != m->npages_stored)
		return BAD("stored page count does not match its runs");
	for (uint32_t i = 0; i < m->nguards; i++) {
		struct sck_range *g = &v->guards[i];

		if (g->start >= g->end || g->start < m->start ||
		    g->end > m->end || g->start % SCK_PAGE_SIZE ||
		    g->end % SCK_PAGE_SIZE)
			return BAD("guard range %u outside its mapping", i);
	}
	return 0;
}

/* ---- event-loop objects: timerfd, signalfd, epoll, inotify (6.15) ---- */

static size_t evl_state_size(uint32_t kind)
{
	switch (kind) {
	case SCK_OBJ_TIMERFD:
		return sizeof(struct sck_obj_timerfd);
	case SCK_OBJ_SIGNALFD:
		return sizeof(struct sck_obj_signalfd);
	case SCK_OBJ_EPOLL:
		return sizeof(struct sck_obj_epoll);
	}
	return sizeof(struct sck_obj_inotify);
}

#define EPOLLEXCLUSIVE_ (1u << 28)
/* What epoll_ctl() accepts with EPOLLEXCLUSIVE: IN OUT ERR HUP WAKEUP ET. */
#define EPOLLEXCLUSIVE_OK_ (0x1u | 0x4u | 0x8u | 0x10u | (1u << 29) | (1u << 31) | \
			    EPOLLEXCLUSIVE_)
#define IN_KNOWN_ (0x00000fffu | 0x04000000u | 0x80000000u)

/* The state and data of an event-loop object; 0, or 1 with why set. */
static int evl_check(const struct sck_img_obj *o, char *why, size_t n)
{
	switch (o->o.kind) {
	case SCK_OBJ_TIMERFD: {
		const struct sck_obj_timerfd *t = (const void *)o->state;
		int c = t->clockid, wall = c == 0 || c == 8;
		int abs = !!(t->flags & SCK_TFD_ABSTIME);

		if ((c != 0 && c != 1 && c != 7 && c != 8 && c != 9) ||
		    (t->flags & ~(SCK_TFD_ABSTIME | SCK_TFD_CANCEL_ON_SET)) ||
		    ((t->flags & SCK_TFD_CANCEL_ON_SET) && !(abs && wall)) ||
		    (t->deadline_ns != 0) != (abs && t->value_ns != 0) || o->o.data_len) {
			snprintf(why, n, "bad timerfd state");
			return 1;
		}
		return 0;
	}
	case SCK_OBJ_SIGNALFD: {
		const struct sck_obj_signalfd *sf = (const void *)o->state;

		/* SIGKILL and SIGSTOP cannot be taken by a signalfd. */
		if ((sf->mask & ((1ULL << 8) | (1ULL << 18))) || o->o.data_len) {
			snprintf(why, n, "bad signalfd state");
			return 1;
		}
		return 0;
	}
	case SCK_OBJ_EPOLL: {
		const struct sck_obj_epoll *e = (const void *)o->state;
		const struct sck_epoll_watch *w = (const void *)o->data;

		if (o->o.data_len != (uint64_t)e->nwatches * sizeof(*w)) {
			snprintf(why, n, "bad epoll state");
			return 1;
		}
		for (uint32_t i = 0; i < e->nwatches; i++) {
			if (w[i].fd < 0 || (uint32_t)w[i].fd >= SCK_MAX_FDS ||
			    (i && w[i].fd <= w[i - 1].fd)) {
				snprintf(why, n, "epoll watch %u: fd %d out of order", i, w[i].fd);
				return 1;
			}
			if ((w[i].events & EPOLLEXCLUSIVE_) &&
			    (w[i].events & ~EPOLLEXCLUSIVE_OK_)) {
				snprintf(why, n, "epoll watch of fd %d: events %x", w[i].fd,
					 w[i].events);
				return 1;
			}
		}
		return 0;
	}
	}
	/* inotify: nwatches watches, each its header, path and padding. */
	const struct sck_obj_inotify *in = (const void *)o->state;
	uint64_t off = 0;
	int32_t last = 0;

	for (uint32_t i = 0; i < in->nwatches; i++) {
		struct sck_inotify_watch w;

		if (o->o.data_len - off < sizeof(w) || o->o.data_len < off) {
			snprintf(why, n, "bad inotify state");
			return 1;
		}
		memcpy(&w, o->data + off, sizeof(w));
		uint64_t len = (sizeof(w) + (uint64_t)w.path_len + 7) & ~(uint64_t)7;
		const uint8_t *path = o->data + off + sizeof(w);

		if (w.path_len < 1 || w.path_len > SCK_MAX_PATH ||
		    len > o->o.data_len - off) {
			snprintf(why, n, "bad inotify state");
			return 1;
		}
		if (w.wd <= last) {
			snprintf(why, n, "inotify watch %d out of order", w.wd);
			return 1;
		}
		if (path[0] != '/' || memchr(path, 0, w.path_len)) {
			snprintf(why, n, "inotify watch %d: bad path", w.wd);
			return 1;
		}
		if (!(w.mask & 0xfffu) || (w.mask & ~IN_KNOWN_) ||
		    (w.flags & ~SCK_INW_DONT_FOLLOW)) {
			snprintf(why, n, "inotify watch %d: mask %x, flags %x", w.wd, w.mask,
				 w.flags);
			return 1;
		}
		last = w.wd;
		off += len;
	}
	if (off != o->o.data_len) {
		snprintf(why, n, "bad inotify state");
		return 1;
	}
	return 0;
}

/* A unix socket name: none, abstract (a NUL, then at least a byte), or a path. */
static int unix_name_ok(const uint8_t *name, uint32_t len)
{
	if (len > SCK_UNIX_NAME_MAX)
		return 0;
	if (!len || !name[0])
		return len != 1;
	return !memchr(name, 0, len);
}

/* The fields of a unix socket's state, each alone and with its state. */
static int unix_state_ok(const struct sck_img_obj *o)
{
	const struct sck_obj_unix *u = (const void *)o->state;
	uint32_t st = u->state;
	int stream = u->type != SOCK_DGRAM;

	if ((u->type != SOCK_STREAM && u->type != SOCK_DGRAM && u->type != SOCK_SEQPACKET) ||
	    st < SCK_SOCK_UNCONNECTED || st > SCK_SOCK_CONNECTED ||
	    (u->flags & ~(SCK_SOCKF_CUT | SCK_SOCKF_UNLINKED)) || u->shutdown > 3 ||
	    u->file_mode > 07777 || !unix_name_ok(u->name, u->name_len) ||
	    !unix_name_ok(u->peer_name, u->peer_name_len))
		return 0;
	if ((u->backlog && st != SCK_SOCK_LISTEN) ||
	    (u->dropped && (st != SCK_SOCK_LISTEN || !(u->flags & SCK_SOCKF_CUT))) ||
	    ((u->flags & SCK_SOCKF_CUT) && st != SCK_SOCK_CLOSED &&
	     !(st == SCK_SOCK_LISTEN && u->dropped)) ||
	    ((u->flags & SCK_SOCKF_UNLINKED) && (!u->name_len || !u->name[0])) ||
	    (!u->peer_name_len != (st != SCK_SOCK_CONNECTED)) ||
	    (st == SCK_SOCK_CONNECTED && stream) ||
	    (st == SCK_SOCK_PAIR && u->name_len) ||
	    (st == SCK_SOCK_CLOSED && stream && u->name_len) ||
	    ((st == SCK_SOCK_LISTEN || st == SCK_SOCK_PENDING) && !stream) ||
	    (st == SCK_SOCK_LISTEN && !u->name_len) ||
	    (!!u->peer != (st == SCK_SOCK_PAIR || st == SCK_SOCK_PENDING)) ||
	    u->peer == o->o.id)
		return 0;
	return 1;
}

/* The queue: bytes for a stream, else exactly nmsgs whole messages. */
static int unix_queue_ok(const struct sck_img_obj *o)
{
	const struct sck_obj_unix *u = (const void *)o->state;
	uint64_t off = 0, len = o->o.data_len;

	if (u->state == SCK_SOCK_LISTEN || u->state == SCK_SOCK_PENDING)
		return !len && !u->nmsgs;
	if (u->type == SOCK_STREAM)
		return !u->nmsgs;
	for (uint32_t i = 0; i < u->nmsgs; i++) {
		struct sck_unix_msg m;

		if (len - off < sizeof(m))
			return 0;
		memcpy(&m, o->data + off, sizeof(m));
		off += sizeof(m);
		if (m.addr_len > SCK_UNIX_NAME_MAX ||
		    (m.addr_len && u->type == SOCK_SEQPACKET) ||
		    len - off < (uint64_t)m.addr_len + m.len)
			return 0;
		off += (uint64_t)m.addr_len + m.len;
	}
	return off == len;
}

static int check_unix(struct rd *r, struct sck_image *img, const struct sck_rec *rec,
		      uint64_t off, const struct sck_img_obj *o)
{
	const struct sck_obj_unix *u = (const void *)o->state;
	uint32_t id = o->o.id;

	if (!unix_state_ok(o))
		return BAD("object %u: bad unix socket state", id);
	if (!unix_queue_ok(o))
		return BAD("object %u: its queued messages do not add up", id);
	if (u->state == SCK_SOCK_PAIR && u->peer < id) {
		const struct sck_img_obj *p = &img->objs[u->peer - 1];
		const struct sck_obj_unix *pu = (const void *)p->state;

		if (p->o.kind != SCK_OBJ_UNIX || pu->type != u->type ||
		    pu->state != SCK_SOCK_PAIR || pu->peer != id)
			return BAD("object %u: its peer %u does not name it back", id, u->peer);
	}
	if (u->state == SCK_SOCK_PENDING) {
		const struct sck_img_obj *l = u->peer < id ? &img->objs[u->peer - 1] : NULL;

		if (!l || l->o.kind != SCK_OBJ_UNIX ||
		    ((const struct sck_obj_unix *)l->state)->state != SCK_SOCK_LISTEN ||
		    ((const struct sck_obj_unix *)l->state)->type != u->type)
			return BAD("object %u: its listener %u is not a listening unix socket of its type",
				   id, u->peer);
	}
	return 0;
}

/* At END_META: every descriptor an epoll instance watches is the image's. */
static int evl_check_targets(struct rd *r, const struct sck_image *img,
			     const struct sck_rec *rec, uint64_t off)
{
	for (uint32_t i = 0; i < img->nobjs; i++) {
		const struct sck_img_obj *o = &img->objs[i];
		const struct sck_epoll_watch *w = (const void *)o->data;

		if (o->o.kind != SCK_OBJ_EPOLL)
			continue;
		for (uint32_t k = 0; k < ((const struct sck_obj_epoll *)o->state)->nwatches;
		     k++) {
			uint32_t j = 0;

			while (j < img->nfds && img->fds[j].fd != w[k].fd)
				j++;
			if (j == img->nfds)
				return BAD("object %u: epoll watches fd %d, which the image does not have",
					   o->o.id, w[k].fd);
		}
	}
	return 0;
}

/*
 * The slave side of a pty: it names an earlier pty object, which has no
 * other slave.
 */
static int take_pts(struct rd *r, const struct sck_image *img,
		    const struct sck_rec *rec, uint64_t off, const struct sck_img_obj *o)
{
	const struct sck_obj_pts *t = (const void *)o->state;

	if (o->o.data_len)
		return BAD("object %u: bad pts state", o->o.id);
	if (!t->master || t->master >= o->o.id ||
	    img->objs[t->master - 1].o.kind != SCK_OBJ_PTY)
		return BAD("object %u: the slave of object %u, which is not a pty", o->o.id,
			   t->master);
	for (uint32_t i = 0; i + 1 < o->o.id; i++)
		if (img->objs[i].o.kind == SCK_OBJ_PTS &&
		    ((const struct sck_obj_pts *)(const void *)img->objs[i].state)->master ==
			    t->master)
			return BAD("object %u: a second slave of pty object %u", o->o.id,
				   t->master);
	return 0;
}

static int inet_ok(const struct sck_img_obj *o)
{
	const struct sck_obj_inet *t = (const void *)o->state;
	uint16_t lfam, pfam;
	int tcp = t->type == SOCK_STREAM;
	uint32_t st = t->state;

	memcpy(&lfam, t->local, 2);
	memcpy(&pfam, t->peer, 2);
	if ((t->family != AF_INET && t->family != AF_INET6) ||
	    (t->type != SOCK_STREAM && t->type != SOCK_DGRAM) ||
	    (t->flags & ~SCK_SOCKF_ALL) || (t->flags & SCK_SOCKF_UNLINKED) ||
	    t->shutdown > 3 || lfam != t->family)
		return 0;
	if (tcp ? (st != SCK_SOCK_UNCONNECTED && st != SCK_SOCK_LISTEN && st != SCK_SOCK_CLOSED)
		: (st != SCK_SOCK_UNCONNECTED && st != SCK_SOCK_CONNECTED))
		return 0;
	if (st == SCK_SOCK_CONNECTED ? pfam != t->family :
	    st == SCK_SOCK_CLOSED ? (pfam && pfam != t->family) : pfam != 0)
		return 0;
	if ((st == SCK_SOCK_LISTEN && !(t->local[2] | t->local[3])) ||
	    (st == SCK_SOCK_CONNECTED && !(t->peer[2] | t->peer[3])) ||
	    (t->backlog && st != SCK_SOCK_LISTEN) ||
	    (t->dropped && (st != SCK_SOCK_LISTEN || !(t->flags & SCK_SOCKF_CUT))) ||
	    ((t->flags & SCK_SOCKF_CUT) && st != SCK_SOCK_CLOSED &&
	     !(st == SCK_SOCK_LISTEN && t->dropped)) ||
	    ((t->flags & SCK_SOCKF_RESET) && st != SCK_SOCK_CLOSED) ||
	    ((t->flags & SCK_SOCKF_DROPPED) && tcp) ||
	    (o->o.data_len && st != SCK_SOCK_CLOSED))
		return 0;
	return 1;
}

/*
 * OBJ: a kernel object. The kind's state must have the size this reader
 * knows (or more, from a newer minor version) and sensible values; data
 * only where the kind has any.
 */
/*
 * The runs of an unlinked file or memfd (SCK_OBJ_UNLINKED, SCK_OBJ_MEMFD):
 * file offsets in increasing order, within the file rounded up to a page,
 * their data next in the page data.
 */
static int ghost_runs(struct rd *r, const struct sck_rec *rec, uint64_t off,
		      const struct sck_img_obj *o, uint64_t *data_next)
{
	const struct sck_obj_ghost *g = (const void *)o->state;
	uint64_t prev_end = 0, limit = (g->size + SCK_PAGE_SIZE - 1) & ~(SCK_PAGE_SIZE - 1);
	uint32_t id = o->o.id;

	if (g->size > (1ULL << 62) || (g->mode & ~07777u) ||
	    (g->seals & ~SCK_SEALS_KNOWN) ||
	    (o->o.kind == SCK_OBJ_UNLINKED && g->seals) ||
	    o->o.data_len % sizeof(struct sck_run))
		return BAD("object %u: bad file state", id);
	for (uint64_t i = 0; i < o->o.data_len / sizeof(struct sck_run); i++) {
		struct sck_run run;

		memcpy(&run, o->data + i * sizeof(run), sizeof(run));
		if (run.src != 0)
			return BAD("run refers to another image (incremental images are not supported yet)");
		if (run.addr % SCK_PAGE_SIZE || run.addr < prev_end ||
		    run.addr >= limit || !run.npages ||
		    run.npages > (limit - run.addr) / SCK_PAGE_SIZE)
			return BAD("object %u: run %llu outside the file", id,
				   (unsigned long long)i);
		if (run.data_off != *data_next)
			return BAD("object %u: run %llu has data offset %llu, expected %llu",
				   id, (unsigned long long)i,
				   (unsigned long long)run.data_off,
				   (unsigned long long)*data_next);
		prev_end = run.addr + run.npages * SCK_PAGE_SIZE;
		*data_next += run.npages * SCK_PAGE_SIZE;
	}
	return 0;
}

static int take_obj(struct rd *r, struct sck_image *img,
		    const struct sck_rec *rec, uint64_t off, const uint8_t *p,
		    uint64_t *data_next)
{
	struct sck_img_obj *o;
	struct sck_obj h;
	size_t known;

	if (rec->len < sizeof(h))
		return BAD("too short");
	memcpy(&h, p, sizeof(h));
	if (img->nobjs >= SCK_MAX_FDS)
		return BAD("too many objects");
	if (h.id != img->nobjs + 1)
		return BAD("object id %u out of sequence", h.id);
	switch (h.kind) {
	case SCK_OBJ_PIPE:
		known = sizeof(struct sck_obj_pipe);
		break;
	case SCK_OBJ_EVENTFD:
		known = sizeof(struct sck_obj_eventfd);
		break;
	case SCK_OBJ_TIMERFD:
	case SCK_OBJ_SIGNALFD:
	case SCK_OBJ_EPOLL:
	case SCK_OBJ_INOTIFY:
		known = evl_state_size(h.kind);
		break;
	case SCK_OBJ_PTY:
		known = sizeof(struct sck_obj_pty);
		break;
	case SCK_OBJ_PTS:
		known = sizeof(struct sck_obj_pts);
		break;
	case SCK_OBJ_TTY:
		known = sizeof(struct sck_obj_tty);
		break;
	case SCK_OBJ_UNLINKED:
	case SCK_OBJ_MEMFD:
		known = sizeof(struct sck_obj_ghost);
		break;
	case SCK_OBJ_UNIX:
		known = sizeof(struct sck_obj_unix);
		break;
	case SCK_OBJ_INET:
		known = sizeof(struct sck_obj_inet);
		break;
	default:
		return BAD("object %u has unknown kind %u", h.id, h.kind);
	}
	if (h.state_len > SCK_MAX_FIXED || h.data_len > SCK_MAX_OBJ_DATA ||
	    rec->len - sizeof(h) < h.state_len ||
	    rec->len - sizeof(h) - h.state_len != h.data_len ||
	    !fixed_ok(img, sizeof(h) + h.state_len, sizeof(h) + known))
		return BAD("object %u: wrong length", h.id);
	o = grow(img->objs, img->nobjs, sizeof(*img->objs));
	if (!o)
		return -ENOMEM;
	img->objs = o;
	o = &img->objs[img->nobjs];
	memset(o, 0, sizeof(*o));
	o->o = h;
	/* Zero-filled to the size known here, whatever the image's. */
	o->state = calloc(1, known > h.state_len ? known : h.state_len);
	o->data = malloc(h.data_len ? h.data_len : 1);
	img->nobjs++;		/* freed by selfckpt__image_free() from here */
	if (!o->state || !o->data)
		return -ENOMEM;
	memcpy(o->state, p + sizeof(h), h.state_len);
	memcpy(o->data, p + sizeof(h) + h.state_len, h.data_len);
	int ghost = h.kind == SCK_OBJ_UNLINKED || h.kind == SCK_OBJ_MEMFD;

	if (h.file_id && h.kind != SCK_OBJ_PIPE && !ghost)
		return BAD("object %u: a %s has no path", h.id,
			   selfckpt__obj_kind_name(h.kind));
	if (ghost && (!h.file_id || h.file_id > img->nfiles ||
		      img->files[h.file_id - 1].f.kind != SCK_FILE_REG ||
		      !(img->files[h.file_id - 1].f.flags & SCK_FILEF_OBJECT)))
		return BAD("object %u: %s without a FILE record with the OBJECT flag",
			   h.id, selfckpt__obj_kind_name(h.kind));
	if (!ghost && (h.file_id > img->nfiles ||
		       (h.file_id && img->files[h.file_id - 1].f.kind != SCK_FILE_FIFO)))
		return BAD("object %u refers to a file that is not a FIFO", h.id);
	switch (h.kind) {
	case SCK_OBJ_PIPE: {
		const struct sck_obj_pipe *pp = (const void *)o->state;

		/* Linux: a power of two of pages, at most 2 GiB (fs/pipe.c). */
		if (pp->capacity < SCK_PAGE_SIZE || pp->capacity > (1U << 31) ||
		    (pp->capacity & (pp->capacity - 1)))
			return BAD("object %u: pipe size %u", h.id, pp->capacity);
		if (h.data_len > pp->capacity)
			return BAD("object %u: %llu bytes queued in a pipe of %u", h.id,
				   (unsigned long long)h.data_len, pp->capacity);
		break;
	}
	case SCK_OBJ_EVENTFD: {
		const struct sck_obj_eventfd *e = (const void *)o->state;

		if (e->count == UINT64_MAX || e->semaphore > 1 || h.data_len)
			return BAD("object %u: bad eventfd state", h.id);
		break;
	}
	case SCK_OBJ_UNIX:
		return check_unix(r, img, rec, off, o);
	case SCK_OBJ_INET:
		if (!inet_ok(o))
			return BAD("object %u: bad inet socket state", h.id);
		break;
	case SCK_OBJ_UNLINKED:
	case SCK_OBJ_MEMFD:
		return ghost_runs(r, rec, off, o, data_next);
	case SCK_OBJ_PTY: {
		const struct sck_obj_pty *t = (const void *)o->state;

		if (t->flags & ~(SCK_PTYF_LOCKED | SCK_PTYF_PACKET | SCK_PTYF_EXCL) ||
		    h.data_len)
			return BAD("object %u: bad pty state", h.id);
		break;
	}
	case SCK_OBJ_PTS:
		return take_pts(r, img, rec, off, o);
	case SCK_OBJ_TTY: {
		const struct sck_obj_tty *t = (const void *)o->state;
		uint32_t job = t->flags & (SCK_TTYF_FOREGROUND | SCK_TTYF_BACKGROUND);

		if (t->flags & ~(SCK_TTYF_CTTY | job) || job == (SCK_TTYF_FOREGROUND |
								 SCK_TTYF_BACKGROUND) ||
		    (job && !(t->flags & SCK_TTYF_CTTY)) || h.data_len)
			return BAD("object %u: bad terminal state", h.id);
		break;
	}
	default: {
		char why[96];

		if (evl_check(o, why, sizeof(why)))
			return BAD("object %u: %s", h.id, why);
	}
	}
	return 0;
}

/* Can descriptor f be a descriptor of its object? 0 if so. */
static int check_obj_fd(const struct sck_image *img, const struct sck_fd *f)
{
	const struct sck_img_obj *o = &img->objs[f->obj_id - 1];
	uint32_t acc = f->open_flags & O_ACCMODE;

	switch (o->o.kind) {
	case SCK_OBJ_PIPE:
		/* O_RDWR: a FIFO, or an anonymous pipe reopened via /proc */
		return acc == 3 || (f->open_flags & (O_PATH | O_DIRECT)) != 0;
	case SCK_OBJ_EVENTFD:
	case SCK_OBJ_TIMERFD:
	case SCK_OBJ_SIGNALFD:
	case SCK_OBJ_EPOLL:
		return acc != O_RDWR;
	case SCK_OBJ_INOTIFY:
		return acc != O_RDONLY;
	case SCK_OBJ_PTY:
	case SCK_OBJ_PTS:
	case SCK_OBJ_UNLINKED:
	case SCK_OBJ_MEMFD:
		return acc == 3 || (f->open_flags & O_PATH) != 0;
	case SCK_OBJ_UNIX: {
		const struct sck_obj_unix *u = (const void *)o->state;

		/* The second end of a pair must have come by now, naming it. */
		if (u->state == SCK_SOCK_PAIR && u->peer > o->o.id &&
		    (u->peer > img->nobjs || img->objs[u->peer - 1].o.kind != SCK_OBJ_UNIX ||
		     ((const struct sck_obj_unix *)img->objs[u->peer - 1].state)->peer != o->o.id))
			return 1;
		return acc != O_RDWR || (f->open_flags & O_PATH);
	}
	case SCK_OBJ_INET:
		return acc != O_RDWR || (f->open_flags & O_PATH);
	}
	return 1;	/* a terminal object only stdio descriptors name */
}

/*
 * LOCK: after the FD record it names, which is not shared with a lower
 * one (the lowest records the description's locks) and is a file, a
 * directory, an unlinked file or a memfd.
 */
static int take_lock(struct rd *r, struct sck_image *img,
		     const struct sck_rec *rec, uint64_t off, const uint8_t *p)
{
	struct sck_lock l;
	const struct sck_fd *f = NULL;

	if (!fixed_ok(img, rec->len, sizeof(l)))
		return BAD("wrong length");
	if (img->nlocks >= SCK_MAX_FDS)
		return BAD("too many locks");
	memcpy(&l, p, sizeof(l));
	for (uint32_t i = 0; i < img->nfds; i++)
		if (img->fds[i].fd == l.fd)
			f = &img->fds[i];
	if (!f)
		return BAD("a lock on fd %d, which has no FD record before it", l.fd);
	int ok = f->kind == SCK_FD_FILE || f->kind == SCK_FD_DIR;

	if (f->kind == SCK_FD_OBJ) {
		uint32_t k = img->objs[f->obj_id - 1].o.kind;

		ok = k == SCK_OBJ_UNLINKED || k == SCK_OBJ_MEMFD;
	}
	if (!ok || f->share_with)
		return BAD("a lock on fd %d, which cannot hold one", l.fd);
	if (l.kind < SCK_LOCK_POSIX || l.kind > SCK_LOCK_OFD ||
	    l.type < SCK_LOCK_READ || l.type > SCK_LOCK_WRITE ||
	    l.start > l.end || l.start > INT64_MAX ||
	    (l.end != SCK_LOCK_EOF && l.end > INT64_MAX) ||
	    (l.kind == SCK_LOCK_FLOCK && (l.start || l.end != SCK_LOCK_EOF)))
		return BAD("bad lock on fd %d", l.fd);
	struct sck_lock *n = grow(img->locks, img->nlocks, sizeof(*img->locks));

	if (!n)
		return -ENOMEM;
	img->locks = n;
	img->locks[img->nlocks++] = l;
	return 0;
}

static int take_fd(struct rd *r, struct sck_image *img,
		   const struct sck_rec *rec, uint64_t off, const uint8_t *p)
{
	struct sck_fd *f;

	if (!fixed_ok(img, rec->len, sizeof(struct sck_fd)))
		return BAD("wrong length");
	if (img->nfds >= SCK_MAX_FDS)
		return BAD("too many fds");
	f = grow(img->fds, img->nfds, sizeof(*img->fds));
	if (!f)
		return -ENOMEM;
	img->fds = f;
	f = &img->fds[img->nfds];
	memcpy(f, p, sizeof(*f));
	img->nfds++;
	if (f->fd < 0 || (img->nfds > 1 && img->fds[img->nfds - 2].fd >= f->fd))
		return BAD("fd %d out of order", f->fd);
	/*
	 * The launcher puts its helpers above the highest fd and closes every
	 * fd below them that the image does not have: bound it (by Linux's
	 * default fs.nr_open) so that no fd number makes that overflow or run
	 * for minutes.
	 */
	if ((uint32_t)f->fd >= SCK_MAX_FDS)
		return BAD("fd %d out of range (0-%u)", f->fd, SCK_MAX_FDS - 1);
	if (f->kind < SCK_FD_FILE || f->kind > SCK_FD_OBJ)
		return BAD("fd %d has bad kind %u", f->fd, f->kind);
	if (f->kind == SCK_FD_STDIO && f->fd > 2)
		return BAD("fd %d cannot be stdio", f->fd);
	if (f->kind == SCK_FD_OBJ) {
		if (f->file_id)
			return BAD("fd %d is an object but refers to a file", f->fd);
		if (!f->obj_id || f->obj_id > img->nobjs)
			return BAD("fd %d refers to unknown object %u", f->fd, f->obj_id);
		if (check_obj_fd(img, f))
			return BAD("fd %d cannot be an end of %s object %u", f->fd,
				   selfckpt__obj_kind_name(img->objs[f->obj_id - 1].o.kind),
				   f->obj_id);
	} else if (f->obj_id && f->kind == SCK_FD_STDIO) {
		/* The settings of the terminal it was (kind tty). */
		if (f->obj_id > img->nobjs)
			return BAD("fd %d refers to unknown object %u", f->fd, f->obj_id);
		if (img->objs[f->obj_id - 1].o.kind != SCK_OBJ_TTY)
			return BAD("fd %d is stdio but refers to %s object %u", f->fd,
				   selfckpt__obj_kind_name(img->objs[f->obj_id - 1].o.kind),
				   f->obj_id);
	} else if (f->obj_id) {
		return BAD("fd %d refers to an object but is not one", f->fd);
	}
	if (f->kind != SCK_FD_STDIO && f->kind != SCK_FD_OBJ &&
	    (!f->file_id || f->file_id > img->nfiles))
		return BAD("fd %d refers to unknown file %u", f->fd, f->file_id);
	if (f->kind == SCK_FD_STDIO && f->file_id)
		return BAD("fd %d is stdio but refers to a file", f->fd);
	if (f->kind != SCK_FD_STDIO && f->kind != SCK_FD_OBJ) {
		/* The file must be of the descriptor's kind, reachable by path. */
		const struct sck_file *ff = &img->files[f->file_id - 1].f;
		uint32_t want = f->kind == SCK_FD_FILE ? SCK_FILE_REG :
				f->kind == SCK_FD_DIR ? SCK_FILE_DIR : SCK_FILE_CHR;

		if (ff->kind != want || (ff->flags & SCK_FILEF_OBJECT))
			return BAD("fd %d refers to a file of another kind", f->fd);
	}
	if (f->share_with) {
		/* share_with is any uint32_t here: no int arithmetic on it. */
		uint32_t other = f->share_with - 1;
		int found = 0;

		for (uint32_t i = 0; i + 1 < img->nfds; i++)
			if ((uint32_t)img->fds[i].fd == other &&
			    img->fds[i].kind == f->kind &&
			    img->fds[i].obj_id == f->obj_id)
				found = 1;
		if (!found)
			return BAD("fd %d shares with unknown fd %u", f->fd, other);
	}
	return 0;
}

/*
 * One descriptor in flight, k (1...) of an SCM record: what an FD record
 * may be, without a number, never stdio (image-format.h).
 */
static int take_flight(struct rd *r, struct sck_image *img, const struct sck_rec *rec,
		       uint64_t off, const struct sck_scm_fd *sf, uint32_t k,
		       const struct sck_scm_fd *first)
{
	const struct sck_fd *f = &sf->fd;

	if (!sf->flight || sf->flight > img->nflight + 1)
		return BAD("descriptor %u: flight number %u out of sequence", k, sf->flight);
	if (first)
		return memcmp(first, sf, sizeof(*sf)) ?
		       BAD("descriptor %u: flight %u differs from its first description", k,
			   sf->flight) : 0;
	if (f->fd != -1 || f->fd_flags || f->stdio_kind || sf->_pad)
		return BAD("descriptor %u in flight has a number or flags", k);
	if (f->kind < SCK_FD_FILE || f->kind > SCK_FD_OBJ || f->kind == SCK_FD_STDIO)
		return BAD("descriptor %u in flight has bad kind %u", k, f->kind);
	if (f->kind == SCK_FD_OBJ) {
		if (f->file_id)
			return BAD("descriptor %u in flight is an object but refers to a file", k);
		if (!f->obj_id || f->obj_id > img->nobjs)
			return BAD("descriptor %u in flight refers to unknown object %u", k,
				   f->obj_id);
		uint32_t kind = img->objs[f->obj_id - 1].o.kind;

		if (check_obj_fd(img, f))
			return BAD("descriptor %u in flight cannot be an end of %s object %u", k,
				   selfckpt__obj_kind_name(kind), f->obj_id);
	} else {
		if (f->obj_id)
			return BAD("descriptor %u in flight refers to an object but is not one", k);
		if (!f->file_id || f->file_id > img->nfiles)
			return BAD("descriptor %u in flight refers to unknown file %u", k,
				   f->file_id);
		const struct sck_file *ff = &img->files[f->file_id - 1].f;
		uint32_t want = f->kind == SCK_FD_FILE ? SCK_FILE_REG :
				f->kind == SCK_FD_DIR ? SCK_FILE_DIR : SCK_FILE_CHR;

		if (ff->kind != want || (ff->flags & SCK_FILEF_OBJECT))
			return BAD("descriptor %u in flight refers to a file of another kind", k);
	}
	if (f->share_with) {
		uint32_t other = f->share_with - 1;
		int found = 0;

		for (uint32_t i = 0; i < img->nfds; i++)
			if ((uint32_t)img->fds[i].fd == other && img->fds[i].kind == f->kind &&
			    img->fds[i].obj_id == f->obj_id && img->fds[i].file_id == f->file_id)
				found = 1;
		if (!found)
			return BAD("descriptor %u in flight shares with unknown fd %u", k, other);
	}
	img->nflight++;
	return 0;
}

/* The first description of flight number no in the SCM records so far, or NULL. */
static const struct sck_scm_fd *flight_first(const struct sck_image *img,
					     const struct sck_scm_fd *cur, uint32_t ncur,
					     uint32_t no)
{
	for (uint32_t i = 0; i < img->nscms; i++)
		for (uint32_t k = 0; k < img->scms[i].s.nfds; k++)
			if (img->scms[i].fds[k].flight == no)
				return &img->scms[i].fds[k];
	for (uint32_t k = 0; k < ncur; k++)
		if (cur[k].flight == no)
			return &cur[k];
	return NULL;
}

/*
 * SCM: a message of a unix object's queue carrying descriptors, in queue
 * order after the SCM records before it, naming objects, files and fds
 * recorded before it.
 */
static int take_scm(struct rd *r, struct sck_image *img, const struct sck_rec *rec,
		    uint64_t off, const uint8_t *p)
{
	struct sck_scm h;

	if (rec->len < sizeof(h))
		return BAD("too short");
	memcpy(&h, p, sizeof(h));
	if (!h.nfds || h.nfds > SCK_SCM_MAX_FDS)
		return BAD("%u descriptors in one message", h.nfds);
	if (rec->len != sizeof(h) + (uint64_t)h.nfds * sizeof(struct sck_scm_fd))
		return BAD("wrong length");
	if (img->nscms >= SCK_MAX_FDS)
		return BAD("too many");
	if (!h.obj || h.obj > img->nobjs || img->objs[h.obj - 1].o.kind != SCK_OBJ_UNIX)
		return BAD("object %u is not a unix socket", h.obj);

	const struct sck_img_obj *o = &img->objs[h.obj - 1];
	const struct sck_obj_unix *u = (const void *)o->state;

	if (u->state == SCK_SOCK_LISTEN || u->state == SCK_SOCK_PENDING)
		return BAD("object %u has no queue", h.obj);
	if (u->type == SOCK_STREAM && (!h.len || h.at > o->o.data_len ||
				       h.len > o->o.data_len - h.at))
		return BAD("object %u: bytes %llu+%llu outside the %llu queued", h.obj,
			   (unsigned long long)h.at, (unsigned long long)h.len,
			   (unsigned long long)o->o.data_len);
	if (u->type != SOCK_STREAM && (h.len || h.at >= u->nmsgs))
		return BAD("object %u: message %llu of %u", h.obj, (unsigned long long)h.at,
			   u->nmsgs);
	if (img->nscms) {
		const struct sck_scm *prev = &img->scms[img->nscms - 1].s;

		if (prev->obj > h.obj ||
		    (prev->obj == h.obj && h.at < prev->at + prev->len + (u->type != SOCK_STREAM)))
			return BAD("object %u: out of queue order", h.obj);
	}

	struct sck_img_scm *n = grow(img->scms, img->nscms, sizeof(*img->scms));

	if (!n)
		return -ENOMEM;
	img->scms = n;
	n = &img->scms[img->nscms];
	n->s = h;
	n->fds = malloc(h.nfds * sizeof(*n->fds));
	if (!n->fds)
		return -ENOMEM;
	memcpy(n->fds, p + sizeof(h), h.nfds * sizeof(*n->fds));
	for (uint32_t k = 0; k < h.nfds; k++) {
		const struct sck_scm_fd *first = NULL;

		if (n->fds[k].flight && n->fds[k].flight <= img->nflight)
			first = flight_first(img, n->fds, k, n->fds[k].flight);
		int ret = take_flight(r, img, rec, off, &n->fds[k], k + 1, first);

		if (ret) {
			free(n->fds);
			return ret;
		}
	}
	img->nscms++;
	return 0;
}

static int take_thread(struct rd *r, struct sck_image *img,
		       const struct sck_rec *rec, uint64_t off, const uint8_t *p)
{
	struct sck_img_thread *t;

	if (rec->len < sizeof(struct sck_thread))
		return BAD("too short");
	if (img->nthreads >= img->hdr.nthreads)
		return BAD("more threads than the header says");
	t = grow(img->threads, img->nthreads, sizeof(*img->threads));
	if (!t)
		return -ENOMEM;
	img->threads = t;
	t = &img->threads[img->nthreads];
	memcpy(&t->t, p, sizeof(t->t));
	t->xsave = NULL;
	img->nthreads++;
	if (t->t.xsave_size > SCK_MAX_XSAVE || t->t.xsave_size > rec->len ||
	    !fixed_ok(img, rec->len - t->t.xsave_size, sizeof(t->t)))
		return BAD("bad xsave size %u", t->t.xsave_size);
	if (t->t.xsave_size < 576)
		return BAD("xsave area too small");
	t->xsave = aligned_alloc(64, (t->t.xsave_size + 63) & ~63u);
	if (!t->xsave)
		return -ENOMEM;
	memcpy(t->xsave, p + rec->len - t->t.xsave_size, t->t.xsave_size);
	if (t->t.rseq_len && (t->t.rseq_len < 32 || t->t.rseq_addr % 32))
		return BAD("bad rseq registration");
	if (t->t.ncpus > sizeof(t->t.affinity) * 8)
		return BAD("bad CPU count %u", t->t.ncpus);
	if (memchr(t->t.comm, '\0', sizeof(t->t.comm)) == NULL)
		return BAD("thread name not terminated");
	return 0;
}

static int cmp_tid(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return x < y ? -1 : x > y;
}

/* One main thread (the group leader), one caller, distinct ids. */
static int check_threads(struct rd *r, struct sck_image *img,
			 const struct sck_rec *rec, uint64_t off)
{
	uint32_t mains = 0, callers = 0;
	int32_t *tids = malloc(img->nthreads * sizeof(*tids) + 1);
	int ret = 0;

	if (!tids)
		return fail(r, -ENOMEM, "out of memory reading the image");
	for (uint32_t i = 0; i < img->nthreads; i++) {
		const struct sck_thread *t = &img->threads[i].t;

		tids[i] = t->tid;
		mains += !!(t->flags & SCK_THRF_MAIN);
		callers += !!(t->flags & SCK_THRF_CALLER);
		if (t->tid <= 0 || (t->flags & ~(SCK_THRF_MAIN | SCK_THRF_CALLER)))
			ret = 1;
		if ((t->flags & SCK_THRF_MAIN) && t->tid != img->hdr.pid)
			ret = 1;
	}
	qsort(tids, img->nthreads, sizeof(*tids), cmp_tid);
	for (uint32_t i = 1; i < img->nthreads; i++)
		if (tids[i] == tids[i - 1])
			ret = 1;
	free(tids);
	if (ret || mains != 1 || callers != 1)
		BAD("the threads' ids or roles are inconsistent");
	return ret || mains != 1 || callers != 1;
}

/* ---- timers, pending signals, clocks (POSIX_TIMER, SIGINFO, CLOCKS) ---- */

#define NSEC_PER_SEC 1000000000LL

/*
 * The clocks timer_create accepts: REALTIME 0, MONOTONIC 1, the calling
 * process's and thread's CPU time 2 and 3, BOOTTIME 7, REALTIME_ALARM 8,
 * BOOTTIME_ALARM 9, TAI 11; and CPU clocks of a given process or thread,
 * negative: ~pid << 3 | per-thread 4 | PROF 0, VIRT 1 or SCHED 2.
 */
static int timer_clock_ok(int32_t c)
{
	if (c < 0)
		return (c & 3) != 3;
	return c <= 3 || c == 7 || c == 8 || c == 9 || c == 11;
}

static int time_ok(int64_t sec, int64_t nsec)
{
	return sec >= 0 && nsec >= 0 && nsec < NSEC_PER_SEC;
}

static int take_timer(struct rd *r, struct sck_image *img,
		      const struct sck_rec *rec, uint64_t off, const uint8_t *p)
{
	struct sck_posix_timer *t;

	if (!fixed_ok(img, rec->len, sizeof(*t)))
		return BAD("wrong length");
	if (img->ntimers >= SCK_MAX_TIMERS)
		return BAD("too many timers");
	t = grow(img->timers, img->ntimers, sizeof(*t));
	if (!t)
		return -ENOMEM;
	img->timers = t;
	t = &img->timers[img->ntimers];
	memcpy(t, p, sizeof(*t));
	img->ntimers++;
	if (t->id < 0 || (img->ntimers > 1 && img->timers[img->ntimers - 2].id >= t->id))
		return BAD("timer %d out of order", t->id);
	if (!timer_clock_ok(t->clock))
		return BAD("timer %d has bad clock %d", t->id, t->clock);
	if (t->notify != SCK_SIGEV_SIGNAL && t->notify != SCK_SIGEV_NONE &&
	    t->notify != SCK_SIGEV_THREAD_ID)
		return BAD("timer %d has bad notification %d", t->id, t->notify);
	if (t->signo < 0 || t->signo > 64 ||
	    (t->notify != SCK_SIGEV_NONE && t->signo == 0))
		return BAD("timer %d has bad signal %d", t->id, t->signo);
	if (t->tid < 0 || (t->notify == SCK_SIGEV_THREAD_ID) != (t->tid != 0))
		return BAD("timer %d has bad target thread %d", t->id, t->tid);
	if (!time_ok(t->interval_sec, t->interval_nsec) ||
	    !time_ok(t->value_sec, t->value_nsec))
		return BAD("timer %d has bad times", t->id);
	return 0;
}

static int take_siginfo(struct rd *r, struct sck_image *img,
			const struct sck_rec *rec, uint64_t off, const uint8_t *p)
{
	struct sck_siginfo *s;
	int32_t si_signo;

	if (!fixed_ok(img, rec->len, sizeof(*s)))
		return BAD("wrong length");
	if (img->nsigs >= SCK_MAX_SIGINFO)
		return BAD("too many pending signals");
	s = grow(img->sigs, img->nsigs, sizeof(*s));
	if (!s)
		return -ENOMEM;
	img->sigs = s;
	s = &img->sigs[img->nsigs];
	memcpy(s, p, sizeof(*s));
	img->nsigs++;
	if (s->signo < 1 || s->signo > 64 || s->signo == 9 || s->signo == 19)
		return BAD("bad signal %u", s->signo);
	memcpy(&si_signo, s->info, sizeof(si_signo));
	if (si_signo != (int32_t)s->signo)
		return BAD("siginfo of signal %u names signal %d", s->signo, si_signo);
	return 0;
}

static int take_clocks(struct rd *r, struct sck_image *img,
		       const struct sck_rec *rec, uint64_t off, const uint8_t *p)
{
	struct sck_clocks *c = &img->clocks;

	if (img->has_clocks++)
		return BAD("twice");
	if (!fixed_ok(img, rec->len, sizeof(*c)))
		return BAD("wrong length");
	memcpy(c, p, sizeof(*c));
	if (!time_ok(c->monotonic_sec, c->monotonic_nsec) ||
	    !time_ok(c->boottime_sec, c->boottime_nsec))
		return BAD("bad time");
	return 0;
}

static int is_thread(const struct sck_image *img, int32_t tid)
{
	for (uint32_t i = 0; i < img->nthreads; i++)
		if (img->threads[i].t.tid == tid)
			return 1;
	return 0;
}

/* At END_META: the threads and processes that timers and signals name. */
static int check_timers_signals(struct rd *r, struct sck_image *img,
				const struct sck_rec *rec, uint64_t off)
{
	for (uint32_t i = 0; i < img->ntimers; i++) {
		const struct sck_posix_timer *t = &img->timers[i];
		int32_t who = ~(t->clock >> 3);

		/* CLOCK_THREAD_CPUTIME_ID, or a thread clock of thread 0 (glibc's). */
		int creator = t->clock == 3 || (t->clock < 0 && (t->clock & 4) && !who);

		if (t->notify == SCK_SIGEV_THREAD_ID && !is_thread(img, t->tid))
			return BAD("timer %d signals unknown thread %d", t->id, t->tid);
		if (creator && img->nthreads > 1)
			return BAD("timer %d measures the CPU time of the thread that created it, in a process of several threads",
				   t->id);
		if (!creator && t->clock < 0 && (t->clock & 4) && !is_thread(img, who))
			return BAD("timer %d measures the CPU time of unknown thread %d",
				   t->id, who);
		if (t->clock < 0 && !(t->clock & 4) && who != 0 && who != img->hdr.pid)
			return BAD("timer %d measures the CPU time of another process (%d)",
				   t->id, who);
	}
	for (uint32_t i = 0; i < img->nsigs; i++) {
		const struct sck_siginfo *s = &img->sigs[i];

		if (s->tid != 0 && !is_thread(img, s->tid))
			return BAD("signal %u pending for unknown thread %d", s->signo,
				   s->tid);
	}
	return 0;
}

/* ---- end of timers, pending signals, clocks ---- */

/* ---- System V IPC (SYSV) ---- */

const char *selfckpt__sysv_kind_name(uint32_t kind)
{
	return kind == SCK_SYSV_SHM ? "shm" : kind == SCK_SYSV_SEM ? "sem" :
	       kind == SCK_SYSV_MSG ? "msg" : "?";
}

/* The messages of a queue: count headers and texts fill data exactly. */
static int sysv_msgs_ok(const struct sck_sysv *x, const uint8_t *data)
{
	uint64_t at = 0;

	for (uint32_t i = 0; i < x->count; i++) {
		struct sck_sysv_msg m;

		if (x->data_len - at < sizeof(m))
			return 0;
		memcpy(&m, data + at, sizeof(m));
		at += sizeof(m);
		if (m.type <= 0 || m.len > x->data_len - at)
			return 0;
		at += m.len + sck_pad8(m.len);
		if (at > x->data_len)
			return 0;
	}
	return at == x->data_len;
}

static int take_sysv(struct rd *r, struct sck_image *img,
		     const struct sck_rec *rec, uint64_t off, const uint8_t *p)
{
	struct sck_img_sysv *v;
	struct sck_sysv *x;

	if (rec->len < sizeof(*x))
		return BAD("too short");
	if (img->nsysv >= SCK_MAX_SYSV)
		return BAD("too many System V objects");
	v = grow(img->sysv, img->nsysv, sizeof(*v));
	if (!v)
		return -ENOMEM;
	img->sysv = v;
	v = &img->sysv[img->nsysv];
	memset(v, 0, sizeof(*v));
	memcpy(&v->s, p, sizeof(v->s));
	img->nsysv++;
	x = &v->s;
	if (x->data_len > SCK_MAX_SYSV_DATA || x->data_len > rec->len ||
	    !fixed_ok(img, rec->len - x->data_len, sizeof(*x)))
		return BAD("lengths do not add up");
	if (x->kind < SCK_SYSV_SHM || x->kind > SCK_SYSV_MSG)
		return BAD("bad kind %u", x->kind);
	if (x->id < 0)
		return BAD("bad id %d", x->id);
	if (img->nsysv > 1) {
		const struct sck_sysv *b = &img->sysv[img->nsysv - 2].s;

		if (b->kind > x->kind || (b->kind == x->kind && b->id >= x->id))
			return BAD("%s %d out of order", selfckpt__sysv_kind_name(x->kind), x->id);
	}
	if (x->mode & ~0777u)
		return BAD("%s %d has bad mode %o", selfckpt__sysv_kind_name(x->kind), x->id, x->mode);
	if (x->flags & ~SCK_SYSVF_REMOVED ||
	    ((x->flags & SCK_SYSVF_REMOVED) && (x->kind != SCK_SYSV_SHM || x->key != 0)))
		return BAD("%s %d has bad flags %x", selfckpt__sysv_kind_name(x->kind), x->id, x->flags);
	if (x->kind != SCK_SYSV_MSG && x->count)
		return BAD("%s %d has messages", selfckpt__sysv_kind_name(x->kind), x->id);
	v->data = malloc(x->data_len ? x->data_len : 1);
	if (!v->data)
		return -ENOMEM;
	memcpy(v->data, p + rec->len - x->data_len, x->data_len);
	if (x->kind == SCK_SYSV_SHM && (x->size == 0 || x->data_len != x->size))
		return BAD("shm %d: size %llu, %llu bytes of data", x->id,
			   (unsigned long long)x->size, (unsigned long long)x->data_len);
	if (x->kind == SCK_SYSV_SEM && (x->size == 0 || x->data_len != 2 * x->size))
		return BAD("sem %d: %llu semaphores, %llu bytes of values", x->id,
			   (unsigned long long)x->size, (unsigned long long)x->data_len);
	if (x->kind == SCK_SYSV_MSG && !sysv_msgs_ok(x, v->data))
		return BAD("msg %d: the messages do not fill the data", x->id);
	return 0;
}

/* At END_META: each SYSV_SHM mapping lies inside its segment. */
static int check_sysv_maps(struct rd *r, struct sck_image *img,
			   const struct sck_rec *rec, uint64_t off)
{
	for (uint32_t i = 0; i < img->nvmas; i++) {
		const struct sck_vma *m = &img->vmas[i].v;
		const struct sck_sysv *x = NULL;

		if (m->kind != SCK_VMA_SYSV_SHM)
			continue;
		for (uint32_t k = 0; k < img->nsysv; k++)
			if (img->sysv[k].s.kind == SCK_SYSV_SHM && img->sysv[k].s.id == m->sysv_id)
				x = &img->sysv[k].s;
		if (!x)
			return BAD("mapping %llx names unknown System V segment %d",
				   (unsigned long long)m->start, m->sysv_id);
		if (m->pgoff + (m->end - m->start) >
		    ((x->size + SCK_PAGE_SIZE - 1) & ~(SCK_PAGE_SIZE - 1)))
			return BAD("mapping %llx runs past the end of System V segment %d",
				   (unsigned long long)m->start, m->sysv_id);
		/* A piece past the first continues the mapping before it. */
		if (m->pgoff && (i == 0 || img->vmas[i - 1].v.kind != SCK_VMA_SYSV_SHM ||
				 img->vmas[i - 1].v.sysv_id != m->sysv_id ||
				 img->vmas[i - 1].v.end != m->start ||
				 img->vmas[i - 1].v.pgoff + (m->start - img->vmas[i - 1].v.start) !=
					 m->pgoff))
			return BAD("mapping %llx is part of an attachment of System V segment %d whose start is missing",
				   (unsigned long long)m->start, m->sysv_id);
	}
	return 0;
}

/* ---- end of System V IPC ---- */

static int take_end(struct rd *r, struct sck_image *img,
		    const struct sck_rec *rec, uint64_t off, const uint8_t *p,
		    uint64_t data_next)
{
	if (!fixed_ok(img, rec->len, sizeof(img->end)))
		return BAD("wrong length");
	memcpy(&img->end, p, sizeof(img->end));
	struct sck_end_meta *e = &img->end;

	if (e->nfiles != img->nfiles || e->nvmas != img->nvmas ||
	    e->nfds != img->nfds || e->nthreads != img->nthreads ||
	    e->meta_records != img->nrecords - 1)
		return BAD("counts do not match the records read");
	if (img->nthreads != img->hdr.nthreads)
		return BAD("header announces %u threads, image has %u",
			   img->hdr.nthreads, img->nthreads);
	if (e->data_len != data_next || e->data_len % SCK_PAGE_SIZE)
		return BAD("page data length does not match the mappings");
	if (check_threads(r, img, rec, off))
		return -EBADMSG;
	if (img->proc.exe_file > img->nfiles ||
	    (img->proc.exe_file &&
	     (img->files[img->proc.exe_file - 1].f.flags & SCK_FILEF_OBJECT)))
		return BAD("PROCESS names unknown executable file %u",
			   img->proc.exe_file);
	uint64_t runs = 0;

	for (uint32_t i = 0; i < img->nvmas; i++)
		runs += img->vmas[i].v.nruns;
	if (e->nruns != runs)
		return BAD("run count does not match the mappings");
	if (evl_check_targets(r, img, rec, off))
		return -EBADMSG;
	/* The header's vDSO/vvar list must be exactly those mappings (P5). */
	uint32_t k = 0;

	for (uint32_t i = 0; i < img->nvmas; i++) {
		const struct sck_vma *v = &img->vmas[i].v;

		if (!sck_vma_special(v->kind))
			continue;
		if (k >= img->hdr.nspecial || img->hdr.special[k].start != v->start ||
		    img->hdr.special[k].end != v->end ||
		    img->hdr.special[k].kind != v->kind)
			return BAD("vdso/vvar list of the header does not match the mappings");
		k++;
	}
	if (k != img->hdr.nspecial)
		return BAD("vdso/vvar list of the header does not match the mappings");
	/* libc found the vDSO through the auxv: it must be where the image says. */
	for (uint32_t i = 0; i + 1 < img->proc.auxv_len; i += 2) {
		if (img->proc.auxv[i] != AT_SYSINFO_EHDR)
			continue;
		uint64_t vdso = 0;

		for (uint32_t n = 0; n < img->hdr.nspecial; n++)
			if (img->hdr.special[n].kind == SCK_VMA_VDSO)
				vdso = img->hdr.special[n].start;
		if (img->proc.auxv[i + 1] != vdso)
			return BAD("the auxiliary vector puts the vdso at %llx, the mappings at %llx",
				   (unsigned long long)img->proc.auxv[i + 1],
				   (unsigned long long)vdso);
	}
	if (check_sysv_maps(r, img, rec, off))
		return -EBADMSG;
	return check_timers_signals(r, img, rec, off);
}

int selfckpt__image_read_meta(int fd, struct sck_image *img, char *err,
			      size_t errlen)
{
	return selfckpt__image_read_meta_seen(fd, img, NULL, NULL, err, errlen);
}

int selfckpt__image_read_meta_seen(int fd, struct sck_image *img,
				   void (*seen)(void *arg, uint64_t off,
						const struct sck_rec *rec),
				   void *arg, char *err, size_t errlen)
{
	struct rd rd = { fd, 0, err, errlen }, *r = &rd;
	uint64_t data_next = 0;
	int ret, seen_proc = 0, seen_sig = 0, seen_rlim = 0;

	memset(img, 0, sizeof(*img));
	img->seen = seen;
	img->seen_arg = arg;
	err[0] = '\0';
	ret = read_exact(r, &img->pre, sizeof(img->pre), "the preamble");
	if (ret == -ENODATA && r->off == 0)
		return fail(r, -ENODATA, "image is empty");
	if (ret == -ENODATA)
		return fail(r, -EPROTO, "not a selfckpt image (too short)");
	if (ret)
		return ret;
	if (memcmp(img->pre.magic, SCK_MAGIC, SCK_MAGIC_LEN) != 0)
		return fail(r, -EPROTO, "not a selfckpt image (bad magic)");
	if (img->pre.major != SCK_VERSION_MAJOR)
		return fail(r, -EPROTONOSUPPORT,
			    "image format version %u.%u is not supported: this selfckpt reads version %u.x",
			    img->pre.major, img->pre.minor, SCK_VERSION_MAJOR);
	if (img->pre.arch != SCK_ARCH_X86_64)
		return fail(r, -EPROTONOSUPPORT,
			    "image is for another architecture (ELF machine %u)",
			    img->pre.arch);
	img->chain = selfckpt__xxh64(&img->pre, sizeof(img->pre), SCK_HASH_SEED);

	for (;;) {
		struct sck_rec rec0, *rec = &rec0;
		uint64_t off;
		uint8_t *p = NULL;

		ret = read_rec(r, img, rec, &off);
		if (ret)
			return ret;
		if (img->nrecords == 1 && rec->type != SCK_REC_HEADER)
			return BAD("the first record must be HEADER");
		if (img->nrecords > 1 && rec->type == SCK_REC_HEADER)
			return BAD("a second HEADER");
		if (rec->type == SCK_REC_PAGES) {
			if (!img->end.nthreads)
				return BAD("PAGES before END_META");
			if (rec->len != img->end.data_len)
				return BAD("length %llu, END_META said %llu",
					   (unsigned long long)rec->len,
					   (unsigned long long)img->end.data_len);
			if (r->off % SCK_PAGE_SIZE)
				return BAD("page data is not page-aligned");
			if (rec->payload_hash != 0)
				return BAD("payload hash must be 0");
			img->data_off = r->off;
			return 0;
		}
		/*
		 * These two belong after the page data, where verify_data
		 * checks their length exactly: refused here before their
		 * payload is read (a huge claimed length must not be
		 * allocated), whatever their flags say (OPTIONAL has no
		 * effect on known types, image-format.md 4.4).
		 */
		if (rec->type == SCK_REC_PAGE_HASHES || rec->type == SCK_REC_COMMIT)
			return BAD("comes before the page data");
		ret = read_payload(r, rec, off, &p);
		if (ret)
			return ret;
		if (img->end.nthreads && rec->type != SCK_REC_PAD) {
			free(p);
			return BAD("only PAD may follow END_META");
		}
		switch (rec->type) {
		case SCK_REC_HEADER:
			ret = take_header(r, img, rec, off, p);
			break;
		case SCK_REC_PROCESS:
			ret = seen_proc++ ? BAD("twice") :
					    take_process(r, img, rec, off, p);
			break;
		case SCK_REC_RLIMITS:
			if (seen_rlim++)
				ret = BAD("twice");
			else if (!fixed_ok(img, rec->len, sizeof(img->rlim)))
				ret = BAD("wrong length");
			else
				memcpy(&img->rlim, p, sizeof(img->rlim));
			break;
		case SCK_REC_SIGACTIONS:
			if (seen_sig++)
				ret = BAD("twice");
			else if (!fixed_ok(img, rec->len, sizeof(img->sig)))
				ret = BAD("wrong length");
			else
				memcpy(&img->sig, p, sizeof(img->sig));
			break;
		case SCK_REC_FILE:
			ret = take_file(r, img, rec, off, p);
			break;
		case SCK_REC_VMA:
			ret = take_vma(r, img, rec, off, p, &data_next);
			break;
		case SCK_REC_FD:
			ret = take_fd(r, img, rec, off, p);
			break;
		case SCK_REC_OBJ:
			ret = take_obj(r, img, rec, off, p, &data_next);
			break;
		case SCK_REC_LOCK:
			ret = take_lock(r, img, rec, off, p);
			break;
		case SCK_REC_THREAD:
			ret = take_thread(r, img, rec, off, p);
			break;
		case SCK_REC_NOTE: {
			char **n = grow(img->notes, img->nnotes, sizeof(char *));

			if (!n) {
				ret = -ENOMEM;
				break;
			}
			img->notes = n;
			img->notes[img->nnotes] = dup_str(p, rec->len);
			if (!img->notes[img->nnotes++])
				ret = -ENOMEM;
			break;
		}
		case SCK_REC_END_META:
			if (!seen_proc || !seen_sig || !seen_rlim || !img->nvmas)
				ret = BAD("metadata incomplete");
			else
				ret = take_end(r, img, rec, off, p, data_next);
			break;
		case SCK_REC_PAD:
			break;
		case SCK_REC_POSIX_TIMER:
			ret = take_timer(r, img, rec, off, p);
			break;
		case SCK_REC_SIGINFO:
			ret = take_siginfo(r, img, rec, off, p);
			break;
		case SCK_REC_CLOCKS:
			ret = take_clocks(r, img, rec, off, p);
			break;
		case SCK_REC_SCM:
			ret = take_scm(r, img, rec, off, p);
			break;
		case SCK_REC_SYSV:
			ret = take_sysv(r, img, rec, off, p);
			break;
		default:
			if (!(rec->flags & SCK_RECF_OPTIONAL))
				ret = fail(r, -EPROTONOSUPPORT,
					   "image has record type %u at byte %llu, unknown to this selfckpt (written by a newer version?)",
					   rec->type, (unsigned long long)off);
			break;
		}
		free(p);
		if (ret == -ENOMEM)
			return fail(r, -ENOMEM, "out of memory reading the image");
		if (ret)
			return ret;
	}
}

int selfckpt__image_verify_data(int fd, struct sck_image *img,
				int (*sink)(void *, const void *, size_t,
					    uint64_t),
				void *arg, char *err, size_t errlen)
{
	struct rd rd = { fd, img->data_off, err, errlen }, *r = &rd;
	uint64_t len = img->end.data_len, done = 0;
	uint64_t nchunks = (len + SCK_CHUNK_SIZE - 1) / SCK_CHUNK_SIZE;
	size_t bufsize = SCK_CHUNK_SIZE;
	uint64_t *hashes = NULL;
	uint8_t *buf;
	int ret = 0;

	buf = mmap(NULL, bufsize, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return fail(r, -ENOMEM, "out of memory verifying the image");
	hashes = calloc(nchunks ? nchunks : 1, sizeof(*hashes));
	if (!hashes) {
		ret = fail(r, -ENOMEM, "out of memory verifying the image");
		goto out;
	}
	for (uint64_t c = 0; c < nchunks; c++) {
		size_t n = (size_t)(len - done < bufsize ? len - done : bufsize);

		ret = read_exact(r, buf, n, "the page data");
		if (ret)
			goto out;
		hashes[c] = selfckpt__xxh64(buf, n, 0);
		if (sink) {
			ret = sink(arg, buf, n, done);
			if (ret)
				goto out;
		}
		done += n;
	}

	struct sck_rec rec0, *rec = &rec0;
	uint64_t off;
	uint8_t *p = NULL;

	ret = read_rec(r, img, rec, &off);
	if (ret)
		goto out;
	if (rec->type != SCK_REC_PAGE_HASHES) {
		ret = BAD("expected PAGE_HASHES");
		goto out;
	}
	/* Its length follows from the page data: check it before reading. */
	struct sck_page_hashes ph;

	if (rec->len < nchunks * 8 ||
	    !fixed_ok(img, rec->len - nchunks * 8, sizeof(ph))) {
		ret = BAD("hash list does not match the page data");
		goto out;
	}
	ret = read_payload(r, rec, off, &p);
	if (ret)
		goto out;
	memcpy(&ph, p, sizeof(ph));
	if (ph.chunk_size != SCK_CHUNK_SIZE || ph.nchunks != nchunks) {
		free(p);
		ret = BAD("hash list does not match the page data");
		goto out;
	}
	for (uint64_t c = 0; c < nchunks; c++) {
		uint64_t h, last = (c + 1) * SCK_CHUNK_SIZE;

		memcpy(&h, p + rec->len - nchunks * 8 + c * 8, 8);
		if (h != hashes[c]) {
			free(p);
			ret = fail(r, -EBADMSG,
				   "image is damaged: page data bytes %llu-%llu fail their checksum",
				   (unsigned long long)(c * SCK_CHUNK_SIZE),
				   (unsigned long long)((last < len ? last : len) - 1));
			goto out;
		}
	}
	free(p);
	p = NULL;

	uint64_t commit_off_expected = r->off;

	ret = read_rec(r, img, rec, &off);
	if (ret)
		goto out;
	if (rec->type != SCK_REC_COMMIT) {
		ret = BAD("expected COMMIT");
		goto out;
	}
	ret = read_payload(r, rec, off, &p);
	if (ret)
		goto out;
	if (!fixed_ok(img, rec->len, sizeof(img->commit))) {
		free(p);
		ret = BAD("wrong length");
		goto out;
	}
	memcpy(&img->commit, p, sizeof(img->commit));
	free(p);
	if (img->commit.magic != SCK_COMMIT_MAGIC ||
	    img->commit.records != img->nrecords - 1 ||
	    img->commit.commit_off != commit_off_expected ||
	    img->commit.data_len != len ||
	    memcmp(&img->commit.image_uuid, &img->hdr.image_uuid, 16)) {
		ret = BAD("commit record does not match the image");
		goto out;
	}
	/* Nothing may follow the commit record. */
	char extra;
	ssize_t k;

	do
		k = read(fd, &extra, 1);
	while (k < 0 && errno == EINTR);
	if (k > 0) {
		ret = fail(r, -EBADMSG,
			   "image is damaged: data follows the commit record at byte %llu",
			   (unsigned long long)r->off);
		goto out;
	}
	img->file_len = r->off;
	img->chunk_hash = hashes;
	img->nchunks = nchunks;
	hashes = NULL;
out:
	free(hashes);
	munmap(buf, bufsize);
	return ret;
}

void selfckpt__image_free(struct sck_image *img)
{
	free(img->cwd);
	for (uint32_t i = 0; i < img->nfiles; i++)
		free(img->files[i].path);
	free(img->files);
	for (uint32_t i = 0; i < img->nvmas; i++) {
		free(img->vmas[i].runs);
		free(img->vmas[i].guards);
		free(img->vmas[i].name);
	}
	free(img->vmas);
	free(img->fds);
	for (uint32_t i = 0; i < img->nobjs; i++) {
		free(img->objs[i].state);
		free(img->objs[i].data);
	}
	free(img->objs);
	free(img->locks);
	for (uint32_t i = 0; i < img->nthreads; i++)
		free(img->threads[i].xsave);
	free(img->threads);
	for (uint32_t i = 0; i < img->nnotes; i++)
		free(img->notes[i]);
	free(img->notes);
	free(img->timers);
	for (uint32_t i = 0; i < img->nscms; i++)
		free(img->scms[i].fds);
	free(img->scms);
	free(img->sigs);
	for (uint32_t i = 0; i < img->nsysv; i++)
		free(img->sysv[i].data);
	free(img->sysv);
	free(img->chunk_hash);
	memset(img, 0, sizeof(*img));
}

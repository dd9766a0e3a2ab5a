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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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
		"PAGE_HASHES", "COMMIT",  "NOTE",	 "POSIX_TIMER",
		"SIGINFO",    "CLOCKS",
	};

	return type < sizeof(names) / sizeof(names[0]) ? names[type] : "?";
}

const char *selfckpt__vma_kind_name(uint32_t kind)
{
	static const char *const names[] = {
		"?",	   "anon",  "heap",	 "stack",   "file",	  "file-shared",
		"shm-anon", "memfd", "deleted", "vdso",   "vvar", "vvar_vclock",
	};

	return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}

const char *selfckpt__fd_kind_name(uint32_t kind)
{
	static const char *const names[] = { "?", "file", "dir", "dev",
					     "stdio" };

	return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
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
	if (f->f.kind < SCK_FILE_REG || f->f.kind > SCK_FILE_CHR)
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
	if (m->kind < SCK_VMA_ANON || m->kind > SCK_VMA_VVAR_VCLOCK)
		return BAD("bad kind %u", m->kind);
	if (m->prot & ~7u)
		return BAD("bad protection %x", m->prot);
	if (m->file_id > img->nfiles)
		return BAD("refers to unknown file %u", m->file_id);
	if ((m->kind == SCK_VMA_FILE_PRIVATE || m->kind == SCK_VMA_FILE_SHARED ||
	     m->kind == SCK_VMA_MEMFD || m->kind == SCK_VMA_DELETED) &&
	    !m->file_id)
		return BAD("file mapping without a file");
	if (m->file_id && (m->kind == SCK_VMA_ANON || m->kind == SCK_VMA_HEAP ||
			   m->kind == SCK_VMA_STACK || m->kind >= SCK_VMA_VDSO))
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
	if (m->nruns && (m->kind >= SCK_VMA_VDSO || m->kind == SCK_VMA_FILE_SHARED))
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
	if (f->kind < SCK_FD_FILE || f->kind > SCK_FD_STDIO)
		return BAD("fd %d has bad kind %u", f->fd, f->kind);
	if (f->kind == SCK_FD_STDIO && f->fd > 2)
		return BAD("fd %d cannot be stdio", f->fd);
	if (f->kind != SCK_FD_STDIO && (!f->file_id || f->file_id > img->nfiles))
		return BAD("fd %d refers to unknown file %u", f->fd, f->file_id);
	if (f->kind == SCK_FD_STDIO && f->file_id)
		return BAD("fd %d is stdio but refers to a file", f->fd);
	if (f->kind != SCK_FD_STDIO) {
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
			    img->fds[i].kind == f->kind)
				found = 1;
		if (!found)
			return BAD("fd %d shares with unknown fd %u", f->fd, other);
	}
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
	/* The header's vDSO/vvar list must be exactly those mappings (P5). */
	uint32_t k = 0;

	for (uint32_t i = 0; i < img->nvmas; i++) {
		const struct sck_vma *v = &img->vmas[i].v;

		if (v->kind < SCK_VMA_VDSO)
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
	for (uint32_t i = 0; i < img->nthreads; i++)
		free(img->threads[i].xsave);
	free(img->threads);
	for (uint32_t i = 0; i < img->nnotes; i++)
		free(img->notes[i]);
	free(img->notes);
	free(img->timers);
	free(img->sigs);
	free(img->chunk_hash);
	memset(img, 0, sizeof(*img));
}

/*
 * test_image.c - the image encoder and decoder (image-enc.c, image-dec.c).
 *
 * Images are built in memory the way checkpoint.c and writer.c build them:
 * a model (a list of logical records with their payloads) is serialized
 * with selfckpt__meta_start/add/seal, a PAD record so that the PAGES payload
 * is page-aligned, a PAGES header sealed with selfckpt__rec_seal, the page
 * data, then a continuation buffer with PAGE_HASHES and COMMIT. Tests alter
 * the model before it is sealed, so that every hash is right and only the
 * check under test can object, or alter the sealed bytes, to play damage.
 *
 * Each image is decoded from a memfd and from a pipe fed by a thread in
 * random-sized writes, with selfckpt__image_read_meta then
 * selfckpt__image_verify_data, and what comes back is compared field by
 * field with the model. The damage tests truncate a small image at every
 * byte and flip bits in every byte: each must be refused with the right
 * code and a one-line message, never accepted and never crash (run this
 * under valgrind to see that no damaged image makes the decoder read out
 * of bounds or leak).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <xxhash.h>

#include "image.h"
#include "unit.h"

#define PAGE 4096u
#define MAX_RECS 512
#define ERRLEN 512

/* ---- the model ----------------------------------------------------------- */

struct lrec {
	uint32_t type, flags;
	uint8_t *p;
	size_t len;
};

struct model {
	struct lrec rec[MAX_RECS];
	int n;
	uint8_t *pages;
	uint64_t data_len;
	uint64_t data_next;		/* while building: next run's data_off */
};

/* Where things landed in the stream. */
struct layout {
	uint64_t rec_off[MAX_RECS];
	uint64_t pad_off, pages_off, data_off, hashes_off, commit_off, total;
};

/* How to serialize, beyond the model: knobs for the damage tests. */
struct ser_opts {
	int set_version;		/* use major/minor/arch below */
	uint16_t major, minor;
	uint32_t arch;
	void (*end)(struct sck_end_meta *e);	/* after the counts are set */
	int64_t pad_extra;		/* bytes added to the PAD payload */
	int64_t pages_len_delta;
	uint64_t pages_hash;
	uint32_t hashes_type, commit_type;	/* 0: the right ones */
	void (*hashes)(struct sck_page_hashes *ph, uint64_t *h);
	void (*commit)(struct sck_commit *c);
	size_t trailing;		/* bytes after COMMIT */
};

static const uint8_t zeros[4 * PAGE];	/* PAD payloads, even too long ones */

static void add_rec(struct model *m, uint32_t type, uint32_t flags,
		    const void *a, size_t na, const void *b, size_t nb)
{
	struct lrec *r;

	assert_true(m->n < MAX_RECS);
	r = &m->rec[m->n++];
	r->type = type;
	r->flags = flags;
	r->len = na + nb;
	r->p = calloc(1, r->len + 1);
	assert_non_null(r->p);
	if (na)
		memcpy(r->p, a, na);
	if (nb)
		memcpy(r->p + na, b, nb);
}

/* Insert a record before index at. */
static void insert_rec(struct model *m, int at, uint32_t type, uint32_t flags,
		       const void *p, size_t len)
{
	struct lrec tmp;

	add_rec(m, type, flags, p, len, NULL, 0);
	tmp = m->rec[m->n - 1];
	memmove(&m->rec[at + 1], &m->rec[at], (size_t)(m->n - 1 - at) * sizeof(tmp));
	m->rec[at] = tmp;
}

static void remove_rec(struct model *m, int at)
{
	free(m->rec[at].p);
	memmove(&m->rec[at], &m->rec[at + 1], (size_t)(m->n - 1 - at) * sizeof(m->rec[0]));
	m->n--;
}

static void swap_recs(struct model *m, int a, int b)
{
	struct lrec t = m->rec[a];

	m->rec[a] = m->rec[b];
	m->rec[b] = t;
}

/* Index of the k-th record of a type, or -1. */
static int rec_index(const struct model *m, uint32_t type, int k)
{
	for (int i = 0; i < m->n; i++)
		if (m->rec[i].type == type && k-- == 0)
			return i;
	return -1;
}

static void *payload(struct model *m, uint32_t type, int k)
{
	int i = rec_index(m, type, k);

	assert_true(i >= 0);
	return m->rec[i].p;
}

static void model_free(struct model *m)
{
	for (int i = 0; i < m->n; i++)
		free(m->rec[i].p);
	free(m->pages);
	memset(m, 0, sizeof(*m));
}

/* Typed views of the k-th record of a kind. */
static struct sck_vma *vma(struct model *m, int k)
{
	return payload(m, SCK_REC_VMA, k);
}

static struct sck_run *runs(struct model *m, int k)
{
	return (struct sck_run *)(void *)((uint8_t *)vma(m, k) + sizeof(struct sck_vma));
}

static struct sck_range *guards(struct model *m, int k)
{
	struct sck_vma *v = vma(m, k);

	return (struct sck_range *)(void *)((uint8_t *)v + sizeof(*v) +
					    v->nruns * sizeof(struct sck_run));
}

static struct sck_fd *fd_rec(struct model *m, int k)
{
	return payload(m, SCK_REC_FD, k);
}

static struct sck_file *file_rec(struct model *m, int k)
{
	return payload(m, SCK_REC_FILE, k);
}

static struct sck_header *hdr(struct model *m)
{
	return payload(m, SCK_REC_HEADER, 0);
}

static struct sck_process *proc(struct model *m)
{
	return payload(m, SCK_REC_PROCESS, 0);
}

static struct sck_thread *thread(struct model *m)
{
	return payload(m, SCK_REC_THREAD, 0);
}

/* ---- building a model ----------------------------------------------------- */

struct span {
	uint64_t page, n;
};

struct vma_spec {
	uint32_t kind, prot, flags, file_id;
	uint64_t start, npages, pgoff, obj_size;
	const char *name;
	int nruns, nguards;
	struct span runs[64], guards[8];
};

static void add_vma(struct model *m, const struct vma_spec *s)
{
	struct sck_vma v;
	struct sck_run runs[64];
	struct sck_range guards[8];
	size_t name_len = strlen(s->name);
	size_t rn = (size_t)s->nruns * sizeof(runs[0]);
	size_t gn = (size_t)s->nguards * sizeof(guards[0]);
	uint8_t *buf = calloc(1, sizeof(v) + rn + gn + name_len + 1);

	assert_non_null(buf);
	memset(&v, 0, sizeof(v));
	memset(runs, 0, sizeof(runs));
	v.start = s->start;
	v.end = s->start + s->npages * PAGE;
	v.pgoff = s->pgoff;
	v.kind = s->kind;
	v.prot = s->prot;
	v.flags = s->flags;
	v.file_id = s->file_id;
	v.obj_size = s->obj_size;
	v.nruns = (uint32_t)s->nruns;
	v.nguards = (uint32_t)s->nguards;
	v.name_len = (uint32_t)name_len;
	for (int i = 0; i < s->nruns; i++) {
		runs[i].addr = s->start + s->runs[i].page * PAGE;
		runs[i].npages = s->runs[i].n;
		runs[i].data_off = m->data_next;
		m->data_next += s->runs[i].n * PAGE;
		v.npages_stored += s->runs[i].n;
	}
	for (int i = 0; i < s->nguards; i++) {
		guards[i].start = s->start + s->guards[i].page * PAGE;
		guards[i].end = guards[i].start + s->guards[i].n * PAGE;
	}
	memcpy(buf, &v, sizeof(v));
	memcpy(buf + sizeof(v), runs, rn);
	memcpy(buf + sizeof(v) + rn, guards, gn);
	memcpy(buf + sizeof(v) + rn + gn, s->name, name_len);
	add_rec(m, SCK_REC_VMA, 0, buf, sizeof(v) + rn + gn + name_len, NULL, 0);
	free(buf);
}

static void add_file(struct model *m, uint32_t id, uint32_t kind, uint32_t flags,
		     const char *path)
{
	struct sck_file f;

	memset(&f, 0, sizeof(f));
	f.id = id;
	f.kind = kind;
	f.dev = 0xfe00;
	f.ino = 1000 + id;
	f.size = 12345 * id;
	f.mtime_sec = 1700000000 + id;
	f.mtime_nsec = 999999999;
	f.mode = kind == SCK_FILE_DIR ? 040755 : kind == SCK_FILE_CHR ? 020666 : 0100644;
	f.rdev = kind == SCK_FILE_CHR ? 0x103 : 0;
	f.flags = flags;
	f.build_id_len = kind == SCK_FILE_REG ? 20 : 0;
	for (uint32_t i = 0; i < f.build_id_len; i++)
		f.build_id[i] = (uint8_t)(id * 31 + i);
	f.path_len = (uint32_t)strlen(path);
	add_rec(m, SCK_REC_FILE, 0, &f, sizeof(f), path, f.path_len);
}

static void add_fd(struct model *m, int fd, uint32_t kind, uint32_t file_id,
		   uint32_t share_with, uint32_t stdio_kind)
{
	struct sck_fd f;

	memset(&f, 0, sizeof(f));
	f.fd = fd;
	f.kind = kind;
	f.open_flags = kind == SCK_FD_DIR ? 0200000 : 02;
	f.fd_flags = fd > 2;
	f.pos = kind == SCK_FD_FILE ? 4096 * fd + 7 : 0;
	f.file_id = file_id;
	f.share_with = share_with;
	f.stdio_kind = stdio_kind;
	f.size_at_ckpt = kind == SCK_FD_FILE ? 1 << 20 : 0;
	add_rec(m, SCK_REC_FD, 0, &f, sizeof(f), NULL, 0);
}

static void add_header(struct model *m, int big)
{
	struct sck_header h;
	struct sck_cpu *c = &h.cpu;

	memset(&h, 0, sizeof(h));
	h.ckpt_id = 1;
	unit_fill(&h.image_uuid, sizeof(h.image_uuid));
	unit_fill(&h.lineage_uuid, sizeof(h.lineage_uuid));
	h.time_sec = 1760000000;
	h.time_nsec = 123456789;
	h.pid = 4242;
	h.uid = h.gid = 1000;
	h.nthreads = 1;
	h.page_size = PAGE;
	strcpy(h.kernel_release, "6.18.44-unit");
	strcpy(h.kernel_version, "#1 SMP PREEMPT_DYNAMIC");
	strcpy(h.machine, "x86_64");
	strcpy(h.glibc_version, "2.36");
	strcpy(h.hostname, "unit test host");
	strcpy(h.machine_id, "0123456789abcdef0123456789abcdef");
	strcpy(h.boot_id, "01234567-89ab-cdef-0123-456789abcdef");
	strcpy(h.selfckpt_version, "0.1.0");
	strcpy(c->vendor, "GenuineIntel");
	strcpy(c->model_name, "Unit Test CPU @ 2.80GHz");
	c->family = 6;
	c->model = 0x55;
	c->leaf1_ecx = 0x7ffefbff;
	c->leaf7_ebx = 0xd19f4fbb;
	c->xcr0 = c->xfeatures = 0xe7;
	c->xsave_size = 2688;
	c->xsize[0] = 160;
	c->xoff[1] = 160;
	c->xsize[1] = 256;
	c->xoff[2] = 576;
	c->xsize[2] = 256;
	c->xoff[5] = 1088;
	c->xsize[5] = 64;
	c->xoff[6] = 1152;
	c->xsize[6] = 512;
	c->xoff[7] = 1664;
	c->xsize[7] = 1024;
	/* The vvar and vdso mappings the big shape has (the reader checks). */
	h.nspecial = big ? 2 : 0;
	h.special[0] = (struct sck_special){ 0x7ff100000000 - 4 * PAGE,
					     0x7ff100000000, SCK_VMA_VVAR, 0 };
	h.special[1] = (struct sck_special){ 0x7ff100000000,
					     0x7ff100000000 + 2 * PAGE,
					     SCK_VMA_VDSO, 0 };
	h.vdso_hash = 0x1234567890abcdefULL;
	h.vdso_sym[SCK_VDSO_CLOCK_GETTIME] = 0xc10;
	h.rstinfo_addr = 0x10200000;
	h.rstinfo_size = sizeof(struct sck_rstinfo);
	add_rec(m, SCK_REC_HEADER, 0, &h, sizeof(h), NULL, 0);
}

static void add_process(struct model *m)
{
	struct sck_process p;
	const char *cwd = "/tmp/work dir";

	memset(&p, 0, sizeof(p));
	p.start_code = 0x10000000;
	p.end_code = 0x10004000;
	p.start_data = 0x10100000;
	p.end_data = 0x10101000;
	p.start_brk = 0x10200000;
	p.brk = 0x10204000;
	p.start_stack = 0x7ff00000f000;
	p.arg_start = 0x7ff00000f100;
	p.arg_end = 0x7ff00000f200;
	p.env_start = 0x7ff00000f200;
	p.env_end = 0x7ff00000ff00;
	p.auxv_len = 10;
	for (int i = 0; i < 10; i++)
		p.auxv[i] = (uint64_t)(i * 7 + 3);
	p.exe_file = 1;
	p.umask = 022;
	strcpy(p.comm, "unit");
	p.dumpable = 1;
	p.timerslack_ns = 50000;
	p.itimer[0][1] = 5;
	p.cwd_len = (uint32_t)strlen(cwd);
	add_rec(m, SCK_REC_PROCESS, 0, &p, sizeof(p), cwd, p.cwd_len);
}

static void add_thread(struct model *m, uint32_t xsave_size)
{
	struct sck_thread t;
	uint8_t *xsave = malloc(xsave_size);

	assert_non_null(xsave);
	memset(&t, 0, sizeof(t));
	t.tid = 4242;
	t.flags = SCK_THRF_MAIN | SCK_THRF_CALLER;
	unit_fill(&t.regs, sizeof(t.regs));
	t.fs_base = 0x7ff0deadb000;
	t.sigmask = 1ULL << 9;
	t.altstack_flags = 2;
	t.rseq_len = 32;
	t.rseq_addr = 0x7ff0deadb0c0;
	t.rseq_sig = 0x53053053;
	t.xfeatures = 0xe7;
	t.xsave_size = xsave_size;
	unit_fill(xsave, xsave_size);
	add_rec(m, SCK_REC_THREAD, 0, &t, sizeof(t), xsave, xsave_size);
	free(xsave);
}

static void add_note(struct model *m, const char *text)
{
	add_rec(m, SCK_REC_NOTE, 0, text, strlen(text), NULL, 0);
}

/* What to build: small is the fixed minimum, the rest adds to it. */
struct shape {
	int big;			/* more mappings and > 1 MiB of pages */
	int extra_files, extra_vmas, extra_fds, notes;
};

static const struct shape small_shape = { 0, 0, 0, 0, 1 };
static const struct shape big_shape = { 1, 40, 20, 20, 2 };

static void model_build(struct model *m, const struct shape *sh)
{
	int nfiles;

	memset(m, 0, sizeof(*m));
	add_header(m, sh->big);
	add_process(m);
	{
		struct sck_rlimits rl;

		unit_fill(&rl, sizeof(rl));
		add_rec(m, SCK_REC_RLIMITS, 0, &rl, sizeof(rl), NULL, 0);
	}
	{
		struct sck_sigactions sa;

		unit_fill(&sa, sizeof(sa));
		add_rec(m, SCK_REC_SIGACTIONS, 0, &sa, sizeof(sa), NULL, 0);
	}
	add_file(m, 1, SCK_FILE_REG, 0, "/usr/lib/x86_64-linux-gnu/libunit.so.1");
	add_file(m, 2, SCK_FILE_DIR, 0, "/tmp/work dir");
	add_file(m, 3, SCK_FILE_CHR, 0, "/dev/null");
	nfiles = 3;
	if (sh->big)
		add_file(m, (uint32_t)++nfiles, SCK_FILE_REG, SCK_FILEF_OBJECT,
			 "/memfd:buffer (deleted)");
	for (int i = 0; i < sh->extra_files; i++) {
		char path[64];

		snprintf(path, sizeof(path), "/data/file %d.bin", i);
		add_file(m, (uint32_t)++nfiles, SCK_FILE_REG, 0, path);
	}
	for (int i = 0; i < sh->notes; i++)
		add_note(m, i ? "second note" : "stdin was a tty; substituted /dev/null");

	struct vma_spec v;

	memset(&v, 0, sizeof(v));
	v = (struct vma_spec){ .kind = SCK_VMA_FILE_PRIVATE, .prot = 5,
			       .file_id = 1, .start = 0x10000000, .npages = 4,
			       .name = "/usr/lib/x86_64-linux-gnu/libunit.so.1",
			       .nruns = 1, .runs = { { 0, 1 } } };
	add_vma(m, &v);
	v = (struct vma_spec){ .kind = SCK_VMA_ANON, .prot = 3,
			       .start = 0x10100000, .npages = 8, .name = "",
			       .nguards = 1, .guards = { { 2, 1 } } };
	if (sh->big) {
		v.nruns = 2;
		v.runs[0] = (struct span){ 0, 2 };
		v.runs[1] = (struct span){ 5, 1 };
	}
	add_vma(m, &v);
	if (sh->big) {
		v = (struct vma_spec){ .kind = SCK_VMA_HEAP, .prot = 3,
				       .start = 0x10200000, .npages = 4,
				       .name = "[heap]", .nruns = 1,
				       .runs = { { 0, 4 } } };
		add_vma(m, &v);
		v = (struct vma_spec){ .kind = SCK_VMA_MEMFD, .prot = 3,
				       .flags = SCK_VMAF_SHARED, .file_id = 4,
				       .start = 0x10300000, .npages = 2,
				       .obj_size = 2 * PAGE,
				       .name = "/memfd:buffer (deleted)",
				       .nruns = 1, .runs = { { 0, 2 } } };
		add_vma(m, &v);
		/* 300 pages: the page data spans two hash chunks. */
		v = (struct vma_spec){ .kind = SCK_VMA_ANON, .prot = 3,
				       .flags = SCK_VMAF_DONTFORK,
				       .start = 0x20000000, .npages = 320,
				       .name = "[anon:bulk]", .nruns = 2,
				       .runs = { { 0, 200 }, { 210, 100 } } };
		add_vma(m, &v);
	}
	for (int i = 0; i < sh->extra_vmas; i++) {
		memset(&v, 0, sizeof(v));
		v.kind = SCK_VMA_ANON;
		v.prot = (uint32_t)unit_below(8);
		v.start = 0x30000000 + (uint64_t)i * 0x100000;
		v.npages = 1 + unit_below(64);
		v.name = i % 3 ? "" : "[anon:extra]";
		for (uint64_t pg = 0; pg < v.npages;) {
			uint64_t n = 1 + unit_below(v.npages - pg);

			if (unit_below(3) == 0 && v.nruns < 64)
				v.runs[v.nruns++] = (struct span){ pg, n };
			else if (unit_below(4) == 0 && v.nguards < 8)
				v.guards[v.nguards++] = (struct span){ pg, n };
			pg += n + unit_below(3);
		}
		add_vma(m, &v);
	}
	v = (struct vma_spec){ .kind = SCK_VMA_STACK, .prot = 3,
			       .flags = SCK_VMAF_GROWSDOWN,
			       .start = 0x7ff000000000, .npages = 16,
			       .name = "[stack]" };
	if (sh->big) {
		v.nruns = 1;
		v.runs[0] = (struct span){ 12, 4 };
	}
	add_vma(m, &v);
	if (sh->big) {
		v = (struct vma_spec){ .kind = SCK_VMA_VVAR, .prot = 1,
				       .start = 0x7ff100000000 - 4 * PAGE,
				       .npages = 4, .name = "[vvar]" };
		add_vma(m, &v);
		v = (struct vma_spec){ .kind = SCK_VMA_VDSO, .prot = 5,
				       .start = 0x7ff100000000, .npages = 2,
				       .name = "[vdso]" };
		add_vma(m, &v);
	}

	add_fd(m, 0, SCK_FD_STDIO, 0, 0, SCK_STDIO_TTY);
	add_fd(m, 1, SCK_FD_STDIO, 0, 0, SCK_STDIO_PIPE);
	if (sh->big)
		add_fd(m, 2, SCK_FD_STDIO, 0, 2, SCK_STDIO_PIPE);
	add_fd(m, 3, SCK_FD_FILE, 1, 0, 0);
	if (sh->big) {
		add_fd(m, 4, SCK_FD_DIR, 2, 0, 0);
		add_fd(m, 6, SCK_FD_DEV, 3, 0, 0);
	}
	add_fd(m, 7, SCK_FD_FILE, 1, 3 + 1, 0);	/* dup of fd 3 */
	for (int i = 0; i < sh->extra_fds; i++) {
		uint32_t file = sh->extra_files ? 5 + (uint32_t)i % (uint32_t)sh->extra_files
						: 1;

		if (file > (uint32_t)nfiles)
			file = 1;
		add_fd(m, 10 + 2 * i, SCK_FD_FILE, file,
		       i && i % 4 == 0 ? (uint32_t)(10 + 2 * (i - 1)) + 1 : 0, 0);
	}
	add_thread(m, 2688);
	{
		struct sck_end_meta e;

		memset(&e, 0, sizeof(e));	/* counts set by serialize() */
		add_rec(m, SCK_REC_END_META, 0, &e, sizeof(e), NULL, 0);
	}
	m->data_len = m->data_next;
	m->pages = malloc(m->data_len + 1);
	assert_non_null(m->pages);
	unit_fill(m->pages, m->data_len);
}

/* ---- serializing ---------------------------------------------------------- */

/* END_META counts from the records before it, as writer.c computes them. */
static void fix_end(struct model *m)
{
	int k = rec_index(m, SCK_REC_END_META, 0);
	struct sck_end_meta *e;

	if (k < 0)
		return;
	e = (void *)m->rec[k].p;
	memset(e, 0, sizeof(*e));
	e->data_len = m->data_len;
	e->meta_records = (uint64_t)k;
	for (int i = 0; i < k; i++) {
		switch (m->rec[i].type) {
		case SCK_REC_FILE:
			e->nfiles++;
			break;
		case SCK_REC_VMA:
			e->nvmas++;
			e->nruns += ((struct sck_vma *)(void *)m->rec[i].p)->nruns;
			break;
		case SCK_REC_FD:
			e->nfds++;
			break;
		case SCK_REC_THREAD:
			e->nthreads++;
			break;
		}
	}
}

/*
 * Serialize m into a new buffer (*out, freed by the caller); returns the
 * image length. Follows checkpoint.c/writer.c step by step.
 */
static size_t serialize(struct model *m, const struct ser_opts *o,
			uint8_t **out, struct layout *lay)
{
	static const struct ser_opts none;
	static struct layout scratch;
	size_t cap = 4 * PAGE + 1024 + m->data_len, total;
	uint64_t nchunks = (m->data_len + SCK_CHUNK_SIZE - 1) / SCK_CHUNK_SIZE;
	struct sck_meta mm, t;
	uint8_t *buf;

	if (!o)
		o = &none;
	if (!lay)
		lay = &scratch;
	memset(lay, 0, sizeof(*lay));
	fix_end(m);
	if (o->end) {
		int k = rec_index(m, SCK_REC_END_META, 0);

		if (k >= 0)
			o->end((void *)m->rec[k].p);
	}
	for (int i = 0; i < m->n; i++)
		cap += sizeof(struct sck_rec) + m->rec[i].len + 8;
	cap += (size_t)(o->pad_extra > 0 ? o->pad_extra : 0) + nchunks * 8 +
	       o->trailing;
	buf = calloc(1, cap);
	assert_non_null(buf);

	selfckpt__meta_start(&mm, buf, cap);
	if (o->set_version) {
		struct sck_preamble *pre = (void *)buf;

		pre->major = o->major;
		pre->minor = o->minor;
		pre->arch = o->arch;
		mm.seed = mm.chain = XXH64(pre, sizeof(*pre), SCK_HASH_SEED);
	}
	for (int i = 0; i < m->n; i++) {
		struct sck_part part = { m->rec[i].p, m->rec[i].len };

		lay->rec_off[i] = mm.offset + mm.len;
		assert_int_equal(selfckpt__meta_add(&mm, m->rec[i].type,
						    m->rec[i].flags, &part, 1, NULL),
				 0);
	}

	/* PAD so that the PAGES payload starts on a page boundary. */
	uint64_t after = mm.offset + mm.len + 2 * sizeof(struct sck_rec);
	struct sck_part pp = { zeros, (size_t)((PAGE - after % PAGE) % PAGE +
					       (uint64_t)o->pad_extra) };

	lay->pad_off = mm.offset + mm.len;
	assert_int_equal(selfckpt__meta_add(&mm, SCK_REC_PAD, 0, &pp, 1, NULL), 0);
	selfckpt__meta_seal(&mm);
	lay->pages_off = mm.len;
	selfckpt__rec_seal((struct sck_rec *)(void *)(buf + mm.len), SCK_REC_PAGES,
			   0, m->data_len + (uint64_t)o->pages_len_delta,
			   o->pages_hash, &mm.chain);
	mm.len += sizeof(struct sck_rec);
	mm.nrecords++;
	lay->data_off = mm.len;
	memcpy(buf + mm.len, m->pages, m->data_len);

	/* The trailer, in its own buffer as writer.c's send_tail does. */
	uint64_t *hashes = calloc(nchunks + 1, 8);
	struct sck_page_hashes ph = { SCK_CHUNK_SIZE, nchunks };

	assert_non_null(hashes);
	for (uint64_t c = 0; c < nchunks; c++) {
		uint64_t n = m->data_len - c * SCK_CHUNK_SIZE;

		hashes[c] = XXH64(m->pages + c * SCK_CHUNK_SIZE,
				  n < SCK_CHUNK_SIZE ? n : SCK_CHUNK_SIZE, 0);
	}
	if (o->hashes)
		o->hashes(&ph, hashes);

	struct sck_part hp[2] = { { &ph, sizeof(ph) }, { hashes, nchunks * 8 } };
	uint8_t *tail = buf + lay->data_off + m->data_len;

	selfckpt__meta_continue(&t, &mm, tail, cap - (size_t)(lay->data_off + m->data_len));
	lay->hashes_off = lay->data_off + m->data_len;
	assert_int_equal(selfckpt__meta_add(&t, o->hashes_type ? o->hashes_type :
						    SCK_REC_PAGE_HASHES,
					    0, hp, 2, NULL), 0);

	struct sck_commit c = {
		.magic = SCK_COMMIT_MAGIC,
		.records = t.nrecords,
		.commit_off = lay->hashes_off + t.len,	/* where COMMIT starts */
		.data_len = m->data_len,
	};
	struct sck_part cp = { &c, sizeof(c) };

	memcpy(&c.image_uuid, &((struct sck_header *)(void *)m->rec[0].p)->image_uuid,
	       sizeof(c.image_uuid));
	if (o->commit)
		o->commit(&c);
	lay->commit_off = lay->hashes_off + t.len;
	assert_int_equal(selfckpt__meta_add(&t, o->commit_type ? o->commit_type :
						    SCK_REC_COMMIT,
					    0, &cp, 1, NULL), 0);
	selfckpt__meta_seal(&t);
	total = (size_t)(lay->hashes_off + t.len);
	unit_fill(buf + total, o->trailing);
	total += o->trailing;
	lay->total = total;
	free(hashes);
	*out = buf;
	return total;
}

/* ---- feeding an image to the decoder -------------------------------------- */

static void write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		assert_true(k > 0);
		p += k;
		n -= (size_t)k;
	}
}

static int memfd_with(const uint8_t *buf, size_t len)
{
	int fd = memfd_create("image", MFD_CLOEXEC);

	assert_true(fd >= 0);
	write_all(fd, buf, len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* Refill one memfd: cheaper than a new one per iteration of a loop. */
static void memfd_refill(int fd, const uint8_t *buf, size_t len)
{
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(pwrite(fd, buf, len, 0), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
}

struct pipe_feed {
	pthread_t th;
	int wfd;
	const uint8_t *buf;
	size_t len;
	uint64_t rng;
};

/* Writes in pieces of random size, so the reader meets short reads. */
static void *pipe_writer(void *arg)
{
	struct pipe_feed *f = arg;
	size_t done = 0;

	while (done < f->len) {
		f->rng = f->rng * 6364136223846793005ULL + 1442695040888963407ULL;
		size_t n = 1 + (size_t)((f->rng >> 33) % 5000);

		if (n > f->len - done)
			n = f->len - done;
		ssize_t k = write(f->wfd, f->buf + done, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;		/* EPIPE: the reader gave up */
		done += (size_t)k;
	}
	close(f->wfd);
	return NULL;
}

static int pipe_start(struct pipe_feed *f, const uint8_t *buf, size_t len)
{
	int p[2];

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	f->wfd = p[1];
	f->buf = buf;
	f->len = len;
	f->rng = len * 2654435761u + 1;
	assert_int_equal(pthread_create(&f->th, NULL, pipe_writer, f), 0);
	return p[0];
}

static void pipe_finish(struct pipe_feed *f, int rfd)
{
	close(rfd);
	pthread_join(f->th, NULL);
}

/* The result of decoding one image. */
struct dec {
	struct sck_image img;
	int ret;
	int stage;			/* 1: read_meta failed, 2: verify_data, 0: ok */
	char err[ERRLEN];
	uint8_t *data;			/* what the sink received */
	uint64_t data_len;
	uint64_t pieces;
};

static int sink(void *arg, const void *p, size_t n, uint64_t off)
{
	struct dec *d = arg;

	assert_int_equal(off, d->data_len);
	assert_true(n > 0 && n <= SCK_CHUNK_SIZE);
	d->data = realloc(d->data, d->data_len + n);
	assert_non_null(d->data);
	memcpy(d->data + d->data_len, p, n);
	d->data_len += n;
	d->pieces++;
	return 0;
}

static void decode_fd(int fd, struct dec *d, int collect)
{
	memset(d, 0, sizeof(*d));
	memset(d->err, 'Z', sizeof(d->err));
	d->ret = selfckpt__image_read_meta(fd, &d->img, d->err, sizeof(d->err));
	if (d->ret) {
		d->stage = 1;
		return;
	}
	/* On a file the position is where the page data starts. */
	off_t pos = lseek(fd, 0, SEEK_CUR);

	if (pos >= 0)
		assert_int_equal((uint64_t)pos, d->img.data_off);
	d->ret = selfckpt__image_verify_data(fd, &d->img, collect ? sink : NULL,
					     d, d->err, sizeof(d->err));
	d->stage = d->ret ? 2 : 0;
}

enum feed { FEED_FILE, FEED_PIPE };

static void decode_buf(const uint8_t *buf, size_t len, enum feed how,
		       struct dec *d, int collect)
{
	if (how == FEED_FILE) {
		int fd = memfd_with(buf, len);

		decode_fd(fd, d, collect);
		close(fd);
	} else {
		struct pipe_feed f;
		int fd = pipe_start(&f, buf, len);

		decode_fd(fd, d, collect);
		pipe_finish(&f, fd);
	}
}

static void dec_free(struct dec *d)
{
	selfckpt__image_free(&d->img);
	free(d->data);
	d->data = NULL;
}

/* A refusal: the code, and a message of one non-empty line. */
static void expect_message(const struct dec *d)
{
	size_t n = strnlen(d->err, sizeof(d->err));

	if (n == 0 || n == sizeof(d->err))
		fail_msg("code %d with no (terminated) message", d->ret);
	if (strchr(d->err, '\n'))
		fail_msg("message of more than one line: %s", d->err);
}

/* ---- comparing what was read with the model --------------------------------- */

static void check_against_model(const struct model *m, const struct dec *d,
				const struct layout *lay)
{
	const struct sck_image *img = &d->img;
	uint32_t nf = 0, nv = 0, nd = 0, nt = 0, nn = 0;
	uint64_t nrec = 0;

	if (d->ret)
		fail_msg("valid image refused (%d, stage %d): %s", d->ret,
			 d->stage, d->err);
	assert_memory_equal(&img->pre, SCK_MAGIC, SCK_MAGIC_LEN);
	assert_int_equal(img->pre.major, SCK_VERSION_MAJOR);
	for (int i = 0; i < m->n; i++) {
		const struct lrec *r = &m->rec[i];

		switch (r->type) {
		case SCK_REC_HEADER:
			assert_memory_equal(&img->hdr, r->p, sizeof(img->hdr));
			break;
		case SCK_REC_PROCESS:
			assert_memory_equal(&img->proc, r->p, sizeof(img->proc));
			assert_int_equal(strlen(img->cwd), img->proc.cwd_len);
			assert_memory_equal(img->cwd, r->p + r->len - img->proc.cwd_len,
					    img->proc.cwd_len);
			break;
		case SCK_REC_RLIMITS:
			assert_memory_equal(&img->rlim, r->p, sizeof(img->rlim));
			break;
		case SCK_REC_SIGACTIONS:
			assert_memory_equal(&img->sig, r->p, sizeof(img->sig));
			break;
		case SCK_REC_FILE: {
			const struct sck_img_file *f = &img->files[nf++];

			assert_true(nf <= img->nfiles);
			assert_memory_equal(&f->f, r->p, sizeof(f->f));
			assert_int_equal(strlen(f->path), f->f.path_len);
			assert_memory_equal(f->path, r->p + r->len - f->f.path_len,
					    f->f.path_len);
			break;
		}
		case SCK_REC_VMA: {
			const struct sck_img_vma *v = &img->vmas[nv++];
			const uint8_t *q = r->p + r->len -
					   v->v.nruns * sizeof(struct sck_run) -
					   v->v.nguards * sizeof(struct sck_range) -
					   v->v.name_len;

			assert_true(nv <= img->nvmas);
			assert_memory_equal(&v->v, r->p, sizeof(v->v));
			if (v->v.nruns)
				assert_memory_equal(v->runs, q,
						    v->v.nruns * sizeof(struct sck_run));
			q += v->v.nruns * sizeof(struct sck_run);
			if (v->v.nguards)
				assert_memory_equal(v->guards, q,
						    v->v.nguards * sizeof(struct sck_range));
			q += v->v.nguards * sizeof(struct sck_range);
			assert_int_equal(strlen(v->name), v->v.name_len);
			assert_memory_equal(v->name, q, v->v.name_len);
			break;
		}
		case SCK_REC_FD:
			assert_true(nd < img->nfds);
			assert_memory_equal(&img->fds[nd++], r->p, sizeof(struct sck_fd));
			break;
		case SCK_REC_THREAD: {
			const struct sck_img_thread *t = &img->threads[nt++];

			assert_true(nt <= img->nthreads);
			assert_memory_equal(&t->t, r->p, sizeof(t->t));
			assert_int_equal((uintptr_t)t->xsave % 64, 0);
			assert_memory_equal(t->xsave, r->p + r->len - t->t.xsave_size,
					    t->t.xsave_size);
			break;
		}
		case SCK_REC_NOTE:
			assert_true(nn < img->nnotes);
			assert_int_equal(strlen(img->notes[nn]), r->len);
			assert_memory_equal(img->notes[nn++], r->p, r->len);
			break;
		case SCK_REC_END_META:
			assert_memory_equal(&img->end, r->p, sizeof(img->end));
			break;
		}
		nrec++;
	}
	assert_int_equal(img->nfiles, nf);
	assert_int_equal(img->nvmas, nv);
	assert_int_equal(img->nfds, nd);
	assert_int_equal(img->nthreads, nt);
	assert_int_equal(img->nnotes, nn);
	assert_int_equal(img->data_off, lay->data_off);
	assert_int_equal(img->data_off % PAGE, 0);
	/* Every record, then PAD, PAGES, PAGE_HASHES and COMMIT. */
	assert_int_equal(img->nrecords, nrec + 4);

	/* verify_data's part. */
	uint64_t nchunks = (m->data_len + SCK_CHUNK_SIZE - 1) / SCK_CHUNK_SIZE;

	assert_int_equal(img->commit.magic, SCK_COMMIT_MAGIC);
	assert_int_equal(img->commit.records, nrec + 3);
	assert_int_equal(img->commit.commit_off, lay->commit_off);
	assert_int_equal(img->commit.data_len, m->data_len);
	assert_memory_equal(&img->commit.image_uuid, &img->hdr.image_uuid, 16);
	assert_int_equal(img->file_len, lay->total);
	assert_int_equal(img->nchunks, nchunks);
	for (uint64_t c = 0; c < nchunks; c++) {
		uint64_t n = m->data_len - c * SCK_CHUNK_SIZE;

		assert_int_equal(img->chunk_hash[c],
				 XXH64(m->pages + c * SCK_CHUNK_SIZE,
				       n < SCK_CHUNK_SIZE ? n : SCK_CHUNK_SIZE, 0));
	}
}

/* Build, serialize and decode one shape both ways; compare everything. */
static void round_trip(const struct shape *sh)
{
	struct model m;
	struct layout lay;
	uint8_t *buf;
	size_t len;

	model_build(&m, sh);
	len = serialize(&m, NULL, &buf, &lay);
	assert_int_equal(len, lay.total);
	for (int how = FEED_FILE; how <= FEED_PIPE; how++) {
		struct dec d;

		decode_buf(buf, len, (enum feed)how, &d, 1);
		check_against_model(&m, &d, &lay);
		assert_int_equal(d.data_len, m.data_len);
		assert_memory_equal(d.data, m.pages, m.data_len);
		assert_int_equal(d.pieces, (m.data_len + SCK_CHUNK_SIZE - 1) /
					   SCK_CHUNK_SIZE);
		dec_free(&d);
	}
	free(buf);
	model_free(&m);
}

/* ---- valid images ------------------------------------------------------------ */

static void test_valid_small(void **state)
{
	(void)state;
	round_trip(&small_shape);
}

static void test_valid_big(void **state)
{
	struct model m;

	(void)state;
	round_trip(&big_shape);
	/* The big shape's page data is past one hash chunk. */
	model_build(&m, &big_shape);
	assert_true(m.data_len > SCK_CHUNK_SIZE);
	model_free(&m);
}

static void test_valid_random_shapes(void **state)
{
	(void)state;
	for (int i = 0; i < 25; i++) {
		struct shape sh = {
			(int)unit_below(2), (int)unit_below(70), (int)unit_below(70),
			(int)unit_below(70), (int)unit_below(5),
		};

		round_trip(&sh);
	}
}

/* No page data at all: zero chunks, an empty hash list. */
static void test_valid_no_pages(void **state)
{
	struct model m;
	struct layout lay;
	struct dec d;
	uint8_t *buf;
	size_t len;
	struct sck_vma *v;

	(void)state;
	model_build(&m, &small_shape);
	v = payload(&m, SCK_REC_VMA, 0);	/* drop the only run */
	int k = rec_index(&m, SCK_REC_VMA, 0);

	v->nruns = 0;
	v->npages_stored = 0;
	memmove(m.rec[k].p + sizeof(*v), m.rec[k].p + sizeof(*v) + sizeof(struct sck_run),
		v->nguards * sizeof(struct sck_range) + v->name_len);
	m.rec[k].len -= sizeof(struct sck_run);
	m.data_len = 0;
	len = serialize(&m, NULL, &buf, &lay);
	for (int how = FEED_FILE; how <= FEED_PIPE; how++) {
		decode_buf(buf, len, (enum feed)how, &d, 1);
		check_against_model(&m, &d, &lay);
		assert_int_equal(d.img.nchunks, 0);
		assert_int_equal(d.pieces, 0);
		dec_free(&d);
	}
	free(buf);
	model_free(&m);
}

/* A newer minor version only adds compatible things: it is read. */
static void test_newer_minor(void **state)
{
	struct model m;
	struct layout lay;
	struct ser_opts o = { .set_version = 1, .major = SCK_VERSION_MAJOR,
			      .minor = SCK_VERSION_MINOR + 3, .arch = SCK_ARCH_X86_64 };
	struct dec d;
	uint8_t *buf;
	size_t len;

	(void)state;
	model_build(&m, &small_shape);
	len = serialize(&m, &o, &buf, &lay);
	decode_buf(buf, len, FEED_FILE, &d, 0);
	check_against_model(&m, &d, &lay);
	assert_int_equal(d.img.pre.minor, SCK_VERSION_MINOR + 3);
	dec_free(&d);
	free(buf);
	model_free(&m);
}

/*
 * Make room for fields a later minor version would append to a record's
 * fixed part: extra bytes between the fixed part and the variable tail.
 */
static void grow_fixed(struct lrec *r, size_t fixed, size_t extra)
{
	r->p = realloc(r->p, r->len + extra);
	assert_non_null(r->p);
	memmove(r->p + fixed + extra, r->p + fixed, r->len - fixed);
	memset(r->p + fixed, 0x77, extra);
	r->len += extra;
}

static void lengthen_records(struct model *m)
{
	static const struct {
		uint32_t type;
		size_t fixed;
	} recs[] = {
		{ SCK_REC_HEADER, sizeof(struct sck_header) },
		{ SCK_REC_PROCESS, sizeof(struct sck_process) },
		{ SCK_REC_RLIMITS, sizeof(struct sck_rlimits) },
		{ SCK_REC_SIGACTIONS, sizeof(struct sck_sigactions) },
		{ SCK_REC_FILE, sizeof(struct sck_file) },
		{ SCK_REC_VMA, sizeof(struct sck_vma) },
		{ SCK_REC_FD, sizeof(struct sck_fd) },
		{ SCK_REC_THREAD, sizeof(struct sck_thread) },
		{ SCK_REC_END_META, sizeof(struct sck_end_meta) },
	};

	for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++)
		grow_fixed(&m->rec[rec_index(m, recs[i].type, 0)], recs[i].fixed, 16);
}

/*
 * A later minor version may append fields to a fixed part: the reader
 * finds the tails (paths, runs, xsave) from the end and reads the image.
 */
static void test_longer_records(void **state)
{
	const struct ser_opts newer = { .set_version = 1, .major = SCK_VERSION_MAJOR,
					.minor = SCK_VERSION_MINOR + 1,
					.arch = SCK_ARCH_X86_64 };
	struct model m;
	struct layout lay;
	struct dec d;
	uint8_t *buf;
	size_t len;

	(void)state;
	model_build(&m, &small_shape);
	lengthen_records(&m);
	len = serialize(&m, &newer, &buf, &lay);
	decode_buf(buf, len, FEED_PIPE, &d, 0);
	check_against_model(&m, &d, &lay);
	dec_free(&d);
	free(buf);
	model_free(&m);
}

/*
 * The same lengthened records in an image of this very version are
 * damage: a re-sealed record whose tail shrank must not pass as one with
 * a longer fixed part.
 */
static void test_longer_records_same_version(void **state)
{
	struct model m;
	struct dec d;
	uint8_t *buf;
	size_t len;

	(void)state;
	model_build(&m, &small_shape);
	lengthen_records(&m);
	len = serialize(&m, NULL, &buf, NULL);
	decode_buf(buf, len, FEED_FILE, &d, 1);
	assert_int_equal(d.ret, -EBADMSG);
	dec_free(&d);
	free(buf);
	model_free(&m);
}

/* ---- unknown records ------------------------------------------------------- */

static void test_unknown_record(void **state)
{
	static const char blob[] = "a record from the future";
	struct model m;
	struct layout lay;
	struct dec d;
	uint8_t *buf;
	size_t len;
	int at;

	(void)state;
	/* Optional: skipped, wherever it is before END_META. */
	model_build(&m, &small_shape);
	insert_rec(&m, 1, 99, SCK_RECF_OPTIONAL, blob, sizeof(blob));
	at = rec_index(&m, SCK_REC_THREAD, 0);
	insert_rec(&m, at, 0x7fffffff, SCK_RECF_OPTIONAL | 0x100, NULL, 0);
	len = serialize(&m, NULL, &buf, &lay);
	for (int how = FEED_FILE; how <= FEED_PIPE; how++) {
		decode_buf(buf, len, (enum feed)how, &d, 0);
		check_against_model(&m, &d, &lay);
		dec_free(&d);
	}
	free(buf);
	model_free(&m);

	/* Not optional: refused, naming the type. */
	model_build(&m, &small_shape);
	insert_rec(&m, 3, 99, 0, blob, sizeof(blob));
	len = serialize(&m, NULL, &buf, &lay);
	for (int how = FEED_FILE; how <= FEED_PIPE; how++) {
		decode_buf(buf, len, (enum feed)how, &d, 0);
		assert_int_equal(d.ret, -EPROTONOSUPPORT);
		expect_message(&d);
		assert_non_null(strstr(d.err, "type 99"));
		dec_free(&d);
	}
	free(buf);
	model_free(&m);
}

/* ---- damage: the preamble --------------------------------------------------- */

static void expect_refusal(const uint8_t *buf, size_t len, int code,
			   const char *needle)
{
	for (int how = FEED_FILE; how <= FEED_PIPE; how++) {
		struct dec d;

		decode_buf(buf, len, (enum feed)how, &d, 0);
		if (d.ret != code)
			fail_msg("%s: code %d (%s), want %d",
				 how == FEED_FILE ? "file" : "pipe", d.ret,
				 d.ret ? d.err : "accepted", code);
		expect_message(&d);
		if (needle && !strstr(d.err, needle))
			fail_msg("message \"%s\" does not say \"%s\"", d.err, needle);
		dec_free(&d);
	}
}

static void test_preamble(void **state)
{
	struct model m;
	struct ser_opts o = { .set_version = 1, .major = SCK_VERSION_MAJOR,
			      .minor = 0, .arch = SCK_ARCH_X86_64 };
	uint8_t *buf;
	size_t len;

	(void)state;
	model_build(&m, &small_shape);
	len = serialize(&m, NULL, &buf, NULL);
	buf[0] ^= 0x80;
	expect_refusal(buf, len, -EPROTO, "bad magic");
	buf[0] ^= 0x80;
	buf[7] = 'x';
	expect_refusal(buf, len, -EPROTO, "bad magic");
	memcpy(buf, "selfckpt", 8);
	expect_refusal(buf, len, -EPROTO, "not a selfckpt image");
	free(buf);

	/* Major version 2, correctly sealed: the version is reported. */
	o.major = 2;
	o.minor = 1;
	len = serialize(&m, &o, &buf, NULL);
	expect_refusal(buf, len, -EPROTONOSUPPORT, "version 2.1");
	free(buf);
	o.major = 0;
	o.minor = 0;
	len = serialize(&m, &o, &buf, NULL);
	expect_refusal(buf, len, -EPROTONOSUPPORT, "version 0.0");
	free(buf);

	/* AArch64 (ELF machine 183). */
	o.major = SCK_VERSION_MAJOR;
	o.arch = 183;
	len = serialize(&m, &o, &buf, NULL);
	expect_refusal(buf, len, -EPROTONOSUPPORT, "183");
	free(buf);
	model_free(&m);

	/* Empty, and shorter than a preamble. */
	expect_refusal((const uint8_t *)"", 0, -ENODATA, "empty");
	expect_refusal((const uint8_t *)SCK_MAGIC, 8, -EPROTO, "too short");
	/* Something else entirely. */
	expect_refusal((const uint8_t *)"\x7f" "ELF\2\1\1\0\0\0\0\0\0\0\0\0\3\0>\0",
		       20, -EPROTO, "not a selfckpt image");
}

/* A read error is -EIO, not damage. */
static void test_read_error(void **state)
{
	struct sck_image img;
	char err[ERRLEN];
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	/* Reading the write end of a pipe fails with EBADF. */
	assert_int_equal(selfckpt__image_read_meta(p[1], &img, err, sizeof(err)),
			 -EIO);
	assert_non_null(strstr(err, "read error"));
	selfckpt__image_free(&img);
	close(p[0]);
	close(p[1]);
}

/* ---- damage: truncation ----------------------------------------------------- */

static void expect_truncated(const struct dec *d, size_t cut)
{
	int want = cut == 0 ? -ENODATA : cut < sizeof(struct sck_preamble) ?
							-EPROTO : -ENODATA;

	if (d->ret != want)
		fail_msg("cut at %zu: code %d (%s), want %d", cut, d->ret,
			 d->ret ? d->err : "accepted", want);
	expect_message(d);
}

static void test_truncation_file(void **state)
{
	struct model m;
	uint8_t *buf;
	size_t len;
	int fd = memfd_create("trunc", MFD_CLOEXEC);

	(void)state;
	assert_true(fd >= 0);
	model_build(&m, &small_shape);
	len = serialize(&m, NULL, &buf, NULL);
	for (size_t cut = 0; cut < len; cut++) {
		struct dec d;

		memfd_refill(fd, buf, cut);
		decode_fd(fd, &d, 0);
		expect_truncated(&d, cut);
		dec_free(&d);
	}
	/* And the whole image is fine. */
	struct dec d;

	memfd_refill(fd, buf, len);
	decode_fd(fd, &d, 0);
	assert_int_equal(d.ret, 0);
	dec_free(&d);
	close(fd);
	free(buf);
	model_free(&m);
}

static void test_truncation_pipe(void **state)
{
	struct model m;
	uint8_t *buf;
	size_t len;

	(void)state;
	model_build(&m, &small_shape);
	len = serialize(&m, NULL, &buf, NULL);
	/*
	 * The small image fits in a pipe: filled at once (a writer thread per
	 * cut would cost seconds), then every cut again through the writer
	 * thread's small pieces, one in 16.
	 */
	assert_true(len < 65536);
	for (size_t cut = 0; cut < len; cut++) {
		struct dec d;
		int p[2];

		assert_int_equal(pipe2(p, O_CLOEXEC), 0);
		write_all(p[1], buf, cut);
		close(p[1]);
		decode_fd(p[0], &d, 0);
		close(p[0]);
		expect_truncated(&d, cut);
		dec_free(&d);
	}
	for (size_t cut = 0; cut < len; cut += 1 + unit_below(31)) {
		struct dec d;

		decode_buf(buf, cut, FEED_PIPE, &d, 0);
		expect_truncated(&d, cut);
		dec_free(&d);
	}
	free(buf);
	model_free(&m);
}

/* ---- damage: bit flips -------------------------------------------------------- */

static void expect_damaged(const struct dec *d, size_t off, unsigned mask)
{
	if (d->ret != -EBADMSG && d->ret != -EPROTO && d->ret != -EPROTONOSUPPORT)
		fail_msg("byte %zu ^ 0x%02x: code %d (%s)", off, mask, d->ret,
			 d->ret ? d->err : "accepted");
	expect_message(d);
}

static void test_bitflip_every_byte(void **state)
{
	struct model m;
	uint8_t *buf;
	size_t len;
	int fd = memfd_create("flip", MFD_CLOEXEC);
	int by_code[3] = { 0, 0, 0 };

	(void)state;
	assert_true(fd >= 0);
	model_build(&m, &small_shape);
	len = serialize(&m, NULL, &buf, NULL);
	for (size_t off = 0; off < len; off++) {
		struct dec d;

		buf[off] ^= 0x01;
		memfd_refill(fd, buf, len);
		buf[off] ^= 0x01;
		decode_fd(fd, &d, 0);
		expect_damaged(&d, off, 0x01);
		by_code[d.ret == -EBADMSG ? 0 : d.ret == -EPROTO ? 1 : 2]++;
		dec_free(&d);
	}
	/* The preamble's magic (8 bytes) is EPROTO; major and arch, not ours. */
	assert_int_equal(by_code[1], SCK_MAGIC_LEN);
	assert_int_equal(by_code[2], 2 + 4);
	close(fd);
	free(buf);
	model_free(&m);
}

static void test_bitflip_sampled(void **state)
{
	struct model m;
	uint8_t *buf;
	size_t len;
	int fd = memfd_create("flip", MFD_CLOEXEC);

	(void)state;
	assert_true(fd >= 0);
	model_build(&m, &small_shape);
	len = serialize(&m, NULL, &buf, NULL);
	/* Other single bits and whole bytes. */
	for (int i = 0; i < 6000; i++) {
		size_t off = (size_t)unit_below(len);
		unsigned mask = i % 3 == 0 ? 1u << unit_below(8) :
				i % 3 == 1 ? 0xff : 1 + (unsigned)unit_below(255);
		struct dec d;

		buf[off] ^= (uint8_t)mask;
		memfd_refill(fd, buf, len);
		buf[off] ^= (uint8_t)mask;
		decode_fd(fd, &d, 0);
		expect_damaged(&d, off, mask);
		dec_free(&d);
	}
	/* Several bytes at once, some of them in record headers. */
	for (int i = 0; i < 1000; i++) {
		uint8_t *copy = malloc(len);
		int n = 2 + (int)unit_below(4);
		struct dec d;

		assert_non_null(copy);
		memcpy(copy, buf, len);
		for (int k = 0; k < n; k++)
			copy[unit_below(len)] ^= (uint8_t)(1 + unit_below(255));
		if (memcmp(copy, buf, len) == 0) {
			free(copy);
			continue;
		}
		memfd_refill(fd, copy, len);
		decode_fd(fd, &d, 0);
		expect_damaged(&d, 0, 0);
		dec_free(&d);
		free(copy);
	}
	/* Through a pipe, too (fewer: a thread per image). */
	for (int i = 0; i < 600; i++) {
		size_t off = i < 100 ? (size_t)i * len / 100 : (size_t)unit_below(len);
		struct dec d;

		buf[off] ^= 0x10;
		decode_buf(buf, len, FEED_PIPE, &d, 0);
		buf[off] ^= 0x10;
		expect_damaged(&d, off, 0x10);
		dec_free(&d);
	}
	close(fd);
	free(buf);
	model_free(&m);
}

/* Damage in the second hash chunk is reported with its byte range. */
static void test_damaged_page_data(void **state)
{
	struct model m;
	struct layout lay;
	uint8_t *buf;
	size_t len;
	char want[96];

	(void)state;
	model_build(&m, &big_shape);
	len = serialize(&m, NULL, &buf, &lay);
	buf[lay.data_off + SCK_CHUNK_SIZE + 4097] ^= 0x40;
	/* The range ends where the page data does, not at a chunk size. */
	uint64_t end = m.data_len < 2 * SCK_CHUNK_SIZE ? m.data_len
						      : 2 * SCK_CHUNK_SIZE;

	snprintf(want, sizeof(want), "bytes %llu-%llu",
		 (unsigned long long)SCK_CHUNK_SIZE, (unsigned long long)(end - 1));
	expect_refusal(buf, len, -EBADMSG, want);
	buf[lay.data_off + SCK_CHUNK_SIZE + 4097] ^= 0x40;
	buf[lay.data_off] ^= 0x40;
	expect_refusal(buf, len, -EBADMSG, "bytes 0-1048575");
	free(buf);
	model_free(&m);
}

/* ---- damage: lengths ----------------------------------------------------------- */

/* The records before `upto`, then a sealed header claiming `claim` bytes. */
static size_t huge_claim(struct model *m, int upto, uint32_t type,
			 uint64_t claim, uint8_t **out)
{
	size_t cap = 4096 + 256;
	uint8_t *buf;
	struct sck_meta mm;

	for (int i = 0; i < upto; i++)
		cap += sizeof(struct sck_rec) + m->rec[i].len + 8;
	buf = calloc(1, cap);
	assert_non_null(buf);
	selfckpt__meta_start(&mm, buf, cap);
	for (int i = 0; i < upto; i++) {
		struct sck_part part = { m->rec[i].p, m->rec[i].len };

		assert_int_equal(selfckpt__meta_add(&mm, m->rec[i].type, 0, &part, 1,
						    NULL), 0);
	}
	selfckpt__meta_seal(&mm);
	selfckpt__rec_seal((struct sck_rec *)(void *)(buf + mm.len), type, 0, claim,
			   0x1234, &mm.chain);
	mm.len += sizeof(struct sck_rec);
	mm.len += 128;			/* some bytes, nowhere near the claim */
	*out = buf;
	return mm.len;
}

static int huge_claims_refused(struct model *m)
{
	static const uint64_t claims[] = {
		SCK_MAX_META_REC + 1, SCK_MAX_META_REC + 8, 1ULL << 40,
		1ULL << 62, UINT64_MAX - 7, UINT64_MAX,
	};
	static const uint32_t types[] = { SCK_REC_HEADER, SCK_REC_NOTE, 99,
					  SCK_REC_PAD };
	int bad = 0;

	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		for (size_t c = 0; c < sizeof(claims) / sizeof(claims[0]); c++) {
			uint8_t *buf;
			int upto = types[t] == SCK_REC_HEADER ? 0 : 3;
			size_t len = huge_claim(m, upto, types[t], claims[c], &buf);
			int fd = memfd_with(buf, len);
			struct sck_image img;
			char err[ERRLEN];
			int ret = selfckpt__image_read_meta(fd, &img, err, sizeof(err));

			if (ret != -EBADMSG || !strstr(err, "claims")) {
				fprintf(stderr, "type %u claim %llu: %d %s\n", types[t],
					(unsigned long long)claims[c], ret, err);
				bad++;
			}
			selfckpt__image_free(&img);
			close(fd);
			free(buf);
		}
	}
	/* PAD's own limit is two pages. */
	uint8_t *buf;
	size_t len = huge_claim(m, 3, SCK_REC_PAD, 2 * PAGE + 8, &buf);
	int fd = memfd_with(buf, len);
	struct sck_image img;
	char err[ERRLEN];

	if (selfckpt__image_read_meta(fd, &img, err, sizeof(err)) != -EBADMSG)
		bad++;
	selfckpt__image_free(&img);
	close(fd);
	free(buf);
	return bad;
}

/* Valgrind reserves address space of its own: RLIMIT_AS lies. */
static int address_space_limit_works(void)
{
	return !unit_under_valgrind();
}

#ifdef __SANITIZE_ADDRESS__
/*
 * SANITIZE=1 (docs/sanitizers.md). Under RLIMIT_AS, AddressSanitizer's
 * malloc would end the process with an "out of memory" report rather than
 * return NULL as glibc's does, and the out-of-memory cases need the NULL.
 * (The limit still bites: it is set to the size the child already has,
 * ASan's reserved shadow included, plus a margin.) ASAN_OPTIONS from the
 * environment are applied after these.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}
#endif

/*
 * In a forked child, a crash must kill the child (for the parent to see)
 * rather than land in cmocka's handler, which would carry on running the
 * remaining tests in the child.
 */
static void child_default_signals(void)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
	struct rlimit no_core = { 0, 0 };

	setrlimit(RLIMIT_CORE, &no_core);	/* a crash is reported, not dumped */
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
}

/*
 * A record claiming a huge length is refused before anything is allocated
 * for it: in a child whose address space leaves no room for 64 MiB, a
 * decoder that tried would get -ENOMEM instead of -EBADMSG.
 */
static void test_huge_lengths(void **state)
{
	struct model m;
	pid_t pid;
	int st;

	(void)state;
	model_build(&m, &small_shape);
	assert_int_equal(huge_claims_refused(&m), 0);
	if (!address_space_limit_works()) {
		model_free(&m);
		return;
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		unsigned long pages = 0;
		struct rlimit rl;
		FILE *f;

		child_default_signals();
		f = fopen("/proc/self/statm", "r");
		if (!f || fscanf(f, "%lu", &pages) != 1)
			_exit(2);
		fclose(f);
		rl.rlim_cur = rl.rlim_max = pages * PAGE + (48 << 20);
		if (setrlimit(RLIMIT_AS, &rl))
			_exit(3);
		/* The limit bites: 64 MiB cannot be had. */
		void *p = malloc(SCK_MAX_META_REC);

		if (p)
			_exit(4);
		_exit(huge_claims_refused(&m) ? 1 : 0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	model_free(&m);
}

/*
 * Running out of memory in the middle of the metadata is a clean -ENOMEM,
 * and the half-read image can still be freed. In a child whose address
 * space has room for the VMA array at 2^17 entries but not for its next
 * doubling, an image with 2^17 + 1 mappings makes that realloc fail.
 */
static void test_out_of_memory(void **state)
{
	uint32_t nvmas = (1u << 17) + 1;
	pid_t pid;
	int st;

	(void)state;
	if (!address_space_limit_works())
		skip();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct model m;
		struct sck_meta mm;
		size_t cap = 64 * PAGE + (size_t)nvmas * 112;
		uint8_t *buf = malloc(cap);
		struct sck_vma v;
		struct sck_part part = { &v, sizeof(v) };
		struct sck_image img;
		char err[ERRLEN];
		unsigned long pages = 0;
		struct rlimit rl;
		FILE *f;

		child_default_signals();
		if (!buf)
			_exit(2);
		model_build(&m, &small_shape);
		selfckpt__meta_start(&mm, buf, cap);
		for (int i = 0; i < m.n && m.rec[i].type != SCK_REC_FILE; i++) {
			struct sck_part p = { m.rec[i].p, m.rec[i].len };

			selfckpt__meta_add(&mm, m.rec[i].type, 0, &p, 1, NULL);
		}
		memset(&v, 0, sizeof(v));
		v.kind = SCK_VMA_ANON;
		v.prot = 3;
		for (uint32_t i = 0; i < nvmas; i++) {
			v.start = 0x10000000 + (uint64_t)i * 2 * PAGE;
			v.end = v.start + PAGE;
			if (selfckpt__meta_add(&mm, SCK_REC_VMA, 0, &part, 1, NULL))
				_exit(3);
		}
		selfckpt__meta_seal(&mm);
		int fd = memfd_with(buf, mm.len);

		free(buf);
		model_free(&m);
		f = fopen("/proc/self/statm", "r");
		if (!f || fscanf(f, "%lu", &pages) != 1)
			_exit(4);
		fclose(f);
		rl.rlim_cur = rl.rlim_max = pages * PAGE + (16 << 20);
		if (setrlimit(RLIMIT_AS, &rl))
			_exit(5);
		int ret = selfckpt__image_read_meta(fd, &img, err, sizeof(err));

		if (ret != -ENOMEM || !strstr(err, "out of memory")) {
			fprintf(stderr, "read_meta: %d %s\n", ret, err);
			_exit(6);
		}
		if (img.nvmas < (1u << 16))
			_exit(7);	/* the limit bit too early to prove much */
		selfckpt__image_free(&img);	/* must not crash */
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFSIGNALED(st))
		fail_msg("child killed by signal %d", WTERMSIG(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/*
 * Metadata announcing a terabyte of page data, followed by none: read_meta
 * accepts the metadata (it is consistent), verify_data must then refuse
 * cleanly, without a crash and without waiting for data that never comes.
 */
static void test_huge_data_claim(void **state)
{
	struct model m;
	struct sck_meta mm;
	size_t cap = 16 * PAGE;
	uint8_t *buf = calloc(1, cap);
	uint64_t npages = (1ULL << 40) / PAGE;
	struct sck_vma *v;
	struct sck_run *run;

	(void)state;
	assert_non_null(buf);
	model_build(&m, &small_shape);
	v = vma(&m, 0);
	run = runs(&m, 0);
	v->end = v->start + npages * PAGE;
	run->addr = v->start;
	run->npages = npages;
	v->npages_stored = npages;
	m.data_len = npages * PAGE;
	/* Move the next mapping (and its guard) out of the way. */
	vma(&m, 1)->start += 1ULL << 41;
	vma(&m, 1)->end += 1ULL << 41;
	guards(&m, 1)[0].start += 1ULL << 41;
	guards(&m, 1)[0].end += 1ULL << 41;
	fix_end(&m);
	selfckpt__meta_start(&mm, buf, cap);
	for (int i = 0; i < m.n; i++) {
		struct sck_part part = { m.rec[i].p, m.rec[i].len };

		assert_int_equal(selfckpt__meta_add(&mm, m.rec[i].type, 0, &part, 1,
						    NULL), 0);
	}
	uint64_t after = mm.len + 2 * sizeof(struct sck_rec);
	struct sck_part pp = { zeros, (size_t)((PAGE - after % PAGE) % PAGE) };

	assert_int_equal(selfckpt__meta_add(&mm, SCK_REC_PAD, 0, &pp, 1, NULL), 0);
	selfckpt__meta_seal(&mm);
	selfckpt__rec_seal((struct sck_rec *)(void *)(buf + mm.len), SCK_REC_PAGES,
			   0, m.data_len, 0, &mm.chain);
	mm.len += sizeof(struct sck_rec);
	memset(buf + mm.len, 0x5a, 3 * PAGE);	/* a little of the data */
	mm.len += 3 * PAGE;
	for (int how = FEED_FILE; how <= FEED_PIPE; how++) {
		struct dec d;

		decode_buf(buf, mm.len, (enum feed)how, &d, 0);
		if (d.stage != 2)
			fail_msg("stage %d: %d %s", d.stage, d.ret, d.err);
		/* Truncated; or out of memory for the hash list (8 MiB here). */
		if (d.ret != -ENODATA && d.ret != -ENOMEM)
			fail_msg("code %d: %s", d.ret, d.err);
		expect_message(&d);
		dec_free(&d);
	}
	free(buf);
	model_free(&m);
}

/* Data after COMMIT: damage (an image is exactly its records). */
static void test_trailing_data(void **state)
{
	struct model m;
	struct ser_opts o = { 0 };
	uint8_t *buf;
	size_t len;

	(void)state;
	model_build(&m, &small_shape);
	o.trailing = 1;
	len = serialize(&m, &o, &buf, NULL);
	expect_refusal(buf, len, -EBADMSG, "follows the commit record");
	free(buf);
	o.trailing = 70000;		/* more than a pipe holds */
	len = serialize(&m, &o, &buf, NULL);
	expect_refusal(buf, len, -EBADMSG, "follows the commit record");
	free(buf);
	model_free(&m);
}

/* ---- damage that the hashes cannot see: the structure checks ------------------ */

/*
 * One-statement mutations, as functions: MUT changes the model before it
 * is sealed, the others the END_META, PAGE_HASHES or COMMIT contents.
 */
#define MUT(name, stmt)                          \
	static void name(struct model *m)        \
	{                                        \
		stmt;                            \
	}
#define END_MUT(name, stmt)                      \
	static void name(struct sck_end_meta *e) \
	{                                        \
		stmt;                            \
	}
#define COMMIT_MUT(name, stmt)                   \
	static void name(struct sck_commit *c)   \
	{                                        \
		stmt;                            \
	}
#define HASH_MUT(name, stmt)                                        \
	static void name(struct sck_page_hashes *ph, uint64_t *h)   \
	{                                                           \
		(void)ph;                                           \
		(void)h;                                            \
		stmt;                                               \
	}

/* The big shape's VMAs: 0 file, 1 anon (2 runs, 1 guard), 2 heap, 3 memfd. */
MUT(m_run_before, runs(m, 1)[0].addr -= PAGE)
MUT(m_run_past_end, runs(m, 1)[1].npages = 4)
MUT(m_run_empty, runs(m, 2)[0].npages = 0)
MUT(m_run_unaligned, runs(m, 1)[1].addr += 8)
MUT(m_run_after_end, runs(m, 2)[0].addr = vma(m, 2)->end)
MUT(m_runs_overlap, runs(m, 1)[1].addr = runs(m, 1)[0].addr + PAGE)

static void m_runs_unsorted(struct model *m)
{
	struct sck_run *r = runs(m, 1), t = r[0];

	r[0].addr = r[1].addr;
	r[0].npages = r[1].npages;
	r[1].addr = t.addr;
	r[1].npages = t.npages;
	r[1].data_off = r[0].data_off + r[0].npages * PAGE;
}

MUT(m_run_gap, runs(m, 1)[1].data_off += PAGE)
MUT(m_run_other_image, runs(m, 2)[0].src = 1)
MUT(m_stored_count, vma(m, 1)->npages_stored++)
MUT(m_guard_outside, guards(m, 1)[0].end = vma(m, 1)->end + PAGE)
MUT(m_guard_empty, guards(m, 1)[0].end = guards(m, 1)[0].start)
MUT(m_vmas_overlap, vma(m, 2)->start = vma(m, 1)->end - PAGE)

/* Give the runs their data offsets again, in record order. */
static void renumber_runs(struct model *m)
{
	uint64_t off = 0;

	for (int k = 0; rec_index(m, SCK_REC_VMA, k) >= 0; k++)
		for (uint32_t i = 0; i < vma(m, k)->nruns; i++) {
			runs(m, k)[i].data_off = off;
			off += runs(m, k)[i].npages * PAGE;
		}
}

static void m_vmas_unsorted(struct model *m)
{
	swap_recs(m, rec_index(m, SCK_REC_VMA, 1), rec_index(m, SCK_REC_VMA, 2));
	renumber_runs(m);
}

MUT(m_vma_empty, vma(m, 1)->end = vma(m, 1)->start)
MUT(m_vma_unaligned, vma(m, 1)->end -= 8)

static void m_vma_too_high(struct model *m)
{
	int last = rec_index(m, SCK_REC_FD, 0) - 1;
	struct sck_vma *v = (void *)m->rec[last].p;

	v->start = 1ULL << 56;
	v->end = v->start + 2 * PAGE;
}

MUT(m_vma_kind0, vma(m, 1)->kind = 0)
MUT(m_vma_kind13, vma(m, 1)->kind = SCK_VMA_SYSV_SHM + 1)
MUT(m_vma_prot, vma(m, 1)->prot = 8)
MUT(m_vma_file, vma(m, 0)->file_id = 1000)
MUT(m_vma_no_file, vma(m, 3)->file_id = 0)
MUT(m_vma_pgoff, vma(m, 0)->pgoff = 100)
MUT(m_vma_nruns, vma(m, 1)->nruns++)
MUT(m_vma_nruns_huge, vma(m, 1)->nruns = 0x80000000u)
MUT(m_vma_name_len, vma(m, 0)->name_len++)
MUT(m_vma_short, m->rec[rec_index(m, SCK_REC_VMA, 0)].len = 40)

static void m_fds_unsorted(struct model *m)
{
	swap_recs(m, rec_index(m, SCK_REC_FD, 3), rec_index(m, SCK_REC_FD, 4));
}

MUT(m_fd_dup, fd_rec(m, 4)->fd = fd_rec(m, 3)->fd)
MUT(m_fd_negative, fd_rec(m, 0)->fd = -1)
MUT(m_fd_kind, fd_rec(m, 3)->kind = SCK_FD_OBJ + 1)
MUT(m_fd_obj_none, fd_rec(m, 3)->kind = SCK_FD_OBJ; fd_rec(m, 3)->file_id = 0)
MUT(m_fd_obj_file, fd_rec(m, 3)->kind = SCK_FD_OBJ)
MUT(m_fd_file_obj, fd_rec(m, 3)->obj_id = 1)
MUT(m_fd_stdio3, fd_rec(m, 3)->kind = SCK_FD_STDIO)
MUT(m_fd_file0, fd_rec(m, 3)->file_id = 0)
MUT(m_fd_file_big, fd_rec(m, 3)->file_id = 1000)
MUT(m_share_nowhere, fd_rec(m, 6)->share_with = 99 + 1)
MUT(m_share_later, fd_rec(m, 3)->share_with = 7 + 1)
MUT(m_share_self, fd_rec(m, 3)->share_with = 3 + 1)
MUT(m_share_kind, fd_rec(m, 5)->share_with = 4 + 1)

MUT(m_file_skip, file_rec(m, 2)->id = 4)
MUT(m_file_dup, file_rec(m, 2)->id = 2)
MUT(m_file_zero, file_rec(m, 0)->id = 0)
MUT(m_file_kind, file_rec(m, 1)->kind = 0)
MUT(m_file_build_id, file_rec(m, 0)->build_id_len = 33)
MUT(m_file_path0, file_rec(m, 0)->path_len = 0)
MUT(m_file_path_long, file_rec(m, 0)->path_len += 1)

static void m_file_path_nul(struct model *m)
{
	((uint8_t *)file_rec(m, 0))[sizeof(struct sck_file) + 3] = '\0';
}

static void m_files_swapped(struct model *m)
{
	swap_recs(m, rec_index(m, SCK_REC_FILE, 0), rec_index(m, SCK_REC_FILE, 1));
}

MUT(m_hdr_id0, hdr(m)->ckpt_id = 0)
MUT(m_hdr_parent, hdr(m)->parent_id = hdr(m)->ckpt_id)
MUT(m_hdr_page, hdr(m)->page_size = 16384)
MUT(m_hdr_string, memset(hdr(m)->hostname, 'h', 65))
MUT(m_hdr_vendor, memset(hdr(m)->cpu.vendor, 'v', 16))
MUT(m_hdr_special, hdr(m)->nspecial = SCK_MAX_SPECIAL + 1)
MUT(m_hdr_threads0, hdr(m)->nthreads = 0)
MUT(m_hdr_threads2, hdr(m)->nthreads = 2)
MUT(m_hdr_xsave, hdr(m)->cpu.xsave_size = SCK_MAX_XSAVE + 1)
MUT(m_hdr_short, m->rec[0].len = 100)
MUT(m_hdr_not_first, swap_recs(m, 0, 1))

static void m_hdr_twice(struct model *m)
{
	insert_rec(m, 2, SCK_REC_HEADER, 0, m->rec[0].p, m->rec[0].len);
}

static void m_cwd_relative(struct model *m)
{
	((uint8_t *)proc(m))[sizeof(struct sck_process)] = 't';
}

static void m_cwd_nul(struct model *m)
{
	((uint8_t *)proc(m))[sizeof(struct sck_process) + 4] = '\0';
}

MUT(m_cwd_len0, proc(m)->cwd_len = 0)
MUT(m_cwd_len_long, proc(m)->cwd_len += 1)
MUT(m_auxv_odd, proc(m)->auxv_len = 3)
MUT(m_auxv_long, proc(m)->auxv_len = SCK_AUXV_MAX * 2 + 2)
MUT(m_brk, proc(m)->brk = proc(m)->start_brk - PAGE)

static void m_proc_twice(struct model *m)
{
	insert_rec(m, 2, SCK_REC_PROCESS, 0, m->rec[1].p, m->rec[1].len);
}

MUT(m_no_proc, remove_rec(m, rec_index(m, SCK_REC_PROCESS, 0)))
MUT(m_no_sig, remove_rec(m, rec_index(m, SCK_REC_SIGACTIONS, 0)))

static void m_no_vmas(struct model *m)
{
	int k;

	while ((k = rec_index(m, SCK_REC_VMA, 0)) >= 0)
		remove_rec(m, k);
	m->data_len = 0;
}

MUT(m_rlimits_short, m->rec[rec_index(m, SCK_REC_RLIMITS, 0)].len -= 8)
MUT(m_sig_short, m->rec[rec_index(m, SCK_REC_SIGACTIONS, 0)].len -= 8)
MUT(m_fd_short, m->rec[rec_index(m, SCK_REC_FD, 0)].len -= 8)
MUT(m_file_short, m->rec[rec_index(m, SCK_REC_FILE, 0)].len = 50)

static void m_thread_small(struct model *m)
{
	thread(m)->xsave_size = 512;
	m->rec[rec_index(m, SCK_REC_THREAD, 0)].len = sizeof(struct sck_thread) + 512;
}

MUT(m_thread_size, thread(m)->xsave_size -= 64)
MUT(m_thread_huge, thread(m)->xsave_size = SCK_MAX_XSAVE + 64)
MUT(m_thread_rseq_len, thread(m)->rseq_len = 16)
MUT(m_thread_rseq_addr, thread(m)->rseq_addr += 8)

static void m_thread_twice(struct model *m)
{
	int k = rec_index(m, SCK_REC_THREAD, 0);

	insert_rec(m, k + 1, SCK_REC_THREAD, 0, m->rec[k].p, m->rec[k].len);
}

static void m_note_late(struct model *m)
{
	insert_rec(m, m->n, SCK_REC_NOTE, 0, "late", 4);
}

static void m_optional_late(struct model *m)
{
	insert_rec(m, m->n, 99, SCK_RECF_OPTIONAL, "late", 4);
}

static void m_end_twice(struct model *m)
{
	insert_rec(m, m->n, SCK_REC_END_META, 0, m->rec[m->n - 1].p,
		   m->rec[m->n - 1].len);
}

MUT(m_no_end, remove_rec(m, m->n - 1))
MUT(m_end_short, m->rec[m->n - 1].len = 16)

END_MUT(e_files, e->nfiles++)
END_MUT(e_vmas, e->nvmas--)
END_MUT(e_fds, e->nfds++)
END_MUT(e_threads, e->nthreads = 2)
END_MUT(e_records, e->meta_records--)
END_MUT(e_data, e->data_len += PAGE)
END_MUT(e_data_odd, e->data_len += 8)

HASH_MUT(h_chunk, ph->chunk_size = PAGE)
HASH_MUT(h_count, ph->nchunks++)
HASH_MUT(h_value, h[1] ^= 1)

COMMIT_MUT(c_magic, c->magic ^= 1)
COMMIT_MUT(c_records, c->records++)
COMMIT_MUT(c_file_len, c->commit_off -= 8)
COMMIT_MUT(c_data_len, c->data_len += PAGE)
COMMIT_MUT(c_uuid, c->image_uuid.b[15] ^= 0x20)

struct mutation {
	const char *name;
	void (*model)(struct model *m);
	struct ser_opts opts;
	int code;
	const char *says;
};

#define M(fn, code, says) { #fn, fn, { 0 }, code, says }
#define O(name, code, says, ...) { name, NULL, { __VA_ARGS__ }, code, says }

static const struct mutation mutations[] = {
	/* Page runs and guards. */
	M(m_run_before, -EBADMSG, "page run 0 outside its mapping"),
	M(m_run_past_end, -EBADMSG, "page run 1 outside its mapping"),
	M(m_run_empty, -EBADMSG, "page run 0 outside its mapping"),
	M(m_run_unaligned, -EBADMSG, "page run 1 outside its mapping"),
	M(m_run_after_end, -EBADMSG, "page run 0 outside its mapping"),
	M(m_runs_overlap, -EBADMSG, "page run 1 outside its mapping"),
	M(m_runs_unsorted, -EBADMSG, "page run 1 outside its mapping"),
	M(m_run_gap, -EBADMSG, "has data offset"),
	M(m_run_other_image, -EBADMSG, "another image"),
	M(m_stored_count, -EBADMSG, "stored page count"),
	M(m_guard_outside, -EBADMSG, "guard range 0 outside"),
	M(m_guard_empty, -EBADMSG, "guard range 0 outside"),
	/* Mappings. */
	M(m_vmas_overlap, -EBADMSG, "overlap or are out of order"),
	M(m_vmas_unsorted, -EBADMSG, "overlap or are out of order"),
	M(m_vma_empty, -EBADMSG, "bad range"),
	M(m_vma_unaligned, -EBADMSG, "bad range"),
	M(m_vma_too_high, -EBADMSG, "bad range"),
	M(m_vma_kind0, -EBADMSG, "bad kind 0"),
	M(m_vma_kind13, -EBADMSG, "bad kind 13"),
	M(m_vma_prot, -EBADMSG, "bad protection 8"),
	M(m_vma_file, -EBADMSG, "unknown file 1000"),
	M(m_vma_no_file, -EBADMSG, "file mapping without a file"),
	M(m_vma_pgoff, -EBADMSG, "unaligned file offset"),
	M(m_vma_nruns, -EBADMSG, "lengths do not add up"),
	M(m_vma_nruns_huge, -EBADMSG, "lengths do not add up"),
	M(m_vma_name_len, -EBADMSG, "lengths do not add up"),
	M(m_vma_short, -EBADMSG, "VMA record at byte"),
	/* File descriptors. */
	M(m_fds_unsorted, -EBADMSG, "out of order"),
	M(m_fd_dup, -EBADMSG, "fd 3 out of order"),
	M(m_fd_negative, -EBADMSG, "fd -1 out of order"),
	M(m_fd_kind, -EBADMSG, "bad kind 6"),
	M(m_fd_obj_none, -EBADMSG, "fd 3 refers to unknown object 0"),
	M(m_fd_obj_file, -EBADMSG, "fd 3 is an object but refers to a file"),
	M(m_fd_file_obj, -EBADMSG, "fd 3 refers to an object but is not one"),
	M(m_fd_stdio3, -EBADMSG, "fd 3 cannot be stdio"),
	M(m_fd_file0, -EBADMSG, "refers to unknown file 0"),
	M(m_fd_file_big, -EBADMSG, "refers to unknown file 1000"),
	M(m_share_nowhere, -EBADMSG, "shares with unknown fd 99"),
	M(m_share_later, -EBADMSG, "fd 3 shares with unknown fd 7"),
	M(m_share_self, -EBADMSG, "fd 3 shares with unknown fd 3"),
	M(m_share_kind, -EBADMSG, "fd 6 shares with unknown fd 4"),
	/* Files. */
	M(m_file_skip, -EBADMSG, "file id 4 out of sequence"),
	M(m_file_dup, -EBADMSG, "file id 2 out of sequence"),
	M(m_file_zero, -EBADMSG, "file id 0 out of sequence"),
	M(m_files_swapped, -EBADMSG, "file id 2 out of sequence"),
	M(m_file_kind, -EBADMSG, "bad file kind 0"),
	M(m_file_build_id, -EBADMSG, "bad build-id length"),
	M(m_file_path0, -EBADMSG, "bad path length 0"),
	M(m_file_path_long, -EBADMSG, "bad path length"),
	M(m_file_path_nul, -EBADMSG, "NUL inside a path"),
	/* Header. */
	M(m_hdr_id0, -EBADMSG, "bad checkpoint ids"),
	M(m_hdr_parent, -EBADMSG, "bad checkpoint ids 1/1"),
	M(m_hdr_page, -EPROTONOSUPPORT, "page size 16384"),
	M(m_hdr_string, -EBADMSG, "unterminated string"),
	M(m_hdr_vendor, -EBADMSG, "unterminated string"),
	M(m_hdr_special, -EBADMSG, "bad counts"),
	M(m_hdr_threads0, -EBADMSG, "bad counts"),
	M(m_hdr_threads2, -EBADMSG, "header announces 2 threads, image has 1"),
	M(m_hdr_xsave, -EBADMSG, "xsave size 16385"),
	M(m_hdr_short, -EBADMSG, "wrong length"),
	M(m_hdr_not_first, -EBADMSG, "the first record must be HEADER"),
	M(m_hdr_twice, -EBADMSG, "a second HEADER"),
	/* Process. */
	M(m_cwd_relative, -EBADMSG, "not an absolute path"),
	M(m_cwd_nul, -EBADMSG, "not an absolute path"),
	M(m_cwd_len0, -EBADMSG, "bad cwd length 0"),
	M(m_cwd_len_long, -EBADMSG, "bad cwd length"),
	M(m_auxv_odd, -EBADMSG, "bad auxv length 3"),
	M(m_auxv_long, -EBADMSG, "bad auxv length"),
	M(m_brk, -EBADMSG, "brk below start_brk"),
	M(m_proc_twice, -EBADMSG, "PROCESS record at byte"),
	M(m_no_proc, -EBADMSG, "metadata incomplete"),
	M(m_no_sig, -EBADMSG, "metadata incomplete"),
	M(m_no_vmas, -EBADMSG, "metadata incomplete"),
	M(m_rlimits_short, -EBADMSG, "wrong length"),
	M(m_sig_short, -EBADMSG, "wrong length"),
	M(m_fd_short, -EBADMSG, "wrong length"),
	M(m_file_short, -EBADMSG, "too short"),
	/* Threads. */
	M(m_thread_small, -EBADMSG, "xsave area too small"),
	M(m_thread_size, -EBADMSG, "bad xsave size"),
	M(m_thread_huge, -EBADMSG, "bad xsave size"),
	M(m_thread_rseq_len, -EBADMSG, "bad rseq registration"),
	M(m_thread_rseq_addr, -EBADMSG, "bad rseq registration"),
	M(m_thread_twice, -EBADMSG, "more threads than the header says"),
	/* What may follow END_META, and END_META itself. */
	M(m_note_late, -EBADMSG, "only PAD may follow END_META"),
	M(m_optional_late, -EBADMSG, "only PAD may follow END_META"),
	M(m_end_twice, -EBADMSG, "only PAD may follow END_META"),
	M(m_no_end, -EBADMSG, "PAGES before END_META"),
	M(m_end_short, -EBADMSG, "wrong length"),
	O("end nfiles", -EBADMSG, "counts do not match", .end = e_files),
	O("end nvmas", -EBADMSG, "counts do not match", .end = e_vmas),
	O("end nfds", -EBADMSG, "counts do not match", .end = e_fds),
	O("end nthreads", -EBADMSG, "counts do not match", .end = e_threads),
	O("end records", -EBADMSG, "counts do not match", .end = e_records),
	O("end data_len", -EBADMSG, "page data length", .end = e_data),
	O("end data_len odd", -EBADMSG, "page data length", .end = e_data_odd),
	/* PAD and PAGES. */
	O("pages misaligned", -EBADMSG, "not page-aligned", .pad_extra = 8),
	O("pad too long", -EBADMSG, "PAD record at byte", .pad_extra = 2 * PAGE),
	O("pages hash", -EBADMSG, "payload hash must be 0", .pages_hash = 1),
	O("pages length", -EBADMSG, "END_META said", .pages_len_delta = PAGE),
	O("pages short", -EBADMSG, "END_META said", .pages_len_delta = -(int64_t)PAGE),
	/* The trailer. */
	O("hashes chunk", -EBADMSG, "hash list does not match", .hashes = h_chunk),
	O("hashes count", -EBADMSG, "hash list does not match", .hashes = h_count),
	O("hashes value", -EBADMSG, "page data bytes 1048576-", .hashes = h_value),
	O("hashes type", -EBADMSG, "expected PAGE_HASHES", .hashes_type = SCK_REC_NOTE),
	O("commit type", -EBADMSG, "expected COMMIT", .commit_type = SCK_REC_NOTE),
	O("commit first", -EBADMSG, "expected PAGE_HASHES", .hashes_type = SCK_REC_COMMIT),
	O("commit magic", -EBADMSG, "commit record does not match", .commit = c_magic),
	O("commit records", -EBADMSG, "commit record does not match", .commit = c_records),
	O("commit commit_off", -EBADMSG, "commit record does not match", .commit = c_file_len),
	O("commit data_len", -EBADMSG, "commit record does not match", .commit = c_data_len),
	O("commit uuid", -EBADMSG, "commit record does not match", .commit = c_uuid),
};

static void test_structure_checks(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(mutations) / sizeof(mutations[0]); i++) {
		const struct mutation *mu = &mutations[i];
		struct model m;
		uint8_t *buf;
		size_t len;

		model_build(&m, &big_shape);
		if (mu->model)
			mu->model(&m);
		len = serialize(&m, &mu->opts, &buf, NULL);
		for (int how = FEED_FILE; how <= FEED_PIPE; how++) {
			struct dec d;

			decode_buf(buf, len, (enum feed)how, &d, 0);
			if (d.ret != mu->code)
				fail_msg("%s (%s): code %d (%s), want %d", mu->name,
					 how == FEED_FILE ? "file" : "pipe", d.ret,
					 d.ret ? d.err : "accepted", mu->code);
			expect_message(&d);
			if (!strstr(d.err, mu->says))
				fail_msg("%s: \"%s\" does not say \"%s\"", mu->name,
					 d.err, mu->says);
			dec_free(&d);
		}
		free(buf);
		model_free(&m);
	}
}

/* A sink that fails on its second piece of page data. */
static int failing_sink(void *arg, const void *p, size_t n, uint64_t off)
{
	int *calls = arg;

	(void)p;
	(void)n;
	(void)off;
	return ++*calls == 2 ? -ENOSPC : 0;
}

/* verify_data stops at the sink's first error and returns its code. */
static void test_sink_error(void **state)
{
	struct model m;
	uint8_t *buf;
	size_t len;
	int fd, calls = 0;
	struct sck_image img;
	char err[ERRLEN];

	(void)state;
	model_build(&m, &big_shape);
	len = serialize(&m, NULL, &buf, NULL);
	fd = memfd_with(buf, len);
	assert_int_equal(selfckpt__image_read_meta(fd, &img, err, sizeof(err)), 0);
	assert_int_equal(selfckpt__image_verify_data(fd, &img, failing_sink, &calls,
						     err, sizeof(err)),
			 -ENOSPC);
	assert_int_equal(calls, 2);
	selfckpt__image_free(&img);
	close(fd);
	free(buf);
	model_free(&m);
}

/* ---- names for messages --------------------------------------------------------- */

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(selfckpt__rec_type_name(SCK_REC_HEADER), "HEADER");
	assert_string_equal(selfckpt__rec_type_name(SCK_REC_PAGE_HASHES), "PAGE_HASHES");
	assert_string_equal(selfckpt__rec_type_name(SCK_REC_NOTE), "NOTE");
	assert_string_equal(selfckpt__rec_type_name(0), "?");
	assert_string_equal(selfckpt__rec_type_name(SCK_REC_OBJ), "OBJ");
	assert_string_equal(selfckpt__rec_type_name(SCK_REC_LOCK), "LOCK");
	assert_string_equal(selfckpt__rec_type_name(SCK_REC_POSIX_TIMER), "POSIX_TIMER");
	assert_string_equal(selfckpt__rec_type_name(SCK_REC_SIGINFO), "SIGINFO");
	assert_string_equal(selfckpt__rec_type_name(SCK_REC_CLOCKS), "CLOCKS");
	assert_string_equal(selfckpt__rec_type_name(SCK_REC_SYSV), "SYSV");
	assert_string_equal(selfckpt__rec_type_name(SCK_REC_SCM), "SCM");
	assert_string_equal(selfckpt__rec_type_name(SCK_REC_SCM + 1), "?");
	assert_string_equal(selfckpt__rec_type_name(UINT32_MAX), "?");
	for (uint32_t t = SCK_REC_HEADER; t <= SCK_REC_SCM; t++)
		assert_string_not_equal(selfckpt__rec_type_name(t), "?");
	assert_string_equal(selfckpt__vma_kind_name(SCK_VMA_ANON), "anon");
	assert_string_equal(selfckpt__vma_kind_name(SCK_VMA_VVAR_VCLOCK), "vvar_vclock");
	assert_string_equal(selfckpt__vma_kind_name(SCK_VMA_SYSV_SHM), "sysv-shm");
	assert_string_equal(selfckpt__vma_kind_name(SCK_VMA_SYSV_SHM + 1), "?");
	for (uint32_t k = SCK_VMA_ANON; k <= SCK_VMA_SYSV_SHM; k++)
		assert_string_not_equal(selfckpt__vma_kind_name(k), "?");
	assert_string_equal(selfckpt__sysv_kind_name(SCK_SYSV_MSG), "msg");
	assert_string_equal(selfckpt__sysv_kind_name(SCK_SYSV_MSG + 1), "?");
	assert_string_equal(selfckpt__fd_kind_name(SCK_FD_STDIO), "stdio");
	assert_string_equal(selfckpt__fd_kind_name(0), "?");
	assert_string_equal(selfckpt__fd_kind_name(SCK_FD_OBJ), "object");
	assert_string_equal(selfckpt__fd_kind_name(SCK_FD_OBJ + 1), "?");
	assert_string_equal(selfckpt__obj_kind_name(SCK_OBJ_PIPE), "pipe");
	assert_string_equal(selfckpt__obj_kind_name(SCK_OBJ_EVENTFD), "eventfd");
	assert_string_equal(selfckpt__obj_kind_name(SCK_OBJ_INOTIFY), "inotify");
	assert_string_equal(selfckpt__obj_kind_name(0), "?");
	assert_string_equal(selfckpt__obj_kind_name(SCK_OBJ_PTY), "pty");
	assert_string_equal(selfckpt__obj_kind_name(SCK_OBJ_PTS), "pts");
	assert_string_equal(selfckpt__obj_kind_name(SCK_OBJ_TTY), "terminal");
	assert_string_equal(selfckpt__obj_kind_name(UINT32_MAX), "?");
	assert_string_equal(selfckpt__obj_kind_name(SCK_OBJ_MEMFD), "memfd");
	assert_string_equal(selfckpt__obj_kind_name(SCK_OBJ_UNLINKED), "unlinked file");
}

/* ---- the encoder on its own -------------------------------------------------- */

static void test_encoder(void **state)
{
	uint8_t buf[256], big[64];
	struct sck_meta m, t;
	struct sck_part parts[4] = {
		{ "abc", 3 }, { NULL, 100 }, { "", 0 }, { "defgh", 5 },
	};
	void *p = NULL;

	(void)state;
	memset(buf, 0xee, sizeof(buf));
	memset(big, 0x42, sizeof(big));
	selfckpt__meta_start(&m, buf, sizeof(buf));
	assert_int_equal(m.len, 16);
	assert_memory_equal(buf, SCK_MAGIC, 8);
	assert_int_equal(m.seed, XXH64(buf, 16, SCK_HASH_SEED));
	/* NULL and empty parts are skipped; the payload is padded with zeros. */
	assert_int_equal(selfckpt__meta_add(&m, SCK_REC_NOTE, 0, parts, 4, &p), 0);
	assert_ptr_equal(p, buf + 16 + 32);
	assert_memory_equal(p, "abcdefgh", 8);
	assert_int_equal(m.len, 16 + 32 + 8);
	assert_int_equal(selfckpt__meta_add(&m, SCK_REC_NOTE, 0, parts, 1, NULL), 0);
	assert_int_equal(m.len, 16 + 32 + 8 + 32 + 8);
	assert_memory_equal(buf + m.len - 5, "\0\0\0\0\0", 5);
	assert_int_equal(m.nrecords, 2);
	/* Full: -ENOSPC, nothing changed. */
	struct sck_part huge = { big, sizeof(big) };
	size_t before = m.len;

	for (int i = 0; i < 10 && selfckpt__meta_add(&m, 99, 0, &huge, 1, NULL) == 0; i++)
		before = m.len;
	assert_int_equal(selfckpt__meta_add(&m, 99, 0, &huge, 1, NULL), -ENOSPC);
	assert_int_equal(m.len, before);
	selfckpt__meta_seal(&m);
	/* The chain: each hdr_hash covers the header and the previous one. */
	uint64_t chain = m.seed;

	for (size_t off = 16; off < m.len;) {
		struct sck_rec *r = (void *)(buf + off);

		assert_int_equal(r->payload_hash, XXH64(r + 1, r->len, 0));
		assert_int_equal(r->hdr_hash, XXH64(r, 24, chain));
		chain = r->hdr_hash;
		off += sizeof(*r) + r->len + sck_pad8(r->len);
	}
	assert_int_equal(m.chain, chain);
	/* A continuation picks up the chain and the counts. */
	selfckpt__meta_continue(&t, &m, big, sizeof(big));
	assert_int_equal(t.seed, m.chain);
	assert_int_equal(t.nrecords, m.nrecords);
	assert_int_equal(t.offset, m.len);
	assert_int_equal(t.len, 0);
	assert_int_equal(sck_pad8(0), 0);
	assert_int_equal(sck_pad8(1), 7);
	assert_int_equal(sck_pad8(8), 0);
	assert_int_equal(sck_pad8(UINT64_MAX), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encoder),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_valid_small),
		cmocka_unit_test(test_valid_big),
		cmocka_unit_test(test_valid_random_shapes),
		cmocka_unit_test(test_valid_no_pages),
		cmocka_unit_test(test_newer_minor),
		cmocka_unit_test(test_longer_records),
		cmocka_unit_test(test_longer_records_same_version),
		cmocka_unit_test(test_unknown_record),
		cmocka_unit_test(test_preamble),
		cmocka_unit_test(test_read_error),
		cmocka_unit_test(test_truncation_file),
		cmocka_unit_test(test_truncation_pipe),
		cmocka_unit_test(test_bitflip_every_byte),
		cmocka_unit_test(test_bitflip_sampled),
		cmocka_unit_test(test_damaged_page_data),
		cmocka_unit_test(test_huge_lengths),
		cmocka_unit_test(test_out_of_memory),
		cmocka_unit_test(test_huge_data_claim),
		cmocka_unit_test(test_trailing_data),
		cmocka_unit_test(test_structure_checks),
		cmocka_unit_test(test_sink_error),
	};

	signal(SIGPIPE, SIG_IGN);
	unit_seed("test_image");
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * imgedit - a test-only image editor for tests/e2e/incompat.sh: images that
 * pass every checksum but describe a machine this one is not, so that only
 * the semantic checks of `selfckpt restart` can refuse them.
 *
 *   imgedit IN OUT [EDIT...]
 *
 * Copies the image IN to OUT record by record, applies the edits to the
 * payloads and seals everything again: every payload hash, the hdr_hash
 * chain, PAGE_HASHES (recomputed from the page data) and COMMIT. With no
 * edit, OUT is byte-identical to IN (checked). IN must be intact: its
 * hashes are verified as it is read, then it is read once more with the
 * library's own reader; OUT is read back with that reader too (except
 * after page-size=, which that reader refuses by design).
 *
 * Edits, applied in order:
 *   vdso-shift            move all the vdso/vvar pieces together, by +2
 *                         pages if that stays inside their gap, else into
 *                         the nearest gap of the address space that holds
 *                         them (VMA records are re-sorted), in
 *                         HEADER.special[] and the VMA records; their
 *                         relative layout is unchanged
 *   vdso-size             the [vdso] one page larger (pieces above it move
 *                         up a page; the block moves to a gap if needed)
 *   vdso-gap              the [vdso] 2 pages further from the vvar pieces
 *   vdso-hash             another HEADER.vdso_hash and one vdso_sym offset
 *                         moved: same layout, other entry points
 *   vdso-rebuild          another HEADER.vdso_hash only: another build of
 *                         the vdso with the same entry points
 *   cpu-feature=WORD:BIT  set a CPUID bit in HEADER.cpu; WORD is a field of
 *                         struct sck_cpu: leaf1_ecx, leaf1_edx, leaf7_ebx,
 *                         leaf7_ecx, leaf7_edx, leaf7_1_eax, ext1_ecx,
 *                         ext1_edx, leaf_d1_eax
 *   xfeature=BIT          add an XSAVE feature to HEADER.cpu.xfeatures and
 *                         to every THREAD.xfeatures
 *   file-size=PATH        the FILE record(s) with that path: size + 1,
 *   file-mtime=PATH         mtime - 1 day,
 *   file-ctime=PATH         ctime - 1 day,
 *   file-inode=PATH         inode + 1,
 *   file-dev=PATH           device + 1,
 *   file-build-id=PATH      first build-id byte inverted
 *   machine-id=HEX        HEADER.machine_id (up to 32 hex digits, "" too)
 *   boot-id=ID            HEADER.boot_id (up to 36 of [0-9a-f-])
 *   page-size=N           HEADER.page_size
 *
 * cpu-feature= and xfeature= exit with status 3 if this CPU has the bit
 * (the edit would not describe another machine: pick another bit). Any
 * other problem (damaged or unexpected input, an edit that does not apply)
 * exits 1 with a message, usage errors 2; OUT is then not left behind.
 * A successful run writes one line per edit on stderr, saying what it did.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch.h"
#include "image.h"
#include "nolibc/xxh64.h"

#define PAGE SCK_PAGE_SIZE
#define TASK_TOP 0x7ffffffff000ULL
#define LOW_LIMIT 0x10000ULL		/* vm.mmap_min_addr's usual value */
#define STACK_ROOM (256ULL << 20)	/* kept free below a growsdown stack */

static const char *out_path;		/* unlinked on failure once created */

static void __attribute__((noreturn, format(printf, 2, 3)))
quit(int status, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "imgedit: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (out_path)
		unlink(out_path);
	exit(status);
}

#define die(...) quit(1, __VA_ARGS__)

/* ---- the image in memory ------------------------------------------------ */

struct rec {
	size_t off;			/* of the record header */
	uint32_t type;
	uint64_t len;
};

struct img {
	uint8_t *b;
	size_t len;
	struct rec *recs;
	size_t nrecs;
};

static uint8_t *payload(const struct img *m, const struct rec *r)
{
	return m->b + r->off + sizeof(struct sck_rec);
}

static uint8_t *read_all(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = 1 << 20, n = 0;
	uint8_t *b = malloc(cap);

	if (fd < 0)
		die("cannot open %s: %s", path, strerror(errno));
	if (!b)
		die("out of memory");
	for (;;) {
		if (n == cap) {
			cap *= 2;
			b = realloc(b, cap);
			if (!b)
				die("out of memory");
		}
		ssize_t k = read(fd, b + n, cap - n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			die("cannot read %s: %s", path, strerror(errno));
		if (k == 0)
			break;
		n += (size_t)k;
	}
	close(fd);
	*len = n;
	return b;
}

/*
 * Find the records of m->b. With verify, check every hash and the trailer
 * (input and output); without, only the structure (after edits, before
 * sealing). Either way the layout must be the one a writer produces:
 * HEADER first, metadata, END_META, PAD, PAGES (page-aligned payload),
 * PAGE_HASHES, COMMIT, and nothing after it.
 */
static void walk(struct img *m, const char *name, int verify)
{
	const struct sck_preamble *pre = (const void *)m->b;
	size_t off = sizeof(*pre), cap = 64;
	uint64_t chain;
	int pages = -1;

	free(m->recs);
	m->recs = malloc(cap * sizeof(*m->recs));
	m->nrecs = 0;
	if (!m->recs)
		die("out of memory");
	if (m->len < sizeof(*pre) || memcmp(pre->magic, SCK_MAGIC, SCK_MAGIC_LEN))
		die("%s: not a selfckpt image", name);
	if (pre->major != SCK_VERSION_MAJOR || pre->minor != SCK_VERSION_MINOR ||
	    pre->arch != SCK_ARCH_X86_64)
		die("%s: format %u.%u, arch %u: this editor knows exactly %u.%u, x86_64",
		    name, pre->major, pre->minor, pre->arch, SCK_VERSION_MAJOR,
		    SCK_VERSION_MINOR);
	chain = selfckpt__xxh64(pre, sizeof(*pre), SCK_HASH_SEED);
	for (;;) {
		struct sck_rec h;

		if (m->len - off < sizeof(h))
			die("%s: truncated: no room for a record header at byte %zu",
			    name, off);
		memcpy(&h, m->b + off, sizeof(h));
		if (verify && selfckpt__xxh64(&h, 24, chain) != h.hdr_hash)
			die("%s: damaged: the record header at byte %zu fails its checksum",
			    name, off);
		chain = h.hdr_hash;

		size_t avail = m->len - off - sizeof(h);
		const char *tn = selfckpt__rec_type_name(h.type);

		if (h.len > avail || h.len + sck_pad8(h.len) > avail)
			die("%s: truncated: the %s record at byte %zu claims %llu bytes",
			    name, tn, off, (unsigned long long)h.len);
		if (m->nrecs == cap) {
			cap *= 2;
			m->recs = realloc(m->recs, cap * sizeof(*m->recs));
			if (!m->recs)
				die("out of memory");
		}
		m->recs[m->nrecs++] = (struct rec){ off, h.type, h.len };

		const uint8_t *p = m->b + off + sizeof(h);

		/* CLOCKS is written OPTIONAL (older readers may skip it). */
		if (h.flags && !(h.type == SCK_REC_CLOCKS && h.flags == SCK_RECF_OPTIONAL))
			die("%s: the %s record at byte %zu has flags %#x", name, tn,
			    off, h.flags);
		if (h.type < SCK_REC_HEADER || h.type > SCK_REC_CLOCKS)
			die("%s: unknown record type %u at byte %zu", name, h.type, off);
		if ((m->nrecs == 1) != (h.type == SCK_REC_HEADER))
			die("%s: HEADER is not (only) the first record", name);
		if (h.type == SCK_REC_PAGES) {
			if (pages >= 0)
				die("%s: two PAGES records", name);
			pages = (int)m->nrecs - 1;
			if (h.payload_hash != 0 || (off + sizeof(h)) % PAGE ||
			    h.len % PAGE)
				die("%s: malformed PAGES record at byte %zu", name, off);
		} else {
			for (uint64_t i = h.len; i < h.len + sck_pad8(h.len); i++)
				if (p[i])
					die("%s: damaged: non-zero padding after the %s record at byte %zu",
					    name, tn, off);
			if (verify && selfckpt__xxh64(p, h.len, 0) != h.payload_hash)
				die("%s: damaged: the %s record at byte %zu fails its checksum",
				    name, tn, off);
		}
		off += sizeof(h) + h.len + sck_pad8(h.len);
		if (h.type == SCK_REC_COMMIT)
			break;
	}
	if (off != m->len)
		die("%s: %zu bytes follow the COMMIT record", name, m->len - off);
	if (pages < 2 || (size_t)pages + 3 != m->nrecs ||
	    m->recs[pages - 1].type != SCK_REC_PAD ||
	    m->recs[pages - 2].type != SCK_REC_END_META ||
	    m->recs[pages + 1].type != SCK_REC_PAGE_HASHES)
		die("%s: the records do not end with END_META, PAD, PAGES, PAGE_HASHES, COMMIT",
		    name);
	if (!verify)
		return;

	/* The trailer: chunk hashes of the page data, and the commit record. */
	const struct rec *pg = &m->recs[pages], *ph = pg + 1, *cm = pg + 2;
	uint64_t nchunks = (pg->len + SCK_CHUNK_SIZE - 1) / SCK_CHUNK_SIZE;
	struct sck_page_hashes phh;
	struct sck_commit c;
	struct sck_header hdr;

	if (ph->len != sizeof(phh) + nchunks * 8)
		die("%s: PAGE_HASHES has the wrong length", name);
	memcpy(&phh, payload(m, ph), sizeof(phh));
	if (phh.chunk_size != SCK_CHUNK_SIZE || phh.nchunks != nchunks)
		die("%s: PAGE_HASHES does not match the page data", name);
	for (uint64_t i = 0; i < nchunks; i++) {
		uint64_t want, n = pg->len - i * SCK_CHUNK_SIZE;

		memcpy(&want, payload(m, ph) + sizeof(phh) + i * 8, 8);
		if (n > SCK_CHUNK_SIZE)
			n = SCK_CHUNK_SIZE;
		if (selfckpt__xxh64(payload(m, pg) + i * SCK_CHUNK_SIZE, n, 0) != want)
			die("%s: damaged: page data chunk %llu fails its checksum",
			    name, (unsigned long long)i);
	}
	if (cm->len != sizeof(c) || m->recs[0].len != sizeof(hdr))
		die("%s: HEADER or COMMIT has the wrong length", name);
	memcpy(&c, payload(m, cm), sizeof(c));
	memcpy(&hdr, payload(m, &m->recs[0]), sizeof(hdr));
	if (c.magic != SCK_COMMIT_MAGIC || c.records != m->nrecs - 1 ||
	    c.commit_off != cm->off || c.data_len != pg->len ||
	    memcmp(&c.image_uuid, &hdr.image_uuid, sizeof(c.image_uuid)))
		die("%s: the COMMIT record does not match the image", name);
}

/* Recompute PAGE_HASHES, COMMIT, every payload hash and the chain. */
static void seal(struct img *m)
{
	uint64_t chain = selfckpt__xxh64(m->b, sizeof(struct sck_preamble),
					 SCK_HASH_SEED);
	const struct rec *pg = NULL;

	for (size_t i = 0; i < m->nrecs; i++) {
		const struct rec *r = &m->recs[i];
		struct sck_rec *h = (void *)(m->b + r->off);
		uint8_t *p = payload(m, r);

		if (r->type == SCK_REC_PAGES)
			pg = r;
		if (r->type == SCK_REC_PAGE_HASHES) {
			struct sck_page_hashes phh;

			memcpy(&phh, p, sizeof(phh));
			for (uint64_t c = 0; c < phh.nchunks; c++) {
				uint64_t n = pg->len - c * SCK_CHUNK_SIZE;
				uint64_t x;

				if (n > SCK_CHUNK_SIZE)
					n = SCK_CHUNK_SIZE;
				x = selfckpt__xxh64(payload(m, pg) + c * SCK_CHUNK_SIZE,
						    n, 0);
				memcpy(p + sizeof(phh) + c * 8, &x, 8);
			}
		}
		if (r->type == SCK_REC_COMMIT) {
			struct sck_commit c;

			memcpy(&c, p, sizeof(c));
			c.records = i;
			c.commit_off = r->off;
			c.data_len = pg->len;
			memcpy(&c.image_uuid,
			       &((struct sck_header *)payload(m, &m->recs[0]))->image_uuid,
			       sizeof(c.image_uuid));
			memcpy(p, &c, sizeof(c));
		}
		selfckpt__rec_seal(h, h->type, h->flags, h->len,
				   r->type == SCK_REC_PAGES ? 0 :
				   selfckpt__xxh64(p, r->len, 0), &chain);
	}
}

/* Read an image with the library's reader, as restart and info do. */
static int library_reads(const char *path, char *err, size_t errlen)
{
	struct sck_image img;
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0) {
		snprintf(err, errlen, "cannot open: %s", strerror(errno));
		return -1;
	}
	ret = selfckpt__image_read_meta(fd, &img, err, errlen);
	if (!ret)
		ret = selfckpt__image_verify_data(fd, &img, NULL, NULL, err, errlen);
	selfckpt__image_free(&img);
	close(fd);
	return ret;
}

/* ---- edits --------------------------------------------------------------- */

static struct sck_header *header(struct img *m)
{
	return (struct sck_header *)payload(m, &m->recs[0]);
}

struct vref {
	struct rec *r;
	struct sck_vma v;
};

static int cmp_vref(const void *a, const void *b)
{
	const struct vref *x = a, *y = b;

	return x->v.start < y->v.start ? -1 : x->v.start > y->v.start;
}

/* The VMA records, in stream order; they must be consecutive. */
static struct vref *vmas(struct img *m, size_t *n)
{
	struct vref *v = calloc(m->nrecs, sizeof(*v));
	size_t k = 0;

	if (!v)
		die("out of memory");
	for (size_t i = 0; i < m->nrecs; i++) {
		if (m->recs[i].type != SCK_REC_VMA)
			continue;
		if (k && m->recs[i - 1].type != SCK_REC_VMA)
			die("the VMA records are not consecutive");
		if (m->recs[i].len < sizeof(struct sck_vma))
			die("short VMA record at byte %zu", m->recs[i].off);
		v[k].r = &m->recs[i];
		memcpy(&v[k].v, payload(m, &m->recs[i]), sizeof(v[k].v));
		k++;
	}
	if (!k)
		die("no VMA records");
	*n = k;
	return v;
}

static int is_special(const struct sck_vma *v)
{
	return v->kind == SCK_VMA_VDSO || v->kind == SCK_VMA_VVAR ||
	       v->kind == SCK_VMA_VVAR_VCLOCK;
}

/* Does [a, a + len) stay clear of every mapping but the specials? */
static int fits(const struct vref *v, size_t n, uint64_t a, uint64_t len)
{
	if (a % PAGE || a < LOW_LIMIT || a > TASK_TOP || len > TASK_TOP - a)
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t lo = v[i].v.start;

		if (is_special(&v[i].v))
			continue;
		if (v[i].v.flags & SCK_VMAF_GROWSDOWN)
			lo = lo > STACK_ROOM ? lo - STACK_ROOM : 0;
		if (a < v[i].v.end && lo < a + len)
			return 0;
	}
	return 1;
}

enum vdso_edit { VDSO_SHIFT, VDSO_SIZE, VDSO_GAP };

static void edit_vdso(struct img *m, enum vdso_edit what, const char *word)
{
	struct sck_header *h = header(m);
	size_t n, ns = 0, first = 0, last = 0;
	struct vref *v = vmas(m, &n);
	uint64_t rel[SCK_MAX_SPECIAL] = { 0 }, size[SCK_MAX_SPECIAL] = { 0 };
	size_t idx[SCK_MAX_SPECIAL] = { 0 };
	int vd = -1;

	for (size_t i = 0; i < n; i++) {
		if (!is_special(&v[i].v))
			continue;
		if (ns == SCK_MAX_SPECIAL)
			die("%s: more than %d vdso/vvar mappings", word, SCK_MAX_SPECIAL);
		if (v[i].v.nguards || v[i].v.nruns)
			die("%s: the vdso/vvar mapping at %llx has page runs or guards",
			    word, (unsigned long long)v[i].v.start);
		if (v[i].v.kind == SCK_VMA_VDSO)
			vd = (int)ns;
		if (!ns)
			first = i;
		last = i;
		idx[ns++] = i;
	}
	if (vd < 0 || ns != h->nspecial)
		die("%s: the image has no [vdso] or its header disagrees with its VMAs",
		    word);
	if (last - first + 1 != ns)
		die("%s: other mappings lie between the vdso/vvar pieces", word);

	uint64_t lo = v[first].v.start, hi = v[last].v.end, len = 0;

	for (size_t k = 0; k < ns; k++) {
		rel[k] = v[idx[k]].v.start - lo;
		size[k] = v[idx[k]].v.end - v[idx[k]].v.start;
	}
	if (what == VDSO_SIZE) {
		size[vd] += PAGE;
		for (size_t k = (size_t)vd + 1; k < ns; k++)
			rel[k] += PAGE;
	} else if (what == VDSO_GAP) {
		/* Away from the vvar pieces: up if it is last, else they go up. */
		if ((size_t)vd == ns - 1)
			rel[vd] += 2 * PAGE;
		else
			for (size_t k = (size_t)vd + 1; k < ns; k++)
				rel[k] += 2 * PAGE;
		if (ns == 1)
			die("%s: the image has no vvar to move the vdso away from", word);
	}
	for (size_t k = 0; k < ns; k++)
		if (rel[k] + size[k] > len)
			len = rel[k] + size[k];

	/*
	 * Where: the preferred place if it is free, else the free place
	 * nearest to it in a gap between the other mappings.
	 */
	uint64_t want = what == VDSO_SHIFT ? lo + 2 * PAGE : lo, at = 0, best = ~0ULL;
	int found = 0;

	if (fits(v, n, want, len)) {
		at = want;
		found = 1;
	}
	for (size_t i = 0, prev = n; i <= n && !found; i++) {
		/*
		 * The gap between the other mappings prev and i (the vdso/vvar
		 * are skipped: their place is free): its ends, and the point
		 * nearest to the preferred place.
		 */
		if (i < n && is_special(&v[i].v))
			continue;
		uint64_t g0 = prev < n ? v[prev].v.end : LOW_LIMIT;
		uint64_t g1 = i < n ? v[i].v.start : TASK_TOP;
		uint64_t c[3] = { g0, g1 >= len ? g1 - len : 0, want };

		prev = i;
		if (g1 <= g0 || g1 - g0 < len)
			continue;
		if (c[2] < g0)
			c[2] = g0;
		if (c[2] > g1 - len)
			c[2] = g1 - len;
		for (int k = 0; k < 3; k++) {
			uint64_t d = c[k] > want ? c[k] - want : want - c[k];

			if (what == VDSO_SHIFT && c[k] == lo)
				continue;
			if (d < best && fits(v, n, c[k], len)) {
				best = d;
				at = c[k];
			}
		}
	}
	if (!found && best == ~0ULL)
		die("%s: no gap in the address space holds the %llu bytes of vdso/vvar",
		    word, (unsigned long long)len);

	for (size_t k = 0; k < ns; k++) {
		struct vref *x = &v[idx[k]];

		x->v.start = at + rel[k];
		x->v.end = x->v.start + size[k];
		memcpy(payload(m, x->r), &x->v, sizeof(x->v));
		h->special[k] = (struct sck_special){ x->v.start, x->v.end,
						      x->v.kind, 0 };
	}
	/*
	 * libc found the vDSO through AT_SYSINFO_EHDR, and the reader checks
	 * that the saved auxv agrees with the mappings: a real image from a
	 * kernel with another layout would have both moved.
	 */
	for (size_t r = 0; r < m->nrecs; r++) {
		if (m->recs[r].type != SCK_REC_PROCESS)
			continue;
		struct sck_process *pr = (struct sck_process *)payload(m, &m->recs[r]);

		for (uint32_t i = 0; i + 1 < pr->auxv_len; i += 2)
			if (pr->auxv[i] == AT_SYSINFO_EHDR)
				pr->auxv[i + 1] = h->special[vd].start;
	}
	fprintf(stderr, "imgedit: %s: vdso/vvar %llx-%llx now %llx-%llx (%s)\n",
		word, (unsigned long long)lo, (unsigned long long)hi,
		(unsigned long long)at, (unsigned long long)(at + len),
		found ? "in place" : "moved to another gap");

	/* Keep the VMA records in address order: rewrite their region. */
	qsort(v, n, sizeof(*v), cmp_vref);
	size_t start = v[0].r->off, end = 0, pos;

	for (size_t i = 0; i < n; i++) {
		size_t e = v[i].r->off + sizeof(struct sck_rec) + v[i].r->len +
			   sck_pad8(v[i].r->len);

		if (v[i].r->off < start)
			start = v[i].r->off;
		if (e > end)
			end = e;
	}
	uint8_t *copy = malloc(end - start);

	if (!copy)
		die("out of memory");
	pos = 0;
	for (size_t i = 0; i < n; i++) {
		size_t sz = sizeof(struct sck_rec) + v[i].r->len + sck_pad8(v[i].r->len);

		memcpy(copy + pos, m->b + v[i].r->off, sz);
		pos += sz;
	}
	if (pos != end - start)
		die("internal error: VMA region of %zu bytes, records of %zu",
		    end - start, pos);
	memcpy(m->b + start, copy, pos);
	free(copy);
	free(v);
	walk(m, "the edited image", 0);
}

static void edit_vdso_hash(struct img *m, int move_sym, const char *word)
{
	struct sck_header *h = header(m);
	int k;

	if (!move_sym) {
		h->vdso_hash ^= 0x5a5a5a5a5a5a5a5aULL;
		fprintf(stderr, "imgedit: %s: vdso hash changed, entry points kept\n",
			word);
		return;
	}

	for (k = 0; k < SCK_VDSO_NSYMS && !h->vdso_sym[k]; k++)
		;
	if (k == SCK_VDSO_NSYMS)
		die("%s: the image records no vdso entry point", word);
	h->vdso_hash ^= 0x5a5a5a5a5a5a5a5aULL;
	h->vdso_sym[k] += 16;
	fprintf(stderr, "imgedit: %s: vdso hash changed, entry point %d moved to %#llx\n",
		word, k, (unsigned long long)h->vdso_sym[k]);
}

static const struct {
	const char *name;
	size_t off;
} cpu_words[] = {
#define W(f) { #f, offsetof(struct sck_cpu, f) }
	W(leaf1_ecx), W(leaf1_edx), W(leaf7_ebx), W(leaf7_ecx), W(leaf7_edx),
	W(leaf7_1_eax), W(ext1_ecx), W(ext1_edx), W(leaf_d1_eax),
#undef W
};

static unsigned long number(const char *s, const char *word, unsigned long max)
{
	char *end;
	unsigned long x;

	errno = 0;
	x = strtoul(s, &end, 0);
	if (errno || end == s || *end || x > max || *s == '-')
		quit(2, "%s: bad number '%s'", word, s);
	return x;
}

static void edit_cpu_feature(struct img *m, const char *arg, const char *word)
{
	const char *colon = strchr(arg, ':');
	struct sck_cpu cur;
	size_t w;

	if (!colon)
		quit(2, "%s: expected WORD:BIT", word);
	for (w = 0; w < sizeof(cpu_words) / sizeof(cpu_words[0]); w++)
		if (strlen(cpu_words[w].name) == (size_t)(colon - arg) &&
		    !strncmp(cpu_words[w].name, arg, (size_t)(colon - arg)))
			break;
	if (w == sizeof(cpu_words) / sizeof(cpu_words[0]))
		quit(2, "%s: unknown CPUID word", word);

	uint32_t bit = 1u << number(colon + 1, word, 31), x;
	uint8_t *img_word = (uint8_t *)&header(m)->cpu + cpu_words[w].off;

	selfckpt__cpu_probe(&cur);
	memcpy(&x, (uint8_t *)&cur + cpu_words[w].off, 4);
	if (x & bit)
		quit(3, "%s: this CPU has that bit: it would not describe another CPU",
		     word);
	memcpy(&x, img_word, 4);
	if (x & bit)
		die("%s: the image has that bit already", word);
	x |= bit;
	memcpy(img_word, &x, 4);
	fprintf(stderr, "imgedit: %s: %s is now %#x\n", word, cpu_words[w].name, x);
}

static void edit_xfeature(struct img *m, const char *arg, const char *word)
{
	struct sck_header *h = header(m);
	uint64_t bit = 1ULL << number(arg, word, 63);
	struct sck_cpu cur;
	int threads = 0;

	selfckpt__cpu_probe(&cur);
	if (cur.xfeatures & bit)
		quit(3, "%s: this CPU saves that xstate feature: it would not describe another CPU",
		     word);
	if (h->cpu.xfeatures & bit)
		die("%s: the image has that xstate feature already", word);
	h->cpu.xfeatures |= bit;
	for (size_t i = 0; i < m->nrecs; i++) {
		struct sck_thread t;

		if (m->recs[i].type != SCK_REC_THREAD)
			continue;
		if (m->recs[i].len < sizeof(t))
			die("short THREAD record at byte %zu", m->recs[i].off);
		memcpy(&t, payload(m, &m->recs[i]), sizeof(t));
		t.xfeatures |= bit;
		memcpy(payload(m, &m->recs[i]), &t, sizeof(t));
		threads++;
	}
	if (!threads)
		die("%s: no THREAD record", word);
	fprintf(stderr, "imgedit: %s: xfeatures now %#llx in the header and %d thread(s)\n",
		word, (unsigned long long)h->cpu.xfeatures, threads);
}

enum file_edit { F_SIZE, F_MTIME, F_CTIME, F_INODE, F_DEV, F_BUILD_ID };

static void edit_file(struct img *m, enum file_edit what, const char *path,
		      const char *word)
{
	int found = 0;

	for (size_t i = 0; i < m->nrecs; i++) {
		struct rec *r = &m->recs[i];
		struct sck_file f;

		if (r->type != SCK_REC_FILE)
			continue;
		if (r->len < sizeof(f))
			die("short FILE record at byte %zu", r->off);
		memcpy(&f, payload(m, r), sizeof(f));
		if (f.path_len > r->len - sizeof(f))
			die("FILE record at byte %zu: bad path length", r->off);
		if (f.path_len != strlen(path) ||
		    memcmp(payload(m, r) + r->len - f.path_len, path, f.path_len))
			continue;
		if (f.flags & SCK_FILEF_OBJECT)
			die("%s: %s is an object, not a file restart opens", word, path);
		switch (what) {
		case F_SIZE:
			f.size += 1;
			break;
		case F_MTIME:
			f.mtime_sec -= 86400;
			break;
		case F_CTIME:
			f.ctime_sec -= 86400;
			break;
		case F_INODE:
			f.ino += 1;
			break;
		case F_DEV:
			f.dev += 1;
			break;
		case F_BUILD_ID:
			if (!f.build_id_len || f.build_id_len > sizeof(f.build_id))
				die("%s: %s has no build-id in the image", word, path);
			f.build_id[0] ^= 0xff;
			break;
		}
		memcpy(payload(m, r), &f, sizeof(f));
		found++;
	}
	if (!found)
		die("%s: no FILE record has that path", word);
	fprintf(stderr, "imgedit: %s: %d FILE record(s) changed\n", word, found);
}

static void edit_id(char *field, size_t size, const char *val, const char *ok,
		    const char *word)
{
	if (strlen(val) >= size || strspn(val, ok) != strlen(val))
		quit(2, "%s: expected up to %zu of [%s]", word, size - 1, ok);
	if (!strcmp(field, val))
		die("%s: the image has that value already", word);
	memset(field, 0, size);
	memcpy(field, val, strlen(val));
	fprintf(stderr, "imgedit: %s: set\n", word);
}

static void apply(struct img *m, const char *word)
{
	const char *eq = strchr(word, '=');
	const char *arg = eq ? eq + 1 : NULL;
	size_t klen = eq ? (size_t)(eq - word) : strlen(word);
	struct sck_header *h = header(m);

#define IS(k) (klen == strlen(k) && !strncmp(word, k, klen))
	if (!arg && IS("vdso-shift"))
		edit_vdso(m, VDSO_SHIFT, word);
	else if (!arg && IS("vdso-size"))
		edit_vdso(m, VDSO_SIZE, word);
	else if (!arg && IS("vdso-gap"))
		edit_vdso(m, VDSO_GAP, word);
	else if (!arg && IS("vdso-hash"))
		edit_vdso_hash(m, 1, word);
	else if (!arg && IS("vdso-rebuild"))
		edit_vdso_hash(m, 0, word);
	else if (arg && IS("cpu-feature"))
		edit_cpu_feature(m, arg, word);
	else if (arg && IS("xfeature"))
		edit_xfeature(m, arg, word);
	else if (arg && *arg && IS("file-size"))
		edit_file(m, F_SIZE, arg, word);
	else if (arg && *arg && IS("file-mtime"))
		edit_file(m, F_MTIME, arg, word);
	else if (arg && *arg && IS("file-ctime"))
		edit_file(m, F_CTIME, arg, word);
	else if (arg && *arg && IS("file-inode"))
		edit_file(m, F_INODE, arg, word);
	else if (arg && *arg && IS("file-dev"))
		edit_file(m, F_DEV, arg, word);
	else if (arg && *arg && IS("file-build-id"))
		edit_file(m, F_BUILD_ID, arg, word);
	else if (arg && IS("machine-id"))
		edit_id(h->machine_id, sizeof(h->machine_id), arg,
			"0123456789abcdef", word);
	else if (arg && IS("boot-id"))
		edit_id(h->boot_id, sizeof(h->boot_id), arg,
			"0123456789abcdef-", word);
	else if (arg && IS("page-size")) {
		uint32_t ps = (uint32_t)number(arg, word, UINT32_MAX);

		if (ps == h->page_size)
			die("%s: the image has that page size already", word);
		h->page_size = ps;
		fprintf(stderr, "imgedit: %s: set\n", word);
	} else
		quit(2, "unknown edit '%s' (see the comment at the top of imgedit.c)",
		     word);
#undef IS
}

int main(int argc, char **argv)
{
	struct img m = { 0 };
	char err[512];
	uint8_t *orig;
	int page_size_edit = 0;

	if (argc < 3)
		quit(2, "usage: imgedit IN OUT [EDIT...]");
	m.b = read_all(argv[1], &m.len);
	walk(&m, argv[1], 1);
	if (library_reads(argv[1], err, sizeof(err)))
		die("%s: %s", argv[1], err);
	orig = malloc(m.len ? m.len : 1);
	if (!orig)
		die("out of memory");
	memcpy(orig, m.b, m.len);

	for (int i = 3; i < argc; i++) {
		apply(&m, argv[i]);
		if (!strncmp(argv[i], "page-size=", 10))
			page_size_edit = 1;
	}
	seal(&m);
	walk(&m, "the edited image", 1);
	if (argc == 3 && memcmp(orig, m.b, m.len))
		die("internal error: the copy of %s differs from it", argv[1]);
	if (argc > 3 && !memcmp(orig, m.b, m.len))
		die("internal error: the edits changed nothing");

	int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t done = 0;

	if (fd < 0)
		die("cannot create %s: %s", argv[2], strerror(errno));
	out_path = argv[2];
	while (done < m.len) {
		ssize_t k = write(fd, m.b + done, m.len - done);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			die("cannot write %s: %s", argv[2], strerror(errno));
		done += (size_t)k;
	}
	if (close(fd) < 0)
		die("cannot write %s: %s", argv[2], strerror(errno));
	/* The restart's own reader must accept it: only semantics differ. */
	if (!page_size_edit && library_reads(argv[2], err, sizeof(err)))
		die("internal error: the edited image does not read back: %s", err);
	free(orig);
	free(m.recs);
	free(m.b);
	return 0;
}

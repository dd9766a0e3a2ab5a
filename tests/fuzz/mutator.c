/*
 * mutator.c - libFuzzer's custom mutator and cross-over for selfckpt
 * images (docs/fuzzing.md, "Getting past the checksums").
 *
 * Most mutations edit the image record by record (a payload, a field, a
 * bit, a variable tail with its length, a record header, the order of
 * records, a cut) and then seal it again with
 * imgmut.c, so that the result gets past the hashes and reaches the
 * reader's checks of meaning. Some are left unsealed, or partly sealed,
 * and some are libFuzzer's own byte mutations of the whole input, so that
 * the hash checks, the framing and truncation stay covered too. Every
 * output is an ordinary image file: a crash reproduces with
 * `selfckpt info FILE` as well as with the harness.
 *
 * Compiled without coverage instrumentation: only the reader's coverage
 * guides the fuzzer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imgmut.h"

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed);
size_t LLVMFuzzerCustomCrossOver(const uint8_t *data1, size_t size1,
				 const uint8_t *data2, size_t size2,
				 uint8_t *out, size_t max_out_size,
				 unsigned int seed);

struct rng {
	uint64_t s;
};

static size_t pick(struct rng *g, const struct im *im);

static uint64_t next(struct rng *g)
{
	g->s ^= g->s << 13;
	g->s ^= g->s >> 7;
	g->s ^= g->s << 17;
	return g->s;
}

static size_t below(struct rng *g, size_t n)
{
	return n ? (size_t)(next(g) % n) : 0;
}

static int chance(struct rng *g, unsigned percent)
{
	return below(g, 100) < percent;
}

/* Values at the edges of the reader's limits (image-format.md, 10). */
static uint64_t interesting(struct rng *g, const struct im_rec *r)
{
	static const uint64_t v[] = {
		0, 1, 2, 3, 7, 8, 15, 16, 31, 32, 33, 63, 64, 127, 128, 255,
		424, 575, 576, 1023, 1024, 1025, 1032, 1336, 2048, 4095, 4096,
		4097, 8191, 8192, 8193, 16383, 16384, 16385, 65535, 65536, 65537,
		1ULL << 20, (1ULL << 20) + 1, (1ULL << 21), (1ULL << 21) + 1,
		(64ULL << 20), (64ULL << 20) + 1, 0x7fffffffULL, 0x80000000ULL,
		0xffffffffULL, 0x100000000ULL, 1ULL << 44, 1ULL << 56,
		(1ULL << 56) + 4096, (1ULL << 56) - 4096, 0x7ffffffff000ULL,
		0x7fffffffffffffffULL, 0x8000000000000000ULL, ~0ULL, ~0ULL - 1,
		0x54494D4D4F434B53ULL,
	};
	switch (below(g, 4)) {
	case 0:
		return r->h.len + below(g, 9) - 4;
	case 1:
		return next(g);
	default:
		return v[below(g, sizeof(v) / sizeof(v[0]))];
	}
}

/* Mutate the payload of record i with libFuzzer's byte mutations. */
static int mutate_payload(struct im *im, size_t i, size_t room)
{
	struct im_rec *r = &im->r[i];
	size_t len = r->plen, cap = len + (room < 512 ? room : 512);
	uint8_t *b;
	int ret;

	if (cap == 0)
		return 0;
	b = malloc(cap);
	if (!b)
		return -1;
	if (len)
		memcpy(b, r->p, len);
	else
		b[len++] = 0;
	len = LLVMFuzzerMutate(b, len, cap);
	ret = im_set_payload(im, i, b, len);
	free(b);
	return ret;
}

/* Set one aligned word of record i's payload to an interesting value. */
static void set_word(struct rng *g, struct im *im, size_t i)
{
	struct im_rec *r = &im->r[i];
	size_t w = chance(g, 50) ? 8 : 4;
	uint64_t v;

	if (r->plen < w)
		return;
	size_t at = below(g, r->plen / w) * w;

	v = interesting(g, r);
	if (chance(g, 20)) {
		/* A small step from the value that is there. */
		uint64_t old = 0;

		memcpy(&old, r->p + at, w);
		v = old + below(g, 17) - 8;
	}
	memcpy(r->p + at, &v, w);
}

/* Flip bits of one byte of a record: header, payload or padding. */
static void flip(struct rng *g, struct im_rec *r)
{
	size_t at = below(g, sizeof(r->h) + r->plen + r->npad);
	uint8_t x = (uint8_t)(1u << below(g, 8));

	if (chance(g, 30))
		x = (uint8_t)(next(g) | 1);
	if (at < sizeof(r->h))
		((uint8_t *)&r->h)[at] ^= x;
	else if (at < sizeof(r->h) + r->plen)
		r->p[at - sizeof(r->h)] ^= x;
	else
		r->pad[at - sizeof(r->h) - r->plen] ^= x;
}

/* Replace n bytes at `at` of record i's payload by m bytes: the old ones
 * as far as they go, then copies of the bytes before, or zeros. */
static int splice(struct rng *g, struct im *im, size_t i, size_t at, size_t n, size_t m)
{
	struct im_rec *r = &im->r[i];
	size_t len = r->plen - n + m;
	uint8_t *b = malloc(len ? len : 1);
	int zero = chance(g, 50), ret;

	if (!b)
		return -1;
	memcpy(b, r->p, at);
	for (size_t k = 0; k < m; k++)
		b[at + k] = k < n ? r->p[at + k] : zero || !at ? 0 : b[at + k - 1 - below(g, at < 64 ? at : 64)];
	memcpy(b + at + m, r->p + at + n, r->plen - at - n);
	ret = im_set_payload(im, i, b, len);
	free(b);
	return ret;
}

static uint32_t new_len(struct rng *g, uint32_t old, uint32_t max)
{
	static const uint32_t v[] = { 0, 1, 7, 8, 31, 32, 33, 64, 511, 512, 575, 576,
				      577, 1024, 2688, 4095, 4096, 4097, 16384, 16385 };
	uint32_t n;

	switch (below(g, 4)) {
	case 0:
		n = old + 1;
		break;
	case 1:
		n = old ? old - 1 : 0;
		break;
	case 2:
		n = (uint32_t)below(g, 300);
		break;
	default:
		n = v[below(g, sizeof(v) / sizeof(v[0]))];
		break;
	}
	return n > max ? max : n;
}

/*
 * Change a variable tail and the field that gives its length together (the
 * cwd of PROCESS, the path of FILE, the XSAVE area of THREAD, the runs,
 * guards or name of VMA), so that the record still adds up, or (10%) not.
 */
static int resize_tail(struct rng *g, struct im *im, size_t room)
{
	size_t i = 0, fixed = 0, field = 0, unit = 1;
	uint32_t type = 0;

	for (int tries = 0; tries < 16 && !fixed; tries++) {
		i = pick(g, im);
		type = im->r[i].h.type;
		switch (type) {
		case SCK_REC_PROCESS:
			fixed = sizeof(struct sck_process);
			field = offsetof(struct sck_process, cwd_len);
			break;
		case SCK_REC_FILE:
			fixed = sizeof(struct sck_file);
			field = offsetof(struct sck_file, path_len);
			break;
		case SCK_REC_THREAD:
			fixed = sizeof(struct sck_thread);
			field = offsetof(struct sck_thread, xsave_size);
			break;
		case SCK_REC_VMA:
			fixed = sizeof(struct sck_vma);
			break;
		}
	}
	struct im_rec *r = &im->r[i];

	if (!fixed || r->plen < fixed)
		return 0;
	size_t after = 0;	/* tail bytes after the part resized */

	if (type == SCK_REC_VMA) {
		struct sck_vma v;

		memcpy(&v, r->p, sizeof(v));
		switch (below(g, 3)) {
		case 0:
			field = offsetof(struct sck_vma, name_len);
			break;
		case 1:
			field = offsetof(struct sck_vma, nguards);
			unit = sizeof(struct sck_range);
			after = v.name_len;
			break;
		default:
			field = offsetof(struct sck_vma, nruns);
			unit = sizeof(struct sck_run);
			after = v.name_len + (size_t)v.nguards * sizeof(struct sck_range);
			break;
		}
	}
	uint32_t old;

	memcpy(&old, r->p + field, 4);
	size_t cap = room / unit < 4096 ? room / unit : 4096;
	uint32_t n = unit == 1 ? new_len(g, old, (uint32_t)cap) :
		     (uint32_t)(chance(g, 50) ? old + 1 : old ? old - 1 : 0);

	if (after > r->plen - fixed || (size_t)old * unit > r->plen - fixed - after ||
	    (size_t)n * unit > room)
		n = old;	/* does not add up now: only the field changes */
	else if (splice(g, im, i, r->plen - after - (size_t)old * unit, (size_t)old * unit,
			(size_t)n * unit))
		return -1;
	r = &im->r[i];
	if (chance(g, 10))
		n += (uint32_t)below(g, 3) - 1;
	memcpy(r->p + field, &n, 4);
	return 0;
}

static void edit_header(struct rng *g, struct im_rec *r)
{
	switch (below(g, 4)) {
	case 0:
		r->h.type = (uint32_t)below(g, 17);
		break;
	case 1:
		r->h.flags ^= chance(g, 70) ? SCK_RECF_OPTIONAL : (uint32_t)next(g);
		break;
	case 2:
		/* A length that no longer frames the stream. */
		r->h.len += below(g, 33) - 16;
		break;
	default:
		r->h.len = interesting(g, r);
		break;
	}
}

/* A record index, most often of the metadata (before PAGES). */
static size_t pick(struct rng *g, const struct im *im)
{
	size_t meta = 0;

	while (meta < im->n && im->r[meta].h.type != SCK_REC_PAGES)
		meta++;
	if (meta && chance(g, 85))
		return below(g, meta);
	return below(g, im->n);
}

static int structure(struct rng *g, struct im *im)
{
	size_t i = pick(g, im), j = pick(g, im);
	struct im_rec t;
	char text[32];

	switch (below(g, 7)) {
	case 0:
		im_delete(im, i);
		return 0;
	case 6: {
		/* Bytes after the end (after COMMIT, in an intact image). */
		size_t n = 1 + below(g, 16);
		uint8_t *t = realloc(im->tail, im->ntail + n);

		if (!t)
			return -1;
		for (size_t k = 0; k < n; k++)
			t[im->ntail + k] = (uint8_t)next(g);
		im->tail = t;
		im->ntail += n;
		return 0;
	}
	case 1:
		if (im->r[i].h.type == SCK_REC_PAGES)
			return 0;
		return im_insert(im, j, im->r[i].h.type, im->r[i].h.flags, im->r[i].p,
				 im->r[i].plen);
	case 2:
		t = im->r[i];
		im->r[i] = im->r[j];
		im->r[j] = t;
		return 0;
	case 3:
		for (size_t k = 0; k < sizeof(text); k++)
			text[k] = (char)(' ' + below(g, 95));
		return im_insert(im, j, SCK_REC_NOTE, 0, text, below(g, sizeof(text)));
	case 4: {
		uint8_t junk[24];

		for (size_t k = 0; k < sizeof(junk); k++)
			junk[k] = (uint8_t)next(g);
		return im_insert(im, j, 15 + (uint32_t)below(g, 4),
				 chance(g, 80) ? SCK_RECF_OPTIONAL : 0, junk,
				 below(g, sizeof(junk) + 1));
	}
	default:
		/* Move a record elsewhere. */
		t = im->r[i];
		memmove(&im->r[i], &im->r[i + 1], (im->n - i - 1) * sizeof(t));
		if (j >= im->n)
			j = im->n - 1;
		memmove(&im->r[j + 1], &im->r[j], (im->n - 1 - j) * sizeof(t));
		im->r[j] = t;
		return 0;
	}
}

static unsigned seal_mask(struct rng *g)
{
	unsigned m = 0;

	if (chance(g, 92))
		m |= IM_FIX_HASHES;
	if (chance(g, 85))
		m |= IM_FIX_COMMIT;
	if (chance(g, 40))
		m |= IM_FIX_COUNTS;
	if (chance(g, 85))
		m |= IM_FIX_PAD;
	return m;
}

/* Cut the written image: at a record boundary, or anywhere. */
static size_t cut(struct rng *g, const struct im *im, size_t size)
{
	if (chance(g, 60) && im->n) {
		size_t k = below(g, im->n + 1), off = im->npre;

		for (size_t i = 0; i < k && i < im->n; i++)
			off += sizeof(struct sck_rec) + im->r[i].plen + im->r[i].npad;
		return off < size ? off : size;
	}
	return below(g, size + 1);
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed)
{
	struct rng g = { (uint64_t)seed * 0x9E3779B97F4A7C15ULL + 1 };
	struct im im;
	size_t out;
	int do_cut = 0;

	/* Plain byte mutations: checksums, framing, the preamble. */
	if (size < 16 + sizeof(struct sck_rec) || chance(&g, 8))
		return LLVMFuzzerMutate(data, size, max_size);
	if (im_parse(&im, data, size))
		return LLVMFuzzerMutate(data, size, max_size);
	if (im.n == 0) {
		im_free(&im);
		return LLVMFuzzerMutate(data, size, max_size);
	}
	size_t room = max_size > size ? max_size - size : 0;
	unsigned op = (unsigned)below(&g, 100);
	int ret = 0;

	if (op < 30) {
		ret = mutate_payload(&im, pick(&g, &im), room);
	} else if (op < 48) {
		size_t i = pick(&g, &im);

		for (int k = 1 + (int)below(&g, 3); k > 0; k--)
			set_word(&g, &im, i);
	} else if (op < 56) {
		for (int k = 1 + (int)below(&g, 2); k > 0; k--)
			flip(&g, &im.r[pick(&g, &im)]);
	} else if (op < 68) {
		ret = resize_tail(&g, &im, room);
	} else if (op < 76) {
		edit_header(&g, &im.r[pick(&g, &im)]);
	} else if (op < 90) {
		ret = structure(&g, &im);
	} else {
		do_cut = 1;
	}
	if (!ret && im.n)
		ret = im_seal(&im, seal_mask(&g));
	out = ret ? 0 : im_write(&im, data, max_size);
	if (out && do_cut)
		out = cut(&g, &im, out);
	im_free(&im);
	if (!out)
		return LLVMFuzzerMutate(data, size, max_size);
	return out;
}

/* Splice a record (or a run of records) of data2 into data1, then seal. */
size_t LLVMFuzzerCustomCrossOver(const uint8_t *data1, size_t size1,
				 const uint8_t *data2, size_t size2,
				 uint8_t *out, size_t max_out_size,
				 unsigned int seed)
{
	struct rng g = { (uint64_t)seed * 0xD1B54A32D192ED03ULL + 7 };
	struct im a, b;
	size_t n = 0;

	if (im_parse(&a, data1, size1))
		return 0;
	if (im_parse(&b, data2, size2)) {
		im_free(&a);
		return 0;
	}
	if (b.n) {
		size_t i = pick(&g, &b), k = 1 + below(&g, 3), at = pick(&g, &a);
		int replace = a.n && chance(&g, 50);

		if (replace)
			im_delete(&a, at);
		for (size_t m = 0; m < k && i + m < b.n; m++) {
			const struct im_rec *r = &b.r[i + m];

			if (r->h.type == SCK_REC_PAGES ||
			    im_insert(&a, at + m > a.n ? a.n : at + m, r->h.type,
				      r->h.flags, r->p, r->plen))
				break;
		}
		if (!im_seal(&a, seal_mask(&g) | IM_FIX_HASHES))
			n = im_write(&a, out, max_out_size);
	}
	im_free(&a);
	im_free(&b);
	return n;
}

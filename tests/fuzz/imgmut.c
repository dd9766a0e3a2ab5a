/*
 * imgmut.c - a selfckpt image as a list of records, edited and sealed
 * again (see imgmut.h). Knows only the record framing of
 * docs/image-format.md (sections 3, 4, 6.9-6.13); trusts no byte of it.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "imgmut.h"
#include "nolibc/xxh64.h"

static uint64_t pad8(uint64_t len)
{
	return (8 - (len & 7)) & 7;
}

/* Bytes of a record in the stream: header, payload, padding. */
static size_t rec_bytes(const struct im_rec *r)
{
	return sizeof(struct sck_rec) + r->plen + r->npad;
}

static int reserve(struct im *im, size_t n)
{
	if (n <= im->cap)
		return 0;
	size_t cap = im->cap ? im->cap * 2 : 64;

	while (cap < n)
		cap *= 2;
	struct im_rec *r = realloc(im->r, cap * sizeof(*r));

	if (!r)
		return -1;
	im->r = r;
	im->cap = cap;
	return 0;
}

static uint8_t *dup_bytes(const void *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);

	if (q && n)
		memcpy(q, p, n);
	return q;
}

int im_parse(struct im *im, const uint8_t *data, size_t size)
{
	size_t off;

	memset(im, 0, sizeof(*im));
	im->npre = size < 16 ? size : 16;
	memcpy(im->pre, data, im->npre);
	off = im->npre;
	while (size - off >= sizeof(struct sck_rec)) {
		struct sck_rec h;
		uint64_t npad;

		memcpy(&h, data + off, sizeof(h));
		npad = h.type == SCK_REC_PAGES ? 0 : pad8(h.len);
		if (h.len > size - off - sizeof(h) ||
		    npad > size - off - sizeof(h) - h.len)
			break;
		if (reserve(im, im->n + 1))
			goto oom;
		struct im_rec *r = &im->r[im->n];

		r->h = h;
		r->plen = (size_t)h.len;
		r->p = dup_bytes(data + off + sizeof(h), r->plen);
		r->npad = (size_t)npad;
		r->pad = dup_bytes(data + off + sizeof(h) + h.len, r->npad);
		if (!r->p || !r->pad) {
			free(r->p);
			free(r->pad);
			goto oom;
		}
		im->n++;
		off += rec_bytes(r);
	}
	im->ntail = size - off;
	im->tail = dup_bytes(data + off, im->ntail);
	if (!im->tail)
		goto oom;
	return 0;
oom:
	im_free(im);
	return -1;
}

void im_free(struct im *im)
{
	for (size_t i = 0; i < im->n; i++) {
		free(im->r[i].p);
		free(im->r[i].pad);
	}
	free(im->r);
	free(im->tail);
	memset(im, 0, sizeof(*im));
}

size_t im_size(const struct im *im)
{
	size_t n = im->npre + im->ntail;

	for (size_t i = 0; i < im->n; i++)
		n += rec_bytes(&im->r[i]);
	return n;
}

size_t im_write(const struct im *im, uint8_t *out, size_t max)
{
	size_t n = im_size(im), o = 0;

	if (n > max)
		return 0;
	memcpy(out, im->pre, im->npre);
	o = im->npre;
	for (size_t i = 0; i < im->n; i++) {
		const struct im_rec *r = &im->r[i];

		memcpy(out + o, &r->h, sizeof(r->h));
		o += sizeof(r->h);
		if (r->plen)
			memcpy(out + o, r->p, r->plen);
		o += r->plen;
		if (r->npad)
			memcpy(out + o, r->pad, r->npad);
		o += r->npad;
	}
	if (im->ntail)
		memcpy(out + o, im->tail, im->ntail);
	return n;
}

int im_set_payload(struct im *im, size_t i, const void *p, size_t len)
{
	struct im_rec *r = &im->r[i];
	uint8_t *np = dup_bytes(p, len);
	size_t npad = r->h.type == SCK_REC_PAGES ? 0 : (size_t)pad8(len);
	uint8_t *pad = calloc(1, npad ? npad : 1);

	if (!np || !pad) {
		free(np);
		free(pad);
		return -1;
	}
	free(r->p);
	free(r->pad);
	r->p = np;
	r->pad = pad;
	r->npad = npad;
	r->plen = len;
	r->h.len = len;
	return 0;
}

int im_insert(struct im *im, size_t at, uint32_t type, uint32_t flags,
	      const void *payload, size_t len)
{
	if (at > im->n || reserve(im, im->n + 1))
		return -1;
	memmove(&im->r[at + 1], &im->r[at], (im->n - at) * sizeof(im->r[0]));
	memset(&im->r[at], 0, sizeof(im->r[0]));
	im->r[at].h.type = type;
	im->r[at].h.flags = flags;
	im->n++;
	if (im_set_payload(im, at, payload, len)) {
		memmove(&im->r[at], &im->r[at + 1], (im->n - at - 1) * sizeof(im->r[0]));
		im->n--;
		return -1;
	}
	return 0;
}

void im_delete(struct im *im, size_t at)
{
	if (at >= im->n)
		return;
	free(im->r[at].p);
	free(im->r[at].pad);
	memmove(&im->r[at], &im->r[at + 1], (im->n - at - 1) * sizeof(im->r[0]));
	im->n--;
}

static size_t find(const struct im *im, uint32_t type)
{
	for (size_t i = 0; i < im->n; i++)
		if (im->r[i].h.type == type)
			return i;
	return (size_t)-1;
}

/* The PAD right before PAGES: sized so that the page data is page-aligned. */
static int fix_pad(struct im *im)
{
	size_t k = find(im, SCK_REC_PAGES), off = im->npre;

	if (k == (size_t)-1 || k == 0 || im->r[k - 1].h.type != SCK_REC_PAD)
		return 0;
	for (size_t i = 0; i < k - 1; i++)
		off += rec_bytes(&im->r[i]);
	/* off: the PAD record; its payload at off + 32, PAGES' at + L + 32. */
	if (off % 8)
		return 0;
	size_t l = (SCK_PAGE_SIZE - (off + 2 * sizeof(struct sck_rec)) % SCK_PAGE_SIZE) %
		   SCK_PAGE_SIZE;
	uint8_t *zero = calloc(1, l ? l : 1);
	int ret;

	if (!zero)
		return -1;
	ret = im_set_payload(im, k - 1, zero, l);
	free(zero);
	return ret;
}

/* END_META's totals and HEADER.nthreads from the records present. */
static void fix_counts(struct im *im)
{
	size_t e = find(im, SCK_REC_END_META), h = find(im, SCK_REC_HEADER);
	size_t pg = find(im, SCK_REC_PAGES);
	struct sck_end_meta em;
	uint32_t nthreads = 0;

	if (e != (size_t)-1 && im->r[e].plen >= sizeof(em)) {
		memcpy(&em, im->r[e].p, sizeof(em));
		em.nfiles = em.nvmas = em.nfds = em.nthreads = 0;
		em.nruns = 0;
		for (size_t i = 0; i < e; i++) {
			const struct im_rec *r = &im->r[i];

			em.nfiles += r->h.type == SCK_REC_FILE;
			em.nfds += r->h.type == SCK_REC_FD;
			em.nthreads += r->h.type == SCK_REC_THREAD;
			if (r->h.type == SCK_REC_VMA) {
				em.nvmas++;
				if (r->plen >= sizeof(struct sck_vma)) {
					struct sck_vma v;

					memcpy(&v, r->p, sizeof(v));
					em.nruns += v.nruns;
				}
			}
		}
		em.meta_records = e;
		if (pg != (size_t)-1)
			em.data_len = im->r[pg].plen;
		nthreads = em.nthreads;
		memcpy(im->r[e].p, &em, sizeof(em));
	}
	if (h != (size_t)-1 && nthreads &&
	    im->r[h].plen >= offsetof(struct sck_header, nthreads) + 4)
		memcpy(im->r[h].p + offsetof(struct sck_header, nthreads), &nthreads, 4);
}

int im_seal(struct im *im, unsigned what)
{
	uint64_t chain, off = im->npre;
	const struct im_rec *pages = NULL, *hdr = NULL;

	if ((what & IM_FIX_PAD) && fix_pad(im))
		return -1;
	if (what & IM_FIX_COUNTS)
		fix_counts(im);
	if (!(what & (IM_FIX_HASHES | IM_FIX_COMMIT)))
		return 0;
	chain = selfckpt__xxh64(im->pre, im->npre, SCK_HASH_SEED);
	for (size_t i = 0; i < im->n; i++) {
		struct im_rec *r = &im->r[i];

		if (r->h.type == SCK_REC_HEADER && !hdr)
			hdr = r;
		if (r->h.type == SCK_REC_PAGES)
			pages = r;
		if (r->h.type == SCK_REC_PAGE_HASHES && pages && (what & IM_FIX_HASHES)) {
			uint64_t len = pages->plen;
			uint64_t nchunks = (len + SCK_CHUNK_SIZE - 1) / SCK_CHUNK_SIZE;

			if (r->plen >= nchunks * 8)
				for (uint64_t c = 0; c < nchunks; c++) {
					uint64_t n = len - c * SCK_CHUNK_SIZE;
					uint64_t hh = selfckpt__xxh64(
						pages->p + c * SCK_CHUNK_SIZE,
						n < SCK_CHUNK_SIZE ? n : SCK_CHUNK_SIZE, 0);

					memcpy(r->p + r->plen - nchunks * 8 + c * 8, &hh, 8);
				}
		}
		if (r->h.type == SCK_REC_COMMIT && (what & IM_FIX_COMMIT) &&
		    r->plen >= sizeof(struct sck_commit)) {
			struct sck_commit c;

			memcpy(&c, r->p, sizeof(c));
			c.records = i;
			c.commit_off = off;
			c.data_len = pages ? pages->plen : 0;
			if (hdr && hdr->plen >= offsetof(struct sck_header, image_uuid) + 16)
				memcpy(&c.image_uuid,
				       hdr->p + offsetof(struct sck_header, image_uuid), 16);
			memcpy(r->p, &c, sizeof(c));
		}
		if ((what & IM_FIX_HASHES) && r->h.type != SCK_REC_PAGES)
			r->h.payload_hash = selfckpt__xxh64(r->p, r->plen, 0);
		if (what & IM_FIX_HASHES)
			r->h.hdr_hash = selfckpt__xxh64(&r->h, 24, chain);
		chain = r->h.hdr_hash;
		off += rec_bytes(r);
	}
	/* A record cut short: a sound header, so that the cut shows as such. */
	if ((what & IM_FIX_HASHES) && im->ntail >= sizeof(struct sck_rec)) {
		uint64_t hh = selfckpt__xxh64(im->tail, 24, chain);

		memcpy(im->tail + 24, &hh, 8);
	}
	return 0;
}

size_t im_reseal_buf(const uint8_t *in, size_t n, uint8_t *out, size_t max,
		     unsigned what)
{
	struct im im;
	size_t len = 0;

	if (im_parse(&im, in, n))
		return 0;
	if (!im_seal(&im, what))
		len = im_write(&im, out, max);
	im_free(&im);
	return len;
}

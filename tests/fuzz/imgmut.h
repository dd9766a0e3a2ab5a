/*
 * imgmut.h - a selfckpt image as a list of records, for the fuzzer's
 * structure-aware mutator (imgmut.c) and the corpus tool (imgtool.c).
 *
 * Every record of an image is covered by xxh64 hashes (a chain over the
 * record headers, a hash of each payload, PAGE_HASHES over the page data),
 * so a byte changed at random is, nearly always, only a checksum failure.
 * To reach the checks behind the hashes, the mutator edits an image record
 * by record and then seals it again (im_seal): the hashes and, on request,
 * the totals that other records repeat (END_META counts, COMMIT, the PAD
 * before PAGES). Nothing here trusts the bytes: the list is built from any
 * input, and a record that does not fit in the input is kept as a raw tail.
 *
 * This code is not part of the reader under test and is compiled without
 * the fuzzer's coverage instrumentation (see the Makefile's fuzz section).
 */
#ifndef SELFCKPT_FUZZ_IMGMUT_H
#define SELFCKPT_FUZZ_IMGMUT_H

#include <stddef.h>
#include <stdint.h>

#include "image-format.h"

struct im_rec {
	struct sck_rec h;	/* as found (or edited: h.len may lie) */
	uint8_t *p;		/* payload (PAGES: the page data) */
	size_t plen;		/* its bytes: h.len unless a mutation changed h.len */
	uint8_t *pad;		/* the bytes after the payload up to 8 (kept as
				 * found: non-zero padding is a damage to test) */
	size_t npad;
};

struct im {
	uint8_t pre[16];
	size_t npre;		/* < 16: the input ended inside the preamble */
	struct im_rec *r;
	size_t n, cap;
	uint8_t *tail;		/* bytes after the last whole record */
	size_t ntail;
};

/* Split data into records. Returns 0, or -1 if out of memory. */
int im_parse(struct im *im, const uint8_t *data, size_t size);
void im_free(struct im *im);

/* The bytes of the image; returns the size, or 0 if it exceeds max. */
size_t im_size(const struct im *im);
size_t im_write(const struct im *im, uint8_t *out, size_t max);

/* What im_seal recomputes, besides the hashes. */
#define IM_FIX_HASHES 1u	/* hdr_hash chain, payload hashes, PAGE_HASHES */
#define IM_FIX_COMMIT 2u	/* COMMIT: records, commit_off, data_len, uuid */
#define IM_FIX_COUNTS 4u	/* END_META: counts, meta_records, data_len, nruns */
#define IM_FIX_PAD 8u		/* the PAD before PAGES: page-aligned payload */
#define IM_FIX_ALL 15u

/* Recompute in place (IM_FIX_PAD may resize the PAD payload). 0 or -1. */
int im_seal(struct im *im, unsigned what);

/* Insert a record (payload copied) before index at; 0 or -1. */
int im_insert(struct im *im, size_t at, uint32_t type, uint32_t flags,
	      const void *payload, size_t len);
void im_delete(struct im *im, size_t at);

/* Replace the payload of record i by len bytes (zero padding). 0 or -1. */
int im_set_payload(struct im *im, size_t i, const void *p, size_t len);

/* Apply sealing to a flat buffer (the corpus tool's "reseal"). */
size_t im_reseal_buf(const uint8_t *in, size_t n, uint8_t *out, size_t max,
		     unsigned what);

#endif

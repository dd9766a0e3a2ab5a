/*
 * imgtool - what tests/fuzz/mkcorpus.sh and a person reproducing a
 * finding need to take images apart (docs/fuzzing.md):
 *
 *   imgtool records IMAGE           one line per record: offset end type len
 *   imgtool reseal IN OUT           recompute every hash, the COMMIT
 *                                   totals, END_META's counts and the PAD
 *                                   before PAGES (after a hand edit)
 *   imgtool insert IN OUT TYPE FLAGS TEXT
 *                                   add a record of TYPE (a number) with
 *                                   TEXT as payload before END_META, and
 *                                   reseal
 *   imgtool setlen IN OUT INDEX LEN set the len field of record INDEX (0 is
 *                                   HEADER) without moving any byte, and
 *                                   seal the hashes only (a lying length)
 *
 * It frames records only (imgmut.c); it checks nothing: the reader does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imgmut.h"

static uint8_t *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b = NULL;
	size_t cap = 0, len = 0;

	if (!f) {
		fprintf(stderr, "imgtool: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 1 << 16;
			b = realloc(b, cap);
			if (!b) {
				fprintf(stderr, "imgtool: out of memory\n");
				exit(1);
			}
		}
		size_t k = fread(b + len, 1, cap - len, f);

		len += k;
		if (k == 0)
			break;
	}
	fclose(f);
	*n = len;
	return b;
}

static void spill(const char *path, const struct im *im)
{
	size_t n = im_size(im);
	uint8_t *b = malloc(n ? n : 1);
	FILE *f = fopen(path, "wb");

	if (!b || !f || im_write(im, b, n) != n || fwrite(b, 1, n, f) != n ||
	    fclose(f)) {
		fprintf(stderr, "imgtool: cannot write %s\n", path);
		exit(1);
	}
	free(b);
}

int main(int argc, char **argv)
{
	struct im im;
	uint8_t *in;
	size_t n;

	if (argc < 3) {
		fprintf(stderr, "usage: imgtool records IMAGE | reseal IN OUT | "
				"insert IN OUT TYPE FLAGS TEXT | setlen IN OUT INDEX LEN\n");
		return 2;
	}
	in = slurp(argv[2], &n);
	if (im_parse(&im, in, n)) {
		fprintf(stderr, "imgtool: out of memory\n");
		return 1;
	}
	if (!strcmp(argv[1], "records")) {
		uint64_t off = im.npre;

		for (size_t i = 0; i < im.n; i++) {
			const struct im_rec *r = &im.r[i];
			uint64_t end = off + sizeof(struct sck_rec) + r->plen + r->npad;

			printf("%llu %llu %u %llu\n", (unsigned long long)off,
			       (unsigned long long)end, r->h.type,
			       (unsigned long long)r->h.len);
			off = end;
		}
		if (im.ntail)
			printf("%llu %llu tail %zu\n", (unsigned long long)off,
			       (unsigned long long)(off + im.ntail), im.ntail);
	} else if (!strcmp(argv[1], "reseal") && argc == 4) {
		if (im_seal(&im, IM_FIX_ALL))
			return 1;
		spill(argv[3], &im);
	} else if (!strcmp(argv[1], "insert") && argc == 7) {
		size_t at = 0;

		while (at < im.n && im.r[at].h.type != SCK_REC_END_META)
			at++;
		if (im_insert(&im, at, (uint32_t)strtoul(argv[4], NULL, 0),
			      (uint32_t)strtoul(argv[5], NULL, 0), argv[6],
			      strlen(argv[6])) ||
		    im_seal(&im, IM_FIX_ALL))
			return 1;
		spill(argv[3], &im);
	} else if (!strcmp(argv[1], "setlen") && argc == 6) {
		size_t i = strtoul(argv[4], NULL, 0);

		if (i >= im.n) {
			fprintf(stderr, "imgtool: no record %zu\n", i);
			return 1;
		}
		im.r[i].h.len = strtoull(argv[5], NULL, 0);
		if (im_seal(&im, IM_FIX_HASHES))
			return 1;
		spill(argv[3], &im);
	} else {
		fprintf(stderr, "imgtool: bad command; see the comment in tests/fuzz/imgtool.c\n");
		return 2;
	}
	im_free(&im);
	free(in);
	return 0;
}

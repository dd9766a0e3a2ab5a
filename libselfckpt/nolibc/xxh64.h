/*
 * xxh64.h - XXH64, the 64-bit xxHash (Yann Collet's specification,
 * https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md).
 *
 * Our own implementation, because the same function must run in the
 * freestanding restorer, in the writer that runs after the registers are
 * captured, and in ordinary code. tests/unit/test_xxh64.c checks it against
 * Debian's libxxhash. About 10 GB/s here, far above disk bandwidth.
 *
 * Freestanding: no libc.
 */
#ifndef SELFCKPT_XXH64_H
#define SELFCKPT_XXH64_H

#include <stddef.h>
#include <stdint.h>

struct sck_xxh64 {
	uint64_t v[4];
	uint64_t total;
	uint64_t seed;
	uint8_t buf[32];
	uint32_t buffered;
};

void selfckpt__xxh64_init(struct sck_xxh64 *st, uint64_t seed);
void selfckpt__xxh64_update(struct sck_xxh64 *st, const void *p, size_t n);
uint64_t selfckpt__xxh64_digest(const struct sck_xxh64 *st);
uint64_t selfckpt__xxh64(const void *p, size_t n, uint64_t seed);

#endif

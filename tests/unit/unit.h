/*
 * unit.h - helpers shared by the cmocka unit tests (tests/unit/test_*.c).
 *
 * A small deterministic random generator, so that every test that feeds
 * random data can be replayed: the seed comes from SELFCKPT_TEST_SEED when
 * set, else it is fixed, and it is printed once at start-up. Everything is
 * static inline because each test file is its own executable.
 */
#ifndef SELFCKPT_TEST_UNIT_H
#define SELFCKPT_TEST_UNIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNIT_DEFAULT_SEED 0x5eed5eedULL

/* splitmix64: one 64-bit state word, good enough for test data. */
static uint64_t unit_rng_state = UNIT_DEFAULT_SEED;

static inline uint64_t unit_rand(void)
{
	uint64_t z = (unit_rng_state += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* A number in [0, n); n > 0. The modulo bias does not matter here. */
static inline uint64_t unit_below(uint64_t n)
{
	return unit_rand() % n;
}

static inline void unit_fill(void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n >= 8) {
		uint64_t v = unit_rand();

		__builtin_memcpy(p, &v, 8);
		p += 8;
		n -= 8;
	}
	if (n) {
		uint64_t v = unit_rand();

		__builtin_memcpy(p, &v, n);
	}
}

/*
 * Under valgrind the CPU, the signal frames and the address space are
 * valgrind's: tests that compare the library with the real kernel or CPU
 * skip those comparisons (valgrind preloads its vgpreload_*.so).
 */
static inline int unit_under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p && strstr(p, "vgpreload") != NULL;
}

/* Seed from the environment (decimal or 0x hex) and say which seed it was. */
static inline void unit_seed(const char *prog)
{
	const char *s = getenv("SELFCKPT_TEST_SEED");

	if (s && *s)
		unit_rng_state = strtoull(s, NULL, 0);
	fprintf(stderr, "%s: SELFCKPT_TEST_SEED=0x%llx\n", prog,
		(unsigned long long)unit_rng_state);
}

#endif

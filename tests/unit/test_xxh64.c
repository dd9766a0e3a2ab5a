/*
 * test_xxh64.c - our XXH64 (libselfckpt/nolibc/xxh64.c) against libxxhash.
 *
 * The image format stores XXH64 values, so the freestanding implementation
 * must agree bit for bit with the reference one (Debian's libxxhash, used
 * here as the oracle), for every length class the algorithm distinguishes:
 * below 4, 8 and 32 bytes, whole and partial stripes, and long inputs. The
 * streaming interface must give the same digest whatever the split points
 * (1-byte updates, empty updates, splits on and off the 32-byte stripes),
 * and reading a digest must not disturb the state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

#include "nolibc/xxh64.h"
#include "unit.h"

static const uint64_t fixed_seeds[] = {
	0,
	1,
	0x5CC4B7,			/* SCK_HASH_SEED */
	0x9E3779B185EBCA87ULL,		/* P1: makes v[3] start at 0 */
	0xFFFFFFFFFFFFFFFFULL,
	0x8000000000000000ULL,
	0x00000000FFFFFFFFULL,
};
#define NFIXED (sizeof(fixed_seeds) / sizeof(fixed_seeds[0]))

/* Fixed seeds, then random ones. */
static uint64_t seed_at(unsigned i)
{
	return i < NFIXED ? fixed_seeds[i] : unit_rand();
}

/* Known answers, independent of both implementations (xxHash's sanity list). */
static void test_known_values(void **state)
{
	(void)state;
	assert_int_equal(selfckpt__xxh64("", 0, 0), 0xEF46DB3751D8E999ULL);
	assert_int_equal(selfckpt__xxh64("a", 1, 0), 0xD24EC4F1A98C6E5BULL);
	assert_int_equal(selfckpt__xxh64("abc", 3, 0), 0x44BC2CF5AD770999ULL);
	assert_int_equal(selfckpt__xxh64("", 0, 0), XXH64("", 0, 0));
}

/* Every length from 0 to 300, several seeds, every alignment mod 8. */
static void test_oneshot_small(void **state)
{
	uint8_t buf[300 + 8];

	(void)state;
	unit_fill(buf, sizeof(buf));
	for (size_t len = 0; len <= 300; len++) {
		for (unsigned s = 0; s < NFIXED + 8; s++) {
			uint64_t seed = seed_at(s);
			const uint8_t *p = buf + (len + s) % 8;
			uint64_t want = XXH64(p, len, seed);
			uint64_t got = selfckpt__xxh64(p, len, seed);

			if (got != want)
				fail_msg("len %zu seed %llx: %llx, want %llx", len,
					 (unsigned long long)seed,
					 (unsigned long long)got,
					 (unsigned long long)want);
		}
	}
}

/* Larger inputs around the stripe, page and chunk sizes. */
static void test_oneshot_large(void **state)
{
	static const size_t sizes[] = {
		511, 512, 513, 1000, 4095, 4096, 4097, 65536 + 13,
		(1 << 20) - 1, 1 << 20, (1 << 20) + 7, 3 * (1 << 20) + 31,
	};
	size_t max = 3 * (1 << 20) + 64;
	uint8_t *buf = malloc(max);

	(void)state;
	assert_non_null(buf);
	unit_fill(buf, max);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (unsigned s = 0; s < 4; s++) {
			uint64_t seed = seed_at(s * 2);
			const uint8_t *p = buf + s;

			assert_int_equal(selfckpt__xxh64(p, sizes[i], seed),
					 XXH64(p, sizes[i], seed));
		}
	}
	/* Random lengths and seeds. */
	for (int i = 0; i < 200; i++) {
		size_t len = (size_t)unit_below(70000);
		size_t off = (size_t)unit_below(64);
		uint64_t seed = unit_rand();

		assert_int_equal(selfckpt__xxh64(buf + off, len, seed),
				 XXH64(buf + off, len, seed));
	}
	/* Data that is all zero or all ones: no help from random bits. */
	memset(buf, 0, max);
	assert_int_equal(selfckpt__xxh64(buf, 1 << 20, 0), XXH64(buf, 1 << 20, 0));
	memset(buf, 0xff, max);
	assert_int_equal(selfckpt__xxh64(buf, 4097, 7), XXH64(buf, 4097, 7));
	free(buf);
}

/* Hash p[0..len) in pieces whose sizes come from next(); check the result. */
static void stream_check(const uint8_t *p, size_t len, uint64_t seed,
			 size_t (*next)(size_t left))
{
	struct sck_xxh64 st;
	size_t done = 0;

	selfckpt__xxh64_init(&st, seed);
	while (done < len) {
		size_t n = next(len - done);

		if (n > len - done)
			n = len - done;
		selfckpt__xxh64_update(&st, p + done, n);
		done += n;
	}
	uint64_t want = XXH64(p, len, seed);
	uint64_t got = selfckpt__xxh64_digest(&st);

	if (got != want)
		fail_msg("streaming len %zu seed %llx: %llx, want %llx", len,
			 (unsigned long long)seed, (unsigned long long)got,
			 (unsigned long long)want);
}

static size_t one_byte(size_t left)
{
	(void)left;
	return 1;
}

static size_t random_piece(size_t left)
{
	switch (unit_below(4)) {
	case 0:
		return 0;		/* empty updates change nothing */
	case 1:
		return (size_t)unit_below(40);
	case 2:
		return (size_t)unit_below(300);
	default:
		return (size_t)unit_below(left + 1);
	}
}

static size_t stripe_piece(size_t left)
{
	(void)left;
	return 32;
}

static size_t odd_piece(size_t left)
{
	(void)left;
	return 31;
}

static void test_stream_one_byte(void **state)
{
	uint8_t buf[600];

	(void)state;
	unit_fill(buf, sizeof(buf));
	for (size_t len = 0; len <= 300; len++)
		stream_check(buf, len, seed_at((unsigned)len % (NFIXED + 3)),
			     one_byte);
	stream_check(buf, sizeof(buf), 42, one_byte);
}

static void test_stream_random_splits(void **state)
{
	size_t max = 200000;
	uint8_t *buf = malloc(max);

	(void)state;
	assert_non_null(buf);
	unit_fill(buf, max);
	for (size_t len = 0; len <= 300; len++)
		for (int k = 0; k < 4; k++)
			stream_check(buf + k, len, seed_at((unsigned)k + 2),
				     random_piece);
	for (int i = 0; i < 300; i++) {
		size_t len = (size_t)unit_below(max - 8);

		stream_check(buf + unit_below(8), len, unit_rand(), random_piece);
	}
	for (size_t len = 0; len < 200; len += 7) {
		stream_check(buf, len, 3, stripe_piece);
		stream_check(buf, len, 3, odd_piece);
	}
	free(buf);
}

/* The 1 MiB pieces the writer hashes, fed in odd-sized bits as writev does. */
static void test_stream_chunk(void **state)
{
	size_t len = 1 << 20;
	uint8_t *buf = malloc(len + 4096);

	(void)state;
	assert_non_null(buf);
	unit_fill(buf, len + 4096);
	stream_check(buf, len, 0, random_piece);
	stream_check(buf + 1, len + 4095, 0, stripe_piece);
	free(buf);
}

/* Digest is a read-only peek: reading it mid-stream changes nothing. */
static void test_stream_digest_midway(void **state)
{
	uint8_t buf[1000];
	struct sck_xxh64 st;

	(void)state;
	unit_fill(buf, sizeof(buf));
	selfckpt__xxh64_init(&st, 99);
	for (size_t done = 0; done < sizeof(buf);) {
		size_t n = (size_t)unit_below(50) + 1;

		if (n > sizeof(buf) - done)
			n = sizeof(buf) - done;
		selfckpt__xxh64_update(&st, buf + done, n);
		done += n;
		assert_int_equal(selfckpt__xxh64_digest(&st), XXH64(buf, done, 99));
	}
	/* Re-initialising restarts from scratch, whatever was buffered. */
	selfckpt__xxh64_update(&st, buf, 5);
	selfckpt__xxh64_init(&st, 0);
	selfckpt__xxh64_update(&st, buf, 17);
	assert_int_equal(selfckpt__xxh64_digest(&st), XXH64(buf, 17, 0));
}

/* Streaming and one-shot agree with each other, too (cheap and explicit). */
static void test_stream_matches_oneshot(void **state)
{
	uint8_t buf[4096 + 3];
	struct sck_xxh64 st;

	(void)state;
	unit_fill(buf, sizeof(buf));
	for (size_t len = 0; len <= sizeof(buf); len += 37) {
		selfckpt__xxh64_init(&st, len);
		selfckpt__xxh64_update(&st, buf, len / 3);
		selfckpt__xxh64_update(&st, buf + len / 3, len - len / 3);
		assert_int_equal(selfckpt__xxh64_digest(&st),
				 selfckpt__xxh64(buf, len, len));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_values),
		cmocka_unit_test(test_oneshot_small),
		cmocka_unit_test(test_oneshot_large),
		cmocka_unit_test(test_stream_one_byte),
		cmocka_unit_test(test_stream_random_splits),
		cmocka_unit_test(test_stream_chunk),
		cmocka_unit_test(test_stream_digest_midway),
		cmocka_unit_test(test_stream_matches_oneshot),
	};

	unit_seed("test_xxh64");
	return cmocka_run_group_tests(tests, NULL, NULL);
}

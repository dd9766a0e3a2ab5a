/*
 * xxh64.c - XXH64, one-shot and streaming. See xxh64.h.
 *
 * Freestanding: compiled into the library and, separately, into the
 * restorer blob. Unaligned loads go through __builtin_memcpy, which the
 * compiler turns into plain moves on x86-64.
 */
#include "xxh64.h"

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL
#define P5 0x27D4EB2F165667C5ULL

static inline uint64_t rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	__builtin_memcpy(&v, p, 8);
	return v;
}

static inline uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	__builtin_memcpy(&v, p, 4);
	return v;
}

static inline uint64_t round1(uint64_t acc, uint64_t in)
{
	acc += in * P2;
	acc = rotl(acc, 31);
	return acc * P1;
}

static inline uint64_t merge(uint64_t acc, uint64_t v)
{
	acc ^= round1(0, v);
	return acc * P1 + P4;
}

static uint64_t tail(uint64_t h, const uint8_t *p, size_t n)
{
	while (n >= 8) {
		h ^= round1(0, rd64(p));
		h = rotl(h, 27) * P1 + P4;
		p += 8;
		n -= 8;
	}
	if (n >= 4) {
		h ^= (uint64_t)rd32(p) * P1;
		h = rotl(h, 23) * P2 + P3;
		p += 4;
		n -= 4;
	}
	while (n--) {
		h ^= (*p++) * P5;
		h = rotl(h, 11) * P1;
	}
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	h ^= h >> 32;
	return h;
}

/* Consume whole 32-byte stripes; returns the bytes consumed. */
static size_t stripes(uint64_t v[4], const uint8_t *p, size_t n)
{
	const uint8_t *start = p;
	uint64_t a = v[0], b = v[1], c = v[2], d = v[3];

	while (n >= 32) {
		a = round1(a, rd64(p));
		b = round1(b, rd64(p + 8));
		c = round1(c, rd64(p + 16));
		d = round1(d, rd64(p + 24));
		p += 32;
		n -= 32;
	}
	v[0] = a;
	v[1] = b;
	v[2] = c;
	v[3] = d;
	return (size_t)(p - start);
}

static uint64_t converge(const uint64_t v[4])
{
	uint64_t h = rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) +
		     rotl(v[3], 18);

	h = merge(h, v[0]);
	h = merge(h, v[1]);
	h = merge(h, v[2]);
	return merge(h, v[3]);
}

void selfckpt__xxh64_init(struct sck_xxh64 *st, uint64_t seed)
{
	st->v[0] = seed + P1 + P2;
	st->v[1] = seed + P2;
	st->v[2] = seed;
	st->v[3] = seed - P1;
	st->total = 0;
	st->seed = seed;
	st->buffered = 0;
}

void selfckpt__xxh64_update(struct sck_xxh64 *st, const void *data, size_t n)
{
	const uint8_t *p = data;

	st->total += n;
	if (st->buffered) {
		size_t take = 32 - st->buffered;

		if (take > n)
			take = n;
		__builtin_memcpy(st->buf + st->buffered, p, take);
		st->buffered += (uint32_t)take;
		p += take;
		n -= take;
		if (st->buffered < 32)
			return;
		stripes(st->v, st->buf, 32);
		st->buffered = 0;
	}
	size_t done = stripes(st->v, p, n);

	p += done;
	n -= done;
	if (n) {
		__builtin_memcpy(st->buf, p, n);
		st->buffered = (uint32_t)n;
	}
}

uint64_t selfckpt__xxh64_digest(const struct sck_xxh64 *st)
{
	uint64_t h;

	if (st->total >= 32)
		h = converge(st->v);
	else
		h = st->seed + P5;
	h += st->total;
	return tail(h, st->buf, st->buffered);
}

uint64_t selfckpt__xxh64(const void *data, size_t n, uint64_t seed)
{
	const uint8_t *p = data;
	uint64_t h;

	if (n >= 32) {
		uint64_t v[4] = { seed + P1 + P2, seed + P2, seed, seed - P1 };
		size_t done = stripes(v, p, n);

		p += done;
		h = converge(v);
		h += n;
		return tail(h, p, n - done);
	}
	h = seed + P5 + n;
	return tail(h, p, n);
}

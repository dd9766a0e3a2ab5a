/*
 * str.h - string helpers for freestanding code (restorer, writer).
 *
 * Small and obvious on purpose; speed matters only for memory copies, and
 * those go through __builtin_memcpy (the restorer provides memcpy itself).
 */
#ifndef SELFCKPT_STR_H
#define SELFCKPT_STR_H

#include <stddef.h>
#include <stdint.h>

static inline size_t sck_strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

static inline int sck_strcmp(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return (unsigned char)*a - (unsigned char)*b;
}

static inline int sck_strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a)
			return 0;
	}
	return 0;
}

static inline int sck_starts_with(const char *s, const char *prefix)
{
	return sck_strncmp(s, prefix, sck_strlen(prefix)) == 0;
}

/* Copy with truncation; always NUL-terminates when n > 0. */
static inline size_t sck_strlcpy(char *dst, const char *src, size_t n)
{
	size_t len = sck_strlen(src);

	if (n) {
		size_t c = len < n - 1 ? len : n - 1;

		for (size_t i = 0; i < c; i++)
			dst[i] = src[i];
		dst[c] = '\0';
	}
	return len;
}

/* True when the whole page (4096 bytes, 8-aligned) is zero. */
static inline int sck_page_is_zero(const void *page)
{
	const uint64_t *p = page;

	/* Most non-zero pages differ in their first words: exit early. */
	if (p[0] | p[1] | p[2] | p[3])
		return 0;
	uint64_t acc = 0;

	for (size_t i = 4; i < 4096 / 8; i += 4)
		acc |= p[i] | p[i + 1] | p[i + 2] | p[i + 3];
	return acc == 0;
}

#endif

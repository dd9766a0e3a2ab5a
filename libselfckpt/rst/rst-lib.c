/*
 * rst-lib.c - what the restorer needs that libc would otherwise give:
 * the memory functions the compiler may call, and messages.
 *
 * Freestanding: built only into the restorer blob.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "nolibc/fmt.h"
#include "rst-lib.h"
#include "sys.h"

void *memcpy(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;

	/* rep movsb is fast on every CPU with ERMS, and small here. */
	__asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;

	if (d <= s || d >= s + n)
		return memcpy(dst, src, n);
	while (n--)
		d[n] = s[n];
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	uint8_t *d = dst;

	__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] - y[i];
	return 0;
}

void rst_vprint(int fd, const char *fmt, va_list ap)
{
	char line[512];
	int len = selfckpt__fmt(line, sizeof(line), "selfckpt restart: ");

	len += selfckpt__vfmt(line + len, sizeof(line) - (size_t)len, fmt, ap);
	if (len > (int)sizeof(line) - 2)
		len = (int)sizeof(line) - 2;
	line[len++] = '\n';
	if (fd >= 0)
		sys_write(fd, line, (size_t)len);
}

void rst_print(int fd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rst_vprint(fd, fmt, ap);
	va_end(ap);
}

void rst_die(int fd, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rst_vprint(fd, fmt, ap);
	va_end(ap);
	sys_exit_group(code);
}

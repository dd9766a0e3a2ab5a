/*
 * fmt.c - a small vsnprintf (see fmt.h).
 *
 * Freestanding: compiled into the library and into the restorer.
 */
#include <stdint.h>

#include "fmt.h"

struct out {
	char *buf;
	size_t n;
	size_t len;
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->n)
		o->buf[o->len] = c;
	o->len++;
}

static void pad(struct out *o, char c, int count)
{
	while (count-- > 0)
		put(o, c);
}

static void put_str(struct out *o, const char *s, int prec, int width,
		    int left)
{
	int len = 0;

	if (!s)
		s = "(null)";
	while ((prec < 0 || len < prec) && s[len])
		len++;
	if (!left)
		pad(o, ' ', width - len);
	for (int i = 0; i < len; i++)
		put(o, s[i]);
	if (left)
		pad(o, ' ', width - len);
}

/*
 * The prefix ("-" or "0x") counts in the width and goes before zero padding
 * but after space padding, as with printf.
 */
static void put_num(struct out *o, uint64_t v, const char *prefix,
		    unsigned base, int upper, int width, char padc, int left)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	int len = 0, plen = 0;

	do {
		tmp[len++] = digits[v % base];
		v /= base;
	} while (v);
	while (prefix[plen])
		plen++;
	int total = len + plen;

	if (!left && padc == ' ')
		pad(o, ' ', width - total);
	for (int i = 0; i < plen; i++)
		put(o, prefix[i]);
	if (!left && padc == '0')
		pad(o, '0', width - total);
	while (len)
		put(o, tmp[--len]);
	if (left)
		pad(o, ' ', width - total);
}

int selfckpt__vfmt(char *buf, size_t n, const char *fmt, va_list ap)
{
	struct out o = { buf, n, 0 };

	for (const char *p = fmt; *p; p++) {
		if (*p != '%') {
			put(&o, *p);
			continue;
		}
		p++;
		int left = 0, width = 0, prec = -1, lng = 0;
		char padc = ' ';

		for (;; p++) {
			if (*p == '-')
				left = 1;
			else if (*p == '0')
				padc = '0';
			else
				break;
		}
		if (*p == '*') {
			width = va_arg(ap, int);
			p++;
			/* A negative '*' width is the '-' flag (C11 7.21.6.1). */
			if (width < 0) {
				left = 1;
				width = width < -0x7fffffff ? 0x7fffffff : -width;
			}
		}
		while (*p >= '0' && *p <= '9')
			width = width * 10 + (*p++ - '0');
		if (*p == '.') {
			p++;
			prec = 0;
			if (*p == '*') {
				prec = va_arg(ap, int);
				p++;
			}
			while (*p >= '0' && *p <= '9')
				prec = prec * 10 + (*p++ - '0');
		}
		while (*p == 'l' || *p == 'z') {
			lng++;
			p++;
		}
		switch (*p) {
		case 's':
			put_str(&o, va_arg(ap, const char *), prec, width,
				left);
			break;
		case 'c':
			if (!left)
				pad(&o, ' ', width - 1);
			put(&o, (char)va_arg(ap, int));
			if (left)
				pad(&o, ' ', width - 1);
			break;
		case 'd':
		case 'i': {
			int64_t v = lng ? va_arg(ap, long) : va_arg(ap, int);
			uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

			put_num(&o, u, v < 0 ? "-" : "", 10, 0, width, padc,
				left);
			break;
		}
		case 'u':
		case 'x':
		case 'X': {
			uint64_t v = lng ? va_arg(ap, unsigned long)
					 : va_arg(ap, unsigned);

			put_num(&o, v, "", *p == 'u' ? 10 : 16, *p == 'X',
				width, padc, left);
			break;
		}
		case 'p':
			put_num(&o, (uintptr_t)va_arg(ap, void *), "0x", 16, 0,
				width, padc, left);
			break;
		case '%':
			put(&o, '%');
			break;
		case '\0':
			p--;
			break;
		default:
			put(&o, '%');
			put(&o, *p);
			break;
		}
	}
	if (n)
		o.buf[o.len < n ? o.len : n - 1] = '\0';
	return (int)o.len;
}

int selfckpt__fmt(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = selfckpt__vfmt(buf, n, fmt, ap);
	va_end(ap);
	return ret;
}

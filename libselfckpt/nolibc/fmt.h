/*
 * fmt.h - a small vsnprintf for code that cannot use stdio.
 *
 * The checkpoint may run inside a signal handler and the restorer has no
 * libc, yet both must say precisely what went wrong. This formatter is
 * async-signal-safe, allocates nothing and touches no global state.
 *
 * Conversions: %s %.*s %c %d %i %u %x %X %p %%, with length modifiers l, ll,
 * z, flags '-' and '0', and a field width (also '*'). Output is always
 * NUL-terminated when n > 0; the return value is the length that the full
 * output would have had, as with snprintf.
 *
 * Freestanding: no libc.
 */
#ifndef SELFCKPT_FMT_H
#define SELFCKPT_FMT_H

#include <stdarg.h>
#include <stddef.h>

int selfckpt__vfmt(char *buf, size_t n, const char *fmt, va_list ap);
int selfckpt__fmt(char *buf, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "ENOSPC (no space left on device)" for the errors a checkpoint meets. */
const char *selfckpt__errname(int err);

#endif

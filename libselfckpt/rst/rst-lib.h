/*
 * rst-lib.h - messages from the restorer (rst-lib.c).
 *
 * Past the point of no return the launcher is gone: a failure prints one
 * line to the launcher's stderr (kept open as log_fd) and exits with a
 * documented status; the half-built process never runs.
 */
#ifndef SELFCKPT_RST_LIB_H
#define SELFCKPT_RST_LIB_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* The compiler may emit calls to these; the blob has its own. */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);

void rst_vprint(int fd, const char *fmt, va_list ap);
void rst_print(int fd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
__attribute__((noreturn)) void rst_die(int fd, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
__attribute__((noreturn)) void rst_sigreturn(uint64_t sp);
long rst_clone3(void *args, size_t size, void (*fn)(void *), void *arg);

#endif

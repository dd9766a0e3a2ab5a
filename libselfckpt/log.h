/*
 * log.h - messages to the log fd, and the last error.
 *
 * Linux-CR wrote its progress to a "logfd"; so do we. Everything here is
 * async-signal-safe: formatting by nolibc/fmt.c, output by one write(2) per
 * line. Files define LOG_PREFIX before including this header to tag lines
 * with their concern ("mem: ", "fd: ").
 */
#ifndef SELFCKPT_LOG_H
#define SELFCKPT_LOG_H

#include <stdarg.h>

#include "selfckpt.h"

#ifndef LOG_PREFIX
#define LOG_PREFIX ""
#endif

extern int selfckpt__log_fd;
extern int selfckpt__log_level;

void selfckpt__log_raw(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int selfckpt__log_enabled(int level);

/* Record the reason of a failure (selfckpt_last_error) and log it. */
void selfckpt__set_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
void selfckpt__clear_error(void);

/* Set errno (init.c: libc's, kept out of the freestanding files). */
void selfckpt__set_errno(int err);

#define sck_err(fmt, ...) \
	selfckpt__log_raw(SELFCKPT_LOG_ERROR, LOG_PREFIX fmt, ##__VA_ARGS__)
#define sck_warn(fmt, ...) \
	selfckpt__log_raw(SELFCKPT_LOG_WARN, LOG_PREFIX fmt, ##__VA_ARGS__)
#define sck_info(fmt, ...) \
	selfckpt__log_raw(SELFCKPT_LOG_INFO, LOG_PREFIX fmt, ##__VA_ARGS__)
#define sck_debug(fmt, ...) \
	selfckpt__log_raw(SELFCKPT_LOG_DEBUG, LOG_PREFIX fmt, ##__VA_ARGS__)

/* Fail with a reason: sets the last error and evaluates to -err. */
#define sck_fail(err, fmt, ...) \
	(selfckpt__set_error(LOG_PREFIX fmt, ##__VA_ARGS__), -(err))

#endif

/*
 * log.c - the log fd, its level, and the last error message.
 *
 * Settings are process-wide and live in the library's data, so a restarted
 * process keeps them. The log fd itself is just a number: if it was a file
 * or a terminal, the restart restores it like any other descriptor.
 */
#include <linux/errno.h>

#include "log.h"
#include "nolibc/fmt.h"
#include "nolibc/str.h"
#include "sys.h"

/* Process-wide; set through selfckpt_set_log_fd() (init.c). */
int selfckpt__log_fd = -1;
int selfckpt__log_level = SELFCKPT_LOG_WARN;
static char last_error[512];

int selfckpt__log_enabled(int level)
{
	return selfckpt__log_fd >= 0 && level <= selfckpt__log_level;
}

static void vlog(int level, const char *fmt, va_list ap)
{
	static const char *const names[] = { "", "error: ", "warning: ", "",
					     "debug: " };
	char line[1024];
	size_t len;

	len = (size_t)selfckpt__fmt(line, sizeof(line), "selfckpt[%ld]: %s",
				    sys_getpid(), names[level]);
	if (len < sizeof(line))
		len += (size_t)selfckpt__vfmt(line + len, sizeof(line) - len,
					      fmt, ap);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	sys_write(selfckpt__log_fd, line, len);
}

void selfckpt__log_raw(int level, const char *fmt, ...)
{
	va_list ap;

	if (!selfckpt__log_enabled(level))
		return;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

void selfckpt__set_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	selfckpt__vfmt(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	selfckpt__log_raw(SELFCKPT_LOG_ERROR, "%s", last_error);
}

void selfckpt__clear_error(void)
{
	last_error[0] = '\0';
}

const char *selfckpt_last_error(void)
{
	return last_error;
}

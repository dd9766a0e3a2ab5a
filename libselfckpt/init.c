/*
 * init.c - what the library does when it is loaded.
 *
 * Reads SELFCKPT_LOG_FD=<fd>[,<level>] from the environment. Runs once, in
 * ordinary context, so getenv is fine here. Also the API functions that set
 * errno: kept out of log.c, which must stay free of libc (see
 * check-freestanding in the Makefile).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "internal.h"
#include "log.h"
#include "selfckpt.h"

void selfckpt__set_errno(int err)
{
	errno = err;
}

int selfckpt_set_log_fd(int fd, int level)
{
	if (level < SELFCKPT_LOG_ERROR || level > SELFCKPT_LOG_DEBUG) {
		errno = EINVAL;
		return -1;
	}
	selfckpt__log_fd = fd;
	selfckpt__log_level = level;
	return 0;
}

int selfckpt_set_signal(int sig)
{
	if (sig < SIGRTMIN || sig > SIGRTMAX) {
		errno = EINVAL;
		return -1;
	}
	if (selfckpt__sig_installed() && sig != selfckpt__ckpt_signal()) {
		errno = EBUSY;
		return -1;
	}
	selfckpt__signal = sig;
	return 0;
}

__attribute__((constructor(101))) static void signal_from_env(void)
{
	const char *s = getenv("SELFCKPT_SIGNAL");

	if (s && *s)
		selfckpt_set_signal(atoi(s));
}

/*
 * SELFCKPT_NEW_IDS=1: every image is for a restart with new ids; =0:
 * never search for locks that would break then (res-locks.c). Defined
 * here so that checkpoint.o, which reads it, brings this file and its
 * constructors into a statically linked program.
 */
int selfckpt__new_ids;

__attribute__((constructor(101))) static void new_ids_from_env(void)
{
	const char *s = getenv("SELFCKPT_NEW_IDS");

	if (s && !strcmp(s, "1"))
		selfckpt__new_ids = SCK_NEW_IDS_YES;
	else if (s && !strcmp(s, "0"))
		selfckpt__new_ids = SCK_NEW_IDS_NO;
}

/*
 * SELFCKPT_TEST_FAULT: a comma-separated list of the kernel behaviours
 * the tests force (internal.h); unknown names are ignored. Nothing in a
 * secure-execution program.
 */
unsigned selfckpt__test_faults;

__attribute__((constructor(101))) static void faults_from_env(void)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {
		{ "no-page-is-guard", SCK_FAULT_NO_PAGE_IS_GUARD },
		{ "no-tmpfile", SCK_FAULT_NO_TMPFILE },
	};
	const char *s = getenv("SELFCKPT_TEST_FAULT");

	if (!s || !*s || getauxval(AT_SECURE))
		return;
	while (*s) {
		size_t n = strcspn(s, ",");

		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (n == strlen(names[i].name) && !strncmp(s, names[i].name, n))
				selfckpt__test_faults |= names[i].bit;
		s += n;
		if (*s == ',')
			s++;
	}
}

__attribute__((constructor(101))) static void log_from_env(void)
{
	const char *s = getenv("SELFCKPT_LOG_FD");
	int fd = 0, level = SELFCKPT_LOG_INFO;

	if (!s || *s < '0' || *s > '9')
		return;
	for (; *s >= '0' && *s <= '9'; s++)
		fd = fd * 10 + (*s - '0');
	if (*s == ',' && s[1] >= '1' && s[1] <= '4')
		level = s[1] - '0';
	selfckpt_set_log_fd(fd, level);
}

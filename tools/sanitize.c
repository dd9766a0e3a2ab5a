/*
 * sanitize.c - linked into every program of a SANITIZE=1 build that has
 * AddressSanitizer and UBSan (the selfckpt program, the unit tests,
 * imgedit; docs/sanitizers.md), and into nothing else.
 *
 * GCC links the two as separate runtimes, libasan and libubsan, each with
 * its own copy of the sanitizer common code. UBSan sets its report file
 * from UBSAN_OPTIONS=log_path through __sanitizer_set_report_path, which
 * both export: the call lands in libasan's copy (first in the lookup
 * order), and UBSan's own reports stay on stderr, where a test that
 * expects a failure, or reads only stdout, never shows them
 * (tests/run-sanitized.sh looks for report files). So the path is given
 * to libubsan's own copy here, before main.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

__attribute__((constructor)) static void ubsan_log_path(void)
{
	const char *opt = getenv("UBSAN_OPTIONS");
	const char *p = NULL;
	char path[4096];
	size_t n;

	/* The last one counts, as for the runtime. */
	for (const char *q = opt; q && (q = strstr(q, "log_path=")); q++)
		p = q;
	if (!p)
		return;
	p += strlen("log_path=");
	n = strcspn(p, ":");
	if (n == 0 || n >= sizeof(path))
		return;
	memcpy(path, p, n);
	path[n] = '\0';

	/* dlsym on libubsan's handle finds its own definition first. */
	void *h = dlopen("libubsan.so.1", RTLD_NOW | RTLD_NOLOAD);
	void (*set)(const char *) = NULL;

	if (h)
		set = (void (*)(const char *))dlsym(h, "__sanitizer_set_report_path");
	if (set)
		set(path);
	if (h)
		dlclose(h);
}

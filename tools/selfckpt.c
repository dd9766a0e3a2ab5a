/*
 * selfckpt.c - the command-line program: a table of verbs (as CRIU's
 * crtools.c). Exit statuses are documented in docs/cli.md.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "selfckpt.h"

/*
 * The library is linked into this program for restart and info; its
 * automatic checkpoints (SELFCKPT_DIR, auto.c) must never start here.
 */
const int selfckpt__no_auto = 1;

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("selfckpt %s\n", SELFCKPT_VERSION_STRING);
	return 0;
}

static const struct verb {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} verbs[] = {
	{ "run", cmd_run, "run an unmodified program so that it can be checkpointed" },
	{ "checkpoint", cmd_checkpoint, "ask a running program to checkpoint itself" },
	{ "restart", cmd_restart, "resume a process from an image" },
	{ "info", cmd_info, "show what an image holds (Linux-CR's ckptinfo)" },
	{ "verify", cmd_verify, "check an image completely, and that this machine can run it" },
	{ "check", cmd_check, "report the kernel facilities the library relies on (as criu check)" },
	{ "version", cmd_version, "print the version" },
};

void cli_err(const char *verb, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "selfckpt %s: ", verb);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: selfckpt COMMAND [OPTIONS] [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(f, "  %-11s %s\n", verbs[i].name, verbs[i].help);
	fprintf(f, "\nRun 'selfckpt COMMAND --help' for a command's options.\n"
		   "Programs call selfckpt_checkpoint() (see selfckpt.h) to write images.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 64;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version"))
		return cmd_version(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(argv[1], verbs[i].name))
			return verbs[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "selfckpt: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 64;
}

#ifdef __SANITIZE_ADDRESS__
#include <unistd.h>
/*
 * SANITIZE=1 builds (docs/sanitizers.md): LeakSanitizer reads /proc to
 * stop this program's threads before it looks for leaks at exit. Without
 * /proc (`selfckpt check` under a hidden /proc) it cannot, and would make
 * the exit status its own: it is skipped then.
 */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
	return access("/proc/self/task", R_OK) != 0;
}
#endif

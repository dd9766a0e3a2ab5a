/*
 * cmd-restart.c - `selfckpt restart [OPTIONS] IMAGE|-`.
 *
 * On success this process becomes the restored program (same PID), so the
 * exit status is the program's own. Before that, failures exit with the
 * statuses of restore.h (documented in docs/cli.md).
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "restore.h"

static void help(FILE *f)
{
	fprintf(f,
		"usage: selfckpt restart [OPTIONS] IMAGE\n"
		"       selfckpt restart [OPTIONS] DIR    (its newest image: DIR/latest)\n"
		"       selfckpt restart [OPTIONS] -      (read the image from stdin)\n"
		"\n"
		"Resume the process saved in IMAGE: the program continues inside its\n"
		"checkpoint call, which returns 0. This command's exit status is then the\n"
		"program's. Descriptors 0-2 that were a terminal, /dev/null or a pipe or\n"
		"socket to another process become this command's own. The process keeps\n"
		"its process and thread ids, in a private PID namespace (and a user\n"
		"namespace mapping only your own ids, when you are not root), and its\n"
		"clocks go on from the checkpoint (a time namespace); signals sent to\n"
		"this command are passed on to it.\n"
		"\n"
		"options:\n"
		"  --pidfile FILE    write the PID of the resumed process to FILE\n"
		"  --stdio=inherit   make 0, 1 and 2 this command's own, whatever they were\n"
		"  --no-verify       do not check a file image completely before starting\n"
		"                    (page data is still checked while it is read)\n"
		"  --no-namespaces   restart with new process and thread ids instead of\n"
		"                    keeping them in private user and PID namespaces\n"
		"  --force           run an image that another user owns or that others\n"
		"                    can write (refused by default)\n"
		"  --truncate-outputs  files the process had open for writing are cut\n"
		"                    back to their size at the checkpoint, so that output\n"
		"                    written after it by the killed process is not kept\n"
		"  --host-clocks     the program sees this machine's CLOCK_MONOTONIC and\n"
		"                    CLOCK_BOOTTIME (by default they go on from their\n"
		"                    values at the checkpoint, in a private time namespace)\n"
		"  -v, --verbose     more messages\n"
		"  -h, --help        this text\n"
		"\n"
		"exit status before the program runs: 64 usage, 65 damaged image,\n"
		"66 image missing, 69 this machine cannot run it, 71 system error,\n"
		"77 another user's image or one others can write (see --force).\n");
}

int cmd_restart(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pidfile", required_argument, NULL, 'p' },
		{ "stdio", required_argument, NULL, 's' },
		{ "no-verify", no_argument, NULL, 'n' },
		{ "no-namespaces", no_argument, NULL, 'N' },
		{ "force", no_argument, NULL, 'f' },
		{ "truncate-outputs", no_argument, NULL, 't' },
		{ "host-clocks", no_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sck_restart_opts o = { 0 };
	int c;

	while ((c = getopt_long(argc, argv, "+vh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			o.pidfile = optarg;
			break;
		case 's':
			if (strcmp(optarg, "inherit") && strcmp(optarg, "auto")) {
				cli_err("restart", "--stdio takes 'inherit' or 'auto', not '%s'",
					optarg);
				return SCK_EX_USAGE;
			}
			o.stdio_inherit = !strcmp(optarg, "inherit");
			break;
		case 'n':
			o.no_verify = 1;
			break;
		case 'N':
			o.no_namespaces = 1;
			break;
		case 'f':
			o.force = 1;
			break;
		case 't':
			o.truncate_outputs = 1;
			break;
		case 'c':
			o.host_clocks = 1;
			break;
		case 'v':
			o.verbose = 1;
			break;
		case 'h':
			help(stdout);
			return 0;
		default:
			help(stderr);
			return SCK_EX_USAGE;
		}
	}
	if (optind != argc - 1) {
		cli_err("restart", "expected one IMAGE (or - for stdin); see --help");
		return SCK_EX_USAGE;
	}
	o.image = argv[optind];
	/* A checkpoint directory (selfckpt run): the image latest names. */
	struct stat st;
	static char path[PATH_MAX];

	if (strcmp(o.image, "-") && stat(o.image, &st) == 0 && S_ISDIR(st.st_mode)) {
		char target[PATH_MAX];
		int n = snprintf(path, sizeof(path), "%s/latest", o.image);
		ssize_t len = n < (int)sizeof(path) ? readlink(path, target, sizeof(target) - 1) : -1;

		if (len <= 0) {
			cli_err("restart", "%s holds no complete image (no %s/latest)", o.image,
				o.image);
			return SCK_EX_NOINPUT;
		}
		target[len] = '\0';
		if (target[0] == '/')
			n = snprintf(path, sizeof(path), "%s", target);
		else
			n = snprintf(path, sizeof(path), "%s/%s", o.image, target);
		if (n < 0 || n >= (int)sizeof(path)) {
			cli_err("restart", "%s/latest: path too long", o.image);
			return SCK_EX_NOINPUT;
		}
		o.image = path;
	}
	fflush(stdout);
	return selfckpt__restart(&o);
}

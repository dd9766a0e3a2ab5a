/*
 * cmd-run.c - `selfckpt run [OPTIONS] [--] PROG ARGS...`: start an
 * unmodified program with the preload library (issue 4).
 *
 * This process sets the environment the library reads (SELFCKPT_DIR,
 * SELFCKPT_PID, and the options), puts libselfckpt-preload.so first in
 * LD_PRELOAD and replaces itself with PROG, so the PID the caller has is
 * the program's. The library's work is in libselfckpt/auto.c.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "restore.h"

#define DEFAULT_DIR "checkpoints"

static void help(FILE *f)
{
	fprintf(f,
		"usage: selfckpt run [OPTIONS] [--] PROG [ARGS...]\n"
		"\n"
		"Run PROG (unmodified, dynamically linked) with the selfckpt library\n"
		"preloaded, as this very process: the PID is PROG's. It is checkpointed\n"
		"when asked (selfckpt checkpoint PID), every --interval seconds, or on\n"
		"--exit-signal, into DIR/ckpt-NNNNNN.img; DIR/latest names the newest\n"
		"complete image, and 'selfckpt restart DIR' resumes it.\n"
		"\n"
		"options (and the environment variables they set):\n"
		"  --dir DIR          where images go (SELFCKPT_DIR; default ./" DEFAULT_DIR ")\n"
		"  --interval SEC     checkpoint every SEC seconds (SELFCKPT_INTERVAL)\n"
		"  --keep N           keep only the N newest images (SELFCKPT_KEEP; default all)\n"
		"  --exit-signal SIG  on SIG (USR1, TERM, 10...), checkpoint and exit with\n"
		"                     status 85; if the checkpoint fails, SIG does what it\n"
		"                     would have done (SELFCKPT_EXIT_SIGNAL)\n"
		"  --lenient          a descriptor that cannot be restored (socket...) is\n"
		"                     /dev/null after a restart, and the image says so,\n"
		"                     instead of failing the checkpoint (SELFCKPT_LENIENT)\n"
		"  --close-connections  a connection to another process (TCP, unix)\n"
		"                     does not stop a checkpoint: it is restored closed\n"
		"                     (SELFCKPT_CLOSE_CONNECTIONS=1)\n"
		"  -h, --help         this text\n"
		"\n"
		"exit status: PROG's; 64 usage, 69 PROG cannot be preloaded (statically\n"
		"linked), 126/127 PROG cannot be run or found, 71 system error.\n");
}

/* Where the preload library is: beside this program, or in ../lib. */
static int find_preload(char *out, size_t n)
{
	const char *env = getenv("SELFCKPT_PRELOAD");
	char self[PATH_MAX];
	ssize_t len;

	if (env && *env) {
		snprintf(out, n, "%s", env);
		return access(out, R_OK);
	}
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len <= 0)
		return -1;
	self[len] = '\0';
	char *slash = strrchr(self, '/');

	if (!slash)
		return -1;
	*slash = '\0';
	if (snprintf(out, n, "%s/libselfckpt-preload.so", self) < (int)n &&
	    access(out, R_OK) == 0)
		return 0;
	if (snprintf(out, n, "%s/../lib/libselfckpt-preload.so", self) >= (int)n)
		return -1;
	return access(out, R_OK);
}

/* PROG as execvp would find it. */
static int find_prog(const char *prog, char *out, size_t n)
{
	if (strchr(prog, '/')) {
		snprintf(out, n, "%s", prog);
		return access(out, X_OK);
	}
	const char *path = getenv("PATH");

	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *p = path; *p;) {
		const char *e = strchr(p, ':');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		snprintf(out, n, "%.*s/%s", (int)len, len ? p : ".", prog);
		struct stat st;

		if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
			return 0;
		p += len + (e != NULL);
	}
	return -1;
}

/*
 * 1: an ELF executable without an interpreter (static: LD_PRELOAD cannot
 * enter it); 0: dynamic, a script, or not ELF (the kernel decides).
 */
static int is_static(const char *path)
{
	Elf64_Ehdr eh;
	int fd = open(path, O_RDONLY | O_CLOEXEC), found = 0, ok = 0;

	if (fd < 0)
		return 0;
	if (pread(fd, &eh, sizeof(eh), 0) == (ssize_t)sizeof(eh) &&
	    !memcmp(eh.e_ident, ELFMAG, SELFMAG) && eh.e_ident[EI_CLASS] == ELFCLASS64 &&
	    eh.e_phentsize == sizeof(Elf64_Phdr) && eh.e_phnum < 256) {
		ok = 1;
		for (unsigned i = 0; i < eh.e_phnum; i++) {
			Elf64_Phdr ph;

			if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) !=
			    (ssize_t)sizeof(ph)) {
				ok = 0;
				break;
			}
			if (ph.p_type == PT_INTERP)
				found = 1;
		}
	}
	close(fd);
	return ok && !found;
}

static int mkdirs(const char *dir)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s", dir);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return mkdir(p, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

static int uint_arg(const char *opt, const char *s, unsigned long *v)
{
	char *end;

	errno = 0;
	*v = strtoul(s, &end, 10);
	if (!*s || *end || errno || *v > 0xffffffffUL) {
		cli_err("run", "%s takes a number, not '%s'", opt, s);
		return -1;
	}
	return 0;
}

int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "interval", required_argument, NULL, 'i' },
		{ "keep", required_argument, NULL, 'k' },
		{ "exit-signal", required_argument, NULL, 'x' },
		{ "lenient", no_argument, NULL, 'l' },
		{ "close-connections", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = DEFAULT_DIR, *exit_sig = NULL;
	unsigned long interval = 0, keep = 0;
	int close_conns = 0;
	char preload[PATH_MAX], prog[PATH_MAX], absdir[PATH_MAX], buf[64];
	int c, lenient = 0;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'i':
			if (uint_arg("--interval", optarg, &interval))
				return SCK_EX_USAGE;
			break;
		case 'k':
			if (uint_arg("--keep", optarg, &keep))
				return SCK_EX_USAGE;
			break;
		case 'x':
			if (selfckpt__sig_number(optarg) <= 0) {
				cli_err("run", "--exit-signal: unknown signal '%s'", optarg);
				return SCK_EX_USAGE;
			}
			exit_sig = optarg;
			break;
		case 'l':
			lenient = 1;
			break;
		case 'C':
			close_conns = 1;
			break;
		case 'h':
			help(stdout);
			return 0;
		default:
			help(stderr);
			return SCK_EX_USAGE;
		}
	}
	if (optind >= argc) {
		cli_err("run", "expected a program to run; see --help");
		return SCK_EX_USAGE;
	}
	if (find_prog(argv[optind], prog, sizeof(prog)) < 0) {
		cli_err("run", "%s: %s", argv[optind], strerror(errno ? errno : ENOENT));
		return 127;
	}
	if (is_static(prog)) {
		cli_err("run", "%s is statically linked: the library cannot be preloaded into it; link it with libselfckpt and call selfckpt_checkpoint() instead",
			prog);
		return SCK_EX_UNAVAILABLE;
	}
	if (find_preload(preload, sizeof(preload)) < 0) {
		cli_err("run", "cannot find libselfckpt-preload.so beside this program or in ../lib (or SELFCKPT_PRELOAD)");
		return SCK_EX_OSERR;
	}
	if (mkdirs(dir) < 0 || !realpath(dir, absdir)) {
		cli_err("run", "cannot create the checkpoint directory %s: %s", dir,
			strerror(errno));
		return SCK_EX_OSERR;
	}

	/* The library's settings, for this process after exec. */
	const char *old = getenv("LD_PRELOAD");
	size_t need = strlen(preload) + (old ? strlen(old) + 2 : 1);
	char *lp = malloc(need);

	if (!lp) {
		cli_err("run", "out of memory");
		return SCK_EX_OSERR;
	}
	snprintf(lp, need, old && *old ? "%s:%s" : "%s", preload, old);
	setenv("LD_PRELOAD", lp, 1);
	setenv("SELFCKPT_DIR", absdir, 1);
	snprintf(buf, sizeof(buf), "%d", (int)getpid());
	setenv("SELFCKPT_PID", buf, 1);
	if (interval) {
		snprintf(buf, sizeof(buf), "%lu", interval);
		setenv("SELFCKPT_INTERVAL", buf, 1);
	}
	if (keep) {
		snprintf(buf, sizeof(buf), "%lu", keep);
		setenv("SELFCKPT_KEEP", buf, 1);
	}
	if (exit_sig)
		setenv("SELFCKPT_EXIT_SIGNAL", exit_sig, 1);
	if (lenient)
		setenv("SELFCKPT_LENIENT", "1", 1);
	if (close_conns)
		setenv("SELFCKPT_CLOSE_CONNECTIONS", "1", 1);
	fflush(NULL);
	execv(prog, argv + optind);
	cli_err("run", "cannot run %s: %s", prog, strerror(errno));
	return errno == ENOENT ? 127 : 126;
}

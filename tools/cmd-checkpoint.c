/*
 * cmd-checkpoint.c - `selfckpt checkpoint [OPTIONS] PID`: ask a process
 * running with the library (selfckpt run, or SELFCKPT_DIR set) to
 * checkpoint itself (issue 4).
 *
 * The request is the library's reserved signal, queued with a request
 * word (libselfckpt/request.h); the process takes the checkpoint in its
 * handler, wherever it was, and, when asked to report, writes the outcome
 * to DIR/.result-PID-SEQ, which --wait reads. The directory and the
 * signal come from the process's environment (/proc/PID/environ), which
 * only its owner (or root) can read, as only they may signal it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "request.h"
#include "nolibc/fmt.h"
#include "restore.h"
#include "selfckpt.h"

static void help(FILE *f)
{
	fprintf(f,
		"usage: selfckpt checkpoint [OPTIONS] PID\n"
		"\n"
		"Ask process PID, started with 'selfckpt run' (or with SELFCKPT_DIR in its\n"
		"environment and the library loaded), to checkpoint itself into its\n"
		"checkpoint directory now, wherever it is.\n"
		"\n"
		"options:\n"
		"  --wait          wait until the image is complete and print its path;\n"
		"                  fail with the reason if the checkpoint failed\n"
		"  --exit          the process exits (status 85) after a good checkpoint\n"
		"  --timeout SEC   with --wait, give up after SEC seconds (default 3600)\n"
		"  -h, --help      this text\n"
		"\n"
		"exit status: 0 requested (with --wait: image complete); 1 the checkpoint\n"
		"failed (the reason on stderr; the process goes on); 3 the process ended\n"
		"first; 4 timed out; 64 usage; 69 the process does not run the library;\n"
		"66 no such process or not yours.\n");
}

/* VAR's value in /proc/PID/environ, into out; 1 found, 0 not, -1 error. */
static int proc_env(int pid, const char *var, char *out, size_t n)
{
	char path[64], *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t got;
	int fd, found = 0;

	snprintf(path, sizeof(path), "/proc/%d/environ", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	for (;;) {
		if (len + 4096 > cap) {
			char *b = realloc(buf, cap = cap * 2 + 8192);

			if (!b) {
				free(buf);
				close(fd);
				return -1;
			}
			buf = b;
		}
		got = read(fd, buf + len, cap - len - 1);
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	close(fd);
	if (got < 0) {
		free(buf);
		return -1;
	}
	buf[len] = '\0';
	size_t vl = strlen(var);

	for (size_t i = 0; i < len; i += strlen(buf + i) + 1) {
		if (!strncmp(buf + i, var, vl) && buf[i + vl] == '=') {
			snprintf(out, n, "%s", buf + i + vl + 1);
			found = 1;
			break;
		}
	}
	free(buf);
	return found;
}

/* Does PID catch signal sig (SigCgt in /proc/PID/status)? */
static int catches(int pid, int sig)
{
	char path[64], line[256];
	unsigned long long mask = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "SigCgt: %llx", &mask) == 1)
			break;
	fclose(f);
	return (mask >> (sig - 1)) & 1;
}

/* Gone, or a zombie nobody reaped yet. */
static int ended(int pid)
{
	char path[64], buf[512];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');

	return !p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X';
}

/* PID as the process sees itself (the last NSpid: a restarted process). */
static int inner_pid(int pid)
{
	char path[64], line[256];
	int inner = pid;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return pid;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "NSpid:", 6)) {
			char *last = strrchr(line, '\t');

			if (last)
				inner = atoi(last + 1);
			break;
		}
	fclose(f);
	return inner > 0 ? inner : pid;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * An answer without its line: the process could not write it into DIR
 * (full), so the size says what happened (request.h).
 */
static int sized_answer(int pid, const char *dir, uint64_t size)
{
	if (size > SCK_ANSWER_OK) {
		printf("%s/ckpt-%06llu.img\n", dir, (unsigned long long)(size - SCK_ANSWER_OK));
		return 0;
	}
	if (size == 0 || size == SCK_ANSWER_OK) {
		cli_err("checkpoint", "process %d: its answer in %s is empty", pid, dir);
		return 1;
	}
	cli_err("checkpoint", "process %d: the checkpoint failed: %s; its full reason is on the process's stderr (it could not be written into %s)",
		pid, selfckpt__errname((int)size), dir);
	return 1;
}

static int wait_result(int pid, const char *dir, unsigned seq, double timeout)
{
	char name[PATH_MAX], line[2048];
	double end = now() + timeout;

	if (snprintf(name, sizeof(name), "%s/.result-%d-%u", dir, inner_pid(pid), seq) >=
	    (int)sizeof(name)) {
		cli_err("checkpoint", "%s: path too long", dir);
		return SCK_EX_USAGE;
	}
	for (;;) {
		FILE *f = fopen(name, "re");

		if (f) {
			size_t n = fread(line, 1, sizeof(line) - 1, f);
			struct stat st;
			int sized = fstat(fileno(f), &st) == 0 && (n == 0 || line[0] == '\0');

			fclose(f);
			unlink(name);
			if (sized)	/* the process could not write its line */
				return sized_answer(pid, dir, (uint64_t)st.st_size);
			line[n] = '\0';
			line[strcspn(line, "\n")] = '\0';
			if (!strncmp(line, "ok ", 3)) {
				char *path = strchr(line + 3, ' ');

				printf("%s\n", path ? path + 1 : line + 3);
				return 0;
			}
			char *msg = strchr(line, ' ');

			msg = msg ? strchr(msg + 1, ' ') : NULL;
			cli_err("checkpoint", "process %d: the checkpoint failed: %s", pid,
				msg ? msg + 1 : line);
			return 1;
		}
		if (ended(pid)) {
			/* It may have written the result and exited (--exit). */
			if (access(name, F_OK) == 0)
				continue;
			cli_err("checkpoint", "process %d ended before the checkpoint was complete",
				pid);
			return 3;
		}
		if (now() > end) {
			cli_err("checkpoint", "process %d: no checkpoint after %.0f s", pid,
				timeout);
			return 4;
		}
		usleep(10000);
	}
}

int cmd_checkpoint(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "wait", no_argument, NULL, 'w' },
		{ "exit", no_argument, NULL, 'x' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, wait = 0, do_exit = 0, pid, sig = SIGRTMAX - 2;
	double timeout = 3600;
	char dir[PATH_MAX], sigs[32], *end;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'w':
			wait = 1;
			break;
		case 'x':
			do_exit = 1;
			break;
		case 't':
			timeout = strtod(optarg, &end);
			if (*end || timeout <= 0) {
				cli_err("checkpoint", "--timeout takes seconds, not '%s'", optarg);
				return SCK_EX_USAGE;
			}
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
		cli_err("checkpoint", "expected one PID; see --help");
		return SCK_EX_USAGE;
	}
	pid = (int)strtol(argv[optind], &end, 10);
	if (*end || pid <= 0) {
		cli_err("checkpoint", "'%s' is not a PID", argv[optind]);
		return SCK_EX_USAGE;
	}
	int r = proc_env(pid, "SELFCKPT_DIR", dir, sizeof(dir));

	if (r < 0) {
		cli_err("checkpoint", "process %d: %s", pid,
			errno == ENOENT ? "no such process" : strerror(errno));
		return SCK_EX_NOINPUT;
	}
	if (r == 0 || dir[0] != '/') {
		cli_err("checkpoint", "process %d was not started with 'selfckpt run' (no SELFCKPT_DIR in its environment)",
			pid);
		return SCK_EX_UNAVAILABLE;
	}
	if (proc_env(pid, "SELFCKPT_SIGNAL", sigs, sizeof(sigs)) == 1)
		sig = atoi(sigs);
	if (sig < SIGRTMIN || sig > SIGRTMAX || !catches(pid, sig)) {
		cli_err("checkpoint", "process %d does not run the selfckpt library (it does not handle signal %d)",
			pid, sig);
		return SCK_EX_UNAVAILABLE;
	}

	unsigned seq = (unsigned)((getpid() ^ (int)(now() * 1e6)) & SCK_REQ_SEQ_MASK);
	uint64_t word = SCK_REQ_MAGIC | seq | (wait ? SCK_REQ_ASKED : 0) |
			(do_exit ? SCK_REQ_EXIT : 0);
	union sigval v = { .sival_ptr = (void *)(uintptr_t)word };

	if (sigqueue(pid, sig, v) < 0) {
		cli_err("checkpoint", "cannot signal process %d: %s", pid, strerror(errno));
		return errno == ESRCH ? 3 : SCK_EX_NOINPUT;
	}
	if (!wait)
		return 0;
	return wait_result(pid, dir, seq, timeout);
}

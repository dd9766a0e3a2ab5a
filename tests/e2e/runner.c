/*
 * runner.c - drives one end-to-end test (see zdtm.h for the contract).
 *
 *   runner [OPTIONS] -- PROGRAM [ARGS...]
 *
 *   --selfckpt PATH   the selfckpt program (default: build/selfckpt)
 *   --dir DIR         work directory, created; images and output go there
 *   --pipe            restart with the image piped on stdin (restart -)
 *   --user UID:GID    run the test and every restart as this user
 *   --timeout SECS    per stage (default 60)
 *   --restarts N      expect exactly N checkpoint/restart cycles (default:
 *                     any number, at least one)
 *   --pty HELPER      run every stage on a fresh pseudo-terminal of its own
 *                     (HELPER is helpers/ptyrun): its stdin, stdout and
 *                     stderr (stdin stays the image pipe with --pipe), the
 *                     output copied to the runner's pipe; 80x24 for the
 *                     first stage, 100x30 for every restart, so that a
 *                     restarted program sees another window size
 *
 * The test gets SCK_IMAGE, SCK_READY (zdtm.h) and SCK_SELFCKPT, the
 * selfckpt program's absolute path, for a test that runs it itself.
 *
 * Every stage (the first run, then each restart) runs in its own process
 * group with a clean descriptor table: stdin /dev/null (or the image pipe),
 * stdout and stderr one pipe read by the runner, nothing else open. When a
 * stage announces a checkpoint the runner kills its whole group with
 * SIGKILL and restarts the image. The test passes when the last stage
 * exits 0 having printed a line "PASS". All output is kept in DIR/output.
 *
 * Exit status: 0 pass, 1 fail, 2 usage.
 */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct opts {
	const char *selfckpt;
	const char *dir;
	int pipe;
	int user;
	uid_t uid;
	gid_t gid;
	int timeout;
	int restarts;
	const char *pty;
	char **prog;
};

static char image[4096], ready[4096], outpath[4096];
static char selfckpt_path[4096];	/* absolute, for tests that run it */
static FILE *outlog;
static char stage_out[1 << 16];
static size_t stage_len;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "runner: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

/* In the child: become the test's user, clean descriptors, exec. */
static void child_exec(const struct opts *o, int out, int in, char **argv)
{
	setpgid(0, 0);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(126);
	syscall(SYS_close_range, 3, ~0U, 0);
	if (o->user && (setgroups(0, NULL) || setgid(o->gid) || setuid(o->uid)))
		_exit(126);
	if (chdir(o->dir) < 0)
		_exit(126);
	setenv("SCK_IMAGE", image, 1);
	setenv("SCK_READY", ready, 1);
	setenv("SCK_SELFCKPT", selfckpt_path, 1);
	execvp(argv[0], argv);
	_exit(127);
}

/* Feed the image into a pipe, for restart - (in its own process). */
static pid_t feeder(int wfd, int rfd)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	close(rfd);
	int fd = open(image, O_RDONLY);
	char buf[65536];
	ssize_t n;

	if (fd < 0)
		_exit(1);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (write(wfd, buf, (size_t)n) != n)
			_exit(1);
	_exit(0);
}

static void drain(int fd)
{
	char buf[4096];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		fwrite(buf, 1, (size_t)n, outlog);
		if (stage_len + (size_t)n < sizeof(stage_out)) {
			memcpy(stage_out + stage_len, buf, (size_t)n);
			stage_len += (size_t)n;
		}
	}
	fflush(outlog);
}

enum outcome { EXITED, CHECKPOINTED, TIMEOUT };

/* Run one stage; returns how it ended, with *status for EXITED. */
static enum outcome stage(const struct opts *o, char **argv, int restart,
			  int *status)
{
	int outp[2], inp[2] = { -1, -1 };
	pid_t pid, feed = -1;
	enum outcome res;
	double deadline = now() + o->timeout;

	if (pipe2(outp, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	int in = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (restart && o->pipe) {
		if (pipe2(inp, O_CLOEXEC) < 0)
			die("pipe: %s", strerror(errno));
		close(in);
		in = inp[0];
	}
	stage_len = 0;
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0 && o->pty) {
		char *pargv[64];
		int k = 0;

		pargv[k++] = (char *)o->pty;
		pargv[k++] = "--size";
		pargv[k++] = restart ? "100x30" : "80x24";
		if (restart && o->pipe)
			pargv[k++] = "--keep-stdin";
		pargv[k++] = "--";
		for (int i = 0; argv[i] && k < 63; i++)
			pargv[k++] = argv[i];
		pargv[k] = NULL;
		child_exec(o, outp[1], in, pargv);
	}
	if (pid == 0)
		child_exec(o, outp[1], in, argv);
	setpgid(pid, pid);
	close(outp[1]);
	close(in);
	if (inp[1] >= 0) {
		feed = feeder(inp[1], inp[0]);
		close(inp[1]);
	}
	fcntl(outp[0], F_SETFL, O_NONBLOCK);
	for (;;) {
		struct pollfd p = { outp[0], POLLIN, 0 };
		struct stat st;

		poll(&p, 1, 20);
		drain(outp[0]);
		if (stat(ready, &st) == 0) {
			kill(-pid, SIGKILL);
			waitpid(pid, NULL, 0);
			res = CHECKPOINTED;
			break;
		}
		if (waitpid(pid, status, WNOHANG) == pid) {
			res = EXITED;
			break;
		}
		if (now() > deadline) {
			kill(-pid, SIGKILL);
			waitpid(pid, NULL, 0);
			res = TIMEOUT;
			break;
		}
	}
	/* Anything left in the group (a child of the test) goes too. */
	kill(-pid, SIGKILL);
	drain(outp[0]);
	close(outp[0]);
	if (feed > 0) {
		kill(feed, SIGKILL);
		waitpid(feed, NULL, 0);
	}
	return res;
}

static int has_pass(void)
{
	stage_out[stage_len < sizeof(stage_out) ? stage_len : sizeof(stage_out) - 1] = '\0';
	for (char *p = stage_out; (p = strstr(p, "PASS")); p += 4)
		if ((p == stage_out || p[-1] == '\n') && (p[4] == '\n' || !p[4]))
			return 1;
	return 0;
}

static void show_tail(void)
{
	fprintf(stderr, "---- output of the last stage ----\n%.*s----\n",
		(int)stage_len, stage_out);
}

static void parse(int argc, char **argv, struct opts *o)
{
	o->selfckpt = "build/selfckpt";
	o->timeout = 60;
	o->restarts = -1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--")) {
			o->prog = argv + i + 1;
			break;
		} else if (!strcmp(a, "--pipe")) {
			o->pipe = 1;
		} else if (i + 1 < argc && !strcmp(a, "--selfckpt")) {
			o->selfckpt = argv[++i];
		} else if (i + 1 < argc && !strcmp(a, "--dir")) {
			o->dir = argv[++i];
		} else if (i + 1 < argc && !strcmp(a, "--timeout")) {
			o->timeout = atoi(argv[++i]);
		} else if (i + 1 < argc && !strcmp(a, "--pty")) {
			o->pty = argv[++i];
		} else if (i + 1 < argc && !strcmp(a, "--restarts")) {
			o->restarts = atoi(argv[++i]);
		} else if (i + 1 < argc && !strcmp(a, "--user")) {
			unsigned u, g;

			if (sscanf(argv[++i], "%u:%u", &u, &g) != 2)
				die("--user takes UID:GID");
			o->user = 1;
			o->uid = u;
			o->gid = g;
		} else {
			die("unknown option %s", a);
		}
	}
	if (!o->prog || !o->prog[0] || !o->dir)
		die("usage: runner --dir DIR [--pipe] [--user UID:GID] [--pty HELPER] -- PROGRAM ARGS");
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	char *restart_argv[4];
	char selfckpt_abs[4096];
	int status = 0, restarts = 0;
	double t0 = now();

	parse(argc, argv, &o);
	if (mkdir(o.dir, 0755) < 0 && errno != EEXIST)
		die("mkdir %s: %s", o.dir, strerror(errno));
	if (o.user && chown(o.dir, o.uid, o.gid) < 0)
		die("chown %s: %s", o.dir, strerror(errno));
	if (!realpath(o.selfckpt, selfckpt_abs))
		die("%s: %s", o.selfckpt, strerror(errno));
	if (o.pty && !(o.pty = realpath(o.pty, NULL)))
		die("--pty: %s", strerror(errno));
	snprintf(selfckpt_path, sizeof(selfckpt_path), "%s", selfckpt_abs);
	char *dir = realpath(o.dir, NULL);

	o.dir = dir;
	snprintf(image, sizeof(image), "%s/image", dir);
	snprintf(ready, sizeof(ready), "%s/ready", dir);
	snprintf(outpath, sizeof(outpath), "%s/output", dir);
	outlog = fopen(outpath, "w");
	if (!outlog)
		die("%s: %s", outpath, strerror(errno));
	unlink(ready);

	restart_argv[0] = selfckpt_abs;
	restart_argv[1] = "restart";
	restart_argv[2] = o.pipe ? "-" : image;
	restart_argv[3] = NULL;

	enum outcome r = stage(&o, o.prog, 0, &status);

	while (r == CHECKPOINTED) {
		char keep[4200];

		restarts++;
		/* Keep each generation's image for post-mortems. */
		snprintf(keep, sizeof(keep), "%s.%d", image, restarts);
		if (link(image, keep) < 0 && errno != EEXIST)
			fprintf(stderr, "runner: keeping %s: %s\n", keep, strerror(errno));
		unlink(ready);
		fprintf(outlog, "---- runner: killed after checkpoint, restart %d ----\n",
			restarts);
		r = stage(&o, restart_argv, 1, &status);
	}
	const char *name = strrchr(o.prog[0], '/') ? strrchr(o.prog[0], '/') + 1
						    : o.prog[0];

	if (r == TIMEOUT) {
		fprintf(stderr, "FAIL %s: timed out after %d s in stage %d\n", name,
			o.timeout, restarts);
		show_tail();
		return 1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !has_pass()) {
		if (WIFSIGNALED(status))
			fprintf(stderr, "FAIL %s: killed by signal %d in stage %d\n",
				name, WTERMSIG(status), restarts);
		else
			fprintf(stderr, "FAIL %s: exit status %d in stage %d%s\n", name,
				WEXITSTATUS(status), restarts,
				has_pass() ? "" : ", no PASS");
		show_tail();
		return 1;
	}
	if (restarts == 0 || (o.restarts >= 0 && restarts != o.restarts)) {
		fprintf(stderr, "FAIL %s: %d restarts, expected %s%d\n", name,
			restarts, o.restarts >= 0 ? "" : "at least ",
			o.restarts >= 0 ? o.restarts : 1);
		return 1;
	}
	printf("PASS %s (%d restart%s%s%s, %.2f s)\n", name, restarts,
	       restarts == 1 ? "" : "s", o.pipe ? ", from a pipe" : "",
	       o.user ? ", unprivileged" : "", now() - t0);
	return 0;
}

/*
 * restore-ns.c - restart in a private PID namespace, keeping every id (P14).
 *
 * Thread ids are kept by recreating each thread with clone3(set_tid),
 * which needs CAP_CHECKPOINT_RESTORE in the user namespace that owns the
 * PID namespace. An unprivileged user gets that by creating both: a user
 * namespace that maps only its own uid and gid (so the process keeps its
 * ids as seen from inside) and a PID namespace in it. Root needs only the
 * PID namespace.
 *
 *   selfckpt restart (this process, in the caller's namespaces)
 *    |  fork
 *    +- setup: unshare(user, pid); maps its uid and gid; clone with
 *    |         CLONE_PARENT, so that init is this process's child; exits
 *    +- init: PID 1 of the new namespace; its own mount namespace with a
 *       |     /proc of the new PID namespace; reaps orphans, forwards
 *       |     signals sent to it, reports how the program ended
 *       |  clone3(set_tid = the image's pid)
 *       +- the program: becomes the image (restore.c, rst/)
 *
 * This process stays outside: it finds the program's PID as seen from
 * here for --pidfile, forwards the signals it is sent (kill, not the
 * terminal's, which reach the program directly: same process group),
 * stops when the program stops (^Z: the shell that waits for this
 * process sees the job stopped), and exits with the program's status, or
 * dies of the program's signal.
 *
 * It never enters the namespaces itself, so that whatever fails before
 * the program exists (creating the namespaces, mapping the ids, clone3
 * with the image's pid) leaves it as it was: setup and init say how far
 * they got through a pipe, and the caller falls back to new ids in this
 * process (restore.c), after a note that says why.
 * selfckpt__rs_namespaces says which mode was used.
 *
 * SELFCKPT_TEST_FAULT=ns-map, ns-pid-max or ns-set-tid
 * (docs/reliability.md) makes the id maps, the pid_max check or clone3
 * fail, for the tests.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sched.h>

#include "restore.h"

static volatile pid_t forward_to;	/* where caught signals go */

static void forward(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	/* The terminal's signals reach the program itself (SI_KERNEL). */
	if (si->si_code == SI_USER || si->si_code == SI_QUEUE)
		if (forward_to > 0)
			kill(forward_to, sig);
}

static void forward_signals(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1,
				    SIGUSR2, SIGALRM, SIGWINCH, SIGCONT, SIGTSTP,
				    SIGTTIN, SIGTTOU, SIGPWR, SIGXCPU };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = forward;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

int selfckpt__write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n = -1;

	if (fd >= 0) {
		n = write(fd, text, strlen(text));
		close(fd);
	}
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Is NAME in SELFCKPT_TEST_FAULT (a comma-separated list)? */
static int test_fault(const char *name)
{
	const char *s = getenv("SELFCKPT_TEST_FAULT");
	size_t n = strlen(name);

	while (s && *s) {
		size_t len = strcspn(s, ",");

		if (len == n && !strncmp(s, name, n))
			return 1;
		s += len;
		s += *s == ',';
	}
	return 0;
}

int selfckpt__map_own_ids(uid_t uid, gid_t gid)
{
	char line[64];

	if (selfckpt__write_file("/proc/self/setgroups", "deny"))
		return -1;
	snprintf(line, sizeof(line), "%u %u 1", (unsigned)uid, (unsigned)uid);
	if (selfckpt__write_file("/proc/self/uid_map", line))
		return -1;
	snprintf(line, sizeof(line), "%u %u 1", (unsigned)gid, (unsigned)gid);
	return selfckpt__write_file("/proc/self/gid_map", line);
}

/* The new user namespace maps only our own ids: they stay what they were. */
static int map_ids(uid_t uid, gid_t gid)
{
	if (test_fault("ns-map")) {
		errno = EPERM;
		return -1;
	}
	return selfckpt__map_own_ids(uid, gid);
}

/*
 * How the program ended, told by init to the outside through a pipe; or
 * that it stopped, which the outside then does too (job control).
 */
struct ending {
	int32_t how;			/* 0 exit, 1 signal, 2 init failed,
					 * 3 stopped (by signal value) */
	int32_t value;
};

/*
 * How far setup and init got, told to this process through another pipe
 * before the program exists: a failed step with its errno, init's PID,
 * or the program created (then there is no way back).
 */
enum { SETUP_UNSHARE = 1, SETUP_MAP, SETUP_INIT, SETUP_PID_MAX, SETUP_SET_TID,
       SETUP_INIT_PID, SETUP_STARTED };

struct setup_msg {
	int32_t step;			/* SETUP_* */
	int32_t value;			/* errno, init's PID, a thread id */
	int64_t pid_max;		/* SETUP_PID_MAX: the namespace's */
};

static void tell(int fd, int32_t step, int32_t value)
{
	struct setup_msg m = { step, value, 0 };

	if (write(fd, &m, sizeof(m)) != sizeof(m)) {
		/* This process is gone: nobody to tell. */
	}
}

static void report(int fd, int32_t how, int32_t value)
{
	struct ending e = { how, value };

	if (write(fd, &e, sizeof(e)) != sizeof(e)) {
		/* The outside is gone; nobody to tell. */
	}
}

/*
 * init: PID 1 of the namespace. Mounts a /proc that shows the namespace,
 * creates the program with its old PID, then waits.
 */
/* A mount namespace whose /proc shows the new PID namespace. */
static void own_proc(void)
{
	if (unshare(CLONE_NEWNS) == 0 &&
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0)
		mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

/*
 * clone3 refuses a set_tid not below the namespace's pid_max (EINVAL):
 * an image from a machine whose pid_max was larger, on a kernel before
 * 6.14 (since, a new PID namespace has the largest pid_max). The main
 * thread's would fail here, safely; the others' only in the restorer,
 * past the point of no return: so init compares them all first, with the
 * pid_max of its own namespace. Returns the first id too large, or 0.
 */
static pid_t tid_too_large(const struct rs *s, pid_t want, int64_t *pid_max)
{
	char buf[32];
	int fd = open("/proc/sys/kernel/pid_max", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;	/* clone3 will tell */
	buf[n] = '\0';
	*pid_max = strtoll(buf, NULL, 10);
	if (test_fault("ns-pid-max"))
		*pid_max = 301;	/* the smallest the kernel allows */
	if (*pid_max <= 0)
		return 0;
	if (want >= *pid_max)
		return want;
	for (uint32_t i = 0; i < s->img.nthreads; i++)
		if (s->img.threads[i].t.tid >= *pid_max)
			return s->img.threads[i].t.tid;
	return 0;
}

static void init_main(struct rs *s, pid_t want, int pipe_w, int setup_w,
		      void (*go)(struct rs *s))
{
	struct clone_args ca;
	pid_t child;
	int status;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	own_proc();

	struct setup_msg big = { SETUP_PID_MAX, 0, 0 };

	big.value = tid_too_large(s, want, &big.pid_max);
	if (big.value) {
		if (write(setup_w, &big, sizeof(big)) != sizeof(big)) {
			/* The outside is gone. */
		}
		_exit(SCK_EX_OSERR);
	}
	memset(&ca, 0, sizeof(ca));
	ca.exit_signal = SIGCHLD;
	ca.set_tid = (uint64_t)(uintptr_t)&want;
	ca.set_tid_size = 1;
	if (test_fault("ns-set-tid")) {
		errno = EINVAL;
		child = -1;
	} else {
		child = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
	}
	if (child == 0) {
		close(pipe_w);
		close(setup_w);
		go(s);		/* never returns */
		_exit(SCK_EX_SOFTWARE);
	}
	if (child < 0) {
		/* Nothing runs yet: the outside goes on with new ids. */
		tell(setup_w, SETUP_SET_TID, errno);
		_exit(SCK_EX_OSERR);
	}
	tell(setup_w, SETUP_STARTED, 0);
	close(setup_w);
	/*
	 * init holds nothing of the program's: a pipe end or a socket kept
	 * open here would keep its peer from seeing end-of-file, a lock
	 * would stay held. Only the report pipe and the log remain.
	 */
	int keep_lo = pipe_w < s->log_fd ? pipe_w : s->log_fd;
	int keep_hi = pipe_w < s->log_fd ? s->log_fd : pipe_w;

	if (keep_lo > 0)
		syscall(SYS_close_range, 0, keep_lo - 1, 0);
	if (keep_hi > keep_lo + 1)
		syscall(SYS_close_range, keep_lo + 1, keep_hi - 1, 0);
	syscall(SYS_close_range, keep_hi + 1, ~0U, 0);
	forward_to = child;
	forward_signals();
	for (;;) {
		pid_t w = waitpid(-1, &status, __WALL | WUNTRACED);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			break;
		if (w != child)
			continue;	/* an orphan of the program: reaped */
		if (WIFSTOPPED(status)) {
			report(pipe_w, 3, WSTOPSIG(status));
			continue;
		}
		if (WIFEXITED(status))
			report(pipe_w, 0, WEXITSTATUS(status));
		else if (WIFSIGNALED(status))
			report(pipe_w, 1, WTERMSIG(status));
		else
			continue;
		break;
	}
	_exit(0);
}

/* The program's PID as seen from here: the child of init. */
static pid_t find_child(pid_t parent)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;

	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		char path[300], buf[512];
		int fd;
		ssize_t n;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		char *p = strrchr(buf, ')');
		int ppid;
		char state;

		if (p && sscanf(p + 1, " %c %d", &state, &ppid) == 2 && ppid == parent)
			found = atoi(e->d_name);
	}
	closedir(d);
	return found;
}

static int write_pidfile(struct rs *s, const char *path, pid_t pid)
{
	char tmp[4200], line[32];
	int n = snprintf(line, sizeof(line), "%d\n", (int)pid);
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, line, (size_t)n) != n || close(fd) ||
	    rename(tmp, path)) {
		selfckpt__rs_msg(s, "warning: cannot write the pid file %s: %s", path,
				 strerror(errno));
		return -1;
	}
	return 0;
}

/* Is process pid stopped now (by a signal, or traced)? */
static int is_stopped(pid_t pid)
{
	char path[64], buf[512];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';

	char *p = strrchr(buf, ')');

	return p && (p[2] == 'T' || p[2] == 't');
}

/*
 * The program stopped (^Z on its terminal, SIGTTIN in the background,
 * SIGSTOP): so does the outside, with the same signal, so that the shell
 * that waits for it sees the job stopped and can continue it (fg, bg:
 * SIGCONT to the process group, which the program is in). Without this
 * the shell would go on waiting for a job it cannot see stopped. Only if
 * the program is still stopped: the terminal's stop signal may have
 * reached the outside too (before its handlers were set), and the SIGCONT
 * that continued both makes this report stale. A stop signal the kernel
 * discards (an orphaned process group) stops nothing.
 */
static void stop_too(int sig, pid_t prog)
{
	struct sigaction dfl, old;

	if (prog > 0 && !is_stopped(prog))
		return;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(sig, &dfl, &old);
	kill(getpid(), sig);	/* stopped here until SIGCONT */
	sigaction(sig, &old, NULL);
}

/*
 * The outside: wait for init, pass on what it reports. Its descriptors
 * other than the report pipe and stderr are closed: the program's files
 * must not stay open in a process that only waits.
 */
static __attribute__((noreturn)) void outside(struct rs *s, pid_t init,
					      int pipe_r, int init_is_prog)
{
	struct ending e = { 2, SCK_EX_OSERR };
	pid_t prog = init_is_prog ? init : 0;
	int status;

	forward_to = 0;
	forward_signals();
	for (int i = 0; i < 2000 && !prog; i++) {
		prog = find_child(init);
		if (!prog) {
			if (waitpid(init, &status, WNOHANG) == init)
				break;
			usleep(1000);
		}
	}
	forward_to = prog;
	if (prog && s->o->pidfile)
		write_pidfile(s, s->o->pidfile, prog);
	while (!init_is_prog) {
		ssize_t n = read(pipe_r, &e, sizeof(e));

		if (n < 0 && errno == EINTR)
			continue;
		if (n != sizeof(e) || e.how != 3)
			break;
		stop_too(e.value, prog);
		e = (struct ending){ 2, SCK_EX_OSERR };
	}
	for (;;) {
		pid_t w = waitpid(init, &status, init_is_prog ? WUNTRACED : 0);

		if (w < 0 && errno == EINTR)
			continue;
		if (w == init && WIFSTOPPED(status)) {
			stop_too(WSTOPSIG(status), init);
			continue;
		}
		break;
	}
	/* A program that was PID 1 is init itself: its own status. */
	if (init_is_prog && WIFEXITED(status))
		e = (struct ending){ 0, WEXITSTATUS(status) };
	else if (init_is_prog && WIFSIGNALED(status))
		e = (struct ending){ 1, WTERMSIG(status) };
	if (e.how == 0 || e.how == 2)
		_exit(e.value);
	/* The program died of a signal: so do we, for the shell to see. */
	signal(e.value, SIG_DFL);
	sigset_t one;

	sigemptyset(&one);
	sigaddset(&one, e.value);
	sigprocmask(SIG_UNBLOCK, &one, NULL);
	prctl(PR_SET_DUMPABLE, 0);	/* no second core dump */
	kill(getpid(), e.value);
	_exit(128 + e.value);
}

/* ---- the time namespace: the image's clocks go on (restore-timers.c) ---- */

/* NULL if the program gets a time namespace, else why not. */
static const char *clocks_wanted(const struct rs *s)
{
	if (s->o->host_clocks)
		return "--host-clocks";
	if (!s->img.has_clocks)
		return "the image does not say what its clocks were";
	return NULL;
}

/*
 * The offsets of the new time namespace, before any process enters it
 * (that is the only time they may be written), so that the program's
 * CLOCK_MONOTONIC and CLOCK_BOOTTIME go on from the checkpoint's values.
 * If the kernel refuses them the namespace keeps this machine's clocks.
 */
static void set_clocks(struct rs *s)
{
	char text[128];
	int n = selfckpt__rs_timens_offsets(s, text, sizeof(text));

	if (n < 0 || selfckpt__write_file("/proc/self/timens_offsets", text) < 0) {
		selfckpt__rs_clock_note(s, "the time namespace's offsets could not be set");
		return;
	}
	if (s->o->verbose)
		selfckpt__rs_note(s, "clocks: CLOCK_MONOTONIC and CLOCK_BOOTTIME go on from the checkpoint (private time namespace)");
}

/* ---- end of the time namespace ---- */

/*
 * setup: makes the namespaces and init, then exits. Runs in a child of
 * the outside, so that a failure here leaves the outside as it was.
 */
static __attribute__((noreturn)) void setup_main(struct rs *s, pid_t want, int fl,
						 int p[2], int setup_w,
						 void (*go)(struct rs *s))
{
	uid_t uid = getuid();
	gid_t gid = getgid();
	pid_t init;
	const char *no_time = clocks_wanted(s);
	int r = -1;

	close(p[0]);
	if (!no_time) {
		r = unshare(fl | CLONE_NEWTIME);
		/* Linux before 5.6, or without CONFIG_TIME_NS: the rest still. */
		if (r < 0)
			no_time = errno == EINVAL ? "this kernel has no time namespaces" :
						    "no time namespace could be created";
	}
	if (r < 0 && unshare(fl) < 0) {
		tell(setup_w, SETUP_UNSHARE, errno);
		_exit(0);
	}
	if ((fl & CLONE_NEWUSER) && map_ids(uid, gid) < 0) {
		tell(setup_w, SETUP_MAP, errno);
		_exit(0);
	}
	/* The time namespace's offsets: before any process is in it. */
	if (no_time)
		selfckpt__rs_clock_note(s, no_time);
	else
		set_clocks(s);
	/* init is the outside's child (CLONE_PARENT), in the new namespaces. */
	init = (pid_t)syscall(SYS_clone, CLONE_PARENT, 0, 0, 0, 0);
	if (init < 0) {
		tell(setup_w, SETUP_INIT, errno);
		_exit(0);
	}
	if (init == 0) {
		if (want == 1) {	/* the program was a PID 1 itself */
			close(p[1]);
			own_proc();
			tell(setup_w, SETUP_STARTED, 0);
			close(setup_w);
			go(s);
			_exit(SCK_EX_SOFTWARE);
		}
		init_main(s, want, p[1], setup_w, go);
	}
	tell(setup_w, SETUP_INIT_PID, init);
	_exit(0);
}

/* The note for a step that failed: then restart goes on with new ids. */
static void fall_back(struct rs *s, const struct setup_msg *m, pid_t want, int fl)
{
	const char *ns = fl & CLONE_NEWUSER ? "user and PID " : "PID ";
	const char *why = m->value > 0 ? strerror(m->value) : "it ended early";

	switch (m->step) {
	case SETUP_UNSHARE:
		selfckpt__rs_msg(s, "note: cannot create a %snamespace (%s): restarting with new process and thread ids",
				 ns, why);
		break;
	case SETUP_MAP:
		selfckpt__rs_msg(s, "note: cannot map user and group ids in a new user namespace (%s): restarting with new process and thread ids",
				 why);
		break;
	case SETUP_PID_MAX:
		selfckpt__rs_msg(s, "note: thread id %d is not below the pid_max of a new PID namespace here (%lld): restarting with new process and thread ids",
				 m->value, (long long)m->pid_max);
		break;
	case SETUP_SET_TID:
		selfckpt__rs_msg(s, "note: cannot create the process with its pid %d in a new %snamespace (clone3 with set_tid: %s): restarting with new process and thread ids",
				 (int)want, ns, why);
		break;
	default:
		selfckpt__rs_msg(s, "note: cannot start a new %snamespace (%s): restarting with new process and thread ids",
				 ns, why);
	}
}

int selfckpt__rs_namespaces(struct rs *s, pid_t want, void (*go)(struct rs *s))
{
	int fl = CLONE_NEWPID, p[2], q[2];
	struct setup_msg m = { 0, 0, 0 };
	pid_t setup, init = 0;
	int status;

	if (geteuid() != 0)
		fl |= CLONE_NEWUSER;
	/* System V IPC objects keep their ids there (restore-sysv.c). */
	if (s->img.nsysv)
		fl |= CLONE_NEWIPC;
	if (pipe2(p, O_CLOEXEC) < 0) {
		m.value = errno;
		fall_back(s, &m, want, fl);
		return -1;
	}
	if (pipe2(q, O_CLOEXEC) < 0) {
		m.value = errno;
		goto fail_pipe;
	}
	setup = fork();
	if (setup < 0) {
		m.value = errno;
		goto fail;
	}
	if (setup == 0) {
		close(q[0]);
		setup_main(s, want, fl, p, q[1], go);
	}
	close(q[1]);
	q[1] = -1;
	/*
	 * Until the program exists, every failure leaves this process as it
	 * was. setup (init's PID) and init (started, or what failed) write
	 * in either order; the pipe ends when both, and the program, have
	 * closed it.
	 */
	int started = 0;

	for (;;) {
		struct setup_msg got;
		ssize_t n = read(q[0], &got, sizeof(got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(got))
			break;
		if (got.step == SETUP_INIT_PID)
			init = got.value;
		else if (got.step == SETUP_STARTED)
			started = 1;
		else
			m = got;
	}
	while (waitpid(setup, &status, 0) < 0 && errno == EINTR)
		;
	if (!started) {
		if (init > 0)
			while (waitpid(init, &status, 0) < 0 && errno == EINTR)
				;
		goto fail;
	}
	close(q[0]);
	if (init <= 0) {
		/* setup died between the two (killed): init dies with us. */
		selfckpt__rs_msg(s, "the namespaces' setup ended before it said init's pid");
		return SCK_EX_OSERR;
	}
	close(p[1]);
	/* The outside only waits: it keeps the report pipe and the log. */
	for (int fd = 0; fd < 1024; fd++)
		if (fd != p[0] && fd != s->log_fd)
			close(fd);
	if (s->helper_base > 1024)
		syscall(SYS_close_range, 1024, ~0U, 0);
	outside(s, init, p[0], want == 1);

fail:
	if (q[1] >= 0)
		close(q[1]);
	close(q[0]);
fail_pipe:
	close(p[0]);
	close(p[1]);
	fall_back(s, &m, want, fl);
	return -1;
}

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
 *   selfckpt restart (this process, in the caller's PID namespace)
 *    |  unshare(user, pid); fork
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
 * Where namespaces cannot be created the caller falls back to new ids
 * (restore.c); selfckpt__rs_namespaces says which mode was used.
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

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n = -1;

	if (fd >= 0) {
		n = write(fd, text, strlen(text));
		close(fd);
	}
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* The new user namespace maps only our own ids: they stay what they were. */
static int map_ids(uid_t uid, gid_t gid)
{
	char line[64];

	if (write_file("/proc/self/setgroups", "deny"))
		return -1;
	snprintf(line, sizeof(line), "%u %u 1", (unsigned)uid, (unsigned)uid);
	if (write_file("/proc/self/uid_map", line))
		return -1;
	snprintf(line, sizeof(line), "%u %u 1", (unsigned)gid, (unsigned)gid);
	return write_file("/proc/self/gid_map", line);
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

static void init_main(struct rs *s, pid_t want, int pipe_w,
		      void (*go)(struct rs *s))
{
	struct clone_args ca;
	pid_t child;
	int status;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	own_proc();
	memset(&ca, 0, sizeof(ca));
	ca.exit_signal = SIGCHLD;
	ca.set_tid = (uint64_t)(uintptr_t)&want;
	ca.set_tid_size = 1;
	child = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
	if (child == 0) {
		close(pipe_w);
		go(s);		/* never returns */
		_exit(SCK_EX_SOFTWARE);
	}
	if (child < 0) {
		selfckpt__rs_msg(s, "cannot create the process with its pid %d: %s",
				 (int)want, strerror(errno));
		report(pipe_w, 2, SCK_EX_OSERR);
		_exit(SCK_EX_OSERR);
	}
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

int selfckpt__rs_namespaces(struct rs *s, pid_t want, void (*go)(struct rs *s))
{
	uid_t uid = getuid();
	gid_t gid = getgid();
	int fl = CLONE_NEWPID, p[2];
	pid_t init;

	if (geteuid() != 0)
		fl |= CLONE_NEWUSER;
	if (unshare(fl) < 0) {
		selfckpt__rs_msg(s,
				 "note: cannot create a %snamespace (%s): restarting with new process and thread ids",
				 fl & CLONE_NEWUSER ? "user and PID " : "PID ",
				 strerror(errno));
		return -1;
	}
	if ((fl & CLONE_NEWUSER) && map_ids(uid, gid) < 0) {
		selfckpt__rs_msg(s, "cannot map user and group ids in the new namespace: %s",
				 strerror(errno));
		return SCK_EX_OSERR;
	}
	if (pipe2(p, O_CLOEXEC) < 0)
		return SCK_EX_OSERR;
	init = fork();
	if (init < 0) {
		selfckpt__rs_msg(s, "fork: %s", strerror(errno));
		return SCK_EX_OSERR;
	}
	if (init == 0) {
		close(p[0]);
		if (want == 1) {	/* the program was a PID 1 itself */
			close(p[1]);
			own_proc();
			go(s);
			_exit(SCK_EX_SOFTWARE);
		}
		init_main(s, want, p[1], go);
	}
	close(p[1]);
	/* The outside only waits: it keeps the report pipe and the log. */
	for (int fd = 0; fd < 1024; fd++)
		if (fd != p[0] && fd != s->log_fd)
			close(fd);
	if (s->helper_base > 1024)
		syscall(SYS_close_range, 1024, ~0U, 0);
	outside(s, init, p[0], want == 1);
}

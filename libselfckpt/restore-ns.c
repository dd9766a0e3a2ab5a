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
 * terminal's, which reach the program directly: same process group), and
 * exits with the program's status, or dies of the program's signal.
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

/* How the program ended, told by init to the outside through a pipe. */
struct ending {
	int32_t how;			/* 0 exit, 1 signal, 2 init failed */
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
	forward_to = child;
	forward_signals();
	for (;;) {
		pid_t w = waitpid(-1, &status, __WALL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			break;
		if (w != child)
			continue;	/* an orphan of the program: reaped */
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
	while (!init_is_prog && read(pipe_r, &e, sizeof(e)) < 0 && errno == EINTR)
		;
	while (waitpid(init, &status, 0) < 0 && errno == EINTR)
		;
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

	if (n < 0 || write_file("/proc/self/timens_offsets", text) < 0) {
		selfckpt__rs_clock_note(s, "the time namespace's offsets could not be set");
		return;
	}
	if (s->o->verbose)
		selfckpt__rs_note(s, "clocks: CLOCK_MONOTONIC and CLOCK_BOOTTIME go on from the checkpoint (private time namespace)");
}

/* ---- end of the time namespace ---- */

int selfckpt__rs_namespaces(struct rs *s, pid_t want, void (*go)(struct rs *s))
{
	uid_t uid = getuid();
	gid_t gid = getgid();
	int fl = CLONE_NEWPID, p[2];
	pid_t init;
	const char *no_time = clocks_wanted(s);
	int r = -1;

	if (geteuid() != 0)
		fl |= CLONE_NEWUSER;
	if (!no_time) {
		r = unshare(fl | CLONE_NEWTIME);
		/* Linux before 5.6, or without CONFIG_TIME_NS: the rest still. */
		if (r < 0)
			no_time = errno == EINVAL ? "this kernel has no time namespaces" :
						    "no time namespace could be created";
	}
	if (r < 0 && unshare(fl) < 0) {
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
	if (no_time)
		selfckpt__rs_clock_note(s, no_time);
	else
		set_clocks(s);
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

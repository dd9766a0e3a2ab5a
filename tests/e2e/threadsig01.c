/*
 * threadsig01 - the library's reserved signal (SIGRTMAX-2, or
 * SELFCKPT_SIGNAL) never shows to a multi-threaded program (issue 3), and
 * what happens when a thread blocks every signal.
 *
 *  1. A thread blocks every signal with the raw rt_sigprocmask system
 *     call (as a statically linked program would, where the library's
 *     wrappers are not in between): selfckpt_checkpoint() fails after its
 *     timeout, with ENOTSUP and a message naming that thread's id and the
 *     signal; no image is written; the process goes on: the other threads
 *     answer, the stop request stays pending for that thread only while it
 *     blocks it, and once the thread unblocks, the request is dropped: the
 *     program's own handler for that signal does not run, and nothing is
 *     pending any more.
 *  2. A thread blocks every signal with pthread_sigmask(SIG_BLOCK, full
 *     set) and waits in sigwaitinfo(full set): the checkpoint succeeds
 *     (the library's pthread_sigmask leaves its signal deliverable), and
 *     after the restart sigwaitinfo is still waiting and returns the
 *     SIGUSR2 the main thread sends (never EINTR, never the reserved
 *     signal).
 *  After each checkpoint (in-process, written in place with
 *  SELFCKPT_NO_FORK; and after each of two restarts, written by the
 *  default copy-on-write child), in
 *  every thread: pthread_sigmask's answer does not contain the reserved
 *  signal and is what it was before; sigpending() does not contain it;
 *  and the kernel agrees (/proc/self/task/TID/status: SigBlk, SigPnd,
 *  ShdPnd have no bit for it; SigBlk of a thread other than the raw one is
 *  what it was).
 *  3. The program's own handler for that signal, installed before the
 *     first checkpoint, is what sigaction reports, and pthread_kill and
 *     sigqueue of that signal run it in the right thread with the right
 *     siginfo; a handler installed after a restart replaces it;
 *     selfckpt_set_signal() refuses another signal then (EBUSY), and a
 *     signal that is not a real-time one (EINVAL).
 */
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>

#include "zdtm.h"

enum { T_RAW, T_FULL, T_A, T_B, NT };
static const char *tname[NT] = { "raw-blocker", "full-blocker", "plain-a", "plain-b" };

struct th {
	pthread_t th;
	volatile pid_t tid;
	sem_t go, done;
	void (*volatile fn)(int);
	sigset_t mask_seen;
	volatile int rc;
	volatile int err;
	volatile int state;
};

static struct th T[NT];
static int SIG;
static __thread int my_idx = -1;
static volatile int h1_count[NT + 1], h2_count[NT + 1];
static volatile pid_t h1_tid[NT + 1];
static volatile int h1_code, h1_value;
static volatile int sigwait_ret = -2, sigwait_err;

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void on_sig_h1(int sig, siginfo_t *si, void *uc)
{
	int i = my_idx < 0 ? NT : my_idx;

	(void)sig;
	(void)uc;
	h1_tid[i] = gettid_();
	h1_code = si->si_code;
	h1_value = si->si_code == SI_QUEUE ? si->si_value.sival_int : 0;
	h1_count[i]++;
}

static void on_sig_h2(int sig)
{
	(void)sig;
	h2_count[my_idx < 0 ? NT : my_idx]++;
}

static void raw_mask(uint64_t set)
{
	CHECK(syscall(SYS_rt_sigprocmask, SIG_SETMASK, &set, NULL, 8) == 0,
	      "rt_sigprocmask: %s", strerror(errno));
}

static void *thread_main(void *arg)
{
	int idx = (int)(intptr_t)arg;
	struct th *me = &T[idx];

	my_idx = idx;
	me->tid = gettid_();
	if (idx == T_FULL) {
		sigset_t all;

		sigfillset(&all);
		CHECK(pthread_sigmask(SIG_BLOCK, &all, NULL) == 0, "pthread_sigmask");
	}
	me->state = 1;
	for (;;) {
		while (sem_wait(&me->go) < 0)
			;
		me->fn(idx);
		sem_post(&me->done);
	}
}

static void run_in(int idx, void (*fn)(int))
{
	struct timespec dl;
	int r;

	T[idx].fn = fn;
	sem_post(&T[idx].go);
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 30;
	while ((r = sem_timedwait(&T[idx].done, &dl)) < 0 && errno == EINTR)
		;
	CHECK(r == 0, "%s does not answer", tname[idx]);
}

/* ---- commands ---- */

static void c_nothing(int idx)
{
	(void)idx;
}

static void c_raw_block(int idx)
{
	(void)idx;
	raw_mask(~0ULL);
}

static void c_raw_unblock(int idx)
{
	(void)idx;
	raw_mask(0);
}

static void c_query(int idx)
{
	sigset_t p;

	T[idx].rc = pthread_sigmask(SIG_BLOCK, NULL, &T[idx].mask_seen);
	sigpending(&p);
	T[idx].err = sigismember(&p, SIG);
	T[idx].tid = gettid_();
}

static void c_sigwait(int idx)
{
	sigset_t all;

	(void)idx;
	sigfillset(&all);
	errno = 0;
	sigwait_ret = sigwaitinfo(&all, NULL);
	sigwait_err = errno;
}

/* ---- kernel's view ---- */

static uint64_t status_field(pid_t tid, const char *field)
{
	char path[64], buf[4096], *p;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	CHECK(n > 0, "read %s", path);
	buf[n] = '\0';
	p = strstr(buf, field);
	CHECK(p, "no %s in %s", field, path);
	return strtoull(p + strlen(field), NULL, 16);
}

static uint64_t bit(int sig)
{
	return 1ULL << (sig - 1);
}

static int same_mask(const sigset_t *a, const sigset_t *b)
{
	for (int s = 1; s <= 64; s++)
		if (sigismember(a, s) != sigismember(b, s))
			return 0;
	return 1;
}

static sigset_t mask_before[NT + 1];
static uint64_t kblk_before[NT + 1];

/* Every thread's view and the kernel's; when is for messages. */
static void check_all(const char *when, int compare)
{
	uint64_t shd = status_field(getpid(), "ShdPnd:");

	CHECK(!(shd & bit(SIG)), "%s: signal %d pending for the process", when, SIG);
	for (int i = 0; i <= NT; i++) {
		sigset_t m, p;
		pid_t tid;

		if (i == NT) {
			CHECK(pthread_sigmask(SIG_BLOCK, NULL, &m) == 0, "pthread_sigmask");
			sigpending(&p);
			tid = gettid_();
		} else {
			if (i == T_FULL && sigwait_ret == -2 && T[T_FULL].state == 2) {
				/* In sigwaitinfo: the kernel's view only. */
				tid = T[i].tid;
				goto kernel;
			}
			run_in(i, c_query);
			CHECK(T[i].rc == 0, "pthread_sigmask in %s", tname[i]);
			m = T[i].mask_seen;
			sigemptyset(&p);
			if (T[i].err)
				sigaddset(&p, SIG);
			tid = T[i].tid;
		}
		CHECK(!sigismember(&m, SIG), "%s: %s's mask has signal %d", when,
		      i == NT ? "main" : tname[i], SIG);
		CHECK(!sigismember(&p, SIG), "%s: sigpending() in %s has signal %d", when,
		      i == NT ? "main" : tname[i], SIG);
		if (compare)
			CHECK(same_mask(&m, &mask_before[i]), "%s: %s's mask changed", when,
			      i == NT ? "main" : tname[i]);
		else
			mask_before[i] = m;
kernel:;
		uint64_t blk = status_field(tid, "SigBlk:"), pnd = status_field(tid, "SigPnd:");

		CHECK(!(pnd & bit(SIG)), "%s: the kernel has signal %d pending for %s", when,
		      SIG, i == NT ? "main" : tname[i]);
		CHECK(!(blk & bit(SIG)), "%s: the kernel has signal %d blocked in %s (SigBlk %llx)",
		      when, SIG, i == NT ? "main" : tname[i], (unsigned long long)blk);
		if (compare)
			CHECK(blk == kblk_before[i], "%s: %s's kernel mask %llx, was %llx", when,
			      i == NT ? "main" : tname[i], (unsigned long long)blk,
			      (unsigned long long)kblk_before[i]);
		else
			kblk_before[i] = blk;
	}
}

/*
 * Until the full blocker is (back) in its sigwaitinfo: after a checkpoint
 * it returns from the library's handler, where every signal is blocked,
 * a little after the checkpoint call returns in the caller.
 */
static void in_sigwait(void)
{
	while (syscall(SYS_tgkill, getpid(), T[T_FULL].tid, 0) == 0) {
		char p[64], buf[128];
		int fd;
		ssize_t n;

		snprintf(p, sizeof(p), "/proc/self/task/%d/syscall", (int)T[T_FULL].tid);
		fd = open(p, O_RDONLY | O_CLOEXEC);
		n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (n > 4 && !strncmp(buf, "128 ", 4))
			break;	/* in sigwaitinfo: rt_sigtimedwait */
		msleep(1);
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void install(int sig, void *fn, int siginfo)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART | (siginfo ? SA_SIGINFO : 0);
	if (siginfo)
		sa.sa_sigaction = fn;
	else
		sa.sa_handler = fn;
	CHECK(sigaction(sig, &sa, NULL) == 0, "sigaction %d: %s", sig, strerror(errno));
}

/* The program's handler runs for the signal sent by the program. */
static void program_signal(const char *when, int which)
{
	volatile int *count = which == 1 ? h1_count : h2_count;
	struct sigaction cur;

	CHECK(sigaction(SIG, NULL, &cur) == 0, "sigaction query");
	CHECK((which == 1 && (cur.sa_flags & SA_SIGINFO) &&
	       cur.sa_sigaction == on_sig_h1) ||
		      (which == 2 && !(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == on_sig_h2),
	      "%s: sigaction(%d) reports %p, not the program's handler %d", when, SIG,
	      (void *)cur.sa_handler, which);
	int before = count[T_A];

	CHECK(pthread_kill(T[T_A].th, SIG) == 0, "pthread_kill");
	for (int i = 0; i < 5000 && count[T_A] == before; i++)
		msleep(1);
	CHECK(count[T_A] == before + 1, "%s: the program's handler %d ran %d times in %s",
	      when, which, count[T_A] - before, tname[T_A]);
	if (which == 1)
		CHECK(h1_tid[T_A] == T[T_A].tid && h1_code == SI_TKILL,
		      "%s: handler ran in tid %d (code %d), sent to %d", when, (int)h1_tid[T_A],
		      h1_code, (int)T[T_A].tid);
	if (which == 1) {
		int total = 0;
		union sigval v = { .sival_int = 4711 };

		for (int i = 0; i <= NT; i++)
			total += h1_count[i];
		CHECK(sigqueue(getpid(), SIG, v) == 0, "sigqueue: %s", strerror(errno));
		int now_total = total;

		for (int k = 0; k < 5000 && now_total == total; k++) {
			msleep(1);
			now_total = 0;
			for (int i = 0; i <= NT; i++)
				now_total += h1_count[i];
		}
		CHECK(now_total == total + 1 && h1_code == SI_QUEUE && h1_value == 4711,
		      "%s: sigqueue(%d): handler ran %d times, code %d, value %d", when, SIG,
		      now_total - total, h1_code, h1_value);
	}
}

int main(void)
{
	char path[4096];
	int total_h1;

	/* The library's signal: SIGRTMAX - 2 unless SELFCKPT_SIGNAL moves it. */
	SIG = getenv("SELFCKPT_SIGNAL") ? atoi(getenv("SELFCKPT_SIGNAL")) : SIGRTMAX - 2;
	install(SIG, (void *)on_sig_h1, 1);
	for (int i = 0; i < NT; i++) {
		sem_init(&T[i].go, 0, 0);
		sem_init(&T[i].done, 0, 0);
		CHECK(pthread_create(&T[i].th, NULL, thread_main, (void *)(intptr_t)i) == 0,
		      "pthread_create");
		while (!T[i].state)
			msleep(1);
	}

	/* ---- 1: a thread blocks everything behind the library's back ---- */
	run_in(T_RAW, c_raw_block);
	snprintf(path, sizeof(path), "%s.refused", test_image());
	unlink(path);
	double t0 = now();
	long r = selfckpt_checkpoint(path, SELFCKPT_NO_SYNC);
	int e = errno;
	double took = now() - t0;
	const char *msg = selfckpt_last_error();
	char want_tid[32], want_sig[32];

	test_log("checkpoint with a thread blocking every signal (rt_sigprocmask): %ld, %s, after %.1f s: %s",
		 r, strerror(e), took, msg);
	snprintf(want_tid, sizeof(want_tid), "thread %d ", (int)T[T_RAW].tid);
	snprintf(want_sig, sizeof(want_sig), "signal %d", SIG);
	CHECK(r == -1 && e == ENOTSUP, "checkpoint returned %ld, errno %s", r, strerror(e));
	CHECK(strstr(msg, want_tid) && strstr(msg, want_sig),
	      "the message does not name '%s' and '%s': %s", want_tid, want_sig, msg);
	CHECK(access(path, F_OK) != 0, "an image was left at %s", path);
	CHECK(selfckpt_last_id() == 0, "last id %ld after a failure", selfckpt_last_id());
	/* Everyone else answers; the request waits in the blocking thread only. */
	run_in(T_A, c_nothing);
	run_in(T_B, c_nothing);
	CHECK(status_field(T[T_RAW].tid, "SigPnd:") & bit(SIG),
	      "the stop request is not pending in the blocking thread");
	run_in(T_RAW, c_query);
	CHECK(!T[T_RAW].err, "sigpending() in the blocking thread shows signal %d", SIG);
	total_h1 = 0;
	for (int i = 0; i <= NT; i++)
		total_h1 += h1_count[i];
	run_in(T_RAW, c_raw_unblock);
	msleep(50);
	for (int i = 0; i <= NT; i++)
		total_h1 -= h1_count[i];
	CHECK(total_h1 == 0, "the late stop request ran the program's handler");
	CHECK(!(status_field(T[T_RAW].tid, "SigPnd:") & bit(SIG)),
	      "signal %d still pending in the raw blocker once unblocked", SIG);

	/* ---- 2: a thread blocks everything with pthread_sigmask ---- */
	T[T_FULL].state = 2;
	T[T_FULL].fn = c_sigwait;
	sem_post(&T[T_FULL].go);
	in_sigwait();
	check_all("before the checkpoints", 0);

	snprintf(path, sizeof(path), "%s.inprocess", test_image());
#ifdef SELFCKPT_NO_FORK
	/* Written in place, the threads stopped (test_checkpoint: the default). */
	r = selfckpt_checkpoint(path, SELFCKPT_NO_SYNC | SELFCKPT_NO_FORK);
#else
	r = selfckpt_checkpoint(path, SELFCKPT_NO_SYNC);
#endif
	CHECK(r == 1, "in-process checkpoint with a thread blocking every signal through pthread_sigmask: %ld, %s: %s",
	      r, strerror(errno), selfckpt_last_error());
	unlink(path);
	in_sigwait();
	check_all("after the in-process checkpoint", 1);
	CHECK(sigwait_ret == -2, "sigwaitinfo returned %d (%s) at the checkpoint", sigwait_ret,
	      strerror(sigwait_err));
	program_signal("after the in-process checkpoint", 1);
	/* The signal cannot change once the library handles it. */
	CHECK(selfckpt_set_signal(SIG == SIGRTMAX - 3 ? SIGRTMAX - 4 : SIGRTMAX - 3) == -1 &&
		      errno == EBUSY, "selfckpt_set_signal of another signal: not EBUSY");
	CHECK(selfckpt_set_signal(SIGUSR1) == -1 && errno == EINVAL,
	      "selfckpt_set_signal(SIGUSR1): not EINVAL");

	test_checkpoint();
	in_sigwait();
	check_all("after the first restart", 1);
	CHECK(sigwait_ret == -2, "sigwaitinfo returned %d (%s) at the restart", sigwait_ret,
	      strerror(sigwait_err));
	program_signal("after the first restart", 1);

	/* A handler installed now (the library's is in place) replaces it. */
	install(SIG, (void *)on_sig_h2, 0);
	program_signal("after the first restart, new handler", 2);

	test_checkpoint();
	in_sigwait();
	check_all("after the second restart", 1);
	program_signal("after the second restart", 2);
	CHECK(sigwait_ret == -2, "sigwaitinfo returned %d (%s) at the second restart",
	      sigwait_ret, strerror(sigwait_err));
	CHECK(pthread_kill(T[T_FULL].th, SIGUSR2) == 0, "pthread_kill SIGUSR2");
	{
		struct timespec dl;

		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 10;
		CHECK(sem_timedwait(&T[T_FULL].done, &dl) == 0, "sigwaitinfo did not return");
	}
	CHECK(sigwait_ret == SIGUSR2, "sigwaitinfo returned %d (%s), expected SIGUSR2",
	      sigwait_ret, strerror(sigwait_err));
	CHECK(h1_count[T_FULL] == 0 && h2_count[T_FULL] == 0,
	      "the program's handler ran in the thread that blocks everything");
	pass();
}

/*
 * signals01 - signal state survives a restart, and still works:
 *
 *   - handlers installed with sigaction (SA_SIGINFO, SA_RESTART, a custom
 *     sa_mask) are still installed with their flags and mask; raise() runs
 *     them with the right siginfo and with sa_mask blocked; an interrupted
 *     read() is still restarted; SA_RESETHAND|SA_NODEFER still reset the
 *     disposition and leave the signal unblocked in its handler;
 *   - SIG_IGN is kept: a raised ignored signal does nothing;
 *   - the blocked signal mask is exactly what it was, real-time signals
 *     included;
 *   - the sigaltstack is the same and an SA_ONSTACK handler runs on it;
 *   - standard signals raised while blocked, one at the thread (raise)
 *     and one at the process (kill), are still pending (and the only
 *     ones), and are delivered once unblocked;
 *   - an ITIMER_REAL timer armed for a few seconds with an interval is
 *     still armed, with the same interval and a plausible remaining time;
 *     so are ITIMER_VIRTUAL and ITIMER_PROF;
 *   - in a second generation, a short ITIMER_REAL timer armed before the
 *     checkpoint fires after the restart and its SIGALRM handler runs;
 *   - in a third, the checkpoint is taken inside a handler running on the
 *     alternate stack: the restarted process goes on in that handler, on
 *     that stack, with the handler's mask, and returns from it to the
 *     interrupted code with the mask and stack state from before.
 */
#include <signal.h>
#include <stdint.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

#include "zdtm.h"

#define ALT_SIZE (64 << 10)

static volatile sig_atomic_t usr1_count, usr2_count, urg_count, alrm_count;
static volatile sig_atomic_t winch_count, pwr_count, pwr_blocked_inside;
static volatile int usr2_signo, usr2_code, usr2_pid;
static volatile int usr2_saw_int_blocked, usr2_saw_term_blocked, usr2_saw_quit_blocked;
static volatile uintptr_t urg_local;
static volatile int urg_onstack;
static char altstack[ALT_SIZE] __attribute__((aligned(16)));

static void on_usr1(int sig)
{
	(void)sig;
	usr1_count++;
}

static void on_usr2(int sig, siginfo_t *si, void *uc)
{
	sigset_t now;

	(void)sig;
	(void)uc;
	sigprocmask(SIG_BLOCK, NULL, &now);
	usr2_signo = si->si_signo;
	usr2_code = si->si_code;
	usr2_pid = si->si_pid;
	usr2_saw_int_blocked = sigismember(&now, SIGINT);
	usr2_saw_term_blocked = sigismember(&now, SIGTERM);
	usr2_saw_quit_blocked = sigismember(&now, SIGQUIT);
	usr2_count++;
}

static void on_urg(int sig, siginfo_t *si, void *uc)
{
	volatile char here;
	stack_t ss;

	(void)sig;
	(void)si;
	(void)uc;
	urg_local = (uintptr_t)&here;
	urg_onstack = sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_ONSTACK);
	urg_count++;
}

static void on_winch(int sig)
{
	(void)sig;
	winch_count++;
}

static void on_pwr(int sig)
{
	sigset_t now;

	sigprocmask(SIG_BLOCK, NULL, &now);
	pwr_blocked_inside = sigismember(&now, sig);
	pwr_count++;
}

/* Third generation: the checkpoint in a handler on the alternate stack. */
static volatile long ckpt_in_handler_id;
static volatile uintptr_t ckpt_handler_local;
static volatile int ckpt_handler_onstack, ckpt_handler_mask_ok;

static void on_urg_checkpoint(int sig, siginfo_t *si, void *uc)
{
	volatile char here;
	sigset_t m;
	stack_t ss;

	(void)si;
	(void)uc;
	long id = test_checkpoint();

	ckpt_handler_local = (uintptr_t)&here;
	ckpt_handler_onstack = sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_ONSTACK);
	sigprocmask(SIG_BLOCK, NULL, &m);
	ckpt_handler_mask_ok = sigismember(&m, sig) && sigismember(&m, SIGUSR2) &&
			       !sigismember(&m, SIGINT);
	ckpt_in_handler_id = id;
}

static void on_alrm(int sig)
{
	(void)sig;
	alrm_count++;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double tv(const struct timeval *t)
{
	return (double)t->tv_sec + (double)t->tv_usec / 1e6;
}

static void install(int sig, void *fn, int flags, const int *mask_sigs)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	for (; mask_sigs && *mask_sigs; mask_sigs++)
		sigaddset(&sa.sa_mask, *mask_sigs);
	sa.sa_flags = flags;
	if (flags & SA_SIGINFO)
		sa.sa_sigaction = fn;
	else
		sa.sa_handler = fn;
	CHECK(sigaction(sig, &sa, NULL) == 0, "sigaction %d: %s", sig, strerror(errno));
}

#define FLAGS_OF_INTEREST \
	((int)(SA_SIGINFO | SA_RESTART | SA_ONSTACK | SA_NODEFER | SA_RESETHAND))

static void expect_action(int sig, void *fn, int flags, const int *mask_sigs)
{
	struct sigaction sa;
	sigset_t want;

	CHECK(sigaction(sig, NULL, &sa) == 0, "sigaction %d: %s", sig, strerror(errno));
	CHECK((void *)sa.sa_handler == fn, "signal %d: handler %p, expected %p", sig,
	      (void *)sa.sa_handler, fn);
	CHECK((sa.sa_flags & FLAGS_OF_INTEREST) == flags,
	      "signal %d: flags %#x, expected %#x", sig,
	      sa.sa_flags & FLAGS_OF_INTEREST, flags);
	sigemptyset(&want);
	for (; mask_sigs && *mask_sigs; mask_sigs++)
		sigaddset(&want, *mask_sigs);
	for (int s = 1; s < 65; s++)
		CHECK(sigismember(&sa.sa_mask, s) == sigismember(&want, s),
		      "signal %d: sa_mask has signal %d %s", sig, s,
		      sigismember(&want, s) ? "missing" : "added");
}

static void same_set(const sigset_t *a, const sigset_t *b, const char *what)
{
	for (int s = 1; s < 65; s++)
		CHECK(sigismember(a, s) == sigismember(b, s), "%s: signal %d %s", what,
		      s, sigismember(a, s) ? "missing" : "added");
}

/*
 * SA_RESTART at work: a child sends SIGUSR2 while we block in read() on a
 * pipe, then writes a byte; the read must be restarted, not fail EINTR.
 */
static void check_restart(void)
{
	int p[2];
	char c = 0;

	CHECK(pipe(p) == 0, "pipe: %s", strerror(errno));
	pid_t pid = fork();

	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		close(p[0]);
		usleep(100 * 1000);
		kill(getppid(), SIGUSR2);
		usleep(100 * 1000);
		_exit(write(p[1], "x", 1) == 1 ? 0 : 1);
	}
	close(p[1]);
	int before = usr2_count;
	ssize_t n = read(p[0], &c, 1);

	CHECK(n == 1 && c == 'x', "read interrupted by SIGUSR2 returned %zd (%s): not restarted",
	      n, n < 0 ? strerror(errno) : "");
	CHECK(usr2_count == before + 1, "SIGUSR2 from the child was not handled");
	close(p[0]);
	CHECK(waitpid(pid, NULL, 0) == pid, "waitpid");
}

int main(void)
{
	static const int usr2_mask[] = { SIGINT, SIGTERM, 0 };
	static const int urg_mask[] = { SIGUSR2, 0 };
	sigset_t block, mask_before, mask_after, pending;
	stack_t ss = { .ss_sp = altstack, .ss_size = ALT_SIZE, .ss_flags = 0 };
	struct itimerval it = { { 7, 0 }, { 5, 0 } }, cur;

	install(SIGUSR1, (void *)on_usr1, 0, NULL);
	install(SIGUSR2, (void *)on_usr2, SA_SIGINFO | SA_RESTART, usr2_mask);
	install(SIGURG, (void *)on_urg, SA_SIGINFO | SA_ONSTACK, urg_mask);
	install(SIGALRM, (void *)on_alrm, 0, NULL);
	install(SIGWINCH, (void *)on_winch, 0, NULL);
	install(SIGPWR, (void *)on_pwr, SA_RESETHAND | SA_NODEFER, NULL);
	install(SIGVTALRM, (void *)SIG_IGN, 0, NULL);
	install(SIGPROF, (void *)SIG_IGN, 0, NULL);
	install(SIGHUP, (void *)SIG_IGN, 0, NULL);
	install(SIGPIPE, (void *)SIG_IGN, SA_RESTART, NULL);
	CHECK(sigaltstack(&ss, NULL) == 0, "sigaltstack: %s", strerror(errno));

	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGWINCH);
	sigaddset(&block, SIGRTMIN + 2);
	CHECK(sigprocmask(SIG_BLOCK, &block, &mask_before) == 0, "sigprocmask");
	CHECK(sigprocmask(SIG_BLOCK, NULL, &mask_before) == 0, "sigprocmask");
	CHECK(raise(SIGUSR1) == 0 && usr1_count == 0, "raise SIGUSR1");
	CHECK(kill(getpid(), SIGWINCH) == 0 && winch_count == 0, "kill SIGWINCH");
	CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer: %s", strerror(errno));
	struct itimerval vt = { { 50, 0 }, { 100, 0 } }, pf = { { 60, 0 }, { 200, 0 } };

	CHECK(setitimer(ITIMER_VIRTUAL, &vt, NULL) == 0 &&
		      setitimer(ITIMER_PROF, &pf, NULL) == 0, "setitimer: %s", strerror(errno));

	test_checkpoint();

	/* Dispositions. */
	expect_action(SIGUSR1, (void *)on_usr1, 0, NULL);
	expect_action(SIGUSR2, (void *)on_usr2, SA_SIGINFO | SA_RESTART, usr2_mask);
	expect_action(SIGURG, (void *)on_urg, SA_SIGINFO | SA_ONSTACK, urg_mask);
	expect_action(SIGALRM, (void *)on_alrm, 0, NULL);
	expect_action(SIGHUP, (void *)SIG_IGN, 0, NULL);
	expect_action(SIGPIPE, (void *)SIG_IGN, SA_RESTART, NULL);
	expect_action(SIGTERM, (void *)SIG_DFL, 0, NULL);
	expect_action(SIGWINCH, (void *)on_winch, 0, NULL);
	expect_action(SIGPWR, (void *)on_pwr, SA_RESETHAND | SA_NODEFER, NULL);

	/* Mask, pending set, alternate stack. */
	CHECK(sigprocmask(SIG_BLOCK, NULL, &mask_after) == 0, "sigprocmask");
	same_set(&mask_before, &mask_after, "blocked mask");
	CHECK(sigpending(&pending) == 0, "sigpending");
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGWINCH);
	same_set(&block, &pending, "pending set");
	memset(&ss, 0, sizeof(ss));
	CHECK(sigaltstack(NULL, &ss) == 0, "sigaltstack: %s", strerror(errno));
	CHECK(ss.ss_sp == altstack && ss.ss_size == ALT_SIZE && ss.ss_flags == 0,
	      "sigaltstack is %p+%zu flags %#x, was %p+%d flags 0", ss.ss_sp,
	      ss.ss_size, ss.ss_flags, (void *)altstack, ALT_SIZE);

	/* The interval timer: still armed, same interval. */
	CHECK(getitimer(ITIMER_REAL, &cur) == 0, "getitimer");
	test_log("ITIMER_REAL after the restart: %.3f s left, interval %.3f s",
		 tv(&cur.it_value), tv(&cur.it_interval));
	CHECK(cur.it_interval.tv_sec == 7 && cur.it_interval.tv_usec == 0,
	      "itimer interval is %.6f s, was 7 s", tv(&cur.it_interval));
	CHECK(tv(&cur.it_value) > 2.0 && tv(&cur.it_value) <= 5.0,
	      "itimer has %.6f s left of 5 s", tv(&cur.it_value));
	/*
	 * CPU-time timers are read against a sampled CPU clock, which may lag
	 * the one they were armed against by a tick or two: allow 50 ms.
	 */
	CHECK(getitimer(ITIMER_VIRTUAL, &cur) == 0 && cur.it_interval.tv_sec == 50 &&
		      tv(&cur.it_value) > 90 && tv(&cur.it_value) <= 100.05,
	      "ITIMER_VIRTUAL: %.6f s left, interval %.6f s (was 100, 50)",
	      tv(&cur.it_value), tv(&cur.it_interval));
	CHECK(getitimer(ITIMER_PROF, &cur) == 0 && cur.it_interval.tv_sec == 60 &&
		      tv(&cur.it_value) > 190 && tv(&cur.it_value) <= 200.05,
	      "ITIMER_PROF: %.6f s left, interval %.6f s (was 200, 60)",
	      tv(&cur.it_value), tv(&cur.it_interval));

	/* The handlers run, with their siginfo, sa_mask and stack. */
	CHECK(raise(SIGUSR2) == 0, "raise SIGUSR2");
	CHECK(usr2_count == 1, "SIGUSR2 handler ran %d times", (int)usr2_count);
	CHECK(usr2_signo == SIGUSR2 && usr2_code == SI_TKILL && usr2_pid == getpid(),
	      "SIGUSR2 siginfo: signo %d code %d pid %d", usr2_signo, usr2_code, usr2_pid);
	CHECK(usr2_saw_int_blocked == 1 && usr2_saw_term_blocked == 1 &&
		      usr2_saw_quit_blocked == 0,
	      "SIGUSR2 handler ran with mask INT %d TERM %d QUIT %d",
	      usr2_saw_int_blocked, usr2_saw_term_blocked, usr2_saw_quit_blocked);
	CHECK(raise(SIGHUP) == 0, "raise SIGHUP (ignored)");
	CHECK(raise(SIGURG) == 0 && urg_count == 1, "SIGURG handler ran %d times",
	      (int)urg_count);
	CHECK(urg_local >= (uintptr_t)altstack &&
		      urg_local < (uintptr_t)altstack + ALT_SIZE && urg_onstack,
	      "SA_ONSTACK handler ran at %#lx, not on the alternate stack %p+%d",
	      (unsigned long)urg_local, (void *)altstack, ALT_SIZE);
	check_restart();
	CHECK(raise(SIGPWR) == 0 && pwr_count == 1 && !pwr_blocked_inside,
	      "SIGPWR handler ran %d times, %s in it", (int)pwr_count,
	      pwr_blocked_inside ? "blocked" : "unblocked");
	struct sigaction pwr;

	CHECK(sigaction(SIGPWR, NULL, &pwr) == 0 && pwr.sa_handler == SIG_DFL,
	      "SA_RESETHAND did not reset the SIGPWR handler");

	/* The pending SIGUSR1 is delivered once unblocked. */
	CHECK(usr1_count == 0, "SIGUSR1 delivered while blocked");
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	CHECK(sigprocmask(SIG_UNBLOCK, &block, NULL) == 0, "sigprocmask");
	CHECK(usr1_count == 1, "SIGUSR1 handler ran %d times once unblocked",
	      (int)usr1_count);
	CHECK(winch_count == 0, "SIGWINCH delivered while blocked");
	sigaddset(&block, SIGWINCH);
	CHECK(sigprocmask(SIG_UNBLOCK, &block, NULL) == 0, "sigprocmask");
	CHECK(winch_count == 1, "SIGWINCH handler ran %d times once unblocked",
	      (int)winch_count);
	struct itimerval zero_it = { { 0, 0 }, { 0, 0 } };

	setitimer(ITIMER_VIRTUAL, &zero_it, NULL);
	setitimer(ITIMER_PROF, &zero_it, NULL);
	CHECK(alrm_count == 0, "SIGALRM already");

	/* Second generation: a short timer fires after the restart. */
	struct itimerval shrt = { { 0, 0 }, { 1, 200000 } }, off = { { 0, 0 }, { 0, 0 } };

	CHECK(setitimer(ITIMER_REAL, &shrt, NULL) == 0, "setitimer: %s", strerror(errno));
	test_checkpoint();

	double t0 = now();

	CHECK(getitimer(ITIMER_REAL, &cur) == 0, "getitimer");
	double left = tv(&cur.it_value);

	test_log("short ITIMER_REAL after the restart: %.3f s left", left);
	CHECK(alrm_count == 0 && left > 0 && left <= 1.2,
	      "short itimer: %.6f s left, %d SIGALRM", left, (int)alrm_count);
	while (!alrm_count && now() - t0 < 10) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
	double waited = now() - t0;

	CHECK(alrm_count == 1, "SIGALRM handler ran %d times in %.2f s",
	      (int)alrm_count, waited);
	CHECK(waited > left - 0.1 && waited < left + 1.0,
	      "SIGALRM came after %.3f s, the timer had %.3f s left", waited, left);
	/*
	 * While the expired timer's callback still runs on another CPU (it
	 * has sent the signal, the handler ran here), getitimer() says 1 us
	 * is left (kernel/time/itimer.c, itimer_get_remtime: "racy but
	 * safe"); seen once under load. A re-armed timer would have 1.2 s.
	 */
	CHECK(getitimer(ITIMER_REAL, &cur) == 0, "getitimer");
	for (int i = 0; i < 100 && (cur.it_value.tv_sec || cur.it_value.tv_usec) &&
			!cur.it_value.tv_sec && cur.it_value.tv_usec <= 1000; i++) {
		struct timespec ts = { 0, 1000 * 1000 };

		nanosleep(&ts, NULL);
		CHECK(getitimer(ITIMER_REAL, &cur) == 0, "getitimer");
	}
	CHECK(!cur.it_value.tv_sec && !cur.it_value.tv_usec && !cur.it_interval.tv_sec &&
		      !cur.it_interval.tv_usec,
	      "one-shot itimer re-armed: %.6f s left, interval %.6f s", tv(&cur.it_value),
	      tv(&cur.it_interval));
	setitimer(ITIMER_REAL, &off, NULL);

	/* Third generation: checkpoint inside a handler on the alternate stack. */
	CHECK(sigprocmask(SIG_BLOCK, NULL, &mask_before) == 0, "sigprocmask");
	install(SIGURG, (void *)on_urg_checkpoint, SA_SIGINFO | SA_ONSTACK, urg_mask);
	CHECK(raise(SIGURG) == 0, "raise SIGURG");
	CHECK(ckpt_in_handler_id == 3, "checkpoint in the handler: id %ld",
	      (long)ckpt_in_handler_id);
	CHECK(ckpt_handler_local >= (uintptr_t)altstack &&
		      ckpt_handler_local < (uintptr_t)altstack + ALT_SIZE,
	      "the restarted handler ran at %#lx, not on the alternate stack",
	      (unsigned long)ckpt_handler_local);
	CHECK(ckpt_handler_onstack, "sigaltstack in the restarted handler: not SS_ONSTACK");
	CHECK(ckpt_handler_mask_ok, "the restarted handler's mask is not the handler's");
	CHECK(sigprocmask(SIG_BLOCK, NULL, &mask_after) == 0, "sigprocmask");
	same_set(&mask_before, &mask_after, "mask after the restarted handler returned");
	memset(&ss, 0, sizeof(ss));
	CHECK(sigaltstack(NULL, &ss) == 0 && ss.ss_sp == altstack &&
		      ss.ss_size == ALT_SIZE && ss.ss_flags == 0,
	      "sigaltstack after the handler: %p+%zu flags %#x", ss.ss_sp, ss.ss_size,
	      ss.ss_flags);
	urg_count = 0;
	install(SIGURG, (void *)on_urg, SA_SIGINFO | SA_ONSTACK, urg_mask);
	CHECK(raise(SIGURG) == 0 && urg_count == 1 && urg_onstack &&
		      urg_local >= (uintptr_t)altstack &&
		      urg_local < (uintptr_t)altstack + ALT_SIZE,
	      "the alternate stack no longer works after the restarted handler");
	pass();
}

/*
 * timers01 - itimers (setitimer, alarm) are re-armed after a restart with
 * the time that was left and their intervals (issue 5).
 *
 * Generation 1: alarm(3600), ITIMER_VIRTUAL with 0.25 s of user CPU time
 * left and no interval, ITIMER_PROF with 30 s left and a 0.5 s interval;
 * and, this process having a single thread, a POSIX timer on
 * CLOCK_THREAD_CPUTIME_ID (which glibc makes the clock of "thread 0", the
 * creator), 100 s left: after the restart it still has at most that.
 * After the restart: alarm(0) says between 3000 and 3600 s were left;
 * getitimer shows ITIMER_PROF's interval of 0.5 s and at most 30 s left
 * (more than 20), ITIMER_VIRTUAL at most 0.25 s left and no interval; once
 * the process has used that CPU time, SIGVTALRM comes, once, and the
 * timer is disarmed.
 *
 * Generation 2: a periodic ITIMER_REAL (every 0.2 s) whose SIGALRM is
 * blocked and pending at the checkpoint. A periodic ITIMER_REAL is re-armed
 * only when its signal is dequeued, so until then getitimer shows no time
 * left: the checkpoint must take the pending signal first, or the timer
 * would come back disarmed. Checked in the checkpointed process (after a
 * checkpoint into a second image) and after the restart: the interval is
 * 0.2 s, SIGALRM is pending, its handler runs once unblocked, and then the
 * timer keeps firing (two more SIGALRMs). (Restored as getitimer showed it
 * before the signal was taken, the timer would have no interval and stay
 * silent.)
 */
#include <signal.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>

#include "zdtm.h"

static volatile sig_atomic_t vtalrm, alrm;

static void on_vtalrm(int sig)
{
	(void)sig;
	vtalrm++;
}

static void on_alrm(int sig)
{
	(void)sig;
	alrm++;
}

static double tv(const struct timeval *t)
{
	return (double)t->tv_sec + (double)t->tv_usec / 1e6;
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set(int which, double value, double interval)
{
	struct itimerval it;

	it.it_value.tv_sec = (time_t)value;
	it.it_value.tv_usec = (suseconds_t)((value - (double)(time_t)value) * 1e6);
	it.it_interval.tv_sec = (time_t)interval;
	it.it_interval.tv_usec = (suseconds_t)((interval - (double)(time_t)interval) * 1e6);
	CHECK(setitimer(which, &it, NULL) == 0, "setitimer %d: %s", which, strerror(errno));
}

static int alrm_pending(void)
{
	sigset_t p;

	sigpending(&p);
	return sigismember(&p, SIGALRM);
}

/* The periodic ITIMER_REAL with its SIGALRM pending, wherever we are. */
static void check_periodic(const char *where)
{
	struct itimerval cur;
	sigset_t s;

	CHECK(getitimer(ITIMER_REAL, &cur) == 0, "getitimer");
	CHECK(cur.it_interval.tv_sec == 0 && cur.it_interval.tv_usec == 200000,
	      "%s: ITIMER_REAL interval %.6f s, was 0.2 s", where, tv(&cur.it_interval));
	/* 0 if it expired again meanwhile: then it waits for the dequeue. */
	CHECK(tv(&cur.it_value) <= 0.2, "%s: ITIMER_REAL has %.6f s left of 0.2", where,
	      tv(&cur.it_value));
	CHECK(alrm_pending(), "%s: SIGALRM is no longer pending", where);
	alrm = 0;
	sigemptyset(&s);
	sigaddset(&s, SIGALRM);
	CHECK(sigprocmask(SIG_UNBLOCK, &s, NULL) == 0, "unblock");
	CHECK(alrm == 1, "%s: %d SIGALRM once unblocked, expected 1", where, (int)alrm);
	double t0 = mono();

	while (alrm < 3 && mono() - t0 < 30) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
	CHECK(alrm >= 3, "%s: the periodic ITIMER_REAL stopped: %d SIGALRM in %.1f s", where,
	      (int)alrm, mono() - t0);
	CHECK(sigprocmask(SIG_BLOCK, &s, NULL) == 0, "block");
}

/* Block SIGALRM, arm the periodic timer, wait until its signal is pending. */
static void arm_periodic(void)
{
	double t0 = mono();

	set(ITIMER_REAL, 0.001, 0.2);
	while (!alrm_pending() && mono() - t0 < 30) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
	CHECK(alrm_pending(), "SIGALRM never came");
}

int main(void)
{
	struct sigaction sa;
	struct itimerval cur;
	sigset_t s;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_vtalrm;
	CHECK(sigaction(SIGVTALRM, &sa, NULL) == 0, "sigaction");
	sa.sa_handler = on_alrm;
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction");

	/* Generation 1. */
	struct sigevent sev = { .sigev_notify = SIGEV_NONE };
	struct itimerspec its = { { 0, 0 }, { 100, 0 } };
	timer_t cpu;

	CHECK(timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &cpu) == 0 &&
		      timer_settime(cpu, 0, &its, NULL) == 0,
	      "timer on CLOCK_THREAD_CPUTIME_ID: %s", strerror(errno));
	alarm(3600);
	set(ITIMER_VIRTUAL, 0.25, 0);
	set(ITIMER_PROF, 30, 0.5);
	test_checkpoint();

	unsigned left = alarm(0);

	CHECK(timer_gettime(cpu, &its) == 0, "timer_gettime: %s", strerror(errno));
	CHECK(its.it_value.tv_sec >= 90 && its.it_value.tv_sec <= 100,
	      "CLOCK_THREAD_CPUTIME_ID timer: %ld.%09ld s left of 100",
	      (long)its.it_value.tv_sec, its.it_value.tv_nsec);
	timer_delete(cpu);

	CHECK(left > 3000 && left <= 3600, "alarm: %u s left of 3600", left);
	/*
	 * CPU-time timers are read against a sampled CPU clock, which may lag
	 * the one they were armed against by a tick or two: 50 ms more.
	 */
	CHECK(getitimer(ITIMER_PROF, &cur) == 0, "getitimer");
	CHECK(cur.it_interval.tv_sec == 0 && cur.it_interval.tv_usec == 500000 &&
		      tv(&cur.it_value) > 20 && tv(&cur.it_value) <= 30.05,
	      "ITIMER_PROF: %.6f s left of 30, interval %.6f s (0.5)", tv(&cur.it_value),
	      tv(&cur.it_interval));
	set(ITIMER_PROF, 0, 0);
	CHECK(getitimer(ITIMER_VIRTUAL, &cur) == 0, "getitimer");
	CHECK(vtalrm == 0 && tv(&cur.it_value) > 0 && tv(&cur.it_value) <= 0.3 &&
		      tv(&cur.it_interval) == 0,
	      "ITIMER_VIRTUAL: %.6f s left of 0.25, interval %.6f, %d signals",
	      tv(&cur.it_value), tv(&cur.it_interval), (int)vtalrm);
	/* Use the CPU time: user time, which is what ITIMER_VIRTUAL counts. */
	double t0 = mono();
	volatile uint64_t x = 1;

	while (!vtalrm && mono() - t0 < 60)
		for (int i = 0; i < 1000000; i++)
			x = x * 6364136223846793005ULL + 1;
	CHECK(vtalrm == 1, "ITIMER_VIRTUAL: %d SIGVTALRM after %.1f s of spinning", (int)vtalrm,
	      mono() - t0);
	CHECK(getitimer(ITIMER_VIRTUAL, &cur) == 0 && !cur.it_value.tv_sec &&
		      !cur.it_value.tv_usec, "ITIMER_VIRTUAL armed again");

	/* Generation 2: the periodic timer, signal pending. */
	sigemptyset(&s);
	sigaddset(&s, SIGALRM);
	CHECK(sigprocmask(SIG_BLOCK, &s, NULL) == 0, "block");
	arm_periodic();
	char extra[4200];

	snprintf(extra, sizeof(extra), "%s.extra", test_image());
	CHECK(selfckpt_checkpoint(extra, SELFCKPT_NO_SYNC) > 0, "checkpoint into %s: %s", extra,
	      selfckpt_last_error());
	unlink(extra);
	check_periodic("in the checkpointed process");
	arm_periodic();
	test_checkpoint();
	check_periodic("after the restart");
	set(ITIMER_REAL, 0, 0);
	pass();
}

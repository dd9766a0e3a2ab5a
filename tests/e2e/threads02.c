/*
 * threads02 - blocking calls go on as if no checkpoint had happened
 * (issue 3). A thread that is not the main one takes the checkpoint while
 * every other thread waits, each in one call:
 *
 *   timed, must run to their timeout and report it, with no EINTR and
 *   neither early nor much late (T = 3 s, the checkpoint ~1 s in; each
 *   measured on the clock of its deadline: CLOCK_REALTIME for the pthread
 *   and sem ones, which goes on while the process is not running, unlike
 *   a restarted process's CLOCK_MONOTONIC); poll
 *   and sigtimedwait, whose remaining time the kernel does not report,
 *   may also last the time they had waited before the checkpoint longer
 *   (docs/limitations.md):
 *     nanosleep, clock_nanosleep(TIMER_ABSTIME), usleep, sleep,
 *     poll(no fds, T), select(no fds, T), sigtimedwait(SIGUSR2, T),
 *     pthread_cond_timedwait, sem_timedwait, pthread_mutex_timedlock on a
 *     mutex the checkpointing thread holds across its own checkpoint;
 *   untimed, must still be waiting when everything else is done, and
 *   return exactly as the program's own wake-up says:
 *     pthread_cond_wait (returns once, when signalled), sem_wait (sem_post),
 *     pthread_barrier_wait (two threads, the checker arrives third),
 *     sigwaitinfo(SIGUSR2) (returns SIGUSR2 when sent), and, woken by the
 *     program's own SIGUSR1 (whose handler must then run once, in that
 *     thread): poll(no fds, -1), pause, sigsuspend - these return EINTR
 *     then, and only then;
 *   and the main thread, in pthread_join of the checkpointing thread.
 *
 * Part A: the checkpointing thread calls selfckpt_checkpoint() itself (to
 * a second image) and the process goes on: every wait is checked there.
 * Part B: the same set of waits across test_checkpoint(), checked in the
 * restarted process, where the process and thread ids are also the same.
 * Each part reports every wait ("info:" lines) before failing on any.
 */
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>

#include "zdtm.h"

#define T 3.0			/* timed waits, seconds */
#define CKPT_AFTER_MS 1000	/* the checkpoint, after all are waiting */

enum kind {
	K_NANOSLEEP, K_CLOCKABS, K_USLEEP, K_SLEEP, K_POLL_T, K_SELECT_T,
	K_SIGTIMEDWAIT, K_CONDTIMED, K_SEMTIMED, K_MUTEXTIMED,
	K_TIMED_END,
	K_COND = K_TIMED_END, K_SEM, K_BAR1, K_BAR2, K_SIGWAITINFO,
	K_POLL_INF, K_PAUSE, K_SIGSUSPEND,
	NK
};

static const char *kname[NK] = {
	"nanosleep", "clock_nanosleep(ABSTIME)", "usleep", "sleep", "poll(T)",
	"select(T)", "sigtimedwait(T)", "pthread_cond_timedwait",
	"sem_timedwait", "pthread_mutex_timedlock", "pthread_cond_wait",
	"sem_wait", "pthread_barrier_wait#1", "pthread_barrier_wait#2",
	"sigwaitinfo", "poll(-1)", "pause", "sigsuspend",
};

struct waiter {
	pthread_t th;
	volatile pid_t tid, tid_after;
	volatile int state;		/* 1 waiting, 2 returned */
	double t0, t1;			/* CLOCK_MONOTONIC */
	double rt0, rt1;		/* CLOCK_REALTIME */
	long ret;
	int err;
	int extra;			/* per kind: returns of cond_wait... */
};

static struct waiter W[NK];
static __thread int my_idx = -1;
static volatile int usr1_count[NK];
static volatile pid_t usr1_tid[NK];

static pthread_mutex_t cm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int cond_pred;
static pthread_mutex_t cm2 = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv2 = PTHREAD_COND_INITIALIZER;
static sem_t sem_untimed, sem_timed;
static pthread_barrier_t bar;
/* Locked by the checkpointing thread, which exits holding it: one per part. */
static pthread_mutex_t held_m[2] = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER };
static pthread_mutex_t *held = &held_m[0];

/* The checkpointing thread's report. */
static volatile pid_t ckpt_tid, ckpt_tid_after;
static double ckpt_t0, ckpt_t1;
static long ckpt_ret;
static int ckpt_errno;
static char ckpt_err[512];
static const char *ckpt_path;	/* NULL: test_checkpoint() */
static volatile int ckpt_holding, waiters_created;

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static double clock_s(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void deadline_in(clockid_t clk, double secs, struct timespec *ts)
{
	clock_gettime(clk, ts);
	long ns = ts->tv_nsec + (long)((secs - (long)secs) * 1e9);

	ts->tv_sec += (time_t)secs + ns / 1000000000L;
	ts->tv_nsec = ns % 1000000000L;
}

static void on_usr1(int sig)
{
	(void)sig;
	if (my_idx >= 0 && my_idx < NK) {
		usr1_tid[my_idx] = gettid_();
		usr1_count[my_idx]++;
	}
}

static void *waiter_main(void *arg)
{
	int k = (int)(intptr_t)arg;
	struct waiter *x = &W[k];
	struct timespec ts;
	sigset_t s;
	long r = 0;

	my_idx = k;
	x->tid = gettid_();
	sigemptyset(&s);
	sigaddset(&s, SIGUSR2);
	if (k == K_SIGTIMEDWAIT || k == K_SIGWAITINFO)
		pthread_sigmask(SIG_BLOCK, &s, NULL);
	if (k == K_COND)
		pthread_mutex_lock(&cm);
	if (k == K_CONDTIMED)
		pthread_mutex_lock(&cm2);
	x->t0 = now();
	x->rt0 = clock_s(CLOCK_REALTIME);
	x->state = 1;
	errno = 0;
	switch (k) {
	case K_NANOSLEEP:
		ts.tv_sec = (time_t)T;
		ts.tv_nsec = 0;
		r = nanosleep(&ts, &ts);
		break;
	case K_CLOCKABS:
		deadline_in(CLOCK_MONOTONIC, T, &ts);
		r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		if (r) {	/* returns the error, not -1 */
			errno = (int)r;
			r = -1;
		}
		break;
	case K_USLEEP:
		r = usleep((useconds_t)(T * 1e6));
		break;
	case K_SLEEP:
		r = sleep((unsigned)T);	/* 0, or the seconds left */
		break;
	case K_POLL_T:
		r = poll(NULL, 0, (int)(T * 1000));
		break;
	case K_SELECT_T: {
		struct timeval tv = { (time_t)T, 0 };

		r = select(0, NULL, NULL, NULL, &tv);
		break;
	}
	case K_SIGTIMEDWAIT:
		ts.tv_sec = (time_t)T;
		ts.tv_nsec = 0;
		r = sigtimedwait(&s, NULL, &ts);
		break;
	case K_CONDTIMED:
		deadline_in(CLOCK_REALTIME, T, &ts);
		for (;;) {
			r = pthread_cond_timedwait(&cv2, &cm2, &ts);
			if (r)
				break;
			x->extra++;	/* nobody signals cv2 */
		}
		pthread_mutex_unlock(&cm2);
		break;
	case K_SEMTIMED:
		deadline_in(CLOCK_REALTIME, T, &ts);
		r = sem_timedwait(&sem_timed, &ts);
		break;
	case K_MUTEXTIMED:
		deadline_in(CLOCK_REALTIME, T, &ts);
		r = pthread_mutex_timedlock(held, &ts);
		if (r == 0)
			pthread_mutex_unlock(held);
		break;
	case K_COND:
		while (!cond_pred) {
			r = pthread_cond_wait(&cv, &cm);
			x->extra++;
		}
		pthread_mutex_unlock(&cm);
		break;
	case K_SEM:
		r = sem_wait(&sem_untimed);
		break;
	case K_BAR1:
	case K_BAR2:
		r = pthread_barrier_wait(&bar);
		if (r == PTHREAD_BARRIER_SERIAL_THREAD)
			r = 0;
		break;
	case K_SIGWAITINFO:
		r = sigwaitinfo(&s, NULL);
		break;
	case K_POLL_INF:
		r = poll(NULL, 0, -1);
		break;
	case K_PAUSE:
		r = pause();
		break;
	case K_SIGSUSPEND: {
		sigset_t none;

		sigemptyset(&none);
		r = sigsuspend(&none);
		break;
	}
	}
	x->err = errno;
	x->ret = r;
	x->t1 = now();
	x->rt1 = clock_s(CLOCK_REALTIME);
	x->tid_after = gettid_();
	__atomic_store_n(&x->state, 2, __ATOMIC_RELEASE);
	return NULL;
}

/* The first field of /proc/self/task/TID/syscall: the blocking call, or -1. */
static long blocked_in(pid_t tid)
{
	char path[64], buf[256];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -2;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -2;
	buf[n] = '\0';
	if (buf[0] < '0' || buf[0] > '9')
		return -1;
	return strtol(buf, NULL, 10);
}

static void *ckpt_main(void *arg)
{
	pid_t main_tid = (pid_t)(intptr_t)arg;

	ckpt_tid = gettid_();
	pthread_mutex_lock(held);
	ckpt_holding = 1;
	while (!waiters_created)
		msleep(1);
	for (int k = 0; k < NK; k++) {
		double end = now() + 10;

		while ((W[k].state != 1 || blocked_in(W[k].tid) < 0) && now() < end)
			msleep(1);
		if (W[k].state != 1 || blocked_in(W[k].tid) < 0) {
			snprintf(ckpt_err, sizeof(ckpt_err), "%s is not waiting (state %d)",
				 kname[k], W[k].state);
			ckpt_ret = -2;
			return NULL;
		}
	}
	while (blocked_in(main_tid) < 0)	/* in pthread_join */
		msleep(1);
	msleep(CKPT_AFTER_MS);
	ckpt_t0 = now();
	if (ckpt_path) {
		ckpt_ret = selfckpt_checkpoint(ckpt_path, SELFCKPT_NO_SYNC);
		ckpt_errno = errno;
		snprintf(ckpt_err, sizeof(ckpt_err), "%s", selfckpt_last_error());
	} else {
		ckpt_ret = test_checkpoint();	/* returns in the restarted process */
	}
	ckpt_t1 = now();
	ckpt_tid_after = gettid_();
	return (void *)(uintptr_t)0xc4;
}

static int expect(int k, int cond, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad;

static int expect(int k, int cond, const char *fmt, ...)
{
	if (!cond) {
		char buf[256];
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(buf, sizeof(buf), fmt, ap);
		va_end(ap);
		test_log("BAD %s: %s", kname[k], buf);
		bad++;
	}
	return cond;
}

/* What a timed wait returns at its timeout, and the errno then. */
static void timed_expectation(int k, long *ret, int *err)
{
	*ret = 0;
	*err = 0;
	switch (k) {
	case K_SIGTIMEDWAIT:
		*ret = -1;
		*err = EAGAIN;
		break;
	case K_SEMTIMED:
		*ret = -1;
		*err = ETIMEDOUT;
		break;
	case K_CONDTIMED:
	case K_MUTEXTIMED:
		*ret = ETIMEDOUT;	/* returned, not in errno */
		break;
	}
}

static void show(int k)
{
	const struct waiter *x = &W[k];

	if (x->state == 2)
		test_log("%s: returned %ld (%s) after %.3f s", kname[k], x->ret,
			 x->ret < 0 || (k >= K_CONDTIMED && k <= K_MUTEXTIMED && x->ret)
				 ? strerror(x->ret < 0 ? x->err : (int)x->ret) : "ok",
			 x->t1 - x->t0);
	else
		test_log("%s: still waiting", kname[k]);
}

static void part(const char *label, const char *path)
{
	pthread_t ck;
	void *cret;
	double slack;

	memset(W, 0, sizeof(W));
	memset((void *)usr1_count, 0, sizeof(usr1_count));
	cond_pred = 0;
	CHECK(sem_init(&sem_untimed, 0, 0) == 0 && sem_init(&sem_timed, 0, 0) == 0, "sem_init");
	CHECK(pthread_barrier_init(&bar, NULL, 3) == 0, "barrier_init");
	ckpt_path = path;
	ckpt_ret = 0;
	ckpt_holding = waiters_created = 0;
	CHECK(pthread_create(&ck, NULL, ckpt_main, (void *)(intptr_t)gettid_()) == 0,
	      "pthread_create");
	while (!ckpt_holding)	/* the mutex of pthread_mutex_timedlock */
		msleep(1);
	for (int k = 0; k < NK; k++)
		CHECK(pthread_create(&W[k].th, NULL, waiter_main, (void *)(intptr_t)k) == 0,
		      "pthread_create: %s", strerror(errno));
	waiters_created = 1;
	double j0 = now();
	int jr = pthread_join(ck, &cret);
	double j1 = now();

	CHECK(ckpt_ret != -2, "%s: %s", label, ckpt_err);
	CHECK(jr == 0 && cret == (void *)(uintptr_t)0xc4,
	      "%s: joining the checkpointing thread: %d, %p", label, jr, cret);
	if (path)
		CHECK(ckpt_ret > 0, "%s: checkpoint failed: %s: %s", label,
		      strerror(ckpt_errno), ckpt_err);
	test_log("%s: checkpoint by tid %d (pid %d) returned %ld after %.3f s; main joined it after %.3f s",
		 label, (int)ckpt_tid, (int)getpid(), ckpt_ret, ckpt_t1 - ckpt_t0, j1 - j0);
	/*
	 * Timed waits may end late by what the checkpoint (or the restart)
	 * took, and by a generous margin for a busy machine: the bound is
	 * there to catch a wait restarted from scratch, not to time anything.
	 */
	slack = 1.5 + (ckpt_t1 - ckpt_t0);

	/* Timed ones: wait for them all (bounded), then judge. */
	for (int k = 0; k < K_TIMED_END; k++) {
		double end = W[k].t0 + 2 * T + slack + 5;

		while (W[k].state != 2 && now() < end)
			msleep(5);
	}
	/* Untimed ones: still waiting now, long after the checkpoint. */
	msleep(100);
	int early[NK] = { 0 };

	for (int k = K_TIMED_END; k < NK; k++)
		early[k] = W[k].state == 2;
	test_log("%s: the waits, checkpoint at %.3f s into them:", label,
		 ckpt_t0 - W[0].t0);
	for (int k = 0; k < NK; k++)
		show(k);
	bad = 0;
	for (int k = 0; k < K_TIMED_END; k++) {
		long want_ret;
		int want_err;
		double took = W[k].t1 - W[k].t0;

		/*
		 * These wait for a CLOCK_REALTIME deadline, which goes on while
		 * the process is not running; a restarted process's
		 * CLOCK_MONOTONIC does not (its time namespace): measured on
		 * their own clock.
		 */
		if (k == K_CONDTIMED || k == K_SEMTIMED || k == K_MUTEXTIMED)
			took = W[k].rt1 - W[k].rt0;
		timed_expectation(k, &want_ret, &want_err);
		if (!expect(k, W[k].state == 2, "never returned"))
			continue;
		expect(k, W[k].ret == want_ret && (want_ret != -1 || W[k].err == want_err),
		       "returned %ld (%s), expected %ld (%s)", W[k].ret,
		       W[k].ret == -1 ? strerror(W[k].err) : "-", want_ret,
		       want_ret == -1 ? strerror(want_err) : "-");
		expect(k, took >= T - 0.002, "returned after %.3f s of %.1f", took, T);
		double allowed = T + slack;

		if (k == K_POLL_T || k == K_SIGTIMEDWAIT)	/* restarted in full */
			allowed += ckpt_t0 - W[k].t0;
		expect(k, took <= allowed, "returned after %.3f s of %.1f (allowed %.3f)",
		       took, T, allowed);
		expect(k, W[k].extra == 0, "returned %d times before its timeout", W[k].extra);
	}
	for (int k = K_TIMED_END; k < NK; k++)
		expect(k, !early[k], "returned before it was woken: %ld (%s)", W[k].ret,
		       W[k].ret == -1 ? strerror(W[k].err) : "-");

	/* Now wake each the program's way. */
	pthread_mutex_lock(&cm);
	cond_pred = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&cm);
	sem_post(&sem_untimed);
	int br = pthread_barrier_wait(&bar);

	CHECK(br == 0 || br == PTHREAD_BARRIER_SERIAL_THREAD, "barrier: %d", br);
	CHECK(pthread_kill(W[K_SIGWAITINFO].th, SIGUSR2) == 0, "pthread_kill");
	for (int k = K_POLL_INF; k < NK; k++)
		if (!early[k])
			CHECK(pthread_kill(W[k].th, SIGUSR1) == 0, "pthread_kill");
	for (int k = K_TIMED_END; k < NK; k++) {
		double end = now() + 10;

		while (W[k].state != 2 && now() < end)
			msleep(1);
		if (early[k])
			continue;
		if (!expect(k, W[k].state == 2, "not woken by the program"))
			continue;
		if (k == K_SIGWAITINFO)
			expect(k, W[k].ret == SIGUSR2, "returned %ld (%s), expected SIGUSR2",
			       W[k].ret, W[k].ret < 0 ? strerror(W[k].err) : "-");
		else if (k >= K_POLL_INF)
			expect(k, W[k].ret == -1 && W[k].err == EINTR && usr1_count[k] == 1 &&
					  usr1_tid[k] == W[k].tid,
			       "returned %ld (%s), handler ran %d times in tid %d (the thread is %d)",
			       W[k].ret, W[k].ret < 0 ? strerror(W[k].err) : "-",
			       usr1_count[k], (int)usr1_tid[k], (int)W[k].tid);
		else
			expect(k, W[k].ret == 0, "returned %ld (%s)", W[k].ret,
			       W[k].ret < 0 ? strerror(W[k].err) : "-");
		if (k == K_COND)
			expect(k, W[k].extra == 1, "returned %d times for one signal",
			       W[k].extra);
	}
	for (int k = 0; k < NK; k++) {
		if (k < K_POLL_INF)
			expect(k, usr1_count[k] == 0, "SIGUSR1 handler ran here");
		if (W[k].state == 2)
			expect(k, W[k].tid_after == W[k].tid, "thread id %d, was %d",
			       (int)W[k].tid_after, (int)W[k].tid);
	}
	CHECK(ckpt_tid_after == ckpt_tid, "%s: the checkpointing thread's id is %d, was %d",
	      label, (int)ckpt_tid_after, (int)ckpt_tid);
	if (bad)
		fail("%s: %d wait%s did not go on as without a checkpoint (see above)", label,
		     bad, bad == 1 ? "" : "s");
	for (int k = 0; k < NK; k++)
		CHECK(pthread_join(W[k].th, NULL) == 0, "join %s", kname[k]);
	pthread_barrier_destroy(&bar);
	sem_destroy(&sem_untimed);
	sem_destroy(&sem_timed);
	test_log("%s: every wait went on as if nothing had happened", label);
}

int main(void)
{
	struct sigaction sa;
	char path[4096];
	pid_t pid = getpid();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");

	/* A: the checkpoint from a thread, the process goes on. */
	snprintf(path, sizeof(path), "%s.inprocess", test_image());
	part("in-process checkpoint", path);
	unlink(path);

	/* B: the same across a restart. */
	held = &held_m[1];
	part("restart", NULL);
	CHECK(getpid() == pid, "getpid() %d, was %d", (int)getpid(), (int)pid);
	CHECK(selfckpt_generation() == 1, "generation %u", selfckpt_generation());
	CHECK(ckpt_ret == 2, "the restarted checkpoint's id is %ld", ckpt_ret);
	pass();
}

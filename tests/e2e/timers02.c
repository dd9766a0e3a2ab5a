/*
 * timers02 - POSIX timers (timer_create) survive a restart with their
 * ids, clocks, notifications, values, time left and intervals (issue 5).
 *
 * Before the checkpoint: 100 timers are created and deleted, so that the
 * ids are not small, then these, with holes between their ids (timers
 * created and deleted in between), all with their signals blocked:
 *
 *   A  CLOCK_MONOTONIC, SIGEV_SIGNAL SIGRTMIN+1 to the process, value 101,
 *      every 0.3 s (first after 0.3 s);
 *   B  CLOCK_REALTIME, SIGEV_NONE, 1000 s left, no interval;
 *   C  CLOCK_BOOTTIME, SIGEV_THREAD_ID to the worker thread, SIGUSR2,
 *      value 0xabc, 1 hour left, every 2 hours;
 *   D  CLOCK_MONOTONIC, SIGEV_SIGNAL SIGRTMIN+2, value 104, one shot after
 *      1.5 s: its signal comes once, pending at the checkpoint or after
 *      the restart, whichever the machine's speed decides;
 *   E  CLOCK_PROCESS_CPUTIME_ID, SIGEV_NONE, 100 s of CPU time left;
 *   F  the worker's CPU clock (pthread_getcpuclockid), SIGEV_NONE, 200 s;
 *   G  CLOCK_MONOTONIC, SIGEV_SIGNAL SIGRTMIN+1, disarmed.
 *
 * After the restart (each check a line of the test; no timing that a
 * loaded machine could break, the bounds are the timers' own):
 *   - every timer_t is still valid, with the same kernel id in
 *     /proc/self/timers and the same signal, value, notification target
 *     (the worker's tid) and clock there;
 *   - timer_gettime: A's interval is 0.3 s and it has at most 0.3 s left;
 *     B has at most 1000 s left and more than 900; C at most 1 hour left
 *     and more than 50 minutes, interval 2 hours; E and F at most their
 *     CPU time left, and nearly all of it; G disarmed;
 *   - D's signal comes exactly once, with si_code SI_TIMER, its timer id
 *     and value 104, within 10 s; D is then disarmed;
 *   - A keeps firing: two signals with its id and value 101;
 *   - C, re-armed for 10 ms, signals the worker thread (sigwaitinfo there
 *     returns SIGUSR2 with C's id and value 0xabc);
 *   - a new timer gets an id no other has.
 * Second generation: the same again after a second restart (the timers
 * made by the restorer are checkpointed again).
 * Last: a SIGEV_THREAD timer (glibc's helper thread blocks every signal)
 * makes the checkpoint fail with ENOTSUP and a message saying so, at
 * once rather than after the 10 s stop timeout. The refusal comes after
 * the threads listed before the helper were asked to stop: 200 times
 * over, with two spinning threads made before the helper besides the
 * worker, no thread may be left in the library (the spinners spin on,
 * C still signals the worker) nor touch the checkpoint's memory after
 * it is gone (a thread still recording its state when the checkpoint
 * gave up once crashed the process after PASS, or hung it).
 */
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>

#include "zdtm.h"

enum { A, B, C, D, E, F, G, NT };
static const char *tname = "ABCDEFG";
static timer_t tm[NT];
static pthread_t worker_th;
static pid_t worker_tid;
static sem_t go, done;
static volatile int worker_got, worker_code, worker_timer;
static volatile uintptr_t worker_value;
static volatile pid_t worker_where;

static double secs(const struct timespec *t)
{
	return (double)t->tv_sec + (double)t->tv_nsec / 1e9;
}

static int kid(timer_t t)
{
	return (int)(intptr_t)t;	/* glibc: the kernel's id, for these */
}

/* The worker waits for C's signal, when told to. */
static void *worker(void *arg)
{
	sigset_t usr2;
	siginfo_t si;

	(void)arg;
	worker_tid = (pid_t)syscall(SYS_gettid);
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	sem_post(&done);
	for (;;) {
		while (sem_wait(&go) < 0)
			;
		while (sigwaitinfo(&usr2, &si) < 0)
			;
		worker_code = si.si_code;
		worker_timer = si.si_timerid;
		worker_value = (uintptr_t)si.si_value.sival_ptr;
		worker_where = (pid_t)syscall(SYS_gettid);
		worker_got++;
		sem_post(&done);
	}
	return NULL;
}

static void make(int i, clockid_t clock, int notify, int sig, uintptr_t value)
{
	struct sigevent sev;

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = notify;
	sev.sigev_signo = sig;
	sev.sigev_value.sival_ptr = (void *)value;
	if (notify == SIGEV_THREAD_ID)
		sev._sigev_un._tid = worker_tid;
	CHECK(timer_create(clock, &sev, &tm[i]) == 0, "timer_create %c: %s", tname[i],
	      strerror(errno));
}

static void arm(int i, double value, double interval)
{
	struct itimerspec its;

	its.it_value.tv_sec = (time_t)value;
	its.it_value.tv_nsec = (long)((value - (double)(time_t)value) * 1e9);
	its.it_interval.tv_sec = (time_t)interval;
	its.it_interval.tv_nsec = (long)((interval - (double)(time_t)interval) * 1e9);
	CHECK(timer_settime(tm[i], 0, &its, NULL) == 0, "timer_settime %c: %s", tname[i],
	      strerror(errno));
}

/* Create and delete n timers: ids move on (they are handed out in order). */
static void burn_ids(int n)
{
	struct sigevent sev = { .sigev_notify = SIGEV_NONE };

	for (int i = 0; i < n; i++) {
		timer_t t;

		CHECK(timer_create(CLOCK_MONOTONIC, &sev, &t) == 0, "timer_create: %s",
		      strerror(errno));
		CHECK(timer_delete(t) == 0, "timer_delete");
	}
}

/* The line of /proc/self/timers about timer id: signal, notify, clock. */
static int proc_timer(int id, char *sig, char *notify, int *clock)
{
	char buf[16384], key[32];
	int fd = open("/proc/self/timers", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	snprintf(key, sizeof(key), "ID: %d\n", id);
	char *p = strstr(buf, key);

	if (!p || (p != buf && p[-1] != '\n'))
		return -1;
	return sscanf(p + strlen(key), "signal: %63s notify: %63s ClockID: %d", sig, notify,
		      clock) == 3 ? 0 : -1;
}

static struct {
	char sig[64], notify[64];
	int clock;
} before[NT];

static void record_proc(void)
{
	for (int i = 0; i < NT; i++)
		CHECK(proc_timer(kid(tm[i]), before[i].sig, before[i].notify,
				 &before[i].clock) == 0,
		      "timer %c (id %d) not in /proc/self/timers", tname[i], kid(tm[i]));
}

static void check_proc(void)
{
	for (int i = 0; i < NT; i++) {
		char sig[64], notify[64];
		int clock;

		CHECK(proc_timer(kid(tm[i]), sig, notify, &clock) == 0,
		      "timer %c (id %d) is gone from /proc/self/timers", tname[i], kid(tm[i]));
		CHECK(!strcmp(sig, before[i].sig) && !strcmp(notify, before[i].notify) &&
			      clock == before[i].clock,
		      "timer %c (id %d): signal %s notify %s clock %d, was %s %s %d", tname[i],
		      kid(tm[i]), sig, notify, clock, before[i].sig, before[i].notify,
		      before[i].clock);
	}
}

static void get(int i, double *left, double *interval)
{
	struct itimerspec its;

	CHECK(timer_gettime(tm[i], &its) == 0, "timer_gettime %c (id %d): %s", tname[i],
	      kid(tm[i]), strerror(errno));
	*left = secs(&its.it_value);
	*interval = secs(&its.it_interval);
}

/* Wait up to max seconds for one signal of sig: its siginfo, or fail. */
static void wait_sig(int sig, siginfo_t *si, double max, const char *what)
{
	sigset_t one;
	struct timespec ts = { (time_t)max, 0 };

	sigemptyset(&one);
	sigaddset(&one, sig);
	int r;

	do
		r = sigtimedwait(&one, si, &ts);
	while (r < 0 && errno == EINTR);
	CHECK(r == sig, "%s: no signal %d within %.0f s", what, sig, max);
}

static void check_timers(int gen)
{
	double left, iv;
	siginfo_t si;

	check_proc();
	get(A, &left, &iv);
	CHECK(iv > 0.2999 && iv < 0.3001 && left > 0 && left <= 0.3,
	      "gen %d: A: %.9f s left, interval %.9f s (0.3 s)", gen, left, iv);
	get(B, &left, &iv);
	CHECK(iv == 0 && left > 900 && left <= 1000, "gen %d: B: %.3f s left of 1000, interval %.3f",
	      gen, left, iv);
	get(C, &left, &iv);
	CHECK(iv == 7200 && left > 3000 && left <= 3600,
	      "gen %d: C: %.3f s left of 3600, interval %.3f (7200)", gen, left, iv);
	/* CPU clocks are sampled: a tick or two more than was left (timers01). */
	get(E, &left, &iv);
	CHECK(iv == 0 && left > 90 && left <= 100.05, "gen %d: E: %.3f s of CPU time left of 100",
	      gen, left);
	get(F, &left, &iv);
	CHECK(iv == 0 && left > 190 && left <= 200.05,
	      "gen %d: F: %.3f s of the worker's CPU time left of 200", gen, left);
	get(G, &left, &iv);
	CHECK(left == 0 && iv == 0, "gen %d: G: armed (%.3f s, %.3f s)", gen, left, iv);

	/* D: its one signal, whenever it came. */
	wait_sig(SIGRTMIN + 2, &si, 10, "D");
	CHECK(si.si_code == SI_TIMER && si.si_timerid == kid(tm[D]) &&
		      si.si_value.sival_int == 104,
	      "gen %d: D's signal: code %d timer %d value %d (SI_TIMER, %d, 104)", gen,
	      si.si_code, si.si_timerid, si.si_value.sival_int, kid(tm[D]));
	get(D, &left, &iv);
	CHECK(left == 0 && iv == 0, "gen %d: D armed again (%.3f s)", gen, left);
	sigset_t one;
	struct timespec zero = { 0, 0 };

	sigemptyset(&one);
	sigaddset(&one, SIGRTMIN + 2);
	CHECK(sigtimedwait(&one, &si, &zero) < 0, "gen %d: D signalled twice", gen);

	/* A goes on. */
	for (int k = 0; k < 2; k++) {
		wait_sig(SIGRTMIN + 1, &si, 10, "A");
		CHECK(si.si_code == SI_TIMER && si.si_timerid == kid(tm[A]) &&
			      si.si_value.sival_int == 101,
		      "gen %d: A's signal: code %d timer %d value %d (SI_TIMER, %d, 101)", gen,
		      si.si_code, si.si_timerid, si.si_value.sival_int, kid(tm[A]));
	}

	/* C signals the worker. */
	int got = worker_got;

	sem_post(&go);
	arm(C, 0.01, 7200);
	while (sem_wait(&done) < 0)
		;
	CHECK(worker_got == got + 1 && worker_code == SI_TIMER &&
		      worker_timer == kid(tm[C]) && worker_value == 0xabc &&
		      worker_where == worker_tid,
	      "gen %d: C's signal in the worker: code %d timer %d value %#lx in thread %d (worker %d)",
	      gen, worker_code, worker_timer, (unsigned long)worker_value, (int)worker_where,
	      (int)worker_tid);
	arm(C, 3600, 7200);

	/* A new one gets an id of its own. */
	timer_t t;
	struct sigevent sev = { .sigev_notify = SIGEV_NONE };

	CHECK(timer_create(CLOCK_MONOTONIC, &sev, &t) == 0, "timer_create after the restart: %s",
	      strerror(errno));
	for (int i = 0; i < NT; i++)
		CHECK(kid(t) != kid(tm[i]), "a new timer got id %d, timer %c's", kid(t), tname[i]);
	CHECK(timer_delete(t) == 0, "timer_delete");
}

static void thread_fn(union sigval v)
{
	(void)v;
}

static volatile unsigned long spins[2];

static void *spinner(void *arg)
{
	volatile unsigned long *n = arg;

	for (;;)
		(*n)++;
	return NULL;
}

/* C signals the worker (as in check_timers): it is not stuck anywhere. */
static void worker_alive(const char *when)
{
	int got = worker_got;

	sem_post(&go);
	arm(C, 0.01, 7200);
	while (sem_wait(&done) < 0)
		;
	CHECK(worker_got == got + 1 && worker_timer == kid(tm[C]),
	      "%s: C's signal in the worker: got %d (%d), timer %d", when, worker_got, got + 1,
	      worker_timer);
	arm(C, 3600, 7200);
}

int main(void)
{
	sigset_t block;
	clockid_t wclock;

	sigemptyset(&block);
	sigaddset(&block, SIGRTMIN + 1);
	sigaddset(&block, SIGRTMIN + 2);
	sigaddset(&block, SIGUSR2);
	CHECK(sigprocmask(SIG_BLOCK, &block, NULL) == 0, "sigprocmask");
	sem_init(&go, 0, 0);
	sem_init(&done, 0, 0);
	CHECK(pthread_create(&worker_th, NULL, worker, NULL) == 0, "pthread_create");
	while (sem_wait(&done) < 0)
		;
	CHECK(pthread_getcpuclockid(worker_th, &wclock) == 0, "pthread_getcpuclockid");

	burn_ids(100);
	make(A, CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN + 1, 101);
	burn_ids(3);
	make(B, CLOCK_REALTIME, SIGEV_NONE, 0, 0);
	make(C, CLOCK_BOOTTIME, SIGEV_THREAD_ID, SIGUSR2, 0xabc);
	burn_ids(1);
	make(D, CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN + 2, 104);
	make(E, CLOCK_PROCESS_CPUTIME_ID, SIGEV_NONE, 0, 0);
	burn_ids(7);
	make(F, wclock, SIGEV_NONE, 0, 0);
	make(G, CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN + 1, 107);
	arm(A, 0.3, 0.3);
	arm(B, 1000, 0);
	arm(C, 3600, 7200);
	arm(D, 1.5, 0);
	arm(E, 100, 0);
	arm(F, 200, 0);
	record_proc();
	test_log("timer ids: A %d B %d C %d D %d E %d F %d G %d", kid(tm[A]), kid(tm[B]),
		 kid(tm[C]), kid(tm[D]), kid(tm[E]), kid(tm[F]), kid(tm[G]));

	test_checkpoint();
	check_timers(1);

	arm(D, 1.5, 0);
	test_checkpoint();
	check_timers(2);

	/* SIGEV_THREAD: refused, at once. Spinners first: listed before the helper. */
	struct sigevent sev;
	timer_t th;
	pthread_t sp[2];

	for (int i = 0; i < 2; i++)
		CHECK(pthread_create(&sp[i], NULL, spinner, (void *)&spins[i]) == 0,
		      "pthread_create");
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD;
	sev.sigev_notify_function = thread_fn;
	CHECK(timer_create(CLOCK_MONOTONIC, &sev, &th) == 0, "timer_create SIGEV_THREAD: %s",
	      strerror(errno));
	char extra[4200];

	snprintf(extra, sizeof(extra), "%s.extra", test_image());
	long r = selfckpt_checkpoint(extra, SELFCKPT_NO_SYNC);

	CHECK(r < 0 && errno == ENOTSUP, "a checkpoint with a SIGEV_THREAD timer: %ld (%s)", r,
	      strerror(errno));
	CHECK(strstr(selfckpt_last_error(), "SIGEV_THREAD"),
	      "the refusal does not name SIGEV_THREAD: %s", selfckpt_last_error());
	test_log("SIGEV_THREAD: %s", selfckpt_last_error());
	for (int k = 0; k < 200; k++) {
		r = selfckpt_checkpoint(extra, SELFCKPT_NO_SYNC);
		CHECK(r < 0 && errno == ENOTSUP, "refusal %d: %ld (%s): %s", k, r, strerror(errno),
		      selfckpt_last_error());
	}
	unsigned long before_spins[2] = { spins[0], spins[1] };
	struct timespec tenth = { 0, 100 * 1000 * 1000 };

	nanosleep(&tenth, NULL);
	for (int i = 0; i < 2; i++)
		CHECK(spins[i] != before_spins[i], "spinner %d stopped after the refusals", i);
	worker_alive("after the refusals");
	pass();
}

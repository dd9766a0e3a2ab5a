/*
 * threads01 - pthreads survive a restart (issue 3). The main thread takes
 * the checkpoint while the other threads are:
 *
 *   - blocked in pthread_mutex_lock on a mutex the main thread holds
 *     across the checkpoint: it gets the mutex when, and only when, the
 *     main thread unlocks it after the restart;
 *   - blocked in pthread_cond_wait: it returns once, when signalled after
 *     the restart, and not before (no spurious return);
 *   - blocked in pthread_barrier_wait (two threads, the main thread is the
 *     third party): all three continue once the main thread arrives, and
 *     exactly one of them is the serial thread;
 *   - holding a read lock of an rwlock (two readers) while a writer is
 *     blocked in pthread_rwlock_wrlock: the writer gets the lock only when
 *     both readers have released it;
 *   - waiting for commands in sem_wait; one of them with SIGUSR2 blocked
 *     and pending for it alone (pthread_kill before the checkpoint): still
 *     pending for that thread only, and its handler runs in that thread
 *     once unblocked;
 *   - a detached thread that keeps counting and sleeping;
 *   - a joinable thread that had already exited and was not joined yet.
 *
 * After the restart: getpid() and every thread's gettid() are what they
 * were, /proc/self/task lists exactly the same threads, every thread's
 * __thread variables (initialised, zero-initialised, an array) hold what
 * that thread stored, pthread_self() is the same, pthread_kill(SIGUSR1)
 * to each thread runs the handler in that thread (gettid() in the
 * handler), all threads increment a mutex-protected counter
 * concurrently, a thread created after the restart starts with fresh TLS
 * and is joined, the detached thread goes on and exits, and every
 * joinable thread is joined with its own return value.
 */
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>

#include "zdtm.h"

enum role { R_MUTEX, R_COND, R_BAR1, R_BAR2, R_RD1, R_RD2, R_WR, R_SIG, R_IDLE, NW };
static const char *role_name[NW] = { "mutex", "cond", "barrier1", "barrier2",
				      "reader1", "reader2", "writer", "sigusr2",
				      "idle" };

enum cmd { C_NONE, C_CHECK, C_RDUNLOCK, C_USR2, C_COUNT, C_EXIT };

#define MAIN_IDX NW		/* the main thread's slot */
#define DET_IDX (NW + 1)	/* the detached thread's */
#define EARLY_IDX (NW + 2)	/* the one that exited before the checkpoint */
#define NEW_IDX (NW + 3)	/* created after the restart */
#define NSLOTS (NW + 4)
#define COUNT_ROUNDS 20000

struct worker {
	pthread_t th;
	pid_t tid_before;
	volatile int arrived;		/* about to block in its role's call */
	volatile int passed;		/* came out of it */
	volatile int cmd;
	sem_t go, done;
	volatile int ok;		/* result of the last command */
	char why[160];
};

static struct worker w[NW];
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;	/* held by main */
static pthread_mutex_t cm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int cond_pred;
static volatile int cond_returns;
static pthread_barrier_t bar;
static volatile int bar_serial, bar_ret_bad;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static volatile int readers_out, writer_saw_readers_out = -1;
static pthread_mutex_t count_m = PTHREAD_MUTEX_INITIALIZER;
static long counter;

/* Each thread's own: initialised (.tdata), zero (.tbss), an array. */
static __thread int my_idx = -1;
static __thread uint64_t tls_init = 0x1234567890abcdefULL;
static __thread uint64_t tls_zero;
static __thread uint32_t tls_arr[64];

/* SIGUSR1/SIGUSR2 handlers record where they ran. */
static volatile pid_t usr1_tid[NSLOTS], usr2_tid[NSLOTS];
static volatile int usr1_count[NSLOTS], usr2_count[NSLOTS];
static volatile int usr1_code_bad;

/* The detached thread. */
static volatile long det_count;
static volatile int det_stop, det_exited;
static volatile pid_t det_tid, det_tid_before;

static pid_t early_tid_before;

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (my_idx < 0 || my_idx >= NSLOTS)
		return;
	if (si->si_code != SI_TKILL || si->si_pid != getpid())
		usr1_code_bad = 1;
	usr1_tid[my_idx] = gettid_();
	usr1_count[my_idx]++;
}

static void on_usr2(int sig)
{
	(void)sig;
	if (my_idx < 0 || my_idx >= NSLOTS)
		return;
	usr2_tid[my_idx] = gettid_();
	usr2_count[my_idx]++;
}

static void set_tls(int idx)
{
	my_idx = idx;
	tls_init = 0xabc0000000000000ULL + (uint64_t)idx * 0x1111;
	tls_zero = 0x77000 + (uint64_t)idx;
	for (int i = 0; i < 64; i++)
		tls_arr[i] = (uint32_t)(idx * 1000 + i * 7);
}

/* 0 if this thread's TLS is what set_tls(idx) stored; else a reason. */
static int check_tls(int idx, char *why, size_t len)
{
	if (my_idx != idx) {
		snprintf(why, len, "my_idx is %d, expected %d", my_idx, idx);
		return -1;
	}
	if (tls_init != 0xabc0000000000000ULL + (uint64_t)idx * 0x1111 ||
	    tls_zero != 0x77000 + (uint64_t)idx) {
		snprintf(why, len, "TLS values %#llx %#llx", (unsigned long long)tls_init,
			 (unsigned long long)tls_zero);
		return -1;
	}
	for (int i = 0; i < 64; i++)
		if (tls_arr[i] != (uint32_t)(idx * 1000 + i * 7)) {
			snprintf(why, len, "tls_arr[%d] is %u", i, tls_arr[i]);
			return -1;
		}
	return 0;
}

/* What the thread does with a command; 0 or fills w->why. */
static int run_cmd(struct worker *me, int idx, int cmd)
{
	switch (cmd) {
	case C_CHECK:
		if (gettid_() != me->tid_before) {
			snprintf(me->why, sizeof(me->why), "gettid() %d, was %d",
				 (int)gettid_(), (int)me->tid_before);
			return -1;
		}
		if (!pthread_equal(pthread_self(), me->th)) {
			snprintf(me->why, sizeof(me->why), "pthread_self() changed");
			return -1;
		}
		return check_tls(idx, me->why, sizeof(me->why));
	case C_RDUNLOCK:
		__atomic_add_fetch(&readers_out, 1, __ATOMIC_SEQ_CST);
		if (pthread_rwlock_unlock(&rw)) {
			snprintf(me->why, sizeof(me->why), "rwlock_unlock failed");
			return -1;
		}
		return 0;
	case C_USR2: {
		sigset_t p, s;

		sigpending(&p);
		if (!sigismember(&p, SIGUSR2)) {
			snprintf(me->why, sizeof(me->why), "SIGUSR2 no longer pending");
			return -1;
		}
		if (usr2_count[idx]) {
			snprintf(me->why, sizeof(me->why), "SIGUSR2 delivered while blocked");
			return -1;
		}
		sigemptyset(&s);
		sigaddset(&s, SIGUSR2);
		pthread_sigmask(SIG_UNBLOCK, &s, NULL);
		if (usr2_count[idx] != 1 || usr2_tid[idx] != gettid_()) {
			snprintf(me->why, sizeof(me->why),
				 "after unblocking: SIGUSR2 handler ran %d times, in tid %d (this is %d)",
				 usr2_count[idx], (int)usr2_tid[idx], (int)gettid_());
			return -1;
		}
		return 0;
	}
	case C_COUNT:
		for (int i = 0; i < COUNT_ROUNDS; i++) {
			pthread_mutex_lock(&count_m);
			counter++;
			pthread_mutex_unlock(&count_m);
		}
		return 0;
	}
	return 0;
}

static void *worker_main(void *arg)
{
	int idx = (int)(intptr_t)arg;
	struct worker *me = &w[idx];
	int r;

	set_tls(idx);
	me->tid_before = gettid_();

	switch (idx) {
	case R_MUTEX:
		me->arrived = 1;
		pthread_mutex_lock(&m);
		me->passed = 1;
		pthread_mutex_unlock(&m);
		break;
	case R_COND:
		pthread_mutex_lock(&cm);
		me->arrived = 1;
		while (!cond_pred) {
			pthread_cond_wait(&cv, &cm);
			cond_returns++;
		}
		me->passed = 1;
		pthread_mutex_unlock(&cm);
		break;
	case R_BAR1:
	case R_BAR2:
		me->arrived = 1;
		r = pthread_barrier_wait(&bar);
		if (r == PTHREAD_BARRIER_SERIAL_THREAD)
			__atomic_add_fetch(&bar_serial, 1, __ATOMIC_SEQ_CST);
		else if (r)
			bar_ret_bad = r;
		me->passed = 1;
		break;
	case R_RD1:
	case R_RD2:
		pthread_rwlock_rdlock(&rw);
		me->arrived = 1;
		break;
	case R_WR:
		me->arrived = 1;
		pthread_rwlock_wrlock(&rw);
		writer_saw_readers_out = readers_out;
		me->passed = 1;
		pthread_rwlock_unlock(&rw);
		break;
	case R_SIG: {
		sigset_t s;

		sigemptyset(&s);
		sigaddset(&s, SIGUSR2);
		pthread_sigmask(SIG_BLOCK, &s, NULL);
		me->arrived = 1;
		break;
	}
	default:
		me->arrived = 1;
		break;
	}
	for (;;) {
		while (sem_wait(&me->go) < 0)
			;
		int cmd = me->cmd;

		if (cmd == C_EXIT)
			return (void *)(uintptr_t)(0x5000 + idx);
		me->ok = run_cmd(me, idx, cmd) == 0;
		sem_post(&me->done);
	}
}

static void *detached_main(void *arg)
{
	(void)arg;
	set_tls(DET_IDX);
	det_tid_before = gettid_();
	while (!det_stop) {
		det_tid = gettid_();
		det_count++;
		msleep(2);
	}
	char why[160];

	det_exited = check_tls(DET_IDX, why, sizeof(why)) ? 2 : 1;
	return NULL;
}

static void *early_main(void *arg)
{
	(void)arg;
	early_tid_before = gettid_();
	return (void *)(uintptr_t)0xea51;
}

static volatile pid_t new_tid;
static volatile int new_tls_ok;

static void *new_main(void *arg)
{
	/* Fresh TLS: the initial image of .tdata, zeros for .tbss. */
	new_tls_ok = my_idx == -1 && tls_init == 0x1234567890abcdefULL && tls_zero == 0 &&
		     tls_arr[5] == 0;
	set_tls(NEW_IDX);
	new_tid = gettid_();
	return (void *)((uintptr_t)arg + 1);
}

/* Waits a bounded time for *p to become v. */
static int wait_int(volatile int *p, int v, double secs)
{
	double end = now() + secs;

	while (*p != v && now() < end)
		msleep(1);
	return *p == v;
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
		return -1;	/* "running" */
	return strtol(buf, NULL, 10);
}

static void wait_blocked(pid_t tid, const char *what)
{
	double end = now() + 10;
	long nr;

	while ((nr = blocked_in(tid)) < 0 && now() < end)
		msleep(1);
	CHECK(nr >= 0, "%s (tid %d) never blocked in a system call", what, (int)tid);
	/* Settle: a futex wait can be entered and left in a retry loop. */
	msleep(20);
	CHECK(blocked_in(tid) >= 0, "%s (tid %d) not blocked", what, (int)tid);
}

/* The sorted list of /proc/self/task. */
static int task_list(pid_t *out, int cap)
{
	char buf[8192];
	int n = 0;
	int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	CHECK(fd >= 0, "open /proc/self/task: %s", strerror(errno));
	long len;

	while ((len = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0)
		for (long off = 0; off < len;) {
			unsigned short reclen;
			const char *name = buf + off + 19;

			memcpy(&reclen, buf + off + 16, 2);
			off += reclen;
			if (*name >= '0' && *name <= '9' && n < cap)
				out[n++] = (pid_t)atoi(name);
		}
	close(fd);
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
			pid_t t = out[j];

			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

static void command(int idx, int cmd)
{
	struct timespec dl;

	w[idx].cmd = cmd;
	sem_post(&w[idx].go);
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 10;
	int r;

	while ((r = sem_timedwait(&w[idx].done, &dl)) < 0 && errno == EINTR)
		;
	CHECK(r == 0, "thread %s did not answer command %d: %s", role_name[idx], cmd,
	      strerror(errno));
	CHECK(w[idx].ok, "thread %s, command %d: %s", role_name[idx], cmd, w[idx].why);
}

int main(void)
{
	struct sigaction sa;
	pthread_attr_t det_attr;
	pthread_t det, early;
	pid_t pid_before = getpid(), tasks_before[64], tasks_after[64];
	int ntasks_before, ntasks_after;

	set_tls(MAIN_IDX);
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
	sa.sa_handler = on_usr2;
	sa.sa_flags = SA_RESTART;
	CHECK(sigaction(SIGUSR2, &sa, NULL) == 0, "sigaction");

	pthread_mutex_lock(&m);
	CHECK(pthread_barrier_init(&bar, NULL, 3) == 0, "barrier_init");
	CHECK(pthread_create(&early, NULL, early_main, NULL) == 0, "create");
	/* Exited, not joined: its descriptor's tid is 0 (clear_child_tid). */
	while (!early_tid_before)
		msleep(1);
	{
		char p[64];

		snprintf(p, sizeof(p), "/proc/self/task/%d", (int)early_tid_before);
		for (int i = 0; i < 5000 && access(p, F_OK) == 0; i++)
			msleep(1);
		CHECK(access(p, F_OK) != 0, "the early thread does not exit");
	}
	for (int i = 0; i < NW; i++) {
		sem_init(&w[i].go, 0, 0);
		sem_init(&w[i].done, 0, 0);
		if (i == R_WR)	/* after the readers hold the lock */
			CHECK(wait_int(&w[R_RD1].arrived, 1, 10) &&
				      wait_int(&w[R_RD2].arrived, 1, 10),
			      "readers do not get the read lock");
		CHECK(pthread_create(&w[i].th, NULL, worker_main, (void *)(intptr_t)i) == 0,
		      "pthread_create: %s", strerror(errno));
	}
	pthread_attr_init(&det_attr);
	pthread_attr_setdetachstate(&det_attr, PTHREAD_CREATE_DETACHED);
	CHECK(pthread_create(&det, &det_attr, detached_main, NULL) == 0, "create detached");
	for (int i = 0; i < NW; i++) {
		CHECK(wait_int(&w[i].arrived, 1, 10), "thread %s does not start", role_name[i]);
		wait_blocked(w[i].tid_before, role_name[i]);
	}
	while (!det_count)
		msleep(1);
	/* SIGUSR2 for one thread only, which blocks it. */
	CHECK(pthread_kill(w[R_SIG].th, SIGUSR2) == 0, "pthread_kill SIGUSR2");
	ntasks_before = task_list(tasks_before, 64);
	CHECK(ntasks_before == NW + 2, "%d threads before the checkpoint", ntasks_before);
	for (int i = 0; i < NW; i++)
		CHECK(!w[i].passed, "thread %s went through before the checkpoint",
		      role_name[i]);

	test_checkpoint();

	/* ---- ids ---- */
	CHECK(getpid() == pid_before, "getpid() %d, was %d", (int)getpid(), (int)pid_before);
	CHECK(gettid_() == pid_before, "main thread tid %d, pid %d", (int)gettid_(),
	      (int)pid_before);
	ntasks_after = task_list(tasks_after, 64);
	CHECK(ntasks_after == ntasks_before, "%d threads after the restart, %d before",
	      ntasks_after, ntasks_before);
	for (int i = 0; i < ntasks_after; i++)
		CHECK(tasks_after[i] == tasks_before[i],
		      "thread ids changed: /proc/self/task has %d where it had %d",
		      (int)tasks_after[i], (int)tasks_before[i]);
	{
		char why[160];

		CHECK(check_tls(MAIN_IDX, why, sizeof(why)) == 0, "main thread: %s", why);
	}

	/* ---- nothing went through its wait on its own ---- */
	msleep(200);
	for (int i = 0; i < NW; i++)
		CHECK(!w[i].passed, "thread %s went through its wait after the restart on its own",
		      role_name[i]);
	CHECK(cond_returns == 0, "pthread_cond_wait returned %d times unsignalled",
	      cond_returns);

	/* ---- the mutex ---- */
	CHECK(pthread_mutex_unlock(&m) == 0, "main cannot unlock the mutex it held");
	CHECK(wait_int(&w[R_MUTEX].passed, 1, 10),
	      "the thread blocked on the mutex does not get it after the unlock");

	/* ---- the condition variable ---- */
	pthread_mutex_lock(&cm);
	cond_pred = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&cm);
	CHECK(wait_int(&w[R_COND].passed, 1, 10),
	      "pthread_cond_signal does not wake the waiter");
	CHECK(cond_returns == 1, "pthread_cond_wait returned %d times for one signal",
	      cond_returns);

	/* ---- the barrier ---- */
	int r = pthread_barrier_wait(&bar);

	if (r == PTHREAD_BARRIER_SERIAL_THREAD)
		__atomic_add_fetch(&bar_serial, 1, __ATOMIC_SEQ_CST);
	else
		CHECK(r == 0, "pthread_barrier_wait: %d", r);
	CHECK(wait_int(&w[R_BAR1].passed, 1, 10) && wait_int(&w[R_BAR2].passed, 1, 10),
	      "the barrier does not let its waiters go");
	CHECK(!bar_ret_bad, "pthread_barrier_wait returned %d in a waiter", bar_ret_bad);
	CHECK(bar_serial == 1, "%d serial threads at the barrier", bar_serial);

	/* ---- the rwlock ---- */
	CHECK(pthread_rwlock_trywrlock(&rw) == EBUSY, "rwlock not read-locked any more");
	command(R_RD1, C_RDUNLOCK);
	msleep(100);
	CHECK(!w[R_WR].passed, "the writer got the lock with a reader still in");
	command(R_RD2, C_RDUNLOCK);
	CHECK(wait_int(&w[R_WR].passed, 1, 10), "the writer does not get the rwlock");
	CHECK(writer_saw_readers_out == 2, "the writer got in with %d readers out",
	      writer_saw_readers_out);

	/* ---- ids, TLS and names, per thread ---- */
	for (int i = 0; i < NW; i++)
		command(i, C_CHECK);
	/* (Each is back in its command loop: the locks are free.) */
	CHECK(pthread_mutex_trylock(&m) == 0, "mutex not free after its waiter left");
	pthread_mutex_unlock(&m);
	CHECK(pthread_rwlock_trywrlock(&rw) == 0, "rwlock not free at the end");
	pthread_rwlock_unlock(&rw);

	/* ---- the thread-directed SIGUSR2, still pending for its thread only ---- */
	{
		sigset_t p;

		sigpending(&p);
		CHECK(!sigismember(&p, SIGUSR2), "SIGUSR2 pending for the main thread");
		command(R_SIG, C_USR2);
		CHECK(usr2_count[MAIN_IDX] == 0, "SIGUSR2 ran in the main thread");
	}

	/* ---- pthread_kill to each thread ---- */
	for (int i = 0; i < NW; i++) {
		CHECK(pthread_kill(w[i].th, SIGUSR1) == 0, "pthread_kill %s: %s",
		      role_name[i], strerror(errno));
		CHECK(wait_int(&usr1_count[i], 1, 10), "SIGUSR1 never handled by %s",
		      role_name[i]);
		CHECK(usr1_tid[i] == w[i].tid_before,
		      "SIGUSR1 for %s (tid %d) handled in tid %d", role_name[i],
		      (int)w[i].tid_before, (int)usr1_tid[i]);
	}
	CHECK(pthread_kill(pthread_self(), SIGUSR1) == 0 && usr1_count[MAIN_IDX] == 1 &&
		      usr1_tid[MAIN_IDX] == pid_before,
	      "SIGUSR1 to the main thread handled %d times in tid %d",
	      usr1_count[MAIN_IDX], (int)usr1_tid[MAIN_IDX]);
	CHECK(pthread_kill(det, SIGUSR1) == 0, "pthread_kill detached: %s", strerror(errno));
	CHECK(wait_int(&usr1_count[DET_IDX], 1, 10) && usr1_tid[DET_IDX] == det_tid_before,
	      "SIGUSR1 for the detached thread (tid %d) handled %d times in tid %d",
	      (int)det_tid_before, usr1_count[DET_IDX], (int)usr1_tid[DET_IDX]);
	CHECK(!usr1_code_bad, "SIGUSR1 siginfo was not SI_TKILL from this process");
	for (int i = 0; i < NSLOTS; i++)
		CHECK(usr2_count[i] == (i == R_SIG), "SIGUSR2 handled %d times in slot %d",
		      usr2_count[i], i);

	/* ---- a mutex under contention ---- */
	for (int i = 0; i < NW; i++) {
		w[i].cmd = C_COUNT;
		sem_post(&w[i].go);
	}
	for (int i = 0; i < NW; i++) {
		struct timespec dl;

		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 30;
		CHECK(sem_timedwait(&w[i].done, &dl) == 0, "counting in %s does not end",
		      role_name[i]);
	}
	CHECK(counter == (long)NW * COUNT_ROUNDS, "counter %ld, expected %ld", counter,
	      (long)NW * COUNT_ROUNDS);

	/* ---- a thread created after the restart ---- */
	pthread_t nt;
	void *ret;

	CHECK(pthread_create(&nt, NULL, new_main, (void *)(uintptr_t)41) == 0,
	      "pthread_create after the restart: %s", strerror(errno));
	CHECK(pthread_join(nt, &ret) == 0 && ret == (void *)(uintptr_t)42,
	      "join of the new thread: %p", ret);
	CHECK(new_tls_ok, "the new thread's TLS did not start from the initial image");
	CHECK(new_tid > 0 && new_tid != pid_before, "the new thread's tid is %d", (int)new_tid);

	/* ---- the detached thread ---- */
	CHECK(det_tid == det_tid_before, "detached thread tid %d, was %d", (int)det_tid,
	      (int)det_tid_before);
	long c0 = det_count;

	msleep(100);
	CHECK(det_count > c0, "the detached thread stopped counting after the restart");
	det_stop = 1;
	CHECK(wait_int(&det_exited, 1, 10), "the detached thread does not end well (%d)",
	      det_exited);

	/* ---- join everyone ---- */
	CHECK(pthread_join(early, &ret) == 0 && ret == (void *)(uintptr_t)0xea51,
	      "join of the thread that exited before the checkpoint: %p", ret);
	for (int i = 0; i < NW; i++) {
		w[i].cmd = C_EXIT;
		sem_post(&w[i].go);
		CHECK(pthread_join(w[i].th, &ret) == 0, "join %s", role_name[i]);
		CHECK(ret == (void *)(uintptr_t)(0x5000 + i), "%s returned %p", role_name[i],
		      ret);
	}
	/* Only the main thread is left, once the detached one is gone. */
	for (int i = 0; i < 2000 && task_list(tasks_after, 64) != 1; i++)
		msleep(1);
	CHECK(task_list(tasks_after, 64) == 1, "%d threads left at the end",
	      task_list(tasks_after, 64));
	pass();
}

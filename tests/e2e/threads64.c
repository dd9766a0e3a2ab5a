/*
 * threads64 - 64 threads, three generations (issue 3).
 *
 * Each thread has its own state: __thread variables, an array on its
 * stack, a block from malloc (glibc gives threads their own arenas), a
 * counter in a local variable; half run on 256 KiB stacks of their own
 * size. A quarter of them are "spinners" that compute (integer and
 * floating point, in registers) for a while when asked. Each generation:
 *
 *   1. every thread checks and rewrites its state (a "verify" round);
 *   2. the spinners are started and the main thread takes the checkpoint
 *      at once: spinners are stopped mid-computation, the others are
 *      anywhere between the round's condition variable and its wait;
 *   3. after the restart: the spinners' results equal the main thread's
 *      own computation of them, getpid() and every thread's gettid() are
 *      what they were, /proc/self/task lists exactly the live threads,
 *      and another verify round passes;
 *   4. 16 threads exit (joined, each with its own return value) and 16 new
 *      ones are created, so each image holds threads the previous one did
 *      not.
 *
 * test_checkpoint() is called three times (the second with
 * SELFCKPT_NO_FORK: the image written in place while every thread waits;
 * the others by the default copy-on-write child while they run); at the
 * end every thread is joined.
 */
#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>

#include "zdtm.h"

#define NSTART 64
#define MAXT (NSTART + 32)
#define GENS 3
#define TURNOVER 16
#define STK_WORDS 512
#define SPIN_STEPS 4000000L

enum { ROUND_VERIFY = 1, ROUND_SPIN, ROUND_EXIT };

struct th {
	pthread_t th;
	int idx;
	volatile pid_t tid;
	volatile int alive;		/* created and not joined */
	volatile int exit_req;
	volatile int versions;		/* verify rounds done (by the thread) */
	uint64_t *heap;
	size_t heap_words;
	volatile uint64_t spin_z;
	double spin_f;
	volatile int spin_done;
	volatile int bad;
	char why[200];
};

static struct th T[MAXT];
static pthread_mutex_t mx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv_go = PTHREAD_COND_INITIALIZER, cv_done = PTHREAD_COND_INITIALIZER;
static int round_no, round_kind, done_count;

static __thread uint64_t tls_a = 0x7777;
static __thread uint32_t tls_buf[64];
static __thread int tls_idx = -1;

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

static uint64_t pat(int idx, int j, int v)
{
	uint64_t z = ((uint64_t)idx << 40) ^ ((uint64_t)j << 8) ^ (uint64_t)v * 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 31)) * 0xbf58476d1ce4e5b9ULL;
	return z ^ (z >> 29);
}

/* Deterministic work in registers, integer and floating point. */
static uint64_t spin(uint64_t z, long steps, double *f)
{
	double d = 1.0;

	for (long i = 0; i < steps; i++) {
		z ^= z << 13;
		z ^= z >> 7;
		z ^= z << 17;
		d = d * 1.0000001 + (double)(z & 0xff) * 1e-9;
	}
	*f = d;
	return z;
}

static uint64_t spin_seed(int idx)
{
	return pat(idx, 4242, 7) | 1;
}

static int is_spinner(int idx)
{
	return idx % 4 == 0;
}

/* Check the state of version v, then write version v + 1. */
static int verify_and_bump(struct th *me, uint64_t *stk, int v)
{
	int idx = me->idx;

	if (gettid_() != me->tid)
		return snprintf(me->why, sizeof(me->why), "gettid() %d, was %d",
				(int)gettid_(), (int)me->tid), -1;
	if (tls_idx != idx || tls_a != pat(idx, -1, v))
		return snprintf(me->why, sizeof(me->why), "TLS: idx %d, value %llx (version %d)",
				tls_idx, (unsigned long long)tls_a, v), -1;
	for (int j = 0; j < 64; j++)
		if (tls_buf[j] != (uint32_t)pat(idx, -2 - j, v))
			return snprintf(me->why, sizeof(me->why), "TLS array [%d], version %d", j,
					v), -1;
	for (int j = 0; j < STK_WORDS; j++)
		if (stk[j] != pat(idx, j, v))
			return snprintf(me->why, sizeof(me->why), "stack word %d, version %d", j,
					v), -1;
	for (size_t j = 0; j < me->heap_words; j++)
		if (me->heap[j] != pat(idx, (int)j + 100000, v))
			return snprintf(me->why, sizeof(me->why), "heap word %zu, version %d", j,
					v), -1;
	v++;
	tls_a = pat(idx, -1, v);
	for (int j = 0; j < 64; j++)
		tls_buf[j] = (uint32_t)pat(idx, -2 - j, v);
	for (int j = 0; j < STK_WORDS; j++)
		stk[j] = pat(idx, j, v);
	for (size_t j = 0; j < me->heap_words; j++)
		me->heap[j] = pat(idx, (int)j + 100000, v);
	return 0;
}

static void report_done(void)
{
	pthread_mutex_lock(&mx);
	done_count++;
	pthread_cond_signal(&cv_done);
	pthread_mutex_unlock(&mx);
}

static void *thread_main(void *arg)
{
	struct th *me = arg;
	uint64_t stk[STK_WORDS];
	int seen, v = 0;	/* v: a local that must survive too */

	tls_idx = me->idx;
	me->tid = gettid_();
	me->heap_words = 2048 + (size_t)me->idx * 64;
	me->heap = malloc(me->heap_words * sizeof(uint64_t));
	CHECK(me->heap, "malloc");
	/* Version 0 of everything. */
	tls_a = pat(me->idx, -1, 0);
	for (int j = 0; j < 64; j++)
		tls_buf[j] = (uint32_t)pat(me->idx, -2 - j, 0);
	for (int j = 0; j < STK_WORDS; j++)
		stk[j] = pat(me->idx, j, 0);
	for (size_t j = 0; j < me->heap_words; j++)
		me->heap[j] = pat(me->idx, (int)j + 100000, 0);
	pthread_mutex_lock(&mx);
	seen = round_no;
	pthread_mutex_unlock(&mx);
	report_done();
	for (;;) {
		int kind;

		pthread_mutex_lock(&mx);
		while (round_no == seen)
			pthread_cond_wait(&cv_go, &mx);
		seen = round_no;
		kind = round_kind;
		pthread_mutex_unlock(&mx);
		switch (kind) {
		case ROUND_VERIFY:
			if (v != me->versions) {
				snprintf(me->why, sizeof(me->why), "local counter %d, shared %d", v,
					 me->versions);
				me->bad = 1;
			} else if (!me->bad && verify_and_bump(me, stk, v) == 0) {
				v++;
				me->versions = v;
			} else {
				me->bad = 1;
			}
			break;
		case ROUND_SPIN:
			if (is_spinner(me->idx)) {
				double f;

				me->spin_z = spin(spin_seed(me->idx), SPIN_STEPS, &f);
				me->spin_f = f;
				me->spin_done = 1;
			}
			break;
		case ROUND_EXIT:
			if (me->exit_req) {
				free(me->heap);
				return (void *)(uintptr_t)(0x64000 + me->idx);
			}
			break;
		}
		report_done();
	}
}

static int nalive(void)
{
	int n = 0;

	for (int i = 0; i < MAXT; i++)
		n += T[i].alive;
	return n;
}

static void start_round(int kind)
{
	pthread_mutex_lock(&mx);
	round_no++;
	round_kind = kind;
	done_count = 0;
	pthread_cond_broadcast(&cv_go);
	pthread_mutex_unlock(&mx);
}

static void wait_done(int n, const char *what)
{
	struct timespec dl;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 60;
	pthread_mutex_lock(&mx);
	while (done_count < n && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&cv_done, &mx, &dl);
	int got = done_count;

	pthread_mutex_unlock(&mx);
	CHECK(got >= n, "%s: %d of %d threads answered", what, got, n);
}

static void create(int idx)
{
	pthread_attr_t a;

	pthread_attr_init(&a);
	if (idx % 2)
		pthread_attr_setstacksize(&a, 256 << 10);
	T[idx].idx = idx;
	pthread_mutex_lock(&mx);
	done_count = 0;
	pthread_mutex_unlock(&mx);
	CHECK(pthread_create(&T[idx].th, &a, thread_main, &T[idx]) == 0,
	      "pthread_create %d: %s", idx, strerror(errno));
	T[idx].alive = 1;
	pthread_attr_destroy(&a);
	wait_done(1, "a new thread");
}

static void verify_round(const char *when)
{
	start_round(ROUND_VERIFY);
	wait_done(nalive(), when);
	for (int i = 0; i < MAXT; i++)
		CHECK(!T[i].alive || !T[i].bad, "%s: thread %d: %s", when, i, T[i].why);
}

static int count_tasks(void)
{
	char buf[16384];
	int n = 0, fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	long len;

	CHECK(fd >= 0, "open /proc/self/task");
	while ((len = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0)
		for (long off = 0; off < len;) {
			unsigned short reclen;

			memcpy(&reclen, buf + off + 16, 2);
			if (buf[off + 19] >= '0' && buf[off + 19] <= '9')
				n++;
			off += reclen;
		}
	close(fd);
	return n;
}

static int cmp_pid(const void *a, const void *b)
{
	return *(const pid_t *)a - *(const pid_t *)b;
}

/* /proc/self/task must be exactly the main thread and the live ones. */
static void check_tasks(const char *when)
{
	pid_t want[MAXT + 1], have[MAXT + 8];
	int nw = 0, nh = 0;
	char buf[16384];
	long len;
	int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	CHECK(fd >= 0, "open /proc/self/task");
	while ((len = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0)
		for (long off = 0; off < len;) {
			unsigned short reclen;
			const char *name = buf + off + 19;

			memcpy(&reclen, buf + off + 16, 2);
			off += reclen;
			if (*name >= '0' && *name <= '9' && nh < MAXT + 8)
				have[nh++] = (pid_t)atoi(name);
		}
	close(fd);
	want[nw++] = getpid();
	for (int i = 0; i < MAXT; i++)
		if (T[i].alive)
			want[nw++] = T[i].tid;
	qsort(want, (size_t)nw, sizeof(pid_t), cmp_pid);
	qsort(have, (size_t)nh, sizeof(pid_t), cmp_pid);
	CHECK(nh == nw, "%s: %d threads in /proc/self/task, %d expected", when, nh, nw);
	for (int i = 0; i < nw; i++)
		CHECK(have[i] == want[i], "%s: /proc/self/task has thread %d, expected %d", when,
		      (int)have[i], (int)want[i]);
}

int main(void)
{
	pid_t pid = getpid();
	int next = NSTART;
	char when[64];

	for (int i = 0; i < NSTART; i++)
		create(i);
	for (int g = 0; g < GENS; g++) {
		pid_t tids[MAXT];

		snprintf(when, sizeof(when), "generation %d, before", g);
		verify_round(when);
		check_tasks(when);
		for (int i = 0; i < MAXT; i++) {
			tids[i] = T[i].tid;
			T[i].spin_done = 0;
		}
		/* Spinners start; the checkpoint stops them mid-way. */
		start_round(ROUND_SPIN);
#ifdef SELFCKPT_NO_FORK
		/* The second image is written in place, the others by a child. */
		long id = test_checkpoint_flags(SELFCKPT_NO_SYNC | (g == 1 ? SELFCKPT_NO_FORK : 0));
#else
		long id = test_checkpoint();
#endif

		snprintf(when, sizeof(when), "generation %d, after restart %ld", g, id);
		CHECK(id == g + 1 && selfckpt_generation() == (unsigned)g + 1,
		      "%s: checkpoint id %ld, generation %u", when, id, selfckpt_generation());
		CHECK(getpid() == pid, "%s: pid %d, was %d", when, (int)getpid(), (int)pid);
		int finished = 0;

		for (int i = 0; i < MAXT; i++)
			finished += T[i].alive && T[i].spin_done;
		wait_done(nalive(), when);
		int spinners = 0;

		for (int i = 0; i < MAXT; i++) {
			if (!T[i].alive || !is_spinner(i))
				continue;
			double f;
			uint64_t z = spin(spin_seed(i), SPIN_STEPS, &f);

			CHECK(T[i].spin_done && T[i].spin_z == z &&
				      memcmp(&f, &T[i].spin_f, sizeof(f)) == 0,
			      "%s: spinner %d computed %016llx %.17g, expected %016llx %.17g", when,
			      i, (unsigned long long)T[i].spin_z, T[i].spin_f,
			      (unsigned long long)z, f);
			spinners++;
		}
		check_tasks(when);
		verify_round(when);
		for (int i = 0; i < MAXT; i++)
			CHECK(!T[i].alive || T[i].tid == tids[i], "%s: thread %d has tid %d, had %d",
			      when, i, (int)T[i].tid, (int)tids[i]);
		test_log("%s: %d threads, %d spinners checked (%d had finished at the checkpoint)",
			 when, nalive(), spinners, finished);

		/* Turnover: some exit, new ones come. */
		int n = 0, stay;

		for (int i = 0; i < MAXT && n < TURNOVER; i++)
			if (T[i].alive && i >= g * TURNOVER) {
				T[i].exit_req = 1;
				n++;
			}
		stay = nalive() - n;
		start_round(ROUND_EXIT);
		wait_done(stay, "exit round");
		for (int i = 0; i < MAXT; i++) {
			void *ret;

			if (!T[i].alive || !T[i].exit_req)
				continue;
			CHECK(pthread_join(T[i].th, &ret) == 0, "join %d", i);
			CHECK(ret == (void *)(uintptr_t)(0x64000 + i), "thread %d returned %p", i,
			      ret);
			T[i].alive = 0;
		}
		if (g < GENS - 1)
			for (int k = 0; k < TURNOVER; k++)
				create(next++);
	}
	/* Everyone exits. */
	for (int i = 0; i < MAXT; i++)
		T[i].exit_req = 1;
	start_round(ROUND_EXIT);
	for (int i = 0; i < MAXT; i++) {
		void *ret;

		if (!T[i].alive)
			continue;
		CHECK(pthread_join(T[i].th, &ret) == 0 && ret == (void *)(uintptr_t)(0x64000 + i),
		      "final join %d: %p", i, ret);
		T[i].alive = 0;
	}
	/* A joined thread may linger in /proc for a moment. */
	for (int i = 0; i < 1000 && count_tasks() > 1; i++)
		msleep(1);
	check_tasks("the end");
	pass();
}

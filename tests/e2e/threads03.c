/*
 * threads03 - mutexes whose owner is a thread id survive a restart
 * (issue 3). glibc writes the owner's thread id into error-checking,
 * recursive and robust mutexes, and the kernel reads it from robust and
 * priority-inheritance ones; so these work after a restart only if the
 * ids are kept, or glibc's copies of them are updated and nothing holds
 * an old one. A thread that is not the main one takes the checkpoint
 * while, across it:
 *
 *   - a thread holds an error-checking mutex, and another waits for it in
 *     pthread_mutex_lock: after the restart the holder unlocks it (0, not
 *     EPERM) and the waiter gets it, as its owner;
 *   - a thread holds a recursive mutex twice: it unlocks it twice (0, 0),
 *     and a third unlock is EPERM;
 *   - a thread holds a robust mutex: it unlocks it (0);
 *   - a thread holds another robust mutex while a second thread waits for
 *     it in pthread_mutex_lock: after the restart the holder exits without
 *     unlocking, and the waiter gets EOWNERDEAD, makes it consistent and
 *     unlocks it (the kernel's robust-list walk at the holder's exit).
 *
 * Then, with mutexes used only after the restart: an error-checking mutex
 * (lock 0, relock EDEADLK, unlock by another thread EPERM, unlock 0, again
 * EPERM), a priority-inheritance mutex contended by two threads (the
 * kernel looks the owner up by the id in the lock word), a robust mutex
 * whose owner exits holding it (EOWNERDEAD for the next);
 * pthread_cancel of a thread blocked in sem_wait across the checkpoint
 * (joined: PTHREAD_CANCELED); and pthread_self, pthread_kill (the handler
 * runs in the thread it was sent to), pthread_getschedparam of every
 * thread (by its id). Then a second checkpoint from the same thread, and
 * after it the ids again (kept, or new again) and pthread_kill again;
 * last, pthread_join of every thread with its return value.
 *
 * By default (the runner: restart in namespaces) every process and thread
 * id must be what it was and everything above must hold. With
 * SCK_NEW_IDS=1 in the environment of the first run (tests/e2e/
 * threads-ids.sh restarts with --no-namespaces), every id must instead be
 * new, everything used only after the restart must hold, and the fate of
 * the mutexes held across the checkpoint is only reported, on one line
 * "info: held across: ..." that the script checks.
 */
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>

#include "zdtm.h"

enum { H_EC, H_REC, H_ROB, H_DIE, WT_EC, WT_ROB, G1, G2, CANC, NW };
static const char *wname[NW] = { "errorcheck holder", "recursive holder",
				  "robust holder", "robust holder that dies",
				  "errorcheck waiter", "robust waiter", "g1", "g2",
				  "cancelled" };
static sem_t never;	/* nobody posts it */

struct worker {
	pthread_t th;
	volatile pid_t tid_before, tid_after;
	sem_t go, done;
	void (*volatile fn)(int idx);
	volatile int arrived, passed;
	volatile int rc[4];
	volatile int owner_then;	/* an owner field seen by the thread */
};

static struct worker w[NW];
static pthread_mutex_t ec, rec, rob, rob2, ec2, pi, rob3;
static __thread int my_idx = -1;
static volatile pid_t usr1_tid[NW + 1];
static volatile int usr1_count[NW + 1];
static int new_ids;

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

static const char *ename(int e)
{
	static char buf[8][16];
	static int i;

	switch (e) {
	case 0: return "0";
	case EPERM: return "EPERM";
	case EDEADLK: return "EDEADLK";
	case EBUSY: return "EBUSY";
	case EOWNERDEAD: return "EOWNERDEAD";
	case ENOTRECOVERABLE: return "ENOTRECOVERABLE";
	case ETIMEDOUT: return "ETIMEDOUT";
	case ESRCH: return "ESRCH";
	case EINVAL: return "EINVAL";
	case -1: return "blocked";
	}
	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "E%d", e);
	return buf[i];
}

static void on_usr1(int sig)
{
	(void)sig;
	if (my_idx >= 0 && my_idx <= NW) {
		usr1_tid[my_idx] = gettid_();
		usr1_count[my_idx]++;
	}
}

static void init_mutex(pthread_mutex_t *m, int type, int robust, int proto)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, type);
	if (robust)
		pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (proto)
		pthread_mutexattr_setprotocol(&a, proto);
	CHECK(pthread_mutex_init(m, &a) == 0, "pthread_mutex_init");
	pthread_mutexattr_destroy(&a);
}

static void *worker_main(void *arg)
{
	int idx = (int)(intptr_t)arg;
	struct worker *me = &w[idx];

	my_idx = idx;
	me->tid_before = gettid_();
	me->rc[0] = me->rc[1] = me->rc[2] = me->rc[3] = -1;
	switch (idx) {
	case H_EC:
		CHECK(pthread_mutex_lock(&ec) == 0, "lock ec");
		break;
	case H_REC:
		CHECK(pthread_mutex_lock(&rec) == 0 && pthread_mutex_lock(&rec) == 0,
		      "lock rec twice");
		break;
	case H_ROB:
		CHECK(pthread_mutex_lock(&rob) == 0, "lock rob");
		break;
	case H_DIE:
		CHECK(pthread_mutex_lock(&rob2) == 0, "lock rob2");
		break;
	case WT_EC:
		me->arrived = 1;
		me->rc[0] = pthread_mutex_lock(&ec);
		me->owner_then = ec.__data.__owner;
		me->tid_after = gettid_();
		me->passed = 1;
		me->rc[1] = pthread_mutex_unlock(&ec);
		break;
	case CANC:
		me->arrived = 1;
		while (sem_wait(&never) < 0)	/* a cancellation point */
			;
		break;
	case WT_ROB:
		me->arrived = 1;
		me->rc[0] = pthread_mutex_lock(&rob2);
		me->passed = 1;
		if (me->rc[0] == EOWNERDEAD)
			me->rc[1] = pthread_mutex_consistent(&rob2);
		me->rc[2] = pthread_mutex_unlock(&rob2);
		break;
	}
	me->arrived = 1;
	for (;;) {
		while (sem_wait(&me->go) < 0)
			;
		me->fn(idx);
		sem_post(&me->done);
	}
}

/* Run fn in thread idx; wait for it (bounded) unless wait_secs is 0. */
static void run_in(int idx, void (*fn)(int), double wait_secs)
{
	w[idx].fn = fn;
	sem_post(&w[idx].go);
	if (wait_secs <= 0)
		return;
	struct timespec dl;
	int r;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += (time_t)wait_secs;
	while ((r = sem_timedwait(&w[idx].done, &dl)) < 0 && errno == EINTR)
		;
	CHECK(r == 0, "%s does not finish a command", wname[idx]);
}

static int wait_int(volatile int *p, int v, double secs)
{
	double end = now() + secs;

	while (*p != v && now() < end)
		msleep(1);
	return *p == v;
}

/* ---- commands ---- */

static long ckpt_id;
static volatile pid_t ckpt_tid_after;

static void c_checkpoint(int idx)
{
	(void)idx;
	ckpt_id = test_checkpoint();
	ckpt_tid_after = gettid_();
}

static void c_tid(int idx)
{
	w[idx].tid_after = gettid_();
	w[idx].rc[3] = pthread_equal(pthread_self(), w[idx].th);
}

static void c_unlock_ec(int idx)
{
	w[idx].owner_then = ec.__data.__owner;
	w[idx].rc[0] = pthread_mutex_unlock(&ec);
}

static void c_unlock_rec(int idx)
{
	w[idx].owner_then = rec.__data.__owner;
	w[idx].rc[0] = pthread_mutex_unlock(&rec);
	w[idx].rc[1] = pthread_mutex_unlock(&rec);
	w[idx].rc[2] = pthread_mutex_unlock(&rec);
}

static void c_unlock_rob(int idx)
{
	w[idx].owner_then = rob.__data.__owner;
	w[idx].rc[0] = pthread_mutex_unlock(&rob);
}

static void c_exit(int idx)
{
	pthread_exit((void *)(uintptr_t)(0x3000 + idx));
}

static volatile int ec2_lock, ec2_relock, ec2_other_unlock, ec2_unlock, ec2_unlock2;

static void c_ec2_lock(int idx)
{
	(void)idx;
	ec2_lock = pthread_mutex_lock(&ec2);
	ec2_relock = pthread_mutex_lock(&ec2);
}

static void c_ec2_other(int idx)
{
	(void)idx;
	ec2_other_unlock = pthread_mutex_unlock(&ec2);
}

static void c_ec2_unlock(int idx)
{
	(void)idx;
	ec2_unlock = pthread_mutex_unlock(&ec2);
	ec2_unlock2 = pthread_mutex_unlock(&ec2);
}

static volatile int pi_lock = -1, pi_unlock = -1, pi_other = -1, pi_other_unlock = -1;

static void c_pi_lock(int idx)
{
	(void)idx;
	pi_lock = pthread_mutex_lock(&pi);
}

static void c_pi_unlock(int idx)
{
	(void)idx;
	pi_unlock = pthread_mutex_unlock(&pi);
}

static void c_pi_contend(int idx)
{
	struct timespec dl;

	(void)idx;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 5;
	pi_other = pthread_mutex_timedlock(&pi, &dl);
	if (pi_other == 0)
		pi_other_unlock = pthread_mutex_unlock(&pi);
}

static void c_rob3_die(int idx)
{
	CHECK(pthread_mutex_lock(&rob3) == 0, "lock rob3");
	pthread_exit((void *)(uintptr_t)(0x3000 + idx));
}

/* ---- main ---- */

static void held_across(char *line, size_t len)
{
	/* The holders unlock. */
	run_in(H_EC, c_unlock_ec, 10);
	run_in(H_REC, c_unlock_rec, 10);
	run_in(H_ROB, c_unlock_rob, 10);
	/* The dying holder exits holding rob2. */
	run_in(H_DIE, c_exit, 0);
	CHECK(pthread_join(w[H_DIE].th, NULL) == 0, "join the dying holder");
	/* Give the waiters time to get their mutexes. */
	wait_int(&w[WT_EC].passed, 1, 2);
	wait_int(&w[WT_ROB].passed, 1, 2);
	msleep(50);
	snprintf(line, len,
		 "errorcheck-unlock=%s recursive-unlocks=%s,%s,%s robust-unlock=%s errorcheck-waiter=%s robust-waiter=%s,%s,%s",
		 ename(w[H_EC].rc[0]), ename(w[H_REC].rc[0]), ename(w[H_REC].rc[1]),
		 ename(w[H_REC].rc[2]), ename(w[H_ROB].rc[0]),
		 w[WT_EC].passed ? ename(w[WT_EC].rc[0]) : "blocked",
		 w[WT_ROB].passed ? ename(w[WT_ROB].rc[0]) : "blocked",
		 ename(w[WT_ROB].rc[1]), ename(w[WT_ROB].rc[2]));
	test_log("held across: %s", line);
	test_log("owner fields then: errorcheck %d (holder's tid %d, was %d), recursive %d (%d, was %d), robust %d (%d, was %d)",
		 w[H_EC].owner_then, (int)w[H_EC].tid_after, (int)w[H_EC].tid_before,
		 w[H_REC].owner_then, (int)w[H_REC].tid_after, (int)w[H_REC].tid_before,
		 w[H_ROB].owner_then, (int)w[H_ROB].tid_after, (int)w[H_ROB].tid_before);
}

int main(void)
{
	struct sigaction sa;
	pid_t pid_before = getpid();
	const char *e = getenv("SCK_NEW_IDS");
	char held[512];
	void *ret;

	new_ids = e && !strcmp(e, "1");
	my_idx = NW;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
	init_mutex(&ec, PTHREAD_MUTEX_ERRORCHECK, 0, 0);
	init_mutex(&ec2, PTHREAD_MUTEX_ERRORCHECK, 0, 0);
	init_mutex(&rec, PTHREAD_MUTEX_RECURSIVE, 0, 0);
	init_mutex(&rob, PTHREAD_MUTEX_NORMAL, 1, 0);
	init_mutex(&rob2, PTHREAD_MUTEX_NORMAL, 1, 0);
	init_mutex(&rob3, PTHREAD_MUTEX_ERRORCHECK, 1, 0);
	init_mutex(&pi, PTHREAD_MUTEX_ERRORCHECK, 0, PTHREAD_PRIO_INHERIT);
	sem_init(&never, 0, 0);

	for (int i = 0; i < NW; i++) {
		sem_init(&w[i].go, 0, 0);
		sem_init(&w[i].done, 0, 0);
		CHECK(pthread_create(&w[i].th, NULL, worker_main, (void *)(intptr_t)i) == 0,
		      "pthread_create: %s", strerror(errno));
		/* Holders first, then the waiters. */
		CHECK(wait_int(&w[i].arrived, 1, 10), "%s does not start", wname[i]);
	}
	/* The waiters are blocked in pthread_mutex_lock (a futex wait). */
	msleep(100);
	CHECK(!w[WT_EC].passed && !w[WT_ROB].passed, "a waiter got a held mutex");

	/* The checkpoint, from a thread that is not the main one. */
	w[G1].fn = c_checkpoint;
	sem_post(&w[G1].go);
	while (sem_wait(&w[G1].done) < 0)
		;

	/* ---- ids ---- */
	CHECK(ckpt_id == 1, "checkpoint id %ld", ckpt_id);
	for (int i = 0; i < NW; i++)
		if (i != H_DIE && i != WT_EC && i != WT_ROB && i != G1 && i != CANC)
			run_in(i, c_tid, 10);
	w[G1].tid_after = ckpt_tid_after;
	w[H_DIE].tid_after = -1;
	int kept = 0, changed = 0;

	for (int i = 0; i < NW; i++) {
		if (i == H_DIE || i == WT_EC || i == WT_ROB || i == CANC)
			continue;
		kept += w[i].tid_after == w[i].tid_before;
		changed += w[i].tid_after != w[i].tid_before;
		if (i != G1)
			CHECK(w[i].rc[3], "pthread_self() of %s changed", wname[i]);
	}
	test_log("pid %d (was %d); thread ids: %d kept, %d changed", (int)getpid(),
		 (int)pid_before, kept, changed);
	if (new_ids) {
		CHECK(getpid() != pid_before, "still pid %d after a restart with new ids",
		      (int)pid_before);
		CHECK(kept == 0, "%d thread ids kept after a restart with new ids", kept);
	} else {
		CHECK(getpid() == pid_before, "getpid() %d, was %d", (int)getpid(),
		      (int)pid_before);
		CHECK(changed == 0, "%d thread ids changed", changed);
	}
	CHECK(gettid_() == getpid(), "main thread id %d, pid %d", (int)gettid_(),
	      (int)getpid());

	/* ---- the mutexes held across the checkpoint ---- */
	held_across(held, sizeof(held));
	if (!new_ids) {
		CHECK(w[H_EC].rc[0] == 0, "held error-checking mutex: unlock %s",
		      ename(w[H_EC].rc[0]));
		CHECK(w[H_REC].rc[0] == 0 && w[H_REC].rc[1] == 0 && w[H_REC].rc[2] == EPERM,
		      "held recursive mutex: unlocks %s %s %s", ename(w[H_REC].rc[0]),
		      ename(w[H_REC].rc[1]), ename(w[H_REC].rc[2]));
		CHECK(w[H_ROB].rc[0] == 0, "held robust mutex: unlock %s",
		      ename(w[H_ROB].rc[0]));
		CHECK(w[WT_EC].passed && w[WT_EC].rc[0] == 0 &&
			      w[WT_EC].owner_then == w[WT_EC].tid_after && w[WT_EC].rc[1] == 0,
		      "error-checking waiter: %s, owner %d (it is %d), unlock %s",
		      w[WT_EC].passed ? ename(w[WT_EC].rc[0]) : "blocked",
		      w[WT_EC].owner_then, (int)w[WT_EC].tid_after, ename(w[WT_EC].rc[1]));
		CHECK(w[WT_ROB].passed && w[WT_ROB].rc[0] == EOWNERDEAD &&
			      w[WT_ROB].rc[1] == 0 && w[WT_ROB].rc[2] == 0,
		      "robust waiter after its owner died: %s, consistent %s, unlock %s",
		      w[WT_ROB].passed ? ename(w[WT_ROB].rc[0]) : "blocked",
		      ename(w[WT_ROB].rc[1]), ename(w[WT_ROB].rc[2]));
	}

	/* ---- an error-checking mutex used after the restart ---- */
	run_in(G1, c_ec2_lock, 10);
	run_in(G2, c_ec2_other, 10);
	run_in(G1, c_ec2_unlock, 10);
	CHECK(ec2_lock == 0 && ec2_relock == EDEADLK && ec2_other_unlock == EPERM &&
		      ec2_unlock == 0 && ec2_unlock2 == EPERM,
	      "error-checking mutex after the restart: lock %s, relock %s, other's unlock %s, unlock %s, again %s",
	      ename(ec2_lock), ename(ec2_relock), ename(ec2_other_unlock), ename(ec2_unlock),
	      ename(ec2_unlock2));

	/* ---- a priority-inheritance mutex, contended ---- */
	run_in(G1, c_pi_lock, 10);
	CHECK(pi_lock == 0, "PI mutex lock: %s", ename(pi_lock));
	run_in(G2, c_pi_contend, 0);
	msleep(100);
	CHECK(pi_other == -1, "PI mutex: the second thread did not wait: %s",
	      ename(pi_other));
	run_in(G1, c_pi_unlock, 10);
	{
		struct timespec dl;

		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 10;
		CHECK(sem_timedwait(&w[G2].done, &dl) == 0, "PI contender does not finish");
	}
	CHECK(pi_unlock == 0 && pi_other == 0 && pi_other_unlock == 0,
	      "PI mutex after the restart: unlock %s, the waiter's lock %s and unlock %s",
	      ename(pi_unlock), ename(pi_other), ename(pi_other_unlock));

	/* ---- pthread_cancel (SIGCANCEL, by thread id) of a blocked thread ---- */
	CHECK(pthread_cancel(w[CANC].th) == 0, "pthread_cancel");
	CHECK(pthread_join(w[CANC].th, &ret) == 0 && ret == PTHREAD_CANCELED,
	      "join of the cancelled thread: %p", ret);

	/* ---- pthread_kill and pthread_getschedparam, by thread id ---- */
	for (int i = 0; i < NW; i++) {
		struct sched_param sp;
		int pol;

		if (i == H_DIE || i == CANC || (i == WT_EC && !w[WT_EC].passed) ||
		    (i == WT_ROB && !w[WT_ROB].passed))
			continue;
		if (i == WT_EC || i == WT_ROB)
			run_in(i, c_tid, 10);
		CHECK(pthread_getschedparam(w[i].th, &pol, &sp) == 0,
		      "pthread_getschedparam(%s) fails", wname[i]);
		CHECK(pthread_kill(w[i].th, SIGUSR1) == 0, "pthread_kill(%s): %s", wname[i],
		      strerror(errno));
		CHECK(wait_int(&usr1_count[i], 1, 10) && usr1_tid[i] == w[i].tid_after,
		      "SIGUSR1 to %s (tid %d) handled %d times in tid %d", wname[i],
		      (int)w[i].tid_after, usr1_count[i], (int)usr1_tid[i]);
	}

	/* ---- a robust mutex whose owner dies after the restart ---- */
	run_in(G2, c_rob3_die, 0);
	CHECK(pthread_join(w[G2].th, &ret) == 0 && ret == (void *)(uintptr_t)(0x3000 + G2),
	      "join g2: %p", ret);
	{
		struct timespec dl;
		int r;

		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 3;
		r = pthread_mutex_timedlock(&rob3, &dl);
		CHECK(r == EOWNERDEAD, "robust mutex whose owner died after the restart: %s",
		      ename(r));
		CHECK(pthread_mutex_consistent(&rob3) == 0 && pthread_mutex_unlock(&rob3) == 0,
		      "robust mutex: consistent/unlock");
	}

	/* ---- a second generation: ids again, signals again ---- */
	pid_t pid1 = getpid(), tids1[NW];
	int live[NW] = { 0 };

	for (int i = 0; i < NW; i++) {
		live[i] = i != H_DIE && i != G2 && i != CANC &&
			  !((i == WT_EC && !w[WT_EC].passed) || (i == WT_ROB && !w[WT_ROB].passed));
		tids1[i] = w[i].tid_after;
	}
	w[G1].fn = c_checkpoint;
	sem_post(&w[G1].go);
	while (sem_wait(&w[G1].done) < 0)
		;
	CHECK(ckpt_id == 2 && selfckpt_generation() == 2, "second checkpoint: id %ld, generation %u",
	      ckpt_id, selfckpt_generation());
	CHECK(new_ids ? getpid() != pid1 : getpid() == pid_before,
	      "second generation: pid %d, was %d", (int)getpid(), (int)pid1);
	for (int i = 0; i < NW; i++) {
		if (!live[i])
			continue;
		if (i == G1)
			w[i].tid_after = ckpt_tid_after;
		else
			run_in(i, c_tid, 10);
		CHECK(new_ids ? w[i].tid_after != tids1[i] : w[i].tid_after == w[i].tid_before,
		      "second generation: %s has tid %d, had %d", wname[i], (int)w[i].tid_after,
		      (int)tids1[i]);
		usr1_count[i] = 0;
		CHECK(pthread_kill(w[i].th, SIGUSR1) == 0, "pthread_kill(%s): %s", wname[i],
		      strerror(errno));
		CHECK(wait_int(&usr1_count[i], 1, 10) && usr1_tid[i] == w[i].tid_after,
		      "second generation: SIGUSR1 to %s (tid %d) handled %d times in tid %d",
		      wname[i], (int)w[i].tid_after, usr1_count[i], (int)usr1_tid[i]);
	}
	test_log("second generation: pid %d", (int)getpid());

	/* ---- join the others ---- */
	for (int i = 0; i < NW; i++) {
		if (!live[i])
			continue;	/* dead, or (only with new ids) left blocked */
		run_in(i, c_exit, 0);
		CHECK(pthread_join(w[i].th, &ret) == 0 && ret == (void *)(uintptr_t)(0x3000 + i),
		      "join %s: %p", wname[i], ret);
	}
	pass();
}

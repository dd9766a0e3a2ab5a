/*
 * sigpending01 - signals pending at the checkpoint, standard and real-time,
 * for the process and for single threads, are pending after the restart
 * with their siginfo, in their order, for the same targets, and are
 * delivered (issue 5). The checkpointed process keeps them too.
 *
 * Two threads, main and worker, block SIGUSR1, SIGUSR2, SIGWINCH and
 * SIGRTMIN+3..5. Pending then:
 *
 *   for the process:  SIGUSR1 (kill: SI_USER), SIGRTMIN+3 three times
 *                     (sigqueue: SI_QUEUE, values 11, 12, 13), SIGRTMIN+4
 *                     (value 21);
 *   for the worker:   SIGUSR1 (pthread_kill: SI_TKILL) - so SIGUSR1 is
 *                     pending in both queues -, SIGUSR2 (SI_TKILL),
 *                     SIGRTMIN+3 twice (pthread_sigqueue: values 31, 32),
 *                     which the process's queue has too;
 *   for main:         SIGWINCH (SI_TKILL), SIGRTMIN+5 (value 41).
 *
 * Checked in each thread (expect()): /proc/thread-self/status shows
 * exactly these masks (SigPnd its own, ShdPnd the process's); then it
 * dequeues with sigtimedwait, which takes from the thread's own queue
 * first (the raw system call: glibc's shows SI_TKILL as SI_USER): the
 * worker gets SIGUSR1 SI_TKILL then SI_USER, SIGUSR2,
 * SIGRTMIN+3 with values 31, 32, 11, 12, 13 in that order, SIGRTMIN+4 21;
 * main gets SIGWINCH, and SIGRTMIN+5 41 through its SA_SIGINFO handler
 * once it unblocks it; every si_pid is ours; then nothing is pending.
 *
 *   1. in the checkpointed process: after a checkpoint taken by main into
 *      a second image (never restarted), everything is still pending as
 *      it was: the checkpoint took the signals out to read their siginfo
 *      and put them back;
 *   2. the same signals again, and the worker takes the checkpoint (so the
 *      main thread takes the process's signals in the stop handler); after
 *      the restart, everything is pending as it was, and delivered.
 */
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>

#include "zdtm.h"

static pthread_t main_th, worker_th;
static pid_t main_tid, worker_tid;
static sem_t to_worker, to_main;
static volatile int worker_cmd;		/* 1 check, 2 checkpoint, 3 exit */
static volatile int worker_ok;
static char worker_why[256];
static volatile int rt5_count, rt5_value, rt5_code;
static volatile pid_t rt5_tid;

enum { CMD_CHECK = 1, CMD_CHECKPOINT, CMD_EXIT };

static int RT3, RT4, RT5;

static void on_rt5(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	rt5_count++;
	rt5_value = si->si_value.sival_int;
	rt5_code = si->si_code;
	rt5_tid = (pid_t)syscall(SYS_gettid);
}

static void blocked_set(sigset_t *s)
{
	sigemptyset(s);
	sigaddset(s, SIGUSR1);
	sigaddset(s, SIGUSR2);
	sigaddset(s, SIGWINCH);
	sigaddset(s, RT3);
	sigaddset(s, RT4);
	sigaddset(s, RT5);
}

static uint64_t bit(int sig)
{
	return 1ULL << (sig - 1);
}

/* Make the signals pending, as the header says. */
static void make_pending(void)
{
	union sigval v;

	CHECK(kill(getpid(), SIGUSR1) == 0, "kill: %s", strerror(errno));
	for (int i = 11; i <= 13; i++) {
		v.sival_int = i;
		CHECK(sigqueue(getpid(), RT3, v) == 0, "sigqueue: %s", strerror(errno));
	}
	v.sival_int = 21;
	CHECK(sigqueue(getpid(), RT4, v) == 0, "sigqueue: %s", strerror(errno));
	CHECK(pthread_kill(worker_th, SIGUSR1) == 0, "pthread_kill");
	CHECK(pthread_kill(worker_th, SIGUSR2) == 0, "pthread_kill");
	for (int i = 31; i <= 32; i++) {
		v.sival_int = i;
		CHECK(pthread_sigqueue(worker_th, RT3, v) == 0, "pthread_sigqueue");
	}
	CHECK(pthread_kill(main_th, SIGWINCH) == 0, "pthread_kill");
	v.sival_int = 41;
	CHECK(pthread_sigqueue(main_th, RT5, v) == 0, "pthread_sigqueue");
}

/* SigPnd and ShdPnd of this thread, from the kernel. */
static int masks(uint64_t *own, uint64_t *shd, char *why, size_t n)
{
	char buf[4096], *p;
	int fd = open("/proc/thread-self/status", O_RDONLY);
	ssize_t len = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (len <= 0) {
		snprintf(why, n, "cannot read /proc/thread-self/status");
		return -1;
	}
	buf[len] = '\0';
	p = strstr(buf, "SigPnd:");
	*own = p ? strtoull(p + 7, NULL, 16) : ~0ULL;
	p = strstr(buf, "ShdPnd:");
	*shd = p ? strtoull(p + 7, NULL, 16) : ~0ULL;
	return 0;
}

/*
 * Take one instance of sig now: the signal, or -1. The raw system call:
 * glibc's sigtimedwait shows SI_TKILL as SI_USER.
 */
static int take(int sig, siginfo_t *si)
{
	uint64_t one = 1ULL << (sig - 1);
	struct timespec zero = { 0, 0 };

	memset(si, 0, sizeof(*si));
	return (int)syscall(SYS_rt_sigtimedwait, &one, si, &zero, 8);
}

#define WANT(cond, ...)                                      \
	do {                                                 \
		if (!(cond)) {                               \
			snprintf(why, n, __VA_ARGS__);       \
			return -1;                           \
		}                                            \
	} while (0)

/* In the worker: its own signals and the process's. */
static int check_worker(char *why, size_t n)
{
	uint64_t own, shd;
	siginfo_t si;
	static const int rt3_values[] = { 31, 32, 11, 12, 13 };

	if (masks(&own, &shd, why, n))
		return -1;
	WANT(own == (bit(SIGUSR1) | bit(SIGUSR2) | bit(RT3)),
	     "worker: SigPnd %016llx, expected %016llx", (unsigned long long)own,
	     (unsigned long long)(bit(SIGUSR1) | bit(SIGUSR2) | bit(RT3)));
	WANT(shd == (bit(SIGUSR1) | bit(RT3) | bit(RT4)), "ShdPnd %016llx, expected %016llx",
	     (unsigned long long)shd, (unsigned long long)(bit(SIGUSR1) | bit(RT3) | bit(RT4)));
	/* Its own queue first. */
	WANT(take(SIGUSR1, &si) == SIGUSR1 && si.si_code == SI_TKILL && si.si_pid == getpid(),
	     "worker: first SIGUSR1: code %d pid %d (want SI_TKILL from %d)", si.si_code,
	     si.si_pid, getpid());
	WANT(take(SIGUSR1, &si) == SIGUSR1 && si.si_code == SI_USER && si.si_pid == getpid(),
	     "worker: second SIGUSR1: code %d pid %d (want SI_USER from %d)", si.si_code,
	     si.si_pid, getpid());
	WANT(take(SIGUSR1, &si) < 0, "a third SIGUSR1");
	WANT(take(SIGUSR2, &si) == SIGUSR2 && si.si_code == SI_TKILL && si.si_pid == getpid(),
	     "worker: SIGUSR2: code %d pid %d", si.si_code, si.si_pid);
	for (int i = 0; i < 5; i++)
		WANT(take(RT3, &si) == RT3 && si.si_code == SI_QUEUE &&
			     si.si_value.sival_int == rt3_values[i] && si.si_pid == getpid(),
		     "worker: SIGRTMIN+3 #%d: code %d value %d pid %d, expected value %d", i + 1,
		     si.si_code, si.si_value.sival_int, si.si_pid, rt3_values[i]);
	WANT(take(RT3, &si) < 0, "a sixth SIGRTMIN+3, value %d", si.si_value.sival_int);
	WANT(take(RT4, &si) == RT4 && si.si_code == SI_QUEUE && si.si_value.sival_int == 21,
	     "SIGRTMIN+4: code %d value %d", si.si_code, si.si_value.sival_int);
	WANT(take(RT4, &si) < 0, "a second SIGRTMIN+4");
	if (masks(&own, &shd, why, n))
		return -1;
	WANT(!own && !shd, "worker: still pending after all: own %016llx process %016llx",
	     (unsigned long long)own, (unsigned long long)shd);
	return 0;
}

/* In main: its own two, one of them through its handler. */
static int check_main(char *why, size_t n)
{
	uint64_t own, shd;
	siginfo_t si;
	sigset_t rt5;

	if (masks(&own, &shd, why, n))
		return -1;
	WANT(own == (bit(SIGWINCH) | bit(RT5)), "main: SigPnd %016llx, expected %016llx",
	     (unsigned long long)own, (unsigned long long)(bit(SIGWINCH) | bit(RT5)));
	WANT(take(SIGWINCH, &si) == SIGWINCH && si.si_code == SI_TKILL && si.si_pid == getpid(),
	     "main: SIGWINCH: code %d pid %d", si.si_code, si.si_pid);
	rt5_count = 0;
	sigemptyset(&rt5);
	sigaddset(&rt5, RT5);
	CHECK(pthread_sigmask(SIG_UNBLOCK, &rt5, NULL) == 0, "unblock");
	CHECK(pthread_sigmask(SIG_BLOCK, &rt5, NULL) == 0, "block");
	WANT(rt5_count == 1 && rt5_value == 41 && rt5_code == SI_QUEUE && rt5_tid == main_tid,
	     "main: SIGRTMIN+5 handler ran %d times, value %d code %d in thread %d (main %d)",
	     (int)rt5_count, (int)rt5_value, (int)rt5_code, (int)rt5_tid, (int)main_tid);
	if (masks(&own, &shd, why, n))
		return -1;
	WANT(!own, "main: still pending: %016llx", (unsigned long long)own);
	return 0;
}

static void *worker(void *arg)
{
	(void)arg;
	worker_tid = (pid_t)syscall(SYS_gettid);
	sem_post(&to_main);
	for (;;) {
		while (sem_wait(&to_worker) < 0)
			;
		switch (worker_cmd) {
		case CMD_CHECK:
			worker_ok = check_worker(worker_why, sizeof(worker_why)) == 0;
			break;
		case CMD_CHECKPOINT:
			test_checkpoint();
			worker_ok = (pid_t)syscall(SYS_gettid) == worker_tid;
			break;
		case CMD_EXIT:
			return NULL;
		}
		sem_post(&to_main);
	}
}

static void ask_worker(int cmd)
{
	worker_cmd = cmd;
	sem_post(&to_worker);
	while (sem_wait(&to_main) < 0)
		;
}

static void check_all(const char *when)
{
	char why[256];

	ask_worker(CMD_CHECK);
	CHECK(worker_ok, "%s: %s", when, worker_why);
	CHECK(check_main(why, sizeof(why)) == 0, "%s: %s", when, why);
}

int main(void)
{
	sigset_t block;
	struct sigaction sa;
	char extra[4200];

	RT3 = SIGRTMIN + 3;
	RT4 = SIGRTMIN + 4;
	RT5 = SIGRTMIN + 5;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_rt5;
	sa.sa_flags = SA_SIGINFO;
	CHECK(sigaction(RT5, &sa, NULL) == 0, "sigaction");
	blocked_set(&block);
	CHECK(sigprocmask(SIG_BLOCK, &block, NULL) == 0, "sigprocmask");
	main_th = pthread_self();
	main_tid = getpid();
	sem_init(&to_worker, 0, 0);
	sem_init(&to_main, 0, 0);
	CHECK(pthread_create(&worker_th, NULL, worker, NULL) == 0, "pthread_create");
	while (sem_wait(&to_main) < 0)
		;

	/* 1. The checkpointed process keeps its signals. */
	make_pending();
	snprintf(extra, sizeof(extra), "%s.extra", test_image());
	long id = selfckpt_checkpoint(extra, SELFCKPT_NO_SYNC);

	CHECK(id > 0, "checkpoint into %s: %s: %s", extra, strerror(errno),
	      selfckpt_last_error());
	unlink(extra);
	check_all("after a checkpoint, in the checkpointed process");

	/* 2. The worker checkpoints; after the restart, all still pending. */
	make_pending();
	ask_worker(CMD_CHECKPOINT);
	CHECK(worker_ok, "the worker came back with another thread id");
	CHECK((pid_t)syscall(SYS_gettid) == main_tid && getpid() == main_tid,
	      "main's ids changed");
	check_all("after the restart");
	worker_cmd = CMD_EXIT;
	sem_post(&to_worker);
	CHECK(pthread_join(worker_th, NULL) == 0, "join");
	pass();
}

/*
 * threads.c - bringing the other threads of the process to a stop, and
 * back.
 *
 * The checkpointing thread sends each other thread the library's reserved
 * signal (SIGRTMAX-2 unless configured) with tgkill. The handler records
 * the thread's kernel state (res-thread.c) and captures its registers
 * (selfckpt__ctx_save) into the thread's slot of the checkpoint arena,
 * checks in, and waits on a futex until released. The image is written
 * while every thread waits; then all go on.
 *
 * After a restart each such thread resumes inside the handler, where
 * selfckpt__ctx_save returns a second time, with 0: it counts itself as
 * resumed and returns through the kernel's signal frame, which is in the
 * image, to exactly where it was interrupted (P3, P12 handled by the
 * restorer). So every thread, including the caller, resumes in library
 * code, uniformly.
 *
 * The handler never shows (issue 3):
 *  - SA_RESTART makes the kernel restart the system calls that honour it
 *    (untimed futex waits in pthread_cond_wait and barriers, read,
 *    accept...);
 *  - the calls that the kernel would restart only if no handler ran
 *    (sleeps, poll, epoll_wait, select, pause, sigsuspend, timed futex
 *    waits...) come back with EINTR; the handler re-executes them when
 *    the code shows which call was interrupted (resume_call);
 *  - the library's wrappers keep the signal out of the masks and pending
 *    sets a program reads (interpose.c).
 *
 * Synchronization words live in library data, not in the arena, so that
 * a thread leaving its wait never touches memory being unmapped.
 *
 * A checkpoint may also give up while requests are still on their way
 * (glibc's SIGEV_THREAD helper found after other threads were signalled,
 * a thread that does not stop, ...): a thread may then be anywhere in the
 * handler, recording its state into the arena, when the caller releases
 * the threads and unmaps the arena. So a thread counts itself "inside"
 * before it even looks for the checkpoint, and reads the release
 * generation then: threads_release() withdraws the checkpoint, bumps the
 * generation and waits until nobody is inside. A thread that comes in
 * later finds no checkpoint and touches nothing; one that was already in
 * finishes with the arena still mapped, and does not wait for a release
 * that has already happened.
 */
#define LOG_PREFIX "threads: "

#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <ucontext.h>
#include <linux/errno.h>
#include <linux/futex.h>

#include "internal.h"
#include "log.h"
#include "nolibc/fmt.h"
#include "nolibc/str.h"
#include "proc.h"
#include "request.h"
#include "sys.h"

#define STOP_TIMEOUT_MS 10000	/* a thread that does not stop by then */
#define TIMER_HELPER_MS 200	/* how long a blocking thread is looked at */
#define SI_QUEUE_ (-1)
#define SI_TIMER_ (-2)
#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

struct sck_sync {
	int sig;			/* the reserved signal, once installed */
	int installed;
	struct sck_dump *dump;		/* the checkpoint in progress */
	int checked_in;			/* futex words, atomic */
	int release;
	int inside;
	int resumed;
	struct sck_sigaction prev;	/* what the signal did before us */
};

struct sck_sync selfckpt__sync;

int selfckpt__signal = 0;	/* 0: the default, SIGRTMAX - 2 */

static long futex(int *uaddr, int op, int val, const struct __kernel_timespec *ts)
{
	return sck_syscall4(__NR_futex, (long)uaddr, op, val, (long)ts);
}

static int load(const int *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void wake(int *p)
{
	futex(p, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL);
}

int selfckpt__ckpt_signal(void)
{
	return selfckpt__signal ? selfckpt__signal : SIGRTMAX - 2;
}

/* For interpose.c: the program's own action for the reserved signal. */
int selfckpt__sig_installed(void)
{
	return selfckpt__sync.installed &&
	       selfckpt__sync.sig == selfckpt__ckpt_signal();
}

void selfckpt__sig_get_prev(struct sck_sigaction *out)
{
	*out = selfckpt__sync.prev;
}

void selfckpt__sig_set_prev(const struct sck_sigaction *in)
{
	selfckpt__sync.prev = *in;
}

/*
 * Which system calls come back with EINTR only because a handler ran, and
 * how to resume each as if it had not (issue 3). The kernel restarts a
 * call after a handler only for ERESTARTSYS with SA_RESTART (which the
 * library's handler has) and ERESTARTNOINTR; it answers EINTR for
 * ERESTARTNOHAND (pause, sigsuspend, select, poll without a timeout...)
 * and ERESTART_RESTARTBLOCK (relative sleeps, poll and futex waits with a
 * timeout), and rt_sigreturn then drops the kernel's restart block, so
 * restart_syscall cannot be used either. The handler re-executes the call
 * instead:
 *  - untimed, or with an absolute deadline (clock_nanosleep TIMER_ABSTIME,
 *    FUTEX_WAIT_BITSET, mq_timed*): as it was;
 *  - with a timeout the kernel updates in place (select, pselect6, ppoll):
 *    as it was, so it waits for what was left;
 *  - nanosleep and relative clock_nanosleep: the kernel wrote what was
 *    left to *rem; with rem == req (glibc's sleep, libstdc++'s sleep_for)
 *    that is as it was, with another rem the request pointer is set to
 *    rem (the argument register is not read again by the wrappers that
 *    issue these calls), and with rem == NULL the full request;
 *  - other relative timeouts the kernel does not report on (poll and
 *    epoll_wait in milliseconds, sigtimedwait, semtimedop, FUTEX_WAIT,
 *    io_getevents): with the full timeout again.
 * So a resumed wait may last longer than asked by the time it had already
 * waited (documented in docs/limitations.md), never shorter, and the
 * program sees no EINTR it could not have seen without the library.
 * Returns 1 and adjusts the registers when the call is to be re-executed.
 */
static int resume_call(long nr, greg_t *g)
{
	switch (nr) {
	case 34:	/* pause */
	case 130:	/* rt_sigsuspend */
	case 23:	/* select */
	case 270:	/* pselect6 */
	case 271:	/* ppoll */
	case 7:		/* poll */
	case 232:	/* epoll_wait */
	case 281:	/* epoll_pwait */
	case 441:	/* epoll_pwait2 */
	case 128:	/* rt_sigtimedwait */
	case 69:	/* msgsnd */
	case 70:	/* msgrcv */
	case 65:	/* semop */
	case 220:	/* semtimedop */
	case 208:	/* io_getevents */
	case 333:	/* io_pgetevents */
	case 242:	/* mq_timedsend */
	case 243:	/* mq_timedreceive */
	case 202:	/* futex: waits with a timeout (ERESTART_RESTARTBLOCK) */
		return 1;
	case 35:	/* nanosleep(req, rem) */
		if (g[REG_RSI] && g[REG_RSI] != g[REG_RDI])
			g[REG_RDI] = g[REG_RSI];
		return 1;
	case 230:	/* clock_nanosleep(clock, flags, req, rem) */
		if (!(g[REG_RSI] & 1 /* TIMER_ABSTIME */) && g[REG_R10] &&
		    g[REG_R10] != g[REG_RDX])
			g[REG_RDX] = g[REG_R10];
		return 1;
	}
	return 0;
}

/*
 * An interrupted call that the kernel answered with EINTR only because our
 * handler ran: make it go on, as it would have without us. Which call it
 * was is read from the code before the interrupted point: a "syscall"
 * (0f 05) preceded, within 18 bytes, by "mov $nr, %eax" (b8 imm32, not
 * behind a REX prefix, which would make it another register) with nr one
 * of those calls. That is how glibc's and musl's wrappers issue them. If
 * the code says nothing certain, the program sees the EINTR, which every
 * careful program handles anyway.
 */
static void restart_interrupted(ucontext_t *uc)
{
	greg_t *g = uc->uc_mcontext.gregs;
	const uint8_t *ip = (const uint8_t *)(uintptr_t)g[REG_RIP];
	uintptr_t page = ((uintptr_t)ip - 2) & ~4095UL;

	if (g[REG_RAX] != -EINTR || ip[-2] != 0x0f || ip[-1] != 0x05)
		return;
	for (int back = 7; back <= 18; back++) {
		const uint8_t *m = ip - back;	/* candidate b8, then imm32 */
		int32_t imm;

		if (((uintptr_t)(m - 1) & ~4095UL) != page)
			break;	/* stay in the page the syscall is in */
		if (m[0] != 0xb8 || (m[-1] & 0xf0) == 0x40)
			continue;
		__builtin_memcpy(&imm, m + 1, 4);
		if (resume_call(imm, g)) {
			g[REG_RAX] = imm;
			g[REG_RIP] -= 2;
			return;
		}
	}
}

/* Not a checkpoint request: do what the signal did before the library. */
static void forward(int sig, siginfo_t *si, void *uc)
{
	const struct sck_sigaction *p = &selfckpt__sync.prev;

	if (p->handler == (uint64_t)(uintptr_t)SIG_IGN)
		return;
	if (p->handler == (uint64_t)(uintptr_t)SIG_DFL) {
		/* The default action (terminate): let it happen. */
		struct sck_sigaction dfl = { 0, 0, 0, 0 };
		uint64_t unblock = 1ULL << (sig - 1);

		sys_rt_sigaction(sig, &dfl, NULL);
		sys_tgkill((int)sys_getpid(), (int)sys_gettid(), sig);
		sys_rt_sigprocmask(SIG_UNBLOCK, &unblock, NULL);
		return;
	}
	if (p->flags & SA_SIGINFO)
		((void (*)(int, siginfo_t *, void *))(uintptr_t)p->handler)(sig, si, uc);
	else
		((void (*)(int))(uintptr_t)p->handler)(sig);
}

/* A thread in the handler is done with the arena (see the top). */
static void leave(struct sck_sync *y)
{
	__atomic_sub_fetch(&y->inside, 1, __ATOMIC_SEQ_CST);
	wake(&y->inside);
}

static void handler(int sig, siginfo_t *si, void *ucv)
{
	struct sck_sync *y = &selfckpt__sync;
	struct sck_dump *d;
	long tid = sys_gettid();
	struct sck_slot *s = NULL;
	uint64_t mask = 0;
	int gen;

	/*
	 * Ours: queued by this process with our cookie. A request that comes
	 * late (the thread had the signal blocked until the checkpoint was
	 * over) is dropped; anything else was the program's or someone else's.
	 */
	if ((si->si_code == SI_QUEUE_ || si->si_code == SI_TIMER_) &&
	    ((uint64_t)(uintptr_t)si->si_value.sival_ptr & SCK_REQ_MAGIC_MASK) ==
		    SCK_REQ_MAGIC) {
		/* Asked for a checkpoint (auto.c): this thread takes it. */
		restart_interrupted(ucv);
		selfckpt__auto_request((uint64_t)(uintptr_t)si->si_value.sival_ptr);
		return;
	}
	if (si->si_code != SI_QUEUE_ || si->si_pid != sys_getpid() ||
	    si->si_value.sival_ptr != (void *)y) {
		forward(sig, si, ucv);
		return;
	}
	/*
	 * Inside first, then the generation and the checkpoint: a release
	 * either waits for this thread or has withdrawn the checkpoint
	 * already (sequentially consistent, against threads_release's order).
	 */
	__atomic_add_fetch(&y->inside, 1, __ATOMIC_SEQ_CST);
	gen = __atomic_load_n(&y->release, __ATOMIC_SEQ_CST);
	d = __atomic_load_n(&y->dump, __ATOMIC_SEQ_CST);
	if (!d) {
		leave(y);
		return;
	}
	for (uint32_t i = 0; i < d->nslots; i++)
		if (d->slots[i].t.tid == tid && i != d->caller)
			s = &d->slots[i];
	if (!s || load(&s->state) != SCK_SLOT_SIGNALLED) {
		leave(y);
		return;	/* not (or no longer) expected: the caller will see */
	}

	restart_interrupted(ucv);
	/* The mask now, which is the handler's: restored by its return. */
	sys_rt_sigprocmask(SIG_BLOCK, NULL, &mask);
	s->err = selfckpt__thread_state(s, mask, 0, d->mem_fd);
	if (!s->err)	/* its pending signals, and the MAIN thread the process's */
		s->err = selfckpt__signals_take(d, s);

	if (selfckpt__ctx_save(&s->ctx)) {
		__atomic_store_n(&s->state, SCK_SLOT_STOPPED, __ATOMIC_RELEASE);
		__atomic_add_fetch(&y->checked_in, 1, __ATOMIC_ACQ_REL);
		wake(&y->checked_in);
		/* Released already if the checkpoint gave up meanwhile. */
		while (load(&y->release) == gen)
			futex(&y->release, FUTEX_WAIT_PRIVATE, gen, NULL);
		/* Its signals back in the queues while the arena still exists. */
		selfckpt__signals_requeue(d, s->t.tid, !!(s->t.flags & SCK_THRF_MAIN));
		leave(y);
		return;
	}
	/*
	 * Resumed by a restart: the arena and d are gone; globals only
	 * (inside, as the image holds it, is set to 0 by threads_resumed).
	 */
	__atomic_add_fetch(&y->resumed, 1, __ATOMIC_ACQ_REL);
	wake(&y->resumed);
}

int selfckpt__threads_install(void)
{
	struct sck_sync *y = &selfckpt__sync;
	int sig = selfckpt__ckpt_signal();
	struct sck_sigaction act = {
		.handler = (uint64_t)(uintptr_t)handler,
		.flags = SA_SIGINFO | SA_RESTART | SA_RESTORER,
		.restorer = (uint64_t)(uintptr_t)selfckpt__rt_restorer,
		.mask = ~0ULL,
	};

	if (y->installed && y->sig == sig)
		return 0;
	if (sig < SIGRTMIN || sig > SIGRTMAX)
		return sck_fail(EINVAL, "signal %d cannot be the checkpoint signal", sig);
	long r = sys_rt_sigaction(sig, &act, &y->prev);

	if (r < 0)
		return sck_fail((int)-r, "cannot install the handler of signal %d", sig);
	y->sig = sig;
	y->installed = 1;
	return 0;
}

int selfckpt__threads_count(void)
{
	long dirfd = sys_openat(-100, "/proc/self/task",
				O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	char buf[4096];
	long n = 0, len;

	if (dirfd < 0)
		return (int)dirfd;
	while ((len = sys_getdents64((int)dirfd, buf, sizeof(buf))) > 0)
		for (long off = 0; off < len;) {
			unsigned short reclen;
			char c = buf[off + 19];

			__builtin_memcpy(&reclen, buf + off + 16, 2);
			if (c >= '0' && c <= '9')
				n++;
			off += reclen;
		}
	sys_close((int)dirfd);
	return (int)n;
}

/* Queue a stop request, marked with our cookie (see handler). */
static long request(int pid, int tid, int sig)
{
	siginfo_t si;

	__builtin_memset(&si, 0, sizeof(si));
	si.si_signo = sig;
	si.si_code = SI_QUEUE_;
	si.si_pid = pid;
	si.si_uid = (uid_t)sys_getuid();
	si.si_value.sival_ptr = &selfckpt__sync;
	return sck_syscall4(__NR_rt_tgsigqueueinfo, pid, tid, sig, (long)&si);
}

/*
 * glibc's helper thread of SIGEV_THREAD timers (timer_create): glibc
 * creates it with every signal blocked but SIGSETXID, out of the reach of
 * the library's wrappers, and it waits in sigwaitinfo for SIGTIMER (32)
 * alone, forever: it can never be stopped. Recognized by that (its
 * blocked set has our signal, /proc/.../syscall shows rt_sigtimedwait on
 * a set of signal 32 only), so that the checkpoint fails at once, without
 * queueing a request that it would keep pending for good.
 */
static int timer_helper_now(struct sck_dump *d, int32_t tid, int sig, int *blocks)
{
	struct sck_slot *s = &d->slots[d->caller];
	uint64_t blocked = 0, set = 0;
	const char *p;
	char path[64];

	*blocks = 0;
	selfckpt__fmt(path, sizeof(path), "/proc/self/task/%d/status", tid);
	if (selfckpt__read_file(-100, path, s->procbuf, SCK_SLOT_PROCBUF) < 0 ||
	    selfckpt__proc_field(s->procbuf, "SigBlk:", 16, &blocked) ||
	    !(blocked & (1ULL << (sig - 1))))
		return 0;
	*blocks = 1;
	selfckpt__fmt(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	if (selfckpt__read_file(-100, path, s->procbuf, SCK_SLOT_PROCBUF) < 0 ||
	    selfckpt__parse_u64(s->procbuf, 10, &p) != 128 /* rt_sigtimedwait */ ||
	    sck_strncmp(p, " 0x", 3))
		return 0;
	uint64_t at = selfckpt__parse_u64(p + 3, 16, &p);

	return sys_pread(d->mem_fd, &set, sizeof(set), (int64_t)at) == sizeof(set) &&
	       set == 1ULL << 31;
}

/*
 * A thread that blocks the signal may also be one that was just created
 * (glibc starts threads with every signal blocked) or a helper on its way
 * to its wait: look again for a while (TIMER_HELPER_MS).
 */
static int timer_helper(struct sck_dump *d, int32_t tid, int sig)
{
	const struct __kernel_timespec ts = { 0, 5 * 1000 * 1000 };
	int blocks;

	for (int waited = 0;; waited += 5) {
		if (timer_helper_now(d, tid, sig, &blocks))
			return 1;
		if (!blocks || waited >= TIMER_HELPER_MS)
			return 0;
		sys_nanosleep(&ts, NULL);
	}
}

/* Add a slot for each thread not seen yet and signal it; returns how many. */
static int signal_new(struct sck_dump *d, int sig)
{
	long dirfd = sys_openat(-100, "/proc/self/task",
				O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	long pid = sys_getpid(), len;
	char buf[4096];
	int added = 0;

	if (dirfd < 0)
		return sck_fail((int)-dirfd, "cannot list /proc/self/task");
	while ((len = sys_getdents64((int)dirfd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < len;) {
			unsigned short reclen;
			const char *name = buf + off + 19, *end;

			__builtin_memcpy(&reclen, buf + off + 16, 2);
			off += reclen;
			if (*name < '0' || *name > '9')
				continue;
			int32_t tid = (int32_t)selfckpt__parse_u64(name, 10, &end);
			int known = 0;

			for (uint32_t i = 0; i < d->nslots; i++)
				if (d->slots[i].t.tid == tid)
					known = 1;
			if (known)
				continue;
			if (d->nslots >= d->slots_cap) {
				sys_close((int)dirfd);
				return sck_fail(EAGAIN,
						"threads were created faster than the checkpoint could stop them");
			}
			if (timer_helper(d, tid, sig)) {
				sys_close((int)dirfd);
				return sck_fail(EOPNOTSUPP,
						"thread %d is glibc's helper thread for SIGEV_THREAD timers (timer_create with SIGEV_THREAD), which blocks every signal and cannot be stopped: SIGEV_THREAD timers are not supported; use SIGEV_SIGNAL or SIGEV_THREAD_ID",
						tid);
			}
			struct sck_slot *s = &d->slots[d->nslots++];

			s->t.tid = tid;
			__atomic_store_n(&s->state, SCK_SLOT_SIGNALLED, __ATOMIC_RELEASE);
			if (request((int)pid, tid, sig) < 0)
				s->state = SCK_SLOT_EMPTY;	/* it has just exited */
			else
				added++;
		}
	}
	sys_close((int)dirfd);
	return added;
}

/* Why a thread does not stop: usually it blocks the signal. */
static int explain(struct sck_dump *d, int32_t tid, int sig)
{
	char path[64];
	uint64_t blocked = 0;
	struct sck_slot *s = &d->slots[d->caller];

	selfckpt__fmt(path, sizeof(path), "/proc/self/task/%d/status", tid);
	if (selfckpt__read_file(-100, path, s->procbuf, SCK_SLOT_PROCBUF) < 0)
		return 0;	/* it exited meanwhile */
	selfckpt__proc_field(s->procbuf, "SigBlk:", 16, &blocked);
	if (blocked & (1ULL << (sig - 1)))
		return sck_fail(EOPNOTSUPP,
				"thread %d blocks signal %d, which the library uses to stop threads; set SELFCKPT_SIGNAL to a signal the program leaves alone",
				tid, sig);
	return sck_fail(EAGAIN, "thread %d did not stop within %d s", tid,
			STOP_TIMEOUT_MS / 1000);
}

int selfckpt__threads_stop(struct sck_dump *d)
{
	struct sck_sync *y = &selfckpt__sync;
	int ret = selfckpt__threads_install(), expected = 0, waited = 0;

	if (ret)
		return ret;
	y->checked_in = 0;
	__atomic_store_n(&y->dump, d, __ATOMIC_RELEASE);
	for (;;) {
		int added = signal_new(d, y->sig);

		if (added < 0)
			return added;
		expected += added;
		if (!added && load(&y->checked_in) == expected)
			break;
		/* Wait for the check-ins, 20 ms at a time, then look again. */
		struct __kernel_timespec ts = { 0, 20 * 1000 * 1000 };
		int now = load(&y->checked_in);

		if (now < expected) {
			futex(&y->checked_in, FUTEX_WAIT_PRIVATE, now, &ts);
			waited += 20;
		}
		if (waited < STOP_TIMEOUT_MS)
			continue;
		/* Slots still signalled: exited threads, or stuck ones. */
		for (uint32_t i = 0; i < d->nslots; i++) {
			struct sck_slot *s = &d->slots[i];
			char path[64];

			if (i == d->caller || load(&s->state) != SCK_SLOT_SIGNALLED)
				continue;
			selfckpt__fmt(path, sizeof(path), "/proc/self/task/%d", s->t.tid);
			long fd = sys_openat(-100, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);

			if (fd < 0) {
				s->state = SCK_SLOT_EMPTY;
				expected--;
				continue;
			}
			sys_close((int)fd);
			return explain(d, s->t.tid, y->sig);
		}
		waited = 0;
	}
	for (uint32_t i = 0; i < d->nslots; i++)
		if (d->slots[i].state == SCK_SLOT_STOPPED && d->slots[i].err)
			return d->slots[i].err;
	return 0;
}

void selfckpt__threads_release(struct sck_dump *d)
{
	struct sck_sync *y = &selfckpt__sync;
	int n;

	(void)d;
	if (!__atomic_load_n(&y->dump, __ATOMIC_ACQUIRE))
		return;	/* released already (or never stopped) */
	/*
	 * Withdraw the checkpoint, release, then wait for every thread inside
	 * the handler, including signalled ones that had not checked in (a
	 * checkpoint that gave up): none touches the arena once it is gone.
	 * In this order a thread that still finds the checkpoint has read
	 * the generation before this release, which it then does not miss.
	 */
	__atomic_store_n(&y->dump, NULL, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&y->release, 1, __ATOMIC_SEQ_CST);
	wake(&y->release);
	while ((n = __atomic_load_n(&y->inside, __ATOMIC_SEQ_CST)) != 0)
		futex(&y->inside, FUTEX_WAIT_PRIVATE, n, NULL);
	y->checked_in = 0;
}

void selfckpt__threads_resumed(uint32_t n)
{
	struct sck_sync *y = &selfckpt__sync;
	int now;

	while ((now = load(&y->resumed)) < (int)n)
		futex(&y->resumed, FUTEX_WAIT_PRIVATE, now, NULL);
	/* The image held the counters of a checkpoint in progress. */
	__atomic_store_n(&y->dump, NULL, __ATOMIC_RELEASE);
	y->checked_in = 0;
	y->inside = 0;
	y->resumed = 0;
}

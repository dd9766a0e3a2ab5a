/*
 * res-signal.c - signals pending at the checkpoint, with their siginfo
 * (the SIGINFO records; P13).
 *
 * The kernel shows which signals are pending (/proc/.../status: SigPnd
 * for a thread, ShdPnd for the process) but not their siginfo, nor how
 * many instances of a real-time signal are queued. The only way to read
 * them is to dequeue them, with rt_sigtimedwait and a zero timeout, which
 * takes from the calling thread's own queue first and from the process's
 * after. So:
 *
 *  - each thread takes the signals pending for it alone, itself: the
 *    caller in collect(), every other thread in the handler that stops it
 *    (threads.c), with every signal blocked. A signal pending in both
 *    queues is taken one instance at a time, re-reading SigPnd, until the
 *    thread's own queue no longer has it;
 *  - the MAIN thread then also takes the process's;
 *  - after the capture every thread puts its own back, and the MAIN thread
 *    the process's (requeue), in their order, with their siginfo: the
 *    checkpointed process goes on with exactly the signals it had. Only
 *    the target thread itself may queue a signal whose si_code is >= 0
 *    (SI_USER, the kernel's) or SI_TKILL (kernel/signal.c,
 *    do_rt_tgsigqueueinfo), and only the thread whose id is the process
 *    id may do so for the process (do_rt_sigqueueinfo); both are allowed
 *    to a process for itself, unprivileged;
 *  - the image gets one SIGINFO record per signal taken; the restorer
 *    queues them the same way (rst/rst-timers.c).
 *
 * Left alone: SIGKILL, SIGSTOP, and the library's reserved signal (a
 * checkpoint request that arrives meanwhile is the running process's).
 *
 * A posix-timer's signal taken from the queue is an ordinary queued signal
 * once put back (the kernel no longer links it to its timer; a periodic
 * timer is re-armed when its signal is dequeued, as on delivery).
 *
 * Async-signal-safe: raw system calls and the arena only.
 */
#define LOG_PREFIX "signals: "

#include <linux/errno.h>
#include <linux/signal.h>

#include "internal.h"
#include "log.h"
#include "nolibc/fmt.h"
#include "proc.h"
#include "sys.h"

#define SI_TIMER_ (-2)
#define SI_SYS_PRIVATE_OFF 32	/* siginfo _timer._sys_private */

static uint64_t bit(int sig)
{
	return 1ULL << (sig - 1);
}

/* Signals nobody takes: they cannot be queued, or are the library's. */
static uint64_t untouchable(void)
{
	return bit(SIGKILL) | bit(SIGSTOP) | bit(selfckpt__ckpt_signal());
}

static int read_masks(struct sck_slot *s, uint64_t *own, uint64_t *shd)
{
	long n = selfckpt__read_file(-100, "/proc/thread-self/status", s->procbuf,
				     SCK_SLOT_PROCBUF);

	*own = *shd = 0;
	if (n < 0 || selfckpt__proc_field(s->procbuf, "SigPnd:", 16, own) ||
	    selfckpt__proc_field(s->procbuf, "ShdPnd:", 16, shd))
		return sck_fail(EAGAIN, "cannot read the pending signals of thread %d",
				s->t.tid);
	return 0;
}

/*
 * Dequeue one instance of sig into a new entry for tid (0: the process).
 * Returns 1 if one was taken, 0 if none was pending, or -errno. Entries
 * are handed out atomically: threads take their signals concurrently.
 */
static int take_one(struct sck_dump *d, int32_t tid, int sig)
{
	uint32_t i = __atomic_fetch_add(&d->sigs_used, 1, __ATOMIC_RELAXED);
	struct __kernel_timespec zero = { 0, 0 };
	uint64_t set = bit(sig);
	struct sck_siginfo *e;
	int32_t code;
	long r;

	if (i >= d->sigs_cap)
		return sck_fail(EOPNOTSUPP,
				"more than %u signals are pending: the checkpoint cannot record them all",
				d->sigs_cap);
	e = &d->sigs[i];
	do
		r = sys_rt_sigtimedwait(&set, e->info, &zero);
	while (r == -EINTR);
	if (r == -EAGAIN)
		return 0;	/* the entry stays empty (signo 0) */
	if (r < 0)
		return sck_fail((int)-r, "cannot take pending signal %d: %s", sig,
				selfckpt__errname((int)-r));
	/*
	 * A posix-timer signal carries a cookie of the kernel's, which kernels
	 * before 6.13 copied out; queued again by us it must be 0, or the
	 * dequeue would re-arm the timer a second time.
	 */
	__builtin_memcpy(&code, e->info + 8, sizeof(code));
	if (code == SI_TIMER_)
		__builtin_memset(e->info + SI_SYS_PRIVATE_OFF, 0, 4);
	e->tid = tid;
	__atomic_store_n(&e->signo, (uint32_t)sig, __ATOMIC_RELEASE);
	return 1;
}

/* Every pending instance of sig meant for this thread alone. */
static int take_own(struct sck_dump *d, struct sck_slot *s, int sig, int also_shared)
{
	for (;;) {
		int r = take_one(d, s->t.tid, sig);
		uint64_t own, shd;

		if (r <= 0)
			return r;
		if (sig < SIGRTMIN)
			return 0;	/* a standard signal is queued once */
		if (!also_shared)
			continue;	/* EAGAIN ends it */
		/* The process's queue has it too: stop when ours is empty. */
		if ((r = read_masks(s, &own, &shd)))
			return r;
		if (!(own & bit(sig)))
			return 0;
	}
}

int selfckpt__signals_take(struct sck_dump *d, struct sck_slot *s)
{
	uint64_t own, shd, skip = untouchable();
	int r;

	if ((r = read_masks(s, &own, &shd)))
		return r;
	for (int sig = 1; sig <= 64; sig++)
		if ((own & ~skip & bit(sig)) && (r = take_own(d, s, sig, !!(shd & bit(sig)))))
			return r;
	s->t.pending = selfckpt__signals_std_mask(d, s->t.tid);
	if (!(s->t.flags & SCK_THRF_MAIN))
		return 0;
	/* The process's: this thread's own queue no longer has any of them. */
	if ((r = read_masks(s, &own, &shd)))
		return r;
	for (int sig = 1; sig <= 64; sig++) {
		if (!(shd & ~skip & bit(sig)))
			continue;
		while ((r = take_one(d, 0, sig)) > 0 && sig >= SIGRTMIN)
			;
		if (r < 0)
			return r;
	}
	return 0;
}

uint64_t selfckpt__signals_std_mask(const struct sck_dump *d, int32_t tid)
{
	uint32_t n = d->sigs_used < d->sigs_cap ? d->sigs_used : d->sigs_cap;
	uint64_t m = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t sig = __atomic_load_n(&d->sigs[i].signo, __ATOMIC_ACQUIRE);

		if (sig && sig < SIGRTMIN && d->sigs[i].tid == tid)
			m |= bit((int)sig);
	}
	return m;
}

void selfckpt__signals_requeue(struct sck_dump *d, int32_t tid, int process)
{
	uint32_t n = d->sigs_used < d->sigs_cap ? d->sigs_used : d->sigs_cap;
	long pid = sys_getpid(), r;

	for (uint32_t i = 0; i < n; i++) {
		struct sck_siginfo *e = &d->sigs[i];
		int sig = (int)__atomic_load_n(&e->signo, __ATOMIC_ACQUIRE);

		if (!sig || (e->tid != tid && !(process && e->tid == 0)))
			continue;
		if (e->tid)
			r = sys_rt_tgsigqueueinfo((int)pid, e->tid, sig, e->info);
		else
			r = sys_rt_sigqueueinfo((int)pid, sig, e->info);
		/* Our own siginfo, to ourselves: nothing should refuse it. */
		if (r < 0)
			sck_warn("cannot queue signal %d again for %s %d: %s", sig,
				 e->tid ? "thread" : "process", e->tid ? e->tid : (int)pid,
				 selfckpt__errname((int)-r));
	}
}

int selfckpt__signals_record(struct sck_dump *d)
{
	uint32_t n = d->sigs_used < d->sigs_cap ? d->sigs_used : d->sigs_cap;

	for (uint32_t i = 0; i < n; i++) {
		struct sck_part part = { &d->sigs[i], sizeof(d->sigs[i]) };

		if (!d->sigs[i].signo)
			continue;
		if (selfckpt__meta_add(&d->meta, SCK_REC_SIGINFO, 0, &part, 1, NULL))
			return sck_fail(ENOMEM, "metadata buffer full");
	}
	return 0;
}

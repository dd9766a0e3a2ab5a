/*
 * rst-timers.c - the restorer's share of POSIX timers and pending signals
 * (the POSIX_TIMER and SIGINFO records; the checkpoint side is
 * res-timer.c and res-signal.c, the launcher's restore-timers.c; P13).
 *
 * Timer ids are the kernel's, and the program holds them (timer_t): each
 * timer is made again with its own. Since Linux 6.17,
 * prctl(PR_TIMER_CREATE_RESTORE_IDS) makes timer_create take the id it
 * is given; before, a process's ids are handed out in increasing order
 * (kernel/time/posix-timers.c, posix_timer_add), so timers are made and
 * deleted until the wanted id comes, as CRIU does, in increasing id order.
 * The launcher refused ids too high for that (restore-timers.c), and
 * checked that each clock can be used here. The restarted process is new,
 * so its ids start at 0; the other threads wait in the restorer and make
 * none meanwhile.
 *
 * Freestanding: raw system calls, data in rst_args.
 */
#include <stddef.h>
#include <stdint.h>
#include <linux/errno.h>

#include "compat.h"
#include "rst-lib.h"
#include "rst-timers.h"
#include "sys.h"

/* The kernel's struct sigevent (64 bytes). */
struct ksigevent {
	uint64_t value;
	int32_t signo;
	int32_t notify;
	int32_t tid;
	int32_t pad[11];
};

struct kitimerspec {
	int64_t interval_sec, interval_nsec, value_sec, value_nsec;
};

/* A thread's id now, from its id in the image (new ids: may differ). */
static int32_t tid_now(const struct rst_args *a, int32_t image_tid)
{
	const struct rst_thread *t = (const void *)(uintptr_t)a->threads;

	for (uint32_t i = 0; i < a->nthreads; i++)
		if (t[i].tid == image_tid)
			return i == a->main ? (int32_t)sys_gettid() : t[i].new_tid;
	return image_tid;	/* the reader checked that it is one of them */
}

/* A CPU clock names a thread or the process: with their ids now. */
static int32_t clock_now(const struct rst_args *a, int32_t clock, long pid)
{
	int32_t who = ~(clock >> 3);

	if (clock >= 0)
		return clock;
	if (clock & 4)
		who = tid_now(a, who);
	else if (who)
		who = (int32_t)pid;
	return (int32_t)((uint32_t)~who << 3) | (clock & 7);
}

/* timer_create with the id want, one way or the other. */
static long create_at(int exact, int32_t clock, struct ksigevent *sev, int32_t want)
{
	int id = want;

	if (exact)
		return sys_timer_create(clock, sev, &id);
	for (;;) {
		long r = sys_timer_create(clock, sev, &id);

		if (r < 0)
			return r;
		if (id == want)
			return 0;
		sys_timer_delete(id);
		if (id > want)
			return -ERANGE;	/* given out in order: it will not come */
	}
}

void rst_create_timers(struct rst_args *a, long pid)
{
	const struct sck_posix_timer *t = (const void *)(uintptr_t)a->timers;
	int exact;

	if (!a->ntimers)
		return;
	exact = !(a->flags & RST_F_TIMER_IDS_LINEAR) &&
		sys_prctl(PR_TIMER_CREATE_RESTORE_IDS,
			  PR_TIMER_CREATE_RESTORE_IDS_ON, 0, 0, 0) == 0;
	for (uint32_t i = 0; i < a->ntimers; i++) {
		struct ksigevent sev = { .value = t[i].value, .signo = t[i].signo,
					 .notify = t[i].notify };
		struct kitimerspec its = { t[i].interval_sec, t[i].interval_nsec,
					   t[i].value_sec, t[i].value_nsec };
		long r;

		if (t[i].notify == SCK_SIGEV_THREAD_ID)
			sev.tid = tid_now(a, t[i].tid);
		r = create_at(exact, clock_now(a, t[i].clock, pid), &sev, t[i].id);
		if (r < 0)
			rst_die(a->log_fd, RST_EXIT_OSERR,
				"cannot recreate POSIX timer %d (error %ld)", t[i].id, -r);
		/* Armed with the time that was left; disarmed ones stay so. */
		if ((its.value_sec || its.value_nsec) &&
		    (r = sys_timer_settime(t[i].id, 0, &its, NULL)) < 0)
			rst_die(a->log_fd, RST_EXIT_OSERR,
				"cannot arm POSIX timer %d (error %ld)", t[i].id, -r);
	}
	if (exact)
		sys_prctl(PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_OFF,
			  0, 0, 0);
}

void rst_queue_signals(struct rst_args *a, int32_t image_tid, long pid, long tid)
{
	const struct sck_siginfo *e = (const void *)(uintptr_t)a->sigs;

	for (uint32_t i = 0; i < a->nsigs; i++) {
		long r;

		if (e[i].tid != image_tid)
			continue;
		if (image_tid)
			r = sys_rt_tgsigqueueinfo((int)pid, (int)tid, (int)e[i].signo,
						  e[i].info);
		else
			r = sys_rt_sigqueueinfo((int)pid, (int)e[i].signo, e[i].info);
		if (r < 0)
			__atomic_add_fetch(&a->rstinfo.warnings, 1, __ATOMIC_RELAXED);
	}
}

/*
 * res-thread.c - a thread's kernel-side state, gathered by the thread
 * itself: the checkpointing thread calls it directly, every other thread
 * from the checkpoint signal's handler (threads.c).
 *
 * Registers are captured separately (context.S); what the kernel keeps per
 * thread is gathered here: FS and GS base (P12), the signal mask to resume
 * with, sigaltstack, the rseq registration (P1), the clear_child_tid
 * address and the robust futex list (P3), and the scheduling settings.
 * Its pending signals are taken by res-signal.c (P13).
 *
 * rseq: glibc 2.35+ registers an area at the thread pointer plus
 * __rseq_offset. Asking the kernel to register the same area again answers
 * EBUSY exactly when that area, length and signature are registered, which
 * confirms it; a registration we cannot identify fails the checkpoint,
 * because restoring without it would leave per-CPU code unprotected.
 *
 * Async-signal-safe, and frugal with stack: it may run in a signal handler
 * on a small alternate stack; buffers come from the slot (the arena).
 */
#define LOG_PREFIX "thread: "

#include <stddef.h>
#include <linux/errno.h>
#include <linux/prctl.h>

#include "compat.h"
#include "internal.h"
#include "log.h"
#include "nolibc/fmt.h"
#include "proc.h"
#include "sys.h"

extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));

static int probe_rseq(struct sck_slot *s, uint64_t tp)
{
	struct sck_thread *t = &s->t;

	if (&__rseq_size && &__rseq_offset && __rseq_size) {
		uint64_t area = tp + (uint64_t)__rseq_offset;
		uint32_t lens[2] = { __rseq_size < SELFCKPT_RSEQ_MIN_LEN ?
					     SELFCKPT_RSEQ_MIN_LEN : __rseq_size,
				     __rseq_size };

		for (int i = 0; i < 2; i++) {
			long r = sys_rseq((void *)(uintptr_t)area, lens[i], 0,
					  SELFCKPT_RSEQ_SIG);

			if (r == -EBUSY) {
				t->rseq_addr = area;
				t->rseq_len = lens[i];
				t->rseq_sig = SELFCKPT_RSEQ_SIG;
				return 0;
			}
			if (r == 0) {	/* it was not registered after all */
				sys_rseq((void *)(uintptr_t)area, lens[i],
					 SELFCKPT_RSEQ_FLAG_UNREGISTER,
					 SELFCKPT_RSEQ_SIG);
				return 0;
			}
		}
	}
	/* libc did not register: make sure nobody else did. */
	long r = sys_rseq(s->scratch, SELFCKPT_RSEQ_MIN_LEN, 0, SELFCKPT_RSEQ_SIG);

	if (r == 0) {
		sys_rseq(s->scratch, SELFCKPT_RSEQ_MIN_LEN,
			 SELFCKPT_RSEQ_FLAG_UNREGISTER, SELFCKPT_RSEQ_SIG);
		return 0;
	}
	if (r == -ENOSYS)
		return 0;
	return sck_fail(EOPNOTSUPP,
			"thread %d has an rseq registration that is not libc's; it cannot be restored (P1)",
			t->tid);
}

/*
 * Scheduling settings are per thread in Linux and a restarted thread would
 * otherwise get the restart command's: nice value, policy and priority,
 * CPU affinity, I/O priority, and two prctl flags.
 */
static void collect_sched(struct sck_thread *t)
{
	struct {
		int prio;
	} param = { 0 };
	long r;

	/* The raw syscall returns 20 - nice, so that it is never negative. */
	r = sys_getpriority(0 /* PRIO_PROCESS */, 0);
	t->nice = r >= 0 ? (int32_t)(20 - r) : 0;
	r = sys_sched_getscheduler(0);
	t->sched_policy = r >= 0 ? (uint32_t)r : 0;
	if (sys_sched_getparam(0, &param) == 0)
		t->sched_priority = (uint32_t)param.prio;
	r = sys_ioprio_get(1 /* IOPRIO_WHO_PROCESS */, 0);
	t->ioprio = r >= 0 ? (uint32_t)r : 0;
	t->keepcaps = (int32_t)sys_prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0);
	r = sys_prctl(PR_MCE_KILL_GET, 0, 0, 0, 0);
	t->mce_kill = r >= 0 ? (int32_t)r : 0;
	r = sys_sched_getaffinity(0, sizeof(t->affinity), t->affinity);
	t->ncpus = r > 0 ? (uint32_t)r * 8 : 0;
}

int selfckpt__thread_state(struct sck_slot *s, uint64_t sigmask,
			   uint32_t flags, int mem_fd)
{
	struct sck_thread *t = &s->t;
	struct {
		uint64_t sp;
		int32_t flags;
		int32_t pad;
		uint64_t size;
	} ss;
	uint64_t addr = 0, head = 0;
	size_t len = 0;
	int ret;

	t->tid = (int32_t)sys_gettid();
	t->flags = flags;
	if (t->tid == (int32_t)sys_getpid())
		t->flags |= SCK_THRF_MAIN;
	t->fs_base = selfckpt__get_fs_base();
	t->gs_base = selfckpt__get_gs_base();
	t->sigmask = sigmask;
	if (sys_sigaltstack(NULL, &ss) == 0) {
		t->altstack_sp = ss.sp;
		t->altstack_size = ss.size;
		t->altstack_flags = (uint32_t)ss.flags;
	}
	ret = probe_rseq(s, t->fs_base);
	if (ret)
		return ret;
	if (sys_prctl(PR_GET_TID_ADDRESS, (unsigned long)&addr, 0, 0, 0) == 0)
		t->clear_child_tid = addr;
	/*
	 * glibc points clear_child_tid at the tid field of its thread
	 * descriptor (struct pthread): when thread ids change at restart,
	 * that is the field to update. Confirmed by its value.
	 */
	int32_t v = 0;

	if (addr && sys_pread(mem_fd, &v, sizeof(v), (int64_t)addr) == sizeof(v) &&
	    v == t->tid)
		t->tid_field = addr;
	if (sys_get_robust_list(0, &head, &len) == 0) {
		t->robust_head = head;
		t->robust_len = len;
	}
	collect_sched(t);
	/* Names are per thread (pthread_setname_np, PR_SET_NAME). */
	sys_prctl(PR_GET_NAME, (unsigned long)t->comm, 0, 0, 0);
	t->comm[sizeof(t->comm) - 1] = '\0';
	return 0;
}

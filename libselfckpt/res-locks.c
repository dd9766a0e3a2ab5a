/*
 * res-locks.c - locks that would break if thread ids changed (issue 3, P3).
 *
 * A restart normally keeps every process and thread id (a private PID
 * namespace, restore-ns.c). Where it cannot, the restart gives the
 * process new ids and updates glibc's copy of each thread's id; but some
 * locks hold the id of the thread that owns them, and a lock held across
 * the checkpoint would then belong to nobody: its holder's unlock fails
 * with EPERM, or a waiter never wakes. glibc records the owner in
 *  - error-checking and recursive mutexes (__owner, checked on unlock),
 *  - robust and priority-inheritance mutexes (__owner, and the lock word
 *    itself, which the kernel compares with thread ids),
 *  - write-locked rwlocks (__cur_writer, which decides what an unlock
 *    releases).
 * So before such an image is written, memory is searched for them while
 * every thread is stopped, and the checkpoint fails naming the first.
 *
 * Nothing lists these locks, so the search recognizes them by shape in
 * every private or shared writable page the process has: an owner field
 * equal to a thread of this process, a valid kind, and the lock word that
 * kind implies. Locks that are not held are never reported; a false match
 * needs all of that by chance. The search costs one read of memory, and
 * runs only when the image is to be restarted with new ids: when this
 * machine cannot create the namespaces (probed once per process, and
 * again after each restart), or with SELFCKPT_NEW_IDS=1.
 */
#define LOG_PREFIX "checkpoint: "

#include <stddef.h>
#include <stdint.h>
#include <linux/errno.h>
#include <linux/sched.h>

#include "compat.h"
#include "internal.h"
#include "log.h"
#include "sys.h"

/* glibc's struct __pthread_mutex_s on x86-64 (40 bytes). */
#define MX_LOCK 0
#define MX_COUNT 4
#define MX_OWNER 8
#define MX_KIND 16
#define MX_SIZE 40
#define MX_TYPE_MASK 3u		/* PTHREAD_MUTEX_KIND_MASK_NP */
#define MX_ROBUST 16u		/* PTHREAD_MUTEX_ROBUST_NORMAL_NP */
#define MX_PI 32u		/* PTHREAD_MUTEX_PRIO_INHERIT_NP */
#define MX_PP 64u		/* PTHREAD_MUTEX_PRIO_PROTECT_NP */
#define MX_KNOWN 0x3f3u		/* also pshared (128), elision (256, 512) */
#define FUTEX_TID_MASK_ 0x3fffffffu

/* glibc's struct __pthread_rwlock_arch_t on x86-64 (56 bytes). */
#define RW_READERS 0
#define RW_WRITERS_FUTEX 12
#define RW_CUR_WRITER 24
#define RW_FLAGS 48
#define RW_SIZE 56
#define RW_WRLOCKED 2u		/* PTHREAD_RWLOCK_WRLOCKED in __readers */

struct search {
	struct sck_dump *d;
	int32_t lo, hi;			/* range of the process's thread ids */
};

static int32_t i32(const uint8_t *p, size_t off)
{
	int32_t v;

	__builtin_memcpy(&v, p + off, sizeof(v));
	return v;
}

static int is_thread(const struct search *s, int32_t tid)
{
	if (tid < s->lo || tid > s->hi)
		return 0;
	for (uint32_t i = 0; i < s->d->nslots; i++)
		if (s->d->slots[i].t.tid == tid)
			return 1;
	return 0;
}

/* The kind of held owner-recording mutex at p, or NULL. */
static const char *held_mutex(const uint8_t *p, int32_t owner)
{
	uint32_t lock = (uint32_t)i32(p, MX_LOCK);
	uint32_t kind = (uint32_t)i32(p, MX_KIND);
	uint32_t type = kind & MX_TYPE_MASK;

	if (kind & ~MX_KNOWN || (kind & MX_PI && kind & MX_PP))
		return NULL;
	if (kind & (MX_ROBUST | MX_PI)) {
		if ((lock & FUTEX_TID_MASK_) != (uint32_t)owner)
			return NULL;
		if (kind & MX_PI)
			return "priority-inheritance mutex";
		return "robust mutex";
	}
	if (type != 1 && type != 2)	/* normal and adaptive: no owner check */
		return NULL;
	if (kind & MX_PP ? lock == 0 : lock != 1 && lock != 2)
		return NULL;
	if (type == 1)
		return i32(p, MX_COUNT) > 0 ? "recursive mutex" : NULL;
	return "error-checking mutex";
}

static int held_rwlock(const uint8_t *p)
{
	uint32_t futex = (uint32_t)i32(p, RW_WRITERS_FUTEX);

	return ((uint32_t)i32(p, RW_READERS) & RW_WRLOCKED) && (futex == 1 || futex == 2) &&
	       (uint32_t)i32(p, RW_FLAGS) <= 2;
}

static int search_region(void *arg, const struct region *r)
{
	const struct search *s = arg;

	if (!(r->cat & (PAGE_IS_PRESENT | PAGE_IS_SWAPPED)) || (r->cat & PAGE_IS_GUARD) ||
	    (r->cat & PAGE_IS_PFNZERO))
		return 0;
	/* Locks are 8-byte aligned and, being small, may cross pages only
	 * within one range of present pages. */
	for (uint64_t a = r->start; a + MX_SIZE <= r->end; a += 8) {
		const uint8_t *p = (const uint8_t *)(uintptr_t)a;
		int32_t owner = i32(p, MX_OWNER);
		const char *what = NULL;

		if (is_thread(s, owner))
			what = held_mutex(p, owner);
		if (!what && a + RW_SIZE <= r->end) {
			owner = i32(p, RW_CUR_WRITER);
			if (is_thread(s, owner) && held_rwlock(p))
				what = "write-locked rwlock";
		}
		if (what)
			return sck_fail(EOPNOTSUPP,
					"thread %d holds a%s %s at 0x%lx, which records its owner's thread id; this image is for a restart with new ids (%s), after which that lock would belong to nobody: release it before the checkpoint%s",
					(int)owner, what[0] == 'e' ? "n" : "", what,
					(unsigned long)a,
					selfckpt__new_ids == SCK_NEW_IDS_YES ? "SELFCKPT_NEW_IDS=1" :
					sys_geteuid() ? "this machine cannot create user and PID namespaces" :
					"this machine cannot create PID namespaces",
					selfckpt__new_ids == SCK_NEW_IDS_YES ? "" :
					", or checkpoint where user and PID namespaces are available");
	}
	return 0;
}

int selfckpt__locks_check(struct sck_dump *d)
{
	struct search s = { d, INT32_MAX, 0 };

	for (uint32_t i = 0; i < d->nslots; i++) {
		if (d->slots[i].t.tid < s.lo)
			s.lo = d->slots[i].t.tid;
		if (d->slots[i].t.tid > s.hi)
			s.hi = d->slots[i].t.tid;
	}
	for (uint32_t i = 0; i < d->nvmas; i++) {
		const struct sck_dump_vma *v = &d->vmas[i];
		uint64_t end = v->read_end < v->v.end ? v->read_end : v->v.end;
		int ret;

		if ((v->v.prot & 3) != 3 || v->v.kind == SCK_VMA_VDSO ||
		    v->v.kind == SCK_VMA_VVAR || v->v.kind == SCK_VMA_VVAR_VCLOCK)
			continue;
		ret = selfckpt__walk_pages(d, v->v.start, end, search_region, &s);
		if (ret)
			return ret;
	}
	return 0;
}

/* ---- can a restart on this machine keep the ids? ----------------------- */

static int ns_state;			/* 0 unknown, 1 yes, 2 no */

void selfckpt__ns_forget(void)
{
	ns_state = 0;
}

/*
 * Create the namespaces a restart would (restore-ns.c) in a child that
 * exits at once: clone with CLONE_VM | CLONE_VFORK, so nothing is copied;
 * the child runs two instructions, on no stack of its own, and has no exit
 * signal (reaped with __WCLONE), so the program sees nothing of it.
 */
static long clone_and_exit(unsigned long flags)
{
	long ret;
	register long r10 __asm__("r10") = 0;
	register long r8 __asm__("r8") = 0;

	__asm__ volatile("syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "mov $60, %%eax\n\t"	/* the child: exit(0) */
			 "xor %%edi, %%edi\n\t"
			 "syscall\n"
			 "1:"
			 : "=a"(ret)
			 : "0"((long)__NR_clone), "D"(flags), "S"(0L), "d"(0L),
			   "r"(r10), "r"(r8)
			 : "rcx", "r11", "memory");
	return ret;
}

int selfckpt__ns_ok(void)
{
	if (!ns_state) {
		unsigned long flags = CLONE_VM | CLONE_VFORK | CLONE_NEWPID;
		long pid;

		if (sys_geteuid() != 0)	/* as restore-ns.c decides */
			flags |= CLONE_NEWUSER;
		pid = clone_and_exit(flags);
		if (pid > 0) {
			struct {
				int32_t signo, errno_, code, pad, pid, uid, status;
				char rest[100];
			} si;

			sys_waitid(1 /* P_PID */, (int)pid, &si,
				   4 /* WEXITED */ | 0x80000000 /* __WCLONE */);
		}
		ns_state = pid > 0 ? 1 : 2;
		sck_debug("user and PID namespaces %s",
			  pid > 0 ? "available: a restart keeps the ids" :
				    "unavailable: a restart gives new ids");
	}
	return ns_state == 1;
}

/*
 * checkpoint.c - selfckpt_checkpoint() and selfckpt_checkpoint_fd().
 *
 * A plain sequence (the resource files do the work):
 *
 *   block every signal, so that no handler changes memory mid-image;
 *   size and reserve the arena;
 *   collect: fingerprint, mappings, process state, descriptors, thread;
 *   capture the registers  ---- selfckpt__ctx_save returns 1 ----
 *     write the image (writer.c), fsync, rename into place;
 *     restore the signal mask; return the checkpoint id;
 *   ---- when the restorer resumes the capture, it returns 0 ----
 *     unmap the restorer's area, account the restart; return 0.
 *
 * Nothing here calls malloc or stdio, so a checkpoint may be taken from a
 * signal handler; errno is preserved except to report a failure.
 */
#define LOG_PREFIX ""

#include <errno.h>
#include <fcntl.h>
#include <linux/mman.h>
#include <linux/prctl.h>
#include <signal.h>

#include "compat.h"
#include "internal.h"
#include "log.h"
#include "nolibc/fmt.h"
#include "nolibc/str.h"
#include "objects.h"
#include "sys.h"

struct sck_state selfckpt__state;
struct sck_rstinfo selfckpt__rstinfo;

/* Where a checkpoint goes: an fd, and for path mode the rename to do. */
struct target {
	int fd;
	int dirfd;			/* -1 in fd mode */
	int anon;			/* fd is an O_TMPFILE file, nameless */
	int published;			/* the whole image reached its destination:
					 * path mode, renamed; fd mode, written */
	long program;			/* in the writer child: the program's
					 * PID, which must be its parent still */
	char tmp[96];			/* temporary name in dirfd (anon: once linked) */
	const char *name;		/* final name in dirfd */
};

uint64_t selfckpt__next_id(void)
{
	const struct sck_state *s = &selfckpt__state;

	return (s->last_id > s->burned_id ? s->last_id : s->burned_id) + 1;
}

static uint64_t next_pow2(uint64_t v)
{
	uint64_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

static long count_fds(void)
{
	long dirfd = sys_openat(-100, "/proc/self/fd",
				O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	char buf[4096];
	long n = 0, len;

	if (dirfd < 0)
		return dirfd;
	while ((len = sys_getdents64((int)dirfd, buf, sizeof(buf))) > 0)
		for (long off = 0; off < len;) {
			unsigned short reclen;

			__builtin_memcpy(&reclen, buf + off + 16, 2);
			off += reclen;
			n++;
		}
	sys_close((int)dirfd);
	return n;
}

/* The arena's layout, computed from a quick look at the process. */
struct plan {
	uint64_t vmas, files, fds, runs, guards, meta, smaps, chunks, total;
	uint64_t threads;
	uint64_t objdata;		/* bytes queued in pipes... at most */
	uint64_t sigs, timers;		/* SIGINFO and POSIX_TIMER records */
	struct sck_sysv_plan sysv;	/* SYSV records */
};

/*
 * Room for every pending signal: the queued real-time ones are bounded by
 * RLIMIT_SIGPENDING (per user; capped here), the standard ones by one per
 * thread and one for the process each.
 */
static uint64_t plan_sigs(uint64_t threads)
{
	uint64_t lim[2] = { 0, 0 };

	sys_prlimit64(0, 11 /* RLIMIT_SIGPENDING */, NULL, lim);
	if (lim[0] > (1U << 16))
		lim[0] = 1U << 16;
	return lim[0] + 32 * (threads + 1) + 64;
}

static int plan_arena(struct plan *p, const struct sck_cpu *cpu)
{
	struct sck_sizing sz;
	long nfds = count_fds();
	int ret = selfckpt__size_up(&sz), nthreads = selfckpt__threads_count();

	if (ret)
		return ret;
	if (nfds < 0)
		return (int)nfds;
	if (nthreads < 0)
		return nthreads;
	if ((ret = selfckpt__sysv_plan(&p->sysv)))
		return ret;
	/* Room for threads created before the stop reaches their creator. */
	p->threads = (uint64_t)nthreads + nthreads / 4 + 16;
	p->vmas = sz.nvmas + 64;
	/* 64: objects for descriptors in flight only (res-scm.c). */
	p->fds = (uint64_t)nfds + 16 + 64;
	p->files = p->vmas + p->fds + 16;
	p->runs = sz.pages / 2 + p->vmas * 2 + 4096;
	if (p->runs > (1U << 22))
		p->runs = 1U << 22;
	p->guards = p->vmas + 4096;
	p->chunks = sz.pages / (SCK_CHUNK_SIZE / SCK_PAGE_SIZE) + 2;
	p->smaps = sz.maps_bytes;
	p->objdata = selfckpt__obj_plan();
	p->sigs = plan_sigs(p->threads);
	p->timers = SCK_TIMERS_MAX;
	p->meta = (64 << 10) + p->files * (sizeof(struct sck_rec) +
					   sizeof(struct sck_file) + 512) +
		  p->vmas * (sizeof(struct sck_rec) + sizeof(struct sck_vma) + 512) +
		  p->runs * sizeof(struct sck_run) +
		  p->guards * sizeof(struct sck_range) +
		  p->fds * (sizeof(struct sck_rec) + sizeof(struct sck_fd)) +
		  p->fds * (sizeof(struct sck_rec) + sizeof(struct sck_obj) + 256) +
		  p->objdata +
		  p->threads * (sizeof(struct sck_rec) + sizeof(struct sck_thread) +
				cpu->xsave_size + 8) +
		  p->sigs * (sizeof(struct sck_rec) + sizeof(struct sck_siginfo)) +
		  p->timers * (sizeof(struct sck_rec) + sizeof(struct sck_posix_timer)) +
		  sizeof(struct sck_rec) + sizeof(struct sck_clocks) +
		  p->sysv.data + 2 * SCK_PAGE_SIZE;
	p->total = p->meta + p->smaps + (8 << 20) + SCK_PROBE_SIZE +
		   p->files * (sizeof(struct sck_dump_file) + 8 + 256) +
		   p->vmas * sizeof(struct sck_dump_vma) +
		   p->runs * sizeof(struct sck_run) +
		   p->guards * sizeof(struct sck_range) +
		   p->fds * (sizeof(struct sck_fdx) + sizeof(struct sck_fd) +
			     sizeof(struct sck_dump_obj) + 64) +
		   p->objdata + p->chunks * 16 +
		   p->threads * (sizeof(struct sck_slot) + cpu->xsave_size + 64 +
				 64 + SCK_SLOT_PROCBUF + 64) +
		   p->sigs * sizeof(struct sck_siginfo) + 64 +
		   p->timers * (sizeof(struct sck_posix_timer) + 128) + 64 +
		   p->sysv.text + p->sysv.scratch + 128;
	return 0;
}

#define TAKE(ptr, count, align)                                            \
	((ptr) = selfckpt__arena_alloc(&d->arena, sizeof(*(ptr)) * (count), \
				       (align)))

/* Unmap the arena of a checkpoint that failed early; d lives inside it. */
static void drop_arena(struct sck_dump *d)
{
	struct sck_arena a = d->arena;

	selfckpt__arena_fini(&a);
}

/* What PAGEMAP_SCAN can do here (SCK_PM_*): probed once, see internal.h. */
static int pm_mode;

/*
 * Probe with the ioctl on empty ranges (P18): first as such (Linux 6.7),
 * then with PAGE_IS_GUARD in the masks (6.15; 6.7-6.14 refuse the bit
 * with EINVAL). vec: room for one page_region.
 */
static int pagemap_mode(int pagemap_fd, void *vec)
{
	struct pm_scan_arg a = { .size = sizeof(a), .vec = (uint64_t)(uintptr_t)vec,
				 .vec_len = 1, .return_mask = PAGE_IS_PRESENT };

	if (pm_mode != SCK_PM_UNKNOWN)
		return pm_mode;
	if (sys_ioctl(pagemap_fd, PAGEMAP_SCAN, &a) != 0)
		return pm_mode = SCK_PM_PAGEMAP;
	a.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_GUARD;
	a.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_GUARD;
	if (!(selfckpt__test_faults & SCK_FAULT_NO_PAGE_IS_GUARD) &&
	    sys_ioctl(pagemap_fd, PAGEMAP_SCAN, &a) == 0)
		return pm_mode = SCK_PM_SCAN_GUARD;
	sck_info("mem: PAGEMAP_SCAN does not take PAGE_IS_GUARD here%s: guard pages are told from swapped-out ones by reading them",
		 (selfckpt__test_faults & SCK_FAULT_NO_PAGE_IS_GUARD) ?
		 " (SELFCKPT_TEST_FAULT=no-page-is-guard)" : " (Linux 6.7-6.14)");
	return pm_mode = SCK_PM_SCAN;
}

static int setup(struct sck_dump **out, const struct target *t, unsigned flags,
		 int app_dumpable)
{
	struct sck_cpu cpu;
	struct sck_arena a;
	struct plan p = { 0 };
	struct sck_dump *d;
	int ret;

	selfckpt__cpu_probe(&cpu);
	if (!cpu.xsave_size)
		return sck_fail(ENOSYS, "this CPU or kernel does not offer XSAVE");
	ret = plan_arena(&p, &cpu);
	if (ret)
		return sck_fail(-ret, "cannot inspect /proc/self: %s",
				selfckpt__errname(-ret));
	if (selfckpt__arena_init(&a, p.total))
		return sck_fail(ENOMEM, "cannot reserve %lu bytes for the checkpoint",
				(unsigned long)p.total);
	d = selfckpt__arena_alloc(&a, sizeof(*d), 64);
	d->arena = a;
	d->flags = flags;
	d->out_fd = t->fd;
	d->pagemap_fd = d->mem_fd = -1;
	d->files_cap = (uint32_t)p.files;
	d->objs_cap = (uint32_t)p.fds;
	d->file_hash_cap = (uint32_t)next_pow2(p.files * 2 + 2);
	d->vmas_cap = (uint32_t)p.vmas;
	d->runs_cap = p.runs;
	d->guards_cap = p.guards;
	d->chunk_hash_cap = p.chunks;
	d->smaps_cap = p.smaps;
	d->scanbuf_size = 64 << 10;
	d->tail_cap = 4096 + p.chunks * 8;
	d->sigs_cap = (uint32_t)p.sigs;
	d->timers_cap = (uint32_t)p.timers;
	/* /proc/self/timers: under 100 bytes a timer. */
	d->timers_buf_cap = p.timers * 128;
	d->sysv_text_cap = p.sysv.text;
	d->sysv_scratch_cap = p.sysv.scratch;

	uint8_t *metabuf;

	if (!TAKE(metabuf, p.meta, 4096) || !TAKE(d->files, p.files, 8) ||
	    !TAKE(d->file_hash, d->file_hash_cap, 8) ||
	    !TAKE(d->objs, p.fds, 8) ||
	    !TAKE(d->vmas, p.vmas, 8) || !TAKE(d->runs, p.runs, 8) ||
	    !TAKE(d->guards, p.guards, 8) ||
	    !TAKE(d->chunk_hash, p.chunks, 8) ||
	    !TAKE(d->tail, d->tail_cap, 8) ||
	    !(d->scanbuf = selfckpt__arena_alloc(&d->arena, d->scanbuf_size, 64)) ||
	    !TAKE(d->bounce, SCK_CHUNK_SIZE, 4096) ||
	    !TAKE(d->probe, SCK_PROBE_SIZE, 4096) ||
	    !TAKE(d->slots, p.threads, 64) || !TAKE(d->sigs, p.sigs, 64) ||
	    !TAKE(d->timers, p.timers, 8) ||
	    !TAKE(d->timers_buf, d->timers_buf_cap, 64) ||
	    !TAKE(d->sysv_text, p.sysv.text, 64) ||
	    !TAKE(d->sysv_scratch, p.sysv.scratch, 64)) {
		drop_arena(d);
		return sck_fail(ENOMEM, "checkpoint arena too small");
	}
	/* Every slot ready before any thread is signalled. */
	d->slots_cap = (uint32_t)p.threads;
	for (uint32_t i = 0; i < d->slots_cap; i++) {
		struct sck_slot *sl = &d->slots[i];

		sl->ctx.xsave = selfckpt__arena_alloc(&d->arena, cpu.xsave_size,
						      SCK_XSAVE_ALIGN);
		sl->ctx.xsave_mask = cpu.xfeatures;
		sl->scratch = selfckpt__arena_alloc(&d->arena, 64, 64);
		sl->procbuf = selfckpt__arena_alloc(&d->arena, SCK_SLOT_PROCBUF, 64);
		if (!sl->ctx.xsave || !sl->scratch || !sl->procbuf) {
			drop_arena(d);
			return sck_fail(ENOMEM, "checkpoint arena too small");
		}
	}
	d->app_dumpable = app_dumpable;
	selfckpt__meta_start(&d->meta, metabuf, p.meta);
	static const struct sck_header blank;
	struct sck_part hp = { &blank, sizeof(blank) };
	void *hdr;

	/* HEADER comes first; it is completed in place before sealing. */
	if (selfckpt__meta_add(&d->meta, SCK_REC_HEADER, 0, &hp, 1, &hdr)) {
		drop_arena(d);
		return sck_fail(ENOMEM, "checkpoint arena too small");
	}
	d->hdr = hdr;

	d->excl_fd[d->nexcl++] = t->fd;
	if (t->dirfd >= 0)
		d->excl_fd[d->nexcl++] = t->dirfd;
	d->pagemap_fd = (int)sys_openat(-100, "/proc/self/pagemap",
					O_RDONLY | O_CLOEXEC, 0);
	d->mem_fd = (int)sys_openat(-100, "/proc/self/mem", O_RDONLY | O_CLOEXEC, 0);
	if (d->pagemap_fd < 0 || d->mem_fd < 0) {
		int err = d->pagemap_fd < 0 ? -d->pagemap_fd : -d->mem_fd;

		if (d->pagemap_fd >= 0)
			sys_close(d->pagemap_fd);
		if (d->mem_fd >= 0)
			sys_close(d->mem_fd);
		drop_arena(d);
		/* /proc/PID/mem of a thread group whose leader has exited. */
		if (err == ESRCH)
			return sck_fail(EOPNOTSUPP,
					"the main thread has exited (pthread_exit in main): a process without its main thread cannot be checkpointed");
		return sck_fail(err, "cannot open /proc/self/pagemap or /proc/self/mem: %s",
				selfckpt__errname(err));
	}
	d->excl_fd[d->nexcl++] = d->pagemap_fd;
	d->excl_fd[d->nexcl++] = d->mem_fd;

	int pm = pagemap_mode(d->pagemap_fd, d->scanbuf);

	d->have_pagemap_scan = pm != SCK_PM_PAGEMAP;
	d->scan_guard = pm == SCK_PM_SCAN_GUARD;
	*out = d;
	return 0;
}

static void teardown(struct sck_dump *d)
{
	/* Descriptors in flight: open until the writer has read memfds (res-scm.c). */
	selfckpt__scm_close(d);
	sys_close(d->pagemap_fd);
	sys_close(d->mem_fd);
	drop_arena(d);
}

/*
 * A failed write to a pipe or socket whose reader went away raised
 * SIGPIPE, blocked for now: delivered when the mask comes back, it would
 * kill the process, while the contract is -1 with EPIPE and nothing else.
 * Ignoring a signal discards it if pending; the disposition is then put
 * back. A SIGPIPE that was pending before the checkpoint is left alone.
 */
static void discard_our_sigpipe(uint64_t pending_before)
{
	const uint64_t bit = 1ULL << (SIGPIPE - 1);
	uint64_t now = 0;
	struct sck_sigaction ign = { (uint64_t)(uintptr_t)SIG_IGN, 0, 0, 0 }, old;

	if ((pending_before & bit) || sys_rt_sigpending(&now) || !(now & bit))
		return;
	if (sys_rt_sigaction(SIGPIPE, NULL, &old) == 0) {
		ign.flags = old.flags;
		ign.restorer = old.restorer;
		sys_rt_sigaction(SIGPIPE, &ign, NULL);
		sys_rt_sigaction(SIGPIPE, &old, NULL);
	}
}

static void new_uuid(struct sck_uuid *u)
{
	if (sys_getrandom(u->b, sizeof(u->b), 1 /* GRND_NONBLOCK */) != 16) {
		struct __kernel_timespec ts;

		sys_clock_gettime(1, &ts);
		uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)sys_getpid() << 32);

		__builtin_memcpy(u->b, &x, 8);
		__builtin_memcpy(u->b + 8, &ts.tv_sec, 8);
	}
	u->b[6] = (u->b[6] & 0x0f) | 0x40;	/* RFC 4122 version 4 */
	u->b[8] = (u->b[8] & 0x3f) | 0x80;
}

static int collect(struct sck_dump *d, uint64_t app_mask)
{
	struct sck_slot *self = &d->slots[d->caller];
	int ret;

	/*
	 * This thread's state first: it takes the signals pending for it (and
	 * for the process, if it is the MAIN thread) before anything reads
	 * the timers, which taking a timer's signal may re-arm (res-signal.c).
	 */
	if ((ret = selfckpt__thread_state(self, app_mask, SCK_THRF_CALLER,
					  d->mem_fd)) ||
	    (ret = selfckpt__signals_take(d, self)) ||
	    (ret = selfckpt__fingerprint(d)) || (ret = selfckpt__mem_collect(d)) ||
	    (ret = selfckpt__proc_collect(d)) || (ret = selfckpt__fd_collect(d)) ||
	    (ret = selfckpt__timers_collect(d)) ||
	    (ret = selfckpt__signals_record(d)) || (ret = selfckpt__sysv_collect(d)))
		return ret;
	uint32_t n = 0;

	for (uint32_t i = 0; i < d->nslots; i++)
		if (d->slots[i].state == SCK_SLOT_STOPPED)
			n++;
	d->hdr->nthreads = n;
	/*
	 * An image for a restart with new ids must hold no lock that records
	 * its owner's id (res-locks.c).
	 */
	if (selfckpt__new_ids == SCK_NEW_IDS_YES ||
	    (selfckpt__new_ids == SCK_NEW_IDS_AUTO && !selfckpt__ns_ok())) {
		ret = selfckpt__locks_check(d);
		if (ret)
			return ret;
		d->hdr->flags |= SCK_HDR_NO_OWNED_LOCKS;
	}
	d->hdr->flags |= selfckpt__state.restarted;

	struct sck_header *h = d->hdr;
	struct sck_state *s = &selfckpt__state;

	if (!s->lineage.b[6])
		new_uuid(&s->lineage);
	h->ckpt_id = selfckpt__next_id();
	h->parent_id = s->last_id;
	h->parent_uuid = s->last_uuid;
	h->lineage_uuid = s->lineage;
	h->generation = s->generation;
	new_uuid(&h->image_uuid);
	return 0;
}

/* A fresh temporary name, .selfckpt-PID-RANDOM.tmp, in t->tmp. */
static void tmp_name(struct target *t)
{
	uint32_t rnd = 0;

	sys_getrandom(&rnd, sizeof(rnd), 1);
	selfckpt__fmt(t->tmp, sizeof(t->tmp), ".selfckpt-%ld-%08x.tmp",
		      sys_getpid(), rnd);
}

/*
 * Give the nameless (O_TMPFILE) image a temporary name in its directory:
 * linkat cannot replace a file, rename can. linkat with AT_EMPTY_PATH
 * needs CAP_DAC_READ_SEARCH before Linux 6.10 (ENOENT without it); the
 * /proc/self/fd link works for anyone (open(2), O_TMPFILE), and /proc is
 * needed anyway. Returns 0 or -errno.
 */
static long link_anon(struct target *t)
{
	char proc[32];
	long r = -EEXIST;

	selfckpt__fmt(proc, sizeof(proc), "/proc/self/fd/%d", t->fd);
	for (int attempt = 0; attempt < 16 && r == -EEXIST; attempt++) {
		tmp_name(t);
		r = sys_linkat(t->fd, "", t->dirfd, t->tmp, AT_EMPTY_PATH);
		if (r == -ENOENT || r == -EPERM)
			r = sys_linkat(-100, proc, t->dirfd, t->tmp, AT_SYMLINK_FOLLOW);
	}
	if (r < 0)
		t->tmp[0] = '\0';
	return r;
}

/*
 * Make the image durable and put it in place (path mode). The image has
 * had no name until now (O_TMPFILE), so a process killed before this
 * point leaves nothing behind; between the link and the rename (two
 * system calls) a kill leaves a complete image under a temporary name.
 */
static int finish(struct target *t, unsigned flags)
{
	long r;

	if (!(flags & SELFCKPT_NO_SYNC)) {
		r = sys_fsync(t->fd);
		/* Pipes and sockets cannot be synced; that is not an error. */
		if (r < 0 && r != -EINVAL && r != -EROFS)
			return sck_fail((int)-r, "fsync of the image failed: %s",
					selfckpt__errname((int)-r));
	}
	if (t->dirfd < 0)
		return 0;	/* published already: the stream is written */
	/*
	 * A writer child whose program is gone (killed) must not publish:
	 * PR_SET_PDEATHSIG kills it when the program dies; this check covers
	 * a program that died before the child could ask for that.
	 */
	if (t->program && sys_getppid() != t->program)
		return sck_fail(ESRCH, "the program died: its image is not put in place");
	if (t->anon) {
		r = link_anon(t);
		if (r < 0)
			return sck_fail((int)-r, "cannot link the image into its directory: %s",
					selfckpt__errname((int)-r));
	}
	r = sys_renameat(t->dirfd, t->tmp, t->dirfd, t->name);
	if (r < 0) {
		if (t->anon)
			sys_unlinkat(t->dirfd, t->tmp, 0);	/* the link just made */
		return sck_fail((int)-r, "cannot rename the image into place: %s",
				selfckpt__errname((int)-r));
	}
	t->published = 1;
	if (!(flags & SELFCKPT_NO_SYNC)) {
		r = sys_fsync(t->dirfd);
		if (r < 0 && r != -EINVAL)
			return sck_fail((int)-r, "fsync of the image's directory failed: %s",
					selfckpt__errname((int)-r));
	}
	return 0;
}

/* Memory a child would not see as it is (P21): write in place then. */
/*
 * The kernel writes the rseq area of a registered thread (cpu_id...) on
 * its way back to user space whenever the thread moved to another CPU: in
 * the writing thread, that would change a page between its hash and its
 * write, and the image would be refused as damaged (P1). The writing
 * thread unregisters for the length of the write; the image keeps the
 * registration (THREAD.rseq_*), which the restorer makes again.
 */
static void rseq_quiet(const struct sck_thread *t, int quiet)
{
	if (t->rseq_len)
		sys_rseq((void *)(uintptr_t)t->rseq_addr, t->rseq_len,
			 quiet ? SELFCKPT_RSEQ_FLAG_UNREGISTER : 0, t->rseq_sig);
}

static int can_fork(const struct sck_dump *d)
{
	for (uint32_t i = 0; i < d->nvmas; i++)
		if (d->vmas[i].v.flags & (SCK_VMAF_DONTFORK | SCK_VMAF_WIPEONFORK))
			return 0;
	return 1;
}

/*
 * The signals this thread took out of the kernel's queues (its own, and the
 * process's if it is the MAIN thread) go back once the image no longer
 * needs them: the snapshot is taken, or the checkpoint failed.
 */
static void requeue_caller(struct sck_dump *d)
{
	const struct sck_slot *self = &d->slots[d->caller];

	if (d->caller_requeued)
		return;
	d->caller_requeued = 1;
	selfckpt__signals_requeue(d, self->t.tid, !!(self->t.flags & SCK_THRF_MAIN));
}

/*
 * Write the image from a copy-on-write child, and let the other threads go
 * on meanwhile. The child has only this thread: it runs nothing but the
 * libc-free writer, with /proc/self reopened (the parent's fds see the
 * parent's memory, which is changing now), and reports through a pipe,
 * with the message if it failed. It has no exit signal, so the program
 * sees no SIGCHLD, and only a wait with __WCLONE or __WALL sees it. It
 * dies with the program and never publishes for a dead one (finish).
 */
static int write_forked(struct sck_dump *d, struct target *t, unsigned flags)
{
	struct {
		int32_t ret;
		int32_t published;	/* the image reached the destination */
		char msg[500];
	} res = { -EIO, 0, "" };
	int p[2];
	long r, pid;

	long program = sys_getpid();

	r = sck_syscall2(__NR_pipe2, (long)p, O_CLOEXEC);
	if (r < 0)
		return sck_fail((int)-r, "cannot create a pipe for the writer");
	pid = sck_syscall5(__NR_clone, 0, 0, 0, 0, 0);
	if (pid == 0) {
		/*
		 * Die with the program (the thread that forked it waits for
		 * the report, so its death is the program's): an image of a
		 * process that was killed is never put in place after it.
		 */
		sys_prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		t->program = program;
		if (sys_getppid() != program)
			sys_exit_group(0);
		/* A fork keeps the rseq registration: drop it before hashing. */
		rseq_quiet(&d->slots[d->caller].t, 1);
		sys_close(p[0]);
		sys_close(d->pagemap_fd);
		sys_close(d->mem_fd);
		d->pagemap_fd = (int)sys_openat(-100, "/proc/self/pagemap",
						O_RDONLY | O_CLOEXEC, 0);
		d->mem_fd = (int)sys_openat(-100, "/proc/self/mem",
					    O_RDONLY | O_CLOEXEC, 0);
		if (d->pagemap_fd < 0 || d->mem_fd < 0)
			res.ret = sck_fail(EIO, "the writer cannot open its /proc/self");
		else
			res.ret = selfckpt__write_image(d);
		t->published = !res.ret && t->dirfd < 0;
		if (!res.ret)
			res.ret = finish(t, flags);
		res.published = t->published;
		if (res.ret)
			selfckpt__fmt(res.msg, sizeof(res.msg), "%s", selfckpt_last_error());
		sys_write(p[1], &res, sizeof(res));
		sys_exit_group(0);
	}
	sys_close(p[1]);
	if (pid < 0) {
		sys_close(p[0]);
		return sck_fail((int)-pid, "cannot fork the writer: %s",
				selfckpt__errname((int)-pid));
	}
	/* The snapshot is taken: everyone else goes on, with their signals. */
	requeue_caller(d);
	selfckpt__threads_release(d);
	do
		r = sys_read(p[0], &res, sizeof(res));
	while (r == -EINTR);
	sys_close(p[0]);
	/* A writer that died may have renamed its image into place first. */
	t->published = r != (long)sizeof(res) || res.published;
	if (r != (long)sizeof(res))
		res.ret = sck_fail(EIO, "the image writer died");
	else if (res.ret)
		selfckpt__set_error("%s", res.msg);
	struct {
		int32_t signo, errno_, code, pad, pid, uid, status;
		char rest[100];
	} si;

	/* Reap it; if the program's wait(__WALL) did, never mind. */
	sys_waitid(1 /* P_PID */, (int)pid, &si, 4 /* WEXITED */ | 0x80000000 /* __WCLONE */);
	return res.ret;
}

/*
 * Back in a restarted process. Runs with the program's signal mask (the
 * restorer's rt_sigreturn set it), in the resumed image: nothing of the
 * checkpoint's arena exists any more.
 */
static void resumed(void)
{
	struct sck_rstinfo *ri = &selfckpt__rstinfo;

	if (ri->magic == SCK_RSTINFO_MAGIC) {
		/* The others run restorer code until they leave it. */
		selfckpt__threads_resumed(ri->threads);
		if (ri->blob_len)
			sys_munmap((void *)(uintptr_t)ri->blob_start, ri->blob_len);
		if (ri->flags & SCK_RST_PIDNS)
			selfckpt__state.restarted = SCK_HDR_RESTARTED_PIDNS |
				((ri->flags & SCK_RST_USERNS) ? SCK_HDR_RESTARTED_USERNS : 0);
		else
			selfckpt__state.restarted = SCK_HDR_RESTARTED_NEW_IDS;
		sck_info("resumed from checkpoint %lu as pid %d, %s",
			 (unsigned long)selfckpt__state.last_id, ri->pid,
			 (ri->flags & SCK_RST_PIDNS) ?
			 ((ri->flags & SCK_RST_USERNS) ?
			  "ids kept (private user and PID namespaces)" :
			  "ids kept (private PID namespace)") :
			 "with new process and thread ids");
		ri->magic = 0;
	}
	/* Another machine, perhaps: probe again when it matters. */
	selfckpt__ns_forget();
	pm_mode = SCK_PM_UNKNOWN;
	selfckpt__auto_resumed();
	selfckpt__state.generation++;
}

/*
 * A checkpoint failed after its image reached the destination, or perhaps
 * did (a writer that died): a failed fsync of the directory after the
 * rename, of a file written whole through selfckpt_checkpoint_fd. The
 * image is complete: its id is never given to another image, so that no
 * two images of a lineage have the same id (the next checkpoint's parent
 * is still the last good one), and the reason says what is there.
 */
static void burn_id(const struct target *t, long id)
{
	char why[400];
	const char *dead = "the image writer died";

	selfckpt__state.burned_id = (uint64_t)id;
	selfckpt__fmt(why, sizeof(why), "%s", selfckpt_last_error());
	if (t->dirfd < 0)
		selfckpt__set_error("%s: the image (checkpoint %ld) was written whole", why, id);
	else if (!sck_strcmp(why, dead))
		selfckpt__set_error("%s: %s is as it was, or holds the new image (checkpoint %ld), complete",
				    why, t->name, id);
	else
		selfckpt__set_error("%s: the new image (checkpoint %ld) is in place as %s, but the rename may not survive a crash of the machine",
				    why, id, t->name);
}

/* returns_twice: see selfckpt__ctx_save. */
static long __attribute__((noinline)) do_checkpoint(struct target *t,
						    unsigned flags)
{
	uint64_t all = ~0ULL, app_mask = 0;
	volatile int saved_errno = errno;
	struct sck_state prev;
	struct sck_dump *d = NULL;
	long id;
	int ret;

	if (__atomic_exchange_n(&selfckpt__state.busy, 1, __ATOMIC_ACQUIRE)) {
		selfckpt__set_error("a checkpoint is already running in this process");
		errno = EBUSY;
		return -1;
	}
	/* No handler may run and change memory while the image is made. */
	sys_rt_sigprocmask(SIG_SETMASK, &all, &app_mask);
	selfckpt__clear_error();
	/*
	 * A non-dumpable process may not open its own /proc/self/mem and
	 * pagemap; it is made dumpable for the length of the checkpoint (the
	 * image says 0, and the restart sets 0 again).
	 */
	int dumpable = (int)sys_prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);

	if (dumpable == 0)
		sys_prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	d = NULL;
	ret = setup(&d, t, flags, dumpable);
	if (!ret) {
		/* Stop every other thread, then look at the frozen process. */
		d->caller = 0;
		d->nslots = 1;
		d->slots[0].t.tid = (int32_t)sys_gettid();
		d->slots[0].state = SCK_SLOT_STOPPED;
		if (selfckpt__threads_count() > 1)
			ret = selfckpt__threads_stop(d);
		if (!ret)
			ret = collect(d, app_mask);
		if (ret) {
			requeue_caller(d);
			selfckpt__threads_release(d);
			teardown(d);
		}
	}
	if (ret) {
		if (dumpable == 0)
			sys_prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		selfckpt__state.busy = 0;
		sys_rt_sigprocmask(SIG_SETMASK, &app_mask, NULL);
		errno = -ret;
		return -1;
	}
	id = (long)d->hdr->ckpt_id;
	prev = selfckpt__state;
	/* The library's state as the image will hold it. */
	selfckpt__state.parent_id = selfckpt__state.last_id;
	selfckpt__state.last_id = (uint64_t)id;
	selfckpt__state.last_uuid = d->hdr->image_uuid;

	if (selfckpt__ctx_save(&d->slots[d->caller].ctx) == 0) {
		/* Second return: a restarted process. */
		resumed();
		selfckpt__state.busy = 0;
		errno = saved_errno;
		return 0;
	}
	uint64_t pending_before = 0;

	/* With the standard signals taken out of the queues for the image. */
	sys_rt_sigpending(&pending_before);
	pending_before |= selfckpt__signals_std_mask(d, d->slots[d->caller].t.tid) |
			  selfckpt__signals_std_mask(d, 0);
	if (d->nslots > 1 && !(flags & SELFCKPT_NO_FORK) && can_fork(d)) {
		ret = write_forked(d, t, flags);
	} else {
		rseq_quiet(&d->slots[d->caller].t, 1);
		ret = selfckpt__write_image(d);
		rseq_quiet(&d->slots[d->caller].t, 0);
		t->published = !ret && t->dirfd < 0;
		if (!ret)
			ret = finish(t, flags);
	}
	requeue_caller(d);
	selfckpt__threads_release(d);
	teardown(d);
	if (ret == -EPIPE)
		discard_our_sigpipe(pending_before);
	if (dumpable == 0)
		sys_prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (ret) {
		selfckpt__state = prev;
		if (t->published)
			burn_id(t, id);
	}
	selfckpt__state.busy = 0;
	sys_rt_sigprocmask(SIG_SETMASK, &app_mask, NULL);
	if (ret) {
		errno = -ret;
		return -1;
	}
	sck_info("checkpoint %ld written", id);
	errno = saved_errno;
	return id;
}

/*
 * Split path into a directory fd and a name; make the file the image is
 * written to: nameless (O_TMPFILE, Linux 3.11, most local file systems),
 * so that a process killed while it writes leaves nothing; where the file
 * system cannot, a temporary file .selfckpt-PID-RANDOM.tmp.
 */
static int open_target(const char *path, struct target *t)
{
	char dir[SCK_MAX_PATH + 1];
	const char *slash = NULL;
	size_t len = sck_strlen(path);

	if (len == 0 || len > SCK_MAX_PATH || path[len - 1] == '/')
		return -EINVAL;
	for (const char *p = path; *p; p++)
		if (*p == '/')
			slash = p;
	if (slash) {
		size_t dl = (size_t)(slash - path);

		if (dl == 0)
			dl = 1; /* "/name" */
		__builtin_memcpy(dir, path, dl);
		dir[dl] = '\0';
		t->name = slash + 1;
	} else {
		dir[0] = '.';
		dir[1] = '\0';
		t->name = path;
	}
	long dfd = sys_openat(-100, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);

	if (dfd < 0)
		return (int)dfd;
	t->dirfd = (int)dfd;
	if (!(selfckpt__test_faults & SCK_FAULT_NO_TMPFILE)) {
		long fd = sys_openat(t->dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);

		if (fd >= 0) {
			t->fd = (int)fd;
			t->anon = 1;
			return 0;
		}
		/* Not for this file system (EOPNOTSUPP), or an old kernel. */
		if (fd != -EOPNOTSUPP && fd != -EISDIR && fd != -EINVAL) {
			sys_close(t->dirfd);
			return (int)fd;
		}
	}
	for (int attempt = 0; attempt < 16; attempt++) {
		tmp_name(t);
		/* O_EXCL|O_NOFOLLOW: never through a planted file or link. */
		long fd = sys_openat(t->dirfd, t->tmp,
				     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
					     O_CLOEXEC,
				     0600);

		if (fd >= 0) {
			t->fd = (int)fd;
			return 0;
		}
		if (fd != -EEXIST) {
			sys_close(t->dirfd);
			return (int)fd;
		}
	}
	sys_close(t->dirfd);
	return -EEXIST;
}

long selfckpt_checkpoint(const char *path, unsigned flags)
{
	struct target t = { .fd = -1, .dirfd = -1 };
	long ret;
	int err;

	if (!path || (flags & ~SELFCKPT_FLAGS)) {
		selfckpt__set_error("invalid argument");
		errno = EINVAL;
		return -1;
	}
	err = open_target(path, &t);
	if (err) {
		selfckpt__set_error("cannot create the image next to %s: %s", path,
				    selfckpt__errname(-err));
		errno = -err;
		return -1;
	}
	ret = do_checkpoint(&t, flags);
	if (ret > 0 || ret < 0) {
		/* The checkpointing process; in a resumed one these fds are gone. */
		err = errno;
		if (ret < 0 && !t.anon)
			sys_unlinkat(t.dirfd, t.tmp, 0);
		sys_close(t.fd);
		sys_close(t.dirfd);
		errno = err;
	}
	return ret;
}

long selfckpt_checkpoint_fd(int fd, unsigned flags)
{
	struct target t = { .fd = fd, .dirfd = -1 };
	long fl;

	if (flags & ~SELFCKPT_FLAGS) {
		selfckpt__set_error("invalid argument");
		errno = EINVAL;
		return -1;
	}
	fl = sys_fcntl(fd, F_GETFL, 0);
	if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY) {
		selfckpt__set_error("fd %d is not open for writing", fd);
		errno = EBADF;
		return -1;
	}
	return do_checkpoint(&t, flags);
}

long selfckpt_last_id(void)
{
	return (long)selfckpt__state.last_id;
}

unsigned selfckpt_generation(void)
{
	return selfckpt__state.generation;
}

const char *selfckpt_version(void)
{
	return SELFCKPT_VERSION_STRING;
}

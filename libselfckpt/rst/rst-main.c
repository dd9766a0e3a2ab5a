/*
 * rst-main.c - the restorer: from the launcher's address space to the
 * image's, ending in rt_sigreturn into the checkpointed thread.
 *
 * Runs in the hole prepared by restore.c (see rst.h), with every signal
 * blocked, on its own stack. Freestanding: no libc, no errno, no TLS (the
 * launcher's FS base points into memory this code unmaps), raw system
 * calls only. The order matters and is commented where it does.
 *
 * Past step 2 the launcher no longer exists: every failure is final and
 * ends in rst_die(), which prints one line and exits without running any
 * of the half-restored process.
 */
#include <stddef.h>
#include <stdint.h>
#include <asm/signal.h>
#include <linux/errno.h>
#include <linux/mman.h>
#include <linux/prctl.h>

#include "compat.h"
#include "image.h"
#include "nolibc/fmt.h"
#include "nolibc/str.h"
#include "nolibc/xxh64.h"
#include "rst-lib.h"
#include "rst-timers.h"
#include "rst.h"
#include "sys.h"

#define PAGE SCK_PAGE_SIZE

void rst_main(struct rst_args *a) __attribute__((noreturn, used));


/* Step 2: nothing of the launcher may survive, but this hole and the vDSO. */
static void leave_launcher(struct rst_args *a)
{
	const struct sck_range *u = (const void *)(uintptr_t)a->unmap;

	/*
	 * The launcher's libc registered an rseq area in memory we are about
	 * to unmap; the kernel would write there on every preemption (P1).
	 */
	if (a->cur_rseq_len) {
		long r = sys_rseq((void *)(uintptr_t)a->cur_rseq_addr,
				  a->cur_rseq_len, SELFCKPT_RSEQ_FLAG_UNREGISTER,
				  a->cur_rseq_sig);

		if (r < 0)
			rst_die(a->log_fd, RST_EXIT_OSERR,
				"cannot unregister the launcher's rseq area (error %ld)", -r);
	}
	for (uint32_t i = 0; i < a->nunmap; i++) {
		long r = sys_munmap((void *)(uintptr_t)u[i].start,
				    u[i].end - u[i].start);

		if (r < 0)
			rst_die(a->log_fd, RST_EXIT_OSERR,
				"cannot unmap %lx-%lx (error %ld)",
				(unsigned long)u[i].start, (unsigned long)u[i].end, -r);
	}
	/*
	 * vDSO and vvar go to the image's addresses, where its libc cached
	 * pointers into them (P5). The launcher planned the moves through a
	 * free area of the hole, so that no move lands on a piece not yet
	 * moved (DMTCP #392).
	 */
	for (uint32_t i = 0; i < a->nmoves; i++) {
		const struct rst_move *m = &a->moves[i];
		long r = sys_mremap((void *)(uintptr_t)m->from, m->len, m->len,
				    MREMAP_MAYMOVE | MREMAP_FIXED,
				    (void *)(uintptr_t)m->to);

		if (r < 0 || (uint64_t)r != m->to)
			rst_die(a->log_fd, RST_EXIT_OSERR,
				"cannot move the vdso/vvar from %lx to %lx (error %ld)",
				(unsigned long)m->from, (unsigned long)m->to, -r);
	}
}

/*
 * A System V attachment, the segment made by the launcher in this IPC
 * namespace (restore-sysv.c); a segment removed while attached is removed
 * again once attached.
 */
static void attach_shm(struct rst_args *a, const struct rst_map *m)
{
	long r;

	if (!(m->shm & RST_SHM_ATTACH))
		return;
	r = sys_shmat(m->shmid, (void *)(uintptr_t)m->start, (int)m->shmflg);
	if (r < 0 && r > -4096)
		rst_die(a->log_fd, RST_EXIT_OSERR,
			"cannot attach System V shared memory segment %d at %lx (error %ld)",
			m->shmid, (unsigned long)m->start, -r);
	if ((uint64_t)r != m->start)
		rst_die(a->log_fd, RST_EXIT_OSERR,
			"System V shared memory segment %d was attached at %lx, not %lx",
			m->shmid, (unsigned long)r, (unsigned long)m->start);
	if ((m->shm & RST_SHM_RMID) && (r = sys_shmctl(m->shmid, 0 /* IPC_RMID */, 0)) < 0)
		rst_die(a->log_fd, RST_EXIT_OSERR,
			"cannot remove System V shared memory segment %d again (error %ld)",
			m->shmid, -r);
}

/* Step 3: the image's mappings, writable where page data will go. */
static void map_memory(struct rst_args *a)
{
	const struct rst_map *m = (const void *)(uintptr_t)a->maps;

	for (uint32_t i = 0; i < a->nmaps; i++) {
		if (m[i].shm) {
			attach_shm(a, &m[i]);
			continue;
		}
		long r = sys_mmap_l((void *)(uintptr_t)m[i].start, m[i].len,
				    (int)m[i].map_prot,
				    (int)m[i].flags | MAP_FIXED_NOREPLACE,
				    m[i].fd, (int64_t)m[i].pgoff);

		if (r < 0 || (uint64_t)r != m[i].start)
			rst_die(a->log_fd, RST_EXIT_OSERR,
				"cannot map %lx-%lx (error %ld)",
				(unsigned long)m[i].start,
				(unsigned long)(m[i].start + m[i].len), -r);
	}
}

static void read_full(struct rst_args *a, void *buf, uint64_t len,
		      const char *what)
{
	uint8_t *p = buf;

	while (len) {
		size_t n = len > (1UL << 30) ? (1UL << 30) : (size_t)len;
		long r = sys_read(a->img_fd, p, n);

		if (r == -EINTR)
			continue;
		if (r < 0)
			rst_die(a->log_fd, RST_EXIT_OSERR,
				"read error in the image's %s (error %ld)", what, -r);
		if (r == 0)
			rst_die(a->log_fd, RST_EXIT_DATA,
				"the image is truncated: it ends inside the %s", what);
		p += r;
		len -= (uint64_t)r;
	}
}

struct hashing {
	struct sck_xxh64 h;
	uint64_t fill, chunk;		/* bytes in the current chunk, chunks done */
	uint64_t *hash;
};

/* n bytes at p, none past the end of the current chunk. */
static void hash_in(struct hashing *hs, const void *p, uint64_t n)
{
	selfckpt__xxh64_update(&hs->h, p, (size_t)n);
	hs->fill += n;
	if (hs->fill == SCK_CHUNK_SIZE) {
		hs->hash[hs->chunk++] = selfckpt__xxh64_digest(&hs->h);
		selfckpt__xxh64_init(&hs->h, 0);
		hs->fill = 0;
	}
}

/* Data for a file the launcher made: through the bounce buffer. */
static void fill_file(struct rst_args *a, const struct rst_fill *f,
		      struct hashing *hs)
{
	uint8_t *b = (uint8_t *)(uintptr_t)a->bounce;
	uint64_t off = f->addr, left = f->len;

	while (left) {
		uint64_t n = SCK_CHUNK_SIZE - hs->fill;

		if (n > left)
			n = left;
		if (n > RST_BOUNCE_SIZE)
			n = RST_BOUNCE_SIZE;
		read_full(a, b, n, "page data");
		hash_in(hs, b, n);
		for (uint64_t done = 0; done < n;) {
			long r = sys_pwrite(f->fd, b + done, (size_t)(n - done),
					    (int64_t)(off + done));

			if (r == -EINTR)
				continue;
			if (r <= 0)
				rst_die(a->log_fd, RST_EXIT_OSERR,
					"cannot write the contents of a file back (fd %d, error %ld)",
					f->fd, -r);
			done += (uint64_t)r;
		}
		off += n;
		left -= n;
	}
}

/* Step 4: page data straight into place, each chunk hashed as it lands. */
static void fill_memory(struct rst_args *a)
{
	const struct rst_fill *f = (const void *)(uintptr_t)a->fills;
	struct hashing hs = { .hash = (uint64_t *)(uintptr_t)a->chunk_hash };

	selfckpt__xxh64_init(&hs.h, 0);
	for (uint64_t i = 0; i < a->nfills; i++) {
		uint8_t *p = (uint8_t *)(uintptr_t)f[i].addr;
		uint64_t left = f[i].len;

		if (f[i].fd >= 0) {
			fill_file(a, &f[i], &hs);
			continue;
		}
		while (left) {
			uint64_t n = SCK_CHUNK_SIZE - hs.fill;

			if (n > left)
				n = left;
			read_full(a, p, n, "page data");
			hash_in(&hs, p, n);
			p += n;
			left -= n;
		}
	}
	if (hs.fill)
		hs.hash[hs.chunk++] = selfckpt__xxh64_digest(&hs.h);
	if (hs.chunk != a->nchunks)
		rst_die(a->log_fd, RST_EXIT_DATA,
			"page data has %lu chunks, the image said %lu",
			(unsigned long)hs.chunk, (unsigned long)a->nchunks);
}

/*
 * Files made from the image, once their data is in and checked: back to
 * their size (the last page was written whole), then sealed as they were.
 * Their shared read-only mappings were made through a read-only descriptor
 * (restore-ghost.c), so that F_SEAL_WRITE finds no writable mapping.
 */
static void fix_files(struct rst_args *a)
{
	const struct rst_file_fix *x = (const void *)(uintptr_t)a->fixes;

	for (uint32_t i = 0; i < a->nfixes; i++) {
		long r = sys_ftruncate(x[i].fd, (int64_t)x[i].size);

		if (r < 0)
			rst_die(a->log_fd, RST_EXIT_OSERR,
				"cannot give object %u its size of %lu bytes (error %ld)",
				x[i].obj_id, (unsigned long)x[i].size, -r);
		if (x[i].seals && (r = sys_fcntl(x[i].fd, 1033 /* F_ADD_SEALS */,
						 x[i].seals)) < 0)
			rst_die(a->log_fd, RST_EXIT_OSERR,
				"cannot seal object %u again (seals %x, error %ld)",
				x[i].obj_id, x[i].seals, -r);
	}
}

/*
 * POSIX locks belong to the process and go when it closes any descriptor
 * of the file: taken here, after the helper descriptors are closed, by
 * the process that becomes the program (P15). The launcher checked that
 * nobody else holds them; one taken meanwhile ends the restart here.
 */
static void take_locks(struct rst_args *a)
{
	const struct rst_lock *l = (const void *)(uintptr_t)a->locks;

	for (uint32_t i = 0; i < a->nlocks; i++) {
		struct {
			int16_t type, whence;
			int32_t _pad;
			int64_t start, len;
			int32_t pid, _pad2;
		} fl = { (int16_t)l[i].type, 0 /* SEEK_SET */, 0, l[i].start,
			 l[i].len, 0, 0 };
		long r = sys_fcntl(l[i].fd, 6 /* F_SETLK */, (long)&fl);

		/* A holder may still be exiting (restore-flock.c): 2 s. */
		for (int tries = 0; (r == -EAGAIN || r == -EACCES) && tries < 40; tries++) {
			struct __kernel_timespec ts = { 0, 50 * 1000 * 1000 };

			sys_nanosleep(&ts, NULL);
			r = sys_fcntl(l[i].fd, 6 /* F_SETLK */, (long)&fl);
		}
		if (r == -EAGAIN || r == -EACCES)
			rst_die(a->log_fd, RST_EXIT_UNAVAILABLE,
				"cannot take back %s: held by another process",
				(const char *)(uintptr_t)l[i].what);
		if (r < 0)
			rst_die(a->log_fd, RST_EXIT_OSERR, "cannot take back %s (error %ld)",
				(const char *)(uintptr_t)l[i].what, -r);
	}
}

/* The reader's rule for fixed parts (image-dec.c fixed_ok), for 1.0. */
static int fixed_ok(const struct rst_args *a, uint64_t fixed, uint64_t known)
{
	if (a->image_minor > SCK_VERSION_MINOR)
		return fixed >= known && fixed <= SCK_MAX_FIXED;
	return fixed == known;
}

/* Read one record of the trailer and check its place in the chain. */
static void read_trailer_rec(struct rst_args *a, uint64_t *chain,
			     struct sck_rec *r, uint32_t type, void *buf,
			     uint64_t cap)
{
	read_full(a, r, sizeof(*r), "trailer");
	if (selfckpt__xxh64(r, 24, *chain) != r->hdr_hash || r->type != type)
		rst_die(a->log_fd, RST_EXIT_DATA,
			"the image is damaged: bad trailer record");
	*chain = r->hdr_hash;
	uint64_t total = r->len + sck_pad8(r->len);

	if (total > cap)
		rst_die(a->log_fd, RST_EXIT_DATA,
			"the image is damaged: trailer record too long");
	read_full(a, buf, total, "trailer");
	for (uint64_t i = r->len; i < total; i++)
		if (((uint8_t *)buf)[i])
			rst_die(a->log_fd, RST_EXIT_DATA,
				"the image is damaged: non-zero padding in the trailer");
	if (selfckpt__xxh64(buf, r->len, 0) != r->payload_hash)
		rst_die(a->log_fd, RST_EXIT_DATA,
			"the image is damaged: trailer fails its checksum");
}

/*
 * Step 5: were the page data those the image was written with? A file was
 * checked completely before the launcher gave up anything; this check
 * catches a file changed since, and is the only one for a stream.
 */
static void verify_data(struct rst_args *a)
{
	const uint64_t *got = (const void *)(uintptr_t)a->chunk_hash;
	const uint64_t *want;

	if (a->flags & RST_F_VERIFIED_LIST) {
		want = (const void *)(uintptr_t)a->expected_hash;
	} else {
		uint8_t *buf = (uint8_t *)(uintptr_t)a->trailer_buf;
		uint64_t chain = a->trailer_chain;
		struct sck_rec r;
		struct sck_page_hashes ph;
		struct sck_commit c;

		read_trailer_rec(a, &chain, &r, SCK_REC_PAGE_HASHES, buf,
				 a->trailer_buf_len);
		__builtin_memcpy(&ph, buf, sizeof(ph));
		if (!fixed_ok(a, r.len - a->nchunks * 8, sizeof(ph)) ||
		    r.len < a->nchunks * 8 ||
		    ph.nchunks != a->nchunks || ph.chunk_size != SCK_CHUNK_SIZE)
			rst_die(a->log_fd, RST_EXIT_DATA,
				"the image is damaged: hash list does not match");
		/* The hashes end the payload; its fixed part may be longer. */
		want = (const uint64_t *)(buf + r.len - a->nchunks * 8);
		uint64_t commit_at = a->data_off + a->data_len + sizeof(r) +
				     r.len + sck_pad8(r.len);
		/*
		 * COMMIT goes into the scratch buffer too, after the hash list
		 * (trailer_buf_len leaves SCK_MAX_FIXED for it), so that a later
		 * minor version may make it longer.
		 */
		uint64_t used = (r.len + sck_pad8(r.len) + 7) & ~7ULL;
		uint8_t *cbuf = buf + used;

		read_trailer_rec(a, &chain, &r, SCK_REC_COMMIT, cbuf,
				 a->trailer_buf_len - used);
		__builtin_memcpy(&c, cbuf, sizeof(c));
		if (!fixed_ok(a, r.len, sizeof(c)) || c.magic != SCK_COMMIT_MAGIC ||
		    c.records != a->trailer_records + 1 ||
		    c.commit_off != commit_at || c.data_len != a->data_len ||
		    __builtin_memcmp(&c.image_uuid, &a->image_uuid, 16))
			rst_die(a->log_fd, RST_EXIT_DATA,
				"the image is damaged: commit record does not match");
	}
	for (uint64_t i = 0; i < a->nchunks; i++) {
		uint64_t last = (i + 1) * SCK_CHUNK_SIZE;

		if (last > a->data_len)
			last = a->data_len;
		if (got[i] != want[i])
			rst_die(a->log_fd, RST_EXIT_DATA,
				"the image is damaged: page data bytes %lu-%lu fail their checksum",
				(unsigned long)(i * SCK_CHUNK_SIZE),
				(unsigned long)(last - 1));
	}
}

/* Step 6: final protections, madvise flags, guard regions, names. */
static void finish_memory(struct rst_args *a)
{
	static const struct {
		uint32_t flag;
		int advice;
	} adv[] = {
		{ SCK_VMAF_HUGEPAGE, 14 },	{ SCK_VMAF_NOHUGEPAGE, 15 },
		{ SCK_VMAF_DONTFORK, 10 },	{ SCK_VMAF_WIPEONFORK, 18 },
		{ SCK_VMAF_MERGEABLE, 12 },	{ SCK_VMAF_DONTDUMP, 16 },
		{ SCK_VMAF_SEQ_READ, 2 },	{ SCK_VMAF_RAND_READ, 1 },
	};
	const struct rst_map *m = (const void *)(uintptr_t)a->maps;

	for (uint32_t i = 0; i < a->nmaps; i++) {
		void *p = (void *)(uintptr_t)m[i].start;
		long r;

		if (m[i].map_prot != m[i].prot) {
			r = sys_mprotect(p, m[i].len, (int)m[i].prot);
			if (r < 0)
				rst_die(a->log_fd, RST_EXIT_OSERR,
					"cannot set protection of %lx (error %ld)",
					(unsigned long)m[i].start, -r);
		}
		for (size_t k = 0; k < sizeof(adv) / sizeof(adv[0]); k++)
			if (m[i].vmflags & adv[k].flag)
				sys_madvise(p, m[i].len, adv[k].advice);
		if ((m[i].vmflags & SCK_VMAF_LOCKED) && sys_mlock(p, m[i].len) < 0)
			a->rstinfo.warnings++;
		const struct sck_range *g = (const void *)(uintptr_t)m[i].guards;

		for (uint32_t k = 0; k < m[i].nguards; k++) {
			r = sys_madvise((void *)(uintptr_t)g[k].start,
					g[k].end - g[k].start, MADV_GUARD_INSTALL);
			if (r < 0)
				rst_die(a->log_fd, RST_EXIT_OSERR,
					"cannot install guard pages at %lx (error %ld)",
					(unsigned long)g[k].start, -r);
		}
		if (m[i].anon_name)
			sys_prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, m[i].start,
				  m[i].len, m[i].anon_name);
	}
}

/* Step 7: per-process kernel state. */
static void restore_process(struct rst_args *a)
{
	long r;

	/* Limits first: PR_SET_MM_MAP checks the break against RLIMIT_DATA. */
	for (int i = 0; i < SCK_NLIMITS; i++) {
		uint64_t want[2] = { a->rlim.cur[i], a->rlim.max[i] }, now[2];

		if (sys_prlimit64(0, i, want, NULL) == 0)
			continue;
		/* A hard limit cannot be raised without privilege: keep ours. */
		if (sys_prlimit64(0, i, NULL, now) == 0) {
			want[1] = now[1];
			if (want[0] > now[1])
				want[0] = now[1];
			sys_prlimit64(0, i, want, NULL);
		}
		a->rstinfo.warnings++;
	}

	a->mm.auxv = (uint64_t)(uintptr_t)a->auxv;
	a->mm.exe_fd = (a->flags & RST_F_EXE_SET) ? (uint32_t)a->exe_fd
						  : (uint32_t)-1;
	r = sys_prctl(PR_SET_MM, PR_SET_MM_MAP, (unsigned long)&a->mm,
		      sizeof(a->mm), 0);
	if (r < 0 && a->mm.exe_fd != (uint32_t)-1) {
		/* Setting /proc/self/exe needs CAP_CHECKPOINT_RESTORE (P6). */
		a->mm.exe_fd = (uint32_t)-1;
		r = sys_prctl(PR_SET_MM, PR_SET_MM_MAP, (unsigned long)&a->mm,
			      sizeof(a->mm), 0);
	} else if (r == 0 && a->mm.exe_fd != (uint32_t)-1) {
		a->rstinfo.flags |= SCK_RST_EXE_SET;
	}
	if (r < 0)
		rst_die(a->log_fd, RST_EXIT_OSERR,
			"PR_SET_MM_MAP failed (error %ld): cannot restore the heap break and memory layout",
			-r);

	sys_personality(a->personality);
	sys_prctl(PR_SET_NAME, (unsigned long)a->comm, 0, 0, 0);
	if (a->dumpable == 0 || a->dumpable == 1)
		sys_prctl(PR_SET_DUMPABLE, (unsigned long)a->dumpable, 0, 0, 0);
	sys_prctl(PR_SET_PDEATHSIG, (unsigned long)a->pdeathsig, 0, 0, 0);
	if (a->no_new_privs)
		sys_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	if (a->thp_disable)
		sys_prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
	if (a->child_subreaper)
		sys_prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	if (a->timerslack_ns)
		sys_prctl(PR_SET_TIMERSLACK, a->timerslack_ns, 0, 0, 0);
	if (a->xcomp_perm & (1ULL << 18))	/* AMX tile data (P11) */
		sys_arch_prctl(ARCH_REQ_XCOMP_PERM, 18);

	for (int s = 1; s <= 64; s++) {
		if (s == SIGKILL || s == SIGSTOP)
			continue;
		if (sys_rt_sigaction(s, &a->sig.act[s - 1], NULL) < 0)
			a->rstinfo.warnings++;
	}
}

/*
 * Scheduling settings of the calling thread: best effort. Without
 * privilege a thread may not get a lower nice value or a real-time policy
 * back, and the CPUs it ran on may not exist here; the program runs
 * anyway, and a warning says what could not be set.
 */
static void restore_sched(struct rst_args *a, const struct rst_sched *s, int tid)
{
	struct {
		int prio;
	} param = { (int)s->priority };

	if (sys_sched_setscheduler(tid, (int)s->policy, &param) < 0) {
		rst_print(a->log_fd, "warning: cannot restore the scheduling policy %u",
			  s->policy);
		a->rstinfo.warnings++;
	}
	if (sys_setpriority(0 /* PRIO_PROCESS */, tid, s->nice) < 0) {
		rst_print(a->log_fd, "warning: cannot restore nice value %d", s->nice);
		a->rstinfo.warnings++;
	}
	if (s->ncpus && sys_sched_setaffinity(tid, s->ncpus / 8, s->affinity) < 0) {
		rst_print(a->log_fd, "warning: the CPUs the process was bound to are not all available here");
		a->rstinfo.warnings++;
	}
	if (s->ioprio && sys_ioprio_set(1 /* IOPRIO_WHO_PROCESS */, tid,
					(int)s->ioprio) < 0) {
		rst_print(a->log_fd, "warning: cannot restore the I/O priority");
		a->rstinfo.warnings++;
	}
}

static void write_pidfile(struct rst_args *a, long pid)
{
	char buf[32];
	int len = selfckpt__fmt(buf, sizeof(buf), "%ld\n", pid);
	long fd = sys_openat(a->pidfile_dirfd, a->pidfile_tmp,
			     00100 | 01000 | 01 | 02000000, 0644);

	if (fd < 0 || sys_write((int)fd, buf, (size_t)len) != len ||
	    sys_renameat(a->pidfile_dirfd, a->pidfile_tmp, a->pidfile_dirfd,
			 a->pidfile_name) < 0)
		rst_print(a->log_fd, "warning: cannot write the pid file");
	if (fd >= 0)
		sys_close((int)fd);
}

/*
 * The capability sets, per thread, last: the restart may have needed
 * capabilities the program did not have (in a user namespace it created,
 * to keep thread ids; as root, to set /proc/self/exe); the program gets
 * exactly the sets it had. Bounding set first (that needs CAP_SETPCAP),
 * then inheritable, permitted and effective, then ambient.
 */
static void restore_caps(struct rst_args *a)
{
	struct {
		uint32_t version;
		int pid;
	} hdr = { 0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0 };
	struct {
		uint32_t eff, prm, inh;
	} data[2] = {
		{ (uint32_t)a->cap_eff, (uint32_t)a->cap_prm, (uint32_t)a->cap_inh },
		{ (uint32_t)(a->cap_eff >> 32), (uint32_t)(a->cap_prm >> 32),
		  (uint32_t)(a->cap_inh >> 32) },
	};
	for (int c = 0; c < 64; c++)
		if (!(a->cap_bnd & (1ULL << c)) &&
		    sys_prctl(PR_CAPBSET_READ, (unsigned long)c, 0, 0, 0) == 1)
			sys_prctl(PR_CAPBSET_DROP, (unsigned long)c, 0, 0, 0);
	sys_prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (sys_capset(&hdr, data) < 0) {
		/* Cannot match them (more than this restart may grant): none. */
		__builtin_memset(data, 0, sizeof(data));
		if (sys_capset(&hdr, data) < 0)
			rst_die(-1, RST_EXIT_OSERR, "cannot set the capabilities");
	}
	for (int c = 0; c < 64; c++)
		if (a->cap_amb & (1ULL << c))
			sys_prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE,
				  (unsigned long)c, 0, 0);
}

/*
 * A thread's own kernel state, set by the thread itself just before it
 * resumes (P1, P3, P12): whatever only a thread can set on itself.
 */
static void thread_self(struct rst_args *a, struct rst_thread *t, long pid)
{
	long r, tid = sys_gettid();

	if (t->robust_head)
		sys_set_robust_list((void *)(uintptr_t)t->robust_head, t->robust_len);
	/* Always: the launcher's libc pointed it into memory now gone (P3). */
	sys_set_tid_address((void *)(uintptr_t)t->clear_child_tid);
	/* FS before anything touches TLS; nothing here does (P12). */
	r = sys_arch_prctl(ARCH_SET_FS, t->fs_base);
	if (r == 0 && t->gs_base)
		r = sys_arch_prctl(ARCH_SET_GS, t->gs_base);
	if (r < 0)
		rst_die(-1, RST_EXIT_OSERR, "cannot set the thread pointer");
	if (t->rseq_len) {	/* P1 */
		r = sys_rseq((void *)(uintptr_t)t->rseq_addr, t->rseq_len, 0,
			     t->rseq_sig);
		if (r < 0)
			rst_die(-1, RST_EXIT_OSERR, "cannot register rseq");
	}
	/* New thread ids: libc's own copy of the id follows (P3). */
	if (t->tid_field && tid != t->tid)
		*(volatile int32_t *)(uintptr_t)t->tid_field = (int32_t)tid;
	/* Its own name; the main thread's is the process's (comm). */
	if (t->comm[0])
		sys_prctl(PR_SET_NAME, (unsigned long)t->comm, 0, 0, 0);
	sys_prctl(PR_SET_KEEPCAPS, (unsigned long)t->sched.keepcaps, 0, 0, 0);
	if (t->sched.mce_kill == PR_MCE_KILL_EARLY ||
	    t->sched.mce_kill == PR_MCE_KILL_LATE)
		sys_prctl(PR_MCE_KILL, PR_MCE_KILL_SET,
			  (unsigned long)t->sched.mce_kill, 0, 0);
	/*
	 * Blocked now; delivered after rt_sigreturn if the mask allows: those
	 * with their siginfo, then those an older image has only in its mask
	 * (the launcher left out of it those it has a SIGINFO record of).
	 */
	rst_queue_signals(a, t->tid, pid, tid);
	for (int s = 1; s < 32; s++)
		if (t->pending & (1ULL << (s - 1)))
			sys_tgkill((int)pid, (int)tid, s);
	restore_caps(a);
}

/* Where a recreated thread starts: wait for the process, then resume. */
static void thread_main(void *arg)
{
	struct rst_thread *t = arg;
	struct rst_args *a = (struct rst_args *)(uintptr_t)t->args;

	thread_self(a, t, sys_getpid());
	while (!__atomic_load_n(&a->go, __ATOMIC_ACQUIRE))
		sck_syscall4(__NR_futex, (long)&a->go, 0 /* FUTEX_WAIT */, 0, 0);
	rst_sigreturn(t->frame_sp);
}

#define CLONE_THREAD_FLAGS                                                \
	(0x00000100 /* VM */ | 0x00000200 /* FS */ | 0x00000400 /* FILES */ | \
	 0x00000800 /* SIGHAND */ | 0x00010000 /* THREAD */ |                 \
	 0x00040000 /* SYSVSEM */ | 0x00080000 /* SETTLS */ |                 \
	 0x00100000 /* PARENT_SETTID */)
#define CLONE_CHILD_CLEARTID_ 0x00200000

/* Step 8: the other threads, with their ids when they can be kept (P14). */
static void create_threads(struct rst_args *a)
{
	struct rst_thread *all = (void *)(uintptr_t)a->threads;

	for (uint32_t i = 0; i < a->nthreads; i++) {
		struct rst_thread *t = &all[i];

		if (i == a->main)
			continue;
		struct {
			uint64_t flags, pidfd, child_tid, parent_tid, exit_signal;
			uint64_t stack, stack_size, tls, set_tid, set_tid_size;
		} ca = {
			.flags = CLONE_THREAD_FLAGS |
				 (t->clear_child_tid ? CLONE_CHILD_CLEARTID_ : 0),
			.child_tid = t->clear_child_tid,
			.parent_tid = (uint64_t)(uintptr_t)&t->new_tid,
			.stack = t->stack_lo,
			.stack_size = t->stack_size,
			.tls = t->fs_base,
		};
		uint64_t want = (uint64_t)t->tid;

		if (a->flags & RST_F_SET_TID) {
			ca.set_tid = (uint64_t)(uintptr_t)&want;
			ca.set_tid_size = 1;
		}
		long r = rst_clone3(&ca, sizeof(ca), thread_main, t);

		if (r < 0)
			rst_die(a->log_fd, RST_EXIT_OSERR,
				"cannot recreate thread %d (error %ld)", t->tid, -r);
		__atomic_store_n(&t->new_tid, (int32_t)r, __ATOMIC_RELEASE);
		/* Settings a thread cannot always set itself, set from here. */
		restore_sched(a, &t->sched, (int)r);
	}
}

static void restore_timers(struct rst_args *a, long pid)
{
	for (int w = 0; w < 3; w++)
		if (a->itimer[w][0] | a->itimer[w][1] | a->itimer[w][2] |
		    a->itimer[w][3])
			sys_setitimer(w, a->itimer[w], NULL);
	/* Blocked now; delivered after rt_sigreturn if a mask allows. */
	rst_queue_signals(a, 0, pid, pid);
	for (int s = 1; s < 32; s++)
		if (a->pending_shared & (1ULL << (s - 1)))
			sck_syscall2(__NR_kill, pid, s);
}

/*
 * timerfds (restore-evl.c made them disarmed): the time left, or the
 * deadline, then the expirations not read, which timerfd_settime() resets
 * (P13).
 */
static void restore_timerfds(struct rst_args *a)
{
	const struct rst_timerfd *t = (const void *)(uintptr_t)a->timerfds;

	for (uint32_t i = 0; i < a->ntimerfds; i++, t++) {
		struct __kernel_timespec its[2], now;	/* interval, value */
		uint64_t v = t->value_ns;
		long r;

		if (v && t->add_now && sys_clock_gettime(t->clockid, &now) == 0)
			v += (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
		its[0].tv_sec = (long long)(t->interval_ns / 1000000000ULL);
		its[0].tv_nsec = (long long)(t->interval_ns % 1000000000ULL);
		its[1].tv_sec = (long long)(v / 1000000000ULL);
		its[1].tv_nsec = (long long)(v % 1000000000ULL);
		if ((v || t->flags) &&
		    (r = sys_timerfd_settime(t->fd, (int)t->flags, its, NULL)) < 0)
			rst_die(a->log_fd, RST_EXIT_OSERR,
				"cannot arm the timerfd of fd %d (error %ld)", t->fd, -r);
		/* ECANCELED: its clock was set meanwhile; read() will say so. */
		if (t->ticks &&
		    (r = sys_ioctl(t->fd, RST_TFD_IOC_SET_TICKS, (void *)&t->ticks)) < 0 &&
		    r != -ECANCELED)
			rst_die(a->log_fd, RST_EXIT_OSERR,
				"cannot give the timerfd of fd %d its %llu expirations back (error %ld)",
				t->fd, (unsigned long long)t->ticks, -r);
	}
}

/* epoll registrations of signalfds, by this process (rst.h). */
static void restore_epoll_adds(struct rst_args *a)
{
	const struct rst_epoll_add *e = (const void *)(uintptr_t)a->epoll_adds;

	for (uint32_t i = 0; i < a->nepoll_adds; i++, e++) {
		struct {
			uint32_t events;
			uint64_t data;
		} __attribute__((packed)) ev = { e->events, e->data };
		long r = sys_epoll_ctl(e->epfd, 1 /* EPOLL_CTL_ADD */, e->fd, &ev);

		if (r < 0)
			rst_die(a->log_fd, RST_EXIT_OSERR,
				"cannot register the signalfd of fd %d with the epoll instance of fd %d (error %ld)",
				e->fd, e->epfd, -r);
	}
}

void rst_main(struct rst_args *a)
{
	struct rst_thread *self;
	long pid;

	if (a->magic != RST_MAGIC)
		rst_die(a->log_fd, RST_EXIT_OSERR, "bad restorer arguments");
	self = &((struct rst_thread *)(uintptr_t)a->threads)[a->main];
	/* ---- point of no return: the launcher is unmapped here ---- */
	leave_launcher(a);
	map_memory(a);
	fill_memory(a);
	verify_data(a);
	fix_files(a);
	finish_memory(a);
	restore_process(a);
	create_threads(a);
	restore_sched(a, &self->sched, 0);
	/* Memory-deny-write-execute last: mapping above needed W then X. */
	if (a->mdwe && sys_prctl(PR_SET_MDWE, a->mdwe, 0, 0, 0) < 0)
		rst_die(a->log_fd, RST_EXIT_OSERR,
			"cannot restore memory-deny-write-execute (PR_SET_MDWE)");

	pid = sys_getpid();
	a->rstinfo.pid = (int32_t)pid;
	if (a->pidfile_dirfd >= 0)
		write_pidfile(a, pid);
	/*
	 * The image, mapped files: every helper fd goes now; the log last,
	 * after the POSIX locks and the POSIX timers, which may fail with a
	 * message.
	 */
	if (a->log_fd >= a->first_helper_fd) {
		if (a->log_fd > a->first_helper_fd)
			sys_close_range((unsigned)a->first_helper_fd,
					(unsigned)a->log_fd - 1, 0);
		sys_close_range((unsigned)a->log_fd + 1, ~0U, 0);
	} else {
		sys_close_range((unsigned)a->first_helper_fd, ~0U, 0);
	}
	take_locks(a);
	restore_epoll_adds(a);
	restore_timerfds(a);
	/*
	 * Every thread exists: a timer may signal one, or count its time.
	 * Armed as late as they can be, after the locks (which may wait).
	 */
	rst_create_timers(a, pid);
	if (a->log_fd >= a->first_helper_fd)
		sys_close(a->log_fd);
	/* The itimers, then the process's pending signals, last. */
	restore_timers(a, pid);
	if (a->rstinfo_addr)
		__builtin_memcpy((void *)(uintptr_t)a->rstinfo_addr, &a->rstinfo,
				 sizeof(a->rstinfo));
	thread_self(a, self, pid);
	/* Everyone goes: the library waits for them before unmapping us. */
	__atomic_store_n(&a->go, 1, __ATOMIC_RELEASE);
	sck_syscall3(__NR_futex, (long)&a->go, 1 /* FUTEX_WAKE */, 0x7fffffff);
	rst_sigreturn(self->frame_sp);
}

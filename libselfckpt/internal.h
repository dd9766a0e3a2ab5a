/*
 * internal.h - what the checkpoint's parts share.
 *
 * A checkpoint runs in two phases around one instant, the capture of the
 * registers (selfckpt__ctx_save):
 *
 *  1. Before it, the resource files (res-*.c) look at the process through
 *     /proc and system calls, decide what can be saved, fail with a reason
 *     naming anything that cannot, and append the metadata records that do
 *     not change (HEADER, PROCESS, FILE, FD...) to the metadata buffer. They
 *     also prepare the table of mappings (struct sck_dump_vma).
 *  2. After it, the writer (writer.c, libc-free) scans each mapping for the
 *     pages worth saving, appends the VMA and THREAD records and sends
 *     metadata, page data and the trailer to the output.
 *
 * Everything lives in the arena (arena.h), which is not part of the image.
 * No function here calls malloc or stdio: the checkpoint may run in a
 * signal handler.
 */
#ifndef SELFCKPT_INTERNAL_H
#define SELFCKPT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "arch.h"
#include "arena.h"
#include "image.h"

/* ---- process-wide library state, saved with the process --------------- */

struct sck_state {
	uint64_t last_id;		/* id of the last image written or resumed */
	uint64_t parent_id;		/* parent of last_id */
	struct sck_uuid last_uuid;	/* image_uuid of last_id */
	struct sck_uuid lineage;
	uint32_t generation;		/* restarts along this lineage */
	int busy;			/* a checkpoint is running */
	uint32_t restarted;		/* SCK_HDR_RESTARTED_* of the last restart */
	uint64_t burned_id;		/* the last id of a failed checkpoint
					 * whose image may exist: never again */
};

extern struct sck_state selfckpt__state;

/* The id the next checkpoint will have (checkpoint.c). */
uint64_t selfckpt__next_id(void);

/* The restorer writes here (its address is in the image header). */
extern struct sck_rstinfo selfckpt__rstinfo;

/* ---- the checkpoint in progress ------------------------------------- */

/* How the writer finds the pages of a mapping worth saving. */
enum sck_scan {
	SCK_SCAN_NONE,		/* vdso, vvar, shared files: nothing stored */
	SCK_SCAN_ANON,		/* present or swapped; zero pages left out */
	SCK_SCAN_COW,		/* private file: only pages no longer the file's */
	SCK_SCAN_SHARED,	/* shared object: pages in memory or page cache */
	SCK_SCAN_ALL,		/* object that will not exist: every page */
};

struct sck_dump_vma {
	struct sck_vma v;		/* nruns/nguards/npages filled by the writer */
	const char *name;
	uint32_t name_len;
	uint32_t scan;			/* enum sck_scan */
	uint64_t live_start;		/* pages below it are not needed (stack) */
	uint64_t read_end;		/* object pages at/after it cannot be read */
	uint64_t run_first;		/* writer: index in dump->runs */
	uint64_t guard_first;		/* writer: index in dump->guards */
};

struct sck_dump_file {
	struct sck_file f;
	const char *path;
};

/*
 * The contents of a file that will not exist at restart, held by
 * descriptors (res-ghost.c): the writer sends them before the mappings'
 * pages, from fd with pread, or through /proc/self/fd/<fd> when fd cannot
 * be read (O_WRONLY). Bytes past size read as zeros.
 */
struct sck_dump_fdata {
	int fd;
	int reopen;
	uint64_t size;
	const struct sck_run *runs;	/* addr: the file offset */
	uint32_t nruns;
};

#define SCK_MAX_EXCL_FDS 8
#define SCK_SLOT_PROCBUF 4096

/* One thread of the checkpoint: what it recorded about itself. */
struct sck_slot {
	struct sck_thread t;
	struct sck_ctx ctx;		/* registers; ctx.xsave in the arena */
	uint8_t *scratch;		/* 64 bytes, for the rseq probe */
	char *procbuf;			/* SCK_SLOT_PROCBUF bytes */
	int err;			/* what the thread's capture failed with */
	int state;			/* SCK_SLOT_* */
};

enum { SCK_SLOT_EMPTY, SCK_SLOT_SIGNALLED, SCK_SLOT_STOPPED };

struct sck_dump {
	struct sck_arena arena;
	unsigned flags;
	int out_fd;
	int app_dumpable;		/* PR_GET_DUMPABLE before the checkpoint */

	/* Descriptors the checkpoint itself holds; not part of the image. */
	int excl_fd[SCK_MAX_EXCL_FDS];
	int nexcl;

	struct sck_meta meta;		/* preamble and metadata records */
	struct sck_header *hdr;		/* fingerprint, being filled */

	struct sck_dump_file *files;
	uint32_t nfiles, files_cap;
	struct sck_dump_obj *objs;	/* objects.h */
	struct sck_scm_dump *scm;	/* descriptors in flight, res-scm.c */
	struct sck_sock_pre *sock_pre;	/* queues copied first, res-sock.c */
	uint32_t nsock_pre;
	uint32_t nobjs, objs_cap;
	struct sck_dump_fdata *fdata;	/* [objs_cap], res-ghost.c */
	uint32_t nfdata;
	uint64_t chunk_hash_maps;	/* res-ghost.c: chunks for the mappings */
	uint64_t *posix_locked;		/* res-flock.c: (dev, ino) pairs */
	uint32_t nposix_locked;
	int posix_scanned;
	uint32_t *file_hash;		/* open addressing by (dev, ino) */
	uint32_t file_hash_cap;

	struct sck_dump_vma *vmas;
	uint32_t nvmas, vmas_cap;
	struct sck_run *runs;
	uint64_t nruns, runs_cap;
	struct sck_range *guards;
	uint64_t nguards, guards_cap;
	uint64_t data_len;
	uint32_t hot_vma;		/* the mapping the writer runs on */
	uint64_t hot_start, hot_end;	/* its pages the writer itself changes */

	/* Every thread; the caller's slot is slots[caller]. */
	struct sck_slot *slots;
	uint32_t nslots, slots_cap;
	uint32_t caller;

	/* Writer resources, prepared before the capture. */
	int pagemap_fd;			/* /proc/self/pagemap */
	int mem_fd;			/* /proc/self/mem, for unreadable pages */
	int have_pagemap_scan;
	int scan_guard;			/* PAGEMAP_SCAN takes PAGE_IS_GUARD */
	uint8_t *probe;			/* SCK_PROBE_SIZE bytes: guard probing */
	size_t smaps_cap;		/* bytes for /proc/self/smaps */
	void *scanbuf;			/* PAGEMAP_SCAN regions or pagemap words */
	size_t scanbuf_size;
	uint8_t *bounce;		/* SCK_CHUNK_SIZE bytes */
	uint64_t *chunk_hash;
	uint64_t chunk_hash_cap;
	uint8_t *tail;			/* PAGE_HASHES and COMMIT records */
	size_t tail_cap;

	/* Timers and signals (res-signal.c, res-timer.c). */
	struct sck_siginfo *sigs;	/* signals taken from the queues */
	uint32_t sigs_cap;
	uint32_t sigs_used;		/* entries handed out (atomic) */
	int caller_requeued;		/* the caller put its own back */
	char *timers_buf;		/* /proc/self/timers */
	size_t timers_buf_cap;
	struct sck_posix_timer *timers;
	uint32_t timers_cap;

	/* System V IPC (res-sysv.c). */
	char *sysv_text;		/* a /proc/sysvipc file */
	size_t sysv_text_cap;
	uint8_t *sysv_scratch;		/* a set's values, a queue's messages */
	size_t sysv_scratch_cap;
};

/*
 * Does the process hold a POSIX (fcntl) lock on this file (res-flock.c)?
 * Closing any descriptor of such a file drops the locks (P15): the
 * checkpoint must not open and close it. 1, 0, or 0 when it cannot tell.
 */
int selfckpt__posix_locked(struct sck_dump *d, uint64_t dev, uint64_t ino);

/* Files (res-file.c). Returns the FILE id (> 0) or -errno. */
int selfckpt__file_add(struct sck_dump *d, const struct sck_file *f,
		       const char *path);

/* Resource collection, before the capture. Each returns 0 or -errno. */
int selfckpt__fingerprint(struct sck_dump *d);		/* fingerprint.c */
int selfckpt__proc_collect(struct sck_dump *d);	/* res-proc.c */
int selfckpt__fd_collect(struct sck_dump *d);		/* res-file.c */
int selfckpt__mem_collect(struct sck_dump *d);		/* res-mem.c */

/*
 * The calling thread records its kernel state into s (res-thread.c).
 * sigmask is the mask to resume with; flags SCK_THRF_CALLER or 0.
 */
int selfckpt__thread_state(struct sck_slot *s, uint64_t sigmask,
			   uint32_t flags, int mem_fd);

/*
 * Other threads (threads.c). stop: signal every other thread of the
 * process and wait until each has captured itself into a slot (0, or
 * -errno with the reason set); release: let them go on. count: the
 * threads of the process now.
 */
int selfckpt__threads_count(void);
int selfckpt__threads_stop(struct sck_dump *d);
void selfckpt__threads_release(struct sck_dump *d);
/* In a restarted process: wait until n other threads resumed. */
void selfckpt__threads_resumed(uint32_t n);

/* Install the reserved signal's handler now (auto.c needs it early). */
int selfckpt__threads_install(void);

/*
 * Checkpoints the program did not ask for (auto.c): a request word from
 * the reserved signal's handler; the library's timer (left out of the
 * image), or -1; after a restart; a signal name or number, or -1.
 */
void selfckpt__auto_request(uint64_t word);
int selfckpt__auto_timer(void);
void selfckpt__auto_resumed(void);
int selfckpt__sig_number(const char *s);

/* The reserved signal: selfckpt__signal if set, else SIGRTMAX - 2. */
extern int selfckpt__signal;
int selfckpt__ckpt_signal(void);

/* The program's own action for the reserved signal (interpose.c). */
int selfckpt__sig_installed(void);
void selfckpt__sig_get_prev(struct sck_sigaction *out);
void selfckpt__sig_set_prev(const struct sck_sigaction *in);

/* Counts for sizing the arena, from a quick look at /proc/self. */
struct sck_sizing {
	uint64_t maps_bytes;		/* length of /proc/self/smaps */
	uint64_t nvmas;
	uint64_t pages;			/* pages in mappings that may be stored */
	uint64_t nfds;
};
int selfckpt__size_up(struct sck_sizing *sz);		/* res-mem.c */

/* After the capture (writer.c, libc-free). Returns 0 or -errno. */
int selfckpt__write_image(struct sck_dump *d);

/*
 * For each range of [start, end) whose pages are present, swapped or guard
 * pages, fn(arg, range) with its PAGE_IS_* categories, in address order;
 * stops at and returns fn's first non-zero result (writer.c).
 */
struct region {
	uint64_t start, end, cat;
};
int selfckpt__walk_pages(struct sck_dump *d, uint64_t start, uint64_t end,
			 int (*fn)(void *, const struct region *), void *arg);

/*
 * Held locks that record their owner's thread id (res-locks.c): fails
 * with -ENOTSUP and a message naming the first one, for an image that is
 * to be restarted with new ids. ns_ok: can a restart here keep the ids
 * (a PID namespace, with a user namespace unless root)? Cached until the
 * next restart.
 */
int selfckpt__locks_check(struct sck_dump *d);
int selfckpt__ns_ok(void);
void selfckpt__ns_forget(void);
enum { SCK_NEW_IDS_AUTO, SCK_NEW_IDS_YES, SCK_NEW_IDS_NO };
extern int selfckpt__new_ids;		/* SELFCKPT_NEW_IDS: auto, 1, 0 */

/* ELF helpers (elf.c). */
int selfckpt__elf_build_id(int fd, uint8_t *out, uint32_t cap);
int selfckpt__vdso_symbols(const void *base, size_t len,
			   uint64_t off[SCK_VDSO_NSYMS]);

/*
 * What PAGEMAP_SCAN can do here, probed once per process and again after
 * a restart (checkpoint.c): SCK_PM_PAGEMAP, no ioctl (before Linux 6.7):
 * /proc/self/pagemap is read; SCK_PM_SCAN, the ioctl without
 * PAGE_IS_GUARD (6.7-6.14): guard pages show as swapped out, and the
 * writer tells them by reading (selfckpt__walk_pages); SCK_PM_SCAN_GUARD
 * (6.15+).
 */
enum { SCK_PM_UNKNOWN, SCK_PM_PAGEMAP, SCK_PM_SCAN, SCK_PM_SCAN_GUARD };
#define SCK_PROBE_SIZE (64 << 10)

/*
 * SELFCKPT_TEST_FAULT=name[,name...] (init.c, read once at load time,
 * ignored in secure-execution programs): kernel behaviour the tests
 * cannot get otherwise, forced. Never for production use.
 */
enum {
	SCK_FAULT_NO_PAGE_IS_GUARD = 1 << 0,	/* "no-page-is-guard" */
	SCK_FAULT_NO_TMPFILE = 1 << 1,		/* "no-tmpfile" */
};
extern unsigned selfckpt__test_faults;

/*
 * Pending signals (res-signal.c). take: the calling thread moves the
 * signals pending for it alone, and if it is the MAIN thread those of the
 * process, from the kernel's queues into d->sigs (and its slot's pending
 * mask); requeue: the calling thread (tid) puts its own back, and the
 * process's if process is set; record: the SIGINFO records; std_mask: the
 * standard signals taken for tid (0: the process).
 */
int selfckpt__signals_take(struct sck_dump *d, struct sck_slot *s);
void selfckpt__signals_requeue(struct sck_dump *d, int32_t tid, int process);
int selfckpt__signals_record(struct sck_dump *d);
uint64_t selfckpt__signals_std_mask(const struct sck_dump *d, int32_t tid);

/* POSIX timers and the clocks: POSIX_TIMER and CLOCKS records (res-timer.c). */
int selfckpt__timers_collect(struct sck_dump *d);
#define SCK_TIMERS_MAX 16384		/* timers one checkpoint can record */

/*
 * System V IPC the process created: SYSV records (res-sysv.c). note:
 * called by the interposed shmget/semget/msgget/semop (interpose.c) with
 * SCK_SYSV_NOTE_* bits; async-signal-safe. plan: what the arena needs.
 */
#define SCK_SYSV_NOTE_CREATED 1u	/* the call created it */
#define SCK_SYSV_NOTE_OPENED 2u		/* the call found it */
#define SCK_SYSV_NOTE_UNDO 4u		/* semop with SEM_UNDO */
void selfckpt__sysv_note(uint32_t kind, int32_t id, uint32_t what);
struct sck_sysv_plan {
	uint64_t text, data, scratch;
};
int selfckpt__sysv_plan(struct sck_sysv_plan *p);
int selfckpt__sysv_collect(struct sck_dump *d);

/* Is fd one the checkpoint holds for itself? */
int selfckpt__fd_excluded(const struct sck_dump *d, int fd);

#endif

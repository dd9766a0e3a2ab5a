/*
 * rst.h - what the launcher hands to the restorer.
 *
 * `selfckpt restart` (restore.c, ordinary code) reads and checks the image,
 * opens every file, recreates every descriptor, builds the signal frame
 * that will resume the thread, and packs everything else the restorer needs
 * into one struct rst_args, inside the "hole": an area of the address space
 * that neither the image nor the launcher uses. It copies the restorer blob
 * (rst/, freestanding and position-independent) there too, and jumps to it
 * with rsp at the top of the hole.
 *
 *   hole:  [ blob code | rst_args | arrays, strings, signal frame | stack ]
 *
 * The restorer then unmaps the launcher, moves the vDSO, maps the image's
 * memory, reads the page data straight into place, applies the per-process
 * and per-thread kernel state and ends in rt_sigreturn. It never returns;
 * on any error it prints one line to log_fd and exits (P7).
 *
 * All pointers are absolute addresses inside the hole. Freestanding.
 */
#ifndef SELFCKPT_RST_H
#define SELFCKPT_RST_H

#include <stdint.h>
#include <linux/prctl.h>

#include "image-format.h"

#define RST_MAGIC 0x3153475254535253ULL
#define RST_STACK_SIZE (256 << 10)

/* Exit statuses of a restart that fails (documented in docs/cli.md). */
#define RST_EXIT_DATA 65		/* EX_DATAERR: image damaged */
#define RST_EXIT_UNAVAILABLE 69	/* EX_UNAVAILABLE: a lock is held elsewhere */
#define RST_EXIT_OSERR 71		/* EX_OSERR: a system call failed */

/* One mapping to create. */
struct rst_map {
	uint64_t start, len;
	uint64_t pgoff;
	uint32_t prot;			/* final protection */
	uint32_t map_prot;		/* while page data is read into it */
	uint32_t flags;			/* MAP_PRIVATE/SHARED/ANONYMOUS/GROWSDOWN... */
	int32_t fd;			/* -1: anonymous */
	uint32_t vmflags;		/* SCK_VMAF_*: madvise and mlock to apply */
	uint32_t nguards;
	uint64_t guards;		/* struct sck_range[nguards] */
	uint64_t anon_name;		/* NUL-terminated, or 0 */
	uint32_t shm;			/* RST_SHM_*: 0, an mmap */
	int32_t shmid;			/* RST_SHM_ATTACH: shmat(shmid, start, shmflg) */
	uint32_t shmflg;
	uint32_t _pad;
};

#define RST_SHM_ATTACH 1u		/* a System V attachment's first piece */
#define RST_SHM_PIECE 2u		/* a later piece: mapped by the first */
#define RST_SHM_RMID 4u			/* IPC_RMID once attached */

/*
 * Page data, in the order it arrives in the PAGES payload: into memory at
 * addr, or, when fd >= 0, into the file fd at offset addr (an unlinked file
 * or memfd the launcher made, restore-ghost.c), through the bounce buffer.
 */
struct rst_fill {
	uint64_t addr, len;
	int32_t fd;
	uint32_t _pad;
};

#define RST_BOUNCE_SIZE (64 << 10)

/* A file made from the image, once its data is in: its size, its seals. */
struct rst_file_fix {
	int32_t fd;
	uint32_t seals;			/* F_ADD_SEALS, or 0 */
	uint64_t size;
	uint32_t obj_id;		/* for messages */
	uint32_t _pad;
};

/*
 * A POSIX (fcntl) lock, taken by the restorer once it has closed the
 * helper descriptors: closing any descriptor of a file drops the
 * process's POSIX locks on it (P15).
 */
struct rst_lock {
	int32_t fd;
	int32_t type;			/* F_RDLCK, F_WRLCK */
	int64_t start, len;		/* struct flock's l_start, l_len */
	uint64_t what;			/* NUL-terminated: "the write lock on
					 * PATH (bytes A-B)", for messages */
};

struct rst_move {
	uint64_t from, to, len;
};

/* Kernel ABI of PR_SET_MM_MAP (struct prctl_mm_map, linux/prctl.h). */
struct rst_mm_map {
	uint64_t start_code, end_code, start_data, end_data;
	uint64_t start_brk, brk, start_stack;
	uint64_t arg_start, arg_end, env_start, env_end;
	uint64_t auxv;			/* pointer */
	uint32_t auxv_size;		/* bytes */
	uint32_t exe_fd;
};

/* A thread's scheduling settings (struct sck_thread's). */
struct rst_sched {
	int32_t nice;
	uint32_t policy, priority, ioprio;
	int32_t keepcaps, mce_kill;
	uint32_t ncpus, _pad;
	uint64_t affinity[16];
};

/* One thread to recreate (the main one is the restorer's own). */
struct rst_thread {
	int32_t tid;			/* in the image */
	int32_t new_tid;		/* filled in when it exists */
	uint32_t flags;			/* SCK_THRF_* */
	uint32_t rseq_len, rseq_sig;
	uint32_t _pad;
	uint64_t fs_base, gs_base;
	uint64_t rseq_addr;
	uint64_t clear_child_tid;
	uint64_t robust_head, robust_len;
	uint64_t pending;		/* thread-directed standard signals */
	uint64_t tid_field;		/* libc's copy of the tid, 0 if unknown */
	uint64_t frame_sp;		/* rsp for its rt_sigreturn */
	uint64_t stack_lo, stack_size;	/* its restorer stack, in the hole */
	uint64_t args;			/* the struct rst_args */
	struct rst_sched sched;
	char comm[16];			/* its name, NUL-terminated */
};

#define RST_THREAD_STACK (32 << 10)

/*
 * A timerfd to arm (restore-evl.c packs them): last, just before the
 * process goes on, so that the time the restart takes does not count.
 */
struct rst_timerfd {
	int32_t fd;			/* its descriptor in the image */
	int32_t clockid;
	uint32_t flags;			/* timerfd_settime() flags */
	uint32_t add_now;		/* value_ns is relative: add the clock's time */
	uint64_t value_ns;		/* 0: disarmed */
	uint64_t interval_ns;
	uint64_t ticks;			/* expirations not read: TFD_IOC_SET_TICKS */
};

/*
 * An epoll registration of a signalfd: made by the restored process itself,
 * since a signalfd's readiness is the polling process's (its wait queue is
 * in the caller's signal handlers, signalfd_poll()); one the launcher made
 * would never see the restored process's signals.
 */
struct rst_epoll_add {
	int32_t epfd, fd;
	uint32_t events;
	uint32_t _pad;
	uint64_t data;
};

/* TFD_IOC_SET_TICKS, _IOW('T', 0, __u64) (CONFIG_CHECKPOINT_RESTORE). */
#define RST_TFD_IOC_SET_TICKS 0x40085400UL

#define RST_F_VERIFIED_LIST 1u		/* expected chunk hashes are known */
#define RST_F_EXE_SET 2u		/* try exe_fd with PR_SET_MM_MAP */
#define RST_F_DEBUG 4u
#define RST_F_SET_TID 8u		/* thread ids kept: clone3 set_tid */
#define RST_F_TIMER_IDS_LINEAR 16u	/* timer ids one by one, without the prctl */

struct rst_args {
	uint64_t magic;
	uint64_t hole_start, hole_len;
	uint32_t flags;
	int32_t log_fd;			/* the launcher's stderr, for messages */
	int32_t img_fd;
	int32_t first_helper_fd;	/* helper fds are >= this; closed at the end */

	/* Leave the launcher behind. */
	uint64_t cur_rseq_addr;
	uint32_t cur_rseq_len, cur_rseq_sig;
	uint32_t nunmap;
	uint32_t nmoves;
	uint64_t unmap;			/* struct sck_range[nunmap] */
	struct rst_move moves[2 * SCK_MAX_SPECIAL];

	/* The image's memory. */
	uint32_t nmaps;
	uint32_t _pad0;
	uint64_t maps;			/* struct rst_map[nmaps] */
	uint64_t nfills;
	uint64_t fills;			/* struct rst_fill[nfills] */
	uint64_t bounce;		/* RST_BOUNCE_SIZE bytes, for fills of files */
	uint32_t nfixes, nlocks;
	uint64_t fixes;			/* struct rst_file_fix[nfixes] */
	uint64_t locks;			/* struct rst_lock[nlocks] */
	uint64_t data_len;
	uint64_t nchunks;
	uint64_t chunk_hash;		/* uint64_t[nchunks], computed here */
	uint64_t expected_hash;		/* uint64_t[nchunks] if VERIFIED_LIST */
	/* Reading the trailer of a stream: chain value after PAGES, etc. */
	uint64_t trailer_chain;
	uint64_t trailer_records;	/* records before PAGE_HASHES */
	uint64_t data_off;		/* stream offset of the PAGES payload */
	uint32_t image_minor;		/* the image's format minor version */
	uint32_t _pad5;
	struct sck_uuid image_uuid;
	uint64_t trailer_buf;		/* scratch for the PAGE_HASHES payload */
	uint64_t trailer_buf_len;

	/* Per-process state. */
	struct rst_mm_map mm;
	int32_t exe_fd;
	uint32_t personality;
	uint64_t auxv[SCK_AUXV_MAX * 2];
	struct sck_rlimits rlim;
	struct sck_sigactions sig;
	char comm[16];
	int32_t dumpable, pdeathsig, no_new_privs, thp_disable;
	int32_t child_subreaper;
	uint32_t _pad1;
	uint64_t timerslack_ns;
	uint64_t itimer[3][4];
	uint64_t pending_shared;
	uint64_t xcomp_perm;

	uint32_t mdwe;			/* PR_SET_MDWE, applied last */
	uint32_t _pad3;
	/* Capabilities every thread ends with: the image's, no more. */
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;

	/* The threads: [main] is the restorer's own, the others it creates. */
	uint32_t nthreads;
	uint32_t main;
	uint64_t threads;		/* struct rst_thread[nthreads] */
	int32_t go;			/* futex: the others wait for it */
	uint32_t _pad4;

	/* timerfds to arm (restore-evl.c). */
	uint32_t ntimerfds;
	uint32_t _pad6;
	uint64_t timerfds;		/* struct rst_timerfd[ntimerfds] */
	uint32_t nepoll_adds;
	uint32_t _pad7;
	uint64_t epoll_adds;		/* struct rst_epoll_add[nepoll_adds] */
	/* POSIX timers and pending signals (rst-timers.c). */
	uint32_t ntimers;
	uint32_t nsigs;
	uint64_t timers;		/* struct sck_posix_timer[ntimers], by id */
	uint64_t sigs;			/* struct sck_siginfo[nsigs], image order */

	/* Reports. */
	uint64_t rstinfo_addr;
	struct sck_rstinfo rstinfo;
	int32_t pidfile_dirfd;		/* -1: no pidfile */
	uint32_t _pad2;
	char pidfile_tmp[64];
	char pidfile_name[256];
};

#endif

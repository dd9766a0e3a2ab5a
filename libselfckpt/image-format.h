/*
 * image-format.h - the on-disk layout of a selfckpt image, version 1.
 *
 * This header is the format's definition; docs/image-format.md explains it
 * for someone writing an independent reader. Record type numbers and the
 * layout of existing fields are stored on disk: never renumber a type, never
 * move a field. Compatible additions append fields to the fixed part of a
 * record and bump SCK_VERSION_MINOR; anything else bumps SCK_VERSION_MAJOR.
 * That works because readers accept a fixed part longer than they know,
 * and find a record's variable tail (path, runs, xsave area...) from the
 * end of the payload: its length is given by fields of the fixed part.
 *
 * All integers are little-endian (the format is x86-64 only for now; the
 * header names the architecture). Every structure below has a fixed size,
 * natural alignment and explicit padding, checked with static asserts.
 *
 * Stream layout, written in one pass without seeking:
 *
 *   preamble (16 bytes)
 *   HEADER record            fingerprint, ids
 *   PROCESS, RLIMITS, SIGACTIONS, FILE*, VMA*, FD*, THREAD* records,
 *   POSIX_TIMER*, SIGINFO*, CLOCKS, SYSV*
 *   END_META record          counts, announces the page data length
 *   PAD record               so that the PAGES payload starts page-aligned
 *   PAGES record             raw page contents, runs in VMA order
 *   PAGE_HASHES record       xxh64 of every SCK_CHUNK_SIZE piece of PAGES
 *   COMMIT record            last: nothing after it, totals repeated
 *
 * Every record starts with struct sck_rec. Its hdr_hash chains the records:
 * it covers the record header and the previous record's hdr_hash, so that a
 * removed, repeated or reordered record is detected. payload_hash covers the
 * payload (for PAGES it is 0: its pieces are covered by PAGE_HASHES, because
 * a single-pass writer cannot know the hash before the data). Payloads are
 * padded with zero bytes to a multiple of 8; the padding is not counted in
 * len and must be zero.
 *
 * Freestanding: included by the restorer.
 */
#ifndef SELFCKPT_IMAGE_FORMAT_H
#define SELFCKPT_IMAGE_FORMAT_H

#include <stdint.h>

#define SCK_MAGIC "\x89SCKPT\r\n"	/* 8 bytes, PNG-style damage detection */
#define SCK_MAGIC_LEN 8
#define SCK_VERSION_MAJOR 1
#define SCK_VERSION_MINOR 0

#define SCK_PAGE_SIZE ((uint64_t)4096)	/* the only page size supported */
#define SCK_CHUNK_SIZE ((uint64_t)1 << 20) /* PAGE_HASHES granularity */
#define SCK_HASH_SEED 0x5CC4B7ULL	/* seed of the hdr_hash chain */

/* Limits that make a damaged image fail cleanly instead of exhausting memory. */
#define SCK_MAX_META_REC (64ULL << 20)	/* one metadata record */
#define SCK_MAX_PATH 4096
#define SCK_MAX_VMAS (1U << 20)
#define SCK_MAX_FDS (1U << 20)
#define SCK_MAX_THREADS 65536
#define SCK_MAX_XSAVE 16384
#define SCK_MAX_FIXED 4096		/* the fixed part of any record */

struct sck_preamble {
	char magic[SCK_MAGIC_LEN];
	uint16_t major;
	uint16_t minor;
	uint32_t arch;			/* SCK_ARCH_X86_64 */
};
#define SCK_ARCH_X86_64 62		/* ELF EM_X86_64 */

struct sck_rec {
	uint32_t type;			/* enum sck_rec_type */
	uint32_t flags;			/* SCK_RECF_* */
	uint64_t len;			/* payload bytes, without padding */
	uint64_t payload_hash;		/* xxh64(payload, 0) */
	uint64_t hdr_hash;		/* xxh64(first 24 bytes, previous hdr_hash) */
};

/* A reader that meets an unknown record type skips it only if this is set. */
#define SCK_RECF_OPTIONAL 1u

enum sck_rec_type {
	SCK_REC_HEADER = 1,
	SCK_REC_PROCESS = 2,
	SCK_REC_RLIMITS = 3,
	SCK_REC_SIGACTIONS = 4,
	SCK_REC_FILE = 5,
	SCK_REC_VMA = 6,
	SCK_REC_FD = 7,
	SCK_REC_THREAD = 8,
	SCK_REC_END_META = 9,
	SCK_REC_PAD = 10,
	SCK_REC_PAGES = 11,
	SCK_REC_PAGE_HASHES = 12,
	SCK_REC_COMMIT = 13,
	SCK_REC_NOTE = 14,		/* optional free text (lenient substitutes...) */
	SCK_REC_OBJ = 15,		/* a kernel object behind descriptors */
	SCK_REC_LOCK = 16,		/* a file lock held through a descriptor */
	/* Timers, pending signals and clocks (see "TIMERS AND SIGNALS" below). */
	SCK_REC_POSIX_TIMER = 17,	/* one POSIX timer (timer_create) */
	SCK_REC_SIGINFO = 18,		/* one pending signal and its siginfo */
	SCK_REC_CLOCKS = 19,		/* the clocks at capture; OPTIONAL */
	SCK_REC_SYSV = 20,		/* a System V IPC object (see "SYSV") */
	SCK_REC_SCM = 21,		/* descriptors in flight on a unix socket */
};

/* ---- HEADER: identity and the fingerprint of the machine ------------- */

struct sck_uuid {
	uint8_t b[16];
};

/* The CPU as far as restored code can tell (P11). */
struct sck_cpu {
	char vendor[16];		/* "GenuineIntel", NUL-padded */
	char model_name[64];
	uint32_t family, model, stepping, _pad0;
	uint32_t leaf1_ecx, leaf1_edx;	/* feature bits glibc's ifuncs read */
	uint32_t leaf7_ebx, leaf7_ecx, leaf7_edx, leaf7_1_eax;
	uint32_t ext1_ecx, ext1_edx;	/* CPUID 0x80000001 */
	uint32_t leaf_d1_eax, _pad1;	/* XSAVEOPT/XSAVEC/XGETBV1/XSAVES */
	uint64_t xcr0;			/* XGETBV(0) */
	uint64_t xfeatures;		/* the user xstate features saved */
	uint32_t xsave_size;		/* standard-format size for xfeatures */
	uint32_t _pad2;
	uint32_t xoff[32];		/* standard-format offset of feature i */
	uint32_t xsize[32];		/* size of feature i */
	uint64_t hwcap, hwcap2;		/* AT_HWCAP, AT_HWCAP2 */
	uint64_t xcomp_perm;		/* ARCH_GET_XCOMP_PERM (AMX) */
};

/* [vvar], [vvar_vclock] and [vdso], in address order (P5). */
#define SCK_MAX_SPECIAL 4
struct sck_special {
	uint64_t start, end;
	uint32_t kind;			/* SCK_VMA_VDSO / VVAR / VVAR_VCLOCK */
	uint32_t _pad;
};

/* Offsets of the vDSO entry points that libc caches at start-up. */
enum sck_vdso_sym {
	SCK_VDSO_CLOCK_GETTIME,
	SCK_VDSO_GETTIMEOFDAY,
	SCK_VDSO_TIME,
	SCK_VDSO_GETCPU,
	SCK_VDSO_CLOCK_GETRES,
	SCK_VDSO_NSYMS
};

struct sck_header {
	uint64_t ckpt_id;		/* positive, increasing along a lineage */
	uint64_t parent_id;		/* previous checkpoint of the lineage, or 0 */
	struct sck_uuid image_uuid;	/* random, this image */
	struct sck_uuid parent_uuid;	/* image_uuid of parent_id's image */
	struct sck_uuid lineage_uuid;	/* random at a lineage's first checkpoint */
	int64_t time_sec;		/* CLOCK_REALTIME when captured */
	uint32_t time_nsec;
	uint32_t flags;			/* SCK_HDR_* */
	uint32_t generation;		/* restarts this lineage went through */
	int32_t pid;			/* getpid() at checkpoint */
	uint32_t uid, gid;		/* real ids of the process */
	uint32_t nthreads;
	uint32_t page_size;
	char kernel_release[65];	/* uname -r */
	char kernel_version[65];	/* uname -v */
	char machine[17];		/* uname -m */
	char glibc_version[17];		/* gnu_get_libc_version(), or "" */
	char hostname[65];
	char machine_id[33];		/* /etc/machine-id, or "" */
	char boot_id[37];		/* /proc/sys/kernel/random/boot_id */
	char selfckpt_version[16];	/* library that wrote the image */
	char _pad0[5];
	struct sck_cpu cpu;
	uint32_t nspecial;
	uint32_t _pad1;
	struct sck_special special[SCK_MAX_SPECIAL];
	uint64_t vdso_hash;		/* xxh64 of the vDSO text */
	uint64_t vdso_sym[SCK_VDSO_NSYMS]; /* offset from vDSO start, 0 if absent */
	uint64_t rstinfo_addr;		/* where the restorer reports to the library */
	uint32_t rstinfo_size;
	uint32_t _pad2;
};

#define SCK_HDR_LENIENT 1u		/* substitutes recorded (see NOTE records) */
#define SCK_HDR_NO_OWNED_LOCKS 2u	/* searched: no held lock records a thread
					 * id, so new ids at restart are safe */
/* How the process that wrote the image was itself last restarted. */
#define SCK_HDR_RESTARTED_PIDNS 4u	/* in a private PID namespace, ids kept */
#define SCK_HDR_RESTARTED_USERNS 8u	/* ...inside a private user namespace */
#define SCK_HDR_RESTARTED_NEW_IDS 16u	/* with new process and thread ids */
#define SCK_HDR_FLAGS 31u

/* ---- PROCESS: per-process kernel state ------------------------------- */

#define SCK_AUXV_MAX 64			/* pairs; the kernel keeps AT_VECTOR_SIZE */

struct sck_process {
	/* Fields of PR_SET_MM_MAP, from /proc/self/stat and brk(0) (P6, P8). */
	uint64_t start_code, end_code, start_data, end_data;
	uint64_t start_brk, brk, start_stack;
	uint64_t arg_start, arg_end, env_start, env_end;
	uint32_t auxv_len;		/* number of uint64_t used in auxv */
	uint32_t exe_file;		/* FILE id of /proc/self/exe, 0 if none */
	uint64_t auxv[SCK_AUXV_MAX * 2];
	uint32_t umask;
	uint32_t personality;
	char comm[16];			/* PR_GET_NAME */
	int32_t dumpable;		/* PR_GET_DUMPABLE */
	int32_t pdeathsig;		/* PR_GET_PDEATHSIG */
	int32_t no_new_privs;
	int32_t thp_disable;
	int32_t child_subreaper;
	int32_t _pad0;
	uint64_t timerslack_ns;
	uint64_t itimer[3][4];		/* ITIMER_REAL/VIRTUAL/PROF: interval, value (sec, usec) */
	uint64_t pending_shared;	/* standard signals pending for the process */
	uint32_t cwd_len;		/* the cwd is the tail, cwd_len bytes */
	int32_t oom_score_adj;		/* /proc/self/oom_score_adj */
	uint32_t mdwe;			/* PR_GET_MDWE: memory-deny-write-execute */
	uint32_t _pad1;
	/* Capability sets (/proc/self/status): exactly these after restart. */
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
};

/* ---- RLIMITS --------------------------------------------------------- */

#define SCK_NLIMITS 16
struct sck_rlimits {
	uint64_t cur[SCK_NLIMITS];
	uint64_t max[SCK_NLIMITS];
};

/* ---- SIGACTIONS: the kernel's struct sigaction for signals 1..64 ------- */

struct sck_sigaction {
	uint64_t handler;		/* SIG_DFL 0, SIG_IGN 1, or an address */
	uint64_t flags;			/* SA_* as the kernel sees them */
	uint64_t restorer;
	uint64_t mask;
};

struct sck_sigactions {
	struct sck_sigaction act[64];	/* act[i] is signal i + 1 */
};

/* ---- FILE: a file that a mapping or an fd refers to -------------------- */

enum sck_file_kind {
	SCK_FILE_REG = 1,
	SCK_FILE_DIR = 2,
	SCK_FILE_CHR = 3,
	SCK_FILE_FIFO = 4,		/* a named pipe (OBJ records only) */
};

struct sck_file {
	uint32_t id;			/* > 0, unique in the image, in order */
	uint32_t kind;
	uint64_t dev, ino;		/* st_dev, st_ino at checkpoint */
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint32_t mode;
	uint64_t rdev;
	uint32_t flags;			/* SCK_FILEF_* */
	uint32_t build_id_len;		/* 0 if none (not ELF, no note) */
	uint8_t build_id[32];
	uint32_t path_len;		/* the path is the tail, path_len bytes */
	uint32_t ctime_nsec;
	int64_t ctime_sec;		/* no one can set it: in-place edits show */
};

/*
 * An object that will not exist at restart (unlinked file, memfd, shared
 * anonymous memory): its contents are in the mappings' page runs and the
 * restorer recreates it; path is the /proc/self/maps name, for messages.
 */
#define SCK_FILEF_OBJECT 1u

/* ---- VMA: one line of /proc/self/maps ----------------------------------- */

enum sck_vma_kind {
	SCK_VMA_ANON = 1,		/* private anonymous */
	SCK_VMA_HEAP = 2,		/* [heap]: private anonymous, brk area */
	SCK_VMA_STACK = 3,		/* [stack] of the main thread */
	SCK_VMA_FILE_PRIVATE = 4,	/* private file mapping, file unchanged */
	SCK_VMA_FILE_SHARED = 5,	/* shared file mapping */
	SCK_VMA_SHM_ANON = 6,		/* MAP_SHARED|MAP_ANONYMOUS, /dev/zero */
	SCK_VMA_MEMFD = 7,		/* memfd_create() object */
	SCK_VMA_DELETED = 8,		/* file unlinked or replaced: contents saved */
	SCK_VMA_VDSO = 9,
	SCK_VMA_VVAR = 10,
	SCK_VMA_VVAR_VCLOCK = 11,
	SCK_VMA_SYSV_SHM = 12,		/* shmat() of a SYSV shm record: sysv_id */
};

/* The kernel's special mappings, moved rather than mapped (P5). */
static inline int sck_vma_special(uint32_t kind)
{
	return kind >= SCK_VMA_VDSO && kind <= SCK_VMA_VVAR_VCLOCK;
}

/* VMA flags: the mapping's own and those madvise/mlock set (smaps VmFlags). */
#define SCK_VMAF_SHARED (1u << 0)
#define SCK_VMAF_GROWSDOWN (1u << 1)	/* gd */
#define SCK_VMAF_LOCKED (1u << 2)	/* lo */
#define SCK_VMAF_DONTFORK (1u << 3)	/* dc */
#define SCK_VMAF_WIPEONFORK (1u << 4)	/* wf */
#define SCK_VMAF_HUGEPAGE (1u << 5)	/* hg */
#define SCK_VMAF_NOHUGEPAGE (1u << 6)	/* nh */
#define SCK_VMAF_MERGEABLE (1u << 7)	/* mg */
#define SCK_VMAF_DONTDUMP (1u << 8)	/* dd */
#define SCK_VMAF_SEQ_READ (1u << 9)	/* sr */
#define SCK_VMAF_RAND_READ (1u << 10)	/* rr */
#define SCK_VMAF_ANON_NAME (1u << 11)	/* [anon:NAME] / [anon_shmem:NAME] */
#define SCK_VMAF_NORESERVE (1u << 12)	/* nr */
#define SCK_VMAF_MAYWRITE (1u << 13)	/* mw: shared mapping may become writable */

struct sck_vma {				/* tail: runs, guards, name */
	uint64_t start, end;
	uint64_t pgoff;			/* file offset in bytes */
	uint32_t kind;			/* enum sck_vma_kind */
	uint32_t prot;			/* PROT_READ 1, PROT_WRITE 2, PROT_EXEC 4 */
	uint32_t flags;			/* SCK_VMAF_* */
	uint32_t file_id;		/* FILE record, 0 if none */
	uint64_t obj_size;		/* pgoff + readable length: the object
					 * size a recreated memfd needs */
	uint64_t npages_stored;		/* sum of runs[].npages */
	uint32_t nruns;			/* followed by nruns struct sck_run */
	uint32_t nguards;		/* then nguards struct sck_range */
	uint32_t name_len;		/* then the /proc/self/maps name */
	int32_t sysv_id;		/* SCK_VMA_SYSV_SHM: the shmid, whose
					 * SYSV record holds the contents;
					 * every other kind: 0 */
};

/* A run of stored pages. */
struct sck_run {
	uint64_t addr;			/* first page */
	uint64_t npages;
	uint64_t data_off;		/* offset in the PAGES payload of src */
	uint32_t src;			/* 0: this image; n: parents[n - 1] (later) */
	uint32_t flags;
};

struct sck_range {
	uint64_t start, end;
};

/* ---- FD: one file descriptor ------------------------------------------ */

enum sck_fd_kind {
	SCK_FD_FILE = 1,		/* regular file, reopened by path */
	SCK_FD_DIR = 2,			/* directory, reopened by path */
	SCK_FD_DEV = 3,			/* /dev/null, zero, full, random, urandom */
	SCK_FD_STDIO = 4,		/* 0-2: becomes the restart command's own */
	SCK_FD_OBJ = 5,			/* an OBJ record: pipe, eventfd... */
};

/* What a SCK_FD_STDIO fd was at checkpoint; for messages and `info`. */
enum sck_stdio_kind {
	SCK_STDIO_TTY = 1,
	SCK_STDIO_NULL = 2,
	SCK_STDIO_PIPE = 3,
	SCK_STDIO_SOCKET = 4,
	SCK_STDIO_OTHER = 5,		/* only with --stdio=inherit semantics */
};

struct sck_fd {
	int32_t fd;
	uint32_t kind;			/* enum sck_fd_kind */
	uint32_t open_flags;		/* fdinfo "flags", without O_CLOEXEC */
	uint32_t fd_flags;		/* FD_CLOEXEC */
	int64_t pos;			/* file offset */
	uint32_t file_id;		/* FILE record for FILE/DIR/DEV */
	uint32_t share_with;		/* lower fd sharing the open file description, +1; 0 none */
	uint32_t stdio_kind;		/* enum sck_stdio_kind for SCK_FD_STDIO */
	uint32_t obj_id;		/* OBJ record for SCK_FD_OBJ; for
					 * SCK_FD_STDIO a SCK_OBJ_TTY or 0 */
	uint64_t size_at_ckpt;		/* regular files: st_size at checkpoint */
};

/* ---- OBJ: a kernel object that descriptors refer to ------------------------
 *
 * Pipes, event fds and the like: what restart recreates before it places
 * the descriptors (FD records of kind SCK_FD_OBJ name it by id). An OBJ
 * record comes before the first FD record that refers to it. Its payload
 * is struct sck_obj, then state_len bytes of the kind's state (one of the
 * structs below), then data_len bytes of data (queued bytes...).
 *
 * Which descriptors share an object: a pipe is one object however many
 * descriptors refer to its two ends; a descriptor of any other kind has
 * an object of its own, and those that share its open file description
 * say so with share_with, as for files.
 */
enum sck_obj_kind {
	SCK_OBJ_PIPE = 1,		/* pipe or FIFO, with both ends here */
	SCK_OBJ_EVENTFD = 2,
	/*
	 * Numbers set aside for the kinds being added (issue 5); a reader
	 * refuses each until it knows its state.
	 */
	SCK_OBJ_TIMERFD = 3,
	SCK_OBJ_SIGNALFD = 4,
	SCK_OBJ_EPOLL = 5,
	SCK_OBJ_INOTIFY = 6,
	SCK_OBJ_UNIX = 7,		/* AF_UNIX socket */
	SCK_OBJ_INET = 8,		/* AF_INET/AF_INET6 socket */
	SCK_OBJ_UNLINKED = 9,		/* an unlinked regular file */
	SCK_OBJ_MEMFD = 10,
	SCK_OBJ_PTY = 11,		/* pseudo-terminal master/slave pair */
	SCK_OBJ_SYSV = 12,		/* unused: System V IPC is not behind
					 * descriptors; see SCK_REC_SYSV */
	SCK_OBJ_PTS = 13,		/* the slave side of a SCK_OBJ_PTY */
	SCK_OBJ_TTY = 14,		/* settings of a stdio terminal */
};

struct sck_obj {
	uint32_t id;			/* 1, 2, ... in record order */
	uint32_t kind;			/* enum sck_obj_kind */
	uint64_t ino;			/* inode number at checkpoint; for info */
	uint32_t file_id;		/* FILE record of a FIFO's path; else 0 */
	uint32_t state_len;		/* the state that follows */
	uint64_t data_len;		/* the data after the state */
};

/*
 * SCK_OBJ_PIPE. Data: the bytes queued in it, refilled at restart. The
 * FD records say which end each descriptor is: O_RDONLY the read end,
 * O_WRONLY the write end, O_RDWR (a FIFO opened so) both.
 */
struct sck_obj_pipe {
	uint32_t capacity;		/* F_GETPIPE_SZ */
	uint32_t _pad;
};

/* SCK_OBJ_EVENTFD. No data. */
struct sck_obj_eventfd {
	uint64_t count;
	uint32_t semaphore;		/* EFD_SEMAPHORE */
	uint32_t _pad;
};

/*
 * SCK_OBJ_TIMERFD. No data. value_ns is the time left until the next
 * expiration at the checkpoint (0: disarmed); for an absolute timer
 * (SCK_TFD_ABSTIME), deadline_ns is that expiration on the timer's own
 * clock, else 0. ticks: expirations not read yet.
 */
struct sck_obj_timerfd {
	int32_t clockid;		/* CLOCK_REALTIME, _MONOTONIC, _BOOTTIME, *_ALARM */
	uint32_t flags;			/* SCK_TFD_*: timerfd_settime() flags */
	uint64_t ticks;
	uint64_t value_ns;
	uint64_t interval_ns;
	uint64_t deadline_ns;
};

#define SCK_TFD_ABSTIME 1u		/* TFD_TIMER_ABSTIME */
#define SCK_TFD_CANCEL_ON_SET 2u	/* TFD_TIMER_CANCEL_ON_SET */

/* SCK_OBJ_SIGNALFD. No data. */
struct sck_obj_signalfd {
	uint64_t mask;			/* bit s - 1 for signal s */
};

/*
 * SCK_OBJ_EPOLL. Data: nwatches struct sck_epoll_watch, by increasing fd;
 * each fd is a descriptor of the image, registered again once all are
 * placed.
 */
struct sck_obj_epoll {
	uint32_t nwatches;
	uint32_t _pad;
};

struct sck_epoll_watch {
	int32_t fd;			/* the watched descriptor */
	uint32_t events;		/* EPOLLIN..., EPOLLET, EPOLLONESHOT... */
	uint64_t data;			/* epoll_event.data, as given */
};

/*
 * SCK_OBJ_INOTIFY. Data: nwatches watches by increasing wd, each a struct
 * sck_inotify_watch, then path_len bytes of its absolute path, then zeros
 * to a multiple of 8.
 */
struct sck_obj_inotify {
	uint32_t nwatches;
	uint32_t _pad;
};

struct sck_inotify_watch {
	int32_t wd;			/* watch descriptor, >= 1 */
	uint32_t mask;			/* IN_* events, IN_ONESHOT, IN_EXCL_UNLINK */
	uint64_t dev, ino;		/* the watched inode at the checkpoint */
	uint32_t flags;			/* SCK_INW_* */
	uint32_t path_len;
};

#define SCK_INW_DONT_FOLLOW 1u		/* the inode is a symbolic link */

/*
 * Terminals. A terminal's settings: the kernel's struct termios2 (TCGETS2,
 * Linux x86-64 values and layout) and its window size (TIOCGWINSZ).
 */
struct sck_termios {
	uint32_t iflag, oflag, cflag, lflag;
	uint8_t line;
	uint8_t cc[19];
	uint32_t ispeed, ospeed;
};

struct sck_winsize {
	uint16_t rows, cols, xpixel, ypixel;
};

/*
 * SCK_OBJ_PTY: a pseudo-terminal pair the process opened, seen from its
 * master (/dev/ptmx): the FD records naming it are descriptors on the
 * master. The slave's descriptors name the SCK_OBJ_PTS object that
 * follows it. Restart opens a new pair (another /dev/pts number). No data:
 * a checkpoint refuses a pair with bytes queued either way.
 */
#define SCK_PTYF_LOCKED 0x1u		/* TIOCGPTLCK: the slave may not be opened */
#define SCK_PTYF_PACKET 0x2u		/* TIOCPKT on the master */
#define SCK_PTYF_EXCL 0x4u		/* TIOCEXCL on the slave */

struct sck_obj_pty {
	struct sck_termios t;		/* the slave's settings */
	struct sck_winsize ws;
	uint32_t index;			/* N of /dev/pts/N at checkpoint; for info */
	uint32_t flags;			/* SCK_PTYF_* */
	uint32_t _pad;
};

/* SCK_OBJ_PTS: the slave of an earlier SCK_OBJ_PTY. No data. */
struct sck_obj_pts {
	uint32_t master;		/* id of the SCK_OBJ_PTY object */
	uint32_t _pad;
};

/*
 * SCK_OBJ_TTY: the terminal that stdio descriptors (FD kind stdio) were
 * on, which restart does not make: the restarted process gets the restart
 * command's own terminal, and these settings are reapplied to it. No data.
 */
#define SCK_TTYF_CTTY 0x1u		/* the process's controlling terminal */
#define SCK_TTYF_FOREGROUND 0x2u	/* ...and its group was the foreground */
#define SCK_TTYF_BACKGROUND 0x4u	/* ...and it was not: settings not its own */

struct sck_obj_tty {
	struct sck_termios t;
	struct sck_winsize ws;
	uint32_t rdev_major, rdev_minor;	/* which terminal; for info */
	uint32_t flags;			/* SCK_TTYF_* */
};

/*
 * SCK_OBJ_UNLINKED (a regular file unlinked while open) and SCK_OBJ_MEMFD:
 * a file that will not exist at restart. file_id names its FILE record
 * (kind REG, flag OBJECT), which holds its name ("/tmp/x (deleted)",
 * "/memfd:NAME (deleted)") and which the mappings of the same file share:
 * restart makes one file for both. Its contents are in the page data:
 * data is data_len / 32 struct sck_run, addr being the file offset, in
 * increasing order; what no run covers is a hole (reads as zeros). Each
 * FD on it is an open of its own (O_RDONLY, O_WRONLY or O_RDWR) at pos,
 * unless it shares one (share_with).
 */
struct sck_obj_ghost {
	uint64_t size;			/* st_size */
	uint32_t mode;			/* st_mode & 07777 */
	uint32_t seals;			/* memfd: F_GET_SEALS; unlinked: 0 */
};

#define SCK_SEALS_KNOWN 0x3fu		/* F_SEAL_SEAL ... F_SEAL_EXEC */

/*
 * Sockets (SCK_OBJ_UNIX, SCK_OBJ_INET): what each one was, as a state
 * of enum sck_sock_state, and the options worth keeping. See
 * docs/image-format.md 6.15 for what restart does with each.
 */
enum sck_sock_state {
	SCK_SOCK_UNCONNECTED = 1,	/* maybe bound (a name, a port) */
	SCK_SOCK_LISTEN = 2,
	SCK_SOCK_PAIR = 3,		/* unix: connected to object peer */
	SCK_SOCK_PENDING = 4,		/* unix: connected to the listener
					 * object peer, not accepted yet */
	SCK_SOCK_CLOSED = 5,		/* a connection whose other end is gone */
	SCK_SOCK_CONNECTED = 6,		/* datagrams: connected to an address */
};

#define SCK_SOCKF_CUT 1u		/* a connection to another process,
					 * closed by SELFCKPT_CLOSE_CONNECTIONS */
#define SCK_SOCKF_UNLINKED 2u		/* unix path name whose file was gone */
#define SCK_SOCKF_RESET 4u		/* CLOSED TCP: reads give ECONNRESET */
#define SCK_SOCKF_DROPPED 8u		/* UDP: queued datagrams not saved */
#define SCK_SOCKF_ALL 15u

/*
 * Options, by their index in val[]: SOL_SOCKET ones, then TCP, then IP.
 * Encodings: plain ints; SO_SNDBUF and SO_RCVBUF as getsockopt reports
 * them (twice what was set); SO_LINGER -1 when off, else the seconds;
 * SO_RCVTIMEO and SO_SNDTIMEO in microseconds.
 */
enum sck_sockopt {
	SCK_SO_REUSEADDR, SCK_SO_REUSEPORT, SCK_SO_KEEPALIVE, SCK_SO_BROADCAST,
	SCK_SO_OOBINLINE, SCK_SO_PASSCRED, SCK_SO_SNDBUF, SCK_SO_RCVBUF,
	SCK_SO_RCVLOWAT, SCK_SO_PRIORITY, SCK_SO_LINGER, SCK_SO_RCVTIMEO,
	SCK_SO_SNDTIMEO, SCK_SO_PEEK_OFF, SCK_TCP_NODELAY, SCK_TCP_KEEPIDLE,
	SCK_TCP_KEEPINTVL, SCK_TCP_KEEPCNT, SCK_TCP_USER_TIMEOUT,
	SCK_TCP_DEFER_ACCEPT, SCK_TCP_FASTOPEN, SCK_IPV6_V6ONLY, SCK_IP_TOS,
	SCK_IP_TTL,
	SCK_NSOCKOPT			/* 24 */
};

struct sck_sockopts {
	uint64_t valid;			/* bit i: val[i] was read */
	int64_t val[SCK_NSOCKOPT];
};

#define SCK_UNIX_NAME_MAX 108		/* sun_path */

/*
 * SCK_OBJ_UNIX. Data: the receive queue. A stream socket's bytes; for
 * datagram and seqpacket sockets nmsgs messages, each a struct
 * sck_unix_msg, addr_len bytes of the sender's name and len bytes.
 */
struct sck_obj_unix {
	uint32_t type;			/* SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET */
	uint32_t state;			/* enum sck_sock_state */
	uint32_t peer;			/* PAIR: the other end; PENDING: the listener */
	uint32_t flags;			/* SCK_SOCKF_* */
	uint32_t shutdown;		/* 1 reading, 2 writing shut down */
	uint32_t backlog;		/* LISTEN */
	uint32_t nmsgs;			/* messages in data (not stream) */
	uint32_t dropped;		/* LISTEN: connections dropped (CUT) */
	uint32_t name_len;		/* bytes of name; 0 unnamed */
	uint32_t peer_name_len;		/* CONNECTED: bytes of peer_name */
	uint32_t file_mode;		/* a path name: its file's mode bits */
	uint32_t _pad;
	uint8_t name[SCK_UNIX_NAME_MAX];	/* sun_path: abstract if name[0] is 0 */
	uint8_t peer_name[SCK_UNIX_NAME_MAX];
	struct sck_sockopts opts;
};

struct sck_unix_msg {
	uint32_t len;			/* bytes of the message */
	uint32_t addr_len;		/* bytes of the sender's name; 0 unnamed */
};

/*
 * SCK_OBJ_INET: a TCP or UDP socket, IPv4 or IPv6. Data: for a CLOSED
 * TCP socket, the bytes it had received and not read; else none.
 */
struct sck_obj_inet {
	uint32_t family;		/* AF_INET, AF_INET6 */
	uint32_t type;			/* SOCK_STREAM (TCP), SOCK_DGRAM (UDP) */
	uint32_t state;			/* enum sck_sock_state */
	uint32_t flags;			/* SCK_SOCKF_* */
	uint32_t shutdown;		/* 1 reading, 2 writing shut down */
	uint32_t backlog;		/* LISTEN */
	uint32_t dropped;		/* LISTEN: connections dropped (CUT) */
	uint32_t _pad;
	uint8_t local[28];		/* sockaddr_in or sockaddr_in6 */
	uint8_t peer[28];		/* CLOSED (TCP), CONNECTED (UDP) */
	struct sck_sockopts opts;
};

_Static_assert(sizeof(struct sck_sockopts) == 200, "sockopts");
_Static_assert(sizeof(struct sck_obj_unix) == 464, "obj_unix");
_Static_assert(sizeof(struct sck_unix_msg) == 8, "unix_msg");
_Static_assert(sizeof(struct sck_obj_inet) == 288, "obj_inet");

#define SCK_MAX_OBJ_DATA (64ULL << 20)	/* data of one object */

/* ---- SCM: descriptors in flight on a unix socket ---------------------------
 *
 * One record per message in the receive queue of a unix OBJ that carries
 * descriptors (SCM_RIGHTS), after every OBJ and FD record it names and in
 * queue order: (obj, at) increases from one SCM record to the next. The
 * payload is struct sck_scm, then nfds struct sck_scm_fd. A descriptor in
 * flight is written like an FD record with no number (fd -1): a file
 * reopened at its offset, or an end of an OBJ; share_with names an FD
 * record whose descriptor shares its open file description. The same open
 * file description in flight several times has one flight number: its
 * first sck_scm_fd describes it, later ones repeat it byte for byte.
 * Restart sends each message again with the descriptors (restore-sock.c).
 */
#define SCK_SCM_MAX_FDS 253		/* the kernel's SCM_MAX_FD */

struct sck_scm {
	uint32_t obj;			/* the SCK_OBJ_UNIX whose queue holds it */
	uint32_t nfds;			/* 1..SCK_SCM_MAX_FDS */
	uint64_t at;			/* datagram, seqpacket: the message's index
					 * (0..nmsgs-1); stream: the offset in the
					 * queued bytes where those sent with the
					 * descriptors start */
	uint64_t len;			/* stream: how many were sent with them
					 * (1 or more); else 0 */
};

struct sck_scm_fd {
	uint32_t flight;		/* 1 for the first met in the image, ... */
	uint32_t _pad;
	struct sck_fd fd;		/* fd -1, fd_flags 0, never STDIO */
};

/* ---- LOCK: a file lock, taken again at restart ----------------------------
 *
 * Comes after the FD record of fd, which must be a file, a directory or
 * an unlinked file or memfd (kind object), and not share its open file
 * description with a lower fd: a lock of a description is recorded once,
 * on its lowest descriptor.
 */
enum sck_lock_kind {
	SCK_LOCK_POSIX = 1,		/* fcntl F_SETLK: the process's */
	SCK_LOCK_FLOCK = 2,		/* flock(): the open file description's */
	SCK_LOCK_OFD = 3,		/* fcntl F_OFD_SETLK: the description's */
};

enum sck_lock_type {
	SCK_LOCK_READ = 1,		/* F_RDLCK, LOCK_SH */
	SCK_LOCK_WRITE = 2,		/* F_WRLCK, LOCK_EX */
};

#define SCK_LOCK_EOF UINT64_MAX		/* end: up to the end of the file,
					 * whatever it is then */

struct sck_lock {
	int32_t fd;
	uint32_t kind;			/* enum sck_lock_kind */
	uint32_t type;			/* enum sck_lock_type */
	uint32_t _pad;
	uint64_t start;			/* first byte; 0 for flock */
	uint64_t end;			/* last byte, or SCK_LOCK_EOF (flock) */
};

/* ---- THREAD: registers and per-thread kernel state ---------------------- */

/* General registers in the order of the kernel's struct sigcontext. */
struct sck_gregs {
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
};

struct sck_thread {
	int32_t tid;
	uint32_t flags;			/* SCK_THRF_* */
	struct sck_gregs regs;
	uint64_t fs_base, gs_base;
	uint64_t sigmask;		/* blocked signals, bit n-1 for signal n */
	uint64_t pending;		/* thread-directed standard signals pending */
	uint64_t altstack_sp;		/* sigaltstack */
	uint64_t altstack_size;
	uint32_t altstack_flags;
	uint32_t rseq_len;		/* 0: no rseq registration */
	uint64_t rseq_addr;
	uint32_t rseq_sig;
	uint32_t _pad0;
	uint64_t clear_child_tid;	/* set_tid_address() */
	uint64_t robust_head;		/* set_robust_list() */
	uint64_t robust_len;
	uint64_t xfeatures;		/* features present in the xsave area */
	uint32_t xsave_size;		/* the tail: xsave_size bytes, standard format */
	/* Scheduling settings, per thread in Linux; set again at restart. */
	int32_t nice;			/* getpriority(PRIO_PROCESS, tid) */
	uint32_t sched_policy;		/* with SCHED_RESET_ON_FORK */
	uint32_t sched_priority;
	uint32_t ioprio;		/* ioprio_get(IOPRIO_WHO_PROCESS, tid) */
	int32_t keepcaps;		/* PR_GET_KEEPCAPS */
	int32_t mce_kill;		/* PR_MCE_KILL_GET */
	uint32_t ncpus;			/* CPUs described by affinity */
	uint64_t affinity[16];		/* sched_getaffinity: CPUs 0-1023 */
	uint64_t tid_field;		/* libc's copy of the tid (glibc: in its
					 * struct pthread), updated when thread
					 * ids change at restart; 0 if unknown */
	char comm[16];			/* its name: PR_GET_NAME in the thread,
					 * NUL-terminated */
};

#define SCK_THRF_MAIN 1u		/* the thread group leader */
#define SCK_THRF_CALLER 2u		/* the thread that called the checkpoint */

/* ---- TIMERS AND SIGNALS: POSIX_TIMER, SIGINFO, CLOCKS --------------------
 *
 * Written only when there is something to say (POSIX_TIMER, SIGINFO) and
 * without the OPTIONAL flag: a reader that does not know them cannot
 * restore what they describe and refuses the image. CLOCKS is in every
 * image, OPTIONAL: a restart that ignores it runs on this machine's clocks.
 */

/* One POSIX timer, as timer_create made it; in increasing id order. */
struct sck_posix_timer {
	int32_t id;			/* the kernel's timer id, kept at restart */
	int32_t clock;			/* clockid_t, CPU clocks as the kernel
					 * encodes them (a thread's: its tid) */
	int32_t notify;			/* SCK_SIGEV_* */
	int32_t signo;			/* 1..64; any 0..64 with SIGEV_NONE */
	int32_t tid;			/* SIGEV_THREAD_ID: the thread; else 0 */
	int32_t overrun;		/* timer_getoverrun() then; not restored */
	uint64_t value;			/* sigev_value */
	int64_t interval_sec, interval_nsec;	/* timer_gettime(): the interval */
	int64_t value_sec, value_nsec;	/* and the time left; 0: disarmed */
};

#define SCK_SIGEV_SIGNAL 0		/* the process */
#define SCK_SIGEV_NONE 1
#define SCK_SIGEV_THREAD_ID 4		/* one thread (SIGEV_SIGNAL | 4) */

#define SCK_MAX_TIMERS (1U << 20)

/*
 * One signal pending at the checkpoint, with the siginfo rt_sigtimedwait
 * returned; in the order the kernel queued them, per target.
 */
struct sck_siginfo {
	int32_t tid;			/* 0: pending for the process; else the
					 * thread it is pending for */
	uint32_t signo;			/* 1..64, neither SIGKILL nor SIGSTOP */
	uint8_t info[128];		/* the kernel's siginfo; si_signo = signo */
};

#define SCK_MAX_SIGINFO (1U << 20)

/* CLOCK_MONOTONIC and CLOCK_BOOTTIME at capture (time namespaces). */
struct sck_clocks {
	int64_t monotonic_sec, monotonic_nsec;
	int64_t boottime_sec, boottime_nsec;
};

/* ---- SYSV: a System V IPC object the process created ----------------------
 *
 * One record per shared memory segment, semaphore set and message queue,
 * written after CLOCKS, by kind (shm, sem, msg) and increasing id within
 * a kind. Restart makes each again with its id and key in a private IPC
 * namespace (docs/image-format.md 6.18), then the attachments (VMA kind
 * SYSV_SHM) with shmat(). The payload is struct sck_sysv, then data_len
 * bytes of data:
 *   shm: the segment's bytes, data_len == size;
 *   sem: size unsigned 16-bit values (GETALL), data_len == 2 * size;
 *   msg: count messages in queue order, each a struct sck_sysv_msg and its
 *        len bytes, padded with zeros to a multiple of 8.
 */
enum sck_sysv_kind {
	SCK_SYSV_SHM = 1,
	SCK_SYSV_SEM = 2,
	SCK_SYSV_MSG = 3,
};

struct sck_sysv {
	uint32_t kind;			/* enum sck_sysv_kind */
	int32_t id;			/* shmid, semid, msqid: >= 0 */
	int32_t key;			/* 0: IPC_PRIVATE */
	uint32_t mode;			/* permission bits, & 0777 */
	uint32_t uid, gid;		/* owner, set with IPC_SET */
	uint32_t cuid, cgid;		/* creator; for info */
	uint64_t size;			/* shm: bytes; sem: nsems; msg: qbytes */
	uint32_t count;			/* msg: messages; else 0 */
	uint32_t flags;			/* SCK_SYSVF_* */
	uint64_t data_len;
};

/* shm: marked for removal (IPC_RMID) while attached; key is 0 then. */
#define SCK_SYSVF_REMOVED 1u

struct sck_sysv_msg {
	int64_t type;			/* mtype, > 0 */
	uint64_t len;			/* bytes of mtext that follow */
};

#define SCK_MAX_SYSV 4096		/* SYSV records in an image */
/* Data of one SYSV record: with any fixed part, within SCK_MAX_META_REC. */
#define SCK_MAX_SYSV_DATA ((64ULL << 20) - SCK_MAX_FIXED)

/* ---- END_META, PAGE_HASHES, COMMIT ------------------------------------- */

struct sck_end_meta {
	uint64_t data_len;		/* PAGES payload length, a multiple of 4096 */
	uint32_t nfiles, nvmas, nfds, nthreads;
	uint64_t nruns;
	uint64_t meta_records;		/* records before this one, preamble excluded */
};

struct sck_page_hashes {
	uint64_t chunk_size;		/* SCK_CHUNK_SIZE */
	uint64_t nchunks;		/* the tail: nchunks uint64_t hashes */
};

#define SCK_COMMIT_MAGIC 0x54494D4D4F434B53ULL	/* "SKCOMMIT" */

struct sck_commit {
	uint64_t magic;
	uint64_t records;		/* records before this one */
	uint64_t commit_off;		/* stream offset of this record */
	uint64_t data_len;
	struct sck_uuid image_uuid;	/* repeated from HEADER */
};

/* ---- The restorer reports to the restored library here ------------------ */

#define SCK_RSTINFO_MAGIC 0x4F464E4954535253ULL	/* "SRSTINFO" */

struct sck_rstinfo {
	uint64_t magic;			/* set by the restorer, cleared by the library */
	uint64_t blob_start, blob_len;	/* restorer area to unmap after resuming */
	uint64_t flags;			/* SCK_RST_* */
	int32_t pid;			/* pid after the restart */
	uint32_t threads;		/* threads besides the caller, to wait for */
	uint64_t warnings;		/* number of warnings the restart logged */
};

#define SCK_RST_PIDNS 1u		/* restarted in a private pid namespace */
#define SCK_RST_USERNS 2u		/* ...and user namespace */
#define SCK_RST_EXE_SET 4u		/* /proc/self/exe was set (PR_SET_MM_MAP) */

/* Sizes are part of the format. */
_Static_assert(sizeof(struct sck_preamble) == 16, "preamble");
_Static_assert(sizeof(struct sck_rec) == 32, "rec");
_Static_assert(sizeof(struct sck_run) == 32, "run");
_Static_assert(sizeof(struct sck_vma) == 72, "vma");
_Static_assert(sizeof(struct sck_fd) == 48, "fd");
_Static_assert(sizeof(struct sck_termios) == 44, "termios2");
_Static_assert(sizeof(struct sck_obj_pty) == 64, "pty");
_Static_assert(sizeof(struct sck_obj_pts) == 8, "pts");
_Static_assert(sizeof(struct sck_obj_tty) == 64, "tty");
_Static_assert(sizeof(struct sck_gregs) == 144, "gregs");
_Static_assert(sizeof(struct sck_sigaction) == 32, "sigaction");
_Static_assert(sizeof(struct sck_file) == 112, "file");
_Static_assert(sizeof(struct sck_cpu) == 440, "cpu");
_Static_assert(sizeof(struct sck_special) == 24, "special");
_Static_assert(sizeof(struct sck_header) == 1032, "header");
_Static_assert(sizeof(struct sck_process) == 1336, "process");
_Static_assert(sizeof(struct sck_rlimits) == 256, "rlimits");
_Static_assert(sizeof(struct sck_sigactions) == 2048, "sigactions");
_Static_assert(sizeof(struct sck_thread) == 440, "thread");
_Static_assert(sizeof(struct sck_end_meta) == 40, "end_meta");
_Static_assert(sizeof(struct sck_page_hashes) == 16, "page_hashes");
_Static_assert(sizeof(struct sck_commit) == 48, "commit");
_Static_assert(sizeof(struct sck_range) == 16, "range");
_Static_assert(sizeof(struct sck_rstinfo) == 48, "rstinfo");
_Static_assert(sizeof(struct sck_obj_ghost) == 16, "obj_ghost");
_Static_assert(sizeof(struct sck_lock) == 32, "lock");
_Static_assert(sizeof(struct sck_posix_timer) == 64, "posix_timer");
_Static_assert(sizeof(struct sck_siginfo) == 136, "siginfo");
_Static_assert(sizeof(struct sck_clocks) == 32, "clocks");
_Static_assert(sizeof(struct sck_scm) == 24, "scm");
_Static_assert(sizeof(struct sck_scm_fd) == 56, "scm_fd");
_Static_assert(sizeof(struct sck_sysv) == 56, "sysv");
_Static_assert(sizeof(struct sck_sysv_msg) == 16, "sysv_msg");

#endif /* SELFCKPT_IMAGE_FORMAT_H */

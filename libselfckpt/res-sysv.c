/*
 * res-sysv.c - System V IPC the process created: shared memory segments,
 * semaphore sets and message queues, the SYSV records (issue 5).
 *
 * Which objects are the process's own. SysV objects belong to no process:
 * they live in the IPC namespace until someone removes them. A segment
 * says who created it (/proc/sysvipc/shm cpid); a semaphore set or a
 * queue does not, so the shared library's shmget(), semget() and msgget()
 * (interpose.c) record every id the program got, and whether the call
 * created it (IPC_PRIVATE, IPC_EXCL, or IPC_CREAT tried with IPC_EXCL
 * first). The registry lives in the process's memory, so a restarted
 * process still knows what it created. Saved: every segment the process
 * created (attached or not) and every set and queue it created.
 *
 * Refused, never pretended (the checkpoint fails naming the object):
 *  - a segment attached here that the process did not create, or that
 *    another process has attached too (shm_nattch above the attachments
 *    here): its other users would not share it after a restart;
 *  - a set or queue the program opened (semget/msgget) but did not create;
 *  - a set operated on with SEM_UNDO (semop wrapper): the kernel keeps
 *    the adjustments per process and shows them nowhere (ipc/sem.c:
 *    struct sem_undo, reached only from the task's sysvsem.undo_list);
 *  - a queue on a kernel without MSG_COPY (CONFIG_CHECKPOINT_RESTORE),
 *    and anything larger than SCK_MAX_SYSV_DATA.
 *
 * Contents: a segment's bytes through a temporary read-only attachment
 * (nattch is read before it), a set's values (GETALL), a queue's
 * messages in order with MSG_COPY, which reads without removing. The
 * attachments themselves are VMA records of kind SYSV_SHM (res-mem.c).
 *
 * Async-signal-safe: raw system calls, the arena, and a registry updated
 * with atomic operations.
 */
#define LOG_PREFIX "sysv: "

#include <linux/errno.h>

#include "internal.h"
#include "log.h"
#include "nolibc/fmt.h"
#include "nolibc/str.h"
#include "proc.h"
#include "sys.h"

#define IPC_RMID 0
#define IPC_STAT 2
#define GETALL 13
#define SHM_RDONLY 010000
#define SHM_DEST 01000
#define IPC_NOWAIT 04000
#define MSG_NOERROR 010000
#define MSG_COPY 040000

/* ---- the registry of ids the program got (interpose.c) ---------------- */

#define REG_MAX 1024

/* kind << 40 | what << 32 | id + 1; 0 is a free slot. */
static uint64_t reg[REG_MAX];

#define REG_KEY(v) ((v) & ~(0xffULL << 32))

/* Does the object still exist? IPC_STAT with no buffer: EFAULT if so. */
static int gone(uint64_t v)
{
	static const int nr[] = { 0, __NR_shmctl, __NR_semctl, __NR_msgctl };
	uint32_t kind = (uint32_t)(v >> 40);
	long id = (long)(uint32_t)v - 1, r;

	if (kind < SCK_SYSV_SHM || kind > SCK_SYSV_MSG)
		return 0;
	r = kind == SCK_SYSV_SEM ? sck_syscall4(nr[kind], id, 0, IPC_STAT, 0) :
				   sck_syscall3(nr[kind], id, IPC_STAT, 0);
	return r == -EINVAL || r == -EIDRM;
}

/* Free the slots of objects removed since: the registry is full. */
static void reclaim(void)
{
	for (int i = 0; i < REG_MAX; i++) {
		uint64_t v = __atomic_load_n(&reg[i], __ATOMIC_ACQUIRE);

		if (v && v != ~0ULL && gone(v))
			__atomic_compare_exchange_n(&reg[i], &v, 0, 0, __ATOMIC_ACQ_REL,
						    __ATOMIC_ACQUIRE);
	}
}

static int reg_add(uint64_t key, uint32_t what)
{
	for (int i = 0; i < REG_MAX; i++) {
		uint64_t v = __atomic_load_n(&reg[i], __ATOMIC_ACQUIRE);

		if (v && REG_KEY(v) == key) {
			__atomic_fetch_or(&reg[i], (uint64_t)what << 32, __ATOMIC_ACQ_REL);
			return 0;
		}
	}
	for (int i = 0; i < REG_MAX - 1; i++) {
		uint64_t v = 0;

		if (__atomic_compare_exchange_n(&reg[i], &v, key | (uint64_t)what << 32, 0,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return 0;
	}
	return -1;
}

/*
 * Called by the interposed functions (interpose.c) with the id the
 * program got. The last slot is the overflow mark: set when even after
 * freeing the slots of removed objects there is no room, so that the
 * checkpoint refuses rather than miss an object.
 */
void selfckpt__sysv_note(uint32_t kind, int32_t id, uint32_t what)
{
	uint64_t key = (uint64_t)kind << 40 | (uint32_t)(id + 1);

	if (id < 0)
		return;
	if (reg_add(key, what) == 0)
		return;
	reclaim();
	if (reg_add(key, what) == 0)
		return;
	__atomic_store_n(&reg[REG_MAX - 1], ~0ULL, __ATOMIC_RELEASE);
}

/* SCK_SYSV_NOTE_* bits recorded for (kind, id). */
static uint32_t noted(uint32_t kind, int32_t id)
{
	uint64_t key = (uint64_t)kind << 40 | (uint32_t)(id + 1);
	uint32_t bits = 0;

	for (int i = 0; i < REG_MAX - 1; i++) {
		uint64_t v = __atomic_load_n(&reg[i], __ATOMIC_ACQUIRE);

		if (v && REG_KEY(v) == key)
			bits |= (uint32_t)(v >> 32) & 0xff;
	}
	return bits;
}

static int reg_full(void)
{
	return __atomic_load_n(&reg[REG_MAX - 1], __ATOMIC_ACQUIRE) == ~0ULL;
}

/* ---- /proc/sysvipc ------------------------------------------------------ */

/* One line of /proc/sysvipc/{shm,sem,msg}: what each kind needs. */
struct ipc_line {
	int32_t key, id;
	uint32_t mode;
	uint64_t size;			/* shm segsz, sem nsems, msg cbytes */
	uint64_t qnum;			/* msg */
	int32_t cpid;			/* shm */
	uint64_t nattch;		/* shm */
	uint32_t uid, gid, cuid, cgid;
};

static const char *skip_space(const char *p)
{
	while (*p == ' ')
		p++;
	return p;
}

static uint64_t num(const char **p, int base)
{
	const char *e;
	int neg;
	uint64_t v;

	*p = skip_space(*p);
	neg = **p == '-';
	v = selfckpt__parse_u64(*p + neg, base, &e);
	*p = e;
	return neg ? (uint64_t)-(int64_t)v : v;
}

/*
 * The kernel's formats (ipc/shm.c, sem.c, msg.c *_proc_show):
 *   shm: key shmid perms size cpid lpid nattch uid gid cuid cgid ...
 *   sem: key semid perms nsems uid gid cuid cgid ...
 *   msg: key msqid perms cbytes qnum lspid lrpid uid gid cuid cgid ...
 */
static void parse_line(uint32_t kind, const char *p, struct ipc_line *l)
{
	l->key = (int32_t)num(&p, 10);
	l->id = (int32_t)num(&p, 10);
	l->mode = (uint32_t)num(&p, 8);
	l->size = num(&p, 10);
	if (kind == SCK_SYSV_SHM) {
		l->cpid = (int32_t)num(&p, 10);
		num(&p, 10);
		l->nattch = num(&p, 10);
	} else if (kind == SCK_SYSV_MSG) {
		l->qnum = num(&p, 10);
		num(&p, 10);
		num(&p, 10);
	}
	l->uid = (uint32_t)num(&p, 10);
	l->gid = (uint32_t)num(&p, 10);
	l->cuid = (uint32_t)num(&p, 10);
	l->cgid = (uint32_t)num(&p, 10);
}

static const char *const files[] = { "", "/proc/sysvipc/shm", "/proc/sysvipc/sem",
				     "/proc/sysvipc/msg" };

/* The next line after p (past the header line the first time); NULL at the end. */
static const char *next_line(const char *p, const char *end)
{
	while (p < end && *p != '\n')
		p++;
	return p + 1 < end ? p + 1 : NULL;
}

/* Did the process create this object? */
static int is_ours(uint32_t kind, const struct ipc_line *l, int32_t pid)
{
	if (kind == SCK_SYSV_SHM && l->cpid == pid)
		return 1;
	return !!(noted(kind, l->id) & SCK_SYSV_NOTE_CREATED);
}

/*
 * Mappings of segment id here. The kernel's shm_nattch counts mappings,
 * not shmat() calls: an attachment split by mprotect counts once a piece
 * (shm_open() runs for each new vma).
 */
static uint32_t attachments(const struct sck_dump *d, int32_t id, int *used)
{
	uint32_t n = 0;

	*used = 0;
	for (uint32_t i = 0; i < d->nvmas; i++) {
		const struct sck_vma *v = &d->vmas[i].v;

		if (v->kind == SCK_VMA_SYSV_SHM && v->sysv_id == id) {
			*used = 1;
			n++;
		}
	}
	return n;
}

/* ---- sizing, before the arena exists (checkpoint.c) ------------------- */

static long file_len(const char *path)
{
	char buf[4096];
	long fd = sys_openat(-100, path, 0 /* O_RDONLY */ | 02000000, 0), n, len = 0;

	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	while ((n = sys_read((int)fd, buf, sizeof(buf))) > 0)
		len += n;
	sys_close((int)fd);
	return n < 0 ? n : len;
}

/* Metadata and scratch bytes for one object of the process. */
static void need(uint32_t kind, const struct ipc_line *l, uint64_t *data,
		 uint64_t *scratch)
{
	uint64_t n = 0;

	if (kind == SCK_SYSV_SHM)
		n = l->size;
	else if (kind == SCK_SYSV_SEM)
		n = 2 * l->size;
	else
		n = l->size + l->qnum * (sizeof(struct sck_sysv_msg) + 16);
	*data += n + sizeof(struct sck_rec) + sizeof(struct sck_sysv) + 8;
	if (kind != SCK_SYSV_SHM && n > *scratch)
		*scratch = n;
}

/* ---- saving --------------------------------------------------------------- */

struct kipc_perm {
	int32_t key;
	uint32_t uid, gid, cuid, cgid, mode;
	uint16_t seq, _pad2;
	uint64_t _unused1, _unused2;
};

struct kmsqid_ds {
	struct kipc_perm perm;
	int64_t stime, rtime, ctime;
	uint64_t cbytes, qnum, qbytes;
	int32_t lspid, lrpid;
	uint64_t _unused4, _unused5;
};

static int add_record(struct sck_dump *d, const struct sck_sysv *x, const void *data)
{
	struct sck_part parts[2] = { { x, sizeof(*x) }, { data, x->data_len } };

	if (selfckpt__meta_add(&d->meta, SCK_REC_SYSV, 0, parts, 2, NULL))
		return sck_fail(ENOMEM, "metadata buffer full");
	return 0;
}

static void fill_common(struct sck_sysv *x, uint32_t kind, const struct ipc_line *l)
{
	x->kind = kind;
	x->id = l->id;
	x->key = l->key;
	x->mode = l->mode & 0777;
	x->uid = l->uid;
	x->gid = l->gid;
	x->cuid = l->cuid;
	x->cgid = l->cgid;
}

static int save_shm(struct sck_dump *d, const struct ipc_line *l)
{
	struct sck_sysv x = { 0 };
	int used;
	uint32_t here = attachments(d, l->id, &used);
	long addr;
	int ret;

	if (l->nattch > here)
		return sck_fail(EOPNOTSUPP,
				"System V shared memory segment %d (key 0x%08x) is attached by another process too (%lu mappings, %u here): sharing memory with other processes is not supported",
				l->id, (unsigned)l->key, (unsigned long)l->nattch, here);
	if (l->size > SCK_MAX_SYSV_DATA)
		return sck_fail(EOPNOTSUPP,
				"System V shared memory segment %d (key 0x%08x) is %lu bytes: segments above %llu bytes are not supported",
				l->id, (unsigned)l->key, (unsigned long)l->size,
				(unsigned long long)SCK_MAX_SYSV_DATA);
	fill_common(&x, SCK_SYSV_SHM, l);
	x.size = l->size;
	x.data_len = l->size;
	if (l->mode & SHM_DEST)
		x.flags |= SCK_SYSVF_REMOVED;
	addr = sck_syscall3(__NR_shmat, l->id, 0, SHM_RDONLY);
	if (addr < 0 && addr > -4096)
		return sck_fail((int)-addr,
				"cannot read System V shared memory segment %d (key 0x%08x): shmat: %s",
				l->id, (unsigned)l->key, selfckpt__errname((int)-addr));
	ret = add_record(d, &x, (const void *)addr);
	sck_syscall1(__NR_shmdt, addr);
	return ret;
}

static int save_sem(struct sck_dump *d, const struct ipc_line *l)
{
	struct sck_sysv x = { 0 };
	long r;

	if (noted(SCK_SYSV_SEM, l->id) & SCK_SYSV_NOTE_UNDO)
		return sck_fail(EOPNOTSUPP,
				"System V semaphore set %d (key 0x%08x) was operated on with SEM_UNDO, whose adjustments the kernel keeps per process and shows nowhere: not supported",
				l->id, (unsigned)l->key);
	fill_common(&x, SCK_SYSV_SEM, l);
	x.size = l->size;
	x.data_len = 2 * l->size;
	if (x.data_len > d->sysv_scratch_cap)
		return sck_fail(EAGAIN, "semaphore set %d grew during the checkpoint", l->id);
	r = sck_syscall4(__NR_semctl, l->id, 0, GETALL, (long)d->sysv_scratch);
	if (r < 0)
		return sck_fail((int)-r,
				"cannot read System V semaphore set %d (key 0x%08x): semctl GETALL: %s",
				l->id, (unsigned)l->key, selfckpt__errname((int)-r));
	return add_record(d, &x, d->sysv_scratch);
}

/* The messages, in order, copied (MSG_COPY) into the scratch buffer. */
static int copy_msgs(struct sck_dump *d, const struct ipc_line *l, uint64_t qnum,
		     uint64_t *len)
{
	uint8_t *b = d->sysv_scratch;
	uint64_t at = 0;

	for (uint64_t i = 0; i < qnum; i++) {
		struct sck_sysv_msg m;
		long r;

		if (d->sysv_scratch_cap - at < sizeof(m) + 8)
			return sck_fail(EAGAIN, "message queue %d grew during the checkpoint", l->id);
		/* struct msgbuf lands 8 bytes in: mtype where m.len goes. */
		r = sck_syscall5(__NR_msgrcv, l->id, (long)(b + at + 8),
				 (long)(d->sysv_scratch_cap - at - 16), (long)i,
				 IPC_NOWAIT | MSG_COPY);
		if (r == -ENOSYS || r == -EINVAL)
			return sck_fail(EOPNOTSUPP,
					"cannot read System V message queue %d (key 0x%08x) without taking its messages: this kernel has no MSG_COPY (CONFIG_CHECKPOINT_RESTORE): not supported",
					l->id, (unsigned)l->key);
		if (r < 0)
			return sck_fail((int)-r,
					"cannot read message %lu of System V message queue %d (key 0x%08x): %s",
					(unsigned long)i, l->id, (unsigned)l->key,
					selfckpt__errname((int)-r));
		__builtin_memcpy(&m.type, b + at + 8, 8);
		m.len = (uint64_t)r;
		__builtin_memcpy(b + at, &m, sizeof(m));
		at += sizeof(m) + m.len;
		while (at & 7)
			b[at++] = 0;
	}
	*len = at;
	return 0;
}

static int save_msg(struct sck_dump *d, const struct ipc_line *l)
{
	struct sck_sysv x = { 0 };
	struct kmsqid_ds ds;
	long r = sck_syscall3(__NR_msgctl, l->id, IPC_STAT, (long)&ds);
	int ret;

	if (r < 0)
		return sck_fail((int)-r,
				"cannot read System V message queue %d (key 0x%08x): msgctl IPC_STAT: %s",
				l->id, (unsigned)l->key, selfckpt__errname((int)-r));
	if (ds.cbytes + ds.qnum * (sizeof(struct sck_sysv_msg) + 7) > SCK_MAX_SYSV_DATA)
		return sck_fail(EOPNOTSUPP,
				"System V message queue %d (key 0x%08x) holds %lu bytes in %lu messages: queues above %llu bytes are not supported",
				l->id, (unsigned)l->key, (unsigned long)ds.cbytes,
				(unsigned long)ds.qnum, (unsigned long long)SCK_MAX_SYSV_DATA);
	fill_common(&x, SCK_SYSV_MSG, l);
	x.size = ds.qbytes;
	x.count = (uint32_t)ds.qnum;
	if ((ret = copy_msgs(d, l, ds.qnum, &x.data_len)))
		return ret;
	return add_record(d, &x, d->sysv_scratch);
}

/* A set or queue the program opened but did not create: refused. */
static int not_ours(uint32_t kind, const struct ipc_line *l, uint32_t n)
{
	static const char *const what[] = { "", "shared memory segment",
					    "semaphore set", "message queue" };

	if (!(n & SCK_SYSV_NOTE_OPENED) && !(kind == SCK_SYSV_SHM))
		return 0;
	return sck_fail(EOPNOTSUPP,
			"System V %s %d (key 0x%08x) is used by the process but was created by another: objects shared with other processes are not supported",
			what[kind], l->id, (unsigned)l->key);
}

/*
 * The line of the process's object with the smallest id above after, in
 * *l; 0 if none. /proc/sysvipc lists by slot, and an id is the slot plus
 * a sequence number times 32768: not in id order, which records are.
 */
static int next_ours(uint32_t kind, const char *text, const char *end, int32_t pid,
		     int64_t after, struct ipc_line *l)
{
	int found = 0;

	for (const char *p = next_line(text, end); p; p = next_line(p, end)) {
		struct ipc_line x = { 0 };

		parse_line(kind, p, &x);
		if (x.id > after && is_ours(kind, &x, pid) && (!found || x.id < l->id)) {
			*l = x;
			found = 1;
		}
	}
	return found;
}

/* Objects the process uses but did not create: refused. */
static int check_used(struct sck_dump *d, uint32_t kind, const char *end, int32_t pid)
{
	for (const char *p = next_line(d->sysv_text, end); p; p = next_line(p, end)) {
		struct ipc_line l = { 0 };
		int used = 0, ret;
		uint32_t nt;

		parse_line(kind, p, &l);
		if (is_ours(kind, &l, pid))
			continue;
		nt = noted(kind, l.id);
		if (kind == SCK_SYSV_SHM)
			attachments(d, l.id, &used);
		if ((used || (nt & SCK_SYSV_NOTE_OPENED)) &&
		    (ret = not_ours(kind, &l, nt | SCK_SYSV_NOTE_OPENED)))
			return ret;
	}
	return 0;
}

static int collect_kind(struct sck_dump *d, uint32_t kind, int32_t pid)
{
	long n = selfckpt__read_file(-100, files[kind], d->sysv_text, d->sysv_text_cap);
	struct ipc_line l = { 0 };
	const char *end;
	int64_t after = -1;
	int ret;

	if (n == -ENOENT)
		return 0;	/* no CONFIG_SYSVIPC: nothing to save */
	if (n == -E2BIG)
		return sck_fail(EAGAIN, "%s grew during the checkpoint", files[kind]);
	if (n < 0)
		return sck_fail((int)-n, "cannot read %s: %s", files[kind],
				selfckpt__errname((int)-n));
	end = d->sysv_text + n;
	if ((ret = check_used(d, kind, end, pid)))
		return ret;
	while (next_ours(kind, d->sysv_text, end, pid, after, &l)) {
		ret = kind == SCK_SYSV_SHM ? save_shm(d, &l) :
		      kind == SCK_SYSV_SEM ? save_sem(d, &l) : save_msg(d, &l);
		if (ret)
			return ret;
		after = l.id;
	}
	return 0;
}

/* Every attachment here must start at its segment's first page. */
static int check_attachments(const struct sck_dump *d)
{
	for (uint32_t i = 0; i < d->nvmas; i++) {
		const struct sck_vma *v = &d->vmas[i].v, *b = i ? &d->vmas[i - 1].v : NULL;

		if (v->kind != SCK_VMA_SYSV_SHM || v->pgoff == 0)
			continue;
		if (!b || b->kind != SCK_VMA_SYSV_SHM || b->sysv_id != v->sysv_id ||
		    b->end != v->start || b->pgoff + (v->start - b->start) != v->pgoff)
			return sck_fail(EOPNOTSUPP,
					"mapping %lx-%lx is part of an attachment of System V shared memory segment %d whose start was unmapped: not supported",
					(unsigned long)v->start, (unsigned long)v->end, v->sysv_id);
	}
	return 0;
}

int selfckpt__sysv_collect(struct sck_dump *d)
{
	int32_t pid = (int32_t)sys_getpid();
	int ret = check_attachments(d);

	if (ret)
		return ret;
	if (reg_full())
		return sck_fail(EOPNOTSUPP,
				"the process got more System V IPC ids than this library can track (%d)",
				REG_MAX);
	for (uint32_t k = SCK_SYSV_SHM; k <= SCK_SYSV_MSG; k++)
		if ((ret = collect_kind(d, k, pid)))
			return ret;
	return 0;
}

/*
 * How much the checkpoint's arena needs (checkpoint.c, before the arena
 * exists): text, a buffer for the longest /proc/sysvipc file with room
 * for objects other processes create meanwhile; data, the SYSV records;
 * scratch, the largest set's values or queue's messages.
 */
int selfckpt__sysv_plan(struct sck_sysv_plan *p)
{
	int32_t pid = (int32_t)sys_getpid();
	uint64_t cap = 0;
	char *text;

	p->text = p->data = p->scratch = 0;
	for (uint32_t k = SCK_SYSV_SHM; k <= SCK_SYSV_MSG; k++) {
		long len = file_len(files[k]);

		if (len < 0)
			return (int)len;
		if ((uint64_t)len * 2 + 65536 > cap)
			cap = (uint64_t)len * 2 + 65536;
	}
	text = sys_mmap(NULL, cap, 3, 0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */, -1, 0);
	if ((long)text < 0 && (long)text > -4096)
		return (int)(long)text;
	for (uint32_t k = SCK_SYSV_SHM; k <= SCK_SYSV_MSG; k++) {
		long n = selfckpt__read_file(-100, files[k], text, cap);
		const char *q, *end;

		if (n < 0)
			continue;	/* missing, or grown: collect says so */
		end = text + n;
		for (q = next_line(text, end); q; q = next_line(q, end)) {
			struct ipc_line l = { 0 };

			parse_line(k, q, &l);
			if (is_ours(k, &l, pid))
				need(k, &l, &p->data, &p->scratch);
		}
	}
	sys_munmap(text, cap);
	p->text = cap;
	p->scratch += 64;
	return 0;
}

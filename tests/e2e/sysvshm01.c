/*
 * sysvshm01 - System V shared memory after a restart (issue 5):
 *
 *   - an IPC_PRIVATE segment of 3 pages and 100 bytes, attached read-write;
 *   - a keyed segment (mode 0640) attached twice: read-write, and
 *     SHM_RDONLY at another address (a write there must still fault);
 *   - a keyed segment created, filled and detached;
 *   - a segment removed (IPC_RMID) while attached: still attached after
 *     the restart, still removed (SHM_DEST, key IPC_PRIVATE);
 *   - an attachment split in three by mprotect (the middle page read-only);
 *
 * After the restart each has its id and key (the program keeps both in
 * its variables: shmget(key) must find the same id), its contents, size,
 * mode and owner (IPC_STAT), its creator is this process and nattch is
 * the attachments here; a write through one attachment shows through the
 * other; a second checkpoint and restart keep it all again.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>

#include "sysv.h"

#define PAGE 4096
#define SIZE_A (3 * PAGE + 100)

static int id_a, id_b, id_c, id_d, id_e;
static key_t key_b, key_c;
static uint8_t *pa, *pb, *pb_ro, *pd, *pe;
static sigjmp_buf jb;

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 13u + seed);
}

static void same(const uint8_t *p, size_t n, unsigned seed, const char *what)
{
	for (size_t i = 0; i < n; i++)
		CHECK(p[i] == (uint8_t)(i * 13u + seed), "%s: byte %zu is %u", what, i, p[i]);
}

static int make(key_t key, size_t size, int mode)
{
	int id = shmget(key, size, IPC_CREAT | IPC_EXCL | mode);

	CHECK(id >= 0, "shmget %#x: %s", (unsigned)key, strerror(errno));
	sysv_forget('m', id);
	return id;
}

static uint8_t *attach(int id, int flg)
{
	uint8_t *p = shmat(id, NULL, flg);

	CHECK(p != (void *)-1, "shmat %d: %s", id, strerror(errno));
	return p;
}

static void stat_is(int id, key_t key, size_t size, unsigned mode, unsigned long nattch,
		    const char *what)
{
	struct shmid_ds ds;

	CHECK(shmctl(id, IPC_STAT, &ds) == 0, "%s: IPC_STAT of %d: %s", what, id, strerror(errno));
	CHECK(ds.shm_perm.__key == key, "%s: key %#x, expected %#x", what,
	      (unsigned)ds.shm_perm.__key, (unsigned)key);
	CHECK(ds.shm_segsz == size, "%s: size %zu", what, (size_t)ds.shm_segsz);
	CHECK((ds.shm_perm.mode & 0777) == mode, "%s: mode %o", what, ds.shm_perm.mode & 0777);
	CHECK(ds.shm_perm.uid == getuid() && ds.shm_perm.gid == getgid(), "%s: owner %u:%u", what,
	      ds.shm_perm.uid, ds.shm_perm.gid);
	CHECK(ds.shm_nattch == nattch, "%s: nattch %lu, expected %lu", what,
	      (unsigned long)ds.shm_nattch, nattch);
	CHECK(ds.shm_cpid == getpid(), "%s: creator %d", what, (int)ds.shm_cpid);
}

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(jb, 1);
}

static void check_all(const char *gen)
{
	char what[64];
	struct shmid_ds ds;

	snprintf(what, sizeof(what), "%s a", gen);
	same(pa, SIZE_A, 1, what);
	stat_is(id_a, IPC_PRIVATE, SIZE_A, 0600, 1, what);
	snprintf(what, sizeof(what), "%s b", gen);
	same(pb, 2 * PAGE, 2, what);
	same(pb_ro, 2 * PAGE, 2, what);
	stat_is(id_b, key_b, 2 * PAGE, 0640, 2, what);
	CHECK(shmget(key_b, 0, 0) == id_b, "%s: the key finds another id", what);
	pb[7] = 0xab;
	CHECK(pb_ro[7] == 0xab, "%s: the two attachments are not one segment", what);
	pb[7] = (uint8_t)(7 * 13u + 2);
	signal(SIGSEGV, on_segv);
	if (sigsetjmp(jb, 1) == 0) {
		*(volatile uint8_t *)pb_ro = 1;
		fail("%s: the SHM_RDONLY attachment is writable", what);
	}
	signal(SIGSEGV, SIG_DFL);
	snprintf(what, sizeof(what), "%s c", gen);
	stat_is(id_c, key_c, PAGE, 0600, 0, what);
	CHECK(shmget(key_c, 0, 0) == id_c, "%s: the key finds another id", what);
	uint8_t *pc = attach(id_c, SHM_RDONLY);

	same(pc, PAGE, 3, what);
	CHECK(shmdt(pc) == 0, "shmdt c");
	snprintf(what, sizeof(what), "%s d", gen);
	same(pd, PAGE, 4, what);
	CHECK(shmctl(id_d, IPC_STAT, &ds) == 0 && (ds.shm_perm.mode & SHM_DEST) &&
		      ds.shm_perm.__key == IPC_PRIVATE && ds.shm_nattch == 1,
	      "%s: not removed-while-attached (mode %o key %#x)", what, ds.shm_perm.mode,
	      (unsigned)ds.shm_perm.__key);
	snprintf(what, sizeof(what), "%s e", gen);
	same(pe, 3 * PAGE, 5, what);
	/* nattch counts mappings: one a piece. */
	stat_is(id_e, IPC_PRIVATE, 3 * PAGE, 0600, 3, what);
	pe[0] = pe[2 * PAGE] = 9;	/* the outer pieces are writable */
	pe[0] = 5;
	pe[2 * PAGE] = (uint8_t)(2 * PAGE * 13u + 5);
	signal(SIGSEGV, on_segv);
	if (sigsetjmp(jb, 1) == 0) {
		*(volatile uint8_t *)(pe + PAGE) = 1;
		fail("%s: the middle page became writable", what);
	}
	signal(SIGSEGV, SIG_DFL);
}

int main(void)
{
	sysv_reaper();
	key_b = (key_t)(0x5b000000 | (getpid() & 0xffffff));
	key_c = (key_t)(0x5c000000 | (getpid() & 0xffffff));
	id_a = make(IPC_PRIVATE, SIZE_A, 0600);
	id_b = make(key_b, 2 * PAGE, 0640);
	id_c = make(key_c, PAGE, 0600);
	id_d = make(IPC_PRIVATE, PAGE, 0600);
	id_e = make(IPC_PRIVATE, 3 * PAGE, 0600);
	pa = attach(id_a, 0);
	fill(pa, SIZE_A, 1);
	pb = attach(id_b, 0);
	pb_ro = attach(id_b, SHM_RDONLY);
	fill(pb, 2 * PAGE, 2);
	uint8_t *pc = attach(id_c, 0);

	fill(pc, PAGE, 3);
	CHECK(shmdt(pc) == 0, "shmdt c");
	pd = attach(id_d, 0);
	fill(pd, PAGE, 4);
	CHECK(shmctl(id_d, IPC_RMID, NULL) == 0, "IPC_RMID d");
	pe = attach(id_e, 0);
	fill(pe, 3 * PAGE, 5);
	CHECK(mprotect(pe + PAGE, PAGE, PROT_READ) == 0, "mprotect e");
	check_all("before");

	long id = test_checkpoint();

	CHECK(id == 1, "id %ld", id);
	check_all("generation 1");
	id = test_checkpoint();
	CHECK(id == 2, "id %ld", id);
	check_all("generation 2");
	pass();
}

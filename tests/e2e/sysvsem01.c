/*
 * sysvsem01 - System V semaphore sets after a restart (issue 5):
 *
 *   - an IPC_PRIVATE set of 5 semaphores with distinct values (one at
 *     32767, the largest), mode 0600;
 *   - a keyed set of 1 semaphore (mode 0640) made with IPC_CREAT alone (the
 *     library learns that the call created it by trying IPC_EXCL first);
 *
 * After the restart each set has its id and key (semget(key) finds the
 * same id), its values (GETALL, GETVAL), mode, owner and size (IPC_STAT);
 * semop works on it (a decrement that would block returns EAGAIN with
 * IPC_NOWAIT, one that can goes through); a second restart keeps the
 * values changed after the first.
 */
#include "sysv.h"

union semun_ {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

static int id_a, id_b;
static key_t key_b;
static unsigned short want_a[5] = { 0, 1, 7, 300, 32767 };

static void stat_is(int id, key_t key, unsigned long nsems, unsigned mode, const char *what)
{
	struct semid_ds ds;
	union semun_ u = { .buf = &ds };

	CHECK(semctl(id, 0, IPC_STAT, u) == 0, "%s: IPC_STAT: %s", what, strerror(errno));
	CHECK(ds.sem_perm.__key == key, "%s: key %#x, expected %#x", what,
	      (unsigned)ds.sem_perm.__key, (unsigned)key);
	CHECK(ds.sem_nsems == nsems, "%s: %lu semaphores", what, (unsigned long)ds.sem_nsems);
	CHECK((ds.sem_perm.mode & 0777) == mode, "%s: mode %o", what, ds.sem_perm.mode & 0777);
	CHECK(ds.sem_perm.uid == getuid() && ds.sem_perm.gid == getgid(), "%s: owner %u:%u",
	      what, ds.sem_perm.uid, ds.sem_perm.gid);
}

static void check_all(const char *gen, int b_value)
{
	unsigned short got[5];
	union semun_ u = { .array = got };
	char what[64];

	snprintf(what, sizeof(what), "%s a", gen);
	stat_is(id_a, IPC_PRIVATE, 5, 0600, what);
	CHECK(semctl(id_a, 0, GETALL, u) == 0, "%s: GETALL: %s", what, strerror(errno));
	for (int i = 0; i < 5; i++)
		CHECK(got[i] == want_a[i], "%s: semaphore %d is %u, expected %u", what, i, got[i],
		      want_a[i]);
	snprintf(what, sizeof(what), "%s b", gen);
	stat_is(id_b, key_b, 1, 0640, what);
	CHECK(semget(key_b, 0, 0) == id_b, "%s: the key finds another id", what);
	CHECK(semctl(id_b, 0, GETVAL) == b_value, "%s: value %d, expected %d", what,
	      semctl(id_b, 0, GETVAL), b_value);
}

int main(void)
{
	union semun_ u = { .array = want_a };
	struct sembuf op = { 0, -1, IPC_NOWAIT };

	sysv_reaper();
	key_b = (key_t)(0x5e000000 | (getpid() & 0xffffff));
	id_a = semget(IPC_PRIVATE, 5, IPC_CREAT | 0600);
	CHECK(id_a >= 0, "semget a: %s", strerror(errno));
	sysv_forget('s', id_a);
	id_b = semget(key_b, 1, IPC_CREAT | 0640);
	CHECK(id_b >= 0, "semget b: %s", strerror(errno));
	sysv_forget('s', id_b);
	CHECK(semctl(id_a, 0, SETALL, u) == 0, "SETALL: %s", strerror(errno));
	CHECK(semctl(id_b, 0, SETVAL, 2) == 0, "SETVAL: %s", strerror(errno));
	check_all("before", 2);

	long id = test_checkpoint();

	CHECK(id == 1, "id %ld", id);
	check_all("generation 1", 2);
	/* semop works: two decrements go through, the third would block. */
	CHECK(semop(id_b, &op, 1) == 0 && semop(id_b, &op, 1) == 0, "semop: %s", strerror(errno));
	CHECK(semop(id_b, &op, 1) < 0 && errno == EAGAIN, "semop at 0 did not block");
	op.sem_num = 4;
	CHECK(semop(id_a, &op, 1) == 0, "semop a: %s", strerror(errno));
	want_a[4]--;
	id = test_checkpoint();
	CHECK(id == 2, "id %ld", id);
	check_all("generation 2", 0);
	pass();
}

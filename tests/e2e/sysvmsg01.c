/*
 * sysvmsg01 - System V message queues after a restart (issue 5):
 *
 *   - a keyed queue (mode 0620) holding 7 messages of 3 types and sizes
 *     from 0 to 3000 bytes, made with IPC_CREAT alone;
 *   - an IPC_PRIVATE queue, empty, whose msg_qbytes was lowered to 2048;
 *
 * After the restart each has its id and key (msgget(key) finds the same
 * id), its mode, owner, message count, bytes and qbytes (IPC_STAT);
 * msgrcv by type takes the messages of that type in the order they were
 * sent, with their bytes; the rest follow in order; a message sent after
 * the first restart is there after the second.
 *
 * Before them, 1100 queues made and removed: the library notes every id
 * the program gets in a registry of 1024, which must make room by
 * forgetting the removed ones, not refuse the checkpoint.
 */
#include <stdint.h>

#include "sysv.h"

#define NMSG 7

static int id_a, id_b;
static key_t key_a;
static const long types[NMSG] = { 1, 2, 1, 3, 2, 1, 3 };
static const size_t sizes[NMSG] = { 10, 0, 3000, 1, 200, 77, 512 };

struct big {
	long mtype;
	char mtext[4096];
};

static void body(char *p, size_t n, int k)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (char)(i * 3 + (size_t)k * 17);
}

static void stat_is(int id, key_t key, unsigned mode, unsigned long qnum, unsigned long cbytes,
		    unsigned long qbytes, const char *what)
{
	struct msqid_ds ds;

	CHECK(msgctl(id, IPC_STAT, &ds) == 0, "%s: IPC_STAT: %s", what, strerror(errno));
	CHECK(ds.msg_perm.__key == key, "%s: key %#x", what, (unsigned)ds.msg_perm.__key);
	CHECK((ds.msg_perm.mode & 0777) == mode, "%s: mode %o", what, ds.msg_perm.mode & 0777);
	CHECK(ds.msg_perm.uid == getuid() && ds.msg_perm.gid == getgid(), "%s: owner", what);
	CHECK(ds.msg_qnum == qnum && ds.__msg_cbytes == cbytes, "%s: %lu messages, %lu bytes",
	      what, (unsigned long)ds.msg_qnum, (unsigned long)ds.__msg_cbytes);
	CHECK(!qbytes || ds.msg_qbytes == qbytes, "%s: qbytes %lu", what,
	      (unsigned long)ds.msg_qbytes);
}

static void take(int id, long type, int k, const char *what)
{
	static struct big m;
	char want[4096];
	ssize_t n = msgrcv(id, &m, sizeof(m.mtext), type, IPC_NOWAIT);

	CHECK(n >= 0, "%s: msgrcv type %ld: %s", what, type, strerror(errno));
	body(want, sizes[k], k);
	CHECK(m.mtype == types[k] && (size_t)n == sizes[k] && !memcmp(m.mtext, want, sizes[k]),
	      "%s: expected message %d (type %ld, %zu bytes), got type %ld, %zd bytes", what, k,
	      types[k], sizes[k], m.mtype, n);
}

int main(void)
{
	static struct big m;
	struct msqid_ds ds;
	unsigned long total = 0, qbytes;

	sysv_reaper();
	for (int i = 0; i < 1100; i++) {
		int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);

		CHECK(q >= 0 && msgctl(q, IPC_RMID, NULL) == 0, "queue %d: %s", i, strerror(errno));
	}
	key_a = (key_t)(0x5f000000 | (getpid() & 0xffffff));
	id_a = msgget(key_a, IPC_CREAT | 0620);
	CHECK(id_a >= 0, "msgget a: %s", strerror(errno));
	sysv_forget('q', id_a);
	id_b = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	CHECK(id_b >= 0, "msgget b: %s", strerror(errno));
	sysv_forget('q', id_b);
	CHECK(msgctl(id_b, IPC_STAT, &ds) == 0, "IPC_STAT b");
	ds.msg_qbytes = 2048;
	CHECK(msgctl(id_b, IPC_SET, &ds) == 0, "IPC_SET b: %s", strerror(errno));
	for (int k = 0; k < NMSG; k++) {
		m.mtype = types[k];
		body(m.mtext, sizes[k], k);
		CHECK(msgsnd(id_a, &m, sizes[k], IPC_NOWAIT) == 0, "msgsnd %d: %s", k, strerror(errno));
		total += sizes[k];
	}
	CHECK(msgctl(id_a, IPC_STAT, &ds) == 0, "IPC_STAT a");
	qbytes = ds.msg_qbytes;
	stat_is(id_a, key_a, 0620, NMSG, total, qbytes, "before a");

	long id = test_checkpoint();

	CHECK(id == 1, "id %ld", id);
	stat_is(id_a, key_a, 0620, NMSG, total, qbytes, "generation 1 a");
	stat_is(id_b, IPC_PRIVATE, 0600, 0, 0, 2048, "generation 1 b");
	CHECK(msgget(key_a, 0) == id_a, "the key finds another id");
	/* Type 2 first: messages 1 and 4, in order; then the first of the rest. */
	take(id_a, 2, 1, "generation 1");
	take(id_a, 2, 4, "generation 1");
	take(id_a, 0, 0, "generation 1");
	m.mtype = 9;
	memcpy(m.mtext, "after", 5);
	CHECK(msgsnd(id_b, &m, 5, IPC_NOWAIT) == 0, "msgsnd b: %s", strerror(errno));

	id = test_checkpoint();
	CHECK(id == 2, "id %ld", id);
	stat_is(id_a, key_a, 0620, NMSG - 3, total - sizes[0] - sizes[1] - sizes[4], qbytes,
		"generation 2 a");
	take(id_a, 3, 3, "generation 2");
	take(id_a, 0, 2, "generation 2");
	take(id_a, 0, 5, "generation 2");
	take(id_a, 0, 6, "generation 2");
	CHECK(msgrcv(id_a, &m, sizeof(m.mtext), 0, IPC_NOWAIT) < 0 && errno == ENOMSG,
	      "a message too many");
	CHECK(msgrcv(id_b, &m, sizeof(m.mtext), 0, IPC_NOWAIT) == 5 && m.mtype == 9 &&
		      !memcmp(m.mtext, "after", 5),
	      "b: the message sent after the first restart");
	pass();
}

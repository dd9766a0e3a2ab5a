/*
 * restore-sysv.c - `selfckpt restart`, launcher side, for System V IPC
 * objects (SYSV records): each segment, semaphore set and message queue
 * is made again with its id and key, its contents, mode and owner.
 *
 * Ids cannot be asked for with shmget/semget/msgget; the IPC namespace's
 * kernel.shm_next_id, sem_next_id and msg_next_id sysctls (ipc/ipc_sysctl.c)
 * give the next object of their kind that id, and are writable with
 * CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN in the user namespace that owns
 * the IPC namespace (checkpoint_restore_ns_capable). So the program gets
 * a private IPC namespace, made with its user and PID namespaces
 * (restore-ns.c): an unprivileged user has those capabilities there, the
 * ids are free (what the killed process left in this machine's namespace
 * does not collide), and the objects are made in the process that
 * becomes the program, before the restorer (selfckpt__rs_make_sysv from
 * go()). A restart without the namespaces (--no-namespaces, or when they
 * cannot be had) cannot keep the ids and fails before the program runs:
 * the program holds them in its variables.
 *
 * The attachments are mapped by the restorer with shmat() at their
 * addresses (rst/rst-main.c), after it has unmapped the launcher; a
 * segment removed while attached (IPC_RMID) is removed again there, once
 * attached.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

#include "restore.h"

static const char *const next_id[] = { "", "/proc/sys/kernel/shm_next_id",
				       "/proc/sys/kernel/sem_next_id",
				       "/proc/sys/kernel/msg_next_id" };
static const char *const what[] = { "", "shared memory segment", "semaphore set",
				    "message queue" };

/* Refuse a restart that cannot keep the ids: before anything is made. */
int selfckpt__rs_sysv_ids(struct rs *s, const char *why)
{
	if (!s->img.nsysv)
		return 0;
	selfckpt__rs_msg(s, "the image has %u System V IPC objects (first: %s %d), whose ids the program holds and which can be made again with their ids only in a private IPC namespace (%s): not restarted",
			 s->img.nsysv, what[s->img.sysv[0].s.kind], s->img.sysv[0].s.id, why);
	return SCK_EX_UNAVAILABLE;
}

static int set_next_id(struct rs *s, const struct sck_sysv *x)
{
	char text[16];
	int fd = open(next_id[x->kind], O_WRONLY | O_CLOEXEC);
	int n = snprintf(text, sizeof(text), "%d", x->id);

	if (fd < 0 || write(fd, text, (size_t)n) != n) {
		int err = errno;

		if (fd >= 0)
			close(fd);
		selfckpt__rs_msg(s, "cannot ask for id %d for System V %s (key 0x%08x): %s: %s",
				 x->id, what[x->kind], (unsigned)x->key, next_id[x->kind],
				 strerror(err));
		return -1;
	}
	close(fd);
	return 0;
}

static int fill_shm(struct rs *s, const struct sck_img_sysv *v)
{
	void *p = shmat(v->s.id, NULL, 0);

	if (p == (void *)-1) {
		selfckpt__rs_msg(s, "cannot attach System V shared memory segment %d to fill it: %s",
				 v->s.id, strerror(errno));
		return -1;
	}
	memcpy(p, v->data, v->s.data_len);
	shmdt(p);
	return 0;
}

static int fill_sem(struct rs *s, const struct sck_img_sysv *v)
{
	if (semctl(v->s.id, 0, SETALL, (unsigned short *)v->data) == 0)
		return 0;
	selfckpt__rs_msg(s, "cannot set the values of System V semaphore set %d: %s",
			 v->s.id, strerror(errno));
	return -1;
}

/* qbytes first (the messages must fit), then each message in order. */
static int fill_msg(struct rs *s, const struct sck_img_sysv *v)
{
	struct msqid_ds ds;
	uint64_t at = 0;
	struct msgbuf *b;

	if (msgctl(v->s.id, IPC_STAT, &ds) < 0)
		goto fail_qbytes;
	if (ds.msg_qbytes != v->s.size) {
		ds.msg_qbytes = v->s.size;
		if (msgctl(v->s.id, IPC_SET, &ds) < 0)
			goto fail_qbytes;
	}
	b = malloc(sizeof(long) + v->s.data_len + 1);
	if (!b)
		return -1;
	for (uint32_t i = 0; i < v->s.count; i++) {
		struct sck_sysv_msg m;

		memcpy(&m, v->data + at, sizeof(m));
		at += sizeof(m);
		b->mtype = m.type;
		memcpy(b->mtext, v->data + at, m.len);
		at += m.len + sck_pad8(m.len);
		if (msgsnd(v->s.id, b, m.len, IPC_NOWAIT) < 0) {
			selfckpt__rs_msg(s, "cannot put message %u (%llu bytes) back into System V message queue %d: %s",
					 i, (unsigned long long)m.len, v->s.id, strerror(errno));
			free(b);
			return -1;
		}
	}
	free(b);
	return 0;
fail_qbytes:
	selfckpt__rs_msg(s, "cannot set the size of System V message queue %d to %llu bytes: %s",
			 v->s.id, (unsigned long long)v->s.size, strerror(errno));
	return -1;
}

/* Mode and owner last: the object is made 0600, to be filled. */
static int set_perm(struct rs *s, const struct sck_sysv *x)
{
	struct ipc_perm *p;
	union {
		struct shmid_ds shm;
		struct semid_ds sem;
		struct msqid_ds msg;
	} ds;
	int r;

	r = x->kind == SCK_SYSV_SHM ? shmctl(x->id, IPC_STAT, &ds.shm) :
	    x->kind == SCK_SYSV_SEM ? semctl(x->id, 0, IPC_STAT, &ds.sem) :
				      msgctl(x->id, IPC_STAT, &ds.msg);
	p = x->kind == SCK_SYSV_SHM ? &ds.shm.shm_perm :
	    x->kind == SCK_SYSV_SEM ? &ds.sem.sem_perm : &ds.msg.msg_perm;
	if (r == 0) {
		p->mode = x->mode;
		p->uid = x->uid;
		p->gid = x->gid;
		r = x->kind == SCK_SYSV_SHM ? shmctl(x->id, IPC_SET, &ds.shm) :
		    x->kind == SCK_SYSV_SEM ? semctl(x->id, 0, IPC_SET, &ds.sem) :
					      msgctl(x->id, IPC_SET, &ds.msg);
	}
	if (r == 0)
		return 0;
	selfckpt__rs_msg(s, "cannot give System V %s %d its mode %o and owner %u:%u: %s",
			 what[x->kind], x->id, x->mode, x->uid, x->gid, strerror(errno));
	return -1;
}

static int make_one(struct rs *s, const struct sck_img_sysv *v)
{
	const struct sck_sysv *x = &v->s;
	key_t key = (x->flags & SCK_SYSVF_REMOVED) ? IPC_PRIVATE : x->key;
	int fl = IPC_CREAT | IPC_EXCL | 0600, id;

	if (set_next_id(s, x))
		return -1;
	id = x->kind == SCK_SYSV_SHM ? shmget(key, x->size, fl) :
	     x->kind == SCK_SYSV_SEM ? semget(key, (int)x->size, fl) : msgget(key, fl);
	if (id < 0) {
		selfckpt__rs_msg(s, "cannot make System V %s %d (key 0x%08x) again: %s",
				 what[x->kind], x->id, (unsigned)x->key, strerror(errno));
		return -1;
	}
	if (id != x->id) {
		selfckpt__rs_msg(s, "System V %s %d (key 0x%08x) came back with id %d: the kernel did not take the id asked for",
				 what[x->kind], x->id, (unsigned)x->key, id);
		return -1;
	}
	if ((x->kind == SCK_SYSV_SHM && fill_shm(s, v)) ||
	    (x->kind == SCK_SYSV_SEM && fill_sem(s, v)) ||
	    (x->kind == SCK_SYSV_MSG && fill_msg(s, v)))
		return -1;
	return set_perm(s, x);
}

/*
 * In the process that becomes the program, in its private IPC namespace,
 * before the restorer: 0, or a message and -1.
 */
int selfckpt__rs_make_sysv(struct rs *s)
{
	for (uint32_t i = 0; i < s->img.nsysv; i++)
		if (make_one(s, &s->img.sysv[i]))
			return -1;
	return 0;
}

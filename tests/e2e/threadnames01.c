/*
 * threadnames01 - thread names survive a restart (issue 3). Linux keeps a
 * name (comm) per thread; pthread_setname_np and prctl(PR_SET_NAME) set
 * it, tools (ps -L, top -H, gdb, /proc/PID/task/TID/comm) show it.
 *
 * The main thread and four others name themselves; the checkpoint is
 * taken by a fifth thread, with a name of its own. After the restart each
 * thread's name (pthread_getname_np, and /proc/self/task/TID/comm) is
 * what it was, and the process's name (/proc/self/comm, the main
 * thread's) is the main thread's, not the checkpointing thread's.
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "zdtm.h"

#define NW 4

static pthread_t th[NW + 1];
static volatile pid_t tids[NW + 1];
static sem_t hold;
static volatile int named;

static void comm_of(pid_t tid, char *buf, size_t len)
{
	char path[64];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/comm", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0, "open %s", path);
	n = read(fd, buf, len - 1);
	close(fd);
	CHECK(n > 0, "read %s", path);
	buf[n] = '\0';
	if (buf[n - 1] == '\n')
		buf[n - 1] = '\0';
}

static void *worker(void *arg)
{
	int i = (int)(intptr_t)arg;
	char name[16];

	snprintf(name, sizeof(name), "tn-worker-%d", i);
	prctl(PR_SET_NAME, name, 0, 0, 0);
	tids[i] = (pid_t)syscall(SYS_gettid);
	__atomic_add_fetch(&named, 1, __ATOMIC_SEQ_CST);
	while (sem_wait(&hold) < 0)
		;
	return NULL;
}

static void *ckpt(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "tn-checkpoint");
	tids[NW] = (pid_t)syscall(SYS_gettid);
	test_checkpoint();
	return NULL;
}

int main(void)
{
	char name[16], want[16];

	CHECK(pthread_setname_np(pthread_self(), "tn-main") == 0, "pthread_setname_np");
	sem_init(&hold, 0, 0);
	for (int i = 0; i < NW; i++)
		CHECK(pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i) == 0,
		      "pthread_create");
	while (named < NW)
		usleep(1000);
	CHECK(pthread_create(&th[NW], NULL, ckpt, NULL) == 0, "pthread_create");
	CHECK(pthread_join(th[NW], NULL) == 0, "join the checkpointing thread");

	int bad = 0;

	comm_of(getpid(), name, sizeof(name));
	if (strcmp(name, "tn-main")) {
		test_log("the main thread (the process) is named '%s', was 'tn-main'", name);
		bad++;
	}
	for (int i = 0; i < NW; i++) {
		snprintf(want, sizeof(want), "tn-worker-%d", i);
		CHECK(pthread_getname_np(th[i], name, sizeof(name)) == 0, "pthread_getname_np");
		if (strcmp(name, want)) {
			test_log("thread %d is named '%s', was '%s'", (int)tids[i], name, want);
			bad++;
		}
		comm_of(tids[i], name, sizeof(name));
		CHECK(!strcmp(name, want) || bad, "comm and pthread_getname_np disagree");
	}
	CHECK(!bad, "%d thread names changed across the restart", bad);
	for (int i = 0; i < NW; i++)
		sem_post(&hold);
	for (int i = 0; i < NW; i++)
		CHECK(pthread_join(th[i], NULL) == 0, "join");
	pass();
}

/*
 * proc02 - per-process kernel state that the image neither records nor
 * refuses: each item below is set before the checkpoint and must read the
 * same after the restart (or the checkpoint must refuse, naming it):
 *
 *   - the nice value (setpriority), the scheduling policy (SCHED_BATCH),
 *     the CPU affinity mask, the I/O priority (ioprio_set);
 *   - /proc/self/oom_score_adj;
 *   - prctl PR_SET_MDWE (memory-deny-write-execute, a hardening setting
 *     that must not silently disappear), PR_SET_KEEPCAPS, PR_MCE_KILL.
 *
 * Every one of them can be set by an unprivileged process to the value
 * used here, so a restart can set it back.
 */
#include <linux/ioprio.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "zdtm.h"

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#define PR_GET_MDWE 66
#endif
#define MDWE_REFUSE_EXEC_GAIN 1

struct attrs {
	int nice, policy, cpus, oom, mdwe, keepcaps, mce;
	long ioprio;
	cpu_set_t affinity;
};

static int oom_score_adj(void)
{
	char buf[32] = "";
	int fd = open("/proc/self/oom_score_adj", O_RDONLY);

	CHECK(fd >= 0 && read(fd, buf, sizeof(buf) - 1) > 0, "oom_score_adj: %s",
	      strerror(errno));
	close(fd);
	return atoi(buf);
}

static void get_attrs(struct attrs *a)
{
	memset(a, 0, sizeof(*a));
	errno = 0;
	a->nice = getpriority(PRIO_PROCESS, 0);
	a->policy = sched_getscheduler(0);
	CHECK(sched_getaffinity(0, sizeof(a->affinity), &a->affinity) == 0, "affinity");
	a->cpus = CPU_COUNT(&a->affinity);
	a->oom = oom_score_adj();
	a->mdwe = prctl(PR_GET_MDWE, 0, 0, 0, 0);
	a->keepcaps = prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0);
	a->mce = prctl(PR_MCE_KILL_GET, 0, 0, 0, 0);
	a->ioprio = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0);
}

int main(void)
{
	struct attrs before, after;
	struct sched_param sp = { 0 };
	cpu_set_t one;
	int oomfd = open("/proc/self/oom_score_adj", O_WRONLY);

	/*
	 * A nice value other than the one inherited, and not below it: an
	 * unprivileged process may only raise its own (the suite may run
	 * under `nice`).
	 */
	errno = 0;
	int inherited = getpriority(PRIO_PROCESS, 0);
	int want = inherited < 7 ? 7 : inherited < 19 ? inherited + 1 : 19;

	CHECK(errno == 0, "getpriority: %s", strerror(errno));
	CHECK(setpriority(PRIO_PROCESS, 0, want) == 0, "setpriority %d: %s", want,
	      strerror(errno));
	CHECK(sched_setscheduler(0, SCHED_BATCH, &sp) == 0, "SCHED_BATCH: %s",
	      strerror(errno));
	CHECK(sched_getaffinity(0, sizeof(one), &one) == 0, "sched_getaffinity");
	for (int c = CPU_SETSIZE - 1; c >= 0; c--)
		if (CPU_ISSET(c, &one)) {	/* keep only the highest CPU */
			CPU_ZERO(&one);
			CPU_SET(c, &one);
			break;
		}
	CHECK(sched_setaffinity(0, sizeof(one), &one) == 0, "affinity: %s", strerror(errno));
	CHECK(oomfd >= 0 && write(oomfd, "345", 3) == 3 && close(oomfd) == 0,
	      "oom_score_adj: %s", strerror(errno));
	CHECK(syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0,
		      IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, 6)) == 0, "ioprio_set: %s",
	      strerror(errno));
	CHECK(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == 0, "PR_SET_KEEPCAPS");
	CHECK(prctl(PR_MCE_KILL, PR_MCE_KILL_SET, PR_MCE_KILL_EARLY, 0, 0) == 0,
	      "PR_MCE_KILL");
	if (prctl(PR_SET_MDWE, MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0)
		test_log("PR_SET_MDWE: %s: not tested", strerror(errno));
	get_attrs(&before);

	long r = selfckpt_checkpoint(test_image(), SELFCKPT_NO_SYNC);

	if (r < 0) {
		/* Refusing, with a message, is the other correct answer. */
		CHECK(errno == ENOTSUP && *selfckpt_last_error(), "checkpoint: %s",
		      strerror(errno));
		test_log("refused: %s", selfckpt_last_error());
		pass();
	}
	if (r > 0) {
		const char *ready = getenv("SCK_READY");
		int fd = ready ? open(ready, O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;

		CHECK(fd >= 0 && write(fd, "1\n", 2) == 2 && close(fd) == 0, "ready");
		for (;;)
			pause();
	}
	get_attrs(&after);
	CHECK(after.mdwe == before.mdwe, "PR_GET_MDWE is %d, was %d", after.mdwe,
	      before.mdwe);
	CHECK(after.nice == before.nice, "nice %d, was %d", after.nice, before.nice);
	CHECK(after.policy == before.policy, "scheduling policy %d, was %d",
	      after.policy, before.policy);
	CHECK(CPU_EQUAL(&after.affinity, &before.affinity), "CPU affinity: %d CPUs, was %d",
	      after.cpus, before.cpus);
	CHECK(after.oom == before.oom, "oom_score_adj %d, was %d", after.oom, before.oom);
	CHECK(after.ioprio == before.ioprio, "ioprio %#lx, was %#lx", after.ioprio,
	      before.ioprio);
	CHECK(after.keepcaps == before.keepcaps, "keepcaps %d, was %d", after.keepcaps,
	      before.keepcaps);
	CHECK(after.mce == before.mce, "MCE kill policy %d, was %d", after.mce, before.mce);
	pass();
}

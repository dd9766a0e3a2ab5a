/*
 * proc01 - per-process state survives a restart, and still works:
 *
 *   - the current directory (a subdirectory entered before the
 *     checkpoint) and the umask (027, checked on a new file's mode);
 *   - every resource limit, among them a lowered RLIMIT_NOFILE soft limit
 *     (still enforced) and RLIMIT_CORE;
 *   - the name (PR_SET_NAME, /proc/self/comm) and the prctl settings the
 *     image records: dumpable, parent-death signal, no_new_privs, THP
 *     disable, child subreaper, timer slack, personality;
 *   - /proc/self/cmdline, /proc/self/environ and /proc/self/auxv hold the
 *     same bytes; a variable set with setenv() is still set;
 *   - getauxval() gives the same AT_PAGESZ, AT_HWCAP, AT_SYSINFO_EHDR and
 *     AT_RANDOM (and the 16 random bytes), and AT_SYSINFO_EHDR is where
 *     /proc/self/maps shows the [vdso];
 *   - the vDSO works: clock_gettime(CLOCK_REALTIME, CLOCK_MONOTONIC),
 *     gettimeofday() and time() fall between two system calls;
 *   - sched_getcpu() gives an allowed CPU, and glibc's rseq area is still
 *     registered with the kernel: the kernel refuses to register it again
 *     (EBUSY) and updates its cpu_id when the thread moves to another CPU;
 *   - the program break (sbrk(0) and brk(0)) is unchanged, and so is the
 *     memory layout /proc/self/stat shows (code, data, brk, stack,
 *     arguments, environment);
 *   - /proc/self/exe is the program again when the restart had the
 *     privilege to set it (CAP_CHECKPOINT_RESTORE; docs/limitations.md).
 */
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/auxv.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/rseq.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

#include "zdtm.h"

#ifndef CAP_CHECKPOINT_RESTORE
#define CAP_CHECKPOINT_RESTORE 40
#endif

struct blob {
	char data[65536];
	ssize_t len;
};

static void slurp(const char *path, struct blob *b)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
	b->len = 0;
	while ((n = read(fd, b->data + b->len, sizeof(b->data) - (size_t)b->len)) > 0)
		b->len += n;
	close(fd);
	CHECK(n == 0, "read %s: %s", path, strerror(errno));
}

static void same_blob(const struct blob *a, const struct blob *b, const char *what)
{
	CHECK(a->len == b->len, "%s: %zd bytes, was %zd", what, b->len, a->len);
	for (ssize_t i = 0; i < a->len; i++)
		CHECK(a->data[i] == b->data[i], "%s: byte %zd differs", what, i);
}

/* The start of the [vdso] line of /proc/self/maps. */
static unsigned long vdso_in_maps(void)
{
	static struct blob maps;
	char *line;

	slurp("/proc/self/maps", &maps);
	maps.data[maps.len < (ssize_t)sizeof(maps.data) ? maps.len : maps.len - 1] = '\0';
	line = strstr(maps.data, "[vdso]");
	CHECK(line, "no [vdso] in /proc/self/maps");
	while (line > maps.data && line[-1] != '\n')
		line--;
	return strtoul(line, NULL, 16);
}

static int64_t ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* The vDSO's clock between two readings of the system call. */
static void check_clock(clockid_t id, const char *name)
{
	struct timespec a, v, b;

	CHECK(syscall(SYS_clock_gettime, id, &a) == 0, "clock_gettime syscall");
	CHECK(clock_gettime(id, &v) == 0, "%s: %s", name, strerror(errno));
	CHECK(syscall(SYS_clock_gettime, id, &b) == 0, "clock_gettime syscall");
	CHECK(ns(&a) <= ns(&v) && ns(&v) <= ns(&b),
	      "%s from the vDSO is %lld.%09ld, not between %lld.%09ld and %lld.%09ld",
	      name, (long long)v.tv_sec, v.tv_nsec, (long long)a.tv_sec, a.tv_nsec,
	      (long long)b.tv_sec, b.tv_nsec);
}

static void check_time(void)
{
	struct timespec a, b;
	struct timeval tv;

	CHECK(syscall(SYS_clock_gettime, CLOCK_REALTIME, &a) == 0, "clock_gettime");
	CHECK(gettimeofday(&tv, NULL) == 0, "gettimeofday");
	time_t t = time(NULL);

	CHECK(syscall(SYS_clock_gettime, CLOCK_REALTIME, &b) == 0, "clock_gettime");
	int64_t us = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;

	CHECK(us >= ns(&a) / 1000 && us <= ns(&b) / 1000,
	      "gettimeofday %lld us, not between %lld and %lld", (long long)us,
	      (long long)(ns(&a) / 1000), (long long)(ns(&b) / 1000));
	CHECK(t >= a.tv_sec && t <= b.tv_sec, "time() is %lld, not between %lld and %lld",
	      (long long)t, (long long)a.tv_sec, (long long)b.tv_sec);
}

static volatile struct rseq *rseq_area(void)
{
	return (volatile struct rseq *)((char *)__builtin_thread_pointer() +
					__rseq_offset);
}

static void check_rseq(void)
{
	volatile struct rseq *rs = rseq_area();
	unsigned lens[2] = { __rseq_size < 32 ? 32 : __rseq_size, __rseq_size };
	int busy = 0;
	cpu_set_t allowed, one;

	CHECK(__rseq_size > 0, "glibc did not register rseq");
	CHECK((int32_t)rs->cpu_id >= 0, "rseq cpu_id is %d", (int32_t)rs->cpu_id);

	/* Registering the registered area again fails with EBUSY. */
	for (int i = 0; i < 2 && !busy; i++) {
		long r = syscall(SYS_rseq, (void *)rs, lens[i], 0, RSEQ_SIG);

		CHECK(r != 0, "rseq registration was lost: the area registered again");
		busy = errno == EBUSY;
		if (!busy)
			test_log("rseq(len %u): %s", lens[i], strerror(errno));
	}
	CHECK(busy, "glibc's rseq area is not registered with the kernel");

	/* The kernel writes cpu_id when the thread changes CPU. */
	CHECK(sched_getaffinity(0, sizeof(allowed), &allowed) == 0, "sched_getaffinity");
	int from = (int)rs->cpu_id, to = -1;

	for (int c = 0; c < CPU_SETSIZE && to < 0; c++)
		if (c != from && CPU_ISSET(c, &allowed))
			to = c;
	if (to < 0) {
		test_log("one CPU allowed: rseq cpu_id updates not tested");
		return;
	}
	CPU_ZERO(&one);
	CPU_SET(to, &one);
	CHECK(sched_setaffinity(0, sizeof(one), &one) == 0, "sched_setaffinity: %s",
	      strerror(errno));
	sched_yield();
	int seen = (int)rs->cpu_id, raw = -1;

	CHECK(syscall(SYS_getcpu, &raw, NULL, NULL) == 0, "getcpu");
	CHECK(sched_setaffinity(0, sizeof(allowed), &allowed) == 0, "sched_setaffinity");
	CHECK(raw == to, "sched_setaffinity did not move the thread to CPU %d (%d)", to, raw);
	CHECK(seen == to, "rseq cpu_id is %d on CPU %d: the kernel no longer updates it",
	      seen, to);
	test_log("rseq cpu_id followed the thread from CPU %d to %d", from, to);
}

/* Fields 26-28 and 45-51 of /proc/self/stat: the memory layout. */
static void stat_layout(unsigned long long v[10])
{
	static struct blob st;
	char *p;
	int field = 2, k = 0;

	slurp("/proc/self/stat", &st);
	st.data[st.len < (ssize_t)sizeof(st.data) ? st.len : st.len - 1] = '\0';
	p = strrchr(st.data, ')');	/* comm may hold spaces */
	CHECK(p, "/proc/self/stat unparsable");
	for (p++; *p && k < 10; p++) {
		if (*p != ' ')
			continue;
		field++;
		if ((field >= 26 && field <= 28) || (field >= 45 && field <= 51))
			v[k++] = strtoull(p + 1, NULL, 10);
	}
	CHECK(k == 10, "/proc/self/stat has %d of the layout fields", k);
}

struct prctls {
	char comm[16];
	int dumpable, pdeathsig, nnp, thp, subreaper;
	long slack;
	int pers;
};

static void get_prctls(struct prctls *p)
{
	memset(p, 0, sizeof(*p));
	prctl(PR_GET_NAME, p->comm);
	p->dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	prctl(PR_GET_PDEATHSIG, &p->pdeathsig);
	p->nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
	p->thp = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0);
	prctl(PR_GET_CHILD_SUBREAPER, &p->subreaper);
	p->slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
	p->pers = personality(0xffffffff);
}

int main(void)
{
	static struct blob cmdline[2], environ_[2], auxv[2], comm;
	struct rlimit rl[RLIM_NLIMITS], now;
	struct prctls pr[2];
	char cwd[2][4096];
	struct stat cwd_st, st;
	unsigned long aux[4][2];
	static const unsigned long aux_type[4] = { AT_PAGESZ, AT_HWCAP,
						   AT_SYSINFO_EHDR, AT_RANDOM };
	static const char *const aux_name[4] = { "AT_PAGESZ", "AT_HWCAP",
						 "AT_SYSINFO_EHDR", "AT_RANDOM" };
	uint8_t random_bytes[16];

	/* Directory, umask, limits. */
	CHECK(mkdir("sub.d", 0755) == 0 && chdir("sub.d") == 0, "sub.d: %s",
	      strerror(errno));
	CHECK(getcwd(cwd[0], sizeof(cwd[0])) && stat(".", &cwd_st) == 0, "getcwd");
	umask(027);
	CHECK(getrlimit(RLIMIT_NOFILE, &now) == 0 && now.rlim_max >= 300, "RLIMIT_NOFILE");
	now.rlim_cur = 300;
	CHECK(setrlimit(RLIMIT_NOFILE, &now) == 0, "setrlimit NOFILE: %s", strerror(errno));
	CHECK(getrlimit(RLIMIT_CORE, &now) == 0, "getrlimit CORE");
	if (now.rlim_max == RLIM_INFINITY || now.rlim_max > (3 << 20))
		now.rlim_max = 3 << 20;
	now.rlim_cur = now.rlim_max / 3;
	CHECK(setrlimit(RLIMIT_CORE, &now) == 0, "setrlimit CORE: %s", strerror(errno));
	for (int r = 0; r < RLIM_NLIMITS; r++)
		CHECK(getrlimit(r, &rl[r]) == 0, "getrlimit %d", r);

	/* Name and prctl settings. */
	CHECK(prctl(PR_SET_NAME, "proc01-comm") == 0, "PR_SET_NAME");
	CHECK(prctl(PR_SET_PDEATHSIG, SIGUSR2) == 0, "PR_SET_PDEATHSIG");
	CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "PR_SET_NO_NEW_PRIVS");
	CHECK(prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0, "PR_SET_THP_DISABLE");
	CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0, "PR_SET_CHILD_SUBREAPER");
	CHECK(prctl(PR_SET_TIMERSLACK, 123457) == 0, "PR_SET_TIMERSLACK");
	get_prctls(&pr[0]);

	/* Arguments, environment, auxiliary vector. */
	CHECK(setenv("PROC01_VAR", "value-42", 1) == 0, "setenv");
	slurp("/proc/self/cmdline", &cmdline[0]);
	slurp("/proc/self/environ", &environ_[0]);
	slurp("/proc/self/auxv", &auxv[0]);
	for (int i = 0; i < 4; i++)
		aux[i][0] = getauxval(aux_type[i]);
	memcpy(random_bytes, (void *)aux[3][0], 16);
	void *brk0 = sbrk(0);
	long kbrk0 = syscall(SYS_brk, 0);

	CHECK(vdso_in_maps() == aux[2][0], "[vdso] is not at AT_SYSINFO_EHDR before");
	unsigned long long layout[2][10];
	char exe[2][4096];
	ssize_t exe_len = readlink("/proc/self/exe", exe[0], sizeof(exe[0]) - 1);

	CHECK(exe_len > 0, "readlink /proc/self/exe: %s", strerror(errno));
	exe[0][exe_len] = '\0';
	stat_layout(layout[0]);
	test_log("parent before the checkpoint: %d", (int)getppid());

	test_checkpoint();

	test_log("parent after the restart: %d", (int)getppid());
	CHECK(getcwd(cwd[1], sizeof(cwd[1])), "getcwd: %s", strerror(errno));
	CHECK(!strcmp(cwd[0], cwd[1]), "cwd is %s, was %s", cwd[1], cwd[0]);
	CHECK(stat(".", &st) == 0 && st.st_ino == cwd_st.st_ino &&
		      st.st_dev == cwd_st.st_dev, "\".\" is another directory");
	mode_t um = umask(0);

	umask(um);
	CHECK(um == 027, "umask is %03o, was 027", (unsigned)um);
	int fd = open("new-file", O_WRONLY | O_CREAT | O_EXCL, 0666);

	CHECK(fd >= 0 && fstat(fd, &st) == 0, "create new-file: %s", strerror(errno));
	close(fd);
	CHECK((st.st_mode & 0777) == 0640, "new file has mode %03o, expected 640",
	      (unsigned)(st.st_mode & 0777));

	for (int r = 0; r < RLIM_NLIMITS; r++) {
		CHECK(getrlimit(r, &now) == 0, "getrlimit %d", r);
		CHECK(now.rlim_cur == rl[r].rlim_cur && now.rlim_max == rl[r].rlim_max,
		      "rlimit %d is %llu/%llu, was %llu/%llu", r,
		      (unsigned long long)now.rlim_cur, (unsigned long long)now.rlim_max,
		      (unsigned long long)rl[r].rlim_cur, (unsigned long long)rl[r].rlim_max);
	}
	CHECK(fcntl(0, F_DUPFD, 300) < 0 && errno == EINVAL,
	      "RLIMIT_NOFILE 300 is not enforced");
	fd = fcntl(0, F_DUPFD, 299);
	CHECK(fd == 299, "fd 299 within RLIMIT_NOFILE: %s", strerror(errno));
	close(fd);

	get_prctls(&pr[1]);
	CHECK(!strcmp(pr[1].comm, "proc01-comm"), "PR_GET_NAME is \"%s\"", pr[1].comm);
	slurp("/proc/self/comm", &comm);
	CHECK(comm.len == 12 && !memcmp(comm.data, "proc01-comm\n", 12),
	      "/proc/self/comm is \"%.*s\"", (int)comm.len, comm.data);
	CHECK(pr[1].dumpable == pr[0].dumpable, "dumpable %d, was %d", pr[1].dumpable,
	      pr[0].dumpable);
	CHECK(pr[1].pdeathsig == SIGUSR2, "parent-death signal %d, was %d",
	      pr[1].pdeathsig, SIGUSR2);
	CHECK(pr[1].nnp == 1, "no_new_privs %d", pr[1].nnp);
	CHECK(pr[1].thp == 1, "THP disable %d", pr[1].thp);
	CHECK(pr[1].subreaper == 1, "child subreaper %d", pr[1].subreaper);
	CHECK(pr[1].slack == 123457, "timer slack %ld ns, was 123457", pr[1].slack);
	CHECK(pr[1].pers == pr[0].pers, "personality %#x, was %#x", pr[1].pers, pr[0].pers);

	slurp("/proc/self/cmdline", &cmdline[1]);
	slurp("/proc/self/environ", &environ_[1]);
	slurp("/proc/self/auxv", &auxv[1]);
	same_blob(&cmdline[0], &cmdline[1], "/proc/self/cmdline");
	same_blob(&environ_[0], &environ_[1], "/proc/self/environ");
	same_blob(&auxv[0], &auxv[1], "/proc/self/auxv");
	const char *v = getenv("PROC01_VAR");

	CHECK(v && !strcmp(v, "value-42"), "PROC01_VAR is %s", v ? v : "unset");
	CHECK(getenv("SCK_IMAGE"), "SCK_IMAGE lost");

	for (int i = 0; i < 4; i++) {
		aux[i][1] = getauxval(aux_type[i]);
		CHECK(aux[i][1] == aux[i][0], "%s is %#lx, was %#lx", aux_name[i],
		      aux[i][1], aux[i][0]);
	}
	CHECK(!memcmp(random_bytes, (void *)aux[3][1], 16), "AT_RANDOM bytes changed");
	CHECK(vdso_in_maps() == aux[2][1], "[vdso] is at %#lx, AT_SYSINFO_EHDR %#lx",
	      vdso_in_maps(), aux[2][1]);

	check_clock(CLOCK_REALTIME, "CLOCK_REALTIME");
	check_clock(CLOCK_MONOTONIC, "CLOCK_MONOTONIC");
	check_time();
	int cpu = sched_getcpu();
	cpu_set_t allowed;

	CHECK(sched_getaffinity(0, sizeof(allowed), &allowed) == 0, "sched_getaffinity");
	CHECK(cpu >= 0 && cpu < CPU_SETSIZE && CPU_ISSET(cpu, &allowed),
	      "sched_getcpu() is %d", cpu);
	check_rseq();

	static const char *const layout_name[10] = {
		"start_code", "end_code", "start_stack", "start_data", "end_data",
		"start_brk", "arg_start", "arg_end", "env_start", "env_end"
	};

	stat_layout(layout[1]);
	for (int i = 0; i < 10; i++)
		CHECK(layout[0][i] == layout[1][i], "/proc/self/stat %s is %#llx, was %#llx",
		      layout_name[i], layout[1][i], layout[0][i]);
	exe_len = readlink("/proc/self/exe", exe[1], sizeof(exe[1]) - 1);
	CHECK(exe_len > 0, "readlink /proc/self/exe: %s", strerror(errno));
	exe[1][exe_len] = '\0';
	struct __user_cap_header_struct ch = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct cd[2];

	CHECK(syscall(SYS_capget, &ch, cd) == 0, "capget: %s", strerror(errno));
	if (cd[CAP_TO_INDEX(CAP_CHECKPOINT_RESTORE)].effective &
	    CAP_TO_MASK(CAP_CHECKPOINT_RESTORE))
		CHECK(!strcmp(exe[0], exe[1]), "/proc/self/exe is %s, was %s", exe[1], exe[0]);
	else
		test_log("/proc/self/exe is %s (unprivileged restart)", exe[1]);

	CHECK(sbrk(0) == brk0, "sbrk(0) is %p, was %p", sbrk(0), brk0);
	CHECK(syscall(SYS_brk, 0) == kbrk0, "brk(0) is %#lx, was %#lx",
	      syscall(SYS_brk, 0), kbrk0);
	pass();
}

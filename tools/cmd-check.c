/*
 * cmd-check.c - `selfckpt check [--json]`: which kernel facilities the
 * library relies on this machine has, and what each absence means (as
 * `criu check`; PITFALLS P25).
 *
 * Every answer comes from trying the thing, never from the kernel version:
 * a system call made with arguments it must refuse (ENOSYS tells it is
 * missing), an ioctl on an empty range, a guard page installed and looked
 * at through /proc/self/pagemap, and namespaces created in a child, as
 * libselfckpt/res-locks.c (selfckpt__ns_ok) and restore-ns.c do. Probes
 * that change the process run in a child that then exits.
 *
 * Facilities are "needed" (without them the library cannot checkpoint or
 * restart at all) or "optional" (it falls back, or only some programs or
 * images are affected; the line says which), or "info" (not used by this
 * version, or only its presence has a consequence: shadow stacks, soft-dirty,
 * Yama). Exit status: 0 if every
 * needed facility is here, 1 if one is missing, 64 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/kcmp.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <linux/sched.h>
#include <linux/userfaultfd.h>

#include "cli.h"
#include "compat.h"
#include "proc.h"
#include "restore.h"
#include "rst/rst.h"

#define PAGE 4096

extern const unsigned int __rseq_size;

enum { OPTIONAL, NEEDED, INFO };
static const char *const class_name[] = { "optional", "needed", "info" };

struct fac {
	const char *name;
	int needed;			/* NEEDED: the library cannot work without
					 * it; OPTIONAL: it falls back, or some
					 * programs or images are affected; INFO:
					 * not used, or its presence is what matters */
	int present;
	char detail[200];		/* what the probe saw */
	char means[400];		/* the consequence, for the answer given */
};

#define MAX_FAC 24
static struct fac facs[MAX_FAC];
static int nfacs;

static struct fac *add(const char *name, int needed)
{
	struct fac *f = &facs[nfacs++];

	memset(f, 0, sizeof(*f));
	f->name = name;
	f->needed = needed;
	return f;
}

static __attribute__((format(printf, 2, 3))) void detail(struct fac *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->detail, sizeof(f->detail), fmt, ap);
	va_end(ap);
}

static __attribute__((format(printf, 2, 3))) void means(struct fac *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->means, sizeof(f->means), fmt, ap);
	va_end(ap);
}

static void help(FILE *f)
{
	fprintf(f,
		"usage: selfckpt check [--json]\n"
		"\n"
		"Report which kernel facilities the library relies on this machine has,\n"
		"each tried for real, and what the absence of each means: one line per\n"
		"facility (name, yes/no, needed or optional, consequence), then a summary.\n"
		"\n"
		"options:\n"
		"  --json       the same as one JSON object\n"
		"  -h, --help   this text\n"
		"\n"
		"exit status: 0 every needed facility is here; 1 one is missing; 64 usage.\n");
}

/*
 * Run fn in a child; its exit status, or -1 if it did not exit. fn may
 * write one line of detail to fd.
 */
static int in_child(int (*fn)(int fd, void *arg), void *arg, char *msg, size_t n)
{
	int p[2], status;
	ssize_t got = 0;

	msg[0] = '\0';
	fflush(NULL);
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t c = fork();

	if (c < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (c == 0) {
		close(p[0]);
		_exit(fn(p[1], arg));
	}
	close(p[1]);
	for (;;) {
		ssize_t r = read(p[0], msg + got, n - 1 - (size_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || (size_t)(got += r) >= n - 1)
			break;
	}
	msg[got] = '\0';
	close(p[0]);
	while (waitpid(c, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static __attribute__((format(printf, 2, 3))) void tell(int fd, const char *fmt, ...)
{
	char line[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (write(fd, line, strlen(line)) < 0) {
		/* The parent reports no detail. */
	}
}

/* The user namespace of restore-ns.c: only our own ids mapped. */
static int own_userns(uid_t uid, gid_t gid)
{
	if (unshare(CLONE_NEWUSER) < 0)
		return -1;
	return selfckpt__map_own_ids(uid, gid);
}

static long read_small(const char *path, char *buf, size_t n)
{
	long r = selfckpt__read_file(AT_FDCWD, path, buf, n);

	while (r > 0 && (buf[r - 1] == '\n' || buf[r - 1] == ' '))
		buf[--r] = '\0';
	return r;
}

/* ---- the probes --------------------------------------------------------- */

static void check_proc(void)
{
	struct fac *f = add("/proc/self/pagemap, mem", NEEDED);
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	int mem = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
	uint64_t e = 0;

	f->present = pm >= 0 && mem >= 0 &&
		     pread(pm, &e, 8, (off_t)((uintptr_t)&e / PAGE * 8)) == 8 &&
		     (e & PM_ENTRY_PRESENT);
	detail(f, "%s", f->present ? "readable; this stack page shows as present" :
			pm < 0 ? "cannot open /proc/self/pagemap" :
			mem < 0 ? "cannot open /proc/self/mem" : "pagemap does not show present pages");
	means(f, "%s", f->present ? "a checkpoint finds the pages worth saving and reads them" :
		       "no checkpoint can be taken (is /proc mounted?)");
	if (pm >= 0)
		close(pm);
	if (mem >= 0)
		close(mem);
}

static void check_mm_map(void)
{
	struct fac *f = add("PR_SET_MM_MAP", NEEDED);
	unsigned int size = 0;
	int r = prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE, &size, 0, 0);

	f->present = r == 0 && size == sizeof(struct rst_mm_map);
	if (r)
		detail(f, "PR_SET_MM_MAP_SIZE: %s (CONFIG_CHECKPOINT_RESTORE off?)", strerror(errno));
	else
		detail(f, "struct prctl_mm_map of %u bytes", size);
	means(f, "%s", f->present ? "restart sets the heap break, stack, arguments and auxv back" :
		       "restart refuses every image (status 69)");
}

/*
 * PR_SET_MM_MAP with exe_fd, in a child, as restart will be: as root
 * directly, otherwise in a user namespace of its own when one can be had
 * (restore-ns.c). The values are the child's own. EBUSY: allowed, but
 * the current exe is still mapped, which the restorer unmaps first.
 */
static int probe_exe(int fd, void *arg)
{
	char stat[1024], auxv[1024];
	struct rst_mm_map m;
	unsigned long long v[52];
	int where = 0;

	(void)arg;
	if (geteuid() != 0)
		where = own_userns(getuid(), getgid()) == 0 ? 1 : 2;
	long n = selfckpt__read_file(AT_FDCWD, "/proc/self/stat", stat, sizeof(stat));
	char *p = n > 0 ? strrchr(stat, ')') : NULL;

	if (!p) {
		tell(fd, "cannot read /proc/self/stat");
		return 3;
	}
	/* Fields 3.. after the name; v[i] is field i. */
	memset(v, 0, sizeof(v));
	p += 2;
	for (int i = 3; i < 52 && *p; i++) {
		if (i == 3) {
			p++;	/* the state letter */
		} else {
			v[i] = strtoull(p, &p, 10);
		}
		while (*p == ' ')
			p++;
	}
	long alen = selfckpt__read_file(AT_FDCWD, "/proc/self/auxv", auxv, sizeof(auxv));

	if (alen <= 0) {
		tell(fd, "cannot read /proc/self/auxv");
		return 3;
	}
	memset(&m, 0, sizeof(m));
	m.start_code = v[26];
	m.end_code = v[27];
	m.start_stack = v[28];
	m.start_data = v[45];
	m.end_data = v[46];
	m.start_brk = v[47];
	m.brk = (uint64_t)syscall(SYS_brk, 0);
	m.arg_start = v[48];
	m.arg_end = v[49];
	m.env_start = v[50];
	m.env_end = v[51];
	m.auxv = (uint64_t)(uintptr_t)auxv;
	m.auxv_size = (uint32_t)alen;
	int exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);

	m.exe_fd = (uint32_t)exe;
	int r = prctl(PR_SET_MM, PR_SET_MM_MAP, &m, sizeof(m), 0);
	int err = errno;
	static const char *const mode[] = { "as root", "in a user namespace of its own",
					    "without a user namespace" };

	if (r == 0 || err == EBUSY)
		tell(fd, "%s: allowed%s", mode[where],
		     r ? " (EBUSY only because this program is still mapped, which the restorer is not)" : "");
	else
		tell(fd, "%s: %s", mode[where], strerror(err));
	return r == 0 || err == EBUSY ? 0 : 1;
}

static void check_exe(int mm_ok)
{
	struct fac *f = add("PR_SET_MM_MAP exe", OPTIONAL);
	char msg[300];

	if (!mm_ok) {
		detail(f, "no PR_SET_MM_MAP");
		means(f, "see PR_SET_MM_MAP");
		return;
	}
	int r = in_child(probe_exe, NULL, msg, sizeof(msg));

	f->present = r == 0;
	detail(f, "%s", msg[0] ? msg : "the probe failed");
	means(f, "%s", f->present ?
	      "a restarted program's /proc/self/exe is its own program again (CAP_CHECKPOINT_RESTORE there)" :
	      "a restarted program's /proc/self/exe names the selfckpt program (setting it needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN)");
}

struct ns_arg {
	pid_t want;
};

/* restore-ns.c: user (unless root) and PID namespaces, clone3(set_tid). */
static int probe_ns(int fd, void *arg)
{
	const struct ns_arg *a = arg;
	int fl = CLONE_NEWPID | (geteuid() ? CLONE_NEWUSER : 0);
	uid_t uid = getuid();
	gid_t gid = getgid();
	int status;

	if (fl & CLONE_NEWUSER) {
		if (own_userns(uid, gid) < 0) {
			tell(fd, "user namespace: %s", strerror(errno));
			return 1;
		}
	}
	if (unshare(CLONE_NEWPID) < 0) {
		tell(fd, "PID namespace: %s", strerror(errno));
		return 1;
	}
	pid_t init = fork();

	if (init == 0) {
		struct clone_args ca;
		uint64_t want = (uint64_t)a->want;

		memset(&ca, 0, sizeof(ca));
		ca.exit_signal = SIGCHLD;
		ca.set_tid = (uint64_t)(uintptr_t)&want;
		ca.set_tid_size = 1;
		long k = syscall(SYS_clone3, &ca, sizeof(ca));

		if (k == 0)
			_exit(getpid() == a->want ? 0 : 1);
		if (k < 0) {
			tell(fd, "clone3 with set_tid %d: %s", (int)a->want, strerror(errno));
			_exit(2);
		}
		while (waitpid((pid_t)k, &status, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			tell(fd, "clone3 did not give pid %d", (int)a->want);
			_exit(2);
		}
		_exit(0);
	}
	if (init < 0) {
		tell(fd, "fork: %s", strerror(errno));
		return 2;
	}
	while (waitpid(init, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status))
		return 2;
	if (WEXITSTATUS(status) == 0)
		tell(fd, "%sPID namespace created; clone3 gave pid %d in it",
		     (fl & CLONE_NEWUSER) ? "user and " : "", (int)a->want);
	return WEXITSTATUS(status);
}

static void check_ns(void)
{
	struct fac *f = add("namespaces + set_tid", OPTIONAL);
	struct ns_arg a = { getpid() > 1 ? getpid() : 2 };
	char msg[300];
	int r = in_child(probe_ns, &a, msg, sizeof(msg));

	f->present = r == 0;
	detail(f, "%s", msg[0] ? msg : "the probe failed");
	if (f->present)
		means(f, "restart keeps every process and thread id, in private %sPID namespaces",
		      geteuid() ? "user and " : "");
	else if (r == 1)
		means(f, "restart gives new process and thread ids (as --no-namespaces); locks that record a thread id and were held at the checkpoint are refused only in images made with SELFCKPT_NEW_IDS=1 or on this machine");
	else
		means(f, "the namespaces can be created but not the ids in them: restart fails (71) unless run with --no-namespaces");
}

static void check_rseq(void)
{
	struct fac *f = add("rseq", OPTIONAL);
	long r = syscall(SYS_rseq, NULL, 0, 0, 0);

	f->present = !(r < 0 && errno == ENOSYS);
	if (f->present)
		detail(f, "rseq(2) exists; this program's glibc registered %u bytes", __rseq_size);
	else
		detail(f, "rseq(2): ENOSYS");
	means(f, "%s", f->present ?
	      "each thread's rseq registration is saved and made again at restart (P1)" :
	      "glibc registers nothing here; images whose threads had a registration (glibc 2.35+ elsewhere) cannot be restarted here (verify says so)");
}

static void check_clone3(void)
{
	struct fac *f = add("clone3", OPTIONAL);
	long r = syscall(SYS_clone3, NULL, 0);

	f->present = !(r < 0 && errno == ENOSYS);
	detail(f, "clone3(2) %s", f->present ? "exists" : "ENOSYS");
	means(f, "%s", f->present ? "threads are recreated at restart" :
		       "images of multi-threaded programs cannot be restarted; keeping ids is impossible");
}

/* ---- POSIX timers and clocks (res-timer.c, rst/rst-timers.c, restore-ns.c) ---- */

static void check_timers(void)
{
	struct fac *f = add("/proc/self/timers", OPTIONAL);
	char buf[64];
	long n = read_small("/proc/self/timers", buf, sizeof(buf));

	f->present = n >= 0;
	detail(f, "%s", f->present ? "readable" : strerror((int)-n));
	means(f, "%s", f->present ?
	      "POSIX timers (timer_create) are saved with their ids, clocks and notifications" :
	      "a process with POSIX timers is refused at checkpoint (needs CONFIG_CHECKPOINT_RESTORE)");

	f = add("timer ids by prctl", OPTIONAL);
	long r = prctl(PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_GET, 0, 0, 0);

	f->present = r >= 0;
	detail(f, "PR_TIMER_CREATE_RESTORE_IDS: %s", f->present ? "answers" : strerror(errno));
	means(f, "%s", f->present ?
	      "restart gives each POSIX timer its id at once (Linux 6.17)" :
	      "restart creates and deletes timers until each id comes; an image with a timer id above 2^20 is refused (69)");
}

static int probe_timens(int fd, void *arg)
{
	(void)arg;
	if (geteuid() != 0 && unshare(CLONE_NEWUSER) < 0) {
		tell(fd, "user namespace: %s", strerror(errno));
		return 1;
	}
	if (unshare(CLONE_NEWTIME) < 0) {
		tell(fd, "unshare(CLONE_NEWTIME): %s", strerror(errno));
		return 1;
	}
	/* The offsets may be set until a process enters it. */
	if (selfckpt__write_file("/proc/self/timens_offsets", "monotonic 0 0\n") < 0) {
		tell(fd, "cannot set its offsets: %s", strerror(errno));
		return 1;
	}
	tell(fd, "a time namespace, offsets set");
	return 0;
}

static void check_timens(void)
{
	struct fac *f = add("time namespace", OPTIONAL);

	f->present = in_child(probe_timens, NULL, f->detail, sizeof(f->detail)) == 0;
	means(f, "%s", f->present ?
	      "a restarted program's CLOCK_MONOTONIC and CLOCK_BOOTTIME go on from the checkpoint's" :
	      "a restarted program sees this machine's clocks, which go back after a reboot or on another machine");
}

/* ---- end of POSIX timers and clocks ---- */

/*
 * System V IPC (restore-sysv.c): a private IPC namespace, made as restart
 * makes it (with the user namespace for an unprivileged user), in which
 * kernel.shm_next_id gives a new segment the id asked for.
 */
static int probe_ipcns(int fd, void *arg)
{
	int id;

	(void)arg;
	if (geteuid() != 0 && own_userns(getuid(), getgid()) < 0) {
		tell(fd, "user namespace: %s", strerror(errno));
		return 1;
	}
	if (unshare(CLONE_NEWIPC) < 0) {
		tell(fd, "unshare(CLONE_NEWIPC): %s", strerror(errno));
		return 1;
	}
	if (selfckpt__write_file("/proc/sys/kernel/shm_next_id", "4242") < 0) {
		tell(fd, "kernel.shm_next_id: %s", strerror(errno));
		return 1;
	}
	id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	if (id >= 0)
		shmctl(id, IPC_RMID, NULL);
	if (id != 4242) {
		tell(fd, "a segment made after kernel.shm_next_id=4242 has id %d", id);
		return 1;
	}
	tell(fd, "a private IPC namespace, ids chosen with kernel.*_next_id");
	return 0;
}

static void check_ipcns(void)
{
	struct fac *f = add("System V IPC ids", OPTIONAL);

	f->present = in_child(probe_ipcns, NULL, f->detail, sizeof(f->detail)) == 0;
	means(f, "%s", f->present ?
	      "System V segments, semaphore sets and message queues come back with their ids and keys" :
	      "an image with System V IPC objects is refused at restart (69)");
}

static int uffd_open(int flags)
{
	return (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | flags);
}

static void check_uffd(void)
{
	struct fac *f = add("userfaultfd", INFO);
	struct fac *w = add("uffd WP_ASYNC", INFO);
	int user_only = 1;
	int fd = uffd_open(UFFD_USER_MODE_ONLY);

	if (fd < 0) {
		int err = errno;

		fd = uffd_open(0);
		user_only = 0;
		if (fd < 0) {
			detail(f, "userfaultfd(UFFD_USER_MODE_ONLY): %s; without it: %s",
			       strerror(err), strerror(errno));
		}
	}
	f->present = fd >= 0;
	if (fd >= 0)
		detail(f, "userfaultfd(%s) works", user_only ? "UFFD_USER_MODE_ONLY" : "0");
	means(f, "%s", f->present ?
	      "not used by this version; incremental checkpoints and lazy restart will need it" :
	      "nothing today; incremental checkpoints and lazy restart would not be available");

	struct uffdio_api api = { .api = UFFD_API, .features = 0 };

	if (fd >= 0 && ioctl(fd, UFFDIO_API, &api) == 0) {
		w->present = (api.features & UFFD_FEATURE_WP_ASYNC) &&
			     (api.features & UFFD_FEATURE_WP_UNPOPULATED);
		detail(w, "UFFDIO_API features 0x%llx: WP_ASYNC %s, WP_UNPOPULATED %s",
		       (unsigned long long)api.features,
		       (api.features & UFFD_FEATURE_WP_ASYNC) ? "yes" : "no",
		       (api.features & UFFD_FEATURE_WP_UNPOPULATED) ? "yes" : "no");
	} else {
		detail(w, "%s", fd < 0 ? "no userfaultfd" : "UFFDIO_API failed");
	}
	means(w, "%s", w->present ?
	      "written pages can be tracked without faults (with PAGEMAP_SCAN); not used by this version" :
	      "no write tracking for incremental checkpoints (not used by this version; soft-dirty would be the only way)");
	if (fd >= 0)
		close(fd);
}

/* checkpoint.c's probe, then writer.c's masks with PAGE_IS_GUARD. */
static void check_pagemap_scan(int *scan_ok)
{
	struct fac *f = add("PAGEMAP_SCAN", OPTIONAL);
	struct fac *g = add("PAGEMAP_SCAN guard", OPTIONAL);
	struct page_region vec[4];
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	struct pm_scan_arg a = { .size = sizeof(a), .vec = (uint64_t)(uintptr_t)vec,
				 .vec_len = 4, .return_mask = PAGE_IS_PRESENT };

	f->present = fd >= 0 && ioctl(fd, PAGEMAP_SCAN, &a) == 0;
	detail(f, "ioctl on an empty range: %s", f->present ? "accepted" : strerror(errno));
	means(f, "%s", f->present ? "a checkpoint finds stored pages range by range (P18)" :
		       "a checkpoint reads /proc/self/pagemap one word per page: slower for large memory");
	*scan_ok = f->present;
	if (f->present) {
		uintptr_t here = (uintptr_t)vec & ~(uintptr_t)(PAGE - 1);
		struct pm_scan_arg b = {
			.size = sizeof(b), .start = here, .end = here + PAGE,
			.vec = (uint64_t)(uintptr_t)vec, .vec_len = 4,
			.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_GUARD,
			.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_FILE |
				       PAGE_IS_PFNZERO | PAGE_IS_GUARD,
		};
		/* The library's test knob (docs/reliability.md) applies here too. */
		const char *tf = getenv("SELFCKPT_TEST_FAULT");
		int forced = tf && strstr(tf, "no-page-is-guard");
		long r = forced ? (errno = EINVAL, -1) : ioctl(fd, PAGEMAP_SCAN, &b);

		g->present = r >= 0;
		detail(g, "PAGE_IS_GUARD in the masks: %s%s", r >= 0 ? "accepted" : strerror(errno),
		       forced ? " (SELFCKPT_TEST_FAULT=no-page-is-guard)" : "");
		means(g, "%s", g->present ? "the checkpoint's page scan (writer.c) sees guard pages" :
			       "the checkpoint scans without it (Linux 6.7-6.14) and tells guard pages from swapped-out ones by reading them: slower only where much memory is swapped out");
	} else {
		detail(g, "no PAGEMAP_SCAN");
		means(g, "not used: guard pages are found in /proc/self/pagemap (see pagemap guard bit)");
		g->needed = INFO;
	}
	if (fd >= 0)
		close(fd);
}

/* A guard page installed, then looked at in /proc/self/pagemap. */
static void check_guard(void)
{
	struct fac *in = add("MADV_GUARD_INSTALL", OPTIONAL);
	struct fac *bit = add("pagemap guard bit", OPTIONAL);
	uint8_t *p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);
	int err = 0;

	if (p != MAP_FAILED) {
		in->present = madvise(p, PAGE, MADV_GUARD_INSTALL) == 0;
		err = errno;
	}
	detail(in, "madvise(MADV_GUARD_INSTALL): %s", in->present ? "installed" :
		   p == MAP_FAILED ? "mmap failed" : strerror(err));
	means(in, "%s", in->present ?
	      "images with guard regions (glibc 2.42+ thread stacks) get them back at restart (P2)" :
	      "images with guard regions are refused here (69); no program here can have any");
	if (in->present) {
		int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		uint64_t e = 0;

		int got = fd >= 0 && pread(fd, &e, 8, (off_t)((uintptr_t)p / PAGE * 8)) == 8;

		bit->present = got && (e & PM_ENTRY_GUARD);
		if (got)
			detail(bit, "pagemap entry of a guard page: 0x%016llx", (unsigned long long)e);
		else
			detail(bit, "cannot tell: /proc/self/pagemap cannot be read");
		if (fd >= 0)
			close(fd);
		means(bit, "%s", bit->present ?
		      "a checkpoint finds guard regions, records them and never reads them" :
		      "a checkpoint cannot tell guard pages here: programs that have guard regions cannot be checkpointed safely");
	} else {
		detail(bit, "no guard regions to look at");
		bit->needed = INFO;
		means(bit, "nothing: no program here can have guard regions");
	}
	if (p != MAP_FAILED)
		munmap(p, 2 * PAGE);
}

static void check_shstk(void)
{
	struct fac *f = add("shadow stack", INFO);
	char *cpuinfo = malloc(1 << 20);
	uint64_t feat = 0;
	long r = syscall(SYS_arch_prctl, ARCH_SHSTK_STATUS, &feat);
	int err = errno;
	int cpu = 0;

	if (cpuinfo && selfckpt__read_file(AT_FDCWD, "/proc/cpuinfo", cpuinfo, 1 << 20) > 0)
		cpu = strstr(cpuinfo, " user_shstk") != NULL;
	free(cpuinfo);
	f->present = r == 0 && cpu;
	detail(f, "arch_prctl(ARCH_SHSTK_STATUS): %s%s; CPU flag user_shstk: %s",
	       r == 0 ? "supported" : strerror(err),
	       r == 0 && (feat & ARCH_SHSTK_SHSTK) ? " (enabled in this process)" : "",
	       cpu ? "yes" : "no");
	means(f, "%s", f->present ?
	      "programs whose glibc enables a shadow stack cannot be checkpointed (refused, P4): run them with GLIBC_TUNABLES=glibc.cpu.x86_shstk=off" :
	      "no program here runs with a shadow stack: nothing to refuse");
}

static void check_soft_dirty(void)
{
	struct fac *f = add("soft-dirty", INFO);
	uint8_t *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	uint64_t e = 0;

	int got = 0;

	if (p != MAP_FAILED && fd >= 0) {
		p[0] = 1;
		if (selfckpt__write_file("/proc/self/clear_refs", "4") == 0) {
			p[0] = 2;
			got = pread(fd, &e, 8, (off_t)((uintptr_t)p / PAGE * 8)) == 8;
			f->present = got && (e & (1ULL << 55));
		}
	}
	if (got)
		detail(f, "pagemap bit 55 after clear_refs 4 and a write: %s",
		       f->present ? "set" : "not set");
	else
		detail(f, "cannot tell: /proc/self/clear_refs or pagemap unusable");
	means(f, "%s", "not used: write tracking is to use uffd WP_ASYNC and PAGEMAP_SCAN (P18)");
	if (fd >= 0)
		close(fd);
	if (p != MAP_FAILED)
		munmap(p, PAGE);
}

static void check_kcmp(void)
{
	struct fac *f = add("kcmp", OPTIONAL);
	int a = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int b = a >= 0 ? fcntl(a, F_DUPFD_CLOEXEC, 0) : -1;
	long r = syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, a, b);

	f->present = r == 0;
	detail(f, "kcmp(KCMP_FILE) on two descriptors of one file: %s",
	       r == 0 ? "the same" : r < 0 ? strerror(errno) : "different?");
	means(f, "%s", f->present ? "descriptors that share an open file share it again after restart (P15)" :
		       "descriptors that share an open file are guessed from their offsets and flags");
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
}

/*
 * unix_diag (NETLINK_SOCK_DIAG): a socketpair's end, looked up by its
 * inode, must come back with its peer, as the checkpoint asks (res-sock.c).
 */
static void check_unix_diag(void)
{
	struct fac *f = add("unix_diag", OPTIONAL);
	struct {
		struct nlmsghdr h;
		struct unix_diag_req r;
	} req;
	struct sockaddr_nl k = { .nl_family = AF_NETLINK };
	char buf[8192];
	struct stat a, b;
	int sp[2] = { -1, -1 }, nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC,
					    NETLINK_SOCK_DIAG);
	ssize_t n = -1;

	memset(&req, 0, sizeof(req));
	if (nl >= 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0 &&
	    fstat(sp[0], &a) == 0 && fstat(sp[1], &b) == 0) {
		req.h.nlmsg_len = sizeof(req);
		req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
		req.h.nlmsg_flags = NLM_F_REQUEST;
		req.r.sdiag_family = AF_UNIX;
		req.r.udiag_states = ~0U;
		req.r.udiag_ino = (unsigned)a.st_ino;
		req.r.udiag_show = UDIAG_SHOW_PEER;
		req.r.udiag_cookie[0] = req.r.udiag_cookie[1] = ~0U;
		if (sendto(nl, &req, sizeof(req), 0, (struct sockaddr *)&k, sizeof(k)) > 0)
			n = recv(nl, buf, sizeof(buf), 0);
	}
	const struct nlmsghdr *h = (const void *)buf;
	const struct unix_diag_msg *m = NLMSG_DATA(h);
	const struct rtattr *at = (const void *)(m + 1);
	int left = n > 0 ? (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*m)) : 0;
	unsigned peer = 0;

	if (n > 0 && h->nlmsg_type == NLMSG_ERROR)
		detail(f, "unix_diag answers: %s",
		       strerror(-((const struct nlmsgerr *)NLMSG_DATA(h))->error));
	else if (n < 0)
		detail(f, "no answer: %s", strerror(errno));
	for (; n > 0 && h->nlmsg_type == SOCK_DIAG_BY_FAMILY && RTA_OK(at, left);
	     at = RTA_NEXT(at, left))
		if (at->rta_type == UNIX_DIAG_PEER)
			memcpy(&peer, RTA_DATA(at), sizeof(peer));
	f->present = peer && peer == (unsigned)b.st_ino;
	if (n > 0 && h->nlmsg_type == SOCK_DIAG_BY_FAMILY)
		detail(f, "a socketpair's end: %s", f->present ? "its peer found" : "no peer");
	means(f, "%s", f->present ? "unix sockets are saved with their peers, names and queues" :
		       "a process holding a unix socket cannot be checkpointed (the kernel lacks CONFIG_UNIX_DIAG)");
	if (nl >= 0)
		close(nl);
	if (sp[0] >= 0) {
		close(sp[0]);
		close(sp[1]);
	}
}

static void check_vdso(void)
{
	struct fac *f = add("vDSO", NEEDED);
	unsigned long at = getauxval(AT_SYSINFO_EHDR);
	char *maps = malloc(1 << 20);
	long n = maps ? selfckpt__read_file(AT_FDCWD, "/proc/self/maps", maps, 1 << 20) : -1;
	int listed = n > 0 && strstr(maps, "[vdso]") != NULL;

	free(maps);
	/* Without /proc, the pagemap line says what that means. */
	f->present = at && (listed || n < 0);
	detail(f, "AT_SYSINFO_EHDR %#lx; [vdso] in /proc/self/maps: %s", at,
	       n < 0 ? "cannot tell" : listed ? "yes" : "no");
	means(f, "%s", f->present ?
	      "images record its layout and entry points; restart needs the same ones (P5)" :
	      "restart refuses every image, even one made here (it compares the vdso layouts)");
}

static void check_yama(void)
{
	struct fac *f = add("yama ptrace_scope", INFO);
	char v[16] = "";
	long n = read_small("/proc/sys/kernel/yama/ptrace_scope", v, sizeof(v));

	f->present = n > 0;
	detail(f, "%s", n > 0 ? v : "no Yama");
	means(f, "%s", "nothing: selfckpt never uses ptrace (`selfckpt checkpoint` sends a signal; reading /proc/PID/environ needs only the owner)");
}

/* ---- output -------------------------------------------------------------- */

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, json = 0, scan_ok;
	struct utsname u;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'j') {
			json = 1;
		} else if (c == 'h') {
			help(stdout);
			return 0;
		} else {
			help(stderr);
			return 64;
		}
	}
	if (optind != argc) {
		cli_err("check", "takes no arguments; see --help");
		return 64;
	}
	nfacs = 0;
	check_proc();
	check_pagemap_scan(&scan_ok);
	check_mm_map();
	check_exe(facs[nfacs - 1].present);
	check_vdso();
	check_rseq();
	check_clone3();
	check_ns();
	check_timers();
	check_timens();
	check_ipcns();
	check_guard();
	check_shstk();
	check_uffd();
	check_soft_dirty();
	check_kcmp();
	check_unix_diag();
	check_yama();
	if (uname(&u) < 0)
		snprintf(u.release, sizeof(u.release), "?");

	int missing = 0, optional_missing = 0;

	for (int i = 0; i < nfacs; i++) {
		if (!facs[i].present && facs[i].needed == NEEDED)
			missing++;
		else if (!facs[i].present && facs[i].needed == OPTIONAL)
			optional_missing++;
	}
	if (json) {
		printf("{\"kernel\": ");
		json_str(u.release);
		printf(", \"euid\": %u, \"facilities\": [", (unsigned)geteuid());
		for (int i = 0; i < nfacs; i++) {
			printf("%s\n  {\"name\": ", i ? "," : "");
			json_str(facs[i].name);
			printf(", \"present\": %s, \"needed\": %s, \"class\": \"%s\", \"detail\": ",
			       facs[i].present ? "true" : "false",
			       facs[i].needed == NEEDED ? "true" : "false", class_name[facs[i].needed]);
			json_str(facs[i].detail);
			printf(", \"means\": ");
			json_str(facs[i].means);
			putchar('}');
		}
		printf("\n], \"missing_needed\": [");
		for (int i = 0, k = 0; i < nfacs; i++)
			if (!facs[i].present && facs[i].needed == NEEDED) {
				printf("%s", k++ ? ", " : "");
				json_str(facs[i].name);
			}
		printf("], \"ok\": %s}\n", missing ? "false" : "true");
	} else {
		for (int i = 0; i < nfacs; i++)
			printf("%-24s %-3s %-8s %s (%s)\n", facs[i].name,
			       facs[i].present ? "yes" : "no",
			       class_name[facs[i].needed], facs[i].means,
			       facs[i].detail);
		if (missing) {
			printf("check: missing what the library needs:");
			for (int i = 0, k = 0; i < nfacs; i++)
				if (!facs[i].present && facs[i].needed == NEEDED)
					printf("%s %s", k++ ? "," : "", facs[i].name);
			printf("\n");
		} else {
			printf("check: everything the library needs is here (kernel %s); %d optional facilit%s missing\n",
			       u.release, optional_missing, optional_missing == 1 ? "y" : "ies");
		}
	}
	fflush(stdout);
	return missing ? 1 : 0;
}

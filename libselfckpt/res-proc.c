/*
 * res-proc.c - per-process kernel state: the PROCESS, RLIMITS and
 * SIGACTIONS records, and the checks that refuse a process holding what
 * this version cannot restore (children, seccomp filters, a shadow stack,
 * a chroot).
 *
 * PROCESS carries what PR_SET_MM_MAP needs at restart (code, data, brk,
 * stack, arguments, environment, auxv; P6, P8), plus umask, personality,
 * name, the prctl flags, itimers and the cwd; the standard signals pending
 * for the process, taken before by res-signal.c, as a mask (P13). Itimers
 * are read after that: taking a pending SIGALRM re-arms a periodic
 * ITIMER_REAL, which until then reads as disarmed.
 *
 * Async-signal-safe: raw system calls and the arena only.
 */
#define LOG_PREFIX "proc: "

#include <fcntl.h>
#include <linux/prctl.h>
#include <linux/wait.h>
#include <sys/stat.h>

#include <linux/errno.h>

#include "compat.h"
#include "internal.h"
#include "log.h"
#include "nolibc/str.h"
#include "proc.h"
#include "sys.h"


static int check_children(void)
{
	struct {
		int32_t signo, errno_, code, pad;
		int32_t pid, uid;
		int32_t status;
		char rest[100];
	} si = { 0 };
	long r = sys_waitid(P_ALL, 0, &si,
			    WEXITED | WNOHANG | WNOWAIT | __WALL);

	if (r == -ECHILD)
		return 0;
	if (r < 0)
		return sck_fail((int)-r, "cannot tell whether the process has children");
	if (si.pid)
		return sck_fail(EOPNOTSUPP,
				"the process has a child process that exited and was not waited for (pid %d): process trees are not supported yet",
				si.pid);
	return sck_fail(EOPNOTSUPP,
			"the process has child processes: process trees are not supported yet");
}

static int check_status(struct sck_dump *d, const char *status,
			struct sck_process *p)
{
	uint64_t v;

	if (selfckpt__proc_field(status, "Seccomp:", 10, &v) == 0 && v)
		return sck_fail(EOPNOTSUPP,
				"the process runs under a seccomp filter, which cannot be saved and restored (P22)");
	if (selfckpt__proc_field(status, "Umask:", 8, &v) == 0)
		p->umask = (uint32_t)v;
	if (selfckpt__proc_field(status, "CapInh:", 16, &p->cap_inh) ||
	    selfckpt__proc_field(status, "CapPrm:", 16, &p->cap_prm) ||
	    selfckpt__proc_field(status, "CapEff:", 16, &p->cap_eff) ||
	    selfckpt__proc_field(status, "CapBnd:", 16, &p->cap_bnd))
		return sck_fail(EAGAIN, "cannot read the capabilities in /proc/self/status");
	if (selfckpt__proc_field(status, "CapAmb:", 16, &p->cap_amb))
		p->cap_amb = 0;	/* before Linux 4.3 */
	/*
	 * The standard signals pending for the process, which the MAIN thread
	 * took from the queue with their siginfo (res-signal.c): also in
	 * SIGINFO records, the mask is for readers of older images.
	 */
	p->pending_shared = selfckpt__signals_std_mask(d, 0);
	return 0;
}

static int check_misc(void)
{
	char buf[256];
	long n;
	uint64_t feat = 0;

	if (sys_arch_prctl(ARCH_SHSTK_STATUS, (unsigned long)&feat) == 0 &&
	    (feat & ARCH_SHSTK_SHSTK))
		return sck_fail(EOPNOTSUPP,
				"the process uses a shadow stack (CET); run it with GLIBC_TUNABLES=glibc.cpu.x86_shstk=off (P4)");
	n = sys_readlinkat(-100, "/proc/self/root", buf, sizeof(buf) - 1);
	if (n != 1 || buf[0] != '/')
		return sck_fail(EOPNOTSUPP,
				"the process runs in a chroot: not supported");
	return 0;
}

static int collect_auxv(struct sck_process *p)
{
	uint64_t buf[SCK_AUXV_MAX * 2 + 2];
	long n = selfckpt__read_file(-100, "/proc/self/auxv", (char *)buf,
				     sizeof(buf));

	if (n < 0)
		return sck_fail((int)-n, "cannot read /proc/self/auxv");
	n /= 8;
	if (n > SCK_AUXV_MAX * 2)
		return sck_fail(EOPNOTSUPP, "auxiliary vector too long");
	for (long i = 0; i < n; i++)
		p->auxv[i] = buf[i];
	p->auxv_len = (uint32_t)(n & ~1L);
	return 0;
}

static int collect_mm(struct sck_process *p)
{
	char buf[1024];
	struct sck_stat_fields st;
	long n = selfckpt__read_file(-100, "/proc/self/stat", buf, sizeof(buf));

	if (n < 0 || selfckpt__parse_stat(buf, &st))
		return sck_fail(EOPNOTSUPP, "cannot parse /proc/self/stat");
	p->start_code = st.start_code;
	p->end_code = st.end_code;
	p->start_data = st.start_data;
	p->end_data = st.end_data;
	p->start_brk = st.start_brk;
	p->start_stack = st.start_stack;
	p->arg_start = st.arg_start;
	p->arg_end = st.arg_end;
	p->env_start = st.env_start;
	p->env_end = st.env_end;
	/* glibc's sbrk caches the break; ask the kernel (P8). */
	p->brk = (uint64_t)sys_brk(0);
	return 0;
}

static int collect_exe(struct sck_dump *d, struct sck_process *p)
{
	char path[SCK_MAX_PATH + 1];
	struct stat st;
	long n = sys_readlinkat(-100, "/proc/self/exe", path, SCK_MAX_PATH);

	if (n <= 0)
		return 0;
	path[n] = '\0';
	if (path[0] != '/' || sys_fstatat(-100, path, &st, 0) != 0)
		return 0; /* replaced or unreachable: nothing to set at restart */
	struct sck_file f = { 0 };

	f.kind = SCK_FILE_REG;
	f.dev = st.st_dev;
	f.ino = st.st_ino;
	f.size = (uint64_t)st.st_size;
	f.mtime_sec = st.st_mtim.tv_sec;
	f.mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
	f.ctime_sec = st.st_ctim.tv_sec;
	f.ctime_nsec = (uint32_t)st.st_ctim.tv_nsec;
	f.mode = st.st_mode;
	int id = selfckpt__file_add(d, &f, path);

	if (id < 0)
		return id;
	p->exe_file = (uint32_t)id;
	return 0;
}

static void collect_prctl(struct sck_dump *d, struct sck_process *p)
{
	int v = 0;

	/* The process name is the main thread's (PR_GET_NAME is this one's). */
	long n = selfckpt__read_file(-100, "/proc/self/comm", p->comm, sizeof(p->comm));

	if (n > 0 && p->comm[n - 1] == '\n')
		p->comm[n - 1] = '\0';
	else
		sys_prctl(PR_GET_NAME, (unsigned long)p->comm, 0, 0, 0);
	p->comm[sizeof(p->comm) - 1] = '\0';
	p->dumpable = d->app_dumpable;	/* the checkpoint may have changed it */
	if (sys_prctl(PR_GET_PDEATHSIG, (unsigned long)&v, 0, 0, 0) == 0)
		p->pdeathsig = v;
	p->no_new_privs = (int32_t)sys_prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
	p->thp_disable = (int32_t)sys_prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0);
	v = 0;
	if (sys_prctl(PR_GET_CHILD_SUBREAPER, (unsigned long)&v, 0, 0, 0) == 0)
		p->child_subreaper = v;
	long slack = sys_prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);

	p->timerslack_ns = slack > 0 ? (uint64_t)slack : 0;
	p->personality = (uint32_t)sys_personality(0xffffffffUL);
	long mdwe = sys_prctl(PR_GET_MDWE, 0, 0, 0, 0);

	p->mdwe = mdwe > 0 ? (uint32_t)mdwe : 0;	/* EINVAL before Linux 6.3 */
	char adj[16];
	const char *end;

	if (selfckpt__read_file(-100, "/proc/self/oom_score_adj", adj, sizeof(adj)) > 0)
		p->oom_score_adj = adj[0] == '-'
			? -(int32_t)selfckpt__parse_u64(adj + 1, 10, &end)
			: (int32_t)selfckpt__parse_u64(adj, 10, &end);
	for (int w = 0; w < 3; w++) {
		int64_t it[4];

		if (sys_getitimer(w, it) == 0)
			for (int k = 0; k < 4; k++)
				p->itimer[w][k] = (uint64_t)it[k];
	}
}

int selfckpt__proc_collect(struct sck_dump *d)
{
	struct sck_process *p;
	char *cwd, *status;
	long n;
	int ret;

	p = selfckpt__arena_alloc(&d->arena, sizeof(*p), 8);
	cwd = selfckpt__arena_alloc(&d->arena, SCK_MAX_PATH + 1, 1);
	status = selfckpt__arena_alloc(&d->arena, 8192, 1);
	if (!p || !cwd || !status)
		return sck_fail(ENOMEM, "out of checkpoint memory");

	n = selfckpt__read_file(-100, "/proc/self/status", status, 8192);
	if (n < 0)
		return sck_fail((int)-n, "cannot read /proc/self/status");
	if ((ret = check_status(d, status, p)) || (ret = check_children()) ||
	    (ret = check_misc()) || (ret = collect_mm(p)) ||
	    (ret = collect_auxv(p)) || (ret = collect_exe(d, p)))
		return ret;
	collect_prctl(d, p);

	n = sys_readlinkat(-100, "/proc/self/cwd", cwd, SCK_MAX_PATH);
	if (n <= 0)
		return sck_fail(n < 0 ? (int)-n : EOPNOTSUPP, "cannot read the current directory");
	cwd[n] = '\0';
	struct stat st;

	if (cwd[0] != '/' || sys_fstatat(-100, cwd, &st, 0) != 0)
		return sck_fail(EOPNOTSUPP,
				"the current directory (%s) no longer exists", cwd);
	p->cwd_len = (uint32_t)n;

	struct sck_part parts[2] = { { p, sizeof(*p) }, { cwd, (size_t)n } };

	if (selfckpt__meta_add(&d->meta, SCK_REC_PROCESS, 0, parts, 2, NULL))
		return sck_fail(ENOMEM, "metadata buffer full");

	struct sck_rlimits rl;

	for (int r = 0; r < SCK_NLIMITS; r++) {
		uint64_t cur[2] = { ~0ULL, ~0ULL };

		sys_prlimit64(0, r, NULL, cur);
		rl.cur[r] = cur[0];
		rl.max[r] = cur[1];
	}
	parts[0] = (struct sck_part){ &rl, sizeof(rl) };
	if (selfckpt__meta_add(&d->meta, SCK_REC_RLIMITS, 0, parts, 1, NULL))
		return sck_fail(ENOMEM, "metadata buffer full");

	struct sck_sigactions *sa = selfckpt__arena_alloc(&d->arena, sizeof(*sa), 8);

	if (!sa)
		return sck_fail(ENOMEM, "out of checkpoint memory");
	for (int s = 1; s <= 64; s++)
		sys_rt_sigaction(s, NULL, &sa->act[s - 1]);
	parts[0] = (struct sck_part){ sa, sizeof(*sa) };
	if (selfckpt__meta_add(&d->meta, SCK_REC_SIGACTIONS, 0, parts, 1, NULL))
		return sck_fail(ENOMEM, "metadata buffer full");
	return 0;
}

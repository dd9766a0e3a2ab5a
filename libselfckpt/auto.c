/*
 * auto.c - checkpoints the program did not ask for (issue 4).
 *
 * With SELFCKPT_DIR in the environment (`selfckpt run` sets it, or a plain
 * LD_PRELOAD with the variable), the library takes checkpoints into that
 * directory:
 *  - when asked from outside: `selfckpt checkpoint PID` queues the
 *    reserved signal with a request word (sigqueue); the thread that gets
 *    it takes the checkpoint in the signal handler, wherever the program
 *    was, and writes the outcome to DIR/.result-PID-SEQ for the asking
 *    command;
 *  - every SELFCKPT_INTERVAL seconds: a POSIX timer queues the same
 *    request (it is the library's own and is left out of the image, and
 *    made again after a restart);
 *  - on SELFCKPT_EXIT_SIGNAL: checkpoint, then exit with status 85
 *    (SELFCKPT_EXIT_CHECKPOINTED) so that a batch script can requeue the
 *    job; if the checkpoint fails, the signal does what it would have
 *    done without the library.
 *
 * Images are DIR/ckpt-NNNNNN.img, NNNNNN the checkpoint id; DIR/latest is
 * a symbolic link to the newest complete one, replaced atomically after
 * the image is durable; with SELFCKPT_KEEP=N only the N newest are kept,
 * never the one latest names.
 *
 * Everything after the constructor runs in signal handlers: raw system
 * calls, no allocation, no stdio. The directory is opened per checkpoint,
 * so the program's descriptor table holds nothing of the library's.
 */
#define LOG_PREFIX "auto: "

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "internal.h"
#include "log.h"
#include "nolibc/fmt.h"
#include "nolibc/str.h"
#include "request.h"
#include "selfckpt.h"
#include "sys.h"

#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif
#define KEEP_SCAN 512		/* image ids looked at per rotation pass */

struct sck_auto {
	int on;
	unsigned keep;			/* 0: keep all */
	unsigned interval;		/* seconds, 0: none */
	int exit_sig;			/* 0: none */
	int timer;			/* kernel timer id, -1: none */
	char dir[SCK_MAX_PATH];		/* absolute */
};

static struct sck_auto au = { .timer = -1 };

int selfckpt__auto_timer(void)
{
	return au.timer;
}

/* ---- the directory ---------------------------------------------------- */

static int image_id(const char *name, uint64_t *id)
{
	uint64_t v = 0;
	const char *p = name + 5;

	if (strncmp(name, "ckpt-", 5) != 0)
		return 0;
	if (*p < '0' || *p > '9')
		return 0;
	for (; *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (uint64_t)(*p - '0');
	if (strcmp(p, ".img") != 0)
		return 0;
	*id = v;
	return 1;
}

/* Keep the au.keep newest images, and always `keep_id`. */
static void rotate(int dirfd, uint64_t keep_id)
{
	for (int pass = 0; pass < 64; pass++) {
		uint64_t ids[KEEP_SCAN];
		unsigned n = 0, total = 0;
		char buf[4096];
		long got;

		if (sys_lseek(dirfd, 0, 0 /* SEEK_SET */) < 0)
			return;
		while ((got = sys_getdents64(dirfd, buf, sizeof(buf))) > 0) {
			for (long off = 0; off < got;) {
				const struct {
					uint64_t ino;
					int64_t off;
					uint16_t reclen;
					uint8_t type;
					char name[];
				} *e = (const void *)(buf + off);
				uint64_t id;

				off += e->reclen;
				if (!image_id(e->name, &id))
					continue;
				total++;
				if (n < KEEP_SCAN)
					ids[n++] = id;
			}
		}
		if (total <= au.keep)
			return;
		/* Remove the oldest seen, unless it is latest's. */
		uint64_t oldest = UINT64_MAX;

		for (unsigned i = 0; i < n; i++)
			if (ids[i] < oldest && ids[i] != keep_id)
				oldest = ids[i];
		if (oldest == UINT64_MAX)
			return;
		char name[64];

		selfckpt__fmt(name, sizeof(name), "ckpt-%06lu.img", (unsigned long)oldest);
		if (sys_unlinkat(dirfd, name, 0) < 0)
			return;
	}
}

/* Point DIR/latest at the image, atomically, and make it durable. */
static int publish(uint64_t id)
{
	char target[64];
	int dirfd = (int)sys_openat(-100, au.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	long r;

	if (dirfd < 0)
		return sck_fail(-dirfd, "cannot open %s", au.dir);
	selfckpt__fmt(target, sizeof(target), "ckpt-%06lu.img", (unsigned long)id);
	sys_unlinkat(dirfd, ".latest.tmp", 0);
	r = sck_syscall3(__NR_symlinkat, (long)target, dirfd, (long)".latest.tmp");
	if (r == 0)
		r = sys_renameat(dirfd, ".latest.tmp", dirfd, "latest");
	if (r == 0)
		r = sys_fsync(dirfd);
	if (r == 0 && au.keep)
		rotate(dirfd, id);
	sys_close(dirfd);
	if (r < 0)
		return sck_fail((int)-r, "cannot update %s/latest", au.dir);
	return 0;
}

/*
 * One checkpoint into the directory. Returns the id, 0 in a process
 * resumed from it, or -errno with the reason set.
 */
static long dir_checkpoint(void)
{
	char path[SCK_MAX_PATH + 32];
	uint64_t id = selfckpt__next_id();
	long r;
	int saved = errno;

	selfckpt__fmt(path, sizeof(path), "%s/ckpt-%06lu.img", au.dir, (unsigned long)id);
	r = selfckpt_checkpoint(path, 0);
	if (r < 0) {
		r = -errno;
		errno = saved;
		return r;
	}
	errno = saved;
	if (r == 0)
		return 0;
	if ((uint64_t)r != id)	/* cannot happen: ids are serialized */
		return sck_fail(EIO, "checkpoint %ld written as %s", r, path);
	int ret = publish(id);

	return ret ? ret : r;
}

static void complain(long r)
{
	char line[1200];
	int n = r > 0 ? selfckpt__fmt(line, sizeof(line),
				      "selfckpt: checkpoint %ld written into %s, but its answer to 'selfckpt checkpoint --wait' could not be written there in full\n",
				      r, au.dir) :
		selfckpt__fmt(line, sizeof(line), "selfckpt: checkpoint into %s failed: %s\n",
			      au.dir, selfckpt_last_error());

	if (n > 0)
		sys_write(2, line, (size_t)(n < (int)sizeof(line) ? n : (int)sizeof(line) - 1));
}

/*
 * Tell the asking `selfckpt checkpoint` how it went: the line goes to a
 * temporary file renamed into place. On a full file system (the likely
 * reason of a failed checkpoint here) the line cannot be written, but an
 * empty file can still be made and renamed: its size says the outcome
 * (request.h); the message goes to the program's stderr instead.
 */
static void report(unsigned seq, long r)
{
	char tmp[64], name[64], line[1200];
	int dirfd = (int)sys_openat(-100, au.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	int pid = (int)sys_getpid();
	size_t n;

	if (dirfd < 0) {
		complain(r);
		return;
	}
	if (r > 0)
		n = (size_t)selfckpt__fmt(line, sizeof(line), "ok %ld %s/ckpt-%06lu.img\n",
					  r, au.dir, (unsigned long)r);
	else
		n = (size_t)selfckpt__fmt(line, sizeof(line), "error %d %s\n", (int)-r,
					  selfckpt_last_error());
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	selfckpt__fmt(tmp, sizeof(tmp), ".result-%d-%u.tmp", pid, seq);
	selfckpt__fmt(name, sizeof(name), ".result-%d-%u", pid, seq);
	int fd = (int)sys_openat(dirfd, tmp,
				 O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	int whole = 0;

	if (fd >= 0) {
		int ok = 1;

		whole = sys_write(fd, line, n) == (long)n;
		if (!whole) {
			uint64_t size = r > 0 ? SCK_ANSWER_OK + (uint64_t)r : (uint64_t)-r;

			ok = sys_ftruncate(fd, 0) == 0 && sys_ftruncate(fd, (int64_t)size) == 0;
		}
		sys_close(fd);
		if (!ok || sys_renameat(dirfd, tmp, dirfd, name) < 0)
			sys_unlinkat(dirfd, tmp, 0);
	}
	sys_close(dirfd);
	/* The message is not in the answer: say it where it can be seen. */
	if (!whole)
		complain(r);
}

/* ---- requests ------------------------------------------------------------ */

/* In the reserved signal's handler, for a request word (SCK_REQ_*). */
void selfckpt__auto_request(uint64_t word)
{
	unsigned seq = (unsigned)(word & SCK_REQ_SEQ_MASK);
	long r;

	if (!au.on) {
		/* A child of the started process (fork): it answers, no image. */
		if ((word & SCK_REQ_ASKED) && au.dir[0]) {
			selfckpt__set_error("process %ld is not the process 'selfckpt run' started but a child of it: process trees are not supported yet",
					    sys_getpid());
			report(seq, -EOPNOTSUPP);
		}
		return;
	}
	r = dir_checkpoint();
	if (r == 0)
		return;		/* resumed by a restart */
	if (word & SCK_REQ_ASKED)
		report(seq, r);
	else if (r < 0 && !(r == -EBUSY && (word & SCK_REQ_TIMER)))
		complain(r);	/* periodic: nobody else would know (a tick
				 * during another checkpoint is simply skipped) */
	if (r > 0 && (word & SCK_REQ_EXIT))
		sys_exit_group(SELFCKPT_EXIT_CHECKPOINTED);
}

static void on_exit_signal(int sig, siginfo_t *si, void *uc)
{
	long r;

	(void)si;
	(void)uc;
	if (au.on) {	/* not in a child of the started process */
		r = dir_checkpoint();
		if (r == 0)
			return;
		if (r > 0)
			sys_exit_group(SELFCKPT_EXIT_CHECKPOINTED);
		complain(r);
	}
	/* What the signal would have done without the library. */
	struct sck_sigaction dfl = { 0, 0, 0, 0 };
	uint64_t unblock = 1ULL << (sig - 1);

	sys_rt_sigaction(sig, &dfl, NULL);
	sys_tgkill((int)sys_getpid(), (int)sys_gettid(), sig);
	sys_rt_sigprocmask(SIG_UNBLOCK, &unblock, NULL);
}

/* The periodic timer: made at start and again after each restart. */
static void arm_timer(void)
{
	struct {
		uint64_t value;
		int32_t signo, notify;
		int32_t pad[12];
	} sev = { SCK_REQ_MAGIC | SCK_REQ_TIMER, selfckpt__ckpt_signal(),
		  0 /* SIGEV_SIGNAL */, { 0 } };
	struct {
		int64_t isec, insec, vsec, vnsec;
	} its = { au.interval, 0, au.interval, 0 };
	int32_t id = -1;
	long r;

	if (!au.interval)
		return;
	r = sck_syscall3(__NR_timer_create, 1 /* CLOCK_MONOTONIC */, (long)&sev, (long)&id);
	if (r == 0)
		r = sck_syscall4(__NR_timer_settime, id, 0, (long)&its, 0);
	if (r < 0) {
		selfckpt__set_error("cannot arm the checkpoint timer: %s",
				    selfckpt__errname((int)-r));
		complain(r);
		return;
	}
	au.timer = id;
}

void selfckpt__auto_resumed(void)
{
	if (!au.on)
		return;
	au.timer = -1;		/* timers are not restored */
	arm_timer();
}

static unsigned env_uint(const char *name)
{
	const char *s = getenv(name);
	unsigned long v;
	char *end;

	if (!s || !*s)
		return 0;
	v = strtoul(s, &end, 10);
	return *end || v > 0xffffffffUL ? 0 : (unsigned)v;
}

int selfckpt__sig_number(const char *s)
{
	static const struct {
		const char *name;
		int sig;
	} names[] = {
		{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT },
		{ "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "ALRM", SIGALRM },
		{ "TERM", SIGTERM }, { "XCPU", SIGXCPU }, { "PWR", SIGPWR },
		{ "URG", SIGURG }, { "CONT", SIGCONT },
	};
	char *end;
	long v;

	if (!s || !*s)
		return 0;
	if (*s >= '0' && *s <= '9') {
		v = strtol(s, &end, 10);
		return *end || v < 1 || v > 64 ? -1 : (int)v;
	}
	if (!strncmp(s, "SIG", 3))
		s += 3;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i].name))
			return names[i].sig;
	return -1;
}

/* After init.c's (SELFCKPT_SIGNAL, SELFCKPT_LOG_FD): priority 102. */
/* Defined (to 1) by the selfckpt program, which must never take part. */
extern const int selfckpt__no_auto __attribute__((weak));

/* A forked child is another process: not the one `selfckpt run` started. */
static void child_after_fork(void)
{
	if (au.timer >= 0)
		au.timer = -1;	/* POSIX timers are not inherited */
	au.on = 0;
}

__attribute__((constructor(102))) static void auto_from_env(void)
{
	const char *dir = getenv("SELFCKPT_DIR");
	const char *pid = getenv("SELFCKPT_PID");
	int sig;

	if (!dir || !*dir || (&selfckpt__no_auto && selfckpt__no_auto))
		return;
	/* Never in a setuid or otherwise secure-execution program. */
	if (getauxval(AT_SECURE))
		return;
	/*
	 * Only the process `selfckpt run` started (and the programs it execs,
	 * which keep its PID): its children inherit the environment but
	 * must not write into the same directory.
	 */
	if (pid && *pid && strtol(pid, NULL, 10) != (long)sys_getpid())
		return;
	pthread_atfork(NULL, NULL, child_after_fork);
	if (dir[0] != '/' || strlen(dir) >= sizeof(au.dir) - 32) {
		static const char msg[] = "selfckpt: SELFCKPT_DIR must be an absolute path; automatic checkpoints are off\n";

		sys_write(2, msg, sizeof(msg) - 1);
		return;
	}
	strcpy(au.dir, dir);
	/* Ids go on from the directory's newest image (after an exec too). */
	DIR *dd = opendir(au.dir);

	if (dd) {
		struct dirent *e;
		uint64_t id;

		while ((e = readdir(dd)))
			if (image_id(e->d_name, &id) && id > selfckpt__state.last_id)
				selfckpt__state.last_id = id;
		closedir(dd);
	}
	au.keep = env_uint("SELFCKPT_KEEP");
	au.interval = env_uint("SELFCKPT_INTERVAL");
	sig = selfckpt__sig_number(getenv("SELFCKPT_EXIT_SIGNAL"));
	if (sig < 0 || sig == selfckpt__ckpt_signal() || sig == SIGKILL || sig == SIGSTOP) {
		static const char msg[] = "selfckpt: SELFCKPT_EXIT_SIGNAL is not a signal the library can take; ignored\n";

		sys_write(2, msg, sizeof(msg) - 1);
		sig = 0;
	}
	/*
	 * Requests must find the handler in place, and the handler au.on set:
	 * a request queued as soon as the handler shows (selfckpt checkpoint
	 * polls for it) is delivered when rt_sigaction returns, and would
	 * otherwise be answered as by a child of the process (crash01.sh
	 * caught it once under load).
	 */
	au.on = 1;
	if (selfckpt__threads_install() < 0) {
		au.on = 0;
		complain(-1);
		return;
	}
	if (sig > 0) {
		struct sck_sigaction act = {
			.handler = (uint64_t)(uintptr_t)on_exit_signal,
			.flags = SA_SIGINFO | SA_RESTART | SA_RESTORER,
			.restorer = (uint64_t)(uintptr_t)selfckpt__rt_restorer,
			.mask = ~0ULL,
		};

		if (sys_rt_sigaction(sig, &act, NULL) == 0)
			au.exit_sig = sig;
	}
	arm_timer();
}

/*
 * leak01 - a checkpoint of a process holding something that cannot be
 * restored fails cleanly (Linux-CR's leak detection), and the process
 * goes on:
 *
 *   - while the process holds a socket, both ends of a pipe, an eventfd,
 *     a timerfd, an epoll fd, a signalfd, an inotify fd, a memfd
 *     descriptor, an unlinked but open file, a file or directory of its
 *     own /proc/<pid> (a restarted process has another pid: restart would
 *     fail, or open another process's), a file with a flock(), a POSIX
 *     (fcntl) or an open file description lock, a pseudo-terminal master,
 *     a System V shared memory segment, a live child
 *     process, a child that exited and was not waited for, a POSIX timer
 *     that signals a thread that has exited, selfckpt_checkpoint() returns -1
 *     with errno ENOTSUP, and selfckpt_last_error() names the descriptor
 *     ("fd N") or the thing;
 *   - after each failure, the good image written earlier at the same path
 *     is byte for byte intact, no temporary file is left beside it, the
 *     signal mask is the program's again, memory and stdio work, and
 *     selfckpt_last_id() did not move;
 *   - once everything is released, a checkpoint succeeds and the restarted
 *     process sees the ids in order.
 */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>

#include "zdtm.h"

#define MEM_WORDS (1 << 18)

static char second_path[4096];
static uint8_t *good_image;
static size_t good_len;
static uint64_t *mem;
static sigset_t app_mask;
static unsigned round_no = 1;	/* memory holds word(i, round_no) */

static uint64_t word(size_t i, unsigned round)
{
	return (i * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)round << 48);
}

static uint8_t *read_all(const char *path, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY);

	CHECK(fd >= 0 && fstat(fd, &st) == 0, "open %s: %s", path, strerror(errno));
	uint8_t *buf = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	ssize_t n;

	CHECK(buf, "malloc");
	while (got < (size_t)st.st_size &&
	       (n = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	close(fd);
	CHECK(got == (size_t)st.st_size, "short read of %s", path);
	*len = got;
	return buf;
}

/* The earlier image is untouched and nothing was left beside it. */
static void check_image_intact(const char *what)
{
	size_t len;
	uint8_t *now = read_all(second_path, &len);

	CHECK(len == good_len && !memcmp(now, good_image, len),
	      "%s: the earlier image changed (%zu bytes, was %zu)", what, len, good_len);
	free(now);

	DIR *d = opendir(".");
	struct dirent *e;

	CHECK(d, "opendir .");
	while ((e = readdir(d)))
		CHECK(!strstr(e->d_name, ".tmp") || !strncmp(e->d_name, "ready", 5),
		      "%s: a temporary file was left: %s", what, e->d_name);
	closedir(d);
}

/* The process goes on: memory, stdio, signal mask, library state. */
static void check_goes_on(const char *what, unsigned round)
{
	sigset_t m;

	for (size_t i = 0; i < MEM_WORDS; i++)
		CHECK(mem[i] == word(i, round - 1), "%s: memory word %zu", what, i);
	for (size_t i = 0; i < MEM_WORDS; i++)
		mem[i] = word(i, round);
	CHECK(sigprocmask(SIG_BLOCK, NULL, &m) == 0, "sigprocmask");
	for (int s = 1; s < 65; s++)
		CHECK(sigismember(&m, s) == sigismember(&app_mask, s),
		      "%s: signal %d is %s after the failed checkpoint", what, s,
		      sigismember(&m, s) ? "blocked" : "unblocked");
	CHECK(printf("info: %s: refused as expected\n", what) > 0 && fflush(stdout) == 0,
	      "%s: stdio broken", what);
	CHECK(selfckpt_last_id() == 1, "%s: last id is %ld", what, selfckpt_last_id());
}

/*
 * Checkpoint over the earlier image: must fail with ENOTSUP and a message
 * containing each of the given words.
 */
static void expect_refusal(const char *what, const char *word1, const char *word2)
{
	long r;

	errno = 0;
	r = selfckpt_checkpoint(second_path, SELFCKPT_NO_SYNC);
	const char *msg = selfckpt_last_error();

	if (r > 0)
		fail("%s: the checkpoint succeeded (id %ld)", what, r);
	CHECK(r == -1, "%s: checkpoint returned %ld", what, r);
	CHECK(errno == ENOTSUP, "%s: errno %d (%s), expected ENOTSUP", what, errno,
	      strerror(errno));
	CHECK(msg && *msg, "%s: no error message", what);
	CHECK(strstr(msg, word1) && (!word2 || strstr(msg, word2)),
	      "%s: message \"%s\" does not say \"%s\"%s%s", what, msg, word1,
	      word2 ? " and " : "", word2 ? word2 : "");
	test_log("%s: \"%s\"", what, msg);
	check_image_intact(what);
	check_goes_on(what, ++round_no);
}

static volatile pid_t gone_tid;
static sem_t gone_sem;

/* A thread that a timer will signal after it exited. */
static void *short_thread(void *arg)
{
	(void)arg;
	gone_tid = (pid_t)syscall(SYS_gettid);
	while (sem_wait(&gone_sem) < 0)
		;
	return NULL;
}

static void refuse_fd(const char *what, int fd, const char *kind)
{
	char num[32];

	snprintf(num, sizeof(num), "fd %d ", fd);
	expect_refusal(what, num, kind);
}

int main(void)
{
	int fds[2];

	mem = malloc(MEM_WORDS * sizeof(*mem));
	CHECK(mem, "malloc");
	for (size_t i = 0; i < MEM_WORDS; i++)
		mem[i] = word(i, 1);
	CHECK(sigprocmask(SIG_BLOCK, NULL, &app_mask) == 0, "sigprocmask");
	sigaddset(&app_mask, SIGWINCH);
	CHECK(sigprocmask(SIG_SETMASK, &app_mask, NULL) == 0, "sigprocmask");

	/* The good image, written first, that every failure must leave alone. */
	snprintf(second_path, sizeof(second_path), "%s.first", test_image());
	long id = selfckpt_checkpoint(second_path, SELFCKPT_NO_SYNC);

	if (id == 0)
		fail("restarted from the first image, which the runner never restarts");
	CHECK(id == 1, "first checkpoint: %ld (%s)", id, selfckpt_last_error());
	CHECK(!*selfckpt_last_error(), "error message after success: %s",
	      selfckpt_last_error());
	good_image = read_all(second_path, &good_len);
	check_image_intact("after the first image");

	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(s >= 0, "socket: %s", strerror(errno));
	refuse_fd("socket", s, "socket");
	close(s);

	CHECK(pipe(fds) == 0, "pipe: %s", strerror(errno));
	refuse_fd("pipe", fds[0], "pipe");
	close(fds[0]);
	close(fds[1]);

	int efd = eventfd(3, EFD_CLOEXEC);

	CHECK(efd >= 0, "eventfd: %s", strerror(errno));
	refuse_fd("eventfd", efd, "eventfd");
	close(efd);

	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);

	CHECK(tfd >= 0, "timerfd_create: %s", strerror(errno));
	refuse_fd("timerfd", tfd, "timerfd");
	close(tfd);

	int ep = epoll_create1(EPOLL_CLOEXEC);

	CHECK(ep >= 0, "epoll_create1: %s", strerror(errno));
	refuse_fd("epoll", ep, "eventpoll");
	close(ep);

	sigset_t sfd_set;

	sigemptyset(&sfd_set);
	sigaddset(&sfd_set, SIGUSR2);
	int sfd = signalfd(-1, &sfd_set, SFD_CLOEXEC);

	CHECK(sfd >= 0, "signalfd: %s", strerror(errno));
	refuse_fd("signalfd", sfd, "signalfd");
	close(sfd);

	int ino = inotify_init1(IN_CLOEXEC);

	CHECK(ino >= 0 && inotify_add_watch(ino, ".", IN_CREATE) >= 0,
	      "inotify: %s", strerror(errno));
	refuse_fd("inotify", ino, "inotify");
	close(ino);

	int mfd = memfd_create("leak01", MFD_CLOEXEC);

	CHECK(mfd >= 0 && ftruncate(mfd, 4096) == 0, "memfd: %s", strerror(errno));
	refuse_fd("memfd", mfd, "memfd");
	close(mfd);

	int lf = open("locked.dat", O_RDWR | O_CREAT | O_TRUNC, 0600);

	CHECK(lf >= 0 && write(lf, "0123456789", 10) == 10, "locked.dat: %s",
	      strerror(errno));
	CHECK(flock(lf, LOCK_EX) == 0, "flock: %s", strerror(errno));
	refuse_fd("flock", lf, "lock");
	CHECK(flock(lf, LOCK_UN) == 0, "unlock");
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 2,
			    .l_len = 3 };

	CHECK(fcntl(lf, F_SETLK, &fl) == 0, "F_SETLK: %s", strerror(errno));
	refuse_fd("POSIX lock", lf, "lock");
	fl.l_type = F_UNLCK;
	CHECK(fcntl(lf, F_SETLK, &fl) == 0, "F_SETLK unlock");
	fl.l_type = F_RDLCK;
	fl.l_pid = 0;
	CHECK(fcntl(lf, F_OFD_SETLK, &fl) == 0, "F_OFD_SETLK: %s", strerror(errno));
	refuse_fd("OFD lock", lf, "lock");
	fl.l_type = F_UNLCK;
	CHECK(fcntl(lf, F_OFD_SETLK, &fl) == 0, "F_OFD_SETLK unlock");
	close(lf);

	int ptm = posix_openpt(O_RDWR | O_NOCTTY);

	CHECK(ptm >= 0, "posix_openpt: %s", strerror(errno));
	refuse_fd("pseudo-terminal master", ptm, "terminal");
	close(ptm);

	int shmid = shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0600);

	CHECK(shmid >= 0, "shmget: %s", strerror(errno));
	void *shm = shmat(shmid, NULL, 0);

	CHECK(shm != (void *)-1, "shmat: %s", strerror(errno));
	CHECK(shmctl(shmid, IPC_RMID, NULL) == 0, "IPC_RMID");
	memset(shm, 1, 8192);
	expect_refusal("System V shared memory", "System V shared memory", NULL);
	CHECK(shmdt(shm) == 0, "shmdt");

	int pf = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	CHECK(pf >= 0, "open /proc/self/status: %s", strerror(errno));
	refuse_fd("own /proc file", pf, "/proc");
	close(pf);
	pf = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(pf >= 0, "open /proc/self/fd: %s", strerror(errno));
	refuse_fd("own /proc directory", pf, "/proc");
	close(pf);

	int uf = open("unlinked.dat", O_RDWR | O_CREAT | O_TRUNC, 0600);

	CHECK(uf >= 0 && write(uf, "data", 4) == 4 && unlink("unlinked.dat") == 0,
	      "unlinked file: %s", strerror(errno));
	refuse_fd("unlinked file", uf, "unlinked");
	close(uf);

	pid_t child = fork();

	CHECK(child >= 0, "fork: %s", strerror(errno));
	if (child == 0) {
		for (;;)
			pause();
	}
	expect_refusal("child process", "child process", NULL);
	CHECK(kill(child, SIGKILL) == 0 && waitpid(child, NULL, 0) == child,
	      "reaping the child: %s", strerror(errno));

	child = fork();
	CHECK(child >= 0, "fork: %s", strerror(errno));
	if (child == 0)
		_exit(7);
	siginfo_t zs;

	memset(&zs, 0, sizeof(zs));
	CHECK(waitid(P_PID, (id_t)child, &zs, WEXITED | WNOWAIT) == 0, "waitid");
	expect_refusal("zombie child", "not waited for", NULL);
	int st;

	CHECK(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 7,
	      "reaping the zombie");

	/* A POSIX timer whose thread (SIGEV_THREAD_ID) has exited. */
	timer_t timer;
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGWINCH };
	pthread_t th;

	CHECK(sem_init(&gone_sem, 0, 0) == 0, "sem_init");
	CHECK(pthread_create(&th, NULL, short_thread, NULL) == 0, "pthread_create");
	while (!gone_tid)
		sched_yield();
	sev._sigev_un._tid = gone_tid;
	CHECK(timer_create(CLOCK_MONOTONIC, &sev, &timer) == 0, "timer_create: %s",
	      strerror(errno));
	sem_post(&gone_sem);
	CHECK(pthread_join(th, NULL) == 0, "pthread_join");
	expect_refusal("POSIX timer of a thread that exited", "POSIX timer", "exited");
	CHECK(timer_delete(timer) == 0, "timer_delete");

	/* All released: a checkpoint now succeeds. */
	id = test_checkpoint();
	CHECK(id == 2, "id after the restart is %ld, expected 2", id);
	CHECK(selfckpt_generation() == 1, "generation %u", selfckpt_generation());
	for (size_t i = 0; i < MEM_WORDS; i++)
		CHECK(mem[i] == word(i, round_no), "memory word %zu after the restart", i);
	check_image_intact("after the restart");
	pass();
}

/*
 * leak01 - a checkpoint of a process holding something that cannot be
 * restored fails cleanly (Linux-CR's leak detection), and the process
 * goes on:
 *
 *   - while the process holds a netlink socket, a unix socket connected
 *     to another process, a TCP connection (within the process), a unix
 *     connection not accepted yet that sent data, a netlink socket in
 *     flight (SCM_RIGHTS), out-of-band data in a unix stream, a datagram socket
 *     connected to an unnamed socket connected elsewhere, one end of a
 *     pipe (the other is
 *     not in the process), a packet-mode pipe, an epoll fd watching a
 *     file registered as a descriptor since closed (the file still open
 *     through a dup), an inotify fd with events not read yet, one with a
 *     watch added behind the library's back (the raw system call) and one
 *     whose watch was added by a path since renamed (for root, without
 *     CAP_DAC_READ_SEARCH, which would find them by file handle), an
 *     O_PATH descriptor of a memfd, a removed directory, an unlinked file
 *     open for writing only with a POSIX lock (reading it would drop the
 *     lock), a file or directory of its own /proc/<pid> (a restarted
 *     process has another pid: restart would fail, or open another
 *     process's), a lease (F_SETLEASE), a pseudo-terminal master without
 *     its slave or a slave without its master, a pseudo-terminal pair
 *     holding bytes not read yet (either way) or a packet-mode status
 *     byte, a System V shared memory segment of its own also attached by
 *     another process, a System V message queue another process created
 *     (msgget found it), a semaphore set operated on with SEM_UNDO, a
 *     System V segment of 64 MiB (its record would be over the 64 MiB a
 *     record may have), a live child
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
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <linux/capability.h>
#include <sys/signalfd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
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
static void expect_refusal(const char *what, const char *word1, const char *word2);

/*
 * System V IPC (res-sysv.c): a segment of this process that a process
 * outside it (a grandchild: not a child to refuse) has attached too; a
 * queue another process made, which msgget found; a set used with
 * SEM_UNDO. Each removed afterwards.
 */
static void sysv_leaks(void)
{
	int shmid = shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0600);
	struct shmid_ds ds;
	pid_t child;

	CHECK(shmid >= 0, "shmget: %s", strerror(errno));
	volatile pid_t *shm = shmat(shmid, NULL, 0);

	CHECK(shm != (void *)-1, "shmat: %s", strerror(errno));
	shm[0] = 0;
	child = fork();
	CHECK(child >= 0, "fork: %s", strerror(errno));
	if (child == 0) {
		if (fork() == 0) {
			shm[0] = getpid();	/* keeps its attachment, inherited */
			for (;;)
				pause();
		}
		_exit(0);
	}
	CHECK(waitpid(child, NULL, 0) == child, "waitpid");
	while (!shm[0])
		usleep(1000);
	expect_refusal("System V segment attached elsewhere", "attached by another process",
		       "segment");
	kill(shm[0], SIGKILL);
	do
		CHECK(shmctl(shmid, IPC_STAT, &ds) == 0, "IPC_STAT: %s", strerror(errno));
	while (ds.shm_nattch > 1 && usleep(1000) == 0);
	CHECK(shmdt((void *)shm) == 0 && shmctl(shmid, IPC_RMID, NULL) == 0, "shm removal");

	key_t key = (key_t)(0x1eac0000 | (getpid() & 0xffff));

	child = fork();
	CHECK(child >= 0, "fork: %s", strerror(errno));
	if (child == 0)
		_exit(msgget(key, IPC_CREAT | IPC_EXCL | 0600) < 0);
	int status, msqid;

	CHECK(waitpid(child, &status, 0) == child && status == 0, "the child's msgget");
	msqid = msgget(key, 0);
	CHECK(msqid >= 0, "msgget: %s", strerror(errno));
	expect_refusal("System V queue made elsewhere", "message queue",
		       "created by another");
	CHECK(msgctl(msqid, IPC_RMID, NULL) == 0, "msgctl IPC_RMID: %s", strerror(errno));

	int semid = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	struct sembuf up = { 0, 1, SEM_UNDO };

	CHECK(semid >= 0 && semop(semid, &up, 1) == 0, "semget/semop: %s", strerror(errno));
	expect_refusal("System V semaphore with SEM_UNDO", "SEM_UNDO", "semaphore set");
	CHECK(semctl(semid, 0, IPC_RMID) == 0, "semctl IPC_RMID: %s", strerror(errno));

	/* Not attached: the checkpoint reads it (cpid), the process's memory stays small. */
	shmid = shmget(IPC_PRIVATE, 64 << 20, IPC_CREAT | 0600);
	CHECK(shmid >= 0, "shmget 64 MiB: %s", strerror(errno));
	expect_refusal("System V segment of 64 MiB", "segments above 67104768 bytes", "67108864");
	CHECK(shmctl(shmid, IPC_RMID, NULL) == 0, "shm removal");
}

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

/*
 * Take CAP_DAC_READ_SEARCH out of the effective set (drop) or put it back
 * from the permitted one: with it, the checkpoint finds an inotify watch's
 * path from the inode's file handle.
 */
static void dac_read_search(int drop)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct c[2];
	uint32_t bit = 1u << CAP_DAC_READ_SEARCH;

	CHECK(syscall(SYS_capget, &h, c) == 0, "capget: %s", strerror(errno));
	c[0].effective = drop ? c[0].effective & ~bit : c[0].effective | (c[0].permitted & bit);
	CHECK(syscall(SYS_capset, &h, c) == 0, "capset: %s", strerror(errno));
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

/*
 * Sockets that still cannot be restored: another family, a connection to
 * another process (a socketpair whose other end a process that is not a
 * child holds), a TCP connection (within the process too), a connection
 * not accepted yet that sent data, a netlink socket in flight, a datagram
 * socket connected to an unnamed socket that is connected elsewhere.
 */
static void refuse_sockets(void)
{
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);

	CHECK(s >= 0, "netlink socket: %s", strerror(errno));
	refuse_fd("netlink socket", s, "is a netlink socket (socket:[");
	close(s);

	int sp[2];
	pid_t holder = 0;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0, "socketpair");
	pid_t c = fork();

	CHECK(c >= 0, "fork: %s", strerror(errno));
	if (c == 0) {
		if (fork() == 0) {
			pid_t me = getpid();

			close(sp[0]);
			if (write(sp[1], &me, sizeof(me)) != sizeof(me))
				_exit(1);
			for (;;)
				pause();
		}
		_exit(0);
	}
	close(sp[1]);
	CHECK(waitpid(c, NULL, 0) == c, "waitpid");
	CHECK(read(sp[0], &holder, sizeof(holder)) == sizeof(holder), "the holder's pid");
	refuse_fd("unix socket connected to another process", sp[0],
		  "is a unix stream socket connected to another process (socket:[");
	CHECK(kill(holder, SIGKILL) == 0, "kill the holder: %s", strerror(errno));
	close(sp[0]);

	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(l >= 0 && bind(l, (void *)&a, sizeof(a)) == 0 && listen(l, 1) == 0 &&
	      getsockname(l, (void *)&a, &alen) == 0, "TCP listener: %s", strerror(errno));
	int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(t >= 0 && connect(t, (void *)&a, sizeof(a)) == 0, "connect: %s", strerror(errno));
	int acc = accept4(l, NULL, NULL, SOCK_CLOEXEC);

	CHECK(acc >= 0, "accept: %s", strerror(errno));
	close(l);
	refuse_fd("TCP connection within the process", t, "is a TCP connection 127.0.0.1:");
	close(t);
	close(acc);

	struct sockaddr_un u = { .sun_family = AF_UNIX };

	snprintf(u.sun_path + 1, sizeof(u.sun_path) - 1, "leak01-%d", getpid());
	socklen_t ulen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
				     strlen(u.sun_path + 1));

	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(l >= 0 && bind(l, (void *)&u, ulen) == 0 && listen(l, 1) == 0, "unix listener: %s",
	      strerror(errno));
	t = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(t >= 0 && connect(t, (void *)&u, ulen) == 0 && write(t, "x", 1) == 1,
	      "connect: %s", strerror(errno));
	refuse_fd("unix connection not accepted yet, with data", t,
		  "which has not accepted it yet, with data it sent waiting there");
	close(t);
	close(l);

	CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp) == 0, "socketpair");
	/* A netlink socket in flight (what an fd may be, in flight too: scmrights01). */
	int carried = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { "f", 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &carried, sizeof(int));
	CHECK(carried >= 0 && sendmsg(sp[0], &m, 0) == 1, "sendmsg: %s", strerror(errno));
	close(carried);
	refuse_fd("a netlink socket in flight", sp[1], "that cannot be saved (it was fd ");
	close(sp[0]);
	close(sp[1]);

	/* Out-of-band data, where the kernel has it (CONFIG_AF_UNIX_OOB). */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0, "socketpair");
	CHECK(write(sp[0], "ab", 2) == 2, "write");
	if (send(sp[0], "!", 1, MSG_OOB) == 1)
		refuse_fd("out-of-band data", sp[1], "has out-of-band data (MSG_OOB)");
	else
		test_log("no MSG_OOB on unix sockets here (%s): not tried", strerror(errno));
	close(sp[0]);
	close(sp[1]);

	int named = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp) == 0 && named >= 0 &&
	      bind(named, (void *)&u, ulen) == 0 && connect(sp[1], (void *)&u, ulen) == 0,
	      "datagram sockets: %s", strerror(errno));
	refuse_fd("datagram socket connected to a socket connected elsewhere", sp[0],
		  "connected to an unnamed socket that is connected elsewhere");
	close(sp[0]);
	close(sp[1]);
	close(named);
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

	refuse_sockets();

	/* One end only: the other is (as far as anyone can tell) elsewhere. */
	CHECK(pipe(fds) == 0, "pipe: %s", strerror(errno));
	close(fds[1]);
	refuse_fd("pipe, read end only", fds[0], "other end is not in this process");
	close(fds[0]);
	CHECK(pipe(fds) == 0, "pipe: %s", strerror(errno));
	close(fds[0]);
	refuse_fd("pipe, write end only", fds[1], "other end is not in this process");
	close(fds[1]);
	CHECK(pipe2(fds, O_DIRECT) == 0, "pipe2: %s", strerror(errno));
	refuse_fd("packet-mode pipe", fds[0], "packet-mode pipe");
	close(fds[0]);
	close(fds[1]);

	/* Registered as fd d, then d closed: the dup keeps the file open. */
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };

	CHECK(ep >= 0 && pipe(fds) == 0, "epoll_create1/pipe: %s", strerror(errno));
	int keep = dup(fds[0]);

	CHECK(keep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, fds[0], &ev) == 0, "epoll_ctl: %s",
	      strerror(errno));
	close(fds[0]);
	refuse_fd("epoll watching a closed fd", ep, "no longer that file");
	close(ep);
	close(keep);
	close(fds[1]);

	/* inotify: events not read yet, a path unknown, a path renamed. */
	int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	char evbuf[4096];

	mkdir("watched.d", 0700);
	CHECK(ino >= 0 && inotify_add_watch(ino, "watched.d", IN_CREATE) >= 0,
	      "inotify: %s", strerror(errno));
	int tmp = open("watched.d/new", O_WRONLY | O_CREAT, 0600);

	CHECK(tmp >= 0, "create watched.d/new: %s", strerror(errno));
	close(tmp);
	refuse_fd("inotify with events queued", ino, "not read yet");
	CHECK(read(ino, evbuf, sizeof(evbuf)) > 0, "the inotify events were lost");
	close(ino);
	dac_read_search(1);
	mkdir("raw.d", 0700);
	ino = inotify_init1(IN_CLOEXEC);
	CHECK(ino >= 0 && syscall(SYS_inotify_add_watch, ino, "raw.d", IN_CREATE) > 0,
	      "inotify: %s", strerror(errno));
	refuse_fd("inotify watch added by the raw system call", ino, "no known path");
	close(ino);
	mkdir("before.d", 0700);
	ino = inotify_init1(IN_CLOEXEC);
	CHECK(ino >= 0 && inotify_add_watch(ino, "before.d", IN_CREATE) > 0 &&
	      rename("before.d", "after.d") == 0, "inotify: %s", strerror(errno));
	refuse_fd("inotify watch on a renamed directory", ino, "leads to another file");
	close(ino);
	dac_read_search(0);

	int mfd = memfd_create("leak01", MFD_CLOEXEC);

	CHECK(mfd >= 0 && ftruncate(mfd, 4096) == 0, "memfd: %s", strerror(errno));
	char self[64];

	snprintf(self, sizeof(self), "/proc/self/fd/%d", mfd);
	int pfd = open(self, O_PATH | O_CLOEXEC);

	CHECK(pfd >= 0, "O_PATH open of a memfd: %s", strerror(errno));
	refuse_fd("O_PATH descriptor of a memfd", pfd, "an O_PATH descriptor of a memfd");
	close(pfd);
	close(mfd);

	CHECK(mkdir("removed.d", 0700) == 0, "mkdir: %s", strerror(errno));
	int rd = open("removed.d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	CHECK(rd >= 0 && rmdir("removed.d") == 0, "removed.d: %s", strerror(errno));
	refuse_fd("removed directory", rd, "a removed directory");
	close(rd);

	int wl = open("wlocked.dat", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0,
			    .l_len = 1 };

	CHECK(wl >= 0 && unlink("wlocked.dat") == 0 && fcntl(wl, F_SETLK, &fl) == 0,
	      "wlocked.dat: %s", strerror(errno));
	refuse_fd("write-only unlinked file with a POSIX lock", wl,
		  "open for writing only, with a POSIX lock on it: reading it would drop the lock");
	close(wl);

	int lf = open("leased.dat", O_RDONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	CHECK(lf >= 0, "leased.dat: %s", strerror(errno));
	if (fcntl(lf, F_SETLEASE, F_RDLCK) == 0) {
		refuse_fd("lease", lf, "holds a lease (F_SETLEASE)");
		CHECK(fcntl(lf, F_SETLEASE, F_UNLCK) == 0, "F_SETLEASE F_UNLCK");
	} else {
		test_log("lease: F_SETLEASE fails here (%s): not checked", strerror(errno));
	}
	close(lf);

	/* Pseudo-terminals: a pair with something queued, or half of one. */
	int ptm = posix_openpt(O_RDWR | O_NOCTTY);

	CHECK(ptm >= 0 && grantpt(ptm) == 0 && unlockpt(ptm) == 0, "posix_openpt: %s",
	      strerror(errno));
	refuse_fd("pseudo-terminal master alone", ptm, "is not open in this process");
	int pts = open(ptsname(ptm), O_RDWR | O_NOCTTY);
	struct termios tio;

	CHECK(pts >= 0 && tcgetattr(pts, &tio) == 0, "pts: %s", strerror(errno));
	CHECK(write(pts, "out", 3) == 3, "write to the slave");
	refuse_fd("pseudo-terminal, output not read", ptm, "3 bytes not yet read");
	char buf[16];

	CHECK(read(ptm, buf, sizeof(buf)) == 3, "read the master");
	tio.c_lflag &= ~(tcflag_t)ECHO;
	CHECK(tcsetattr(pts, TCSANOW, &tio) == 0, "tcsetattr");
	CHECK(write(ptm, "typed\n", 6) == 6, "write to the master");
	refuse_fd("pseudo-terminal, input not read", pts, "input not yet read (6 bytes)");
	CHECK(read(pts, buf, sizeof(buf)) == 6, "read the slave");
	int one = 1;

	CHECK(ioctl(ptm, TIOCPKT, &one) == 0 && tcflush(pts, TCIFLUSH) == 0, "packet mode");
	refuse_fd("pseudo-terminal, packet status", ptm, "status change not yet read");
	CHECK(read(ptm, buf, sizeof(buf)) == 1, "read the packet status");
	close(ptm);
	refuse_fd("pseudo-terminal slave alone", pts, "master is not in this process");
	close(pts);

	sysv_leaks();

	int pf = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	CHECK(pf >= 0, "open /proc/self/status: %s", strerror(errno));
	refuse_fd("own /proc file", pf, "/proc");
	close(pf);
	pf = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(pf >= 0, "open /proc/self/fd: %s", strerror(errno));
	refuse_fd("own /proc directory", pf, "/proc");
	close(pf);

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

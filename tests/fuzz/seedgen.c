/*
 * seedgen - a small statically linked program that checkpoints itself, to
 * make the fuzzer's seed images (tests/fuzz/mkcorpus.sh). Static, with
 * little memory, so that an image is tens of KiB and most of its bytes are
 * records rather than page data.
 *
 *   seedgen IMAGE plain|threads|files|objects|timers|scm|sysv [IMAGE2]
 *
 * plain    nothing but what any process has;
 * threads  three threads with names, the checkpoint called from one that
 *          is not the main thread, the others blocked;
 * files    descriptors (a file at an offset, O_APPEND, a dup, a directory,
 *          /dev/null, close-on-exec, a pipe with bytes queued and a dup of
 *          its write end, a FIFO, a semaphore eventfd) and mappings of every kind the
 *          format has (private and shared file, memfd, shared anonymous,
 *          deleted file, PROT_NONE, guard pages, a named region), signal
 *          handlers, a blocked signal, an alternate stack, an rlimit.
 * objects  unlinked files and memfds held by descriptors (their data in
 *          the page data, seals, a mapped one), file locks of the three
 *          kinds (LOCK records), and a socket a lenient checkpoint
 *          records as /dev/null (a NOTE record, header flag LENIENT).
 * timers   POSIX timers (signal to the process and to the thread, none,
 *          CPU time, armed and not), an itimer, and signals pending with
 *          their siginfo (standard and real-time, process and thread).
 * scm      descriptors in flight (SCM records): a stream pair whose queue
 *          holds bytes, then bytes with a file at an offset (only in
 *          flight) and a pipe's read end (its write end at an fd); a
 *          datagram pair with an eventfd, a memfd, and a message with the
 *          same file twice, also open at an fd.
 * sysv     System V IPC: a keyed segment attached twice (once read-only)
 *          and split by mprotect, a private one detached, one removed
 *          while attached; a semaphore set; a queue with messages. A
 *          static program has no interposed semget/msgget: it notes its
 *          set and queue itself (res-sysv.c's registry). Everything is
 *          removed once the image is written.
 *
 * With IMAGE2, the restarted process checkpoints again into IMAGE2 (an
 * image of generation 1, with the header's restart flags set).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/file.h>
#include <stdint.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "selfckpt.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

static const char *image, *image2;

static void die(const char *what)
{
	fprintf(stderr, "seedgen: %s: %s (%s)\n", what, strerror(errno),
		selfckpt_last_error() ? selfckpt_last_error() : "");
	_exit(1);
}

static unsigned ckpt_flags = SELFCKPT_NO_SYNC;

static int sysv_ids[5] = { -1, -1, -1, -1, -1 };

static void sysv_remove(void)
{
	for (int i = 0; i < 3; i++)
		if (sysv_ids[i] >= 0)
			shmctl(sysv_ids[i], IPC_RMID, NULL);
	if (sysv_ids[3] >= 0)
		semctl(sysv_ids[3], 0, IPC_RMID);
	if (sysv_ids[4] >= 0)
		msgctl(sysv_ids[4], IPC_RMID, NULL);
}

static void checkpoint(void)
{
	for (;;) {
		long r = selfckpt_checkpoint(image, ckpt_flags);

		if (r < 0) {
			sysv_remove();
			die("checkpoint");
		}
		if (r > 0)
			sysv_remove();
		if (r > 0 || !image2)
			_exit(0);
		/* Restarted, with another image to write. */
		image = image2;
		image2 = NULL;
	}
}

static void on_usr1(int sig)
{
	(void)sig;
}

static void *blocked(void *arg)
{
	pthread_barrier_t *b = arg;

	pthread_setname_np(pthread_self(), "seed-waiter");
	pthread_barrier_wait(b);
	for (;;)
		pause();
	return NULL;
}

static void *caller(void *arg)
{
	pthread_barrier_t *b = arg;

	pthread_setname_np(pthread_self(), "seed-caller");
	pthread_barrier_wait(b);
	checkpoint();
	return NULL;
}

static void threads(void)
{
	static pthread_barrier_t b;
	pthread_t t1, t2;

	pthread_barrier_init(&b, NULL, 3);
	if (pthread_create(&t1, NULL, blocked, &b) ||
	    pthread_create(&t2, NULL, caller, &b))
		die("pthread_create");
	pthread_barrier_wait(&b);
	pthread_join(t2, NULL);
}

static int make_file(const char *name, size_t size)
{
	int fd = open(name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	char c = 'x';

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0 || pwrite(fd, &c, 1, 0) != 1)
		die(name);
	return fd;
}

static void files(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	int fd, a, m;
	char *p;

	/* Descriptors. */
	fd = open("data.txt", O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "hello, fuzzer\n", 14) != 14 || lseek(fd, 5, SEEK_SET) != 5)
		die("data.txt");
	if (dup(fd) < 0)
		die("dup");
	a = open("log.txt", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (a < 0 || write(a, "x\n", 2) != 2)
		die("log.txt");
	if (open(".", O_RDONLY | O_DIRECTORY) < 0 || open("/dev/null", O_RDWR) < 0)
		die("open");

	/* Kernel objects: a pipe holding bytes, a FIFO, an eventfd. */
	int pp[2], ff;

	if (pipe(pp) < 0 || write(pp[1], "in a pipe", 9) != 9 || dup(pp[1]) < 0)
		die("pipe");
	if (mkfifo("fifo", 0600) < 0 || (ff = open("fifo", O_RDWR)) < 0 ||
	    write(ff, "fifo", 4) != 4)
		die("fifo");
	if (eventfd(42, EFD_SEMAPHORE) < 0)
		die("eventfd");

	/* Mappings. */
	m = make_file("priv.dat", 2 * (size_t)pg);
	p = mmap(NULL, 2 * (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, m, 0);
	if (p == MAP_FAILED)
		die("mmap private");
	p[0] = 'P';
	p = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
	if (p == MAP_FAILED)
		die("mmap shared");
	p[1] = 'S';
	close(m);
	m = memfd_create("seed-memfd", MFD_CLOEXEC);
	if (m < 0 || ftruncate(m, pg) < 0)
		die("memfd");
	p = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
	if (p == MAP_FAILED)
		die("mmap memfd");
	p[0] = 'M';
	close(m);
	p = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap shared anonymous");
	p[0] = 'A';
	m = make_file("gone.dat", (size_t)pg);
	p = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
	if (p == MAP_FAILED || unlink("gone.dat"))
		die("mmap deleted");
	p[2] = 'D';
	close(m);
	if (mmap(NULL, (size_t)pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
		die("mmap PROT_NONE");
	p = mmap(NULL, 4 * (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap anonymous");
	p[0] = 1;
	p[3 * pg] = 2;
	(void)madvise(p + pg, (size_t)pg, MADV_GUARD_INSTALL);	/* newer kernels */
	(void)prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)p, 4 * (unsigned long)pg,
		    (unsigned long)"seed-named");

	/* Signals and limits. */
	struct sigaction sa;
	stack_t ss = { .ss_sp = malloc(1 << 16), .ss_size = 1 << 16 };
	sigset_t set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART | SA_ONSTACK;
	sigaddset(&sa.sa_mask, SIGUSR2);
	if (sigaction(SIGUSR1, &sa, NULL) || signal(SIGPIPE, SIG_IGN) == SIG_ERR ||
	    sigaltstack(&ss, NULL))
		die("signals");
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	struct rlimit rl = { 0, RLIM_INFINITY };

	setrlimit(RLIMIT_CORE, &rl);
	umask(027);
}

static void objects(void)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 10,
			    .l_len = 20 };
	int u, m, f, g;
	char *p;

	u = make_file("unlinked.dat", 3 * 4096 + 100);
	if (pwrite(u, "in the middle", 13, 8192) != 13 || unlink("unlinked.dat") ||
	    lseek(u, 7, SEEK_SET) != 7 || dup(u) < 0 || fcntl(u, F_SETLK, &fl))
		die("unlinked.dat");
	m = memfd_create("seed-sealed", MFD_ALLOW_SEALING);
	if (m < 0 || ftruncate(m, 8192) < 0 || pwrite(m, "sealed", 6, 4096) != 6)
		die("memfd");
	if (fcntl(m, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK))
		die("sealed memfd");
	p = mmap(NULL, 8192, PROT_READ, MAP_SHARED, m, 0);
	if (p == MAP_FAILED)
		die("mmap sealed memfd");
	f = make_file("locked.dat", 100);
	fl.l_start = 0;
	fl.l_len = 0;
	fl.l_type = F_RDLCK;
	if (fcntl(f, F_SETLK, &fl) || flock(make_file("flocked.dat", 1), LOCK_EX))
		die("locks");
	fl.l_type = F_WRLCK;
	fl.l_len = 5;
	g = make_file("ofd.dat", 10);
	if (fcntl(g, F_OFD_SETLK, &fl))
		die("OFD lock");
	if (socket(AF_UNIX, SOCK_DGRAM, 0) < 0)
		die("socket");
	ckpt_flags |= SELFCKPT_LENIENT;
}

static void send_fds(int s, const char *data, const int *fds, int n)
{
	char c[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = { (void *)data, strlen(data) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c,
			    .msg_controllen = CMSG_SPACE(n * sizeof(int)) };
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);

	memset(c, 0, sizeof(c));
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(h), fds, n * sizeof(int));
	if (sendmsg(s, &m, 0) != (ssize_t)strlen(data))
		die("sendmsg");
}

static void scm(void)
{
	int st[2], dg[2], p[2], fds[2], e, m, f;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, st) || socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) ||
	    pipe(p) || write(p[1], "piped", 5) != 5)
		die("socketpair");
	fds[0] = make_file("flight.dat", 64);
	fds[1] = p[0];
	if (lseek(fds[0], 9, SEEK_SET) != 9 || write(st[0], "ahead", 5) != 5)
		die("flight.dat");
	send_fds(st[0], "with", fds, 2);
	close(fds[0]);
	close(p[0]);
	e = eventfd(3, 0);
	m = memfd_create("seed-flight", 0);
	if (e < 0 || m < 0 || write(m, "in flight", 9) != 9)
		die("eventfd");
	send_fds(dg[0], "e", &e, 1);
	send_fds(dg[0], "", &m, 1);
	close(e);
	close(m);
	f = make_file("shared.dat", 8);
	fds[0] = fds[1] = f;
	send_fds(dg[0], "twice", fds, 2);
}

static void timers(void)
{
	struct sigevent sev;
	struct itimerspec its = { { 0, 500000000 }, { 100, 0 } };
	struct itimerval it = { { 5, 0 }, { 1000, 0 } };
	union sigval v = { .sival_int = 7 };
	sigset_t set;
	timer_t t;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGRTMIN + 1);
	sigaddset(&set, SIGRTMIN + 2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGRTMIN + 1;
	sev.sigev_value.sival_int = 42;
	if (timer_create(CLOCK_MONOTONIC, &sev, &t) || timer_settime(t, 0, &its, NULL))
		die("timer_create");
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
	if (timer_create(CLOCK_BOOTTIME, &sev, &t))
		die("timer_create");
	sev.sigev_notify = SIGEV_NONE;
	if (timer_create(CLOCK_PROCESS_CPUTIME_ID, &sev, &t) ||
	    timer_settime(t, 0, &its, NULL) || setitimer(ITIMER_REAL, &it, NULL))
		die("timer_create");
	if (kill(getpid(), SIGUSR1) || sigqueue(getpid(), SIGRTMIN + 2, v) ||
	    sigqueue(getpid(), SIGRTMIN + 2, v) || raise(SIGRTMIN + 1))
		die("signals");
}

/* Internal to the library (res-sysv.c); a static link reaches it. */
void selfckpt__sysv_note(uint32_t kind, int32_t id, uint32_t what);

static void sysv(void)
{
	struct {
		long type;
		char text[64];
	} m = { 0, "" };
	unsigned short vals[3] = { 1, 2, 300 };
	key_t key = (key_t)(0x5eed0000 | (getpid() & 0xffff));
	char *p;

	sysv_ids[0] = shmget(key, 3 * 4096, IPC_CREAT | IPC_EXCL | 0640);
	sysv_ids[1] = shmget(IPC_PRIVATE, 100, IPC_CREAT | 0600);
	sysv_ids[2] = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	if (sysv_ids[0] < 0 || sysv_ids[1] < 0 || sysv_ids[2] < 0)
		die("shmget");
	p = shmat(sysv_ids[0], NULL, 0);
	if (p == (void *)-1 || shmat(sysv_ids[0], NULL, SHM_RDONLY) == (void *)-1 ||
	    mprotect(p + 4096, 4096, PROT_READ))
		die("shmat");
	memcpy(p, "segment", 7);
	p = shmat(sysv_ids[2], NULL, 0);
	if (p == (void *)-1 || shmctl(sysv_ids[2], IPC_RMID, NULL))
		die("shmat");
	sysv_ids[2] = -1;
	sysv_ids[3] = semget(IPC_PRIVATE, 3, IPC_CREAT | 0600);
	sysv_ids[4] = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	if (sysv_ids[3] < 0 || sysv_ids[4] < 0 || semctl(sysv_ids[3], 0, SETALL, vals))
		die("semget");
	selfckpt__sysv_note(2, sysv_ids[3], 1);
	selfckpt__sysv_note(3, sysv_ids[4], 1);
	for (int i = 0; i < 3; i++) {
		m.type = i + 1;
		snprintf(m.text, sizeof(m.text), "message %d", i);
		if (msgsnd(sysv_ids[4], &m, strlen(m.text) + (size_t)i * 8, 0))
			die("msgsnd");
	}
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: seedgen IMAGE plain|threads|files|objects|timers|scm|sysv [IMAGE2]\n");
		return 2;
	}
	image = argv[1];
	image2 = argc > 3 ? argv[3] : NULL;
	if (!strcmp(argv[2], "threads")) {
		threads();
	} else {
		if (!strcmp(argv[2], "files"))
			files();
		else if (!strcmp(argv[2], "objects"))
			objects();
		else if (!strcmp(argv[2], "timers"))
			timers();
		else if (!strcmp(argv[2], "scm"))
			scm();
		else if (!strcmp(argv[2], "sysv"))
			sysv();
		else if (strcmp(argv[2], "plain"))
			return 2;
		checkpoint();
	}
	return 1;
}

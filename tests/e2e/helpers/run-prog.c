/*
 * run-prog - the unmodified program tests/e2e/run01.sh runs under
 * `selfckpt run` (built without the library: the preload brings it).
 *
 *   run-prog MODE GODIR [ARGS...]
 *
 * What it writes on fd 1 depends only on MODE and ARGS (write(2), no stdio
 * buffers), so that the output of a run that was checkpointed, killed and
 * restarted can be compared with an uninterrupted run. It waits at "gates"
 * for files GODIR/NAME that the script creates: the script knows where the
 * program is, and the program is still alive when the script kills it.
 *
 *   count STEPS STATUS  STEPS steps of work, a line each; gate go; exit STATUS
 *   hold                a TCP connection (to itself) at gate go1, one end of
 *                       a pipe at go2, nothing at go3, then some work
 *   sig62               its own sigaction handler for SIGRTMAX-2 (the
 *                       library's signal), run by raise, kill and sigqueue;
 *                       gate go; raise again
 *   exec1               execve of itself with an environment of its own
 *                       (exec2; gate go2), which execle's itself with
 *                       another (exec3: steps; gate go3; exit 5)
 *   fork                a forked child (gate go-a, exit 3) and a spawned one
 *                       (run-prog child: gate go-b, exit 4); their pids go to
 *                       GODIR/children, their statuses to GODIR/statuses;
 *                       then steps; gate go-end
 *   threads ROUNDS      3 threads computing ROUNDS rounds, 2 in a condition
 *                       wait until gate go
 *
 * Errors: a message on stderr, status 121.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
static const char *godir, *self;

static void out(const char *fmt, ...)
{
	char b[512];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	if (write(1, b, (size_t)n) != n)
		_exit(120);
}

static void fail(const char *what)
{
	char b[256];
	int n = snprintf(b, sizeof(b), "run-prog: %s: %s\n", what, strerror(errno));

	if (write(2, b, (size_t)n) < 0)
		_exit(121);
	_exit(121);
}

/* Wait until GODIR/name exists. */
static void gate(const char *name)
{
	char p[4096];
	struct timespec ts = { 0, 5000000 };

	snprintf(p, sizeof(p), "%s/%s", godir, name);
	while (access(p, F_OK) != 0)
		nanosleep(&ts, NULL);
}

/* GODIR/name := text, atomically: what the script needs, not on stdout. */
static void note(const char *name, const char *fmt, ...)
{
	char p[4096], t[4200], b[512];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	snprintf(p, sizeof(p), "%s/%s", godir, name);
	snprintf(t, sizeof(t), "%s.tmp", p);
	int fd = open(t, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, b, (size_t)n) != n || close(fd) || rename(t, p))
		fail("note");
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	h *= 0xff51afd7ed558ccdULL;
	return h ^ (h >> 33);
}

static uint64_t work(uint64_t h, long n)
{
	for (long i = 0; i < n; i++)
		h = mix(h, (uint64_t)i);
	return h;
}

/* n steps of work, a line each, then the gate gname (if any). */
static uint64_t steps(const char *tag, long n, const char *gname)
{
	uint64_t h = 1;

	for (long i = 0; i < n; i++) {
		h = work(h, 2000000);
		out("%s %ld %016llx\n", tag, i, (unsigned long long)h);
	}
	if (gname)
		gate(gname);
	return h;
}

/* count STEPS STATUS */
static int m_count(char **a)
{
	long n = atol(a[0]);
	int status = atoi(a[1]);

	out("count: start\n");
	uint64_t h = steps("step", n, "go");

	out("done %016llx status %d\n", (unsigned long long)h, status);
	return status;
}

/* hold: a TCP connection at gate 1, a pipe at gate 2, nothing at gate 3. */
static int m_hold(char **a)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int p[2];

	(void)a;
	out("hold: start\n");
	/* A connection of the process to itself: a TCP one is still refused. */
	int l = socket(AF_INET, SOCK_STREAM, 0), s = socket(AF_INET, SOCK_STREAM, 0);

	if (l < 0 || s < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&sa, &len) ||
	    connect(s, (struct sockaddr *)&sa, sizeof(sa)))
		fail("TCP connection");
	int acc = accept(l, NULL, NULL);

	if (acc < 0)
		fail("accept");
	close(l);
	out("holding a socket on fd %d\n", s);
	gate("go1");
	close(s);
	close(acc);
	/* The read end alone: the writer could be anywhere. */
	if (pipe(p))
		fail("pipe");
	close(p[1]);
	out("holding a pipe on fd %d\n", p[0]);
	gate("go2");
	close(p[0]);
	out("holding nothing\n");
	gate("go3");
	uint64_t h = steps("after", 20, NULL);

	out("done %016llx\n", (unsigned long long)h);
	return 0;
}

/* sig62: the program's own handler for the library's signal. */
static volatile sig_atomic_t hits, lastval, lastcode;

static void on62(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (sig != SIGRTMAX - 2)
		_exit(122);
	hits++;
	lastcode = si->si_code;
	lastval = si->si_code == SI_QUEUE ? si->si_value.sival_int : -1;
}

static int m_sig62(char **a)
{
	struct sigaction sa = { 0 }, old = { 0 };

	(void)a;
	sa.sa_sigaction = on62;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	out("sig62: signal %d\n", SIGRTMAX - 2);
	if (sigaction(SIGRTMAX - 2, &sa, NULL))
		fail("sigaction");
	if (sigaction(62, NULL, &old))
		fail("sigaction (read)");
	out("sigaction reads back the program's handler: %s\n",
	    old.sa_sigaction == on62 ? "yes" : "no");
	raise(62);
	out("raise: handler ran %d time(s), si_code %d\n", (int)hits, (int)lastcode);
	kill(getpid(), 62);
	out("kill: handler ran %d time(s), si_code %d\n", (int)hits, (int)lastcode);
	union sigval v = { .sival_int = 1234 };

	sigqueue(getpid(), 62, v);
	out("sigqueue: handler ran %d time(s), value %d\n", (int)hits, (int)lastval);
	gate("go");
	raise(62);
	out("after the gate: handler ran %d time(s)\n", (int)hits);
	uint64_t h = steps("after", 20, NULL);

	out("done %016llx\n", (unsigned long long)h);
	return 0;
}

/* exec1 -> execve(explicit env) -> exec2 -> gate -> execle(explicit env) -> exec3 */
static int m_exec(const char *stage)
{
	if (!strcmp(stage, "exec1")) {
		char *argv[] = { (char *)self, "exec2", (char *)godir, NULL };
		char *envp[] = { "RUN01_STAGE=2", "PATH=/usr/bin:/bin", NULL };

		out("exec: stage 1\n");
		execve(self, argv, envp);
		fail("execve");
	}
	if (!strcmp(stage, "exec2")) {
		char *envp[] = { "RUN01_STAGE=3", NULL };

		out("exec: stage 2, RUN01_STAGE=%s\n", getenv("RUN01_STAGE"));
		gate("go2");
		execle(self, self, "exec3", godir, (char *)NULL, envp);
		fail("execle");
	}
	out("exec: stage 3, RUN01_STAGE=%s\n", getenv("RUN01_STAGE"));
	uint64_t h = steps("step", 60, "go3");

	out("done %016llx status 5\n", (unsigned long long)h);
	return 5;
}

static const char *how(int st, char *b, size_t n)
{
	if (WIFEXITED(st))
		snprintf(b, n, "exit %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(b, n, "signal %d", WTERMSIG(st));
	else
		snprintf(b, n, "status %#x", st);
	return b;
}

/* fork: a forked child (a) and a spawned one (b) that wait for gates. */
static int m_fork(char **a)
{
	int sa, sb;
	char ba[32], bb[32];

	(void)a;
	out("fork: start\n");
	pid_t ca = fork();

	if (ca < 0)
		fail("fork");
	if (ca == 0) {
		gate("go-a");
		_exit(3);
	}
	pid_t cb;
	char *argv[] = { (char *)self, "child", (char *)godir, NULL };
	int e = posix_spawn(&cb, self, NULL, NULL, argv, environ);

	if (e) {
		errno = e;
		fail("posix_spawn");
	}
	note("children", "%d %d\n", (int)ca, (int)cb);
	out("fork: children started\n");
	if (waitpid(ca, &sa, 0) != ca || waitpid(cb, &sb, 0) != cb)
		fail("waitpid");
	note("statuses", "a %s, b %s\n", how(sa, ba, sizeof(ba)), how(sb, bb, sizeof(bb)));
	out("fork: children reaped\n");
	uint64_t h = steps("step", 20, "go-end");

	out("done %016llx\n", (unsigned long long)h);
	return 0;
}

/* threads: busy threads computing, waiters in a condition wait. */
#define NB 3
#define NW 2
static uint64_t busy_res[NB], wait_res[NW];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER, cv_in = PTHREAD_COND_INITIALIZER;
static int released, waiting;
static long rounds;

static void *busy(void *arg)
{
	long i = (long)arg;
	uint64_t h = (uint64_t)i + 1;

	for (long k = 0; k < rounds; k++)
		h = work(h, 1000000);
	busy_res[i] = h;
	return NULL;
}

static void *waiter(void *arg)
{
	long i = (long)arg;

	pthread_mutex_lock(&mu);
	waiting++;
	pthread_cond_signal(&cv_in);
	while (!released)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	wait_res[i] = work((uint64_t)i + 100, 3000000);
	return NULL;
}

static int m_threads(char **a)
{
	pthread_t tb[NB], tw[NW];

	rounds = atol(a[0]);
	for (long i = 0; i < NW; i++)
		if (pthread_create(&tw[i], NULL, waiter, (void *)i))
			fail("pthread_create");
	pthread_mutex_lock(&mu);
	while (waiting < NW)
		pthread_cond_wait(&cv_in, &mu);
	pthread_mutex_unlock(&mu);
	for (long i = 0; i < NB; i++)
		if (pthread_create(&tb[i], NULL, busy, (void *)i))
			fail("pthread_create");
	out("threads: %d busy, %d waiting\n", NB, NW);
	for (int i = 0; i < NB; i++) {
		pthread_join(tb[i], NULL);
		out("busy %d %016llx\n", i, (unsigned long long)busy_res[i]);
	}
	gate("go");
	pthread_mutex_lock(&mu);
	released = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < NW; i++) {
		pthread_join(tw[i], NULL);
		out("waiter %d %016llx\n", i, (unsigned long long)wait_res[i]);
	}
	out("threads: done\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fputs("usage: run-prog MODE GODIR [ARGS...]\n", stderr);
		return 2;
	}
	self = argv[0];
	godir = argv[2];
	const char *m = argv[1];

	if (!strcmp(m, "count") && argc == 5)
		return m_count(argv + 3);
	if (!strcmp(m, "hold"))
		return m_hold(argv + 3);
	if (!strcmp(m, "sig62"))
		return m_sig62(argv + 3);
	if (!strncmp(m, "exec", 4))
		return m_exec(m);
	if (!strcmp(m, "fork"))
		return m_fork(argv + 3);
	if (!strcmp(m, "child")) {
		gate("go-b");
		return 4;
	}
	if (!strcmp(m, "threads") && argc == 4)
		return m_threads(argv + 3);
	fputs("run-prog: unknown mode or wrong arguments\n", stderr);
	return 2;
}

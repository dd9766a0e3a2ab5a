/*
 * stream02 - selfckpt_checkpoint_fd() at the edges of a pipe:
 *
 *   - into a non-blocking FIFO (O_NONBLOCK, much smaller than the image):
 *     the writer waits for room instead of failing with EAGAIN, the copy
 *     made by a reader that is not our child restarts, and the descriptor
 *     is closed in the restarted process while keeping O_NONBLOCK in the
 *     original;
 *   - into a FIFO whose reader goes away after the first bytes, with
 *     SIGPIPE at its default disposition: the call fails with -1 and errno
 *     EPIPE, a message, no id consumed, and the process goes on unharmed
 *     (it is not killed by the SIGPIPE the write raised, and no SIGPIPE is
 *     left pending), as include/selfckpt.h promises.
 */
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "zdtm.h"

#define MEM_WORDS (1 << 19)

static uint64_t word(size_t i)
{
	return i * 0xC2B2AE3D27D4EB4FULL + 17;
}

/* Copy the FIFO to tmp (at most limit bytes), rename tmp to dst. */
static void reader(const char *fifo, const char *tmp, const char *dst, size_t limit)
{
	char buf[4096];
	size_t total = 0;
	ssize_t n;
	int in = open(fifo, O_RDONLY);
	int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (in < 0 || out < 0)
		_exit(1);
	while (total < limit && (n = read(in, buf, sizeof(buf))) > 0) {
		if (write(out, buf, (size_t)n) != n)
			_exit(1);
		total += (size_t)n;
	}
	close(in);		/* early, when limited: the writer gets EPIPE */
	if (close(out) || rename(tmp, dst))
		_exit(1);
	_exit(0);
}

/* A reader that is not our child: double fork, reap the middle one. */
static void start_reader(const char *fifo, const char *tmp, const char *dst,
			 size_t limit)
{
	int st;
	pid_t pid = fork();

	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		pid_t g = fork();

		if (g == 0)
			reader(fifo, tmp, dst, limit);
		_exit(g < 0);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && !WEXITSTATUS(st),
	      "the intermediate child failed");
}

static void wait_for(const char *path)
{
	struct timespec t0, t, ts = { 0, 5 * 1000 * 1000 };
	struct stat st;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (stat(path, &st) != 0) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		CHECK(t.tv_sec - t0.tv_sec < 30, "the reader did not finish %s", path);
		nanosleep(&ts, NULL);
	}
}

static void announce(long id)
{
	char tmp[4096], line[32];
	const char *ready = getenv("SCK_READY");

	if (!ready || !*ready) {
		test_log("checkpoint %ld streamed (no runner: exiting)", id);
		_exit(0);
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", ready);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int n = snprintf(line, sizeof(line), "%ld\n", id);

	if (fd < 0 || write(fd, line, (size_t)n) != n || close(fd) || rename(tmp, ready))
		fail("cannot tell the runner: %s", strerror(errno));
	for (;;)
		pause();
}

/* Open the FIFO for writing without blocking, once the reader is there. */
static int open_nonblocking(const char *fifo)
{
	struct timespec ts = { 0, 2 * 1000 * 1000 };

	for (int i = 0; i < 10000; i++) {
		int fd = open(fifo, O_WRONLY | O_NONBLOCK);

		if (fd >= 0)
			return fd;
		CHECK(errno == ENXIO, "open %s: %s", fifo, strerror(errno));
		nanosleep(&ts, NULL);
	}
	fail("no reader on %s", fifo);
}

int main(void)
{
	const char *image = test_image();
	char tmp[4096], cut[4096];
	uint64_t *mem = malloc(MEM_WORDS * sizeof(*mem));

	CHECK(mem, "malloc");
	for (size_t i = 0; i < MEM_WORDS; i++)
		mem[i] = word(i);
	CHECK(signal(SIGPIPE, SIG_DFL) != SIG_ERR, "signal");

	/* A non-blocking FIFO. */
	CHECK(mkfifo("nb.fifo", 0600) == 0, "mkfifo: %s", strerror(errno));
	snprintf(tmp, sizeof(tmp), "%s.part", image);
	start_reader("nb.fifo", tmp, image, SIZE_MAX);
	int wfd = open_nonblocking("nb.fifo");
	long id = selfckpt_checkpoint_fd(wfd, SELFCKPT_NO_SYNC);

	if (id > 0) {
		CHECK(fcntl(wfd, F_GETFL) & O_NONBLOCK, "the fd lost O_NONBLOCK");
		CHECK(close(wfd) == 0, "close: %s", strerror(errno));
		wait_for(image);
		announce(id);
	}
	CHECK(id == 0, "checkpoint_fd into a non-blocking FIFO: %s: %s",
	      strerror(errno), selfckpt_last_error());
	CHECK(fcntl(wfd, F_GETFD) == -1 && errno == EBADF,
	      "the streaming fd %d is open after the restart", wfd);
	for (size_t i = 0; i < MEM_WORDS; i++)
		CHECK(mem[i] == word(i), "memory word %zu", i);

	/* A reader that leaves after 64 KiB. */
	CHECK(mkfifo("cut.fifo", 0600) == 0, "mkfifo: %s", strerror(errno));
	snprintf(cut, sizeof(cut), "cut.img");
	start_reader("cut.fifo", "cut.part", cut, 64 << 10);
	wfd = open("cut.fifo", O_WRONLY);
	CHECK(wfd >= 0, "open cut.fifo: %s", strerror(errno));
	errno = 0;
	id = selfckpt_checkpoint_fd(wfd, SELFCKPT_NO_SYNC);
	int err = errno;

	/* Still alive here: the SIGPIPE did not kill the process. */
	CHECK(id == -1 && err == EPIPE, "checkpoint_fd to a vanished reader: %ld, errno %d (%s)",
	      id, err, strerror(err));
	CHECK(*selfckpt_last_error(), "no message for EPIPE");
	test_log("vanished reader: \"%s\"", selfckpt_last_error());
	sigset_t pending;

	CHECK(sigpending(&pending) == 0 && !sigismember(&pending, SIGPIPE),
	      "a SIGPIPE is left pending");
	CHECK(selfckpt_last_id() == 1, "last id %ld after the failure", selfckpt_last_id());
	close(wfd);
	wait_for(cut);
	for (size_t i = 0; i < MEM_WORDS; i++)
		CHECK(mem[i] == word(i), "memory word %zu after EPIPE", i);
	pass();
}

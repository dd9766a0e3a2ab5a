/*
 * stream01 - selfckpt_checkpoint_fd() streams an image into a pipe:
 *
 *   - the image goes through a FIFO to a reader that is not our child (a
 *     double fork re-parents it), which copies it to SCK_IMAGE; the runner
 *     restarts that copy, so the streamed image must be complete and good;
 *   - in the restarted process the descriptor given to checkpoint_fd is
 *     closed (F_GETFD fails with EBADF), the others are there, memory and
 *     ids are intact;
 *   - checkpoint_fd(-1) and checkpoint_fd on a read-only descriptor fail
 *     with EBADF, and an unknown flag with EINVAL, without writing anything.
 */
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "zdtm.h"

#define MEM_WORDS (3 << 17)

static uint64_t word(size_t i)
{
	return i * 0xD6E8FEB86659FD93ULL + 0x5bd1e995;
}

/* The reader: FIFO to tmp, then rename tmp to the image. Never returns. */
static void reader(const char *fifo, const char *tmp, const char *image)
{
	char buf[1 << 16];
	ssize_t n;
	int in = open(fifo, O_RDONLY);
	int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (in < 0 || out < 0)
		_exit(1);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			_exit(1);
	if (n < 0 || close(out) || rename(tmp, image))
		_exit(1);
	_exit(0);
}

/* Start the reader as a grandchild, and reap the child in between. */
static void start_reader(const char *fifo, const char *tmp, const char *image)
{
	int st;
	pid_t pid = fork();

	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		pid_t g = fork();

		if (g == 0)
			reader(fifo, tmp, image);
		_exit(g < 0);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && !WEXITSTATUS(st),
	      "the intermediate child failed");
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* As test_checkpoint does once the image is written: tell the runner. */
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

int main(void)
{
	const char *image = test_image();
	char tmp[4096];
	struct stat st;
	uint64_t *mem = malloc(MEM_WORDS * sizeof(*mem));

	CHECK(mem, "malloc");
	for (size_t i = 0; i < MEM_WORDS; i++)
		mem[i] = word(i);

	/* The refusals first: nothing may be written, nothing changes. */
	int ro = open("/dev/null", O_RDONLY);

	CHECK(ro >= 0, "open /dev/null");
	errno = 0;
	CHECK(selfckpt_checkpoint_fd(-1, SELFCKPT_NO_SYNC) == -1 && errno == EBADF,
	      "checkpoint_fd(-1): errno %d (%s)", errno, strerror(errno));
	errno = 0;
	CHECK(selfckpt_checkpoint_fd(ro, SELFCKPT_NO_SYNC) == -1 && errno == EBADF,
	      "checkpoint_fd(read-only fd): errno %d (%s)", errno, strerror(errno));
	CHECK(*selfckpt_last_error(), "no message for a read-only fd");
	errno = 0;
	CHECK(selfckpt_checkpoint_fd(1, 0x100) == -1 && errno == EINVAL,
	      "checkpoint_fd with an unknown flag: errno %d (%s)", errno, strerror(errno));
	CHECK(selfckpt_last_id() == 0, "a refused checkpoint has id %ld",
	      selfckpt_last_id());
	close(ro);

	/* The stream: FIFO, reader, checkpoint_fd. */
	CHECK(mkfifo("stream.fifo", 0600) == 0, "mkfifo: %s", strerror(errno));
	snprintf(tmp, sizeof(tmp), "%s.part", image);
	start_reader("stream.fifo", tmp, image);
	int keep = open("keep.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);

	CHECK(keep >= 0 && write(keep, "kept", 4) == 4, "keep.txt: %s", strerror(errno));
	int wfd = open("stream.fifo", O_WRONLY);

	CHECK(wfd >= 0, "open the FIFO: %s", strerror(errno));
	test_log("streaming into fd %d", wfd);
	long id = selfckpt_checkpoint_fd(wfd, SELFCKPT_NO_SYNC);

	if (id > 0) {
		/* The original: end the stream, wait for the copy, tell the runner. */
		CHECK(close(wfd) == 0, "close the FIFO: %s", strerror(errno));
		double t0 = now();

		while (stat(image, &st) != 0) {
			struct timespec ts = { 0, 5 * 1000 * 1000 };

			CHECK(now() - t0 < 30, "the reader did not finish the image");
			nanosleep(&ts, NULL);
		}
		test_log("image streamed: %lld bytes", (long long)st.st_size);
		announce(id);
	}
	CHECK(id == 0, "checkpoint_fd: %s: %s", strerror(errno), selfckpt_last_error());

	/* Restarted. */
	CHECK(fcntl(wfd, F_GETFD) == -1 && errno == EBADF,
	      "the streaming fd %d is open after the restart", wfd);
	char buf[8] = "";

	CHECK(pread(keep, buf, 4, 0) == 4 && !memcmp(buf, "kept", 4),
	      "fd %d (keep.txt) lost", keep);
	CHECK(selfckpt_last_id() == 1 && selfckpt_generation() == 1,
	      "id %ld generation %u", selfckpt_last_id(), selfckpt_generation());
	for (size_t i = 0; i < MEM_WORDS; i++)
		CHECK(mem[i] == word(i), "memory word %zu", i);
	CHECK(stat(image, &st) == 0 && st.st_size > 0, "the image is gone");
	pass();
}

/*
 * pipes01 - pipes, FIFOs and eventfds the process holds are there after a
 * restart, at the same numbers, with what they held:
 *
 *   - a pipe with bytes queued (some already read) gives the rest, in
 *     order, and then nothing (O_NONBLOCK: EAGAIN);
 *   - a pipe enlarged with F_SETPIPE_SZ to 256 KiB, holding 200 KiB, has
 *     that size and those bytes;
 *   - a full pipe: a non-blocking write gets EAGAIN, and poll() says
 *     the read end is readable and the write end not writable;
 *   - closing the last write end gives end-of-file on the read end (no
 *     hidden copy of the write end survives in the restart machinery);
 *   - the dup() of a pipe end still shares its open file description
 *     (O_NONBLOCK set on one shows on the other), while a second open of
 *     the same end (via /proc/self/fd) does not;
 *   - standard input that was the read end of a pipe of the process's own
 *     is that pipe again, not the restart command's stdin;
 *   - a FIFO in the working directory, open read-write on one fd and
 *     read-only and write-only on two others, holds its bytes and is the
 *     same FIFO (stat) as the path;
 *   - eventfds: a counter (also above 2^32), semaphore mode (each read
 *     gives 1), O_NONBLOCK with a zero count (EAGAIN), and close-on-exec
 *     as it was;
 *   - a second generation, after consuming and adding data, again.
 */
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/stat.h>

#include "zdtm.h"

#define BIG_SIZE (256 * 1024)
#define BIG_FILL (200 * 1024)

static void put(int fd, unsigned from, unsigned n, unsigned seed)
{
	uint8_t buf[4096];

	while (n) {
		unsigned k = n < sizeof(buf) ? n : (unsigned)sizeof(buf);

		test_fill(buf, from, k, seed);
		CHECK(write(fd, buf, k) == (ssize_t)k, "write %u bytes to fd %d: %s", k, fd,
		      strerror(errno));
		from += k;
		n -= k;
	}
}

/* Read exactly n bytes that must be the pattern from byte from. */
static void get(int fd, unsigned from, unsigned n, unsigned seed, const char *what)
{
	uint8_t buf[4096];

	while (n) {
		unsigned k = n < sizeof(buf) ? n : (unsigned)sizeof(buf);
		ssize_t r = read(fd, buf, k);

		CHECK(r > 0, "%s: read fd %d: %zd (%s), %u bytes still expected", what, fd,
		      r, r < 0 ? strerror(errno) : "end of file", n);
		test_expect(buf, from, (size_t)r, seed, what);
		from += (unsigned)r;
		n -= (unsigned)r;
	}
}

static void empty_now(int fd, const char *what)
{
	uint8_t b;
	int fl = fcntl(fd, F_GETFL);

	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	ssize_t r = read(fd, &b, 1);

	CHECK(r < 0 && errno == EAGAIN, "%s: fd %d should be empty: read gave %zd (%s)",
	      what, fd, r, r < 0 ? strerror(errno) : "a byte");
	fcntl(fd, F_SETFL, fl);
}

static uint64_t ev_read(int fd, const char *what)
{
	uint64_t v = 0;

	CHECK(read(fd, &v, 8) == 8, "%s: read eventfd %d: %s", what, fd, strerror(errno));
	return v;
}

struct st {
	int a[2];		/* 3000 bytes written, 1000 read before the checkpoint */
	int big[2];		/* 256 KiB pipe holding 200 KiB */
	int full[2];		/* filled to its capacity */
	int eof[2];		/* empty; write end closed after the restart */
	int dupw, again;	/* dup(a[1]); /proc reopen of a[0] */
	int fifo_rw, fifo_r, fifo_w;
	int ev, evsem, evnb, evbig;
	unsigned full_len;
	unsigned rd, wr;	/* pipe a holds bytes [rd, wr) of its pattern */
};

static void check_gen(struct st *s, int gen)
{
	char what[64];

	snprintf(what, sizeof(what), "generation %d", gen);
	/* a: what was left in it, in order, and nothing else */
	get(s->a[0], s->rd, s->wr - s->rd, 1, "pipe a");
	s->rd = s->wr;
	empty_now(s->a[0], "pipe a");
	int cap = fcntl(s->big[1], F_GETPIPE_SZ);

	CHECK(cap == BIG_SIZE, "big pipe: size %d, expected %d", cap, BIG_SIZE);
	get(s->big[0], 0, BIG_FILL, 2, "big pipe");
	empty_now(s->big[0], "big pipe");
	put(s->big[1], 0, BIG_FILL, 2);	/* the same for the next generation */

	struct pollfd p[2] = { { s->full[0], POLLIN, 0 }, { s->full[1], POLLOUT, 0 } };

	CHECK(poll(p, 2, 0) == 1 && (p[0].revents & POLLIN) && !(p[1].revents & POLLOUT),
	      "full pipe: poll gives read %#x write %#x", p[0].revents, p[1].revents);
	uint8_t b = 0;

	CHECK(write(s->full[1], &b, 1) < 0 && errno == EAGAIN,
	      "full pipe: a non-blocking write did not get EAGAIN");

	/* Sharing: the dup shares flags with a[1], the reopen not with a[0]. */
	int fl = fcntl(s->a[1], F_GETFL);

	CHECK(!(fl & O_NONBLOCK), "a[1] is non-blocking");
	CHECK(fcntl(s->dupw, F_SETFL, O_NONBLOCK) == 0, "F_SETFL");
	CHECK(fcntl(s->a[1], F_GETFL) & O_NONBLOCK,
	      "the dup of a[1] no longer shares its open file description");
	CHECK(fcntl(s->dupw, F_SETFL, 0) == 0, "F_SETFL");
	CHECK((fcntl(s->again, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) == (O_RDONLY | O_NONBLOCK),
	      "the second open of a[0]: flags %#x", fcntl(s->again, F_GETFL));
	CHECK(!(fcntl(s->a[0], F_GETFL) & O_NONBLOCK),
	      "a[0] shares the flags of its second open");
	CHECK((fcntl(s->a[1], F_GETFD) & FD_CLOEXEC) && !(fcntl(s->dupw, F_GETFD) & FD_CLOEXEC),
	      "close-on-exec of a[1] / its dup");
	put(s->dupw, s->wr, 1000, 1);
	get(s->again, s->wr, 1000, 1, "pipe a, second open");
	s->wr += 1000;
	s->rd = s->wr;

	/* stdin: the pipe's bytes, not the restart command's input. */
	char line[64] = { 0 };
	ssize_t r = read(0, line, sizeof(line) - 1);

	CHECK(r > 0 && !strncmp(line, "stdin line ", 11) && atoi(line + 11) == gen,
	      "stdin gave %zd: '%s'", r, line);

	/* FIFO */
	struct stat a, b2;

	CHECK(stat("fifo", &a) == 0 && fstat(s->fifo_r, &b2) == 0 && a.st_ino == b2.st_ino &&
	      S_ISFIFO(b2.st_mode), "the FIFO fds are not on ./fifo");
	CHECK((fcntl(s->fifo_rw, F_GETFL) & O_ACCMODE) == O_RDWR &&
	      (fcntl(s->fifo_r, F_GETFL) & O_ACCMODE) == O_RDONLY &&
	      (fcntl(s->fifo_w, F_GETFL) & O_ACCMODE) == O_WRONLY, "FIFO access modes");
	get(s->fifo_r, 0, 5000, 3, "fifo");
	empty_now(s->fifo_rw, "fifo");
	put(s->fifo_w, 0, 5000, 3);

	/* eventfds */
	CHECK(ev_read(s->ev, what) == 12, "eventfd count");
	for (int i = 0; i < 3; i++)
		CHECK(ev_read(s->evsem, what) == 1, "semaphore eventfd read %d", i);
	uint64_t v;

	CHECK(read(s->evsem, &v, 8) < 0 && errno == EAGAIN, "semaphore eventfd not empty");
	CHECK(read(s->evnb, &v, 8) < 0 && errno == EAGAIN, "non-blocking eventfd not empty");
	CHECK(ev_read(s->evbig, what) == 0x123456789ULL, "big eventfd count");
	CHECK(!(fcntl(s->ev, F_GETFD) & FD_CLOEXEC) && (fcntl(s->evsem, F_GETFD) & FD_CLOEXEC),
	      "eventfd close-on-exec");
	/* State for the next generation. */
	v = 12;
	CHECK(write(s->ev, &v, 8) == 8, "eventfd write");
	v = 3;
	CHECK(write(s->evsem, &v, 8) == 8, "eventfd write");
	v = 0x123456789ULL;
	CHECK(write(s->evbig, &v, 8) == 8, "eventfd write");
}

int main(void)
{
	struct st s;
	int stdin_pipe[2];
	char line[32];

	CHECK(pipe2(s.a, 0) == 0 && fcntl(s.a[1], F_SETFD, FD_CLOEXEC) == 0, "pipe a");
	put(s.a[1], 0, 3000, 1);
	get(s.a[0], 0, 1000, 1, "before");
	s.rd = 1000;
	s.wr = 3000;
	s.dupw = dup(s.a[1]);
	snprintf(line, sizeof(line), "/proc/self/fd/%d", s.a[0]);
	s.again = open(line, O_RDONLY | O_NONBLOCK);
	CHECK(s.dupw >= 0 && s.again >= 0, "dup/reopen: %s", strerror(errno));

	CHECK(pipe2(s.big, O_CLOEXEC) == 0, "pipe big");
	CHECK(fcntl(s.big[1], F_SETPIPE_SZ, BIG_SIZE) == BIG_SIZE, "F_SETPIPE_SZ: %s",
	      strerror(errno));
	put(s.big[1], 0, BIG_FILL, 2);

	CHECK(pipe2(s.full, O_NONBLOCK) == 0, "pipe full");
	s.full_len = 0;
	for (;;) {
		uint8_t b[512] = { 0 };
		ssize_t r = write(s.full[1], b, sizeof(b));

		if (r < 0)
			break;
		s.full_len += (unsigned)r;
	}
	CHECK(pipe(s.eof) == 0, "pipe eof");

	CHECK(pipe(stdin_pipe) == 0 && dup2(stdin_pipe[0], 0) == 0, "stdin pipe");
	close(stdin_pipe[0]);
	for (int g = 1; g <= 2; g++) {
		int n = snprintf(line, sizeof(line), "stdin line %d", g);

		/* One write per generation: each read gets one line. */
		if (g == 1)
			CHECK(write(stdin_pipe[1], line, (size_t)n) == n, "stdin write");
	}

	unlink("fifo");
	CHECK(mkfifo("fifo", 0600) == 0, "mkfifo: %s", strerror(errno));
	s.fifo_rw = open("fifo", O_RDWR);
	s.fifo_r = open("fifo", O_RDONLY);
	s.fifo_w = open("fifo", O_WRONLY);
	CHECK(s.fifo_rw >= 0 && s.fifo_r >= 0 && s.fifo_w >= 0, "open fifo: %s",
	      strerror(errno));
	put(s.fifo_w, 0, 5000, 3);

	s.ev = eventfd(5, 0);
	s.evsem = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC);
	s.evnb = eventfd(0, EFD_NONBLOCK);
	s.evbig = eventfd(0, 0);
	CHECK(s.ev >= 0 && s.evsem >= 0 && s.evnb >= 0 && s.evbig >= 0, "eventfd: %s",
	      strerror(errno));
	uint64_t v = 7;

	CHECK(write(s.ev, &v, 8) == 8, "eventfd write");
	v = 0x123456789ULL;
	CHECK(write(s.evbig, &v, 8) == 8, "eventfd write");

	for (int gen = 1; gen <= 2; gen++) {
		test_checkpoint();
		check_gen(&s, gen);
		if (gen == 1) {
			int n = snprintf(line, sizeof(line), "stdin line %d", 2);

			CHECK(write(stdin_pipe[1], line, (size_t)n) == n, "stdin write");
		}
		/* 3000 more bytes in a, 1000 of them read, as before. */
		put(s.a[1], s.wr, 3000, 1);
		get(s.a[0], s.rd, 1000, 1, "between");
		s.wr += 3000;
		s.rd += 1000;
	}
	/* The last write end closed: end of file, nothing else holds it. */
	close(s.eof[1]);
	uint8_t b;

	CHECK(read(s.eof[0], &b, 1) == 0, "no end of file on a pipe whose write end is closed");
	pass();
}

/*
 * evloop01 - an epoll event loop over a pipe, an eventfd, a timerfd and a
 * signalfd, checkpointed in the middle of its work, goes on after the
 * restart as if nothing had happened:
 *
 *   - the loop (epoll_wait) gets every event that was pending at the
 *     checkpoint (bytes in the pipe, an eventfd count, a SIGUSR1 queued
 *     for the signalfd) and those that come after, each with the data
 *     field it was registered with (64-bit values that fill the field);
 *   - the periodic timerfd keeps its clock, interval (50 ms) and flags,
 *     has no more time left than at the checkpoint, and keeps ticking;
 *   - epoll registrations are exactly what they were (fdinfo: fd, events,
 *     data): level- and edge-triggered (the edge that was pending is
 *     reported), EPOLLONESHOT armed (reported once) and already fired
 *     (never reported for input), EPOLLEXCLUSIVE, and an epoll instance
 *     watching another one (nested), and a dup() of the epoll fd shares it;
 *   - other timerfds: an absolute CLOCK_REALTIME one with
 *     TFD_TIMER_CANCEL_ON_SET keeps its deadline (wall-clock time), a
 *     relative one-shot of an hour has no more than an hour left, a
 *     CLOCK_BOOTTIME one and a disarmed one stay what they were, and the
 *     expirations of a timer nobody read are still there to read (a count
 *     set with TFD_IOC_SET_TICKS where the kernel has it, else 1);
 *   - the signalfd keeps its mask and O_NONBLOCK; close-on-exec as it was;
 *   - a second generation, after more of the loop, again.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>

#include "zdtm.h"

#define D_PIPE 0x1111222233334444ULL
#define D_EV 0x5555666677778888ULL
#define D_TIMER 0x99990000aaaabbbbULL
#define D_SIG 0xccccddddeeeeffffULL
#define D_ONCE 0x0123456789abcdefULL
#define D_FIRED 0xfedcba9876543210ULL
#define D_EXCL 0x8000000000000001ULL
#define D_INNER 0x7fffffffffffffffULL
#define D_NESTED 0x4242424242424242ULL

#define PERIOD_NS 50000000LL
#define HOUR 3600LL
#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif

struct st {
	int p[2], ev, tf, sf, ep, ep_dup;
	int once[2], fired[2], excl, inner[2], ep2;
	int tabs, trel, tboot, toff, tticks;
	uint64_t want_ticks;
	int64_t abs_deadline;		/* CLOCK_REALTIME ns */
	uint32_t sent, got;		/* pipe sequence numbers */
	uint64_t ev_sent, ev_got;
	unsigned sigs_sent, sigs_got, ticks;
	char regs[4096];		/* the epoll fdinfo lines before */
};

static int64_t now_ns(clockid_t c)
{
	struct timespec t;

	clock_gettime(c, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int64_t ts_ns(struct timespec t)
{
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int by_fd(const void *a, const void *b)
{
	return atoi(*(char *const *)a) - atoi(*(char *const *)b);
}

/*
 * The "tfd:" lines of an epoll fd's fdinfo, without pos/ino/sdev, by fd
 * (the kernel lists them in the order of its files' addresses).
 */
static void registrations(int ep, char *out, size_t n)
{
	char path[64], buf[8192], *lines[64];
	int nl = 0;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", ep);
	int fd = open(path, O_RDONLY);
	ssize_t len = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	CHECK(len > 0, "read %s: %s", path, strerror(errno));
	close(fd);
	buf[len] = '\0';
	out[0] = '\0';
	for (char *l = strtok(buf, "\n"); l && nl < 64; l = strtok(NULL, "\n")) {
		int tfd;
		unsigned ev;
		unsigned long long data;

		if (sscanf(l, "tfd: %d events: %x data: %llx", &tfd, &ev, &data) != 3)
			continue;
		lines[nl] = malloc(64);
		CHECK(lines[nl], "malloc");
		snprintf(lines[nl++], 64, "%d:%x:%llx ", tfd, ev, data);
	}
	qsort(lines, (size_t)nl, sizeof(lines[0]), by_fd);
	for (int i = 0; i < nl; i++) {
		size_t k = strlen(out);

		snprintf(out + k, n - k, "%s", lines[i]);
		free(lines[i]);
	}
}

static void send_some(struct st *s)
{
	uint32_t seq = ++s->sent;
	uint64_t one = 1;
	union sigval v = { .sival_int = (int)s->sigs_sent };

	CHECK(write(s->p[1], &seq, 4) == 4, "pipe write: %s", strerror(errno));
	CHECK(write(s->ev, &one, 8) == 8, "eventfd write: %s", strerror(errno));
	s->ev_sent++;
	/* A standard signal does not queue: one at a time. */
	if (s->sigs_got == s->sigs_sent) {
		CHECK(sigqueue(getpid(), SIGUSR1, v) == 0, "sigqueue: %s", strerror(errno));
		s->sigs_sent++;
	}
}

/* One turn of the loop: handle what epoll_wait gives. */
static void turn(struct st *s, const char *when)
{
	struct epoll_event evs[8];
	int n = epoll_wait(s->ep, evs, 8, 5000);

	CHECK(n > 0, "%s: epoll_wait gave %d (%s): the loop stopped", when, n,
	      n < 0 ? strerror(errno) : "nothing for 5 s");
	for (int i = 0; i < n; i++) {
		uint64_t d = evs[i].data.u64, v;
		struct signalfd_siginfo si;
		uint32_t seq;

		if (d == D_PIPE) {
			while (read(s->p[0], &seq, 4) == 4)
				CHECK(seq == ++s->got, "%s: pipe gave %u, expected %u", when, seq,
				      s->got);
		} else if (d == D_EV) {
			CHECK(read(s->ev, &v, 8) == 8, "%s: eventfd read", when);
			s->ev_got += v;
			CHECK(s->ev_got == s->ev_sent, "%s: eventfd count %" PRIu64 " of %" PRIu64,
			      when, s->ev_got, s->ev_sent);
		} else if (d == D_TIMER) {
			CHECK(read(s->tf, &v, 8) == 8 && v >= 1, "%s: timerfd read", when);
			s->ticks += (unsigned)v;
			send_some(s);
		} else if (d == D_SIG) {
			CHECK(read(s->sf, &si, sizeof(si)) == sizeof(si), "%s: signalfd read",
			      when);
			/*
			 * The library re-raises a standard signal pending at the
			 * checkpoint with kill(): its value is not kept (yet).
			 */
			CHECK(si.ssi_signo == SIGUSR1 &&
			      (si.ssi_int == (int)s->sigs_got || si.ssi_code == SI_USER),
			      "%s: signalfd gave signal %u value %d, expected %d value %u", when,
			      si.ssi_signo, si.ssi_int, SIGUSR1, s->sigs_got);
			s->sigs_got++;
		} else if (d == D_ONCE) {
			uint8_t b;

			struct epoll_event re = { .events = EPOLLIN | EPOLLONESHOT,
						  .data.u64 = D_ONCE };

			CHECK(read(s->once[0], &b, 1) == 1, "%s: one-shot pipe", when);
			/* Armed again, as one-shot users do. */
			CHECK(epoll_ctl(s->ep, EPOLL_CTL_MOD, s->once[0], &re) == 0, "rearm");
		} else if (d == D_NESTED) {
			struct epoll_event in;

			CHECK(epoll_wait(s->ep2, &in, 1, 0) == 1 && in.data.u64 == D_INNER,
			      "%s: the nested epoll gave no event with its data", when);
		} else if (d == D_EXCL) {
			CHECK(read(s->excl, &v, 8) == 8, "%s: exclusive eventfd", when);
		} else {
			fail("%s: an event with data %#" PRIx64 " (events %#x)", when, d,
			     evs[i].events);
		}
	}
}

static void add(int ep, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event e = { .events = events, .data.u64 = data };

	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) == 0, "epoll_ctl add %d: %s", fd,
	      strerror(errno));
}

static void setup(struct st *s)
{
	sigset_t m;
	struct itimerspec per = { { 0, PERIOD_NS }, { 0, PERIOD_NS } };
	struct itimerspec hour = { { 0, 0 }, { HOUR, 0 } };
	uint8_t b = 1;

	memset(s, 0, sizeof(*s));
	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	CHECK(sigprocmask(SIG_BLOCK, &m, NULL) == 0, "sigprocmask");
	CHECK(pipe2(s->p, O_NONBLOCK) == 0 && pipe(s->once) == 0 && pipe(s->fired) == 0 &&
	      pipe(s->inner) == 0, "pipe: %s", strerror(errno));
	s->ev = eventfd(0, EFD_NONBLOCK);
	s->excl = eventfd(0, EFD_CLOEXEC);
	s->tf = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	s->sf = signalfd(-1, &m, SFD_NONBLOCK | SFD_CLOEXEC);
	s->ep = epoll_create1(0);
	s->ep2 = epoll_create1(EPOLL_CLOEXEC);
	CHECK(s->ev >= 0 && s->excl >= 0 && s->tf >= 0 && s->sf >= 0 && s->ep >= 0 &&
	      s->ep2 >= 0, "creating the objects: %s", strerror(errno));
	s->ep_dup = dup(s->ep);
	add(s->ep, s->p[0], EPOLLIN, D_PIPE);
	add(s->ep, s->ev, EPOLLIN | EPOLLET, D_EV);
	add(s->ep, s->tf, EPOLLIN, D_TIMER);
	add(s->ep, s->sf, EPOLLIN, D_SIG);
	add(s->ep, s->once[0], EPOLLIN | EPOLLONESHOT, D_ONCE);
	add(s->ep, s->fired[0], EPOLLIN | EPOLLONESHOT, D_FIRED);
	add(s->ep, s->excl, EPOLLIN | EPOLLEXCLUSIVE, D_EXCL);
	add(s->ep2, s->inner[0], EPOLLIN, D_INNER);
	add(s->ep, s->ep2, EPOLLIN, D_NESTED);
	/* Fire the one-shot registration: from now on it reports no input. */
	CHECK(write(s->fired[1], &b, 1) == 1, "write");
	struct epoll_event e;

	CHECK(epoll_wait(s->ep, &e, 1, 0) == 1 && e.data.u64 == D_FIRED, "the one-shot event");
	CHECK(timerfd_settime(s->tf, 0, &per, NULL) == 0, "timerfd_settime: %s", strerror(errno));

	/* Timers that only wait: absolute (wall clock), relative, boottime. */
	struct itimerspec abs = { { 0, 0 }, { 0, 0 } };

	s->abs_deadline = now_ns(CLOCK_REALTIME) + HOUR * 1000000000LL;
	abs.it_value.tv_sec = (time_t)(s->abs_deadline / 1000000000LL);
	abs.it_value.tv_nsec = (long)(s->abs_deadline % 1000000000LL);
	s->tabs = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC);
	s->trel = timerfd_create(CLOCK_MONOTONIC, 0);
	s->tboot = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK);
	s->toff = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	s->tticks = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	CHECK(s->tabs >= 0 && s->trel >= 0 && s->tboot >= 0 && s->toff >= 0 && s->tticks >= 0,
	      "timerfd_create: %s", strerror(errno));
	CHECK(timerfd_settime(s->tabs, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &abs,
			      NULL) == 0 &&
	      timerfd_settime(s->trel, 0, &hour, NULL) == 0 &&
	      timerfd_settime(s->tboot, 0, &hour, NULL) == 0, "timerfd_settime: %s",
	      strerror(errno));
	/* Expirations nobody read: a count of our own where the kernel lets us. */
	s->want_ticks = 12345;
	if (ioctl(s->tticks, TFD_IOC_SET_TICKS, &s->want_ticks) < 0) {
		struct itimerspec soon = { { 0, 0 }, { 0, 1 } };

		test_log("TFD_IOC_SET_TICKS: %s: one expiration instead", strerror(errno));
		s->want_ticks = 1;
		CHECK(timerfd_settime(s->tticks, 0, &soon, NULL) == 0, "timerfd_settime");
		while (1) {
			struct itimerspec cur;

			timerfd_gettime(s->tticks, &cur);
			if (!cur.it_value.tv_sec && !cur.it_value.tv_nsec)
				break;
		}
	}
}

static void check_timers(struct st *s, const char *when, int64_t rel_left)
{
	struct itimerspec cur;
	uint64_t v;

	CHECK(timerfd_gettime(s->tf, &cur) == 0, "timerfd_gettime");
	CHECK(ts_ns(cur.it_interval) == PERIOD_NS, "%s: the period is %" PRId64 " ns", when,
	      ts_ns(cur.it_interval));
	CHECK(ts_ns(cur.it_value) > 0 && ts_ns(cur.it_value) <= PERIOD_NS,
	      "%s: the periodic timer has %" PRId64 " ns left", when, ts_ns(cur.it_value));
	CHECK((fcntl(s->tf, F_GETFL) & O_NONBLOCK) && !(fcntl(s->tf, F_GETFD) & FD_CLOEXEC),
	      "%s: timerfd flags", when);

	/* The wall-clock deadline, wherever the clock is now. */
	CHECK(timerfd_gettime(s->tabs, &cur) == 0, "timerfd_gettime");
	int64_t at = now_ns(CLOCK_REALTIME) + ts_ns(cur.it_value);

	CHECK(ts_ns(cur.it_value) > 0 && at <= s->abs_deadline + 1000000 &&
	      at >= s->abs_deadline - 1000000000LL,
	      "%s: the absolute timer now ends at %" PRId64 ", not %" PRId64, when, at,
	      s->abs_deadline);
	CHECK(fcntl(s->tabs, F_GETFD) & FD_CLOEXEC, "%s: close-on-exec of tabs", when);

	CHECK(timerfd_gettime(s->trel, &cur) == 0, "timerfd_gettime");
	CHECK(ts_ns(cur.it_value) > 0 && ts_ns(cur.it_value) <= rel_left &&
	      !ts_ns(cur.it_interval),
	      "%s: the hour-long timer has %" PRId64 " ns left, at most %" PRId64 " expected",
	      when, ts_ns(cur.it_value), rel_left);
	CHECK(timerfd_gettime(s->tboot, &cur) == 0 && ts_ns(cur.it_value) > 0 &&
	      ts_ns(cur.it_value) <= HOUR * 1000000000LL, "%s: the boottime timer", when);
	CHECK(timerfd_gettime(s->toff, &cur) == 0 && !ts_ns(cur.it_value) &&
	      !ts_ns(cur.it_interval), "%s: the disarmed timer is armed", when);
	CHECK(read(s->toff, &v, 8) < 0 && errno == EAGAIN, "%s: the disarmed timer expired",
	      when);
	CHECK(read(s->tticks, &v, 8) == 8 && v == s->want_ticks,
	      "%s: %" PRIu64 " expirations unread, expected %" PRIu64, when, v,
	      s->want_ticks);
	CHECK(read(s->tticks, &v, 8) < 0 && errno == EAGAIN, "%s: expirations left", when);
	/* The same for the next generation. */
	if (ioctl(s->tticks, TFD_IOC_SET_TICKS, &s->want_ticks) < 0) {
		struct itimerspec soon = { { 0, 0 }, { 0, 1 } };

		CHECK(timerfd_settime(s->tticks, 0, &soon, NULL) == 0, "timerfd_settime");
		do
			timerfd_gettime(s->tticks, &cur);
		while (ts_ns(cur.it_value));
	}
}

static void check_objects(struct st *s, const char *when)
{
	char regs[4096], path[64], buf[512];

	registrations(s->ep, regs, sizeof(regs));
	CHECK(!strcmp(regs, s->regs), "%s: epoll registrations\n%s\nwere\n%s", when, regs,
	      s->regs);
	CHECK(fcntl(s->ep_dup, F_SETFL, O_NONBLOCK) == 0 &&
	      (fcntl(s->ep, F_GETFL) & O_NONBLOCK) && fcntl(s->ep_dup, F_SETFL, 0) == 0,
	      "%s: the dup of the epoll fd does not share it", when);
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", s->sf);
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	close(fd);
	CHECK(n > 0, "read %s", path);
	buf[n] = '\0';
	char want[64];

	snprintf(want, sizeof(want), "sigmask:\t%016llx", 1ULL << (SIGUSR1 - 1));
	CHECK(strstr(buf, want), "%s: signalfd fdinfo:\n%s", when, buf);
	CHECK((fcntl(s->sf, F_GETFL) & O_NONBLOCK) && (fcntl(s->sf, F_GETFD) & FD_CLOEXEC),
	      "%s: signalfd flags", when);
}

/* Input on the fired one-shot pipe stays unreported; the armed one once. */
static void check_oneshot(struct st *s, const char *when)
{
	uint8_t b = 7;

	CHECK(write(s->once[1], &b, 1) == 1 && write(s->fired[1], &b, 1) == 1, "write");
	CHECK(write(s->inner[1], &b, 1) == 1, "write");
	for (int i = 0; i < 3; i++)
		turn(s, when);	/* one-shot, nested (and whatever else comes) */
	CHECK(read(s->inner[0], &b, 1) == 1, "%s: inner pipe", when);
	CHECK(read(s->fired[0], &b, 1) == 1, "%s: fired pipe", when);
}

int main(void)
{
	static struct st s;

	setup(&s);
	for (int gen = 1; gen <= 2; gen++) {
		char when[32];

		/* Some of the loop, then work left pending: the edge too. */
		for (int i = 0; i < 6; i++)
			turn(&s, "before");
		send_some(&s);
		uint64_t v = 5;

		CHECK(write(s.excl, &v, 8) == 8, "write");
		registrations(s.ep, s.regs, sizeof(s.regs));
		struct itimerspec cur;

		CHECK(timerfd_gettime(s.trel, &cur) == 0, "timerfd_gettime");
		int64_t rel_left = ts_ns(cur.it_value);
		unsigned ticks = s.ticks;

		test_checkpoint();
		snprintf(when, sizeof(when), "generation %d", gen);
		check_objects(&s, when);
		check_timers(&s, when, rel_left);
		/* What was pending arrives, then the loop goes on. */
		for (int n = 0; s.got < s.sent || s.ev_got < s.ev_sent ||
				s.sigs_got < s.sigs_sent || s.ticks < ticks + 6;
		     n++) {
			CHECK(n < 200, "%s: after 200 turns, %u of %u messages, %" PRIu64
			      " of %" PRIu64 " counted, %u of %u signals, %u ticks since",
			      when, s.got, s.sent, s.ev_got, s.ev_sent, s.sigs_got, s.sigs_sent,
			      s.ticks - ticks);
			turn(&s, when);
		}
		check_oneshot(&s, when);
		test_log("%s: %u ticks, %u messages, %u signals", when, s.ticks, s.got,
			 s.sigs_got);
	}
	pass();
}

/*
 * restore-timers.c - `selfckpt restart`, launcher side, for an image's
 * POSIX timers, pending signals and clocks (the POSIX_TIMER, SIGINFO and
 * CLOCKS records). The restorer makes the timers and queues the signals
 * after the point of no return (rst/rst-timers.c); what can fail is
 * checked here first:
 *
 *  - every clock the timers use can have a timer here (an ALARM clock
 *    needs CAP_WAKE_ALARM; an older kernel may lack one), tried in a child
 *    process, so that this process's own timer ids stay untouched (with
 *    new ids, it is the one that becomes the program);
 *  - the ids can be had: with PR_TIMER_CREATE_RESTORE_IDS (Linux 6.17)
 *    any; without, the restorer must create and delete timers until each
 *    id comes (ids are handed out in increasing order), which is refused
 *    past SCK_RS_TIMER_IDS_MAX (about a second of it).
 *
 * And the clocks (P13): in its private namespaces the program also gets a
 * time namespace (restore-ns.c) whose offsets make CLOCK_MONOTONIC and
 * CLOCK_BOOTTIME go on from their values at the checkpoint, as if the
 * process had been stopped meanwhile: they never go back, on this machine
 * after a reboot or on another one, and the time the image waited does
 * not count, like the time left of timers and sleeps.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"
#include "proc.h"
#include "restore.h"
#include "rst/rst.h"

#define NSEC_PER_SEC 1000000000LL

static const char *clock_name(int32_t c)
{
	switch (c) {
	case 0:
		return "CLOCK_REALTIME";
	case 1:
		return "CLOCK_MONOTONIC";
	case 7:
		return "CLOCK_BOOTTIME";
	case 8:
		return "CLOCK_REALTIME_ALARM";
	case 9:
		return "CLOCK_BOOTTIME_ALARM";
	case 11:
		return "CLOCK_TAI";
	}
	return "a CPU-time clock";
}

/*
 * In a child: a timer on each clock the image's timers use (CPU clocks,
 * which any process has, aside). Returns -1 if all worked, else the index
 * of the first timer whose clock did not, with errno in *err.
 */
static int try_clocks(const struct sck_image *img, int *err)
{
	int p[2], status;
	struct {
		int32_t index, err;
	} res = { -1, 0 };
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		*err = errno;
		return -2;
	}
	pid = fork();
	if (pid < 0) {
		*err = errno;
		close(p[0]);
		close(p[1]);
		return -2;
	}
	if (pid == 0) {
		for (uint32_t i = 0; i < img->ntimers; i++) {
			int32_t c = img->timers[i].clock;
			struct sigevent sev = { .sigev_notify = SIGEV_NONE };
			int id;

			if (c < 0 || c == 2 || c == 3)
				continue;
			if (syscall(SYS_timer_create, c, &sev, &id) < 0) {
				res.index = (int32_t)i;
				res.err = errno;
				break;
			}
			syscall(SYS_timer_delete, id);
		}
		_exit(write(p[1], &res, sizeof(res)) == sizeof(res) ? 0 : 1);
	}
	close(p[1]);
	if (read(p[0], &res, sizeof(res)) != sizeof(res))
		res = (typeof(res)){ -2, EIO };
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	*err = res.err;
	return res.index;
}

/*
 * Whether the restorer makes the ids one by one: without the prctl, or for
 * tests of that way on a kernel that has it (SELFCKPT_TEST_TIMER_IDS=linear).
 */
int selfckpt__rs_timer_ids_linear(void)
{
	const char *t = getenv("SELFCKPT_TEST_TIMER_IDS");

	return (t && !strcmp(t, "linear")) ||
	       prctl(PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_GET, 0, 0, 0) < 0;
}

int selfckpt__rs_check_timers(struct rs *s)
{
	const struct sck_image *img = &s->img;
	int err = 0, i;

	if (!img->ntimers)
		return 0;
	i = try_clocks(img, &err);
	if (i == -2) {
		selfckpt__rs_msg(s, "cannot try the image's timer clocks: %s", strerror(err));
		return SCK_EX_OSERR;
	}
	if (i >= 0) {
		int32_t c = img->timers[i].clock;

		selfckpt__rs_msg(s, "this machine cannot make POSIX timer %d of the image again: no timer on %s here: %s%s",
				 img->timers[i].id, clock_name(c), strerror(err),
				 (c == 8 || c == 9) && err == EPERM ?
				 " (the alarm clocks need CAP_WAKE_ALARM)" : "");
		return SCK_EX_UNAVAILABLE;
	}
	int32_t top = img->timers[img->ntimers - 1].id;	/* in id order */

	if (selfckpt__rs_timer_ids_linear() && top > SCK_RS_TIMER_IDS_MAX) {
		selfckpt__rs_msg(s, "the image has POSIX timer id %d, and this kernel cannot create a timer with a chosen id (PR_TIMER_CREATE_RESTORE_IDS, Linux 6.17): it would have to create %d timers first",
				 top, top);
		return SCK_EX_UNAVAILABLE;
	}
	return 0;
}

size_t selfckpt__rs_timers_size(const struct rs *s)
{
	return s->img.ntimers * sizeof(struct sck_posix_timer) +
	       s->img.nsigs * sizeof(struct sck_siginfo);
}

void selfckpt__rs_pack_timers(struct rs *s, struct rst_args *a, uint8_t *at)
{
	const struct sck_image *img = &s->img;
	struct rst_thread *th = (struct rst_thread *)(uintptr_t)a->threads;
	size_t tlen = img->ntimers * sizeof(struct sck_posix_timer);

	a->ntimers = img->ntimers;
	a->timers = (uint64_t)(uintptr_t)at;
	if (img->ntimers && selfckpt__rs_timer_ids_linear())
		a->flags |= RST_F_TIMER_IDS_LINEAR;
	if (tlen)	/* img->timers is NULL without timers */
		memcpy(at, img->timers, tlen);
	a->nsigs = img->nsigs;
	a->sigs = (uint64_t)(uintptr_t)(at + tlen);
	if (img->nsigs)
		memcpy(at + tlen, img->sigs, img->nsigs * sizeof(struct sck_siginfo));
	/*
	 * A standard signal with its siginfo is not raised again from the
	 * masks, which only images from before SIGINFO records need.
	 */
	for (uint32_t i = 0; i < img->nsigs; i++) {
		const struct sck_siginfo *e = &img->sigs[i];
		uint64_t bit = e->signo < 32 ? 1ULL << (e->signo - 1) : 0;

		if (!e->tid)
			a->pending_shared &= ~bit;
		for (uint32_t k = 0; e->tid && k < a->nthreads; k++)
			if (th[k].tid == e->tid)
				th[k].pending &= ~bit;
	}
}

/* ---- clocks ----------------------------------------------------------- */

static int64_t ns(int64_t sec, int64_t nsec)
{
	return sec * NSEC_PER_SEC + nsec;
}

/* The monotonic and boottime offsets of our time namespace for children. */
static int read_offsets(int64_t *mono, int64_t *boot)
{
	char buf[256], *line, *next;
	long n = selfckpt__read_file(AT_FDCWD, "/proc/self/timens_offsets", buf,
				     sizeof(buf));

	*mono = *boot = 0;
	if (n < 0)
		return (int)n;
	for (line = buf; *line; line = next) {
		char name[32];
		long long sec;
		unsigned long nsec;

		next = strchr(line, '\n');
		next = next ? next + 1 : line + strlen(line);
		if (sscanf(line, "%31s %lld %lu", name, &sec, &nsec) != 3)
			continue;
		if (!strcmp(name, "monotonic"))
			*mono = ns(sec, (int64_t)nsec);
		else if (!strcmp(name, "boottime"))
			*boot = ns(sec, (int64_t)nsec);
	}
	return 0;
}

static int put_offset(char *b, size_t n, const char *name, int64_t off)
{
	int64_t sec = off / NSEC_PER_SEC, nsec = off % NSEC_PER_SEC;

	if (nsec < 0) {		/* the kernel wants 0 <= nsec < 1 s */
		sec--;
		nsec += NSEC_PER_SEC;
	}
	return snprintf(b, n, "%s %" PRId64 " %" PRId64 "\n", name, sec, nsec);
}

int selfckpt__rs_timens_offsets(struct rs *s, char *buf, size_t n)
{
	const struct sck_clocks *c = &s->img.clocks;
	struct timespec mono, boot;
	int64_t omono, oboot;
	int len;

	if (!s->img.has_clocks || read_offsets(&omono, &oboot) < 0 ||
	    clock_gettime(CLOCK_MONOTONIC, &mono) < 0 ||
	    clock_gettime(CLOCK_BOOTTIME, &boot) < 0)
		return -1;
	/*
	 * Offsets are from the clocks of the initial time namespace; ours
	 * read that plus our own namespace's offsets, which a new namespace
	 * starts with.
	 */
	len = put_offset(buf, n, "monotonic",
			 ns(c->monotonic_sec, c->monotonic_nsec) -
				 ns(mono.tv_sec, mono.tv_nsec) + omono);
	len += put_offset(buf + len, n - (size_t)len, "boottime",
			  ns(c->boottime_sec, c->boottime_nsec) -
				  ns(boot.tv_sec, boot.tv_nsec) + oboot);
	return len;
}

void selfckpt__rs_clock_note(struct rs *s, const char *why)
{
	const struct sck_clocks *c = &s->img.clocks;
	struct timespec mono;

	if (!s->img.has_clocks || clock_gettime(CLOCK_MONOTONIC, &mono) < 0)
		return;
	int64_t back = ns(c->monotonic_sec, c->monotonic_nsec) - ns(mono.tv_sec, mono.tv_nsec);

	if (back > 0)
		selfckpt__rs_note(s, "warning: this machine's CLOCK_MONOTONIC is %.1f s behind the image's (another boot, or another machine), and %s: the program sees it go back",
				  (double)back / NSEC_PER_SEC, why);
	else if (s->o->verbose)
		selfckpt__rs_note(s, "the program sees this machine's clocks (%s)", why);
}

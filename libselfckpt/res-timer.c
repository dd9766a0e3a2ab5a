/*
 * res-timer.c - POSIX timers (timer_create) and the clocks at capture: the
 * POSIX_TIMER and CLOCKS records (P13).
 *
 * /proc/self/timers (Linux 3.10, with CONFIG_CHECKPOINT_RESTORE) lists
 * each timer of the process: its id, signal and sigev_value, how it
 * notifies (signal to the process, to one thread, or none) and its clock;
 * timer_gettime() gives the time left and the interval. That is all
 * timer_create and timer_settime need to make it again, with the same id
 * (rst/rst-timers.c). The library's own interval timer (auto.c) is left
 * out: the library makes it again after a restart.
 *
 * What cannot be restored is refused, naming the timer: a SIGEV_THREAD
 * timer (glibc turns it into a SIGEV_THREAD_ID timer for its helper
 * thread, signal 32, which blocks every signal; threads.c usually refuses
 * that thread first), a timer that signals a thread that has exited, one
 * on the CPU time of another process, and one on CLOCK_THREAD_CPUTIME_ID
 * in a process of several threads (the kernel does not tell which
 * thread's).
 *
 * Whether a timer was armed with TIMER_ABSTIME is not shown anywhere: it
 * is re-armed with the time that was left, like the others. Its overrun
 * count is recorded, not restored.
 *
 * Async-signal-safe: raw system calls and the arena only.
 */
#define LOG_PREFIX "timers: "

#include <linux/errno.h>

#include "internal.h"
#include "log.h"
#include "nolibc/str.h"
#include "proc.h"
#include "sort.h"
#include "sys.h"

#define PROBE_IDS 4096		/* ids tried where /proc/self/timers is missing */

struct kitimerspec {
	int64_t interval_sec, interval_nsec, value_sec, value_nsec;
};

/* What follows "key" at the start of a line after p; NULL if none. */
static const char *field(const char *p, const char *end, const char *key)
{
	size_t k = sck_strlen(key);

	for (; p + 1 + k <= end; p++)
		if (*p == '\n' && !sck_strncmp(p + 1, key, k))
			return p + 1 + k;
	return NULL;
}

static int64_t parse_int(const char *s, const char **end)
{
	int neg = *s == '-';
	int64_t v = (int64_t)selfckpt__parse_u64(s + neg, 10, end);

	return neg ? -v : v;
}

/*
 * One entry of /proc/self/timers, from its "ID: " line to the next one:
 *   ID: 3
 *   signal: 34/00000000deadbeef        (signo / sigev_value, in hex)
 *   notify: signal/pid.1234            (signal|none / pid|tid . target)
 *   ClockID: 1
 */
static int parse_timer(const char *p, const char *end, struct sck_posix_timer *t,
		       char *notify, size_t notify_len)
{
	const char *q, *e;
	size_t n = 0;

	t->id = (int32_t)parse_int(p, &e);
	if (!(q = field(p, end, "signal: ")))
		return -1;
	t->signo = (int32_t)parse_int(q, &e);
	if (*e != '/')
		return -1;
	t->value = selfckpt__parse_u64(e + 1, 16, &e);
	if (!(q = field(p, end, "notify: ")))
		return -1;
	while (q + n < end && q[n] != '/' && q[n] != '\n' && n + 1 < notify_len) {
		notify[n] = q[n];
		n++;
	}
	notify[n] = '\0';
	q += n;
	if (*q != '/')
		return -1;
	if (!sck_strncmp(q + 1, "tid.", 4))
		t->notify = SCK_SIGEV_THREAD_ID;
	else if (sck_strncmp(q + 1, "pid.", 4))
		return -1;
	t->tid = (int32_t)parse_int(q + 5, &e);
	if (!(q = field(p, end, "ClockID: ")))
		return -1;
	t->clock = (int32_t)parse_int(q, &e);
	return 0;
}

static int is_stopped_thread(const struct sck_dump *d, int32_t tid)
{
	for (uint32_t i = 0; i < d->nslots; i++)
		if (d->slots[i].state == SCK_SLOT_STOPPED && d->slots[i].t.tid == tid)
			return 1;
	return 0;
}

/* What timer_create made; refuses what a restart could not make again. */
static int check_timer(const struct sck_dump *d, struct sck_posix_timer *t,
		       const char *notify, uint32_t nthreads)
{
	int32_t who = ~(t->clock >> 3);

	if (!sck_strcmp(notify, "none") && t->notify != SCK_SIGEV_THREAD_ID) {
		t->notify = SCK_SIGEV_NONE;
		t->tid = 0;
	} else if (sck_strcmp(notify, "signal")) {
		return sck_fail(EOPNOTSUPP,
				"POSIX timer %d notifies in a way this library does not know (%s): not supported",
				t->id, notify);
	} else if (t->notify != SCK_SIGEV_THREAD_ID) {
		t->tid = 0;
	}
	/* glibc's own signals (SIGCANCEL/SIGTIMER 32, SIGSETXID 33). */
	if (t->notify == SCK_SIGEV_THREAD_ID && (t->signo == 32 || t->signo == 33))
		return sck_fail(EOPNOTSUPP,
				"POSIX timer %d is a SIGEV_THREAD timer, which glibc runs from a helper thread that blocks every signal: not supported; use SIGEV_SIGNAL or SIGEV_THREAD_ID",
				t->id);
	if (t->notify == SCK_SIGEV_THREAD_ID && !is_stopped_thread(d, t->tid))
		return sck_fail(EOPNOTSUPP,
				"POSIX timer %d signals a thread that has exited (%d): not supported",
				t->id, t->tid);
	/* glibc's CLOCK_THREAD_CPUTIME_ID is the thread clock of "thread 0". */
	if ((t->clock == 3 || (t->clock < 0 && (t->clock & 4) && !who)) && nthreads > 1)
		return sck_fail(EOPNOTSUPP,
				"POSIX timer %d measures the CPU time of the thread that created it (CLOCK_THREAD_CPUTIME_ID), which the kernel does not tell in a process of several threads: not supported; use pthread_getcpuclockid()",
				t->id);
	if (t->clock < 0 && (t->clock & 4) && who && !is_stopped_thread(d, who))
		return sck_fail(EOPNOTSUPP,
				"POSIX timer %d measures the CPU time of a thread that has exited (%d): not supported",
				t->id, who);
	if (t->clock < 0 && !(t->clock & 4) && who != 0 && who != (int32_t)sys_getpid())
		return sck_fail(EOPNOTSUPP,
				"POSIX timer %d measures the CPU time of another process (%d): process trees are not supported yet",
				t->id, who);
	return 0;
}

static int cmp_timer_id(const void *a, const void *b)
{
	const struct sck_posix_timer *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

/* Without /proc/self/timers: are there timers at all? */
static int probe_timers(void)
{
	struct kitimerspec its;
	int ours = selfckpt__auto_timer();

	for (int id = 0; id < PROBE_IDS; id++)
		if (id != ours && sys_timer_gettime(id, &its) == 0)
			return sck_fail(EOPNOTSUPP,
					"the process has POSIX timers, which this kernel does not list (/proc/self/timers needs CONFIG_CHECKPOINT_RESTORE): not supported");
	return 0;
}

static int collect_timers(struct sck_dump *d)
{
	long n = selfckpt__read_file(-100, "/proc/self/timers", d->timers_buf,
				     d->timers_buf_cap);
	int ours = selfckpt__auto_timer();
	uint32_t nthreads = 0, count = 0;
	const char *p, *end;

	if (n == -ENOENT)
		return probe_timers();
	if (n == -E2BIG)
		return sck_fail(EOPNOTSUPP,
				"the process has more POSIX timers than a checkpoint can record (%u)",
				d->timers_cap);
	if (n < 0)
		return sck_fail((int)-n, "cannot read /proc/self/timers");
	for (uint32_t i = 0; i < d->nslots; i++)
		nthreads += d->slots[i].state == SCK_SLOT_STOPPED;
	end = d->timers_buf + n;
	/* Each entry starts with "ID: " at the start of a line. */
	for (p = d->timers_buf; p < end;) {
		const char *next;
		struct sck_posix_timer t = { 0 };
		struct kitimerspec its;
		char notify[16];
		int ret;

		if (sck_strncmp(p, "ID: ", 4))
			return sck_fail(EOPNOTSUPP, "cannot parse /proc/self/timers");
		next = field(p + 4, end, "ID: ");
		next = next ? next - 4 : end;
		if (parse_timer(p + 4, next, &t, notify, sizeof(notify)))
			return sck_fail(EOPNOTSUPP, "cannot parse /proc/self/timers");
		p = next;
		if (t.id == ours)
			continue;
		if ((ret = check_timer(d, &t, notify, nthreads)))
			return ret;
		if (sys_timer_gettime(t.id, &its) < 0)
			continue;	/* deleted meanwhile (by no one: all stopped) */
		t.interval_sec = its.interval_sec;
		t.interval_nsec = its.interval_nsec;
		t.value_sec = its.value_sec;
		t.value_nsec = its.value_nsec;
		long ov = sys_timer_getoverrun(t.id);

		t.overrun = ov > 0 ? (int32_t)ov : 0;
		if (count >= d->timers_cap)
			return sck_fail(EOPNOTSUPP,
					"the process has more POSIX timers than a checkpoint can record (%u)",
					d->timers_cap);
		d->timers[count++] = t;
	}
	/* By id: /proc lists the newest first. */
	sck_sort(d->timers, count, sizeof(*d->timers), cmp_timer_id);
	for (uint32_t i = 0; i < count; i++) {
		struct sck_part part = { &d->timers[i], sizeof(d->timers[i]) };

		if (selfckpt__meta_add(&d->meta, SCK_REC_POSIX_TIMER, 0, &part, 1, NULL))
			return sck_fail(ENOMEM, "metadata buffer full");
	}
	return 0;
}

/*
 * The clocks a restart in a time namespace continues from (restore-ns.c):
 * read after every thread stopped, so that no thread saw a later value.
 */
static int record_clocks(struct sck_dump *d)
{
	struct __kernel_timespec mono = { 0, 0 }, boot = { 0, 0 };
	struct sck_clocks c;
	struct sck_part part = { &c, sizeof(c) };

	sys_clock_gettime(1 /* CLOCK_MONOTONIC */, &mono);
	sys_clock_gettime(7 /* CLOCK_BOOTTIME */, &boot);
	c = (struct sck_clocks){ mono.tv_sec, mono.tv_nsec, boot.tv_sec, boot.tv_nsec };
	if (selfckpt__meta_add(&d->meta, SCK_REC_CLOCKS, SCK_RECF_OPTIONAL, &part, 1, NULL))
		return sck_fail(ENOMEM, "metadata buffer full");
	return 0;
}

int selfckpt__timers_collect(struct sck_dump *d)
{
	int ret = collect_timers(d);

	return ret ? ret : record_clocks(d);
}

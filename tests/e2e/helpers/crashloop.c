/*
 * crashloop - a program that checkpoints itself over and over into the
 * same path, for tests/e2e/crash01.sh, which SIGKILLs it (or the child
 * that writes its image) at random moments.
 *
 *   crashloop IMAGE LOG NTHREADS MIB STEPS
 *
 * (IMAGE "-": no checkpoints, the uninterrupted run that gives the DONE
 * line every restart must end with.)
 *
 * State: a step number s and MIB MiB of memory in which every page holds
 * a value that depends on s and on the page; with NTHREADS > 1, worker
 * threads that keep two counters in step under a mutex (held across
 * checkpoints now and then), so that the image is written by the
 * copy-on-write writer child.
 *
 * Step s (from 1): write the pages for s, then selfckpt_checkpoint(IMAGE):
 *   - > 0, the id: "ckpt ID" goes to LOG; next step;
 *   - < 0: "fail s ERRNO MESSAGE" goes to LOG; the same step again (the
 *     writer was killed, say);
 *   - 0, in a process restarted from IMAGE: every page must hold s's
 *     values; "resumed ID" (the last id) goes to stdout and LOG, and the
 *     program runs to the end without checkpointing.
 * Ids go up by one from 1, and by one more for each failed checkpoint
 * whose image may exist (the writer died: its id is not used again):
 * each id, new or resumed, must lie between the one after the last good
 * checkpoint and that plus the failures since.
 * At STEPS: the pages are checked once more, the workers stopped and
 * checked, and "DONE steps=STEPS sum=X" is printed, X depending only on
 * STEPS and MIB: every restart ends with the same line. Any inconsistency:
 * "FAIL: ..." on stdout and in LOG, status 1.
 *
 * LOG is opened with O_APPEND, so that the original process and the
 * restarted ones add to it, whatever the offset in the image.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "selfckpt.h"

#define PAGE 4096
#define MAXW 8

static int logfd = -1;
static uint64_t *mem;
static size_t npages;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int stop;
static uint64_t ca[MAXW], cb[MAXW];
static volatile int bad;

static void say(int to_stdout, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	/* write(2), no stdio: its buffers are part of the image. */
	if (logfd >= 0 && write(logfd, buf, (size_t)n) < 0)
		_exit(3);
	if (to_stdout && write(1, buf, (size_t)n) < 0)
		_exit(3);
}

__attribute__((noreturn)) static void die(const char *what, unsigned long a,
					  unsigned long b)
{
	say(1, "FAIL: %s (%lu, %lu)", what, a, b);
	_exit(1);
}

static uint64_t val(uint64_t s, uint64_t p)
{
	uint64_t z = s * 0x9e3779b97f4a7c15ULL + p * 0xbf58476d1ce4e5b9ULL + 1;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (z ^ (z >> 31)) | 1;
}

static void fill(uint64_t s)
{
	for (size_t p = 0; p < npages; p++) {
		mem[p * (PAGE / 8)] = val(s, p);
		mem[p * (PAGE / 8) + 1 + s % 500] = val(p, s);
	}
}

static uint64_t check(uint64_t s)
{
	uint64_t sum = 0;

	for (size_t p = 0; p < npages; p++) {
		if (mem[p * (PAGE / 8)] != val(s, p) ||
		    mem[p * (PAGE / 8) + 1 + s % 500] != val(p, s))
			die("memory does not hold the step's values (step, page)", s, p);
		sum = (sum ^ mem[p * (PAGE / 8)]) * 0x100000001b3ULL;
	}
	return sum;
}

static void *worker(void *arg)
{
	int t = (int)(intptr_t)arg;

	while (!stop) {
		pthread_mutex_lock(&lock);
		ca[t]++;
		usleep(50);	/* sometimes a checkpoint finds the lock held */
		if (ca[t] != cb[t] + 1)
			bad = 1;
		cb[t]++;
		pthread_mutex_unlock(&lock);
		usleep(500);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[MAXW];
	int nthreads, restarted = 0;
	unsigned long mib, steps, s;

	if (argc != 6) {
		fprintf(stderr, "usage: crashloop IMAGE LOG NTHREADS MIB STEPS\n");
		return 64;
	}
	logfd = open(argv[2], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (logfd < 0) {
		perror(argv[2]);
		return 66;
	}
	nthreads = atoi(argv[3]);
	mib = strtoul(argv[4], NULL, 10);
	steps = strtoul(argv[5], NULL, 10);
	if (nthreads < 1 || nthreads > MAXW || !mib || !steps)
		die("bad arguments", (unsigned long)nthreads, mib);
	npages = mib * 1024 * 1024 / PAGE;
	mem = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap", mib, 0);
	for (int t = 1; t < nthreads; t++)
		if (pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t))
			die("pthread_create", (unsigned long)t, 0);

	unsigned long next = 1, fails = 0;	/* the id to expect, failures since */

	for (s = 1; s <= steps; s++) {
		fill(s);
		if (restarted || !strcmp(argv[1], "-"))
			continue;
		for (;;) {
			long r = selfckpt_checkpoint(argv[1], 0);
			unsigned long id = r > 0 ? (unsigned long)r :
					   (unsigned long)selfckpt_last_id();

			if (r >= 0 && (id < next || id > next + fails))
				die(r > 0 ? "checkpoint id out of line (id, expected)" :
					    "resumed id out of line (id, expected)",
				    id, next);
			if (r > 0) {
				say(0, "ckpt %lu", id);
				next = id + 1;
				fails = 0;
				break;
			}
			if (r == 0) {
				check(s);
				say(1, "resumed %lu", id);
				restarted = 1;
				break;
			}
			say(0, "fail %lu %d %s", s, errno, selfckpt_last_error());
			fails++;
			usleep(1000);
		}
	}
	uint64_t sum = check(steps);

	stop = 1;
	for (int t = 1; t < nthreads; t++)
		pthread_join(th[t], NULL);
	for (int t = 1; t < nthreads; t++)
		if (ca[t] != cb[t])
			die("a worker's counters differ (worker, count)", (unsigned long)t,
			    (unsigned long)ca[t]);
	if (bad)
		die("a worker saw its counters out of step", 0, 0);
	say(1, "DONE steps=%lu sum=%016llx", steps, (unsigned long long)sum);
	return 0;
}

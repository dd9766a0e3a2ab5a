/*
 * guard01 - guard regions (MADV_GUARD_INSTALL, Linux 6.13+, P2) of every
 * shape survive checkpoints, in place and by the copy-on-write writer
 * child, and never make the writer touch them:
 *
 *   - at the first and the last page of a mapping, and two in the middle,
 *     next to written pages and to a page never touched (zero after the
 *     restart);
 *   - a mapping that is guard pages only;
 *   - a guard page in memory made PROT_NONE afterwards (its other pages
 *     are stored through /proc/self/mem);
 *   - every third page of 96 (many guard regions in one scan, across the
 *     writer's reads of several pages at a time);
 *   - the lowest page of a thread's stack, as glibc 2.42 makes them (the
 *     second checkpoint, with that thread running, is written by the
 *     writer child).
 *
 * After each restart every guard page is still one (it cannot be read,
 * even through /proc/self/mem, and pagemap bit 58 says so where the
 * kernel shows it) and every other page holds its data. Run as it is by
 * the suite, and by noguard.sh with SELFCKPT_TEST_FAULT=no-page-is-guard
 * (PAGEMAP_SCAN as Linux 6.7-6.14 have it, without PAGE_IS_GUARD).
 * Where the kernel has no guard regions the test says so and checks the
 * data only.
 */
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>

#include "zdtm.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#define PAGE 4096UL
#define PM_GUARD_BIT 58

struct area {
	const char *name;
	uint8_t *p;
	unsigned npages;
	int prot_none;			/* made PROT_NONE after filling */
	int (*is_guard)(unsigned page);
	int (*untouched)(unsigned page);
};

static int have_guards = 1, have_bit;
static int mem_fd = -1;

static int a_guard(unsigned p) { return p == 0 || p == 5 || p == 6 || p == 15; }
static int a_untouched(unsigned p) { return p == 9; }
static int b_guard(unsigned p) { (void)p; return 1; }
static int c_guard(unsigned p) { return p == 2; }
static int d_guard(unsigned p) { return p % 3 == 1; }
static int none(unsigned p) { (void)p; return 0; }

static struct area areas[] = {
	{ "edges", NULL, 16, 0, a_guard, a_untouched },
	{ "all guard", NULL, 4, 0, b_guard, none },
	{ "PROT_NONE", NULL, 8, 1, c_guard, none },
	{ "every third", NULL, 96, 0, d_guard, none },
};
#define NAREAS (sizeof(areas) / sizeof(areas[0]))

static uint8_t val(unsigned area, unsigned page, unsigned i)
{
	return (uint8_t)(area * 71u + page * 37u + i * 13u + (i >> 8) + 1);
}

static uint64_t pagemap(const void *addr)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	CHECK(fd >= 0, "open pagemap: %s", strerror(errno));
	CHECK(pread(fd, &e, 8, (off_t)((uintptr_t)addr / PAGE * 8)) == 8,
	      "pread pagemap: %s", strerror(errno));
	close(fd);
	return e;
}

/* Read a page through /proc/self/mem (PROT_NONE too): 0, or -errno. */
static int read_page(const uint8_t *addr, uint8_t *buf)
{
	ssize_t n = pread(mem_fd, buf, PAGE, (off_t)(uintptr_t)addr);

	return n == (ssize_t)PAGE ? 0 : n < 0 ? -errno : -EIO;
}

static void check_guard(const uint8_t *addr, const char *what, unsigned page)
{
	uint8_t buf[PAGE];

	CHECK(read_page(addr, buf) < 0, "%s: guard page %u can be read", what, page);
	if (have_bit)
		CHECK(pagemap(addr) >> PM_GUARD_BIT & 1,
		      "%s: page %u is not a guard page in pagemap (%#llx)", what, page,
		      (unsigned long long)pagemap(addr));
}

/* /proc/self/mem is open only while checking: a checkpoint refuses it. */
static void check_areas(const char *when)
{
	uint8_t buf[PAGE];

	mem_fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
	CHECK(mem_fd >= 0, "open /proc/self/mem: %s", strerror(errno));

	for (unsigned a = 0; a < NAREAS; a++) {
		struct area *ar = &areas[a];

		for (unsigned p = 0; p < ar->npages; p++) {
			const uint8_t *addr = ar->p + p * PAGE;

			if (have_guards && ar->is_guard(p)) {
				check_guard(addr, ar->name, p);
				continue;
			}
			int r = read_page(addr, buf);

			CHECK(r == 0, "%s: %s: page %u cannot be read: %s", when, ar->name,
			      p, strerror(-r));
			for (unsigned i = 0; i < PAGE; i++) {
				uint8_t want = ar->untouched(p) || ar->is_guard(p) ?
						       0 : val(a, p, i);

				CHECK(buf[i] == want,
				      "%s: %s: page %u byte %u is %#x, expected %#x", when,
				      ar->name, p, i, buf[i], want);
			}
		}
	}
	close(mem_fd);
	mem_fd = -1;
}

static void setup_areas(void)
{
	for (unsigned a = 0; a < NAREAS; a++) {
		struct area *ar = &areas[a];

		ar->p = mmap(NULL, ar->npages * PAGE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(ar->p != MAP_FAILED, "mmap: %s", strerror(errno));
		for (unsigned p = 0; p < ar->npages; p++)
			if (!ar->untouched(p) && !ar->is_guard(p))
				for (unsigned i = 0; i < PAGE; i++)
					ar->p[p * PAGE + i] = val(a, p, i);
		for (unsigned p = 0; have_guards && p < ar->npages; p++) {
			if (!ar->is_guard(p))
				continue;
			if (madvise(ar->p + p * PAGE, PAGE, MADV_GUARD_INSTALL) != 0) {
				CHECK(errno == EINVAL, "MADV_GUARD_INSTALL: %s",
				      strerror(errno));
				test_log("MADV_GUARD_INSTALL unsupported by this kernel: data checked, no guard regions");
				have_guards = 0;
			}
		}
		if (ar->prot_none)
			CHECK(mprotect(ar->p, ar->npages * PAGE, PROT_NONE) == 0,
			      "mprotect: %s", strerror(errno));
	}
	if (have_guards)
		have_bit = pagemap(areas[0].p) >> PM_GUARD_BIT & 1;
}

/* A thread on a stack of its own whose lowest page is a guard page. */
#define STACK_PAGES 64
static uint8_t *stack;
static volatile int thread_stop, thread_steps;

static void *spin(void *arg)
{
	volatile uint8_t local[1024];

	(void)arg;
	for (unsigned i = 0; i < sizeof(local); i++)
		local[i] = (uint8_t)i;
	while (!thread_stop) {
		thread_steps++;
		usleep(1000);
	}
	for (unsigned i = 0; i < sizeof(local); i++)
		if (local[i] != (uint8_t)i)
			return (void *)1;
	return NULL;
}

int main(void)
{
	pthread_t th;
	pthread_attr_t attr;

	setup_areas();
	check_areas("before the checkpoint");

	/* One thread: the image is written in place. */
	test_checkpoint();
	check_areas("after the first restart");

	/* Two: by the copy-on-write writer child. */
	stack = mmap(NULL, STACK_PAGES * PAGE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(stack != MAP_FAILED, "mmap: %s", strerror(errno));
	if (have_guards)
		CHECK(madvise(stack, PAGE, MADV_GUARD_INSTALL) == 0,
		      "MADV_GUARD_INSTALL on the stack: %s", strerror(errno));
	pthread_attr_init(&attr);
	CHECK(pthread_attr_setstack(&attr, stack, STACK_PAGES * PAGE) == 0, "setstack");
	CHECK(pthread_create(&th, &attr, spin, NULL) == 0, "pthread_create");
	while (thread_steps < 3)
		usleep(1000);
	test_checkpoint();
	check_areas("after the second restart");
	if (have_guards) {
		mem_fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
		CHECK(mem_fd >= 0, "open /proc/self/mem: %s", strerror(errno));
		check_guard(stack, "thread stack", 0);
		close(mem_fd);
	}
	int steps = thread_steps;

	while (thread_steps < steps + 3)
		usleep(1000);
	thread_stop = 1;
	void *ret;

	CHECK(pthread_join(th, &ret) == 0 && ret == NULL, "the thread's stack changed");
	if (!have_guards)
		test_log("no guard regions on this kernel");
	pass();
}

/*
 * maps01 - mappings other than plain private memory survive a restart,
 * with their contents and their sharing:
 *
 *   - a private file mapping with some pages written (copied on write),
 *     some only read and some never touched: written pages keep the new
 *     data, the others show the file, and the file never sees the writes;
 *   - a shared file mapping written before the checkpoint: the file holds
 *     the data, and after the restart the mapping and the file are still
 *     one (writes either way are seen the other way), also through a
 *     read-only descriptor on the same file kept open across the restart;
 *     and the private file mapping's file is open read-only too;
 *   - the same at a file offset: private and shared mappings that start at
 *     page 2 of their file show the right part of it;
 *   - MAP_SHARED|MAP_ANONYMOUS memory keeps its data and stays shared with
 *     a child forked after the restart, also when mprotect split it into
 *     three mappings, which must still share one object;
 *   - a memfd mapped twice, its descriptor closed before the checkpoint:
 *     the data survive, the two mappings still share, the name is kept;
 *     a memfd mapped only privately keeps its data too;
 *   - a file unlinked after being mapped private and shared: the data
 *     survive although the file is gone;
 *   - an anonymous region named with PR_SET_VMA_ANON_NAME keeps its name;
 *   - madvise flags MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_DONTDUMP,
 *     MADV_WIPEONFORK, MADV_DONTFORK, MADV_SEQUENTIAL, MADV_RANDOM and
 *     MADV_MERGEABLE (when KSM is there) are still set (smaps VmFlags hg,
 *     nh, dd, wf, dc, sr, rr, mg), wipe-on-fork still wipes, and mlock()ed
 *     memory is still locked (lo);
 *   - guard pages (MADV_GUARD_INSTALL, Linux 6.13+) are still guard pages
 *     (pagemap bit 58, and touching one faults) and their neighbours keep
 *     their data.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "zdtm.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif
#define PM_GUARD_BIT 58

#define PAGE 4096UL

static uint8_t val(unsigned page, unsigned i, unsigned seed)
{
	return (uint8_t)(page * 37u + i * 13u + seed * 101u + (i >> 9));
}

static void fill_page(uint8_t *p, unsigned page, unsigned seed)
{
	for (unsigned i = 0; i < PAGE; i++)
		p[i] = val(page, i, seed);
}

static void check_page(const uint8_t *p, unsigned page, unsigned seed,
		       const char *what)
{
	for (unsigned i = 0; i < PAGE; i++)
		CHECK(p[i] == val(page, i, seed),
		      "%s: page %u byte %u is %#x, expected %#x (seed %u)", what,
		      page, i, p[i], val(page, i, seed), seed);
}

static void make_file(const char *name, unsigned pages, unsigned seed)
{
	uint8_t buf[PAGE];
	int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	CHECK(fd >= 0, "create %s: %s", name, strerror(errno));
	for (unsigned p = 0; p < pages; p++) {
		fill_page(buf, p, seed);
		CHECK(write(fd, buf, PAGE) == (ssize_t)PAGE, "write %s", name);
	}
	CHECK(close(fd) == 0, "close %s", name);
}

/* The file's page, read with pread (not through any mapping). */
static void check_file_page(const char *name, unsigned page, unsigned seed)
{
	uint8_t buf[PAGE];
	int fd = open(name, O_RDONLY);

	CHECK(fd >= 0, "open %s: %s", name, strerror(errno));
	CHECK(pread(fd, buf, PAGE, (off_t)(page * PAGE)) == (ssize_t)PAGE,
	      "pread %s", name);
	close(fd);
	check_page(buf, page, seed, name);
}

static void *map(size_t len, int prot, int flags, int fd)
{
	void *p = mmap(NULL, len, prot, flags, fd, 0);

	CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
	return p;
}

/*
 * The /proc/self/smaps entry containing addr: its name and VmFlags line.
 * Returns 0, or -1 if no mapping contains addr.
 */
static int smaps_entry(const void *addr, char *name, size_t nlen, char *flags,
		       size_t flen)
{
	static char buf[1 << 20];
	uintptr_t a = (uintptr_t)addr;
	int fd = open("/proc/self/smaps", O_RDONLY), in = 0;
	size_t len = 0;
	ssize_t n;

	CHECK(fd >= 0, "open smaps: %s", strerror(errno));
	while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	for (char *line = buf, *next; *line; line = next) {
		unsigned long lo, hi;
		int off = 0;

		next = strchr(line, '\n');
		next = next ? next + 1 : line + strlen(line);
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &off) == 2 &&
		    off > 0) {
			in = a >= lo && a < hi;
			if (in)
				snprintf(name, nlen, "%.*s", (int)(next - line - off - 1),
					 line + off);
		} else if (in && !strncmp(line, "VmFlags:", 8)) {
			snprintf(flags, flen, "%.*s ", (int)(next - line - 9), line + 8);
			return 0;
		}
	}
	return -1;
}

/* Does the region at addr have the two-letter VmFlag f? */
static int has_vmflag(const void *addr, const char *f)
{
	char name[512], flags[512], want[8];

	CHECK(smaps_entry(addr, name, sizeof(name), flags, sizeof(flags)) == 0,
	      "no mapping at %p", addr);
	snprintf(want, sizeof(want), " %s ", f);
	return strstr(flags, want) != NULL;
}

static const char *map_name(const void *addr)
{
	static char name[512];
	char flags[512];

	CHECK(smaps_entry(addr, name, sizeof(name), flags, sizeof(flags)) == 0,
	      "no mapping at %p", addr);
	return name;
}

/* The inode and file offset /proc/self/maps shows for addr. */
static unsigned long map_inode(const void *addr, unsigned long *off)
{
	static char buf[1 << 20];
	uintptr_t a = (uintptr_t)addr;
	int fd = open("/proc/self/maps", O_RDONLY);
	size_t len = 0;
	ssize_t n;

	CHECK(fd >= 0, "open maps: %s", strerror(errno));
	while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		unsigned long lo, hi, ino;

		if (sscanf(line, "%lx-%lx %*s %lx %*s %lu", &lo, &hi, off, &ino) == 4 &&
		    a >= lo && a < hi)
			return ino;
	}
	fail("no mapping at %p", addr);
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

static sigjmp_buf segv_jmp;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(segv_jmp, 1);
}

/* Does reading addr fault? */
static int faults(const volatile uint8_t *addr)
{
	struct sigaction sa = { .sa_handler = on_segv }, old;
	int r = 0;

	sigaction(SIGSEGV, &sa, &old);
	if (sigsetjmp(segv_jmp, 1) == 0)
		(void)*addr;
	else
		r = 1;
	sigaction(SIGSEGV, &old, NULL);
	return r;
}

/* Run fn in a child; return its exit status. */
static int in_child(int (*fn)(void *), void *arg)
{
	int st;
	pid_t pid = fork();

	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		_exit(fn(arg));
	CHECK(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int child_write(void *p)
{
	memset(p, 0x77, 64);
	return 0;
}

static int child_sees_zeros(void *p)
{
	for (unsigned i = 0; i < 2 * PAGE; i++)
		if (((uint8_t *)p)[i])
			return 1;
	return 0;
}

int main(void)
{
	/* Private file mapping: 16 pages, 1, 4, 5 written, 0-3 read. */
	make_file("priv.dat", 16, 1);
	int fd = open("priv.dat", O_RDONLY);
	uint8_t *priv = map(16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd);
	volatile uint8_t sink = 0;

	close(fd);
	for (unsigned p = 0; p < 4; p++)
		sink += priv[p * PAGE + 1];
	fill_page(priv + 1 * PAGE, 1, 21);
	fill_page(priv + 4 * PAGE, 4, 21);
	fill_page(priv + 5 * PAGE, 5, 21);

	/* Shared file mapping: 8 pages, 2 and 6 rewritten. */
	make_file("shared.dat", 8, 2);
	fd = open("shared.dat", O_RDWR);
	uint8_t *shf = map(8 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd);

	close(fd);
	fill_page(shf + 2 * PAGE, 2, 22);
	fill_page(shf + 6 * PAGE, 6, 22);
	int shf_ro = open("shared.dat", O_RDONLY);
	int priv_ro = open("priv.dat", O_RDONLY);

	CHECK(shf_ro >= 0 && priv_ro >= 0, "open read-only: %s", strerror(errno));

	/* Both again from page 2 of their files; page 1 of each written. */
	fd = open("priv.dat", O_RDONLY);
	uint8_t *priv_off = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE,
				 fd, 2 * PAGE);

	close(fd);
	fd = open("shared.dat", O_RDWR);
	uint8_t *shf_off = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
				fd, 2 * PAGE);

	close(fd);
	CHECK(priv_off != MAP_FAILED && shf_off != MAP_FAILED, "mmap at an offset");
	fill_page(priv_off + PAGE, 3, 23);
	fill_page(shf_off + PAGE, 3, 23);	/* page 3 of shared.dat */

	/* Shared anonymous memory. */
	uint8_t *sha = map(4 * PAGE, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1);

	for (unsigned p = 0; p < 4; p++)
		fill_page(sha + p * PAGE, p, 3);

	/* Shared anonymous memory split in three by mprotect. */
	uint8_t *split = map(6 * PAGE, PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_ANONYMOUS, -1);

	for (unsigned p = 0; p < 6; p++)
		fill_page(split + p * PAGE, p, 13);
	CHECK(mprotect(split + 2 * PAGE, 2 * PAGE, PROT_READ) == 0, "mprotect: %s",
	      strerror(errno));

	/* A memfd mapped only privately, page 1 written. */
	fd = memfd_create("maps01-private", MFD_CLOEXEC);
	CHECK(fd >= 0 && ftruncate(fd, 3 * PAGE) == 0, "memfd: %s", strerror(errno));
	uint8_t *mfp = map(3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd);

	for (unsigned p = 0; p < 3; p++) {
		uint8_t buf[PAGE];

		fill_page(buf, p, 14);
		CHECK(pwrite(fd, buf, PAGE, (off_t)(p * PAGE)) == (ssize_t)PAGE, "pwrite");
	}
	close(fd);
	fill_page(mfp + PAGE, 1, 15);

	/* A memfd, mapped twice, page 3 of 5 never written; fd closed. */
	fd = memfd_create("maps01-memfd", MFD_CLOEXEC);
	CHECK(fd >= 0, "memfd_create: %s", strerror(errno));
	CHECK(ftruncate(fd, 5 * PAGE) == 0, "ftruncate: %s", strerror(errno));
	uint8_t *mfa = map(5 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	uint8_t *mfb = map(5 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd);

	close(fd);
	for (unsigned p = 0; p < 5; p++)
		if (p != 3)
			fill_page(mfa + p * PAGE, p, 4);
	CHECK(mfb[PAGE + 5] == val(1, 5, 4), "memfd mappings do not share");

	/* A file mapped private and shared, then unlinked. */
	make_file("gone.dat", 6, 5);
	fd = open("gone.dat", O_RDWR);
	uint8_t *gpriv = map(6 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd);
	uint8_t *gshr = map(6 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd);

	close(fd);
	fill_page(gpriv + 2 * PAGE, 2, 25);
	fill_page(gshr + 4 * PAGE, 4, 25);
	CHECK(unlink("gone.dat") == 0, "unlink: %s", strerror(errno));

	/* A named anonymous region. */
	uint8_t *named = map(3 * PAGE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1);

	int have_names = 1;

	if (prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)named,
		  3 * PAGE, (unsigned long)"maps01-name") != 0) {
		/* A kernel built without CONFIG_ANON_VMA_NAME. */
		CHECK(errno == EINVAL, "PR_SET_VMA_ANON_NAME: %s", strerror(errno));
		test_log("PR_SET_VMA_ANON_NAME unsupported by this kernel: names not tested");
		have_names = 0;
	}
	for (unsigned p = 0; p < 3; p++)
		fill_page(named + p * PAGE, p, 6);
	CHECK(!have_names || !strcmp(map_name(named), "[anon:maps01-name]"),
	      "name is \"%s\"", map_name(named));

	/* madvise flags, one region each, with data. */
	static const struct {
		int advice;
		const char *flag;
	} adv[] = {
		{ MADV_HUGEPAGE, "hg" },
		{ MADV_NOHUGEPAGE, "nh" },
		{ MADV_DONTDUMP, "dd" },
		{ MADV_WIPEONFORK, "wf" },
		{ MADV_DONTFORK, "dc" },
		{ MADV_SEQUENTIAL, "sr" },
		{ MADV_RANDOM, "rr" },
		{ MADV_MERGEABLE, "mg" },
		{ -1, "lo" },		/* mlock() */
	};
	enum { NADV = sizeof(adv) / sizeof(adv[0]) };
	uint8_t *advmem[NADV];
	int adv_ok[NADV];

	for (unsigned k = 0; k < NADV; k++) {
		advmem[k] = map(2 * PAGE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1);
		fill_page(advmem[k], 0, 7 + k);
		fill_page(advmem[k] + PAGE, 1, 7 + k);
		adv_ok[k] = adv[k].advice < 0 ? mlock(advmem[k], 2 * PAGE) == 0
					      : madvise(advmem[k], 2 * PAGE, adv[k].advice) == 0;
		if (!adv_ok[k] && adv[k].advice == MADV_MERGEABLE && errno == EINVAL) {
			test_log("MADV_MERGEABLE unsupported (no KSM): mg not tested");
			continue;
		}
		CHECK(adv_ok[k], "madvise %s: %s", adv[k].flag, strerror(errno));
		CHECK(has_vmflag(advmem[k], adv[k].flag),
		      "VmFlags lack %s before the checkpoint", adv[k].flag);
	}

	/* Guard pages 3 and 4 of 8. */
	uint8_t *guard = map(8 * PAGE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1);
	int have_guards = 1;

	for (unsigned p = 0; p < 8; p++)
		fill_page(guard + p * PAGE, p, 12);
	if (madvise(guard + 3 * PAGE, 2 * PAGE, MADV_GUARD_INSTALL) != 0) {
		CHECK(errno == EINVAL, "MADV_GUARD_INSTALL: %s", strerror(errno));
		test_log("MADV_GUARD_INSTALL unsupported by this kernel: guard pages not tested");
		have_guards = 0;
	}
	for (unsigned p = 0; have_guards && p < 8; p++)
		CHECK(!!(pagemap(guard + p * PAGE) >> PM_GUARD_BIT & 1) ==
			      (p == 3 || p == 4),
		      "pagemap guard bit of page %u is wrong before the checkpoint", p);

	test_checkpoint();

	/* Private file mapping. */
	for (unsigned p = 0; p < 16; p++)
		check_page(priv + p * PAGE, p,
			   p == 1 || p == 4 || p == 5 ? 21 : 1, "private file mapping");
	for (unsigned p = 0; p < 16; p++)
		check_file_page("priv.dat", p, 1);
	fill_page(priv + 7 * PAGE, 7, 31);
	check_file_page("priv.dat", 7, 1);	/* still private */

	/* Shared file mapping: file and mapping agree, both ways. */
	for (unsigned p = 0; p < 8; p++) {
		unsigned seed = p == 2 || p == 6 ? 22 : p == 3 ? 23 : 2;

		check_page(shf + p * PAGE, p, seed, "shared file mapping");
		check_file_page("shared.dat", p, seed);
	}
	fill_page(shf + 3 * PAGE, 3, 32);
	check_file_page("shared.dat", 3, 32);
	fd = open("shared.dat", O_RDWR);
	uint8_t buf[PAGE];

	fill_page(buf, 5, 33);
	CHECK(fd >= 0 && pwrite(fd, buf, PAGE, 5 * PAGE) == (ssize_t)PAGE,
	      "pwrite shared.dat: %s", strerror(errno));
	close(fd);
	check_page(shf + 5 * PAGE, 5, 33, "shared file mapping after pwrite");
	CHECK(msync(shf, 8 * PAGE, MS_SYNC) == 0, "msync: %s", strerror(errno));
	CHECK(pread(shf_ro, buf, PAGE, 6 * PAGE) == (ssize_t)PAGE, "pread shared.dat");
	check_page(buf, 6, 22, "read-only fd on shared.dat");
	CHECK(pread(priv_ro, buf, PAGE, 4 * PAGE) == (ssize_t)PAGE, "pread priv.dat");
	check_page(buf, 4, 1, "read-only fd on priv.dat");

	/* At an offset. */
	for (unsigned p = 0; p < 4; p++) {
		static const unsigned shf_seed[4] = { 22, 32, 2, 33 };

		check_page(priv_off + p * PAGE, p + 2, p == 1 ? 23 : 1,
			   "private file mapping at page 2");
		check_page(shf_off + p * PAGE, p + 2, shf_seed[p],
			   "shared file mapping at page 2");
	}

	/* Shared anonymous memory, shared with a child. */
	for (unsigned p = 0; p < 4; p++)
		check_page(sha + p * PAGE, p, 3, "shared anonymous memory");
	CHECK(in_child(child_write, sha + PAGE) == 0, "child failed");
	for (unsigned i = 0; i < 64; i++)
		CHECK(sha[PAGE + i] == 0x77,
		      "shared anonymous memory is no longer shared with a child");

	/* The split shared anonymous memory: data, sharing across pieces. */
	for (unsigned p = 0; p < 6; p++)
		check_page(split + p * PAGE, p, 13, "split shared anonymous memory");
	CHECK(in_child(child_write, split + 4 * PAGE) == 0, "child failed");
	for (unsigned i = 0; i < 64; i++)
		CHECK(split[4 * PAGE + i] == 0x77,
		      "split shared anonymous memory no longer shared with a child");
	/* One object: the same inode, at consecutive offsets. */
	unsigned long ino0 = 0, off;

	for (unsigned piece = 0; piece < 3; piece++) {
		unsigned long ino = map_inode(split + piece * 2 * PAGE, &off);

		if (piece == 0)
			ino0 = ino;
		CHECK(ino == ino0 && off == piece * 2 * PAGE,
		      "split shared memory: piece %u is inode %lu offset %#lx, piece 0 inode %lu",
		      piece, ino, off, ino0);
	}

	/* The private memfd. */
	for (unsigned p = 0; p < 3; p++)
		check_page(mfp + p * PAGE, p, p == 1 ? 15 : 14, "private memfd mapping");

	/* The memfd. */
	for (unsigned p = 0; p < 5; p++) {
		if (p == 3) {
			for (unsigned i = 0; i < PAGE; i++)
				CHECK(mfa[3 * PAGE + i] == 0 && mfb[3 * PAGE + i] == 0,
				      "memfd hole page byte %u", i);
			continue;
		}
		check_page(mfa + p * PAGE, p, 4, "memfd mapping A");
		check_page(mfb + p * PAGE, p, 4, "memfd mapping B");
	}
	fill_page(mfa + 3 * PAGE, 3, 34);
	check_page(mfb + 3 * PAGE, 3, 34, "memfd mappings no longer share: B");
	CHECK(!strncmp(map_name(mfa), "/memfd:maps01-memfd", 19),
	      "memfd mapping is now \"%s\"", map_name(mfa));

	/* The unlinked file. */
	CHECK(access("gone.dat", F_OK) != 0, "gone.dat came back");
	for (unsigned p = 0; p < 6; p++) {
		check_page(gpriv + p * PAGE, p, p == 2 ? 25 : p == 4 ? 25 : 5,
			   "private mapping of an unlinked file");
		check_page(gshr + p * PAGE, p, p == 4 ? 25 : 5,
			   "shared mapping of an unlinked file");
	}

	/* The named region. */
	for (unsigned p = 0; p < 3; p++)
		check_page(named + p * PAGE, p, 6, "named region");
	CHECK(!have_names || !strcmp(map_name(named), "[anon:maps01-name]"),
	      "named region is now \"%s\"", map_name(named));

	/* madvise flags. */
	for (unsigned k = 0; k < NADV; k++) {
		check_page(advmem[k], 0, 7 + k, adv[k].flag);
		check_page(advmem[k] + PAGE, 1, 7 + k, adv[k].flag);
		CHECK(!adv_ok[k] || has_vmflag(advmem[k], adv[k].flag),
		      "VmFlags lack %s after the restart", adv[k].flag);
	}
	CHECK(in_child(child_sees_zeros, advmem[3]) == 0,
	      "MADV_WIPEONFORK memory was not wiped in a child");

	/* Guard pages. */
	for (unsigned p = 0; p < 8; p++) {
		int g = (p == 3 || p == 4) && have_guards;

		if (!g) {
			check_page(guard + p * PAGE, p, 12, "neighbour of guard pages");
			continue;
		}
		CHECK(pagemap(guard + p * PAGE) >> PM_GUARD_BIT & 1,
		      "page %u is no longer a guard page (pagemap %#llx)", p,
		      (unsigned long long)pagemap(guard + p * PAGE));
		CHECK(faults(guard + p * PAGE + 100), "guard page %u can be read", p);
	}
	(void)sink;
	pass();
}

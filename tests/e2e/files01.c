/*
 * files01 - descriptors on regular files, directories and the plain
 * devices survive a restart with everything the kernel keeps per
 * descriptor and per open file description:
 *
 *   - a file opened O_RDWR keeps its offset in the middle of the file, and
 *     reads and writes there;
 *   - a file opened O_WRONLY|O_APPEND still appends after the restart;
 *   - a file opened O_RDONLY and read sequentially goes on at the next byte;
 *   - close-on-exec is kept per descriptor (F_GETFD), also between two
 *     descriptors sharing one open file description;
 *   - dup()ed descriptors still share their open file description (a seek
 *     on one moves the other) and two separate open()s of one file still
 *     do not;
 *   - a directory descriptor (O_DIRECTORY) is the same directory and
 *     openat() relative to it works;
 *   - descriptors at high numbers with gaps (10, 200) are where they were
 *     and the gaps are still closed; so is one above the RLIMIT_NOFILE
 *     the restart command starts with (when the test can raise its own
 *     limit above it: with a soft limit below the hard one, or with
 *     CAP_SYS_RESOURCE);
 *   - a directory read halfway with getdents64 goes on with the entries
 *     not yet read;
 *   - an O_PATH descriptor is still an O_PATH descriptor of the same file;
 *   - a file whose name really ends in " (deleted)" is not taken for an
 *     unlinked one;
 *   - /dev/null, /dev/zero, /dev/full and /dev/urandom behave as
 *     themselves;
 *   - standard descriptors are the program's, not the restart command's:
 *     fd 0 closed stays closed (with the image piped on the restart
 *     command's stdin too), fd 2 redirected to a file writes to that file;
 *   - O_NONBLOCK and the access modes are kept (F_GETFL);
 *   - no descriptor appears that the process did not have;
 *   - a second generation, checkpointed from the restarted process, keeps
 *     every descriptor's offset and flags again, and the sharing.
 */
#include <dirent.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "zdtm.h"

#define FILE_LEN 8192
#define MID 3000

static uint8_t byte_at(unsigned i, unsigned seed)
{
	return (uint8_t)((i * 131u + seed * 7u) ^ (i >> 8));
}

static void make_file(const char *name, unsigned seed)
{
	uint8_t buf[FILE_LEN];
	int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	CHECK(fd >= 0, "create %s: %s", name, strerror(errno));
	for (unsigned i = 0; i < FILE_LEN; i++)
		buf[i] = byte_at(i, seed);
	CHECK(write(fd, buf, FILE_LEN) == FILE_LEN, "write %s", name);
	CHECK(close(fd) == 0, "close %s", name);
}

/* Read n bytes at the descriptor's offset and compare them with the seed. */
static void expect_bytes(int fd, unsigned from, unsigned n, unsigned seed,
			 const char *what)
{
	uint8_t buf[256];

	CHECK(n <= sizeof(buf), "internal: %u bytes", n);
	ssize_t r = read(fd, buf, n);

	CHECK(r == (ssize_t)n, "%s: read %zd bytes, wanted %u (%s)", what, r, n,
	      r < 0 ? strerror(errno) : "short");
	for (unsigned i = 0; i < n; i++)
		CHECK(buf[i] == byte_at(from + i, seed),
		      "%s: byte %u is %#x, expected %#x", what, from + i, buf[i],
		      byte_at(from + i, seed));
}

static off_t where(int fd)
{
	return lseek(fd, 0, SEEK_CUR);
}

/* The set of open descriptors, as a bitmap over 0..255. */
static void open_fds(uint8_t set[256])
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	memset(set, 0, 256);
	CHECK(d, "opendir /proc/self/fd: %s", strerror(errno));
	while ((e = readdir(d))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		int fd = atoi(e->d_name);

		if (fd != dirfd(d) && fd < 256)
			set[fd] = 1;
	}
	closedir(d);
}

struct fd_state {
	off_t off;
	int fl, fdfl;
};

/* Offset (or -1), status flags and descriptor flags of each open fd. */
static void snapshot(const uint8_t set[256], struct fd_state st[256])
{
	memset(st, 0, 256 * sizeof(*st));
	for (int i = 0; i < 256; i++) {
		if (!set[i])
			continue;
		st[i].off = lseek(i, 0, SEEK_CUR);
		st[i].fl = fcntl(i, F_GETFL);
		st[i].fdfl = fcntl(i, F_GETFD);
	}
}

static void check_fl(int fd, int want, const char *what)
{
	int fl = fcntl(fd, F_GETFL);

	CHECK(fl >= 0, "%s: F_GETFL: %s", what, strerror(errno));
	fl &= O_ACCMODE | O_APPEND | O_NONBLOCK;
	CHECK(fl == want, "%s: status flags %#o, expected %#o", what, fl, want);
}

static void check_fd_flags(int fd, int want, const char *what)
{
	int f = fcntl(fd, F_GETFD);

	CHECK(f >= 0, "%s (fd %d): F_GETFD: %s", what, fd, strerror(errno));
	CHECK((f & FD_CLOEXEC) == want, "%s (fd %d): FD_CLOEXEC is %d, expected %d",
	      what, fd, f & FD_CLOEXEC, want);
}

/* Names from getdents64, appended to names (separated by '/'). */
static int read_dir_some(int fd, size_t bufsize, char *names, size_t cap)
{
	char buf[4096] __attribute__((aligned(8)));
	int count = 0;
	long n = syscall(SYS_getdents64, fd, buf, bufsize);

	CHECK(n >= 0, "getdents64: %s", strerror(errno));
	for (long off = 0; off < n;) {
		struct dirent64 *e = (void *)(buf + off);

		off += e->d_reclen;
		if (strlen(names) + strlen(e->d_name) + 2 < cap) {
			strcat(names, e->d_name);
			strcat(names, "/");
		}
		count++;
	}
	return count;
}

/*
 * An fd number above the restart command's RLIMIT_NOFILE (it inherits the
 * limits this process started with): raise our own limits to reach it.
 * Returns the number, or -1 when this process cannot go beyond them.
 */
static int beyond_limit(int src)
{
	struct rlimit rl;

	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0, "getrlimit");
	rlim_t start = rl.rlim_cur;

	if (rl.rlim_cur < rl.rlim_max && rl.rlim_cur < 100000) {
		rl.rlim_cur = rl.rlim_max;
		CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0, "setrlimit: %s", strerror(errno));
	} else if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 100000) {
		/* Raising the hard limit needs CAP_SYS_RESOURCE. */
		rl.rlim_max += 4096;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			CHECK(errno == EPERM, "setrlimit: %s", strerror(errno));
			return -1;
		}
	} else {
		return -1;
	}
	int at = (int)start + 100;

	if ((rlim_t)at >= rl.rlim_cur)
		at = (int)rl.rlim_cur - 1;
	CHECK(dup2(src, at) == at, "dup2 to %d: %s", at, strerror(errno));
	test_log("fd %d is above the restart command's RLIMIT_NOFILE %llu", at,
		 (unsigned long long)start);
	return at;
}

int main(void)
{
	uint8_t before[256], after[256];
	struct stat dir_st, st, path_st, odd_st;
	char dir_names[2][4096] = { "", "" };
	int dir_count[2] = { 0, 0 };

	make_file("rw.dat", 1);
	make_file("ro.dat", 2);
	make_file("twice.dat", 3);
	make_file("high.dat", 4);
	CHECK(mkdir("sub", 0755) == 0, "mkdir: %s", strerror(errno));
	int fd_in_sub = open("sub/inside", O_WRONLY | O_CREAT, 0644);

	CHECK(fd_in_sub >= 0 && write(fd_in_sub, "inside\n", 7) == 7 &&
		      close(fd_in_sub) == 0, "sub/inside");
	/* Enough entries that getdents64 with a small buffer stops halfway. */
	for (int i = 0; i < 40; i++) {
		char name[64];

		snprintf(name, sizeof(name), "sub/entry-with-a-long-name-%02d", i);
		CHECK(mkdir(name, 0755) == 0, "mkdir %s: %s", name, strerror(errno));
	}
	make_file("odd name (deleted)", 5);
	int logfd = open("append.log", O_WRONLY | O_CREAT | O_TRUNC, 0644);

	CHECK(logfd >= 0 && write(logfd, "first line\n", 11) == 11 && close(logfd) == 0,
	      "append.log");

	/*
	 * High numbers with gaps: 10 and 200, 200 sharing with 10; taken
	 * first, so that the other descriptors get the low numbers.
	 */
	int h = open("high.dat", O_RDWR);

	CHECK(h >= 0, "open high.dat: %s", strerror(errno));
	CHECK(dup2(h, 10) == 10 && close(h) == 0, "dup2 10: %s", strerror(errno));
	CHECK(fcntl(10, F_DUPFD_CLOEXEC, 200) == 200, "dup to 200: %s", strerror(errno));
	CHECK(lseek(10, 4321, SEEK_SET) == 4321, "lseek high.dat");

	/* O_RDWR, in the middle; one dup() sharing it, with other FD_CLOEXEC. */
	int rw = open("rw.dat", O_RDWR | O_CLOEXEC);

	CHECK(rw >= 0, "open rw.dat: %s", strerror(errno));
	CHECK(lseek(rw, MID, SEEK_SET) == MID, "lseek");
	int rw_dup = dup(rw);		/* dup() clears FD_CLOEXEC */

	CHECK(rw_dup >= 0, "dup: %s", strerror(errno));

	/* O_WRONLY|O_APPEND. */
	logfd = open("append.log", O_WRONLY | O_APPEND);
	CHECK(logfd >= 0, "open append.log: %s", strerror(errno));
	CHECK(write(logfd, "second line\n", 12) == 12, "append");

	/* O_RDONLY, read sequentially: 100 bytes read, then 17 more. */
	int ro = open("ro.dat", O_RDONLY | O_NONBLOCK);

	CHECK(ro >= 0, "open ro.dat: %s", strerror(errno));
	expect_bytes(ro, 0, 100, 2, "ro.dat before");
	expect_bytes(ro, 100, 17, 2, "ro.dat before");

	/* One file opened twice: two open file descriptions. */
	int t1 = open("twice.dat", O_RDONLY);
	int t2 = open("twice.dat", O_RDONLY | O_CLOEXEC);

	CHECK(t1 >= 0 && t2 >= 0, "open twice.dat: %s", strerror(errno));
	CHECK(lseek(t1, 1000, SEEK_SET) == 1000 && lseek(t2, 2000, SEEK_SET) == 2000,
	      "lseek twice.dat");

	/* A directory. */
	int dir = open("sub", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	CHECK(dir >= 0 && fstat(dir, &dir_st) == 0, "open sub: %s", strerror(errno));
	int rdir = open("sub", O_RDONLY | O_DIRECTORY);

	CHECK(rdir >= 0, "open sub: %s", strerror(errno));
	dir_count[0] = read_dir_some(rdir, 512, dir_names[0], sizeof(dir_names[0]));
	CHECK(dir_count[0] > 2 && dir_count[0] < 40, "read %d entries of sub", dir_count[0]);

	/* O_PATH, and a name that looks like an unlinked file's. */
	int opath = open("high.dat", O_PATH);
	int odd = open("odd name (deleted)", O_RDONLY);

	CHECK(opath >= 0 && fstat(opath, &path_st) == 0, "O_PATH: %s", strerror(errno));
	CHECK(odd >= 0 && fstat(odd, &odd_st) == 0 && lseek(odd, 30, SEEK_SET) == 30,
	      "odd name: %s", strerror(errno));

	/* Devices. */
	int devnull = open("/dev/null", O_RDWR);
	int devzero = open("/dev/zero", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	int devrand = open("/dev/urandom", O_RDONLY);
	int devfull = open("/dev/full", O_WRONLY);

	CHECK(devnull >= 0 && devzero >= 0 && devrand >= 0 && devfull >= 0,
	      "open devices: %s", strerror(errno));
	int far = beyond_limit(devfull);

	if (far < 0)
		test_log("RLIMIT_NOFILE cannot be raised: no fd above the restart command's limit");

	/* Standard descriptors: 0 closed, 2 a file (appending). */
	int errfd = open("stderr.log", O_WRONLY | O_CREAT | O_APPEND, 0644);

	CHECK(errfd >= 0 && dup2(errfd, 2) == 2 && close(errfd) == 0,
	      "stderr.log: %s", strerror(errno));
	CHECK(write(2, "before\n", 7) == 7, "write stderr.log");
	CHECK(close(0) == 0, "close(0): %s", strerror(errno));

	open_fds(before);
	int dump_fds = 0;

	for (int i = 0; i < 256; i++)
		dump_fds += before[i];
	test_log("%d descriptors before the checkpoint", dump_fds);

	test_checkpoint();

	/* Nothing more, nothing less: the gaps are still closed. */
	open_fds(after);
	for (int i = 0; i < 256; i++)
		CHECK(before[i] == after[i], "fd %d is %s after the restart", i,
		      after[i] ? "open" : "closed");
	CHECK(fcntl(100, F_GETFD) < 0 && errno == EBADF, "fd 100 is open");
	CHECK(fcntl(199, F_GETFD) < 0 && errno == EBADF, "fd 199 is open");
	CHECK(fcntl(201, F_GETFD) < 0 && errno == EBADF, "fd 201 is open");
	if (far >= 0) {
		CHECK(fstat(far, &st) == 0 && S_ISCHR(st.st_mode) &&
			      st.st_rdev == makedev(1, 7), "fd %d is not /dev/full", far);
		CHECK(fcntl(far - 1, F_GETFD) < 0 && errno == EBADF, "fd %d is open",
		      far - 1);
	}

	CHECK(fcntl(0, F_GETFD) < 0 && errno == EBADF, "fd 0 is open after the restart");
	CHECK(fstat(2, &st) == 0 && S_ISREG(st.st_mode), "fd 2 is no longer stderr.log");
	CHECK(write(2, "after\n", 6) == 6, "write fd 2: %s", strerror(errno));
	char errlog[32] = "";
	int el = open("stderr.log", O_RDONLY);

	CHECK(el >= 0 && read(el, errlog, sizeof(errlog) - 1) == 13 &&
		      !strcmp(errlog, "before\nafter\n"), "stderr.log holds \"%s\"", errlog);
	close(el);

	/* Status and descriptor flags. */
	check_fl(rw, O_RDWR, "rw.dat");
	check_fl(rw_dup, O_RDWR, "rw.dat dup");
	check_fl(logfd, O_WRONLY | O_APPEND, "append.log");
	check_fl(ro, O_RDONLY | O_NONBLOCK, "ro.dat");
	check_fl(t1, O_RDONLY, "twice.dat #1");
	check_fl(dir, O_RDONLY, "sub");
	check_fl(devnull, O_RDWR, "/dev/null");
	check_fl(devzero, O_RDONLY | O_NONBLOCK, "/dev/zero");
	check_fl(devrand, O_RDONLY, "/dev/urandom");
	check_fl(10, O_RDWR, "high.dat");
	check_fl(devfull, O_WRONLY, "/dev/full");
	check_fl(odd, O_RDONLY, "odd name (deleted)");
	CHECK((fcntl(opath, F_GETFL) & O_PATH) == O_PATH, "fd %d lost O_PATH", opath);
	check_fd_flags(rw, FD_CLOEXEC, "rw.dat");
	check_fd_flags(rw_dup, 0, "rw.dat dup");
	check_fd_flags(logfd, 0, "append.log");
	check_fd_flags(ro, 0, "ro.dat");
	check_fd_flags(t1, 0, "twice.dat #1");
	check_fd_flags(t2, FD_CLOEXEC, "twice.dat #2");
	check_fd_flags(dir, FD_CLOEXEC, "sub");
	check_fd_flags(devnull, 0, "/dev/null");
	check_fd_flags(devzero, FD_CLOEXEC, "/dev/zero");
	check_fd_flags(devrand, 0, "/dev/urandom");
	check_fd_flags(10, 0, "high.dat");
	check_fd_flags(200, FD_CLOEXEC, "high.dat at 200");

	/* O_RDWR: the offset, and reading and writing from there. */
	CHECK(where(rw) == MID, "rw.dat offset %lld, expected %d",
	      (long long)where(rw), MID);
	expect_bytes(rw, MID, 10, 1, "rw.dat");
	CHECK(write(rw, "XYZ", 3) == 3, "write rw.dat: %s", strerror(errno));
	char back[3];

	CHECK(pread(rw_dup, back, 3, MID + 10) == 3 && !memcmp(back, "XYZ", 3),
	      "write through rw.dat not at offset %d", MID + 10);

	/* dup: one open file description; separate opens: two. */
	CHECK(where(rw_dup) == MID + 13, "rw.dat dup offset %lld, expected %d",
	      (long long)where(rw_dup), MID + 13);
	CHECK(lseek(rw_dup, 77, SEEK_SET) == 77, "lseek dup");
	CHECK(where(rw) == 77, "rw.dat and its dup no longer share an offset (%lld)",
	      (long long)where(rw));
	CHECK(where(t1) == 1000 && where(t2) == 2000,
	      "twice.dat offsets %lld and %lld, expected 1000 and 2000",
	      (long long)where(t1), (long long)where(t2));
	CHECK(lseek(t1, 5, SEEK_SET) == 5, "lseek t1");
	CHECK(where(t2) == 2000, "separately opened twice.dat fds now share (%lld)",
	      (long long)where(t2));
	expect_bytes(t2, 2000, 8, 3, "twice.dat #2");
	CHECK(where(10) == 4321 && where(200) == 4321, "high.dat offsets %lld, %lld",
	      (long long)where(10), (long long)where(200));
	CHECK(lseek(200, 99, SEEK_SET) == 99 && where(10) == 99,
	      "fds 10 and 200 no longer share");
	expect_bytes(10, 99, 20, 4, "high.dat");

	/* O_APPEND: the write goes to the end, whatever the offset. */
	CHECK(lseek(logfd, 0, SEEK_SET) == 0, "lseek append.log");
	CHECK(write(logfd, "third line\n", 11) == 11, "append after restart");
	char log[64] = "";
	int lr = open("append.log", O_RDONLY);

	CHECK(lr >= 0, "reopen append.log");
	ssize_t ln = read(lr, log, sizeof(log) - 1);

	close(lr);
	CHECK(ln == 34 && !strcmp(log, "first line\nsecond line\nthird line\n"),
	      "append.log holds %zd bytes: \"%s\"", ln, log);

	/* O_RDONLY: the next read goes on at byte 117. */
	CHECK(where(ro) == 117, "ro.dat offset %lld, expected 117",
	      (long long)where(ro));
	expect_bytes(ro, 117, 50, 2, "ro.dat after");
	CHECK(write(ro, "x", 1) < 0 && errno == EBADF, "ro.dat became writable");

	/* The directory. */
	CHECK(fstat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
		      st.st_ino == dir_st.st_ino && st.st_dev == dir_st.st_dev,
	      "fd %d is not the directory sub any more", dir);
	int in = openat(dir, "inside", O_RDONLY);
	char ib[8] = "";

	CHECK(in >= 0, "openat(sub, inside): %s", strerror(errno));
	CHECK(read(in, ib, 7) == 7 && !memcmp(ib, "inside\n", 7), "sub/inside content");
	close(in);

	/* Halfway through the directory: the rest, and nothing twice. */
	for (int n; (n = read_dir_some(rdir, 512, dir_names[1], sizeof(dir_names[1])));)
		dir_count[1] += n;
	CHECK(dir_count[0] + dir_count[1] == 43,
	      "sub has 43 entries, read %d before and %d after the restart",
	      dir_count[0], dir_count[1]);
	for (char *p = dir_names[0], *slash; (slash = strchr(p, '/')); p = slash + 1) {
		char one[80];

		snprintf(one, sizeof(one), "/%.*s/", (int)(slash - p), p);
		char both[4200];

		snprintf(both, sizeof(both), "/%s", dir_names[1]);
		CHECK(!strstr(both, one), "entry %s read twice", one);
	}

	/* O_PATH and the odd name. */
	CHECK(fstat(opath, &st) == 0 && st.st_ino == path_st.st_ino &&
		      st.st_dev == path_st.st_dev, "O_PATH fd is another file");
	CHECK(read(opath, back, 1) < 0 && errno == EBADF, "O_PATH fd can be read");
	CHECK(fstat(odd, &st) == 0 && st.st_ino == odd_st.st_ino, "odd name: another file");
	expect_bytes(odd, 30, 20, 5, "odd name (deleted)");

	/* The devices. */
	uint8_t zb[64], rb[64], rb2[64];

	memset(zb, 0xff, sizeof(zb));
	CHECK(fstat(devzero, &st) == 0 && S_ISCHR(st.st_mode) &&
		      st.st_rdev == makedev(1, 5), "fd %d is not /dev/zero", devzero);
	CHECK(read(devzero, zb, sizeof(zb)) == sizeof(zb), "read /dev/zero");
	for (size_t i = 0; i < sizeof(zb); i++)
		CHECK(zb[i] == 0, "/dev/zero gave %#x", zb[i]);
	CHECK(fstat(devnull, &st) == 0 && st.st_rdev == makedev(1, 3),
	      "fd %d is not /dev/null", devnull);
	CHECK(write(devnull, zb, 10) == 10 && read(devnull, zb, 10) == 0,
	      "/dev/null misbehaves");
	CHECK(fstat(devrand, &st) == 0 && st.st_rdev == makedev(1, 9),
	      "fd %d is not /dev/urandom", devrand);
	CHECK(read(devrand, rb, sizeof(rb)) == sizeof(rb) &&
		      read(devrand, rb2, sizeof(rb2)) == sizeof(rb2) &&
		      memcmp(rb, rb2, sizeof(rb)), "/dev/urandom misbehaves");
	CHECK(fstat(devfull, &st) == 0 && st.st_rdev == makedev(1, 7),
	      "fd %d is not /dev/full", devfull);
	CHECK(write(devfull, "x", 1) < 0 && errno == ENOSPC, "/dev/full misbehaves");

	/* Second generation: everything as the restarted process left it. */
	struct fd_state gen1[256], gen2[256];

	CHECK(lseek(t2, 4000, SEEK_SET) == 4000 && lseek(rw, 1234, SEEK_SET) == 1234,
	      "lseek");
	open_fds(before);
	snapshot(before, gen1);
	test_checkpoint();
	open_fds(after);
	for (int i = 0; i < 256; i++)
		CHECK(before[i] == after[i], "generation 2: fd %d is %s", i,
		      after[i] ? "open" : "closed");
	snapshot(after, gen2);
	for (int i = 0; i < 256; i++)
		CHECK(!memcmp(&gen1[i], &gen2[i], sizeof(gen1[i])),
		      "generation 2: fd %d: offset %lld fl %#x fd %#x, was %lld %#x %#x", i,
		      (long long)gen2[i].off, gen2[i].fl, gen2[i].fdfl,
		      (long long)gen1[i].off, gen1[i].fl, gen1[i].fdfl);
	CHECK(lseek(rw_dup, 4444, SEEK_SET) == 4444 && where(rw) == 4444,
	      "generation 2: rw.dat and its dup no longer share");
	CHECK(lseek(t1, 1, SEEK_SET) == 1 && where(t2) == 4000,
	      "generation 2: separately opened twice.dat fds now share");
	CHECK(lseek(200, 7, SEEK_SET) == 7 && where(10) == 7,
	      "generation 2: fds 10 and 200 no longer share");
	pass();
}

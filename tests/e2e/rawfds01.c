/*
 * rawfds01 - descriptors and mappings made only by raw system calls come
 * back after a restart (docs/design.md, "Descriptors from the kernel, not
 * from interposed calls").
 *
 * A static helper, a language runtime or a program's own syscall() makes
 * descriptors that no interposed libc function ever sees; the checkpoint
 * reads them from the kernel, so they must be restored like any other.
 * Everything below is made with syscall(2), after the process has chdir'd
 * and renamed files, so that a table of "paths as opened" would be wrong:
 *
 *   - a file opened by a relative path, then renamed and the process in
 *     another directory: the fd is the renamed file, at its offset;
 *   - dup3 with O_CLOEXEC and fcntl F_DUPFD to fd 100: shared offsets,
 *     close-on-exec flags as set;
 *   - a pipe (pipe2, O_NONBLOCK) holding bytes;
 *   - a SOCK_SEQPACKET pair (socketpair) holding two records;
 *   - an eventfd (eventfd2) with a counter;
 *   - a memfd (memfd_create) with contents, by name;
 *   - a MAP_SHARED mapping of the file made by the mmap system call,
 *     written through: the file shows the writes, and writes after the
 *     restart go both ways.
 */
#include <limits.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "zdtm.h"

#define FILE_SIZE (64 * 1024)
#define MAP_OFF 8192
#define MAP_LEN 16384

static long sys(long nr, long a, long b, long c, long d, long e, long f)
{
	long r = syscall(nr, a, b, c, d, e, f);

	CHECK(r >= 0, "system call %ld: %s", nr, strerror(errno));
	return r;
}

static void link_is(int fd, const char *want_suffix)
{
	char proc[64], got[PATH_MAX];
	ssize_t n;
	size_t w = strlen(want_suffix);

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, got, sizeof(got) - 1);
	CHECK(n > 0, "readlink fd %d: %s", fd, strerror(errno));
	got[n] = '\0';
	CHECK((size_t)n >= w && !strcmp(got + n - w, want_suffix), "fd %d is %s, expected ...%s",
	      fd, got, want_suffix);
}

static void cloexec_is(int fd, int want)
{
	long fl = sys(SYS_fcntl, fd, F_GETFD, 0, 0, 0, 0);

	CHECK(!!(fl & FD_CLOEXEC) == want, "fd %d close-on-exec %d, expected %d", fd,
	      !!(fl & FD_CLOEXEC), want);
}

int main(void)
{
	int file, dup, hundred, pipefd[2], sp[2], efd, mfd;
	uint8_t *map, buf[4096];
	uint64_t count;

	/* A file opened relative to a directory the process then leaves. */
	CHECK(mkdir("rawdir", 0700) == 0 || errno == EEXIST, "mkdir: %s", strerror(errno));
	CHECK(chdir("rawdir") == 0, "chdir: %s", strerror(errno));
	file = (int)sys(SYS_openat, AT_FDCWD, (long)"opened.dat", O_RDWR | O_CREAT | O_TRUNC,
			0600, 0, 0);
	test_pwrite_pattern(file, 0, FILE_SIZE, 1);
	CHECK(rename("opened.dat", "renamed.dat") == 0, "rename: %s", strerror(errno));
	CHECK(chdir("..") == 0, "chdir ..: %s", strerror(errno));
	sys(SYS_lseek, file, 1000, SEEK_SET, 0, 0, 0);
	dup = (int)sys(SYS_dup3, file, 40, O_CLOEXEC, 0, 0, 0);
	hundred = (int)sys(SYS_fcntl, file, F_DUPFD, 100, 0, 0, 0);

	sys(SYS_pipe2, (long)pipefd, O_NONBLOCK, 0, 0, 0, 0);
	test_fill(buf, 0, 3000, 2);
	CHECK(write(pipefd[1], buf, 3000) == 3000, "pipe write: %s", strerror(errno));

	sys(SYS_socketpair, AF_UNIX, SOCK_SEQPACKET, 0, (long)sp, 0, 0);
	CHECK(write(sp[0], "first record", 12) == 12, "seqpacket write");
	CHECK(write(sp[0], "second", 6) == 6, "seqpacket write");

	efd = (int)sys(SYS_eventfd2, 5, 0, 0, 0, 0, 0);
	mfd = (int)sys(SYS_memfd_create, (long)"rawmem", 0, 0, 0, 0, 0);
	test_pwrite_pattern(mfd, 0, 20000, 3);
	sys(SYS_lseek, mfd, 777, SEEK_SET, 0, 0, 0);

	map = (uint8_t *)sys(SYS_mmap, 0, MAP_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, file,
			     MAP_OFF);
	test_fill(map, 0, 100, 4);	/* through the mapping, before */

	test_checkpoint();

	/* The file: renamed, same open description for all three fds. */
	link_is(file, "/rawdir/renamed.dat");
	link_is(dup, "/rawdir/renamed.dat");
	link_is(hundred, "/rawdir/renamed.dat");
	cloexec_is(file, 0);
	cloexec_is(dup, 1);
	cloexec_is(hundred, 0);
	CHECK(sys(SYS_lseek, file, 0, SEEK_CUR, 0, 0, 0) == 1000, "file offset not 1000");
	sys(SYS_lseek, dup, 2000, SEEK_SET, 0, 0, 0);
	CHECK(sys(SYS_lseek, hundred, 0, SEEK_CUR, 0, 0, 0) == 2000,
	      "fd 100 does not share the file's offset after the restart");
	test_pread_expect(file, 0, MAP_OFF, 1, "file before the mapping");
	test_pread_expect(file, MAP_OFF + 100, FILE_SIZE - MAP_OFF - 100, 1, "file after");

	/* The mapping: what was written through it is in the file, and
	 * writes go both ways now. */
	CHECK(pread(file, buf, 100, MAP_OFF) == 100, "pread: %s", strerror(errno));
	test_expect(buf, 0, 100, 4, "file bytes written through the mapping");
	test_expect(map + 100, MAP_OFF + 100, MAP_LEN - 100, 1, "mapping");
	map[5000] = 0xa5;
	CHECK(pread(file, buf, 1, MAP_OFF + 5000) == 1 && buf[0] == 0xa5,
	      "a store into the mapping after the restart is not in the file");
	buf[0] = 0x5a;
	CHECK(pwrite(file, buf, 1, MAP_OFF + 6000) == 1 && map[6000] == 0x5a,
	      "a write to the file after the restart is not in the mapping");

	/* The pipe, non-blocking, with its 3000 bytes and no more. */
	CHECK(read(pipefd[0], buf, sizeof(buf)) == 3000, "pipe: not 3000 bytes");
	test_expect(buf, 0, 3000, 2, "pipe");
	CHECK(read(pipefd[0], buf, 1) == -1 && errno == EAGAIN, "pipe: more than 3000 bytes");

	/* The seqpacket pair, record by record. */
	memset(buf, 0, sizeof(buf));
	CHECK(read(sp[1], buf, sizeof(buf)) == 12 && !memcmp(buf, "first record", 12),
	      "first seqpacket record");
	CHECK(read(sp[1], buf, sizeof(buf)) == 6 && !memcmp(buf, "second", 6),
	      "second seqpacket record");

	/* The eventfd and the memfd. */
	CHECK(read(efd, &count, 8) == 8 && count == 5, "eventfd count %llu, expected 5",
	      (unsigned long long)count);
	link_is(mfd, "/memfd:rawmem (deleted)");
	CHECK(sys(SYS_lseek, mfd, 0, SEEK_CUR, 0, 0, 0) == 777, "memfd offset not 777");
	test_pread_expect(mfd, 0, 20000, 3, "memfd");
	pass();
}

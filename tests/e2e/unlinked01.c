/*
 * unlinked01 - files unlinked while open are there after a restart, with
 * their contents, at the same numbers and offsets (issue 5, P15):
 *
 *   - a file unlinked after writing 3 pages and 100 bytes, read up to byte
 *     1000: the same size, bytes, offset and mode (0640), still unlinked
 *     (st_nlink 0, "/... (deleted)" in /proc/self/fd), on the same file
 *     system as the directory it was in;
 *   - dup() shares the offset with its original, a second open of the
 *     same file (via /proc/self/fd) has its own, and all three are the
 *     same file (a write through one shows through the others);
 *   - a write-only descriptor on a file whose mode is 0400 (the creator
 *     may write, nobody may open it again for writing) still writes;
 *   - a sparse file (64 MiB, two pages written) keeps its holes: the image
 *     holds only its data, and after the restart it uses a few blocks;
 *   - an O_TMPFILE file can still be given a name with linkat();
 *   - a file both open and mapped MAP_SHARED is one file after the restart:
 *     a write through the descriptor shows in the mapping and the other
 *     way round;
 *   - a file larger than SELFCKPT_MAX_FILE_DATA fails the checkpoint with
 *     ENOTSUP and a message naming the fd, the file and its size (in a
 *     child that sets a small limit: the library reads it at load time);
 *   - a second generation, after more writes, again.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "zdtm.h"

#define PAGE 4096
#define MAIN_LEN (3 * PAGE + 100)
#define SPARSE_LEN (64 << 20)

static void still_unlinked(int fd, const char *what)
{
	char link[64], target[4096];
	struct stat st;
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	CHECK(n > 0, "%s: readlink: %s", what, strerror(errno));
	target[n] = '\0';
	CHECK(fstat(fd, &st) == 0 && st.st_nlink == 0, "%s: fd %d is %s, %lu links",
	      what, fd, target, (unsigned long)st.st_nlink);
	CHECK(strstr(target, " (deleted)"), "%s: fd %d is %s", what, fd, target);
}

/* The size limit, in a child of its own (the library reads it at load). */
static int limit_child(void)
{
	int fd = open("big.dat", O_RDWR | O_CREAT | O_TRUNC, 0600);

	CHECK(fd >= 0 && unlink("big.dat") == 0, "big.dat: %s", strerror(errno));
	test_pwrite_pattern(fd, 0, 100 * 1024, 1);
	long r = selfckpt_checkpoint("limit.img", SELFCKPT_NO_SYNC);
	const char *msg = selfckpt_last_error();

	CHECK(r == -1 && errno == ENOTSUP, "checkpoint over the limit returned %ld (%s)",
	      r, strerror(errno));
	char want[128];

	snprintf(want, sizeof(want), "fd %d is an unlinked file (", fd);
	CHECK(strstr(msg, want) && strstr(msg, "big.dat (deleted)) holding 102400 bytes") &&
		      strstr(msg, "more than the 65536 a checkpoint saves of one file (SELFCKPT_MAX_FILE_DATA)"),
	      "message: %s", msg);
	CHECK(access("limit.img", F_OK) != 0, "an image was written");
	test_log("over the limit: \"%s\"", msg);
	return 0;
}

static void check_limit(void)
{
	pid_t pid = fork();
	int st;

	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		char *argv[] = { "unlinked01", "limit", NULL };

		setenv("SELFCKPT_MAX_FILE_DATA", "64K", 1);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "the size-limit child failed (status %x)", st);
}

int main(int argc, char **argv)
{
	struct stat dir, st;

	if (argc > 1 && !strcmp(argv[1], "limit"))
		return limit_child();
	check_limit();
	umask(022);
	CHECK(stat(".", &dir) == 0, "stat .");

	int a = open("main.dat", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);

	CHECK(a >= 0, "main.dat: %s", strerror(errno));
	test_pwrite_pattern(a, 0, MAIN_LEN, 1);
	CHECK(unlink("main.dat") == 0, "unlink");
	CHECK(lseek(a, 1000, SEEK_SET) == 1000, "lseek");
	int a_dup = dup(a);
	char self[64];

	snprintf(self, sizeof(self), "/proc/self/fd/%d", a);
	int a_own = open(self, O_RDONLY);

	CHECK(a_dup >= 0 && a_own >= 0, "dup/open: %s", strerror(errno));
	CHECK(lseek(a_own, 77, SEEK_SET) == 77, "lseek own");

	int w = open("wronly.dat", O_WRONLY | O_CREAT | O_TRUNC, 0400);

	CHECK(w >= 0 && unlink("wronly.dat") == 0, "wronly.dat: %s", strerror(errno));
	CHECK(write(w, "abc", 3) == 3, "write wronly");

	int sp = open("sparse.dat", O_RDWR | O_CREAT | O_TRUNC, 0600);

	CHECK(sp >= 0 && ftruncate(sp, SPARSE_LEN) == 0 && unlink("sparse.dat") == 0,
	      "sparse.dat: %s", strerror(errno));
	test_pwrite_pattern(sp, PAGE, PAGE, 2);
	test_pwrite_pattern(sp, SPARSE_LEN / 2, PAGE, 3);

	int t = open(".", O_TMPFILE | O_RDWR, 0600);

	CHECK(t >= 0, "O_TMPFILE: %s", strerror(errno));
	test_pwrite_pattern(t, 0, 5000, 4);

	int m = open("mapped.dat", O_RDWR | O_CREAT | O_TRUNC, 0600);

	CHECK(m >= 0 && ftruncate(m, 2 * PAGE) == 0 && unlink("mapped.dat") == 0,
	      "mapped.dat: %s", strerror(errno));
	char *map = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);

	CHECK(map != MAP_FAILED, "mmap: %s", strerror(errno));
	strcpy(map, "through the mapping");
	CHECK(pwrite(m, "through the fd", 14, PAGE) == 14, "pwrite m");

	long id = test_checkpoint();

	/* ---- restarted ---- */
	CHECK(id == 1, "id %ld", id);
	still_unlinked(a, "main");
	CHECK(fstat(a, &st) == 0 && st.st_size == MAIN_LEN && (st.st_mode & 07777) == 0640,
	      "main: size %lld mode %o", (long long)st.st_size, st.st_mode & 07777);
	CHECK(st.st_dev == dir.st_dev, "main is on device %lx, its directory on %lx",
	      (unsigned long)st.st_dev, (unsigned long)dir.st_dev);
	CHECK((fcntl(a, F_GETFD) & FD_CLOEXEC) && !(fcntl(a_dup, F_GETFD) & FD_CLOEXEC),
	      "close-on-exec flags");
	test_pread_expect(a, 0, MAIN_LEN, 1, "main");
	CHECK(lseek(a, 0, SEEK_CUR) == 1000 && lseek(a_own, 0, SEEK_CUR) == 77,
	      "offsets %lld and %lld", (long long)lseek(a, 0, SEEK_CUR),
	      (long long)lseek(a_own, 0, SEEK_CUR));
	CHECK(lseek(a_dup, 2000, SEEK_SET) == 2000 && lseek(a, 0, SEEK_CUR) == 2000,
	      "dup no longer shares the offset");
	CHECK(lseek(a_own, 0, SEEK_CUR) == 77, "the second open shares the offset");
	CHECK(pwrite(a, "Z", 1, 5) == 1, "pwrite main");
	char c;

	CHECK(pread(a_own, &c, 1, 5) == 1 && c == 'Z', "the second open is another file");
	CHECK((fcntl(a_own, F_GETFL) & O_ACCMODE) == O_RDONLY, "second open's access mode");

	still_unlinked(w, "write-only");
	CHECK(fstat(w, &st) == 0 && (st.st_mode & 07777) == 0400 && st.st_size == 3,
	      "write-only: mode %o size %lld", st.st_mode & 07777, (long long)st.st_size);
	CHECK(write(w, "def", 3) == 3 && fstat(w, &st) == 0 && st.st_size == 6,
	      "write-only: cannot write: %s", strerror(errno));

	still_unlinked(sp, "sparse");
	CHECK(fstat(sp, &st) == 0 && st.st_size == SPARSE_LEN, "sparse: size %lld",
	      (long long)st.st_size);
	CHECK(st.st_blocks * 512 < 1 << 20, "sparse: %lld bytes allocated",
	      (long long)st.st_blocks * 512);
	test_pread_expect(sp, PAGE, PAGE, 2, "sparse page 1");
	test_pread_expect(sp, SPARSE_LEN / 2, PAGE, 3, "sparse middle page");
	CHECK(pread(sp, &c, 1, 0) == 1 && c == 0, "sparse: byte 0 is %d", c);
	struct stat img;

	CHECK(stat(test_image(), &img) == 0 && img.st_size < 16 << 20,
	      "the image is %lld bytes: the holes were stored", (long long)img.st_size);

	test_pread_expect(t, 0, 5000, 4, "O_TMPFILE");
	snprintf(self, sizeof(self), "/proc/self/fd/%d", t);
	unlink("linked.dat");
	CHECK(linkat(AT_FDCWD, self, AT_FDCWD, "linked.dat", AT_SYMLINK_FOLLOW) == 0,
	      "linkat of the O_TMPFILE file: %s", strerror(errno));
	int l = open("linked.dat", O_RDONLY);

	CHECK(l >= 0, "linked.dat: %s", strerror(errno));
	test_pread_expect(l, 0, 5000, 4, "linked.dat");
	close(l);
	CHECK(unlink("linked.dat") == 0, "unlink linked.dat");

	CHECK(!strcmp(map, "through the mapping"), "mapping holds \"%.20s\"", map);
	CHECK(!memcmp(map + PAGE, "through the fd", 14), "the fd's write is not mapped");
	CHECK(pwrite(m, "again", 5, 0) == 5 && !memcmp(map, "again", 5),
	      "a write through the fd does not show in the mapping");
	memcpy(map + PAGE, "MAPPED", 6);
	char buf[8];

	CHECK(pread(m, buf, 6, PAGE) == 6 && !memcmp(buf, "MAPPED", 6),
	      "a write through the mapping does not show through the fd");

	/* Second generation. */
	test_pwrite_pattern(a, 0, MAIN_LEN, 5);
	CHECK(write(w, "ghi", 3) == 3, "write w");
	id = test_checkpoint();
	CHECK(id == 2, "id %ld", id);
	test_pread_expect(a, 0, MAIN_LEN, 5, "main, generation 2");
	CHECK(fstat(w, &st) == 0 && st.st_size == 9, "write-only, generation 2: size %lld",
	      (long long)st.st_size);
	still_unlinked(a, "main, generation 2");
	CHECK(!memcmp(map, "again", 5) && !memcmp(map + PAGE, "MAPPED", 6),
	      "mapping, generation 2");
	pass();
}

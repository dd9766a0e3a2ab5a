/*
 * memfd01 - memfds held by descriptors are there after a restart (issue 5):
 *
 *   - one open (offset 123) and mapped MAP_SHARED read-write: the same
 *     name in /proc/self/fd, size, contents, offset, mode; a write through
 *     the descriptor shows in the mapping and one through the mapping in
 *     the file; its seals (F_SEAL_SHRINK | F_SEAL_GROW) are kept: it
 *     cannot grow or shrink, and more seals can still be added;
 *   - one sealed against writes (F_SEAL_WRITE) and mapped read-only: its
 *     contents, write() fails with EPERM, and the mapping reads the data;
 *   - one made without MFD_ALLOW_SEALING: F_SEAL_SEAL, no seal can be
 *     added; without MFD_CLOEXEC: no close-on-exec;
 *   - one mapped MAP_PRIVATE with a page written: the mapping shows the
 *     write, the file does not;
 *   - one of 256 MiB with one page written: the image holds only that
 *     page (it is far smaller than the memfd);
 *   - one made with MFD_NOEXEC_SEAL (where the kernel has it, 6.3+):
 *     F_SEAL_EXEC and a mode without execute bits, again;
 *   - a second generation after more writes.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "zdtm.h"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

#define PAGE 4096
#define A_LEN 20000
#define HUGE_LEN (256 << 20)

static void named(int fd, const char *name)
{
	char link[64], target[512], want[512];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	CHECK(n > 0, "readlink fd %d: %s", fd, strerror(errno));
	target[n] = '\0';
	snprintf(want, sizeof(want), "/memfd:%s (deleted)", name);
	CHECK(!strcmp(target, want), "fd %d is %s, expected %s", fd, target, want);
}

int main(void)
{
	struct stat st;

	int a = memfd_create("memfd01 a", MFD_ALLOW_SEALING | MFD_CLOEXEC);

	CHECK(a >= 0 && ftruncate(a, A_LEN) == 0, "memfd a: %s", strerror(errno));
	test_pwrite_pattern(a, 0, A_LEN, 1);
	CHECK(fchmod(a, 0751) == 0, "fchmod a");
	uint8_t *am = mmap(NULL, 5 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, a, 0);

	CHECK(am != MAP_FAILED, "mmap a: %s", strerror(errno));
	CHECK(fcntl(a, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0, "seal a: %s",
	      strerror(errno));
	CHECK(lseek(a, 123, SEEK_SET) == 123, "lseek a");

	int w = memfd_create("memfd01 w", MFD_ALLOW_SEALING | MFD_CLOEXEC);

	CHECK(w >= 0, "memfd w: %s", strerror(errno));
	test_pwrite_pattern(w, 0, 3 * PAGE, 2);
	CHECK(fcntl(w, F_ADD_SEALS, F_SEAL_WRITE) == 0, "seal w: %s", strerror(errno));
	uint8_t *wm = mmap(NULL, 3 * PAGE, PROT_READ, MAP_SHARED, w, 0);

	CHECK(wm != MAP_FAILED, "mmap w: %s", strerror(errno));

	int n = memfd_create("memfd01 n", 0);

	CHECK(n >= 0, "memfd n: %s", strerror(errno));
	test_pwrite_pattern(n, 0, 100, 3);

	int p = memfd_create("memfd01 p", MFD_CLOEXEC);

	CHECK(p >= 0 && ftruncate(p, 2 * PAGE) == 0, "memfd p: %s", strerror(errno));
	test_pwrite_pattern(p, 0, 2 * PAGE, 4);
	uint8_t *pm = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, p, 0);

	CHECK(pm != MAP_FAILED, "mmap p: %s", strerror(errno));
	memset(pm + PAGE, 0x5a, PAGE);

	int h = memfd_create("memfd01 huge", MFD_CLOEXEC);

	CHECK(h >= 0 && ftruncate(h, HUGE_LEN) == 0, "memfd huge: %s", strerror(errno));
	test_pwrite_pattern(h, HUGE_LEN / 2, PAGE, 5);

	int x = memfd_create("memfd01 noexec", MFD_NOEXEC_SEAL | MFD_CLOEXEC);
	int x_seals = -1, x_mode = -1;

	if (x >= 0) {
		test_pwrite_pattern(x, 0, 10, 6);
		x_seals = fcntl(x, F_GET_SEALS);
		CHECK(fstat(x, &st) == 0, "fstat x");
		x_mode = st.st_mode & 07777;
		CHECK(x_seals & F_SEAL_EXEC, "MFD_NOEXEC_SEAL gave seals %x", x_seals);
	} else {
		test_log("no MFD_NOEXEC_SEAL here (%s): not checked", strerror(errno));
	}

	long id = test_checkpoint();

	/* ---- restarted ---- */
	CHECK(id == 1, "id %ld", id);
	named(a, "memfd01 a");
	CHECK(fstat(a, &st) == 0 && st.st_size == A_LEN && (st.st_mode & 07777) == 0751,
	      "a: size %lld mode %o", (long long)st.st_size, st.st_mode & 07777);
	test_pread_expect(a, 0, A_LEN, 1, "a");
	CHECK(lseek(a, 0, SEEK_CUR) == 123, "a: offset %lld", (long long)lseek(a, 0, SEEK_CUR));
	CHECK(fcntl(a, F_GET_SEALS) == (F_SEAL_SHRINK | F_SEAL_GROW), "a: seals %x",
	      fcntl(a, F_GET_SEALS));
	CHECK(fcntl(a, F_GETFD) & FD_CLOEXEC, "a: close-on-exec lost");
	for (size_t i = 0; i < A_LEN; i++)
		CHECK(am[i] == test_pattern(i, 1), "a: mapped byte %zu", i);
	CHECK(pwrite(a, "fd", 2, 10) == 2 && !memcmp(am + 10, "fd", 2),
	      "a: a write through the fd does not show in the mapping");
	memcpy(am + 3 * PAGE, "map", 3);
	char buf[8];

	CHECK(pread(a, buf, 3, 3 * PAGE) == 3 && !memcmp(buf, "map", 3),
	      "a: a write through the mapping does not show in the file");
	CHECK(ftruncate(a, A_LEN + 1) < 0 && errno == EPERM, "a: grew despite F_SEAL_GROW");
	CHECK(ftruncate(a, 1) < 0 && errno == EPERM, "a: shrank despite F_SEAL_SHRINK");
	CHECK(fcntl(a, F_ADD_SEALS, F_SEAL_SEAL) == 0, "a: cannot add a seal: %s",
	      strerror(errno));

	named(w, "memfd01 w");
	test_pread_expect(w, 0, 3 * PAGE, 2, "w");
	CHECK(fcntl(w, F_GET_SEALS) == F_SEAL_WRITE, "w: seals %x", fcntl(w, F_GET_SEALS));
	CHECK(pwrite(w, "x", 1, 0) < 0 && errno == EPERM, "w: a write went through");
	for (size_t i = 0; i < 3 * PAGE; i++)
		CHECK(wm[i] == test_pattern(i, 2), "w: mapped byte %zu", i);

	named(n, "memfd01 n");
	test_pread_expect(n, 0, 100, 3, "n");
	CHECK(fcntl(n, F_GET_SEALS) == F_SEAL_SEAL, "n: seals %x", fcntl(n, F_GET_SEALS));
	CHECK(fcntl(n, F_ADD_SEALS, F_SEAL_GROW) < 0 && errno == EPERM, "n: sealed");
	CHECK(!(fcntl(n, F_GETFD) & FD_CLOEXEC), "n: close-on-exec set");
	CHECK(lseek(n, 0, SEEK_CUR) == 0, "n: offset");

	test_pread_expect(p, 0, 2 * PAGE, 4, "p (the file)");
	for (size_t i = 0; i < PAGE; i++)
		CHECK(pm[i] == test_pattern(i, 4) && pm[PAGE + i] == 0x5a, "p: mapped byte %zu", i);

	CHECK(fstat(h, &st) == 0 && st.st_size == HUGE_LEN, "huge: size %lld",
	      (long long)st.st_size);
	test_pread_expect(h, HUGE_LEN / 2, PAGE, 5, "huge");
	CHECK(pread(h, buf, 1, 0) == 1 && buf[0] == 0, "huge: byte 0");
	struct stat img;

	CHECK(stat(test_image(), &img) == 0 && img.st_size < 32 << 20,
	      "the image is %lld bytes", (long long)img.st_size);

	if (x >= 0) {
		named(x, "memfd01 noexec");
		CHECK(fcntl(x, F_GET_SEALS) == x_seals, "noexec: seals %x, were %x",
		      fcntl(x, F_GET_SEALS), x_seals);
		CHECK(fstat(x, &st) == 0 && (int)(st.st_mode & 07777) == x_mode,
		      "noexec: mode %o, was %o", st.st_mode & 07777, x_mode);
		test_pread_expect(x, 0, 10, 6, "noexec");
	}

	/* Second generation. */
	test_pwrite_pattern(a, 0, 100, 7);
	memset(pm, 0x33, 16);
	id = test_checkpoint();
	CHECK(id == 2, "id %ld", id);
	test_pread_expect(a, 0, 100, 7, "a, generation 2");
	CHECK(fcntl(a, F_GET_SEALS) == (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
	      "a, generation 2: seals %x", fcntl(a, F_GET_SEALS));
	CHECK(!memcmp(am, "\x00", 0) && am[0] == test_pattern(0, 7), "a, generation 2: mapping");
	CHECK(pm[0] == 0x33 && pm[PAGE] == 0x5a, "p, generation 2: mapping");
	test_pread_expect(w, 0, 3 * PAGE, 2, "w, generation 2");
	pass();
}

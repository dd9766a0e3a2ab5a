/*
 * shm01 - POSIX shared memory (shm_open, files on the tmpfs at /dev/shm)
 * after a restart (issue 5):
 *
 *   - an object open and mapped MAP_SHARED is the same object again (the
 *     descriptor is reopened by its path, the mapping maps it): its
 *     contents, size, offset and mode; a write through the mapping shows
 *     through the descriptor and in a new shm_open of the name;
 *   - an object shm_unlink'ed while open and mapped is saved like any
 *     unlinked file: the same contents, the descriptor and the mapping
 *     one object again, still unlinked;
 *   - an object mapped only, its descriptor closed and its name removed,
 *     is saved with the mapping (as a memfd after the restart);
 *   - a second generation.
 *
 * Objects that keep their name are files: what they hold at the restart
 * is what the restarted process sees (docs/limitations.md).
 */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "zdtm.h"

#define PAGE 4096

static char name_a[64], name_b[64], name_c[64];

static uint8_t *make(const char *name, int *fd, size_t len, unsigned seed)
{
	*fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0640);
	CHECK(*fd >= 0, "shm_open %s: %s", name, strerror(errno));
	CHECK(ftruncate(*fd, (off_t)len) == 0, "ftruncate %s", name);
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);

	CHECK(p != MAP_FAILED, "mmap %s: %s", name, strerror(errno));
	test_fill(p, 0, len, seed);
	return p;
}

int main(void)
{
	int a, b, c;
	struct stat st, by_name;
	uint8_t buf[16];

	snprintf(name_a, sizeof(name_a), "/selfckpt-shm01-a-%d", (int)getpid());
	snprintf(name_b, sizeof(name_b), "/selfckpt-shm01-b-%d", (int)getpid());
	snprintf(name_c, sizeof(name_c), "/selfckpt-shm01-c-%d", (int)getpid());
	uint8_t *pa = make(name_a, &a, 3 * PAGE, 1);
	uint8_t *pb = make(name_b, &b, 2 * PAGE, 2);
	uint8_t *pc = make(name_c, &c, PAGE, 3);

	CHECK(lseek(a, 100, SEEK_SET) == 100, "lseek a");
	CHECK(shm_unlink(name_b) == 0, "shm_unlink b");
	close(c);
	CHECK(shm_unlink(name_c) == 0, "shm_unlink c");

	long id = test_checkpoint();

	CHECK(id == 1, "id %ld", id);
	/* a: the same object, by its name. */
	test_expect(pa, 0, 3 * PAGE, 1, "a, mapped");
	CHECK(fstat(a, &st) == 0 && st.st_size == 3 * PAGE && (st.st_mode & 0777) == 0640,
	      "a: size %lld mode %o", (long long)st.st_size, st.st_mode & 0777);
	CHECK(lseek(a, 0, SEEK_CUR) == 100, "a: offset");
	int again = shm_open(name_a, O_RDWR, 0);

	CHECK(again >= 0 && fstat(again, &by_name) == 0 && by_name.st_ino == st.st_ino &&
		      by_name.st_dev == st.st_dev,
	      "a: the name is another object now");
	pa[5] = 0xee;
	CHECK(pread(a, buf, 1, 5) == 1 && buf[0] == 0xee && pread(again, buf, 1, 5) == 1 &&
		      buf[0] == 0xee,
	      "a: a write through the mapping does not show through the descriptors");
	close(again);
	pa[5] = test_pattern(5, 1);

	/* b: unlinked, one object for the descriptor and the mapping. */
	test_expect(pb, 0, 2 * PAGE, 2, "b, mapped");
	CHECK(fstat(b, &st) == 0 && st.st_nlink == 0 && st.st_size == 2 * PAGE,
	      "b: links %lu size %lld", (unsigned long)st.st_nlink, (long long)st.st_size);
	CHECK(pwrite(b, "B", 1, PAGE) == 1 && pb[PAGE] == 'B',
	      "b: a write through the descriptor does not show in the mapping");
	pb[PAGE] = test_pattern(PAGE, 2);
	CHECK(shm_open(name_b, O_RDWR, 0) < 0 && errno == ENOENT, "b has a name again");

	/* c: mapped only. */
	test_expect(pc, 0, PAGE, 3, "c, mapped");

	id = test_checkpoint();
	CHECK(id == 2, "id %ld", id);
	test_expect(pa, 0, 3 * PAGE, 1, "a, generation 2");
	test_expect(pb, 0, 2 * PAGE, 2, "b, generation 2");
	test_expect(pc, 0, PAGE, 3, "c, generation 2");
	CHECK(shm_unlink(name_a) == 0, "shm_unlink a");
	pass();
}

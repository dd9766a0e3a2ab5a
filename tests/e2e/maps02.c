/*
 * maps02 - a shared mapping of a file whose name contains a newline is
 * still a mapping of that file after a restart: writes through it reach
 * the file, and changes to the file show in it. (/proc/self/maps prints
 * the newline as "\012", so the name read there is not the file's path.)
 */
#include <sys/mman.h>

#include "zdtm.h"

#define NAME "two\nlines.dat"

int main(void)
{
	char buf[16] = "";
	int fd = open(NAME, O_RDWR | O_CREAT | O_TRUNC, 0644);

	CHECK(fd >= 0 && ftruncate(fd, 4096) == 0, "create: %s", strerror(errno));
	char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
	close(fd);
	strcpy(p, "before");

	test_checkpoint();

	CHECK(!strcmp(p, "before"), "mapping holds \"%s\"", p);
	strcpy(p, "after!");
	fd = open(NAME, O_RDWR);
	CHECK(fd >= 0 && pread(fd, buf, 6, 0) == 6, "pread: %s", strerror(errno));
	CHECK(!strcmp(buf, "after!"),
	      "the file holds \"%s\": the shared mapping no longer reaches it", buf);
	CHECK(pwrite(fd, "file", 4, 100) == 4, "pwrite");
	CHECK(!memcmp(p + 100, "file", 4), "a write to the file does not show in the mapping");
	close(fd);
	pass();
}

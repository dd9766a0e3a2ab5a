/*
 * leak02 - memory that the checkpoint cannot read must fail it, not be
 * saved empty: a memfd_secret() mapping (Linux 5.14+, its pages are not
 * even in the kernel's direct map, so /proc/self/mem cannot read them)
 * makes selfckpt_checkpoint() return -1 with errno ENOTSUP and a message
 * naming the mapping; the process goes on with its secret intact, and
 * checkpoints fine once the mapping is gone.
 */
#include <sys/mman.h>
#include <sys/syscall.h>

#include "zdtm.h"

#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447
#endif

int main(void)
{
	int fd = (int)syscall(SYS_memfd_secret, 0);

	if (fd < 0) {
		/* ENOSYS without CONFIG_SECRETMEM, or secretmem disabled at boot. */
		test_log("memfd_secret: %s: nothing to test", strerror(errno));
		test_checkpoint();
		pass();
	}
	CHECK(ftruncate(fd, 8192) == 0, "ftruncate: %s", strerror(errno));
	char *secret = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	CHECK(secret != MAP_FAILED, "mmap: %s", strerror(errno));
	CHECK(close(fd) == 0, "close");
	strcpy(secret, "the secret");
	strcpy(secret + 4096, "second page");

	errno = 0;
	long r = selfckpt_checkpoint(test_image(), SELFCKPT_NO_SYNC);

	if (r == 0) {
		/* Restarted from an image that claimed to hold it. */
		CHECK(!strcmp(secret, "the secret") && !strcmp(secret + 4096, "second page"),
		      "the memfd_secret data did not survive");
		pass();
	}
	CHECK(r < 0, "a checkpoint with a memfd_secret mapping succeeded (id %ld): "
	      "its pages cannot be read, the image holds none of them", r);
	CHECK(errno == ENOTSUP, "errno %d (%s), expected ENOTSUP", errno, strerror(errno));
	test_log("refused: %s", selfckpt_last_error());
	CHECK(strstr(selfckpt_last_error(), "secretmem"), "the message does not name it");
	CHECK(!strcmp(secret, "the secret"), "the secret changed");
	CHECK(munmap(secret, 8192) == 0, "munmap");
	test_checkpoint();
	pass();
}

/*
 * ckptexit - a program for tests/e2e/cli.sh: what a restart does with
 * descriptors 0-2 and with the program's exit status.
 *
 *   ckptexit IMAGE STATUS
 *
 * Writes "before\n" to fds 1 and 2, checkpoints to IMAGE, and then:
 *   - in the original process, writes "XXXXXXXXXXXXXXXXXXXX\n" to fds 1
 *     and 2 and exits 0 (so that a regular file shows where the resumed
 *     process writes: at the checkpoint's offset, over these bytes);
 *   - in the process resumed by `selfckpt restart`, writes "resumed\n" to
 *     fds 1 and 2 and exits with STATUS.
 * Any failure: a message on stderr and exit status 1. Only write(2) is
 * used: stdio buffers are part of the image.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "selfckpt.h"

static void put(int fd, const char *s)
{
	size_t n = strlen(s);

	if (write(fd, s, n) != (ssize_t)n)
		_exit(1);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		put(2, "usage: ckptexit IMAGE STATUS\n");
		return 1;
	}
	int status = atoi(argv[2]);

	put(1, "before\n");
	put(2, "before\n");
	long id = selfckpt_checkpoint(argv[1], SELFCKPT_NO_SYNC);

	if (id < 0) {
		put(2, "ckptexit: checkpoint failed: ");
		put(2, strerror(errno));
		put(2, ": ");
		put(2, selfckpt_last_error());
		put(2, "\n");
		return 1;
	}
	if (id > 0) {
		put(1, "XXXXXXXXXXXXXXXXXXXX\n");
		put(2, "XXXXXXXXXXXXXXXXXXXX\n");
		return 0;
	}
	put(1, "resumed\n");
	put(2, "resumed\n");
	return status;
}

/*
 * proc03 - a process that made itself non-dumpable (PR_SET_DUMPABLE 0, as
 * programs holding secrets do) is either checkpointed, and is still
 * non-dumpable after the restart, or the checkpoint fails cleanly: -1 with
 * errno and a message, the process alive, and a checkpoint works again
 * once it is dumpable. Unprivileged, /proc/self/mem and pagemap cannot be
 * opened while non-dumpable, which exercises the checkpoint's early error
 * path.
 */
#include <sys/prctl.h>

#include "zdtm.h"

int main(void)
{
	static char data[1 << 16];

	memset(data, 0x3c, sizeof(data));
	CHECK(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0, "PR_SET_DUMPABLE: %s",
	      strerror(errno));

	errno = 0;
	long r = selfckpt_checkpoint(test_image(), SELFCKPT_NO_SYNC);

	if (r > 0) {
		const char *ready = getenv("SCK_READY");
		int fd = ready ? open(ready, O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;

		CHECK(fd >= 0 && write(fd, "1\n", 2) == 2 && close(fd) == 0, "ready");
		for (;;)
			pause();
	}
	if (r == 0) {
		CHECK(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0,
		      "dumpable is %d after the restart, was 0",
		      prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
		for (size_t i = 0; i < sizeof(data); i++)
			CHECK(data[i] == 0x3c, "data byte %zu", i);
		pass();
	}
	/* Refused: still here, with a reason. */
	CHECK(r == -1 && errno != 0 && *selfckpt_last_error(),
	      "failed checkpoint: %ld, errno %d, message \"%s\"", r, errno,
	      selfckpt_last_error());
	test_log("non-dumpable: refused: %s", selfckpt_last_error());
	CHECK(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0, "dumpable changed");
	CHECK(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) == 0, "PR_SET_DUMPABLE 1");
	test_checkpoint();
	for (size_t i = 0; i < sizeof(data); i++)
		CHECK(data[i] == 0x3c, "data byte %zu", i);
	pass();
}

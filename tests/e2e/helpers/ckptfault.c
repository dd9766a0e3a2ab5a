/*
 * ckptfault - checkpoints that fail for want of space or with I/O errors,
 * for tests/e2e/enospc.sh. Runs its arguments as commands, in order:
 *
 *   threads:N         N-1 worker threads besides this one (then the image
 *                     is written by the copy-on-write writer child)
 *   grow:MIB          MIB MiB more of memory, every page non-zero
 *   ck:PATH           selfckpt_checkpoint(PATH) must succeed: "ckpt ID";
 *                     in a process restarted from PATH it returns 0:
 *                     "resumed ID", and the commands after it run again
 *   fail:PATH:ERRNO   selfckpt_checkpoint(PATH) must return -1 with errno
 *                     ERRNO (ENOSPC, EIO): "failed ERRNO: MESSAGE"; no
 *                     .selfckpt-*.tmp may be left in PATH's directory;
 *                     the last id must not change. (0, in a process
 *                     restarted from an image that such a checkpoint left
 *                     at PATH: "resumed ID (a checkpoint that failed)".)
 *   hash:PATH         remember the contents of PATH (a 64-bit hash)
 *   same:PATH         PATH must still have those contents
 *   copy:SRC:DST      copy SRC to DST unless DST exists
 *   fill:PATH         write PATH until the file system is full (ENOSPC)
 *   inodes:PREFIX     create empty files PREFIX0, PREFIX1... until ENOSPC
 *   rm:PATH           unlink PATH; rmall:PREFIX: PREFIX0, PREFIX1...
 *   put:PATH:TEXT     write TEXT and a newline to PATH (fusefault's control)
 *   verify            every page of memory holds what it was given
 *
 * At the end the memory is checked again, the workers stopped and
 * checked, and "DONE sum=X" printed: X depends only on the grow commands,
 * so a restarted process ends with the same line. Anything unexpected:
 * "FAIL: ..." and status 1. Output by write(2) on fd 1 (no stdio: its
 * buffers are part of the image).
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "selfckpt.h"

#define PAGE 4096
#define MAXW 8
#define MAXREG 16

static struct {
	uint64_t *p;
	size_t npages;
	uint64_t seed;
} reg[MAXREG];
static int nreg;
static pthread_t th[MAXW];
static int nthreads = 1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int stop;
static uint64_t ca[MAXW], cb[MAXW];
static volatile int bad;
static uint64_t remembered;

static void say(const char *fmt, ...)
{
	char buf[1200];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(1, buf, (size_t)n) < 0)
		_exit(3);
}

#define FAIL(...)                  \
	do {                       \
		say("FAIL: " __VA_ARGS__); \
		_exit(1);          \
	} while (0)

static uint64_t val(uint64_t s, uint64_t p)
{
	uint64_t z = s * 0x9e3779b97f4a7c15ULL + p * 0xbf58476d1ce4e5b9ULL + 1;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (z ^ (z >> 31)) | 1;
}

static uint64_t verify(void)
{
	uint64_t sum = 0;

	for (int r = 0; r < nreg; r++)
		for (size_t p = 0; p < reg[r].npages; p++) {
			uint64_t *w = &reg[r].p[p * (PAGE / 8)];

			if (w[0] != val(reg[r].seed, p) || w[511] != val(p, reg[r].seed))
				FAIL("memory region %d page %zu changed", r, p);
			sum = (sum ^ w[0] ^ w[511]) * 0x100000001b3ULL;
		}
	return sum;
}

static void *worker(void *arg)
{
	int t = (int)(intptr_t)arg;

	while (!stop) {
		pthread_mutex_lock(&lock);
		ca[t]++;
		usleep(50);
		if (ca[t] != cb[t] + 1)
			bad = 1;
		cb[t]++;
		pthread_mutex_unlock(&lock);
		usleep(500);
	}
	return NULL;
}

static uint64_t hash_file(const char *path)
{
	static char buf[1 << 16];
	uint64_t h = 0xcbf29ce484222325ULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		FAIL("hash: cannot open %s: %s", path, strerror(errno));
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			h = (h ^ (unsigned char)buf[i]) * 0x100000001b3ULL;
	if (n < 0)
		FAIL("hash: cannot read %s: %s", path, strerror(errno));
	close(fd);
	return h;
}

/* No temporary file of a checkpoint in PATH's directory. */
static void no_tmp(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	DIR *d;
	struct dirent *de;

	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1,
		 slash ? path : ".");
	d = opendir(dir);
	if (!d)
		FAIL("cannot list %s: %s", dir, strerror(errno));
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, ".selfckpt-", 10))
			FAIL("a temporary file was left behind: %s/%s", dir, de->d_name);
	closedir(d);
}

static int errno_of(const char *s)
{
	if (!strcmp(s, "ENOSPC"))
		return ENOSPC;
	if (!strcmp(s, "EIO"))
		return EIO;
	if (!strcmp(s, "EDQUOT"))
		return EDQUOT;
	FAIL("unknown errno name %s", s);
}

static const char *errno_name(int e)
{
	return e == ENOSPC ? "ENOSPC" : e == EIO ? "EIO" : e == EDQUOT ? "EDQUOT" :
	       strerror(e);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		char *cmd = argv[i], *arg = strchr(cmd, ':');

		if (arg)
			*arg++ = '\0';
		else
			arg = "";
		if (!strcmp(cmd, "threads")) {
			int n = atoi(arg);

			if (n < 1 || n > MAXW || nthreads != 1)
				FAIL("threads:%s", arg);
			for (int t = 1; t < n; t++)
				if (pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t))
					FAIL("pthread_create");
			nthreads = n;
		} else if (!strcmp(cmd, "grow")) {
			size_t np = strtoul(arg, NULL, 10) * 256;

			if (nreg == MAXREG || !np)
				FAIL("grow:%s", arg);
			reg[nreg].p = mmap(NULL, np * PAGE, PROT_READ | PROT_WRITE,
					   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (reg[nreg].p == MAP_FAILED)
				FAIL("mmap: %s", strerror(errno));
			reg[nreg].npages = np;
			reg[nreg].seed = (uint64_t)nreg + 1;
			for (size_t p = 0; p < np; p++) {
				reg[nreg].p[p * (PAGE / 8)] = val(reg[nreg].seed, p);
				reg[nreg].p[p * (PAGE / 8) + 511] = val(p, reg[nreg].seed);
			}
			nreg++;
		} else if (!strcmp(cmd, "ck")) {
			long r = selfckpt_checkpoint(arg, 0);

			if (r < 0)
				FAIL("checkpoint to %s: %s: %s", arg, errno_name(errno),
				     selfckpt_last_error());
			say(r > 0 ? "ckpt %ld" : "resumed %ld", r > 0 ? r : selfckpt_last_id());
			verify();
		} else if (!strcmp(cmd, "fail")) {
			char *e = strrchr(arg, ':');

			if (!e)
				FAIL("fail:PATH:ERRNO");
			*e++ = '\0';
			int want = errno_of(e);
			long last = selfckpt_last_id();
			long r = selfckpt_checkpoint(arg, 0);

			if (r == 0) {
				/* Restarted from the image of a checkpoint that
				 * reported failure (it failed after the rename). */
				say("resumed %ld (a checkpoint that failed)", selfckpt_last_id());
				continue;
			}
			if (r > 0)
				FAIL("checkpoint to %s returned %ld, not -1 (%s)", arg, r, e);
			if (errno != want)
				FAIL("checkpoint to %s failed with %s, not %s: %s", arg,
				     errno_name(errno), e, selfckpt_last_error());
			if (selfckpt_last_id() != last)
				FAIL("the last id changed (%ld, was %ld) after a failed checkpoint",
				     selfckpt_last_id(), last);
			say("failed %s: %s", e, selfckpt_last_error());
			no_tmp(arg);
			verify();
		} else if (!strcmp(cmd, "hash")) {
			remembered = hash_file(arg);
		} else if (!strcmp(cmd, "same")) {
			if (hash_file(arg) != remembered)
				FAIL("%s changed", arg);
		} else if (!strcmp(cmd, "copy")) {
			char *dst = strchr(arg, ':');
			static char buf[1 << 16];
			ssize_t n;

			if (!dst)
				FAIL("copy:SRC:DST");
			*dst++ = '\0';
			int in = open(arg, O_RDONLY | O_CLOEXEC);
			int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

			if (out < 0 && errno == EEXIST) {
				if (in >= 0)
					close(in);
				continue;
			}
			if (in < 0 || out < 0)
				FAIL("copy %s %s: %s", arg, dst, strerror(errno));
			while ((n = read(in, buf, sizeof(buf))) > 0)
				if (write(out, buf, (size_t)n) != n)
					FAIL("copy to %s: %s", dst, strerror(errno));
			if (n < 0 || close(out))
				FAIL("copy %s: %s", arg, strerror(errno));
			close(in);
		} else if (!strcmp(cmd, "fill")) {
			static char buf[1 << 16];
			int fd = open(arg, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
			ssize_t n;

			if (fd < 0)
				FAIL("fill: %s: %s", arg, strerror(errno));
			memset(buf, 0x5a, sizeof(buf));
			while ((n = write(fd, buf, sizeof(buf))) > 0)
				;
			if (n < 0 && errno != ENOSPC)
				FAIL("fill %s: %s", arg, strerror(errno));
			/* The last few bytes too. */
			while (write(fd, buf, 1) == 1)
				;
			close(fd);
		} else if (!strcmp(cmd, "inodes") || !strcmp(cmd, "rmall")) {
			char name[4096];

			for (int k = 0; k < 1000000; k++) {
				snprintf(name, sizeof(name), "%s%d", arg, k);
				if (cmd[0] == 'r') {
					if (unlink(name) && errno == ENOENT)
						break;
					continue;
				}
				int fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

				if (fd < 0 && errno == ENOSPC)
					break;
				if (fd < 0)
					FAIL("inodes: %s: %s", name, strerror(errno));
				close(fd);
			}
		} else if (!strcmp(cmd, "rm")) {
			if (unlink(arg))
				FAIL("rm %s: %s", arg, strerror(errno));
		} else if (!strcmp(cmd, "put")) {
			char *text = strchr(arg, ':');
			char line[256];

			if (!text)
				FAIL("put:PATH:TEXT");
			*text++ = '\0';
			int n = snprintf(line, sizeof(line), "%s\n", text);
			int fd = open(arg, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

			if (fd < 0 || write(fd, line, (size_t)n) != n || close(fd))
				FAIL("put %s: %s", arg, strerror(errno));
		} else if (!strcmp(cmd, "verify")) {
			verify();
		} else {
			FAIL("unknown command %s", cmd);
		}
	}
	uint64_t sum = verify();

	stop = 1;
	for (int t = 1; t < nthreads; t++)
		pthread_join(th[t], NULL);
	for (int t = 1; t < nthreads; t++)
		if (ca[t] != cb[t])
			FAIL("worker %d: counters differ", t);
	if (bad)
		FAIL("a worker saw its counters out of step");
	say("DONE sum=%016llx", (unsigned long long)sum);
	return 0;
}

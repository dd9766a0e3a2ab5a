/*
 * locks01 - file locks held at the checkpoint are held again after the
 * restart, before the program runs on (issue 5, P15):
 *
 *   - POSIX (fcntl) locks: a write lock on bytes 0-99 and a read lock from
 *     byte 200 to the end of one file; a write lock on all of a file that
 *     is also mapped MAP_SHARED (the restart machinery opens that file for
 *     the mapping and closes it again, which must not drop the lock);
 *   - flock(): an exclusive one (on a descriptor and its dup, which share
 *     it), a shared one; one on an unlinked file;
 *   - an open file description (OFD) write lock on bytes 10-19;
 *
 *   seen from another process after the restart: F_GETLK and F_OFD_GETLK
 *   report each range as held (by this process, for POSIX locks) and the
 *   bytes around them as free, flock() cannot take the exclusive lock and
 *   can share the shared one; and /proc/self/fdinfo lists them again;
 *
 *   - a restart that cannot get a lock back fails before the program runs,
 *     with status 69 and a message naming the file and the range: this
 *     process, which holds the locks, restarts its own image (SCK_SELFCKPT)
 *     and sees each kind refused in turn ("cannot take back the write lock
 *     on .../locks-a.dat (bytes 0-99): held by another process"), releasing
 *     each lock after its check;
 *   - the locks taken again, a second generation holds them too.
 */
#include <signal.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "zdtm.h"

static int a, b, b2, d, c, u, m;
static char cwd[4096];

static void setlk(int fd, int cmd, short type, off_t start, off_t len, const char *what)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start,
			    .l_len = len };

	CHECK(fcntl(fd, cmd, &fl) == 0, "%s: %s", what, strerror(errno));
}

static int open_file(const char *name, int size)
{
	int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0600);

	CHECK(fd >= 0 && ftruncate(fd, size) == 0, "%s: %s", name, strerror(errno));
	return fd;
}

static void take_all(void)
{
	setlk(a, F_SETLK, F_WRLCK, 0, 100, "POSIX write lock on a");
	setlk(a, F_SETLK, F_RDLCK, 200, 0, "POSIX read lock on a");
	CHECK(flock(b, LOCK_EX | LOCK_NB) == 0, "flock b: %s", strerror(errno));
	CHECK(flock(d, LOCK_SH | LOCK_NB) == 0, "flock d: %s", strerror(errno));
	setlk(c, F_OFD_SETLK, F_WRLCK, 10, 10, "OFD lock on c");
	CHECK(flock(u, LOCK_EX | LOCK_NB) == 0, "flock u: %s", strerror(errno));
	setlk(m, F_SETLK, F_WRLCK, 0, 0, "POSIX lock on m");
}

/* What another process sees of the lock on [start, start+len) of name. */
static short probe(const char *name, int cmd, short type, off_t start, off_t len,
		   pid_t *holder)
{
	int fd = open(name, O_RDWR);
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start,
			    .l_len = len };

	if (fd < 0 || fcntl(fd, cmd, &fl) < 0) {
		printf("FAIL: probe %s: %s\n", name, strerror(errno));
		_exit(1);
	}
	close(fd);
	if (holder)
		*holder = fl.l_pid;
	return fl.l_type;
}

#define SEEN(cond, ...)                                                 \
	do {                                                            \
		if (!(cond)) {                                          \
			printf("FAIL: seen from another process: ");    \
			printf(__VA_ARGS__);                            \
			printf("\n");                                   \
			_exit(1);                                       \
		}                                                       \
	} while (0)

static void seen_from_outside(const char *when)
{
	pid_t me = getpid(), child = fork();
	int st;

	CHECK(child >= 0, "fork: %s", strerror(errno));
	if (child == 0) {
		pid_t who = 0;
		int fd;

		SEEN(probe("locks-a.dat", F_GETLK, F_RDLCK, 50, 1, &who) == F_WRLCK && who == me,
		     "a: bytes 0-99 not write-locked by %d (holder %d)", me, who);
		SEEN(probe("locks-a.dat", F_GETLK, F_WRLCK, 100, 100, NULL) == F_UNLCK,
		     "a: bytes 100-199 locked");
		SEEN(probe("locks-a.dat", F_GETLK, F_WRLCK, 5000, 1, NULL) == F_RDLCK,
		     "a: byte 5000 not read-locked");
		SEEN(probe("locks-a.dat", F_GETLK, F_RDLCK, 5000, 1, NULL) == F_UNLCK,
		     "a: a read lock would conflict at byte 5000");
		SEEN(probe("locks-c.dat", F_OFD_GETLK, F_RDLCK, 15, 1, NULL) == F_WRLCK,
		     "c: bytes 10-19 not write-locked");
		SEEN(probe("locks-c.dat", F_OFD_GETLK, F_WRLCK, 20, 10, NULL) == F_UNLCK,
		     "c: bytes 20-29 locked");
		SEEN(probe("locks-m.dat", F_GETLK, F_RDLCK, 4096, 1, &who) == F_WRLCK && who == me,
		     "m (mapped): not write-locked by %d", me);
		fd = open("locks-b.dat", O_RDONLY);
		SEEN(fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK,
		     "b: its exclusive flock() is not held");
		close(fd);
		fd = open("locks-d.dat", O_RDONLY);
		SEEN(fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) == 0, "d: cannot share its flock()");
		SEEN(flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK,
		     "d: its shared flock() is not held");
		_exit(0);
	}
	CHECK(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "%s: another process sees the locks wrong (status %x)", when, st);
}

/* The lock lines of fd's fdinfo that contain word. */
static int fdinfo_locks(int fd, const char *word)
{
	char path[64], buf[8192];
	int f, n = 0;
	ssize_t len;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = open(path, O_RDONLY);
	CHECK(f >= 0, "open %s", path);
	len = read(f, buf, sizeof(buf) - 1);
	close(f);
	CHECK(len > 0, "read %s", path);
	buf[len] = '\0';
	for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
		if (!strncmp(l, "lock:", 5) && strstr(l, word))
			n++;
	return n;
}

/*
 * Restart our own image while this process holds its locks: it must fail
 * before the program runs, with status 69 and a message containing want.
 */
static void nested_restart(const char *selfckpt, const char *want)
{
	int out = open("nested.log", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int marker = open("nested.marker", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	pid_t pid;
	int st = 0;

	CHECK(out >= 0 && marker >= 0, "nested.log: %s", strerror(errno));
	close(marker);
	pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		setpgid(0, 0);
		if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
			_exit(126);
		syscall(SYS_close_range, 3, ~0U, 0);
		execl(selfckpt, "selfckpt", "restart", test_image(), (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 600; i++) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
		if (i == 599) {
			kill(-pid, SIGKILL);
			waitpid(pid, &st, 0);
			fail("the restart of our own image did not end in 60 s");
		}
		nanosleep(&ts, NULL);
	}
	unlink("nested.marker");
	char log[4096];
	ssize_t n = pread(out, log, sizeof(log) - 1, 0);

	close(out);
	log[n > 0 ? n : 0] = '\0';
	CHECK(access("nested.ran", F_OK) != 0, "the restart ran the program: %s", log);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 69, "the restart ended with status %x: %s",
	      st, log);
	CHECK(strstr(log, want), "the restart said \"%s\", not \"%s\"", log, want);
	test_log("restart while the locks are held: %s", strtok(log, "\n"));
}

static void refused_in_turn(void)
{
	const char *selfckpt = getenv("SCK_SELFCKPT");
	char want[4400];

	if (!selfckpt || !*selfckpt) {
		test_log("SCK_SELFCKPT not set: a restart that cannot take a lock back is not tried");
		return;
	}
	snprintf(want, sizeof(want),
		 "selfckpt restart: cannot take back the write lock on %s/locks-a.dat (bytes 0-99): held by another process",
		 cwd);
	nested_restart(selfckpt, want);
	setlk(a, F_SETLK, F_UNLCK, 0, 0, "unlock a");
	snprintf(want, sizeof(want),
		 "selfckpt restart: cannot take back the flock() write lock on %s/locks-b.dat: held by another process",
		 cwd);
	nested_restart(selfckpt, want);
	CHECK(flock(b, LOCK_UN) == 0, "unlock b");
	snprintf(want, sizeof(want),
		 "selfckpt restart: cannot take back the write lock on %s/locks-c.dat (bytes 10-19, open file description lock): held by another process",
		 cwd);
	nested_restart(selfckpt, want);
	setlk(c, F_OFD_SETLK, F_UNLCK, 0, 0, "unlock c");
	snprintf(want, sizeof(want),
		 "selfckpt restart: cannot take back the write lock on %s/locks-m.dat (bytes 0 to the end): held by another process",
		 cwd);
	nested_restart(selfckpt, want);
	setlk(m, F_SETLK, F_UNLCK, 0, 0, "unlock m");
	CHECK(flock(d, LOCK_UN) == 0 && flock(u, LOCK_UN) == 0, "unlock d, u");
	take_all();
}

static void check_held(const char *when)
{
	CHECK(fdinfo_locks(a, "POSIX") == 2, "%s: fd %d lists %d POSIX locks", when, a,
	      fdinfo_locks(a, "POSIX"));
	CHECK(fdinfo_locks(b, "FLOCK  ADVISORY  WRITE") == 1 &&
		      fdinfo_locks(b2, "FLOCK  ADVISORY  WRITE") == 1,
	      "%s: b's flock() is not listed", when);
	CHECK(fdinfo_locks(d, "FLOCK  ADVISORY  READ") == 1, "%s: d's flock()", when);
	CHECK(fdinfo_locks(c, "OFDLCK ADVISORY  WRITE") == 1, "%s: c's OFD lock", when);
	CHECK(fdinfo_locks(u, "FLOCK  ADVISORY  WRITE") == 1, "%s: u's flock()", when);
	CHECK(fdinfo_locks(m, "POSIX  ADVISORY  WRITE") == 1, "%s: m's POSIX lock", when);
	seen_from_outside(when);
}

int main(void)
{
	CHECK(getcwd(cwd, sizeof(cwd)), "getcwd");
	a = open_file("locks-a.dat", 8192);
	b = open_file("locks-b.dat", 10);
	b2 = dup(b);
	d = open_file("locks-d.dat", 10);
	c = open_file("locks-c.dat", 100);
	u = open_file("locks-u.dat", 10);
	CHECK(unlink("locks-u.dat") == 0, "unlink u");
	m = open_file("locks-m.dat", 8192);
	char *map = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);

	CHECK(map != MAP_FAILED, "mmap: %s", strerror(errno));
	strcpy(map, "mapped and locked");
	take_all();

	long id = test_checkpoint();

	/* ---- restarted ---- */
	if (access("nested.marker", F_OK) == 0) {
		/* A restart of our own image that should have failed ran. */
		int fd = open("nested.ran", O_WRONLY | O_CREAT, 0600);

		close(fd);
		_exit(42);
	}
	CHECK(id == 1, "id %ld", id);
	CHECK(!strcmp(map, "mapped and locked"), "mapping");
	check_held("after the restart");
	refused_in_turn();
	check_held("taken again");

	id = test_checkpoint();
	CHECK(id == 2, "id %ld", id);
	check_held("generation 2");
	pass();
}

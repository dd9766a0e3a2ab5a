/*
 * inotify01 - inotify instances are there after a restart with every
 * watch, its mask and its wd number, and report what happens afterwards:
 *
 *   - instance A (O_NONBLOCK) watches a directory (by a relative path), a
 *     file in it, a symbolic link itself (IN_DONT_FOLLOW, IN_EXCL_UNLINK)
 *     and a file with IN_ONESHOT; watches added and removed between them
 *     leave gaps in the wd numbers, which come back the same; instance B
 *     (blocking, close-on-exec, and a dup() of it sharing it) watches the
 *     directory too;
 *   - the kernel's list of watches (fdinfo: wd, inode, device, mask) is
 *     the same after the restart, nothing is queued, and events arrive
 *     with the right wd and name: IN_CREATE in the directory (on both
 *     instances), IN_MODIFY on the file, IN_ATTRIB on the link, IN_OPEN
 *     then IN_IGNORED on the one-shot watch;
 *   - a checkpoint while events are queued is refused (ENOTSUP, nothing
 *     lost: the events are still there to read);
 *   - a watch added with the raw system call, which the library does not
 *     see: as root (CAP_DAC_READ_SEARCH) its path is found from the
 *     inode's file handle and it is restored too; otherwise the
 *     checkpoint is refused with a message naming it, and the test goes
 *     on without it;
 *   - a second generation, again.
 */
#include <stdint.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include "zdtm.h"

struct st {
	int a, b, bdup;
	int wd_dir, wd_file, wd_link, wd_once, wd_raw, wd_bdir;
	char list[4096];		/* A's watches before */
	int gen;
};

static void must(int ok, const char *what)
{
	CHECK(ok, "%s: %s", what, strerror(errno));
}

/* "wd:ino:sdev:mask" of each watch, by wd. */
static void watches(int fd, char *out, size_t n)
{
	char path[64], buf[8192];
	unsigned wd[64];
	char line[64][96];
	int nl = 0;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	int f = open(path, O_RDONLY);
	ssize_t len = f >= 0 ? read(f, buf, sizeof(buf) - 1) : -1;

	must(len > 0, "read fdinfo");
	close(f);
	buf[len] = '\0';
	for (char *l = strtok(buf, "\n"); l && nl < 64; l = strtok(NULL, "\n")) {
		unsigned w, sdev, mask;
		unsigned long ino;

		if (sscanf(l, "inotify wd:%x ino:%lx sdev:%x mask:%x", &w, &ino, &sdev, &mask) != 4)
			continue;
		wd[nl] = w;
		snprintf(line[nl++], 96, "%x:%lx:%x:%x ", w, ino, sdev, mask);
	}
	out[0] = '\0';
	for (unsigned want = 1; want < 100000 && nl; want++)
		for (int i = 0; i < nl; i++)
			if (wd[i] == want) {
				strncat(out, line[i], n - strlen(out) - 1);
				wd[i] = 0;
			}
}

static int queued(int fd)
{
	int q = -1;

	must(ioctl(fd, FIONREAD, &q) == 0, "FIONREAD");
	return q;
}

/* The next event of fd (A is non-blocking: wait for it with poll). */
static void expect(int fd, int wd, uint32_t mask, const char *name, const char *what)
{
	static char buf[4096];
	static size_t have, at;

	for (int tries = 0; have - at < sizeof(struct inotify_event) && tries < 500; tries++) {
		if (at == have)
			at = have = 0;
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);

		if (n > 0)
			have += (size_t)n;
		else
			usleep(10000);
	}
	CHECK(have - at >= sizeof(struct inotify_event), "%s: no event", what);
	struct inotify_event *e = (void *)(buf + at);

	at += sizeof(*e) + e->len;
	CHECK(e->wd == wd && (e->mask & ~IN_ISDIR) == mask &&
	      (name ? e->len && !strcmp(e->name, name) : !e->len),
	      "%s: event wd %d mask %#x name \"%s\", expected wd %d mask %#x name \"%s\"", what,
	      e->wd, e->mask, e->len ? e->name : "", wd, mask, name ? name : "");
}

static void setup(struct st *s)
{
	mkdir("watched", 0755);
	int f = open("watched/file", O_RDWR | O_CREAT | O_TRUNC, 0644);

	must(f >= 0, "create watched/file");
	close(f);
	f = open("once", O_RDWR | O_CREAT | O_TRUNC, 0644);
	must(f >= 0, "create once");
	close(f);
	unlink("link");
	must(symlink("watched/file", "link") == 0, "symlink");
	mkdir("gap", 0755);
	mkdir("rawdir", 0755);

	s->a = inotify_init1(IN_NONBLOCK);
	s->b = inotify_init1(IN_CLOEXEC);
	must(s->a >= 0 && s->b >= 0, "inotify_init1");
	s->bdup = dup(s->b);
	s->wd_dir = inotify_add_watch(s->a, "watched", IN_CREATE | IN_DELETE | IN_MOVED_TO);
	s->wd_file = inotify_add_watch(s->a, "watched/file", IN_MODIFY | IN_CLOSE_WRITE);
	/* A gap of five numbers... */
	for (int i = 0; i < 5; i++) {
		int w = inotify_add_watch(s->a, "gap", IN_CREATE);

		must(w > 0 && inotify_rm_watch(s->a, w) == 0, "gap watch");
	}
	s->wd_link = inotify_add_watch(s->a, "link",
				       IN_ATTRIB | IN_DONT_FOLLOW | IN_EXCL_UNLINK);
	s->wd_once = inotify_add_watch(s->a, "once", IN_OPEN | IN_ONESHOT);
	s->wd_bdir = inotify_add_watch(s->b, "watched", IN_CREATE);
	must(s->wd_dir > 0 && s->wd_file > 0 && s->wd_link > 0 && s->wd_once > 0 &&
	     s->wd_bdir > 0, "inotify_add_watch");
	CHECK(s->wd_link == s->wd_file + 6, "wd %d after a gap, expected %d", s->wd_link,
	      s->wd_file + 6);
	/* The IN_IGNORED events of the removed watches. */
	for (int i = 0; i < 5; i++)
		expect(s->a, s->wd_file + 1 + i, IN_IGNORED, NULL, "gap");
}

/* A watch the library cannot see being added. */
static void raw_watch(struct st *s)
{
	long w = syscall(SYS_inotify_add_watch, s->a, "rawdir", IN_DELETE);

	must(w > 0, "raw inotify_add_watch");
	s->wd_raw = (int)w;
	long r = selfckpt_checkpoint("refused.img", SELFCKPT_NO_SYNC);

	if (r < 0) {
		const char *m = selfckpt_last_error();

		CHECK(errno == ENOTSUP && strstr(m, "inotify") && strstr(m, "no known path") &&
		      strstr(m, "CAP_DAC_READ_SEARCH"),
		      "a watch of unknown path: errno %d, \"%s\"", errno, m);
		test_log("watch of unknown path refused: \"%s\"", m);
		must(syscall(SYS_inotify_rm_watch, s->a, s->wd_raw) == 0, "rm raw watch");
		expect(s->a, s->wd_raw, IN_IGNORED, NULL, "raw watch removed");
		s->wd_raw = 0;
	} else {
		CHECK(r > 0, "restarted from refused.img");
		test_log("watch of unknown path saved by its file handle");
		unlink("refused.img");
	}
}

static void check(struct st *s, const char *when)
{
	char now[4096];
	uint8_t b = 'x';
	struct timespec t[2] = { { 0, UTIME_NOW }, { 0, UTIME_NOW } };
	char name[32];

	watches(s->a, now, sizeof(now));
	CHECK(!strcmp(now, s->list), "%s: watches\n%s\nwere\n%s", when, now, s->list);
	CHECK(queued(s->a) == 0 && queued(s->b) == 0, "%s: events queued after the restart",
	      when);
	CHECK((fcntl(s->a, F_GETFL) & O_NONBLOCK) && !(fcntl(s->a, F_GETFD) & FD_CLOEXEC) &&
	      !(fcntl(s->b, F_GETFL) & O_NONBLOCK) && (fcntl(s->b, F_GETFD) & FD_CLOEXEC),
	      "%s: descriptor flags", when);
	must(fcntl(s->bdup, F_SETFL, O_NONBLOCK) == 0, "F_SETFL");
	CHECK(fcntl(s->b, F_GETFL) & O_NONBLOCK, "%s: the dup of B does not share it", when);
	must(fcntl(s->bdup, F_SETFL, 0) == 0, "F_SETFL");

	snprintf(name, sizeof(name), "new%d", s->gen);
	int f = open("watched/file", O_WRONLY | O_APPEND);

	must(f >= 0 && write(f, &b, 1) == 1, "append to watched/file");
	expect(s->a, s->wd_file, IN_MODIFY, NULL, when);
	close(f);
	expect(s->a, s->wd_file, IN_CLOSE_WRITE, NULL, when);
	snprintf(now, sizeof(now), "watched/%s", name);
	f = open(now, O_WRONLY | O_CREAT, 0644);
	must(f >= 0, "create in watched");
	close(f);
	expect(s->a, s->wd_dir, IN_CREATE, name, when);
	expect(s->b, s->wd_bdir, IN_CREATE, name, when);
	must(utimensat(AT_FDCWD, "link", t, AT_SYMLINK_NOFOLLOW) == 0, "utimensat link");
	expect(s->a, s->wd_link, IN_ATTRIB, NULL, when);
	if (s->wd_raw) {
		unlink("rawdir/x");
		f = open("rawdir/x", O_WRONLY | O_CREAT, 0644);
		must(f >= 0, "create rawdir/x");
		close(f);
		must(unlink("rawdir/x") == 0, "unlink rawdir/x");
		expect(s->a, s->wd_raw, IN_DELETE, "x", when);
	}
	f = open("once", O_RDONLY);
	must(f >= 0, "open once");
	close(f);
	expect(s->a, s->wd_once, IN_OPEN, NULL, when);
	expect(s->a, s->wd_once, IN_IGNORED, NULL, when);
	/* The one-shot watch again, for the next generation. */
	s->wd_once = inotify_add_watch(s->a, "once", IN_OPEN | IN_ONESHOT);
	must(s->wd_once > 0, "inotify_add_watch once");
}

int main(void)
{
	static struct st s;
	uint8_t b = 'y';

	setup(&s);
	raw_watch(&s);
	for (s.gen = 1; s.gen <= 2; s.gen++) {
		char when[32];

		snprintf(when, sizeof(when), "generation %d", s.gen);
		/* Queued events: refused, and still there afterwards. */
		int f = open("watched/file", O_WRONLY | O_APPEND);

		must(f >= 0 && write(f, &b, 1) == 1, "append");
		long r = selfckpt_checkpoint("refused.img", SELFCKPT_NO_SYNC);

		CHECK(r < 0 && errno == ENOTSUP && strstr(selfckpt_last_error(), "not read yet"),
		      "a checkpoint with queued events: %ld, \"%s\"", r, selfckpt_last_error());
		expect(s.a, s.wd_file, IN_MODIFY, NULL, "queued");
		close(f);
		expect(s.a, s.wd_file, IN_CLOSE_WRITE, NULL, "queued");

		watches(s.a, s.list, sizeof(s.list));
		test_checkpoint();
		check(&s, when);
	}
	pass();
}

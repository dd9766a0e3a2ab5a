/*
 * pty01 - pseudo-terminal pairs the process opened are there after a
 * restart, at the same descriptors, connected, with their settings:
 *
 *   - a pair from openpty(): the slave's modes (no echo, no canonical
 *     input, odd control characters), its line settings (9600 baud) and
 *     its window size with pixels are back; what is written to the slave
 *     is read from the master and the other way round; the master's
 *     number matches the slave's device (ptsname); the dup() of the master
 *     still shares its open file description (O_NONBLOCK shows on both)
 *     and a second open of the slave does not; close-on-exec as it was
 *     (also for a slave opened by TIOCGPTPEER with O_CLOEXEC, cleared
 *     since: that open keeps O_CLOEXEC in the flags fdinfo shows);
 *   - a pair in packet mode (TIOCPKT): reads on the master start with the
 *     status byte again;
 *   - a pair locked again (TIOCSPTLCK) after its slave was opened: still
 *     locked, the open slave works, and it cannot be opened by path;
 *   - the slave as standard input (dup2 over fd 0): fd 0 is that slave,
 *     not the restart command's stdin;
 *   - a second generation with other settings and a new size, and at the
 *     end, once every descriptor on a slave is closed, the master reads
 *     EIO (no copy of the slave is left open by the restart machinery).
 */
#include <poll.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>

#include "zdtm.h"

struct pair {
	int m, s;
};

static struct pair a, pk, lk;
static int mdup, s2;		/* dup(a.m); a second open of a's slave */

/* The slave of master m is the device of fd s (and the name ptsname says). */
static void connected(int m, int s, const char *what)
{
	struct stat st;
	unsigned idx;
	char name[64];

	CHECK(ioctl(m, TIOCGPTN, &idx) == 0, "%s: TIOCGPTN: %s", what, strerror(errno));
	CHECK(fstat(s, &st) == 0 && S_ISCHR(st.st_mode), "%s: fstat of the slave", what);
	CHECK(minor(st.st_rdev) + (major(st.st_rdev) - 136) * 256 == idx,
	      "%s: the slave is %u:%u, the master's is /dev/pts/%u", what, major(st.st_rdev),
	      minor(st.st_rdev), idx);
	CHECK(ptsname_r(m, name, sizeof(name)) == 0, "%s: ptsname", what);
	test_log("%s: /dev/pts/%u (%s)", what, idx, name);
}

/* Write msg to from; read exactly want bytes, expect, from to. */
static void xfer_n(int from, int to, const char *msg, const char *expect, size_t want,
		   const char *what)
{
	char buf[256];
	size_t got = 0;
	struct pollfd p = { to, POLLIN, 0 };

	CHECK(write(from, msg, strlen(msg)) == (ssize_t)strlen(msg), "%s: write: %s", what,
	      strerror(errno));
	while (got < want) {
		CHECK(poll(&p, 1, 10000) == 1, "%s: nothing to read after %zu bytes", what, got);
		ssize_t n = read(to, buf + got, sizeof(buf) - got);

		CHECK(n > 0, "%s: read: %s", what, n < 0 ? strerror(errno) : "end of file");
		got += (size_t)n;
	}
	CHECK(got == want && !memcmp(buf, expect, want), "%s: read %zu bytes \"%.*s\"", what,
	      got, (int)got, buf);
}

static void xfer(int from, int to, const char *msg, const char *expect, const char *what)
{
	xfer_n(from, to, msg, expect, strlen(expect), what);
}

static void size_is(int fd, const struct winsize *w, const char *what)
{
	struct winsize ws;

	CHECK(ioctl(fd, TIOCGWINSZ, &ws) == 0, "%s: TIOCGWINSZ: %s", what, strerror(errno));
	CHECK(ws.ws_row == w->ws_row && ws.ws_col == w->ws_col && ws.ws_xpixel == w->ws_xpixel &&
	      ws.ws_ypixel == w->ws_ypixel, "%s: the window is %ux%u (%ux%u pixels)", what,
	      ws.ws_col, ws.ws_row, ws.ws_xpixel, ws.ws_ypixel);
}

static void same_termios(int fd, const struct termios *w, const char *what)
{
	struct termios t;

	CHECK(tcgetattr(fd, &t) == 0, "%s: tcgetattr: %s", what, strerror(errno));
	CHECK(t.c_iflag == w->c_iflag && t.c_oflag == w->c_oflag && t.c_cflag == w->c_cflag &&
	      t.c_lflag == w->c_lflag && !memcmp(t.c_cc, w->c_cc, sizeof(t.c_cc)) &&
	      cfgetispeed(&t) == cfgetispeed(w) && cfgetospeed(&t) == cfgetospeed(w),
	      "%s: the settings differ (lflag %#o, expected %#o; cflag %#o, expected %#o)", what,
	      t.c_lflag, w->c_lflag, t.c_cflag, w->c_cflag);
}

static int nonblock(int fd)
{
	return (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0;
}

static void check_gen(const struct termios *ta, const struct winsize *wa, int gen)
{
	char what[64];
	int v = 0;

	snprintf(what, sizeof(what), "generation %d", gen);
	connected(a.m, a.s, what);
	connected(pk.m, pk.s, what);
	connected(lk.m, lk.s, what);
	same_termios(a.s, ta, what);
	same_termios(s2, ta, what);
	size_is(a.m, wa, what);
	/* Raw, no echo: the bytes as they are, each way, nothing else. */
	xfer(a.s, a.m, "from the slave\n", "from the slave\n", "slave to master");
	xfer(a.m, s2, "to the slave", "to the slave", "master to the second slave fd");
	xfer(a.m, 0, "on stdin", "on stdin", "master to stdin");
	CHECK(fcntl(a.m, F_GETFD) == FD_CLOEXEC && fcntl(a.s, F_GETFD) == 0 &&
	      fcntl(s2, F_GETFD) == 0, "close-on-exec: master %d, slaves %d and %d",
	      fcntl(a.m, F_GETFD), fcntl(a.s, F_GETFD), fcntl(s2, F_GETFD));
	/* dup shares the description; the second open of the slave does not. */
	int fl = fcntl(a.m, F_GETFL);

	CHECK(fcntl(a.m, F_SETFL, fl ^ O_NONBLOCK) == 0, "F_SETFL");
	CHECK(nonblock(mdup) == nonblock(a.m), "the dup of the master shares no longer");
	CHECK(fcntl(a.m, F_SETFL, fl) == 0, "F_SETFL");
	CHECK(nonblock(s2) && !nonblock(a.s), "the slave's descriptors: O_NONBLOCK %d and %d",
	      nonblock(a.s), nonblock(s2));
	/* Packet mode: a status byte (TIOCPKT_DATA, 0) before the data. */
	CHECK(ioctl(pk.m, TIOCGPKT, &v) == 0 && v == 1, "packet mode is %d", v);
	xfer_n(pk.s, pk.m, "pkt", "\0pkt", 4, "packet mode");
	/*
	 * Locked again: the open slave works, no new open of it does (last:
	 * a refused open leaves the pair's slave in error, a kernel quirk).
	 */
	char name[64];

	CHECK(ioctl(lk.m, TIOCGPTLCK, &v) == 0 && v == 1, "the lock is %d", v);
	xfer(lk.m, lk.s, "locked\n", "locked\n", "locked pair");
	CHECK(ptsname_r(lk.m, name, sizeof(name)) == 0, "ptsname");
	int fd = open(name, O_RDWR | O_NOCTTY);

	CHECK(fd < 0 && errno == EIO, "the locked slave %s opens: %d (%s)", name, fd,
	      fd < 0 ? strerror(errno) : "");
}

int main(void)
{
	struct winsize wa = { .ws_row = 33, .ws_col = 111, .ws_xpixel = 999, .ws_ypixel = 555 };
	struct termios ta;

	CHECK(openpty(&a.m, &a.s, NULL, NULL, &wa) == 0, "openpty: %s", strerror(errno));
	CHECK(fcntl(a.m, F_SETFD, FD_CLOEXEC) == 0, "FD_CLOEXEC");
	CHECK(tcgetattr(a.s, &ta) == 0, "tcgetattr");
	cfmakeraw(&ta);
	ta.c_cc[VMIN] = 1;
	ta.c_cc[VTIME] = 0;
	ta.c_cc[VINTR] = 0x07;
	cfsetispeed(&ta, B9600);
	cfsetospeed(&ta, B9600);
	CHECK(tcsetattr(a.s, TCSANOW, &ta) == 0 && tcgetattr(a.s, &ta) == 0, "tcsetattr");
	mdup = dup(a.m);
	char name[64];

	CHECK(mdup >= 0 && ptsname_r(a.m, name, sizeof(name)) == 0, "dup, ptsname");
	/* With O_CLOEXEC, which TIOCGPTPEER keeps in the file's flags, cleared. */
	s2 = ioctl(a.m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	CHECK(s2 >= 0 && fcntl(s2, F_SETFD, 0) == 0, "TIOCGPTPEER: %s", strerror(errno));
	CHECK(dup2(a.s, 0) == 0, "dup2 to stdin: %s", strerror(errno));

	CHECK(openpty(&pk.m, &pk.s, NULL, NULL, NULL) == 0, "openpty");
	struct termios raw;

	tcgetattr(pk.s, &raw);
	cfmakeraw(&raw);
	int one = 1;

	CHECK(tcsetattr(pk.s, TCSANOW, &raw) == 0 && ioctl(pk.m, TIOCPKT, &one) == 0,
	      "packet mode: %s", strerror(errno));
	lk.m = posix_openpt(O_RDWR | O_NOCTTY);
	CHECK(lk.m >= 0 && grantpt(lk.m) == 0 && unlockpt(lk.m) == 0, "posix_openpt");
	CHECK(ptsname_r(lk.m, name, sizeof(name)) == 0, "ptsname");
	lk.s = open(name, O_RDWR | O_NOCTTY);
	CHECK(lk.s >= 0 && ioctl(lk.m, TIOCSPTLCK, &one) == 0, "lock: %s", strerror(errno));
	CHECK(tcsetattr(lk.s, TCSANOW, &raw) == 0, "tcsetattr");	/* no echo */

	check_gen(&ta, &wa, 0);
	test_checkpoint();
	check_gen(&ta, &wa, 1);

	/* Other settings and size; echo on: the master sees what it types. */
	struct winsize wb = { .ws_row = 50, .ws_col = 132 };

	ta.c_lflag |= ECHO;
	ta.c_cc[VKILL] = 0x0b;
	CHECK(tcsetattr(a.s, TCSANOW, &ta) == 0 && tcgetattr(a.s, &ta) == 0, "tcsetattr");
	CHECK(ioctl(a.m, TIOCSWINSZ, &wb) == 0, "TIOCSWINSZ");
	xfer(a.m, a.s, "echo", "echo", "typed with echo");
	xfer(a.m, a.m, "", "echo", "the echo");
	ta.c_lflag &= ~(tcflag_t)ECHO;
	CHECK(tcsetattr(a.s, TCSANOW, &ta) == 0 && tcgetattr(a.s, &ta) == 0, "tcsetattr");
	test_checkpoint();
	check_gen(&ta, &wb, 2);

	/* Every slave descriptor closed: the master reads EIO. */
	close(a.s);
	close(s2);
	close(0);
	char b;
	ssize_t n = read(a.m, &b, 1);

	CHECK(n < 0 && errno == EIO, "the master of a closed slave reads %zd (%s)", n,
	      n < 0 ? strerror(errno) : "a byte");
	pass();
}

/*
 * tty01 - a program whose stdio is a terminal gets the restart command's
 * terminal with the modes it had set. Run by the runner with --pty: every
 * stage on a fresh pseudo-terminal (helpers/ptyrun), 80x24 for the first
 * run and 100x30 for each restart (stdin is the image pipe in the runs
 * that restart from a pipe; stdout and stderr are the terminal).
 *
 *   - generation 0: raw-ish modes (no canonical input, echo, signals,
 *     CR-to-NL, flow control), odd control characters, and 9600 baud;
 *   - after the restart: the new terminal has those modes and control
 *     characters, but its own line settings (38400 baud, what a new pty
 *     has) and its own window size, 100x30, which is not overwritten with
 *     the old 80x24; the program got one SIGWINCH for the new size;
 *   - generation 1: other modes; after a restart on a terminal of the same
 *     size, they are there and no SIGWINCH came;
 *   - generation 2: the process puts itself in the background of its
 *     terminal (the foreground group is a child's that has exited) and
 *     changes the modes, which are then not its own to keep: after the
 *     restart, the new terminal's settings are as a new pty has them.
 */
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>

#include "zdtm.h"

static volatile sig_atomic_t winches;

static void on_winch(int sig)
{
	(void)sig;
	winches++;
}

static void size_is(int cols, int rows, const char *what)
{
	struct winsize ws;

	CHECK(ioctl(1, TIOCGWINSZ, &ws) == 0, "TIOCGWINSZ: %s", strerror(errno));
	CHECK(ws.ws_col == cols && ws.ws_row == rows, "%s: the window is %ux%u, expected %dx%d",
	      what, ws.ws_col, ws.ws_row, cols, rows);
}

/* The modes of fd 1 are those of want, and its line settings those of line. */
static void modes_are(const struct termios *want, const struct termios *line,
		      const char *what)
{
	struct termios t;

	CHECK(tcgetattr(1, &t) == 0, "tcgetattr: %s", strerror(errno));
	CHECK(t.c_iflag == want->c_iflag, "%s: c_iflag %#o, expected %#o", what, t.c_iflag,
	      want->c_iflag);
	CHECK(t.c_oflag == want->c_oflag, "%s: c_oflag %#o, expected %#o", what, t.c_oflag,
	      want->c_oflag);
	CHECK(t.c_lflag == want->c_lflag, "%s: c_lflag %#o, expected %#o", what, t.c_lflag,
	      want->c_lflag);
	for (int i = 0; i < NCCS; i++)
		CHECK(t.c_cc[i] == want->c_cc[i], "%s: c_cc[%d] is %d, expected %d", what, i,
		      t.c_cc[i], want->c_cc[i]);
	CHECK(t.c_cflag == line->c_cflag && cfgetospeed(&t) == cfgetospeed(line),
	      "%s: c_cflag %#o (speed %u), expected the new terminal's %#o (speed %u)", what,
	      t.c_cflag, cfgetospeed(&t), line->c_cflag, cfgetospeed(line));
}

static void set(const struct termios *t, struct termios *now)
{
	CHECK(tcsetattr(1, TCSANOW, t) == 0, "tcsetattr: %s", strerror(errno));
	CHECK(tcgetattr(1, now) == 0, "tcgetattr: %s", strerror(errno));
}

/* Leave the foreground to a process group that then goes away. */
static void go_background(void)
{
	sigset_t ttou;
	pid_t child;
	int st;

	/* Changing a terminal in the background raises SIGTTOU, unless blocked. */
	sigemptyset(&ttou);
	sigaddset(&ttou, SIGTTOU);
	CHECK(sigprocmask(SIG_BLOCK, &ttou, NULL) == 0, "sigprocmask");
	child = fork();
	CHECK(child >= 0, "fork: %s", strerror(errno));
	if (child == 0) {
		for (;;)
			pause();
	}
	CHECK(setpgid(child, child) == 0, "setpgid: %s", strerror(errno));
	CHECK(tcsetpgrp(1, child) == 0, "tcsetpgrp: %s", strerror(errno));
	CHECK(kill(child, SIGKILL) == 0 && waitpid(child, &st, 0) == child, "reaping the child");
	CHECK(tcgetpgrp(1) == child && tcgetpgrp(1) != getpgrp(),
	      "the foreground group is %d, ours %d", (int)tcgetpgrp(1), (int)getpgrp());
}

int main(void)
{
	struct termios first, line, want, t;
	struct sigaction sa;

	for (int fd = 0; fd < 3; fd++)
		CHECK(isatty(fd), "fd %d is not a terminal: run this under the runner's --pty", fd);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_winch;
	sa.sa_flags = SA_RESTART;
	CHECK(sigaction(SIGWINCH, &sa, NULL) == 0, "sigaction");
	size_is(80, 24, "generation 0");
	CHECK(tcgetpgrp(1) == getpgrp(), "not in the foreground of its terminal");
	CHECK(tcgetattr(1, &first) == 0, "tcgetattr: %s", strerror(errno));

	t = first;
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ISIG | IEXTEN);
	t.c_iflag &= ~(tcflag_t)(ICRNL | IXON);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	t.c_cc[VINTR] = 0x07;
	t.c_cc[VERASE] = 0x08;
	cfsetispeed(&t, B9600);
	cfsetospeed(&t, B9600);
	set(&t, &want);
	CHECK(cfgetospeed(&want) == B9600, "the speed did not change");
	winches = 0;
	test_checkpoint();

	/* The new terminal: the modes are back, its line and size its own. */
	CHECK(isatty(1) && isatty(2), "stdout and stderr are not a terminal after the restart");
	line = first;		/* a new pty, as the first one was */
	modes_are(&want, &line, "generation 1");
	size_is(100, 30, "generation 1");
	CHECK(winches == 1, "generation 1: %d SIGWINCH for a new window size, expected 1",
	      (int)winches);
	test_log("after the restart: process group %d, the terminal's foreground group %d",
		 (int)getpgrp(), (int)tcgetpgrp(1));

	CHECK(tcgetattr(1, &t) == 0, "tcgetattr");
	t.c_lflag |= ICANON;
	t.c_iflag |= ICRNL;
	t.c_cc[VEOF] = 0x01;
	t.c_cc[VKILL] = 0x0b;
	set(&t, &want);
	winches = 0;
	test_checkpoint();

	/* The same size as at the checkpoint: no SIGWINCH. */
	modes_are(&want, &line, "generation 2");
	size_is(100, 30, "generation 2");
	CHECK(winches == 0, "generation 2: %d SIGWINCH, the size did not change", (int)winches);

	/* In the background, the terminal's settings are not the program's. */
	go_background();
	t = want;
	t.c_lflag &= ~(tcflag_t)(ECHO | ICANON);
	t.c_cc[VKILL] = 0x0c;
	set(&t, &want);
	test_checkpoint();

	CHECK(tcgetattr(1, &t) == 0, "tcgetattr");
	modes_are(&first, &line, "generation 3 (checkpointed in the background)");
	pass();
}

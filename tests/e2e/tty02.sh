#!/bin/bash
# tty02.sh - a real program on a terminal, run by a user at an
# interactive shell: bash -i (job control on) on a pseudo-terminal,
# driven by a python3 script that types at it and reads the screen.
#
#  1. `selfckpt run -- python3 prog.py` at the prompt: the program turns
#     its terminal's echo off (as a password prompt does), opens a pty
#     pair of its own (pty.openpty), raw, 120x40, and reads lines from
#     the terminal; `selfckpt checkpoint --wait PID`, then SIGKILL;
#  2. `selfckpt restart DIR` typed at the prompt: the program reads a line
#     typed at the terminal; its terminal has echo off again (the program
#     says so, from tcgetattr), and its own pty works both ways, 120x40;
#  3. ^Z stops the job: the shell says "Stopped" (the restart command
#     stops with the program: without that the shell would wait for a job
#     it cannot see stopped, and the terminal would hang); `fg` continues
#     it and it reads the next line; the program's exit status (7) is the
#     shell's $?;
#  4. `selfckpt restart DIR &`: the program's modes differ from what the
#     terminal has, so the restart stops when it sets them (the shell says
#     "Stopped (tty output)", as for any background job that changes its
#     terminal); `fg` continues it, with its modes (echo off).
#
# Every wait for the screen has a generous limit (a hang fails the test;
# nothing depends on the machine's speed).
#
# Env: B, ROOT, WORK (see run-tests.sh). Last line: a summary.
set -eu
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
W=$(pwd -P)
command -v python3 >/dev/null || { echo "tty02: python3 is not installed"; exit 77; }
[ -x /bin/bash ] || { echo "tty02: no /bin/bash"; exit 77; }

cat >prog.py <<'EOF'
import fcntl, os, pty, struct, sys, termios, tty
t = termios.tcgetattr(0)
t[3] &= ~termios.ECHO
termios.tcsetattr(0, termios.TCSANOW, t)
m, s = pty.openpty()
tty.setraw(s)
fcntl.ioctl(m, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
print("ready", os.getpid(), flush=True)
for line in sys.stdin:
    line = line.strip()
    if line == "quit":
        break
    os.write(s, line.encode())
    got = os.read(m, 100).decode()
    rows, cols = struct.unpack("HHHH", fcntl.ioctl(s, termios.TIOCGWINSZ, bytes(8)))[:2]
    echo = "echo" if termios.tcgetattr(0)[3] & termios.ECHO else "noecho"
    print("got %s via the pty, %dx%d, %s" % (got, cols, rows, echo), flush=True)
sys.exit(7)
EOF

python3 - "$B/selfckpt" "$W" <<'EOF'
import os, pty, re, select, signal, subprocess, sys, time

sck, work = sys.argv[1], sys.argv[2]
screen = b""


def expect(fd, pat, secs=60):
    """Read the terminal until pat (a regex) shows; what came up to it."""
    global screen
    end = time.time() + secs
    while True:
        m = re.search(pat.encode(), screen)
        if m:
            got, screen = screen[:m.end()], screen[m.end():]
            return got.decode(errors="replace"), m
        r, _, _ = select.select([fd], [], [], max(0, end - time.time()))
        try:
            data = os.read(fd, 4096) if r else b""
        except OSError:
            data = b""
        if not data:
            sys.exit("tty02: waiting for %r on the terminal, it shows %r" % (pat, screen[-300:]))
        screen += data


env = dict(os.environ, PS1="$ ", TERM="dumb", HOME=work)
shell, fd = pty.fork()
if shell == 0:
    os.execve("/bin/bash", ["bash", "--norc", "--noprofile", "-i"], env)
expect(fd, r"\$ ")
os.write(fd, ("%s run --dir %s/d -- %s %s/prog.py\n" % (sck, work, sys.executable, work)).encode())
_, m = expect(fd, r"ready (\d+)")
p = subprocess.run([sck, "checkpoint", "--wait", m.group(1)], capture_output=True, text=True)
if p.returncode:
    sys.exit("tty02: checkpoint --wait failed: %s" % p.stderr.strip())
os.kill(int(m.group(1)), signal.SIGKILL)
expect(fd, r"\$ ")

os.write(fd, ("%s restart %s/d\n" % (sck, work)).encode())
time.sleep(0.5)         # not needed: typed lines wait in the terminal
os.write(fd, b"hello\n")
line, _ = expect(fd, r"got [^\r\n]*")
if not line.endswith("got hello via the pty, 120x40, noecho"):
    sys.exit("tty02: after the restart the program says %r" % line)
os.write(fd, b"\x1a")   # ^Z
expect(fd, r"Stopped[^\r\n]*restart")
os.write(fd, b"fg\n")
os.write(fd, b"again\n")
line, _ = expect(fd, r"got again[^\r\n]*")
os.write(fd, b"quit\n")


def status():
    expect(fd, r"\$ ")
    os.write(fd, b"echo status=$?\n")
    _, m = expect(fd, r"status=(\d+)")
    if m.group(1) != b"7":
        sys.exit("tty02: the restart exited with %s, the program with 7" % m.group(1).decode())


status()

# In the background: the program's modes are not the terminal's now, so
# setting them stops the restart (SIGTTOU), as any background job that
# changes its terminal; fg brings it back, with them.
os.write(fd, ("%s restart %s/d &\n" % (sck, work)).encode())
expect(fd, r"\[1\] \d+")
end = time.time() + 60
while True:
    expect(fd, r"\$ ")
    os.write(fd, b"jobs -l\n")
    line, _ = expect(fd, r"\[1\][^\r\n]*")
    if "Stopped (tty output)" in line:
        break
    if "Running" not in line or time.time() > end:
        sys.exit("tty02: the restart in the background: %r" % line)
    time.sleep(0.05)
expect(fd, r"\$ ")
os.write(fd, b"fg\n")
os.write(fd, b"hello again\n")
line, _ = expect(fd, r"got [^\r\n]*")
if not line.endswith("got hello again via the pty, 120x40, noecho"):
    sys.exit("tty02: after the restart in the background the program says %r" % line)
os.write(fd, b"quit\n")
status()
os.write(fd, b"exit\n")
os.waitpid(shell, 0)
EOF
echo "tty02: python3 with echo off and a pty of its own, restarted at an interactive shell: settings and pty back, ^Z and fg work, status 7; restarted in the background: stopped on SIGTTOU until fg"

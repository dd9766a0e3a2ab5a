#!/bin/bash
# cli.sh - the selfckpt program's promises (docs/cli.md, --help):
#
#   - a restarted process keeps its PID (in a private PID namespace), and
#     restart --pidfile FILE writes its PID as seen from outside, to which
#     signals can be sent (pidof01 waits for SIGUSR1); with --no-namespaces
#     it is the PID the restart command was started as;
#   - the exit status of restart is the resumed program's (ckptexit: 42);
#   - descriptors 0-2 that were regular files at the checkpoint are reopened
#     at their offsets; with --stdio=inherit they are the restart command's;
#   - --help of the program and of each verb exits 0; unknown verbs and
#     options and missing arguments exit 64 with a message on stderr;
#   - info --json (and info --records --json) is JSON, with the regions, the
#     descriptors and totals that agree with them and with the text output;
#   - restart refuses with 69, naming the file, when a file the image maps
#     changed: its mtime (touch) or its size (a byte appended, mtime put
#     back).
#
# Env: B, ROOT, WORK (see run-tests.sh). Last line: a summary.
set -eu
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
ckptexit=$B/tests/e2e/helpers/ckptexit
start=$EPOCHREALTIME
checks=0
ok() { checks=$((checks + 1)); }

# ---- --pidfile, and the PID that signals go to ------------------------------

# (The restarted program's environment is the image's: set at checkpoint.)
env -u SCK_READY SCK_WAIT_USR1=1 SCK_IMAGE="$WORK/pid.img" "$B/tests/e2e/bin/pidof01" \
	2>&1 | cat >pid-first.log
[ "${PIPESTATUS[0]}" -eq 0 ] && grep -q 'checkpoint 1 written' pid-first.log ||
	die "pidof01 did not checkpoint: $(cat pid-first.log)"
rm -f pid.txt
"$sck" restart --pidfile "$WORK/pid.txt" pid.img </dev/null >pid-restart.log 2>&1 &
rpid=$!
for _ in $(seq 500); do
	[ -s pid.txt ] && grep -q "info: pid" pid-restart.log && break
	sleep 0.02
done
[ -s pid.txt ] || die "no pid file: $(cat pid-restart.log)"
ppid=$(cat pid.txt)
# The PID as seen from here is a process of ours, in another PID namespace
# where it has its old PID.
nspid=$(awk '/^NSpid:/ {print $NF}' "/proc/$ppid/status")
grep -qx "info: pid $nspid" pid-restart.log ||
	die "pid file $ppid is not the restarted process (NSpid $nspid): $(cat pid-restart.log)"
kill -USR1 "$ppid"
st=0
wait $rpid || st=$?
[ $st -eq 0 ] && grep -qx PASS pid-restart.log && grep -qx "info: got SIGUSR1" pid-restart.log ||
	die "pidof01 restart: status $st: $(cat pid-restart.log)"
ok
# With --no-namespaces the process gets new ids: the restart command's PID.
env -u SCK_READY SCK_PID_NEW=1 SCK_IMAGE="$WORK/pid2.img" "$B/tests/e2e/bin/pidof01" \
	2>&1 | cat >pid2-first.log
"$sck" restart --no-namespaces --pidfile "$WORK/pid2.txt" pid2.img \
	</dev/null >pid2-restart.log 2>&1 &
rpid=$!
st=0
wait $rpid || st=$?
[ $st -eq 0 ] && grep -qx PASS pid2-restart.log ||
	die "pidof01 restart --no-namespaces: status $st: $(cat pid2-restart.log)"
grep -qx "info: pid $rpid" pid2-restart.log ||
	die "with new ids the process is not pid $rpid: $(cat pid2-restart.log)"
[ "$(cat pid2.txt)" = "$rpid" ] || die "--pidfile wrote '$(cat pid2.txt)', expected $rpid"
ok

# ---- the exit status is the program's -------------------------------------

"$ckptexit" "$WORK/exit.img" 42 2>&1 | cat >exit-first.log
[ "${PIPESTATUS[0]}" -eq 0 ] || die "ckptexit failed: $(cat exit-first.log)"
"$sck" restart exit.img </dev/null 2>&1 | cat >exit-restart.log
st=${PIPESTATUS[0]}
[ "$st" -eq 42 ] || die "restart exited with $st, the program with 42: $(cat exit-restart.log)"
# stdout and stderr were a pipe: they are the restart command's now.
[ "$(cat exit-restart.log)" = "$(printf 'resumed\nresumed')" ] ||
	die "unexpected output: $(cat exit-restart.log)"
ok

# ---- a program that was PID 1 (a container's init) is init again -----------

if [ "$(id -u)" = 0 ]; then
	unshare -pf --mount-proc "$ckptexit" "$WORK/pid1.img" 42 2>&1 | cat >pid1-first.log
	[ "${PIPESTATUS[0]}" -eq 0 ] || die "ckptexit as PID 1: $(cat pid1-first.log)"
	"$sck" info pid1.img | grep -q '^created .* by pid 1 ' || die "pid1.img was not made by PID 1"
	st=0
	"$sck" restart --pidfile "$WORK/pid1.pid" pid1.img </dev/null >pid1.log 2>&1 || st=$?
	[ "$st" -eq 42 ] && [ "$(cat pid1.log)" = "$(printf 'resumed\nresumed')" ] ||
		die "restart of a PID 1 image: status $st: $(cat pid1.log)"
	[ -s pid1.pid ] || die "restart of a PID 1 image wrote no pid file"
	ok
fi

# ---- images others made or could change are refused (77) unless --force ---

cp exit.img shared.img
chmod 0620 shared.img
st=0
"$sck" restart shared.img </dev/null >shared.log 2>&1 || st=$?
[ "$st" -eq 77 ] && grep -q "is writable by its group: refusing" shared.log ||
	die "group-writable image: status $st: $(cat shared.log)"
st=0
"$sck" restart --force shared.img </dev/null >shared.log 2>&1 || st=$?
[ "$st" -eq 42 ] || die "group-writable image with --force: status $st: $(cat shared.log)"
if [ "$(id -u)" = 0 ]; then
	cp exit.img other.img
	chown 65534 other.img
	st=0
	"$sck" restart other.img </dev/null >other.log 2>&1 || st=$?
	[ "$st" -eq 77 ] && grep -q "belongs to uid 65534, not to you (uid 0)" other.log ||
		die "another user's image: status $st: $(cat other.log)"
	st=0
	"$sck" restart --force other.img </dev/null >other.log 2>&1 || st=$?
	[ "$st" -eq 42 ] || die "another user's image with --force: status $st: $(cat other.log)"
fi
ok

# ---- stdio that was a regular file -----------------------------------------

# Without --stdio=inherit: reopened, and written at the checkpoint's offset
# (after "before\n"), over what the original process wrote later, nothing
# truncated or appended.
"$ckptexit" "$WORK/file.img" 42 >file.out 2>file.err
expect_orig=$(printf 'before\nXXXXXXXXXXXXXXXXXXXX')
[ "$(cat file.out)" = "$expect_orig" ] || die "unexpected file.out: $(cat file.out)"
st=0
"$sck" restart file.img </dev/null >file-restart.out 2>file-restart.err || st=$?
[ $st -eq 42 ] || die "restart exited with $st: $(cat file-restart.err)"
expect=$(printf 'before\nresumed\nXXXXXXXXXXXX')
[ "$(cat file.out)" = "$expect" ] || die "stdout file after the restart: $(cat file.out)"
[ "$(cat file.err)" = "$expect" ] || die "stderr file after the restart: $(cat file.err)"
[ ! -s file-restart.out ] && [ ! -s file-restart.err ] ||
	die "the restart command's own stdio was used: $(cat file-restart.out file-restart.err)"
ok

# --truncate-outputs: cut back to the checkpoint's size first, so nothing
# of the killed process's later output is left; with O_APPEND (>>) too,
# where it would otherwise come before the restarted run's.
"$ckptexit" "$WORK/trunc.img" 42 >trunc.out 2>>trunc.err
st=0
"$sck" restart --truncate-outputs trunc.img </dev/null >/dev/null 2>trunc-restart.err || st=$?
[ $st -eq 42 ] || die "restart --truncate-outputs exited with $st: $(cat trunc-restart.err)"
[ "$(cat trunc.out)" = "$(printf 'before\nresumed')" ] ||
	die "--truncate-outputs: stdout file: $(cat trunc.out)"
[ "$(cat trunc.err)" = "$(printf 'before\nresumed')" ] ||
	die "--truncate-outputs: appended stderr file: $(cat trunc.err)"
ok

# With --stdio=inherit: the restart command's, the files untouched.
"$ckptexit" "$WORK/inherit.img" 42 >inherit.out 2>inherit.err
"$sck" restart --stdio=inherit inherit.img </dev/null 2>inherit-restart.err |
	cat >inherit-restart.out
st=${PIPESTATUS[0]}
[ "$st" -eq 42 ] || die "restart --stdio=inherit exited with $st: $(cat inherit-restart.err)"
[ "$(cat inherit-restart.out)" = resumed ] && [ "$(cat inherit-restart.err)" = resumed ] ||
	die "--stdio=inherit: output went elsewhere: '$(cat inherit-restart.out)' '$(cat inherit-restart.err)'"
[ "$(cat inherit.out)" = "$expect_orig" ] && [ "$(cat inherit.err)" = "$expect_orig" ] ||
	die "--stdio=inherit: the checkpoint's files were written: $(cat inherit.out)"
ok

# ---- help and usage errors ----------------------------------------------------

for cmd in "--help" "-h" "help" "restart --help" "restart -h" "info --help" "info -h"; do
	st=0
	# shellcheck disable=SC2086
	"$sck" $cmd >help.out 2>help.err || st=$?
	[ $st -eq 0 ] && grep -q '^usage: selfckpt' help.out && [ ! -s help.err ] ||
		die "selfckpt $cmd: status $st, stdout $(head -c 200 help.out), stderr $(cat help.err)"
	ok
done
"$sck" info --help | grep -q -- '--records' || die "info --help does not document --records"
"$sck" restart --help | grep -q -- '--pidfile' || die "restart --help does not document --pidfile"
[ "$("$sck" --version)" = "$("$sck" version)" ] && "$sck" --version | grep -q '^selfckpt [0-9]' ||
	die "selfckpt --version: $("$sck" --version)"

usage_error() { # ARGS...: status 64, a message on stderr, nothing on stdout
	local st=0
	"$sck" "$@" </dev/null >usage.out 2>usage.err || st=$?
	[ $st -eq 64 ] && [ -s usage.err ] && [ ! -s usage.out ] ||
		die "selfckpt $*: status $st (expected 64), stdout '$(head -c 200 usage.out)', stderr '$(head -c 300 usage.err)'"
	ok
}
usage_error
usage_error frobnicate
usage_error --frobnicate
usage_error restart
usage_error restart --bogus pid.img
usage_error restart --stdio=weird pid.img
usage_error restart pid.img exit.img
usage_error info
usage_error info --bogus pid.img
usage_error info pid.img exit.img
grep -q "unknown command 'frobnicate'" <("$sck" frobnicate 2>&1) ||
	die "no message naming the unknown verb"

# ---- info --json ------------------------------------------------------------

"$sck" info --json pid.img >info.json || die "info --json failed"
"$sck" info pid.img >info.txt || die "info failed"
"$sck" info --records --json pid.img >records.json || die "info --records --json failed"
python3 -m json.tool info.json >/dev/null || die "info --json is not JSON"
python3 -m json.tool records.json >/dev/null || die "info --records --json is not JSON"
human_totals=$(sed -n 's/^totals *//p' info.txt)
python3 - info.json records.json "$WORK/pid.img" "$human_totals" <<'PY' || die "info --json is wrong"
import json, os, sys
info = json.load(open(sys.argv[1]))
recs = json.load(open(sys.argv[2]))
size = os.path.getsize(sys.argv[3])
human = sys.argv[4]
regions, fds, totals = info["regions"], info["fds"], info["totals"]
assert len(regions) > 5, "regions"
for a, b in zip(regions, regions[1:]):
    assert a["start"] < a["end"] <= b["start"], ("order", a, b)
assert totals["regions"] == len(regions), "totals.regions"
assert totals["mapped_bytes"] == sum(r["end"] - r["start"] for r in regions)
assert totals["stored_bytes"] == sum(r["stored_bytes"] for r in regions)
assert totals["runs"] == sum(r["runs"] for r in regions)
assert totals["fds"] == len(fds) and [f["fd"] for f in fds][:3] == [0, 1, 2], fds
assert totals["threads"] == 1 and info["checkpoint"]["id"] == 1
assert info["format"]["bytes"] == size == recs["format"]["bytes"]
assert any(r["name"].endswith("/pidof01") for r in regions), "program not mapped"
assert any(r["kind"] == "stack" for r in regions), "no stack"
assert human.startswith("%d regions," % len(regions)), human
assert (" %d fds," % len(fds)) in human, human
assert recs["records"][0]["name"] == "HEADER" and recs["records"][-1]["end"] == size
n_vma = sum(1 for r in recs["records"] if r["name"] == "VMA")
n_fd = sum(1 for r in recs["records"] if r["name"] == "FD")
assert n_vma == len(regions) and n_fd == len(fds), (n_vma, n_fd)
PY
ok

# Signals 32 and 33, which glibc keeps for itself below SIGRTMIN, by name.
cat >sig32.c <<'C'
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <selfckpt.h>

static void handler(int s)
{
	(void)s;
}

int main(void)
{
	/* The kernel's struct sigaction: glibc's sigaction refuses 32 and 33. */
	struct { void *handler; unsigned long flags; void *restorer, *mask; } a = { .handler = handler };

	if (syscall(SYS_rt_sigaction, 32, &a, NULL, 8) ||
	    syscall(SYS_rt_sigaction, 33, &a, NULL, 8) || signal(SIGRTMIN, handler) == SIG_ERR)
		return 2;
	return selfckpt_checkpoint("sig32.img", SELFCKPT_NO_SYNC) == 1 ? 0 : 1;
}
C
cc -O1 -I"$ROOT/include" -o sig32 sig32.c -L"$B" -lselfckpt -Wl,-rpath,"$B"
./sig32 </dev/null >sig32.log 2>&1 || die "sig32 did not checkpoint: $(cat sig32.log)"
"$sck" info sig32.img >sig32.txt || die "info sig32.img failed"
"$sck" info --json sig32.img >sig32.json || die "info --json sig32.img failed"
names=$(sed -n '/^signal handlers$/,/^$/s/^  \([^ ]*\) .*/\1/p' sig32.txt | paste -sd' ')
[ "$names" = "SIG32 SIG33 SIGRTMIN+0" ] || die "info names signals 32, 33 and 34: $names"
names=$(python3 -c 'import json, sys
print(" ".join(s["name"] for s in json.load(open(sys.argv[1]))["signals"]))' sig32.json)
[ "$names" = "SIG32 SIG33 SIGRTMIN+0" ] || die "info --json names signals 32, 33 and 34: $names"
ok

# ---- a mapped file changed: 69 ------------------------------------------------

changed() { # IMAGE FILE WHAT: restart refuses with 69, one line naming FILE
	local st=0
	"$sck" restart "$1" </dev/null >changed.out 2>changed.err || st=$?
	[ $st -eq 69 ] || die "$3: restart status $st, expected 69: $(cat changed.err)"
	[ "$(wc -l <changed.err)" -eq 1 ] && grep -qF "$2" changed.err ||
		die "$3: expected one line naming $2, got: $(cat changed.err)"
	[ ! -s changed.out ] || die "$3: the program ran: $(cat changed.out)"
	ok
}

# The program's own file, run from WORK: restartable as long as it is
# unchanged; then touched.
cp "$ckptexit" prog-touch
"$WORK/prog-touch" "$WORK/touch.img" 42 2>&1 | cat >/dev/null
"$sck" restart touch.img </dev/null 2>&1 | cat >touch-1.log
[ "${PIPESTATUS[0]}" -eq 42 ] || die "the unchanged copy does not restart: $(cat touch-1.log)"
touch -d '2001-02-03 04:05:06' prog-touch
changed touch.img "$WORK/prog-touch" "touched binary"

# A byte appended, the mtime put back: the size tells.
cp "$ckptexit" prog-append
"$WORK/prog-append" "$WORK/append.img" 42 2>&1 | cat >/dev/null
touch -r prog-append mtime.ref
printf x >>prog-append
touch -r mtime.ref prog-append
changed append.img "$WORK/prog-append" "binary with a byte appended"

echo "cli: pidfile ($rpid), exit status 42, stdio reopened at offsets and inherited, help, usage errors, info --json, signals 32 and 33 named, changed binary refused with 69, others' images refused with 77, --truncate-outputs: $checks checks ($(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s)"

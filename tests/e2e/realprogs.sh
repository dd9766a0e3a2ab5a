#!/bin/bash
# realprogs.sh - real programs that nobody here wrote (issue 4), run
# unmodified under `selfckpt run`, survive a checkpoint at a random moment,
# a SIGKILL and `selfckpt restart DIR`: their output files are identical to
# an uninterrupted run's, and the restart exits with the program's status.
#
#   python3   CPU-bound, a dict and a list that keep growing, floats and big
#             integers; stdout and stderr into two files
#   perl      a growing hash of strings; stdout and stderr into one file
#             (2>&1: one shared open file description); exits 3
#   mawk      associative arrays, string building, split, floating point,
#   gawk      on 600000 / 200000 lines read from stdin (a file)
#   bc        transcendental functions at 200 digits, pi at 500; the
#             program on stdin (a file)
#   sqlite3   an in-memory database: inserts, indexes, group by, joins,
#             window functions, updates, deletes; the SQL on stdin (a file)
#   sqlite3-unlinked  the same with sqlite's default temp_store: sorts
#             (CREATE INDEX, ORDER BY, window functions) spill into files
#             it unlinks at once in /var/tmp, saved in the image (issue 5);
#             the checkpoint is asked when such a file is open, if one
#             shows within 2 s of the moment drawn (the result says
#             whether the image held one)
#   tclsh     a dict and a list that keep growing; exits 4
#   zstd -T2  multi-threaded compression (a pool: two workers, two I/O
#             threads) of 3 MB of text from stdin (a file), 512 KiB jobs
#   sort      --parallel=2: fork-join threads over 2 million lines, the
#             helper thread created and joined while it sorts
#   python3   asyncio: two stream endpoints over a socketpair exchange
#   asyncio   lines, with bytes often queued in it at the checkpoint; a
#             thread wakes the loop through the loop's own socketpair
#             (call_soon_threadsafe). The poll selector: asyncio's default,
#             epoll, needs epoll instances saved as well as sockets
#
# For each: a reference run without the library, then `selfckpt run --dir
# NAME.d`, `selfckpt checkpoint --wait PID` at a random moment (10-60% of
# the reference's CPU time per busy thread, or of its duration if shorter),
# `kill -9`, then `selfckpt restart NAME.d`: every output file is the
# reference's (cmp) and so is the exit status. Also checked: what the
# killed run wrote is a prefix of the reference's output; the image is the
# one latest names; the multi-threaded ones had their threads at the
# checkpoint (in /proc just before, and in the image). Two programs run at
# a time. A failing program is reported with its message and the others go
# on; SELFCKPT_SEED=N replays the same choice of moments.
#
#   xz -T2    multi-threaded compression (two workers) of the same text,
#             1 MiB blocks; xz holds a pipe to itself from start to end
#             (its signal self-pipe), saved as a pipe object
#
# Env: B, ROOT, WORK (see run-tests.sh). Last line: a summary.
set -eu
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
W=$(pwd -P)
start=$EPOCHREALTIME
seed_random
# The same locale for every run (sort's order, python's encoding...).
export LC_ALL=C

trap kill_jobs EXIT

us() { echo "${EPOCHREALTIME/./}"; }
secs() { printf '%d.%02d' $(($1 / 1000000)) $(($1 % 1000000 / 10000)); }

# ---- the workloads -----------------------------------------------------------

cat >w.py <<'EOF'
# CPU-bound with growing state: a dict and a list that keep growing,
# floating point and big integers; progress on stdout, a note on stderr.
import sys
state = {}
trail = []
acc = 0
x = 0.5
big = 1
for i in range(1, 1500001):
    k = (i * 2654435761) % 1000003
    state[k] = state.get(k, 0) + i
    acc = (acc * 31 + k) % 1000000007
    x = 3.9 * x * (1.0 - x)
    if i % 7 == 0:
        trail.append((k, x))
    if i % 1000 == 0:
        big = big * 3 + i
    if i % 75000 == 0:
        print(i, acc, len(state), len(trail), "%.12f" % x, big % 1000000007)
        print("progress", i, file=sys.stderr)
print("done", acc, sum(state.values()) % 1000000007,
      sum(k for k, _ in trail) % 1000003, len(str(big)))
EOF

cat >w_async.py <<'EOF'
# asyncio over a socketpair: two stream endpoints exchange lines, a worker
# thread hands results back with call_soon_threadsafe (the loop's own
# socketpair wakes it); progress on stdout.
import asyncio, selectors, socket, sys, threading

N = 40000

async def main(loop):
    a, b = socket.socketpair()
    ra, wa = await asyncio.open_connection(sock=a)
    rb, wb = await asyncio.open_connection(sock=b)
    acc, state = 0, {}
    done = asyncio.Event()
    results = []

    def worker(x):
        loop.call_soon_threadsafe(results.append, (x * x) % 1000003)
        loop.call_soon_threadsafe(done.set)

    for i in range(1, N + 1):
        wa.write(b"%d %d\n" % (i, acc))
        if i % 3 == 0:
            wa.write(b"%d extra\n" % i)
        line = await rb.readline()
        n, v = map(int, line.split())
        if n % 3 == 0:
            extra = await rb.readline()
            acc = (acc + len(extra)) % 1000000007
        state[n % 4099] = (state.get(n % 4099, 0) + v) % 1000003
        wb.write(b"%d\n" % ((v * 31 + n) % 1000000007))
        acc = int(await ra.readline())
        if i % 1000 == 0:
            done.clear()
            threading.Thread(target=worker, args=(acc,)).start()
            await done.wait()
            acc = (acc + results[-1]) % 1000000007
        if i % 4000 == 0:
            print(i, acc, len(state), sum(state.values()) % 1000003, flush=True)
    wa.close()
    wb.close()
    print("done", acc, sum(results) % 1000003)

loop = asyncio.SelectorEventLoop(selectors.PollSelector())
loop.run_until_complete(main(loop))
loop.close()
EOF

cat >w.pl <<'EOF'
# A hash of strings that keeps growing, a sliding string, tr; progress on
# STDOUT (buffered) and STDERR (unbuffered), which are one file.
use strict;
use warnings;
my %h;
my $s = "";
my $acc = 0;
for my $i (1 .. 300000) {
	my $k = sprintf("k%07d", ($i * 7919) % 250007);
	$h{$k} .= chr(97 + $i % 26);
	$s = substr($s . $k, -4096);
	$acc = ($acc * 33 + length($h{$k}) + ($k =~ tr/1//)) % 1000000007;
	if ($i % 15000 == 0) {
		print "step $i acc $acc keys ", scalar(keys %h), " s ", substr($s, -16), "\n";
		print STDERR "progress $i\n";
	}
}
my ($n, $c) = (0, 0);
for (sort keys %h) {
	$n += length($h{$_});
	$c = ($c * 31 + ord(substr($h{$_}, -1))) % 1000000007;
}
print "done $acc $n $c\n";
exit 3;
EOF

cat >w.awk <<'EOF'
# Associative arrays that keep growing, string building, split, floating
# point; a progress line every 20000 input lines, totals at the end.
{
	n = $1
	k = (n * 7919) % 65521
	if (!(k in cnt)) keys++
	cnt[k] += n % 13
	s = s sprintf("%d", (n * 2654435761) % 1000003)
	if (length(s) > 400) s = substr(s, 201)
	acc = (acc * 31 + k + length(s)) % 1000000007
	sum += sqrt(n) * sin(n)
	m = split(sprintf("%d:%d:%d", n, k, n % 97), w, ":")
	tot += m + w[3]
	if (NR % 20000 == 0)
		printf "line %d acc %d keys %d sum %.6f tot %d tail %s\n", NR, acc, keys, sum, tot, substr(s, length(s) - 11)
}
END {
	c = 0
	for (i = 0; i < 65521; i++)
		if (i in cnt) c = (c * 17 + cnt[i]) % 1000000007
	printf "done %d lines acc %d keys %d check %d sum %.9f\n", NR, acc, keys, c, sum
}
EOF
seq 1 600000 >mawk.in
seq 1 200000 >gawk.in

cat >w.bc <<'EOF'
scale = 200
s = 0
for (i = 1; i <= 40; i++) {
	x = e(i / 7) + l(i + 1) * s(i) + sqrt(i)
	s = s + x
	print i, " ", length(x), " ", x / 1000, "\n"
}
scale = 500
p = 4 * a(1)
print "pi ", p, "\n"
print "sum ", s, "\n"
quit
EOF

cat >w.sql <<'EOF'
PRAGMA temp_store = MEMORY;
CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER, b TEXT, c REAL);
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 150000)
INSERT INTO t SELECT x, (x * 7919) % 10007, hex((x * 2654435761) % 4294967296), x / 7.0 FROM n;
SELECT 'rows', count(*), sum(a), max(b), round(sum(c), 3) FROM t;
CREATE INDEX t_a ON t(a);
CREATE INDEX t_b ON t(b);
SELECT 'top', a, count(*) FROM t GROUP BY a ORDER BY count(*) DESC, a LIMIT 3;
CREATE TABLE u AS SELECT a, count(*) AS n, group_concat(substr(b, 1, 2), '') AS g FROM t GROUP BY a;
SELECT 'u', count(*), sum(n), sum(length(g)) FROM u;
UPDATE t SET b = b || a WHERE id % 3 = 0;
SELECT 'join', count(*), sum(t.a * u.n) % 1000003 FROM t JOIN u ON u.a = t.a WHERE t.id % 5 = 0;
DELETE FROM t WHERE a % 7 = 1;
SELECT 'left', count(*), max(b), min(b) FROM t;
SELECT 'rank', id, b FROM (SELECT id, b, row_number() OVER (PARTITION BY a % 100 ORDER BY b DESC) AS r FROM t) WHERE r = 1 ORDER BY id LIMIT 5;
SELECT 'self', count(*) FROM t AS x JOIN t AS y ON y.a = x.a AND y.id < x.id WHERE x.id % 50 = 0;
SELECT 'end', total_changes();
EOF
grep -v '^PRAGMA temp_store' w.sql >wt.sql

cat >w.tcl <<'EOF'
# A dict and a list that keep growing, string formatting, expr.
set d [dict create]
set lst {}
set acc 0
for {set i 1} {$i <= 350000} {incr i} {
	set k [expr {($i * 7919) % 100003}]
	dict incr d $k [expr {$i % 13}]
	set acc [expr {($acc * 31 + $k) % 1000000007}]
	if {$i % 3 == 0} { lappend lst [format %x $k] }
	if {$i % 20000 == 0} {
		puts "step $i acc $acc size [dict size $d] len [llength $lst] last [lindex $lst end]"
	}
}
set c 0
foreach k [lsort -integer [dict keys $d]] { set c [expr {($c * 17 + [dict get $d $k]) % 1000000007}] }
puts "done $acc [dict size $d] [llength $lst] $c [string length [join $lst {}]]"
exit 4
EOF
# Text for the multi-threaded programs: words from a fixed vocabulary,
# chosen by a linear congruential generator (the same bytes with any perl);
# for sort, one word a line.
cat >gen.pl <<'EOF'
my $x = 12345;
sub r { $x = ($x * 1103515245 + 12345) % 2147483648; return $x >> 8 }
my @w = map { my $l = 2 + r() % 8; join "", map { chr(97 + r() % 26) } 1 .. $l } 1 .. 4000;
my ($sep, $out) = ($ARGV[1] eq "lines" ? "\n" : " ", "");
for my $i (1 .. $ARGV[0]) {
	$out .= $w[r() % 4000] . ($i % 11 ? $sep : "\n");
	if (length($out) > 65536) { print $out; $out = "" }
}
print $out;
EOF
if [ -x /usr/bin/perl ]; then
	/usr/bin/perl gen.pl 500000 text >zstd.in
	/usr/bin/perl gen.pl 2000000 lines >sort.in
else
	: >zstd.in
	: >sort.in
fi

# ---- the programs ---------------------------------------------------------------

# NAME STATUS THREADS BUSY STDIN STDERR COMMAND...: STATUS is the exit
# status the program has; THREADS how many threads it must have at the
# checkpoint, BUSY how many of them compute; STDERR is "own" (a file of its
# own) or "out" (2>&1).
programs=(
	"python3 0 1 1 /dev/null own /usr/bin/python3 w.py"
	"perl 3 1 1 /dev/null out /usr/bin/perl w.pl"
	"mawk 0 1 1 mawk.in own /usr/bin/mawk -f w.awk"
	"gawk 0 1 1 gawk.in own /usr/bin/gawk -f w.awk"
	"bc 0 1 1 w.bc own /usr/bin/bc -lq"
	"sqlite3 0 1 1 w.sql own /usr/bin/sqlite3"
	"sqlite3-unlinked 0 1 1 wt.sql own /usr/bin/sqlite3"
	"tclsh 4 1 1 /dev/null own /usr/bin/tclsh w.tcl"
	"zstd-T2 0 5 2 zstd.in own /usr/bin/zstd -q -T2 -15 -B512KiB -c"
	"sort-parallel 0 2 2 sort.in own /usr/bin/sort --parallel=2 -S 256M"
	"xz-T2 0 3 2 zstd.in own /usr/bin/xz -q -T2 --block-size=1MiB -6 -c"
	"python3-asyncio 0 1 1 /dev/null own /usr/bin/python3 w_async.py"
)

# Each step of a program writes NAME.result: "ok MESSAGE" or "FAIL MESSAGE".
result() { # NAME ok|FAIL MESSAGE
	echo "$2 $3" >"$1.result"
	echo "$2 $1: $3"
}

# reference NAME STATUS THREADS BUSY STDIN STDERR COMMAND...: the
# uninterrupted run, without the library; NAME.ref.us: its duration and CPU
# time (microseconds).
reference() {
	local name=$1 want=$2 in=$5 errmode=$6 st=0 t0 t1
	shift 6
	if [ ! -x "$1" ]; then
		result "$name" FAIL "$1 is not installed (tools/setup-deps.sh test installs it)"
		return
	fi
	t0=$(us)
	local TIMEFORMAT='%3U %3S'
	if [ "$errmode" = out ]; then
		{ time timeout 120 "$@" <"$in" >"$name.ref.out" 2>&1; } 2>"$name.ref.time" || st=$?
	else
		{ time timeout 120 "$@" <"$in" >"$name.ref.out" 2>"$name.ref.err"; } 2>"$name.ref.time" || st=$?
	fi
	t1=$(us)
	if [ "$st" != "$want" ]; then
		result "$name" FAIL "the reference run (without the library) exited with $st, not $want: $(tail -n 3 "$name.ref.out" "$name.ref.err" 2>/dev/null | tr '\n' ' ')"
		return
	fi
	local u s
	read -r u s <"$name.ref.time"
	echo "$((t1 - t0)) $(((10#${u/./} + 10#${s/./}) * 1000))" >"$name.ref.us"
	result "$name" ok "reference"
}

# running PID: the process is there and not a zombie (kill -0 says yes
# to a child that has ended and not been waited for).
running() {
	local st
	st=$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# trial PCT NAME STATUS THREADS BUSY STDIN STDERR COMMAND...: the run under
# selfckpt, checkpointed at PCT% of the reference, killed, restarted.
trial() {
	local pct=$1 name=$2 want=$3 threads=$4 busy=$5 in=$6 errmode=$7
	shift 7
	local wall cpu ref_us delay_us t0 now pid seen=0 n cst img st rst f left
	read -r wall cpu <"$name.ref.us"
	ref_us=$((cpu / busy))
	[ "$ref_us" -le "$wall" ] || ref_us=$wall
	delay_us=$((ref_us * pct / 100))
	local at tasks
	at="checkpoint asked at +$(secs "$delay_us")s ($pct% of $(secs "$ref_us")s; seed $seed)"

	t0=$(us)
	if [ "$errmode" = out ]; then
		"$sck" run --dir "$W/$name.d" -- "$@" <"$in" >"$name.out" 2>&1 &
	else
		"$sck" run --dir "$W/$name.d" -- "$@" <"$in" >"$name.out" 2>"$name.err" &
	fi
	pid=$!
	now=$(($(us) - t0))
	[ "$now" -ge "$delay_us" ] ||
		sleep "$(printf '%d.%06d' $(((delay_us - now) / 1000000)) $(((delay_us - now) % 1000000)))"
	# Over before the moment came: this run went faster than the
	# reference (which ran beside other programs). Nothing was tested:
	# again, at half the moment (also if it ends while it is asked).
	if ! running "$pid" && [ "$pct" -ge 4 ]; then
		wait "$pid" 2>/dev/null || true
		rm -rf "$name.d"
		trial $((pct / 2)) "$name" "$want" "$threads" "$busy" "$in" "$errmode" "$@"
		return
	fi
	if [ "$threads" -gt 1 ]; then
		# Really multi-threaded at the checkpoint: wait (bounded) until
		# the threads are there.
		for ((n = 0; n < 1000; n++)); do
			tasks=("/proc/$pid/task/"*)
			[ -e "${tasks[0]}" ] && seen=${#tasks[@]} || seen=0
			[ "$seen" -lt "$threads" ] || break
			running "$pid" || break
			sleep 0.005
		done
		if ! running "$pid" && [ "$pct" -ge 4 ]; then
			wait "$pid" 2>/dev/null || true
			rm -rf "$name.d"
			trial $((pct / 2)) "$name" "$want" "$threads" "$busy" "$in" "$errmode" "$@"
			return
		fi
		if [ "$seen" -lt "$threads" ]; then
			kill -KILL "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
			result "$name" FAIL "it never had $threads threads (last seen: $seen); $at"
			return
		fi
		at="$at, $seen threads then"
	fi
	if [[ $name == *-unlinked ]]; then
		# Ask while the program holds an unlinked file, if it does soon.
		for ((n = 0; n < 1000; n++)); do
			ls -l "/proc/$pid/fd" 2>/dev/null | grep -q ' (deleted)$' && break
			sleep 0.002
		done
	fi
	ls -l "/proc/$pid/fd" >"$name.fds" 2>&1 || true
	cst=0
	timeout 60 "$sck" checkpoint --wait "$pid" >"$name.ckpt.out" 2>"$name.ckpt.err" || cst=$?
	img=$(cat "$name.ckpt.out")
	if [ "$cst" != 0 ] && ! running "$pid" && [ "$pct" -ge 4 ]; then
		wait "$pid" 2>/dev/null || true
		rm -rf "$name.d"
		trial $((pct / 2)) "$name" "$want" "$threads" "$busy" "$in" "$errmode" "$@"
		return
	fi
	kill -KILL "$pid" 2>/dev/null || true
	st=0
	wait "$pid" 2>/dev/null || st=$?
	if [ "$cst" != 0 ]; then
		result "$name" FAIL "checkpoint --wait exited with $cst: $(cat "$name.ckpt.err"); $at; its descriptors just before: $(sed 1d "$name.fds" | sed 's/.* \([0-9]* -> \)/\1/' | tr '\n' ' ')"
		return
	fi
	if [ "$st" != 137 ]; then
		result "$name" FAIL "the program ended (status $st) before it was killed: the workload is too short for this machine; $at"
		return
	fi
	if [ ! -f "$img" ] || [ "$img" != "$W/$name.d/$(readlink "$name.d/latest")" ]; then
		result "$name" FAIL "checkpoint --wait printed '$img'; $name.d/latest names '$(readlink "$name.d/latest")'"
		return
	fi
	if ! "$sck" info "$img" >"$name.info" 2>&1; then
		result "$name" FAIL "selfckpt info $img: $(tail -n 2 "$name.info")"
		return
	fi
	n=$(sed -n 's/^process .*, \([0-9]*\) threads*$/\1/p' "$name.info")
	if [ "${n:-0}" -lt "$threads" ]; then
		result "$name" FAIL "the image holds ${n:-?} threads, not $threads; $at"
		return
	fi
	# What the killed run wrote is where the uninterrupted run's output
	# starts (the restart overwrites what came after the checkpoint).
	for f in out err; do
		[ -e "$name.$f" ] || continue
		if ! cmp -s -n "$(stat -c %s "$name.$f")" "$name.$f" "$name.ref.$f"; then
			result "$name" FAIL "before the restart, $name.$f is not a prefix of the uninterrupted run's: $(cmp -n "$(stat -c %s "$name.$f")" "$name.$f" "$name.ref.$f" 2>&1); $at"
			return
		fi
	done
	left=$(stat -c %s "$name.out")

	rst=0
	timeout 120 "$sck" restart "$W/$name.d" </dev/null >"$name.restart.log" 2>&1 || rst=$?
	if [ "$rst" != "$want" ]; then
		result "$name" FAIL "selfckpt restart $name.d exited with $rst, not $want: $(tail -n 3 "$name.restart.log" | tr '\n' ' ')$(tail -n 3 "$name.err" 2>/dev/null | tr '\n' ' '); $at"
		return
	fi
	for f in out err; do
		[ -e "$name.ref.$f" ] || continue
		if ! cmp -s "$name.$f" "$name.ref.$f"; then
			result "$name" FAIL "after the restart, $name.$f differs from the uninterrupted run's: $(cmp "$name.$f" "$name.ref.$f" 2>&1) ($(stat -c %s "$name.$f") bytes, expected $(stat -c %s "$name.ref.$f")): $(diff "$name.ref.$f" "$name.$f" | head -n 6 | tr '\n' ' '); $at"
			return
		fi
	done
	local what
	what="+$(secs "$delay_us")/$(secs "$ref_us")s"
	if [[ $name == *-unlinked ]]; then
		if grep -q '^  [0-9]* *object .* (deleted), ' "$name.info"; then
			what="$what, an unlinked file saved"
		else
			what="$what, no unlinked file open then"
		fi
	fi
	[ "$threads" -eq 1 ] || what="$what, $n threads"
	echo "$what" >"$name.summary"
	result "$name" ok "$at; $left of $(stat -c %s "$name.ref.out") bytes out at the kill, image $(du -h "$img" | cut -f1); restart exited $rst"
	rm -rf "$name.d" # images of tens of MB: only a failure's are kept
}

# Two at a time: STEP runs for every program still ok, in a subshell of
# its own (what it prints goes into NAME.STEP.log).
step() { # STEP
	local p name running=0 i=0
	for p in "${programs[@]}"; do
		name=${p%% *}
		if [ "$1" = trial ]; then
			# The moments are drawn here, in order: the seed decides them.
			pcts[i]=$((10 + RANDOM % 51))
			i=$((i + 1))
			grep -q '^ok' "$name.result" || continue
		fi
		if [ $running -ge 2 ]; then
			wait -n || true
			running=$((running - 1))
		fi
		if [ "$1" = trial ]; then
			# shellcheck disable=SC2086
			(trial "${pcts[i - 1]}" $p) >"$name.$1.log" 2>&1 &
		else
			# shellcheck disable=SC2086
			(reference $p) >"$name.$1.log" 2>&1 &
		fi
		running=$((running + 1))
	done
	wait
	for p in "${programs[@]}"; do
		name=${p%% *}
		if [ ! -s "$name.$1.log" ] && [ "$1" = trial ] && ! grep -q '^ok' "$name.result"; then
			continue # already failed at the reference
		fi
		# A step that stopped without a result is a failure of its own.
		grep -q "^[a-zA-Z]* $name: " "$name.$1.log" ||
			result "$name" FAIL "the $1 step stopped: $(tail -n 3 "$name.$1.log" | tr '\n' ' ')"
	done
}

pcts=()
for p in "${programs[@]}"; do
	rm -f "${p%% *}.result"
done
step reference
step trial

passed=()
failed=()
for p in "${programs[@]}"; do
	name=${p%% *}
	read -r r msg <"$name.result"
	if [ "$r" = ok ]; then
		passed+=("$name $(cat "$name.summary")")
		echo "ok   $name: $msg"
	else
		failed+=("$name")
		echo "FAIL $name: $msg"
	fi
done
t=$(secs $(($(us) - ${start/./})))
if [ ${#failed[@]} -gt 0 ]; then
	echo "realprogs: FAILED: ${failed[*]}; seed $seed (SELFCKPT_SEED=$seed replays the moments), ${t}s"
	exit 1
fi
summary=$(printf '%s; ' "${passed[@]}")
echo "realprogs: ${#passed[@]} programs checkpointed at a random moment, killed, restarted: same output and status (${summary%; }); seed $seed, ${t}s"

#!/bin/bash
# run-sanitized.sh BUILD - the whole test suite (run-tests.sh) on a build
# made with SANITIZE=1 (make test-sanitize; docs/sanitizers.md).
#
# Every sanitizer report, from any process of any test (also one whose
# failure a test expects, or one that ends in a way no test looks at), is
# written to a file of its own: the run fails if there is one, and shows
# the first few whole and the others by their SUMMARY line.
#
# UBSan in the libraries that checkpointed programs load traps instead: a
# failed check is a ud2 instruction, SIGILL, with no runtime to say
# anything. The kernel logs each such crash with the file and offset
# ("traps: PROG[PID] trap invalid opcode ... in libselfckpt.so.0.1.0[OFF,
# ...]"); those of this run that point at a ud2 of a file in BUILD fail it
# too, shown with the source line (addr2line). The kernel log needs root
# (or kernel.dmesg_restrict=0); without it the run says so, and a trap is
# seen only as a test killed by signal 4.
set -u
B=${1:?usage: run-sanitized.sh BUILD}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
logs=$(mktemp -d "${TMPDIR:-/tmp}/selfckpt-san.XXXXXX")
chmod 1777 "$logs"	# the unprivileged round reports here too
common="log_path=$logs/report:log_exe_name=1"
export ASAN_OPTIONS="$common:detect_leaks=1:abort_on_error=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="$common:print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
start=$SECONDS
kernel_log=yes
dmesg >/dev/null 2>&1 || kernel_log=no
[ "$(cat /proc/sys/debug/exception-trace 2>/dev/null)" != 0 ] || kernel_log=no
t0=$(cut -d' ' -f1 /proc/uptime)

"$ROOT/tests/run-tests.sh" "$B"
st=$?
echo

# Traps of this run: "FILE OFFSET" for each kernel line naming a file that
# BUILD holds, with a ud2 at that offset (not another program's crash).
traps() {
	local line name off f
	dmesg 2>/dev/null | awk -v t0="$t0" '
		/trap invalid opcode/ && match($0, /^\[ *[0-9.]+\]/) {
			t = substr($0, 2, RLENGTH - 2) + 0
			if (t >= t0 && match($0, / in [^ []+\[[0-9a-f]+,/)) {
				s = substr($0, RSTART + 4, RLENGTH - 5)
				sub(/\[/, " ", s)
				print s
			}
		}' | sort | uniq -c | while read -r n name off; do
		f=$(find "$B" -name "$name" -type f -print -quit)
		[ -n "$f" ] || continue
		objdump -d --start-address="0x$off" --stop-address=$((0x$off + 2)) "$f" 2>/dev/null |
			grep -q 'ud2' || continue
		echo "$n ${f#"$B"/} 0x$off"
	done
}

fail=0
reports=$(find "$logs" -type f | sort)
if [ -n "$reports" ]; then
	nrep=$(echo "$reports" | wc -l)
	echo "== sanitizer reports ($nrep):"
	for r in $(echo "$reports" | head -n 3); do
		echo "--- ${r##*/}"
		head -n 60 "$r"
	done
	if [ "$nrep" -gt 3 ]; then
		echo "--- all $nrep, by their summary line:"
		for r in $reports; do
			grep -m 1 '^SUMMARY' "$r" || head -n 1 "$r"
		done | sort | uniq -c | sort -rn | head -n 20
	fi
	echo "   reports: $logs"
	fail=1
fi
if [ $kernel_log = yes ]; then
	t=$(traps)
	if [ -n "$t" ]; then
		echo "== UBSan traps in the libraries (kernel log; count, file, offset, where):"
		echo "$t" | while read -r n f off; do
			echo "$n $f $off: $(addr2line -f -i -p -e "$B/$f" "$off" | tr '\n' ' ')"
		done
		fail=1
	fi
else
	echo "== no kernel log here (not root, or debug.exception-trace=0): a UBSan trap in the libraries shows only as a test killed by signal 4 (SIGILL)"
fi
if [ $fail = 0 ]; then
	rm -rf "$logs"
	echo "== no sanitizer report"
fi
echo "== sanitized suite: $((SECONDS - start)) s"
[ $fail = 0 ] || st=1
exit $st

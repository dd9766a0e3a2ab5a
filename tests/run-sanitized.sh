#!/bin/bash
# run-sanitized.sh BUILD - the whole test suite (run-tests.sh) on a build
# made with SANITIZE=1 (make test-sanitize; docs/sanitizers.md).
#
# Every sanitizer report, from any process of any test (also one whose
# failure a test expects, or one that ends in a way no test looks at), is
# written to a file of its own: the run fails if there is one, and shows it.
# UBSan in the libraries that checkpointed programs load traps instead
# (SIGILL): the tests see that as a crash.
set -u
B=${1:?usage: run-sanitized.sh BUILD}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
logs=$(mktemp -d "${TMPDIR:-/tmp}/selfckpt-san.XXXXXX")
chmod 1777 "$logs"	# the unprivileged round reports here too
common="log_path=$logs/report:log_exe_name=1"
export ASAN_OPTIONS="$common:detect_leaks=1:abort_on_error=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="$common:print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
start=$SECONDS

"$ROOT/tests/run-tests.sh" "$B"
st=$?

reports=$(find "$logs" -type f | sort)
echo
if [ -n "$reports" ]; then
	echo "== sanitizer reports ($(echo "$reports" | wc -l)):"
	for r in $reports; do
		echo "--- ${r##*/}"
		head -n 60 "$r"
	done
	echo "   reports: $logs"
	st=1
else
	rm -rf "$logs"
	echo "== no sanitizer report"
fi
echo "== sanitized suite: $((SECONDS - start)) s"
exit $st

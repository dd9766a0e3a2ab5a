#!/bin/bash
# run-tests.sh BUILD - run every test; exit non-zero if any fails.
#
#   1. unit tests (cmocka), each in its own process with a timeout;
#   2. end-to-end tests (tests/e2e/*.c, ZDTM style, driven by the runner),
#      with the image read from a file and piped on stdin;
#   3. end-to-end scripts (tests/e2e/*.sh), which check what a test program
#      cannot check on itself (output identical to an uninterrupted run,
#      damaged images...);
#   4. steps 2 and 3 again as an unprivileged user, when run as root.
#
# A script that exits 77 could not run on this machine (it says why on its
# last line): reported as not run, never counted as passed.
#
# SELFCKPT_TESTS=pattern runs only matching tests; SELFCKPT_TEST_USER
# (default 65534:65534) is the unprivileged user.
set -u
B=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
filter=${SELFCKPT_TESTS:-}
user=${SELFCKPT_TEST_USER:-65534:65534}
work=$(mktemp -d "${TMPDIR:-/tmp}/selfckpt-tests.XXXXXX")
chmod 755 "$work"
pass=0
fail=0
failed=()

# The tests' processes get only what the runner gives them; descriptors
# this script inherited (from CI, an editor...) are closed.
for fd in /proc/$$/fd/*; do
	fd=${fd##*/}
	[ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null || true
done

selected() { [ -z "$filter" ] || [[ "$1" == *$filter* ]]; }

skip=0
skipped=()
result() { # name status (77: the test could not run here; not a pass)
	if [ "$2" -eq 0 ]; then
		pass=$((pass + 1))
	elif [ "$2" -eq 77 ]; then
		skip=$((skip + 1))
		skipped+=("$1")
	else
		fail=$((fail + 1))
		failed+=("$1")
	fi
}

echo "== unit tests"
for t in "$B"/tests/unit/test_*; do
	[ -x "$t" ] || continue
	name=${t##*/}
	selected "$name" || continue
	timeout 120 "$t" >"$work/$name.log" 2>&1
	st=$?
	if [ $st -eq 0 ]; then
		echo "PASS $name ($(grep -c '^\[       OK \]' "$work/$name.log") cases)"
	else
		echo "FAIL $name (status $st)"
		tail -n 30 "$work/$name.log"
	fi
	result "$name" $st
done

e2e_round() { # label, extra runner options...
	local label=$1
	shift
	echo "== end-to-end tests ($label)"
	for t in "$B"/tests/e2e/bin/*; do
		name=${t##*/}
		selected "$name" || continue
		for mode in file pipe; do
			local opts=()
			[ $mode = pipe ] && opts+=(--pipe)
			# tty*: programs whose stdio is a terminal (a pty of their own)
			case $name in tty*) opts+=(--pty "$B/tests/e2e/helpers/ptyrun") ;; esac
			dir="$work/$label-$name-$mode"
			timeout 300 "$B/tests/runner" --selfckpt "$B/selfckpt" --dir "$dir" \
				"${opts[@]}" "$@" -- "$t"
			result "$name/$mode/$label" $?
		done
	done
	for s in "$ROOT"/tests/e2e/*.sh; do
		name=${s##*/}
		name=${name%.sh}
		[ "$name" != lib ] || continue	# what the scripts source
		selected "$name" || continue
		dir="$work/$label-$name"
		mkdir -p "$dir"
		local as=()
		if [ "$label" = unprivileged ]; then
			chown "$user" "$dir"
			as=(setpriv --reuid="${user%:*}" --regid="${user#*:}" --clear-groups)
		fi
		timeout 600 "${as[@]}" env B="$B" ROOT="$ROOT" WORK="$dir" bash "$s" >"$dir.log" 2>&1
		st=$?
		if [ $st -eq 0 ]; then
			echo "PASS $name ($label) $(tail -n 1 "$dir.log")"
		elif [ $st -eq 77 ]; then
			echo "SKIP $name ($label) $(tail -n 1 "$dir.log")"
		else
			echo "FAIL $name ($label, status $st)"
			tail -n 30 "$dir.log"
		fi
		result "$name/$label" $st
	done
}

if [ "$(id -u)" = 0 ]; then
	e2e_round root
	e2e_round unprivileged --user "$user"
else
	e2e_round "uid $(id -u)"
fi

echo
echo "== $pass passed, $fail failed, $skip not run here"
[ $skip -eq 0 ] || printf '   not run here: %s\n' "${skipped[@]}"
if [ $fail -gt 0 ]; then
	printf '   failed: %s\n' "${failed[@]}"
	echo "   logs: $work"
	exit 1
fi
rm -rf "$work"

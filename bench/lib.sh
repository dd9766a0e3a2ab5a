# lib.sh - what the benchmark scripts (bench/run*.sh) share. Each sources
# it, after reading its arguments, as
#
#	. "$(dirname "$0")/lib.sh" NAME
#
# and then:
#   - work is an empty directory of its own (selfckpt-NAME.XXXXXX in
#     TMPDIR, or /var/tmp), removed on exit;
#   - descriptors above 2 the script inherited are closed;
#   - median: the median of the numbers on stdin, one a line;
#   - field KEY: the value of KEY=NUMBER in what a benchmark printed.
# shellcheck shell=bash disable=SC2034
work=$(mktemp -d "${TMPDIR:-/var/tmp}/selfckpt-$1.XXXXXX")
trap 'rm -rf "$work"' EXIT
for fd in /proc/$$/fd/*; do
	fd=${fd##*/}
	[ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null || true
done

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }

#!/bin/bash
# mkcorpus.sh [BUILD] - make the fuzzer's seed corpus again, in
# tests/fuzz/corpus/ (docs/fuzzing.md, "The seed corpus"). Needs
# `make BUILD=BUILD all fuzz-build` first (libselfckpt.a, selfckpt,
# fuzz/imgtool). The corpus is checked in: run this when the format changes.
#
# Seeds (no .img suffix: .gitignore ignores images):
#   plain, threads, files, objects, timers, scm, sysv
#                          real images of tests/fuzz/seedgen.c, a small
#                          static program (see there for what each holds)
#   gen1                   the image that plain's process writes after a
#                          restart (generation 1, restart flags set)
#   note-optional          plain with a NOTE and an unknown record with the
#                          OPTIONAL flag (valid: the reader skips it)
#   cut-OFFSET-TYPE        plain cut where record TYPE starts, at every
#                          record boundary of the metadata and the trailer,
#                          inside the page data and one byte short
# Each real image must be accepted by `selfckpt info`, each cut refused.
#   found-*                the fuzzer's findings, fixed since
set -eu
B=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$ROOT/tests/fuzz/corpus
T=$B/fuzz/imgtool
S=$B/selfckpt
for f in "$B/libselfckpt.a" "$S" "$T"; do
	[ -e "$f" ] || { echo "mkcorpus: $f missing: make BUILD=$B all fuzz-build" >&2; exit 1; }
done
W=$(mktemp -d "${TMPDIR:-/tmp}/selfckpt-corpus.XXXXXX")
trap 'rm -rf "$W"' EXIT
# The images record the descriptors the program has: only 0-2.
for fd in /proc/$$/fd/*; do
	fd=${fd##*/}
	[ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null || true
done

${CC:-cc} -std=gnu11 -O1 -static -I"$ROOT/include" -o "$W/seedgen" \
	"$ROOT/tests/fuzz/seedgen.c" "$B/libselfckpt.a" -lpthread

# Images hold the process's memory, its environment too: give it none.
clean=(env -i PATH=/usr/bin:/bin)
gen() { # name variant [image2]
	mkdir -p "$W/run-$1"
	(cd "$W/run-$1" && "${clean[@]}" "$W/seedgen" "$W/$1" "$2" ${3:+"$3"} </dev/null >/dev/null)
}
gen plain plain
gen threads threads
gen files files
gen objects objects
gen timers timers
gen scm scm
gen sysv sysv
gen gen0 plain "$W/gen1"
(cd "$W/run-gen0" && "${clean[@]}" "$S" restart "$W/gen0" </dev/null >/dev/null)
"$T" insert "$W/plain" "$W/note1" 14 0 "a note: substitutes were recorded"
"$T" insert "$W/note1" "$W/note-optional" 77 1 "an optional record of a newer version"

rm -rf "$OUT"
mkdir -p "$OUT"
for s in plain threads files objects timers scm sysv gen1 note-optional; do
	"$S" info "$W/$s" >/dev/null
	cp "$W/$s" "$OUT/$s"
done

# Cuts of plain: where each record starts (the payload of PAGES too).
name() {
	case $1 in
	1) echo HEADER ;; 2) echo PROCESS ;; 3) echo RLIMITS ;; 4) echo SIGACTIONS ;;
	5) echo FILE ;; 6) echo VMA ;; 7) echo FD ;; 8) echo THREAD ;;
	9) echo END_META ;; 10) echo PAD ;; 11) echo PAGES ;; 12) echo PAGE_HASHES ;;
	13) echo COMMIT ;; 14) echo NOTE ;; 15) echo OBJ ;; 16) echo LOCK ;;
	17) echo POSIX_TIMER ;; 18) echo SIGINFO ;; 19) echo CLOCKS ;; 20) echo SYSV ;;
	21) echo SCM ;;
	*) echo "type$1" ;;
	esac
}
size=$(stat -c %s "$W/plain")
cuts=()
while read -r off end type len; do
	cuts+=("$off:$(name "$type")")
	[ "$type" = 11 ] && cuts+=("$((off + 32)):PAGES-data" "$((off + 32 + 4096)):PAGES-data")
done < <("$T" records "$W/plain")
cuts+=("$((size - 1)):COMMIT-short")
for c in "${cuts[@]}"; do
	off=${c%%:*}
	f=$OUT/cut-$(printf '%06d' "$off")-${c#*:}
	head -c "$off" "$W/plain" >"$f"
	if "$S" info "$f" >/dev/null 2>&1; then
		echo "mkcorpus: $f was accepted" >&2
		exit 1
	fi
done

chmod 644 "$OUT"/*

# Findings of the fuzzer, fixed since (docs/fuzzing.md, "Findings"), kept
# as seeds so that they stay fixed: the first three are refused, the last
# accepted.
"$T" insert "$W/plain" "$W/ph" 12 0 ""
i=$(($("$T" records "$W/ph" | awk '$3 == 12 { print NR; exit }') - 1))
"$T" setlen "$W/ph" "$OUT/found-k1-page-hashes-len-wraps" "$i" 0xffffffffffffffff
"$T" setlen "$W/ph" "$OUT/found-k1-page-hashes-len-huge" "$i" 0x7000000000000000
"$T" insert "$W/plain" "$OUT/found-k2-optional-commit-in-metadata" 13 1 "not a COMMIT"
for f in "$OUT"/found-k[12]-*; do
	if "$S" info "$f" >/dev/null 2>&1; then
		echo "mkcorpus: $f was accepted" >&2
		exit 1
	fi
done
mkdir -p "$W/run-k3/"$'\xff'
(cd "$W/run-k3/"$'\xff' && "${clean[@]}" "$W/seedgen" "$OUT/found-k3-cwd-not-utf8" plain </dev/null >/dev/null)
"$S" info --json "$OUT/found-k3-cwd-not-utf8" >/dev/null
chmod 644 "$OUT"/*

total=0
for f in "$OUT"/*; do
	n=$(stat -c %s "$f")
	total=$((total + n))
	[ "$n" -lt 204800 ] || { echo "mkcorpus: $f is $n bytes (limit 200 KiB)" >&2; exit 1; }
done
[ "$total" -lt 2097152 ] || { echo "mkcorpus: $total bytes in all (limit 2 MiB)" >&2; exit 1; }
echo "mkcorpus: $(ls "$OUT" | wc -l) seeds, $total bytes, in $OUT"

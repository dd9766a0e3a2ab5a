#!/bin/bash
# incompat.sh - intact images that this machine cannot run are refused.
#
# Restart must refuse, with status 69 and one line saying what differs, an
# image whose vdso/vvar layout, CPU features or XSAVE features this machine
# does not have, or whose mapped files changed (restore.c check_machine,
# check_vdso; arch/x86_64/cpu.c; restore-files.c same_file). None of that
# happens on one machine, so the image is edited: tests/e2e/helpers/imgedit
# changes the payloads and seals every hash again, so that only the
# semantic checks can object. For every edit:
#
#   - `selfckpt info` exits 0 with nothing on stderr (the image is intact);
#   - `selfckpt restart` exits 69 with exactly one line on stderr naming
#     what differs, nothing on stdout, and the program does not run: its
#     output file keeps its size, mtime and contents; from a pipe too;
#   - or, for the edits a restart must accept, exits 0 after running the
#     program to the same end as the unedited image.
#
# The edits: the vdso one page larger, or further from the vvar ("lays out
# the vdso"); another vdso build with moved entry points (with the same
# entry points it must restart); a CPUID feature
# this CPU lacks, named and unnamed; an XSAVE feature it lacks; a mapped
# file (the program) with another size, mtime, ctime, inode, device or
# build-id. The machine-id decides which file checks apply: on the
# machine that wrote the image, all of them (the device only within the
# same boot); with another machine-id, size, mtime and build-id only, so
# another machine-id alone, or with another inode, ctime or device, must
# restart. The vdso/vvar block moved as a whole keeps its layout: accepted
# by the layout check (see that case). A page size other than 4096 is
# refused by the reader, by info too, with 65. The editor itself must copy
# an image byte for byte when asked for no edit, and refuse damaged input.
#
# Env: B, ROOT, WORK (see run-tests.sh). Last line: a summary.
set -eu
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
imgedit=$B/tests/e2e/helpers/imgedit
start=$EPOCHREALTIME
nrefused=0
naccepted=0
missing=()	# the CPU features tried
vdso_block=
accepted_what="another machine-id alone and with another inode, ctime or device, another boot with another device"

[ -x "$imgedit" ] || die "$imgedit is not built (make tests)"

# ---- the image: heat, checkpointed after step 10, stdout a pipe -------------

mkfifo fifo
: >first.log
cat fifo >first.log &
reader=$!
"$B/examples/heat" --size 16 --steps 40 --progress 1 --slow 10 --out heat.txt \
	--checkpoint-at 10 --image heat.img >fifo 2>&1 &
pid=$!
tries=0
until grep -q '^checkpoint 1 written' first.log; do
	tries=$((tries + 1))
	[ $tries -lt 1000 ] && kill -0 $pid 2>/dev/null || die "no checkpoint: $(cat first.log)"
	sleep 0.01
done
kill -KILL $pid
wait $pid 2>/dev/null || true
wait $reader || true
! grep -q '^final:' first.log || die "heat finished before it was killed"
"$sck" info heat.img >/dev/null || die "the image does not pass selfckpt info"

# The mapped file whose records are edited: the program, as /proc/self/maps
# named it.
prog=$(readlink -f "$B/examples/heat")
"$sck" info heat.img | grep -qF " $prog" || die "$prog is not mapped in the image"
machine_id=$("$sck" info --json heat.img |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["fingerprint"]["machine_id"])')
boot_id=$(cat /proc/sys/kernel/random/boot_id)
# Another id: the first digit changed.
other() { printf '%x%s' $(((0x${1:0:1} + 1) % 16)) "${1:1}"; }

# ---- the editor: a faithful copy, and no damaged input ------------------------

"$imgedit" heat.img copy.img 2>edit.err || die "imgedit without edits failed: $(cat edit.err)"
cmp -s heat.img copy.img || die "imgedit without edits does not copy the image byte for byte"
[ ! -s edit.err ] || die "imgedit without edits said: $(cat edit.err)"

data_off=$("$sck" info --records --json heat.img |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["pages"]["offset"])')
damaged_input() { # OFFSET WHAT PATTERN
	cp heat.img bad.img
	printf '\125' | dd of=bad.img bs=1 seek="$1" conv=notrunc status=none
	cmp -s heat.img bad.img && die "bad.img is not damaged"
	local st=0
	"$imgedit" bad.img bad-out.img vdso-hash 2>bad.err || st=$?
	[ $st -eq 1 ] && grep -q "$3" bad.err ||
		die "imgedit on $2: status $st (expected 1, '$3'): $(cat bad.err)"
	[ ! -e bad-out.img ] || die "imgedit on $2 left bad-out.img behind"
}
damaged_input 100 "a damaged header" "damaged"
damaged_input $((data_off / 2)) "damaged metadata" "damaged"
damaged_input $((data_off + 5000)) "damaged page data" "page data"
st=0
"$imgedit" heat.img unknown.img frobnicate 2>bad.err || st=$?
[ $st -eq 2 ] && [ ! -e unknown.img ] || die "imgedit with an unknown edit: status $st: $(cat bad.err)"
st=0
"$imgedit" heat.img nofile.img file-size=/no/such/file 2>bad.err || st=$?
[ $st -eq 1 ] && [ ! -e nofile.img ] || die "imgedit on a path without FILE record: status $st: $(cat bad.err)"

# ---- the contract -----------------------------------------------------------

out_sig=
take_sig() { read -r out_sig <<<"$(stat -c '%s %Y %y' heat.txt) $(sha256sum <heat.txt)"; }
out_unchanged() {
	local now
	read -r now <<<"$(stat -c '%s %Y %y' heat.txt) $(sha256sum <heat.txt)"
	[ "$now" = "$out_sig" ]
}

edit() { # NAME EDIT...: NAME.img from heat.img
	local name=$1
	shift
	"$imgedit" heat.img "$name.img" "$@" 2>"$name.edit" ||
		die "$name: imgedit $* failed: $(cat "$name.edit")"
	cmp -s heat.img "$name.img" && die "$name: imgedit $* changed nothing"
	return 0
}

info_ok() { # NAME: the edited image is intact
	local st=0
	"$sck" info "$1.img" </dev/null >"$1.info" 2>"$1.info-err" || st=$?
	[ $st -eq 0 ] && [ ! -s "$1.info-err" ] ||
		die "$1: selfckpt info: status $st: $(cat "$1.info-err")"
}

# refused NAME PATTERN...: restart exits 69 with one line containing every
# PATTERN, nothing on stdout, and the program did not run; the same when
# the image comes from a pipe.
refused() {
	local name=$1 st=0 p
	shift
	info_ok "$name"
	timeout 20 "$sck" restart "$name.img" </dev/null >"$name.out" 2>"$name.err" || st=$?
	[ $st -eq 69 ] || die "$name: restart status $st, expected 69: $(cat "$name.err")"
	[ "$(wc -l <"$name.err")" -eq 1 ] && [ "$(tail -c 1 "$name.err" | wc -l)" -eq 1 ] ||
		die "$name: expected one line on stderr, got: $(cat "$name.err")"
	grep -q '^selfckpt restart: ' "$name.err" || die "$name: unexpected message: $(cat "$name.err")"
	for p in "$@"; do
		grep -qF -- "$p" "$name.err" ||
			die "$name: the message does not say '$p': $(cat "$name.err")"
	done
	[ ! -s "$name.out" ] || die "$name: output on stdout (the program ran?): $(head -c 300 "$name.out")"
	out_unchanged || die "$name: the output file was modified: the program ran"
	st=0
	# shellcheck disable=SC2002
	cat "$name.img" | timeout 20 "$sck" restart - >"$name.pipe-out" 2>"$name.pipe-err" || st=$?
	[ $st -eq 69 ] && cmp -s "$name.err" "$name.pipe-err" && [ ! -s "$name.pipe-out" ] ||
		die "$name: restart from a pipe: status $st: $(cat "$name.pipe-err" "$name.pipe-out")"
	out_unchanged || die "$name: the output file was modified by a restart from a pipe"
	nrefused=$((nrefused + 1))
}

# accepted NAME: restart runs the program to the control run's end.
final=
accepted() {
	local name=$1 st
	info_ok "$name"
	timeout 60 "$sck" restart "$name.img" </dev/null 2>&1 | cat >"$name.log"
	st=${PIPESTATUS[0]}
	[ "$st" -eq 0 ] || die "$name: restart status $st, expected 0: $(cat "$name.log")"
	grep -q '^restarted from checkpoint 1 after step 10' "$name.log" ||
		die "$name: did not resume: $(cat "$name.log")"
	if [ -z "$final" ]; then
		final=$(grep '^final: 40 steps' "$name.log") || die "$name: no final line: $(cat "$name.log")"
	else
		[ "$(grep '^final:' "$name.log")" = "$final" ] ||
			die "$name: ended otherwise than the control run: $(cat "$name.log")"
	fi
	! out_unchanged || die "$name: the output file was not rewritten: the checks are blind"
	take_sig
	naccepted=$((naccepted + 1))
}

# The control: the editor's copy restarts, and rewrites the output file.
take_sig
cp copy.img control.img
accepted control

# ---- the vdso ---------------------------------------------------------------

edit vdso-size vdso-size
refused vdso-size "lays out the vdso and vvar differently"
edit vdso-gap vdso-gap
refused vdso-gap "lays out the vdso and vvar differently"
edit vdso-hash vdso-hash
refused vdso-hash "this kernel's vdso" "differs from the image's"
# Another build of the kernel whose vdso entry points did not move: accepted.
edit vdso-rebuild vdso-rebuild
accepted vdso-rebuild

# The whole block elsewhere keeps its layout: check_vdso compares the pieces
# relative to the vdso, and every restart moves them to the image's
# addresses (they are at random places in the launcher). The memory of the
# program still points at the old place (libc's vdso pointers, auxv's
# AT_SYSINFO_EHDR): heat makes no vdso call after resuming, so it runs to
# the end; a restart that detected the contradiction would refuse the
# image as damaged (65), which is also right. Not "lays out" (69).
edit vdso-shift vdso-shift
info_ok vdso-shift
st=0
timeout 60 "$sck" restart vdso-shift.img </dev/null >vdso-shift.log 2>vdso-shift.err || st=$?
case $st in
0)
	grep -q '^restarted from checkpoint 1 after step 10' vdso-shift.log &&
		[ "$(grep '^final:' vdso-shift.log)" = "$final" ] ||
		die "vdso-shift: unexpected run: $(cat vdso-shift.log vdso-shift.err)"
	take_sig
	naccepted=$((naccepted + 1))
	vdso_block=accepted
	;;
65)
	[ "$(wc -l <vdso-shift.err)" -eq 1 ] && grep -q vdso vdso-shift.err ||
		die "vdso-shift: refused without naming the vdso: $(cat vdso-shift.err)"
	out_unchanged || die "vdso-shift: the output file was modified: the program ran"
	nrefused=$((nrefused + 1))
	vdso_block="refused (65)"
	;;
*)
	die "vdso-shift: restart status $st: $(cat vdso-shift.err vdso-shift.log)"
	;;
esac

# ---- the CPU ------------------------------------------------------------------

# try_cpu NAME "EDIT|PATTERN"...: the first edit that describes a CPU
# other than this one (imgedit exits 3 for a feature this CPU has).
try_cpu() {
	local name=$1 c st
	shift
	for c in "$@"; do
		st=0
		"$imgedit" heat.img "$name.img" "${c%%|*}" 2>"$name.edit" || st=$?
		[ $st -eq 3 ] && continue
		[ $st -eq 0 ] || die "$name: imgedit ${c%%|*} failed: $(cat "$name.edit")"
		refused "$name" "this CPU cannot run the image: missing ${c#*|}"
		missing+=("${c#*|}")
		return 0
	done
	die "$name: this CPU has every candidate feature: $*"
}
# A named feature: sse4a is AMD's, amx-tile Intel's.
try_cpu cpu-named "cpu-feature=ext1_ecx:6|sse4a" "cpu-feature=leaf7_edx:24|amx-tile" \
	"cpu-feature=leaf7_1_eax:4|avx-vnni" "cpu-feature=leaf7_ebx:16|avx512f"
# A bit without a name is named by its word.
try_cpu cpu-bit "cpu-feature=leaf7_ecx:31|cpuid.7.ecx bit 31" \
	"cpu-feature=ext1_ecx:30|cpuid.80000001.ecx bit 30" \
	"cpu-feature=leaf7_1_eax:31|cpuid.7.1.eax bit 31"
# An XSAVE feature: PKRU, AMX tile config and data, CET user state.
try_cpu xfeature "xfeature=9|xstate features 0x200" "xfeature=17|xstate features 0x20000" \
	"xfeature=18|xstate features 0x40000" "xfeature=11|xstate features 0x800"

# ---- mapped files -------------------------------------------------------------

mid_other=
boot_other=$(other "$boot_id")
[ -n "$machine_id" ] && mid_other=$(other "$machine_id")

edit file-size "file-size=$prog"
refused file-size "$prog changed since the checkpoint: its size was"
edit file-mtime "file-mtime=$prog"
refused file-mtime "$prog changed since the checkpoint: modified"
edit file-build-id "file-build-id=$prog"
refused file-build-id "$prog has another ELF build-id"
if [ -n "$machine_id" ]; then
	# This machine: the inode, and the ctime that no one can set back.
	edit file-inode "file-inode=$prog"
	refused file-inode "$prog was replaced"
	edit file-ctime "file-ctime=$prog"
	refused file-ctime "$prog changed since the checkpoint: its inode was changed"
	# (The message names the inode numbers, equal here: only the device
	# differs.)
	edit file-dev "file-dev=$prog"
	refused file-dev "$prog is on another file system"
	# Another boot: device numbers may differ, the inode may not.
	edit boot-dev "boot-id=$boot_other" "file-dev=$prog"
	accepted boot-dev
	edit boot-inode "boot-id=$boot_other" "file-inode=$prog"
	refused boot-inode "$prog was replaced"

	# Another machine: size, mtime and build-id only.
	edit machine "machine-id=$mid_other"
	accepted machine
	edit machine-inode "machine-id=$mid_other" "file-inode=$prog"
	accepted machine-inode
	edit machine-ctime "machine-id=$mid_other" "file-ctime=$prog"
	accepted machine-ctime
	edit machine-dev "machine-id=$mid_other" "file-dev=$prog"
	accepted machine-dev
	edit machine-mtime "machine-id=$mid_other" "file-mtime=$prog"
	refused machine-mtime "$prog changed since the checkpoint: modified"
	edit machine-size "machine-id=$mid_other" "file-size=$prog"
	refused machine-size "$prog changed since the checkpoint: its size was"
	edit machine-build-id "machine-id=$mid_other" "file-build-id=$prog"
	refused machine-build-id "$prog has another ELF build-id"
else
	accepted_what="same-machine file checks untested: the image has no machine-id"
fi

# ---- the page size: the reader refuses it, info too -----------------------------

edit page-size page-size=8192
for verb in info restart; do
	st=0
	timeout 20 "$sck" $verb page-size.img </dev/null >page-size.out 2>page-size.err || st=$?
	[ $st -eq 65 ] && [ "$(wc -l <page-size.err)" -eq 1 ] &&
		grep -q 'page size 8192' page-size.err && [ ! -s page-size.out ] ||
		die "page-size: $verb status $st: $(cat page-size.err page-size.out)"
	out_unchanged || die "page-size: the output file was modified: the program ran"
done
nrefused=$((nrefused + 1))

# The images were read, never written.
cmp -s heat.img copy.img || die "heat.img changed"

missing_list=$(printf '%s, ' "${missing[@]}")
echo "incompat: $nrefused edited images refused (69, one line naming the difference; page size: 65), $naccepted restarted to the same end (control; another vdso build with the same entry points; $accepted_what); missing ${missing_list%, }; vdso/vvar moved as a block $vdso_block; imgedit copies byte for byte, refuses damaged input ($(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s)"

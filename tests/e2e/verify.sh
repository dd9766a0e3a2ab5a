#!/bin/bash
# verify.sh - `selfckpt verify IMAGE|DIR|-` (docs/cli.md): an image checked
# completely, and whether this machine can run it, without restarting it.
#
#   - a fresh image (mem01) is accepted, status 0, from the file, from a
#     pipe and through its checkpoint directory (DIR/latest); every line is
#     a finding (ok:, note:, warning:, error:) and the last one the verdict;
#     it names the image, the CPU, the vdso, every mapped file, the ids;
#     restart then really runs it (PASS): verify and restart agree;
#   - truncated images (in the header, the metadata, the page data, the
#     trailer) and byte-flipped ones (metadata, page data, trailer) are
#     refused with 65, one error line, the same reason as `selfckpt info`,
#     from a pipe too; a missing image and a directory without latest 66;
#   - an image whose mapped program changed (touched; a byte appended with
#     the mtime put back) is refused with 69 naming the file, as restart
#     refuses it; files01's image is accepted with a line per descriptor,
#     then refused with 69 naming every descriptor whose file changed or
#     went (restart names only the first);
#   - images edited by tests/e2e/helpers/imgedit (every hash sealed again)
#     that describe another CPU and also a changed file: 69, both errors
#     listed, the verdict names the CPU (the first check, as restart);
#   - an image others can write: 77, as restart; with --force a note and 0;
#     as root, another user's image too;
#   - the ids line agrees with what unshare(1) can create here.
#
# Env: B, ROOT, WORK (see run-tests.sh). Last line: a summary.
set -eu
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
imgedit=$B/tests/e2e/helpers/imgedit
start=$EPOCHREALTIME
checks=0
ok() { checks=$((checks + 1)); }

# run_verify NAME ARGS...: NAME.out, NAME.err, status in $st.
st=0
run_verify() {
	local name=$1
	shift
	st=0
	timeout 60 "$sck" verify "$@" >"$name.out" 2>"$name.err" </dev/null || st=$?
}
# Every line a finding, the last one the verdict, nothing on stderr.
well_formed() { # NAME
	[ ! -s "$1.err" ] || die "$1: output on stderr: $(cat "$1.err")"
	[ -s "$1.out" ] || die "$1: no output"
	tail -n 1 "$1.out" | grep -q '^verdict: ' || die "$1: last line is not the verdict: $(cat "$1.out")"
	[ "$(grep -c '^verdict: ' "$1.out")" -eq 1 ] || die "$1: more than one verdict: $(cat "$1.out")"
	! grep -vqE '^(ok|note|warning|error|verdict): ' "$1.out" ||
		die "$1: a line that is not a finding: $(grep -vE '^(ok|note|warning|error|verdict): ' "$1.out")"
}
accepted() { # NAME ARGS...
	local name=$1
	run_verify "$@"
	well_formed "$name"
	[ $st -eq 0 ] || die "$name: verify status $st, expected 0: $(cat "$name.out")"
	grep -q '^verdict: .* can be restarted on this machine$' "$name.out" ||
		die "$name: verdict: $(tail -n 1 "$name.out")"
	! grep -q '^error: ' "$name.out" || die "$name: errors with status 0: $(cat "$name.out")"
	ok
}
# refused NAME STATUS PATTERN ARGS...: the status, error lines, a verdict
# with the status and PATTERN.
refused() {
	local name=$1 want=$2 pat=$3
	shift 3
	run_verify "$name" "$@"
	well_formed "$name"
	[ $st -eq "$want" ] || die "$name: verify status $st, expected $want: $(cat "$name.out")"
	grep -q '^error: ' "$name.out" || die "$name: no error line: $(cat "$name.out")"
	tail -n 1 "$name.out" | grep -qF "(status $want): " ||
		die "$name: the verdict does not give status $want: $(tail -n 1 "$name.out")"
	tail -n 1 "$name.out" | grep -qF -- "$pat" ||
		die "$name: the verdict does not say '$pat': $(tail -n 1 "$name.out")"
	ok
}

# ---- a fresh image ----------------------------------------------------------

make_image() { # PROG IMAGE: the test program checkpoints once and exits
	env -u SCK_READY SCK_IMAGE="$2" "$1" </dev/null 2>&1 | cat >"$2.log"
	[ "${PIPESTATUS[0]}" -eq 0 ] && grep -q 'checkpoint 1 written' "$2.log" ||
		die "$1 did not checkpoint: $(cat "$2.log")"
}
make_image "$B/tests/e2e/bin/mem01" "$WORK/m.img"
accepted fresh m.img
for what in '^ok: image: checkpoint 1 ' '^ok: cpu: ' '^ok: vdso: ' '^ok: PR_SET_MM_MAP' \
	"^ok: mapped file $B/tests/e2e/bin/mem01: unchanged" '^ok: mapped file .*/libc.so.6: unchanged' \
	"^ok: cwd: $WORK\$" '^ok: thread [0-9]* \(main\): ' '^(ok|note|warning): ids: ' \
	'^ok: owner: yours'; do
	grep -qE "$what" fresh.out || die "fresh: no line '$what': $(cat fresh.out)"
done
ok

# What verify accepts, restart runs.
timeout 60 "$sck" restart m.img </dev/null 2>&1 | cat >fresh-restart.log
[ "${PIPESTATUS[0]}" -eq 0 ] && grep -qx PASS fresh-restart.log ||
	die "verify accepted m.img but restart did not run it: $(cat fresh-restart.log)"
ok

# The ids: what restart will do, as unshare(1) can tell.
if [ "$(id -u)" = 0 ]; then
	ns=(unshare --pid --fork true)
	ids_ok='^ok: ids: process [0-9]* and its thread ids are kept \(in a private PID namespace\)'
else
	ns=(unshare --user --map-root-user --pid --fork true)
	ids_ok='^ok: ids: process [0-9]* and its thread ids are kept \(in private user and PID namespaces\)'
fi
if "${ns[@]}" 2>/dev/null; then
	grep -qE "$ids_ok" fresh.out || die "namespaces work here, verify says: $(grep ids: fresh.out)"
	ids_said=kept
else
	grep -qE '^(note|warning): ids: .*restart gives new process and thread ids' fresh.out ||
		die "no namespaces here, verify says: $(grep ids: fresh.out)"
	ids_said=new
fi
ok

# From a pipe: the whole stream, the same findings but the owner's.
st=0
# shellcheck disable=SC2002
cat m.img | timeout 60 "$sck" verify - >pipe.out 2>pipe.err || st=$?
well_formed pipe
[ "$st" -eq 0 ] || die "from a pipe: status $st: $(cat pipe.out)"
grep -q '^verdict: the image on stdin can be restarted on this machine$' pipe.out ||
	die "from a pipe: $(tail -n 1 pipe.out)"
diff <(grep -v -e '^ok: owner' -e '^verdict' fresh.out) <(grep -v '^verdict' pipe.out) >pipe.diff ||
	die "file and pipe findings differ: $(cat pipe.diff)"
ok

# A checkpoint directory: the image latest names.
mkdir ckdir
cp m.img ckdir/ckpt-000001.img
ln -s ckpt-000001.img ckdir/latest
accepted dir ckdir
grep -q '^verdict: ckdir/ckpt-000001.img can be restarted' dir.out || die "dir: $(tail -n 1 dir.out)"
mkdir empty
refused empty-dir 66 "no empty/latest" empty
refused missing 66 "No such file or directory" no-such.img

# Quiet: the verdict only.
run_verify quiet -q m.img
[ $st -eq 0 ] && [ "$(wc -l <quiet.out)" -eq 1 ] && grep -q '^verdict: ' quiet.out ||
	die "-q: status $st: $(cat quiet.out)"
ok

# Usage.
for args in "" "a b" "--frobnicate m.img"; do
	st=0
	# shellcheck disable=SC2086
	"$sck" verify $args >usage.out 2>usage.err || st=$?
	[ $st -eq 64 ] && [ -s usage.err ] || die "verify $args: status $st, expected 64"
done
"$sck" verify --help | grep -q '^usage: selfckpt verify' || die "verify --help"
ok

# ---- damaged images: 65, the same reason as info ----------------------------

size=$(stat -c %s m.img)
data_off=$("$sck" info --records --json m.img |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["pages"]["offset"])')
data_len=$("$sck" info --records --json m.img |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["pages"]["len"])')
[ "$data_len" -gt 8192 ] || die "m.img has only $data_len bytes of page data"
trailer=$((data_off + data_len))

same_as_info() { # NAME IMAGE: info refuses it with the reason verify gave
	local ist=0 reason
	"$sck" info "$2" >/dev/null 2>"$1.info" </dev/null || ist=$?
	[ $ist -eq 65 ] || die "$1: info status $ist: $(cat "$1.info")"
	reason=$(sed 's/^selfckpt info: [^:]*: //' "$1.info")
	grep -qF -- "$reason" "$1.out" || die "$1: verify and info disagree: $(cat "$1.info" "$1.out")"
}
ncut=0
for cut in 100 $((data_off / 2)) $((data_off + 4096)) $((trailer - 4096 > data_off ? trailer - 4096 : data_off + 1)) \
	$((trailer + 8)) $((size - 1)); do
	head -c "$cut" m.img >cut.img
	refused "cut-$cut" 65 "truncated" cut.img
	[ "$(grep -c '^error: ' "cut-$cut.out")" -eq 1 ] || die "cut at $cut: $(cat "cut-$cut.out")"
	same_as_info "cut-$cut" cut.img
	st=0
	head -c "$cut" m.img | timeout 60 "$sck" verify -q - >cut-pipe.out 2>&1 || st=$?
	[ $st -eq 65 ] && grep -q truncated cut-pipe.out ||
		die "cut at $cut, from a pipe: status $st: $(cat cut-pipe.out)"
	ncut=$((ncut + 1))
done

nflip=0
flip() { # OFFSET: flipped.img with one byte changed there
	cp m.img flipped.img
	local b
	b=$(od -An -tu1 -j "$1" -N1 m.img | tr -d ' ')
	printf "\\$(printf '%03o' $((b ^ 0x55)))" |
		dd of=flipped.img bs=1 seek="$1" conv=notrunc status=none
	! cmp -s m.img flipped.img || die "flipped.img is not changed at $1"
}
for off in 20 200 $((data_off / 2)) $((data_off - 8)) $((data_off + 5000)) \
	$((data_off + data_len / 2)) $((trailer - 1)) $((trailer + 40)) $((size - 10)); do
	flip "$off"
	refused "flip-$off" 65 "damaged" flipped.img
	same_as_info "flip-$off" flipped.img
	st=0
	# shellcheck disable=SC2002
	cat flipped.img | timeout 60 "$sck" verify -q - >flip-pipe.out 2>&1 || st=$?
	[ $st -eq 65 ] || die "flip at $off, from a pipe: status $st: $(cat flip-pipe.out)"
	nflip=$((nflip + 1))
done
# Not the file: the image is intact again after all that.
accepted intact m.img

# ---- a changed mapped file: 69, as restart ------------------------------------

cp "$B/tests/e2e/bin/mem01" prog-touch
make_image "$WORK/prog-touch" "$WORK/touch.img"
accepted touch-before touch.img
touch -d '2001-02-03 04:05:06' prog-touch
refused touch-after 69 "$WORK/prog-touch changed since the checkpoint: modified" touch.img
grep -q "^error: mapped file $WORK/prog-touch: " touch-after.out || die "touch: $(cat touch-after.out)"
st=0
timeout 60 "$sck" restart touch.img </dev/null >touch-restart.out 2>touch-restart.err || st=$?
[ $st -eq 69 ] && grep -qF "$WORK/prog-touch" touch-restart.err ||
	die "verify refused touch.img, restart: status $st: $(cat touch-restart.err)"
ok

cp "$B/tests/e2e/bin/mem01" prog-append
make_image "$WORK/prog-append" "$WORK/append.img"
accepted append-before append.img
touch -r prog-append mtime.ref
printf x >>prog-append
touch -r mtime.ref prog-append
refused append-after 69 "$WORK/prog-append changed since the checkpoint: its size was" append.img

# ---- descriptors: every one that fails is named --------------------------------

mkdir files
(cd files && make_image "$B/tests/e2e/bin/files01" "$WORK/files/f.img")
accepted files-before files/f.img
for what in "^ok: fd 6: $WORK/files/ro.dat can be reopened, unchanged" \
	"^ok: fd 3: $WORK/files/rw.dat can be reopened\$" '^ok: fd 4: shares its open file with fd 3' \
	'^ok: fd 1: was a pipe: becomes the restart command' "^ok: cwd: $WORK/files\$"; do
	grep -qE "$what" files-before.out || die "files: no line '$what': $(cat files-before.out)"
done
ok
echo x >>files/ro.dat
mv files/high.dat files/high.moved
refused files-after 69 "fd 6: $WORK/files/ro.dat changed since the checkpoint: its size was" files/f.img
for what in "^error: fd 6: $WORK/files/ro.dat changed" \
	"^error: fd 10: cannot reopen $WORK/files/high.dat as fd 10: No such file or directory" \
	"^ok: fd 3: $WORK/files/rw.dat can be reopened\$"; do
	grep -qE "$what" files-after.out || die "files changed: no line '$what': $(cat files-after.out)"
done
ok

# ---- another machine, and a changed file: both said, the first decides ------------

[ -x "$imgedit" ] || die "$imgedit is not built (make tests)"
prog=$(readlink -f "$B/tests/e2e/bin/mem01")
cpu_edit=
for c in "cpu-feature=ext1_ecx:6|sse4a" "cpu-feature=leaf7_edx:24|amx-tile" \
	"cpu-feature=leaf7_ecx:31|cpuid.7.ecx bit 31" "cpu-feature=leaf7_1_eax:31|cpuid.7.1.eax bit 31"; do
	st=0
	"$imgedit" m.img cpu.img "${c%%|*}" "file-size=$prog" 2>cpu.edit || st=$?
	[ $st -eq 3 ] && continue
	[ $st -eq 0 ] || die "imgedit ${c%%|*}: status $st: $(cat cpu.edit)"
	cpu_edit=${c#*|}
	break
done
[ -n "$cpu_edit" ] || die "this CPU has every candidate feature"
refused cpu 69 "cpu: this CPU cannot run the image: missing $cpu_edit" cpu.img
grep -q "^error: mapped file $prog: $prog changed since the checkpoint: its size was" cpu.out ||
	die "cpu: the changed file is not listed too: $(cat cpu.out)"
[ "$(grep -c '^error: ' cpu.out)" -eq 2 ] || die "cpu: expected two errors: $(cat cpu.out)"
"$imgedit" m.img vdso.img vdso-size 2>vdso.edit || die "imgedit vdso-size: $(cat vdso.edit)"
refused vdso 69 "lays out the vdso and vvar differently" vdso.img

# ---- whose image: 77, as restart ------------------------------------------------

cp m.img shared.img
chmod 666 shared.img
refused shared 77 "writable by everyone" shared.img
st=0
timeout 20 "$sck" restart shared.img </dev/null >/dev/null 2>shared-restart.err || st=$?
[ $st -eq 77 ] || die "verify refused shared.img with 77, restart: $st: $(cat shared-restart.err)"
accepted shared-force --force shared.img
grep -q '^note: mode: shared.img is writable by everyone' shared-force.out ||
	die "--force: no note: $(cat shared-force.out)"
others=
if [ "$(id -u)" = 0 ]; then
	cp m.img theirs.img
	chown 65534:65534 theirs.img
	refused theirs 77 "belongs to uid 65534, not to you (uid 0)" theirs.img
	others=", another user's image 77"
fi

echo "verify: a fresh image accepted (file, pipe, directory) and restarted; $ncut truncations and $nflip flipped bytes refused with 65 as info refuses them; changed program (mtime, size) and descriptors' files 69 naming each; another CPU with a changed file: both listed; image others can write 77$others; ids $ids_said as unshare says; $checks checks ($(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s)"

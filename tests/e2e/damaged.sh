#!/bin/bash
# damaged.sh - damaged, truncated and foreign images are refused cleanly.
#
# A real image is written (the heat example, checkpointed after step 10,
# stdout a pipe, its output file in WORK, killed after the checkpoint);
# then for every one of these, `selfckpt info` and `selfckpt restart` must
# exit with the documented status (65 damaged, truncated or not an image;
# 66 missing or unreadable), print exactly one line on stderr and nothing
# on stdout, end within 10 seconds, and restart must not run the program:
# the output file the program would reopen keeps its size, mtime and
# contents (checked after every attempt).
#
#   - the image cut at every record boundary, at every record's
#     header/payload boundary, one byte before and after each of those,
#     and inside the page data; and the image with one byte appended;
#   - 2000 images with one byte changed (a fixed seed, so every run tries
#     the same ones): 1000 anywhere in the file, 1000 outside the page data
#     (where the parsers are), the new value always different;
#   - an empty file, zeros, /etc/passwd, another major version (the message
#     must name the version), a directory, a missing path;
#   - from a pipe: damage in the page data (caught by the restorer, after
#     the launcher gave up its memory), a cut in the page data, damage in
#     the metadata.
#
# Finally, the intact image is restarted and must run to the end and
# rewrite the output file, which shows that the checks above can see a
# program that ran. The bulk cases run in parallel from one Python
# process (no shell, dd or timeout process per case).
#
# Env: B, ROOT, WORK (see run-tests.sh). Last line: a summary with timings.
set -eu
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
seed=${DAMAGED_SEED:-20251122}
start=$EPOCHREALTIME

elapsed() {
	awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

# ---- the image -----------------------------------------------------------

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
"$sck" info heat.img >info.txt || die "the intact image does not pass selfckpt info"
"$sck" info --records --json heat.img >records.json ||
	die "selfckpt info --records --json failed"
# The record list and the file agree: consecutive, ending at the file size.
python3 - heat.img records.json <<'PY' || die "selfckpt info --records is inconsistent"
import json, os, sys
size = os.path.getsize(sys.argv[1])
lay = json.load(open(sys.argv[2]))
recs = lay["records"]
assert lay["format"]["bytes"] == size, "bytes"
assert recs[0]["offset"] == 16 and recs[-1]["end"] == size, "ends"
for a, b in zip(recs, recs[1:]):
    assert a["end"] == b["offset"], a
pages = [r for r in recs if r["name"] == "PAGES"]
assert len(pages) == 1 and pages[0]["offset"] + 32 == lay["pages"]["offset"]
assert lay["pages"]["offset"] % 4096 == 0 and lay["pages"]["len"] > 0
assert [r["name"] for r in recs[-3:]] == ["PAGES", "PAGE_HASHES", "COMMIT"]
PY
made=$(elapsed "$start")

# ---- the contract, for the few cases run from the shell -------------------

read -r out_sig <<<"$(stat -c '%s %Y %y' heat.txt) $(sha256sum <heat.txt)"
out_unchanged() {
	local now
	read -r now <<<"$(stat -c '%s %Y %y' heat.txt) $(sha256sum <heat.txt)"
	[ "$now" = "$out_sig" ]
}

nshell=0
# expect STATUS WHAT [GREP] -- COMMAND...: the status, one line on stderr
# (matching GREP if given), nothing on stdout, the output file untouched.
expect() {
	local want=$1 what=$2 pattern=
	shift 2
	if [ "$1" != -- ]; then
		pattern=$1
		shift
	fi
	shift
	local st=0
	timeout 10 "$@" </dev/null >case.out 2>case.err || st=$?
	check_case "$want" "$what" "$pattern" $st
}

check_case() { # WANT WHAT PATTERN STATUS (outputs in case.out, case.err)
	local want=$1 what=$2 pattern=$3 st=$4
	nshell=$((nshell + 1))
	[ "$st" -eq "$want" ] ||
		die "$what: status $st, expected $want; stderr: $(cat case.err)"
	[ "$(wc -l <case.err)" -eq 1 ] && [ "$(tail -c 1 case.err | wc -l)" -eq 1 ] &&
		[ "$(wc -c <case.err)" -gt 1 ] ||
		die "$what: expected one line on stderr, got: $(cat case.err)"
	[ ! -s case.out ] || die "$what: unexpected output: $(head -c 300 case.out)"
	[ -z "$pattern" ] || grep -q -- "$pattern" case.err ||
		die "$what: the message does not mention '$pattern': $(cat case.err)"
	out_unchanged || die "$what: the output file was modified: the program ran"
}

both() { # STATUS WHAT [GREP] IMAGE: info and restart
	local want=$1 what=$2 pattern=
	if [ $# -eq 4 ]; then pattern=$3; shift; fi
	local img=$3
	expect "$want" "info: $what" "$pattern" -- "$sck" info "$img"
	expect "$want" "restart: $what" "$pattern" -- "$sck" restart "$img"
}

: >empty.img
both 65 "an empty file" "empty" empty.img
head -c 65536 /dev/zero >zeros.img
both 65 "a file of zeros" "not a selfckpt image" zeros.img
cp /etc/passwd passwd.img # a copy: an image that is not ours is refused first (77)
both 65 "a text file (/etc/passwd)" "not a selfckpt image" passwd.img
cp heat.img version.img
printf '\002' | dd of=version.img bs=1 seek=8 conv=notrunc status=none
both 65 "major version 2" "version 2" version.img
mkdir -p adir
both 66 "a directory" adir
both 66 "a missing path" "No such file" missing.img

# From a pipe. Page data damaged: the launcher accepts the metadata and
# hands over; the restorer finds the damage and must still exit cleanly.
data_off=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pages"]["offset"])' records.json)
data_len=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pages"]["len"])' records.json)
cp heat.img pagebad.img
printf '\125' | dd of=pagebad.img bs=1 seek=$((data_off + data_len / 2)) conv=notrunc status=none
cmp -s heat.img pagebad.img && die "pagebad.img is not damaged"
pipe_case() { # STATUS WHAT PATTERN FILE VERB
	local st=0
	# A pipe, not a redirection: the image must not be seekable.
	# shellcheck disable=SC2002
	cat "$4" | timeout 10 "$sck" "$5" - >case.out 2>case.err || st=$?
	check_case "$1" "$5 from a pipe: $2" "$3" $st
}
pipe_case 65 "damaged page data" "checksum" pagebad.img restart
pipe_case 65 "damaged page data" "checksum" pagebad.img info
head -c $((data_off + 5000)) heat.img >pagecut.img
pipe_case 65 "cut in the page data" "truncated" pagecut.img restart
pipe_case 65 "cut in the page data" "truncated" pagecut.img info
cp heat.img metabad.img
printf '\377' | dd of=metabad.img bs=1 seek=$((data_off / 2)) conv=notrunc status=none
cmp -s heat.img metabad.img && die "metabad.img is not damaged"
pipe_case 65 "damaged metadata" "damaged" metabad.img restart
shell_done=$(elapsed "$start")

# ---- the bulk: every cut, 2000 changed bytes --------------------------------

bulk=$(python3 - "$sck" heat.img records.json heat.txt "$seed" <<'PY'
import concurrent.futures as cf
import hashlib, json, os, random, subprocess, sys

sck, img, layout, out, seed = sys.argv[1:6]
data = open(img, "rb").read()
size = len(data)
lay = json.load(open(layout))
pages = lay["pages"]
p0, p1 = pages["offset"], pages["offset"] + pages["len"]

def out_sig():
    st = os.stat(out)
    with open(out, "rb") as f:
        return (st.st_size, st.st_mtime_ns, hashlib.sha256(f.read()).hexdigest())
sig0 = out_sig()

# Cuts: every boundary, one byte either side, and inside the page data.
points = {0, 8, 16}
for r in lay["records"]:
    points.update((r["offset"], r["offset"] + 32, r["end"]))
points.update((p0 + 4096, (p0 + p1) // 2, p1 - 4096))
cuts = set()
for p in points:
    cuts.update((p - 1, p, p + 1))
cases = [("cut at %d" % n, ("cut", n)) for n in sorted(cuts) if 0 <= n < size]
cases.append(("one byte appended", ("append", 0)))

# Changed bytes: half anywhere, half outside the page data.
rng = random.Random(int(seed))
outside = [(0, p0), (p1, size)]
for i in range(2000):
    if i % 2 == 0:
        off = rng.randrange(size)
    else:
        lo, hi = outside[0] if rng.randrange(p0 + size - p1) < p0 else outside[1]
        off = rng.randrange(lo, hi)
    cases.append((None, ("flip", off, 1 + rng.randrange(255))))

def image(spec):
    if spec[0] == "cut":
        return data[:spec[1]]
    if spec[0] == "append":
        return data + b"\0"
    b = bytearray(data)
    b[spec[1]] ^= spec[2]
    return bytes(b)

def run(i, name, spec):
    path = "bulk-%d.img" % i
    bad = image(spec)
    with open(path, "wb") as f:
        f.write(bad)
    errs = []
    # restart - reads the image from a pipe: the page data and what follows
    # are checked by the restorer, after the launcher gave up its memory.
    # (Bytes after a complete stream are not read, so not refused.)
    runs = [("info", [sck, "info", path], None),
            ("restart", [sck, "restart", path], None)]
    if spec[0] != "append":
        runs.append(("restart -", [sck, "restart", "-"], bad))
    for verb, argv, stdin in runs:
        try:
            if stdin is None:
                p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                                   capture_output=True, timeout=10)
            else:
                p = subprocess.run(argv, input=stdin, capture_output=True,
                                   timeout=10)
        except subprocess.TimeoutExpired:
            errs.append("%s: hangs" % verb)
            continue
        err = p.stderr.decode(errors="replace")
        if p.returncode != 65:
            errs.append("%s: status %d: %s" % (verb, p.returncode, err.strip()))
        elif err.count("\n") != 1 or not err.endswith("\n") or len(err) < 2:
            errs.append("%s: not one line on stderr: %r" % (verb, err))
        elif p.stdout:
            errs.append("%s: output on stdout: %r" % (verb, p.stdout[:200]))
        elif not err.startswith("selfckpt %s: " % verb.split()[0]):
            errs.append("%s: unexpected message %r" % (verb, err))
        if verb.startswith("restart") and out_sig() != sig0:
            errs.append("%s: the output file was modified: the program ran" % verb)
    os.unlink(path)
    if spec[0] == "flip":
        name = "byte %d ^ 0x%02x (%s)" % (spec[1], spec[2],
                "page data" if p0 <= spec[1] < p1 else "metadata")
    return name, errs

failed = 0
where = {"page data": 0, "metadata": 0}
with cf.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as ex:
    futs = [ex.submit(run, i, n, s) for i, (n, s) in enumerate(cases)]
    for f in futs:
        name, errs = f.result()
        if errs:
            failed += 1
            if failed <= 20:
                print("FAIL %s: %s" % (name, "; ".join(errs)), file=sys.stderr)
for n, s in cases:
    if s[0] == "flip":
        where["page data" if p0 <= s[1] < p1 else "metadata"] += 1
ncut = sum(1 for n, s in cases if s[0] != "flip")
if failed:
    print("%d of %d bulk cases failed" % (failed, len(cases)), file=sys.stderr)
    sys.exit(1)
print("%d cuts, %d changed bytes (%d in page data, %d elsewhere)" %
      (ncut, len(cases) - ncut, where["page data"], where["metadata"]))
PY
) || die "bulk cases failed"
bulk_done=$(elapsed "$start")

# ---- the control: the intact image runs, and the checks would see it -------

"$sck" restart heat.img 2>&1 | cat >control.log
st=${PIPESTATUS[0]}
[ "$st" -eq 0 ] || die "the intact image does not restart (status $st): $(cat control.log)"
grep -q '^restarted from checkpoint 1 after step 10' control.log &&
	grep -q '^final: 40 steps' control.log || die "unexpected control run: $(cat control.log)"
! out_unchanged || die "the control run did not rewrite the output file: the checks are blind"

echo "damaged: $nshell shell cases and $bulk, all refused by info and restart with one line; times: image ${made}s, shell cases up to ${shell_done}s, bulk up to ${bulk_done}s, total $(elapsed "$start")s"

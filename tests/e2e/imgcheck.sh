#!/bin/bash
# imgcheck.sh - tools/imgcheck.py, the reader written from the format's
# specification (docs/image-format.md), and the reference reader
# (`selfckpt info`, libselfckpt/image-dec.c) agree, so that neither the
# specification nor the Python reader falls behind the code:
#
#   1. real images: the heat example at three sizes (one with more than
#      1 MiB of page data, whose last hash chunk is short), a second
#      checkpoint of a lineage (--checkpoint-every), the images the
#      runner keeps of the e2e tests maps01 (shared, memfd, deleted and
#      named mappings), files01 (descriptors; its image.2 was written
#      by a restarted process, generation 1), pipes01 (OBJ records:
#      pipes, a FIFO, eventfds), evloop01 (timerfds, a signalfd, epoll
#      instances, one watching another), inotify01 (inotify instances,
#      watches with gaps in their numbers), pty01 (pseudo-terminal pairs:
#      pty and pts objects), tty01 (run on a pty: stdio naming a terminal
#      object, in the foreground, and in the background in image.3),
#      unlinked01 and memfd01 (unlinked files and memfds, their data in
#      the page data, seals), locks01 (LOCK records of the three kinds)
#      lenient01 (NOTE records, header flag LENIENT), unix01, inet01 and
#      conn01 (sockets: pairs, listeners, pending and closed connections,
#      TCP and UDP, connections closed by SELFCKPT_CLOSE_CONNECTIONS), and
#      one of a multi-threaded
#      process (threads.img: three threads besides the main one, one of
#      which calls the checkpoint, so that MAIN and CALLER are two THREAD
#      records, each worker named by pthread_setname_np; built here from a
#      source written into WORK), and the small heat example checkpointed
#      with SELFCKPT_NEW_IDS=1 (safe.img: searched for held locks, header
#      flag NO_OWNED_LOCKS), and the images of the e2e tests timers02
#      (POSIX_TIMER records: a timer signalling a thread, CPU-time clocks)
#      and sigpending01 (SIGINFO records for the process and for two
#      threads; every image has a CLOCKS record), scmrights01 (SCM
#      records: descriptors in flight of every kind, sockets only in
#      flight, a cycle of them), sysvshm01, sysvsem01 and sysvmsg01 (SYSV
#      records of the three kinds: segments attached, detached, removed
#      while attached, split by mprotect; semaphore values; messages of
#      several types). imgcheck.py accepts each, from
#      the file and from a pipe, and every member of its --json output
#      (ids, uuids, how the writer was restarted and whether new ids are
#      safe, counts, regions, descriptors, bytes, stored bytes, the
#      record list and the page data's place) is in `selfckpt info --json`
#      or `selfckpt info --records --json` with the same value; its
#      "restarted", "new ids" and totals lines, and each thread's tid,
#      roles and name, are those of `selfckpt info`.
#   2. damaged images: cut in the preamble, inside the page data, around
#      the trailer's records and (two images) at every record boundary, at
#      every record's header/payload boundary and one byte before each; a
#      byte changed in the metadata, in the page data (also in the short
#      last chunk), in the trailer; one byte appended; another major
#      version, magic or architecture. Both readers refuse each with status
#      65, one line on stderr, nothing on stdout and the same message. A few
#      run as imgcheck.py processes on the file, on a pipe and with --json.
#   3. forged images: well-formed (every hash recomputed) but breaking one
#      rule of the format each (fixed parts of the wrong length, a repeated
#      or missing record, unknown file flags, the CPU count, page runs where
#      none may be, the executable's file, END_META.nruns, the header's
#      vdso list, a file on an anonymous mapping, a descriptor naming a
#      file of another kind, thread roles and ids: two MAIN threads, no
#      CALLER, duplicate tids..., a thread name without its NUL, unknown
#      header flags, a restart mode in the header flags that does not fit
#      the generation: none for generation 0, exactly PIDNS, PIDNS|USERNS
#      or NEW_IDS after a restart; and the order of those checks; POSIX
#      timers out of order, with a bad clock, notification, signal, target
#      thread or times, or naming a thread or process the image does not
#      have; pending signals that are not signals, whose siginfo names
#      another, or for a thread the image does not have; CLOCKS twice or
#      with a bad time; SCM records with bad counts, lengths, objects,
#      byte ranges or message indexes, out of queue order, with flight
#      numbers out of sequence or repeats that differ, descriptors in
#      flight with a number, flags, a bad kind, access mode, file, object
#      or sharing; SYSV records of a bad kind, id, order, mode, flags,
#      sizes or messages, SYSV_SHM mappings naming no segment, private,
#      past their segment's end or without their attachment's start, and
#      other mappings naming a segment): refused
#      by both with the same message, which names the rule. And forged
#      images a newer minor version could write (longer fixed parts,
#      header flags it defines), without a CLOCKS record or with the
#      OPTIONAL flag on the new records, that move the CALLER role or reorder the
#      THREAD records, that set each valid restart mode or NO_OWNED_LOCKS,
#      or give a thread a name of 15 bytes or none, are accepted by both
#      and read the same; an unchanged rebuild is byte-identical to the
#      original.
#   4. the restorer's share (restart from a pipe): a newer-minor image with
#      longer trailer records restarts (the multi-threaded one too), so
#      does one followed by extra bytes (they are the program's stdin),
#      which a restart from the file refuses; non-zero padding in the
#      trailer, and a 1.0 image whose PAGE_HASHES or COMMIT is longer than
#      1.0 makes it, are refused; damage in the short last piece of page
#      data is named with the reader's byte range. A restart with new ids
#      (--no-namespaces) warns about locks that record a thread id unless
#      the header has NO_OWNED_LOCKS: forged with and without it. A timer on
#      an alarm clock added to an image restarts where this process can make
#      one, and is refused before the program runs where it cannot
#      (CAP_WAKE_ALARM, or no alarm device), naming the reason.
#
# Env: B, ROOT, WORK (see run-tests.sh). Last line: a one-line summary.
set -eu
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
start=$EPOCHREALTIME

elapsed() {
	awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

# ---- the images ------------------------------------------------------------

# heat NAME ARGS...: run the example to its end, stdout and stderr a pipe.
heat() {
	local name=$1
	shift
	"$B/examples/heat" --out "$name.out" --image "$name.img" "$@" 2>&1 |
		cat >"$name.log"
	[ "${PIPESTATUS[0]}" -eq 0 ] || die "heat $name failed: $(cat "$name.log")"
	grep -q '^final: ' "$name.log" || die "heat $name did not finish: $(cat "$name.log")"
}
heat small --size 16 --steps 12 --checkpoint-at 6
heat medium --size 64 --steps 12 --checkpoint-at 6
heat large --size 256 --steps 121 --checkpoint-at 120	# 1.2 MiB of page data
heat lineage --size 32 --steps 12 --checkpoint-every 5
grep -q '^checkpoint 2 written' lineage.log || die "no second checkpoint: $(cat lineage.log)"

for t in maps01 files01 pipes01 evloop01 inotify01 pty01 tty01 unlinked01 memfd01 \
	locks01 lenient01 unix01 inet01 conn01 timers02 sigpending01 scmrights01 sysvshm01 \
	sysvsem01 sysvmsg01; do
	pty=()
	[ $t = tty01 ] && pty=(--pty "$B/tests/e2e/helpers/ptyrun")
	"$B/tests/runner" --selfckpt "$sck" --dir "$WORK/$t" "${pty[@]}" -- "$B/tests/e2e/bin/$t" \
		>"$t.log" 2>&1 || die "$t failed under the runner: $(tail -n 20 "$t.log")"
done
[ -f files01/image.2 ] || die "files01 left no image.2"

# Three threads besides the main one; the second of them checkpoints.
cat >threads.c <<'EOF'
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <selfckpt.h>

static pthread_barrier_t bar;
static const char *image;

static void *worker(void *arg)
{
	char name[16];

	snprintf(name, sizeof(name), "worker-%ld", (long)arg);
	pthread_setname_np(pthread_self(), name);
	pthread_barrier_wait(&bar);
	if (arg == (void *)1) {
		long id = selfckpt_checkpoint(image, 0);

		if (id < 0) {
			fprintf(stderr, "threads: %s\n", selfckpt_last_error());
			exit(1);
		}
		printf("%s\n", id ? "checkpointed" : "restarted");
	}
	pthread_barrier_wait(&bar);
	return arg;
}

int main(int argc, char **argv)
{
	pthread_t t[3];
	long sum = 0;

	image = argc > 1 ? argv[1] : "threads.img";
	pthread_barrier_init(&bar, NULL, 4);
	for (long i = 0; i < 3; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)i))
			return 1;
	pthread_barrier_wait(&bar);
	pthread_barrier_wait(&bar);
	for (int i = 0; i < 3; i++) {
		void *r;

		pthread_join(t[i], &r);
		sum += (long)r;
	}
	printf("joined %ld\n", sum);
	return sum == 3 ? 0 : 2;
}
EOF
${CC:-cc} -O2 -Wall -Wextra -Werror -I"$ROOT/include" -o threads threads.c -L"$B" -lselfckpt \
	-Wl,-rpath,"$B" -pthread 2>threads.log || die "cannot build the threads program: $(cat threads.log)"
./threads threads.img 2>&1 | cat >threads.log
[ "${PIPESTATUS[0]}" -eq 0 ] || die "the threads program failed: $(cat threads.log)"
grep -q '^checkpointed$' threads.log || die "the threads program did not checkpoint: $(cat threads.log)"
# Searched for held locks that record a thread id: NO_OWNED_LOCKS.
SELFCKPT_NEW_IDS=1 heat safe --size 16 --steps 12 --checkpoint-at 6
images=(small.img medium.img large.img lineage.img maps01/image.1 files01/image.1
	files01/image.2 threads.img safe.img pipes01/image.1 evloop01/image.1
	inotify01/image.1 pty01/image.1 tty01/image.1 tty01/image.3 unlinked01/image.1
	memfd01/image.1 locks01/image.1 lenient01/image.1 unix01/image.1 inet01/image.1
	conn01/image.1 timers02/image.1 sigpending01/image.1 scmrights01/image.1
	sysvshm01/image.1 sysvsem01/image.1 sysvmsg01/image.1)
made=$(elapsed "$start")

# ---- everything else, from one Python process -------------------------------

summary=$(python3 - "$sck" "$ROOT/tools" "${images[@]}" <<'PY'
import concurrent.futures as cf
import contextlib, io, json, os, random, struct, subprocess, sys

sck, tools, images = sys.argv[1], sys.argv[2], sys.argv[3:]
sys.path.insert(0, tools)
sys.dont_write_bytecode = True          # no __pycache__ in the repository
import imgcheck as ic

IMGCHECK = [sys.executable, os.path.join(tools, "imgcheck.py")]
problems = []


def fail(msg):
    problems.append(msg)


def run(argv, stdin=None):
    p = subprocess.run(argv, input=stdin, capture_output=True, timeout=60,
                       stdin=None if stdin is not None else subprocess.DEVNULL)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def info_json(path):
    st, out, err = run([sck, "info", "--json", path])
    st2, out2, err2 = run([sck, "info", "--records", "--json", path])
    if st or st2:
        raise SystemExit("selfckpt info refuses %s: %s%s" % (path, err, err2))
    ref = json.loads(out)
    for k, v in json.loads(out2).items():
        if k == "format":
            for a, b in v.items():
                if ref["format"].get(a) != b:
                    raise SystemExit("info --json and --records --json disagree on format.%s" % a)
        else:
            ref[k] = v
    return ref


def human_keys(text):
    """The lines of a summary that imgcheck.py prints as `selfckpt info`
    does: how the writer was restarted, new ids, totals, and each thread
    up to its name."""
    out = []
    for l in text.splitlines():
        if l.startswith(("restarted ", "new ids ", "totals ")):
            out.append(l)
        elif l.startswith("  tid "):
            out.append(l.split('": rip ', 1)[0] + '"' if '": rip ' in l else l)
    return out


def subset(a, b, path=""):
    """Where the JSON value a is not contained in b."""
    if isinstance(a, dict):
        if not isinstance(b, dict):
            return ["%s: not an object in info" % path]
        out = []
        for k, v in a.items():
            out += (["%s.%s: not in info" % (path, k)] if k not in b
                    else subset(v, b[k], "%s.%s" % (path, k)))
        return out
    if isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            return ["%s: %d entries, info has %s" % (path, len(a), len(b) if isinstance(b, list) else "none")]
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += subset(x, y, "%s[%d]" % (path, i))
        return out
    return [] if (a == b and type(a) is type(b)) else ["%s: %r, info says %r" % (path, a, b)]


# ---- 1. real images -----------------------------------------------------------

refs = {}
for path in images:
    ref = info_json(path)
    refs[path] = ref
    st, out, err = run(IMGCHECK + ["--json", path])
    if st or err:
        fail("imgcheck.py refuses %s (status %d): %s" % (path, st, err.strip()))
        continue
    mine = json.loads(out)
    for d in subset(mine, ref)[:5]:
        fail("%s: %s" % (path, d))
    with open(path, "rb") as f:
        data = f.read()
    st, out2, err = run(IMGCHECK + ["--json", "-"], stdin=data)
    if st or out2 != out:
        fail("%s from a pipe: status %d, %s" % (path, st, "same output" if out2 == out else "other output: " + err.strip()))
    st, human, err = run(IMGCHECK + [path])
    st2, ihuman, _ = run([sck, "info", path])
    tl, itl = human_keys(human), human_keys(ihuman)
    if st or len(tl) != 3 + ref["totals"]["threads"] or tl != itl:
        fail("%s: summary lines %r, info has %r" % (path, tl, itl))
    refs[path + " human"] = tl

# The test covers what it says it covers.
lin = refs["lineage.img"]["checkpoint"]
if lin["id"] != 2 or lin["parent_id"] != 1 or set(lin["parent_uuid"]) == {"0", "-"}:
    fail("lineage.img is not a second checkpoint: %r" % lin)
if refs["files01/image.2"]["checkpoint"]["generation"] < 1:
    fail("files01/image.2 was not written by a restarted process")
if refs["large.img"]["pages"]["chunks"] < 2 or refs["large.img"]["pages"]["len"] % (1 << 20) == 0:
    fail("large.img does not have a short last chunk of page data")
kinds = {r["kind"] for r in refs["maps01/image.1"]["regions"]}
if not {"file-shared", "shm-anon", "memfd", "deleted"} <= kinds:
    fail("maps01's image lacks some mapping kinds: %s" % sorted(kinds))
if refs["threads.img"]["totals"]["threads"] != 4:
    fail("threads.img has %d threads, not 4" % refs["threads.img"]["totals"]["threads"])
names = sorted(l.rsplit(" ", 1)[-1] for l in refs.get("threads.img human", []) if l.startswith("  tid "))
if names != ['"threads"', '"worker-0"', '"worker-1"', '"worker-2"']:
    fail("threads.img: thread names %s" % names)
if refs["files01/image.2"]["checkpoint"]["restarted"] not in ("pidns", "userns+pidns", "new_ids"):
    fail("files01/image.2: restarted %r" % refs["files01/image.2"]["checkpoint"]["restarted"])
if not {"object"} <= {f["kind"] for f in refs["pipes01/image.1"]["fds"]}:
    fail("pipes01's image has no kernel objects")
for img, kinds in (("evloop01/image.1", ("timerfd", "signalfd", "epoll")),
                   ("inotify01/image.1", ("inotify",))):
    whats = " ".join(f.get("what", "") for f in refs[img]["fds"])
    for k in kinds:
        if k not in whats:
            fail("%s has no %s" % (img, k))
whats = " ".join(f["what"] for f in refs["pty01/image.1"]["fds"])
if not all(w in whats for w in ("pty master of", "pty slave", "packet mode", "locked")):
    fail("pty01's image lacks some pseudo-terminals: %s" % whats)
for img, job in (("tty01/image.1", ", foreground"), ("tty01/image.3", ", background")):
    whats = [f["what"] for f in refs[img]["fds"] if f["fd"] <= 2]
    if len(whats) != 3 or not all(w.startswith("terminal /dev/pts/") and w.endswith(job)
                                  for w in whats):
        fail("%s: stdio is not a terminal%s: %s" % (img, job, whats))
whats = " ".join(f["what"] for f in refs["unlinked01/image.1"]["fds"])
if "(deleted), " not in whats or "stored" not in whats:
    fail("unlinked01's image has no unlinked file objects: %s" % whats)
whats = " ".join(f["what"] for f in refs["memfd01/image.1"]["fds"])
if "/memfd:" not in whats or "seals write" not in whats:
    fail("memfd01's image has no sealed memfd: %s" % whats)
if {l["kind"] for l in refs["locks01/image.1"]["locks"]} != {"posix", "flock", "ofd"}:
    fail("locks01's image lacks a kind of lock: %r" % refs["locks01/image.1"]["locks"])
if not refs["lenient01/image.1"]["checkpoint"]["lenient"] or len(refs["lenient01/image.1"]["notes"]) != 4:
    fail("lenient01's image: lenient %r, notes %r" % (refs["lenient01/image.1"]["checkpoint"]["lenient"],
                                                      refs["lenient01/image.1"]["notes"]))
for img, words in (("unix01/image.1", ("unix stream socket, connected to fd", "unix dgram socket",
                                       "unix seqpacket socket @", "listening (backlog 7)",
                                       "(not accepted yet)", "its peer closed", "(file removed)",
                                       "1 message queued")),
                   ("inet01/image.1", ("TCP 127.0.0.1:", "UDP 127.0.0.1:", ", connected to 127.0.0.1:")),
                   ("conn01/image.1", ("closed at checkpoint (SELFCKPT_CLOSE_CONNECTIONS)",
                                       "1 connection dropped")),
                   ("scmrights01/image.1", ("15 bytes queued, 2 carrying 3 descriptors in flight",
                                            "6 messages queued, 4 carrying 6 descriptors in flight",
                                            "2 messages queued, 1 carrying 3 descriptors in flight",
                                            "connected to object "))):
    whats = " | ".join(f["what"] for f in refs[img]["fds"])
    for w in words:
        if w not in whats:
            fail("%s: no descriptor says %r: %s" % (img, w, whats))
if refs["safe.img"]["checkpoint"]["new_ids_safe"] is not True:
    fail("safe.img (SELFCKPT_NEW_IDS=1) does not say new ids are safe")
tms = refs["timers02/image.1"]["timers"]
if len(tms) != 7 or not any(t["notify"] == "thread" for t in tms) or not any(t["clock"] < 0 for t in tms):
    fail("timers02's image lacks some timers: %r" % tms)
fl = refs["scmrights01/image.1"]["in_flight"]
whats = " | ".join(d["what"] for m in fl for d in m["fds"])
if (len(fl) != 11 or {d["flight"] for m in fl for d in m["fds"]} != set(range(1, 12)) or
        [m["bytes"] for m in fl] != [7, 6] + [0] * 9 or "eventfd, count 42" not in whats or
        "unix seqpacket socket, connected to fd" not in whats or
        not any(m["socket"].startswith("object ") for m in fl) or
        "write end" not in whats or "read end" not in whats or "/memfd:scm-memfd" not in whats or
        not any(d["shared_with"] >= 0 for m in fl for d in m["fds"]) or
        not any(d["offset"] == 5 and d["kind"] == "file" for m in fl for d in m["fds"])):
    fail("scmrights01's image lacks some descriptors in flight: %r" % fl)
sgs = refs["sigpending01/image.1"]["pending_signals"]
if len(sgs) != 11 or len({s["tid"] for s in sgs}) != 3:
    fail("sigpending01's image lacks some pending signals: %r" % sgs)
sv = {k: refs["sysv%s01/image.1" % k]["sysv"] for k in ("shm", "sem", "msg")}
if (len(sv["shm"]) != 5 or sum(o["flags"] for o in sv["shm"]) != 1 or
        len(sv["sem"]) != 2 or sv["sem"][0]["values"] != [0, 1, 7, 300, 32767] or
        len(sv["msg"]) != 2 or len({m[0] for m in sv["msg"][0]["messages"]}) != 3):
    fail("the sysv tests' images lack some objects: %r" % sv)
for path in images:
    if "clocks" not in refs[path]:
        fail("%s has no CLOCKS record" % path)

# ---- the two readers on one image ----------------------------------------------

def both(data, tag):
    """Both readers on an image in a file: the status and the message of
    each (without "PROGRAM: IMAGE: "), and what breaks the one-line rule."""
    path = "case-%d.img" % tag
    with open(path, "wb") as f:
        f.write(data)
    bad = []
    try:
        st, out, err = run([sck, "info", path])
        if st and (out or err.count("\n") != 1 or not err.endswith("\n")):
            bad.append("info: not one line: %r %r" % (out[:200], err))
        imsg = err.strip().split(": ", 2)[-1] if st else ""
        e, o = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(e), contextlib.redirect_stdout(o):
            pst = ic.main(["imgcheck.py", path])
        perr = e.getvalue()
        if pst and (o.getvalue() or perr.count("\n") != 1 or not perr.endswith("\n")):
            bad.append("imgcheck: not one line: %r %r" % (o.getvalue()[:200], perr))
        pmsg = perr.strip().split(": ", 2)[-1] if pst else ""
        return st, imsg, pst, pmsg.replace("this reader", "this selfckpt"), bad
    finally:
        os.unlink(path)


# ---- 2. damaged images -----------------------------------------------------------

def damaged_cases(path, cuts, nflips, seed):
    data = open(path, "rb").read()
    lay = refs[path]
    p0 = lay["pages"]["offset"]
    p1 = p0 + lay["pages"]["len"]
    recs = lay["records"]
    cases = []
    points = {0, 1, 8, 15, 16, p0 + 4096, (p0 + p1) // 2, p1 - 1, len(data) - 1}
    for r in recs if cuts else recs[-3:]:
        points.update((r["offset"], r["offset"] + 32, r["offset"] + 31))
    for n in sorted(points):
        if 0 <= n < len(data):
            cases.append(("%s cut at %d" % (path, n), data[:n], "truncated" if n >= 16 else None))
    cases.append(("%s + 1 byte" % path, data + b"\0", "data follows the commit record"))
    rng = random.Random(seed)
    trailer = recs[-2]["offset"]
    for i in range(nflips):
        where = ("metadata", "page data", "trailer")[i % 3]
        lo, hi = {"metadata": (16, p0), "page data": (p0, p1), "trailer": (trailer, len(data))}[where]
        off = rng.randrange(lo, hi)
        b = bytearray(data)
        b[off] ^= 1 + rng.randrange(255)
        cases.append(("%s byte %d changed (%s)" % (path, off, where), bytes(b), None))
    for off, val, what, want in ((8, 2, "major version 2", "version 2.0"),
                                 (0, 0x88, "magic", "bad magic"),
                                 (12, 3, "architecture", "another architecture")):
        b = bytearray(data)
        b[off] = val
        cases.append(("%s %s" % (path, what), bytes(b), want))
    return cases


# ---- 3. forged images: every hash recomputed ------------------------------------------

FIXED = {ic.HEADER: ic.SZ_HEADER, ic.PROCESS: ic.SZ_PROCESS, ic.RLIMITS: ic.SZ_RLIMITS,
         ic.SIGACTIONS: ic.SZ_SIGACTIONS, ic.FILE: ic.SZ_FILE, ic.VMA: ic.SZ_VMA,
         ic.FD: ic.SZ_FD, ic.THREAD: ic.SZ_THREAD, ic.END_META: ic.SZ_END_META,
         ic.LOCK: ic.SZ_LOCK, ic.POSIX_TIMER: ic.SZ_POSIX_TIMER, ic.SIGINFO: ic.SZ_SIGINFO,
         ic.CLOCKS: ic.SZ_CLOCKS, ic.SYSV: ic.SZ_SYSV}


def parse(data):
    """The records before PAGES as [type, flags, payload] (PAD left out)
    and the page data of an intact image."""
    recs, off = [], 16
    while True:
        t, fl, ln = struct.unpack_from("<IIQ", data, off)
        if t == ic.PAGES:
            return recs, data[off + 32:off + 32 + ln]
        if t != ic.PAD:
            recs.append([t, fl, data[off + 32:off + 32 + ln]])
        off += 32 + ln + ic.pad8(ln)


def build(recs, pages, minor=0, grow=None, ph_grow=0, commit_grow=0,
          commit_pad=False, tail=b""):
    """Write an image as section 14 of the specification says. grow[type]
    non-zero bytes end the fixed part of every record of that type (before
    its variable tail), as fields a newer minor version appended would."""
    grow = grow or {}
    out = bytearray(ic.MAGIC + struct.pack("<HHI", 1, minor, ic.ARCH_X86_64))
    st = {"chain": ic.xxh64(bytes(out), ic.HASH_SEED), "n": 0}

    def header(t, fl, ln, phash):
        h = struct.pack("<IIQQ", t, fl, ln, phash)
        st["chain"] = ic.xxh64(h, st["chain"])
        st["n"] += 1
        out.extend(h + struct.pack("<Q", st["chain"]))

    def record(t, fl, p):
        header(t, fl, len(p), ic.xxh64(p))
        out.extend(p + bytes(ic.pad8(len(p))))

    for t, fl, p in recs:
        n = grow.get(t, 0)
        if n:
            p = p[:FIXED[t]] + b"\xa5" * n + p[FIXED[t]:]
        record(t, fl, p)
    record(ic.PAD, 0, bytes((4096 - (len(out) + 64) % 4096) % 4096))
    header(ic.PAGES, 0, len(pages), 0)
    out.extend(pages)
    hashes = [ic.xxh64(pages[i:i + ic.CHUNK]) for i in range(0, len(pages), ic.CHUNK)]
    record(ic.PAGE_HASHES, 0, struct.pack("<QQ", ic.CHUNK, len(hashes)) + b"\x33" * ph_grow +
           b"".join(struct.pack("<Q", h) for h in hashes))
    uuid = next(p for t, _, p in recs if t == ic.HEADER)[16:32]
    commit = struct.pack("<QQQQ", ic.COMMIT_MAGIC, st["n"], len(out), len(pages)) + uuid + \
        b"\x44" * commit_grow
    record(ic.COMMIT, 0, commit)
    if commit_pad:
        assert len(commit) % 8, "COMMIT has no padding"
        out[-1] = 1
    out.extend(tail)
    return bytes(out)


def nth(recs, t, i=0):
    return [r for r in recs if r[0] == t][i]


def fdrec(recs, fd):
    """The FD record of descriptor fd."""
    return next(r for r in recs if r[0] == ic.FD and struct.unpack_from("<i", r[2], 0)[0] == fd)


def fd_file(recs, fd):
    return struct.unpack_from("<I", fdrec(recs, fd)[2], 24)[0]


def thread(recs, flags, i=0):
    """The i-th THREAD record whose flags are exactly flags."""
    return [r for r in recs if r[0] == ic.THREAD and struct.unpack_from("<I", r[2], 4)[0] == flags][i]


def tid_of(rec):
    return struct.unpack_from("<i", rec[2], 0)[0]


def move_caller(recs):
    setf(thread(recs, ic.THRF_CALLER), 4, "<I", lambda v: 0)
    setf(thread(recs, ic.THRF_MAIN), 4, "<I", lambda v: ic.THRF_MAIN | ic.THRF_CALLER)


def reverse_threads(recs):
    at = [i for i, r in enumerate(recs) if r[0] == ic.THREAD]
    ths = [recs[i] for i in at]
    for i, r in zip(at, reversed(ths)):
        recs[i] = r


def vdso_with_runs(recs):
    """A private file mapping with page runs turned into a vdso (without
    its file, which a vdso may not have)."""
    v = vma(recs, lambda k, f, n: k == 4 and n)
    setf(v, 24, "<I", lambda _: ic.VMA_VDSO)
    setf(v, 36, "<I", lambda _: 0)


def shared_dir(recs):
    """The file of a shared mapping made a directory, and so the
    descriptors that name it (which may name a directory)."""
    fid = struct.unpack_from("<I", vma(recs, lambda k, f, n: k == 5)[2], 36)[0]
    setf(nth(recs, ic.FILE, fid - 1), 4, "<I", lambda _: ic.FILE_DIR)
    for r in recs:
        if r[0] == ic.FD and struct.unpack_from("<I", r[2], 24)[0] == fid:
            setf(r, 4, "<I", lambda _: ic.FD_DIR)


def set_file(pred, fid=1):
    """Give the first VMA matching pred(kind, file_id, nruns) file fid."""
    return lambda r: setf(vma(r, pred), 36, "<I", lambda v: fid)


def obj(recs, kind, i=0):
    """The i-th OBJ record of the given kind."""
    return [r for r in recs if r[0] == ic.OBJ and struct.unpack_from("<I", r[2], 4)[0] == kind][i]


def sockobj(recs, kind, pred=lambda st: True, i=0):
    """The i-th OBJ record of kind (unix, inet) whose state (the payload
    from byte 32, as bytes) satisfies pred."""
    return [r for r in recs if r[0] == ic.OBJ and struct.unpack_from("<I", r[2], 4)[0] == kind
            and pred(r[2][32:])][i]


def ustate(typ=None, state=None):
    """A predicate on a unix socket's type and state."""
    return lambda st: ((typ is None or struct.unpack_from("<I", st, 0)[0] == typ) and
                       (state is None or struct.unpack_from("<I", st, 4)[0] == state))


def obj_id(rec):
    return struct.unpack_from("<I", rec[2], 0)[0]


def repoint_pair(recs):
    """The first end of a pair names another object than its second end."""
    first = sockobj(recs, ic.OBJ_UNIX, lambda st: ustate(None, ic.SOCK_PAIR)(st) and
                    struct.unpack_from("<I", st, 8)[0] > 0 and
                    struct.unpack_from("<I", st, 8)[0] == obj_id_of_state(recs, st) + 1)
    setf(first, 32 + 8, "<I", lambda v: v + 2)


def obj_id_of_state(recs, st):
    return next(obj_id(r) for r in recs if r[0] == ic.OBJ and r[2][32:] == st)


def pending_to_pair(recs):
    """A connection not accepted yet, whose listener is the stream pair's."""
    pend = sockobj(recs, ic.OBJ_UNIX, ustate(ic.SOCK_STREAM, ic.SOCK_PENDING))
    pair = sockobj(recs, ic.OBJ_UNIX, ustate(ic.SOCK_STREAM, ic.SOCK_PAIR))
    setf(pend, 32 + 8, "<I", lambda v: obj_id(pair))


def grow_states(n):
    """Every socket's state n bytes longer (non-zero), as a newer minor
    version that appended fields would write it."""
    def f(recs):
        for r in recs:
            if r[0] == ic.OBJ and struct.unpack_from("<I", r[2], 4)[0] in (ic.OBJ_UNIX, ic.OBJ_INET):
                sl = struct.unpack_from("<I", r[2], 20)[0]
                p = bytearray(r[2])
                p[32 + sl:32 + sl] = b"\x5a" * n
                struct.pack_into("<I", p, 20, sl + n)
                r[2] = bytes(p)
    return f


def sock_fd(recs, kind, pred=lambda st: True):
    oid = obj_id(sockobj(recs, kind, pred))
    return next(r for r in recs if r[0] == ic.FD and struct.unpack_from("<I", r[2], 36)[0] == oid)


def setf(rec, off, fmt, fn):
    """Change the field at payload offset off (struct format fmt) of rec."""
    p = bytearray(rec[2])
    (v,) = struct.unpack_from(fmt, p, off)
    struct.pack_into(fmt, p, off, fn(v))
    rec[2] = bytes(p)


def vma(recs, pred):
    for r in recs:
        if r[0] == ic.VMA:
            kind, file_id, nruns = (struct.unpack_from("<I", r[2], 24)[0],
                                    struct.unpack_from("<I", r[2], 36)[0],
                                    struct.unpack_from("<I", r[2], 56)[0])
            if pred(kind, file_id, nruns):
                return r
    raise SystemExit("no such VMA")


def file_ids(recs, pred):
    return [struct.unpack_from("<I", r[2], 0)[0] for r in recs
            if r[0] == ic.FILE and pred(struct.unpack_from("<I", r[2], 56)[0],
                                        struct.unpack_from("<I", r[2], 4)[0])]


def move_ehdr(recs):
    r = nth(recs, ic.PROCESS)
    (n,) = struct.unpack_from("<I", r[2], 88)
    for i in range(0, n, 2):
        if struct.unpack_from("<Q", r[2], 96 + 8 * i)[0] == ic.AT_SYSINFO_EHDR:
            return setf(r, 96 + 8 * i + 8, "<Q", lambda v: v + 4096)
    raise SystemExit("no AT_SYSINFO_EHDR in the auxiliary vector")


def set_hdr(flags, generation, ckpt_id=None):
    """HEADER.flags and HEADER.generation (and ckpt_id) set to these."""
    def f(recs):
        h = nth(recs, ic.HEADER)
        setf(h, 76, "<I", lambda _: flags)
        setf(h, 80, "<I", lambda _: generation)
        if ckpt_id is not None:
            setf(h, 0, "<Q", lambda _: ckpt_id)
    return f


def name_thread(flags, name, ncpus=None):
    """THREAD.comm (16 bytes at 424) of the first thread whose flags are
    exactly flags, and its ncpus if given."""
    assert len(name) == 16

    def f(recs):
        r = thread(recs, flags)
        r[2] = r[2][:424] + name + r[2][440:]
        if ncpus is not None:
            setf(r, 284, "<I", lambda _: ncpus)
    return f


def objrec(recs, kind, i=0):
    """The i-th OBJ record of kind."""
    return [r for r in recs if r[0] == ic.OBJ and struct.unpack_from("<I", r[2], 4)[0] == kind][i]


def cooked(recs):
    """The terminal object's modes all on: icrnl ixon, opost, icanon echo
    isig iexten."""
    r = objrec(recs, ic.OBJ_TTY)
    setf(r, 32, "<I", lambda v: v | 0o2400)
    setf(r, 36, "<I", lambda v: v | 1)
    setf(r, 44, "<I", lambda v: v | 0o100013)


def obj(recs, kind, i=0):
    return objrec(recs, kind, i)


def lock(recs, kind):
    """The first LOCK record of this kind."""
    return next(r for r in recs if r[0] == ic.LOCK and struct.unpack_from("<I", r[2], 4)[0] == kind)


def lock_first(recs):
    """A LOCK record moved before every FD record."""
    r = lock(recs, ic.LOCK_POSIX)
    recs.remove(r)
    recs.insert(recs.index(nth(recs, ic.FD)), r)


def twice(t):
    def f(recs):
        i = recs.index(nth(recs, t))
        recs.insert(i + 1, list(recs[i]))
    return f


def drop(t):
    return lambda recs: recs.remove(nth(recs, t))


# ---- POSIX_TIMER, SIGINFO, CLOCKS ------------------------------------------------

def timer_rec(recs, i=0):
    return nth(recs, ic.POSIX_TIMER, i)


def set_timer(i, off, fmt, val):
    """Field at offset off of the i-th POSIX_TIMER record set to val."""
    return lambda r: setf(timer_rec(r, i), off, fmt, lambda _: val)


def timer_with(pred):
    """The first POSIX_TIMER record whose (notify, clock) pred accepts."""
    def find(recs):
        for x in recs:
            if x[0] == ic.POSIX_TIMER and pred(*struct.unpack_from("<ii", x[2], 4)):
                return x
        raise SystemExit("no such timer")
    return find


def swap_timers(recs):
    a, b = [i for i, r in enumerate(recs) if r[0] == ic.POSIX_TIMER][:2]
    recs[a], recs[b] = recs[b], recs[a]


def cpu_clock(pid, per_thread):
    """The kernel's clock id of a CPU clock (sched) of pid."""
    return ((~pid) << 3) | 2 | (4 if per_thread else 0)


def sig_rec(recs, pred):
    """The first SIGINFO record whose (tid, signo) pred accepts."""
    for x in recs:
        if x[0] == ic.SIGINFO and pred(*struct.unpack_from("<iI", x[2], 0)):
            return x
    raise SystemExit("no such pending signal")


def set_sig(pred, off, fmt, val):
    return lambda r: setf(sig_rec(r, pred), off, fmt, lambda _: val)


def optional_new(recs):
    for x in recs:
        if x[0] in (ic.POSIX_TIMER, ic.SIGINFO):
            x[1] |= ic.RECF_OPTIONAL


def own_cpu_timer(recs):
    """A timer on CLOCK_THREAD_CPUTIME_ID, in a single-threaded image."""
    alarm_timer(recs)
    setf(timer_rec(recs), 4, "<i", lambda _: 3)


def count_records(recs, n):
    """END_META.meta_records, the records before it, changed by n."""
    setf(nth(recs, ic.END_META), 32, "<Q", lambda v: v + n)


def alarm_timer(recs):
    """A SIGEV_NONE timer on CLOCK_BOOTTIME_ALARM, 1000 s, before END_META."""
    p = struct.pack("<iiiiiiQqqqq", 0, 9, ic.SIGEV_NONE, 0, 0, 0, 0, 0, 0, 1000, 0)
    recs.insert(recs.index(nth(recs, ic.END_META)), [ic.POSIX_TIMER, 0, p])
    count_records(recs, 1)


def no_clocks(recs):
    recs.remove(nth(recs, ic.CLOCKS))
    count_records(recs, -1)


# ---- SYSV --------------------------------------------------------------------------

def set_sysv(i, off, fmt, fn):
    """Field at offset off of the i-th SYSV record changed by fn."""
    return lambda r: setf(nth(r, ic.SYSV, i), off, fmt, fn)


def swap_sysv(recs):
    a, b = [i for i, r in enumerate(recs) if r[0] == ic.SYSV][:2]
    recs[a], recs[b] = recs[b], recs[a]


def sysv_vma(i=0, pred=lambda recs, k: True):
    """The i-th SYSV_SHM mapping whose index pred accepts."""
    def find(recs):
        at = [k for k, r in enumerate(recs) if r[0] == ic.VMA and
              struct.unpack_from("<I", r[2], 24)[0] == ic.VMA_SYSV_SHM and pred(recs, k)]
        return recs[at[i]]
    return find


def split_first(recs, k):
    """A first piece (offset 0, one page) that the next mapping continues."""
    r, n = recs[k][2], recs[k + 1]
    return (struct.unpack_from("<Q", r, 16)[0] == 0 and
            struct.unpack_from("<Q", r, 8)[0] - struct.unpack_from("<Q", r, 0)[0] == 4096 and
            n[0] == ic.VMA and struct.unpack_from("<I", n[2], 24)[0] == ic.VMA_SYSV_SHM and
            struct.unpack_from("<Q", n[2], 16)[0] == 4096)


def set_vma(find, off, fmt, fn):
    return lambda r: setf(find(r), off, fmt, fn)


P = "pty01/image.1"             # objects 1-6: pty, pts, pty (packet), pts, pty (locked), pts
Y = "tty01/image.1"             # object 1: the terminal of fds 0-2
ALL8 = {t: 8 for t in FIXED}
ALL4 = {t: 4 for t in FIXED}
M = "medium.img"
E = "evloop01/image.1"
I = "inotify01/image.1"
T = "threads.img"
F1 = "files01/image.1"
U = "unlinked01/image.1"
MF = "memfd01/image.1"
L = "locks01/image.1"
UX = "unix01/image.1"
IN = "inet01/image.1"
TM = "timers02/image.1"
SP = "sigpending01/image.1"
SC = "scmrights01/image.1"      # SCM 0-1: stream (object 3); 2-5: datagram; 6: seqpacket...


def scm(i, off, fmt, v):
    """Set a field of the i-th SCM record (descriptor k: 24 + 56 k + field)."""
    return lambda r: setf(nth(r, ic.SCM, i), off, fmt, lambda _: v(r) if callable(v) else v)


def swap_scm(recs):
    a, b = nth(recs, ic.SCM, 0), nth(recs, ic.SCM, 1)
    i, j = recs.index(a), recs.index(b)
    recs[i], recs[j] = b, a


def scm_grow(recs):
    r = nth(recs, ic.SCM, 0)
    r[2] = r[2] + bytes(8)


def unix_obj_id(recs):
    return struct.unpack_from("<I", sockobj(recs, ic.OBJ_UNIX)[2], 0)[0]


def scm_obj_id(recs, i):
    return struct.unpack_from("<I", nth(recs, ic.SCM, i)[2], 0)[0]
SH = "sysvshm01/image.1"        # SYSV: shm a (private), b (keyed), c, d (removed), e (split)
SE = "sysvsem01/image.1"        # SYSV: sem 5 values, sem 1 value
SM = "sysvmsg01/image.1"        # SYSV: msg 7 messages, msg empty
ROLES = "the threads' ids or roles are inconsistent"
# (image, what, change to the records or None, build() options, the
# message both readers must give, or None: both must accept it)
forged = [
    (M, "unknown FILE flag", lambda r: setf(nth(r, ic.FILE), 56, "<I", lambda v: v | 2), {}, "unknown file flags 2"),
    (M, "build-id of 33 bytes", lambda r: setf(nth(r, ic.FILE), 60, "<I", lambda v: 33), {}, "bad build-id length"),
    (M, "THREAD.ncpus 1025", lambda r: setf(nth(r, ic.THREAD), 284, "<I", lambda v: 1025), {}, "bad CPU count 1025"),
    (M, "THREAD.ncpus 1024", lambda r: setf(nth(r, ic.THREAD), 284, "<I", lambda v: 1024), {}, None),
    (M, "RLIMITS twice", twice(ic.RLIMITS), {}, "RLIMITS record at byte"),
    (M, "SIGACTIONS twice", twice(ic.SIGACTIONS), {}, ": twice"),
    (M, "PROCESS twice", twice(ic.PROCESS), {}, ": twice"),
    (M, "no RLIMITS", drop(ic.RLIMITS), {}, "metadata incomplete"),
    (M, "no SIGACTIONS", drop(ic.SIGACTIONS), {}, "metadata incomplete"),
    (M, "no PROCESS", drop(ic.PROCESS), {}, "metadata incomplete"),
    (M, "HEADER 8 bytes longer, minor 0", None, {"grow": {ic.HEADER: 8}}, "wrong length (1040 bytes)"),
    (M, "PROCESS 8 bytes longer, minor 0", None, {"grow": {ic.PROCESS: 8}}, "bad cwd length"),
    (M, "RLIMITS 8 bytes longer, minor 0", None, {"grow": {ic.RLIMITS: 8}}, "wrong length"),
    (M, "SIGACTIONS 8 bytes longer, minor 0", None, {"grow": {ic.SIGACTIONS: 8}}, "wrong length"),
    (M, "FILE 8 bytes longer, minor 0", None, {"grow": {ic.FILE: 8}}, "bad path length"),
    (M, "VMA 8 bytes longer, minor 0", None, {"grow": {ic.VMA: 8}}, "lengths do not add up"),
    (M, "FD 8 bytes longer, minor 0", None, {"grow": {ic.FD: 8}}, "FD record at byte"),
    (M, "THREAD 8 bytes longer, minor 0", None, {"grow": {ic.THREAD: 8}}, "bad xsave size"),
    (M, "END_META 8 bytes longer, minor 0", None, {"grow": {ic.END_META: 8}}, "wrong length"),
    (M, "PAGE_HASHES 8 bytes longer, minor 0", None, {"ph_grow": 8}, "hash list does not match"),
    (M, "COMMIT 8 bytes longer, minor 0", None, {"commit_grow": 8}, "COMMIT record at byte"),
    (M, "every record 8 bytes longer, minor 1", None,
     {"minor": 1, "grow": ALL8, "ph_grow": 8, "commit_grow": 8}, None),
    (M, "every record 4 bytes longer, minor 1", None,
     {"minor": 1, "grow": ALL4, "ph_grow": 4, "commit_grow": 4}, None),
    (M, "HEADER of 4104 bytes, minor 1", None, {"minor": 1, "grow": {ic.HEADER: 3072}},
     "wrong length (4104 bytes)"),
    (M, "COMMIT of 4144 bytes, minor 1", None, {"minor": 1, "commit_grow": 4096}, "claims 4144 bytes"),
    (M, "non-zero COMMIT padding, minor 1", None,
     {"minor": 1, "grow": ALL4, "commit_grow": 4, "commit_pad": True}, "non-zero padding after the COMMIT"),
    (M, "a byte after COMMIT", None, {"tail": b"x"}, "data follows the commit record"),
    (M, "END_META.nruns + 1", lambda r: setf(nth(r, ic.END_META), 24, "<Q", lambda v: v + 1), {},
     "run count does not match"),
    (M, "exe_file beyond the files", lambda r: setf(nth(r, ic.PROCESS), 92, "<I",
                                                    lambda v: len(file_ids(r, lambda f, k: True)) + 1), {},
     "names unknown executable file"),
    (M, "header vdso list moved", lambda r: setf(nth(r, ic.HEADER), 872, "<Q", lambda v: v + 4096), {},
     "vdso/vvar list of the header"),
    (M, "header vdso list short", lambda r: setf(nth(r, ic.HEADER), 864, "<I", lambda v: v - 1), {},
     "vdso/vvar list of the header"),
    (M, "AT_SYSINFO_EHDR not the vdso", move_ehdr, {}, "the auxiliary vector puts the vdso at"),
    (M, "page runs in a shared file mapping",
     lambda r: setf(vma(r, lambda k, f, n: k == 4 and n), 24, "<I", lambda v: 5), {},
     "page data for a file-shared mapping"),
    (M, "page runs in the vdso", vdso_with_runs, {}, "page data for a vdso mapping"),
    (M, "fd 2^20", lambda r: setf([x for x in r if x[0] == ic.FD][-1], 0, "<i", lambda v: 1 << 20), {},
     "out of range"),
    ("maps01/image.1", "memfd mapping of a file", lambda r: setf(vma(r, lambda k, f, n: k == 7), 24, "<I", lambda v: 4),
     {}, "mapping of the wrong kind of file"),
    ("maps01/image.1", "deleted mapping of a file", lambda r: setf(vma(r, lambda k, f, n: k == 4), 24, "<I", lambda v: 8),
     {}, "mapping of the wrong kind of file"),
    ("maps01/image.1", "shared mapping of a directory", shared_dir, {}, "mapping of the wrong kind of file"),
    ("maps01/image.1", "exe_file an object",
     lambda r: setf(nth(r, ic.PROCESS), 92, "<I", lambda v: file_ids(r, lambda f, k: f & 1)[0]), {},
     "names unknown executable file"),
    ("maps01/image.1", "every record 8 bytes longer, minor 1", None,
     {"minor": 1, "grow": ALL8, "ph_grow": 8, "commit_grow": 8}, None),
    ("files01/image.2", "every record 12 bytes longer, minor 3", None,
     {"minor": 3, "grow": {t: 12 for t in FIXED}, "ph_grow": 12, "commit_grow": 12}, None),
    # A file only where a mapping has one.
    (M, "anon mapping with a file", set_file(lambda k, f, n: k == 1), {}, "anon mapping with a file"),
    (M, "heap mapping with a file", set_file(lambda k, f, n: k == 2), {}, "heap mapping with a file"),
    (M, "stack mapping with a file", set_file(lambda k, f, n: k == 3), {}, "stack mapping with a file"),
    (M, "vdso mapping with a file", set_file(lambda k, f, n: k == 9), {}, "vdso mapping with a file"),
    (M, "vvar mapping with a file", set_file(lambda k, f, n: k == 10), {}, "vvar mapping with a file"),
    # A descriptor's file is of its kind and never an object; stdio has none.
    (M, "stdio fd with a file", lambda r: setf(fdrec(r, 0), 24, "<I", lambda v: 1), {},
     "fd 0 is stdio but refers to a file"),
    (M, "fd of kind dir naming a regular file", lambda r: setf(fdrec(r, 3), 4, "<I", lambda v: 2), {},
     "fd 3 refers to a file of another kind"),
    (F1, "fd of kind file naming a device", lambda r: setf(fdrec(r, 15), 4, "<I", lambda v: 1), {},
     "fd 15 refers to a file of another kind"),
    (F1, "fd of kind dev naming a regular file",
     lambda r: setf(fdrec(r, 14), 24, "<I", lambda v: fd_file(r, 3)), {},
     "fd 14 refers to a file of another kind"),
    (F1, "shared fd naming a directory", lambda r: setf(fdrec(r, 4), 24, "<I", lambda v: fd_file(r, 9)), {},
     "fd 4 refers to a file of another kind"),
    ("maps01/image.1", "fd naming an object",
     lambda r: setf(fdrec(r, 3), 24, "<I", lambda v: file_ids(r, lambda f, k: f & 1)[0]), {},
     "fd 3 refers to a file of another kind"),
    # Event-loop objects (6.15): state, data, and what epoll watches.
    (E, "timerfd on clock 5", lambda r: setf(obj(r, ic.OBJ_TIMERFD), 32, "<i", lambda v: 5), {},
     "bad timerfd state"),
    (E, "relative timerfd cancelled on set",
     lambda r: setf(obj(r, ic.OBJ_TIMERFD), 36, "<I", lambda v: v | 2), {}, "bad timerfd state"),
    (E, "timerfd with a deadline but relative",
     lambda r: setf(obj(r, ic.OBJ_TIMERFD), 64, "<Q", lambda v: 12345), {}, "bad timerfd state"),
    (E, "signalfd taking SIGKILL", lambda r: setf(obj(r, ic.OBJ_SIGNALFD), 32, "<Q",
                                                  lambda v: v | 1 << 8), {}, "bad signalfd state"),
    (E, "epoll watch count + 1", lambda r: setf(obj(r, ic.OBJ_EPOLL), 32, "<I", lambda v: v + 1), {},
     "bad epoll state"),
    (E, "epoll watches out of order", lambda r: setf(obj(r, ic.OBJ_EPOLL), 40 + 16, "<i",
                                                     lambda v: 0), {}, "fd 0 out of order"),
    (E, "epoll watching an fd the image lacks",
     lambda r: setf(obj(r, ic.OBJ_EPOLL, 1), 40, "<i", lambda v: 999), {},
     "epoll watches fd 999, which the image does not have"),
    (E, "EPOLLEXCLUSIVE with EPOLLONESHOT",
     lambda r: setf(obj(r, ic.OBJ_EPOLL), 44, "<I", lambda v: v | 1 << 28 | 1 << 30), {},
     "events"),
    (E, "timerfd fd O_RDONLY", lambda r: setf(fdrec(r, 13), 8, "<I", lambda v: v & ~3), {},
     "fd 13 cannot be an end of timerfd object"),
    (I, "inotify wd 0", lambda r: setf(obj(r, ic.OBJ_INOTIFY), 40, "<i", lambda v: 0), {},
     "inotify watch 0 out of order"),
    (I, "inotify relative path", lambda r: setf(obj(r, ic.OBJ_INOTIFY), 40 + 32, "<B",
                                                lambda v: ord("x")), {}, "bad path"),
    (I, "inotify mask 0", lambda r: setf(obj(r, ic.OBJ_INOTIFY), 44, "<I", lambda v: 0), {},
     "mask 0, flags"),
    (I, "inotify watch count + 1", lambda r: setf(obj(r, ic.OBJ_INOTIFY), 32, "<I", lambda v: v + 1),
     {}, "bad inotify state"),
    (I, "inotify fd O_RDWR", lambda r: setf(fdrec(r, 3), 8, "<I", lambda v: v | 2), {},
     "fd 3 cannot be an end of inotify object"),
    # One MAIN thread (tid = HEADER.pid), one CALLER, distinct positive tids.
    # Terminals (6.15): pty and pts objects of a pair, a terminal object
    # only stdio descriptors name.
    (P, "pty with an unknown flag", lambda r: setf(objrec(r, ic.OBJ_PTY), 88, "<I", lambda v: v | 8),
     {}, "object 1: bad pty state"),
    (P, "pty locked, packet mode, exclusive", lambda r: setf(objrec(r, ic.OBJ_PTY), 88, "<I", lambda v: 7),
     {}, None),
    (P, "pty with a path", lambda r: setf(objrec(r, ic.OBJ_PTY), 16, "<I", lambda v: 1), {},
     "object 1: a pty has no path"),
    (P, "pts of itself", lambda r: setf(objrec(r, ic.OBJ_PTS), 32, "<I", lambda v: 2), {},
     "object 2: the slave of object 2, which is not a pty"),
    (P, "pts of object 0", lambda r: setf(objrec(r, ic.OBJ_PTS), 32, "<I", lambda v: 0), {},
     "object 2: the slave of object 0, which is not a pty"),
    (P, "pts of a pts", lambda r: setf(objrec(r, ic.OBJ_PTS, 1), 32, "<I", lambda v: 2), {},
     "object 4: the slave of object 2, which is not a pty"),
    (P, "two slaves of one pty", lambda r: setf(objrec(r, ic.OBJ_PTS, 1), 32, "<I", lambda v: 1), {},
     "object 4: a second slave of pty object 1"),
    (P, "pty master fd with O_PATH", lambda r: setf(fdrec(r, 3), 8, "<I", lambda v: v | ic.O_PATH), {},
     "fd 3 cannot be an end of pty object 1"),
    (P, "pty slave fd with access mode 3", lambda r: setf(fdrec(r, 0), 8, "<I", lambda v: v | 3), {},
     "fd 0 cannot be an end of pts object 2"),
    (P, "stdio naming a pty", lambda r: setf(fdrec(r, 1), 36, "<I", lambda v: 1), {},
     "fd 1 is stdio but refers to pty object 1"),
    (Y, "an object fd on the terminal object", lambda r: setf(fdrec(r, 1), 4, "<I", lambda v: ic.FD_OBJ),
     {}, "fd 1 cannot be an end of terminal object 1"),
    (Y, "stdio naming object 9", lambda r: setf(fdrec(r, 0), 36, "<I", lambda v: 9), {},
     "fd 0 refers to unknown object 9"),
    (Y, "terminal in the foreground and background",
     lambda r: setf(objrec(r, ic.OBJ_TTY), 92, "<I", lambda v: 7), {}, "object 1: bad terminal state"),
    (Y, "terminal in the foreground, not controlling",
     lambda r: setf(objrec(r, ic.OBJ_TTY), 92, "<I", lambda v: 2), {}, "object 1: bad terminal state"),
    (Y, "terminal with an unknown flag",
     lambda r: setf(objrec(r, ic.OBJ_TTY), 92, "<I", lambda v: v | 16), {}, "object 1: bad terminal state"),
    (Y, "terminal in the background", lambda r: setf(objrec(r, ic.OBJ_TTY), 92, "<I", lambda v: 5), {},
     None),
    (Y, "terminal, not the controlling one", lambda r: setf(objrec(r, ic.OBJ_TTY), 92, "<I", lambda v: 0),
     {}, None),
    (Y, "stdio without its terminal object", lambda r: setf(fdrec(r, 2), 36, "<I", lambda v: 0), {}, None),
    (Y, "terminal in cooked mode", cooked, {}, None),
    (T, "two MAIN threads", lambda r: setf(thread(r, 0), 4, "<I", lambda v: ic.THRF_MAIN), {}, ROLES),
    (T, "duplicate tids", lambda r: setf(thread(r, 0, 1), 0, "<i", lambda v: tid_of(thread(r, 0))), {},
     ROLES),
    (T, "no CALLER", lambda r: setf(thread(r, ic.THRF_CALLER), 4, "<I", lambda v: 0), {}, ROLES),
    (T, "two CALLERs", lambda r: setf(thread(r, 0), 4, "<I", lambda v: ic.THRF_CALLER), {}, ROLES),
    (T, "unknown thread flag", lambda r: setf(thread(r, 0), 4, "<I", lambda v: 4), {}, ROLES),
    (T, "tid 0", lambda r: setf(thread(r, 0), 0, "<i", lambda v: 0), {}, ROLES),
    (T, "negative tid", lambda r: setf(thread(r, 0), 0, "<i", lambda v: -v), {}, ROLES),
    (M, "MAIN tid not HEADER.pid", lambda r: setf(nth(r, ic.HEADER), 84, "<i", lambda v: v + 1), {}, ROLES),
    (T, "HEADER.nthreads 3", lambda r: setf(nth(r, ic.HEADER), 96, "<I", lambda v: 3), {},
     "more threads than the header says"),
    (T, "CALLER moved to the main thread", move_caller, {}, None),
    (T, "THREAD records reversed", reverse_threads, {}, None),
    (T, "every record 8 bytes longer, minor 2", None,
     {"minor": 2, "grow": ALL8, "ph_grow": 8, "commit_grow": 8}, None),
    # A thread's name (THREAD.comm) holds its NUL; it comes after ncpus.
    (T, "a thread name without its NUL", name_thread(0, b"worker-0-unended"), {},
     "thread name not terminated"),
    (T, "the MAIN thread's name without its NUL", name_thread(ic.THRF_MAIN, b"\xff" * 16), {},
     "thread name not terminated"),
    (M, "no NUL in the name and ncpus 1025", name_thread(3, b"a" * 16, ncpus=1025), {},
     "bad CPU count 1025"),
    (T, "a thread name of 15 bytes", name_thread(0, b"fifteen-bytes-x\0"), {}, None),
    (T, "an empty thread name", name_thread(ic.THRF_CALLER, bytes(16)), {}, None),
    (T, "a thread name with bytes after its NUL", name_thread(0, b"w\0" + b"\xa5" * 14), {}, None),
    # Header flags (7.10): none unknown in an image of this minor version;
    # a restart mode only after a restart, and then one of three. Checked
    # in this order, before the checkpoint ids.
    (M, "unknown header flag 0x20", set_hdr(0x20, 0), {}, "unknown header flags 0x20"),
    (M, "unknown header flag 0x80000000 and NO_OWNED_LOCKS", set_hdr(0x80000002, 0), {},
     "unknown header flags 0x80000000"),
    (M, "unknown header flag and a bad restart mode", set_hdr(0x40 | 4, 0), {},
     "unknown header flags 0x40"),
    (M, "generation 0, RESTARTED_PIDNS", set_hdr(4, 0), {}, "bad restart mode flags 0x4 for generation 0"),
    (M, "generation 0, RESTARTED_PIDNS|USERNS", set_hdr(12, 0), {},
     "bad restart mode flags 0xc for generation 0"),
    (M, "generation 0, RESTARTED_NEW_IDS and NO_OWNED_LOCKS", set_hdr(18, 0), {},
     "bad restart mode flags 0x10 for generation 0"),
    (M, "generation 1, no restart mode", set_hdr(0, 1), {}, "bad restart mode flags 0x0 for generation 1"),
    (M, "generation 1, only NO_OWNED_LOCKS and LENIENT", set_hdr(3, 1), {},
     "bad restart mode flags 0x0 for generation 1"),
    (M, "generation 1, RESTARTED_USERNS alone", set_hdr(8, 1), {},
     "bad restart mode flags 0x8 for generation 1"),
    (M, "generation 1, RESTARTED_PIDNS|NEW_IDS", set_hdr(20, 1), {},
     "bad restart mode flags 0x14 for generation 1"),
    (M, "generation 2, RESTARTED_USERNS|NEW_IDS", set_hdr(24, 2), {},
     "bad restart mode flags 0x18 for generation 2"),
    (M, "generation 7, every restart mode", set_hdr(28, 7), {},
     "bad restart mode flags 0x1c for generation 7"),
    (M, "a bad restart mode and checkpoint id 0", set_hdr(4, 0, ckpt_id=0), {},
     "bad restart mode flags 0x4 for generation 0"),
    (M, "unknown header flag 0x20, minor 1, bad restart mode", set_hdr(0x20 | 8, 1), {"minor": 1},
     "bad restart mode flags 0x8 for generation 1"),
    (M, "generation 1, RESTARTED_PIDNS|USERNS", set_hdr(12, 1), {}, None),
    (M, "generation 1, RESTARTED_PIDNS", set_hdr(4, 1), {}, None),
    (M, "generation 2, RESTARTED_NEW_IDS and NO_OWNED_LOCKS", set_hdr(18, 2), {}, None),
    (M, "generation 0, NO_OWNED_LOCKS", set_hdr(2, 0), {}, None),
    (M, "generation 0, no flag", set_hdr(0, 0), {}, None),
    (M, "generation 0, LENIENT", set_hdr(1, 0), {}, None),
    (M, "unknown header flags, minor 1", set_hdr(0xffffffe0 | 2, 0), {"minor": 1}, None),
    # Unlinked files and memfds (6.15): state, runs in the page data.
    (U, "unlinked file with seals", lambda r: setf(obj(r, ic.OBJ_UNLINKED), 44, "<I", lambda v: 8), {},
     "bad file state"),
    (MF, "memfd with an unknown seal", lambda r: setf(obj(r, ic.OBJ_MEMFD), 44, "<I", lambda v: v | 0x40),
     {}, "bad file state"),
    (U, "unlinked file of mode 010000", lambda r: setf(obj(r, ic.OBJ_UNLINKED), 40, "<I", lambda v: 0o10000),
     {}, "bad file state"),
    (U, "unlinked file of size 0 with runs", lambda r: setf(obj(r, ic.OBJ_UNLINKED), 32, "<Q", lambda v: 0),
     {}, "run 0 outside the file"),
    (U, "unlinked file run's data offset + 4096",
     lambda r: setf(obj(r, ic.OBJ_UNLINKED), 48 + 16, "<Q", lambda v: v + 4096), {},
     "run 0 has data offset"),
    (MF, "memfd without its FILE", lambda r: setf(obj(r, ic.OBJ_MEMFD), 16, "<I", lambda v: 0), {},
     "memfd without a FILE record with the OBJECT flag"),
    (MF, "memfd naming a FILE without OBJECT",
     lambda r: setf(obj(r, ic.OBJ_MEMFD), 16, "<I", lambda v: file_ids(r, lambda f, k: not f & 1)[0]), {},
     "memfd without a FILE record with the OBJECT flag"),
    (MF, "O_PATH descriptor of a memfd",
     lambda r: setf(fdrec(r, 3), 8, "<I", lambda v: v | ic.O_PATH), {}, "fd 3 cannot be an end of memfd object"),
    (MF, "memfd state 8 bytes longer, minor 1",
     lambda r: (setf(obj(r, ic.OBJ_MEMFD), 20, "<I", lambda v: v + 8),
                obj(r, ic.OBJ_MEMFD).__setitem__(2, obj(r, ic.OBJ_MEMFD)[2][:48] + b"\xa5" * 8 +
                                                   obj(r, ic.OBJ_MEMFD)[2][48:])), {"minor": 1}, None),
    # LOCK records (6.16).
    (L, "a lock on a descriptor the image does not have", lambda r: setf(lock(r, ic.LOCK_POSIX), 0, "<i", lambda v: 99),
     {}, "a lock on fd 99, which has no FD record before it"),
    (L, "a lock before the FD records", lock_first, {}, "which has no FD record before it"),
    (L, "a lock on a descriptor that shares its open file",
     lambda r: setf(lock(r, ic.LOCK_FLOCK), 0, "<i", lambda v: 5), {}, "a lock on fd 5, which cannot hold one"),
    (L, "a lock on standard input", lambda r: setf(lock(r, ic.LOCK_OFD), 0, "<i", lambda v: 0), {},
     "a lock on fd 0, which cannot hold one"),
    (L, "a lock of kind 4", lambda r: setf(lock(r, ic.LOCK_OFD), 4, "<I", lambda v: 4), {}, "bad lock on fd"),
    (L, "a lock of type 3", lambda r: setf(lock(r, ic.LOCK_OFD), 8, "<I", lambda v: 3), {}, "bad lock on fd"),
    (L, "a flock() on a range", lambda r: setf(lock(r, ic.LOCK_FLOCK), 16, "<Q", lambda v: 10), {},
     "bad lock on fd"),
    (L, "a lock ending before it starts", lambda r: setf(lock(r, ic.LOCK_OFD), 24, "<Q", lambda v: 1), {},
     "bad lock on fd"),
    (L, "LOCK 8 bytes longer, minor 0", None, {"grow": {ic.LOCK: 8}}, "LOCK record at byte"),
    (L, "LOCK 8 bytes longer, minor 1", None, {"minor": 1, "grow": {ic.LOCK: 8}}, None),
    # Sockets (6.15): each field alone and with the state; references.
    (UX, "a unix socket of type 3", lambda r: setf(sockobj(r, ic.OBJ_UNIX), 32, "<I", lambda v: 3),
     {}, "bad unix socket state"),
    (UX, "a unix socket in state 7", lambda r: setf(sockobj(r, ic.OBJ_UNIX), 36, "<I", lambda v: 7),
     {}, "bad unix socket state"),
    (UX, "a listener without a name",
     lambda r: setf(sockobj(r, ic.OBJ_UNIX, ustate(state=ic.SOCK_LISTEN)), 32 + 32, "<I",
                    lambda v: 0), {}, "bad unix socket state"),
    (UX, "a pair with a name",
     lambda r: setf(sockobj(r, ic.OBJ_UNIX, ustate(ic.SOCK_DGRAM, ic.SOCK_PAIR)), 32 + 32, "<I",
                    lambda v: 5), {}, "bad unix socket state"),
    (UX, "a datagram socket listening",
     lambda r: setf(sockobj(r, ic.OBJ_UNIX, ustate(state=ic.SOCK_LISTEN)), 32, "<I",
                    lambda v: ic.SOCK_DGRAM), {}, "bad unix socket state"),
    (UX, "an unconnected socket closed by the option",
     lambda r: setf(sockobj(r, ic.OBJ_UNIX, ustate(state=ic.SOCK_UNCONNECTED)), 32 + 12, "<I",
                    lambda v: v | ic.SOCKF_CUT), {}, "bad unix socket state"),
    (UX, "an abstract name of one byte",
     lambda r: setf(sockobj(r, ic.OBJ_UNIX, lambda st: ustate(state=ic.SOCK_LISTEN)(st) and
                            st[48] == 0), 32 + 32, "<I", lambda v: 1), {}, "bad unix socket state"),
    (UX, "shutdown 4", lambda r: setf(sockobj(r, ic.OBJ_UNIX), 32 + 16, "<I", lambda v: 4), {},
     "bad unix socket state"),
    (UX, "one message more than queued",
     lambda r: setf(sockobj(r, ic.OBJ_UNIX, lambda st: struct.unpack_from("<I", st, 24)[0] > 0),
                    32 + 24, "<I", lambda v: v + 1), {}, "its queued messages do not add up"),
    (UX, "a pair whose first end names another", repoint_pair, {}, "does not name it back"),
    (UX, "a pending connection to a pair", pending_to_pair, {},
     "is not a listening unix socket of its type"),
    (UX, "a unix socket open read-only",
     lambda r: setf(sock_fd(r, ic.OBJ_UNIX), 8, "<I", lambda v: v & ~3), {},
     "cannot be an end of unix object"),
    (IN, "a UDP socket listening",
     lambda r: setf(sockobj(r, ic.OBJ_INET, lambda st: struct.unpack_from("<I", st, 4)[0] ==
                            ic.SOCK_DGRAM), 32 + 8, "<I", lambda v: ic.SOCK_LISTEN), {},
     "bad inet socket state"),
    (IN, "a connected UDP socket with port 0",
     lambda r: setf(sockobj(r, ic.OBJ_INET, lambda st: struct.unpack_from("<I", st, 8)[0] ==
                            ic.SOCK_CONNECTED), 32 + 62, ">H", lambda v: 0), {},
     "bad inet socket state"),
    (IN, "an inet socket of family 1",
     lambda r: setf(sockobj(r, ic.OBJ_INET), 32, "<I", lambda v: 1), {}, "bad inet socket state"),
    (IN, "a TCP listener with data",
     lambda r: setf(sockobj(r, ic.OBJ_INET, lambda st: struct.unpack_from("<I", st, 8)[0] ==
                            ic.SOCK_LISTEN), 32 + 12, "<I", lambda v: v | ic.SOCKF_RESET), {},
     "bad inet socket state"),
    (UX, "every record 8 bytes longer, minor 1", None,
     {"minor": 1, "grow": ALL8, "ph_grow": 8, "commit_grow": 8}, None),
    (UX, "socket states 8 bytes longer, minor 0", grow_states(8), {}, "wrong length"),
    (UX, "socket states 8 bytes longer, minor 1", grow_states(8), {"minor": 1}, None),
    (IN, "socket states 16 bytes longer, minor 2", grow_states(16), {"minor": 2}, None),
    ("conn01/image.1", "every record 8 bytes longer, minor 1", None,
     {"minor": 1, "grow": ALL8, "ph_grow": 8, "commit_grow": 8}, None),
    # POSIX timers (6.17): in id order, what timer_create accepts; the
    # thread they signal, and whose CPU time they measure, one of the image's.
    (TM, "POSIX_TIMER 8 bytes longer, minor 0", None, {"grow": {ic.POSIX_TIMER: 8}},
     "POSIX_TIMER record at byte"),
    (TM, "two timers swapped", swap_timers, {}, "out of order"),
    (TM, "timer id -1", set_timer(0, 0, "<i", -1), {}, "timer -1 out of order"),
    (TM, "timer on clock 5", set_timer(1, 4, "<i", 5), {}, "has bad clock 5"),
    (TM, "timer on clock 10", set_timer(1, 4, "<i", 10), {}, "has bad clock 10"),
    (TM, "timer on a posix clock descriptor", set_timer(1, 4, "<i", -5), {}, "has bad clock -5"),
    (TM, "SIGEV_THREAD (2)", set_timer(0, 8, "<i", 2), {}, "has bad notification 2"),
    (TM, "signal 65", set_timer(0, 12, "<i", 65), {}, "has bad signal 65"),
    (TM, "SIGEV_SIGNAL with signal 0",
     lambda r: setf(timer_with(lambda c, n: n == 0)(r), 12, "<i", lambda _: 0), {},
     "has bad signal 0"),
    (TM, "SIGEV_NONE with signal 0",
     lambda r: setf(timer_with(lambda c, n: n == 1)(r), 12, "<i", lambda _: 0), {}, None),
    (TM, "SIGEV_THREAD_ID without a thread",
     lambda r: setf(timer_with(lambda c, n: n == 4)(r), 16, "<i", lambda _: 0), {},
     "has bad target thread 0"),
    (TM, "SIGEV_SIGNAL with a thread",
     lambda r: setf(timer_with(lambda c, n: n == 0)(r), 16, "<i", lambda _: 7), {},
     "has bad target thread 7"),
    (TM, "1 s of nanoseconds left", set_timer(0, 56, "<q", 1000000000), {}, "has bad times"),
    (TM, "a negative interval", set_timer(0, 32, "<q", -1), {}, "has bad times"),
    (TM, "a timer signalling an unknown thread",
     lambda r: setf(timer_with(lambda c, n: n == 4)(r), 16, "<i", lambda v: v + 100000), {},
     "signals unknown thread"),
    (TM, "a timer on the CPU time of an unknown thread",
     lambda r: setf(timer_with(lambda c, n: c < 0)(r), 4, "<i", lambda _: cpu_clock(99999, True)),
     {}, "measures the CPU time of unknown thread 99999"),
    (TM, "a timer on the CPU time of another process",
     lambda r: setf(timer_with(lambda c, n: c < 0)(r), 4, "<i", lambda _: cpu_clock(99999, False)),
     {}, "measures the CPU time of another process (99999)"),
    (TM, "a timer on the CPU time of this process, by pid",
     lambda r: setf(timer_with(lambda c, n: c < 0)(r), 4, "<i",
                    lambda _: cpu_clock(struct.unpack_from("<i", nth(r, ic.HEADER)[2], 84)[0], False)),
     {}, None),
    (TM, "CLOCK_THREAD_CPUTIME_ID with two threads",
     lambda r: setf(timer_with(lambda c, n: c == cpu_clock(0, False))(r), 4, "<i", lambda _: 3),
     {}, "in a process of several threads"),
    (TM, "glibc's CLOCK_THREAD_CPUTIME_ID (thread 0) with two threads",
     lambda r: setf(timer_with(lambda c, n: c == cpu_clock(0, False))(r), 4, "<i",
                    lambda _: cpu_clock(0, True)),
     {}, "in a process of several threads"),
    (TM, "CLOCK_PROCESS_CPUTIME_ID by its number",
     lambda r: setf(timer_with(lambda c, n: c == cpu_clock(0, False))(r), 4, "<i", lambda _: 2),
     {}, None),
    (M, "CLOCK_THREAD_CPUTIME_ID with one thread", own_cpu_timer, {}, None),
    (TM, "the new records OPTIONAL", optional_new, {}, None),
    # Pending signals (6.18): signals, with their own siginfo, for the
    # process or one of the image's threads.
    (SP, "SIGINFO 8 bytes longer, minor 0", None, {"grow": {ic.SIGINFO: 8}}, "SIGINFO record at byte"),
    (SP, "a pending SIGKILL", set_sig(lambda t, s: s == 10, 4, "<I", 9), {}, "bad signal 9"),
    (SP, "a pending SIGSTOP", set_sig(lambda t, s: s == 10, 4, "<I", 19), {}, "bad signal 19"),
    (SP, "a pending signal 0", set_sig(lambda t, s: s == 10, 4, "<I", 0), {}, "bad signal 0"),
    (SP, "a pending signal 65", set_sig(lambda t, s: s == 10, 4, "<I", 65), {}, "bad signal 65"),
    (SP, "siginfo of another signal", set_sig(lambda t, s: s == 10, 8, "<i", 12), {},
     "siginfo of signal 10 names signal 12"),
    (SP, "pending for an unknown thread", set_sig(lambda t, s: t != 0, 0, "<i", 99999), {},
     "pending for unknown thread 99999"),
    (SP, "pending for a negative thread", set_sig(lambda t, s: t != 0, 0, "<i", -3), {},
     "pending for unknown thread -3"),
    # CLOCKS (6.19): once, times that are times; optional.
    (M, "CLOCKS 8 bytes longer, minor 0", None, {"grow": {ic.CLOCKS: 8}}, "CLOCKS record at byte"),
    (M, "CLOCKS twice", twice(ic.CLOCKS), {}, "CLOCKS record at byte"),
    (M, "CLOCKS with 1 s of nanoseconds", lambda r: setf(nth(r, ic.CLOCKS), 8, "<q", lambda _: 10**9),
     {}, "bad time"),
    (M, "CLOCKS with a negative boot time", lambda r: setf(nth(r, ic.CLOCKS), 16, "<q", lambda _: -1),
     {}, "bad time"),
    (M, "no CLOCKS", no_clocks, {}, None),
    (M, "CLOCKS not OPTIONAL", lambda r: nth(r, ic.CLOCKS).__setitem__(1, 0), {}, None),
    # SYSV (6.19) and SYSV_SHM mappings (6.4).
    (SH, "SYSV 8 bytes longer, minor 0", None, {"grow": {ic.SYSV: 8}}, "lengths do not add up"),
    (SH, "SYSV kind 4", set_sysv(0, 0, "<I", lambda _: 4), {}, "bad kind 4"),
    (SH, "SYSV id -1", set_sysv(0, 4, "<i", lambda _: -1), {}, "bad id -1"),
    (SH, "SYSV out of order", swap_sysv, {}, "out of order"),
    (SH, "SYSV mode 01777", set_sysv(0, 12, "<I", lambda _: 0o1777), {}, "has bad mode 1777"),
    (SH, "keyed segment removed", set_sysv(1, 44, "<I", lambda _: 1), {}, "has bad flags 1"),
    (SH, "SYSV flag 2", set_sysv(0, 44, "<I", lambda _: 2), {}, "has bad flags 2"),
    (SE, "messages in a semaphore set", set_sysv(0, 40, "<I", lambda _: 1), {}, "has messages"),
    (SH, "shm size not its data", set_sysv(0, 32, "<Q", lambda v: v + 1), {}, "bytes of data"),
    (SE, "sem size not its data", set_sysv(0, 32, "<Q", lambda v: v + 1), {}, "bytes of values"),
    (SM, "a message too many", set_sysv(0, 40, "<I", lambda v: v + 1), {},
     "the messages do not fill the data"),
    (SM, "a message of type 0", set_sysv(0, 56, "<q", lambda _: 0), {},
     "the messages do not fill the data"),
    (SM, "a message longer than the data", set_sysv(0, 64, "<Q", lambda v: v + 4096), {},
     "the messages do not fill the data"),
    (SH, "SYSV data longer than the record", set_sysv(0, 48, "<Q", lambda v: v + 8), {},
     "lengths do not add up"),
    (SH, "mapping of an unknown segment", set_vma(sysv_vma(), 68, "<i", lambda _: 12345), {},
     "names unknown System V segment 12345"),
    (SH, "anonymous mapping naming a segment",
     set_vma(lambda r: vma(r, lambda k, f, n: k == ic.VMA_ANON), 68, "<i", lambda _: 5), {},
     "anon mapping names System V segment 5"),
    (SH, "private SYSV_SHM mapping", set_vma(sysv_vma(), 32, "<I", lambda v: v & ~1), {},
     "bad System V shared memory mapping"),
    (SH, "SYSV_SHM mapping past its segment", set_vma(sysv_vma(), 16, "<Q", lambda v: v + (1 << 30)), {},
     "runs past the end of System V segment"),
    (SH, "SYSV_SHM piece without its start", set_vma(sysv_vma(0, split_first), 16, "<Q",
                                                      lambda v: v + 4096), {},
     "whose start is missing"),
    (SH, "every record 8 bytes longer, minor 1", None,
     {"minor": 1, "grow": ALL8, "ph_grow": 8, "commit_grow": 8}, None),
    (TM, "every record 8 bytes longer, minor 1", None,
     {"minor": 1, "grow": ALL8, "ph_grow": 8, "commit_grow": 8}, None),
    (SP, "every record 4 bytes longer, minor 2", None,
     {"minor": 2, "grow": ALL4, "ph_grow": 4, "commit_grow": 4}, None),
    # Descriptors in flight (6.20): SCM records in queue order, naming a
    # unix object's message or bytes; each descriptor an FD record without
    # a number (never stdio or a socket), numbered in order of appearance.
    (SC, "no descriptors", scm(0, 4, "<I", 0), {}, "0 descriptors in one message"),
    (SC, "254 descriptors", scm(0, 4, "<I", 254), {}, "254 descriptors in one message"),
    (SC, "one more descriptor than the record holds", scm(0, 4, "<I", 3), {}, "wrong length"),
    (SC, "8 bytes more", scm_grow, {}, "wrong length"),
    (SC, "8 bytes more, minor 1", scm_grow, {"minor": 1}, "wrong length"),
    (SC, "on a pipe object", scm(0, 0, "<I", lambda r: struct.unpack_from("<I", obj(r, ic.OBJ_PIPE)[2], 0)[0]),
     {}, "is not a unix socket"),
    (SC, "on object 0", scm(0, 0, "<I", 0), {}, "object 0 is not a unix socket"),
    (SC, "on object 999", scm(0, 0, "<I", 999), {}, "object 999 is not a unix socket"),
    (SC, "stream bytes past the queue", scm(1, 16, "<Q", 1000), {}, "bytes 7+1000 outside the 15 queued"),
    (SC, "stream message of no bytes", scm(1, 16, "<Q", 0), {}, "bytes 7+0 outside the 15 queued"),
    (SC, "stream bytes overlapping", scm(1, 8, "<Q", 6), {}, "out of queue order"),
    (SC, "a datagram message past the queue", scm(5, 8, "<Q", 6), {}, "message 6 of 6"),
    (SC, "a datagram message with bytes", scm(2, 16, "<Q", 1), {}, "message 1 of 6"),
    (SC, "the same datagram message twice", scm(3, 8, "<Q", 1), {}, "out of queue order"),
    (SC, "two SCM records swapped: the flight numbers give it away first", swap_scm, {},
     "descriptor 1: flight number 3 out of sequence"),
    (SC, "flight number 2 first", scm(0, 24, "<I", 2), {}, "descriptor 1: flight number 2 out of sequence"),
    (SC, "flight number 0", scm(0, 24 + 56, "<I", 0), {}, "descriptor 2: flight number 0 out of sequence"),
    (SC, "a repeat that differs", scm(4, 24 + 56 + 24, "<q", 3), {},
     "descriptor 2: flight 6 differs from its first description"),
    (SC, "a descriptor in flight with a number", scm(0, 24 + 8, "<i", 5), {},
     "descriptor 1 in flight has a number or flags"),
    (SC, "a descriptor in flight with FD_CLOEXEC", scm(0, 24 + 20, "<I", 1), {},
     "descriptor 1 in flight has a number or flags"),
    (SC, "a stdio descriptor in flight", scm(0, 24 + 12, "<I", ic.FD_STDIO), {},
     "descriptor 1 in flight has bad kind 4"),
    (SC, "a socket in flight O_WRONLY", scm(0, 24 + 56 + 44, "<I", unix_obj_id), {},
     "descriptor 2 in flight cannot be an end of unix object"),
    (SC, "a pipe end in flight with access mode 3", scm(0, 24 + 56 + 16, "<I", 3), {},
     "descriptor 2 in flight cannot be an end of pipe object"),
    (SC, "an object in flight naming a file", scm(0, 24 + 56 + 32, "<I", 1), {},
     "descriptor 2 in flight is an object but refers to a file"),
    (SC, "a file in flight naming object 1", scm(0, 24 + 44, "<I", 1), {},
     "descriptor 1 in flight refers to an object but is not one"),
    (SC, "a file in flight naming file 999", scm(0, 24 + 32, "<I", 999), {},
     "descriptor 1 in flight refers to unknown file 999"),
    (SC, "a file in flight of kind dir", scm(0, 24 + 12, "<I", ic.FD_DIR), {},
     "descriptor 1 in flight refers to a file of another kind"),
    (SC, "a descriptor in flight sharing with fd 99", scm(0, 24 + 36, "<I", 100), {},
     "descriptor 1 in flight shares with unknown fd 99"),
    (SC, "SCM OPTIONAL", lambda r: nth(r, ic.SCM, 0).__setitem__(1, 1), {}, None),
]


def forge(path, change, opts):
    recs, pages = parse(open(path, "rb").read())
    recs = [list(r) for r in recs]
    if change:
        change(recs)
    return build(recs, pages, **opts)


# ---- running the cases, in parallel ----------------------------------------------

def check_refused(i, name, data, want):
    st, imsg, pst, pmsg, bad = both(data, i)
    if bad:
        return "%s: %s" % (name, "; ".join(bad))
    if st != 65 or pst != 65:
        return "%s: status %d (info) and %d (imgcheck): %s | %s" % (name, st, pst, imsg, pmsg)
    if imsg != pmsg:
        return "%s: the readers differ:\n    info:     %s\n    imgcheck: %s" % (name, imsg, pmsg)
    if want and want not in imsg:
        return "%s: the message %r does not say %r" % (name, imsg, want)
    return None


def check_forged(i, k):
    # By index: the workers are forked with the list, lambdas do not pickle.
    path, name, change, opts, want = forged[k]
    data = forge(path, change, opts)
    if want is not None:
        return check_refused(i, "%s: %s" % (path, name), data, want)
    fpath = "forged-%d.img" % i
    with open(fpath, "wb") as f:
        f.write(data)
    try:
        st, out, err = run(IMGCHECK + ["--json", fpath])
        if st:
            return "%s: %s: imgcheck refuses it: %s" % (path, name, err.strip())
        st, iout, ierr = run([sck, "info", "--json", fpath])
        st2, rout, rerr = run([sck, "info", "--records", "--json", fpath])
        if st or st2:
            return "%s: %s: selfckpt info refuses it: %s" % (path, name, (ierr + rerr).strip())
        ref = json.loads(iout)
        ref.update({k: v for k, v in json.loads(rout).items() if k != "format"})
        diff = subset(json.loads(out), ref)
        if diff:
            return "%s: %s: %s" % (path, name, "; ".join(diff[:3]))
        if ref["format"]["minor"] != opts.get("minor", 0):
            return "%s: %s: minor %r" % (path, name, ref["format"]["minor"])
        st, human, err = run(IMGCHECK + [fpath])
        st2, ihuman, _ = run([sck, "info", fpath])
        if st or st2 or human_keys(human) != human_keys(ihuman):
            return "%s: %s: summary lines %r, info has %r" % (path, name, human_keys(human),
                                                              human_keys(ihuman))
    finally:
        os.unlink(fpath)
    return None


def rebuild_same(path):
    data = open(path, "rb").read()
    recs, pages = parse(data)
    return None if build(recs, pages) == data else \
        "%s: rebuilt as section 14 says, it is not byte-identical" % path


jobs = []
with cf.ProcessPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as ex:
    for path in images:
        jobs.append(ex.submit(rebuild_same, path))
    ndamaged = 0
    for path, cuts, nflips, seed in (("small.img", False, 15, 1), (M, True, 60, 2),
                                     ("maps01/image.1", True, 30, 3),
                                     ("files01/image.2", False, 30, 4), (T, True, 30, 5)):
        for name, data, want in damaged_cases(path, cuts, nflips, seed):
            jobs.append(ex.submit(check_refused, len(jobs), name, data, want))
            ndamaged += 1
    # The large image: its second, short chunk of page data.
    large = open("large.img", "rb").read()
    pl = refs["large.img"]["pages"]
    for off, want in ((pl["offset"] + 12345, "page data bytes 0-1048575 fail"),
                      (pl["offset"] + pl["len"] - 100,
                       "page data bytes 1048576-%d fail" % (pl["len"] - 1))):
        b = bytearray(large)
        b[off] ^= 0x10
        jobs.append(ex.submit(check_refused, len(jobs), "large.img byte %d changed" % off, bytes(b), want))
        ndamaged += 1
    jobs.append(ex.submit(check_refused, len(jobs), "large.img cut in the last chunk",
                          large[:pl["offset"] + pl["len"] - 4096], "inside the page data"))
    ndamaged += 1
    for k in range(len(forged)):
        jobs.append(ex.submit(check_forged, len(jobs), k))
    for j in jobs:
        r = j.result()
        if r:
            fail(r)
nforged = len(forged)
naccepted = sum(1 for f in forged if f[4] is None)

# ---- imgcheck.py as a program on damaged images: file and pipe ---------------------

med = open(M, "rb").read()
pm = refs[M]["pages"]
samples = [("cut in the metadata", med[:5000]),
           ("page data changed", med[:pm["offset"] + 7] + bytes([med[pm["offset"] + 7] ^ 1]) +
            med[pm["offset"] + 8:]),
           ("major version 2", med[:8] + b"\2" + med[9:]),
           ("empty", b"")]
nprog = 0
for name, data in samples:
    with open("sample.img", "wb") as f:
        f.write(data)
    for how, argv, stdin in (("file", IMGCHECK + ["sample.img"], None),
                             ("pipe", IMGCHECK + ["-"], data),
                             ("file, --json", IMGCHECK + ["--json", "sample.img"], None)):
        st, out, err = run(argv, stdin)
        nprog += 1
        if st != 65 or out or err.count("\n") != 1 or not err.startswith("imgcheck: "):
            fail("imgcheck.py, %s (%s): status %d, stdout %r, stderr %r" % (name, how, st, out[:100], err))
os.unlink("sample.img")

# ---- 4. the restorer's share: restart from a pipe ----------------------------------

def restart(data, from_pipe, label):
    path = "restart-%s.img" % label
    with open(path, "wb") as f:
        f.write(data)
    if from_pipe:
        st, out, err = run([sck, "restart", "-"], stdin=data)
    else:
        st, out, err = run([sck, "restart", path])
    os.unlink(path)
    return st, out + err


small = "small.img"
nrestart = 0
newer = forge(small, None, {"minor": 1, "grow": ALL8, "ph_grow": 8, "commit_grow": 8})
for pipe in (True, False):
    st, out = restart(newer, pipe, "newer")
    nrestart += 1
    if st or "final: 12 steps" not in out:
        fail("a minor-1 image with longer records does not restart from a %s (status %d): %s"
             % ("pipe" if pipe else "file", st, out.strip()[-300:]))
extra = open(small, "rb").read() + b"not the image\n"
st, out = restart(extra, True, "extra")
nrestart += 1
if st or "final: 12 steps" not in out:
    fail("data after COMMIT: the restart from a pipe failed (status %d): %s" % (st, out.strip()[-300:]))
st, out = restart(extra, False, "extra")
nrestart += 1
if st != 65 or "data follows the commit record" not in out or "final:" in out:
    fail("data after COMMIT: the restart from the file did not refuse it (status %d): %s" % (st, out.strip()[-300:]))
padded = forge(small, None, {"minor": 1, "grow": ALL4, "commit_grow": 4, "commit_pad": True})
st, out = restart(padded, True, "padded")
nrestart += 1
if st != 65 or "non-zero padding in the trailer" not in out or "final:" in out:
    fail("non-zero padding after COMMIT: the restart from a pipe did not refuse it (status %d): %s"
         % (st, out.strip()[-300:]))
# The restorer's rule for the trailer's fixed parts is the reader's (6.0):
# exactly their size in the image's own minor version.
for opts, want in (({"ph_grow": 8}, "hash list does not match"),
                   ({"commit_grow": 8}, "commit record does not match")):
    st, out = restart(forge(small, None, opts), True, "long-trailer")
    nrestart += 1
    if st != 65 or want not in out or "final:" in out:
        fail("a 1.0 image with %s: the restart from a pipe did not refuse it (status %d): %s"
             % (opts, st, out.strip()[-300:]))
# Damage in the short last piece of page data, named as the reader names it.
b = bytearray(large)
b[pl["offset"] + pl["len"] - 100] ^= 0x10
st, out = restart(bytes(b), True, "damaged")
nrestart += 1
want = "page data bytes 1048576-%d fail their checksum" % (pl["len"] - 1)
if st != 65 or want not in out or "final:" in out:
    fail("damaged last piece of page data, from a pipe: status %d, %r, wanted %r"
         % (st, out.strip()[-300:], want))
# Every thread comes back, from an image of a newer minor version.
st, out = restart(forge(T, None, {"minor": 1, "grow": ALL8, "ph_grow": 8, "commit_grow": 8}),
                  True, "threads")
nrestart += 1
if st or "restarted" not in out or "joined 3" not in out:
    fail("the multi-threaded image does not restart from a pipe (status %d): %s"
         % (st, out.strip()[-300:]))

# New ids: the restart warns about locks that record a thread id unless the
# checkpoint searched for them (NO_OWNED_LOCKS).
for flags in (0, 2):
    st, out, err = run([sck, "restart", "--no-namespaces", "-"], stdin=forge(small, set_hdr(flags, 0), {}))
    nrestart += 1
    warned = ("selfckpt restart: warning: restarting with new process and thread ids (--no-namespaces); "
              "the image was not searched for held locks") in err
    if st or "final: 12 steps" not in out + err or warned != (flags == 0):
        fail("restart --no-namespaces of an image with header flags %d: status %d, %s a warning: %s"
             % (flags, st, "with" if warned else "without", (out + err).strip()[-400:]))

# A timer on an alarm clock: restarts where this process could make one,
# and is refused (69) before the program runs where it could not (no
# CAP_WAKE_ALARM, or no alarm device): asked here first.
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
sev = struct.pack("<QiiI44x", 0, 0, ic.SIGEV_NONE, 0)
tid = ctypes.c_int(0)
if libc.syscall(222, 9, sev, ctypes.byref(tid)) == 0:     # timer_create
    libc.syscall(226, tid)                                 # timer_delete
    alarm_err = None
else:
    alarm_err = os.strerror(ctypes.get_errno())
st, out, err = run([sck, "restart", "-"], stdin=forge(small, alarm_timer, {}))
nrestart += 1
if alarm_err is None and (st or "final: 12 steps" not in out + err):
    fail("a timer on CLOCK_BOOTTIME_ALARM, which this machine has: status %d: %s"
         % (st, (out + err).strip()[-300:]))
if alarm_err is not None and (st != 69 or "no timer on CLOCK_BOOTTIME_ALARM here: " + alarm_err
                              not in err or "final:" in out + err):
    fail("a timer on CLOCK_BOOTTIME_ALARM, which this machine refuses (%s): status %d: %s"
         % (alarm_err, st, (out + err).strip()[-300:]))

if problems:
    for p in problems[:30]:
        print("FAIL " + p, file=sys.stderr)
    print("%d problems" % len(problems), file=sys.stderr)
    sys.exit(1)
print("%d real images read alike (file and pipe), %d damaged and %d forged images refused "
      "by both readers with the same message, %d forged ones accepted by both, %d imgcheck.py "
      "runs on damaged images, %d restarts of forged images"
      % (len(images), ndamaged, nforged - naccepted, naccepted, nprog, nrestart))
PY
) || die "the Python part failed"
echo "imgcheck: images made in ${made}s; $summary; $(elapsed "$start")s in all"

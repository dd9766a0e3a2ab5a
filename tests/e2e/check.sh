#!/bin/bash
# check.sh - `selfckpt check [--json]` (docs/cli.md): the kernel facilities
# the library relies on, found by trying them.
#
#   - it runs, exits 0 here (the suite could not pass without what it calls
#     needed), prints one line per facility (name, yes/no, class, what it
#     means) for every facility the library relies on, and a summary;
#   - --json is JSON (python3 -m json.tool) and says what the text says;
#   - every answer agrees with an independent probe: a Python program
#     (ctypes, raw system calls and /proc, no code of the project) for
#     rseq, clone3, kcmp, userfaultfd and its features, PAGEMAP_SCAN with
#     and without PAGE_IS_GUARD, PR_SET_MM_MAP, guard regions and the
#     pagemap guard bit, soft-dirty, the shadow stack (with the CPU flag in
#     /proc/cpuinfo), the vDSO, Yama, unix_diag (a socketpair's peer
#     looked up over NETLINK_SOCK_DIAG); unshare(1) for the namespaces, and
#     for whether /proc/self/exe can be set: root, or a user namespace;
#   - with a tmpfs over /proc (in user and mount namespaces of its own) the
#     needed facilities it then lacks are named and the status is 1.
#
# Env: B, ROOT, WORK (see run-tests.sh). Last line: a summary.
set -eu
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
start=$EPOCHREALTIME
checks=0
ok() { checks=$((checks + 1)); }

# ---- it runs ------------------------------------------------------------------

st=0
timeout 60 "$sck" check >check.out 2>check.err || st=$?
[ $st -eq 0 ] || die "check: status $st: $(cat check.out check.err)"
[ ! -s check.err ] || die "check: output on stderr: $(cat check.err)"
tail -n 1 check.out | grep -q '^check: everything the library needs is here' ||
	die "check: summary: $(tail -n 1 check.out)"
ok
facilities=("/proc/self/pagemap, mem" "PAGEMAP_SCAN" "PAGEMAP_SCAN guard" "PR_SET_MM_MAP"
	"PR_SET_MM_MAP exe" "vDSO" "rseq" "clone3" "namespaces + set_tid" "/proc/self/timers"
	"timer ids by prctl" "time namespace" "System V IPC ids" "MADV_GUARD_INSTALL"
	"pagemap guard bit" "shadow stack" "userfaultfd" "uffd WP_ASYNC" "soft-dirty" "kcmp"
	"unix_diag" "yama ptrace_scope")
[ "$(wc -l <check.out)" -eq $((${#facilities[@]} + 1)) ] ||
	die "check: expected ${#facilities[@]} facility lines and a summary: $(cat check.out)"
# The names are padded to 24 columns. line NAME [FILE]: its line;
# answer NAME: "yes" or "no".
line() {
	awk -v n="$1" '{ name = substr($0, 1, 24); sub(/ +$/, "", name) } name == n' "${2:-check.out}"
}
answer() { line "$1" | awk '{ print substr($0, 26, 3) }' | tr -d ' '; }
for f in "${facilities[@]}"; do
	[ "$(line "$f" | wc -l)" -eq 1 ] || die "check: not one line for '$f': $(cat check.out)"
	a=$(answer "$f")
	[ "$a" = yes ] || [ "$a" = no ] || die "check: no yes/no for '$f': $(line "$f")"
	line "$f" | grep -qE '^.{24} (yes|no ) (needed  |optional|info    ) [^ ].* \(.*\)$' ||
		die "check: '$f' line not as documented: $(line "$f")"
done
ok

# ---- --json --------------------------------------------------------------------

st=0
timeout 60 "$sck" check --json >check.json 2>check-json.err || st=$?
[ $st -eq 0 ] || die "check --json: status $st: $(cat check.json check-json.err)"
python3 -m json.tool check.json >/dev/null || die "check --json is not JSON: $(cat check.json)"
python3 - check.json check.out <<'PY' || die "check --json and the text disagree"
import json, re, sys
d = json.load(open(sys.argv[1]))
# Two runs: addresses and pids differ.
num = lambda s: re.sub(r"0x[0-9a-f]+|[0-9]+", "N", s)
text = open(sys.argv[2]).read().splitlines()[:-1]
assert d["ok"] is True and d["missing_needed"] == [], d
assert len(d["facilities"]) == len(text), (len(d["facilities"]), len(text))
for f, line in zip(d["facilities"], text):
    assert line.startswith(f["name"] + " "), (f["name"], line)
    words = line[len(f["name"]):].split()
    assert words[0] == ("yes" if f["present"] else "no"), (f, line)
    assert words[1] == f["class"], (f, line)
    assert f["needed"] == (f["class"] == "needed"), f
    assert f["means"] in line and num(f["detail"]) in num(line), (f, line)
PY
ok

# ---- the answers, independently ---------------------------------------------------

# What the kernel says, probed without the project's code.
python3 - >probe.out <<'PY' || die "the independent probe failed: $(cat probe.out)"
import ctypes, errno, mmap, os, socket, struct

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
SYS = dict(rseq=334, clone3=435, kcmp=312, userfaultfd=323, arch_prctl=158)
PAGE = 4096

def say(name, yes):
    print(f"{name}={'yes' if yes else 'no'}")

def exists(nr, *args):
    r = libc.syscall(nr, *args)
    return not (r < 0 and ctypes.get_errno() == errno.ENOSYS)

def pagemap_entry(addr):
    with open("/proc/self/pagemap", "rb") as f:
        f.seek(addr // PAGE * 8)
        return struct.unpack("<Q", f.read(8))[0]

buf = libc.mmap(None, 2 * PAGE, 3, 0x22, -1, 0)   # PROT_READ|WRITE, PRIVATE|ANONYMOUS
ctypes.memset(buf, 1, 2 * PAGE)
say("/proc/self/pagemap, mem", os.access("/proc/self/mem", os.R_OK) and
    pagemap_entry(buf) >> 63 == 1)
say("rseq", exists(SYS["rseq"], 0, 0, 0, 0))
say("clone3", exists(SYS["clone3"], 0, 0))
a = os.open("/dev/null", os.O_RDONLY)
b = os.dup(a)
say("kcmp", libc.syscall(SYS["kcmp"], os.getpid(), os.getpid(), 0, a, b) == 0)  # KCMP_FILE

# userfaultfd(UFFD_USER_MODE_ONLY), then UFFDIO_API with no features asked:
# the answer lists them. WP_UNPOPULATED 1<<13, WP_ASYNC 1<<15.
fd = libc.syscall(SYS["userfaultfd"], os.O_CLOEXEC | os.O_NONBLOCK | 1)
if fd < 0:
    fd = libc.syscall(SYS["userfaultfd"], os.O_CLOEXEC | os.O_NONBLOCK)
say("userfaultfd", fd >= 0)
feats = 0
if fd >= 0:
    api = (ctypes.c_uint64 * 3)(0xAA, 0, 0)
    if libc.ioctl(fd, 0xC018AA3F, api) == 0:
        feats = api[1]
say("uffd WP_ASYNC", feats & (1 << 15) and feats & (1 << 13))

# PAGEMAP_SCAN = _IOWR('f', 16, struct pm_scan_arg of 96 bytes).
pm = os.open("/proc/self/pagemap", os.O_RDONLY)
vec = (ctypes.c_uint64 * 12)()
def scan(start, end, anyof, ret):
    arg = (ctypes.c_uint64 * 12)(96, 0, start, end, 0, ctypes.addressof(vec), 4, 0, 0, 0,
                                 anyof, ret)
    return libc.ioctl(pm, 0xC0606610, arg)
have_scan = scan(0, 0, 0, 1 << 3) == 0
say("PAGEMAP_SCAN", have_scan)
say("PAGEMAP_SCAN guard", have_scan and scan(buf, buf + PAGE, (1 << 3) | (1 << 4) | (1 << 8),
                                             (1 << 3) | (1 << 4) | (1 << 8)) >= 0)

# PR_SET_MM(PR_SET_MM_MAP_SIZE): the size of struct prctl_mm_map, 104.
size = ctypes.c_uint(0)
say("PR_SET_MM_MAP", libc.prctl(35, 15, ctypes.byref(size), 0, 0) == 0 and size.value == 104)

# A guard page (MADV_GUARD_INSTALL 102), seen as pagemap bit 58.
guard = libc.madvise(buf, PAGE, 102) == 0
say("MADV_GUARD_INSTALL", guard)
say("pagemap guard bit", guard and pagemap_entry(buf) >> 58 & 1 == 1)

# Soft-dirty: bit 55 after clear_refs 4 and a write.
ctypes.memset(buf + PAGE, 2, 1)
with open("/proc/self/clear_refs", "w") as f:
    f.write("4")
ctypes.memset(buf + PAGE, 3, 1)
say("soft-dirty", pagemap_entry(buf + PAGE) >> 55 & 1 == 1)

# ARCH_SHSTK_STATUS 0x5005, and the CPU.
st = ctypes.c_uint64(0)
kernel = libc.syscall(SYS["arch_prctl"], 0x5005, ctypes.byref(st)) == 0
cpu = " user_shstk" in open("/proc/cpuinfo").read()
say("shadow stack", kernel and cpu)

# unix_diag: a socketpair's end looked up by its inode (NETLINK_SOCK_DIAG 4,
# SOCK_DIAG_BY_FAMILY 20, UDIAG_SHOW_PEER 4) names the other end (attribute
# UNIX_DIAG_PEER 2).
sa, sb = socket.socketpair()
peer = 0
try:
    nl = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 4)
    req = struct.pack("<IHHII", 16 + 24, 20, 1, 0, 0) + struct.pack(
        "<BBHIIIII", socket.AF_UNIX, 0, 0, 0xffffffff, os.fstat(sa.fileno()).st_ino, 4,
        0xffffffff, 0xffffffff)
    nl.sendto(req, (0, 0))
    ans = nl.recv(8192)
    ln, typ = struct.unpack_from("<IH", ans, 0)
    off = 16 + 16
    while typ == 20 and off + 4 <= ln:
        alen, atyp = struct.unpack_from("<HH", ans, off)
        if atyp == 2:
            peer = struct.unpack_from("<I", ans, off + 4)[0]
        off += (alen + 3) & ~3
except OSError:
    pass
say("unix_diag", peer != 0 and peer == os.fstat(sb.fileno()).st_ino)

say("vDSO", any(l.rstrip().endswith("[vdso]") for l in open("/proc/self/maps")))
say("/proc/self/timers", os.access("/proc/self/timers", os.R_OK))
say("timer ids by prctl", libc.prctl(77, 2, 0, 0, 0) >= 0)   # PR_TIMER_CREATE_RESTORE_IDS, GET
say("yama ptrace_scope", os.path.exists("/proc/sys/kernel/yama/ptrace_scope"))
PY
# The namespaces restart creates, and /proc/self/exe: root may set it; others
# only in a user namespace of their own.
if [ "$(id -u)" = 0 ]; then
	ns=(unshare --pid --fork true)
	timens=(unshare --time --monotonic 0 true)
	ipcns=(unshare --ipc)
	cap_sys_admin=$(($(awk '/^CapEff:/ { print "0x" $2 }' /proc/self/status) >> 21 & 1))
	cap_cr=$(($(awk '/^CapEff:/ { print "0x" $2 }' /proc/self/status) >> 40 & 1))
	exe=$([ $((cap_sys_admin | cap_cr)) -eq 1 ] && echo yes || echo no)
else
	ns=(unshare --user --map-root-user --pid --fork true)
	timens=(unshare --user --map-root-user --time --monotonic 0 true)
	ipcns=(unshare --user --map-root-user --ipc)
	exe=$(unshare --user --map-root-user true 2>/dev/null && echo yes || echo no)
fi
echo "namespaces + set_tid=$("${ns[@]}" 2>/dev/null && echo yes || echo no)" >>probe.out
echo "PR_SET_MM_MAP exe=$exe" >>probe.out
echo "time namespace=$("${timens[@]}" 2>/dev/null && echo yes || echo no)" >>probe.out
# kernel.shm_next_id in a new IPC namespace: the next segment's id (ipcmk).
ipc=$("${ipcns[@]}" sh -c 'echo 4242 >/proc/sys/kernel/shm_next_id && ipcmk -M 4096' 2>/dev/null |
	grep -q ': 4242$' && echo yes || echo no)
echo "System V IPC ids=$ipc" >>probe.out

n=0
while IFS='=' read -r name want; do
	got=$(answer "$name")
	[ "$got" = "$want" ] ||
		die "'$name': check says '$got', the independent probe '$want': $(line "$name")"
	n=$((n + 1))
done <probe.out
[ "$n" -eq ${#facilities[@]} ] || die "probed $n facilities of ${#facilities[@]}: $(cat probe.out)"
ok
# Its own details agree with the facts too.
[ "$(answer 'namespaces + set_tid')" = no ] || line 'namespaces + set_tid' |
	grep -qE "clone3 gave pid [0-9]+ in it" ||
	die "namespaces: no pid given: $(line 'namespaces + set_tid')"
[ "$(answer rseq)" = no ] || line rseq | grep -qE "glibc registered [0-9]+ bytes" ||
	die "rseq: $(line rseq)"
ok

# ---- a needed facility missing: status 1, named -------------------------------------

# /proc hidden under a tmpfs, in user and mount namespaces of our own: no
# pagemap, no maps.
if unshare --user --map-root-user --mount true 2>/dev/null; then
	st=0
	unshare --user --map-root-user --mount \
		bash -c 'mount -t tmpfs none /proc && exec "$0" check' "$sck" >noproc.out 2>&1 || st=$?
	[ $st -eq 1 ] || die "without /proc: status $st, expected 1: $(cat noproc.out)"
	tail -n 1 noproc.out | grep -q '^check: missing what the library needs: /proc/self/pagemap, mem' ||
		die "without /proc: summary: $(tail -n 1 noproc.out)"
	line "/proc/self/pagemap, mem" noproc.out | grep -qE '^.{24} no  needed ' ||
		die "without /proc: $(cat noproc.out)"
	missing="without /proc status 1 naming it"
else
	missing="no user namespace here to hide /proc in"
fi
ok

yes_list=$(grep -cE '^.{24} yes ' check.out || true)
echo "check: ${#facilities[@]} facilities ($yes_list present), text and --json agree, every answer as an independent probe finds it; $missing; $checks checks ($(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s)"

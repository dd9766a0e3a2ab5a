#!/usr/bin/env python3
"""imgcheck.py - an independent reader and checker for selfckpt images.

    tools/imgcheck.py [--records | --json] [-q] IMAGE|-

Reads IMAGE (or standard input with "-") in one forward pass, with exact
reads, never seeking and never reading ahead, as a restart reading from a
pipe does, and checks it against docs/image-format.md: the preamble, the
hdr_hash chain, every payload hash and its zero padding, the record order,
the length of every record's fixed part, the alignment of the page data,
the page hashes, the COMMIT record and that nothing follows it, and every
semantic rule of the reference reader (libselfckpt/image-dec.c), in the
same order and with the same messages.

It is written from the specification, not from the C code, to test the
specification; it uses nothing but the Python standard library.

Output: a summary whose "totals" line has the same form as the one of
`selfckpt info`; with --json, one JSON object whose every member is also in
`selfckpt info --json` or `selfckpt info --records --json`, with the same
value; with --records, the record table (also for a damaged image: the
records read before the damage).

Exit status (as `selfckpt info`): 0 complete and intact; 65 damaged,
truncated, of another version or not an image; 66 cannot be read; 64 usage;
71 cannot write the output.
A refused image gets exactly one line on stderr: "imgcheck: IMAGE: " and
the reference reader's message. An accepted one may get lines starting
with "warning:" for things the reference reader accepts but that look
wrong; they do not change the status.
"""

import json
import os
import stat
import struct
import sys

# ---- XXH64 (Yann Collet), pure Python ------------------------------------

M64 = (1 << 64) - 1
P1 = 0x9E3779B185EBCA87
P2 = 0xC2B2AE3D27D4EB4F
P3 = 0x165667B19E3779F9
P4 = 0x85EBCA77C2B2AE63
P5 = 0x27D4EB2F165667C5


def _round(acc, lane):
    acc = (acc + lane * P2) & M64
    acc = ((acc << 31) | (acc >> 33)) & M64
    return (acc * P1) & M64


def _merge(h, v):
    h ^= _round(0, v)
    return (h * P1 + P4) & M64


def xxh64(data, seed=0):
    """XXH64 of bytes-like data with a 64-bit seed."""
    data = memoryview(data).cast("B")
    n = len(data)
    p = 0
    if n >= 32:
        v1 = (seed + P1 + P2) & M64
        v2 = (seed + P2) & M64
        v3 = seed
        v4 = (seed - P1) & M64
        nstripes = n // 32
        words = struct.unpack_from("<%dQ" % (nstripes * 4), data, 0)
        for i in range(0, nstripes * 4, 4):
            v1 = (v1 + words[i] * P2) & M64
            v1 = (((v1 << 31) | (v1 >> 33)) * P1) & M64
            v2 = (v2 + words[i + 1] * P2) & M64
            v2 = (((v2 << 31) | (v2 >> 33)) * P1) & M64
            v3 = (v3 + words[i + 2] * P2) & M64
            v3 = (((v3 << 31) | (v3 >> 33)) * P1) & M64
            v4 = (v4 + words[i + 3] * P2) & M64
            v4 = (((v4 << 31) | (v4 >> 33)) * P1) & M64
        h = (((v1 << 1) | (v1 >> 63)) + ((v2 << 7) | (v2 >> 57)) +
             ((v3 << 12) | (v3 >> 52)) + ((v4 << 18) | (v4 >> 46))) & M64
        for v in (v1, v2, v3, v4):
            h = _merge(h, v)
        p = nstripes * 32
    else:
        h = (seed + P5) & M64
    h = (h + n) & M64
    while p + 8 <= n:
        (k,) = struct.unpack_from("<Q", data, p)
        h ^= _round(0, k)
        h = ((((h << 27) | (h >> 37)) & M64) * P1 + P4) & M64
        p += 8
    if p + 4 <= n:
        (k,) = struct.unpack_from("<I", data, p)
        h ^= (k * P1) & M64
        h = ((((h << 23) | (h >> 41)) & M64) * P2 + P3) & M64
        p += 4
    while p < n:
        h ^= (data[p] * P5) & M64
        h = ((((h << 11) | (h >> 53)) & M64) * P1) & M64
        p += 1
    h ^= h >> 33
    h = (h * P2) & M64
    h ^= h >> 29
    h = (h * P3) & M64
    h ^= h >> 32
    return h


# ---- format constants (docs/image-format.md) -----------------------------

MAGIC = b"\x89SCKPT\r\n"
VERSION_MAJOR = 1
VERSION_MINOR = 0       # the minor version this reader knows (section 13)
ARCH_X86_64 = 62
PAGE = 4096
CHUNK = 1 << 20
HASH_SEED = 0x5CC4B7
COMMIT_MAGIC = 0x54494D4D4F434B53  # "SKCOMMIT"

MAX_META_REC = 64 << 20
MAX_PATH = 4096
MAX_VMAS = 1 << 20
MAX_FDS = 1 << 20
MAX_THREADS = 65536
MAX_XSAVE = 16384
MAX_FIXED = 4096
MAX_SPECIAL = 4
AUXV_MAX = 64
XSAVE_MIN = 576
MAX_CPUS = 1024         # THREAD.affinity: 16 u64

RECF_OPTIONAL = 1
AT_SYSINFO_EHDR = 33
FILEF_OBJECT = 1
THRF_MAIN, THRF_CALLER = 1, 2
# Header flags (section 7.10).
HDR_LENIENT, HDR_NO_OWNED_LOCKS = 1, 2
HDR_RESTARTED_PIDNS, HDR_RESTARTED_USERNS, HDR_RESTARTED_NEW_IDS = 4, 8, 16
HDR_RESTARTED = HDR_RESTARTED_PIDNS | HDR_RESTARTED_USERNS | HDR_RESTARTED_NEW_IDS
HDR_FLAGS = 31          # every flag this reader knows
# The restart modes a HEADER of generation > 0 may name (section 7.10).
RESTART_MODES = (HDR_RESTARTED_PIDNS, HDR_RESTARTED_PIDNS | HDR_RESTARTED_USERNS,
                 HDR_RESTARTED_NEW_IDS)

(HEADER, PROCESS, RLIMITS, SIGACTIONS, FILE, VMA, FD, THREAD, END_META, PAD,
 PAGES, PAGE_HASHES, COMMIT, NOTE, OBJ, LOCK, POSIX_TIMER, SIGINFO,
 CLOCKS, SYSV, SCM) = range(1, 22)
REC_NAMES = {1: "HEADER", 2: "PROCESS", 3: "RLIMITS", 4: "SIGACTIONS",
             5: "FILE", 6: "VMA", 7: "FD", 8: "THREAD", 9: "END_META",
             10: "PAD", 11: "PAGES", 12: "PAGE_HASHES", 13: "COMMIT",
             14: "NOTE", 15: "OBJ", 16: "LOCK", 17: "POSIX_TIMER",
             18: "SIGINFO", 19: "CLOCKS", 20: "SYSV", 21: "SCM"}

VMA_KINDS = {1: "anon", 2: "heap", 3: "stack", 4: "file", 5: "file-shared",
             6: "shm-anon", 7: "memfd", 8: "deleted", 9: "vdso", 10: "vvar",
             11: "vvar_vclock", 12: "sysv-shm"}
(VMA_ANON, VMA_HEAP, VMA_STACK, VMA_FILE_PRIVATE, VMA_FILE_SHARED,
 VMA_SHM_ANON, VMA_MEMFD, VMA_DELETED, VMA_VDSO, VMA_VVAR,
 VMA_VVAR_VCLOCK, VMA_SYSV_SHM) = range(1, 13)
VMA_SPECIAL = (VMA_VDSO, VMA_VVAR, VMA_VVAR_VCLOCK)
VMAF_SHARED = 1
FD_KINDS = {1: "file", 2: "dir", 3: "dev", 4: "stdio", 5: "object"}
FD_FILE, FD_DIR, FD_DEV, FD_STDIO, FD_OBJ = 1, 2, 3, 4, 5
# Kernel objects (OBJ records, section 6.10): kind -> (name, state size).
OBJ_KINDS = {1: ("pipe", 8), 2: ("eventfd", 16), 3: ("timerfd", 40), 4: ("signalfd", 8),
             5: ("epoll", 8), 6: ("inotify", 8), 7: ("unix", 464), 8: ("inet", 288),
             9: ("unlinked file", 16),
             10: ("memfd", 16), 11: ("pty", 64), 13: ("pts", 8), 14: ("terminal", 64)}
OBJ_PIPE, OBJ_EVENTFD, OBJ_TIMERFD, OBJ_SIGNALFD, OBJ_EPOLL, OBJ_INOTIFY = 1, 2, 3, 4, 5, 6
OBJ_UNIX, OBJ_INET = 7, 8
OBJ_UNLINKED, OBJ_MEMFD, OBJ_PTY, OBJ_PTS, OBJ_TTY = 9, 10, 11, 13, 14
TFD_ABSTIME, TFD_CANCEL_ON_SET = 1, 2
TFD_CLOCKS = {0: "realtime", 1: "monotonic", 7: "boottime", 8: "realtime-alarm",
              9: "boottime-alarm"}
EPOLLEXCLUSIVE = 1 << 28
# What epoll_ctl() accepts with EPOLLEXCLUSIVE: IN OUT ERR HUP WAKEUP ET.
EPOLLEXCLUSIVE_OK = 0x1 | 0x4 | 0x8 | 0x10 | (1 << 29) | (1 << 31) | EPOLLEXCLUSIVE
IN_KNOWN = 0x00000fff | 0x04000000 | 0x80000000
INW_DONT_FOLLOW = 1
# Terminals (6.15): struct termios2 and winsize, then the kind's fields.
PTYF_LOCKED, PTYF_PACKET, PTYF_EXCL = 1, 2, 4
TTYF_CTTY, TTYF_FOREGROUND, TTYF_BACKGROUND = 1, 2, 4
TERMIOS = "<IIIIB19sIIHHHH"             # 52 bytes: termios2, winsize
SEALS_KNOWN = 0x3f
SEAL_NAMES = ("seal", "shrink", "grow", "write", "future_write", "exec")
# File locks (LOCK records, section 6.16).
LOCK_POSIX, LOCK_FLOCK, LOCK_OFD = 1, 2, 3
LOCK_KINDS = {1: "posix", 2: "flock", 3: "ofd"}
LOCK_READ, LOCK_WRITE = 1, 2
LOCK_EOF = (1 << 64) - 1
INT64_MAX = (1 << 63) - 1
SZ_LOCK = 32
# Sockets (section 6.15): types, states, flags.
SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET = 1, 2, 5
AF_INET, AF_INET6 = 2, 10
(SOCK_UNCONNECTED, SOCK_LISTEN, SOCK_PAIR, SOCK_PENDING, SOCK_CLOSED,
 SOCK_CONNECTED) = range(1, 7)
SOCKF_CUT, SOCKF_UNLINKED, SOCKF_RESET, SOCKF_DROPPED = 1, 2, 4, 8
SOCKF_ALL = 15
UNIX_NAME_MAX = 108
SZ_OBJ = 32
MAX_OBJ_DATA = 64 << 20
O_PATH, O_DIRECT = 0o10000000, 0o40000
STDIO_KINDS = {1: "terminal", 2: "/dev/null", 3: "pipe", 4: "socket", 5: "other"}
FILE_REG, FILE_DIR, FILE_CHR, FILE_FIFO = 1, 2, 3, 4
O_ACCMODE, O_APPEND, O_NONBLOCK = 3, 0o2000, 0o4000
FD_CLOEXEC = 1

# Fixed part of each payload, in bytes (section 6).
SZ_HEADER, SZ_PROCESS, SZ_RLIMITS, SZ_SIGACTIONS = 1032, 1336, 256, 2048
SZ_FILE, SZ_VMA, SZ_RUN, SZ_RANGE, SZ_FD = 112, 72, 32, 16, 48
SZ_THREAD, SZ_END_META, SZ_PAGE_HASHES, SZ_COMMIT = 440, 40, 16, 48
SZ_POSIX_TIMER, SZ_SIGINFO, SZ_CLOCKS = 64, 136, 32
# Descriptors in flight (section 6.21): SCM, then nfds of SCM_FD.
SZ_SCM, SZ_SCM_FD = 24, 56
SCM_MAX_FDS = 253

SZ_SYSV, SZ_SYSV_MSG = 56, 16

# System V IPC (SYSV records, section 6.20).
SYSV_SHM, SYSV_SEM, SYSV_MSG = 1, 2, 3
SYSV_KINDS = {SYSV_SHM: "shm", SYSV_SEM: "sem", SYSV_MSG: "msg"}
SYSVF_REMOVED = 1
MAX_SYSV = 4096
MAX_SYSV_DATA = (64 << 20) - 4096     # with any fixed part, within a record's limit

# POSIX timers, pending signals (sections 6.17, 6.18).
SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD_ID = 0, 1, 4
SIGEV_NAMES = {SIGEV_SIGNAL: "process", SIGEV_NONE: "none", SIGEV_THREAD_ID: "thread"}
MAX_TIMERS = 1 << 20
MAX_SIGINFO = 1 << 20
NSEC_PER_SEC = 1000000000
# The clocks timer_create accepts (non-negative ones; negative: CPU clocks).
TIMER_CLOCKS = (0, 1, 2, 3, 7, 8, 9, 11)

EX_DATAERR, EX_NOINPUT, EX_USAGE, EX_OSERR = 65, 66, 64, 71


class ImageError(Exception):
    def __init__(self, status, msg):
        super().__init__(msg)
        self.status = status


def rec_name(t):
    return REC_NAMES.get(t, "?")


def vma_kind_name(k):
    return VMA_KINDS.get(k, "?")


def cstr(b):
    """A NUL-terminated string from a fixed-size field."""
    return b.split(b"\0", 1)[0].decode("utf-8", "replace")


def uuid_str(b):
    h = b.hex()
    return "%s-%s-%s-%s-%s" % (h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])


def human_size(n):
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    v, i = float(n), 0
    while v >= 1024 and i < 4:
        v /= 1024
        i += 1
    return "%d B" % n if i == 0 else "%.1f %s" % (v, units[i])


def pad8(n):
    return (8 - (n & 7)) & 7


class Rec:
    __slots__ = ("index", "off", "type", "flags", "len", "phash", "hhash")


class Reader:
    def __init__(self, fd):
        self.fd = fd
        self.off = 0
        self.chain = 0
        self.nrecords = 0
        self.major = self.minor = None
        self.records = []       # (index, offset, type, flags, len)
        self.warnings = []
        # What the records said.
        self.hdr = None
        self.proc = None
        self.cwd = None
        self.sig = None
        self.files = []         # dicts
        self.vmas = []
        self.fds = []
        self.objs = []
        self.locks = []
        self.threads = []
        self.notes = []
        self.timers = []
        self.sigs = []
        self.clocks = None
        self.scms = []          # SCM records: dicts with "fds"
        self.nflight = 0
        self.sysv = []
        self.end = None
        self.data_next = 0
        self.data_off = None
        self.commit = None
        self.commit_off = None
        self.nchunks = 0

    # -- input: exact reads, never ahead --

    def read_exact(self, n, what):
        parts, got = [], 0
        while got < n:
            try:
                b = os.read(self.fd, min(n - got, 1 << 20))
            except InterruptedError:
                continue
            except OSError as e:
                raise ImageError(EX_NOINPUT, "read error at byte %d: %s"
                                 % (self.off + got, e.strerror))
            if not b:
                self.off += got
                raise ImageError(EX_DATAERR,
                                 "image is truncated: it ends at byte %d, inside %s"
                                 % (self.off, what))
            parts.append(b)
            got += len(b)
        self.off += n
        return b"".join(parts)

    def warn(self, msg):
        self.warnings.append(msg)

    @staticmethod
    def fixed_size(known, minor):
        """The size of a fixed part in minor version `minor` of the format,
        whose size in this reader's version is `known` (section 13): 1.0
        is the only minor version so far, so it is always `known`. When a
        minor version appends fields, the sizes of the earlier ones go
        here."""
        return known

    def fixed_ok(self, fixed, known):
        """Is a fixed part of this length acceptable (section 6.0)? Exactly
        its size in the image's minor version, or, from a newer minor
        version, at least the known size and at most 4096."""
        if self.minor > VERSION_MINOR:
            return known <= fixed <= MAX_FIXED
        return fixed == self.fixed_size(known, self.minor)

    def check_len(self, r, known):
        """A record that is one fixed part of size `known`: refuse any
        other length."""
        if not self.fixed_ok(r.len, known):
            raise self.bad(r, "wrong length")

    # -- records --

    def bad(self, rec, msg):
        return ImageError(EX_DATAERR, "image is damaged: %s record at byte %d: %s"
                          % (rec_name(rec.type), rec.off, msg))

    def read_rec(self):
        r = Rec()
        r.off = self.off
        raw = self.read_exact(32, "record header %d" % (self.nrecords + 1))
        r.type, r.flags, r.len, r.phash, r.hhash = struct.unpack("<IIQQQ", raw)
        if xxh64(raw[:24], self.chain) != r.hhash:
            raise ImageError(EX_DATAERR,
                             "image is damaged: record header at byte %d fails its checksum"
                             % r.off)
        self.chain = r.hhash
        self.nrecords += 1
        r.index = self.nrecords
        self.records.append((r.index, r.off, r.type, r.flags, r.len))
        if r.flags & ~RECF_OPTIONAL:
            self.warn("%s record at byte %d has unknown flags 0x%x"
                      % (rec_name(r.type), r.off, r.flags))
        return r

    @staticmethod
    def max_len(t):
        if t == PAGE_HASHES:
            return None         # checked against the page data before
        if t == COMMIT:
            return MAX_FIXED
        if t == PAD:
            return 2 * PAGE
        return MAX_META_REC

    def read_payload(self, r):
        limit = self.max_len(r.type)
        if (limit is not None and r.len > limit) or r.len > 2**64 - 9:
            raise ImageError(EX_DATAERR,
                             "image is damaged: %s record at byte %d claims %d bytes"
                             % (rec_name(r.type), r.off, r.len))
        raw = self.read_exact(r.len + pad8(r.len), "a %s record" % rec_name(r.type))
        if any(raw[r.len:]):
            raise ImageError(EX_DATAERR,
                             "image is damaged: non-zero padding after the %s record at byte %d"
                             % (rec_name(r.type), r.off))
        p = raw[:r.len]
        if xxh64(p, 0) != r.phash:
            raise ImageError(EX_DATAERR,
                             "image is damaged: the %s record at byte %d fails its checksum"
                             % (rec_name(r.type), r.off))
        return p

    # -- the whole image --

    def run(self):
        pre = self.read_preamble()
        self.chain = xxh64(pre, HASH_SEED)
        self.read_meta()
        self.read_data()

    def read_preamble(self):
        try:
            pre = self.read_exact(16, "the preamble")
        except ImageError as e:
            if e.status != EX_DATAERR:
                raise
            if self.off == 0:
                raise ImageError(EX_DATAERR, "image is empty")
            raise ImageError(EX_DATAERR, "not a selfckpt image (too short)")
        magic, major, minor, arch = struct.unpack("<8sHHI", pre)
        if magic != MAGIC:
            raise ImageError(EX_DATAERR, "not a selfckpt image (bad magic)")
        if major != VERSION_MAJOR:
            raise ImageError(EX_DATAERR,
                             "image format version %d.%d is not supported: this reader reads version %d.x"
                             % (major, minor, VERSION_MAJOR))
        if arch != ARCH_X86_64:
            raise ImageError(EX_DATAERR,
                             "image is for another architecture (ELF machine %d)" % arch)
        self.major, self.minor = major, minor
        if minor > VERSION_MINOR:
            self.warn("format %d.%d is newer than this reader's %d.%d: fields it does not know were skipped"
                      % (major, minor, VERSION_MAJOR, VERSION_MINOR))
        return pre

    def read_meta(self):
        once = {PROCESS, RLIMITS, SIGACTIONS}   # each must come, once
        seen = set()
        while True:
            r = self.read_rec()
            if r.index == 1 and r.type != HEADER:
                raise self.bad(r, "the first record must be HEADER")
            if r.index > 1 and r.type == HEADER:
                raise self.bad(r, "a second HEADER")
            if r.type == PAGES:
                if self.end is None:
                    raise self.bad(r, "PAGES before END_META")
                if r.len != self.end["data_len"]:
                    raise self.bad(r, "length %d, END_META said %d"
                                   % (r.len, self.end["data_len"]))
                if self.off % PAGE:
                    raise self.bad(r, "page data is not page-aligned")
                if r.phash != 0:
                    raise self.bad(r, "payload hash must be 0")
                self.data_off = self.off
                return
            if r.type in (PAGE_HASHES, COMMIT):
                raise self.bad(r, "comes before the page data")
            p = self.read_payload(r)
            if self.end is not None and r.type != PAD:
                raise self.bad(r, "only PAD may follow END_META")
            t = r.type
            if t in once:
                if t in seen:
                    raise self.bad(r, "twice")
                seen.add(t)
            if t == HEADER:
                self.take_header(r, p)
            elif t == PROCESS:
                self.take_process(r, p)
            elif t == RLIMITS:
                self.check_len(r, SZ_RLIMITS)
            elif t == SIGACTIONS:
                self.check_len(r, SZ_SIGACTIONS)
                self.sig = [struct.unpack_from("<QQQQ", p, 32 * i) for i in range(64)]
            elif t == FILE:
                self.take_file(r, p)
            elif t == VMA:
                self.take_vma(r, p)
            elif t == FD:
                self.take_fd(r, p)
            elif t == OBJ:
                self.take_obj(r, p)
            elif t == LOCK:
                self.take_lock(r, p)
            elif t == THREAD:
                self.take_thread(r, p)
            elif t == NOTE:
                self.notes.append(p.split(b"\0", 1)[0].decode("utf-8", "replace"))
            elif t == POSIX_TIMER:
                self.take_timer(r, p)
            elif t == SIGINFO:
                self.take_siginfo(r, p)
            elif t == CLOCKS:
                self.take_clocks(r, p)
            elif t == SCM:
                self.take_scm(r, p)
            elif t == SYSV:
                self.take_sysv(r, p)
            elif t == END_META:
                if seen != once or not self.vmas:
                    raise self.bad(r, "metadata incomplete")
                self.take_end(r, p)
            elif t == PAD:
                if any(p):
                    self.warn("PAD record at byte %d holds non-zero bytes" % r.off)
            elif not (r.flags & RECF_OPTIONAL):
                raise ImageError(EX_DATAERR,
                                 "image has record type %d at byte %d, unknown to this selfckpt (written by a newer version?)"
                                 % (t, r.off))

    def take_header(self, r, p):
        if not self.fixed_ok(r.len, SZ_HEADER):
            raise self.bad(r, "wrong length (%d bytes)" % r.len)
        h = {}
        (h["ckpt_id"], h["parent_id"]) = struct.unpack_from("<QQ", p, 0)
        h["image_uuid"], h["parent_uuid"], h["lineage_uuid"] = p[16:32], p[32:48], p[48:64]
        (h["time_sec"], h["time_nsec"], h["flags"], h["generation"], h["pid"],
         h["uid"], h["gid"], h["nthreads"], h["page_size"]) = \
            struct.unpack_from("<qIIIiIIII", p, 64)
        strings = [("kernel_release", 104, 65), ("kernel_version", 169, 65),
                   ("machine", 234, 17), ("glibc_version", 251, 17),
                   ("hostname", 268, 65), ("machine_id", 333, 33),
                   ("boot_id", 366, 37), ("selfckpt_version", 403, 16),
                   ("cpu_vendor", 424, 16), ("cpu_model_name", 440, 64)]
        # Flags first: unknown ones only in an image of a newer minor
        # version, which may define more; then the restart mode, which
        # the generation decides (section 7.10).
        if self.minor <= VERSION_MINOR and h["flags"] & ~HDR_FLAGS:
            raise self.bad(r, "unknown header flags 0x%x" % (h["flags"] & ~HDR_FLAGS))
        how = h["flags"] & HDR_RESTARTED
        if (how not in RESTART_MODES) if h["generation"] else how != 0:
            raise self.bad(r, "bad restart mode flags 0x%x for generation %d"
                           % (how, h["generation"]))
        if h["ckpt_id"] == 0 or h["parent_id"] >= h["ckpt_id"]:
            raise self.bad(r, "bad checkpoint ids %d/%d" % (h["ckpt_id"], h["parent_id"]))
        if h["page_size"] != PAGE:
            raise ImageError(EX_DATAERR, "image has page size %d; only 4096 is supported"
                             % h["page_size"])
        for name, off, size in strings:
            field = p[off:off + size]
            if b"\0" not in field:
                raise self.bad(r, "unterminated string")
            h[name] = cstr(field)
        cpu = 424
        h["cpu_family"], h["cpu_model"], h["cpu_stepping"] = struct.unpack_from("<III", p, cpu + 80)
        h["xcr0"], h["xfeatures"], h["xsave_size"] = struct.unpack_from("<QQI", p, cpu + 136)
        (h["nspecial"],) = struct.unpack_from("<I", p, 864)
        if h["nspecial"] > MAX_SPECIAL or h["nthreads"] == 0 or h["nthreads"] > MAX_THREADS:
            raise self.bad(r, "bad counts")
        if h["xsave_size"] > MAX_XSAVE:
            raise self.bad(r, "xsave size %d" % h["xsave_size"])
        h["special"] = [struct.unpack_from("<QQI", p, 872 + 24 * i)
                        for i in range(h["nspecial"])]
        self.hdr = h

    def take_process(self, r, p):
        if r.len < SZ_PROCESS:
            raise self.bad(r, "too short")
        pr = {}
        pr["start_brk"], pr["brk"] = struct.unpack_from("<QQ", p, 32)
        pr["auxv_len"], pr["exe_file"] = struct.unpack_from("<II", p, 88)
        pr["auxv"] = struct.unpack_from("<%dQ" % min(pr["auxv_len"], AUXV_MAX * 2), p, 96)
        (pr["umask"],) = struct.unpack_from("<I", p, 1120)
        pr["comm"] = cstr(p[1128:1144])
        (pr["cwd_len"], pr["oom_score_adj"], pr["mdwe"]) = struct.unpack_from("<IiI", p, 1280)
        if pr["auxv_len"] > AUXV_MAX * 2 or pr["auxv_len"] % 2:
            raise self.bad(r, "bad auxv length %d" % pr["auxv_len"])
        # The cwd is the tail: it ends the payload.
        n = pr["cwd_len"]
        if n == 0 or n > MAX_PATH or n > r.len or not self.fixed_ok(r.len - n, SZ_PROCESS):
            raise self.bad(r, "bad cwd length %d" % n)
        cwd = p[r.len - n:]
        if cwd[:1] != b"/" or b"\0" in cwd:
            raise self.bad(r, "cwd is not an absolute path")
        if pr["start_brk"] > pr["brk"]:
            raise self.bad(r, "brk below start_brk")
        self.proc = pr
        self.cwd = cwd.decode("utf-8", "replace")

    def take_file(self, r, p):
        if r.len < SZ_FILE:
            raise self.bad(r, "too short")
        if len(self.files) >= MAX_VMAS + MAX_FDS:
            raise self.bad(r, "too many files")
        (fid, kind, dev, ino, size, mtime_sec, mtime_nsec, mode, rdev, flags,
         build_id_len) = struct.unpack_from("<IIQQQqIIQII", p, 0)
        (path_len, ctime_nsec, ctime_sec) = struct.unpack_from("<IIq", p, 96)
        if (path_len == 0 or path_len > MAX_PATH or path_len > r.len or
                not self.fixed_ok(r.len - path_len, SZ_FILE)):
            raise self.bad(r, "bad path length %d" % path_len)
        if build_id_len > 32:
            raise self.bad(r, "bad build-id length")
        if kind < FILE_REG or kind > FILE_FIFO:
            raise self.bad(r, "bad file kind %d" % kind)
        if flags & ~FILEF_OBJECT:
            raise self.bad(r, "unknown file flags %x" % flags)
        if fid != len(self.files) + 1:
            raise self.bad(r, "file id %d out of sequence" % fid)
        path = p[r.len - path_len:]
        if b"\0" in path:
            raise self.bad(r, "NUL inside a path")
        self.files.append({"id": fid, "kind": kind, "flags": flags,
                           "path": path.decode("utf-8", "replace")})

    def take_vma(self, r, p):
        if r.len < SZ_VMA:
            raise self.bad(r, "too short")
        if len(self.vmas) >= MAX_VMAS:
            raise self.bad(r, "too many mappings")
        (start, end, pgoff, kind, prot, flags, file_id, obj_size, npages_stored,
         nruns, nguards, name_len, sysv_id) = struct.unpack_from("<QQQIIIIQQIIIi", p, 0)
        # The tail (runs, guards, name) ends the payload.
        tail = nruns * SZ_RUN + nguards * SZ_RANGE + name_len
        if (nruns > r.len or nguards > r.len or name_len > MAX_PATH or
                tail > r.len or not self.fixed_ok(r.len - tail, SZ_VMA)):
            raise self.bad(r, "lengths do not add up")
        if start >= end or start % PAGE or end % PAGE or end > (1 << 56):
            raise self.bad(r, "bad range %x-%x" % (start, end))
        if kind < VMA_ANON or kind > VMA_SYSV_SHM:
            raise self.bad(r, "bad kind %d" % kind)
        if kind != VMA_SYSV_SHM and sysv_id != 0:
            raise self.bad(r, "%s mapping names System V segment %d"
                           % (vma_kind_name(kind), sysv_id))
        if kind == VMA_SYSV_SHM and (sysv_id < 0 or not flags & VMAF_SHARED):
            raise self.bad(r, "bad System V shared memory mapping (segment %d)" % sysv_id)
        if prot & ~7:
            raise self.bad(r, "bad protection %x" % prot)
        if file_id > len(self.files):
            raise self.bad(r, "refers to unknown file %d" % file_id)
        if kind in (VMA_FILE_PRIVATE, VMA_FILE_SHARED, VMA_MEMFD, VMA_DELETED) and not file_id:
            raise self.bad(r, "file mapping without a file")
        if file_id and kind in (VMA_ANON, VMA_HEAP, VMA_STACK, VMA_VDSO, VMA_VVAR,
                                VMA_VVAR_VCLOCK, VMA_SYSV_SHM):
            raise self.bad(r, "%s mapping with a file" % vma_kind_name(kind))
        if file_id:
            f = self.files[file_id - 1]
            is_object = bool(f["flags"] & FILEF_OBJECT)
            wants = kind in (VMA_MEMFD, VMA_DELETED, VMA_SHM_ANON)
            if is_object != wants or f["kind"] != FILE_REG:
                raise self.bad(r, "mapping of the wrong kind of file")
        if nruns and (kind in VMA_SPECIAL or kind in (VMA_FILE_SHARED, VMA_SYSV_SHM)):
            raise self.bad(r, "page data for a %s mapping" % vma_kind_name(kind))
        if pgoff % PAGE:
            raise self.bad(r, "unaligned file offset")
        if self.vmas and self.vmas[-1]["end"] > start:
            raise self.bad(r, "mappings overlap or are out of order")
        q = r.len - tail
        runs = [struct.unpack_from("<QQQII", p, q + i * SZ_RUN) for i in range(nruns)]
        q += nruns * SZ_RUN
        guards = [struct.unpack_from("<QQ", p, q + i * SZ_RANGE) for i in range(nguards)]
        q += nguards * SZ_RANGE
        name = p[q:q + name_len]
        stored, prev_end = 0, start
        for i, (addr, npages, data_off, src, _rflags) in enumerate(runs):
            if src != 0:
                raise self.bad(r, "run refers to another image (incremental images are not supported yet)")
            if (addr % PAGE or addr < prev_end or addr >= end or not npages or
                    npages > (end - addr) // PAGE):
                raise self.bad(r, "page run %d outside its mapping" % i)
            if data_off != self.data_next:
                raise self.bad(r, "page run %d has data offset %d, expected %d"
                               % (i, data_off, self.data_next))
            prev_end = addr + npages * PAGE
            self.data_next += npages * PAGE
            stored += npages
        if stored != npages_stored:
            raise self.bad(r, "stored page count does not match its runs")
        for i, (gs, ge) in enumerate(guards):
            if gs >= ge or gs < start or ge > end or gs % PAGE or ge % PAGE:
                raise self.bad(r, "guard range %d outside its mapping" % i)
        # Accepted by the reference reader, but not what a writer does.
        if b"\0" in name:
            self.warn("VMA record at byte %d: NUL inside the name" % r.off)
        self.vmas.append({"start": start, "end": end, "kind": kind, "prot": prot,
                          "flags": flags, "nruns": nruns, "nguards": nguards,
                          "pgoff": pgoff, "sysv_id": sysv_id,
                          "stored": stored,
                          "name": name.split(b"\0", 1)[0].decode("utf-8", "replace")})

    def take_obj(self, r, p):
        if r.len < SZ_OBJ:
            raise self.bad(r, "too short")
        (oid, kind, ino, file_id, state_len, data_len) = struct.unpack_from("<IIQIIQ", p, 0)
        if len(self.objs) >= MAX_FDS:
            raise self.bad(r, "too many objects")
        if oid != len(self.objs) + 1:
            raise self.bad(r, "object id %d out of sequence" % oid)
        if kind not in OBJ_KINDS:
            raise self.bad(r, "object %d has unknown kind %d" % (oid, kind))
        name, known = OBJ_KINDS[kind]
        if (state_len > MAX_FIXED or data_len > MAX_OBJ_DATA or
                r.len - SZ_OBJ < state_len or r.len - SZ_OBJ - state_len != data_len or
                not self.fixed_ok(SZ_OBJ + state_len, SZ_OBJ + known)):
            raise self.bad(r, "object %d: wrong length" % oid)
        state = p[SZ_OBJ:SZ_OBJ + state_len].ljust(known, b"\0")
        obj = {"id": oid, "kind": kind, "ino": ino, "file_id": file_id,
               "data_len": data_len, "state": state}
        self.objs.append(obj)
        ghost = kind in (OBJ_UNLINKED, OBJ_MEMFD)
        if file_id and kind != OBJ_PIPE and not ghost:
            raise self.bad(r, "object %d: a %s has no path" % (oid, name))
        if ghost and (not file_id or file_id > len(self.files) or
                      self.files[file_id - 1]["kind"] != FILE_REG or
                      not self.files[file_id - 1]["flags"] & FILEF_OBJECT):
            raise self.bad(r, "object %d: %s without a FILE record with the OBJECT flag"
                           % (oid, name))
        if not ghost and (file_id > len(self.files) or
                          (file_id and self.files[file_id - 1]["kind"] != FILE_FIFO)):
            raise self.bad(r, "object %d refers to a file that is not a FIFO" % oid)
        if ghost:
            self.ghost_runs(r, obj, p[SZ_OBJ + state_len:])
        elif kind == OBJ_PIPE:
            (cap,) = struct.unpack_from("<I", state, 0)
            if cap < PAGE or cap > 1 << 31 or cap & (cap - 1):
                raise self.bad(r, "object %d: pipe size %d" % (oid, cap))
            if data_len > cap:
                raise self.bad(r, "object %d: %d bytes queued in a pipe of %d"
                               % (oid, data_len, cap))
            obj["capacity"] = cap
        elif kind == OBJ_EVENTFD:
            (count, sem) = struct.unpack_from("<QI", state, 0)
            if count == (1 << 64) - 1 or sem > 1 or data_len:
                raise self.bad(r, "object %d: bad eventfd state" % oid)
            obj["count"], obj["semaphore"] = count, sem
        elif kind in (OBJ_PTY, OBJ_TTY):
            t = struct.unpack_from(TERMIOS, state, 0)
            obj["iflag"], obj["oflag"], obj["lflag"] = t[0], t[1], t[3]
            obj["cols"], obj["rows"] = t[9], t[8]
            if kind == OBJ_PTY:
                (obj["index"], fl) = struct.unpack_from("<II", state, 52)
                if fl & ~(PTYF_LOCKED | PTYF_PACKET | PTYF_EXCL) or data_len:
                    raise self.bad(r, "object %d: bad pty state" % oid)
            else:
                (obj["major"], obj["minor"], fl) = struct.unpack_from("<III", state, 52)
                job = fl & (TTYF_FOREGROUND | TTYF_BACKGROUND)
                if (fl & ~(TTYF_CTTY | job) or job == TTYF_FOREGROUND | TTYF_BACKGROUND or
                        (job and not fl & TTYF_CTTY) or data_len):
                    raise self.bad(r, "object %d: bad terminal state" % oid)
            obj["flags"] = fl
        elif kind == OBJ_PTS:
            (master,) = struct.unpack_from("<I", state, 0)
            if data_len:
                raise self.bad(r, "object %d: bad pts state" % oid)
            if not master or master >= oid or self.objs[master - 1]["kind"] != OBJ_PTY:
                raise self.bad(r, "object %d: the slave of object %d, which is not a pty"
                               % (oid, master))
            if any(o["kind"] == OBJ_PTS and o["master"] == master for o in self.objs[:-1]):
                raise self.bad(r, "object %d: a second slave of pty object %d" % (oid, master))
            obj["master"] = master
        elif kind == OBJ_UNIX:
            self.take_unix(r, obj, state, p[SZ_OBJ + state_len:SZ_OBJ + state_len + data_len])
        elif kind == OBJ_INET:
            self.take_inet(r, obj, state, data_len)

        else:
            data = p[SZ_OBJ + state_len:SZ_OBJ + state_len + data_len]
            why = evl_check(kind, state, data, obj)
            if why:
                raise self.bad(r, "object %d: %s" % (oid, why))

    def ghost_runs(self, r, obj, data):
        """An unlinked file's or memfd's runs: file offsets in order,
        inside the file rounded up to a page, data next in the page data."""
        oid = obj["id"]
        size, mode, seals = struct.unpack_from("<QII", obj["state"], 0)
        obj["size"], obj["mode"], obj["seals"] = size, mode, seals
        if (size > 1 << 62 or mode & ~0o7777 or seals & ~SEALS_KNOWN or
                (obj["kind"] == OBJ_UNLINKED and seals) or len(data) % SZ_RUN):
            raise self.bad(r, "object %d: bad file state" % oid)
        limit = (size + PAGE - 1) // PAGE * PAGE
        prev_end = stored = 0
        for i in range(len(data) // SZ_RUN):
            addr, npages, data_off, src, _fl = struct.unpack_from("<QQQII", data, i * SZ_RUN)
            if src != 0:
                raise self.bad(r, "run refers to another image (incremental images are not supported yet)")
            if (addr % PAGE or addr < prev_end or addr >= limit or not npages or
                    npages > (limit - addr) // PAGE):
                raise self.bad(r, "object %d: run %d outside the file" % (oid, i))
            if data_off != self.data_next:
                raise self.bad(r, "object %d: run %d has data offset %d, expected %d"
                               % (oid, i, data_off, self.data_next))
            prev_end = addr + npages * PAGE
            self.data_next += npages * PAGE
            stored += npages * PAGE
        obj["stored"] = stored
    @staticmethod
    def unix_name_ok(name):
        if len(name) > UNIX_NAME_MAX:
            return False
        if not name or name[0] == 0:
            return len(name) != 1
        return 0 not in name

    def take_unix(self, r, obj, state, data):
        (typ, st, peer, flags, shut, backlog, nmsgs, dropped, name_len, peer_name_len,
         mode, _) = struct.unpack_from("<12I", state, 0)
        oid = obj["id"]
        name = state[48:48 + min(name_len, UNIX_NAME_MAX)]
        peer_name = state[156:156 + min(peer_name_len, UNIX_NAME_MAX)]
        obj.update(type=typ, state=st, peer=peer, flags=flags, shutdown=shut, backlog=backlog,
                   nmsgs=nmsgs, dropped=dropped, name=bytes(name), peer_name=bytes(peer_name))
        stream = typ != SOCK_DGRAM
        ok = (typ in (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET) and
              SOCK_UNCONNECTED <= st <= SOCK_CONNECTED and
              not flags & ~(SOCKF_CUT | SOCKF_UNLINKED) and shut <= 3 and mode <= 0o7777 and
              name_len <= UNIX_NAME_MAX and peer_name_len <= UNIX_NAME_MAX and
              self.unix_name_ok(name) and self.unix_name_ok(peer_name))
        if ok and ((backlog and st != SOCK_LISTEN) or
                   (dropped and (st != SOCK_LISTEN or not flags & SOCKF_CUT)) or
                   (flags & SOCKF_CUT and st != SOCK_CLOSED and
                    not (st == SOCK_LISTEN and dropped)) or
                   (flags & SOCKF_UNLINKED and (not name_len or name[0] == 0)) or
                   ((not peer_name_len) != (st != SOCK_CONNECTED)) or
                   (st == SOCK_CONNECTED and stream) or
                   (st == SOCK_PAIR and name_len) or
                   (st == SOCK_CLOSED and stream and name_len) or
                   (st in (SOCK_LISTEN, SOCK_PENDING) and not stream) or
                   (st == SOCK_LISTEN and not name_len) or
                   (bool(peer) != (st in (SOCK_PAIR, SOCK_PENDING))) or peer == oid):
            ok = False
        if not ok:
            raise self.bad(r, "object %d: bad unix socket state" % oid)
        if st in (SOCK_LISTEN, SOCK_PENDING):
            ok = not data and not nmsgs
        elif typ == SOCK_STREAM:
            ok = not nmsgs
        else:
            off, ok = 0, True
            for _ in range(nmsgs):
                if len(data) - off < 8:
                    ok = False
                    break
                ln, alen = struct.unpack_from("<II", data, off)
                off += 8
                if (alen > UNIX_NAME_MAX or (alen and typ == SOCK_SEQPACKET) or
                        len(data) - off < alen + ln):
                    ok = False
                    break
                off += alen + ln
            ok = ok and off == len(data)
        if not ok:
            raise self.bad(r, "object %d: its queued messages do not add up" % oid)
        if st == SOCK_PAIR and peer < oid:
            o = self.objs[peer - 1]
            if (o["kind"] != OBJ_UNIX or o["type"] != typ or o["state"] != SOCK_PAIR or
                    o["peer"] != oid):
                raise self.bad(r, "object %d: its peer %d does not name it back" % (oid, peer))
        if st == SOCK_PENDING:
            o = self.objs[peer - 1] if peer < oid else None
            if (not o or o["kind"] != OBJ_UNIX or o["state"] != SOCK_LISTEN or
                    o["type"] != typ):
                raise self.bad(r, "object %d: its listener %d is not a listening unix socket "
                               "of its type" % (oid, peer))

    def take_inet(self, r, obj, state, data_len):
        (fam, typ, st, flags, shut, backlog, dropped, _) = struct.unpack_from("<8I", state, 0)
        local, peer = bytes(state[32:60]), bytes(state[60:88])
        lfam, pfam = struct.unpack_from("<H", local)[0], struct.unpack_from("<H", peer)[0]
        obj.update(family=fam, type=typ, state=st, flags=flags, shutdown=shut,
                   backlog=backlog, dropped=dropped, local=local, peer_addr=peer)
        tcp = typ == SOCK_STREAM
        ok = (fam in (AF_INET, AF_INET6) and typ in (SOCK_STREAM, SOCK_DGRAM) and
              not flags & ~SOCKF_ALL and not flags & SOCKF_UNLINKED and shut <= 3 and
              lfam == fam)
        if ok:
            ok = st in ((SOCK_UNCONNECTED, SOCK_LISTEN, SOCK_CLOSED) if tcp
                        else (SOCK_UNCONNECTED, SOCK_CONNECTED))
        if ok:
            if st == SOCK_CONNECTED:
                ok = pfam == fam
            elif st == SOCK_CLOSED:
                ok = pfam in (0, fam)
            else:
                ok = pfam == 0
        if ok and ((st == SOCK_LISTEN and not (local[2] | local[3])) or
                   (st == SOCK_CONNECTED and not (peer[2] | peer[3])) or
                   (backlog and st != SOCK_LISTEN) or
                   (dropped and (st != SOCK_LISTEN or not flags & SOCKF_CUT)) or
                   (flags & SOCKF_CUT and st != SOCK_CLOSED and
                    not (st == SOCK_LISTEN and dropped)) or
                   (flags & SOCKF_RESET and st != SOCK_CLOSED) or
                   (flags & SOCKF_DROPPED and tcp) or
                   (data_len and st != SOCK_CLOSED)):
            ok = False
        if not ok:
            raise self.bad(r, "object %d: bad inet socket state" % obj["id"])

    def obj_fd_ok(self, f_open_flags, obj):
        acc = f_open_flags & O_ACCMODE
        if obj["kind"] == OBJ_PIPE:
            return acc != 3 and not f_open_flags & (O_PATH | O_DIRECT)
        if obj["kind"] in (OBJ_EVENTFD, OBJ_TIMERFD, OBJ_SIGNALFD, OBJ_EPOLL):
            return acc == 2
        if obj["kind"] == OBJ_INOTIFY:
            return acc == 0
        if obj["kind"] in (OBJ_PTY, OBJ_PTS, OBJ_UNLINKED, OBJ_MEMFD):
            return acc != 3 and not f_open_flags & O_PATH
        if obj["kind"] == OBJ_UNIX:
            # The second end of a pair must have come by now, naming it.
            if obj["state"] == SOCK_PAIR and obj["peer"] > obj["id"]:
                if (obj["peer"] > len(self.objs) or self.objs[obj["peer"] - 1]["kind"] != OBJ_UNIX
                        or self.objs[obj["peer"] - 1]["peer"] != obj["id"]):
                    return False
            return acc == 2 and not f_open_flags & O_PATH
        if obj["kind"] == OBJ_INET:
            return acc == 2 and not f_open_flags & O_PATH
        return False                    # a terminal object only stdio names

    def take_lock(self, r, p):
        self.check_len(r, SZ_LOCK)
        if len(self.locks) >= MAX_FDS:
            raise self.bad(r, "too many locks")
        fd, kind, ltype, _pad, start, end = struct.unpack_from("<iIIIQQ", p, 0)
        f = None
        for x in self.fds:
            if x["fd"] == fd:
                f = x
        if f is None:
            raise self.bad(r, "a lock on fd %d, which has no FD record before it" % fd)
        ok = f["kind"] in (FD_FILE, FD_DIR)
        if f["kind"] == FD_OBJ:
            ok = self.objs[f["obj_id"] - 1]["kind"] in (OBJ_UNLINKED, OBJ_MEMFD)
        if not ok or f["share_with"]:
            raise self.bad(r, "a lock on fd %d, which cannot hold one" % fd)
        if (kind < LOCK_POSIX or kind > LOCK_OFD or ltype < LOCK_READ or ltype > LOCK_WRITE or
                start > end or start > INT64_MAX or (end != LOCK_EOF and end > INT64_MAX) or
                (kind == LOCK_FLOCK and (start or end != LOCK_EOF))):
            raise self.bad(r, "bad lock on fd %d" % fd)
        self.locks.append({"fd": fd, "kind": kind, "type": ltype, "start": start, "end": end})

    def take_fd(self, r, p):
        self.check_len(r, SZ_FD)
        if len(self.fds) >= MAX_FDS:
            raise self.bad(r, "too many fds")
        (fd, kind, open_flags, fd_flags, pos, file_id, share_with, stdio_kind,
         obj_id, size_at_ckpt) = struct.unpack_from("<iIIIqIIIIQ", p, 0)
        if fd < 0 or (self.fds and self.fds[-1]["fd"] >= fd):
            raise self.bad(r, "fd %d out of order" % fd)
        if fd >= MAX_FDS:
            raise self.bad(r, "fd %d out of range (0-%d)" % (fd, MAX_FDS - 1))
        if kind < FD_FILE or kind > FD_OBJ:
            raise self.bad(r, "fd %d has bad kind %d" % (fd, kind))
        if kind == FD_STDIO and fd > 2:
            raise self.bad(r, "fd %d cannot be stdio" % fd)
        if kind == FD_OBJ:
            if file_id:
                raise self.bad(r, "fd %d is an object but refers to a file" % fd)
            if obj_id == 0 or obj_id > len(self.objs):
                raise self.bad(r, "fd %d refers to unknown object %d" % (fd, obj_id))
            o = self.objs[obj_id - 1]
            if not self.obj_fd_ok(open_flags, o):
                raise self.bad(r, "fd %d cannot be an end of %s object %d"
                               % (fd, OBJ_KINDS[o["kind"]][0], obj_id))
        elif obj_id and kind == FD_STDIO:
            # The settings of the terminal it was (kind terminal).
            if obj_id > len(self.objs):
                raise self.bad(r, "fd %d refers to unknown object %d" % (fd, obj_id))
            o = self.objs[obj_id - 1]
            if o["kind"] != OBJ_TTY:
                raise self.bad(r, "fd %d is stdio but refers to %s object %d"
                               % (fd, OBJ_KINDS[o["kind"]][0], obj_id))
        elif obj_id:
            raise self.bad(r, "fd %d refers to an object but is not one" % fd)
        if kind not in (FD_STDIO, FD_OBJ) and (file_id == 0 or file_id > len(self.files)):
            raise self.bad(r, "fd %d refers to unknown file %d" % (fd, file_id))
        if kind == FD_STDIO and file_id:
            raise self.bad(r, "fd %d is stdio but refers to a file" % fd)
        if kind not in (FD_STDIO, FD_OBJ):
            # A file of the descriptor's own kind, reachable by its path.
            f = self.files[file_id - 1]
            want = {FD_FILE: FILE_REG, FD_DIR: FILE_DIR, FD_DEV: FILE_CHR}[kind]
            if f["kind"] != want or f["flags"] & FILEF_OBJECT:
                raise self.bad(r, "fd %d refers to a file of another kind" % fd)
        if share_with:
            other = share_with - 1
            if not any(f["fd"] == other and f["kind"] == kind and f["obj_id"] == obj_id
                       for f in self.fds):
                raise self.bad(r, "fd %d shares with unknown fd %d" % (fd, other))
        self.fds.append({"fd": fd, "kind": kind, "file_id": file_id,
                         "open_flags": open_flags, "fd_flags": fd_flags, "pos": pos,
                         "share_with": share_with, "stdio_kind": stdio_kind,
                         "obj_id": obj_id})

    def take_flight(self, r, raw, k, first):
        """Descriptor k (1...) of an SCM record: an FD record with no number."""
        (flight, pad, fd, kind, open_flags, fd_flags, pos, file_id, share_with, stdio_kind,
         obj_id, _size) = struct.unpack("<IIiIIIqIIIIQ", raw)
        if not flight or flight > self.nflight + 1:
            raise self.bad(r, "descriptor %d: flight number %d out of sequence" % (k, flight))
        if first is not None:
            if first != raw:
                raise self.bad(r, "descriptor %d: flight %d differs from its first description"
                               % (k, flight))
            return
        if fd != -1 or fd_flags or stdio_kind or pad:
            raise self.bad(r, "descriptor %d in flight has a number or flags" % k)
        if kind < FD_FILE or kind > FD_OBJ or kind == FD_STDIO:
            raise self.bad(r, "descriptor %d in flight has bad kind %d" % (k, kind))
        if kind == FD_OBJ:
            if file_id:
                raise self.bad(r, "descriptor %d in flight is an object but refers to a file" % k)
            if obj_id == 0 or obj_id > len(self.objs):
                raise self.bad(r, "descriptor %d in flight refers to unknown object %d"
                               % (k, obj_id))
            o = self.objs[obj_id - 1]
            if not self.obj_fd_ok(open_flags, o):
                raise self.bad(r, "descriptor %d in flight cannot be an end of %s object %d"
                               % (k, OBJ_KINDS[o["kind"]][0], obj_id))
        else:
            if obj_id:
                raise self.bad(r, "descriptor %d in flight refers to an object but is not one" % k)
            if file_id == 0 or file_id > len(self.files):
                raise self.bad(r, "descriptor %d in flight refers to unknown file %d"
                               % (k, file_id))
            f = self.files[file_id - 1]
            want = {FD_FILE: FILE_REG, FD_DIR: FILE_DIR, FD_DEV: FILE_CHR}[kind]
            if f["kind"] != want or f["flags"] & FILEF_OBJECT:
                raise self.bad(r, "descriptor %d in flight refers to a file of another kind" % k)
        if share_with:
            other = share_with - 1
            if not any(f["fd"] == other and f["kind"] == kind and f["obj_id"] == obj_id and
                       f["file_id"] == file_id for f in self.fds):
                raise self.bad(r, "descriptor %d in flight shares with unknown fd %d"
                               % (k, other))
        self.nflight += 1
        return {"flight": flight, "kind": kind, "open_flags": open_flags, "pos": pos,
                "file_id": file_id, "share_with": share_with, "obj_id": obj_id}

    def take_scm(self, r, p):
        """SCM: a message of a unix object's queue that carries descriptors."""
        if r.len < SZ_SCM:
            raise self.bad(r, "too short")
        oid, nfds, at, ln = struct.unpack_from("<IIQQ", p, 0)
        if not nfds or nfds > SCM_MAX_FDS:
            raise self.bad(r, "%d descriptors in one message" % nfds)
        if r.len != SZ_SCM + nfds * SZ_SCM_FD:
            raise self.bad(r, "wrong length")
        if len(self.scms) >= MAX_FDS:
            raise self.bad(r, "too many")
        if oid == 0 or oid > len(self.objs) or self.objs[oid - 1]["kind"] != OBJ_UNIX:
            raise self.bad(r, "object %d is not a unix socket" % oid)
        o = self.objs[oid - 1]
        if o["state"] in (SOCK_LISTEN, SOCK_PENDING):
            raise self.bad(r, "object %d has no queue" % oid)
        if o["type"] == SOCK_STREAM and (not ln or at > o["data_len"] or ln > o["data_len"] - at):
            raise self.bad(r, "object %d: bytes %d+%d outside the %d queued"
                           % (oid, at, ln, o["data_len"]))
        if o["type"] != SOCK_STREAM and (ln or at >= o["nmsgs"]):
            raise self.bad(r, "object %d: message %d of %d" % (oid, at, o["nmsgs"]))
        if self.scms:
            prev = self.scms[-1]
            if prev["obj"] > oid or (prev["obj"] == oid and
                                     at < prev["at"] + prev["len"] + (o["type"] != SOCK_STREAM)):
                raise self.bad(r, "object %d: out of queue order" % oid)
        firsts = {}
        for m in self.scms:
            for raw in m["raw"]:
                firsts.setdefault(struct.unpack_from("<I", raw)[0], raw)
        raws, fds = [], []
        for k in range(nfds):
            raw = bytes(p[SZ_SCM + k * SZ_SCM_FD:SZ_SCM + (k + 1) * SZ_SCM_FD])
            no = struct.unpack_from("<I", raw)[0]
            first = firsts.get(no) if no and no <= self.nflight else None
            d = self.take_flight(r, raw, k + 1, first)
            firsts.setdefault(no, raw)
            raws.append(raw)
            fds.append(d if d is not None else {"flight": no})
        self.scms.append({"obj": oid, "nfds": nfds, "at": at, "len": ln, "raw": raws,
                          "fds": fds})

    def take_thread(self, r, p):
        if r.len < SZ_THREAD:
            raise self.bad(r, "too short")
        if len(self.threads) >= self.hdr["nthreads"]:
            raise self.bad(r, "more threads than the header says")
        (tid, flags) = struct.unpack_from("<iI", p, 0)
        (rseq_len, rseq_addr) = struct.unpack_from("<IQ", p, 204)
        (xfeatures, xsave_size) = struct.unpack_from("<QI", p, 248)
        (nice, policy, priority, ioprio, keepcaps, mce_kill,
         ncpus) = struct.unpack_from("<iIIIiiI", p, 260)
        (tid_field,) = struct.unpack_from("<Q", p, 416)
        comm = p[424:440]
        # The XSAVE area is the tail: it ends the payload.
        if (xsave_size > MAX_XSAVE or xsave_size > r.len or
                not self.fixed_ok(r.len - xsave_size, SZ_THREAD)):
            raise self.bad(r, "bad xsave size %d" % xsave_size)
        if xsave_size < XSAVE_MIN:
            raise self.bad(r, "xsave area too small")
        if rseq_len and (rseq_len < 32 or rseq_addr % 32):
            raise self.bad(r, "bad rseq registration")
        if ncpus > MAX_CPUS:
            raise self.bad(r, "bad CPU count %d" % ncpus)
        if b"\0" not in comm:
            raise self.bad(r, "thread name not terminated")
        self.threads.append({"tid": tid, "flags": flags, "xsave_size": xsave_size,
                             "nice": nice, "policy": policy, "ncpus": ncpus,
                             "tid_field": tid_field, "comm": cstr(comm)})

    def threads_ok(self):
        """One MAIN thread, whose tid is HEADER.pid, one CALLER, every tid
        positive and distinct, no unknown thread flag (section 11.2)."""
        tids = [t["tid"] for t in self.threads]
        mains = sum(1 for t in self.threads if t["flags"] & THRF_MAIN)
        callers = sum(1 for t in self.threads if t["flags"] & THRF_CALLER)
        for t in self.threads:
            if t["tid"] <= 0 or t["flags"] & ~(THRF_MAIN | THRF_CALLER):
                return False
            if t["flags"] & THRF_MAIN and t["tid"] != self.hdr["pid"]:
                return False
        return mains == 1 and callers == 1 and len(set(tids)) == len(tids)

    # -- timers, pending signals, clocks (sections 6.17-6.19) --

    def take_timer(self, r, p):
        self.check_len(r, SZ_POSIX_TIMER)
        if len(self.timers) >= MAX_TIMERS:
            raise self.bad(r, "too many timers")
        (ident, clock, notify, signo, tid, overrun, value, isec, insec, vsec,
         vnsec) = struct.unpack_from("<iiiiiiQqqqq", p, 0)
        if ident < 0 or (self.timers and self.timers[-1]["id"] >= ident):
            raise self.bad(r, "timer %d out of order" % ident)
        if not (clock in TIMER_CLOCKS if clock >= 0 else (clock & 3) != 3):
            raise self.bad(r, "timer %d has bad clock %d" % (ident, clock))
        if notify not in SIGEV_NAMES:
            raise self.bad(r, "timer %d has bad notification %d" % (ident, notify))
        if signo < 0 or signo > 64 or (notify != SIGEV_NONE and signo == 0):
            raise self.bad(r, "timer %d has bad signal %d" % (ident, signo))
        if tid < 0 or (notify == SIGEV_THREAD_ID) != (tid != 0):
            raise self.bad(r, "timer %d has bad target thread %d" % (ident, tid))
        for sec, nsec in ((isec, insec), (vsec, vnsec)):
            if sec < 0 or nsec < 0 or nsec >= NSEC_PER_SEC:
                raise self.bad(r, "timer %d has bad times" % ident)
        self.timers.append({"id": ident, "clock": clock, "notify": notify, "signal": signo,
                            "tid": tid, "value": value, "interval_sec": isec,
                            "interval_nsec": insec, "left_sec": vsec, "left_nsec": vnsec,
                            "overrun": overrun})

    def take_siginfo(self, r, p):
        self.check_len(r, SZ_SIGINFO)
        if len(self.sigs) >= MAX_SIGINFO:
            raise self.bad(r, "too many pending signals")
        tid, signo = struct.unpack_from("<iI", p, 0)
        info = p[8:136]
        if signo < 1 or signo > 64 or signo in (9, 19):
            raise self.bad(r, "bad signal %d" % signo)
        (si_signo,) = struct.unpack_from("<i", info, 0)
        if si_signo != signo:
            raise self.bad(r, "siginfo of signal %d names signal %d" % (signo, si_signo))
        self.sigs.append({"tid": tid, "signal": signo, "info": info})

    def take_clocks(self, r, p):
        if self.clocks is not None:
            raise self.bad(r, "twice")
        self.clocks = {}
        self.check_len(r, SZ_CLOCKS)
        ms, mn, bs, bn = struct.unpack_from("<qqqq", p, 0)
        for sec, nsec in ((ms, mn), (bs, bn)):
            if sec < 0 or nsec < 0 or nsec >= NSEC_PER_SEC:
                raise self.bad(r, "bad time")
        self.clocks = {"monotonic_sec": ms, "monotonic_nsec": mn,
                       "boottime_sec": bs, "boottime_nsec": bn}

    @staticmethod
    def sysv_msgs(data, count):
        """The messages of a queue, or None if they do not fill data exactly."""
        at, msgs = 0, []
        for _ in range(count):
            if len(data) - at < SZ_SYSV_MSG:
                return None
            mtype, mlen = struct.unpack_from("<qQ", data, at)
            at += SZ_SYSV_MSG
            if mtype <= 0 or mlen > len(data) - at:
                return None
            msgs.append((mtype, mlen))
            at += mlen + pad8(mlen)
            if at > len(data):
                return None
        return msgs if at == len(data) else None

    def take_sysv(self, r, p):
        if r.len < SZ_SYSV:
            raise self.bad(r, "too short")
        if len(self.sysv) >= MAX_SYSV:
            raise self.bad(r, "too many System V objects")
        (kind, ident, key, mode, uid, gid, cuid, cgid, size, count, flags,
         data_len) = struct.unpack_from("<IiiIIIIIQIIQ", p, 0)
        name = SYSV_KINDS.get(kind, "?")
        if (data_len > MAX_SYSV_DATA or data_len > r.len or
                not self.fixed_ok(r.len - data_len, SZ_SYSV)):
            raise self.bad(r, "lengths do not add up")
        if kind not in SYSV_KINDS:
            raise self.bad(r, "bad kind %d" % kind)
        if ident < 0:
            raise self.bad(r, "bad id %d" % ident)
        if self.sysv:
            b = self.sysv[-1]
            if b["kind"] > kind or (b["kind"] == kind and b["id"] >= ident):
                raise self.bad(r, "%s %d out of order" % (name, ident))
        if mode & ~0o777:
            raise self.bad(r, "%s %d has bad mode %o" % (name, ident, mode))
        if flags & ~SYSVF_REMOVED or (flags & SYSVF_REMOVED and (kind != SYSV_SHM or key != 0)):
            raise self.bad(r, "%s %d has bad flags %x" % (name, ident, flags))
        if kind != SYSV_MSG and count:
            raise self.bad(r, "%s %d has messages" % (name, ident))
        data = p[r.len - data_len:]
        if kind == SYSV_SHM and (size == 0 or data_len != size):
            raise self.bad(r, "shm %d: size %d, %d bytes of data" % (ident, size, data_len))
        if kind == SYSV_SEM and (size == 0 or data_len != 2 * size):
            raise self.bad(r, "sem %d: %d semaphores, %d bytes of values"
                           % (ident, size, data_len))
        o = {"kind": kind, "id": ident, "key": key, "mode": mode, "uid": uid, "gid": gid,
             "cuid": cuid, "cgid": cgid, "size": size, "count": count, "flags": flags,
             "data_len": data_len}
        if kind == SYSV_MSG:
            msgs = self.sysv_msgs(data, count)
            if msgs is None:
                raise self.bad(r, "msg %d: the messages do not fill the data" % ident)
            o["messages"] = msgs
        if kind == SYSV_SEM:
            o["values"] = list(struct.unpack_from("<%dH" % size, data, 0))
        self.sysv.append(o)

    def sysv_maps_ok(self, r):
        """At END_META: each SYSV_SHM mapping lies inside its segment."""
        segs = {o["id"]: o for o in self.sysv if o["kind"] == SYSV_SHM}
        for i, m in enumerate(self.vmas):
            if m["kind"] != VMA_SYSV_SHM:
                continue
            seg = segs.get(m["sysv_id"])
            if seg is None:
                raise self.bad(r, "mapping %x names unknown System V segment %d"
                               % (m["start"], m["sysv_id"]))
            if m["pgoff"] + m["end"] - m["start"] > (seg["size"] + PAGE - 1) // PAGE * PAGE:
                raise self.bad(r, "mapping %x runs past the end of System V segment %d"
                               % (m["start"], m["sysv_id"]))
            b = self.vmas[i - 1] if i else None
            if m["pgoff"] and (b is None or b["kind"] != VMA_SYSV_SHM or
                               b["sysv_id"] != m["sysv_id"] or b["end"] != m["start"] or
                               b["pgoff"] + m["start"] - b["start"] != m["pgoff"]):
                raise self.bad(r, "mapping %x is part of an attachment of System V segment "
                               "%d whose start is missing" % (m["start"], m["sysv_id"]))

    def timers_signals_ok(self, r):
        """At END_META: the threads and processes timers and signals name."""
        tids = {t["tid"] for t in self.threads}
        for t in self.timers:
            clock, who = t["clock"], ~(t["clock"] >> 3)
            # CLOCK_THREAD_CPUTIME_ID, or the thread clock of thread 0 (glibc's).
            creator = clock == 3 or (clock < 0 and clock & 4 and who == 0)
            if t["notify"] == SIGEV_THREAD_ID and t["tid"] not in tids:
                raise self.bad(r, "timer %d signals unknown thread %d" % (t["id"], t["tid"]))
            if creator and len(self.threads) > 1:
                raise self.bad(r, "timer %d measures the CPU time of the thread that created "
                               "it, in a process of several threads" % t["id"])
            if not creator and clock < 0 and clock & 4 and who not in tids:
                raise self.bad(r, "timer %d measures the CPU time of unknown thread %d"
                               % (t["id"], who))
            if clock < 0 and not clock & 4 and who not in (0, self.hdr["pid"]):
                raise self.bad(r, "timer %d measures the CPU time of another process (%d)"
                               % (t["id"], who))
        for s in self.sigs:
            if s["tid"] != 0 and s["tid"] not in tids:
                raise self.bad(r, "signal %d pending for unknown thread %d"
                               % (s["signal"], s["tid"]))

    def take_end(self, r, p):
        self.check_len(r, SZ_END_META)
        (data_len, nfiles, nvmas, nfds, nthreads, nruns,
         meta_records) = struct.unpack_from("<QIIIIQQ", p, 0)
        if (nfiles != len(self.files) or nvmas != len(self.vmas) or
                nfds != len(self.fds) or nthreads != len(self.threads) or
                meta_records != self.nrecords - 1):
            raise self.bad(r, "counts do not match the records read")
        if len(self.threads) != self.hdr["nthreads"]:
            raise self.bad(r, "header announces %d threads, image has %d"
                           % (self.hdr["nthreads"], len(self.threads)))
        if data_len != self.data_next or data_len % PAGE:
            raise self.bad(r, "page data length does not match the mappings")
        if not self.threads_ok():
            raise self.bad(r, "the threads' ids or roles are inconsistent")
        exe = self.proc["exe_file"]
        if exe > len(self.files) or (exe and self.files[exe - 1]["flags"] & FILEF_OBJECT):
            raise self.bad(r, "PROCESS names unknown executable file %d" % exe)
        if nruns != sum(v["nruns"] for v in self.vmas):
            raise self.bad(r, "run count does not match the mappings")
        # Every descriptor an epoll instance watches is one of the image's.
        fds = {f["fd"] for f in self.fds}
        for o in self.objs:
            for w in o.get("watches", []) if o["kind"] == OBJ_EPOLL else []:
                if w[0] not in fds:
                    raise self.bad(r, "object %d: epoll watches fd %d, which the image "
                                   "does not have" % (o["id"], w[0]))
        # HEADER.special[] lists exactly the vdso/vvar mappings, in order.
        mine = [(v["start"], v["end"], v["kind"]) for v in self.vmas
                if v["kind"] in VMA_SPECIAL]
        if mine != self.hdr["special"]:
            raise self.bad(r, "vdso/vvar list of the header does not match the mappings")
        # libc found the vDSO through AT_SYSINFO_EHDR: it must be the vdso's.
        vdso = 0
        for start, _end, kind in self.hdr["special"]:
            if kind == VMA_VDSO:
                vdso = start
        auxv = self.proc["auxv"]
        for i in range(0, len(auxv) - 1, 2):
            if auxv[i] == AT_SYSINFO_EHDR and auxv[i + 1] != vdso:
                raise self.bad(r, "the auxiliary vector puts the vdso at %x, the mappings at %x"
                               % (auxv[i + 1], vdso))
        self.sysv_maps_ok(r)
        self.timers_signals_ok(r)
        self.end = {"data_len": data_len, "nruns": nruns}

    def read_data(self):
        data_len = self.end["data_len"]
        nchunks = (data_len + CHUNK - 1) // CHUNK
        got = []
        done = 0
        while done < data_len:
            n = min(CHUNK, data_len - done)
            got.append(xxh64(self.read_exact(n, "the page data"), 0))
            done += n

        r = self.read_rec()
        if r.type != PAGE_HASHES:
            raise self.bad(r, "expected PAGE_HASHES")
        # Its length follows from the page data: checked before reading it.
        if r.len < 8 * nchunks or not self.fixed_ok(r.len - 8 * nchunks, SZ_PAGE_HASHES):
            raise self.bad(r, "hash list does not match the page data")
        p = self.read_payload(r)
        chunk_size, n = struct.unpack_from("<QQ", p, 0)
        if chunk_size != CHUNK or n != nchunks:
            raise self.bad(r, "hash list does not match the page data")
        want = struct.unpack_from("<%dQ" % nchunks, p, r.len - 8 * nchunks)
        for c in range(nchunks):
            if want[c] != got[c]:
                last = min((c + 1) * CHUNK, data_len) - 1
                raise ImageError(EX_DATAERR,
                                 "image is damaged: page data bytes %d-%d fail their checksum"
                                 % (c * CHUNK, last))
        self.nchunks = nchunks

        commit_at = self.off
        r = self.read_rec()
        if r.type != COMMIT:
            raise self.bad(r, "expected COMMIT")
        p = self.read_payload(r)
        self.check_len(r, SZ_COMMIT)
        magic, records, commit_off, c_data_len = struct.unpack_from("<QQQQ", p, 0)
        uuid = p[32:48]
        if (magic != COMMIT_MAGIC or records != self.nrecords - 1 or
                commit_off != commit_at or c_data_len != data_len or
                uuid != self.hdr["image_uuid"]):
            raise self.bad(r, "commit record does not match the image")
        while True:
            try:
                extra = os.read(self.fd, 1)
                break
            except InterruptedError:
                continue
            except OSError as e:
                raise ImageError(EX_NOINPUT, "read error at byte %d: %s"
                                 % (self.off, e.strerror))
        if extra:
            raise ImageError(EX_DATAERR,
                             "image is damaged: data follows the commit record at byte %d"
                             % self.off)
        self.commit = {"records": records, "commit_off": commit_off}


def rec_label(t):
    return rec_name(t) if t in REC_NAMES else "type %d" % t


def print_records(rd):
    print("  %5s %12s  %-11s %5s %12s" % ("#", "OFFSET", "TYPE", "FLAGS", "LENGTH"))
    for idx, off, t, fl, ln in rd.records:
        print("  %5d %12d  %-11s %5x %12d" % (idx, off, rec_label(t), fl, ln))


def restart_mode(h):
    """How the process that wrote the image was itself last restarted, as
    `selfckpt info` says it: (its line, its JSON value)."""
    if h["generation"] == 0:
        return "never (first run)", "never"
    if h["flags"] & HDR_RESTARTED_USERNS:
        return "ids kept (private user and PID namespaces)", "userns+pidns"
    if h["flags"] & HDR_RESTARTED_PIDNS:
        return "ids kept (private PID namespace)", "pidns"
    if h["flags"] & HDR_RESTARTED_NEW_IDS:
        return "with new process and thread ids", "new_ids"
    return "unknown", "unknown"


def new_ids_line(h):
    if h["flags"] & HDR_NO_OWNED_LOCKS:
        return "safe: searched, no held lock records a thread id"
    return "not checked (held locks that record a thread id would break)"


def thread_line(t):
    """A thread as the start of its line in `selfckpt info`."""
    return "  tid %d%s%s \"%s\"" % (t["tid"], " main" if t["flags"] & THRF_MAIN else "",
                                   " caller" if t["flags"] & THRF_CALLER else "", t["comm"])


def totals(rd):
    return {"regions": len(rd.vmas),
            "mapped_bytes": sum(v["end"] - v["start"] for v in rd.vmas),
            "stored_bytes": sum(v["stored"] for v in rd.vmas) * PAGE,
            "runs": sum(v["nruns"] for v in rd.vmas),
            "fds": len(rd.fds), "files": len(rd.files), "threads": len(rd.threads)}


def perms(v):
    return "%s%s%s%s" % ("r" if v["prot"] & 1 else "-", "w" if v["prot"] & 2 else "-",
                         "x" if v["prot"] & 4 else "-",
                         "s" if v["flags"] & VMAF_SHARED else "p")


def evl_check(kind, state, data, obj):
    """The state and data of a timerfd, signalfd, epoll or inotify object
    (section 6.15): None, or why they are refused."""
    if kind == OBJ_TIMERFD:
        (clk, flags, ticks, value, interval, deadline) = struct.unpack_from("<iIQQQQ", state, 0)
        absolute = bool(flags & TFD_ABSTIME)
        if (clk not in TFD_CLOCKS or flags & ~(TFD_ABSTIME | TFD_CANCEL_ON_SET) or
                (flags & TFD_CANCEL_ON_SET and not (absolute and clk in (0, 8))) or
                (deadline != 0) != (absolute and value != 0) or data):
            return "bad timerfd state"
        obj.update(clock=clk, flags=flags, ticks=ticks, value=value, interval=interval)
        return None
    if kind == OBJ_SIGNALFD:
        (mask,) = struct.unpack_from("<Q", state, 0)
        if mask & ((1 << 8) | (1 << 18)) or data:
            return "bad signalfd state"
        obj["mask"] = mask
        return None
    if kind == OBJ_EPOLL:
        (n,) = struct.unpack_from("<I", state, 0)
        if len(data) != 16 * n:
            return "bad epoll state"
        watches = []
        for i in range(n):
            (fd, events, udata) = struct.unpack_from("<iIQ", data, 16 * i)
            if fd < 0 or fd >= MAX_FDS or (watches and fd <= watches[-1][0]):
                return "epoll watch %d: fd %d out of order" % (i, fd)
            if events & EPOLLEXCLUSIVE and events & ~EPOLLEXCLUSIVE_OK:
                return "epoll watch of fd %d: events %x" % (fd, events)
            watches.append((fd, events, udata))
        obj["watches"] = watches
        return None
    # inotify: n watches, each a header, its path and zeros to 8 bytes
    (n,) = struct.unpack_from("<I", state, 0)
    off, last, watches = 0, 0, []
    for _ in range(n):
        if len(data) - off < 32:
            return "bad inotify state"
        (wd, mask, dev, ino, flags, plen) = struct.unpack_from("<iIQQII", data, off)
        size = (32 + plen + 7) & ~7
        if plen < 1 or plen > MAX_PATH or size > len(data) - off:
            return "bad inotify state"
        if wd <= last:
            return "inotify watch %d out of order" % wd
        path = data[off + 32:off + 32 + plen]
        if path[:1] != b"/" or b"\0" in path:
            return "inotify watch %d: bad path" % wd
        if not mask & 0xfff or mask & ~IN_KNOWN or flags & ~INW_DONT_FOLLOW:
            return "inotify watch %d: mask %x, flags %x" % (wd, mask, flags)
        watches.append((wd, mask, path))
        last = wd
        off += size
    if off != len(data):
        return "bad inotify state"
    obj["watches"] = watches
    return None


def obj_what(rd, f):
    o = rd.objs[f["obj_id"] - 1]
    if o["kind"] == OBJ_PIPE:
        if o["file_id"]:
            s = "FIFO %s" % rd.files[o["file_id"] - 1]["path"]
        else:
            s = "pipe:[%d]" % o["ino"]
        end = ("read end", "write end", "read-write", "?")[f["open_flags"] & 3]
        return "%s, %s, %d of %d bytes queued" % (s, end, o["data_len"], o["capacity"])
    if o["kind"] == OBJ_EVENTFD:
        return "eventfd, count %d%s" % (o["count"], ", semaphore" if o["semaphore"] else "")
    if o["kind"] == OBJ_TIMERFD:
        s = "timerfd (%s)" % TFD_CLOCKS.get(o["clock"], "?")
        s += ", next in %d ns" % o["value"] if o["value"] else ", disarmed"
        if o["interval"]:
            s += ", every %d ns" % o["interval"]
        return "%s%s%s, %d unread" % (s, ", absolute" if o["flags"] & TFD_ABSTIME else "",
                                      ", cancel on set" if o["flags"] & TFD_CANCEL_ON_SET
                                      else "", o["ticks"])
    if o["kind"] == OBJ_SIGNALFD:
        return "signalfd, mask 0x%x" % o["mask"]
    if o["kind"] == OBJ_EPOLL:
        return "epoll, watches %d fds" % len(o["watches"])
    if o["kind"] == OBJ_INOTIFY:
        return "inotify, %d watches" % len(o["watches"])
    if o["kind"] in (OBJ_PTY, OBJ_PTS, OBJ_TTY):
        return tty_what(rd, o)
    if o["kind"] in (OBJ_UNLINKED, OBJ_MEMFD):
        s = "%s, %d bytes, %d stored, mode %04o" % (rd.files[o["file_id"] - 1]["path"],
                                                    o["size"], o["stored"], o["mode"])
        seals = [n for i, n in enumerate(SEAL_NAMES) if o["seals"] & (1 << i)]
        return s + (", seals " + ",".join(seals) if seals else "")
    if o["kind"] == OBJ_UNIX:
        return unix_what(rd, o)
    if o["kind"] == OBJ_INET:
        return inet_what(o)
    return OBJ_KINDS[o["kind"]][0]


# (flags, bit, name) of the usual modes, in the order info lists them.
TTY_MODES = ((3, 0o2, "icanon"), (3, 0o10, "echo"), (3, 0o1, "isig"), (3, 0o100000, "iexten"),
             (0, 0o400, "icrnl"), (0, 0o2000, "ixon"), (1, 0o1, "opost"))


def tty_what(rd, o):
    if o["kind"] == OBJ_PTS:
        return "pty slave /dev/pts/%d" % rd.objs[o["master"] - 1]["index"]
    flags = (o["iflag"], o["oflag"], 0, o["lflag"])
    modes = " ".join("-" + n for w, b, n in TTY_MODES if not flags[w] & b) or "cooked"
    size = ", %dx%d" % (o["cols"], o["rows"]) if o["rows"] or o["cols"] else ""
    if o["kind"] == OBJ_PTY:
        fl = o["flags"]
        return "pty master of /dev/pts/%d%s, %s%s%s%s" % (
            o["index"], size, modes, ", locked" if fl & PTYF_LOCKED else "",
            ", packet mode" if fl & PTYF_PACKET else "", ", exclusive" if fl & PTYF_EXCL else "")
    ma, mi = o["major"], o["minor"]
    if 136 <= ma <= 143:
        name = "/dev/pts/%d" % ((ma - 136) * 256 + mi)
    elif ma == 4:
        name = "/dev/tty%d" % mi if mi < 64 else "/dev/ttyS%d" % (mi - 64)
    elif ma == 5 and mi < 2:
        name = "/dev/console" if mi else "/dev/tty"
    else:
        name = "device %d:%d" % (ma, mi)
    job = {1: ", controlling terminal", 3: ", foreground", 5: ", background"}.get(o["flags"], "")
    return "terminal %s%s, %s%s" % (name, size, modes, job)


SHUT_WHAT = ("", "reading", "writing", "reading and writing")


def unix_name_str(name):
    """A unix socket name as messages show it: @ for NUL, \\xHH for others."""
    if not name:
        return "unnamed"
    return "".join("@" if c == 0 else "\\x%02x" % c if c < 0x20 or c > 0x7e else chr(c)
                   for c in name)


def inet_str(sa):
    """host:port, IPv6 in brackets with RFC 5952's zero compression."""
    fam, port = struct.unpack_from("<H", sa)[0], (sa[2] << 8) | sa[3]
    if fam == AF_INET:
        return "%d.%d.%d.%d:%d" % (sa[4], sa[5], sa[6], sa[7], port)
    g = [(sa[8 + 2 * i] << 8) | sa[9 + 2 * i] for i in range(8)]
    best, blen, i = -1, 1, 0
    while i < 8:
        j = i
        while j < 8 and not g[j]:
            j += 1
        if j - i > blen:
            best, blen = i, j - i
        i = j if j > i else i + 1
    if best < 0:
        host = ":".join("%x" % x for x in g)
    else:
        host = (":".join("%x" % x for x in g[:best]) + "::" +
                ":".join("%x" % x for x in g[best + blen:]))
    return "[%s]:%d" % (host, port)


def plural(n):
    return "" if n == 1 else "s"


def quantity(n, what):
    """"1 byte", "2 bytes"."""
    return "%d %s%s" % (n, what, plural(n))


def listening(o):
    s = ", listening (backlog %d)" % o["backlog"]
    if o["dropped"]:
        s += ", %s dropped" % quantity(o["dropped"], "connection")
    return s


def shut_down(o):
    if o["shutdown"] and o["state"] != SOCK_CLOSED:
        return ", shut down for %s" % SHUT_WHAT[o["shutdown"]]
    return ""


def obj_ref(rd, oid):
    for f in rd.fds:
        if f["kind"] == FD_OBJ and f["obj_id"] == oid:
            return "fd %d" % f["fd"]
    return "object %d" % oid


def unix_what(rd, o):
    names = {SOCK_STREAM: "stream", SOCK_DGRAM: "dgram", SOCK_SEQPACKET: "seqpacket"}
    s = "unix %s socket" % names[o["type"]]
    if o["name"]:
        s += " " + unix_name_str(o["name"])
        if o["flags"] & SOCKF_UNLINKED:
            s += " (file removed)"
    st = o["state"]
    if st == SOCK_UNCONNECTED:
        s += ", unconnected"
    elif st == SOCK_LISTEN:
        s += listening(o)
    elif st == SOCK_PAIR:
        s += ", connected to %s" % obj_ref(rd, o["peer"])
    elif st == SOCK_PENDING:
        s += ", connecting to %s (not accepted yet)" % obj_ref(rd, o["peer"])
    elif st == SOCK_CLOSED:
        s += (", a connection to another process, closed at checkpoint "
              "(SELFCKPT_CLOSE_CONNECTIONS)" if o["flags"] & SOCKF_CUT else ", its peer closed")
    elif st == SOCK_CONNECTED:
        s += ", connected to %s" % unix_name_str(o["peer_name"])
    s += shut_down(o)
    if st in (SOCK_LISTEN, SOCK_PENDING):
        return s
    if o["type"] == SOCK_STREAM:
        s += ", %s queued" % quantity(o["data_len"], "byte")
    else:
        s += ", %s queued" % quantity(o["nmsgs"], "message")
    mine = [m for m in rd.scms if m["obj"] == o["id"]]
    if mine:
        n = sum(m["nfds"] for m in mine)
        s += ", %d carrying %d descriptor%s in flight" % (len(mine), n, plural(n))
    return s


def flight_desc(rd, no):
    """The first description of flight number no (SCM records)."""
    for m in rd.scms:
        for f in m["fds"]:
            if f["flight"] == no and "kind" in f:
                return f
    return None


def in_flight_json(rd):
    out = []
    for m in rd.scms:
        fds = []
        for f in m["fds"]:
            d = flight_desc(rd, f["flight"])
            fds.append({"flight": f["flight"], "kind": FD_KINDS[d["kind"]],
                        "flags": d["open_flags"], "offset": d["pos"],
                        "shared_with": d["share_with"] - 1 if d["share_with"] else -1,
                        "what": fd_what(rd, dict(d, stdio_kind=0))})
        out.append({"object": m["obj"], "socket": obj_ref(rd, m["obj"]), "at": m["at"],
                    "bytes": m["len"], "fds": fds})
    return out


def inet_what(o):
    s = "%s %s" % ("TCP" if o["type"] == SOCK_STREAM else "UDP", inet_str(o["local"]))
    st, peer = o["state"], o["peer_addr"]
    if st == SOCK_UNCONNECTED:
        s += ", unconnected"
    elif st == SOCK_LISTEN:
        s += listening(o)
    elif st == SOCK_CONNECTED:
        s += ", connected to %s" % inet_str(peer)
    elif st == SOCK_CLOSED:
        s += ", a connection%s%s%s, %s queued" % (
            " to " + inet_str(peer) if peer[0] | peer[1] else "",
            " closed at checkpoint (SELFCKPT_CLOSE_CONNECTIONS)" if o["flags"] & SOCKF_CUT
            else " that had ended",
            " (reset)" if o["flags"] & SOCKF_RESET else "", quantity(o["data_len"], "byte"))
    s += shut_down(o)
    if o["flags"] & SOCKF_DROPPED:
        s += ", queued datagrams dropped"
    return s


def fd_what(rd, f):
    if f["kind"] == FD_STDIO and not f["obj_id"]:
        return STDIO_KINDS.get(f["stdio_kind"], "?")
    if f["obj_id"]:
        return obj_what(rd, f)
    return rd.files[f["file_id"] - 1]["path"]


def print_summary(name, rd, kind):
    h = rd.hdr
    counts = {}
    for _, _, t, _, _ in rd.records:
        counts[t] = counts.get(t, 0) + 1
    t = totals(rd)
    nth = t["threads"]
    print("image         %s (%s)" % (name, kind))
    print("format        %d.%d, x86_64, %s (%d bytes), complete (commit record checked)"
          % (rd.major, rd.minor, human_size(rd.off), rd.off))
    print("checkpoint    id %d, parent %d, generation %d"
          % (h["ckpt_id"], h["parent_id"], h["generation"]))
    print("image uuid    %s\nlineage       %s\nparent uuid   %s"
          % (uuid_str(h["image_uuid"]), uuid_str(h["lineage_uuid"]),
             uuid_str(h["parent_uuid"])))
    print("restarted     %s" % restart_mode(h)[0])
    print("new ids       %s" % new_ids_line(h))
    print("created by    pid %d (uid %d gid %d) on \"%s\", selfckpt %s"
          % (h["pid"], h["uid"], h["gid"], h["hostname"], h["selfckpt_version"]))
    print("kernel        %s (%s), glibc %s" % (h["kernel_release"], h["machine"],
                                               h["glibc_version"] or "-"))
    print("cpu           %s (family %d model %d), xcr0 0x%x, xsave %d bytes for features 0x%x"
          % (h["cpu_model_name"], h["cpu_family"], h["cpu_model"], h["xcr0"],
             h["xsave_size"], h["xfeatures"]))
    print("process       \"%s\", cwd %s, umask %03o, brk %x-%x, oom_score_adj %d, mdwe 0x%x"
          % (rd.proc["comm"], rd.cwd, rd.proc["umask"], rd.proc["start_brk"],
             rd.proc["brk"], rd.proc["oom_score_adj"], rd.proc["mdwe"]))
    print("threads       %d" % nth)
    for th in rd.threads:
        print(thread_line(th))
    for n in rd.notes:
        print("note          %s" % n)
    print("records       %d: %s" % (rd.nrecords, ", ".join(
        "%s %d" % (rec_label(k), counts[k]) for k in sorted(counts))))
    print("page data     at byte %d, %d bytes, %s; commit at byte %d"
          % (rd.data_off, rd.end["data_len"], quantity(rd.nchunks, "hash chunk"),
             rd.commit["commit_off"]))
    print("totals        %d regions, %s mapped, %s stored in %d runs, %d fds, %d files, %s"
          % (t["regions"], human_size(t["mapped_bytes"]), human_size(t["stored_bytes"]),
             t["runs"], t["fds"], t["files"], quantity(nth, "thread")))


def siginfo_json(s):
    """A pending signal as `selfckpt info --json` shows it: the siginfo
    fields its si_code gives a meaning to (section 6.18)."""
    info = s["info"]
    (code,) = struct.unpack_from("<i", info, 8)
    out = {"signal": s["signal"], "tid": s["tid"], "code": code}
    if code in (0, -1, -3, -6):         # SI_USER, SI_QUEUE, SI_MESGQ, SI_TKILL
        out["pid"], out["uid"] = struct.unpack_from("<iI", info, 16)
    if code == -2:                      # SI_TIMER
        out["timer"], out["overrun"] = struct.unpack_from("<ii", info, 16)
    if code in (-1, -2, -3):
        (out["value"],) = struct.unpack_from("<Q", info, 24)
    return out


def summary_json(rd):
    """What `selfckpt info --json` and `info --records --json` also say."""
    h = rd.hdr
    out = {
        "format": {"major": rd.major, "minor": rd.minor, "arch": "x86_64",
                   "bytes": rd.off, "complete": True},
        "checkpoint": {"id": h["ckpt_id"], "parent_id": h["parent_id"],
                       "generation": h["generation"],
                       "image_uuid": uuid_str(h["image_uuid"]),
                       "parent_uuid": uuid_str(h["parent_uuid"]),
                       "lineage_uuid": uuid_str(h["lineage_uuid"]),
                       "time": h["time_sec"], "pid": h["pid"], "uid": h["uid"],
                       "gid": h["gid"], "restarted": restart_mode(h)[1],
                       "new_ids_safe": bool(h["flags"] & HDR_NO_OWNED_LOCKS),
                       "lenient": bool(h["flags"] & HDR_LENIENT)},
        "fingerprint": {"kernel_release": h["kernel_release"],
                        "kernel_version": h["kernel_version"],
                        "glibc": h["glibc_version"], "selfckpt": h["selfckpt_version"],
                        "hostname": h["hostname"], "machine_id": h["machine_id"],
                        "page_size": h["page_size"],
                        "cpu": {"model": h["cpu_model_name"], "vendor": h["cpu_vendor"],
                                "xcr0": h["xcr0"], "xfeatures": h["xfeatures"],
                                "xsave_size": h["xsave_size"]},
                        "vdso": [{"kind": vma_kind_name(k), "start": s, "end": e}
                                 for s, e, k in h["special"]]},
        "process": {"comm": rd.proc["comm"], "cwd": rd.cwd, "umask": rd.proc["umask"],
                    "start_brk": rd.proc["start_brk"], "brk": rd.proc["brk"],
                    "threads": len(rd.threads)},
        "regions": [{"start": v["start"], "end": v["end"], "kind": vma_kind_name(v["kind"]),
                     "perms": perms(v), "stored_bytes": v["stored"] * PAGE,
                     "runs": v["nruns"], "guards": v["nguards"], "name": v["name"]}
                    for v in rd.vmas],
        "fds": [{"fd": f["fd"], "kind": FD_KINDS[f["kind"]], "flags": f["open_flags"],
                 "cloexec": bool(f["fd_flags"] & FD_CLOEXEC), "offset": f["pos"],
                 "shared_with": f["share_with"] - 1 if f["share_with"] else -1,
                 "what": fd_what(rd, f)} for f in rd.fds],
        "locks": [{"fd": l["fd"], "kind": LOCK_KINDS[l["kind"]],
                   "type": "write" if l["type"] == LOCK_WRITE else "read",
                   "start": l["start"], "end": None if l["end"] == LOCK_EOF else l["end"]}
                  for l in rd.locks],
        "in_flight": in_flight_json(rd),
        "notes": list(rd.notes),
        "signals": [{"signal": i + 1, "handler": "ignore" if a[0] == 1 else "function",
                     "flags": a[1], "mask": a[3]}
                    for i, a in enumerate(rd.sig) if a[0] != 0],
        "timers": [dict(t, notify=SIGEV_NAMES[t["notify"]]) for t in rd.timers],
        "pending_signals": [siginfo_json(s) for s in rd.sigs],
        "sysv": [dict(o, kind=SYSV_KINDS[o["kind"]],
                      **({"messages": [list(m) for m in o["messages"]]} if "messages" in o else {}))
                 for o in rd.sysv],
        "totals": totals(rd),
        "preamble": {"offset": 0, "len": 16},
        "records": [{"offset": off, "end": off + 32 + ln + pad8(ln),
                     "type": t, "name": rec_name(t), "flags": fl, "len": ln}
                    for _, off, t, fl, ln in rd.records],
        "pages": {"offset": rd.data_off, "len": rd.end["data_len"], "chunks": rd.nchunks},
    }
    if rd.clocks is not None:
        out["clocks"] = rd.clocks
    return out


def main(argv):
    args = argv[1:]
    records = quiet = as_json = False
    while args and args[0].startswith("-") and args[0] != "-":
        a = args.pop(0)
        if a == "--records":
            records = True
        elif a == "--json":
            as_json = True
        elif a in ("-q", "--quiet"):
            quiet = True
        elif a in ("-h", "--help"):
            print(__doc__.strip())
            return 0
        elif a == "--":
            break
        else:
            print("imgcheck: unknown option %s" % a, file=sys.stderr)
            return EX_USAGE
    if len(args) != 1 or (records and as_json):
        print("usage: imgcheck.py [--records | --json] [-q] IMAGE|-", file=sys.stderr)
        return EX_USAGE
    name = args[0]
    try:
        fd = 0 if name == "-" else os.open(name, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as e:
        print("imgcheck: cannot open %s: %s" % (name, e.strerror), file=sys.stderr)
        return EX_NOINPUT
    try:
        try:
            mode = os.fstat(fd).st_mode
        except OSError as e:
            print("imgcheck: cannot stat %s: %s" % (name, e.strerror), file=sys.stderr)
            return EX_NOINPUT
        return check(name, fd, mode, records, as_json, quiet)
    finally:
        if fd != 0:
            os.close(fd)


def check(name, fd, mode, records, as_json, quiet):
    if stat.S_ISDIR(mode):
        print("imgcheck: %s is a directory, not an image" % name, file=sys.stderr)
        return EX_NOINPUT
    kind = "file" if stat.S_ISREG(mode) else "stream"
    rd = Reader(fd)
    status = 0
    try:
        rd.run()
    except ImageError as e:
        status = e.status
        if records:
            print_records(rd)
            sys.stdout.flush()
        print("imgcheck: %s: %s" % (name, e), file=sys.stderr)
        return status
    for w in rd.warnings:
        print("warning: %s" % w, file=sys.stderr)
    if records:
        print_records(rd)
    elif as_json:
        json.dump(summary_json(rd), sys.stdout, separators=(",", ":"))
        print()
    elif not quiet:
        print_summary(name, rd, kind)
    return status


if __name__ == "__main__":
    try:
        st = main(sys.argv)
        sys.stdout.flush()
    except BrokenPipeError:
        # As `selfckpt info`: 71, the output could not be written.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        st = EX_OSERR
    sys.exit(st)

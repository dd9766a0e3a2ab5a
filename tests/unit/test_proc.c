/*
 * test_proc.c - the /proc/self parsers and reader (libselfckpt/proc.c).
 *
 * First on recorded samples, in the exact shapes the kernel prints
 * (fs/proc/task_mmu.c show_map_vma, array.c do_task_stat, fd.c seq_show):
 * file and anonymous mappings, names with spaces and " (deleted)", the
 * special [heap]/[stack]/[vvar_vclock] names, 56-bit addresses, and lines
 * that are not maps lines at all (smaps keys), which must be refused
 * without touching the output or the line. Then on the live files of this
 * very process: every line of /proc/self/maps and /proc/self/smaps must
 * parse, and what the parsers say must agree with what the test knows
 * about its own memory (where its stack, code and a fresh mapping are, and
 * the VmFlags that madvise just set).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "image-format.h"
#include "proc.h"
#include "unit.h"

/* ---- maps lines -------------------------------------------------------- */

/* Parse a copy of line; the copy stays alive for e->name. */
static int parse_copy(const char *line, struct sck_maps_entry *e, char **copy)
{
	*copy = strdup(line);
	assert_non_null(*copy);
	return selfckpt__parse_maps_line(*copy, e);
}

static void expect_entry(const char *line, uint64_t start, uint64_t end,
			 uint32_t prot, int shared, uint64_t pgoff,
			 uint32_t major, uint32_t minor, uint64_t ino,
			 const char *name)
{
	struct sck_maps_entry e;
	char *copy;

	memset(&e, 0x5a, sizeof(e));
	if (parse_copy(line, &e, &copy) != 0)
		fail_msg("refused: \"%s\"", line);
	assert_int_equal(e.start, start);
	assert_int_equal(e.end, end);
	assert_int_equal(e.prot, prot);
	assert_int_equal(e.shared, shared);
	assert_int_equal(e.pgoff, pgoff);
	assert_int_equal(e.dev_major, major);
	assert_int_equal(e.dev_minor, minor);
	assert_int_equal(e.ino, ino);
	assert_string_equal(e.name, name);
	assert_int_equal(e.name_len, strlen(name));
	/* The name lies inside the line that was parsed. */
	assert_true(e.name >= copy && e.name <= copy + strlen(line));
	free(copy);
}

#define R PROT_READ
#define W PROT_WRITE
#define X PROT_EXEC

static void test_maps_file_lines(void **state)
{
	(void)state;
	expect_entry("55e68aee4000-55e68aee6000 r--p 00000000 fe:00 247134                     /usr/bin/cat\n",
		     0x55e68aee4000, 0x55e68aee6000, R, 0, 0, 0xfe, 0, 247134,
		     "/usr/bin/cat");
	expect_entry("7f2672c8d000-7f2672de3000 r-xp 00026000 fe:00 332835                     /usr/lib/x86_64-linux-gnu/libc.so.6\n",
		     0x7f2672c8d000, 0x7f2672de3000, R | X, 0, 0x26000, 0xfe, 0,
		     332835, "/usr/lib/x86_64-linux-gnu/libc.so.6");
	expect_entry("7f2672e3a000-7f2672e3c000 rw-p 001d3000 fe:00 332835                     /usr/lib/x86_64-linux-gnu/libc.so.6",
		     0x7f2672e3a000, 0x7f2672e3c000, R | W, 0, 0x1d3000, 0xfe, 0,
		     332835, "/usr/lib/x86_64-linux-gnu/libc.so.6");
	/* Shared, and a major number above 255 (three hex digits). */
	expect_entry("7f2672e4c000-7f2672e53000 r--s 00000000 103:0a 332280                     /usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache\n",
		     0x7f2672e4c000, 0x7f2672e53000, R, 1, 0, 0x103, 0xa,
		     332280, "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache");
	expect_entry("7f0000000000-7f0000001000 rwxs 00000000 00:01 1234                       /dev/zero (deleted)\n",
		     0x7f0000000000, 0x7f0000001000, R | W | X, 1, 0, 0, 1, 1234,
		     "/dev/zero (deleted)");
	/* Names with spaces, parentheses and a deleted suffix. */
	expect_entry("7f1000000000-7f1000004000 rw-s 00000000 00:05 99                         /memfd:my buffer (deleted)\n",
		     0x7f1000000000, 0x7f1000004000, R | W, 1, 0, 0, 5, 99,
		     "/memfd:my buffer (deleted)");
	expect_entry("7f1000000000-7f1000004000 r--p 00003000 08:01 42                         /tmp/a dir/my lib (1).so (deleted)\n",
		     0x7f1000000000, 0x7f1000004000, R, 0, 0x3000, 8, 1, 42,
		     "/tmp/a dir/my lib (1).so (deleted)");
	/* Trailing spaces in a name are the name's. */
	expect_entry("1000-2000 r--p 00000000 08:01 42 /odd name  \n", 0x1000,
		     0x2000, R, 0, 0, 8, 1, 42, "/odd name  ");
	/* Offsets beyond 4 GiB, and the largest inode numbers. */
	expect_entry("7f1000000000-7f1000200000 r--p 7fffffffff000 08:01 18446744073709551615 /big\n",
		     0x7f1000000000, 0x7f1000200000, R, 0, 0x7fffffffff000ULL, 8,
		     1, 18446744073709551615ULL, "/big");
}

static void test_maps_special_lines(void **state)
{
	(void)state;
	expect_entry("55e6a5811000-55e6a5832000 rw-p 00000000 00:00 0                          [heap]\n",
		     0x55e6a5811000, 0x55e6a5832000, R | W, 0, 0, 0, 0, 0, "[heap]");
	expect_entry("7ffd8c3a1000-7ffd8c3c2000 rw-p 00000000 00:00 0                          [stack]\n",
		     0x7ffd8c3a1000, 0x7ffd8c3c2000, R | W, 0, 0, 0, 0, 0, "[stack]");
	expect_entry("7f2672e56000-7f2672e5a000 r--p 00000000 00:00 0                          [vvar]\n",
		     0x7f2672e56000, 0x7f2672e5a000, R, 0, 0, 0, 0, 0, "[vvar]");
	expect_entry("7f2672e5a000-7f2672e5c000 r--p 00000000 00:00 0                          [vvar_vclock]\n",
		     0x7f2672e5a000, 0x7f2672e5c000, R, 0, 0, 0, 0, 0,
		     "[vvar_vclock]");
	expect_entry("7f2672e5c000-7f2672e5e000 r-xp 00000000 00:00 0                          [vdso]\n",
		     0x7f2672e5c000, 0x7f2672e5e000, R | X, 0, 0, 0, 0, 0, "[vdso]");
	expect_entry("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n",
		     0xffffffffff600000ULL, 0xffffffffff601000ULL, X, 0, 0, 0, 0,
		     0, "[vsyscall]");
	expect_entry("7f0000000000-7f0000010000 rw-p 00000000 00:00 0                          [anon:glibc malloc]\n",
		     0x7f0000000000, 0x7f0000010000, R | W, 0, 0, 0, 0, 0,
		     "[anon:glibc malloc]");
	/* Anonymous without a name: the kernel leaves a space after the inode. */
	expect_entry("7f2672be4000-7f2672c06000 rw-p 00000000 00:00 0 \n",
		     0x7f2672be4000, 0x7f2672c06000, R | W, 0, 0, 0, 0, 0, "");
	expect_entry("7f2672be4000-7f2672c06000 ---p 00000000 00:00 0\n",
		     0x7f2672be4000, 0x7f2672c06000, 0, 0, 0, 0, 0, 0, "");
	expect_entry("7f2672be4000-7f2672c06000 ---p 00000000 00:00 0",
		     0x7f2672be4000, 0x7f2672c06000, 0, 0, 0, 0, 0, 0, "");
	/* 5-level paging: user addresses up to 56 bits. */
	expect_entry("fffffffe000000-ffffffff000000 rw-p 00000000 00:00 0                  [stack]\n",
		     0xfffffffe000000ULL, 0xffffffff000000ULL, R | W, 0, 0, 0, 0,
		     0, "[stack]");
	expect_entry("fe000000000000-fe000000001000 r--p 00000000 00:00 0 \n",
		     0xfe000000000000ULL, 0xfe000000001000ULL, R, 0, 0, 0, 0, 0,
		     "");
	/* Upper-case hex is not what the kernel prints, but it is hex. */
	expect_entry("7F000-7F001 r--p 0000000A 0A:0B 1 x\n", 0x7f000, 0x7f001, R, 0,
		     0xa, 0xa, 0xb, 1, "x");
}

/*
 * Everything that is not a maps line must return -EINVAL, leave the output
 * exactly as it was (a former bug filled it half before giving up) and leave
 * the line unchanged.
 */
static void test_maps_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"\n",
		" ",
		"Size:                  8 kB",
		"Size:                  8 kB\n",
		"KernelPageSize:        4 kB\n",
		"Rss:                  12 kB\n",
		"Anonymous:             0 kB\n",
		"AnonHugePages:         0 kB\n",
		"FilePmdMapped:         0 kB\n",
		"Swap:                  0 kB\n",
		"SwapPss:               0 kB\n",
		"Locked:                0 kB\n",
		"THPeligible:           0\n",
		"ProtectionKey:         0\n",
		"VmFlags: rd wr mr mw me ac sd \n",
		"VmFlags: rd wr",
		"garbage",
		"7f00",
		"7f00-",
		"7f00-8f00",
		"7f00-8f00 ",
		"-8f00 r--p 00000000 00:00 0\n",
		"7f00 8f00 r--p 00000000 00:00 0\n",
		"7f00-8f00 r--p\n",
		"7f00-8f00 r--p 00000000\n",
		"7f00-8f00 r--p 00000000 00:00\n",
		"7f00-8f00 r--p 00000000 00:00 \n",
		"7f00-8f00 r--p 00000000 00-00 0\n",
		"7f00-8f00 r--p 00000000 0000 0\n",
		"7f00-8f00 r--p  00000000 00:00 0\n",
		"7f00-8f00 r--x 00000000 00:00 0\n",	/* neither s nor p */
		"7f00-8f00 r--pp 00000000 00:00 0\n",
		"7f00-8f00 r-p 00000000 00:00 0\n",
		"7f00-8f00 r\n",
		"7f00-8f00 rw",
		"8f00-7f00 r--p 00000000 00:00 0\n",	/* end before start */
		"7f00-7f00 r--p 00000000 00:00 0\n",	/* empty */
		"7f00-8f00 r--p xyz 00:00 0\n",
		"7f00-8f00 r--p 00000000 00:00 zzz\n",
		"7f00-8f00\tr--p 00000000 00:00 0\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sck_maps_entry e, before;
		char *copy = strdup(bad[i]);
		int ret;

		assert_non_null(copy);
		memset(&e, 0x5a, sizeof(e));
		before = e;
		ret = selfckpt__parse_maps_line(copy, &e);
		if (ret != -EINVAL)
			fail_msg("\"%s\": returned %d, want -EINVAL", bad[i], ret);
		if (memcmp(&e, &before, sizeof(e)) != 0)
			fail_msg("\"%s\": output changed on failure", bad[i]);
		assert_string_equal(copy, bad[i]);
		free(copy);
	}
}

/* The output of a good parse is fully replaced, even from a stale entry. */
static void test_maps_overwrites_all(void **state)
{
	struct sck_maps_entry e;
	char line[] = "1000-2000 rw-p 00000000 00:00 0 \n";

	(void)state;
	memset(&e, 0xff, sizeof(e));
	assert_int_equal(selfckpt__parse_maps_line(line, &e), 0);
	assert_int_equal(e.shared, 0);
	assert_int_equal(e.pgoff, 0);
	assert_int_equal(e.ino, 0);
	assert_int_equal(e.name_len, 0);
	assert_string_equal(e.name, "");
}

/* ---- VmFlags ------------------------------------------------------------ */

static void test_vmflags_codes(void **state)
{
	static const struct {
		const char *code;
		uint32_t flag, special;
	} tab[] = {
		{ "gd", SCK_VMAF_GROWSDOWN, 0 },   { "lo", SCK_VMAF_LOCKED, 0 },
		{ "dc", SCK_VMAF_DONTFORK, 0 },	   { "wf", SCK_VMAF_WIPEONFORK, 0 },
		{ "hg", SCK_VMAF_HUGEPAGE, 0 },	   { "nh", SCK_VMAF_NOHUGEPAGE, 0 },
		{ "mg", SCK_VMAF_MERGEABLE, 0 },   { "dd", SCK_VMAF_DONTDUMP, 0 },
		{ "sr", SCK_VMAF_SEQ_READ, 0 },	   { "rr", SCK_VMAF_RAND_READ, 0 },
		{ "nr", SCK_VMAF_NORESERVE, 0 },   { "mw", SCK_VMAF_MAYWRITE, 0 },
		{ "ht", 0, SCK_VMX_HUGETLB },	   { "io", 0, SCK_VMX_IO },
		{ "pf", 0, SCK_VMX_PFNMAP },	   { "ss", 0, SCK_VMX_SHADOW_STACK },
		{ "um", 0, SCK_VMX_UFFD },	   { "uw", 0, SCK_VMX_UFFD },
		{ "mm", 0, SCK_VMX_MIXEDMAP },	   { "sl", 0, SCK_VMX_SEALED },
	};
	uint32_t all = 0, all_sp = 0, sp;
	char line[256] = "";

	(void)state;
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		char one[16];

		/* Alone, between unknown codes, with and without a newline. */
		snprintf(one, sizeof(one), " %s", tab[i].code);
		sp = 0xdead;
		assert_int_equal(selfckpt__parse_vmflags(one, &sp), tab[i].flag);
		assert_int_equal(sp, tab[i].special);
		snprintf(one, sizeof(one), "rd %s me\n", tab[i].code);
		assert_int_equal(selfckpt__parse_vmflags(one, &sp), tab[i].flag);
		assert_int_equal(sp, tab[i].special);
		snprintf(one, sizeof(one), "rd %s", tab[i].code);
		assert_int_equal(selfckpt__parse_vmflags(one, &sp), tab[i].flag);
		all |= tab[i].flag;
		all_sp |= tab[i].special;
		strcat(line, tab[i].code);
		strcat(line, " ");
	}
	strcat(line, "\n");
	assert_int_equal(selfckpt__parse_vmflags(line, &sp), all);
	assert_int_equal(sp, all_sp);
	/* The special output is optional. */
	assert_int_equal(selfckpt__parse_vmflags("ht dc", NULL), SCK_VMAF_DONTFORK);
}

static void test_vmflags_unknown_and_spacing(void **state)
{
	uint32_t sp = 0xdead;

	(void)state;
	/* The flags every mapping has, and ones we do not track, count nothing. */
	assert_int_equal(selfckpt__parse_vmflags(" rd wr ex mr me ac sd \n", &sp), 0);
	assert_int_equal(sp, 0);
	assert_int_equal(selfckpt__parse_vmflags("", &sp), 0);
	assert_int_equal(selfckpt__parse_vmflags("\n", &sp), 0);
	assert_int_equal(selfckpt__parse_vmflags("    ", &sp), 0);
	/* Trailing spaces and a newline, as the kernel prints. */
	assert_int_equal(selfckpt__parse_vmflags(" rd wr mr mw me gd ac \n", &sp),
			 SCK_VMAF_MAYWRITE | SCK_VMAF_GROWSDOWN);
	/* Codes must be whole two-letter tokens. */
	assert_int_equal(selfckpt__parse_vmflags("gdx lox xdc d c g", &sp), 0);
	assert_int_equal(sp, 0);
	assert_int_equal(selfckpt__parse_vmflags("dc\n", &sp), SCK_VMAF_DONTFORK);
	assert_int_equal(selfckpt__parse_vmflags("dc  dd", &sp),
			 SCK_VMAF_DONTFORK | SCK_VMAF_DONTDUMP);
	/* Nothing after the newline is read. */
	assert_int_equal(selfckpt__parse_vmflags("dc\ndd lo", &sp),
			 SCK_VMAF_DONTFORK);
	/* Repeated codes are harmless. */
	assert_int_equal(selfckpt__parse_vmflags("lo lo io io", &sp),
			 SCK_VMAF_LOCKED);
	assert_int_equal(sp, SCK_VMX_IO);
}

/* ---- stat --------------------------------------------------------------- */

/*
 * A 52-field /proc/PID/stat line (Linux 3.5 and later) with the given comm
 * and distinctive values in the fields PR_SET_MM_MAP needs.
 */
static void make_stat(char *buf, size_t n, const char *comm, int nfields)
{
	size_t len = (size_t)snprintf(buf, n, "1234 (%s) S", comm);

	for (int f = 4; f <= nfields; f++) {
		long long v;

		switch (f) {
		case 4: v = 77; break;				/* ppid */
		case 7: v = 34816; break;			/* tty_nr */
		case 8: v = -1; break;				/* tpgid */
		case 18: v = -21; break;			/* priority */
		case 19: v = -20; break;			/* nice */
		case 20: v = 5; break;				/* num_threads */
		case 26: v = 0x55e68aee4000LL; break;		/* start_code */
		case 27: v = 0x55e68aeeb000LL; break;		/* end_code */
		case 28: v = 0x7ffd8c3c1f00LL; break;		/* start_stack */
		case 45: v = 0x55e68aeef000LL; break;		/* start_data */
		case 46: v = 0x55e68aef0100LL; break;		/* end_data */
		case 47: v = 0x55e6a5811000LL; break;		/* start_brk */
		case 48: v = 0x7ffd8c3c2100LL; break;		/* arg_start */
		case 49: v = 0x7ffd8c3c2200LL; break;		/* arg_end */
		case 50: v = 0x7ffd8c3c2200LL; break;		/* env_start */
		case 51: v = 0x7ffd8c3c2fe0LL; break;		/* env_end */
		default: v = 1000 + f; break;
		}
		if (f == 24)	/* rsslim: the largest u64 */
			len += (size_t)snprintf(buf + len, n - len,
						" 18446744073709551615");
		else
			len += (size_t)snprintf(buf + len, n - len, " %lld", v);
	}
	snprintf(buf + len, n - len, "\n");
}

static void expect_stat(const struct sck_stat_fields *st)
{
	assert_int_equal(st->ppid, 77);
	assert_int_equal(st->num_threads, 5);
	assert_int_equal(st->start_code, 0x55e68aee4000ULL);
	assert_int_equal(st->end_code, 0x55e68aeeb000ULL);
	assert_int_equal(st->start_stack, 0x7ffd8c3c1f00ULL);
	assert_int_equal(st->start_data, 0x55e68aeef000ULL);
	assert_int_equal(st->end_data, 0x55e68aef0100ULL);
	assert_int_equal(st->start_brk, 0x55e6a5811000ULL);
	assert_int_equal(st->arg_start, 0x7ffd8c3c2100ULL);
	assert_int_equal(st->arg_end, 0x7ffd8c3c2200ULL);
	assert_int_equal(st->env_start, 0x7ffd8c3c2200ULL);
	assert_int_equal(st->env_end, 0x7ffd8c3c2fe0ULL);
}

static void test_stat_comms(void **state)
{
	static const char *const comms[] = {
		"cat", "", "a) b) c", "a b c", ") S 1 2 3", "(sd-pam)", "x)",
		"((", "1 2 3 4 5 6", "tab\there", "new\nline", "))))))))))))))))",
	};
	char buf[2048];

	(void)state;
	for (size_t i = 0; i < sizeof(comms) / sizeof(comms[0]); i++) {
		struct sck_stat_fields st;

		memset(&st, 0x5a, sizeof(st));
		make_stat(buf, sizeof(buf), comms[i], 52);
		if (selfckpt__parse_stat(buf, &st) != 0)
			fail_msg("refused comm \"%s\"", comms[i]);
		expect_stat(&st);
	}
	/* The example from the format's documentation, spelled out. */
	struct sck_stat_fields st;

	make_stat(buf, sizeof(buf), "a) b) c", 52);
	assert_memory_equal(buf, "1234 (a) b) c) S 77 ", 20);
	assert_int_equal(selfckpt__parse_stat(buf, &st), 0);
	expect_stat(&st);
	/* Without the trailing newline, too. */
	buf[strlen(buf) - 1] = '\0';
	assert_int_equal(selfckpt__parse_stat(buf, &st), 0);
	expect_stat(&st);
}

static void test_stat_field_counts(void **state)
{
	char buf[2048];
	struct sck_stat_fields st;

	(void)state;
	/* 51 fields (env_end is the last one needed) is enough... */
	make_stat(buf, sizeof(buf), "x", 51);
	assert_int_equal(selfckpt__parse_stat(buf, &st), 0);
	expect_stat(&st);
	/* ...and later kernels may append more. */
	make_stat(buf, sizeof(buf), "x", 52);
	strcpy(buf + strlen(buf) - 1, " 1 2 3\n");
	assert_int_equal(selfckpt__parse_stat(buf, &st), 0);
	expect_stat(&st);
	/* Older kernels' 44 fields, or any truncation, are refused. */
	for (int n = 3; n <= 50; n++) {
		make_stat(buf, sizeof(buf), "x", n);
		if (selfckpt__parse_stat(buf, &st) != -EINVAL)
			fail_msg("accepted %d fields", n);
	}
	/* No comm at all. */
	assert_int_equal(selfckpt__parse_stat("1234 cat S 1 2 3", &st), -EINVAL);
	assert_int_equal(selfckpt__parse_stat("", &st), -EINVAL);
}

static void test_stat_self(void **state)
{
	char buf[4096];
	struct sck_stat_fields st;
	extern char **environ;

	(void)state;
	assert_true(selfckpt__read_file(AT_FDCWD, "/proc/self/stat", buf,
					sizeof(buf)) > 0);
	assert_int_equal(selfckpt__parse_stat(buf, &st), 0);
	assert_int_equal(st.ppid, getppid());
	if (unit_under_valgrind())
		return;		/* the code and stack are valgrind's */
	assert_int_equal(st.num_threads, 1);
	assert_true(st.start_code < (uintptr_t)test_stat_self);
	assert_true((uintptr_t)test_stat_self < st.end_code);
	assert_true(st.arg_start <= (uintptr_t)program_invocation_name);
	assert_true((uintptr_t)program_invocation_name < st.arg_end);
	assert_true(st.env_start <= st.env_end);
	if (environ[0]) {
		assert_true(st.env_start <= (uintptr_t)environ[0]);
		assert_true((uintptr_t)environ[0] < st.env_end);
	}
	assert_true(st.start_data <= st.end_data);
	assert_true(st.start_brk >= st.end_data);
	assert_true(st.start_stack > (uintptr_t)&st);
}

/* ---- fdinfo and key: value files --------------------------------------- */

static void test_fdinfo_samples(void **state)
{
	struct sck_fdinfo fi;

	(void)state;
	memset(&fi, 0x5a, sizeof(fi));
	assert_int_equal(selfckpt__parse_fdinfo("pos:\t0\nflags:\t0100000\nmnt_id:\t24\nino:\t3\n",
						&fi), 0);
	assert_int_equal(fi.pos, 0);
	assert_int_equal(fi.flags, 0100000);
	assert_int_equal(fi.mnt_id, 24);
	assert_int_equal(fi.has_lock, 0);

	assert_int_equal(selfckpt__parse_fdinfo("pos:\t9223372036854775807\nflags:\t02102002\nmnt_id:\t1099\nino:\t12\nlock:\t1: FLOCK  ADVISORY  WRITE 1234 fe:00:12 0 EOF\n",
						&fi), 0);
	assert_int_equal(fi.pos, INT64_MAX);
	assert_int_equal(fi.flags, 02102002);
	assert_int_equal(fi.mnt_id, 1099);
	assert_int_equal(fi.has_lock, 1);

	/* Old kernels have no mnt_id; order does not matter; no final newline. */
	assert_int_equal(selfckpt__parse_fdinfo("flags:\t02\npos:\t4096", &fi), 0);
	assert_int_equal(fi.pos, 4096);
	assert_int_equal(fi.flags, 2);
	assert_int_equal(fi.mnt_id, 0);
	assert_int_equal(fi.has_lock, 0);

	/* Extra lines of eventfd, inotify...: ignored. */
	assert_int_equal(selfckpt__parse_fdinfo("pos:\t0\nflags:\t02004002\nmnt_id:\t15\nino:\t1057\neventfd-count:                0\neventfd-id: 3\n",
						&fi), 0);
	assert_int_equal(fi.flags, 02004002);

	/* pos and flags are required. */
	assert_int_equal(selfckpt__parse_fdinfo("flags:\t02\n", &fi), -EINVAL);
	assert_int_equal(selfckpt__parse_fdinfo("pos:\t0\n", &fi), -EINVAL);
	assert_int_equal(selfckpt__parse_fdinfo("", &fi), -EINVAL);
	/* Keys count only at the start of a line. */
	assert_int_equal(selfckpt__parse_fdinfo("xpos:\t1\nflags:\t2\n", &fi), -EINVAL);
}

/* fdinfo of a real descriptor, with a position, flags and a lock. */
static void test_fdinfo_self(void **state)
{
	char path[] = "/tmp/selfckpt-test-fdinfo.XXXXXX";
	char name[64], buf[1024];
	struct sck_fdinfo fi;
	int fd = mkostemp(path, O_CLOEXEC);

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, "0123456789", 10), 10);
	assert_int_equal(lseek(fd, 7, SEEK_SET), 7);
	assert_int_equal(fcntl(fd, F_SETFL, O_APPEND), 0);
	snprintf(name, sizeof(name), "/proc/self/fdinfo/%d", fd);
	assert_true(selfckpt__read_file(AT_FDCWD, name, buf, sizeof(buf)) > 0);
	assert_int_equal(selfckpt__parse_fdinfo(buf, &fi), 0);
	assert_int_equal(fi.pos, 7);
	assert_true(fi.flags & O_APPEND);
	assert_true(fi.flags & O_CLOEXEC);	/* fdinfo includes it */
	assert_int_equal(fi.flags & O_ACCMODE, O_RDWR);
	assert_int_equal(fi.has_lock, 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	assert_true(selfckpt__read_file(AT_FDCWD, name, buf, sizeof(buf)) > 0);
	assert_int_equal(selfckpt__parse_fdinfo(buf, &fi), 0);
	assert_int_equal(fi.has_lock, 1);
	close(fd);
}

static void test_proc_field(void **state)
{
	const char *status =
		"Name:\tcat\nUmask:\t0022\nState:\tR (running)\nTgid:\t19044\n"
		"Threads:\t3\nSigBlk:\t0000000000010000\nNoNewPrivs:\t1\n"
		"VmRSS:\t    1552 kB\nLast:\t99";
	uint64_t v = 12345;

	(void)state;
	assert_int_equal(selfckpt__proc_field(status, "Umask:", 8, &v), 0);
	assert_int_equal(v, 022);
	assert_int_equal(selfckpt__proc_field(status, "Threads:", 10, &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(selfckpt__proc_field(status, "SigBlk:", 16, &v), 0);
	assert_int_equal(v, 0x10000);
	assert_int_equal(selfckpt__proc_field(status, "NoNewPrivs:", 10, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(selfckpt__proc_field(status, "VmRSS:", 10, &v), 0);
	assert_int_equal(v, 1552);
	assert_int_equal(selfckpt__proc_field(status, "Last:", 10, &v), 0);
	assert_int_equal(v, 99);
	assert_int_equal(selfckpt__proc_field(status, "Name:", 10, &v), 0);
	assert_int_equal(v, 0);		/* not a number: 0 */
	v = 7;
	assert_int_equal(selfckpt__proc_field(status, "Missing:", 10, &v), -ENOENT);
	assert_int_equal(v, 7);
	/* Only at the start of a line: "Tgid:" is not found in "xTgid:". */
	assert_int_equal(selfckpt__proc_field("xTgid:\t5\n", "Tgid:", 10, &v), -ENOENT);
	assert_int_equal(selfckpt__proc_field("", "Tgid:", 10, &v), -ENOENT);
	/* The first line that matches wins. */
	assert_int_equal(selfckpt__proc_field("A:\t1\nA:\t2\n", "A:", 10, &v), 0);
	assert_int_equal(v, 1);
}

static void test_proc_field_self(void **state)
{
	char buf[8192];
	uint64_t v;
	mode_t old = umask(027);

	(void)state;
	assert_true(selfckpt__read_file(AT_FDCWD, "/proc/self/status", buf,
					sizeof(buf)) > 0);
	umask(old);
	assert_int_equal(selfckpt__proc_field(buf, "Umask:", 8, &v), 0);
	assert_int_equal(v, 027);
	assert_int_equal(selfckpt__proc_field(buf, "Pid:", 10, &v), 0);
	assert_int_equal(v, (uint64_t)getpid());
	assert_int_equal(selfckpt__proc_field(buf, "PPid:", 10, &v), 0);
	assert_int_equal(v, (uint64_t)getppid());
}

static void test_parse_u64(void **state)
{
	const char *end;

	(void)state;
	assert_int_equal(selfckpt__parse_u64("0", 10, &end), 0);
	assert_int_equal(selfckpt__parse_u64("18446744073709551615x", 10, &end),
			 UINT64_MAX);
	assert_int_equal(*end, 'x');
	assert_int_equal(selfckpt__parse_u64("ffffffffffffffff-", 16, &end),
			 UINT64_MAX);
	assert_int_equal(*end, '-');
	assert_int_equal(selfckpt__parse_u64("DeadBeef", 16, NULL), 0xdeadbeef);
	assert_int_equal(selfckpt__parse_u64("0778", 8, &end), 077);
	assert_int_equal(*end, '8');
	assert_int_equal(selfckpt__parse_u64("12a", 10, &end), 12);
	assert_int_equal(*end, 'a');
	end = NULL;
	assert_int_equal(selfckpt__parse_u64("z", 16, &end), 0);
	assert_int_equal(*end, 'z');
}

/* ---- read_file ---------------------------------------------------------- */

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void test_read_file(void **state)
{
	char dir[] = "/tmp/selfckpt-test-read.XXXXXX";
	char path[64], buf[256];
	const char *text = "line one\nline two\n";
	size_t len = strlen(text);
	int dfd, fds;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/file", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	fds = count_fds();

	/* Plenty of room: the length, and a NUL after the text. */
	memset(buf, 'X', sizeof(buf));
	assert_int_equal(selfckpt__read_file(dfd, "file", buf, sizeof(buf)), len);
	assert_string_equal(buf, text);
	assert_int_equal(selfckpt__read_file(AT_FDCWD, path, buf, sizeof(buf)), len);

	/*
	 * One spare byte past the NUL is needed to see the end of the file:
	 * with exactly len + 1 bytes, the reader cannot tell a file that fits
	 * from a longer one and asks for a bigger buffer (-E2BIG), as it does
	 * for every smaller size.
	 */
	memset(buf, 'X', sizeof(buf));
	assert_int_equal(selfckpt__read_file(dfd, "file", buf, len + 2), len);
	assert_string_equal(buf, text);
	assert_int_equal((uint8_t)buf[len + 2], 'X');
	for (size_t size = 0; size <= len + 1; size++) {
		memset(buf, 'X', sizeof(buf));
		assert_int_equal(selfckpt__read_file(dfd, "file", buf, size), -E2BIG);
		/* Nothing written at or beyond buf[size]. */
		for (size_t i = size; i < sizeof(buf); i++)
			assert_int_equal(buf[i], 'X');
	}

	/* Errors are -errno. */
	assert_int_equal(selfckpt__read_file(dfd, "missing", buf, sizeof(buf)),
			 -ENOENT);
	assert_int_equal(selfckpt__read_file(AT_FDCWD, "/nonexistent/x", buf,
					     sizeof(buf)), -ENOENT);
	assert_int_equal(selfckpt__read_file(AT_FDCWD, dir, buf, sizeof(buf)),
			 -EISDIR);
	assert_int_equal(selfckpt__read_file(-1, "file", buf, sizeof(buf)), -EBADF);

	/* An empty file. */
	snprintf(path, sizeof(path), "%s/empty", dir);
	close(open(path, O_CREAT | O_WRONLY, 0600));
	memset(buf, 'X', sizeof(buf));
	assert_int_equal(selfckpt__read_file(dfd, "empty", buf, 2), 0);
	assert_string_equal(buf, "");

	/* No descriptor is left open on any path. */
	assert_int_equal(count_fds(), fds);
	unlinkat(dfd, "file", 0);
	unlinkat(dfd, "empty", 0);
	close(dfd);
	rmdir(dir);
}

/* ---- this process's own maps and smaps --------------------------------- */

/*
 * Read /proc/self/maps and smaps into buffers allocated before either is
 * read, so that no allocation changes the layout in between; when one
 * does not fit (-E2BIG), both are read again into bigger ones.
 */
static void read_both(char **maps, char **smaps)
{
	for (size_t size = 64 << 10;; size *= 2) {
		char *a = malloc(size), *b = malloc(size);
		long n, k;

		assert_non_null(a);
		assert_non_null(b);
		n = selfckpt__read_file(AT_FDCWD, "/proc/self/maps", a, size);
		k = selfckpt__read_file(AT_FDCWD, "/proc/self/smaps", b, size);
		if (n >= 0 && k >= 0) {
			*maps = a;
			*smaps = b;
			return;
		}
		assert_true(n >= 0 || n == -E2BIG);
		assert_true(k >= 0 || k == -E2BIG);
		free(a);
		free(b);
	}
}

#define MAX_ENTRIES 4096

struct maps {
	struct sck_maps_entry e[MAX_ENTRIES];
	uint32_t vmflags[MAX_ENTRIES];
	uint32_t special[MAX_ENTRIES];
	int n;
};

/* Parse every line of a maps or smaps text; fail on any surprise. */
static void parse_all(char *text, struct maps *m, int smaps)
{
	int keys = 0;

	m->n = 0;
	for (char *line = text; *line;) {
		char *nl = strchr(line, '\n');
		char *next = nl ? nl + 1 : line + strlen(line);
		size_t tok = strcspn(line, " \n");
		int is_key = tok > 0 && line[tok - 1] == ':';
		struct sck_maps_entry e, before;
		char saved[128];

		memset(&e, 0x5a, sizeof(e));
		before = e;
		snprintf(saved, sizeof(saved), "%.*s", (int)(next - line), line);
		int ret = selfckpt__parse_maps_line(line, &e);

		if (is_key) {
			if (!smaps)
				fail_msg("key line in maps: %s", saved);
			if (ret != -EINVAL || memcmp(&e, &before, sizeof(e)))
				fail_msg("smaps key line taken for a mapping: %s",
					 saved);
			if (strncmp(line, "VmFlags:", 8) == 0) {
				assert_true(m->n > 0);
				m->vmflags[m->n - 1] = selfckpt__parse_vmflags(
					line + 8, &m->special[m->n - 1]);
			}
			keys++;
		} else {
			if (ret != 0)
				fail_msg("cannot parse: %s", saved);
			assert_true(m->n < MAX_ENTRIES);
			assert_true(e.start < e.end);
			assert_int_equal(e.start % 4096, 0);
			assert_int_equal(e.end % 4096, 0);
			if (m->n)
				assert_true(m->e[m->n - 1].end <= e.start);
			m->vmflags[m->n] = m->special[m->n] = 0;
			m->e[m->n++] = e;
		}
		line = next;
	}
	assert_true(m->n > 5);
	if (smaps)
		assert_true(keys >= m->n * 10);
}

static const struct sck_maps_entry *find(const struct maps *m, uintptr_t a)
{
	for (int i = 0; i < m->n; i++)
		if (m->e[i].start <= a && a < m->e[i].end)
			return &m->e[i];
	return NULL;
}

static void test_self_maps_smaps(void **state)
{
	static struct maps maps, smaps;
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	size_t big = 64 << 20;
	void *anon = mmap(NULL, big, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int found_vdso = 0, found_heap = 0;

	(void)state;
	assert_true(n > 0);
	exe[n] = '\0';
	assert_true(anon != MAP_FAILED);
	/* No allocation between the two reads: the layouts must agree. */
	char *mt, *st;

	read_both(&mt, &st);

	parse_all(mt, &maps, 0);
	parse_all(st, &smaps, 1);
	assert_int_equal(maps.n, smaps.n);
	for (int i = 0; i < maps.n; i++) {
		const struct sck_maps_entry *a = &maps.e[i], *b = &smaps.e[i];

		assert_int_equal(a->start, b->start);
		assert_int_equal(a->end, b->end);
		assert_int_equal(a->prot, b->prot);
		assert_int_equal(a->shared, b->shared);
		assert_int_equal(a->pgoff, b->pgoff);
		assert_int_equal(a->ino, b->ino);
		assert_string_equal(a->name, b->name);
		found_vdso |= strcmp(a->name, "[vdso]") == 0;
		found_heap |= strcmp(a->name, "[heap]") == 0;
		/* Private mappings may be made writable: every one has "mw". */
		if (!a->shared && strcmp(a->name, "[vsyscall]") != 0 &&
		    strncmp(a->name, "[vvar", 5) != 0 &&
		    strcmp(a->name, "[vdso]") != 0)
			assert_true(smaps.vmflags[i] & SCK_VMAF_MAYWRITE);
	}
	(void)found_heap;	/* no [heap] if malloc never used brk */
	if (unit_under_valgrind()) {
		free(mt);
		free(st);
		munmap(anon, big);
		return;		/* the layout is valgrind's */
	}
	assert_true(found_vdso);

	const struct sck_maps_entry *e;
	int local;

	e = find(&maps, (uintptr_t)&local);
	assert_non_null(e);
	assert_string_equal(e->name, "[stack]");
	assert_int_equal(e->prot, PROT_READ | PROT_WRITE);
	e = find(&maps, (uintptr_t)test_self_maps_smaps);
	assert_non_null(e);
	assert_string_equal(e->name, exe);
	assert_true(e->prot & PROT_EXEC);
	assert_int_equal(e->shared, 0);
	e = find(&maps, (uintptr_t)anon + big / 2);
	assert_non_null(e);
	assert_true(e->start <= (uintptr_t)anon);
	assert_true(e->end >= (uintptr_t)anon + big);
	assert_int_equal(e->prot, PROT_READ);
	assert_int_equal(e->ino, 0);
	free(mt);
	free(st);
	munmap(anon, big);
}

/* The flags madvise and mmap set show up where they were set. */
static void test_self_vmflags(void **state)
{
	static struct maps m;
	size_t len = 4 * 4096;
	uint8_t *a = mmap(NULL, 3 * len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint8_t *sh = mmap(NULL, len, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	(void)state;
	assert_true(a != MAP_FAILED && sh != MAP_FAILED);
	/* Three distinct VMAs: protections and advice split the mapping. */
	assert_int_equal(madvise(a, len, MADV_DONTFORK), 0);
	assert_int_equal(madvise(a, len, MADV_DONTDUMP), 0);
	assert_int_equal(madvise(a, len, MADV_SEQUENTIAL), 0);
	assert_int_equal(madvise(a + len, len, MADV_RANDOM), 0);
	assert_int_equal(madvise(a + len, len, MADV_WIPEONFORK), 0);
	assert_int_equal(mprotect(a + 2 * len, len, PROT_NONE), 0);

	char *mt, *st;

	read_both(&mt, &st);
	free(mt);
	parse_all(st, &m, 1);
	int i0 = -1, i1 = -1, i2 = -1, is = -1;

	for (int i = 0; i < m.n; i++) {
		if (m.e[i].start == (uintptr_t)a)
			i0 = i;
		if (m.e[i].start == (uintptr_t)a + len)
			i1 = i;
		if (m.e[i].start == (uintptr_t)a + 2 * len)
			i2 = i;
		if (m.e[i].start == (uintptr_t)sh)
			is = i;
	}
	assert_true(i0 >= 0 && i1 >= 0 && i2 >= 0 && is >= 0);
	assert_int_equal(m.e[i0].end, (uintptr_t)a + len);
	assert_int_equal(m.vmflags[i0] & ~(SCK_VMAF_MAYWRITE | SCK_VMAF_NORESERVE |
					   SCK_VMAF_NOHUGEPAGE | SCK_VMAF_HUGEPAGE),
			 SCK_VMAF_DONTFORK | SCK_VMAF_DONTDUMP | SCK_VMAF_SEQ_READ);
	assert_int_equal(m.vmflags[i1] & ~(SCK_VMAF_MAYWRITE | SCK_VMAF_NORESERVE |
					   SCK_VMAF_NOHUGEPAGE | SCK_VMAF_HUGEPAGE),
			 SCK_VMAF_WIPEONFORK | SCK_VMAF_RAND_READ);
	assert_int_equal(m.e[i2].prot, 0);
	assert_int_equal(m.special[i0] | m.special[i1] | m.special[i2], 0);
	/* A shared anonymous mapping: 's' and the /dev/zero name. */
	assert_int_equal(m.e[is].shared, 1);
	assert_int_equal(m.e[is].prot, PROT_READ);
	assert_string_equal(m.e[is].name, "/dev/zero (deleted)");
	free(st);
	munmap(a, 3 * len);
	munmap(sh, len);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_maps_file_lines),
		cmocka_unit_test(test_maps_special_lines),
		cmocka_unit_test(test_maps_rejects),
		cmocka_unit_test(test_maps_overwrites_all),
		cmocka_unit_test(test_vmflags_codes),
		cmocka_unit_test(test_vmflags_unknown_and_spacing),
		cmocka_unit_test(test_stat_comms),
		cmocka_unit_test(test_stat_field_counts),
		cmocka_unit_test(test_stat_self),
		cmocka_unit_test(test_fdinfo_samples),
		cmocka_unit_test(test_fdinfo_self),
		cmocka_unit_test(test_proc_field),
		cmocka_unit_test(test_proc_field_self),
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_read_file),
		cmocka_unit_test(test_self_maps_smaps),
		cmocka_unit_test(test_self_vmflags),
	};

	unit_seed("test_proc");
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_cpu.c - the CPU fingerprint and compatibility test
 * (libselfckpt/arch/x86_64/cpu.c).
 *
 * The probe is checked against independent sources on this machine: CPUID
 * read here, /proc/cpuinfo's flags, the auxiliary vector, and the kernel's
 * own signal frame, whose XSAVE description (sw_reserved) must agree with
 * the features and size the probe computed, because the restorer builds
 * its frames from them. The compatibility test is then fed fingerprints
 * derived from this CPU with single bits removed or added, and must name
 * exactly what is missing, ignore bits that describe the machine rather
 * than the instruction set, and never write past the message buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cpuid.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <asm/prctl.h>

#include <cmocka.h>

#include "arch.h"
#include "unit.h"

static struct sck_cpu here;

static int setup(void **state)
{
	(void)state;
	selfckpt__cpu_probe(&here);
	return 0;
}

/* ---- the probe ---------------------------------------------------------- */

static void test_probe_basics(void **state)
{
	uint32_t a, b, c, d;
	char vendor[13];

	(void)state;
	__cpuid(0, a, b, c, d);
	memcpy(vendor, &b, 4);
	memcpy(vendor + 4, &d, 4);
	memcpy(vendor + 8, &c, 4);
	vendor[12] = '\0';
	assert_true(here.vendor[0] != '\0');
	assert_non_null(memchr(here.vendor, '\0', sizeof(here.vendor)));
	assert_string_equal(here.vendor, vendor);
	assert_non_null(memchr(here.model_name, '\0', sizeof(here.model_name)));
	assert_true(here.family > 0);
	__cpuid(1, a, b, c, d);
	assert_int_equal(here.leaf1_ecx, c);
	assert_int_equal(here.leaf1_edx, d);
	assert_int_equal(here.hwcap, getauxval(AT_HWCAP));
	assert_int_equal(here.hwcap2, getauxval(AT_HWCAP2));
	/* Padding stays zero: the fingerprint is stored and compared. */
	assert_int_equal(here._pad0, 0);
	assert_int_equal(here._pad1, 0);
	assert_int_equal(here._pad2, 0);
}

static void test_probe_xsave(void **state)
{
	uint32_t a, b, c, d, need = SCK_XSAVE_LEGACY;

	(void)state;
	/* Every x86-64 machine this runs on has XSAVE (checkpoint needs it). */
	assert_true(here.leaf1_ecx & bit_OSXSAVE);
	assert_true(here.xsave_size >= SCK_XSAVE_LEGACY);
	assert_true(here.xsave_size <= SCK_MAX_XSAVE);
	assert_int_equal(here.xfeatures & ~here.xcr0, 0);
	assert_int_equal(here.xfeatures & 3, 3);	/* x87 and SSE */
	assert_int_equal(here.xoff[0], 0);
	assert_int_equal(here.xsize[0], 160);
	assert_int_equal(here.xoff[1], 160);
	assert_int_equal(here.xsize[1], 256);
	for (int i = 2; i < 32; i++) {
		if (!(here.xcr0 & (1ULL << i)))
			continue;
		__cpuid_count(0xd, i, a, b, c, d);
		assert_int_equal(here.xsize[i], a);
		assert_int_equal(here.xoff[i], b);
		if (here.xfeatures & (1ULL << i)) {
			assert_true(here.xoff[i] >= SCK_XSAVE_LEGACY);
			if (here.xoff[i] + here.xsize[i] > need)
				need = here.xoff[i] + here.xsize[i];
		}
	}
	/* The size is exactly what the saved features need. */
	assert_int_equal(here.xsave_size, need);
	/* With every enabled feature saved, CPUID says the same size. */
	__cpuid_count(0xd, 0, a, b, c, d);
	if (here.xfeatures == here.xcr0)
		assert_int_equal(here.xsave_size, b);
	else
		assert_true(here.xsave_size < b);
	/* AMX tile data only when this process asked for it. */
	if (!(here.xcomp_perm & (1ULL << 18)))
		assert_int_equal(here.xfeatures & (1ULL << 18), 0);
}

/* What /proc/cpuinfo shows, the probe must have seen. */
static void test_probe_cpuinfo(void **state)
{
	static const struct {
		const char *flag;
		int word;		/* 1: leaf1 ecx, 7: leaf7 ebx */
		int bit;
	} flags[] = {
		{ "sse3", 1, 0 },	{ "ssse3", 1, 9 },   { "sse4_1", 1, 19 },
		{ "sse4_2", 1, 20 },	{ "popcnt", 1, 23 }, { "avx", 1, 28 },
		{ "fma", 1, 12 },	{ "avx2", 7, 5 },    { "bmi1", 7, 3 },
		{ "bmi2", 7, 8 },	{ "avx512f", 7, 16 }, { "avx512bw", 7, 30 },
		{ "avx512vl", 7, 31 }, { "sha_ni", 7, 29 }, { "erms", 7, 9 },
	};
	char *line = NULL;
	size_t cap = 0;
	FILE *f;
	int checked = 0;

	(void)state;
	if (unit_under_valgrind())
		skip();		/* valgrind's CPU is not the kernel's */
	f = fopen("/proc/cpuinfo", "r");
	assert_non_null(f);
	while (getline(&line, &cap, f) > 0) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
			char pat[32];
			uint32_t w = flags[i].word == 1 ? here.leaf1_ecx : here.leaf7_ebx;

			snprintf(pat, sizeof(pat), " %s ", flags[i].flag);
			if (strstr(line, pat)) {
				if (!(w & (1u << flags[i].bit)))
					fail_msg("cpuinfo has %s, the probe has not",
						 flags[i].flag);
				checked++;
			}
		}
		break;
	}
	free(line);
	fclose(f);
	assert_true(checked > 0);
}

/*
 * The kernel's signal frame describes the XSAVE area it wrote: the same
 * features and the same standard-format size as the probe computed, or the
 * restorer's frames would not be what the kernel expects.
 */
static uint8_t kframe_sw[48];
static uint32_t kframe_magic2;

static void on_usr1(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	const uint8_t *fp = (const uint8_t *)uc->uc_mcontext.fpregs;
	uint32_t size;

	(void)sig;
	(void)si;
	memcpy(kframe_sw, fp + 464, sizeof(kframe_sw));
	memcpy(&size, fp + 464 + 16, 4);
	memcpy(&kframe_magic2, fp + size, 4);
}

static void test_probe_matches_kernel_frame(void **state)
{
	struct sigaction sa, old;
	uint32_t magic1, ext, xsize;
	uint64_t xfeat;

	(void)state;
	if (unit_under_valgrind())
		skip();		/* valgrind builds the frames itself */
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO;
	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	raise(SIGUSR1);
	sigaction(SIGUSR1, &old, NULL);
	memcpy(&magic1, kframe_sw, 4);
	memcpy(&ext, kframe_sw + 4, 4);
	memcpy(&xfeat, kframe_sw + 8, 8);
	memcpy(&xsize, kframe_sw + 16, 4);
	assert_int_equal(magic1, 0x46505853);
	assert_int_equal(kframe_magic2, 0x46505845);
	assert_int_equal(xfeat, here.xfeatures);
	assert_int_equal(xsize, here.xsave_size);
	assert_int_equal(ext, xsize + 4);
}

static void test_fs_gs_base(void **state)
{
	unsigned long fs = 0, gs = 0;

	(void)state;
	syscall(SYS_arch_prctl, ARCH_GET_FS, &fs);
	syscall(SYS_arch_prctl, ARCH_GET_GS, &gs);
	assert_int_equal(selfckpt__get_fs_base(), fs);
	assert_int_equal(selfckpt__get_gs_base(), gs);
	/* glibc's thread pointer is the TCB that fs points at. */
	assert_int_equal(selfckpt__get_fs_base(), (uintptr_t)pthread_self());
}

/* ---- compatibility --------------------------------------------------------- */

/* A fingerprint with all the named and unnamed bits this test plays with. */
static void full_cpu(struct sck_cpu *c)
{
	*c = here;
}

static int compatible(const struct sck_cpu *img, const struct sck_cpu *cur,
		      char *why, size_t n)
{
	memset(why, 'Q', n);
	return selfckpt__cpu_compatible(img, cur, why, n);
}

static void test_same_cpu(void **state)
{
	char why[256];

	(void)state;
	assert_int_equal(compatible(&here, &here, why, sizeof(why)), 0);
	assert_string_equal(why, "");
}

/* Field of struct sck_cpu holding a feature word, by name in messages. */
enum { L1ECX, L1EDX, L7EBX, L7ECX, L7EDX, L71EAX, E1ECX, E1EDX, D1EAX };

static uint32_t *word(struct sck_cpu *c, int w)
{
	switch (w) {
	case L1ECX: return &c->leaf1_ecx;
	case L1EDX: return &c->leaf1_edx;
	case L7EBX: return &c->leaf7_ebx;
	case L7ECX: return &c->leaf7_ecx;
	case L7EDX: return &c->leaf7_edx;
	case L71EAX: return &c->leaf7_1_eax;
	case E1ECX: return &c->ext1_ecx;
	case E1EDX: return &c->ext1_edx;
	default: return &c->leaf_d1_eax;
	}
}

/* The image CPU has the bit, the current one lacks it: says `name`. */
static void expect_missing(int w, int bit, const char *name)
{
	struct sck_cpu img, cur;
	char why[256];

	full_cpu(&img);
	full_cpu(&cur);
	*word(&img, w) |= 1u << bit;
	*word(&cur, w) &= ~(1u << bit);
	if (compatible(&img, &cur, why, sizeof(why)) != -1)
		fail_msg("missing %s accepted", name);
	if (strcmp(why, name) != 0)
		fail_msg("missing %s: said \"%s\"", name, why);
	/* The other way round is fine: an image that needs less. */
	assert_int_equal(compatible(&cur, &img, why, sizeof(why)), 0);
}

static void test_missing_named(void **state)
{
	static const struct {
		int w, bit;
		const char *name;
	} named[] = {
		{ L1ECX, 0, "sse3" },	   { L1ECX, 9, "ssse3" },
		{ L1ECX, 12, "fma" },	   { L1ECX, 19, "sse4.1" },
		{ L1ECX, 20, "sse4.2" },   { L1ECX, 22, "movbe" },
		{ L1ECX, 23, "popcnt" },   { L1ECX, 25, "aes" },
		{ L1ECX, 28, "avx" },	   { L1ECX, 29, "f16c" },
		{ L1ECX, 30, "rdrand" },   { L7EBX, 3, "bmi1" },
		{ L7EBX, 5, "avx2" },	   { L7EBX, 8, "bmi2" },
		{ L7EBX, 9, "erms" },	   { L7EBX, 16, "avx512f" },
		{ L7EBX, 17, "avx512dq" }, { L7EBX, 18, "rdseed" },
		{ L7EBX, 19, "adx" },	   { L7EBX, 21, "avx512ifma" },
		{ L7EBX, 28, "avx512cd" }, { L7EBX, 29, "sha" },
		{ L7EBX, 30, "avx512bw" }, { L7EBX, 31, "avx512vl" },
		{ L7ECX, 1, "avx512vbmi" }, { L7ECX, 6, "avx512vbmi2" },
		{ L7ECX, 8, "gfni" },	   { L7ECX, 9, "vaes" },
		{ L7ECX, 10, "vpclmulqdq" }, { L7ECX, 11, "avx512vnni" },
		{ L7ECX, 14, "avx512vpopcntdq" }, { L7EDX, 4, "fsrm" },
		{ L7EDX, 24, "amx-tile" }, { L71EAX, 4, "avx-vnni" },
		{ E1ECX, 5, "lzcnt" },	   { E1ECX, 6, "sse4a" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		expect_missing(named[i].w, named[i].bit, named[i].name);
}

static void test_missing_unnamed(void **state)
{
	(void)state;
	expect_missing(L7EBX, 0, "cpuid.7.ebx bit 0");		/* fsgsbase */
	expect_missing(L1EDX, 25, "cpuid.1.edx bit 25");	/* sse */
	expect_missing(L7EDX, 8, "cpuid.7.edx bit 8");		/* vp2intersect */
	expect_missing(E1EDX, 29, "cpuid.80000001.edx bit 29");	/* lm */
	expect_missing(D1EAX, 1, "cpuid.d.1.eax bit 1");	/* xsavec */
	expect_missing(L71EAX, 5, "cpuid.7.1.eax bit 5");	/* avx512_bf16 */
}

/* Several at once: all named, in word and bit order. */
static void test_missing_several(void **state)
{
	struct sck_cpu img, cur;
	char why[256];

	(void)state;
	full_cpu(&img);
	img.leaf7_ebx |= (1u << 5) | (1u << 16);
	img.leaf1_ecx |= 1u << 28;
	cur = img;
	cur.leaf7_ebx &= ~((1u << 5) | (1u << 16));
	cur.leaf1_ecx &= ~(1u << 28);
	assert_int_equal(compatible(&img, &cur, why, sizeof(why)), -1);
	assert_string_equal(why, "avx, avx2, avx512f");
	/* This machine minus avx512f, as the brief's example: named. */
	if (here.leaf7_ebx & (1u << 16)) {
		cur = here;
		cur.leaf7_ebx &= ~(1u << 16);
		assert_int_equal(compatible(&here, &cur, why, sizeof(why)), -1);
		assert_non_null(strstr(why, "avx512f"));
	}
}

/* Bits that say nothing about the instruction set are ignored. */
static void test_machine_bits_ignored(void **state)
{
	static const struct {
		int w, bit;
	} bits[] = {
		{ L1ECX, 27 },	/* OSXSAVE */
		{ L1ECX, 31 },	/* hypervisor */
		{ L1EDX, 28 },	/* HTT */
		{ L7ECX, 4 },	/* OSPKE */
		{ L7EDX, 10 },	/* MD_CLEAR */
		{ L7EDX, 26 },	/* IBRS */
		{ L7EDX, 27 },	/* STIBP */
		{ L7EDX, 29 },	/* ARCH_CAPABILITIES */
		{ L7EDX, 31 },	/* SSBD */
	};
	char why[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
		struct sck_cpu img = here, cur = here;

		*word(&img, bits[i].w) |= 1u << bits[i].bit;
		*word(&cur, bits[i].w) &= ~(1u << bits[i].bit);
		if (compatible(&img, &cur, why, sizeof(why)) != 0)
			fail_msg("word %d bit %d refused: %s", bits[i].w,
				 bits[i].bit, why);
	}
	/* Other identity differences do not matter either. */
	struct sck_cpu other = here;

	strcpy(other.vendor, "AuthenticAMD");
	strcpy(other.model_name, "Another CPU");
	other.family = 25;
	other.model = 1;
	other.stepping = 2;
	other.hwcap2 ^= 2;
	assert_int_equal(compatible(&here, &other, why, sizeof(why)), 0);
}

static void test_xstate(void **state)
{
	struct sck_cpu img, cur;
	char why[256];

	(void)state;
	/* A saved feature this CPU does not enable. */
	img = cur = here;
	img.xfeatures |= 1ULL << 9;		/* PKRU */
	cur.xfeatures &= ~(1ULL << 9);
	img.xsize[9] = cur.xsize[9] = 8;
	assert_int_equal(compatible(&img, &cur, why, sizeof(why)), -1);
	assert_string_equal(why, "xstate features 0x200");

	/* With a missing instruction too: both named. */
	img.leaf7_ebx |= 1u << 5;
	cur.leaf7_ebx &= ~(1u << 5);
	assert_int_equal(compatible(&img, &cur, why, sizeof(why)), -1);
	assert_string_equal(why, "avx2, xstate features 0x200");

	/* AVX-512's three components missing. */
	img = cur = here;
	img.xfeatures |= 0xe0;
	cur.xfeatures &= ~0xe0ULL;
	assert_int_equal(compatible(&img, &cur, why, sizeof(why)), -1);
	assert_string_equal(why, "xstate features 0xe0");

	/* A component of another size cannot be restored. */
	img = cur = here;
	img.xfeatures |= 1ULL << 2;
	cur.xfeatures |= 1ULL << 2;
	img.xsize[2] = 256;
	cur.xsize[2] = 512;
	assert_int_equal(compatible(&img, &cur, why, sizeof(why)), -1);
	assert_string_equal(why, "xstate feature 2 has size 512 here, 256 in the image");

	/* Fewer saved features than this CPU has: fine. */
	img = here;
	img.xfeatures = 3;
	img.xsave_size = SCK_XSAVE_LEGACY;
	img.leaf7_ebx &= ~((1u << 16) | (1u << 17) | (1u << 30) | (1u << 31));
	assert_int_equal(compatible(&img, &here, why, sizeof(why)), 0);
	/* An offset that differs is the frame builder's business, not this. */
	img = here;
	img.xoff[2] += 64;
	assert_int_equal(compatible(&img, &here, why, sizeof(why)), 0);
}

static void test_no_xsave(void **state)
{
	struct sck_cpu img = here, cur = here;
	char why[256];

	(void)state;
	img.xsave_size = 0;
	assert_int_equal(compatible(&img, &cur, why, sizeof(why)), -1);
	assert_string_equal(why, "the image has no XSAVE state");
	img = here;
	cur.xsave_size = 0;
	assert_int_equal(compatible(&img, &cur, why, sizeof(why)), -1);
	assert_string_equal(why, "this CPU or kernel does not offer XSAVE");
}

/* A short message buffer: truncated, terminated, nothing written past it. */
static void test_short_buffer(void **state)
{
	struct sck_cpu img = here, cur = here;
	char why[64];

	(void)state;
	img.leaf1_ecx |= (1u << 28) | (1u << 29) | (1u << 30);
	img.leaf7_ebx |= (1u << 0) | (1u << 5) | (1u << 16) | (1u << 31);
	img.xfeatures |= 1ULL << 9;
	cur.leaf1_ecx &= ~((1u << 28) | (1u << 29) | (1u << 30));
	cur.leaf7_ebx &= ~((1u << 0) | (1u << 5) | (1u << 16) | (1u << 31));
	cur.xfeatures &= ~(1ULL << 9);
	for (size_t n = 1; n < 48; n++) {
		memset(why, 'Q', sizeof(why));
		assert_int_equal(selfckpt__cpu_compatible(&img, &cur, why, n), -1);
		assert_non_null(memchr(why, '\0', n));
		for (size_t i = n; i < sizeof(why); i++)
			if (why[i] != 'Q')
				fail_msg("n=%zu: byte %zu written", n, i);
	}
	/* With room, the whole list. */
	char all[256];

	assert_int_equal(selfckpt__cpu_compatible(&img, &cur, all, sizeof(all)), -1);
	assert_string_equal(all, "avx, f16c, rdrand, cpuid.7.ebx bit 0, avx2, "
				 "avx512f, avx512vl, xstate features 0x200");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe_basics),
		cmocka_unit_test(test_probe_xsave),
		cmocka_unit_test(test_probe_cpuinfo),
		cmocka_unit_test(test_probe_matches_kernel_frame),
		cmocka_unit_test(test_fs_gs_base),
		cmocka_unit_test(test_same_cpu),
		cmocka_unit_test(test_missing_named),
		cmocka_unit_test(test_missing_unnamed),
		cmocka_unit_test(test_missing_several),
		cmocka_unit_test(test_machine_bits_ignored),
		cmocka_unit_test(test_xstate),
		cmocka_unit_test(test_no_xsave),
		cmocka_unit_test(test_short_buffer),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}

/*
 * cpu.c - the CPU fingerprint and the compatibility test (P11).
 *
 * A restored process keeps the code paths its libc chose at start-up
 * (memcpy with AVX-512, say) and the extended register state it had. So an
 * image records the CPUID feature words those choices read, XCR0 and the
 * standard-format XSAVE layout; restart refuses a CPU that lacks any of
 * them, naming what is missing, instead of dying later with SIGILL.
 *
 * Async-signal-safe: runs inside the checkpoint, which may be called from a
 * signal handler.
 */
#include <cpuid.h>
#include <stdint.h>
#include <sys/auxv.h>

#include "arch.h"
#include "compat.h"
#include "nolibc/fmt.h"
#include "nolibc/str.h"
#include "sys.h"

#define XFEATURE_XTILEDATA 18

static uint64_t xgetbv0(void)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

static void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}

void selfckpt__cpu_probe(struct sck_cpu *cpu)
{
	uint32_t r[4], max, maxext;

	__builtin_memset(cpu, 0, sizeof(*cpu));
	cpuid(0, 0, r);
	max = r[0];
	__builtin_memcpy(cpu->vendor, &r[1], 4);
	__builtin_memcpy(cpu->vendor + 4, &r[3], 4);
	__builtin_memcpy(cpu->vendor + 8, &r[2], 4);

	cpuid(1, 0, r);
	cpu->stepping = r[0] & 0xf;
	cpu->model = ((r[0] >> 4) & 0xf) | (((r[0] >> 16) & 0xf) << 4);
	cpu->family = ((r[0] >> 8) & 0xf) + ((r[0] >> 20) & 0xff);
	/* Bit 27 (OSXSAVE) and the APIC id bits say nothing about the ISA. */
	cpu->leaf1_ecx = r[2];
	cpu->leaf1_edx = r[3];
	if (max >= 7) {
		cpuid(7, 0, r);
		cpu->leaf7_ebx = r[1];
		cpu->leaf7_ecx = r[2];
		cpu->leaf7_edx = r[3];
		if (r[0] >= 1) {
			cpuid(7, 1, r);
			cpu->leaf7_1_eax = r[0];
		}
	}
	cpuid(0x80000000, 0, r);
	maxext = r[0];
	if (maxext >= 0x80000001) {
		cpuid(0x80000001, 0, r);
		cpu->ext1_ecx = r[2];
		cpu->ext1_edx = r[3];
	}
	if (maxext >= 0x80000004) {
		for (uint32_t i = 0; i < 3; i++) {
			cpuid(0x80000002 + i, 0, r);
			__builtin_memcpy(cpu->model_name + 16 * i, r, 16);
		}
		cpu->model_name[48] = '\0';
	}

	cpu->hwcap = getauxval(AT_HWCAP);
	cpu->hwcap2 = getauxval(AT_HWCAP2);
	if (!(cpu->leaf1_ecx & bit_OSXSAVE) || max < 0xd)
		return;	/* no XSAVE: checkpoint refuses (xsave_size 0) */

	cpu->xcr0 = xgetbv0();
	cpuid(0xd, 1, r);
	cpu->leaf_d1_eax = r[0];
	if (sys_arch_prctl(ARCH_GET_XCOMP_PERM, (unsigned long)&cpu->xcomp_perm))
		cpu->xcomp_perm = 0;

	/*
	 * The user features a signal frame carries: XCR0 without the dynamic
	 * AMX tile data unless this process asked for it (the kernel's
	 * fpu_user_cfg does the same, see Documentation/arch/x86/xstate.rst).
	 */
	cpu->xfeatures = cpu->xcr0;
	if (!(cpu->xcomp_perm & (1ULL << XFEATURE_XTILEDATA)))
		cpu->xfeatures &= ~(1ULL << XFEATURE_XTILEDATA);
	cpu->xsave_size = SCK_XSAVE_LEGACY;
	for (uint32_t i = 2; i < 32; i++) {
		if (!(cpu->xcr0 & (1ULL << i)))
			continue;
		cpuid(0xd, i, r);
		cpu->xsize[i] = r[0];
		cpu->xoff[i] = r[1];
		if ((cpu->xfeatures & (1ULL << i)) &&
		    r[0] + r[1] > cpu->xsave_size)
			cpu->xsave_size = r[0] + r[1];
	}
	cpu->xoff[0] = 0;
	cpu->xsize[0] = 160;
	cpu->xoff[1] = 160;
	cpu->xsize[1] = 256;
}

/* Feature bits worth naming when they are missing. */
struct feat_name {
	uint8_t word;	/* index into the words compared below */
	uint8_t bit;
	const char *name;
};

enum { W_1ECX, W_1EDX, W_7EBX, W_7ECX, W_7EDX, W_71EAX, W_E1ECX, W_E1EDX,
       W_D1EAX, W_COUNT };

static const struct feat_name feat_names[] = {
	{ W_1ECX, 0, "sse3" },	   { W_1ECX, 9, "ssse3" },
	{ W_1ECX, 12, "fma" },	   { W_1ECX, 19, "sse4.1" },
	{ W_1ECX, 20, "sse4.2" },  { W_1ECX, 22, "movbe" },
	{ W_1ECX, 23, "popcnt" },  { W_1ECX, 25, "aes" },
	{ W_1ECX, 28, "avx" },	   { W_1ECX, 29, "f16c" },
	{ W_1ECX, 30, "rdrand" },  { W_7EBX, 3, "bmi1" },
	{ W_7EBX, 5, "avx2" },	   { W_7EBX, 8, "bmi2" },
	{ W_7EBX, 9, "erms" },	   { W_7EBX, 16, "avx512f" },
	{ W_7EBX, 17, "avx512dq" }, { W_7EBX, 18, "rdseed" },
	{ W_7EBX, 19, "adx" },	   { W_7EBX, 21, "avx512ifma" },
	{ W_7EBX, 28, "avx512cd" }, { W_7EBX, 29, "sha" },
	{ W_7EBX, 30, "avx512bw" }, { W_7EBX, 31, "avx512vl" },
	{ W_7ECX, 1, "avx512vbmi" }, { W_7ECX, 6, "avx512vbmi2" },
	{ W_7ECX, 8, "gfni" },	   { W_7ECX, 9, "vaes" },
	{ W_7ECX, 10, "vpclmulqdq" }, { W_7ECX, 11, "avx512vnni" },
	{ W_7ECX, 14, "avx512vpopcntdq" }, { W_7EDX, 4, "fsrm" },
	{ W_7EDX, 24, "amx-tile" }, { W_71EAX, 4, "avx-vnni" },
	{ W_E1ECX, 5, "lzcnt" },   { W_E1ECX, 6, "sse4a" },
};

/* Words whose bits describe the machine, not the ISA, are masked out. */
static void feature_words(const struct sck_cpu *c, uint32_t w[W_COUNT])
{
	/* leaf 1 ECX: OSXSAVE (27) and hypervisor (31) vary with the OS. */
	w[W_1ECX] = c->leaf1_ecx & ~((1u << 27) | (1u << 31));
	/* leaf 1 EDX: HTT (28) is topology. */
	w[W_1EDX] = c->leaf1_edx & ~(1u << 28);
	w[W_7EBX] = c->leaf7_ebx;
	/* leaf 7 ECX: OSPKE (4) depends on CR4. */
	w[W_7ECX] = c->leaf7_ecx & ~(1u << 4);
	/* leaf 7 EDX: keep ISA bits only (mitigation bits vary by microcode). */
	w[W_7EDX] = c->leaf7_edx & ((1u << 4) | (1u << 8) | (1u << 14) |
				    (1u << 22) | (1u << 23) | (1u << 24) |
				    (1u << 25));
	w[W_71EAX] = c->leaf7_1_eax;
	w[W_E1ECX] = c->ext1_ecx;
	w[W_E1EDX] = c->ext1_edx;
	w[W_D1EAX] = c->leaf_d1_eax;
}

int selfckpt__cpu_compatible(const struct sck_cpu *img,
			     const struct sck_cpu *cur, char *why, size_t n)
{
	static const char *const word_names[W_COUNT] = {
		"cpuid.1.ecx", "cpuid.1.edx", "cpuid.7.ebx", "cpuid.7.ecx",
		"cpuid.7.edx", "cpuid.7.1.eax", "cpuid.80000001.ecx",
		"cpuid.80000001.edx", "cpuid.d.1.eax"
	};
	uint32_t wi[W_COUNT], wc[W_COUNT];
	size_t len = 0;
	int missing = 0;

	if (!img->xsave_size) {
		selfckpt__fmt(why, n, "the image has no XSAVE state");
		return -1;
	}
	if (!cur->xsave_size) {
		selfckpt__fmt(why, n, "this CPU or kernel does not offer XSAVE");
		return -1;
	}
	feature_words(img, wi);
	feature_words(cur, wc);
	why[0] = '\0';
	for (int w = 0; w < W_COUNT; w++) {
		uint32_t lack = wi[w] & ~wc[w];

		for (int b = 0; lack && b < 32; b++) {
			if (!(lack & (1u << b)))
				continue;
			const char *name = NULL;

			for (size_t k = 0; k < sizeof(feat_names) /
						   sizeof(feat_names[0]); k++)
				if (feat_names[k].word == w &&
				    feat_names[k].bit == b)
					name = feat_names[k].name;
			if (len < n)
				len += (size_t)selfckpt__fmt(
					why + len, n - len, "%s%s", missing ? ", " : "",
					name ? name : "");
			if (!name && len < n)
				len += (size_t)selfckpt__fmt(why + len, n - len,
							     "%s bit %d",
							     word_names[w], b);
			missing++;
		}
	}
	uint64_t xlack = img->xfeatures & ~cur->xfeatures;

	if (xlack && len < n) {
		len += (size_t)selfckpt__fmt(why + len, n - len,
					     "%sxstate features 0x%lx",
					     missing ? ", " : "",
					     (unsigned long)xlack);
		missing++;
	}
	for (uint32_t i = 2; i < 32 && !xlack; i++) {
		if (!(img->xfeatures & (1ULL << i)))
			continue;
		if (img->xsize[i] != cur->xsize[i]) {
			selfckpt__fmt(why, n,
				      "xstate feature %u has size %u here, %u in the image",
				      i, cur->xsize[i], img->xsize[i]);
			return -1;
		}
	}
	return missing ? -1 : 0;
}

uint64_t selfckpt__get_fs_base(void)
{
	unsigned long v = 0;

	if (getauxval(AT_HWCAP2) & 2 /* HWCAP2_FSGSBASE */) {
		__asm__ volatile("rdfsbase %0" : "=r"(v));
		return v;
	}
	sys_arch_prctl(ARCH_GET_FS, (unsigned long)&v);
	return v;
}

uint64_t selfckpt__get_gs_base(void)
{
	unsigned long v = 0;

	sys_arch_prctl(ARCH_GET_GS, (unsigned long)&v);
	return v;
}

/*
 * test_sigframe.c - the rt_sigframe the restorer resumes threads through
 * (libselfckpt/arch/x86_64/sigframe.c).
 *
 * The frame is read back through glibc's ucontext_t, which mirrors the
 * kernel's layout independently of sigframe.c's private structs, and
 * compared with a frame the kernel itself built for a signal to this
 * process. XSAVE components are relocated between two hand-made layouts.
 * Finally the real thing: this thread is captured with selfckpt__ctx_save,
 * a frame is built from the capture, and rt_sigreturn through it must
 * bring the thread back to the capture point (the call returns 0) with its
 * FPU control state and the upper half of a YMM register as they were,
 * which only happens when the kernel accepted the frame's XSAVE area.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch.h"
#include "unit.h"

#define MAGIC1 0x46505853u
#define MAGIC2 0x46505845u
#define SW_OFF 464
#define GUARD 512
#define CANARY 0xCC

static struct sck_cpu here;

static int setup(void **state)
{
	(void)state;
	selfckpt__cpu_probe(&here);
	return 0;
}

/* The software-reserved bytes at the end of the legacy FXSAVE area. */
struct sw_bytes {
	uint32_t magic1, extended_size;
	uint64_t xfeatures;
	uint32_t xstate_size, pad[7];
};

static struct sw_bytes sw_of(const uint8_t *fp)
{
	struct sw_bytes sw;

	memcpy(&sw, fp + SW_OFF, sizeof(sw));
	return sw;
}

static uint32_t u32_at(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/* Memory for a frame: 64-byte aligned, with a canary guard after it. */
static uint8_t *frame_alloc(const struct sck_cpu *cur, size_t *size)
{
	uint8_t *mem;

	*size = selfckpt__sigframe_size(cur);
	mem = aligned_alloc(64, (*size + GUARD + 63) & ~(size_t)63);
	assert_non_null(mem);
	memset(mem, CANARY, *size + GUARD);
	return mem;
}

static void check_guard(const uint8_t *mem, size_t size)
{
	for (size_t i = size; i < size + GUARD; i++)
		if (mem[i] != CANARY)
			fail_msg("byte %zu past the frame (%zu bytes) written", i, size);
}

static void make_thread(struct sck_thread *t, const struct sck_cpu *img,
			uint8_t **xsave)
{
	memset(t, 0, sizeof(*t));
	t->tid = 4242;
	unit_fill(&t->regs, sizeof(t->regs));
	t->sigmask = unit_rand() & ~((1ULL << 8) | (1ULL << 18));
	t->altstack_sp = 0x7ff0000a0000;
	t->altstack_size = 65536;
	t->altstack_flags = 0;
	t->xfeatures = img->xfeatures;
	t->xsave_size = img->xsave_size;
	*xsave = aligned_alloc(64, (img->xsave_size + 63) & ~63u);
	assert_non_null(*xsave);
	unit_fill(*xsave, img->xsave_size);
}

/* ---- layout ------------------------------------------------------------- */

static void test_frame_layout(void **state)
{
	struct sck_thread t;
	uint8_t *xsave, *mem;
	size_t size;
	uint64_t sp = 0;
	char why[256];

	(void)state;
	make_thread(&t, &here, &xsave);
	mem = frame_alloc(&here, &size);
	assert_int_equal(selfckpt__build_sigframe(mem, &t, xsave, &here, &here, &sp,
						  why, sizeof(why)), 0);
	check_guard(mem, size);

	/* rt_sigreturn finds the frame at rsp - 8: sp is &frame->uc. */
	assert_int_equal(sp, (uintptr_t)mem + 8);
	const ucontext_t *uc = (const ucontext_t *)(uintptr_t)sp;
	const greg_t *g = uc->uc_mcontext.gregs;
	const uint64_t *want = (const uint64_t *)&t.regs;

	assert_int_equal(uc->uc_flags, 7);	/* FP_XSTATE, SIGCONTEXT_SS, STRICT_RESTORE_SS */
	assert_null(uc->uc_link);
	assert_ptr_equal(uc->uc_stack.ss_sp, (void *)(uintptr_t)t.altstack_sp);
	assert_int_equal(uc->uc_stack.ss_size, t.altstack_size);
	assert_int_equal(uc->uc_stack.ss_flags, (int)t.altstack_flags);
	/* General registers in sigcontext order, as glibc numbers them. */
	assert_int_equal(g[REG_R8], want[0]);
	assert_int_equal(g[REG_R15], want[7]);
	assert_int_equal(g[REG_RDI], t.regs.rdi);
	assert_int_equal(g[REG_RSI], t.regs.rsi);
	assert_int_equal(g[REG_RBP], t.regs.rbp);
	assert_int_equal(g[REG_RBX], t.regs.rbx);
	assert_int_equal(g[REG_RDX], t.regs.rdx);
	assert_int_equal(g[REG_RAX], t.regs.rax);
	assert_int_equal(g[REG_RCX], t.regs.rcx);
	assert_int_equal(g[REG_RSP], t.regs.rsp);
	assert_int_equal(g[REG_RIP], t.regs.rip);
	assert_int_equal(g[REG_EFL], t.regs.eflags);
	for (int i = 0; i < 18; i++)
		assert_int_equal((uint64_t)g[i], want[i]);
	/* cs, gs, fs, ss packed in one word: user code and data selectors. */
	uint64_t csgsfs = (uint64_t)g[REG_CSGSFS];

	assert_int_equal(csgsfs & 0xffff, 0x33);
	assert_int_equal((csgsfs >> 16) & 0xffff, 0);
	assert_int_equal((csgsfs >> 32) & 0xffff, 0);
	assert_int_equal(csgsfs >> 48, 0x2b);
	assert_int_equal(g[REG_ERR], 0);
	assert_int_equal(g[REG_TRAPNO], 0);
	assert_int_equal(g[REG_OLDMASK], 0);
	assert_int_equal(g[REG_CR2], 0);
	uint64_t mask;

	memcpy(&mask, &uc->uc_sigmask, 8);
	assert_int_equal(mask, t.sigmask);

	/* The XSAVE area: aligned, inside the frame's memory. */
	const uint8_t *fp = (const uint8_t *)uc->uc_mcontext.fpregs;

	assert_int_equal((uintptr_t)fp % 64, 0);
	/* After pretcode, the kernel's ucontext (304 bytes) and siginfo. */
	assert_true(fp >= mem + 8 + 304 + 128);
	struct sw_bytes sw = sw_of(fp);

	assert_int_equal(sw.magic1, MAGIC1);
	assert_int_equal(sw.xfeatures, t.xfeatures);
	assert_int_equal(sw.xstate_size, here.xsave_size);
	assert_int_equal(sw.extended_size, sw.xstate_size + 4);
	assert_int_equal(u32_at(fp + sw.xstate_size), MAGIC2);
	assert_true(fp + sw.xstate_size + 4 <= mem + size);
	/* Legacy area and header copied; XCOMP_BV cleared (standard format). */
	assert_memory_equal(fp, xsave, SW_OFF);
	assert_memory_equal(fp + 512, xsave + 512, 8);
	assert_memory_equal(fp + 520, "\0\0\0\0\0\0\0\0", 8);
	assert_memory_equal(fp + 528, xsave + 528, SCK_XSAVE_LEGACY - 528);
	for (int i = 2; i < 32; i++)
		if (t.xfeatures & (1ULL << i))
			assert_memory_equal(fp + here.xoff[i], xsave + here.xoff[i],
					    here.xsize[i]);
	/* Nothing but the frame: siginfo and pretcode are zero. */
	assert_memory_equal(mem, "\0\0\0\0\0\0\0\0", 8);
	free(mem);
	free(xsave);
}

/* The kernel's own frame for a signal to this process looks the same. */
static uint64_t k_flags, k_csgsfs, k_pretcode;
static struct sw_bytes k_sw;
static uint32_t k_magic2;
static uintptr_t k_fp;

static void on_usr2(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	const uint8_t *fp = (const uint8_t *)uc->uc_mcontext.fpregs;

	(void)sig;
	(void)si;
	k_flags = uc->uc_flags;
	k_csgsfs = (uint64_t)uc->uc_mcontext.gregs[REG_CSGSFS];
	memcpy(&k_pretcode, (const uint8_t *)uc - 8, 8);
	k_sw = sw_of(fp);
	k_magic2 = u32_at(fp + k_sw.xstate_size);
	k_fp = (uintptr_t)fp;
}

static void test_matches_kernel_frame(void **state)
{
	struct sigaction sa, cur;
	struct sck_thread t;
	uint8_t *xsave, *mem;
	size_t size;
	uint64_t sp;
	char why[256];

	(void)state;
	if (unit_under_valgrind())
		skip();		/* valgrind builds the frames itself */
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_usr2;
	sa.sa_flags = SA_SIGINFO;
	assert_int_equal(sigaction(SIGUSR2, &sa, NULL), 0);
	assert_int_equal(sigaction(SIGUSR2, NULL, &cur), 0);
	raise(SIGUSR2);
	signal(SIGUSR2, SIG_DFL);

	/* The frame starts with the return address, 8 bytes before uc. */
	assert_int_equal(k_pretcode, (uintptr_t)cur.sa_restorer);
	assert_int_equal(k_fp % 64, 0);

	make_thread(&t, &here, &xsave);
	mem = frame_alloc(&here, &size);
	assert_int_equal(selfckpt__build_sigframe(mem, &t, xsave, &here, &here, &sp,
						  why, sizeof(why)), 0);
	const ucontext_t *uc = (const ucontext_t *)(uintptr_t)sp;
	struct sw_bytes sw = sw_of((const uint8_t *)uc->uc_mcontext.fpregs);

	assert_int_equal(uc->uc_flags, k_flags);
	assert_int_equal((uint64_t)uc->uc_mcontext.gregs[REG_CSGSFS] & 0xffff,
			 k_csgsfs & 0xffff);
	assert_int_equal((uint64_t)uc->uc_mcontext.gregs[REG_CSGSFS] >> 48,
			 k_csgsfs >> 48);
	assert_int_equal(sw.magic1, k_sw.magic1);
	assert_int_equal(sw.xfeatures, k_sw.xfeatures);
	assert_int_equal(sw.xstate_size, k_sw.xstate_size);
	assert_int_equal(sw.extended_size, k_sw.extended_size);
	assert_int_equal(k_magic2, MAGIC2);
	free(mem);
	free(xsave);
}

static void test_frame_size(void **state)
{
	struct sck_cpu c = here;

	(void)state;
	/* The frame, the XSAVE area at 64-byte alignment, magic2 and slack. */
	assert_true(selfckpt__sigframe_size(&c) >= 8 + 304 + 128 + c.xsave_size + 4);
	c.xsave_size += 1000;
	assert_int_equal(selfckpt__sigframe_size(&c),
			 selfckpt__sigframe_size(&here) + 1000);
}

/* ---- relocation between two layouts --------------------------------------- */

/* The standard AVX-512 layout, as on every Intel CPU so far. */
static void layout_standard(struct sck_cpu *c)
{
	memset(c, 0, sizeof(*c));
	c->xcr0 = c->xfeatures = 0xe7;
	c->xsize[0] = 160;
	c->xoff[1] = 160;
	c->xsize[1] = 256;
	c->xoff[2] = 576;
	c->xsize[2] = 256;
	c->xoff[5] = 1088;
	c->xsize[5] = 64;
	c->xoff[6] = 1152;
	c->xsize[6] = 512;
	c->xoff[7] = 1664;
	c->xsize[7] = 1024;
	c->xsave_size = 2688;
}

/* A made-up layout: the same components in another order, with gaps, and
 * PKRU (9) at the end. */
static void layout_shuffled(struct sck_cpu *c)
{
	layout_standard(c);
	c->xcr0 = c->xfeatures = 0x2e7;
	c->xoff[2] = 640;
	c->xoff[7] = 960;	/* 1024 bytes */
	c->xoff[6] = 2048;	/* 512 */
	c->xoff[5] = 2624;	/* 64, then a gap */
	c->xoff[9] = 2816;
	c->xsize[9] = 8;
	c->xsave_size = 2824;
}

static void test_relocation(void **state)
{
	struct sck_cpu img, cur;
	struct sck_thread t;
	uint8_t *xsave, *mem;
	size_t size;
	uint64_t sp;
	char why[256];

	(void)state;
	layout_standard(&img);
	layout_shuffled(&cur);
	make_thread(&t, &img, &xsave);
	mem = frame_alloc(&cur, &size);
	assert_int_equal(selfckpt__build_sigframe(mem, &t, xsave, &img, &cur, &sp,
						  why, sizeof(why)), 0);
	check_guard(mem, size);

	const ucontext_t *uc = (const ucontext_t *)(uintptr_t)sp;
	const uint8_t *fp = (const uint8_t *)uc->uc_mcontext.fpregs;
	struct sw_bytes sw = sw_of(fp);
	/* The area ends with the last component the thread has (not PKRU). */
	uint32_t end = 2624 + 64;

	assert_int_equal(sw.xfeatures, 0xe7);
	assert_int_equal(sw.xstate_size, end);
	assert_int_equal(sw.extended_size, end + 4);
	assert_int_equal(u32_at(fp + end), MAGIC2);
	assert_memory_equal(fp, xsave, SW_OFF);
	for (int i = 2; i < 8; i++)
		if (t.xfeatures & (1ULL << i))
			assert_memory_equal(fp + cur.xoff[i], xsave + img.xoff[i],
					    img.xsize[i]);
	/* The gaps between relocated components are zero. */
	for (uint32_t off = SCK_XSAVE_LEGACY; off < end; off++) {
		int inside = 0;

		for (int i = 2; i < 8; i++)
			if ((t.xfeatures & (1ULL << i)) && off >= cur.xoff[i] &&
			    off < cur.xoff[i] + cur.xsize[i])
				inside = 1;
		if (!inside && fp[off] != 0)
			fail_msg("gap byte %u is 0x%02x", off, fp[off]);
	}
	free(mem);
	free(xsave);

	/* A thread with fewer components: the rest stays zero. */
	make_thread(&t, &img, &xsave);
	t.xfeatures = 0x27;		/* x87, SSE, AVX, opmask */
	mem = frame_alloc(&cur, &size);
	assert_int_equal(selfckpt__build_sigframe(mem, &t, xsave, &img, &cur, &sp,
						  why, sizeof(why)), 0);
	uc = (const ucontext_t *)(uintptr_t)sp;
	fp = (const uint8_t *)uc->uc_mcontext.fpregs;
	sw = sw_of(fp);
	assert_int_equal(sw.xfeatures, 0x27);
	assert_int_equal(sw.xstate_size, end);	/* opmask is the last one */
	assert_memory_equal(fp + cur.xoff[2], xsave + img.xoff[2], 256);
	assert_memory_equal(fp + cur.xoff[5], xsave + img.xoff[5], 64);
	for (uint32_t i = 0; i < 1024; i++)
		assert_int_equal(fp[cur.xoff[7] + i], 0);
	free(mem);
	free(xsave);

	/* And back from the shuffled layout to the standard one. */
	make_thread(&t, &cur, &xsave);
	t.xfeatures = 0xe7;
	mem = frame_alloc(&img, &size);
	assert_int_equal(selfckpt__build_sigframe(mem, &t, xsave, &cur, &img, &sp,
						  why, sizeof(why)), 0);
	check_guard(mem, size);
	uc = (const ucontext_t *)(uintptr_t)sp;
	fp = (const uint8_t *)uc->uc_mcontext.fpregs;
	assert_int_equal(sw_of(fp).xstate_size, 2688);
	for (int i = 2; i < 8; i++)
		if (t.xfeatures & (1ULL << i))
			assert_memory_equal(fp + img.xoff[i], xsave + cur.xoff[i],
					    img.xsize[i]);
	free(mem);
	free(xsave);
}

/* ---- refusals -------------------------------------------------------------- */

static void expect_refused(uint8_t *mem, const struct sck_thread *t,
			   const uint8_t *xsave, const struct sck_cpu *img,
			   const struct sck_cpu *cur, const char *says)
{
	char why[256];
	uint64_t sp = 0x1234;

	memset(why, 0, sizeof(why));
	assert_int_equal(selfckpt__build_sigframe(mem, t, xsave, img, cur, &sp, why,
						  sizeof(why)), -22);
	if (!strstr(why, says))
		fail_msg("\"%s\" does not say \"%s\"", why, says);
	assert_int_equal(sp, 0x1234);
}

static void test_refusals(void **state)
{
	struct sck_cpu img, cur;
	struct sck_thread t;
	uint8_t *xsave, *mem;
	size_t size;

	(void)state;
	layout_shuffled(&img);
	layout_standard(&cur);
	make_thread(&t, &img, &xsave);
	mem = frame_alloc(&img, &size);
	/* PKRU saved, and this CPU lacks it. */
	expect_refused(mem, &t, xsave, &img, &cur,
		       "thread 4242 has xstate features 0x200 this CPU lacks");
	/* A component that changed size. */
	t.xfeatures = 0xe7;
	cur.xsize[6] = 256;
	expect_refused(mem, &t, xsave, &img, &cur, "xstate feature 6 changed size");
	layout_standard(&cur);
	/* An area too small for its own features. */
	t.xsave_size = 2600;		/* 0xe7 ends at 2624 + 64 in img's layout */
	expect_refused(mem, &t, xsave, &img, &cur, "xsave area too small");
	t.xsave_size = SCK_XSAVE_LEGACY - 1;
	t.xfeatures = 3;
	expect_refused(mem, &t, xsave, &img, &cur, "xsave area too small");
	/* A frame not at a 64-byte boundary. */
	t.xsave_size = img.xsave_size;
	expect_refused(mem + 8, &t, xsave, &img, &cur, "misaligned");
	free(mem);
	free(xsave);
}

/* ---- the real thing: resume this thread through the frame -------------------- */

static struct sck_ctx rctx;
static uint8_t *r_xsave, *r_frame;
static const uint8_t ymm_hi[16] = "upper half ymm!";

static int shadow_stack_on(void)
{
	char buf[4096];
	FILE *f = fopen("/proc/self/status", "r");
	int on = 0;

	if (!f)
		return 0;
	while (fgets(buf, sizeof(buf), f))
		if (strncmp(buf, "x86_Thread_features:", 20) == 0 && strstr(buf, "shstk"))
			on = 1;
	fclose(f);
	return on;
}

/*
 * Not inlined: a call to a noreturn function is where ASan (when the tests
 * are built with it) unpoisons the stack that will never be unwound.
 */
static void __attribute__((noinline, noreturn)) sigreturn_on(uint64_t sp)
{
	__asm__ volatile("mov %0, %%rsp\n\t"
			 "mov $15, %%eax\n\t"	/* __NR_rt_sigreturn */
			 "syscall\n\t"
			 "ud2"
			 :
			 : "r"(sp)
			 : "memory");
	__builtin_unreachable();
}

static unsigned get_mxcsr(void)
{
	unsigned v;

	__asm__ volatile("stmxcsr %0" : "=m"(v));
	return v;
}

/*
 * The rounding mode, as fesetround sets it (the unit tests do not link
 * libm): RC in bits 10-11 of the x87 control word and 13-14 of MXCSR.
 */
enum { ROUND_NEAREST, ROUND_DOWN, ROUND_UP, ROUND_ZERO };

static void set_round(unsigned mode)
{
	uint16_t cw;
	unsigned mx = get_mxcsr();

	__asm__ volatile("fnstcw %0" : "=m"(cw));
	cw = (uint16_t)((cw & ~0xc00u) | (mode << 10));
	__asm__ volatile("fldcw %0" : : "m"(cw));
	mx = (mx & ~0x6000u) | (mode << 13);
	__asm__ volatile("ldmxcsr %0" : : "m"(mx));
}

/* The x87 rounding mode; the SSE one is checked apart. */
static unsigned get_round(void)
{
	uint16_t cw;

	__asm__ volatile("fnstcw %0" : "=m"(cw));
	return (cw >> 10) & 3;
}

/* Build the frame from the capture and jump into rt_sigreturn. */
static void __attribute__((noinline, noreturn)) resume_capture(void)
{
	struct sck_thread t;
	stack_t ss;
	sigset_t mask;
	uint64_t sp;
	char why[256];
	size_t size = selfckpt__sigframe_size(&here);

	memset(&t, 0, sizeof(t));
	t.tid = gettid();
	t.regs = rctx.regs;
	t.xfeatures = rctx.xsave_mask;
	t.xsave_size = here.xsave_size;
	sigprocmask(SIG_BLOCK, NULL, &mask);
	memcpy(&t.sigmask, &mask, 8);
	sigaltstack(NULL, &ss);
	t.altstack_sp = (uintptr_t)ss.ss_sp;
	t.altstack_size = ss.ss_size;
	t.altstack_flags = (uint32_t)ss.ss_flags;
	r_frame = aligned_alloc(64, (size + 63) & ~(size_t)63);
	if (!r_frame || selfckpt__build_sigframe(r_frame, &t, r_xsave, &here, &here,
						 &sp, why, sizeof(why))) {
		fprintf(stderr, "cannot build the frame: %s\n", why);
		abort();
	}
	sigreturn_on(sp);
}

static void test_resume_through_sigreturn(void **state)
{
	volatile int passes = 0;
	int have_avx = (here.xfeatures & 4) != 0;
	unsigned old_round = get_round();
	uint8_t hi_after[16];
	long r;

	(void)state;
	if (unit_under_valgrind() || shadow_stack_on())
		skip();
	r_xsave = aligned_alloc(64, (here.xsave_size + 63) & ~63u);
	assert_non_null(r_xsave);
	memset(r_xsave, 0, here.xsave_size);
	memset(&rctx, 0, sizeof(rctx));
	rctx.xsave = r_xsave;
	rctx.xsave_mask = here.xfeatures;

	set_round(ROUND_UP);
	if (have_avx)
		__asm__ volatile("vinsertf128 $1, %0, %%ymm15, %%ymm15" : : "m"(ymm_hi));
	r = selfckpt__ctx_save(&rctx);
	if (have_avx)
		__asm__ volatile("vextractf128 $1, %%ymm15, %0" : "=m"(hi_after));
	passes++;
	if (r == 1) {
		/* First return: what was captured, then change it all. */
		assert_int_equal(rctx.regs.rax, 0);
		assert_true(rctx.regs.rip > (uintptr_t)test_resume_through_sigreturn);
		assert_true(rctx.regs.rip < (uintptr_t)test_resume_through_sigreturn + 4096);
		assert_true(rctx.regs.rsp < (uintptr_t)__builtin_frame_address(0) + 64);
		assert_true(rctx.regs.rsp > (uintptr_t)__builtin_frame_address(0) - 4096);
		assert_int_equal(u32_at(r_xsave + 24), get_mxcsr());	/* MXCSR */
		assert_true(r_xsave[512] & 1);	/* x87 state in XSTATE_BV */
		if (have_avx)
			assert_memory_equal(r_xsave + here.xoff[2] + 15 * 16, ymm_hi, 16);
		set_round(ROUND_ZERO);
		if (have_avx)
			__asm__ volatile("vzeroupper");
		resume_capture();
	}
	/* Second return, through rt_sigreturn. */
	assert_int_equal(r, 0);
	assert_int_equal(passes, 2);
	assert_int_equal(get_round(), ROUND_UP);
	assert_int_equal((get_mxcsr() >> 13) & 3, ROUND_UP);
	if (have_avx)
		assert_memory_equal(hi_after, ymm_hi, 16);
	set_round(old_round);
	free(r_frame);
	free(r_xsave);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_layout),
		cmocka_unit_test(test_matches_kernel_frame),
		cmocka_unit_test(test_frame_size),
		cmocka_unit_test(test_relocation),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_resume_through_sigreturn),
	};

	unit_seed("test_sigframe");
	return cmocka_run_group_tests(tests, setup, NULL);
}

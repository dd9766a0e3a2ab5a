/*
 * regs01 - the register state that the x86-64 ABI preserves across a call
 * survives a restart, and still does what it did:
 *
 *   - the rounding mode (fesetround(FE_UPWARD)), x87 precision control set
 *     to single precision, and MXCSR flush-to-zero and denormals-are-zero
 *     are all still set (fegetround, fnstcw, _mm_getcsr);
 *   - they are still in effect: long double (x87) and double (SSE)
 *     computations give the very bits they gave before the checkpoint,
 *     bits that differ from those of the default settings;
 *   - the callee-saved registers rbx, rbp and r12-r15 hold, when the
 *     checkpoint call returns in the restarted process, the values they
 *     held when it was made (checked from assembly, so that nothing but
 *     the call itself stands between the two);
 *   - volatile locals and values the compiler keeps in registers across
 *     the call are intact.
 */
#include <fenv.h>
#include <float.h>
#include <stdint.h>
#include <xmmintrin.h>

#include "zdtm.h"

#define MXCSR_DAZ 0x0040u
#define MXCSR_FTZ 0x8000u
#define CW_PC_MASK 0x0300u		/* precision control: 00 is single */

struct results {
	long double ld_third, ld_sqrt2;
	double d_third, d_half_min, d_daz;
	float f_third;
};

static uint16_t x87_cw(void)
{
	uint16_t cw;

	__asm__ volatile("fnstcw %0" : "=m"(cw));
	return cw;
}

static void set_x87_cw(uint16_t cw)
{
	__asm__ volatile("fldcw %0" : : "m"(cw));
}

static void compute(struct results *r)
{
	volatile long double one = 1.0L, three = 3.0L, two = 2.0L;
	volatile double d1 = 1.0, d3 = 3.0, dmin = DBL_MIN, half = 0.5;
	volatile double denormal = DBL_MIN / 4, unit = 1.0;
	volatile float f1 = 1.0f, f3 = 3.0f;

	memset(r, 0, sizeof(*r));
	r->ld_third = one / three;
	r->ld_sqrt2 = __builtin_sqrtl(two);
	r->d_third = d1 / d3;
	r->d_half_min = dmin * half;
	r->d_daz = denormal * unit;
	r->f_third = f1 / f3;
}

static uint64_t bits(double d)
{
	uint64_t u;

	memcpy(&u, &d, 8);
	return u;
}

/* Compare bit patterns; long double has 6 bytes of padding, zeroed. */
static void same_bits(const void *a, const void *b, size_t n, const char *what)
{
	const uint8_t *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		CHECK(x[i] == y[i], "%s: byte %zu is %#x, was %#x", what, i, y[i], x[i]);
}

/*
 * ckpt_regs(out): load known values into every callee-saved register, call
 * do_ckpt() (the checkpoint; it returns only in the restarted process),
 * store what the registers hold then into out[0..5], restore the caller's
 * registers and return do_ckpt's value.
 */
long ckpt_regs(uint64_t *out);

static long __attribute__((used, noinline)) do_ckpt(void)
{
	return test_checkpoint();
}

#define K_RBX 0x1111deadbeef0001ULL
#define K_RBP 0x2222cafef00d0002ULL
#define K_R12 0x3333123456780003ULL
#define K_R13 0x4444876543210004ULL
#define K_R14 0x5555a5a5a5a50005ULL
#define K_R15 0x66665a5a5a5a0006ULL
#define STR_(x) #x
#define STR(x) STR_(x)

__asm__(".text\n"
	".globl ckpt_regs\n"
	".type ckpt_regs, @function\n"
	"ckpt_regs:\n"
	"	push %rbx\n"
	"	push %rbp\n"
	"	push %r12\n"
	"	push %r13\n"
	"	push %r14\n"
	"	push %r15\n"
	"	push %rdi\n"		/* 7 pushes: rsp is 16-byte aligned */
	"	movabs $" STR(K_RBX) ", %rbx\n"
	"	movabs $" STR(K_RBP) ", %rbp\n"
	"	movabs $" STR(K_R12) ", %r12\n"
	"	movabs $" STR(K_R13) ", %r13\n"
	"	movabs $" STR(K_R14) ", %r14\n"
	"	movabs $" STR(K_R15) ", %r15\n"
	"	call do_ckpt\n"
	"	pop %rdi\n"
	"	mov %rbx, 0(%rdi)\n"
	"	mov %rbp, 8(%rdi)\n"
	"	mov %r12, 16(%rdi)\n"
	"	mov %r13, 24(%rdi)\n"
	"	mov %r14, 32(%rdi)\n"
	"	mov %r15, 40(%rdi)\n"
	"	pop %r15\n"
	"	pop %r14\n"
	"	pop %r13\n"
	"	pop %r12\n"
	"	pop %rbp\n"
	"	pop %rbx\n"
	"	ret\n"
	".size ckpt_regs, . - ckpt_regs\n");

int main(int argc, char **argv __attribute__((unused)))
{
	static const uint64_t want[6] = { K_RBX, K_RBP, K_R12, K_R13, K_R14, K_R15 };
	static const char *const names[6] = { "rbx", "rbp", "r12", "r13", "r14", "r15" };
	struct results def, before, after;
	uint64_t regs[6] = { 0 };
	volatile uint64_t v1 = 0x0123456789abcdefULL;
	volatile double v2 = 2.718281828459045;
	volatile int v3 = -424242;
	/* Not volatile: the compiler keeps these in registers across calls. */
	uint64_t k1 = v1 * 3 + (uint64_t)argc, k2 = v1 ^ 0xffff0000ffff0000ULL;
	uint64_t k3 = k1 + k2 * 7, k4 = (k3 << 13) | (k1 >> 51);

	compute(&def);
	CHECK(fesetround(FE_UPWARD) == 0, "fesetround");
	set_x87_cw((uint16_t)(x87_cw() & ~CW_PC_MASK));
	_mm_setcsr(_mm_getcsr() | MXCSR_FTZ | MXCSR_DAZ);
	const uint16_t cw = x87_cw();
	const unsigned csr = _mm_getcsr();

	compute(&before);
	/* The settings matter: each result differs from the default one. */
	CHECK(memcmp(&def.ld_third, &before.ld_third, 10), "x87 precision has no effect");
	CHECK(memcmp(&def.d_third, &before.d_third, 8), "rounding has no effect");
	/* Compared as bits: with DAZ set, a denormal compares equal to 0. */
	CHECK(bits(def.d_half_min) && !bits(before.d_half_min), "FTZ has no effect");
	CHECK(bits(def.d_daz) && !bits(before.d_daz), "DAZ has no effect");
	test_log("x87 cw %#x, mxcsr %#x before the checkpoint", cw, csr);

	CHECK(ckpt_regs(regs) == 1, "checkpoint id %ld", selfckpt_last_id());

	for (int i = 0; i < 6; i++)
		CHECK(regs[i] == want[i], "%s is %#llx after the restart, was %#llx",
		      names[i], (unsigned long long)regs[i],
		      (unsigned long long)want[i]);
	CHECK(fegetround() == FE_UPWARD, "rounding mode is %#x, was FE_UPWARD (%#x)",
	      fegetround(), FE_UPWARD);
	CHECK(x87_cw() == cw, "x87 control word is %#x, was %#x", x87_cw(), cw);
	/* The control bits; the six exception flags are sticky status. */
	CHECK((_mm_getcsr() & ~0x3fu) == (csr & ~0x3fu), "MXCSR is %#x, was %#x",
	      _mm_getcsr(), csr);
	compute(&after);
	same_bits(&before.ld_third, &after.ld_third, 10, "long double 1/3");
	same_bits(&before.ld_sqrt2, &after.ld_sqrt2, 10, "long double sqrt(2)");
	same_bits(&before.d_third, &after.d_third, 8, "double 1/3");
	same_bits(&before.d_half_min, &after.d_half_min, 8, "DBL_MIN / 2 (FTZ)");
	same_bits(&before.d_daz, &after.d_daz, 8, "denormal * 1 (DAZ)");
	same_bits(&before.f_third, &after.f_third, 4, "float 1/3");

	CHECK(v1 == 0x0123456789abcdefULL, "volatile v1 is %#llx", (unsigned long long)v1);
	CHECK(v2 == 2.718281828459045, "volatile v2 is %.17g", v2);
	CHECK(v3 == -424242, "volatile v3 is %d", v3);
	CHECK(k1 == 0x0123456789abcdefULL * 3 + (uint64_t)argc &&
		      k2 == (0x0123456789abcdefULL ^ 0xffff0000ffff0000ULL) &&
		      k3 == k1 + k2 * 7 && k4 == ((k3 << 13) | (k1 >> 51)),
	      "register-held locals changed");
	pass();
}

/*
 * sigframe.c - the rt_sigframe through which the restorer resumes a thread.
 *
 * rt_sigreturn restores, in one system call, every general register, rip,
 * rsp, rflags, the whole XSAVE state, the signal mask and the sigaltstack
 * setting; that is why the restorer ends in it (as CRIU's does), rather
 * than loading registers by hand. The frame is built here, in ordinary
 * code, directly at its final address inside the restorer's area.
 *
 * The kernel's layout (arch/x86/include/uapi/asm/sigcontext.h, ucontext.h)
 * is mirrored below with asserts, because the glibc and kernel headers that
 * define it cannot be included together.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arch.h"
#include "nolibc/fmt.h"

#define FP_XSTATE_MAGIC1 0x46505853U
#define FP_XSTATE_MAGIC2 0x46505845U
#define UC_FP_XSTATE 0x1
#define UC_SIGCONTEXT_SS 0x2
#define UC_STRICT_RESTORE_SS 0x4
#define USER_CS 0x33
#define USER_DS 0x2b
#define SW_RESERVED_OFF 464		/* fxregs_state.sw_reserved */

struct k_stack {
	uint64_t ss_sp;
	int32_t ss_flags;
	int32_t pad;
	uint64_t ss_size;
};

struct k_sigcontext {
	struct sck_gregs g;
	uint16_t cs, gs, fs, ss;
	uint64_t err, trapno, oldmask, cr2;
	uint64_t fpstate;
	uint64_t reserved1[8];
};

struct k_ucontext {
	uint64_t uc_flags;
	uint64_t uc_link;
	struct k_stack uc_stack;
	struct k_sigcontext uc_mcontext;
	uint64_t uc_sigmask;
};

struct k_rt_sigframe {
	uint64_t pretcode;
	struct k_ucontext uc;
	uint8_t info[128];
};

struct fpx_sw_bytes {
	uint32_t magic1;
	uint32_t extended_size;
	uint64_t xfeatures;
	uint32_t xstate_size;
	uint32_t padding[7];
};

_Static_assert(sizeof(struct k_sigcontext) == 256, "sigcontext");
_Static_assert(offsetof(struct k_ucontext, uc_mcontext) == 40, "ucontext");
_Static_assert(sizeof(struct k_ucontext) == 304, "ucontext size");
_Static_assert(sizeof(struct fpx_sw_bytes) == 48, "sw bytes");

/* The frame, then the XSAVE area at the next 64-byte boundary. */
#define FPSTATE_OFF \
	((sizeof(struct k_rt_sigframe) + SCK_XSAVE_ALIGN - 1) & \
	 ~(size_t)(SCK_XSAVE_ALIGN - 1))

size_t selfckpt__sigframe_size(const struct sck_cpu *cur)
{
	return FPSTATE_OFF + cur->xsave_size + 4 + SCK_XSAVE_ALIGN;
}

/* Standard-format size of the features in 'mask', laid out as on 'cpu'. */
static uint32_t layout_size(const struct sck_cpu *cpu, uint64_t mask)
{
	uint32_t size = SCK_XSAVE_LEGACY;

	for (uint32_t i = 2; i < 32; i++)
		if ((mask & (1ULL << i)) && cpu->xoff[i] + cpu->xsize[i] > size)
			size = cpu->xoff[i] + cpu->xsize[i];
	return size;
}

int selfckpt__build_sigframe(void *mem, const struct sck_thread *t,
			     const void *xsave, const struct sck_cpu *img,
			     const struct sck_cpu *cur, uint64_t *sp,
			     char *why, size_t n)
{
	struct k_rt_sigframe *f = mem;
	uint8_t *fp = (uint8_t *)mem + FPSTATE_OFF;
	uint64_t feats = t->xfeatures;

	if ((uintptr_t)mem % SCK_XSAVE_ALIGN) {
		selfckpt__fmt(why, n, "signal frame misaligned");
		return -22;
	}
	if (feats & ~cur->xfeatures) {
		selfckpt__fmt(why, n,
			      "thread %d has xstate features 0x%lx this CPU lacks",
			      t->tid, (unsigned long)(feats & ~cur->xfeatures));
		return -22;
	}
	if (t->xsave_size < SCK_XSAVE_LEGACY ||
	    t->xsave_size < layout_size(img, feats)) {
		selfckpt__fmt(why, n, "thread %d: xsave area too small", t->tid);
		return -22;
	}

	memset(f, 0, sizeof(*f));
	f->uc.uc_flags = UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS;
	f->uc.uc_stack.ss_sp = t->altstack_sp;
	f->uc.uc_stack.ss_flags = (int32_t)t->altstack_flags;
	f->uc.uc_stack.ss_size = t->altstack_size;
	f->uc.uc_mcontext.g = t->regs;
	f->uc.uc_mcontext.cs = USER_CS;
	f->uc.uc_mcontext.ss = USER_DS;
	f->uc.uc_mcontext.fpstate = (uint64_t)(uintptr_t)fp;
	f->uc.uc_sigmask = t->sigmask;

	/*
	 * Legacy area and header are fixed by the architecture; each extended
	 * feature moves from the image CPU's standard offset to this CPU's
	 * (they agree on all CPUs we know, but nothing promises it).
	 */
	uint32_t size = layout_size(cur, feats);

	memset(fp, 0, size + 4);
	memcpy(fp, xsave, SCK_XSAVE_LEGACY);
	for (uint32_t i = 2; i < 32; i++) {
		if (!(feats & (1ULL << i)))
			continue;
		if (img->xsize[i] != cur->xsize[i]) {
			selfckpt__fmt(why, n, "xstate feature %u changed size", i);
			return -22;
		}
		memcpy(fp + cur->xoff[i], (const uint8_t *)xsave + img->xoff[i],
		       img->xsize[i]);
	}
	/* XCOMP_BV must be 0 for the standard format. */
	memset(fp + 512 + 8, 0, 8);

	struct fpx_sw_bytes sw = {
		.magic1 = FP_XSTATE_MAGIC1,
		.extended_size = size + 4,
		.xfeatures = feats,
		.xstate_size = size,
	};
	uint32_t magic2 = FP_XSTATE_MAGIC2;

	memcpy(fp + SW_RESERVED_OFF, &sw, sizeof(sw));
	memcpy(fp + size, &magic2, 4);

	/* rt_sigreturn finds the frame at rsp - 8 (the popped pretcode). */
	*sp = (uint64_t)(uintptr_t)&f->uc;
	return 0;
}

/*
 * arch.h - what generic code needs from the architecture (x86-64).
 *
 * Generic code includes "arch.h" and never tests __x86_64__ itself; a port
 * adds arch/<name>/ with the same interface.
 *
 *  - raw system calls (syscall_arch.h);
 *  - capturing the calling thread's registers and extended state in a form
 *    that the restorer can resume with rt_sigreturn (context.S);
 *  - the CPU fingerprint stored in the image and the test that an image's
 *    CPU state can be restored on this CPU (cpu.c, P11);
 *  - building the signal frame that resumes a thread (sigframe.c).
 */
#ifndef SELFCKPT_ARCH_H
#define SELFCKPT_ARCH_H

#include <stddef.h>
#include <stdint.h>

#include "syscall_arch.h"
#include "image-format.h"

#define SCK_ARCH SCK_ARCH_X86_64
#define SCK_XSAVE_ALIGN 64
#define SCK_XSAVE_LEGACY 576		/* FXSAVE area + XSAVE header */

/* A captured thread: registers, then the standard-format XSAVE area. */
struct sck_ctx {
	struct sck_gregs regs;		/* offset 0, layout known to context.S */
	uint64_t xsave_mask;		/* offset 144: features to save */
	void *xsave;			/* offset 152: zeroed, 64-byte aligned */
};

/*
 * Save the calling thread's registers and XSAVE state into ctx. Returns 1
 * after saving. When the restorer resumes ctx (rt_sigreturn), the call
 * returns a second time, with 0: the fork-like contract of
 * selfckpt_checkpoint() rests on this. As with setjmp, locals the caller
 * changes after the first return are undefined after the second.
 * Async-signal-safe.
 */
long selfckpt__ctx_save(struct sck_ctx *ctx) __attribute__((returns_twice));

/* sa_restorer for handlers installed with the raw system call. */
void selfckpt__rt_restorer(void);

/* The CPU fingerprint of this machine, as stored in an image header. */
void selfckpt__cpu_probe(struct sck_cpu *cpu);

/*
 * Can a thread saved on CPU 'img' resume on CPU 'cur'? Every feature bit
 * that libc or the program may have chosen code paths by must be present
 * here, and every saved xstate feature must be restorable. On failure,
 * writes a one-line reason naming the missing features into why.
 */
int selfckpt__cpu_compatible(const struct sck_cpu *img,
			     const struct sck_cpu *cur, char *why, size_t n);

/* FS and GS base of the calling thread (FSGSBASE or arch_prctl). */
uint64_t selfckpt__get_fs_base(void);
uint64_t selfckpt__get_gs_base(void);

/* Bytes needed by selfckpt__build_sigframe for a frame with this state. */
size_t selfckpt__sigframe_size(const struct sck_cpu *cur);

/*
 * Build, at mem (its final address; 64-byte aligned, sigframe_size bytes),
 * the rt_sigframe that resumes thread t: its registers, signal mask,
 * sigaltstack and extended state converted from the image CPU's XSAVE
 * layout to this one. *sp receives the stack pointer to load before
 * rt_sigreturn. Returns 0 or -EINVAL with a reason in why.
 */
int selfckpt__build_sigframe(void *mem, const struct sck_thread *t,
			     const void *xsave, const struct sck_cpu *img,
			     const struct sck_cpu *cur, uint64_t *sp,
			     char *why, size_t n);

#endif

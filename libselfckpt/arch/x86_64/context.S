/*
 * context.S - capture the calling thread for a later rt_sigreturn.
 *
 * long selfckpt__ctx_save(struct sck_ctx *ctx)
 *
 * Stores every general register in struct sigcontext order, the flags, and
 * an XSAVE64 image of the features in ctx->xsave_mask (x87, SSE, AVX,
 * AVX-512 ... including MXCSR and the x87 control word) into ctx->xsave,
 * which the caller zeroed and aligned to 64 bytes: XSAVE leaves the XCOMP_BV
 * word of the header untouched, and XRSTOR of a standard-format area wants
 * it zero.
 *
 * The saved state is that of the caller just after the call returned: rip
 * is our return address, rsp is one slot above it, rax is 0. The stack slot
 * holding the return address is not used on resume, on purpose: the
 * caller's next call (the writer) overwrites it before its page is saved.
 * So the call returns 1 now and, when the restorer resumes the state, "returns"
 * again with 0, like setjmp; callers must be marked returns_twice and must
 * not rely on locals they modify after the first return.
 */
	.text
	.globl	selfckpt__ctx_save
	.hidden	selfckpt__ctx_save
	.type	selfckpt__ctx_save, @function
selfckpt__ctx_save:
	.cfi_startproc
	movq	%r8, 0(%rdi)
	movq	%r9, 8(%rdi)
	movq	%r10, 16(%rdi)
	movq	%r11, 24(%rdi)
	movq	%r12, 32(%rdi)
	movq	%r13, 40(%rdi)
	movq	%r14, 48(%rdi)
	movq	%r15, 56(%rdi)
	movq	%rdi, 64(%rdi)
	movq	%rsi, 72(%rdi)
	movq	%rbp, 80(%rdi)
	movq	%rbx, 88(%rdi)
	movq	%rdx, 96(%rdi)
	movq	$0, 104(%rdi)		/* rax on resume: the second return */
	movq	%rcx, 112(%rdi)
	leaq	8(%rsp), %rax		/* the caller's rsp after we return */
	movq	%rax, 120(%rdi)
	movq	(%rsp), %rax		/* our return address */
	movq	%rax, 128(%rdi)
	pushfq
	popq	136(%rdi)
	movq	144(%rdi), %rax		/* requested-feature bitmap in edx:eax */
	movq	%rax, %rdx
	shrq	$32, %rdx
	movq	152(%rdi), %rcx
	xsave64	(%rcx)
	movl	$1, %eax
	ret
	.cfi_endproc
	.size	selfckpt__ctx_save, .-selfckpt__ctx_save

/*
 * The sa_restorer of handlers the library installs with the raw
 * rt_sigaction system call (libc supplies its own to libc's sigaction).
 */
	.globl	selfckpt__rt_restorer
	.hidden	selfckpt__rt_restorer
	.type	selfckpt__rt_restorer, @function
selfckpt__rt_restorer:
	movl	$15, %eax		/* __NR_rt_sigreturn */
	syscall
	ud2
	.size	selfckpt__rt_restorer, .-selfckpt__rt_restorer

	.section .note.GNU-stack,"",@progbits

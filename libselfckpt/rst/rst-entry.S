/*
 * rst-entry.S - entry into the restorer blob, and its exit.
 *
 * The launcher jumps to offset 0 of the blob (.text.entry is linked first)
 * with rdi = struct rst_args * and rsp at the top of the blob's stack.
 * rst_sigreturn() is the exit: it loads the prepared rt_sigframe and asks
 * the kernel to resume the thread from it; it does not return.
 */
	.section .text.entry, "ax"
	.globl	rst_entry
	.hidden	rst_entry
	.type	rst_entry, @function
rst_entry:
	andq	$-16, %rsp
	xorl	%ebp, %ebp
	call	rst_main
	ud2
	.size	rst_entry, .-rst_entry

	.text
	.globl	rst_sigreturn
	.hidden	rst_sigreturn
	.type	rst_sigreturn, @function
rst_sigreturn:
	movq	%rdi, %rsp
	movl	$15, %eax		/* __NR_rt_sigreturn */
	syscall
	ud2
	.size	rst_sigreturn, .-rst_sigreturn

/*
 * long rst_clone3(struct clone_args *args, size_t size,
 *		   void (*fn)(void *), void *arg)
 *
 * clone3 for a new thread: the parent gets the child's tid (or -errno);
 * the child starts here on its new stack and calls fn(arg), which never
 * returns. fn and arg travel in r8 and r9, which the syscall preserves.
 */
	.globl	rst_clone3
	.hidden	rst_clone3
	.type	rst_clone3, @function
rst_clone3:
	movq	%rdx, %r8
	movq	%rcx, %r9
	movl	$435, %eax		/* __NR_clone3 */
	syscall
	testq	%rax, %rax
	jnz	1f
	xorl	%ebp, %ebp		/* the child: a fresh stack, no frames */
	movq	%r9, %rdi
	andq	$-16, %rsp
	call	*%r8
	ud2
1:	ret
	.size	rst_clone3, .-rst_clone3

	.section .note.GNU-stack,"",@progbits

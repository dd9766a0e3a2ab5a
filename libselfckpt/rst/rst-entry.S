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

	.section .note.GNU-stack,"",@progbits

/*
 * syscall_arch.h - raw system calls on x86-64.
 *
 * The restorer (rst/) and the part of the checkpoint that runs after the
 * registers are captured (writer.c) may not call libc: a libc wrapper can
 * touch errno, cancellation state or lazy-binding tables, all of which are
 * in the memory being saved or replaced. They use these inline functions,
 * which return the kernel's result unchanged: a value >= 0, or -errno.
 *
 * Freestanding: no libc headers.
 */
#ifndef SELFCKPT_SYSCALL_ARCH_H
#define SELFCKPT_SYSCALL_ARCH_H

#define SCK_SYSCALL_CLOBBERS "rcx", "r11", "memory"

static inline long sck_syscall0(long n)
{
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(n) : SCK_SYSCALL_CLOBBERS);
	return ret;
}

static inline long sck_syscall1(long n, long a1)
{
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a1)
			 : SCK_SYSCALL_CLOBBERS);
	return ret;
}

static inline long sck_syscall2(long n, long a1, long a2)
{
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a1), "S"(a2)
			 : SCK_SYSCALL_CLOBBERS);
	return ret;
}

static inline long sck_syscall3(long n, long a1, long a2, long a3)
{
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a1), "S"(a2), "d"(a3)
			 : SCK_SYSCALL_CLOBBERS);
	return ret;
}

static inline long sck_syscall4(long n, long a1, long a2, long a3, long a4)
{
	long ret;
	register long r10 __asm__("r10") = a4;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10)
			 : SCK_SYSCALL_CLOBBERS);
	return ret;
}

static inline long sck_syscall5(long n, long a1, long a2, long a3, long a4,
				long a5)
{
	long ret;
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8)
			 : SCK_SYSCALL_CLOBBERS);
	return ret;
}

static inline long sck_syscall6(long n, long a1, long a2, long a3, long a4,
				long a5, long a6)
{
	long ret;
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	register long r9 __asm__("r9") = a6;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8),
			   "r"(r9)
			 : SCK_SYSCALL_CLOBBERS);
	return ret;
}

/* The kernel returns -4095..-1 for errors, anything else is a result. */
static inline int sck_is_err(long ret)
{
	return (unsigned long)ret > (unsigned long)-4096L;
}

#endif /* SELFCKPT_SYSCALL_ARCH_H */

/*
 * compat.h - kernel interfaces newer than the build machine's headers.
 *
 * Debian 12 ships linux-libc-dev 6.1, but the library runs on kernels up to
 * the newest. Every constant or structure that a 6.1 header lacks is defined
 * here, once, guarded with #ifndef, with the value from the kernel's uapi
 * headers. Nothing here says the running kernel has the feature: each user
 * probes at run time and falls back (see docs/design.md, "Kernel features").
 *
 * This header is freestanding: it is included by the restorer in rst/ too,
 * so it may only include kernel uapi headers, never libc ones.
 */
#ifndef SELFCKPT_COMPAT_H
#define SELFCKPT_COMPAT_H

#include <linux/types.h>
#include <linux/fs.h>
#include <linux/mman.h>
#include <linux/prctl.h>
#include <linux/auxvec.h>
#include <asm/prctl.h>

/* PAGEMAP_SCAN ioctl on /proc/PID/pagemap (Linux 6.7). */
#ifndef PAGEMAP_SCAN
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_FILE (1 << 2)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#define PAGE_IS_PFNZERO (1 << 5)
#define PAGE_IS_HUGE (1 << 6)
#define PAGE_IS_SOFT_DIRTY (1 << 7)
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)

struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};

struct pm_scan_arg {
	__u64 size;
	__u64 flags;
	__u64 start;
	__u64 end;
	__u64 walk_end;
	__u64 vec;
	__u64 vec_len;
	__u64 max_pages;
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};
#endif

/* Guard regions installed with MADV_GUARD_INSTALL (Linux 6.13, P2). */
#ifndef PAGE_IS_GUARD
#define PAGE_IS_GUARD (1 << 8)
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
#endif

/* pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst, P19). */
#define PM_ENTRY_PRESENT (1ULL << 63)
#define PM_ENTRY_SWAPPED (1ULL << 62)
#define PM_ENTRY_FILE (1ULL << 61)
#define PM_ENTRY_GUARD (1ULL << 58)	/* Linux 6.15 */
#define PM_ENTRY_UFFD_WP (1ULL << 57)
#define PM_ENTRY_EXCLUSIVE (1ULL << 56)

/* userfaultfd asynchronous write-protect (Linux 6.7, P18). */
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

/* Auxiliary vector entries for rseq (Linux 6.3, P1). */
#ifndef AT_RSEQ_FEATURE_SIZE
#define AT_RSEQ_FEATURE_SIZE 27
#define AT_RSEQ_ALIGN 28
#endif
#ifndef AT_MINSIGSTKSZ
#define AT_MINSIGSTKSZ 51
#endif

/* rseq(2): the kernel ABI, independent of the libc's headers. */
#define SELFCKPT_RSEQ_SIG 0x53053053U	/* RSEQ_SIG on x86 */
#define SELFCKPT_RSEQ_FLAG_UNREGISTER 1
#define SELFCKPT_RSEQ_MIN_LEN 32	/* ORIG_RSEQ_SIZE */

/* x86 user shadow stack (Linux 6.6, P4). */
#ifndef ARCH_SHSTK_ENABLE
#define ARCH_SHSTK_ENABLE 0x5001
#define ARCH_SHSTK_DISABLE 0x5002
#define ARCH_SHSTK_LOCK 0x5003
#define ARCH_SHSTK_UNLOCK 0x5004
#define ARCH_SHSTK_STATUS 0x5005
#define ARCH_SHSTK_SHSTK (1ULL << 0)
#define ARCH_SHSTK_WRSS (1ULL << 1)
#endif

/* Exact POSIX timer ids on restore (added to Linux in 2025, P13). */
#ifndef PR_TIMER_CREATE_RESTORE_IDS
#define PR_TIMER_CREATE_RESTORE_IDS 77
#define PR_TIMER_CREATE_RESTORE_IDS_OFF 0
#define PR_TIMER_CREATE_RESTORE_IDS_ON 1
#define PR_TIMER_CREATE_RESTORE_IDS_GET 2
#endif

/* Named anonymous memory (Linux 5.17). */
#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

/* Memory-deny-write-execute (Linux 6.3). */
#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#define PR_GET_MDWE 66
#endif

/* MAP_FIXED_NOREPLACE (Linux 4.17, P7); in 6.1 headers, kept for clarity. */
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

/* clone3 with set_tid (Linux 5.5, P14). */
#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ULL
#endif

/* close_range(2) (Linux 5.9). */
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#endif /* SELFCKPT_COMPAT_H */

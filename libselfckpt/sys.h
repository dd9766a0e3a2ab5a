/*
 * sys.h - named raw system calls for code that must not use libc.
 *
 * Used by the restorer (rst/), by the writer that runs after the registers
 * are captured (writer.c), and by checkpoint code that may run inside a
 * signal handler. Each returns what the kernel returns: >= 0 on success,
 * -errno on failure. errno is never touched.
 *
 * Freestanding: only compiler-provided and kernel uapi headers.
 */
#ifndef SELFCKPT_SYS_H
#define SELFCKPT_SYS_H

#include <stddef.h>
#include <stdint.h>
#include <asm/unistd.h>
#include <linux/time_types.h>

#include "arch.h"

struct stat;
struct kernel_sigaction;
struct rlimit64;
struct itimerval;

static inline long sys_read(int fd, void *buf, size_t n)
{
	return sck_syscall3(__NR_read, fd, (long)buf, (long)n);
}

static inline long sys_write(int fd, const void *buf, size_t n)
{
	return sck_syscall3(__NR_write, fd, (long)buf, (long)n);
}

static inline long sys_writev(int fd, const void *iov, int iovcnt)
{
	return sck_syscall3(__NR_writev, fd, (long)iov, iovcnt);
}

static inline long sys_pread(int fd, void *buf, size_t n, int64_t off)
{
	return sck_syscall4(__NR_pread64, fd, (long)buf, (long)n, (long)off);
}

static inline long sys_pwrite(int fd, const void *buf, size_t n, int64_t off)
{
	return sck_syscall4(__NR_pwrite64, fd, (long)buf, (long)n, (long)off);
}

static inline long sys_openat(int dirfd, const char *path, int flags, int mode)
{
	return sck_syscall4(__NR_openat, dirfd, (long)path, flags, mode);
}

static inline long sys_shmat(int id, const void *addr, int flg)
{
	return sck_syscall3(__NR_shmat, id, (long)addr, flg);
}

static inline long sys_shmctl(int id, int cmd, void *buf)
{
	return sck_syscall3(__NR_shmctl, id, cmd, (long)buf);
}

static inline long sys_close(int fd)
{
	return sck_syscall1(__NR_close, fd);
}

static inline long sys_close_range(unsigned int first, unsigned int last,
				   unsigned int flags)
{
	return sck_syscall3(__NR_close_range, first, last, flags);
}

static inline long sys_dup3(int oldfd, int newfd, int flags)
{
	return sck_syscall3(__NR_dup3, oldfd, newfd, flags);
}

static inline long sys_fcntl(int fd, int cmd, long arg)
{
	return sck_syscall3(__NR_fcntl, fd, cmd, arg);
}

static inline long sys_lseek(int fd, int64_t off, int whence)
{
	return sck_syscall3(__NR_lseek, fd, (long)off, whence);
}

static inline long sys_fsync(int fd)
{
	return sck_syscall1(__NR_fsync, fd);
}

static inline long sys_ftruncate(int fd, int64_t len)
{
	return sck_syscall2(__NR_ftruncate, fd, (long)len);
}

static inline long sys_fstat(int fd, struct stat *st)
{
	return sck_syscall2(__NR_fstat, fd, (long)st);
}

static inline long sys_fstatat(int dirfd, const char *path, struct stat *st,
			       int flags)
{
	return sck_syscall4(__NR_newfstatat, dirfd, (long)path, (long)st,
			    flags);
}

static inline long sys_renameat(int olddir, const char *oldp, int newdir,
				const char *newp)
{
	return sck_syscall4(__NR_renameat, olddir, (long)oldp, newdir,
			    (long)newp);
}

static inline long sys_linkat(int olddir, const char *oldp, int newdir,
			      const char *newp, int flags)
{
	return sck_syscall5(__NR_linkat, olddir, (long)oldp, newdir, (long)newp,
			    flags);
}

static inline long sys_unlinkat(int dirfd, const char *path, int flags)
{
	return sck_syscall3(__NR_unlinkat, dirfd, (long)path, flags);
}

static inline long sys_readlinkat(int dirfd, const char *path, char *buf,
				  size_t n)
{
	return sck_syscall4(__NR_readlinkat, dirfd, (long)path, (long)buf,
			    (long)n);
}

static inline long sys_getdents64(int fd, void *buf, size_t n)
{
	return sck_syscall3(__NR_getdents64, fd, (long)buf, (long)n);
}

static inline long sys_pipe2(int *fds, int flags)
{
	return sck_syscall2(__NR_pipe2, (long)fds, flags);
}

/* Copy up to n bytes queued in pipe in into pipe out, consuming none. */
static inline long sys_tee(int in, int out, size_t n, unsigned int flags)
{
	return sck_syscall4(__NR_tee, in, out, (long)n, flags);
}

/* struct statfs of the kernel (asm/statfs.h), for f_type. */
static inline long sys_fstatfs(int fd, void *buf)
{
	return sck_syscall2(__NR_fstatfs, fd, (long)buf);
}

static inline long sys_fchmod(int fd, unsigned int mode)
{
	return sck_syscall2(__NR_fchmod, fd, mode);
}

static inline long sys_ioctl(int fd, unsigned long req, void *arg)
{
	return sck_syscall3(__NR_ioctl, fd, (long)req, (long)arg);
}

static inline void *sys_mmap(void *addr, size_t len, int prot, int flags,
			     int fd, int64_t off)
{
	return (void *)sck_syscall6(__NR_mmap, (long)addr, (long)len, prot,
				    flags, fd, (long)off);
}

static inline long sys_mmap_l(void *addr, size_t len, int prot, int flags,
			      int fd, int64_t off)
{
	return sck_syscall6(__NR_mmap, (long)addr, (long)len, prot, flags, fd,
			    (long)off);
}

static inline long sys_munmap(void *addr, size_t len)
{
	return sck_syscall2(__NR_munmap, (long)addr, (long)len);
}

static inline long sys_mremap(void *old, size_t oldlen, size_t newlen,
			      int flags, void *newaddr)
{
	return sck_syscall5(__NR_mremap, (long)old, (long)oldlen, (long)newlen,
			    flags, (long)newaddr);
}

static inline long sys_mprotect(void *addr, size_t len, int prot)
{
	return sck_syscall3(__NR_mprotect, (long)addr, (long)len, prot);
}

static inline long sys_madvise(void *addr, size_t len, int advice)
{
	return sck_syscall3(__NR_madvise, (long)addr, (long)len, advice);
}

static inline long sys_mincore(void *addr, size_t len, unsigned char *vec)
{
	return sck_syscall3(__NR_mincore, (long)addr, (long)len, (long)vec);
}

static inline long sys_mlock(const void *addr, size_t len)
{
	return sck_syscall2(__NR_mlock, (long)addr, (long)len);
}

static inline long sys_memfd_create(const char *name, unsigned int flags)
{
	return sck_syscall2(__NR_memfd_create, (long)name, flags);
}

static inline long sys_brk(unsigned long addr)
{
	return sck_syscall1(__NR_brk, (long)addr);
}

static inline long sys_prctl(int op, unsigned long a2, unsigned long a3,
			     unsigned long a4, unsigned long a5)
{
	return sck_syscall5(__NR_prctl, op, (long)a2, (long)a3, (long)a4,
			    (long)a5);
}

static inline long sys_arch_prctl(int code, unsigned long addr)
{
	return sck_syscall2(__NR_arch_prctl, code, (long)addr);
}

static inline long sys_rt_sigaction(int sig, const void *act, void *old)
{
	return sck_syscall4(__NR_rt_sigaction, sig, (long)act, (long)old, 8);
}

static inline long sys_rt_sigprocmask(int how, const uint64_t *set,
				      uint64_t *old)
{
	return sck_syscall4(__NR_rt_sigprocmask, how, (long)set, (long)old, 8);
}

static inline long sys_rt_sigpending(uint64_t *set)
{
	return sck_syscall2(__NR_rt_sigpending, (long)set, 8);
}

static inline long sys_sigaltstack(const void *ss, void *old)
{
	return sck_syscall2(__NR_sigaltstack, (long)ss, (long)old);
}

static inline long sys_ppoll(void *fds, unsigned long nfds,
			     const struct __kernel_timespec *ts)
{
	return sck_syscall5(__NR_ppoll, (long)fds, (long)nfds, (long)ts, 0, 8);
}

static inline long sys_getpid(void)
{
	return sck_syscall0(__NR_getpid);
}

static inline long sys_getppid(void)
{
	return sck_syscall0(__NR_getppid);
}

/* The process group and session of this process (pid 0: as seen here). */
static inline long sys_getpgid(int pid)
{
	return sck_syscall1(__NR_getpgid, pid);
}

static inline long sys_getsid(int pid)
{
	return sck_syscall1(__NR_getsid, pid);
}

static inline long sys_gettid(void)
{
	return sck_syscall0(__NR_gettid);
}

static inline long sys_getuid(void)
{
	return sck_syscall0(__NR_getuid);
}

static inline long sys_geteuid(void)
{
	return sck_syscall0(__NR_geteuid);
}

static inline long sys_tgkill(int tgid, int tid, int sig)
{
	return sck_syscall3(__NR_tgkill, tgid, tid, sig);
}

static inline long sys_kcmp(int pid1, int pid2, int type, unsigned long i1,
			    unsigned long i2)
{
	return sck_syscall5(__NR_kcmp, pid1, pid2, type, (long)i1, (long)i2);
}

static inline long sys_waitid(int idtype, int id, void *info, int options)
{
	return sck_syscall5(__NR_waitid, idtype, id, (long)info, options, 0);
}

static inline long sys_prlimit64(int pid, int res, const void *newl,
				 void *oldl)
{
	return sck_syscall4(__NR_prlimit64, pid, res, (long)newl, (long)oldl);
}

static inline long sys_getitimer(int which, void *cur)
{
	return sck_syscall2(__NR_getitimer, which, (long)cur);
}

static inline long sys_setitimer(int which, const void *val, void *old)
{
	return sck_syscall3(__NR_setitimer, which, (long)val, (long)old);
}

static inline long sys_personality(unsigned long persona)
{
	return sck_syscall1(__NR_personality, (long)persona);
}

static inline long sys_umask(int mask)
{
	return sck_syscall1(__NR_umask, mask);
}

static inline long sys_rseq(void *rseq, uint32_t len, int flags, uint32_t sig)
{
	return sck_syscall4(__NR_rseq, (long)rseq, len, flags, sig);
}

static inline long sys_set_tid_address(void *tidptr)
{
	return sck_syscall1(__NR_set_tid_address, (long)tidptr);
}

static inline long sys_set_robust_list(void *head, size_t len)
{
	return sck_syscall2(__NR_set_robust_list, (long)head, (long)len);
}

static inline long sys_get_robust_list(int pid, void *headp, size_t *lenp)
{
	return sck_syscall3(__NR_get_robust_list, pid, (long)headp,
			    (long)lenp);
}

static inline long sys_getrandom(void *buf, size_t n, unsigned int flags)
{
	return sck_syscall3(__NR_getrandom, (long)buf, (long)n, flags);
}

static inline long sys_clock_gettime(int clk, struct __kernel_timespec *ts)
{
	return sck_syscall2(__NR_clock_gettime, clk, (long)ts);
}

static inline long sys_nanosleep(const struct __kernel_timespec *req,
				 struct __kernel_timespec *rem)
{
	return sck_syscall2(__NR_nanosleep, (long)req, (long)rem);
}

static inline long sys_getpriority(int which, int who)
{
	return sck_syscall2(__NR_getpriority, which, who);
}

static inline long sys_setpriority(int which, int who, int prio)
{
	return sck_syscall3(__NR_setpriority, which, who, prio);
}

static inline long sys_sched_getscheduler(int pid)
{
	return sck_syscall1(__NR_sched_getscheduler, pid);
}

static inline long sys_sched_setscheduler(int pid, int policy,
					  const void *param)
{
	return sck_syscall3(__NR_sched_setscheduler, pid, policy, (long)param);
}

static inline long sys_sched_getparam(int pid, void *param)
{
	return sck_syscall2(__NR_sched_getparam, pid, (long)param);
}

static inline long sys_sched_getaffinity(int pid, size_t len, void *mask)
{
	return sck_syscall3(__NR_sched_getaffinity, pid, (long)len, (long)mask);
}

static inline long sys_sched_setaffinity(int pid, size_t len, const void *mask)
{
	return sck_syscall3(__NR_sched_setaffinity, pid, (long)len, (long)mask);
}

static inline long sys_ioprio_get(int which, int who)
{
	return sck_syscall2(__NR_ioprio_get, which, who);
}

static inline long sys_ioprio_set(int which, int who, int ioprio)
{
	return sck_syscall3(__NR_ioprio_set, which, who, ioprio);
}

static inline long sys_capset(void *hdr, const void *data)
{
	return sck_syscall2(__NR_capset, (long)hdr, (long)data);
}

/* Event-loop objects (res-evl.c, and the restorer for timerfds). */
static inline long sys_timerfd_gettime(int fd, void *cur)
{
	return sck_syscall2(__NR_timerfd_gettime, fd, (long)cur);
}

static inline long sys_timerfd_settime(int fd, int flags, const void *val,
				       void *old)
{
	return sck_syscall4(__NR_timerfd_settime, fd, flags, (long)val, (long)old);
}

static inline long sys_epoll_ctl(int epfd, int op, int fd, void *event)
{
	return sck_syscall4(__NR_epoll_ctl, epfd, op, fd, (long)event);
}

static inline long sys_open_by_handle_at(int mount_fd, void *handle, int flags)
{
	return sck_syscall3(__NR_open_by_handle_at, mount_fd, (long)handle, flags);
}

/* Sockets (res-sock.c): the process's own, and a sock_diag netlink one. */
static inline long sys_socket(int domain, int type, int proto)
{
	return sck_syscall3(__NR_socket, domain, type, proto);
}

static inline long sys_getsockopt(int fd, int level, int name, void *val,
				  uint32_t *len)
{
	return sck_syscall5(__NR_getsockopt, fd, level, name, (long)val,
			    (long)len);
}

static inline long sys_setsockopt(int fd, int level, int name,
				  const void *val, uint32_t len)
{
	return sck_syscall5(__NR_setsockopt, fd, level, name, (long)val,
			    (long)len);
}

static inline long sys_getsockname(int fd, void *addr, uint32_t *len)
{
	return sck_syscall3(__NR_getsockname, fd, (long)addr, (long)len);
}

static inline long sys_getpeername(int fd, void *addr, uint32_t *len)
{
	return sck_syscall3(__NR_getpeername, fd, (long)addr, (long)len);
}

static inline long sys_sendto(int fd, const void *buf, size_t n, int flags,
			      const void *addr, uint32_t alen)
{
	return sck_syscall6(__NR_sendto, fd, (long)buf, (long)n, flags,
			    (long)addr, (long)alen);
}

static inline long sys_recvmsg(int fd, void *msg, int flags)
{
	return sck_syscall3(__NR_recvmsg, fd, (long)msg, flags);
}
/* ---- signals and POSIX timers (res-signal.c, res-timer.c, rst/) ---- */

/* Dequeue one of set's pending signals; ts {0, 0}: -EAGAIN if none. */
static inline long sys_rt_sigtimedwait(const uint64_t *set, void *info,
				       const struct __kernel_timespec *ts)
{
	return sck_syscall4(__NR_rt_sigtimedwait, (long)set, (long)info,
			    (long)ts, 8);
}

static inline long sys_rt_sigqueueinfo(int tgid, int sig, const void *info)
{
	return sck_syscall3(__NR_rt_sigqueueinfo, tgid, sig, (long)info);
}

static inline long sys_rt_tgsigqueueinfo(int tgid, int tid, int sig,
					 const void *info)
{
	return sck_syscall4(__NR_rt_tgsigqueueinfo, tgid, tid, sig, (long)info);
}

static inline long sys_timer_create(int clock, void *sigevent, int *id)
{
	return sck_syscall3(__NR_timer_create, clock, (long)sigevent, (long)id);
}

static inline long sys_timer_settime(int id, int flags, const void *its,
				     void *old)
{
	return sck_syscall4(__NR_timer_settime, id, flags, (long)its, (long)old);
}

static inline long sys_timer_gettime(int id, void *its)
{
	return sck_syscall2(__NR_timer_gettime, id, (long)its);
}

static inline long sys_timer_getoverrun(int id)
{
	return sck_syscall1(__NR_timer_getoverrun, id);
}

static inline long sys_timer_delete(int id)
{
	return sck_syscall1(__NR_timer_delete, id);
}

/* ---- end of signals and POSIX timers ---- */

static __attribute__((noreturn)) inline void sys_exit_group(int code)
{
	for (;;)
		sck_syscall1(__NR_exit_group, code);
}

#endif /* SELFCKPT_SYS_H */

/*
 * interpose.c - keep the library's signal out of the program's way.
 *
 * The checkpoint stops threads with a reserved signal (threads.c). A
 * program must not be able to block it by accident (a thread that blocks
 * every signal with sigfillset would never stop), nor see it (issue 3: not
 * in a mask the program reads, not in sigpending, not taken by sigwait or
 * a signalfd), nor replace its handler. The shared library defines these
 * libc functions, so that a program linked with it calls them first; each
 * takes the reserved signal out of the sets it is given and of the sets it
 * returns, and passes the call on to libc's function (dlsym RTLD_NEXT).
 *
 * sigaction() of the reserved signal, once the library handles it, is
 * emulated: the program's action is stored, and the library's handler
 * forwards to it any such signal that is not a checkpoint request.
 *
 * Not in libselfckpt.a: a statically linked program would get two
 * definitions. There, a program that blocks every signal makes the
 * checkpoint fail after a timeout, with a message naming the thread and
 * the signal (docs/limitations.md).
 *
 * usleep() is here for another reason: glibc's passes no rem to nanosleep,
 * so a checkpoint during it could only restart the full sleep; this one
 * passes its request as rem, and the stop handler resumes the sleep for
 * the time that was left (threads.c, resume_call).
 *
 * inotify_add_watch() and inotify_rm_watch() are here because the kernel
 * shows a watch's inode but not its path: they record the path of each
 * watch (res-evl.c), which a checkpoint needs to watch it again.
 *
 * shmget(), semget() and msgget() are here because a semaphore set or a
 * message queue does not say who created it: they record each id the
 * program gets and whether the call created it (res-sysv.c), trying
 * IPC_CREAT with IPC_EXCL first when the program did not ask for it.
 * semop() and semtimedop() record the sets operated on with SEM_UNDO,
 * whose adjustments a checkpoint cannot read.
 *
 * These functions may run in signal handlers: the real ones are resolved
 * once, when the library is loaded, and nothing here allocates.
 */
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/select.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "objects.h"

#define EXPORT __attribute__((visibility("default")))

static int (*real_sigprocmask)(int, const sigset_t *, sigset_t *);
static int (*real_pthread_sigmask)(int, const sigset_t *, sigset_t *);
static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);
static int (*real_sigpending)(sigset_t *);
static int (*real_sigsuspend)(const sigset_t *);
static int (*real_sigwait)(const sigset_t *, int *);
static int (*real_sigwaitinfo)(const sigset_t *, siginfo_t *);
static int (*real_sigtimedwait)(const sigset_t *, siginfo_t *,
				const struct timespec *);
static int (*real_signalfd)(int, const sigset_t *, int);
static int (*real_ppoll)(struct pollfd *, nfds_t, const struct timespec *,
			 const sigset_t *);
static int (*real_pselect)(int, fd_set *, fd_set *, fd_set *,
			   const struct timespec *, const sigset_t *);
static int (*real_epoll_pwait)(int, struct epoll_event *, int, int,
			       const sigset_t *);
static int (*real_inotify_add_watch)(int, const char *, uint32_t);
static int (*real_inotify_rm_watch)(int, int);
static int (*real_shmget)(key_t, size_t, int);
static int (*real_semget)(key_t, int, int);
static int (*real_msgget)(key_t, int);
static int (*real_semop)(int, struct sembuf *, size_t);
static int (*real_semtimedop)(int, struct sembuf *, size_t, const struct timespec *);

#define RESOLVE(name) (real_##name = (__typeof__(real_##name))dlsym(RTLD_NEXT, #name))
/*
 * Called before the constructor below (by a sanitizer's runtime, which
 * starts before every constructor, or by the constructor of a library
 * that runs before ours): resolve then.
 */
#define REAL(name) (real_##name ? real_##name : RESOLVE(name))

__attribute__((constructor)) static void resolve(void)
{
	RESOLVE(sigprocmask);
	RESOLVE(pthread_sigmask);
	RESOLVE(sigaction);
	RESOLVE(sigpending);
	RESOLVE(sigsuspend);
	RESOLVE(sigwait);
	RESOLVE(sigwaitinfo);
	RESOLVE(sigtimedwait);
	RESOLVE(signalfd);
	RESOLVE(ppoll);
	RESOLVE(pselect);
	RESOLVE(epoll_pwait);
	RESOLVE(inotify_add_watch);
	RESOLVE(inotify_rm_watch);
	RESOLVE(shmget);
	RESOLVE(semget);
	RESOLVE(msgget);
	RESOLVE(semop);
	RESOLVE(semtimedop);
}

static int missing(void)
{
	errno = ENOSYS;
	return -1;
}

/* A copy of set without the reserved signal, or NULL for NULL. */
static const sigset_t *strip(const sigset_t *set, sigset_t *copy)
{
	if (!set)
		return NULL;
	*copy = *set;
	sigdelset(copy, selfckpt__ckpt_signal());
	return copy;
}

static void hide(sigset_t *set)
{
	if (set)
		sigdelset(set, selfckpt__ckpt_signal());
}

EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	sigset_t copy;
	int r;

	if (!REAL(sigprocmask))
		return missing();
	r = real_sigprocmask(how, how == SIG_UNBLOCK ? set : strip(set, &copy), old);
	if (r == 0)
		hide(old);
	return r;
}

EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	sigset_t copy;
	int r;

	if (!REAL(pthread_sigmask))
		return ENOSYS;
	r = real_pthread_sigmask(how, how == SIG_UNBLOCK ? set : strip(set, &copy),
				 old);
	if (r == 0)
		hide(old);
	return r;
}

/* Kernel and libc forms of an action, for the emulated signal. */
static void to_kernel(const struct sigaction *a, struct sck_sigaction *k)
{
	memset(k, 0, sizeof(*k));
	k->handler = (uint64_t)(uintptr_t)a->sa_handler;
	k->flags = (uint64_t)(unsigned)a->sa_flags;
	memcpy(&k->mask, &a->sa_mask, sizeof(k->mask));
}

static void from_kernel(const struct sck_sigaction *k, struct sigaction *a)
{
	memset(a, 0, sizeof(*a));
	a->sa_handler = (void (*)(int))(uintptr_t)k->handler;
	a->sa_flags = (int)k->flags;
	memcpy(&a->sa_mask, &k->mask, sizeof(k->mask));
}

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	struct sigaction copy;

	if (!REAL(sigaction))
		return missing();
	if (sig == selfckpt__ckpt_signal() && selfckpt__sig_installed()) {
		struct sck_sigaction k;

		if (old) {
			selfckpt__sig_get_prev(&k);
			from_kernel(&k, old);
		}
		if (act) {
			to_kernel(act, &k);
			selfckpt__sig_set_prev(&k);
		}
		return 0;
	}
	if (act) {
		/* A handler running with the signal blocked would not stop. */
		copy = *act;
		sigdelset(&copy.sa_mask, selfckpt__ckpt_signal());
		act = &copy;
	}
	return real_sigaction(sig, act, old);
}

EXPORT __sighandler_t signal(int sig, __sighandler_t handler)
{
	struct sigaction act, old;

	/* glibc's signal(): BSD semantics. */
	memset(&act, 0, sizeof(act));
	act.sa_handler = handler;
	act.sa_flags = SA_RESTART;
	sigemptyset(&act.sa_mask);
	sigaddset(&act.sa_mask, sig);
	if (sigaction(sig, &act, &old) < 0)
		return SIG_ERR;
	return old.sa_handler;
}

EXPORT int sigpending(sigset_t *set)
{
	int r;

	if (!REAL(sigpending))
		return missing();
	r = real_sigpending(set);
	if (r == 0)
		hide(set);
	return r;
}

EXPORT int sigsuspend(const sigset_t *mask)
{
	sigset_t copy;

	if (!REAL(sigsuspend))
		return missing();
	return real_sigsuspend(strip(mask, &copy));
}

EXPORT int sigwait(const sigset_t *set, int *sig)
{
	sigset_t copy;

	if (!REAL(sigwait))
		return ENOSYS;
	return real_sigwait(strip(set, &copy), sig);
}

EXPORT int sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
	sigset_t copy;

	if (!REAL(sigwaitinfo))
		return missing();
	return real_sigwaitinfo(strip(set, &copy), info);
}

EXPORT int sigtimedwait(const sigset_t *set, siginfo_t *info,
			const struct timespec *timeout)
{
	sigset_t copy;

	if (!REAL(sigtimedwait))
		return missing();
	return real_sigtimedwait(strip(set, &copy), info, timeout);
}

EXPORT int signalfd(int fd, const sigset_t *mask, int flags)
{
	sigset_t copy;

	if (!REAL(signalfd))
		return missing();
	return real_signalfd(fd, strip(mask, &copy), flags);
}

EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts,
		 const sigset_t *mask)
{
	sigset_t copy;

	if (!REAL(ppoll))
		return missing();
	return real_ppoll(fds, n, ts, strip(mask, &copy));
}

EXPORT int pselect(int n, fd_set *r, fd_set *w, fd_set *e,
		   const struct timespec *ts, const sigset_t *mask)
{
	sigset_t copy;

	if (!REAL(pselect))
		return missing();
	return real_pselect(n, r, w, e, ts, strip(mask, &copy));
}

EXPORT int epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout,
		       const sigset_t *mask)
{
	sigset_t copy;

	if (!REAL(epoll_pwait))
		return missing();
	return real_epoll_pwait(epfd, ev, max, timeout, strip(mask, &copy));
}

EXPORT int inotify_add_watch(int fd, const char *path, uint32_t mask)
{
	if (!REAL(inotify_add_watch))
		return missing();
	return selfckpt__inotify_add_watch(real_inotify_add_watch, fd, path, mask);
}

EXPORT int inotify_rm_watch(int fd, int wd)
{
	if (!REAL(inotify_rm_watch))
		return missing();
	return selfckpt__inotify_rm_watch(real_inotify_rm_watch, fd, wd);
}

/* ---- System V IPC: who created what (res-sysv.c) ---- */

/*
 * IPC_CREAT alone does not say whether the call created the object: try
 * with IPC_EXCL first, and on EEXIST make the call as asked. The id is
 * noted as created or found; call_with_flg(flg) makes the real call.
 */
#define SYSV_GET(kind, call_with_flg)                                        \
	do {                                                                 \
		int saved = errno, made = key == IPC_PRIVATE || (flg & IPC_EXCL); \
		int id = -1;                                                  \
		if (key != IPC_PRIVATE && (flg & IPC_CREAT) && !(flg & IPC_EXCL)) { \
			int f = flg | IPC_EXCL;                               \
			id = call_with_flg(f);                                \
			made = id >= 0;                                       \
			if (id < 0 && errno == EEXIST)                        \
				errno = saved;                                \
			else if (id < 0)                                      \
				return -1;                                    \
		}                                                             \
		if (id < 0)                                                   \
			id = call_with_flg(flg);                              \
		if (id >= 0)                                                  \
			selfckpt__sysv_note(kind, id, made ? SCK_SYSV_NOTE_CREATED \
							   : SCK_SYSV_NOTE_OPENED); \
		return id;                                                    \
	} while (0)

EXPORT int shmget(key_t key, size_t size, int flg)
{
#define CALL(f) real_shmget(key, size, (f))
	if (!REAL(shmget))
		return missing();
	SYSV_GET(SCK_SYSV_SHM, CALL);
#undef CALL
}

EXPORT int semget(key_t key, int nsems, int flg)
{
#define CALL(f) real_semget(key, nsems, (f))
	if (!REAL(semget))
		return missing();
	SYSV_GET(SCK_SYSV_SEM, CALL);
#undef CALL
}

EXPORT int msgget(key_t key, int flg)
{
#define CALL(f) real_msgget(key, (f))
	if (!REAL(msgget))
		return missing();
	SYSV_GET(SCK_SYSV_MSG, CALL);
#undef CALL
}

static void note_undo(int id, const struct sembuf *ops, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ops[i].sem_flg & SEM_UNDO) {
			selfckpt__sysv_note(SCK_SYSV_SEM, id, SCK_SYSV_NOTE_UNDO);
			return;
		}
}

EXPORT int semop(int id, struct sembuf *ops, size_t n)
{
	if (!REAL(semop))
		return missing();
	note_undo(id, ops, n);
	return real_semop(id, ops, n);
}

EXPORT int semtimedop(int id, struct sembuf *ops, size_t n, const struct timespec *t)
{
	if (!REAL(semtimedop))
		return missing();
	note_undo(id, ops, n);
	return real_semtimedop(id, ops, n, t);
}

EXPORT int usleep(useconds_t us)
{
	struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };

	return nanosleep(&ts, &ts);
}

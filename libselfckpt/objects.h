/*
 * objects.h - kernel objects behind descriptors: pipes, event fds...
 *
 * The checkpoint side (res-obj.c and one file per family of kinds) turns
 * a descriptor that is not a plain file into an OBJ record and an FD
 * record of kind SCK_FD_OBJ; the restart side (restore-objs.c) recreates
 * each object before the descriptors are placed. image-format.h has the
 * records; docs/image-format.md what each kind saves.
 */
#ifndef SELFCKPT_OBJECTS_H
#define SELFCKPT_OBJECTS_H

#include <sys/stat.h>

#include "image-format.h"
#include "proc.h"

struct sck_dump;

/* One descriptor of the process as res-file.c found it. */
struct sck_fdx {
	int fd;
	char target[SCK_MAX_PATH + 1];	/* readlink of /proc/self/fd/N */
	struct stat st;
	struct sck_fdinfo fi;
	char info[512];			/* the start of its fdinfo */
};

/* An object recorded in this checkpoint. */
struct sck_dump_obj {
	uint64_t dev, ino;
	uint32_t id;
	uint32_t kind;			/* enum sck_obj_kind */
	int fd;				/* the descriptor it was first seen on */
};

/*
 * Checkpoint side, async-signal-safe (raw system calls and the arena).
 * Is descriptor x (one of all[0..n)) an object this library saves? Returns
 * 1 with r filled (kind SCK_FD_OBJ, obj_id) and the OBJ record added, 0
 * if it is no such object (the caller decides), or -errno with the reason
 * set.
 */
int selfckpt__obj_fd(struct sck_dump *d, const struct sck_fdx *all, int n,
		     const struct sck_fdx *x, struct sck_fd *r);

/*
 * Bytes of object data (queued in pipes...) a checkpoint may have to
 * hold, from a quick look at the descriptors; for sizing the arena.
 */
uint64_t selfckpt__obj_plan(void);

/*
 * res-tty.c: a terminal (a pty pair of the process, or a stdio terminal);
 * the same contract as selfckpt__obj_fd (a stdio terminal is FD kind
 * stdio naming an OBJ of kind tty).
 */
int selfckpt__tty_fd(struct sck_dump *d, const struct sck_fdx *all, int n,
		     const struct sck_fdx *x, struct sck_fd *r);

/*
 * res-ghost.c: is descriptor x on an unlinked file or a memfd? Then as
 * selfckpt__obj_fd (1, 0 or -errno). ghost_plan: arena bytes for one.
 */
int selfckpt__ghost_fd(struct sck_dump *d, const struct sck_fdx *x,
		       struct sck_fd *r);
uint64_t selfckpt__ghost_plan(const struct stat *st);

/*
 * res-flock.c: LOCK records for the locks held through the descriptors
 * all[0..n), whose FD records are recs (0 or -errno). flock_plan: bytes
 * of metadata the locks of descriptor fd may need.
 */
int selfckpt__flock_collect(struct sck_dump *d, const struct sck_fdx *all,
			    const struct sck_fd *recs, int n);
uint64_t selfckpt__flock_plan(int fd, const struct stat *st);

/*
 * res-lenient.c: is this checkpoint lenient (SELFCKPT_LENIENT)? lenient_fd:
 * record descriptor x, just refused with ENOTSUP, as /dev/null with a
 * NOTE record saying why (0 or -errno).
 */
int selfckpt__lenient(const struct sck_dump *d);
int selfckpt__lenient_fd(struct sck_dump *d, const struct sck_fdx *x,
			 struct sck_fd *r);

/*
 * Sockets (res-sock.c): like selfckpt__obj_fd for a socket descriptor x;
 * 0 leaves it to the stdio rule (a connection to another process on fd
 * 0-2). sock_plan: the bytes a socket's queue may need in the arena.
 */
int selfckpt__sock_obj(struct sck_dump *d, const struct sck_fdx *all, int n,
		       const struct sck_fdx *x, struct sck_fd *r);
uint64_t selfckpt__sock_plan(int fd);
/*
 * res-sock.c, for res-scm.c's scan: copy the queues of the unix sockets
 * among all[0..n) (not 0-2) now, before any descriptor is classified;
 * each socket's save uses its copy (and its error) later. 0 or -errno.
 */
int selfckpt__sock_precopy(struct sck_dump *d, const struct sck_fdx *all, int n);

/*
 * res-file.c, for res-scm.c: describe descriptor x->fd (its target, stat
 * and fdinfo) through dirfd on /proc/self/fd, and classify it as for an
 * FD record. Both return 0 or -errno with the reason set.
 */
int selfckpt__fd_describe(int dirfd, struct sck_fdx *x);
int selfckpt__fd_classify(struct sck_dump *d, const struct sck_fdx *all, int n,
			  const struct sck_fdx *x, struct sck_fd *r);

/*
 * res-scm.c: descriptors in flight on unix sockets (SCM_RIGHTS). scan:
 * before the descriptors all[0..n) are classified, keep one descriptor on
 * each open file description in flight in their queues. inflight: those
 * (for pipe ends), returns how many. note: res-sock.c's peek of a queue
 * got control data ctl[0..ctllen) for message at (or stream bytes at, len)
 * of socket x; keeps or closes the descriptors in it. owner: the notes
 * of the socket at sock_fd are the queue of object obj. collect: write the SCM records once
 * all[0..n) are classified as recs. close: give the kept ones back. All
 * return 0 or -errno with the reason set. plan: arena bytes.
 */
int selfckpt__scm_scan(struct sck_dump *d, int dirfd, const struct sck_fdx *all, int n);
int selfckpt__scm_inflight(const struct sck_dump *d, const struct sck_fdx **out);
int selfckpt__scm_note(struct sck_dump *d, const struct sck_fdx *x, const void *ctl,
		       uint64_t ctllen, uint64_t at, uint64_t len);
void selfckpt__scm_owner(struct sck_dump *d, uint32_t obj, int sock_fd);
int selfckpt__scm_collect(struct sck_dump *d, const struct sck_fdx *all,
			  const struct sck_fd *recs, int n);
void selfckpt__scm_close(struct sck_dump *d);
uint64_t selfckpt__scm_plan(void);

/* Add an OBJ record; fills o->id. Returns the id or -errno. */
int selfckpt__obj_add(struct sck_dump *d, struct sck_obj *o,
		      const void *state, const void *data);

/*
 * res-evl.c: event-loop objects, saved from descriptor x as a new object
 * (anon_kinds[] of res-obj.c). Each returns 1 with r->obj_id set and the
 * OBJ record added, or -errno with the reason set.
 */
int selfckpt__timerfd_obj(struct sck_dump *d, const struct sck_fdx *x,
			  struct sck_fd *r);
int selfckpt__signalfd_obj(struct sck_dump *d, const struct sck_fdx *x,
			   struct sck_fd *r);
int selfckpt__epoll_obj(struct sck_dump *d, const struct sck_fdx *x,
			struct sck_fd *r);
int selfckpt__inotify_obj(struct sck_dump *d, const struct sck_fdx *x,
			  struct sck_fd *r);
/* Bytes an epoll or inotify instance on fd may need (selfckpt__obj_plan). */
uint64_t selfckpt__evl_plan(int fd);

/*
 * The interposed inotify functions (interpose.c): call real, and record
 * the path of each watch added (forget it once removed), with every
 * signal blocked, so that a checkpoint knows where each watch is.
 */
int selfckpt__inotify_add_watch(int (*real)(int, const char *, uint32_t), int fd,
				const char *path, uint32_t mask);
int selfckpt__inotify_rm_watch(int (*real)(int, int), int fd, int wd);

#endif

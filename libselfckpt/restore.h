/*
 * restore.h - `selfckpt restart`, the launcher side (restore.c,
 * restore-files.c). Used by tools/cmd-restart.c; not part of the API.
 *
 * The launcher does, in ordinary code, everything that can fail: read and
 * check the image, check that this machine can run it, open and check every
 * file, recreate every descriptor, plan the memory. Only then does it hand
 * over to the restorer (rst/), from which there is no way back.
 */
#ifndef SELFCKPT_RESTORE_H
#define SELFCKPT_RESTORE_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "image.h"

/* Exit statuses of `selfckpt restart` before the program runs (sysexits). */
#define SCK_EX_USAGE 64
#define SCK_EX_DATAERR 65		/* image damaged, truncated, foreign */
#define SCK_EX_NOINPUT 66		/* image missing or unreadable */
#define SCK_EX_UNAVAILABLE 69		/* this machine cannot run the image */
#define SCK_EX_SOFTWARE 70		/* internal error */
#define SCK_EX_OSERR 71			/* a system call failed */
#define SCK_EX_NOPERM 77		/* another user's image, or writable by others */

struct sck_restart_opts {
	const char *image;		/* path, or "-" for stdin */
	const char *pidfile;		/* or NULL */
	int stdio_inherit;		/* fds 0-2 always the restart command's */
	int no_verify;			/* do not read a file image twice */
	int no_namespaces;		/* new ids rather than a PID namespace */
	int force;			/* run an image another user owns or can write */
	int truncate_outputs;		/* files open for writing: back to their
					 * size at the checkpoint */
	int host_clocks;		/* no time namespace: this machine's clocks */
	int verbose;
};

/* Per unlinked file or memfd (restore-ghost.c). */
struct rs_ghost {
	int fd;				/* read-write, kept for the restorer */
	int tmpfile;			/* made with O_TMPFILE (else a memfd) */
};

/* Per FILE record, what the launcher opened. */
struct rs_file {
	int map_fd;			/* for mappings, or -1 */
	int anon_shared;		/* single shared anonymous mapping: no fd */
	uint64_t obj_size;		/* objects: size to give the memfd */
	uint32_t nmaps;			/* mappings that use it */
};

/*
 * Per OBJ record, what the launcher made (restore-objs.c): fd[0] the
 * object (a pipe's read end), fd[1] a pipe's write end or a socket's
 * second end until it is handed on (restore-sock.c); -1 if none.
 */
struct rs_obj {
	int fd[2];
	int used[2];			/* handed out once: later ones reopen */
};

struct rs {
	const struct sck_restart_opts *o;
	struct sck_image img;
	int img_fd;
	int seekable;
	int same_machine;		/* /etc/machine-id matches the image's */
	int same_boot;			/* and so does the boot id */
	int log_fd;			/* the restart command's stderr */
	int exe_fd;
	int pidfile_dirfd;
	int helper_base;		/* helper fds live at or above it */
	struct rs_file *files;		/* [img.nfiles], index id - 1 */
	struct rs_obj *objs;		/* [img.nobjs]: restore-objs.c */
	uint64_t raise;			/* standard signals the restored process
					 * gets (SIGWINCH: another window size) */
	struct rs_ghost *ghosts;	/* [img.nobjs]: restore-ghost.c, or NULL */
	int *flight;			/* [img.nflight]: restore-sock.c */
	char err[512];
};

/* Print "selfckpt restart: ..." to the restart command's stderr. */
/* A line on the launcher's stderr that is not an error. */
void selfckpt__rs_note(struct rs *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void selfckpt__rs_msg(struct rs *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Restart: returns only on failure, with an exit status. */
int selfckpt__restart(const struct sck_restart_opts *o);

/*
 * restore-sysv.c: ids: refuse an image with System V IPC objects when the
 * restart cannot have a private IPC namespace (why: the reason, for the
 * message); make: the objects, in the program's IPC namespace.
 */
int selfckpt__rs_sysv_ids(struct rs *s, const char *why);
int selfckpt__rs_make_sysv(struct rs *s);

/* The vdso and vvar mappings of this process, from /proc/self/maps. */
struct sck_special_now {
	uint32_t n;
	struct sck_special sp[SCK_MAX_SPECIAL];
};

/*
 * Fills now with them, in the order of the maps (none if the maps cannot
 * be read). Libc side: restore.c (check_machine) and selfckpt verify.
 */
void selfckpt__current_specials(struct sck_special_now *now);

/* restore-files.c */
int selfckpt__rs_open_files(struct rs *s);
int selfckpt__rs_place_fds(struct rs *s);
int selfckpt__rs_move_fd_up(struct rs *s, int *fd);
/* A new descriptor on the file of FD record r (not an object), or -1. */
int selfckpt__rs_open_file(struct rs *s, const struct sck_fd *r);

/*
 * restore-objs.c: make every OBJ of the image (above helper_base); a new
 * descriptor on the object of FD record r, with r's status flags (the
 * caller places it); close what is left once all are placed.
 */
int selfckpt__rs_make_objects(struct rs *s);
int selfckpt__rs_obj_fd(struct rs *s, const struct sck_fd *r);
int selfckpt__rs_objects_done(struct rs *s);

/*
 * restore-evl.c: make a timerfd (disarmed), signalfd, epoll or inotify
 * instance into *fd (0, or -1 with the message printed); register epoll
 * watches once every descriptor is placed; the timerfds the restorer arms
 * last and the registrations of signalfds it makes, into out (NULL: only
 * count them).
 */
struct rst_timerfd;
struct rst_epoll_add;
int selfckpt__rs_make_timerfd(struct rs *s, const struct sck_img_obj *o, int *fd);
int selfckpt__rs_make_signalfd(struct rs *s, const struct sck_img_obj *o, int *fd);
int selfckpt__rs_make_epoll(struct rs *s, const struct sck_img_obj *o, int *fd);
int selfckpt__rs_make_inotify(struct rs *s, const struct sck_img_obj *o, int *fd);
int selfckpt__rs_epoll_register(struct rs *s);
uint32_t selfckpt__rs_timerfds(const struct rs *s, struct rst_timerfd *out);
uint32_t selfckpt__rs_epoll_late(const struct rs *s, struct rst_epoll_add *out);

/*
 * restore-tty.c: a pseudo-terminal pair (fd[0] the master, fd[1] the
 * slave) for a pty object, its lock once every descriptor is placed; what
 * the restart command's terminals (stdio) need, and (last, from go())
 * the program's settings on them.
 */
int selfckpt__rs_make_pty(struct rs *s, const struct sck_img_obj *o, int fd[2]);
void selfckpt__rs_pty_done(struct rs *s, const struct sck_img_obj *o, const int fd[2]);
void selfckpt__rs_stdio_ttys(struct rs *s);
void selfckpt__rs_tty_modes(struct rs *s);

/*
 * restore-ghost.c: unlinked files and memfds (OBJ kinds UNLINKED, MEMFD).
 * make_ghost: create object o's file (*fd: a descriptor on it, which the
 * caller moves and closes when the descriptors are placed); ghost_fd: a
 * new open of it for FD record r, at r's offset; ghosts_placed: the
 * files' modes, once the descriptors are open; ghosts_here, in the
 * process that becomes the program: O_TMPFILE files made again if this
 * process is in another mount namespace than the launcher was (0, or -1
 * with a message).
 * For the restorer: ghost_fills fills fill[] (and data_off[], the place
 * of each in the page data) with the runs of data that go into the files
 * and returns how many (NULL: only count); ghost_fixes the same with the
 * size and seals each file gets once its data is in.
 */
struct rst_fill;
struct rst_file_fix;
struct rst_lock;
int selfckpt__rs_make_ghost(struct rs *s, const struct sck_img_obj *o, int *fd);
int selfckpt__rs_ghost_fd(struct rs *s, const struct sck_img_obj *o,
			  const struct sck_fd *r);
void selfckpt__rs_ghosts_placed(struct rs *s);
int selfckpt__rs_ghosts_here(struct rs *s);
size_t selfckpt__rs_ghost_fills(const struct rs *s, struct rst_fill *fill,
				uint64_t *data_off);
size_t selfckpt__rs_ghost_fixes(const struct rs *s, struct rst_file_fix *fix);

/*
 * restore-flock.c: locks. take_locks, in the process that becomes the
 * program, once the descriptors are placed: takes the flock() and OFD
 * locks, checks that nobody holds the POSIX ones (0, or -1 with a
 * message naming the file and range). posix_locks: the POSIX locks for
 * the restorer, which takes them (out NULL: only count); their messages
 * go into text, *text_len bytes (also counted).
 */
int selfckpt__rs_take_locks(struct rs *s);
size_t selfckpt__rs_posix_locks(const struct rs *s, struct rst_lock *out,
				char *text, size_t *text_len);

/*
 * restore-sock.c: make socket object o (bound, listening, one end of a
 * pair...); then, once every descriptor is placed (descriptors in flight
 * may share with them), refill the queues, connect datagram sockets,
 * apply shutdowns.
 */
int selfckpt__rs_make_socket(struct rs *s, const struct sck_img_obj *o,
			     struct rs_obj *ro);
int selfckpt__rs_sockets_finish(struct rs *s);
/* Close the descriptors made for those in flight (sockets_finish does). */
void selfckpt__rs_flight_close(struct rs *s);

/*
 * restore-timers.c: POSIX timers, pending signals, clocks. check: can this
 * machine make the image's timers again (0 or an exit status, with a
 * message); size and pack: their part of the restorer's area, and the
 * pending masks without the signals that have a SIGINFO record;
 * timens_offsets: the text for /proc/self/timens_offsets of a new time
 * namespace in which the image's clocks go on (its length, or -1 without
 * a CLOCKS record); clock_note: say whether the clocks go back without
 * one (why: the reason there is none).
 */
#define SCK_RS_TIMER_IDS_MAX (1 << 20)	/* ids made one by one before 6.17 */
struct rst_args;
int selfckpt__rs_check_timers(struct rs *s);
int selfckpt__rs_timer_ids_linear(void);
size_t selfckpt__rs_timers_size(const struct rs *s);
void selfckpt__rs_pack_timers(struct rs *s, struct rst_args *a, uint8_t *at);
int selfckpt__rs_timens_offsets(struct rs *s, char *buf, size_t n);
void selfckpt__rs_clock_note(struct rs *s, const char *why);

/*
 * restore-ns.c: continue the restart in new user and PID namespaces, with
 * go() called in the process that has the PID want there. Returns only if
 * the namespaces cannot be created (-1: fall back to new ids) or on an
 * error (an exit status); otherwise this process waits outside and exits
 * with the program's status.
 */
int selfckpt__rs_namespaces(struct rs *s, pid_t want, void (*go)(struct rs *s));

/*
 * Also restore-ns.c, and used by selfckpt check and verify, which try what
 * a restart does. selfckpt__write_file writes text to a file that exists
 * (a /proc knob): 0, or -1 if it could not be opened or not all was
 * written. selfckpt__map_own_ids, in a new user namespace, denies
 * setgroups and maps only uid and gid: 0, or -1 with errno set.
 */
int selfckpt__write_file(const char *path, const char *text);
int selfckpt__map_own_ids(uid_t uid, gid_t gid);

#endif

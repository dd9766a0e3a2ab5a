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

/* Per FILE record, what the launcher opened. */
struct rs_file {
	int map_fd;			/* for mappings, or -1 */
	int anon_shared;		/* single shared anonymous mapping: no fd */
	uint64_t obj_size;		/* objects: size to give the memfd */
	uint32_t nmaps;			/* mappings that use it */
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

/* restore-files.c */
int selfckpt__rs_open_files(struct rs *s);
int selfckpt__rs_place_fds(struct rs *s);
int selfckpt__rs_move_fd_up(struct rs *s, int *fd);

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

#endif

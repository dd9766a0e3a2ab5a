/*
 * rst-timers.h - POSIX timers and pending signals in the restorer
 * (rst-timers.c), after the point of no return.
 */
#ifndef SELFCKPT_RST_TIMERS_H
#define SELFCKPT_RST_TIMERS_H

#include "rst.h"

/*
 * The image's POSIX timers, with their ids, clocks, notifications, time
 * left and intervals. By the MAIN thread once every thread exists (a
 * timer may signal one, or count its CPU time) and before the helper
 * descriptors are closed; dies on a timer it cannot make.
 */
void rst_create_timers(struct rst_args *a, long pid);

/*
 * Queue the image's pending signals for one target, with their siginfo:
 * image_tid 0, the process's (by the MAIN thread, whose id is the
 * process's: only it may queue a signal with si_code >= 0 to the
 * process); otherwise those of that thread, by the thread itself (tid).
 * Blocked until the threads resume; a signal the kernel refuses is counted
 * as a warning.
 */
void rst_queue_signals(struct rst_args *a, int32_t image_tid, long pid, long tid);

#endif

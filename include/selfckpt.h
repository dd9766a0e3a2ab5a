/*
 * selfckpt.h - checkpoint/restart for Linux processes, from the inside.
 *
 * A process calls selfckpt_checkpoint() and an image of it is written; later
 * `selfckpt restart IMAGE` brings the process back, and the same call
 * returns a second time, with 0, as fork() returns in the child. This is the
 * contract of Linux-CR's checkpoint(2) (Oren Laadan, 2008-2010) in user
 * space.
 *
 * Return values and errno
 * -----------------------
 * The checkpoint calls return:
 *
 *   > 0  the checkpoint id: the image is complete and durable;
 *     0  the process was just restarted from that image;
 *    -1  the checkpoint failed; errno says why, selfckpt_last_error() says
 *        what, and the process goes on unharmed. Nearly every failure comes
 *        before the image is renamed into place: no earlier image was
 *        touched. Two come after (see selfckpt_checkpoint()).

 *
 *   errno        meaning
 *   ----------   ------------------------------------------------------------
 *   EINVAL       bad argument: NULL or empty path, unknown flag
 *   ENOTSUP      the process holds something that cannot be restored (a
 *                connection to another process without
 *                SELFCKPT_CLOSE_CONNECTIONS, a child process, a device
 *                mapping...); the message names it
 *   EBUSY        a checkpoint is already running in this process
 *   ENOSYS       the kernel lacks a facility the checkpoint needs
 *   ENOMEM       no memory for the checkpoint's own bookkeeping
 *   EAGAIN       memory changed under the checkpoint; try again
 *   EACCES, ENOENT, EROFS, ENOTDIR, ELOOP, ...   creating the image file
 *   ENOSPC, EIO, EDQUOT, EFBIG, EPIPE, ...       writing the image
 *
 * Every function is async-signal-safe unless its comment says otherwise, so
 * a checkpoint may be taken from a signal handler.
 *
 * Thread safety: the library serializes checkpoints (EBUSY); settings are
 * process-wide.
 */
#ifndef SELFCKPT_H
#define SELFCKPT_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SELFCKPT_API __attribute__((visibility("default")))
#else
#define SELFCKPT_API
#endif

#define SELFCKPT_VERSION_MAJOR 0
#define SELFCKPT_VERSION_MINOR 1
#define SELFCKPT_VERSION_PATCH 0
#define SELFCKPT_VERSION_STRING "0.1.0"

/* Flags for selfckpt_checkpoint() and selfckpt_checkpoint_fd(). */

/*
 * Do not fsync the image. The call returns as soon as the image is in the
 * page cache: faster, but a crash of the machine may lose it. Tests and
 * benchmarks on tmpfs use it; production code should not.
 */
#define SELFCKPT_NO_SYNC 0x1u

/*
 * Keep every thread stopped until the image is written. By default, when
 * the process has other threads, they go on as soon as all of them are
 * captured: a copy-on-write child (fork without SIGCHLD) writes the image
 * from the snapshot while they run, and only the calling thread waits for
 * it. Their pause is then the stop and the fork (milliseconds), not the
 * write; memory the threads change meanwhile is copied once. The flag
 * trades that for no copy at all. Processes with MADV_DONTFORK or
 * MADV_WIPEONFORK memory are always written in place.
 */
#define SELFCKPT_NO_FORK 0x2u

/*
 * Lenient: a descriptor the library cannot restore (a pidfd, an io_uring, a
 * pipe to another process...) does not fail the checkpoint; it becomes
 * /dev/null after a restart, with the same number and access mode, and
 * the image says so (a NOTE record for each, shown by `selfckpt info`,
 * and the header flag LENIENT). Everything else that cannot be restored
 * (mappings, child processes, timers, locks on such descriptors) still
 * fails it. The environment variable SELFCKPT_LENIENT=1, read when the
 * library is loaded, makes every checkpoint of the process lenient (for
 * `selfckpt run`). Use it knowingly: the program will read end-of-file
 * where it had a connection.
 */
#define SELFCKPT_LENIENT 0x4u

/*
 * Restore connections to other processes as closed connections instead of
 * refusing the checkpoint. Such a connection cannot be made again (the
 * other side has its own state), so by default a process holding one gets
 * ENOTSUP and a message naming it. With this flag the image records it as
 * closed, and after a restart:
 *   - a TCP connection (also one between two sockets of the process:
 *     TCP state cannot be made again without privileges) reads what had
 *     arrived and not been read, then end-of-file; writes fail with EPIPE
 *     (and SIGPIPE);
 *   - a unix stream or seqpacket socket connected to another process reads
 *     what was queued, then end-of-file; writes fail with EPIPE;
 *   - a unix datagram socket connected to an unnamed socket of another
 *     process keeps its queue; sends fail with ECONNREFUSED;
 *   - connections a listening socket had not accepted yet are dropped.
 * `selfckpt info` shows which sockets were closed so. The environment
 * variable SELFCKPT_CLOSE_CONNECTIONS=1 (`selfckpt run --close-connections`)
 * sets it for every checkpoint of the process. Unix connections between two
 * sockets of the process itself, listening sockets, bound and connected
 * UDP sockets and unix datagram sockets connected to a name are restored
 * as they were without it.
 */
#define SELFCKPT_CLOSE_CONNECTIONS 0x8u

/*
 * The exit status of a process that took a checkpoint and exited because
 * it was asked to (SELFCKPT_EXIT_SIGNAL, `selfckpt checkpoint --exit`): a
 * batch script can requeue the job when it sees it.
 */
#define SELFCKPT_EXIT_CHECKPOINTED 85

/* Every flag this version knows. */
#define SELFCKPT_FLAGS (SELFCKPT_NO_SYNC | SELFCKPT_NO_FORK | SELFCKPT_LENIENT | \
			SELFCKPT_CLOSE_CONNECTIONS)

/* Log levels for selfckpt_set_log_fd(). */
#define SELFCKPT_LOG_ERROR 1
#define SELFCKPT_LOG_WARN 2
#define SELFCKPT_LOG_INFO 3
#define SELFCKPT_LOG_DEBUG 4

/**
 * Write an image of the calling process to a file.
 *
 * The image is written to a new file in the same directory as @p path
 * (mode 0600, never through a symbolic link; without a name, O_TMPFILE,
 * where the file system allows, so that a process killed meanwhile leaves
 * nothing behind), flushed to disk, and renamed over @p path; so @p path
 * always holds either the previous image or the new one, never a partial
 * file. The file descriptor used for writing is not part of the image.
 *
 * @param path   where the image goes; its directory must exist.
 * @param flags  0, or any of SELFCKPT_NO_SYNC, SELFCKPT_NO_FORK,
 *               SELFCKPT_LENIENT, SELFCKPT_CLOSE_CONNECTIONS.
 * @return a positive checkpoint id once the image is durable; 0 in the
 *         process resumed from the image by `selfckpt restart`; -1 with
 *         errno set on failure (see the table above), after which the
 *         process continues unharmed and @p path never holds a partial
 *         image. When the failure came before the rename (all but two
 *         cases), an earlier image at @p path is intact and the id was not
 *         used. The two others: the fsync of the directory failed after
 *         the rename, or (with threads) the child writing the image died
 *         (EIO, "the image writer died"); the new image, complete, is then
 *         (or may be) at @p path in place of the earlier one, the message
 *         says which, and its id is never used again.
 */
SELFCKPT_API long selfckpt_checkpoint(const char *path, unsigned flags);

/**
 * Stream an image of the calling process into a file descriptor.
 *
 * The image is written in one pass, without seeking, so @p fd may be a
 * pipe or a socket (blocking or not) as well as a file. If @p fd is a
 * regular file it is fsync'd unless SELFCKPT_NO_SYNC is given. @p fd itself
 * is left out of the image: after a restart it is closed. A reader that
 * receives a stream cut short sees no commit record and rejects it.
 *
 * @param fd     an open, writable file descriptor.
 * @param flags  0, or any of SELFCKPT_NO_SYNC, SELFCKPT_NO_FORK,
 *               SELFCKPT_LENIENT, SELFCKPT_CLOSE_CONNECTIONS.
 * @return as selfckpt_checkpoint(); errno EBADF if @p fd is not open for
 *         writing, EPIPE if the reader went away.
 */
SELFCKPT_API long selfckpt_checkpoint_fd(int fd, unsigned flags);

/**
 * Send the library's messages to a file descriptor (Linux-CR's logfd).
 *
 * Silent by default. Messages are single lines starting with "selfckpt: ".
 * The environment variable SELFCKPT_LOG_FD=<fd>[,<level>] sets the same at
 * load time.
 *
 * @param fd     where to write, or -1 for silence.
 * @param level  the most detailed level written, SELFCKPT_LOG_ERROR to
 *               SELFCKPT_LOG_DEBUG.
 * @return 0, or -1 with errno EINVAL for a level out of range.
 */
SELFCKPT_API int selfckpt_set_log_fd(int fd, int level);

/**
 * The message describing the last failed checkpoint in this process, for
 * example "fd 5 is a socket (socket:[81234]): sockets are not supported
 * yet". Empty when nothing failed. The buffer is overwritten by the next
 * checkpoint.
 */
SELFCKPT_API const char *selfckpt_last_error(void);

/**
 * The id of the last image this process wrote or was restarted from; 0
 * before the first. Ids increase along a lineage, across restarts.
 */
SELFCKPT_API long selfckpt_last_id(void);

/**
 * How many times this process's lineage has been restarted: 0 in a process
 * that was never restarted, 1 after its first restart, and so on.
 */
SELFCKPT_API unsigned selfckpt_generation(void);

/**
 * Choose the signal with which the library stops the other threads of a
 * multi-threaded process during a checkpoint, and with which `selfckpt
 * checkpoint PID` asks for one (default SIGRTMAX - 2). The shared library
 * keeps it out of the program's way: the program cannot block it nor wait
 * for it, and it never shows in a mask or a pending set the program
 * reads. A handler the program installs for it is kept and called for
 * the signals of other senders, with every signal blocked and on the
 * thread's ordinary stack, whatever flags it asked for. Set it before the
 * first checkpoint if the program itself uses that signal; the variable
 * SELFCKPT_SIGNAL=<number> does the same at load time.
 *
 * @param sig  a real-time signal, SIGRTMIN to SIGRTMAX.
 * @return 0, or -1 with errno EINVAL for another signal, EBUSY once the
 *         library has installed its handler for a different one.
 */
SELFCKPT_API int selfckpt_set_signal(int sig);

/** The library's version, "MAJOR.MINOR.PATCH". */
SELFCKPT_API const char *selfckpt_version(void);

#ifdef __cplusplus
}
#endif

#endif /* SELFCKPT_H */

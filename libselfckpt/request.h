/*
 * request.h - the word `selfckpt checkpoint PID` and the library's interval
 * timer queue with the reserved signal to ask for a checkpoint (auto.c).
 * The signal's handler tells it from a stop request (whose value is the
 * address of the library's sync state) and from anyone else's signal by
 * the magic in the upper half.
 */
#ifndef SELFCKPT_REQUEST_H
#define SELFCKPT_REQUEST_H

#define SCK_REQ_MAGIC 0x53434b5100000000ULL	/* "SCKQ" */
#define SCK_REQ_MAGIC_MASK 0xffffffff00000000ULL
#define SCK_REQ_SEQ_MASK 0xffffULL		/* the asker's sequence number */
#define SCK_REQ_ASKED (1ULL << 16)		/* report to DIR/.result-PID-SEQ */
#define SCK_REQ_EXIT (1ULL << 17)		/* exit after a good checkpoint */
#define SCK_REQ_TIMER (1ULL << 18)		/* the interval timer */

/*
 * The answer, DIR/.result-PID-SEQ (PID as the process sees itself), is
 * one line: "ok ID PATH" or "error ERRNO MESSAGE". Where the line cannot
 * be written (the file system is full: ENOSPC), the file is left without
 * data, and its size, a hole that needs no block, gives the outcome: the
 * error number, or SCK_ANSWER_OK plus the checkpoint id.
 */
#define SCK_ANSWER_OK 0x10000ULL

#endif

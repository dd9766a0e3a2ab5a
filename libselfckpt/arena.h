/*
 * arena.h - the checkpoint's private memory.
 *
 * Between capturing the registers and writing the last page, the process's
 * memory must not change, so the checkpoint cannot use malloc: it might
 * also run in a signal handler that interrupted malloc. Everything it needs
 * comes from one anonymous mapping, reserved (MAP_NORESERVE) at the size
 * the sizing pass computed and handed out by a bump allocator. The mapping
 * is left out of the image and unmapped when the checkpoint ends.
 */
#ifndef SELFCKPT_ARENA_H
#define SELFCKPT_ARENA_H

#include <stddef.h>
#include <stdint.h>

struct sck_arena {
	uint8_t *base;
	size_t size;
	size_t used;
};

/* Reserve size bytes. Returns 0 or -ENOMEM. */
int selfckpt__arena_init(struct sck_arena *a, size_t size);
void selfckpt__arena_fini(struct sck_arena *a);

/* size bytes aligned to align (a power of two), zeroed; NULL when full. */
void *selfckpt__arena_alloc(struct sck_arena *a, size_t size, size_t align);

#endif

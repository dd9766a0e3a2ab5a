/*
 * arena.c - bump allocation in one reserved mapping (see arena.h).
 *
 * Async-signal-safe: raw mmap/munmap only. Memory comes zeroed from the
 * kernel and is never reused, so allocation needs no clearing.
 */
#include <linux/mman.h>
#include <asm/mman.h>

#include "arena.h"
#include "sys.h"

int selfckpt__arena_init(struct sck_arena *a, size_t size)
{
	size = (size + 4095) & ~(size_t)4095;
	void *p = sys_mmap(NULL, size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (sck_is_err((long)p))
		return -12; /* ENOMEM */
	a->base = p;
	a->size = size;
	a->used = 0;
	return 0;
}

void selfckpt__arena_fini(struct sck_arena *a)
{
	if (a->base)
		sys_munmap(a->base, a->size);
	a->base = NULL;
	a->size = a->used = 0;
}

void *selfckpt__arena_alloc(struct sck_arena *a, size_t size, size_t align)
{
	size_t off = (a->used + align - 1) & ~(align - 1);

	if (off > a->size || size > a->size - off)
		return NULL;
	a->used = off + size;
	return a->base + off;
}

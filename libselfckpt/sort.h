/*
 * sort.h - an in-place shell sort for the checkpoint side's small arrays:
 * POSIX timers by id (res-timer.c), epoll registrations by descriptor and
 * inotify watches by wd (res-evl.c).
 *
 * Not qsort(3): the checkpoint is async-signal-safe (it runs in a signal
 * handler that may have interrupted malloc), and qsort is not; glibc's
 * takes its merge sort's buffer from malloc once an array is larger than
 * a page or so. This one needs no memory: it swaps elements a byte at a
 * time, and the arrays are short. It is not stable, and neither were the
 * shell sorts it replaced (timer ids and inotify wds are unique anyway).
 */
#ifndef SELFCKPT_SORT_H
#define SELFCKPT_SORT_H

#include <stddef.h>

static inline void sck_swap(char *a, char *b, size_t size)
{
	for (size_t i = 0; i < size; i++) {
		char t = a[i];

		a[i] = b[i];
		b[i] = t;
	}
}

/*
 * Sorts the n elements of size bytes at base in increasing order of cmp,
 * which returns less than, equal to or greater than 0 as qsort's does.
 */
static inline void sck_sort(void *base, size_t n, size_t size,
			    int (*cmp)(const void *, const void *))
{
	char *b = base;

	for (size_t gap = n / 2; gap; gap /= 2)
		for (size_t i = gap; i < n; i++)
			for (size_t j = i; j >= gap &&
			     cmp(b + (j - gap) * size, b + j * size) > 0; j -= gap)
				sck_swap(b + (j - gap) * size, b + j * size, size);
}

#endif

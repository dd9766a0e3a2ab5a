/*
 * mem01 - private memory of every common kind survives a restart:
 * statics (.data/.bss), heap (brk) and malloc'd mmap chunks, the stack,
 * anonymous mappings with holes, read-only and PROT_NONE pages with data,
 * and the heap keeps growing at the restored break afterwards (P8).
 */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "zdtm.h"

static uint64_t bss_words[4096];
static uint64_t data_words[512] = { 1, 2, 3 };

static uint64_t pattern(uint64_t i, uint64_t seed)
{
	uint64_t x = i * 0x9E3779B97F4A7C15ULL + seed;

	x ^= x >> 29;
	return x * 0xBF58476D1CE4E5B9ULL;
}

static void fill(uint64_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pattern(i, seed);
}

static void check(const uint64_t *p, size_t n, uint64_t seed, const char *what)
{
	for (size_t i = 0; i < n; i++)
		CHECK(p[i] == pattern(i, seed), "%s: word %zu differs", what, i);
}

int main(void)
{
	const size_t big = 8 << 20, page = 4096;
	uint64_t stack_words[2048];
	uint64_t *small = malloc(64 << 10);		/* brk heap */
	uint64_t *chunk = malloc(big);			/* mmap'd by malloc */
	uint8_t *holes = mmap(NULL, 64 * page, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *ro = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *none = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *brk0 = sbrk(0);

	CHECK(small && chunk && holes != MAP_FAILED && ro != MAP_FAILED &&
		      none != MAP_FAILED, "setup failed");
	fill(bss_words, 4096, 1);
	fill(data_words, 512, 2);
	fill(stack_words, 2048, 3);
	fill(small, (64 << 10) / 8, 4);
	fill(chunk, big / 8, 5);
	for (int i = 0; i < 64; i += 3)		/* every third page touched */
		memset(holes + i * page, i + 1, page);
	memset(ro, 0xA5, 4 * page);
	memset(none, 0x5A, 4 * page);
	mprotect(ro, 4 * page, PROT_READ);
	mprotect(none, 4 * page, PROT_NONE);

	test_checkpoint();

	check(bss_words, 4096, 1, ".bss");
	check(data_words, 512, 2, ".data");
	check(stack_words, 2048, 3, "stack");
	check(small, (64 << 10) / 8, 4, "heap");
	check(chunk, big / 8, 5, "malloc'd chunk");
	for (int i = 0; i < 64; i++)
		for (size_t k = 0; k < page; k++)
			CHECK(holes[i * page + k] == (i % 3 ? 0 : i + 1),
			      "anonymous page %d byte %zu", i, k);
	for (size_t k = 0; k < 4 * page; k++)
		CHECK(ro[k] == 0xA5, "read-only page byte %zu", k);
	CHECK(mprotect(none, 4 * page, PROT_READ) == 0, "mprotect");
	for (size_t k = 0; k < 4 * page; k++)
		CHECK(none[k] == 0x5A, "PROT_NONE page byte %zu", k);

	/* The break is where it was, and the heap grows from there (P8). */
	CHECK(sbrk(0) == brk0, "break moved: %p, was %p", sbrk(0), brk0);
	CHECK((void *)syscall(SYS_brk, 0) == brk0, "kernel break differs");
	uint8_t *grown = sbrk(1 << 20);

	CHECK(grown == brk0, "sbrk grew elsewhere (%p)", (void *)grown);
	memset(grown, 7, 1 << 20);
	void *more[64];

	for (int i = 0; i < 64; i++) {
		more[i] = malloc(100000);
		CHECK(more[i], "malloc after restart");
		memset(more[i], i, 100000);
	}
	for (int i = 0; i < 64; i++)
		free(more[i]);
	free(chunk);
	free(small);
	pass();
}

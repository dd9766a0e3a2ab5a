/*
 * gen05 - five generations: checkpoint, kill, restart, five times in a
 * row, each restarted process checkpointing again. Ids increase along the
 * lineage, the generation count follows, state accumulates correctly.
 */
#include <stdint.h>

#include "zdtm.h"

int main(void)
{
	uint64_t *acc[6];
	long ids[6];

	for (int g = 0; g < 5; g++) {
		acc[g] = malloc(((size_t)g + 1) << 20);
		CHECK(acc[g], "malloc");
		for (size_t i = 0; i < (((size_t)g + 1) << 20) / 8; i++)
			acc[g][i] = i ^ (uint64_t)g << 56;
		CHECK(selfckpt_generation() == (unsigned)g,
		      "generation %u before checkpoint %d", selfckpt_generation(), g);
		ids[g] = test_checkpoint();
		CHECK(ids[g] == g + 1, "checkpoint id %ld, expected %d", ids[g], g + 1);
		CHECK(selfckpt_generation() == (unsigned)g + 1, "generation %u after %d",
		      selfckpt_generation(), g);
		for (int k = 0; k <= g; k++)
			for (size_t i = 0; i < (((size_t)k + 1) << 20) / 8; i++)
				CHECK(acc[k][i] == (i ^ (uint64_t)k << 56),
				      "generation %d, block %d, word %zu", g, k, i);
	}
	pass();
}

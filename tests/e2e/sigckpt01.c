/*
 * sigckpt01 - a checkpoint taken from inside a signal handler that runs on
 * an alternate stack carved out of the heap (malloc). The checkpoint is
 * async-signal-safe; the pages around the handler's stack pointer are in
 * the heap, next to live data, and the writer's own frames change them
 * while it writes. After the restart the handler returns into main through
 * the kernel's signal frame saved in the image, with main's registers,
 * mask and errno intact.
 */
#include <signal.h>
#include <stdint.h>

#include "zdtm.h"

static volatile sig_atomic_t handled;
static volatile long resumed_id = -1;
static uint64_t *neighbours;	/* heap data right next to the altstack */

static void on_usr1(int sig)
{
	stack_t ss;
	int here;

	(void)sig;
	/* We must be running on the alternate stack. */
	if (sigaltstack(NULL, &ss) || !(ss.ss_flags & SS_ONSTACK) ||
	    (char *)&here < (char *)ss.ss_sp ||
	    (char *)&here >= (char *)ss.ss_sp + ss.ss_size)
		fail("handler is not on the alternate stack");
	resumed_id = test_checkpoint();
	handled++;
}

int main(void)
{
	const size_t stack_size = 256 << 10, n = 64 << 10;
	uint64_t *before = malloc(n * 8);
	char *altstack = malloc(stack_size);
	struct sigaction sa = { 0 };
	stack_t ss = { .ss_sp = altstack, .ss_size = stack_size };

	neighbours = malloc(n * 8);
	CHECK(before && altstack && neighbours, "malloc");
	for (size_t i = 0; i < n; i++) {
		before[i] = i * 3 + 1;
		neighbours[i] = i * 7 + 5;
	}
	CHECK(sigaltstack(&ss, NULL) == 0, "sigaltstack: %s", strerror(errno));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");

	volatile uint64_t keep1 = 0x1122334455667788ULL, keep2 = 42;

	errno = EDOM;
	raise(SIGUSR1);
	int err = errno;

	CHECK(handled == 1, "handler ran %d times", (int)handled);
	CHECK(resumed_id == 1, "checkpoint returned %ld in the restarted process",
	      resumed_id);
	CHECK(err == EDOM, "errno is %d after the handler, was EDOM", err);
	CHECK(keep1 == 0x1122334455667788ULL && keep2 == 42, "locals changed");
	for (size_t i = 0; i < n; i++) {
		CHECK(before[i] == i * 3 + 1, "heap before the altstack, word %zu", i);
		CHECK(neighbours[i] == i * 7 + 5, "heap after the altstack, word %zu", i);
	}
	/* The mask inside the handler (SIGUSR1 and SIGUSR2) was undone. */
	sigset_t now;

	sigprocmask(SIG_BLOCK, NULL, &now);
	CHECK(!sigismember(&now, SIGUSR1) && !sigismember(&now, SIGUSR2),
	      "signal mask not restored by the handler's return");
	CHECK(sigaltstack(NULL, &ss) == 0 && ss.ss_sp == altstack &&
		      !(ss.ss_flags & (SS_ONSTACK | SS_DISABLE)),
	      "alternate stack settings lost");
	pass();
}

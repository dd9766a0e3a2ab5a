/*
 * openmp01 - an OpenMP program (gcc -fopenmp, libgomp) survives restarts
 * between the iterations of a parallel computation (issue 3).
 *
 * Each iteration, in parallel regions of 4 threads with a static
 * schedule: y = A x over a 1536 x 1536 matrix of 64-bit integers (wrapping
 * arithmetic: exact, whatever the order), x = mix(y), an integer dot
 * product x.x with an OpenMP reduction, and a floating-point sum whose
 * per-thread partial sums are added in thread order by the master (so
 * bit-for-bit reproducible: it also carries the SSE state of the pool
 * threads through the restarts).
 *
 * The whole computation is first run uninterrupted in the same program,
 * recording every iteration's results; then it is run again from the
 * start with a checkpoint (test_checkpoint, from the master thread outside
 * any parallel region, where libgomp's pool threads are idle) after
 * iterations 8 and 16 of 24. Every iteration's results must equal the
 * reference exactly (tolerance 0). Also: the pool threads are the same threads
 * after each restart (omp_get_thread_num -> gettid unchanged, ids kept),
 * /proc/self/task lists the same threads, and a parallel region with more
 * threads than before works after the restart (libgomp creates threads).
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <sys/syscall.h>

#include "zdtm.h"

#define N 1536
#define ITERS 24
#define NT 4

static uint64_t A[N][N];
static uint64_t x[N], y[N];

struct result {
	uint64_t xsum, dot;
	double fsum;
};

static struct result ref[ITERS], got[ITERS];

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void init(void)
{
#pragma omp parallel for schedule(static) num_threads(NT)
	for (int i = 0; i < N; i++) {
		for (int j = 0; j < N; j++)
			A[i][j] = mix64((uint64_t)i * N + (uint64_t)j);
		x[i] = mix64(0x5eed0000ULL + (uint64_t)i);
	}
}

static void iterate(int k, struct result *r)
{
	uint64_t dot = 0;
	double partial[NT] = { 0 };

#pragma omp parallel for schedule(static) num_threads(NT)
	for (int i = 0; i < N; i++) {
		uint64_t s = 0;

		for (int j = 0; j < N; j++)
			s += A[i][j] * x[j];
		y[i] = s;
	}
#pragma omp parallel num_threads(NT)
	{
		int t = omp_get_thread_num();
		double p = 0;

#pragma omp for schedule(static) reduction(+ : dot)
		for (int i = 0; i < N; i++) {
			x[i] = mix64(y[i] + (uint64_t)k);
			dot += x[i] * x[i];
			p += sqrt((double)(x[i] % 1000003)) * 1.000001;
		}
		partial[t] = p;
	}
	uint64_t xs = 0;
	double fs = 0;

	for (int i = 0; i < N; i++)
		xs = xs * 31 + x[i];
	for (int t = 0; t < NT; t++)
		fs += partial[t];
	r->xsum = xs;
	r->dot = dot;
	r->fsum = fs;
}

/* Which kernel thread runs each OpenMP thread of a region of NT. */
static void pool_tids(pid_t *tids)
{
#pragma omp parallel num_threads(NT)
	{
		tids[omp_get_thread_num()] = (pid_t)syscall(SYS_gettid);
	}
}

static int count_tasks(void)
{
	char buf[8192];
	int n = 0, fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	long len;

	CHECK(fd >= 0, "open /proc/self/task");
	while ((len = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0)
		for (long off = 0; off < len;) {
			unsigned short reclen;

			memcpy(&reclen, buf + off + 16, 2);
			if (buf[off + 19] >= '0' && buf[off + 19] <= '9')
				n++;
			off += reclen;
		}
	close(fd);
	return n;
}

int main(void)
{
	pid_t before[NT], after[NT], pid = getpid();

	omp_set_dynamic(0);
	/* The reference: uninterrupted. */
	init();
	for (int k = 0; k < ITERS; k++)
		iterate(k, &ref[k]);
	test_log("reference: x %016llx dot %016llx f %.17g after %d iterations",
		 (unsigned long long)ref[ITERS - 1].xsum,
		 (unsigned long long)ref[ITERS - 1].dot, ref[ITERS - 1].fsum, ITERS);

	/* Again, with checkpoints between iterations. */
	init();
	for (int k = 0; k < ITERS; k++) {
		iterate(k, &got[k]);
		CHECK(got[k].xsum == ref[k].xsum && got[k].dot == ref[k].dot &&
			      memcmp(&got[k].fsum, &ref[k].fsum, sizeof(double)) == 0,
		      "iteration %d (generation %u): x %016llx dot %016llx f %.17g, uninterrupted: x %016llx dot %016llx f %.17g",
		      k, selfckpt_generation(), (unsigned long long)got[k].xsum,
		      (unsigned long long)got[k].dot, got[k].fsum,
		      (unsigned long long)ref[k].xsum, (unsigned long long)ref[k].dot,
		      ref[k].fsum);
		if (k != 7 && k != 15)
			continue;
		pool_tids(before);
		int ntasks = count_tasks();

		CHECK(ntasks >= NT, "%d threads before the checkpoint", ntasks);
		test_checkpoint();
		CHECK(getpid() == pid, "pid %d, was %d", (int)getpid(), (int)pid);
		CHECK(count_tasks() == ntasks, "%d threads after the restart, %d before",
		      count_tasks(), ntasks);
		pool_tids(after);
		for (int t = 0; t < NT; t++)
			CHECK(after[t] == before[t],
			      "OpenMP thread %d is tid %d after the restart, was %d", t,
			      (int)after[t], (int)before[t]);
	}
	CHECK(selfckpt_generation() == 2, "generation %u", selfckpt_generation());

	/* A bigger team: libgomp starts new threads after the restart. */
	int seen = 0;
	uint64_t s = 0;

#pragma omp parallel num_threads(NT + 2) reduction(+ : s)
	{
#pragma omp atomic
		seen++;
#pragma omp for schedule(static)
		for (int i = 0; i < N; i++)
			s += x[i];
	}
	uint64_t want = 0;

	for (int i = 0; i < N; i++)
		want += x[i];
	CHECK(seen == NT + 2 && s == want, "team of %d: %d threads, sum %llx (want %llx)",
	      NT + 2, seen, (unsigned long long)s, (unsigned long long)want);
	pass();
}

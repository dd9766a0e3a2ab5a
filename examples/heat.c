/*
 * heat.c - a small simulation that checkpoints itself.
 *
 * Explicit finite differences for 2-D heat diffusion on an N x N plate with
 * a hot source that moves along a circle. Each step it keeps a record of
 * the plate's row sums in a linked list (so the heap grows for the whole
 * run) and writes one line of results to an output file. At the end it
 * prints a checksum of the final plate and of the whole history.
 *
 *   heat [--size N] [--steps S] [--out FILE] [--checkpoint-at K]
 *        [--checkpoint-every K] [--image PATH] [--progress P] [--slow MS]
 *
 * With --checkpoint-at K it calls selfckpt_checkpoint() after step K and
 * goes on. If the process is then killed, `selfckpt restart IMAGE`
 * resumes it right after that call (which then returns 0), it recomputes
 * the steps after K and the output file and the final checksum come out
 * byte-identical to a run that was never interrupted: the file is written
 * at its own offset (not O_APPEND), so recomputed lines overwrite
 * themselves with the same bytes.
 *
 * Build: cc heat.c $(pkg-config --cflags --libs selfckpt) -lm
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <selfckpt.h>

struct record {
	struct record *next;
	int step;
	double rowsum[];		/* size entries */
};

struct sim {
	int n;
	double *t, *tn;			/* temperature, next step */
	struct record *head, **tail;
	size_t records;
};

static void step(struct sim *s, int k)
{
	const double alpha = 0.24;	/* stable for the 5-point stencil */
	int n = s->n;
	double angle = 2 * M_PI * k / 200.0;
	int sx = (int)(n / 2 + n / 4 * cos(angle));
	int sy = (int)(n / 2 + n / 4 * sin(angle));

	s->t[sx * n + sy] = 100.0;	/* the moving source */
	for (int i = 1; i < n - 1; i++)
		for (int j = 1; j < n - 1; j++) {
			double *c = &s->t[i * n + j];

			s->tn[i * n + j] = *c + alpha * (c[-n] + c[n] + c[-1] +
							 c[1] - 4 * *c);
		}
	double *swap = s->t;

	s->t = s->tn;
	s->tn = swap;
}

static void remember(struct sim *s, int k)
{
	struct record *r = malloc(sizeof(*r) + (size_t)s->n * sizeof(double));

	if (!r) {
		perror("heat: malloc");
		exit(1);
	}
	r->next = NULL;
	r->step = k;
	for (int i = 0; i < s->n; i++) {
		double sum = 0;

		for (int j = 0; j < s->n; j++)
			sum += s->t[i * s->n + j];
		r->rowsum[i] = sum;
	}
	*s->tail = r;
	s->tail = &r->next;
	s->records++;
}

/* FNV-1a over the bytes of the doubles: any difference shows. */
static uint64_t checksum(const void *p, size_t n, uint64_t h)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			perror("heat: write");
			exit(1);
		}
		buf += w;
		len -= (size_t)w;
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: heat [--size N] [--steps S] [--out FILE] [--checkpoint-at K]\n"
		"            [--checkpoint-every K] [--image PATH] [--progress P] [--slow MS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int n = 128, steps = 400, ckpt_at = -1, every = 0, progress = 0, slow = 0;
	const char *out = "heat.out", *image = "heat.img";
	struct sim s;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		if (!strcmp(a, "--size"))
			n = atoi(v);
		else if (!strcmp(a, "--steps"))
			steps = atoi(v);
		else if (!strcmp(a, "--out"))
			out = v;
		else if (!strcmp(a, "--checkpoint-at"))
			ckpt_at = atoi(v);
		else if (!strcmp(a, "--checkpoint-every"))
			every = atoi(v);
		else if (!strcmp(a, "--image"))
			image = v;
		else if (!strcmp(a, "--progress"))
			progress = atoi(v);
		else if (!strcmp(a, "--slow"))
			slow = atoi(v);
		else
			usage();
		i++;
	}
	if (n < 8 || steps < 1)
		usage();

	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0) {
		fprintf(stderr, "heat: %s: %s\n", out, strerror(errno));
		return 1;
	}
	s.n = n;
	s.t = calloc((size_t)n * n, sizeof(double));
	s.tn = calloc((size_t)n * n, sizeof(double));
	s.head = NULL;
	s.tail = &s.head;
	s.records = 0;
	if (!s.t || !s.tn) {
		perror("heat: calloc");
		return 1;
	}

	for (int k = 1; k <= steps; k++) {
		step(&s, k);
		remember(&s, k);

		double energy = 0, max = 0;

		for (int i = 0; i < n * n; i++) {
			energy += s.t[i];
			if (s.t[i] > max)
				max = s.t[i];
		}
		char line[128];
		int len = snprintf(line, sizeof(line),
				   "step %5d energy %.12e max %.12e\n", k, energy,
				   max);

		write_all(fd, line, (size_t)len);
		if (progress && k % progress == 0) {
			printf("step %d of %d\n", k, steps);
			fflush(stdout);
		}
		if (slow) {
			struct timespec ts = { slow / 1000, (slow % 1000) * 1000000L };

			nanosleep(&ts, NULL);
		}
		if (k == ckpt_at || (every && k % every == 0)) {
			long id = selfckpt_checkpoint(image, 0);

			if (id > 0) {
				printf("checkpoint %ld written to %s after step %d\n",
				       id, image, k);
			} else if (id == 0) {
				printf("restarted from checkpoint %ld after step %d\n",
				       selfckpt_last_id(), k);
			} else {
				fprintf(stderr, "heat: checkpoint failed: %s (%s)\n",
					strerror(errno), selfckpt_last_error());
				return 1;
			}
			fflush(stdout);
		}
	}

	uint64_t h = checksum(s.t, (size_t)n * n * sizeof(double),
			      0xcbf29ce484222325ULL);

	for (struct record *r = s.head; r; r = r->next)
		h = checksum(r->rowsum, (size_t)n * sizeof(double), h);
	printf("final: %d steps, %zu records, checksum %016llx\n", steps, s.records,
	       (unsigned long long)h);
	if (close(fd) < 0) {
		perror("heat: close");
		return 1;
	}
	while (s.head) {
		struct record *r = s.head;

		s.head = r->next;
		free(r);
	}
	free(s.t);
	free(s.tn);
	return 0;
}

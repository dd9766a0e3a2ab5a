/*
 * writer.c - from captured registers to the last byte of the image.
 *
 * Runs after selfckpt__ctx_save() returned 1, while the process's memory
 * must stay exactly as captured: so no libc (a libc call may touch errno,
 * cancellation state or lazy-binding tables, all of it saved memory), no
 * allocation outside the arena, nothing but system calls. The build checks
 * that this object calls nothing outside the freestanding set (make check-
 * freestanding).
 *
 * Steps:
 *  1. scan each mapping for the pages worth storing (PAGEMAP_SCAN, or
 *     /proc/self/pagemap on kernels before 6.7; mincore for shared objects)
 *     and build page runs, leaving out all-zero anonymous pages, stack
 *     below the stack pointer, and guard regions (recorded, never read, P2);
 *  2. append VMA, THREAD, END_META, PAD and the PAGES record header to the
 *     metadata buffer and send it;
 *  3. send the pages straight from memory with writev, hashing each
 *     SCK_CHUNK_SIZE piece first while it is hot in cache (pages that may
 *     not be read directly go through /proc/self/mem);
 *  4. send PAGE_HASHES and COMMIT.
 */
#define LOG_PREFIX "write: "

#include <linux/mman.h>
#include <linux/poll.h>

#include <linux/errno.h>

#include "compat.h"
#include "internal.h"
#include "log.h"
#include "nolibc/fmt.h"
#include "nolibc/str.h"
#include "nolibc/xxh64.h"
#include "sys.h"

#define PAGE SCK_PAGE_SIZE
#define IOV_BATCH 1024
#define MINCORE_WINDOW 32768		/* pages per mincore/pagemap window */
#define SCK_WRITER_STACK (64 << 10)	/* more than the writer's frames need */

static const uint8_t zeros[PAGE];

struct iov {
	const void *base;
	size_t len;
};

struct out {
	struct sck_dump *d;
	int fd;
	uint64_t off;			/* bytes sent */
	struct iov iov[IOV_BATCH];
	int niov;
	size_t iov_bytes;
	struct sck_xxh64 h;		/* hash of the current chunk */
	uint64_t chunk_fill;
	uint64_t chunk_idx;
};

/* ---- output -------------------------------------------------------- */

static int wait_writable(int fd)
{
	struct pollfd p = { fd, POLLOUT, 0 };
	long r;

	do
		r = sys_ppoll(&p, 1, NULL);
	while (r == -EINTR);
	return r < 0 ? (int)r : 0;
}

/* writev until everything is out: short writes, EINTR, non-blocking fds. */
static int send_iov(struct out *o, struct iov *iov, int n)
{
	while (n > 0) {
		long r = sys_writev(o->fd, iov, n);

		if (r == -EINTR)
			continue;
		if (r == -EAGAIN) {
			int w = wait_writable(o->fd);

			if (w)
				return w;
			continue;
		}
		if (r < 0)
			return (int)r;
		if (r == 0)
			return -EIO;
		o->off += (uint64_t)r;
		while (n > 0 && (size_t)r >= iov->len) {
			r -= (long)iov->len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->base = (const uint8_t *)iov->base + r;
			iov->len -= (size_t)r;
		}
	}
	return 0;
}

static int send_buf(struct out *o, const void *p, size_t n)
{
	struct iov v = { p, n };

	return send_iov(o, &v, 1);
}

static int flush(struct out *o)
{
	int ret = send_iov(o, o->iov, o->niov);

	o->niov = 0;
	o->iov_bytes = 0;
	return ret;
}

/*
 * Queue page data. Each SCK_CHUNK_SIZE piece of the stream is hashed and
 * sent before the next one is touched, so the kernel copies data that the
 * hash just brought into the cache: one pass over memory, not two.
 */
static int feed(struct out *o, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		size_t take = SCK_CHUNK_SIZE - o->chunk_fill;

		if (take > n)
			take = n;
		selfckpt__xxh64_update(&o->h, b, take);
		if (o->niov && (const uint8_t *)o->iov[o->niov - 1].base +
					       o->iov[o->niov - 1].len == b) {
			o->iov[o->niov - 1].len += take;
		} else {
			o->iov[o->niov].base = b;
			o->iov[o->niov].len = take;
			o->niov++;
		}
		o->iov_bytes += take;
		o->chunk_fill += take;
		b += take;
		n -= take;
		if (o->chunk_fill == SCK_CHUNK_SIZE) {
			o->d->chunk_hash[o->chunk_idx++] =
				selfckpt__xxh64_digest(&o->h);
			selfckpt__xxh64_init(&o->h, 0);
			o->chunk_fill = 0;
		}
		if (o->chunk_fill == 0 || o->niov == IOV_BATCH) {
			int ret = flush(o);

			if (ret)
				return ret;
		}
	}
	return 0;
}

/* ---- finding the pages ----------------------------------------------- */

/*
 * Where PAGEMAP_SCAN does not take PAGE_IS_GUARD (Linux 6.7-6.14; guard
 * regions exist from 6.13 on), a guard page is reported as swapped out.
 * Read through /proc/self/mem, a swapped-out page comes back in (the
 * writer would read it anyway), while a guard page cannot be read at all
 * (the kernel's page walk refuses guard markers, even with FOLL_FORCE):
 * so each page of a swapped range that does not read is a guard page. A
 * read of many pages stops before the first one that fails, so a range
 * costs one read per SCK_PROBE_SIZE of it and one per guard page. (A
 * swapped page that cannot be read back, after a swap device error, is
 * taken for a guard page too: the program would fault there anyway.)
 * Calls fn for the pieces, in order, as selfckpt__walk_pages does.
 */
static int split_guards(struct sck_dump *d, const struct region *r,
			int (*fn)(void *, const struct region *), void *arg)
{
	struct region cur = { r->start, r->start, 0 };

	for (uint64_t a = r->start; a < r->end;) {
		uint64_t n = r->end - a, ok, cat;
		long got;

		if (n > SCK_PROBE_SIZE)
			n = SCK_PROBE_SIZE;
		do
			got = sys_pread(d->mem_fd, d->probe, (size_t)n, (int64_t)a);
		while (got == -EINTR);
		ok = got > 0 ? (uint64_t)got & ~(uint64_t)(PAGE - 1) : 0;
		/* [a, a + ok) read; if less than asked, the page at a + ok did not. */
		cat = ok ? r->cat : PAGE_IS_GUARD | PAGE_IS_SWAPPED;
		if (!ok)
			ok = PAGE;
		if (cur.end > cur.start && cur.cat != cat) {
			int ret = fn(arg, &cur);

			if (ret)
				return ret;
			cur.start = cur.end;
		}
		cur.cat = cat;
		cur.end = a + ok;
		a += ok;
	}
	return cur.end > cur.start ? fn(arg, &cur) : 0;
}

/*
 * Call fn for each range of [start, end) whose pages are present, swapped
 * or guard pages, with their PAGE_IS_* categories, in address order.
 */
int selfckpt__walk_pages(struct sck_dump *d, uint64_t start, uint64_t end,
			 int (*fn)(void *, const struct region *), void *arg)
{
	if (d->have_pagemap_scan) {
		struct page_region *vec = d->scanbuf;
		uint64_t guard = d->scan_guard ? PAGE_IS_GUARD : 0;
		struct pm_scan_arg a = {
			.size = sizeof(a),
			.start = start,
			.end = end,
			.vec = (uint64_t)(uintptr_t)vec,
			.vec_len = d->scanbuf_size / sizeof(*vec),
			.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED | guard,
			.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED |
				       PAGE_IS_FILE | PAGE_IS_PFNZERO | guard,
		};

		uint64_t done = start;	/* regions so far end here */

		while (a.start < end) {
			long n = sys_ioctl(d->pagemap_fd, PAGEMAP_SCAN, &a);

			if (n < 0)
				return sck_fail((int)-n, "PAGEMAP_SCAN failed at %lx",
						(unsigned long)a.start);
			for (long i = 0; i < n; i++) {
				struct region r = { vec[i].start, vec[i].end,
						    vec[i].categories };

				/*
				 * In address order, each page once: Linux 6.18
				 * can return a walk_end below the end of the
				 * regions it has just reported (seen with xz -T2
				 * under load, about one checkpoint in ten), and
				 * the next call then reports those pages again.
				 */
				if (r.start < done)
					r.start = done;
				if (r.end <= r.start)
					continue;
				done = r.end;
				int ret = !guard && (r.cat & PAGE_IS_SWAPPED) ?
						  split_guards(d, &r, fn, arg) :
						  fn(arg, &r);

				if (ret)
					return ret;
			}
			if (a.walk_end <= a.start)
				break;
			a.start = a.walk_end;
		}
		return 0;
	}

	/* Before Linux 6.7: one 64-bit pagemap word per page (P19). */
	uint64_t *pm = d->scanbuf;
	size_t per = d->scanbuf_size / 8;
	struct region cur = { 0, 0, 0 };

	for (uint64_t a = start; a < end;) {
		size_t n = (size_t)((end - a) / PAGE);

		if (n > per)
			n = per;
		long r = sys_pread(d->pagemap_fd, pm, n * 8,
				   (int64_t)(a / PAGE * 8));

		if (r != (long)(n * 8))
			return sck_fail(r < 0 ? (int)-r : EIO,
					"cannot read /proc/self/pagemap at %lx",
					(unsigned long)a);
		for (size_t i = 0; i < n; i++, a += PAGE) {
			uint64_t e = pm[i], cat = 0;

			if (e & PM_ENTRY_GUARD)
				cat = PAGE_IS_GUARD | PAGE_IS_SWAPPED;
			else if (e & PM_ENTRY_PRESENT)
				cat = PAGE_IS_PRESENT;
			else if (e & PM_ENTRY_SWAPPED)
				cat = PAGE_IS_SWAPPED;
			if (cat && (e & PM_ENTRY_FILE))
				cat |= PAGE_IS_FILE;
			if (cur.end == a && cur.cat == cat && cat) {
				cur.end += PAGE;
				continue;
			}
			if (cur.cat) {
				int ret = fn(arg, &cur);

				if (ret)
					return ret;
			}
			cur = (struct region){ a, a + PAGE, cat };
		}
	}
	return cur.cat ? fn(arg, &cur) : 0;
}

struct scan {
	struct sck_dump *d;
	uint32_t vi;
	struct sck_dump_vma *v;
	int readable;
};

static int add_guard(struct scan *s, uint64_t start, uint64_t end)
{
	struct sck_dump *d = s->d;

	if (d->nguards > s->v->guard_first &&
	    d->guards[d->nguards - 1].end == start) {
		d->guards[d->nguards - 1].end = end;
		return 0;
	}
	if (d->nguards >= d->guards_cap)
		return sck_fail(EAGAIN, "too many guard regions");
	d->guards[d->nguards++] = (struct sck_range){ start, end };
	return 0;
}

/* Does a guard region of this mapping lie in [start, end)? */
static int guard_in(const struct scan *s, uint64_t start, uint64_t end)
{
	for (uint64_t g = s->v->guard_first; g < s->d->nguards; g++)
		if (s->d->guards[g].start < end && s->d->guards[g].end > start)
			return 1;
	return 0;
}

/*
 * Add pages to the runs. When the run table runs short (a pathological
 * pattern of isolated pages), runs of the same mapping are merged across
 * gaps instead: the gap pages are then stored too, which is correct for
 * every kind (they read as what the restored mapping would hold), only
 * larger. One run per remaining mapping is always kept in reserve.
 */
static int add_pages(struct scan *s, uint64_t addr, uint64_t npages)
{
	struct sck_dump *d = s->d;
	struct sck_run *last = d->nruns > s->v->run_first ? &d->runs[d->nruns - 1]
							   : NULL;

	if (last && last->addr + last->npages * PAGE == addr) {
		last->npages += npages;
		return 0;
	}
	if (last && d->nruns + (d->nvmas - s->vi) >= d->runs_cap) {
		if (guard_in(s, last->addr, addr + npages * PAGE))
			return sck_fail(EAGAIN, "too many page runs");
		last->npages = (addr - last->addr) / PAGE + npages;
		return 0;
	}
	if (d->nruns >= d->runs_cap)
		return sck_fail(EAGAIN, "too many page runs");
	d->runs[d->nruns++] = (struct sck_run){ addr, npages, 0, 0, 0 };
	return 0;
}

/* Add [start, end), leaving out all-zero pages where that is allowed. */
static int add_range(struct scan *s, uint64_t start, uint64_t end, int elide)
{
	if (start < s->v->live_start)
		start = s->v->live_start;
	if (end > s->v->read_end)
		end = s->v->read_end;
	if (start >= end)
		return 0;
	if (!elide || !s->readable)
		return add_pages(s, start, (end - start) / PAGE);

	uint64_t run = 0, run_start = 0;

	for (uint64_t a = start; a < end; a += PAGE) {
		if (sck_page_is_zero((const void *)(uintptr_t)a)) {
			if (run) {
				int ret = add_pages(s, run_start, run);

				if (ret)
					return ret;
			}
			run = 0;
			continue;
		}
		if (!run)
			run_start = a;
		run++;
	}
	return run ? add_pages(s, run_start, run) : 0;
}

static int on_region(void *arg, const struct region *r)
{
	struct scan *s = arg;
	uint64_t cat = r->cat;

	if (cat & PAGE_IS_GUARD)
		return add_guard(s, r->start, r->end);
	switch (s->v->scan) {
	case SCK_SCAN_ANON:
		if (cat & PAGE_IS_PFNZERO)
			return 0;	/* the shared zero page */
		return add_range(s, r->start, r->end, 1);
	case SCK_SCAN_COW:
		if (cat & PAGE_IS_FILE)
			return 0;	/* still the file's page */
		return add_range(s, r->start, r->end, 0);
	}
	return 0;
}

struct mark {
	uint8_t *vec;
	uint64_t start, end;
};

static int mark_region(void *arg, const struct region *r)
{
	struct mark *m = arg;

	if (r->cat & PAGE_IS_GUARD)
		return 0;
	for (uint64_t a = r->start; a < r->end; a += PAGE)
		if (a >= m->start && a < m->end)
			m->vec[(a - m->start) / PAGE] |= 1;
	return 0;
}

/*
 * Shared objects: a page may hold data without being mapped here (written
 * through another mapping, or with write(2) on a memfd), so a page counts
 * when the page cache has it (mincore) or this mapping's page tables do
 * (present or swapped out). Objects that will not exist at restart
 * (SCK_SCAN_ALL) have every readable page stored.
 */
static int scan_object(struct scan *s)
{
	struct sck_dump *d = s->d;
	uint8_t *vec = d->bounce;	/* MINCORE_WINDOW bytes, free until step 3 */
	uint64_t end = s->v->read_end;

	for (uint64_t w = s->v->v.start; w < end;) {
		uint64_t wend = w + MINCORE_WINDOW * PAGE;

		if (wend > end)
			wend = end;
		size_t n = (size_t)((wend - w) / PAGE);

		if (s->v->scan == SCK_SCAN_ALL) {
			for (size_t i = 0; i < n; i++)
				vec[i] = 1;
		} else {
			long r = sys_mincore((void *)(uintptr_t)w, wend - w, vec);
			struct mark m = { vec, w, wend };

			if (r < 0)
				return sck_fail((int)-r, "mincore failed at %lx",
						(unsigned long)w);
			r = selfckpt__walk_pages(d, w, wend, mark_region, &m);
			if (r)
				return (int)r;
		}
		for (size_t i = 0; i < n;) {
			if (!(vec[i] & 1)) {
				i++;
				continue;
			}
			size_t j = i;

			while (j < n && (vec[j] & 1))
				j++;
			int ret = add_range(s, w + i * PAGE, w + j * PAGE, 1);

			if (ret)
				return ret;
			i = j;
		}
		w = wend;
	}
	return 0;
}

static int scan_vma(struct sck_dump *d, uint32_t vi)
{
	struct sck_dump_vma *v = &d->vmas[vi];
	struct scan s = { d, vi, v, (v->v.prot & PROT_READ) != 0 };
	int ret = 0;

	v->run_first = d->nruns;
	v->guard_first = d->nguards;
	/* The stack below the captured stack pointer (and red zone) is dead. */
	uint64_t rsp = d->slots[d->caller].ctx.regs.rsp;

	if (rsp > v->v.start && rsp <= v->v.end) {
		/*
		 * The mapping this code runs on: the main stack, or an
		 * alternate signal stack or thread stack anywhere in memory.
		 * Below the captured stack pointer (and its red zone) the
		 * writer's own frames keep changing memory, so the pages there
		 * are sent from a copy, which their hash then matches. On the
		 * main stack nothing below is alive: those pages are left out.
		 */
		uint64_t low = rsp - 128 - SCK_WRITER_STACK;

		d->hot_vma = vi;
		d->hot_end = (rsp + PAGE - 1) & ~(PAGE - 1);
		d->hot_start = low > v->v.start && low < rsp
				       ? low & ~(PAGE - 1) : v->v.start;
		if (v->v.kind == SCK_VMA_STACK) {
			v->live_start = (rsp - 128) & ~(PAGE - 1);
			if (v->live_start < v->v.start)
				v->live_start = v->v.start;
			d->hot_start = v->live_start;
		}
	}

	switch (v->scan) {
	case SCK_SCAN_ANON:
	case SCK_SCAN_COW:
		ret = selfckpt__walk_pages(d, v->v.start, v->v.end, on_region, &s);
		break;
	case SCK_SCAN_SHARED:
	case SCK_SCAN_ALL:
		ret = scan_object(&s);
		break;
	}
	if (ret)
		return ret;
	/* Never an image restart would refuse: runs in order, inside. */
	for (uint64_t r = v->run_first, prev = v->v.start; r < d->nruns; r++) {
		const struct sck_run *run = &d->runs[r];

		if (run->addr < prev || run->addr % PAGE || !run->npages ||
		    run->addr + run->npages * PAGE > v->v.end)
			return sck_fail(EAGAIN, "internal error: page run %lx+%lu out of order or outside its mapping %lx-%lx",
					(unsigned long)run->addr, (unsigned long)run->npages,
					(unsigned long)v->v.start, (unsigned long)v->v.end);
		prev = run->addr + run->npages * PAGE;
	}
	v->v.nruns = (uint32_t)(d->nruns - v->run_first);
	v->v.nguards = (uint32_t)(d->nguards - v->guard_first);
	v->v.npages_stored = 0;
	for (uint64_t r = v->run_first; r < d->nruns; r++) {
		d->runs[r].data_off = d->data_len;
		d->data_len += d->runs[r].npages * PAGE;
		v->v.npages_stored += d->runs[r].npages;
	}
	return 0;
}

/* ---- metadata -------------------------------------------------------- */

static int add_meta(struct sck_dump *d)
{
	struct sck_meta *m = &d->meta;

	for (uint32_t i = 0; i < d->nvmas; i++) {
		struct sck_dump_vma *v = &d->vmas[i];
		struct sck_part parts[4] = {
			{ &v->v, sizeof(v->v) },
			{ &d->runs[v->run_first], v->v.nruns * sizeof(struct sck_run) },
			{ &d->guards[v->guard_first],
			  v->v.nguards * sizeof(struct sck_range) },
			{ v->name, v->name_len },
		};

		v->v.name_len = v->name_len;
		if (selfckpt__meta_add(m, SCK_REC_VMA, 0, parts, 4, NULL))
			return sck_fail(ENOMEM, "metadata buffer full");
	}

	uint32_t nthreads = 0;

	for (uint32_t i = 0; i < d->nslots; i++) {
		struct sck_slot *sl = &d->slots[i];

		if (sl->state != SCK_SLOT_STOPPED)
			continue;	/* exited before it could be stopped */
		sl->t.regs = sl->ctx.regs;
		sl->t.xfeatures = sl->ctx.xsave_mask;
		sl->t.xsave_size = d->hdr->cpu.xsave_size;
		struct sck_part tp[2] = {
			{ &sl->t, sizeof(sl->t) },
			{ sl->ctx.xsave, sl->t.xsave_size },
		};

		if (selfckpt__meta_add(m, SCK_REC_THREAD, 0, tp, 2, NULL))
			return sck_fail(ENOMEM, "metadata buffer full");
		nthreads++;
	}

	struct sck_end_meta end = {
		.data_len = d->data_len,
		.nfiles = d->nfiles,
		.nvmas = d->nvmas,
		.nfds = 0,
		.nthreads = nthreads,
		.nruns = d->nruns,
		.meta_records = m->nrecords,
	};

	/* Count FD records by type from the buffer: cheaper than tracking. */
	for (size_t off = sizeof(struct sck_preamble); off < m->len;) {
		const struct sck_rec *r = (const void *)(m->buf + off);

		if (r->type == SCK_REC_FD)
			end.nfds++;
		off += sizeof(*r) + r->len + sck_pad8(r->len);
	}
	struct sck_part ep = { &end, sizeof(end) };

	if (selfckpt__meta_add(m, SCK_REC_END_META, 0, &ep, 1, NULL))
		return sck_fail(ENOMEM, "metadata buffer full");

	/* PAD so that the PAGES payload starts on a page boundary. */
	uint64_t after = m->offset + m->len + 2 * sizeof(struct sck_rec);
	uint64_t pad = (PAGE - after % PAGE) % PAGE;
	struct sck_part pp = { zeros, (size_t)pad };

	if (selfckpt__meta_add(m, SCK_REC_PAD, 0, &pp, 1, NULL))
		return sck_fail(ENOMEM, "metadata buffer full");
	if (m->cap - m->len < sizeof(struct sck_rec))
		return sck_fail(ENOMEM, "metadata buffer full");
	selfckpt__meta_seal(m);
	selfckpt__rec_seal((struct sck_rec *)(m->buf + m->len), SCK_REC_PAGES,
			   0, d->data_len, 0, &m->chain);
	m->len += sizeof(struct sck_rec);
	m->nrecords++;
	return 0;
}

/* ---- page data and trailer ------------------------------------------- */

/* Copy through the bounce buffer: hashed and sent from the copy. */
static int send_copy(struct out *o, uint64_t addr, uint64_t len)
{
	while (len) {
		size_t n = len < SCK_CHUNK_SIZE ? (size_t)len : SCK_CHUNK_SIZE;
		int ret;

		__builtin_memcpy(o->d->bounce, (const void *)(uintptr_t)addr, n);
		ret = feed(o, o->d->bounce, n);
		if (!ret)
			ret = flush(o);
		if (ret)
			return ret;
		addr += n;
		len -= n;
	}
	return 0;
}

static int send_run(struct out *o, const struct sck_dump_vma *v,
		    const struct sck_run *r)
{
	struct sck_dump *d = o->d;
	uint64_t addr = r->addr, len = r->npages * PAGE;
	uint64_t end = addr + len;

	if (v == &d->vmas[d->hot_vma] && d->hot_end > addr &&
	    d->hot_start < end) {
		/* Pages the writer's own frames change: send a copy (scan_vma). */
		uint64_t hs = d->hot_start > addr ? d->hot_start : addr;
		uint64_t he = d->hot_end < end ? d->hot_end : end;
		int ret = 0;

		if (hs > addr)
			ret = feed(o, (const void *)(uintptr_t)addr, (size_t)(hs - addr));
		if (!ret)
			ret = send_copy(o, hs, he - hs);
		if (!ret && end > he)
			ret = feed(o, (const void *)(uintptr_t)he, (size_t)(end - he));
		return ret;
	}
	if (v->v.prot & PROT_READ)
		return feed(o, (const void *)(uintptr_t)addr, (size_t)len);
	/* Unreadable (PROT_NONE, execute-only): /proc/self/mem can read it. */
	while (len) {
		size_t n = len < SCK_CHUNK_SIZE ? (size_t)len : SCK_CHUNK_SIZE;
		long got = sys_pread(d->mem_fd, d->bounce, n, (int64_t)addr);

		if (got != (long)n)
			return sck_fail(got < 0 ? (int)-got : EIO,
					"cannot read memory at %lx through /proc/self/mem",
					(unsigned long)addr);
		int ret = feed(o, d->bounce, n);

		if (!ret)
			ret = flush(o);
		if (ret)
			return ret;
		addr += n;
		len -= n;
	}
	return 0;
}

/*
 * The contents of unlinked files and memfds held by descriptors
 * (res-ghost.c), run by run through the bounce buffer. pread moves no
 * offset; bytes past the end of the file (the last page, or a file that
 * shrank since it was looked at) are sent as zeros.
 */
static int send_fdata(struct out *o, const struct sck_dump_fdata *fd)
{
	struct sck_dump *d = o->d;
	int rfd = fd->fd, ret = 0;

	if (fd->reopen) {
		char path[32];

		selfckpt__fmt(path, sizeof(path), "/proc/self/fd/%d", fd->fd);
		long r = sys_openat(-100, path, 02000000 /* O_RDONLY|O_CLOEXEC */, 0);

		if (r < 0)
			return sck_fail((int)-r, "cannot read the file on fd %d: %s",
					fd->fd, selfckpt__errname((int)-r));
		rfd = (int)r;
	}
	for (uint32_t i = 0; i < fd->nruns && !ret; i++) {
		uint64_t off = fd->runs[i].addr, left = fd->runs[i].npages * PAGE;

		while (left && !ret) {
			size_t n = left < SCK_CHUNK_SIZE ? (size_t)left : SCK_CHUNK_SIZE;
			size_t got = 0;

			while (got < n && off + got < fd->size) {
				long r = sys_pread(rfd, d->bounce + got, n - got,
						   (int64_t)(off + got));

				if (r == -EINTR)
					continue;
				if (r < 0) {
					ret = sck_fail((int)-r, "cannot read the file on fd %d: %s",
						       fd->fd, selfckpt__errname((int)-r));
					break;
				}
				if (r == 0)
					break;
				got += (size_t)r;
			}
			if (ret)
				break;
			__builtin_memset(d->bounce + got, 0, n - got);
			ret = feed(o, d->bounce, n);
			if (!ret)
				ret = flush(o);
			if (ret)
				ret = sck_fail(-ret, "cannot write the image: %s",
					       selfckpt__errname(-ret));
			off += n;
			left -= n;
		}
	}
	if (fd->reopen)
		sys_close(rfd);
	return ret;
}

static int send_tail(struct out *o)
{
	struct sck_dump *d = o->d;
	struct sck_meta t;
	uint64_t nchunks = (d->data_len + SCK_CHUNK_SIZE - 1) / SCK_CHUNK_SIZE;
	struct sck_page_hashes ph = { SCK_CHUNK_SIZE, nchunks };
	struct sck_part parts[2] = { { &ph, sizeof(ph) },
				     { d->chunk_hash, nchunks * 8 } };

	selfckpt__meta_continue(&t, &d->meta, d->tail, d->tail_cap);
	if (o->chunk_fill)
		d->chunk_hash[o->chunk_idx++] = selfckpt__xxh64_digest(&o->h);
	if (o->chunk_idx != nchunks)
		return sck_fail(EIO, "internal error: %lu chunk hashes for %lu chunks",
				(unsigned long)o->chunk_idx, (unsigned long)nchunks);
	if (selfckpt__meta_add(&t, SCK_REC_PAGE_HASHES, 0, parts, 2, NULL))
		return sck_fail(ENOMEM, "trailer buffer full");

	struct sck_commit c = {
		.magic = SCK_COMMIT_MAGIC,
		.records = t.nrecords,
		.commit_off = o->off + t.len,
		.data_len = d->data_len,
		.image_uuid = d->hdr->image_uuid,
	};
	struct sck_part cp = { &c, sizeof(c) };

	if (selfckpt__meta_add(&t, SCK_REC_COMMIT, 0, &cp, 1, NULL))
		return sck_fail(ENOMEM, "trailer buffer full");
	selfckpt__meta_seal(&t);
	return send_buf(o, t.buf, t.len);
}

int selfckpt__write_image(struct sck_dump *d)
{
	struct out *o = selfckpt__arena_alloc(&d->arena, sizeof(*o), 64);
	int ret;

	if (!o)
		return sck_fail(ENOMEM, "out of checkpoint memory");
	o->d = d;
	o->fd = d->out_fd;
	selfckpt__xxh64_init(&o->h, 0);

	for (uint32_t i = 0; i < d->nvmas; i++) {
		ret = scan_vma(d, i);
		if (ret)
			return ret;
	}
	if ((d->data_len + SCK_CHUNK_SIZE - 1) / SCK_CHUNK_SIZE > d->chunk_hash_cap)
		return sck_fail(ENOMEM, "too much page data for the hash table");
	ret = add_meta(d);
	if (ret)
		return ret;
	ret = send_buf(o, d->meta.buf, d->meta.len);
	if (ret)
		return sck_fail(-ret, "cannot write the image: %s",
				selfckpt__errname(-ret));
	/* Files first: their OBJ records come before the VMA records. */
	for (uint32_t i = 0; i < d->nfdata; i++) {
		ret = send_fdata(o, &d->fdata[i]);
		if (ret)
			return ret;
	}
	for (uint32_t i = 0; i < d->nvmas; i++) {
		const struct sck_dump_vma *v = &d->vmas[i];

		for (uint64_t r = v->run_first; r < v->run_first + v->v.nruns; r++) {
			ret = send_run(o, v, &d->runs[r]);
			if (ret)
				return sck_fail(-ret, "cannot write the image: %s",
						selfckpt__errname(-ret));
		}
	}
	ret = flush(o);
	if (!ret)
		ret = send_tail(o);
	if (ret)
		return sck_fail(-ret, "cannot write the image: %s",
				selfckpt__errname(-ret));
	sck_info("image: %u mappings, %lu pages in %lu runs, %lu bytes",
		 d->nvmas, (unsigned long)(d->data_len / PAGE),
		 (unsigned long)d->nruns, (unsigned long)o->off);
	return 0;
}

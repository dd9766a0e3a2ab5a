/*
 * restore.c - `selfckpt restart`: check, prepare, hand over to the restorer.
 *
 *   read the image's metadata; for a file, check every byte of it;
 *   check that this machine can run it: CPU features and XSAVE layout (P11),
 *     vDSO layout (P5), page size, PR_SET_MM_MAP, guard regions;
 *   open and check every mapped file, recreate objects (restore-files.c);
 *   recreate the descriptors, the cwd and the umask;
 *   plan the memory: one struct rst_map per mapping, the page data fills;
 *   find the hole: room that neither the image nor this program uses (P7);
 *   build the restorer's arguments and the resuming signal frame in it;
 *   block every signal and jump to the restorer.
 *
 * Everything that can fail fails before the jump, with a message and a
 * status (restore.h). This process *becomes* the restored one: same PID,
 * same parent, so the shell sees the program's own exit status.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "compat.h"
#include "internal.h"
#include "nolibc/xxh64.h"
#include "proc.h"
#include "restore.h"
#include "rst/rst.h"

#define PAGE SCK_PAGE_SIZE
#define PAGE_UP(x) (((x) + PAGE - 1) & ~(PAGE - 1))
#define TASK_TOP 0x7ffffffff000ULL	/* 47-bit user address space */

/* The restorer blob, embedded by tools/rst-blob.S. */
extern const uint8_t selfckpt__rst_blob[];
extern const uint8_t selfckpt__rst_blob_end[];

extern const ptrdiff_t __rseq_offset;
extern const unsigned int __rseq_size;

static void vmsg(struct rs *s, const char *fmt, va_list ap)
{
	char line[1024];
	int n = snprintf(line, sizeof(line), "selfckpt restart: ");

	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(s->log_fd, line, (size_t)n) < 0) {
		/* Nowhere else to report it. */
	}
}

void selfckpt__rs_note(struct rs *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(s, fmt, ap);
	va_end(ap);
}

void selfckpt__rs_msg(struct rs *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(s, fmt, ap);
	va_end(ap);
}

/* ---- the image ------------------------------------------------------- */

static int load_image(struct rs *s)
{
	const char *name = s->o->image;
	struct stat st;
	int ret;

	if (!strcmp(name, "-")) {
		s->img_fd = 0;
	} else {
		s->img_fd = open(name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (s->img_fd < 0) {
			selfckpt__rs_msg(s, "cannot open %s: %s", name, strerror(errno));
			return SCK_EX_NOINPUT;
		}
	}
	if (fstat(s->img_fd, &st) < 0) {
		selfckpt__rs_msg(s, "cannot stat %s: %s", name, strerror(errno));
		return SCK_EX_NOINPUT;
	}
	if (S_ISDIR(st.st_mode)) {
		selfckpt__rs_msg(s, "%s is a directory, not an image", name);
		return SCK_EX_NOINPUT;
	}
	/*
	 * An image is a whole program, and runs with the rights of whoever
	 * restarts it: not one that someone else made or could have changed
	 * (the threat model, docs/security.md), unless forced.
	 */
	if (S_ISREG(st.st_mode) && !s->o->force) {
		if (st.st_uid != geteuid()) {
			selfckpt__rs_msg(s, "%s belongs to uid %u, not to you (uid %u): refusing to run another user's image (--force to run it anyway)",
					 name, (unsigned)st.st_uid, (unsigned)geteuid());
			return SCK_EX_NOPERM;
		}
		if (st.st_mode & (S_IWGRP | S_IWOTH)) {
			selfckpt__rs_msg(s, "%s is writable by %s: refusing an image others could have changed (--force to run it anyway)",
					 name, (st.st_mode & S_IWOTH) ? "everyone" : "its group");
			return SCK_EX_NOPERM;
		}
	}
	s->seekable = S_ISREG(st.st_mode);
	ret = selfckpt__image_read_meta(s->img_fd, &s->img, s->err, sizeof(s->err));
	if (ret) {
		selfckpt__rs_msg(s, "%s: %s", name, s->err);
		return ret == -EIO ? SCK_EX_NOINPUT : SCK_EX_DATAERR;
	}
	if (s->seekable && !s->o->no_verify) {
		ret = selfckpt__image_verify_data(s->img_fd, &s->img, NULL, NULL,
						  s->err, sizeof(s->err));
		if (ret) {
			selfckpt__rs_msg(s, "%s: %s", name, s->err);
			return ret == -EIO ? SCK_EX_NOINPUT : SCK_EX_DATAERR;
		}
		if (lseek(s->img_fd, (off_t)s->img.data_off, SEEK_SET) < 0) {
			selfckpt__rs_msg(s, "cannot seek in %s: %s", name, strerror(errno));
			return SCK_EX_NOINPUT;
		}
	}
	return 0;
}

/* ---- can this machine run it? ------------------------------------------ */

static int read_maps(char **buf)
{
	size_t size = 1 << 20;

	for (;;) {
		*buf = malloc(size);
		if (!*buf)
			return -ENOMEM;
		long n = selfckpt__read_file(AT_FDCWD, "/proc/self/maps", *buf, size);

		if (n >= 0)
			return 0;
		free(*buf);
		if (n != -E2BIG)
			return (int)n;
		size *= 2;
	}
}

void selfckpt__current_specials(struct sck_special_now *now)
{
	char *buf, *line, *next;

	now->n = 0;
	if (read_maps(&buf))
		return;
	for (line = buf; *line; line = next) {
		struct sck_maps_entry e;
		uint32_t kind = 0;

		next = strchr(line, '\n');
		next = next ? next + 1 : line + strlen(line);
		if (selfckpt__parse_maps_line(line, &e))
			continue;
		if (!strcmp(e.name, "[vdso]"))
			kind = SCK_VMA_VDSO;
		else if (!strcmp(e.name, "[vvar]"))
			kind = SCK_VMA_VVAR;
		else if (!strcmp(e.name, "[vvar_vclock]"))
			kind = SCK_VMA_VVAR_VCLOCK;
		if (kind && now->n < SCK_MAX_SPECIAL)
			now->sp[now->n++] = (struct sck_special){ e.start, e.end, kind, 0 };
	}
	free(buf);
}

static uint64_t vdso_start(const struct sck_special *sp, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (sp[i].kind == SCK_VMA_VDSO)
			return sp[i].start;
	return 0;
}

/* P5: the vDSO and vvar must have the layout the image's libc knows. */
static int check_vdso(struct rs *s, const struct sck_special_now *now,
		      const char *here)
{
	const struct sck_header *h = &s->img.hdr;
	uint64_t vi = vdso_start(h->special, h->nspecial);
	uint64_t vn = vdso_start(now->sp, now->n);
	uint64_t sym[SCK_VDSO_NSYMS];
	int same = h->nspecial == now->n && vi && vn;

	for (uint32_t i = 0; same && i < now->n; i++) {
		const struct sck_special *a = &h->special[i], *b = &now->sp[i];

		if (a->kind != b->kind || a->end - a->start != b->end - b->start ||
		    a->start - vi != b->start - vn)
			same = 0;
	}
	if (!same) {
		selfckpt__rs_msg(s,
				 "this kernel (%s) lays out the vdso and vvar differently from the image's (%s); restart on a machine with the image's kernel",
				 here, h->kernel_release);
		return SCK_EX_UNAVAILABLE;
	}
	const struct sck_special *vd = NULL;

	for (uint32_t i = 0; i < now->n; i++)
		if (now->sp[i].kind == SCK_VMA_VDSO)
			vd = &now->sp[i];
	uint64_t hash = selfckpt__xxh64((const void *)(uintptr_t)vd->start,
					vd->end - vd->start, 0);

	if (hash == h->vdso_hash)
		return 0;
	/* Another build of the kernel: the entry points must not have moved. */
	selfckpt__vdso_symbols((const void *)(uintptr_t)vd->start,
			       vd->end - vd->start, sym);
	for (int i = 0; i < SCK_VDSO_NSYMS; i++)
		if (sym[i] != h->vdso_sym[i]) {
			selfckpt__rs_msg(s,
					 "this kernel's vdso (%s) differs from the image's (%s); restart on a machine with the image's kernel",
					 here, h->kernel_release);
			return SCK_EX_UNAVAILABLE;
		}
	return 0;
}

static int check_machine(struct rs *s, struct sck_cpu *cpu,
			 struct sck_special_now *now)
{
	const struct sck_image *img = &s->img;
	char why[512];
	char mid[64] = "";
	int n, ret;

	if (sysconf(_SC_PAGESIZE) != (long)img->hdr.page_size) {
		selfckpt__rs_msg(s, "page size %ld here, %u in the image",
				 sysconf(_SC_PAGESIZE), img->hdr.page_size);
		return SCK_EX_UNAVAILABLE;
	}
	selfckpt__cpu_probe(cpu);
	if (selfckpt__cpu_compatible(&img->hdr.cpu, cpu, why, sizeof(why))) {
		selfckpt__rs_msg(s,
				 "this CPU cannot run the image: missing %s (image from \"%s\", this is \"%s\")",
				 why, img->hdr.cpu.model_name, cpu->model_name);
		return SCK_EX_UNAVAILABLE;
	}
	struct utsname u;

	if (uname(&u) < 0)
		snprintf(u.release, sizeof(u.release), "?");
	selfckpt__current_specials(now);
	ret = check_vdso(s, now, u.release);
	if (ret)
		return ret;
	unsigned int mmsize = 0;

	if (prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE, &mmsize, 0, 0) != 0 ||
	    mmsize != sizeof(struct rst_mm_map)) {
		selfckpt__rs_msg(s, "this kernel lacks PR_SET_MM_MAP (CONFIG_CHECKPOINT_RESTORE), which restart needs to restore the heap");
		return SCK_EX_UNAVAILABLE;
	}
	for (uint32_t i = 0; i < img->nvmas; i++) {
		if (!img->vmas[i].v.nguards)
			continue;
		void *p = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		int ok = p != MAP_FAILED && madvise(p, PAGE, MADV_GUARD_INSTALL) == 0;

		if (p != MAP_FAILED)
			munmap(p, PAGE);
		if (!ok) {
			selfckpt__rs_msg(s, "the image has guard regions and this kernel cannot install them (Linux 6.13+ needed)");
			return SCK_EX_UNAVAILABLE;
		}
		break;
	}
	n = (int)selfckpt__read_file(AT_FDCWD, "/etc/machine-id", mid, sizeof(mid));
	while (n > 0 && (mid[n - 1] == '\n' || mid[n - 1] == ' '))
		mid[--n] = '\0';
	s->same_machine = img->hdr.machine_id[0] && !strcmp(mid, img->hdr.machine_id);
	char boot[64] = "";

	n = (int)selfckpt__read_file(AT_FDCWD, "/proc/sys/kernel/random/boot_id",
				     boot, sizeof(boot));
	while (n > 0 && (boot[n - 1] == '\n' || boot[n - 1] == ' '))
		boot[--n] = '\0';
	s->same_boot = s->same_machine && img->hdr.boot_id[0] &&
		       !strcmp(boot, img->hdr.boot_id);
	return 0;
}

/* ---- the plan ---------------------------------------------------------- */

struct plan {
	size_t nmaps, nfills, nguards, names_len;
	size_t nghost_fills, nfixes, nlocks, locktext_len;
	size_t fixes_off, locks_off, locktext_off, bounce_off;
	size_t blob_len, args_off, maps_off, fills_off, guards_off, names_off;
	size_t hash_off, want_off, trailer_off, trailer_len, frame_off, frame_len;
	size_t unmap_off, threads_off, tstacks_off, tfd_off, epa_off, timers_off;
	size_t stack_off, temp_off, temp_len, total;
};

static void size_plan(struct rs *s, struct plan *p, const struct sck_cpu *cpu,
		      const struct sck_special_now *now)
{
	const struct sck_image *img = &s->img;
	size_t off;

	memset(p, 0, sizeof(*p));
	for (uint32_t i = 0; i < img->nvmas; i++) {
		const struct sck_img_vma *v = &img->vmas[i];

		if (sck_vma_special(v->v.kind))
			continue;
		p->nmaps++;
		p->nfills += v->v.nruns;
		p->nguards += v->v.nguards;
		if (v->v.flags & SCK_VMAF_ANON_NAME)
			p->names_len += strlen(v->name) + 1;
	}
	/* Unlinked files and memfds, POSIX locks (restore-ghost.c, -flock.c). */
	p->nghost_fills = selfckpt__rs_ghost_fills(s, NULL, NULL);
	p->nfills += p->nghost_fills;
	p->nfixes = selfckpt__rs_ghost_fixes(s, NULL);
	p->nlocks = selfckpt__rs_posix_locks(s, NULL, NULL, &p->locktext_len);
	p->blob_len = PAGE_UP((size_t)(selfckpt__rst_blob_end - selfckpt__rst_blob));
	off = p->blob_len;
	p->args_off = off;
	off += (sizeof(struct rst_args) + 63) & ~(size_t)63;
	p->maps_off = off;
	off += p->nmaps * sizeof(struct rst_map);
	p->fills_off = off;
	off += p->nfills * sizeof(struct rst_fill);
	p->guards_off = off;
	off += p->nguards * sizeof(struct sck_range);
	p->names_off = off;
	off += (p->names_len + 63) & ~(size_t)63;
	p->fixes_off = off;
	off += p->nfixes * sizeof(struct rst_file_fix);
	p->locks_off = off;
	off += p->nlocks * sizeof(struct rst_lock);
	p->locktext_off = off;
	off += (p->locktext_len + 63) & ~(size_t)63;
	p->bounce_off = off;
	off += p->nghost_fills ? RST_BOUNCE_SIZE : 0;
	p->hash_off = off;
	off += img->end.data_len / SCK_CHUNK_SIZE * 8 + 8;
	p->want_off = off;
	off += img->end.data_len / SCK_CHUNK_SIZE * 8 + 8;
	p->trailer_off = off;
	/* PAGE_HASHES, then COMMIT; fixed parts up to SCK_MAX_FIXED each. */
	p->trailer_len = 2 * SCK_MAX_FIXED + 2 * sizeof(struct sck_rec) +
			 (img->end.data_len / SCK_CHUNK_SIZE + 1) * 8;
	off += p->trailer_len;
	off = (off + 63) & ~(size_t)63;
	/* One signal frame per thread, each 64-byte aligned. */
	p->frame_off = off;
	p->frame_len = (selfckpt__sigframe_size(cpu) + 63) & ~(size_t)63;
	off += p->frame_len * img->nthreads;
	p->threads_off = off;
	off += sizeof(struct rst_thread) * img->nthreads;
	p->unmap_off = off;
	off += (SCK_MAX_SPECIAL + 2) * sizeof(struct sck_range);
	p->tfd_off = off;
	off += selfckpt__rs_timerfds(s, NULL) * sizeof(struct rst_timerfd);
	p->epa_off = off;
	off += selfckpt__rs_epoll_late(s, NULL) * sizeof(struct rst_epoll_add);
	p->timers_off = off;
	off += selfckpt__rs_timers_size(s);
	off = PAGE_UP(off);
	p->stack_off = off;
	off += RST_STACK_SIZE;
	p->tstacks_off = off;
	off += (size_t)RST_THREAD_STACK * img->nthreads;
	p->temp_off = off;
	for (uint32_t i = 0; i < now->n; i++)
		p->temp_len += now->sp[i].end - now->sp[i].start;
	off += p->temp_len;
	p->total = PAGE_UP(off);
}

struct range {
	uint64_t start, end;
};

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/*
 * P7: the hole must avoid the image's mappings (with room for the stack to
 * grow) and this program's, which are still there when it is made. The
 * highest gap that fits is taken, claimed with MAP_FIXED_NOREPLACE.
 */
static void *make_hole(struct rs *s, size_t len)
{
	const struct sck_image *img = &s->img;
	const uint64_t margin = 1 << 20;
	size_t n = 0, cap = img->nvmas + 4096;
	struct range *r = malloc(cap * sizeof(*r));
	char *buf = NULL, *line, *next;
	void *hole = NULL;

	if (!r || read_maps(&buf)) {
		free(r);
		return NULL;
	}
	for (uint32_t i = 0; i < img->nvmas; i++) {
		const struct sck_vma *v = &img->vmas[i].v;
		uint64_t lo = v->start;

		if (v->flags & SCK_VMAF_GROWSDOWN)
			lo = lo > (256ULL << 20) ? lo - (256ULL << 20) : 0;
		r[n++] = (struct range){ lo, v->end };
	}
	for (line = buf; *line && n < cap; line = next) {
		struct sck_maps_entry e;

		next = strchr(line, '\n');
		next = next ? next + 1 : line + strlen(line);
		if (!selfckpt__parse_maps_line(line, &e) && e.end <= TASK_TOP)
			r[n++] = (struct range){ e.start, e.end };
	}
	free(buf);
	r[n++] = (struct range){ 0, 1ULL << 32 };	/* keep low memory free */
	r[n++] = (struct range){ TASK_TOP - (1ULL << 30), TASK_TOP };
	qsort(r, n, sizeof(*r), cmp_range);

	/* Merge into disjoint ranges, then try the gaps from the top down. */
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		if (m && r[i].start <= r[m - 1].end) {
			if (r[i].end > r[m - 1].end)
				r[m - 1].end = r[i].end;
		} else {
			r[m++] = r[i];
		}
	}
	for (size_t i = m - 1; i > 0 && !hole; i--) {
		uint64_t lo = r[i - 1].end + margin, hi = r[i].start;

		if (hi < lo || hi - lo < len + margin)
			continue;
		uint64_t at = (hi - margin - len) & ~(uint64_t)(PAGE - 1);
		void *p = mmap((void *)(uintptr_t)at, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			       -1, 0);

		if (p != MAP_FAILED && (uint64_t)(uintptr_t)p == at)
			hole = p;
		else if (p != MAP_FAILED)
			munmap(p, len);
	}
	free(r);
	return hole;
}

static uint32_t map_flags(const struct rs *s, const struct sck_vma *v, int *fd)
{
	uint32_t fl = (v->flags & SCK_VMAF_SHARED) ? MAP_SHARED : MAP_PRIVATE;

	*fd = -1;
	if (v->file_id) {
		const struct rs_file *rf = &s->files[v->file_id - 1];

		if (rf->anon_shared)
			return MAP_SHARED | MAP_ANONYMOUS;
		*fd = rf->map_fd;
		return fl;
	}
	fl |= MAP_ANONYMOUS;
	if (v->flags & SCK_VMAF_NORESERVE)
		fl |= MAP_NORESERVE;
	if (v->kind == SCK_VMA_STACK && (v->flags & SCK_VMAF_GROWSDOWN))
		fl |= MAP_GROWSDOWN;
	return fl;
}

/*
 * A System V attachment: shmat() of the whole segment where its first
 * piece starts, nothing for the pieces after it (mprotect split it), then
 * each piece's protection. Read-only unless the mapping may be made
 * writable (smaps "mw": shmat without SHM_RDONLY).
 */
static void pack_shmat(struct rst_map *mm, const struct sck_vma *v,
		       const struct sck_image *img)
{
	mm->fd = -1;
	mm->shmid = v->sysv_id;
	mm->shm = v->pgoff ? RST_SHM_PIECE : RST_SHM_ATTACH;
	mm->shmflg = (v->flags & SCK_VMAF_MAYWRITE) ? 0 : SHM_RDONLY;
	if (v->prot & PROT_EXEC)
		mm->shmflg |= SHM_EXEC;
	mm->map_prot = PROT_READ | ((v->flags & SCK_VMAF_MAYWRITE) ? PROT_WRITE : 0) |
		       (v->prot & PROT_EXEC);
	for (uint32_t i = 0; i < img->nsysv; i++)
		if (img->sysv[i].s.kind == SCK_SYSV_SHM && img->sysv[i].s.id == v->sysv_id &&
		    (img->sysv[i].s.flags & SCK_SYSVF_REMOVED) && !v->pgoff)
			mm->shm |= RST_SHM_RMID;
}

/* Fill the hole: mappings, fills, guards, names. */
static void pack_memory(struct rs *s, struct rst_args *a, uint8_t *hole,
			const struct plan *p)
{
	const struct sck_image *img = &s->img;
	struct rst_map *m = (void *)(hole + p->maps_off);
	struct rst_fill *f = (void *)(hole + p->fills_off);
	struct sck_range *g = (void *)(hole + p->guards_off);
	char *names = (char *)(hole + p->names_off);

	a->maps = (uint64_t)(uintptr_t)m;
	a->fills = (uint64_t)(uintptr_t)f;
	for (uint32_t i = 0; i < img->nvmas; i++) {
		const struct sck_img_vma *v = &img->vmas[i];

		if (sck_vma_special(v->v.kind))
			continue;
		struct rst_map *mm = &m[a->nmaps++];

		mm->start = v->v.start;
		mm->len = v->v.end - v->v.start;
		mm->pgoff = v->v.pgoff;
		mm->prot = v->v.prot;
		mm->map_prot = v->v.nruns ? (v->v.prot | PROT_READ | PROT_WRITE)
					  : v->v.prot;
		mm->flags = map_flags(s, &v->v, &mm->fd);
		if (mm->flags & MAP_ANONYMOUS)
			mm->pgoff = 0;
		if (v->v.kind == SCK_VMA_SYSV_SHM)
			pack_shmat(mm, &v->v, img);
		mm->vmflags = v->v.flags;
		mm->nguards = v->v.nguards;
		mm->guards = (uint64_t)(uintptr_t)g;
		for (uint32_t k = 0; k < v->v.nguards; k++)
			*g++ = v->guards[k];
		if (v->v.flags & SCK_VMAF_ANON_NAME) {
			/* "[anon:NAME]" or "[anon_shmem:NAME]": keep NAME. */
			const char *c = strchr(v->name, ':');
			size_t len = c ? strlen(c + 1) : 0;

			if (len && c[len] == ']') {
				memcpy(names, c + 1, len - 1);
				names[len - 1] = '\0';
				mm->anon_name = (uint64_t)(uintptr_t)names;
				names += len;
			}
		}
		for (uint32_t k = 0; k < v->v.nruns; k++) {
			f->addr = v->runs[k].addr;
			f->len = v->runs[k].npages * PAGE;
			f->fd = -1;
			f++;
			a->nfills++;
		}
	}
}

struct fill_at {
	uint64_t data_off;
	struct rst_fill f;
};

static int cmp_fill(const void *a, const void *b)
{
	const struct fill_at *x = a, *y = b;

	return x->data_off < y->data_off ? -1 : x->data_off > y->data_off;
}

/*
 * The data of unlinked files and memfds comes in the page data too, in
 * record order with the mappings' (the writer sends it first): all fills
 * in the order of their data. Then the files' sizes and seals, and the
 * POSIX locks with their messages.
 */
static int pack_files(struct rs *s, struct rst_args *a, uint8_t *hole,
		      const struct plan *p)
{
	struct rst_fill *f = (void *)(hole + p->fills_off);

	if (p->nghost_fills) {
		size_t n = a->nfills, at = 0;
		struct fill_at *all = malloc((n + p->nghost_fills) * sizeof(*all));
		uint64_t *offs = malloc(p->nghost_fills * sizeof(*offs));
		struct rst_fill *gf = malloc(p->nghost_fills * sizeof(*gf));

		if (!all || !offs || !gf) {
			free(all);
			free(offs);
			free(gf);
			selfckpt__rs_msg(s, "out of memory");
			return SCK_EX_OSERR;
		}
		for (uint32_t i = 0; i < s->img.nvmas; i++) {
			const struct sck_img_vma *v = &s->img.vmas[i];

			for (uint32_t k = 0; !sck_vma_special(v->v.kind) && k < v->v.nruns; k++) {
				all[at] = (struct fill_at){ v->runs[k].data_off, f[at] };
				at++;
			}
		}
		selfckpt__rs_ghost_fills(s, gf, offs);
		for (size_t k = 0; k < p->nghost_fills; k++)
			all[at++] = (struct fill_at){ offs[k], gf[k] };
		qsort(all, at, sizeof(*all), cmp_fill);
		for (size_t k = 0; k < at; k++)
			f[k] = all[k].f;
		a->nfills = at;
		a->bounce = (uint64_t)(uintptr_t)(hole + p->bounce_off);
		free(all);
		free(offs);
		free(gf);
	}
	a->fixes = (uint64_t)(uintptr_t)(hole + p->fixes_off);
	a->nfixes = (uint32_t)selfckpt__rs_ghost_fixes(s, (void *)(hole + p->fixes_off));
	size_t len;

	a->locks = (uint64_t)(uintptr_t)(hole + p->locks_off);
	a->nlocks = (uint32_t)selfckpt__rs_posix_locks(s, (void *)(hole + p->locks_off),
						       (char *)(hole + p->locktext_off), &len);
	return 0;
}

/* P7: unmap everything of the launcher but the hole and the vDSO/vvar. */
static void pack_unmap(struct rst_args *a, uint8_t *hole, size_t hole_len,
		       const struct sck_special_now *now, struct sck_range *u)
{
	struct range keep[SCK_MAX_SPECIAL + 1];
	size_t nk = 0;
	uint64_t at = 0;

	keep[nk++] = (struct range){ (uint64_t)(uintptr_t)hole,
				     (uint64_t)(uintptr_t)hole + hole_len };
	for (uint32_t i = 0; i < now->n; i++)
		keep[nk++] = (struct range){ now->sp[i].start, now->sp[i].end };
	qsort(keep, nk, sizeof(keep[0]), cmp_range);
	a->unmap = (uint64_t)(uintptr_t)u;
	for (size_t i = 0; i < nk; i++) {
		if (keep[i].start > at)
			u[a->nunmap++] = (struct sck_range){ at, keep[i].start };
		at = keep[i].end;
	}
	if (at < TASK_TOP)
		u[a->nunmap++] = (struct sck_range){ at, TASK_TOP };
}

/* P5: every vDSO/vvar piece to the temp area, then to its image address. */
static void pack_moves(struct rs *s, struct rst_args *a, uint64_t temp,
		       const struct sck_special_now *now)
{
	const struct sck_header *h = &s->img.hdr;
	int same = 1;

	for (uint32_t i = 0; i < now->n; i++)
		if (now->sp[i].start != h->special[i].start)
			same = 0;
	if (same)
		return;
	uint64_t t = temp;

	for (uint32_t i = 0; i < now->n; i++) {
		uint64_t len = now->sp[i].end - now->sp[i].start;

		a->moves[a->nmoves++] = (struct rst_move){ now->sp[i].start, t, len };
		t += len;
	}
	t = temp;
	for (uint32_t i = 0; i < now->n; i++) {
		uint64_t len = now->sp[i].end - now->sp[i].start;

		a->moves[a->nmoves++] = (struct rst_move){ t, h->special[i].start, len };
		t += len;
	}
}

static void pack_process(struct rs *s, struct rst_args *a)
{
	const struct sck_process *p = &s->img.proc;

	a->mm = (struct rst_mm_map){
		.start_code = p->start_code, .end_code = p->end_code,
		.start_data = p->start_data, .end_data = p->end_data,
		.start_brk = p->start_brk, .brk = p->brk,
		.start_stack = p->start_stack,
		.arg_start = p->arg_start, .arg_end = p->arg_end,
		.env_start = p->env_start, .env_end = p->env_end,
		.auxv_size = p->auxv_len * 8,
	};
	memcpy(a->auxv, p->auxv, p->auxv_len * 8);
	a->exe_fd = s->exe_fd;
	if (s->exe_fd >= 0)
		a->flags |= RST_F_EXE_SET;
	a->personality = p->personality;
	a->rlim = s->img.rlim;
	a->sig = s->img.sig;
	memcpy(a->comm, p->comm, sizeof(a->comm));
	a->comm[15] = '\0';
	a->dumpable = p->dumpable;
	a->pdeathsig = p->pdeathsig;
	a->no_new_privs = p->no_new_privs;
	a->thp_disable = p->thp_disable;
	a->child_subreaper = p->child_subreaper;
	a->timerslack_ns = p->timerslack_ns;
	memcpy(a->itimer, p->itimer, sizeof(a->itimer));
	a->pending_shared = p->pending_shared | s->raise;
	a->xcomp_perm = s->img.hdr.cpu.xcomp_perm;
	a->mdwe = p->mdwe;
	a->cap_inh = p->cap_inh;
	a->cap_prm = p->cap_prm;
	a->cap_eff = p->cap_eff;
	a->cap_bnd = p->cap_bnd;
	a->cap_amb = p->cap_amb;
}

/* The thread's scheduling settings, for the restorer. */
static void pack_sched(struct rst_sched *d, const struct sck_thread *t)
{
	d->nice = t->nice;
	d->policy = t->sched_policy;
	d->priority = t->sched_priority;
	d->ioprio = t->ioprio;
	d->keepcaps = t->keepcaps;
	d->mce_kill = t->mce_kill;
	d->ncpus = t->ncpus;
	memcpy(d->affinity, t->affinity, sizeof(d->affinity));
}

/*
 * oom_score_adj belongs to the process and may be set here, before the
 * jump. Lowering it needs CAP_SYS_RESOURCE: then the restart warns and goes
 * on with this command's value.
 */
static void set_oom_score_adj(struct rs *s)
{
	char want[16], now[16] = "";
	int fd = open("/proc/self/oom_score_adj", O_RDWR | O_CLOEXEC);
	int n = snprintf(want, sizeof(want), "%d\n", s->img.proc.oom_score_adj);

	if (fd < 0)
		return;
	if (read(fd, now, sizeof(now) - 1) > 0 && atoi(now) == s->img.proc.oom_score_adj) {
		close(fd);
		return;
	}
	if (pwrite(fd, want, (size_t)n, 0) != n)
		selfckpt__rs_msg(s, "warning: cannot set oom_score_adj back to %d (it is %d)",
				 s->img.proc.oom_score_adj, atoi(now));
	close(fd);
}

/*
 * Where the restorer reports to the restored library: only if that lies
 * inside a writable private mapping of the image, else nowhere (the
 * library then just cannot unmap the hole, and says nothing is wrong).
 */
static uint64_t rstinfo_target(const struct rs *s)
{
	uint64_t at = s->img.hdr.rstinfo_addr;

	if (s->img.hdr.rstinfo_size != sizeof(struct sck_rstinfo) || at % 8)
		return 0;
	for (uint32_t i = 0; i < s->img.nvmas; i++) {
		const struct sck_vma *v = &s->img.vmas[i].v;

		if (at >= v->start && at + sizeof(struct sck_rstinfo) <= v->end &&
		    (v->prot & PROT_WRITE) && !(v->flags & SCK_VMAF_SHARED) &&
		    !sck_vma_special(v->kind))
			return at;
	}
	return 0;
}

/*
 * Every thread: its signal frame (built for this CPU), its settings, and
 * for all but the main one, which the restorer itself becomes, a stack to
 * start on. The main thread is the thread group leader: this process.
 */
static int pack_threads(struct rs *s, struct rst_args *a, uint8_t *hole,
			const struct plan *p, const struct sck_cpu *cpu)
{
	struct rst_thread *th = (struct rst_thread *)(hole + p->threads_off);
	int main_found = 0;

	a->threads = (uint64_t)(uintptr_t)th;
	a->nthreads = s->img.nthreads;
	for (uint32_t i = 0; i < s->img.nthreads; i++) {
		const struct sck_thread *t = &s->img.threads[i].t;
		struct rst_thread *r = &th[i];

		r->tid = t->tid;
		r->flags = t->flags;
		r->fs_base = t->fs_base;
		r->gs_base = t->gs_base;
		r->rseq_addr = t->rseq_addr;
		r->rseq_len = t->rseq_len;
		r->rseq_sig = t->rseq_sig;
		r->clear_child_tid = t->clear_child_tid;
		r->robust_head = t->robust_head;
		r->robust_len = t->robust_len;
		r->pending = t->pending;
		r->tid_field = t->tid_field;
		memcpy(r->comm, t->comm, sizeof(r->comm));
		r->comm[sizeof(r->comm) - 1] = '\0';
		r->stack_lo = (uint64_t)(uintptr_t)(hole + p->tstacks_off +
						    (size_t)RST_THREAD_STACK * i);
		r->stack_size = RST_THREAD_STACK;
		r->args = (uint64_t)(uintptr_t)a;
		pack_sched(&r->sched, t);
		if (selfckpt__build_sigframe(hole + p->frame_off + p->frame_len * i,
					     t, s->img.threads[i].xsave,
					     &s->img.hdr.cpu, cpu, &r->frame_sp,
					     s->err, sizeof(s->err))) {
			selfckpt__rs_msg(s, "%s", s->err);
			return SCK_EX_UNAVAILABLE;
		}
		if (t->flags & SCK_THRF_MAIN) {
			a->main = i;
			main_found++;
		}
	}
	if (main_found != 1) {
		selfckpt__rs_msg(s, "the image has %d main threads", main_found);
		return SCK_EX_DATAERR;
	}
	return 0;
}

/* P1: this program's own rseq registration, to be undone by the restorer. */
static int launcher_rseq(struct rs *s, struct rst_args *a)
{
	uint64_t tp = selfckpt__get_fs_base();

	if (!__rseq_size)
		return 0;
	uint64_t area = tp + (uint64_t)__rseq_offset;
	uint32_t lens[2] = { __rseq_size < 32 ? 32 : __rseq_size, __rseq_size };

	for (int i = 0; i < 2; i++) {
		long r = syscall(SYS_rseq, (void *)(uintptr_t)area, lens[i], 0,
				 SELFCKPT_RSEQ_SIG);

		if (r == 0 || errno == EBUSY) {
			a->cur_rseq_addr = area;
			a->cur_rseq_len = lens[i];
			a->cur_rseq_sig = SELFCKPT_RSEQ_SIG;
			return 0;
		}
	}
	selfckpt__rs_msg(s, "cannot identify this program's rseq registration");
	return SCK_EX_OSERR;
}

static int prepare_exe(struct rs *s)
{
	uint32_t id = s->img.proc.exe_file;

	s->exe_fd = -1;
	if (!id || id > s->img.nfiles)	/* the reader checks it too */
		return 0;
	const struct sck_img_file *f = &s->img.files[id - 1];
	int fd = open(f->path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return 0;
	/* Only the very same file may become /proc/self/exe (P6). */
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != f->f.size ||
	    st.st_mtim.tv_sec != f->f.mtime_sec ||
	    (uint32_t)st.st_mtim.tv_nsec != f->f.mtime_nsec) {
		close(fd);
		return 0;
	}
	s->exe_fd = fd;
	return selfckpt__rs_move_fd_up(s, &s->exe_fd) ? SCK_EX_OSERR : 0;
}

static int prepare_pidfile(struct rs *s, struct rst_args *a)
{
	const char *path = s->o->pidfile;
	char dir[4096];
	const char *slash = strrchr(path, '/');

	if (slash) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path ? slash - path : 1), path);
		snprintf(a->pidfile_name, sizeof(a->pidfile_name), "%s", slash + 1);
	} else {
		snprintf(dir, sizeof(dir), ".");
		snprintf(a->pidfile_name, sizeof(a->pidfile_name), "%s", path);
	}
	snprintf(a->pidfile_tmp, sizeof(a->pidfile_tmp), ".%s.%d.tmp", "selfckpt-pid", getpid());
	s->pidfile_dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->pidfile_dirfd < 0 || !a->pidfile_name[0]) {
		selfckpt__rs_msg(s, "cannot use %s as the pid file: %s", path,
				 strerror(errno));
		return SCK_EX_USAGE;
	}
	if (selfckpt__rs_move_fd_up(s, &s->pidfile_dirfd))
		return SCK_EX_OSERR;
	a->pidfile_dirfd = s->pidfile_dirfd;
	return 0;
}

static uint8_t *jump_hole, *jump_stack;
static struct rst_args *jump_args;

static __attribute__((noreturn)) void jump(const void *entry, void *args,
					   void *sp)
{
	__asm__ volatile("movq %0, %%rsp\n\t"
			 "jmpq *%1\n\t"
			 :
			 : "r"(sp), "r"(entry), "D"(args)
			 : "memory");
	__builtin_unreachable();
}

/* The point of no return: block everything, enter the restorer. */
static void go(struct rs *s)
{
	uint64_t all = ~0ULL;

	/* In the process that becomes the program (restore-ghost.c, -flock.c). */
	if (selfckpt__rs_ghosts_here(s))
		_exit(SCK_EX_OSERR);
	if (selfckpt__rs_take_locks(s))
		_exit(SCK_EX_UNAVAILABLE);
	/* In its private IPC namespace (restore-sysv.c). */
	if (selfckpt__rs_make_sysv(s))
		_exit(SCK_EX_UNAVAILABLE);
	selfckpt__rs_tty_modes(s);	/* the terminal's, last: restore-tty.c */
	/* Raw, so that libc's own signals are blocked too. */
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, 8);
	jump(jump_hole, jump_args, jump_stack);
}

int selfckpt__restart(const struct sck_restart_opts *o)
{
	static struct rs rs;
	struct rs *s = &rs;
	struct sck_cpu cpu;
	struct sck_special_now now;
	struct plan p;
	struct rst_args *a;
	uint8_t *hole;
	int ret, maxfd = 2;

	s->o = o;
	s->log_fd = 2;
	s->exe_fd = s->pidfile_dirfd = -1;
	if ((ret = load_image(s)) || (ret = check_machine(s, &cpu, &now)) ||
	    (ret = selfckpt__rs_check_timers(s)))
		return ret;

	/* Helpers (image, log, mapped files) go above every image fd. */
	for (uint32_t i = 0; i < s->img.nfds; i++)
		if (s->img.fds[i].fd > maxfd)
			maxfd = s->img.fds[i].fd;
	s->helper_base = maxfd + 1;
	s->log_fd = fcntl(2, F_DUPFD_CLOEXEC, s->helper_base);
	if (s->log_fd < 0)
		s->log_fd = 2;
	if (selfckpt__rs_move_fd_up(s, &s->img_fd))
		return SCK_EX_OSERR;
	if (selfckpt__rs_open_files(s) || prepare_exe(s) ||
	    selfckpt__rs_make_objects(s))
		return SCK_EX_UNAVAILABLE;

	size_plan(s, &p, &cpu, &now);
	hole = NULL;
	struct rst_args tmp_args;	/* pidfile names, before the hole exists */

	memset(&tmp_args, 0, sizeof(tmp_args));
	tmp_args.pidfile_dirfd = -1;
	if (o->pidfile && (ret = prepare_pidfile(s, &tmp_args)))
		return ret;
	if (o->no_namespaces && (ret = selfckpt__rs_sysv_ids(s, "--no-namespaces")))
		return ret;

	/* From here on the descriptors are the image's. */
	if (selfckpt__rs_place_fds(s))
		return SCK_EX_UNAVAILABLE;
	if (chdir(s->img.cwd) < 0) {
		selfckpt__rs_msg(s, "cannot change to the directory %s: %s",
				 s->img.cwd, strerror(errno));
		return SCK_EX_UNAVAILABLE;
	}
	umask((mode_t)s->img.proc.umask);

	hole = make_hole(s, p.total);
	if (!hole) {
		selfckpt__rs_msg(s, "no room in the address space for the restorer (%zu bytes)",
				 p.total);
		return SCK_EX_OSERR;
	}
	a = (struct rst_args *)(hole + p.args_off);
	*a = tmp_args;
	a->magic = RST_MAGIC;
	a->hole_start = (uint64_t)(uintptr_t)hole;
	a->hole_len = p.total;
	a->log_fd = s->log_fd;
	a->img_fd = s->img_fd;
	a->first_helper_fd = s->helper_base;
	if (o->verbose)
		a->flags |= RST_F_DEBUG;
	if ((ret = launcher_rseq(s, a)))
		return ret;

	pack_memory(s, a, hole, &p);
	if ((ret = pack_files(s, a, hole, &p)))
		return ret;
	a->data_len = s->img.end.data_len;
	a->nchunks = (a->data_len + SCK_CHUNK_SIZE - 1) / SCK_CHUNK_SIZE;
	a->chunk_hash = (uint64_t)(uintptr_t)(hole + p.hash_off);
	if (s->img.chunk_hash) {
		a->flags |= RST_F_VERIFIED_LIST;
		memcpy(hole + p.want_off, s->img.chunk_hash, a->nchunks * 8);
		a->expected_hash = (uint64_t)(uintptr_t)(hole + p.want_off);
	}
	a->trailer_chain = s->img.chain;
	a->trailer_records = s->img.nrecords;
	a->data_off = s->img.data_off;
	a->image_uuid = s->img.hdr.image_uuid;
	a->image_minor = s->img.pre.minor;
	a->trailer_buf = (uint64_t)(uintptr_t)(hole + p.trailer_off);
	a->trailer_buf_len = p.trailer_len;
	pack_process(s, a);
	set_oom_score_adj(s);

	if ((ret = pack_threads(s, a, hole, &p, &cpu)))
		return ret;
	a->timerfds = (uint64_t)(uintptr_t)(hole + p.tfd_off);
	a->ntimerfds = selfckpt__rs_timerfds(s, (struct rst_timerfd *)(hole + p.tfd_off));
	a->epoll_adds = (uint64_t)(uintptr_t)(hole + p.epa_off);
	a->nepoll_adds = selfckpt__rs_epoll_late(s, (struct rst_epoll_add *)(hole + p.epa_off));
	selfckpt__rs_pack_timers(s, a, hole + p.timers_off);
	a->rstinfo_addr = rstinfo_target(s);
	a->rstinfo.magic = SCK_RSTINFO_MAGIC;
	a->rstinfo.blob_start = a->hole_start;
	a->rstinfo.blob_len = a->hole_len;
	a->rstinfo.threads = s->img.nthreads - 1;

	pack_moves(s, a, a->hole_start + p.temp_off, &now);
	memcpy(hole, selfckpt__rst_blob,
	       (size_t)(selfckpt__rst_blob_end - selfckpt__rst_blob));
	if (mprotect(hole, p.blob_len, PROT_READ | PROT_EXEC) < 0) {
		selfckpt__rs_msg(s, "cannot make the restorer executable: %s",
				 strerror(errno));
		return SCK_EX_OSERR;
	}
	pack_unmap(a, hole, p.total, &now,
		   (struct sck_range *)(hole + p.unmap_off));
	jump_hole = hole;
	jump_args = a;
	jump_stack = hole + p.stack_off + RST_STACK_SIZE;

	/*
	 * Keep every process and thread id in private namespaces (P14); where
	 * they cannot be had, go on here with new ids (glibc's copies of the
	 * thread ids are updated by the restorer).
	 */
	if (!o->no_namespaces) {
		int saved_dirfd = a->pidfile_dirfd;

		a->flags |= RST_F_SET_TID;
		a->rstinfo.flags |= SCK_RST_PIDNS | (geteuid() ? SCK_RST_USERNS : 0);
		a->pidfile_dirfd = -1;	/* written from outside, with that PID */
		if (o->verbose)
			selfckpt__rs_note(s, "keeping every id: private %sPID namespace",
					  geteuid() ? "user and " : "");
		ret = selfckpt__rs_namespaces(s, s->img.hdr.pid, go);
		if (ret >= 0)
			return ret;
		if ((ret = selfckpt__rs_sysv_ids(s, "the namespaces could not be made")))
			return ret;
		a->flags &= ~RST_F_SET_TID;
		a->rstinfo.flags &= ~(uint64_t)(SCK_RST_PIDNS | SCK_RST_USERNS);
		a->pidfile_dirfd = saved_dirfd;
	}
	/*
	 * New ids. Locks that record a thread id and were held at the
	 * checkpoint would belong to nobody now: the checkpoint refuses them
	 * when it knows the image is for this (SCK_HDR_NO_OWNED_LOCKS, see
	 * res-locks.c); otherwise say what was not checked.
	 */
	selfckpt__rs_clock_note(s, o->host_clocks ? "--host-clocks" :
				 "a time namespace comes only with the PID namespace");
	if (!(s->img.hdr.flags & SCK_HDR_NO_OWNED_LOCKS))
		selfckpt__rs_note(s, "warning: restarting with new process and thread ids (%s); the image was not searched for held locks that record a thread id (error-checking, recursive, robust, priority-inheritance mutexes, write-locked rwlocks), which would stay locked; checkpoint with SELFCKPT_NEW_IDS=1 to have it refuse them",
				  o->no_namespaces ? "--no-namespaces" :
				  geteuid() ? "user and PID namespaces unavailable" :
				  "PID namespaces unavailable");
	else if (o->verbose)
		selfckpt__rs_note(s, "new process and thread ids (%s)",
				  o->no_namespaces ? "--no-namespaces" :
				  geteuid() ? "user and PID namespaces unavailable" :
				  "PID namespaces unavailable");
	go(s);
	return SCK_EX_SOFTWARE;
}

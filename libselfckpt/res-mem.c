/*
 * res-mem.c - the process's mappings: what each one is and how to save it.
 *
 * Reads /proc/self/smaps once (the only place that has the madvise flags)
 * and classifies every mapping (enum sck_vma_kind), deciding how the writer
 * will find its pages (enum sck_scan) and recording the files it maps.
 * A mapping that cannot be restored (hugetlbfs, a device, a shadow
 * stack...) fails the checkpoint here with its range and
 * name: an image that would fail at restart is never written (P10, P17).
 *
 * Private file mappings keep a reference to their file (device, inode,
 * size, mtime and ELF build-id, checked at restart); only the pages the
 * process changed are stored (P19, P24). A file that was unlinked or
 * replaced since it was mapped cannot be mapped again by path, so its
 * contents go into the image instead. A System V shared memory
 * attachment is a mapping of kind SYSV_SHM naming its segment (shmid),
 * whose contents res-sysv.c saves with the segment.
 *
 * Async-signal-safe: raw system calls and the arena only.
 */
#define LOG_PREFIX "mem: "

#include <fcntl.h>
#include <linux/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <linux/errno.h>

#include "compat.h"
#include "internal.h"
#include "log.h"
#include "nolibc/str.h"
#include "nolibc/xxh64.h"
#include "proc.h"
#include "sys.h"

/* Read a whole /proc file into a fresh mapping, doubling until it fits. */
static long read_proc_mapped(const char *path, char **out, size_t *size)
{
	size_t sz = 1 << 20;

	for (;;) {
		char *buf = sys_mmap(NULL, sz, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (sck_is_err((long)buf))
			return -ENOMEM;
		long n = selfckpt__read_file(-100 /* AT_FDCWD */, path, buf, sz);

		if (n >= 0) {
			*out = buf;
			*size = sz;
			return n;
		}
		sys_munmap(buf, sz);
		if (n != -7 /* E2BIG */)
			return n;
		sz *= 2;
	}
}

static int counts_as_pages(const struct sck_maps_entry *e)
{
	if (e->name[0] == '[')
		return sck_starts_with(e->name, "[anon") ||
		       !sck_strcmp(e->name, "[heap]") ||
		       !sck_strcmp(e->name, "[stack]");
	return !e->shared || !e->ino || sck_starts_with(e->name, "/memfd:");
}

int selfckpt__size_up(struct sck_sizing *sz)
{
	char *buf;
	size_t bufsize;
	long n = read_proc_mapped("/proc/self/maps", &buf, &bufsize);

	if (n < 0)
		return (int)n;
	sz->nvmas = 0;
	sz->pages = 0;
	for (char *line = buf; *line;) {
		char *next = line;
		struct sck_maps_entry e;

		while (*next && *next != '\n')
			next++;
		if (*next)
			*next++ = '\0';
		if (selfckpt__parse_maps_line(line, &e) == 0) {
			sz->nvmas++;
			if (counts_as_pages(&e))
				sz->pages += (e.end - e.start) / SCK_PAGE_SIZE;
		}
		line = next;
	}
	sys_munmap(buf, bufsize);
	/* An smaps entry is about 1 KiB; leave room for a few new mappings. */
	sz->maps_bytes = (sz->nvmas + 64) * 2048 + (64 << 10);
	return 0;
}

/* Is this name "<prefix>...<suffix>"? */
static int name_is(const char *name, size_t len, const char *prefix,
		   const char *suffix)
{
	size_t pl = sck_strlen(prefix), sl = sck_strlen(suffix);

	return len >= pl + sl && sck_strncmp(name, prefix, pl) == 0 &&
	       sck_strcmp(name + len - sl, suffix) == 0;
}

static int stat_path(const char *path, struct stat *st)
{
	return (int)sys_fstatat(-100 /* AT_FDCWD */, path, st, 0);
}

/* Record the object behind a mapping that has no usable path. */
static int add_object(struct sck_dump *d, const struct sck_maps_entry *e)
{
	struct sck_file f = { 0 };

	f.kind = SCK_FILE_REG;
	f.flags = SCK_FILEF_OBJECT;
	f.dev = makedev(e->dev_major, e->dev_minor);
	f.ino = e->ino;
	return selfckpt__file_add(d, &f, e->name);
}

/* Record a mapped file reachable by its path, with its ELF build-id. */
static int add_mapped_file(struct sck_dump *d, const char *path,
			   const struct stat *st, int want_build_id)
{
	struct sck_file f = { 0 };

	/* A library has several mappings: read its build-id once. */
	for (uint32_t i = 0; i < d->nfiles; i++)
		if (d->files[i].f.dev == st->st_dev &&
		    d->files[i].f.ino == st->st_ino && !d->files[i].f.flags &&
		    (d->files[i].f.build_id_len || !want_build_id))
			return (int)d->files[i].f.id;

	f.kind = SCK_FILE_REG;
	f.dev = st->st_dev;
	f.ino = st->st_ino;
	f.size = (uint64_t)st->st_size;
	f.mtime_sec = st->st_mtim.tv_sec;
	f.mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	f.ctime_sec = st->st_ctim.tv_sec;
	f.ctime_nsec = (uint32_t)st->st_ctim.tv_nsec;
	f.mode = st->st_mode;
	/* Not a file this process has POSIX locks on: closing drops them. */
	if (want_build_id && !selfckpt__posix_locked(d, st->st_dev, st->st_ino)) {
		long fd = sys_openat(-100, path, O_RDONLY | O_CLOEXEC, 0);

		if (fd >= 0) {
			int n = selfckpt__elf_build_id((int)fd, f.build_id,
						       sizeof(f.build_id));

			f.build_id_len = n > 0 ? (uint32_t)n : 0;
			sys_close((int)fd);
		}
	}
	return selfckpt__file_add(d, &f, path);
}

/*
 * The end of the readable part of an object mapping: pages past the end
 * of the file raise SIGBUS when touched, but /proc/self/mem just fails, so
 * a binary search over pages finds the first unreadable one.
 */
static uint64_t readable_end(struct sck_dump *d, uint64_t start, uint64_t end)
{
	uint64_t lo = 0, hi = (end - start) / SCK_PAGE_SIZE; /* pages */
	char c;

	if (sys_pread(d->mem_fd, &c, 1, (int64_t)(end - SCK_PAGE_SIZE)) == 1)
		return end;
	/* Invariant: pages [0, lo) readable, page hi not. */
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (sys_pread(d->mem_fd, &c, 1,
			      (int64_t)(start + mid * SCK_PAGE_SIZE)) == 1)
			lo = mid + 1;
		else
			hi = mid;
	}
	return start + lo * SCK_PAGE_SIZE;
}

struct vma_class {
	uint32_t kind;
	uint32_t scan;
	int object;	/* recreated from the image: needs add_object */
};

/* Names in brackets: the kernel's special mappings and named memory. */
static int classify_bracket(struct sck_dump *d, const struct sck_maps_entry *e,
			    struct vma_class *c, uint32_t *flags)
{
	const char *n = e->name;

	if (!sck_strcmp(n, "[vsyscall]") || !sck_strcmp(n, "[uprobes]"))
		return 1; /* kernel-owned, recreated by the kernel: skip */
	if (!sck_strcmp(n, "[vdso]")) {
		c->kind = SCK_VMA_VDSO;
	} else if (!sck_strcmp(n, "[vvar]")) {
		c->kind = SCK_VMA_VVAR;
	} else if (!sck_strcmp(n, "[vvar_vclock]")) {
		c->kind = SCK_VMA_VVAR_VCLOCK;
	} else if (!sck_strcmp(n, "[heap]")) {
		c->kind = SCK_VMA_HEAP;
		c->scan = SCK_SCAN_ANON;
	} else if (!sck_strcmp(n, "[stack]")) {
		c->kind = SCK_VMA_STACK;
		c->scan = SCK_SCAN_ANON;
	} else if (sck_starts_with(n, "[anon:") && !e->shared) {
		c->kind = SCK_VMA_ANON;
		c->scan = SCK_SCAN_ANON;
		*flags |= SCK_VMAF_ANON_NAME;
	} else if (sck_starts_with(n, "[anon_shmem:")) {
		c->kind = SCK_VMA_SHM_ANON;
		c->scan = SCK_SCAN_SHARED;
		c->object = 1;
		*flags |= SCK_VMAF_ANON_NAME;
	} else {
		return sck_fail(EOPNOTSUPP,
				"mapping %lx-%lx is the special mapping %s, which cannot be restored",
				(unsigned long)e->start, (unsigned long)e->end,
				n);
	}
	(void)d;
	return 0;
}

/*
 * Undo the one escape /proc/PID/maps applies to paths: a newline shows as
 * "\012". (A path that really contains "\012" is ambiguous; its inode
 * then does not match and it is saved like an unlinked file: correct,
 * only larger.)
 */
static void unescape_newlines(char *out, size_t n, const char *in)
{
	size_t o = 0;

	for (size_t i = 0; in[i] && o + 1 < n; i++) {
		if (in[i] == '\\' && in[i + 1] == '0' && in[i + 2] == '1' &&
		    in[i + 3] == '2') {
			out[o++] = '\n';
			i += 3;
		} else {
			out[o++] = in[i];
		}
	}
	out[o] = '\0';
}

/* Names starting with '/': files, and objects named like files. */
static int classify_path(struct sck_dump *d, struct sck_maps_entry *e,
			 struct vma_class *c, uint32_t *file_id)
{
	const char *n = e->name;
	size_t len = e->name_len;
	int shared = e->shared;
	struct stat st;

	/* shmat(): the inode is the shmid; res-sysv.c saves the segment. */
	if (name_is(n, len, "/SYSV", " (deleted)") && shared) {
		c->kind = SCK_VMA_SYSV_SHM;
		c->scan = SCK_SCAN_NONE;
		return 0;
	}
	if (!sck_strcmp(n, "/dev/zero (deleted)")) {
		c->kind = shared ? SCK_VMA_SHM_ANON : SCK_VMA_ANON;
		c->scan = shared ? SCK_SCAN_SHARED : SCK_SCAN_ANON;
		c->object = shared;
		return 0;
	}
	if (!sck_strcmp(n, "/secretmem (deleted)"))
		return sck_fail(EOPNOTSUPP,
				"mapping %lx-%lx (%s) is memfd_secret memory, which even this process cannot read, so it cannot be saved",
				(unsigned long)e->start, (unsigned long)e->end, n);
	if (name_is(n, len, "/memfd:", " (deleted)")) {
		c->kind = SCK_VMA_MEMFD;
		c->scan = shared ? SCK_SCAN_SHARED : SCK_SCAN_ALL;
		c->object = 1;
		return 0;
	}

	/*
	 * A path, possibly with " (deleted)" appended. Whether the file is
	 * still there is decided by its identity, not its name: a file may
	 * really be called "x (deleted)", and a replaced file keeps its name.
	 */
	char path[SCK_MAX_PATH + 1];

	/* The kernel prints a newline in a path as "\012" (seq_path). */
	unescape_newlines(path, sizeof(path), n);
	len = sck_strlen(path);
	if (name_is(path, len, "", " (deleted)"))
		path[len - 10] = '\0';
	if (stat_path(path, &st) != 0 ||
	    (uint64_t)st.st_ino != e->ino || major(st.st_dev) != e->dev_major ||
	    minor(st.st_dev) != e->dev_minor) {
		unescape_newlines(path, sizeof(path), n);
		if (stat_path(path, &st) == 0 && (uint64_t)st.st_ino == e->ino &&
		    major(st.st_dev) == e->dev_major &&
		    minor(st.st_dev) == e->dev_minor) {
			/* Really named "... (deleted)". */
		} else {
			c->kind = SCK_VMA_DELETED;
			c->scan = shared ? SCK_SCAN_SHARED : SCK_SCAN_ALL;
			c->object = 1;
			return 0;
		}
	}
	if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
		return sck_fail(EOPNOTSUPP,
				"mapping %lx-%lx maps the device %s, which cannot be restored",
				(unsigned long)e->start, (unsigned long)e->end,
				path);
	if (!S_ISREG(st.st_mode))
		return sck_fail(EOPNOTSUPP,
				"mapping %lx-%lx maps %s, which is not a regular file",
				(unsigned long)e->start, (unsigned long)e->end,
				path);
	c->kind = shared ? SCK_VMA_FILE_SHARED : SCK_VMA_FILE_PRIVATE;
	c->scan = shared ? SCK_SCAN_NONE : SCK_SCAN_COW;
	/* Build-id for every mapped file: the same file may be mapped both
	 * shared and private, and restart checks it for the private ones. */
	int id = add_mapped_file(d, path, &st, 1);

	if (id < 0)
		return id;
	*file_id = (uint32_t)id;
	return 0;
}

static int check_special_flags(const struct sck_maps_entry *e, uint32_t sp,
			       uint32_t kind)
{
	const char *why = NULL;

	if (sp & SCK_VMX_HUGETLB)
		why = "hugetlbfs memory, which is not supported (P10)";
	else if (sp & SCK_VMX_SHADOW_STACK)
		why = "a shadow stack; run with GLIBC_TUNABLES=glibc.cpu.x86_shstk=off (P4)";
	else if (sp & SCK_VMX_UFFD)
		why = "registered with userfaultfd by the program";
	else if ((sp & (SCK_VMX_IO | SCK_VMX_PFNMAP | SCK_VMX_MIXEDMAP)) &&
		 kind != SCK_VMA_VVAR && kind != SCK_VMA_VVAR_VCLOCK &&
		 kind != SCK_VMA_VDSO)
		why = "device memory (VM_IO/VM_PFNMAP)";
	if (!why)
		return 0;
	return sck_fail(EOPNOTSUPP, "mapping %lx-%lx (%s) is %s",
			(unsigned long)e->start, (unsigned long)e->end,
			e->name[0] ? e->name : "anonymous", why);
}

/* Append one mapping, minus the arena if the kernel merged it in. */
static int add_vma(struct sck_dump *d, const struct sck_dump_vma *tmpl)
{
	uint64_t a0 = (uint64_t)(uintptr_t)d->arena.base;
	uint64_t a1 = a0 + d->arena.size;
	struct sck_dump_vma parts[2];
	int nparts = 0;

	if (tmpl->v.end <= a0 || tmpl->v.start >= a1) {
		parts[nparts++] = *tmpl;
	} else {
		if (tmpl->v.start < a0) {
			parts[nparts] = *tmpl;
			parts[nparts++].v.end = a0;
		}
		if (tmpl->v.end > a1) {
			parts[nparts] = *tmpl;
			parts[nparts].v.start = a1;
			if (tmpl->v.file_id)
				parts[nparts].v.pgoff += a1 - tmpl->v.start;
			nparts++;
		}
	}
	for (int i = 0; i < nparts; i++) {
		if (d->nvmas >= d->vmas_cap)
			return sck_fail(EAGAIN,
					"the process created mappings during the checkpoint");
		d->vmas[d->nvmas++] = parts[i];
	}
	return 0;
}

static int collect_one(struct sck_dump *d, struct sck_maps_entry *e,
		       uint32_t vmflags, uint32_t special)
{
	struct sck_dump_vma dv = { 0 };
	struct vma_class c = { 0, SCK_SCAN_NONE, 0 };
	uint32_t flags = vmflags, file_id = 0;
	int ret;

	if (e->name[0] == '[') {
		ret = classify_bracket(d, e, &c, &flags);
		if (ret == 1)
			return 0;
	} else if (e->name[0] == '/') {
		ret = classify_path(d, e, &c, &file_id);
	} else if (e->name[0] == '\0') {
		c.kind = e->shared ? SCK_VMA_SHM_ANON : SCK_VMA_ANON;
		c.scan = e->shared ? SCK_SCAN_SHARED : SCK_SCAN_ANON;
		c.object = e->shared;
		ret = 0;
	} else {
		ret = sck_fail(EOPNOTSUPP,
			       "mapping %lx-%lx is %s, a kernel object that cannot be restored",
			       (unsigned long)e->start, (unsigned long)e->end,
			       e->name);
	}
	if (ret)
		return ret;
	ret = check_special_flags(e, special, c.kind);
	if (ret)
		return ret;
	if (c.object) {
		int id = add_object(d, e);

		if (id < 0)
			return id;
		file_id = (uint32_t)id;
	}
	if (e->shared)
		flags |= SCK_VMAF_SHARED;

	dv.v.start = e->start;
	dv.v.end = e->end;
	dv.v.pgoff = e->pgoff;
	dv.v.kind = c.kind;
	dv.v.prot = e->prot;
	dv.v.flags = flags;
	dv.v.file_id = file_id;
	if (c.kind == SCK_VMA_SYSV_SHM)
		dv.v.sysv_id = (int32_t)e->ino;
	dv.name = e->name;
	dv.name_len = (uint32_t)e->name_len;
	dv.scan = c.scan;
	dv.live_start = e->start;
	dv.read_end = e->end;
	if (c.kind == SCK_VMA_MEMFD || c.kind == SCK_VMA_DELETED)
		dv.read_end = readable_end(d, e->start, e->end);
	dv.v.obj_size = e->pgoff + (dv.read_end - e->start);
	return add_vma(d, &dv);
}

int selfckpt__mem_collect(struct sck_dump *d)
{
	size_t cap = d->smaps_cap;
	char *buf = selfckpt__arena_alloc(&d->arena, cap, 4096);
	long n;

	if (!buf)
		return sck_fail(ENOMEM, "no room to read /proc/self/smaps (arena %lu/%lu, need %lu)", (unsigned long)d->arena.used, (unsigned long)d->arena.size, (unsigned long)cap);
	n = selfckpt__read_file(-100, "/proc/self/smaps", buf, cap);
	if (n == -7)
		return sck_fail(EAGAIN, "/proc/self/smaps grew during the checkpoint");
	if (n < 0)
		return sck_fail((int)-n, "cannot read /proc/self/smaps (error %ld)", -n);

	struct sck_maps_entry cur;
	int have = 0;

	for (char *line = buf; *line;) {
		char *next = line;

		while (*next && *next != '\n')
			next++;
		if (*next)
			*next++ = '\0';
		if (sck_starts_with(line, "VmFlags:") && have) {
			uint32_t special;
			uint32_t vf = selfckpt__parse_vmflags(line + 8, &special);
			int ret = collect_one(d, &cur, vf, special);

			if (ret)
				return ret;
			have = 0;
		} else if (selfckpt__parse_maps_line(line, &cur) == 0) {
			if (have)
				return sck_fail(EAGAIN,
						"/proc/self/smaps entry without VmFlags");
			have = 1;
		}
		line = next;
	}
	if (have)
		return sck_fail(EAGAIN, "/proc/self/smaps ended inside an entry");

	/* The vDSO and vvar pieces go into the header too (P5). */
	for (uint32_t i = 0; i < d->nvmas; i++) {
		struct sck_vma *v = &d->vmas[i].v;

		if (!sck_vma_special(v->kind))
			continue;
		if (d->hdr->nspecial >= SCK_MAX_SPECIAL)
			return sck_fail(EOPNOTSUPP, "more vdso/vvar mappings than expected");
		struct sck_special *s = &d->hdr->special[d->hdr->nspecial++];

		s->start = v->start;
		s->end = v->end;
		s->kind = v->kind;
		if (v->kind == SCK_VMA_VDSO) {
			size_t len = v->end - v->start;
			const void *base = (const void *)(uintptr_t)v->start;

			d->hdr->vdso_hash = selfckpt__xxh64(base, len, 0);
			selfckpt__vdso_symbols(base, len, d->hdr->vdso_sym);
		}
	}
	sck_debug("%u mappings, %u files", d->nvmas, d->nfiles);
	return 0;
}

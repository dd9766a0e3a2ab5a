/*
 * cmd-verify.c - `selfckpt verify [OPTIONS] IMAGE|DIR|-`: check an image
 * completely, and whether this machine can run it, without restarting it.
 *
 * It makes every check that `selfckpt restart` makes before its point of
 * no return, in the same order and with the same messages, and a few that
 * restart can only fail on afterwards:
 *
 *   the image: the strict reader (image-dec.c) over every record, every
 *     page-data chunk hash, the hash list and the commit record, from a
 *     pipe too (restart checks a streamed image only while restoring it);
 *     the owner and mode of an image file (77, as restart, unless --force);
 *   the machine: page size, CPU features and XSAVE layout, the vDSO/vvar
 *     layout and entry points, PR_SET_MM_MAP, guard regions, a timer on
 *     every clock the image's POSIX timers use and their ids
 *     (restore-timers.c, shared with restart), time namespaces (as restore.c
 *     check_machine, whose functions are static: reimplemented here on the
 *     same library functions); a signal frame built for every thread for
 *     this CPU (restore.c pack_threads); rseq, which the restorer needs for
 *     any thread that had a registration;
 *   the files: every mapped file through restart's own
 *     selfckpt__rs_open_files (restore-files.c), one file at a time so that
 *     every changed file is named; every descriptor's file opened with the
 *     flags restart uses and checked as restart's open_one does (regular
 *     files read from must be unchanged: the same function, through a
 *     stand-in private mapping of the file); that no other process holds
 *     the POSIX and OFD locks of those files; the working directory;
 *   the ids: user and PID namespaces created in a child and every process
 *     and thread id of the image given with clone3(set_tid) there, as
 *     restore-ns.c will; if the namespaces cannot be had, restart uses new
 *     ids (a note, or a warning when the image was not searched for locks
 *     that record a thread id);
 *   notes: resource limits that this user cannot raise back.
 *
 * Output (stdout): one line per finding, "ok: ...", "note: ...",
 * "warning: ..." or "error: ...", and a last line "verdict: ...". Exit
 * status as restart's before the program runs (docs/cli.md): 0 restartable
 * here, 65 damaged, 66 unreadable, 69 this machine cannot run it, 77
 * another user's image or one others may write, 71 a system call failed,
 * 64 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/sched.h>

#include "cli.h"
#include "compat.h"
#include "internal.h"
#include "nolibc/xxh64.h"
#include "proc.h"
#include "restore.h"
#include "rst/rst.h"

#define PREFIX "selfckpt restart: "

struct verify {
	const char *name;		/* as given, or DIR/latest's target */
	int quiet;
	int status;			/* the first failure, restart's order */
	char reason[640];		/* its message */
	struct rs rs;			/* for restore-files.c */
};

static void help(FILE *f)
{
	fprintf(f,
		"usage: selfckpt verify [OPTIONS] IMAGE\n"
		"       selfckpt verify [OPTIONS] DIR    (its newest image: DIR/latest)\n"
		"       selfckpt verify [OPTIONS] -      (read the image from stdin)\n"
		"\n"
		"Check IMAGE completely without restarting it: every record, every\n"
		"page-data hash and the commit record; then whether this machine can\n"
		"run it: CPU and XSAVE features, vdso layout, PR_SET_MM_MAP, guard\n"
		"regions, rseq, every mapped and opened file present and unchanged, the\n"
		"working directory, and whether the process and thread ids can be kept.\n"
		"Prints one line per finding and a last line 'verdict: ...'.\n"
		"\n"
		"options:\n"
		"  --force       do not object to an image another user owns or that\n"
		"                others can write (as restart --force)\n"
		"  -q, --quiet   print only the verdict line\n"
		"  -h, --help    this text\n"
		"\n"
		"exit status: 0 restartable here; 65 damaged, truncated or not an\n"
		"image; 66 cannot be read; 69 this machine cannot run it; 77 another\n"
		"user's image or one others can write; 71 system error; 64 usage.\n");
}

static void vline(struct verify *v, const char *tag, const char *fmt, va_list ap)
{
	if (v->quiet)
		return;
	printf("%s: ", tag);
	vprintf(fmt, ap);
	putchar('\n');
}

static __attribute__((format(printf, 3, 4))) void say(struct verify *v, const char *tag,
						      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(v, tag, fmt, ap);
	va_end(ap);
}

/* An error finding; the first one decides the status and the verdict. */
static __attribute__((format(printf, 3, 4))) void bad(struct verify *v, int status,
						      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(v, "error", fmt, ap);
	va_end(ap);
	if (!v->status) {
		v->status = status;
		va_start(ap, fmt);
		vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
		va_end(ap);
	}
}

/*
 * What restore-files.c said through selfckpt__rs_msg: its log fd is a
 * memfd of ours; the line without "selfckpt restart: " and the newline.
 */
static const char *take_msg(struct verify *v, char *buf, size_t n)
{
	int fd = v->rs.log_fd;
	ssize_t got = pread(fd, buf, n - 1, 0);

	if (got < 0)
		got = 0;
	buf[got] = '\0';
	if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		/* A memfd of ours: cannot fail. */
	}
	char *nl = strchr(buf, '\n');

	if (nl)
		*nl = '\0';
	if (!strncmp(buf, PREFIX, strlen(PREFIX)))
		return buf + strlen(PREFIX);
	return buf[0] ? buf : "failed (no message)";
}

/* ---- the image ------------------------------------------------------- */

/* The owner and mode test of restore.c load_image. */
static void check_owner(struct verify *v, const struct stat *st, int force)
{
	if (!S_ISREG(st->st_mode))
		return;
	if (st->st_uid != geteuid()) {
		if (force)
			say(v, "note", "owner: %s belongs to uid %u, not to you (uid %u): restart needs --force",
			    v->name, (unsigned)st->st_uid, (unsigned)geteuid());
		else
			bad(v, SCK_EX_NOPERM,
			    "owner: %s belongs to uid %u, not to you (uid %u): restart refuses another user's image (--force to run it anyway)",
			    v->name, (unsigned)st->st_uid, (unsigned)geteuid());
	} else if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		const char *who = (st->st_mode & S_IWOTH) ? "everyone" : "its group";

		if (force)
			say(v, "note", "mode: %s is writable by %s: restart needs --force",
			    v->name, who);
		else
			bad(v, SCK_EX_NOPERM,
			    "mode: %s is writable by %s: restart refuses an image others could have changed (--force to run it anyway)",
			    v->name, who);
	} else {
		say(v, "ok", "owner: yours, not writable by others (mode %04o)",
		    (unsigned)(st->st_mode & 07777));
	}
}

static int read_status(int ret)
{
	return ret == -EIO ? SCK_EX_NOINPUT :
	       ret == -ENOMEM ? SCK_EX_OSERR : SCK_EX_DATAERR;
}

/* Every byte: metadata, page data, hash list, commit. 0 or a status. */
static int read_image(struct verify *v, int fd)
{
	struct sck_image *img = &v->rs.img;
	char err[512];
	int ret;

	ret = selfckpt__image_read_meta(fd, img, err, sizeof(err));
	if (!ret)
		ret = selfckpt__image_verify_data(fd, img, NULL, NULL, err, sizeof(err));
	if (ret) {
		bad(v, read_status(ret), "image: %s: %s", v->name, err);
		return read_status(ret);
	}
	uint64_t stored = 0;

	for (uint32_t i = 0; i < img->nvmas; i++)
		stored += img->vmas[i].v.npages_stored;
	say(v, "ok",
	    "image: checkpoint %" PRIu64 " (generation %u, pid %d, %u thread%s): %" PRIu64
	    " records, %" PRIu64 " pages in %" PRIu64 " hashed chunks, commit record: all intact",
	    img->hdr.ckpt_id, img->hdr.generation, img->hdr.pid, img->nthreads,
	    img->nthreads == 1 ? "" : "s", img->commit.records + 1, stored, img->nchunks);
	return 0;
}

/* ---- the machine (restore.c check_machine, check_vdso) ------------------ */

static const struct sck_special *find_vdso(const struct sck_special *sp, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (sp[i].kind == SCK_VMA_VDSO)
			return &sp[i];
	return NULL;
}

static void check_vdso(struct verify *v, const char *here)
{
	const struct sck_header *h = &v->rs.img.hdr;
	struct sck_special_now now;

	selfckpt__current_specials(&now);
	const struct sck_special *vi = find_vdso(h->special, h->nspecial);
	const struct sck_special *vn = find_vdso(now.sp, now.n);
	int same = h->nspecial == now.n && vi && vn;

	for (uint32_t i = 0; same && i < now.n; i++) {
		const struct sck_special *a = &h->special[i], *b = &now.sp[i];

		if (a->kind != b->kind || a->end - a->start != b->end - b->start ||
		    a->start - vi->start != b->start - vn->start)
			same = 0;
	}
	if (!same) {
		bad(v, SCK_EX_UNAVAILABLE,
		    "vdso: this kernel (%s) lays out the vdso and vvar differently from the image's (%s); restart on a machine with the image's kernel",
		    here, h->kernel_release);
		return;
	}
	uint64_t hash = selfckpt__xxh64((const void *)(uintptr_t)vn->start,
					vn->end - vn->start, 0);

	if (hash == h->vdso_hash) {
		say(v, "ok", "vdso: the same layout and code as the image's (kernel %s)",
		    h->kernel_release);
		return;
	}
	uint64_t sym[SCK_VDSO_NSYMS];

	selfckpt__vdso_symbols((const void *)(uintptr_t)vn->start, vn->end - vn->start, sym);
	for (int i = 0; i < SCK_VDSO_NSYMS; i++)
		if (sym[i] != h->vdso_sym[i]) {
			bad(v, SCK_EX_UNAVAILABLE,
			    "vdso: this kernel's vdso (%s) differs from the image's (%s); restart on a machine with the image's kernel",
			    here, h->kernel_release);
			return;
		}
	say(v, "ok", "vdso: another build (%s, the image's %s) with the same layout and entry points",
	    here, h->kernel_release);
}

static int kernel_has_rseq(void)
{
	/* EINVAL for the bad arguments if the system call exists. */
	return !(syscall(SYS_rseq, NULL, 0, 0, 0) < 0 && errno == ENOSYS);
}

static void check_machine(struct verify *v, struct sck_cpu *cpu)
{
	const struct sck_image *img = &v->rs.img;
	char why[512];

	/* restore.c uses these to decide which file checks apply. */
	char mid[64] = "", boot[64] = "";
	int n = (int)selfckpt__read_file(AT_FDCWD, "/etc/machine-id", mid, sizeof(mid));

	while (n > 0 && (mid[n - 1] == '\n' || mid[n - 1] == ' '))
		mid[--n] = '\0';
	v->rs.same_machine = img->hdr.machine_id[0] && !strcmp(mid, img->hdr.machine_id);
	n = (int)selfckpt__read_file(AT_FDCWD, "/proc/sys/kernel/random/boot_id", boot,
				     sizeof(boot));
	while (n > 0 && (boot[n - 1] == '\n' || boot[n - 1] == ' '))
		boot[--n] = '\0';
	v->rs.same_boot = v->rs.same_machine && img->hdr.boot_id[0] &&
			  !strcmp(boot, img->hdr.boot_id);
	say(v, "ok", "machine: %s (%s wrote the image); mapped files must keep their %s",
	    v->rs.same_machine ? "the same" : "another", img->hdr.hostname,
	    !v->rs.same_machine ? "size, mtime and build-id" :
	    v->rs.same_boot ? "inode, device, size, times and build-id" :
			      "inode, size, times and build-id (another boot: devices may differ)");

	if (sysconf(_SC_PAGESIZE) != (long)img->hdr.page_size)
		bad(v, SCK_EX_UNAVAILABLE, "page size: %ld here, %u in the image",
		    sysconf(_SC_PAGESIZE), img->hdr.page_size);
	else
		say(v, "ok", "page size: %u", img->hdr.page_size);

	selfckpt__cpu_probe(cpu);
	if (selfckpt__cpu_compatible(&img->hdr.cpu, cpu, why, sizeof(why)))
		bad(v, SCK_EX_UNAVAILABLE,
		    "cpu: this CPU cannot run the image: missing %s (image from \"%s\", this is \"%s\")",
		    why, img->hdr.cpu.model_name, cpu->model_name);
	else
		say(v, "ok", "cpu: every feature and XSAVE component of the image's CPU (\"%s\") is here",
		    img->hdr.cpu.model_name);

	struct utsname u;

	if (uname(&u) < 0)
		snprintf(u.release, sizeof(u.release), "?");
	check_vdso(v, u.release);

	unsigned int mmsize = 0;

	if (prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE, &mmsize, 0, 0) != 0 ||
	    mmsize != sizeof(struct rst_mm_map))
		bad(v, SCK_EX_UNAVAILABLE,
		    "PR_SET_MM_MAP: this kernel lacks it (CONFIG_CHECKPOINT_RESTORE), which restart needs to restore the heap");
	else
		say(v, "ok", "PR_SET_MM_MAP: available");

	uint32_t nguards = 0;

	for (uint32_t i = 0; i < img->nvmas; i++)
		nguards += img->vmas[i].v.nguards;
	if (nguards) {
		long page = sysconf(_SC_PAGESIZE);
		void *p = mmap(NULL, (size_t)page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		int ok = p != MAP_FAILED && madvise(p, (size_t)page, MADV_GUARD_INSTALL) == 0;

		if (p != MAP_FAILED)
			munmap(p, (size_t)page);
		if (!ok)
			bad(v, SCK_EX_UNAVAILABLE,
			    "guard regions: the image has %u and this kernel cannot install them (Linux 6.13+ needed)",
			    nguards);
		else
			say(v, "ok", "guard regions: %u in the image, this kernel installs them", nguards);
	}

	/* The restorer dies after the point of no return without it. */
	uint32_t nrseq = 0;

	for (uint32_t i = 0; i < img->nthreads; i++)
		nrseq += !!img->threads[i].t.rseq_len;
	if (nrseq && !kernel_has_rseq())
		bad(v, SCK_EX_UNAVAILABLE,
		    "rseq: %u thread%s had an rseq registration and this kernel has no rseq system call",
		    nrseq, nrseq == 1 ? "" : "s");
	else if (nrseq)
		say(v, "ok", "rseq: the registration of %u thread%s can be made again", nrseq,
		    nrseq == 1 ? "" : "s");

}

/* restore-timers.c: the image's POSIX timers can be made again here. */
static void check_timers(struct verify *v)
{
	const struct sck_image *img = &v->rs.img;
	char msg[1024];
	int ret;

	if (!img->ntimers)
		return;
	ret = selfckpt__rs_check_timers(&v->rs);
	if (ret)
		bad(v, ret, "POSIX timers: %s", take_msg(v, msg, sizeof(msg)));
	else
		say(v, "ok", "POSIX timers: %u, each on a clock this machine has, %s", img->ntimers,
		    selfckpt__rs_timer_ids_linear() ?
		    "their ids made one by one (no PR_TIMER_CREATE_RESTORE_IDS here)" :
		    "with their ids (PR_TIMER_CREATE_RESTORE_IDS)");
}

/* restore-ns.c: the clocks go on from the image's in a time namespace. */
static void check_clocks(struct verify *v)
{
	const struct sck_clocks *c = &v->rs.img.clocks;
	struct timespec now;

	if (!v->rs.img.has_clocks)
		return;
	if (access("/proc/self/ns/time", F_OK) == 0) {
		say(v, "ok", "clocks: CLOCK_MONOTONIC and CLOCK_BOOTTIME go on from the checkpoint's (a time namespace; not with new ids or --host-clocks)");
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec < c->monotonic_sec)
		say(v, "warning", "clocks: this kernel has no time namespaces, and its CLOCK_MONOTONIC is behind the image's: the program would see it go back");
	else
		say(v, "note", "clocks: this kernel has no time namespaces: the program sees this machine's clocks");
}

/* restore.c pack_threads: a resuming signal frame for this CPU. */
static void check_threads(struct verify *v, const struct sck_cpu *cpu)
{
	const struct sck_image *img = &v->rs.img;
	size_t size = (selfckpt__sigframe_size(cpu) + 63) & ~(size_t)63;
	void *mem = aligned_alloc(64, size);
	char why[512];

	if (!mem) {
		bad(v, SCK_EX_OSERR, "out of memory");
		return;
	}
	for (uint32_t i = 0; i < img->nthreads; i++) {
		const struct sck_img_thread *t = &img->threads[i];
		uint64_t sp;

		memset(mem, 0, size);
		if (selfckpt__build_sigframe(mem, &t->t, t->xsave, &img->hdr.cpu, cpu, &sp,
					     why, sizeof(why)))
			bad(v, SCK_EX_UNAVAILABLE, "thread %d: %s", t->t.tid, why);
		else
			say(v, "ok", "thread %d%s: its registers and extended state can be resumed on this CPU",
			    t->t.tid, (t->t.flags & SCK_THRF_MAIN) ? " (main)" : "");
	}
	free(mem);
}

/* ---- files ----------------------------------------------------------- */

/*
 * selfckpt__rs_open_files over the mappings of one FILE record only
 * (restart stops at the first bad file; this names them all). vmas and
 * nvmas stand in for the image's. Returns 0 or -1, message in msg.
 */
static int open_files_of(struct verify *v, const struct sck_img_vma *vmas, uint32_t nvmas,
			 char *msg, size_t n, const char **out)
{
	struct rs t = v->rs;
	int ret;

	t.img.vmas = (struct sck_img_vma *)vmas;
	t.img.nvmas = nvmas;
	t.files = NULL;
	ret = selfckpt__rs_open_files(&t);
	if (t.files) {
		for (uint32_t i = 0; i < t.img.nfiles; i++)
			if (t.files[i].map_fd >= 0)
				close(t.files[i].map_fd);
		free(t.files);
	}
	*out = ret ? take_msg(v, msg, n) : NULL;
	return ret;
}

static void check_mapped_files(struct verify *v)
{
	const struct sck_image *img = &v->rs.img;
	struct sck_img_vma *sub = calloc(img->nvmas ? img->nvmas : 1, sizeof(*sub));
	char msg[1024];
	const char *why;

	if (!sub) {
		bad(v, SCK_EX_OSERR, "out of memory");
		return;
	}
	for (uint32_t i = 0; i < img->nfiles; i++) {
		const struct sck_img_file *f = &img->files[i];
		uint32_t n = 0;

		for (uint32_t k = 0; k < img->nvmas; k++)
			if (img->vmas[k].v.file_id == f->f.id)
				sub[n++] = img->vmas[k];
		if (!n)
			continue;	/* only descriptors use it */
		if (open_files_of(v, sub, n, msg, sizeof(msg), &why))
			bad(v, SCK_EX_UNAVAILABLE, "mapped file %s: %s", f->path, why);
		else if (f->f.flags & SCK_FILEF_OBJECT)
			say(v, "ok", "mapped object %s: recreated from the image", f->path);
		else
			say(v, "ok", "mapped file %s: unchanged (%u mapping%s)", f->path, n,
			    n == 1 ? "" : "s");
	}
	free(sub);
}

/* restore-files.c open_one, without placing the descriptor. */
static void check_fd(struct verify *v, const struct sck_fd *r)
{
	static const char *const stdio[] = { "?", "a terminal", "/dev/null", "a pipe",
					     "a socket", "something else" };
	const struct sck_image *img = &v->rs.img;

	if (r->fd <= 2 && r->kind == SCK_FD_STDIO) {
		say(v, "ok", "fd %d: was %s: becomes the restart command's own", r->fd,
		    r->stdio_kind < 6 ? stdio[r->stdio_kind] : "?");
		return;
	}
	if (r->share_with) {
		say(v, "ok", "fd %d: shares its open file with fd %u", r->fd, r->share_with - 1);
		return;
	}
	if (r->kind == SCK_FD_OBJ) {
		const struct sck_img_obj *o = &img->objs[r->obj_id - 1];

		say(v, "ok", "fd %d: %s (object %u): made again from the image", r->fd,
		    o->o.file_id ? img->files[o->o.file_id - 1].path :
				   selfckpt__obj_kind_name(o->o.kind), o->o.id);
		return;
	}
	if (!r->file_id || r->file_id > img->nfiles) {
		bad(v, SCK_EX_DATAERR, "fd %d: no file", r->fd);	/* the reader refuses it */
		return;
	}
	const struct sck_img_file *f = &img->files[r->file_id - 1];
	int flags = (int)r->open_flags &
		    (O_ACCMODE | O_APPEND | O_NONBLOCK | O_SYNC | O_DSYNC | O_DIRECT |
		     O_NOATIME | O_PATH | O_DIRECTORY | O_LARGEFILE);
	int fd = open(f->path, flags | O_NOCTTY | O_CLOEXEC);

	if (fd < 0 && (flags & O_NOATIME) && errno == EPERM)
		fd = open(f->path, (flags & ~O_NOATIME) | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		bad(v, SCK_EX_UNAVAILABLE, "fd %d: cannot reopen %s as fd %d: %s", r->fd, f->path,
		    r->fd, strerror(errno));
		return;
	}
	int content = r->kind == SCK_FD_FILE && (r->open_flags & O_ACCMODE) == O_RDONLY;
	struct stat st;
	char msg[1024];
	const char *why = NULL;

	if (content) {
		/* same_file(content) through a private read-only mapping of it. */
		struct sck_img_vma fake;

		memset(&fake, 0, sizeof(fake));
		fake.v.kind = SCK_VMA_FILE_PRIVATE;
		fake.v.prot = PROT_READ;
		fake.v.file_id = r->file_id;
		fake.name = f->path;
		open_files_of(v, &fake, 1, msg, sizeof(msg), &why);
		if (why && (r->open_flags & O_PATH) && strstr(why, ", which the image maps: ")) {
			/* Not readable by us, but restart only needs O_PATH. */
			say(v, "warning", "fd %d: %s can be reopened (O_PATH) but not read to compare it with the image",
			    r->fd, f->path);
			close(fd);
			return;
		}
	} else if (fstat(fd, &st) < 0) {
		snprintf(msg, sizeof(msg), "cannot stat %s: %s", f->path, strerror(errno));
		why = msg;
	} else if ((st.st_mode & S_IFMT) != (f->f.mode & S_IFMT)) {
		snprintf(msg, sizeof(msg), "%s is no longer the same kind of file", f->path);
		why = msg;
	} else if (f->f.kind == SCK_FILE_CHR && st.st_rdev != f->f.rdev) {
		snprintf(msg, sizeof(msg), "%s is another device now", f->path);
		why = msg;
	}
	if (!why && (r->kind == SCK_FD_FILE || r->kind == SCK_FD_DIR) &&
	    !(r->open_flags & O_PATH) && lseek(fd, (off_t)r->pos, SEEK_SET) != (off_t)r->pos) {
		snprintf(msg, sizeof(msg), "cannot seek %s (fd %d) to %lld: %s", f->path, r->fd,
			 (long long)r->pos, strerror(errno));
		why = msg;
	}
	if (why) {
		bad(v, SCK_EX_UNAVAILABLE, "fd %d: %s", r->fd, why);
	} else if (r->kind == SCK_FD_FILE && !content && fstat(fd, &st) == 0 &&
		   (uint64_t)st.st_size < r->size_at_ckpt) {
		say(v, "warning", "fd %d: %s is shorter than at the checkpoint (%lld bytes, %llu then)",
		    r->fd, f->path, (long long)st.st_size, (unsigned long long)r->size_at_ckpt);
	} else {
		say(v, "ok", "fd %d: %s can be reopened%s", r->fd, f->path,
		    content ? ", unchanged" : "");
	}
	close(fd);
}

/*
 * The POSIX and OFD locks of files reopened by path: does another process
 * hold them now (restore-flock.c)? flock() locks cannot be asked about
 * without taking them: not checked.
 */
static void check_locks(struct verify *v)
{
	const struct sck_image *img = &v->rs.img;

	for (uint32_t i = 0; i < img->nlocks; i++) {
		const struct sck_lock *l = &img->locks[i];
		const struct sck_fd *r = NULL;

		for (uint32_t k = 0; k < img->nfds; k++)
			if (img->fds[k].fd == l->fd)
				r = &img->fds[k];
		if (!r || r->kind == SCK_FD_OBJ || l->kind == SCK_LOCK_FLOCK)
			continue;	/* a new file, or cannot be asked */
		const char *path = img->files[r->file_id - 1].path;
		struct flock fl = { .l_type = l->type == SCK_LOCK_WRITE ? F_WRLCK : F_RDLCK,
				    .l_whence = SEEK_SET, .l_start = (off_t)l->start,
				    .l_len = l->end == SCK_LOCK_EOF ? 0
						: (off_t)(l->end - l->start + 1) };
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

		if (fd < 0 || fcntl(fd, l->kind == SCK_LOCK_OFD ? F_OFD_GETLK : F_GETLK, &fl) < 0)
			say(v, "warning", "lock: fd %d: cannot ask about the locks of %s: %s",
			    l->fd, path, strerror(errno));
		else if (fl.l_type != F_UNLCK)
			bad(v, SCK_EX_UNAVAILABLE, "lock: fd %d: another process holds a lock on %s that conflicts with the image's %s lock",
			    l->fd, path, l->type == SCK_LOCK_WRITE ? "write" : "read");
		else
			say(v, "ok", "lock: fd %d: the %s lock on %s is free", l->fd,
			    l->type == SCK_LOCK_WRITE ? "write" : "read", path);
		if (fd >= 0)
			close(fd);
	}
}

static void check_cwd(struct verify *v)
{
	const char *cwd = v->rs.img.cwd;
	int here = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (chdir(cwd) < 0)
		bad(v, SCK_EX_UNAVAILABLE, "cwd: cannot change to the directory %s: %s", cwd,
		    strerror(errno));
	else
		say(v, "ok", "cwd: %s", cwd);
	if (here >= 0) {
		if (fchdir(here) < 0) {
			/* Nothing below uses relative paths. */
		}
		close(here);
	}
}

/* rst-main.c restore_process: hard limits this process cannot raise. */
static void check_rlimits(struct verify *v)
{
	static const char *const names[SCK_NLIMITS] = {
		"CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE",
		"MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME"
	};
	const struct sck_rlimits *rl = &v->rs.img.rlim;
	char status[4096];
	uint64_t capeff = 0;

	if (selfckpt__read_file(AT_FDCWD, "/proc/self/status", status, sizeof(status)) > 0)
		selfckpt__proc_field(status, "CapEff:", 16, &capeff);
	if (capeff & (1ULL << 24))	/* CAP_SYS_RESOURCE: may raise them */
		return;
	for (int i = 0; i < SCK_NLIMITS; i++) {
		struct rlimit now;

		if (getrlimit(i, &now) < 0 || rl->max[i] <= (uint64_t)now.rlim_max)
			continue;
		char a[32], b[32];

		if (rl->max[i] == (uint64_t)RLIM_INFINITY)
			snprintf(a, sizeof(a), "unlimited");
		else
			snprintf(a, sizeof(a), "%" PRIu64, rl->max[i]);
		snprintf(b, sizeof(b), "%llu", (unsigned long long)now.rlim_max);
		say(v, "note", "rlimit %s: hard limit %s in the image, %s here: the program gets %s (restart warns)",
		    names[i], a, b, b);
	}
}

/* ---- ids: restore-ns.c, tried in a child ------------------------------ */

static void tell(int fd, char how, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void tell(int fd, char how, const char *fmt, ...)
{
	char line[300];
	va_list ap;

	line[0] = how;
	va_start(ap, fmt);
	vsnprintf(line + 1, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (write(fd, line, strlen(line)) < 0) {
		/* The parent then reports "no answer". */
	}
}

/*
 * In a child: the namespaces restart creates, then, as their PID 1, a
 * process with each of ids by clone3(set_tid). Returns 0 (ids kept), 1 (no
 * namespaces: restart uses new ids) or 2 (restart would fail), with why.
 */
static int probe_ids(const int32_t *ids, uint32_t nids, int ipc, char *why, size_t n)
{
	int p[2];
	char buf[300];
	ssize_t got;
	int status;

	fflush(NULL);
	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(why, n, "pipe: %s", strerror(errno));
		return 2;
	}
	pid_t c = fork();

	if (c < 0) {
		snprintf(why, n, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return 2;
	}
	if (c == 0) {
		uid_t uid = getuid();
		gid_t gid = getgid();
		int fl = CLONE_NEWPID | (geteuid() ? CLONE_NEWUSER : 0) | (ipc ? CLONE_NEWIPC : 0);

		close(p[0]);
		if (unshare(fl) < 0) {
			tell(p[1], '1', "cannot create a %snamespace (%s)",
			     (fl & CLONE_NEWUSER) ? "user and PID " : "PID ", strerror(errno));
			_exit(0);
		}
		if ((fl & CLONE_NEWUSER) && selfckpt__map_own_ids(uid, gid)) {
			tell(p[1], '2', "cannot map user and group ids in the new namespace: %s",
			     strerror(errno));
			_exit(0);
		}
		/* restore-sysv.c asks for each System V id so. */
		if (ipc && selfckpt__write_file("/proc/sys/kernel/shm_next_id", "0")) {
			tell(p[1], '2', "cannot choose System V IPC ids in a new IPC namespace (kernel.shm_next_id: %s)",
			     strerror(errno));
			_exit(0);
		}
		pid_t init = fork();

		if (init == 0) {
			for (uint32_t i = 0; i < nids; i++) {
				struct clone_args ca;
				uint64_t want = (uint64_t)ids[i];

				if (ids[i] == 1)
					continue;	/* init itself */
				memset(&ca, 0, sizeof(ca));
				ca.exit_signal = SIGCHLD;
				ca.set_tid = (uint64_t)(uintptr_t)&want;
				ca.set_tid_size = 1;
				long k = syscall(SYS_clone3, &ca, sizeof(ca));

				if (k == 0)
					_exit(0);
				if (k < 0) {
					char max[32] = "?";
					long m = selfckpt__read_file(AT_FDCWD, "/proc/sys/kernel/pid_max",
								     max, sizeof(max));

					while (m > 0 && max[m - 1] == '\n')
						max[--m] = '\0';
					tell(p[1], '2', "cannot create a process with id %d in a new PID namespace (clone3 set_tid: %s; pid_max %s)",
					     ids[i], strerror(errno), max);
					_exit(0);
				}
				while (waitpid((pid_t)k, &status, 0) < 0 && errno == EINTR)
					;
			}
			_exit(0);
		}
		if (init < 0) {
			tell(p[1], '2', "fork: %s", strerror(errno));
			_exit(0);
		}
		while (waitpid(init, &status, 0) < 0 && errno == EINTR)
			;
		_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 3);
	}
	close(p[1]);
	got = 0;
	for (;;) {
		ssize_t r = read(p[0], buf + got, sizeof(buf) - 1 - (size_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += r;
		if ((size_t)got >= sizeof(buf) - 1)
			break;
	}
	buf[got] = '\0';
	close(p[0]);
	while (waitpid(c, &status, 0) < 0 && errno == EINTR)
		;
	if (!got && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (!got) {
		snprintf(why, n, "the namespace probe ended abnormally (status 0x%x)", status);
		return 2;
	}
	snprintf(why, n, "%s", buf + 1);
	return buf[0] == '1' ? 1 : 2;
}

static void check_ids(struct verify *v)
{
	const struct sck_image *img = &v->rs.img;
	int32_t *ids = calloc(img->nthreads + 1, sizeof(*ids));
	uint32_t n = 0;
	char why[400];

	if (!ids) {
		bad(v, SCK_EX_OSERR, "out of memory");
		return;
	}
	ids[n++] = img->hdr.pid;
	for (uint32_t i = 0; i < img->nthreads; i++)
		if (img->threads[i].t.tid != img->hdr.pid)
			ids[n++] = img->threads[i].t.tid;
	int r = probe_ids(ids, n, img->nsysv > 0, why, sizeof(why));

	free(ids);
	if (r == 0) {
		say(v, "ok", "ids: process %d and its thread ids are kept (in %s)", img->hdr.pid,
		    geteuid() ? "private user and PID namespaces" : "a private PID namespace");
		if (img->nsysv)
			say(v, "ok", "System V IPC: %u objects made again with their ids and keys (in a private IPC namespace)",
			    img->nsysv);
	} else if (img->nsysv) {
		bad(v, SCK_EX_UNAVAILABLE,
		    "ids: %s: restart would refuse the image, whose %u System V IPC objects keep their ids only in a private IPC namespace",
		    why, img->nsysv);
	} else if (r == 1 && (img->hdr.flags & SCK_HDR_NO_OWNED_LOCKS)) {
		say(v, "note", "ids: %s: restart gives new process and thread ids; the image was searched: no held lock records a thread id",
		    why);
	} else if (r == 1) {
		say(v, "warning", "ids: %s: restart gives new process and thread ids, and the image was not searched for held locks that record a thread id (checkpoint with SELFCKPT_NEW_IDS=1 to have it refuse them)",
		    why);
	} else {
		bad(v, SCK_EX_UNAVAILABLE,
		    "ids: %s: restart would fail; restart --no-namespaces runs it with new ids", why);
	}
}

/* ---- the verb --------------------------------------------------------- */

/* DIR: the image DIR/latest names (as cmd-restart.c). NULL: why in err. */
static const char *resolve(const char *arg, char *err, size_t errlen)
{
	static char path[PATH_MAX];
	char target[PATH_MAX];
	struct stat st;

	if (!strcmp(arg, "-") || stat(arg, &st) < 0 || !S_ISDIR(st.st_mode))
		return arg;
	int n = snprintf(path, sizeof(path), "%s/latest", arg);
	ssize_t len = n < (int)sizeof(path) ? readlink(path, target, sizeof(target) - 1) : -1;

	if (len <= 0) {
		snprintf(err, errlen, "%s holds no complete image (no %s/latest)", arg, arg);
		return NULL;
	}
	target[len] = '\0';
	if (target[0] == '/')
		n = snprintf(path, sizeof(path), "%s", target);
	else
		n = snprintf(path, sizeof(path), "%s/%s", arg, target);
	if (n < 0 || n >= (int)sizeof(path)) {
		snprintf(err, errlen, "%s/latest: path too long", arg);
		return NULL;
	}
	return path;
}

static int verdict(struct verify *v)
{
	static const char *const what[] = {
		[SCK_EX_DATAERR] = "is damaged",
		[SCK_EX_NOINPUT] = "cannot be read",
		[SCK_EX_UNAVAILABLE] = "cannot be restarted on this machine",
		[SCK_EX_SOFTWARE] = "could not be checked",
		[SCK_EX_OSERR] = "could not be checked",
		[SCK_EX_NOPERM] = "would be refused by restart",
	};

	if (!v->status)
		printf("verdict: %s can be restarted on this machine\n", v->name);
	else
		printf("verdict: %s %s (status %d): %s\n", v->name,
		       v->status < (int)(sizeof(what) / sizeof(what[0])) && what[v->status] ?
		       what[v->status] : "fails", v->status, v->reason);
	fflush(stdout);
	return v->status;
}

int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct verify vs;
	struct verify *v = &vs;
	struct sck_restart_opts o;
	struct sck_cpu cpu;
	struct stat st;
	int c, force = 0, fd;

	while ((c = getopt_long(argc, argv, "+qh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			force = 1;
			break;
		case 'q':
			v->quiet = 1;
			break;
		case 'h':
			help(stdout);
			return 0;
		default:
			help(stderr);
			return SCK_EX_USAGE;
		}
	}
	if (optind != argc - 1) {
		cli_err("verify", "expected one IMAGE (or - for stdin); see --help");
		return SCK_EX_USAGE;
	}
	char err[PATH_MAX + 100];

	v->name = resolve(argv[optind], err, sizeof(err));
	if (!v->name) {
		v->name = argv[optind];
		bad(v, SCK_EX_NOINPUT, "image: %s", err);
		return verdict(v);
	}
	int from_stdin = !strcmp(v->name, "-");

	if (from_stdin)
		v->name = "the image on stdin";
	memset(&o, 0, sizeof(o));
	o.image = argv[optind];
	o.force = force;
	v->rs.o = &o;
	v->rs.img_fd = -1;
	v->rs.exe_fd = v->rs.pidfile_dirfd = -1;
	v->rs.helper_base = 0;	/* restore-files.c moves nothing */
	v->rs.log_fd = memfd_create("selfckpt-verify-log", MFD_CLOEXEC);
	if (v->rs.log_fd < 0) {
		cli_err("verify", "memfd_create: %s", strerror(errno));
		return SCK_EX_OSERR;
	}

	fd = from_stdin ? 0 : open(v->name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		bad(v, SCK_EX_NOINPUT, "image: cannot open %s: %s", v->name, strerror(errno));
		return verdict(v);
	}
	if (fstat(fd, &st) < 0) {
		bad(v, SCK_EX_NOINPUT, "image: cannot stat %s: %s", v->name, strerror(errno));
		return verdict(v);
	}
	if (S_ISDIR(st.st_mode)) {
		bad(v, SCK_EX_NOINPUT, "image: %s is a directory, not an image", v->name);
		return verdict(v);
	}
	check_owner(v, &st, force);
	if (read_image(v, fd))
		return verdict(v);
	if (fd > 0)
		close(fd);

	check_machine(v, &cpu);
	check_timers(v);
	check_clocks(v);
	check_threads(v, &cpu);
	check_mapped_files(v);
	for (uint32_t i = 0; i < v->rs.img.nfds; i++)
		check_fd(v, &v->rs.img.fds[i]);
	check_locks(v);
	check_cwd(v);
	check_rlimits(v);
	check_ids(v);
	return verdict(v);
}

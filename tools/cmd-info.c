/*
 * cmd-info.c - `selfckpt info [--json] [--records] IMAGE|-` (Linux-CR's
 * ckptinfo).
 *
 * Reads the whole image with the same reader restart uses, so a damaged
 * image is reported exactly as restart would report it, then prints the
 * header and fingerprint, the memory regions, the descriptors, the signal
 * handlers and totals, for people or (--json) for scripts. With --records
 * it prints instead the image's layout: every record the reader met, in
 * stream order, and where the page data lies (for diagnosis, and for tests
 * that cut or damage an image at chosen places).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "image.h"
#include "restore.h"
#include "sockets.h"

static void help(FILE *f)
{
	fprintf(f,
		"usage: selfckpt info [--json] [--records] IMAGE\n"
		"       selfckpt info [--json] [--records] -   (read the image from stdin)\n"
		"\n"
		"Check IMAGE completely and show what it holds: header and machine\n"
		"fingerprint, memory regions, file descriptors, signal handlers, POSIX\n"
		"timers, pending signals, totals.\n"
		"\n"
		"options:\n"
		"  --json       the same as one JSON object\n"
		"  --records    show the image's layout instead: every record in stream\n"
		"               order with its offset, end, type, flags and payload\n"
		"               length, then the offset and length of the page data\n"
		"               (the PAGES payload). With --json: an object with an\n"
		"               array \"records\" and an object \"pages\". If the image\n"
		"               is damaged, the records read before the damage are\n"
		"               listed (not with --json) and the status is still 65.\n"
		"  -h, --help   this text\n"
		"\n"
		"exit status: 0 complete and intact; 65 damaged, truncated or not an\n"
		"image; 66 cannot be read; 64 usage; 71 cannot write the output.\n");
}

static const char *sig_name(int s)
{
	static char buf[32];
	const char *n = sigabbrev_np(s);

	if (n) {
		snprintf(buf, sizeof(buf), "SIG%s", n);
		return buf;
	}
	/*
	 * 32 and 33 are below glibc's SIGRTMIN: it keeps them for itself and
	 * names them nowhere (strsignal says "Unknown signal 32"), so they
	 * are SIG32 and SIG33, as gdb calls them.
	 */
	if (s >= SIGRTMIN)
		snprintf(buf, sizeof(buf), "SIGRTMIN+%d", s - SIGRTMIN);
	else if (s >= 32)
		snprintf(buf, sizeof(buf), "SIG%d", s);
	else
		snprintf(buf, sizeof(buf), "signal %d", s);
	return buf;
}

/*
 * A string from the image made safe for a terminal: the image may come
 * from anyone, and its paths and names could hold escape sequences.
 * Control bytes become \xHH (and a backslash \\); other bytes, UTF-8
 * included, are printed as they are. A few buffers in turn, so that one
 * printf can show several strings.
 */
static const char *vis(const char *s)
{
	static char bufs[4][4 * 4096 + 1];
	static unsigned next;
	char *b = bufs[next++ % 4], *o = b;

	for (; *s && o < b + sizeof(bufs[0]) - 5; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f || c == '\\')
			o += c == '\\' ? sprintf(o, "\\\\") : sprintf(o, "\\x%02x", c);
		else
			*o++ = (char)c;
	}
	*o = 0;
	return b;
}

/* A 16-byte name field, which need not be terminated (PROCESS.comm). */
static const char *comm16(const char c[16])
{
	static char b[4][17];
	static unsigned next;
	char *o = b[next++ % 4];

	memcpy(o, c, 16);
	o[16] = 0;
	return o;
}

/* How the process that wrote the image was itself last restarted. */
static const char *restart_mode(const struct sck_header *h)
{
	if (h->generation == 0)
		return "never (first run)";
	if (h->flags & SCK_HDR_RESTARTED_USERNS)
		return "ids kept (private user and PID namespaces)";
	if (h->flags & SCK_HDR_RESTARTED_PIDNS)
		return "ids kept (private PID namespace)";
	if (h->flags & SCK_HDR_RESTARTED_NEW_IDS)
		return "with new process and thread ids";
	return "unknown";
}

static const char *perms(const struct sck_vma *v, char *b)
{
	b[0] = (v->prot & PROT_READ) ? 'r' : '-';
	b[1] = (v->prot & PROT_WRITE) ? 'w' : '-';
	b[2] = (v->prot & PROT_EXEC) ? 'x' : '-';
	b[3] = (v->flags & SCK_VMAF_SHARED) ? 's' : 'p';
	b[4] = '\0';
	return b;
}

static void human_size(uint64_t n, char *b, size_t len)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(b, len, "%" PRIu64 " B", n);
	else
		snprintf(b, len, "%.1f %s", v, u[i]);
}

static void uuid_str(const struct sck_uuid *u, char *b)
{
	for (int i = 0, o = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			b[o++] = '-';
		o += sprintf(b + o, "%02x", u->b[i]);
	}
}

static void time_str(int64_t sec, char *b, size_t n)
{
	time_t t = (time_t)sec;
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(b, n, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(b, n, "%lld", (long long)sec);
}

/* A terminal's modes: the usual ones that are off, or "cooked". */
static void tty_modes(const struct sck_termios *t, char *b, size_t n)
{
	static const struct {
		int field;	/* 0 iflag, 1 oflag, 3 lflag */
		uint32_t bit;
		const char *name;
	} m[] = {
		{ 3, ICANON, "icanon" }, { 3, ECHO, "echo" }, { 3, ISIG, "isig" },
		{ 3, IEXTEN, "iexten" }, { 0, ICRNL, "icrnl" }, { 0, IXON, "ixon" },
		{ 1, OPOST, "opost" },
	};
	const uint32_t flags[4] = { t->iflag, t->oflag, t->cflag, t->lflag };
	size_t k = 0;

	b[0] = '\0';
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (!(flags[m[i].field] & m[i].bit) && k < n)
			k += (size_t)snprintf(b + k, n - k, "%s-%s", k ? " " : "", m[i].name);
	if (!k)
		snprintf(b, n, "cooked");
}

/* Terminals (pty, pts, terminal objects), res-tty.c. */
static void tty_desc(const struct sck_image *img, const struct sck_img_obj *o, char *b,
		     size_t n)
{
	static const char *const job[8] = { "", ", controlling terminal", "", ", foreground",
					     "", ", background" };
	char modes[80], size[32] = "";
	const struct sck_termios *t = NULL;
	const struct sck_winsize *ws = NULL;

	if (o->o.kind == SCK_OBJ_PTS) {
		const struct sck_obj_pts *p = (const void *)o->state;
		const struct sck_obj_pty *m = (const void *)img->objs[p->master - 1].state;

		snprintf(b, n, "pty slave /dev/pts/%u", m->index);
		return;
	}
	if (o->o.kind == SCK_OBJ_PTY) {
		const struct sck_obj_pty *p = (const void *)o->state;

		t = &p->t;
		ws = &p->ws;
	} else {
		const struct sck_obj_tty *p = (const void *)o->state;

		t = &p->t;
		ws = &p->ws;
	}
	tty_modes(t, modes, sizeof(modes));
	if (ws->rows || ws->cols)
		snprintf(size, sizeof(size), ", %ux%u", ws->cols, ws->rows);
	if (o->o.kind == SCK_OBJ_PTY) {
		const struct sck_obj_pty *p = (const void *)o->state;

		snprintf(b, n, "pty master of /dev/pts/%u%s, %s%s%s%s", p->index, size, modes,
			 (p->flags & SCK_PTYF_LOCKED) ? ", locked" : "",
			 (p->flags & SCK_PTYF_PACKET) ? ", packet mode" : "",
			 (p->flags & SCK_PTYF_EXCL) ? ", exclusive" : "");
		return;
	}
	const struct sck_obj_tty *p = (const void *)o->state;
	char name[32];

	if (p->rdev_major >= 136 && p->rdev_major <= 143)
		snprintf(name, sizeof(name), "/dev/pts/%u", (p->rdev_major - 136) * 256 + p->rdev_minor);
	else if (p->rdev_major == 4 && p->rdev_minor < 64)
		snprintf(name, sizeof(name), "/dev/tty%u", p->rdev_minor);
	else if (p->rdev_major == 4)
		snprintf(name, sizeof(name), "/dev/ttyS%u", p->rdev_minor - 64);
	else if (p->rdev_major == 5 && p->rdev_minor < 2)
		snprintf(name, sizeof(name), "%s", p->rdev_minor ? "/dev/console" : "/dev/tty");
	else
		snprintf(name, sizeof(name), "device %u:%u", p->rdev_major, p->rdev_minor);
	snprintf(b, n, "terminal %s%s, %s%s", name, size, modes, job[p->flags & 7]);
}

static const char *const shut_what[] = { "", "reading", "writing", "reading and writing" };

/* "fd N", the lowest descriptor on object id, or "object N" if none is. */
static const char *obj_ref(const struct sck_image *img, uint32_t id, char *b, size_t n)
{
	for (uint32_t i = 0; i < img->nfds; i++)
		if (img->fds[i].kind == SCK_FD_OBJ && img->fds[i].obj_id == id) {
			snprintf(b, n, "fd %d", img->fds[i].fd);
			return b;
		}
	snprintf(b, n, "object %u", id);
	return b;
}

static const char *plural(uint64_t n)
{
	return n == 1 ? "" : "s";
}

/* A unix socket: type, name, state, queue (docs/image-format.md 6.15). */
static void unix_desc(char *b, size_t n, const struct sck_image *img,
		      const struct sck_img_obj *o)
{
	char ref[32];
	const struct sck_obj_unix *u = (const void *)o->state;
	char name[4 * SCK_UNIX_NAME_MAX + 8];
	size_t k;

	k = (size_t)snprintf(b, n, "unix %s socket", sck_unix_type_name(u->type));
	if (u->name_len) {
		sck_unix_name_str(name, sizeof(name), u->name, u->name_len);
		k += (size_t)snprintf(b + k, n - k, " %s%s", name,
				      (u->flags & SCK_SOCKF_UNLINKED) ? " (file removed)" : "");
	}
	switch (u->state) {
	case SCK_SOCK_UNCONNECTED:
		k += (size_t)snprintf(b + k, n - k, ", unconnected");
		break;
	case SCK_SOCK_LISTEN:
		k += (size_t)snprintf(b + k, n - k, ", listening (backlog %u)", u->backlog);
		if (u->dropped)
			k += (size_t)snprintf(b + k, n - k, ", %u connection%s dropped", u->dropped,
					      plural(u->dropped));
		break;
	case SCK_SOCK_PAIR:
		k += (size_t)snprintf(b + k, n - k, ", connected to %s",
				      obj_ref(img, u->peer, ref, sizeof(ref)));
		break;
	case SCK_SOCK_PENDING:
		k += (size_t)snprintf(b + k, n - k, ", connecting to %s (not accepted yet)",
				      obj_ref(img, u->peer, ref, sizeof(ref)));
		break;
	case SCK_SOCK_CLOSED:
		k += (size_t)snprintf(b + k, n - k, "%s", (u->flags & SCK_SOCKF_CUT) ?
				      ", a connection to another process, closed at checkpoint (SELFCKPT_CLOSE_CONNECTIONS)" :
				      ", its peer closed");
		break;
	case SCK_SOCK_CONNECTED:
		sck_unix_name_str(name, sizeof(name), u->peer_name, u->peer_name_len);
		k += (size_t)snprintf(b + k, n - k, ", connected to %s", name);
		break;
	}
	if (u->shutdown && u->state != SCK_SOCK_CLOSED)
		k += (size_t)snprintf(b + k, n - k, ", shut down for %s", shut_what[u->shutdown & 3]);
	if (u->state == SCK_SOCK_LISTEN || u->state == SCK_SOCK_PENDING)
		return;
	if (u->type == SOCK_STREAM)
		k += (size_t)snprintf(b + k, n - k, ", %llu byte%s queued",
				      (unsigned long long)o->o.data_len, plural(o->o.data_len));
	else
		k += (size_t)snprintf(b + k, n - k, ", %u message%s queued", u->nmsgs,
				      plural(u->nmsgs));
	/* SCM records: the messages (stream: sends) carrying descriptors. */
	uint32_t carry = 0, nfds = 0;

	for (uint32_t i = 0; i < img->nscms; i++)
		if (img->scms[i].s.obj == o->o.id) {
			carry++;
			nfds += img->scms[i].s.nfds;
		}
	if (carry && k < n)
		snprintf(b + k, n - k, ", %u carrying %u descriptor%s in flight", carry, nfds,
			 plural(nfds));
}

/* A TCP or UDP socket. */
static void inet_desc(char *b, size_t n, const struct sck_img_obj *o)
{
	const struct sck_obj_inet *t = (const void *)o->state;
	char a[64], p[64];
	size_t k;

	sck_inet_str(a, sizeof(a), t->local);
	sck_inet_str(p, sizeof(p), t->peer);
	k = (size_t)snprintf(b, n, "%s %s", t->type == SOCK_STREAM ? "TCP" : "UDP", a);
	switch (t->state) {
	case SCK_SOCK_UNCONNECTED:
		k += (size_t)snprintf(b + k, n - k, ", unconnected");
		break;
	case SCK_SOCK_LISTEN:
		k += (size_t)snprintf(b + k, n - k, ", listening (backlog %u)", t->backlog);
		if (t->dropped)
			k += (size_t)snprintf(b + k, n - k, ", %u connection%s dropped", t->dropped,
					      plural(t->dropped));
		break;
	case SCK_SOCK_CONNECTED:
		k += (size_t)snprintf(b + k, n - k, ", connected to %s", p);
		break;
	case SCK_SOCK_CLOSED:
		k += (size_t)snprintf(b + k, n - k, ", a connection%s%s%s%s, %llu byte%s queued",
				      (t->peer[0] | t->peer[1]) ? " to " : "",
				      (t->peer[0] | t->peer[1]) ? p : "",
				      (t->flags & SCK_SOCKF_CUT) ?
				      " closed at checkpoint (SELFCKPT_CLOSE_CONNECTIONS)" :
				      " that had ended",
				      (t->flags & SCK_SOCKF_RESET) ? " (reset)" : "",
				      (unsigned long long)o->o.data_len, plural(o->o.data_len));
		break;
	}
	if (t->shutdown && t->state != SCK_SOCK_CLOSED)
		k += (size_t)snprintf(b + k, n - k, ", shut down for %s", shut_what[t->shutdown & 3]);
	if (t->flags & SCK_SOCKF_DROPPED)
		snprintf(b + k, n - k, ", queued datagrams dropped");
}

/* What an object is, for the descriptor f on it. */
static const char *obj_desc(const struct sck_image *img, const struct sck_fd *f)
{
	static char b[SCK_MAX_PATH + 128];
	const struct sck_img_obj *o = &img->objs[f->obj_id - 1];
	const char *end[] = { "read end", "write end", "read-write", "?" };
	int n = 0;

	switch (o->o.kind) {
	case SCK_OBJ_PIPE: {
		const struct sck_obj_pipe *p = (const void *)o->state;

		if (o->o.file_id)
			n = snprintf(b, sizeof(b), "FIFO %s", img->files[o->o.file_id - 1].path);
		else
			n = snprintf(b, sizeof(b), "pipe:[%llu]", (unsigned long long)o->o.ino);
		snprintf(b + n, sizeof(b) - (size_t)n, ", %s, %llu of %u bytes queued",
			 end[f->open_flags & 3], (unsigned long long)o->o.data_len,
			 p->capacity);
		break;
	}
	case SCK_OBJ_EVENTFD: {
		const struct sck_obj_eventfd *e = (const void *)o->state;

		snprintf(b, sizeof(b), "eventfd, count %llu%s", (unsigned long long)e->count,
			 e->semaphore ? ", semaphore" : "");
		break;
	}
	case SCK_OBJ_TIMERFD: {
		static const char *const clocks[] = { "realtime", "monotonic", "?", "?", "?",
						      "?", "?", "boottime", "realtime-alarm",
						      "boottime-alarm" };
		const struct sck_obj_timerfd *t = (const void *)o->state;

		n = snprintf(b, sizeof(b), "timerfd (%s)",
			     t->clockid >= 0 && t->clockid <= 9 ? clocks[t->clockid] : "?");
		if (t->value_ns)
			n += snprintf(b + n, sizeof(b) - (size_t)n, ", next in %llu ns",
				      (unsigned long long)t->value_ns);
		else
			n += snprintf(b + n, sizeof(b) - (size_t)n, ", disarmed");
		if (t->interval_ns)
			n += snprintf(b + n, sizeof(b) - (size_t)n, ", every %llu ns",
				      (unsigned long long)t->interval_ns);
		snprintf(b + n, sizeof(b) - (size_t)n, "%s%s, %llu unread",
			 (t->flags & SCK_TFD_ABSTIME) ? ", absolute" : "",
			 (t->flags & SCK_TFD_CANCEL_ON_SET) ? ", cancel on set" : "",
			 (unsigned long long)t->ticks);
		break;
	}
	case SCK_OBJ_SIGNALFD:
		snprintf(b, sizeof(b), "signalfd, mask 0x%llx",
			 (unsigned long long)((const struct sck_obj_signalfd *)o->state)->mask);
		break;
	case SCK_OBJ_EPOLL:
		snprintf(b, sizeof(b), "epoll, watches %u fds",
			 ((const struct sck_obj_epoll *)o->state)->nwatches);
		break;
	case SCK_OBJ_INOTIFY:
		snprintf(b, sizeof(b), "inotify, %u watches",
			 ((const struct sck_obj_inotify *)o->state)->nwatches);
		break;
	case SCK_OBJ_PTY:
	case SCK_OBJ_PTS:
	case SCK_OBJ_TTY:
		tty_desc(img, o, b, sizeof(b));
		break;
	case SCK_OBJ_UNLINKED:
	case SCK_OBJ_MEMFD: {
		const struct sck_obj_ghost *g = (const void *)o->state;
		static const char *const seal[] = { "seal", "shrink", "grow", "write",
						    "future_write", "exec" };
		uint64_t stored = 0;

		for (uint64_t k = 0; k < o->o.data_len / sizeof(struct sck_run); k++) {
			struct sck_run run;

			memcpy(&run, o->data + k * sizeof(run), sizeof(run));
			stored += run.npages * SCK_PAGE_SIZE;
		}
		n = snprintf(b, sizeof(b), "%s, %llu bytes, %llu stored, mode %04o",
			     img->files[o->o.file_id - 1].path, (unsigned long long)g->size,
			     (unsigned long long)stored, g->mode);
		for (int i = 0, first = 1; i < 6 && n < (int)sizeof(b); i++)
			if (g->seals & (1u << i)) {
				n += snprintf(b + n, sizeof(b) - (size_t)n, "%s%s",
					      first ? ", seals " : ",", seal[i]);
				first = 0;
			}
		break;
	}
	case SCK_OBJ_UNIX:
		unix_desc(b, sizeof(b), img, o);
		break;
	case SCK_OBJ_INET:
		inet_desc(b, sizeof(b), o);
		break;
	default:
		snprintf(b, sizeof(b), "%s", selfckpt__obj_kind_name(o->o.kind));
	}
	return b;
}

/* A LOCK record as info shows it: "write lock (POSIX), bytes 0-99". */
static const char *lock_desc(const struct sck_lock *l)
{
	static char b[128];
	static const char *const kind[] = { "?", "POSIX", "flock", "OFD" };
	int n = snprintf(b, sizeof(b), "%s lock (%s)",
			 l->type == SCK_LOCK_WRITE ? "write" : "read",
			 kind[l->kind < 4 ? l->kind : 0]);

	if (l->kind == SCK_LOCK_FLOCK)
		return b;
	if (l->end == SCK_LOCK_EOF)
		snprintf(b + n, sizeof(b) - (size_t)n, ", bytes %llu to the end",
			 (unsigned long long)l->start);
	else
		snprintf(b + n, sizeof(b) - (size_t)n, ", bytes %llu-%llu",
			 (unsigned long long)l->start, (unsigned long long)l->end);
	return b;
}

static const char *fd_desc(const struct sck_image *img, const struct sck_fd *f)
{
	static const char *const stdio[] = { "?", "terminal", "/dev/null", "pipe",
					     "socket", "other" };

	if (f->kind == SCK_FD_STDIO && !f->obj_id)
		return f->stdio_kind < 6 ? stdio[f->stdio_kind] : "?";
	if (f->obj_id)
		return obj_desc(img, f);
	return img->files[f->file_id - 1].path;
}

static void flags_str(uint32_t fl, char *b, size_t n)
{
	static const char *const acc[] = { "O_RDONLY", "O_WRONLY", "O_RDWR", "?" };

	snprintf(b, n, "%s%s%s%s%s", acc[fl & O_ACCMODE],
		 (fl & O_APPEND) ? "|O_APPEND" : "",
		 (fl & O_NONBLOCK) ? "|O_NONBLOCK" : "",
		 (fl & O_PATH) ? "|O_PATH" : "", (fl & O_SYNC) ? "|O_SYNC" : "");
}

struct totals {
	uint64_t mapped, stored, runs;
};

static void totals(const struct sck_image *img, struct totals *t)
{
	memset(t, 0, sizeof(*t));
	for (uint32_t i = 0; i < img->nvmas; i++) {
		t->mapped += img->vmas[i].v.end - img->vmas[i].v.start;
		t->stored += img->vmas[i].v.npages_stored * SCK_PAGE_SIZE;
		t->runs += img->vmas[i].v.nruns;
	}
}

/* ---- timers, pending signals, clocks ------------------------------------ */

static const char *clock_name(int32_t c, char *b, size_t n)
{
	static const char *const names[] = {
		[0] = "CLOCK_REALTIME",	       [1] = "CLOCK_MONOTONIC",
		[2] = "CLOCK_PROCESS_CPUTIME_ID", [3] = "CLOCK_THREAD_CPUTIME_ID",
		[7] = "CLOCK_BOOTTIME",	       [8] = "CLOCK_REALTIME_ALARM",
		[9] = "CLOCK_BOOTTIME_ALARM",  [11] = "CLOCK_TAI",
	};
	static const char *const cpu[] = { "prof", "virt", "sched", "?" };

	if (c >= 0 && c < 12 && names[c])
		return names[c];
	if (c < 0 && ~(c >> 3) == 0)
		snprintf(b, n, "CPU time (%s) of %s", cpu[c & 3],
			 (c & 4) ? "the thread that created it" : "the process");
	else if (c < 0)
		snprintf(b, n, "CPU time (%s) of %s %d", cpu[c & 3],
			 (c & 4) ? "thread" : "process", ~(c >> 3));
	else
		snprintf(b, n, "clock %d", c);
	return b;
}

static const char *si_code_name(int32_t code)
{
	switch (code) {
	case 0:
		return "SI_USER";
	case 0x80:
		return "SI_KERNEL";
	case -1:
		return "SI_QUEUE";
	case -2:
		return "SI_TIMER";
	case -3:
		return "SI_MESGQ";
	case -4:
		return "SI_ASYNCIO";
	case -5:
		return "SI_SIGIO";
	case -6:
		return "SI_TKILL";
	}
	return NULL;
}

/* The fields of a siginfo that its si_code gives a meaning to. */
struct si_view {
	int32_t code;
	int has_pid, has_value, has_timer;
	int32_t pid, uid, timer, overrun;
	uint64_t value;
};

static void si_view(const struct sck_siginfo *s, struct si_view *v)
{
	memset(v, 0, sizeof(*v));
	memcpy(&v->code, s->info + 8, 4);
	if (v->code == 0 || v->code == -1 || v->code == -3 || v->code == -6) {
		v->has_pid = 1;
		memcpy(&v->pid, s->info + 16, 4);
		memcpy(&v->uid, s->info + 20, 4);
	}
	if (v->code == -2) {
		v->has_timer = 1;
		memcpy(&v->timer, s->info + 16, 4);
		memcpy(&v->overrun, s->info + 20, 4);
	}
	if (v->code == -1 || v->code == -2 || v->code == -3) {
		v->has_value = 1;
		memcpy(&v->value, s->info + 24, 8);
	}
}

static void print_timers_signals(const struct sck_image *img)
{
	if (img->has_clocks)
		printf("clocks        monotonic %lld.%09lld s, boottime %lld.%09lld s at the checkpoint\n",
		       (long long)img->clocks.monotonic_sec,
		       (long long)img->clocks.monotonic_nsec,
		       (long long)img->clocks.boottime_sec,
		       (long long)img->clocks.boottime_nsec);
	printf("\nPOSIX timers (%u)\n", img->ntimers);
	for (uint32_t i = 0; i < img->ntimers; i++) {
		const struct sck_posix_timer *t = &img->timers[i];
		char cb[64];

		printf("  timer %d: %s, ", t->id, clock_name(t->clock, cb, sizeof(cb)));
		if (t->notify == SCK_SIGEV_NONE)
			printf("no signal");
		else
			printf("%s (value 0x%" PRIx64 ") to %s", sig_name(t->signo), t->value,
			       t->notify == SCK_SIGEV_THREAD_ID ? "thread" : "the process");
		if (t->notify == SCK_SIGEV_THREAD_ID)
			printf(" %d", t->tid);
		if (t->value_sec || t->value_nsec)
			printf(", %lld.%09lld s left", (long long)t->value_sec,
			       (long long)t->value_nsec);
		else
			printf(", disarmed");
		if (t->interval_sec || t->interval_nsec)
			printf(", every %lld.%09lld s", (long long)t->interval_sec,
			       (long long)t->interval_nsec);
		printf("\n");
	}
	printf("\npending signals (%u)\n", img->nsigs);
	for (uint32_t i = 0; i < img->nsigs; i++) {
		const struct sck_siginfo *s = &img->sigs[i];
		const char *cn;
		struct si_view v;

		si_view(s, &v);
		cn = si_code_name(v.code);
		printf("  %s for ", sig_name((int)s->signo));
		if (s->tid)
			printf("thread %d", s->tid);
		else
			printf("the process");
		if (cn)
			printf(": %s", cn);
		else
			printf(": code %d", v.code);
		if (v.has_pid)
			printf(" from pid %d uid %u", v.pid, (unsigned)v.uid);
		if (v.has_timer)
			printf(" of timer %d, overrun %d", v.timer, v.overrun);
		if (v.has_value)
			printf(", value 0x%" PRIx64, v.value);
		printf("\n");
	}
}

static void print_timers_signals_json(const struct sck_image *img)
{
	if (img->has_clocks)
		printf("\"clocks\":{\"monotonic_sec\":%lld,\"monotonic_nsec\":%lld,"
		       "\"boottime_sec\":%lld,\"boottime_nsec\":%lld},\n",
		       (long long)img->clocks.monotonic_sec,
		       (long long)img->clocks.monotonic_nsec,
		       (long long)img->clocks.boottime_sec,
		       (long long)img->clocks.boottime_nsec);
	printf("\"timers\":[");
	for (uint32_t i = 0; i < img->ntimers; i++) {
		const struct sck_posix_timer *t = &img->timers[i];

		printf("%s{\"id\":%d,\"clock\":%d,\"notify\":\"%s\",\"signal\":%d,\"tid\":%d,"
		       "\"value\":%" PRIu64 ",\"interval_sec\":%lld,\"interval_nsec\":%lld,"
		       "\"left_sec\":%lld,\"left_nsec\":%lld,\"overrun\":%d}",
		       i ? ",\n" : "\n", t->id, t->clock,
		       t->notify == SCK_SIGEV_NONE ? "none" :
		       t->notify == SCK_SIGEV_THREAD_ID ? "thread" : "process",
		       t->signo, t->tid, t->value, (long long)t->interval_sec,
		       (long long)t->interval_nsec, (long long)t->value_sec,
		       (long long)t->value_nsec, t->overrun);
	}
	printf("],\n\"pending_signals\":[");
	for (uint32_t i = 0; i < img->nsigs; i++) {
		const struct sck_siginfo *s = &img->sigs[i];
		struct si_view v;

		si_view(s, &v);
		printf("%s{\"signal\":%u,\"tid\":%d,\"code\":%d", i ? ",\n" : "\n", s->signo,
		       s->tid, v.code);
		if (v.has_pid)
			printf(",\"pid\":%d,\"uid\":%u", v.pid, (unsigned)v.uid);
		if (v.has_timer)
			printf(",\"timer\":%d,\"overrun\":%d", v.timer, v.overrun);
		if (v.has_value)
			printf(",\"value\":%" PRIu64, v.value);
		printf("}");
	}
	printf("],\n");
}

/* ---- end of timers, pending signals, clocks ---- */

static void json_str(const char *str);

/* "fd 6, bytes 0-6" or "fd 8, message 2 of 5": where an SCM record's message is. */
static const char *scm_where(const struct sck_image *img, const struct sck_img_scm *m)
{
	static char b[96];
	const struct sck_img_obj *o = &img->objs[m->s.obj - 1];
	const struct sck_obj_unix *u = (const void *)o->state;
	char ref[32];
	int k = snprintf(b, sizeof(b), "%s", obj_ref(img, m->s.obj, ref, sizeof(ref)));

	if (u->type == SOCK_STREAM)
		snprintf(b + k, sizeof(b) - (size_t)k, ", bytes %llu-%llu",
			 (unsigned long long)m->s.at, (unsigned long long)(m->s.at + m->s.len - 1));
	else
		snprintf(b + k, sizeof(b) - (size_t)k, ", message %llu of %u",
			 (unsigned long long)m->s.at + 1, u->nmsgs);
	return b;
}

/* The first description of flight number no (the image's reader checked it). */
static const struct sck_fd *flight_desc(const struct sck_image *img, uint32_t no)
{
	for (uint32_t i = 0; i < img->nscms; i++)
		for (uint32_t k = 0; k < img->scms[i].s.nfds; k++)
			if (img->scms[i].fds[k].flight == no)
				return &img->scms[i].fds[k].fd;
	return NULL;
}

/* SCM records: the messages carrying descriptors in flight, and those. */
static void print_in_flight(const struct sck_image *img)
{
	if (!img->nscms)
		return;
	printf("\ndescriptors in flight (%u, in %u message%s)\n", img->nflight, img->nscms,
	       plural(img->nscms));
	for (uint32_t i = 0; i < img->nscms; i++) {
		const struct sck_img_scm *m = &img->scms[i];

		printf("  %s: %u descriptor%s\n", scm_where(img, m), m->s.nfds,
		       plural(m->s.nfds));
		for (uint32_t k = 0; k < m->s.nfds; k++) {
			const struct sck_fd *f = flight_desc(img, m->fds[k].flight);
			char fl[64];

			flags_str(f->open_flags, fl, sizeof(fl));
			printf("    #%-3u %-6s %-26s %10lld  %s", m->fds[k].flight,
			       selfckpt__fd_kind_name(f->kind), fl, (long long)f->pos,
			       vis(fd_desc(img, f)));
			if (f->share_with)
				printf(" (shared with fd %u)", f->share_with - 1);
			printf("\n");
		}
	}
}

static void print_in_flight_json(const struct sck_image *img)
{
	printf("\"in_flight\":[");
	for (uint32_t i = 0; i < img->nscms; i++) {
		const struct sck_img_scm *m = &img->scms[i];
		char ref[32];

		printf("%s{\"object\":%u,\"socket\":\"%s\",\"at\":%llu,\"bytes\":%llu,"
		       "\"fds\":[", i ? ",\n" : "\n", m->s.obj,
		       obj_ref(img, m->s.obj, ref, sizeof(ref)), (unsigned long long)m->s.at,
		       (unsigned long long)m->s.len);
		for (uint32_t k = 0; k < m->s.nfds; k++) {
			const struct sck_fd *f = flight_desc(img, m->fds[k].flight);

			printf("%s{\"flight\":%u,\"kind\":\"%s\",\"flags\":%u,\"offset\":%lld,"
			       "\"shared_with\":%d,\"what\":", k ? "," : "", m->fds[k].flight,
			       selfckpt__fd_kind_name(f->kind), f->open_flags, (long long)f->pos,
			       f->share_with ? (int)f->share_with - 1 : -1);
			json_str(fd_desc(img, f));
			printf("}");
		}
		printf("]}");
	}
	printf("],\n");
}

/* ---- System V IPC (SYSV records) ---- */

static const char *sysv_what(uint32_t kind)
{
	return kind == SCK_SYSV_SHM ? "shared memory segment" :
	       kind == SCK_SYSV_SEM ? "semaphore set" : "message queue";
}

/* Mappings here of segment id: attachments (their first piece), pieces. */
static void sysv_maps(const struct sck_image *img, int32_t id, uint32_t *att, uint32_t *pieces)
{
	*att = *pieces = 0;
	for (uint32_t i = 0; i < img->nvmas; i++)
		if (img->vmas[i].v.kind == SCK_VMA_SYSV_SHM && img->vmas[i].v.sysv_id == id) {
			(*pieces)++;
			*att += img->vmas[i].v.pgoff == 0;
		}
}

static void print_sysv(const struct sck_image *img)
{
	printf("\nSystem V IPC (%u)\n", img->nsysv);
	for (uint32_t i = 0; i < img->nsysv; i++) {
		const struct sck_sysv *x = &img->sysv[i].s;
		uint32_t att, pieces;

		printf("  %s %d, key 0x%08x, mode %03o, owner %u:%u", sysv_what(x->kind), x->id,
		       (unsigned)x->key, x->mode, x->uid, x->gid);
		if (x->kind == SCK_SYSV_SHM) {
			sysv_maps(img, x->id, &att, &pieces);
			printf(", %" PRIu64 " bytes, %u attachment%s", x->size, att,
			       att == 1 ? "" : "s");
			if (x->flags & SCK_SYSVF_REMOVED)
				printf(", removed (IPC_RMID)");
		} else if (x->kind == SCK_SYSV_SEM) {
			printf(", %" PRIu64 " semaphore%s:", x->size, x->size == 1 ? "" : "s");
			for (uint64_t k = 0; k < x->size && k < 16; k++) {
				uint16_t val;

				memcpy(&val, img->sysv[i].data + 2 * k, 2);
				printf(" %u", val);
			}
			if (x->size > 16)
				printf(" ...");
		} else {
			uint64_t at = 0, bytes = 0;

			for (uint32_t k = 0; k < x->count; k++) {
				struct sck_sysv_msg m;

				memcpy(&m, img->sysv[i].data + at, sizeof(m));
				at += sizeof(m) + m.len + sck_pad8(m.len);
				bytes += m.len;
			}
			printf(", %u message%s, %" PRIu64 " bytes, qbytes %" PRIu64, x->count,
			       x->count == 1 ? "" : "s", bytes, x->size);
		}
		printf("\n");
	}
}

static void print_sysv_json(const struct sck_image *img)
{
	printf("\"sysv\":[");
	for (uint32_t i = 0; i < img->nsysv; i++) {
		const struct sck_sysv *x = &img->sysv[i].s;

		printf("%s{\"kind\":\"%s\",\"id\":%d,\"key\":%d,\"mode\":%u,\"uid\":%u,"
		       "\"gid\":%u,\"cuid\":%u,\"cgid\":%u,\"size\":%" PRIu64 ",\"count\":%u,"
		       "\"flags\":%u,\"data_len\":%" PRIu64,
		       i ? ",\n" : "\n", selfckpt__sysv_kind_name(x->kind), x->id, x->key, x->mode,
		       x->uid, x->gid, x->cuid, x->cgid, x->size, x->count, x->flags, x->data_len);
		if (x->kind == SCK_SYSV_SEM) {
			printf(",\"values\":[");
			for (uint64_t k = 0; k < x->size; k++) {
				uint16_t val;

				memcpy(&val, img->sysv[i].data + 2 * k, 2);
				printf("%s%u", k ? "," : "", val);
			}
			printf("]");
		}
		if (x->kind == SCK_SYSV_MSG) {
			uint64_t at = 0;

			printf(",\"messages\":[");
			for (uint32_t k = 0; k < x->count; k++) {
				struct sck_sysv_msg m;

				memcpy(&m, img->sysv[i].data + at, sizeof(m));
				at += sizeof(m) + m.len + sck_pad8(m.len);
				printf("%s[%lld,%" PRIu64 "]", k ? "," : "", (long long)m.type, m.len);
			}
			printf("]");
		}
		printf("}");
	}
	printf("],\n");
}

/* ---- end of System V IPC ---- */

static void print_human(const char *name, const struct sck_image *img)
{
	const struct sck_header *h = &img->hdr;
	char u1[40], u2[40], tb[64], sz[32], p[8];
	struct totals t;

	totals(img, &t);
	human_size(img->file_len, sz, sizeof(sz));
	printf("image         %s\n", name);
	printf("format        %u.%u, x86_64, %s, complete (commit record checked)\n",
	       img->pre.major, img->pre.minor, sz);
	printf("checkpoint    id %" PRIu64 ", parent %" PRIu64 ", generation %u\n",
	       h->ckpt_id, h->parent_id, h->generation);
	uuid_str(&h->image_uuid, u1);
	uuid_str(&h->lineage_uuid, u2);
	printf("image uuid    %s\nlineage       %s\n", u1, u2);
	printf("restarted     %s\n", restart_mode(h));
	printf("new ids       %s\n", (h->flags & SCK_HDR_NO_OWNED_LOCKS) ?
	       "safe: searched, no held lock records a thread id" :
	       "not checked (held locks that record a thread id would break)");
	time_str(h->time_sec, tb, sizeof(tb));
	printf("created       %s by pid %d (uid %u gid %u) on \"%s\"\n", tb, h->pid,
	       h->uid, h->gid, vis(h->hostname));
	printf("kernel        %s %s (%s)\n", vis(h->kernel_release),
	       vis(h->kernel_version), vis(h->machine));
	printf("glibc         %s\n", h->glibc_version[0] ? vis(h->glibc_version) : "-");
	printf("written by    selfckpt %s\n", vis(h->selfckpt_version));
	printf("machine id    %s\n", h->machine_id[0] ? vis(h->machine_id) : "-");
	printf("cpu           %s (family %u model %u), xcr0 0x%" PRIx64
	       ", xsave %u bytes for features 0x%" PRIx64 "\n",
	       vis(h->cpu.model_name), h->cpu.family, h->cpu.model, h->cpu.xcr0,
	       h->cpu.xsave_size, h->cpu.xfeatures);
	printf("vdso layout  ");
	for (uint32_t i = 0; i < h->nspecial; i++)
		printf(" %s %" PRIx64 "-%" PRIx64, selfckpt__vma_kind_name(h->special[i].kind),
		       h->special[i].start, h->special[i].end);
	printf("\nprocess       \"%s\", cwd %s, umask %03o, brk %" PRIx64 "-%" PRIx64
	       ", %u thread%s\n",
	       vis(comm16(img->proc.comm)), vis(img->cwd), img->proc.umask, img->proc.start_brk,
	       img->proc.brk, img->nthreads, img->nthreads == 1 ? "" : "s");
	for (uint32_t i = 0; i < img->nnotes; i++)
		printf("note          %s\n", vis(img->notes[i]));

	printf("\nmemory regions (%u)\n", img->nvmas);
	printf("  %-33s %-11s %-4s %10s %6s  %s\n", "RANGE", "KIND", "PERM", "STORED",
	       "RUNS", "NAME");
	for (uint32_t i = 0; i < img->nvmas; i++) {
		const struct sck_img_vma *v = &img->vmas[i];

		human_size(v->v.npages_stored * SCK_PAGE_SIZE, sz, sizeof(sz));
		printf("  %016" PRIx64 "-%016" PRIx64 " %-11s %-4s %10s %6u  %s%s\n",
		       v->v.start, v->v.end, selfckpt__vma_kind_name(v->v.kind),
		       perms(&v->v, p), sz, v->v.nruns, vis(v->name),
		       v->v.nguards ? " (guard pages)" : "");
	}

	printf("\nfile descriptors (%u)\n", img->nfds);
	printf("  %-4s %-6s %-26s %10s  %s\n", "FD", "KIND", "FLAGS", "OFFSET", "WHAT");
	for (uint32_t i = 0; i < img->nfds; i++) {
		const struct sck_fd *f = &img->fds[i];
		char fl[64];

		flags_str(f->open_flags, fl, sizeof(fl));
		if (f->fd_flags & FD_CLOEXEC)
			strncat(fl, "|CLOEXEC", sizeof(fl) - strlen(fl) - 1);
		printf("  %-4d %-6s %-26s %10lld  %s", f->fd,
		       selfckpt__fd_kind_name(f->kind),
		       f->kind == SCK_FD_STDIO ? "-" : fl, (long long)f->pos,
		       vis(fd_desc(img, f)));
		if (f->share_with)
			printf(" (shared with fd %u)", f->share_with - 1);
		printf("\n");
	}

	if (img->nlocks)
		printf("\nlocks (%u)\n", img->nlocks);
	for (uint32_t i = 0; i < img->nlocks; i++)
		printf("  fd %d: %s\n", img->locks[i].fd, lock_desc(&img->locks[i]));
	print_in_flight(img);

	printf("\nthreads (%u)\n", img->nthreads);
	for (uint32_t i = 0; i < img->nthreads; i++) {
		const struct sck_thread *th = &img->threads[i].t;

		printf("  tid %d%s%s \"%s\": rip %016" PRIx64 " rsp %016" PRIx64
		       " fs %016" PRIx64 " sigmask %016" PRIx64 "\n"
		       "    rseq %s%" PRIx64 " (%u bytes)  clear_child_tid %" PRIx64
		       "  robust list %" PRIx64 "  altstack %s  xsave %u bytes\n",
		       th->tid, (th->flags & SCK_THRF_MAIN) ? " main" : "",
		       (th->flags & SCK_THRF_CALLER) ? " caller" : "", vis(comm16(th->comm)),
		       th->regs.rip,
		       th->regs.rsp, th->fs_base, th->sigmask,
		       th->rseq_len ? "" : "none ", th->rseq_addr, th->rseq_len,
		       th->clear_child_tid, th->robust_head,
		       (th->altstack_flags & 2 /* SS_DISABLE */) ? "off" : "on",
		       th->xsave_size);
	}

	printf("\nsignal handlers\n");
	int shown = 0;

	for (int s = 1; s <= 64; s++) {
		const struct sck_sigaction *a = &img->sig.act[s - 1];

		if (a->handler == 0)	/* SIG_DFL */
			continue;
		printf("  %-12s %s", sig_name(s),
		       a->handler == 1 ? "ignored" : "handler");
		if (a->handler > 1)
			printf(" 0x%" PRIx64 " flags 0x%" PRIx64 " mask 0x%" PRIx64,
			       a->handler, a->flags, a->mask);
		printf("\n");
		shown++;
	}
	if (!shown)
		printf("  (all default)\n");
	print_timers_signals(img);
	print_sysv(img);

	char m[32], s2[32];

	human_size(t.mapped, m, sizeof(m));
	human_size(t.stored, s2, sizeof(s2));
	printf("\ntotals        %u regions, %s mapped, %s stored in %" PRIu64
	       " runs, %u fds, %u files, %u thread%s\n",
	       img->nvmas, m, s2, t.runs, img->nfds, img->nfiles, img->nthreads,
	       img->nthreads == 1 ? "" : "s");
}

/*
 * Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0.
 */
static int utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	int n, i;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;	/* also stops at the terminating NUL */
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

/*
 * A JSON string (RFC 8259 wants UTF-8). Paths and names are bytes on
 * Linux: a byte that is not part of well-formed UTF-8 is written as
 * \u00XX, i.e. read as Latin-1 (docs/cli.md, "info --json").
 */
static void json_str(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	putchar('"');
	while (*s) {
		int n = utf8_len(s);

		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if (*s < 0x20 || *s == 0x7f || !n)
			printf("\\u%04x", *s);
		else
			fwrite(s, 1, (size_t)n, stdout);
		s += n ? n : 1;
	}
	putchar('"');
}

static void print_json(const struct sck_image *img)
{
	const struct sck_header *h = &img->hdr;
	char u1[40], u2[40], u3[40];
	struct totals t;

	totals(img, &t);
	uuid_str(&h->image_uuid, u1);
	uuid_str(&h->parent_uuid, u2);
	uuid_str(&h->lineage_uuid, u3);
	printf("{\"format\":{\"major\":%u,\"minor\":%u,\"arch\":\"x86_64\",\"bytes\":%" PRIu64
	       ",\"complete\":true},\n",
	       img->pre.major, img->pre.minor, img->file_len);
	printf("\"checkpoint\":{\"id\":%" PRIu64 ",\"parent_id\":%" PRIu64
	       ",\"generation\":%u,\"image_uuid\":\"%s\",\"parent_uuid\":\"%s\",\"lineage_uuid\":\"%s\","
	       "\"time\":%lld,\"pid\":%d,\"uid\":%u,\"gid\":%u,\"restarted\":\"%s\","
	       "\"new_ids_safe\":%s,\"lenient\":%s},\n",
	       h->ckpt_id, h->parent_id, h->generation, u1, u2, u3,
	       (long long)h->time_sec, h->pid, h->uid, h->gid,
	       h->generation == 0 ? "never" :
	       (h->flags & SCK_HDR_RESTARTED_USERNS) ? "userns+pidns" :
	       (h->flags & SCK_HDR_RESTARTED_PIDNS) ? "pidns" :
	       (h->flags & SCK_HDR_RESTARTED_NEW_IDS) ? "new_ids" : "unknown",
	       (h->flags & SCK_HDR_NO_OWNED_LOCKS) ? "true" : "false",
	       (h->flags & SCK_HDR_LENIENT) ? "true" : "false");
	printf("\"fingerprint\":{\"kernel_release\":");
	json_str(h->kernel_release);
	printf(",\"kernel_version\":");
	json_str(h->kernel_version);
	printf(",\"glibc\":");
	json_str(h->glibc_version);
	printf(",\"selfckpt\":");
	json_str(h->selfckpt_version);
	printf(",\"hostname\":");
	json_str(h->hostname);
	printf(",\"machine_id\":");
	json_str(h->machine_id);
	printf(",\"page_size\":%u,\"cpu\":{\"model\":", h->page_size);
	json_str(h->cpu.model_name);
	printf(",\"vendor\":");
	json_str(h->cpu.vendor);
	printf(",\"xcr0\":%" PRIu64 ",\"xfeatures\":%" PRIu64 ",\"xsave_size\":%u},"
	       "\"vdso\":[",
	       h->cpu.xcr0, h->cpu.xfeatures, h->cpu.xsave_size);
	for (uint32_t i = 0; i < h->nspecial; i++)
		printf("%s{\"kind\":\"%s\",\"start\":%" PRIu64 ",\"end\":%" PRIu64 "}",
		       i ? "," : "", selfckpt__vma_kind_name(h->special[i].kind),
		       h->special[i].start, h->special[i].end);
	printf("]},\n\"process\":{\"comm\":");
	char comm[17];

	snprintf(comm, sizeof(comm), "%.16s", img->proc.comm);
	json_str(comm);
	printf(",\"cwd\":");
	json_str(img->cwd);
	printf(",\"umask\":%u,\"start_brk\":%" PRIu64 ",\"brk\":%" PRIu64
	       ",\"threads\":%u},\n\"regions\":[\n",
	       img->proc.umask, img->proc.start_brk, img->proc.brk, img->nthreads);
	for (uint32_t i = 0; i < img->nvmas; i++) {
		const struct sck_img_vma *v = &img->vmas[i];
		char p[8];

		printf("%s{\"start\":%" PRIu64 ",\"end\":%" PRIu64
		       ",\"kind\":\"%s\",\"perms\":\"%s\",\"stored_bytes\":%" PRIu64
		       ",\"runs\":%u,\"guards\":%u,\"name\":",
		       i ? ",\n" : "", v->v.start, v->v.end,
		       selfckpt__vma_kind_name(v->v.kind), perms(&v->v, p),
		       (uint64_t)(v->v.npages_stored * SCK_PAGE_SIZE), v->v.nruns,
		       v->v.nguards);
		json_str(v->name);
		printf("}");
	}
	printf("],\n\"fds\":[\n");
	for (uint32_t i = 0; i < img->nfds; i++) {
		const struct sck_fd *f = &img->fds[i];

		printf("%s{\"fd\":%d,\"kind\":\"%s\",\"flags\":%u,\"cloexec\":%s,"
		       "\"offset\":%lld,\"shared_with\":%d,\"what\":",
		       i ? ",\n" : "", f->fd, selfckpt__fd_kind_name(f->kind),
		       f->open_flags, (f->fd_flags & FD_CLOEXEC) ? "true" : "false",
		       (long long)f->pos, f->share_with ? (int)f->share_with - 1 : -1);
		json_str(fd_desc(img, f));
		printf("}");
	}
	printf("],\n\"locks\":[");
	for (uint32_t i = 0; i < img->nlocks; i++) {
		const struct sck_lock *l = &img->locks[i];
		static const char *const kind[] = { "?", "posix", "flock", "ofd" };

		printf("%s{\"fd\":%d,\"kind\":\"%s\",\"type\":\"%s\",\"start\":%llu,\"end\":",
		       i ? "," : "", l->fd, kind[l->kind < 4 ? l->kind : 0],
		       l->type == SCK_LOCK_WRITE ? "write" : "read",
		       (unsigned long long)l->start);
		if (l->end == SCK_LOCK_EOF)
			printf("null}");
		else
			printf("%llu}", (unsigned long long)l->end);
	}
	printf("],\n");
	print_in_flight_json(img);
	printf("\"notes\":[");
	for (uint32_t i = 0; i < img->nnotes; i++) {
		printf("%s", i ? "," : "");
		json_str(img->notes[i]);
	}
	printf("],\n\"signals\":[");
	int first = 1;

	for (int s = 1; s <= 64; s++) {
		const struct sck_sigaction *a = &img->sig.act[s - 1];

		if (a->handler == 0)
			continue;
		printf("%s{\"signal\":%d,\"name\":\"%s\",\"handler\":\"%s\",\"flags\":%" PRIu64
		       ",\"mask\":%" PRIu64 "}",
		       first ? "" : ",", s, sig_name(s),
		       a->handler == 1 ? "ignore" : "function", a->flags, a->mask);
		first = 0;
	}
	printf("],\n");
	print_timers_signals_json(img);
	print_sysv_json(img);
	printf("\"totals\":{\"regions\":%u,\"mapped_bytes\":%" PRIu64
	       ",\"stored_bytes\":%" PRIu64 ",\"runs\":%" PRIu64
	       ",\"fds\":%u,\"files\":%u,\"threads\":%u}}\n",
	       img->nvmas, t.mapped, t.stored, t.runs, img->nfds, img->nfiles,
	       img->nthreads);
}

/* ---- --records: the layout, as the reader met it ------------------------ */

struct rec_seen {
	uint64_t off, len;
	uint32_t type, flags;
};

struct rec_list {
	struct rec_seen *v;
	size_t n, cap;
	int oom;
};

/* The reader's callback: remember one record header (image.h). */
static void rec_seen(void *arg, uint64_t off, const struct sck_rec *rec)
{
	struct rec_list *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct rec_seen *v = realloc(l->v, cap * sizeof(*v));

		if (!v) {
			l->oom = 1;
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = (struct rec_seen){ off, rec->len, rec->type, rec->flags };
}

/* Where a record ends: its header, its payload and the zero padding. */
static uint64_t rec_end(const struct rec_seen *r)
{
	return r->off + sizeof(struct sck_rec) + r->len + sck_pad8(r->len);
}

static void print_records_human(const struct rec_list *l)
{
	printf("records (%zu)\n", l->n);
	printf("  %12s %12s  %-12s %-6s %12s\n", "OFFSET", "END", "TYPE", "FLAGS",
	       "PAYLOAD");
	for (size_t i = 0; i < l->n; i++) {
		const struct rec_seen *r = &l->v[i];
		char type[24];

		if (r->type >= SCK_REC_HEADER && r->type <= SCK_REC_CLOCKS)
			snprintf(type, sizeof(type), "%s",
				 selfckpt__rec_type_name(r->type));
		else
			snprintf(type, sizeof(type), "type-%u", r->type);
		printf("  %12" PRIu64 " %12" PRIu64 "  %-12s 0x%-4x %12" PRIu64 "\n",
		       r->off, rec_end(r), type, r->flags, r->len);
	}
}

static void print_records(const char *name, const struct sck_image *img,
			  const struct rec_list *l)
{
	printf("image         %s\n", name);
	printf("format        %u.%u, %" PRIu64 " bytes, complete (commit record checked)\n",
	       img->pre.major, img->pre.minor, img->file_len);
	printf("preamble      0-%zu\n", sizeof(struct sck_preamble) - 1);
	print_records_human(l);
	printf("page data     offset %" PRIu64 ", %" PRIu64 " bytes", img->data_off,
	       img->end.data_len);
	if (img->end.data_len)
		printf(" (bytes %" PRIu64 "-%" PRIu64 ")", img->data_off,
		       img->data_off + img->end.data_len - 1);
	printf(", %" PRIu64 " hash chunk%s\n", img->nchunks,
	       img->nchunks == 1 ? "" : "s");
}

static void print_records_json(const struct sck_image *img,
			       const struct rec_list *l)
{
	printf("{\"format\":{\"major\":%u,\"minor\":%u,\"bytes\":%" PRIu64
	       ",\"complete\":true},\n\"preamble\":{\"offset\":0,\"len\":%zu},\n"
	       "\"records\":[\n",
	       img->pre.major, img->pre.minor, img->file_len,
	       sizeof(struct sck_preamble));
	for (size_t i = 0; i < l->n; i++) {
		const struct rec_seen *r = &l->v[i];

		printf("%s{\"offset\":%" PRIu64 ",\"end\":%" PRIu64
		       ",\"type\":%u,\"name\":\"%s\",\"flags\":%u,\"len\":%" PRIu64 "}",
		       i ? ",\n" : "", r->off, rec_end(r), r->type,
		       selfckpt__rec_type_name(r->type), r->flags, r->len);
	}
	printf("],\n\"pages\":{\"offset\":%" PRIu64 ",\"len\":%" PRIu64
	       ",\"chunks\":%" PRIu64 "}}\n",
	       img->data_off, img->end.data_len, img->nchunks);
}

int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "records", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct rec_list recs = { NULL, 0, 0, 0 };
	struct sck_image img;
	char err[512];
	int c, json = 0, records = 0, fd, ret;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'j') {
			json = 1;
		} else if (c == 'r') {
			records = 1;
		} else if (c == 'h') {
			help(stdout);
			return 0;
		} else {
			help(stderr);
			return SCK_EX_USAGE;
		}
	}
	if (optind != argc - 1) {
		cli_err("info", "expected one IMAGE (or - for stdin); see --help");
		return SCK_EX_USAGE;
	}
	const char *name = argv[optind];

	fd = strcmp(name, "-") ? open(name, O_RDONLY | O_CLOEXEC | O_NOCTTY) : 0;
	if (fd < 0) {
		cli_err("info", "cannot open %s: %s", name, strerror(errno));
		return SCK_EX_NOINPUT;
	}
	ret = selfckpt__image_read_meta_seen(fd, &img, records ? rec_seen : NULL,
					     &recs, err, sizeof(err));
	if (!ret)
		ret = selfckpt__image_verify_data(fd, &img, NULL, NULL, err,
						  sizeof(err));
	if (!ret && recs.oom)
		ret = -ENOMEM;
	if (ret) {
		if (records && !json && !recs.oom) {
			printf("records read before the error\n");
			print_records_human(&recs);
			fflush(stdout);
		}
		if (ret == -ENOMEM && recs.oom)
			snprintf(err, sizeof(err), "out of memory listing the records");
		cli_err("info", "%s: %s", name, err);
		selfckpt__image_free(&img);
		free(recs.v);
		return ret == -EIO ? SCK_EX_NOINPUT :
		       ret == -ENOMEM ? SCK_EX_OSERR : SCK_EX_DATAERR;
	}
	if (records && json)
		print_records_json(&img, &recs);
	else if (records)
		print_records(name, &img, &recs);
	else if (json)
		print_json(&img);
	else
		print_human(name, &img);
	selfckpt__image_free(&img);
	free(recs.v);
	if (fflush(stdout) != 0 || ferror(stdout))
		return SCK_EX_OSERR;
	return 0;
}

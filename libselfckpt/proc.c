/*
 * proc.c - /proc/self parsers and a libc-free file reader (see proc.h).
 *
 * Freestanding: the checkpoint may run in a signal handler, so neither
 * sscanf nor stdio. Formats are those of fs/proc/task_mmu.c, array.c and
 * fd.c; tests/unit/test_proc.c holds recorded samples.
 */
#include <asm/fcntl.h>
#include <linux/mman.h>

#include "image-format.h"
#include "nolibc/str.h"
#include "proc.h"
#include "sys.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

uint64_t selfckpt__parse_u64(const char *s, int base, const char **end)
{
	uint64_t v = 0;
	int d;

	while ((d = hexval(*s)) >= 0 && d < base) {
		v = v * (uint64_t)base + (uint64_t)d;
		s++;
	}
	if (end)
		*end = s;
	return v;
}

static const char *skip_spaces(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

int selfckpt__parse_maps_line(char *line, struct sck_maps_entry *out)
{
	struct sck_maps_entry tmp, *e = &tmp;	/* *out untouched on failure */
	const char *p = line, *q;

	e->start = selfckpt__parse_u64(p, 16, &q);
	if (q == p || *q != '-')
		return -22;
	p = q + 1;
	e->end = selfckpt__parse_u64(p, 16, &q);
	if (q == p || *q != ' ' || e->end <= e->start)
		return -22;
	p = q + 1;
	if (!p[0] || !p[1] || !p[2] || !p[3] || p[4] != ' ')
		return -22;
	e->prot = (p[0] == 'r' ? PROT_READ : 0) |
		  (p[1] == 'w' ? PROT_WRITE : 0) |
		  (p[2] == 'x' ? PROT_EXEC : 0);
	if (p[3] != 's' && p[3] != 'p')
		return -22;
	e->shared = p[3] == 's';
	p += 5;
	e->pgoff = selfckpt__parse_u64(p, 16, &q);
	if (q == p || *q != ' ')
		return -22;
	p = q + 1;
	e->dev_major = (uint32_t)selfckpt__parse_u64(p, 16, &q);
	if (*q != ':')
		return -22;
	p = q + 1;
	e->dev_minor = (uint32_t)selfckpt__parse_u64(p, 16, &q);
	if (*q != ' ')
		return -22;
	p = q + 1;
	e->ino = selfckpt__parse_u64(p, 10, &q);
	if (q == p)
		return -22;
	p = skip_spaces(q);
	/* The name runs to the end of the line and may contain spaces. */
	char *name = line + (p - line);
	size_t len = 0;

	while (name[len] && name[len] != '\n')
		len++;
	name[len] = '\0';
	e->name = name;
	e->name_len = len;
	*out = tmp;
	return 0;
}

uint32_t selfckpt__parse_vmflags(const char *s, uint32_t *special)
{
	static const struct {
		char code[3];
		uint32_t flag;
		uint32_t special;
	} tab[] = {
		{ "gd", SCK_VMAF_GROWSDOWN, 0 },
		{ "lo", SCK_VMAF_LOCKED, 0 },
		{ "dc", SCK_VMAF_DONTFORK, 0 },
		{ "wf", SCK_VMAF_WIPEONFORK, 0 },
		{ "hg", SCK_VMAF_HUGEPAGE, 0 },
		{ "nh", SCK_VMAF_NOHUGEPAGE, 0 },
		{ "mg", SCK_VMAF_MERGEABLE, 0 },
		{ "dd", SCK_VMAF_DONTDUMP, 0 },
		{ "sr", SCK_VMAF_SEQ_READ, 0 },
		{ "rr", SCK_VMAF_RAND_READ, 0 },
		{ "nr", SCK_VMAF_NORESERVE, 0 },
		{ "mw", SCK_VMAF_MAYWRITE, 0 },
		{ "ht", 0, SCK_VMX_HUGETLB },
		{ "io", 0, SCK_VMX_IO },
		{ "pf", 0, SCK_VMX_PFNMAP },
		{ "ss", 0, SCK_VMX_SHADOW_STACK },
		{ "um", 0, SCK_VMX_UFFD },
		{ "uw", 0, SCK_VMX_UFFD },
		{ "mm", 0, SCK_VMX_MIXEDMAP },
		{ "sl", 0, SCK_VMX_SEALED },
	};
	uint32_t flags = 0, sp = 0;

	for (s = skip_spaces(s); s[0] && s[0] != '\n'; s = skip_spaces(s)) {
		if (s[1] && s[1] != ' ' && s[1] != '\n' &&
		    (s[2] == ' ' || s[2] == '\n' || !s[2])) {
			for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
				if (tab[i].code[0] == s[0] &&
				    tab[i].code[1] == s[1]) {
					flags |= tab[i].flag;
					sp |= tab[i].special;
				}
		}
		while (*s && *s != ' ' && *s != '\n')
			s++;
	}
	if (special)
		*special = sp;
	return flags;
}

int selfckpt__parse_stat(const char *buf, struct sck_stat_fields *st)
{
	/* Field 2 is "(comm)"; comm may contain ')' so find the last one. */
	const char *p = NULL;

	for (const char *q = buf; *q; q++)
		if (*q == ')')
			p = q;
	if (!p)
		return -22;
	p++;
	/* p is just before field 3. Walk to each field we want. */
	uint64_t f[53] = { 0 };
	int field = 3;

	while (*p && field <= 52) {
		p = skip_spaces(p);
		if (!*p || *p == '\n')
			break;
		int neg = *p == '-';

		if (neg)
			p++;
		const char *q;
		uint64_t v = selfckpt__parse_u64(p, 10, &q);

		if (q == p) {		/* field 3 is a letter (state) */
			while (*q && *q != ' ')
				q++;
		}
		f[field] = neg ? (uint64_t)-(int64_t)v : v;
		p = q;
		field++;
	}
	if (field <= 51)
		return -22;
	st->ppid = (int32_t)f[4];
	st->num_threads = (int64_t)f[20];
	st->start_code = f[26];
	st->end_code = f[27];
	st->start_stack = f[28];
	st->start_data = f[45];
	st->end_data = f[46];
	st->start_brk = f[47];
	st->arg_start = f[48];
	st->arg_end = f[49];
	st->env_start = f[50];
	st->env_end = f[51];
	return 0;
}

/* Find "key" at the start of a line; returns the text after it. */
static const char *find_key(const char *buf, const char *key)
{
	size_t klen = sck_strlen(key);

	for (const char *p = buf; *p;) {
		if (sck_strncmp(p, key, klen) == 0)
			return p + klen;
		while (*p && *p != '\n')
			p++;
		if (*p)
			p++;
	}
	return NULL;
}

int selfckpt__proc_field(const char *buf, const char *key, int base,
			 uint64_t *val)
{
	const char *p = find_key(buf, key);

	if (!p)
		return -2;
	*val = selfckpt__parse_u64(skip_spaces(p), base, NULL);
	return 0;
}

int selfckpt__parse_fdinfo(const char *buf, struct sck_fdinfo *fi)
{
	uint64_t v;

	if (selfckpt__proc_field(buf, "pos:", 10, &v))
		return -22;
	fi->pos = (int64_t)v;
	if (selfckpt__proc_field(buf, "flags:", 8, &v))
		return -22;
	fi->flags = (uint32_t)v;
	fi->mnt_id = selfckpt__proc_field(buf, "mnt_id:", 10, &v) ? 0 : v;
	fi->has_lock = find_key(buf, "lock:") != NULL;
	return 0;
}

long selfckpt__read_file(int dirfd, const char *path, char *buf, size_t size)
{
	long fd = sys_openat(dirfd, path, O_RDONLY | O_CLOEXEC, 0);
	size_t len = 0;

	if (fd < 0)
		return fd;
	for (;;) {
		if (len + 1 >= size) {
			sys_close((int)fd);
			return -7; /* E2BIG */
		}
		long n = sys_read((int)fd, buf + len, size - 1 - len);

		if (n == -4) /* EINTR */
			continue;
		if (n < 0) {
			sys_close((int)fd);
			return n;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	sys_close((int)fd);
	buf[len] = '\0';
	return (long)len;
}

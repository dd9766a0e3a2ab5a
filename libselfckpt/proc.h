/*
 * proc.h - parsers for /proc/self files, and reading them without libc.
 *
 * The parsers are pure functions on text, so that the unit tests can feed
 * them recorded samples (tests/unit/test_proc.c), and freestanding, so that
 * they work inside a signal handler. Reading goes through raw syscalls.
 */
#ifndef SELFCKPT_PROC_H
#define SELFCKPT_PROC_H

#include <stddef.h>
#include <stdint.h>

/* One line of /proc/PID/maps (or the first line of an smaps entry). */
struct sck_maps_entry {
	uint64_t start, end;
	uint64_t pgoff;
	uint32_t prot;			/* PROT_READ | PROT_WRITE | PROT_EXEC */
	int shared;			/* 's' rather than 'p' */
	uint32_t dev_major, dev_minor;
	uint64_t ino;
	char *name;			/* inside the parsed line, NUL-terminated */
	size_t name_len;
};

/*
 * Parse a maps line in place (the name gets a NUL). Line ends at '\n' or
 * NUL. Returns 0, or -EINVAL if it is not a maps line (an smaps key line),
 * in which case *e is left as it was.
 */
int selfckpt__parse_maps_line(char *line, struct sck_maps_entry *e);

/* smaps VmFlags that make a mapping impossible to restore (P10, P17). */
#define SCK_VMX_HUGETLB (1u << 0)	/* ht */
#define SCK_VMX_IO (1u << 1)		/* io */
#define SCK_VMX_PFNMAP (1u << 2)	/* pf */
#define SCK_VMX_SHADOW_STACK (1u << 3)	/* ss */
#define SCK_VMX_UFFD (1u << 4)		/* um, uw: userfaultfd registered */
#define SCK_VMX_MIXEDMAP (1u << 5)	/* mm */
#define SCK_VMX_SEALED (1u << 6)	/* sl */

/* Parse the text after "VmFlags:" into SCK_VMAF_* and SCK_VMX_* bits. */
uint32_t selfckpt__parse_vmflags(const char *s, uint32_t *special);

/* The fields of /proc/PID/stat that PR_SET_MM_MAP needs. */
struct sck_stat_fields {
	uint64_t start_code, end_code, start_stack;
	uint64_t start_data, end_data, start_brk;
	uint64_t arg_start, arg_end, env_start, env_end;
	int64_t num_threads;
	int32_t ppid;
};

/* Parse /proc/PID/stat (the comm field may hold spaces and ')'). */
int selfckpt__parse_stat(const char *buf, struct sck_stat_fields *st);

/* What /proc/PID/fdinfo/N says. */
struct sck_fdinfo {
	int64_t pos;
	uint32_t flags;			/* octal "flags:", includes O_CLOEXEC */
	uint64_t mnt_id;
	int has_lock;			/* a "lock:" line: a file lock is held */
};

int selfckpt__parse_fdinfo(const char *buf, struct sck_fdinfo *fi);

/*
 * The number after "key" (e.g. "Umask:") in a "key:\tvalue" file such as
 * /proc/PID/status, in the given base. Returns 0 or -ENOENT.
 */
int selfckpt__proc_field(const char *buf, const char *key, int base,
			 uint64_t *val);

/*
 * Read a whole file (relative to dirfd) into buf, NUL-terminated. Returns
 * the length, -E2BIG if it does not fit (the caller retries bigger), or
 * -errno.
 */
long selfckpt__read_file(int dirfd, const char *path, char *buf, size_t size);

/* Parse an unsigned number in base 8, 10 or 16; *end gets the stop point. */
uint64_t selfckpt__parse_u64(const char *s, int base, const char **end);

#endif

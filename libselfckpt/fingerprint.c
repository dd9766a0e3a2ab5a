/*
 * fingerprint.c - the HEADER record's description of the machine.
 *
 * Kernel release, libc version, CPU features and XSAVE layout, vDSO layout
 * (filled in by res-mem.c), page size, host and boot identity. Restart
 * compares what matters (CPU, page size, vDSO) and shows the rest in
 * `selfckpt info` and in its log.
 *
 * Async-signal-safe: gnu_get_libc_version() returns a constant string.
 */
#include <gnu/libc-version.h>
#include <sys/utsname.h>

#include "internal.h"
#include "nolibc/str.h"
#include "proc.h"
#include "selfckpt.h"
#include "sys.h"

static void read_id(const char *path, char *out, size_t n)
{
	char buf[64];
	long len = selfckpt__read_file(-100, path, buf, sizeof(buf));

	out[0] = '\0';
	if (len <= 0)
		return;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	sck_strlcpy(out, buf, n);
}

int selfckpt__fingerprint(struct sck_dump *d)
{
	struct sck_header *h = d->hdr;
	struct utsname u;
	struct __kernel_timespec ts;

	if (sck_syscall1(__NR_uname, (long)&u) == 0) {
		sck_strlcpy(h->kernel_release, u.release, sizeof(h->kernel_release));
		sck_strlcpy(h->kernel_version, u.version, sizeof(h->kernel_version));
		sck_strlcpy(h->machine, u.machine, sizeof(h->machine));
		sck_strlcpy(h->hostname, u.nodename, sizeof(h->hostname));
	}
	sck_strlcpy(h->glibc_version, gnu_get_libc_version(),
		    sizeof(h->glibc_version));
	sck_strlcpy(h->selfckpt_version, SELFCKPT_VERSION_STRING,
		    sizeof(h->selfckpt_version));
	read_id("/etc/machine-id", h->machine_id, sizeof(h->machine_id));
	read_id("/proc/sys/kernel/random/boot_id", h->boot_id, sizeof(h->boot_id));
	sys_clock_gettime(0 /* CLOCK_REALTIME */, &ts);
	h->time_sec = ts.tv_sec;
	h->time_nsec = (uint32_t)ts.tv_nsec;
	h->pid = (int32_t)sys_getpid();
	h->uid = (uint32_t)sys_getuid();
	h->gid = (uint32_t)sck_syscall0(__NR_getgid);
	h->page_size = SCK_PAGE_SIZE;
	selfckpt__cpu_probe(&h->cpu);
	h->rstinfo_addr = (uint64_t)(uintptr_t)&selfckpt__rstinfo;
	h->rstinfo_size = sizeof(selfckpt__rstinfo);
	return 0;
}

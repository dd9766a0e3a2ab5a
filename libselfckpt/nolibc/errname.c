/*
 * errname.c - names for the errors a checkpoint meets (see fmt.h).
 *
 * A table of pointers: kept apart from fmt.c because the restorer blob may
 * hold no data that needs relocating, and it does not need this.
 */
#include <stddef.h>

#include "fmt.h"

const char *selfckpt__errname(int err)
{
	static const struct {
		int err;
		const char *name;
	} tab[] = {
		{ 1, "EPERM (operation not permitted)" },
		{ 2, "ENOENT (no such file or directory)" },
		{ 3, "ESRCH (no such process)" },
		{ 4, "EINTR (interrupted)" },
		{ 5, "EIO (input/output error)" },
		{ 9, "EBADF (bad file descriptor)" },
		{ 11, "EAGAIN (try again)" },
		{ 12, "ENOMEM (out of memory)" },
		{ 13, "EACCES (permission denied)" },
		{ 14, "EFAULT (bad address)" },
		{ 16, "EBUSY (busy)" },
		{ 17, "EEXIST (file exists)" },
		{ 20, "ENOTDIR (not a directory)" },
		{ 21, "EISDIR (is a directory)" },
		{ 22, "EINVAL (invalid argument)" },
		{ 24, "EMFILE (too many open files)" },
		{ 27, "EFBIG (file too large)" },
		{ 28, "ENOSPC (no space left on device)" },
		{ 30, "EROFS (read-only file system)" },
		{ 32, "EPIPE (broken pipe)" },
		{ 36, "ENAMETOOLONG (file name too long)" },
		{ 38, "ENOSYS (function not implemented)" },
		{ 40, "ELOOP (too many symbolic links)" },
		{ 95, "ENOTSUP (not supported)" },
		{ 104, "ECONNRESET (connection reset)" },
		{ 122, "EDQUOT (disk quota exceeded)" },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (tab[i].err == err)
			return tab[i].name;
	return "unknown error";
}

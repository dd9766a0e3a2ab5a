#!/bin/sh
# lint.sh - banned patterns, as CRIU's `make lint` greps for them.
#  - The restorer (libselfckpt/rst/) and the freestanding checkpoint code
#    may not use libc: no stdio, no errno, no malloc, no libc headers.
#  - Library code prints nothing to stdout/stderr: it logs to the log fd.
#  - Public symbols start with selfckpt_ (checked on the built library).
set -eu
cd "$(dirname "$0")/.."
status=0
freestanding="libselfckpt/rst/*.c libselfckpt/rst/*.h libselfckpt/writer.c \
libselfckpt/image-enc.c libselfckpt/log.c libselfckpt/proc.c libselfckpt/arena.c \
libselfckpt/nolibc/*.c libselfckpt/nolibc/*.h libselfckpt/sys.h libselfckpt/compat.h"
bad() { echo "lint: $*" >&2; status=1; }

# shellcheck disable=SC2086
if grep -nE '\b(printf|fprintf|puts|malloc|calloc|realloc|free|perror|strerror)\s*\(|\berrno\b' \
	$freestanding | grep -v 'errno\.h' | grep -vE '^\S+:[0-9]+:\s*(\*|/\*|//)'; then
	bad "libc calls in freestanding code (above)"
fi
# shellcheck disable=SC2086
if grep -nE '#include <(stdio|stdlib|string|errno|unistd|fcntl|signal|sys/[a-z]+)\.h>' \
	$freestanding; then
	bad "libc headers in freestanding code (above)"
fi
if grep -nE '\b(printf|fprintf|puts|perror)\s*\(' libselfckpt/*.c libselfckpt/arch/*/*.c |
	grep -vE 'image-dec.c|restore' | grep -vE '^\S+:[0-9]+:\s*(\*|/\*)'; then
	bad "library code writing to stdio (above): use the log"
fi
so=${1:-build}/libselfckpt.so
if [ -f "$so" ]; then
	tools/exports.sh "$so" || bad "exports differ from libselfckpt/exports.map (above)"
fi
exit $status

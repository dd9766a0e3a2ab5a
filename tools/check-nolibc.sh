#!/bin/sh
# check-nolibc.sh OUT OBJ... - the checkpoint's freestanding objects must
# call nothing outside themselves but the stateless memory functions the
# compiler emits for copies (compel does the same for CRIU's parasite:
# "Unexpected undefined symbol"). Links OBJs into OUT with ld -r and lists
# what is still undefined.
set -eu
out=$1
shift
ld -r -o "$out" "$@"
allowed='^(memcpy|memset|memmove|memcmp|strlen)$'
bad=$(nm -u "$out" | awk '{print $2}' | grep -Ev "$allowed" || true)
if [ -n "$bad" ]; then
	echo "check-nolibc: freestanding checkpoint code calls outside itself:" >&2
	echo "$bad" | sed 's/^/  /' >&2
	exit 1
fi

#!/bin/sh
# check-restorer.sh ELF - the restorer blob must be freestanding and
# position-independent: nothing undefined (no libc, nothing from the
# program), and no relocation left for a loader to apply, since it is
# copied to an address chosen at restart and run without one.
set -eu
elf=$1
undef=$(nm -u "$elf" | awk '{print $2}')
if [ -n "$undef" ]; then
	echo "check-restorer: the restorer calls outside itself:" >&2
	echo "$undef" | sed 's/^/  /' >&2
	exit 1
fi
if readelf -rW "$elf" 2>/dev/null | grep -q 'R_X86_64'; then
	echo "check-restorer: the restorer needs relocations (a pointer in data?):" >&2
	readelf -rW "$elf" | grep 'R_X86_64' | sed 's/^/  /' >&2
	exit 1
fi
# The blob is mapped read-only and executable: no writable data.
data=$(readelf -SW "$elf" 2>/dev/null | awk '$2 == ".data" || $2 == ".bss" { print $2, $6 }' |
	awk '$2 != "000000" && $2 !~ /^0+$/ { print $1 }')
if [ -n "$data" ]; then
	echo "check-restorer: the restorer has writable data ($data); keep state in rst_args or on the stack" >&2
	exit 1
fi
if readelf -lW "$elf" | grep -q 'INTERP'; then
	echo "check-restorer: the restorer asks for a dynamic loader" >&2
	exit 1
fi

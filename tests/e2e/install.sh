#!/bin/bash
# install.sh - `make install` into a staging prefix gives a working
# installation: selfckpt, the libraries, the header and a pkg-config file
# with which `cc app.c $(pkg-config --cflags --libs selfckpt)` builds a
# program that checkpoints and restarts with the installed selfckpt.
set -eu
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
prefix=$WORK/prefix
# The build is up to date (make test built it), so this only copies files;
# it works unprivileged too.
make -s -C "$ROOT" BUILD="$B" PREFIX="$prefix" install >/dev/null
for f in bin/selfckpt include/selfckpt.h lib/libselfckpt.a lib/libselfckpt.so \
	lib/libselfckpt.so.0 lib/pkgconfig/selfckpt.pc; do
	[ -e "$prefix/$f" ] || { echo "missing $f"; exit 1; }
done
# Only the API and the interposed libc functions are exported.
"$ROOT/tools/exports.sh" "$prefix/lib/libselfckpt.so"
soname=$(readelf -d "$prefix/lib/libselfckpt.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = libselfckpt.so.0 ] || { echo "soname is '$soname'"; exit 1; }

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
# shellcheck disable=SC2046
cc -O2 -o "$WORK/heat" "$ROOT/examples/heat.c" $(pkg-config --cflags --libs selfckpt) -lm
export LD_LIBRARY_PATH=$prefix/lib
ldd ./heat | grep -q "$prefix/lib/libselfckpt.so.0" || { echo "not linked to the installed library"; exit 1; }
./heat --size 64 --steps 60 --out ref.txt 2>&1 | cat >ref.log
./heat --size 64 --steps 60 --out run.txt --checkpoint-at 20 --image run.img 2>&1 | cat >first.log
grep -q "checkpoint 1 written" first.log || { cat first.log; exit 1; }
# Pretend the rest of the first run never happened: restart from step 20.
"$prefix/bin/selfckpt" restart run.img 2>&1 | cat >restart.log
grep -q "restarted from checkpoint 1 after step 20" restart.log || { cat restart.log; exit 1; }
cmp ref.txt run.txt
[ "$(grep final: ref.log)" = "$(grep final: restart.log)" ] || { echo "checksums differ"; exit 1; }
echo "installed library, header, pkg-config and selfckpt work ($(grep final: restart.log))"

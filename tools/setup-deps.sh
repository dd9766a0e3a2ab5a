#!/bin/sh
# setup-deps.sh [build|test|demo] - install the Debian packages a step needs,
# only those missing (so that a machine that has them needs no network).
# Why each one is here: docs/dependencies.md.
set -eu
need="gcc make libc6-dev binutils"
case "${1:-build}" in
test) need="$need libcmocka-dev libxxhash-dev pkg-config util-linux"
	# clang with libFuzzer and its sanitizer runtimes: make fuzz-short
	need="$need clang libclang-rt-14-dev"
	# Real programs run under selfckpt run: tests/e2e/realprogs.sh
	need="$need python3 perl mawk gawk bc sqlite3 tcl zstd xz-utils coreutils" ;;
demo) need="$need" ;;
esac
missing=""
for p in $need; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "setup-deps: installing$missing"
if [ "$(id -u)" != 0 ]; then
	SUDO=sudo
else
	SUDO=
fi
$SUDO apt-get update -qq || true
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing

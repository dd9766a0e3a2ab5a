#!/bin/bash
# migrate.sh - images stay intact while the writing thread moves between
# CPUs. The kernel writes a thread's rseq area (cpu_id...) when the thread
# comes back to user space on another CPU; a writer that hashed that page
# before the move and wrote it after made an image its own reader refuses
# ("page data ... fail their checksum"), about 1 in 250 checkpoints here
# with the thread bounced between CPUs. The library now unregisters rseq
# in the writing thread while it writes (checkpoint.c, rseq_quiet).
#
# A small program checkpoints CKPTS times (default 1500) into separate
# files while this script flips its CPU affinity as fast as it can; every
# image must then be complete and intact (selfckpt info). Needs 2 CPUs:
# exits 77 (not run) on one.
# Env: B, ROOT, WORK (see run-tests.sh). Last line: a summary.
set -eu
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
n=${CKPTS:-1500}
start=$EPOCHREALTIME
if [ "$(nproc)" -lt 2 ]; then
	echo "migrate: not run: needs 2 CPUs to move a thread between, this machine has $(nproc)"
	exit 77
fi
cat >many.c <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <selfckpt.h>

int main(int argc, char **argv)
{
	char path[4200];

	for (int i = 0; i < atoi(argv[2]); i++) {
		snprintf(path, sizeof(path), "%s/%d.img", argv[1], i);
		if (selfckpt_checkpoint(path, SELFCKPT_NO_SYNC) < 0) {
			fprintf(stderr, "checkpoint %d: %s\n", i, selfckpt_last_error());
			return 1;
		}
	}
	return 0;
}
C
cc -O1 -I"$ROOT/include" -o many many.c -L"$B" -lselfckpt -Wl,-rpath,"$B"
mkdir -p img
./many "$WORK/img" "$n" </dev/null >many.log 2>&1 &
pid=$!
flips=0
while kill -0 "$pid" 2>/dev/null; do
	taskset -p 1 "$pid" >/dev/null 2>&1 || true
	taskset -p 2 "$pid" >/dev/null 2>&1 || true
	flips=$((flips + 1))
done
wait "$pid" || { echo "the checkpoints failed: $(cat many.log)"; exit 1; }
bad=0
for f in img/*.img; do
	if ! "$B/selfckpt" info "$f" >/dev/null 2>err.log; then
		bad=$((bad + 1))
		cp "$f" "bad-$bad.img"
		tail -n 1 err.log >>bad.log
	fi
done
[ "$(ls img | wc -l)" -eq "$n" ] || { echo "expected $n images, found $(ls img | wc -l)"; exit 1; }
[ "$bad" -eq 0 ] || { echo "$bad of $n images damaged (kept as bad-*.img):"; sort bad.log | uniq -c; exit 1; }
echo "migrate: $n checkpoints with the writer moved between 2 CPUs ($((flips * 2)) affinity changes): every image intact ($(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s)"

#!/bin/bash
# endure.sh - endurance (issue 6): one program restarted ENDURE_CYCLES
# times in a row (default 1000), each restart checkpointing again, the
# next restart starting from that new image. Every generation reports
# what it holds; nothing may grow from one generation to the next beyond
# the program's own doing (it does nothing but count):
#   - its descriptors (/proc/self/fd) and mappings (/proc/self/maps lines)
#     are the same in every generation;
#   - the image size stays within 64 KiB of the first restart's (the
#     stack and page-cache luck may move a page or two, never a trend);
#   - the generation and checkpoint id count up by one each time.
# Env: B, ROOT, WORK (see run-tests.sh). Last line: a summary.
set -eu
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
cycles=${ENDURE_CYCLES:-1000}
start=$EPOCHREALTIME
cat >endure.c <<'C'
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <selfckpt.h>

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n - 1;	/* the DIR's own */
}

static int count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	int n = 0, c;

	while (f && (c = getc(f)) != EOF)
		n += c == '\n';
	if (f)
		fclose(f);
	return n;
}

int main(int argc, char **argv)
{
	long sum = 0;

	if (argc != 2)
		return 64;
	for (;;) {
		long r = selfckpt_checkpoint(argv[1], SELFCKPT_NO_SYNC);

		if (r < 0) {
			fprintf(stderr, "checkpoint: %s: %s\n", strerror(errno),
				selfckpt_last_error());
			return 1;
		}
		if (r > 0)
			return 0;	/* written: the next restart goes on */
		/* Restarted: report, then checkpoint again. */
		sum += selfckpt_generation();
		printf("gen=%u id=%ld fds=%d maps=%d sum=%ld\n", selfckpt_generation(),
		       selfckpt_last_id(), count_fds(), count_maps(), sum);
		fflush(stdout);
	}
}
C
cc -O1 -I"$ROOT/include" -o endure endure.c -L"$B" -lselfckpt -Wl,-rpath,"$B"
# stdout a pipe to the outside: each restart's own stdout (not a file that
# would be reopened at its offset).
./endure "$WORK/e.img" </dev/null 2>&1 | cat >first.log
[ "${PIPESTATUS[0]}" -eq 0 ] || die "first checkpoint: $(cat first.log)"

: >gens.log
: >sizes.log
for i in $(seq "$cycles"); do
	stat -c %s e.img >>sizes.log
	"$sck" restart e.img </dev/null 2>restart.err | cat >>gens.log
	[ "${PIPESTATUS[0]}" -eq 0 ] || die "restart $i failed: $(cat restart.err)"
	[ ! -s restart.err ] || die "restart $i said: $(cat restart.err)"
done
stat -c %s e.img >>sizes.log

[ "$(wc -l <gens.log)" -eq "$cycles" ] || die "expected $cycles reports, got $(wc -l <gens.log)"
awk -v n="$cycles" '
	{
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		if (v["gen"] != NR) { print "generation " v["gen"] " at restart " NR; bad = 1; exit }
		if (v["id"] != NR) { print "checkpoint id " v["id"] " at restart " NR; bad = 1; exit }
		want += NR
		if (v["sum"] != want) { print "sum " v["sum"] ", expected " want; bad = 1; exit }
		if (NR == 1) { fds = v["fds"]; maps = v["maps"] }
		else if (v["fds"] != fds || v["maps"] != maps) {
			print "restart " NR ": " v["fds"] " fds, " v["maps"] " mappings; first: " fds ", " maps
			bad = 1; exit
		}
	}
	END { exit bad }' gens.log >check.out || die "$(cat check.out)"
read -r fds maps < <(sed -n '1s/.*fds=\([0-9]*\) maps=\([0-9]*\).*/\1 \2/p' gens.log)
first=$(sed -n 2p sizes.log)
last=$(tail -n 1 sizes.log)
max=$(sort -n sizes.log | tail -n 1)
[ "$max" -le $((first + 65536)) ] ||
	die "image grew: $first bytes after the first restart, up to $max (last $last)"
echo "endure: $cycles restarts in a row, each checkpointing again: $fds fds and $maps mappings in every generation, image $first -> $last bytes (max $max) ($(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s)"

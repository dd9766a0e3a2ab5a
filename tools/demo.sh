#!/bin/bash
# demo.sh BUILD - the main job of libselfckpt, shown with examples/heat.c:
# a simulation runs uninterrupted; then it runs again, checkpoints itself
# after step 200, is killed with SIGKILL well after that, and is restarted
# from the image; both runs must end with the same output, byte for byte.
set -eu
# Start from a clean descriptor table: a descriptor inherited from whatever
# launched us (a pipe to an IDE, say) would be part of the process, and
# selfckpt rightly refuses to checkpoint a pipe to another process.
for fd in /proc/$$/fd/*; do
	fd=${fd##*/}
	[ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null || true
done
B=${1:-build}
heat=$B/examples/heat
sck=$B/selfckpt
work=$(mktemp -d "${TMPDIR:-/tmp}/selfckpt-demo.XXXXXX")
args="--size 160 --steps 600 --progress 100"
say() { printf '\n== %s\n' "$*"; }
indent() { sed 's/^/   /'; }

say "1. An uninterrupted run of the heat simulation ($args)"
# Output through a pipe, as in a batch job: the restarted process will
# write to the restart command's own stdout.
"$heat" $args --out "$work/reference.txt" 2>&1 | indent

say "2. The same run, checkpointing after step 200, killed with SIGKILL after step 400"
mkfifo "$work/fifo"
cat "$work/fifo" | tee "$work/first.log" | indent &
reader=$!
"$heat" $args --slow 5 --out "$work/run.txt" --checkpoint-at 200 \
	--image "$work/heat.img" >"$work/fifo" 2>&1 &
pid=$!
tries=0
until grep -q "^step 400 " "$work/first.log" 2>/dev/null; do
	tries=$((tries + 1))
	if [ $tries -gt 600 ] || ! kill -0 $pid 2>/dev/null; then
		echo "demo: the first run did not get to step 400" >&2
		exit 1
	fi
	sleep 0.05
done
kill -KILL $pid
wait $pid 2>/dev/null || true
wait $reader 2>/dev/null || true
echo "   ... killed (pid $pid) after step 400; $(wc -l <"$work/run.txt") result lines written so far"

say "3. What the image holds: selfckpt info $work/heat.img"
"$sck" info "$work/heat.img" | sed -n '1,12p;/^totals/p' | indent

say "4. selfckpt restart $work/heat.img"
"$sck" restart "$work/heat.img" 2>&1 | tee "$work/restart.log" | indent

say "5. Results"
ref=$(grep '^final:' "$work/first.log" "$work/restart.log" | tail -n 1 | sed 's/^[^:]*://')
orig=$("$heat" $args --out /dev/null 2>&1 | grep '^final:')
echo "   uninterrupted run: $orig"
echo "   restarted run:     $ref"
if [ "$orig" = "$ref" ] && cmp -s "$work/reference.txt" "$work/run.txt"; then
	echo "   The final checksums match and the output files are byte-identical"
	echo "   ($(wc -c <"$work/run.txt") bytes). Files are in $work."
else
	echo "   MISMATCH: see $work" >&2
	exit 1
fi

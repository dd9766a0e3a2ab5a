#!/bin/sh
# exports.sh SO - compare the dynamic symbols SO defines with
# libselfckpt/exports.map; print the differences and fail if there are any.
set -eu
so=$1
map=$(dirname "$0")/../libselfckpt/exports.map
# Names listed in the map's global part, one per line, comments removed.
want=$(sed -e 's:/\*.*\*/::' -e '/\/\*/,/\*\//d' "$map" |
	sed -n '/global:/,/local:/p' | tr -d ' \t;' | grep -vE '^(global:|local:|)$')
have=$(nm -D --defined-only "$so" | awk '$2 ~ /[TDBRWVi]/ {print $3}' | sort -u)
status=0
for sym in $have; do
	ok=
	for pat in $want; do
		# shellcheck disable=SC2254
		case $sym in $pat) ok=1 ;; esac
	done
	[ -n "$ok" ] || { echo "exported but not in exports.map: $sym"; status=1; }
done
for pat in $want; do
	case $pat in *'*'*) continue ;; esac
	echo "$have" | grep -qx "$pat" || { echo "in exports.map but not exported: $pat"; status=1; }
done
exit $status

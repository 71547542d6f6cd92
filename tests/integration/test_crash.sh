#!/bin/bash
# test_crash.sh HYBRIDDB
#
# DESIGN.md §1: "killing the daemon (kill -9) never loses a closed document"
# and "readers never see a half-written document".
#
# Each round mounts a fresh database and runs three loops at once:
#   - ingestion: up to 3,000 new documents c/<i>.json, one cp each;
#   - overwrite: c2/counter.json rewritten with version 1, 2, 3, ...;
#   - editor-style replace: c2/.renamed.tmp written, then mv over c2/renamed.json
#     (the temp file is not a document: after the crash it may be empty,
#     created but never closed, or hold one whole version).
# A loop appends a number to its acknowledged log only after cp (which checks
# close()) or mv succeeded.  After ~1.5 s the daemon gets kill -9, the dead
# mount is detached (fusermount3 -uz) and the database remounted.  Then:
#   - every acknowledged document is present and byte-identical;
#   - every present document is byte-identical to what was written for its
#     id, and was either acknowledged or the single one in flight;
#   - counter.json / renamed.json hold a version >= the last acknowledged one
#     and <= the last attempted one, byte-identical;
#   - a new document open for writing (never closed) at the kill is absent,
#     and a document reopened with O_TRUNC and partly rewritten keeps its
#     committed version;
#   - .stats documents/collections equal what is really there (the counters
#     survive the crash); the file system keeps working; a clean unmount
#     exits 0 and `hybriddb check` passes.
# Round 1 uses the defaults (sync=periodic), round 2 sync=never with a small
# MemTable so that flushes and compactions run while the daemon dies.
. "$(dirname "$0")/lib.sh"
hdb_setup "${1:-}"

N=3000
SRC=$HDB_TMP/src
mkdir -p "$SRC/d" "$SRC/v"
awk -v dir="$SRC" -v n=$N 'BEGIN {
	for (i = 1; i <= n; i++) {
		f = sprintf("%s/d/%d.json", dir, i)
		printf("{\"id\": %d, \"body\": \"", i) > f
		for (k = 0; k < (i * 53) % 3000; k += 20)
			printf("%020d", i) > f
		print "\"}" > f
		close(f)
		f = sprintf("%s/v/%d.json", dir, i)
		printf("{\"version\": %d, \"fill\": \"%0*d\"}\n", i, 200 + (i * 17) % 700, i) > f
		close(f)
	}
}'

ingest() {	# mnt log: create c/<i>.json one by one
	local i
	for ((i = 1; i <= N; i++)); do
		echo "$i" >>"$2.try"
		cp "$SRC/d/$i.json" "$1/c/$i.json" 2>/dev/null || return 0
		echo "$i" >>"$2"
	done
}

overwrite() {	# mnt log: rewrite c2/counter.json
	local v
	for ((v = 1; v <= N; v++)); do
		echo "$v" >>"$2.try"
		cp "$SRC/v/$v.json" "$1/c2/counter.json" 2>/dev/null || return 0
		echo "$v" >>"$2"
	done
}

replace() {	# mnt log: write a temp file, rename it over c2/renamed.json
	local v
	for ((v = 1; v <= N; v++)); do
		echo "$v" >>"$2.try"
		cp "$SRC/v/$v.json" "$1/c2/.renamed.tmp" 2>/dev/null || return 0
		mv -f "$1/c2/.renamed.tmp" "$1/c2/renamed.json" 2>/dev/null || return 0
		echo "$v" >>"$2"
	done
}

lines() { [ -f "$1" ] && wc -l <"$1" || echo 0; }
last() { [ -s "$1" ] && tail -n 1 "$1" || echo 0; }

# check_version file acked-log what: file holds version v, last-acked <= v <= last-tried.
check_version() {
	local f=$1 acked tried v
	acked=$(last "$2")
	tried=$(last "$2.try")
	if [ ! -e "$f" ]; then
		[ "$acked" -eq 0 ] || fail "$3: $f missing although version $acked was acknowledged"
		return 0
	fi
	v=$(jq -r .version "$f" 2>/dev/null) || v=""
	[[ "$v" =~ ^[0-9]+$ ]] || fail "$3: $f is torn (size $(stat -c %s "$f")): $(head -c 80 "$f")"
	[ "$v" -ge "$acked" ] 2>/dev/null || fail "$3: $f holds version $v, older than acknowledged $acked"
	[ "$v" -le "$tried" ] || fail "$3: $f holds version $v, never written (last tried $tried)"
	cmp -s "$SRC/v/$v.json" "$f" || fail "$3: $f (version $v) is not byte-identical to what was written"
}

round() {	# name [mount options...]
	local name=$1 data=$HDB_TMP/data-$1 mnt=$HDB_TMP/mnt-$1 logs=$HDB_TMP/$1 start pids=() p
	local acked present extra f i last_try fd_new fd_held
	shift
	mkdir -p "$mnt" "$logs"
	hdb_mount "$data" "$mnt" "$@"
	mkdir "$mnt/c" "$mnt/c2"
	cp "$SRC/v/1.json" "$mnt/c2/held.json" || fail "$name: cp held.json failed"
	ingest "$mnt" "$logs/ingest" &
	pids+=($!)
	overwrite "$mnt" "$logs/overwrite" &
	pids+=($!)
	replace "$mnt" "$logs/replace" &
	pids+=($!)

	# Kill after ~1.5 s with something acknowledged, at the latest at 2/3
	# of the ingestion so the kill always lands mid-ingestion.
	start=$(date +%s%N)
	while :; do
		acked=$(lines "$logs/ingest")
		if [ "$acked" -ge $((N * 2 / 3)) ]; then break; fi
		if [ $(($(date +%s%N) - start)) -ge 1500000000 ] && [ "$acked" -ge 20 ]; then break; fi
		if [ $(($(date +%s%N) - start)) -ge 60000000000 ]; then
			fail "$name: only $acked documents acknowledged after 60 s"
		fi
		sleep 0.05
	done
	# Two documents open for writing, never closed, when the daemon dies:
	# a new one (must not appear) and a rewrite with O_TRUNC (the old
	# version must stay).
	exec {fd_new}>"$mnt/c2/open-new.json"
	printf '{"partial": ' >&"$fd_new"
	exec {fd_held}>"$mnt/c2/held.json"
	printf '{"version": 99999, "partial' >&"$fd_held"
	hdb_kill9 "$mnt"
	exec {fd_new}>&- {fd_held}>&-
	for p in "${pids[@]}"; do wait "$p" || true; done
	acked=$(lines "$logs/ingest")
	note "$name: killed with $acked documents acknowledged ($(lines "$logs/overwrite") overwrites, $(lines "$logs/replace") renames)"
	[ "$acked" -lt "$N" ] || fail "$name: ingestion finished before the kill; the test proves nothing"

	hdb_mount "$data" "$mnt" "$@"

	# Every acknowledged document is there, byte for byte.
	while read -r i; do
		[ -e "$mnt/c/$i.json" ] || fail "$name: acknowledged document c/$i.json lost after kill -9"
		cmp -s "$SRC/d/$i.json" "$mnt/c/$i.json" ||
			fail "$name: acknowledged document c/$i.json differs after kill -9 (size $(stat -c %s "$mnt/c/$i.json"))"
	done <"$logs/ingest"

	# Every present document is whole, and acknowledged or the one in flight.
	last_try=$(last "$logs/ingest.try")
	present=0 extra=0
	for f in "$mnt/c"/*; do
		[ -e "$f" ] || continue
		present=$((present + 1))
		i=$(basename "$f" .json)
		[[ "$i" =~ ^[0-9]+$ ]] && [ "$i" -le "$last_try" ] || fail "$name: unexpected file c/$(basename "$f") after kill -9"
		cmp -s "$SRC/d/$i.json" "$f" || fail "$name: torn document c/$i.json (size $(stat -c %s "$f"), expected $(stat -c %s "$SRC/d/$i.json"))"
		if [ "$i" -gt "$acked" ]; then extra=$((extra + 1)); fi
	done
	[ "$extra" -le 1 ] || fail "$name: $extra documents present beyond the acknowledged ones (at most the one in flight)"
	[ "$present" -ge "$acked" ] || fail "$name: only $present documents present, $acked acknowledged"

	check_version "$mnt/c2/counter.json" "$logs/overwrite" "$name overwrite"
	check_version "$mnt/c2/renamed.json" "$logs/replace" "$name rename"
	# Checked last (reported after both rounds) so they hide nothing else.
	[ ! -e "$mnt/c2/open-new.json" ] ||
		PROBLEMS+=("$name: c2/open-new.json, created and written but never closed before kill -9, is present after remount (size $(stat -c %s "$mnt/c2/open-new.json"))")
	cmp -s "$SRC/v/1.json" "$mnt/c2/held.json" ||
		PROBLEMS+=("$name: c2/held.json, reopened with O_TRUNC and never closed before kill -9, lost its committed version: $(head -c 60 "$mnt/c2/held.json")")
	for f in "$mnt/c2"/* "$mnt/c2"/.[!.]*; do
		[ -e "$f" ] || continue
		case $(basename "$f") in
		counter.json | renamed.json | held.json | open-new.json) ;;
		.renamed.tmp)	# not a document: created (empty) or one whole version
			[ ! -s "$f" ] || cmp -s "$SRC/v/$(jq -r .version "$f" 2>/dev/null).json" "$f" ||
				fail "$name: torn temp file .renamed.tmp: $(head -c 80 "$f")" ;;
		*) fail "$name: unexpected file c2/$(basename "$f")" ;;
		esac
	done

	# The superblock counters were committed with each change: .stats agrees.
	assert_eq "$(find "$mnt" -name '*.json' -type f | wc -l)" \
		"$(jq -r .documents "$mnt/.stats")" "$name: .stats documents after recovery"
	assert_eq 2 "$(jq -r .collections "$mnt/.stats")" "$name: .stats collections after recovery"

	# Still a working file system.
	cp "$SRC/d/$N.json" "$mnt/c/after.json" || fail "$name: cannot write after recovery"
	cmp -s "$SRC/d/$N.json" "$mnt/c/after.json" || fail "$name: write after recovery reads back wrong"
	hdb_umount "$mnt"
	"$HDB_BIN" check "$data" >"$logs/check.out" 2>&1 ||
		fail "$name: hybriddb check after recovery failed: $(tail -5 "$logs/check.out")"
}

PROBLEMS=()
round periodic
round never -o sync=never,memtable_size=256k
[ "${#PROBLEMS[@]}" -eq 0 ] || fail "$(printf '\n  %s' "${PROBLEMS[@]}")"
pass

#!/usr/bin/env bash
# bench-query.sh — JSON Lines import and queries, measured side by side.
#
# One run, on one disk, with N generated documents of ~300 bytes:
#   ingest  `cp -r` of the documents as files into a plain directory of the
#           host file system, against `cp docs.jsonl MNT/c/.import` (one
#           atomic batch) into a hybriddb mount;
#   scan    an unindexed equality query (.where/age=30/.count), which
#           reads every document: JSON bytes per second, from the MemTable
#           right after the import and from tables after `compact`;
#   index   mkdir .indexes/age over the N documents;
#   lookup  the same query through the index (.count: no document read),
#           and a query with one result (ls .where/id=K);
#   export  cat .export.jsonl (every document, streamed).
# It prints a Markdown table of times, rates and the ratios the issue asks
# for (import >= 200k documents/s and >= 5x faster than cp; an indexed
# equality query <= 10 ms plus its results; a scan >= 200 MB/s).  A
# benchmark, not a test: it checks the answers (counts against awk) but
# asserts no time.
#
# Usage: scripts/bench-query.sh [--quick] [--dir DIR] [--keep] [N]
#   N          documents (default 1000000; 100000 with --quick)
#   --dir DIR  work directory parent (default $TMPDIR or /tmp)
#   --keep     keep the work directory
# Environment: BUILD_DIR (default build-bench, shared with bench-fs.sh).
set -euo pipefail
export LC_ALL=C

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-build-bench}
case $build in /*) ;; *) build=$repo/$build ;; esac
n='' quick=0 keep=0 parent=${TMPDIR:-/tmp} work='' pid=''

log() { printf 'bench-query: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--dir) parent=${2:?--dir needs a directory}; shift ;;
	--keep) keep=1 ;;
	-h | --help) sed -n '/^# Usage/,/^# Environment/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	[0-9]*) n=$1 ;;
	*) die "unknown argument $1" ;;
	esac
	shift
done
[ -n "$n" ] || n=$((quick ? 100000 : 1000000))

cleanup() {
	if [ -n "$work" ] && awk -v m="$work/mnt" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts; then
		fusermount3 -u "$work/mnt" 2>/dev/null || fusermount3 -uz "$work/mnt" || true
	fi
	[ -z "$pid" ] || wait "$pid" 2>/dev/null || true
	[ -n "$work" ] || return 0
	if [ "$keep" = 1 ]; then log "kept $work"; else rm -rf --one-file-system "$work"; fi
}
trap cleanup EXIT

if [ ! -f "$build/build.ninja" ]; then
	meson setup --buildtype=release -Dtests=false "$build" "$repo" >&2
fi
ninja -C "$build" >&2
hdb=$build/mount/hybriddb
work=$(mktemp -d "$parent/hdb-bench-query.XXXXXX")

now() { echo "$EPOCHREALTIME"; }
since() { awk -v s="$1" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.4f", e - s }'; }

log "generating $n documents"
awk -v n="$n" -v out="$work/docs.jsonl" -v dir="$work/src" 'BEGIN {
	srand(42)
	system("mkdir -p " dir)
	nc = split("Paris Lyon Berlin Madrid Rome Oslo Lisbon Vienna", city, " ")
	nw = split("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor " \
	           "incididunt ut labore et dolore magna aliqua", word, " ")
	for (i = 1; i <= n; i++) {
		bio = word[1 + int(rand() * nw)]
		while (length(bio) < 110)
			bio = bio " " word[1 + int(rand() * nw)]
		body = sprintf("\"id\":%d,\"name\":\"user-%07d\",\"email\":\"user%d@example.com\",\"age\":%d," \
		               "\"city\":\"%s\",\"active\":%s,\"score\":%.3f,\"tags\":[\"t%d\",\"t%d\"],\"bio\":\"%s\"}",
		               i, i, i, 18 + int(rand() * 60), city[1 + int(rand() * nc)],
		               rand() < 0.5 ? "true" : "false", rand() * 100, int(rand() * 20), int(rand() * 20), bio)
		printf("{\"_id\":\"%07d\",%s\n", i, body) > out
		f = sprintf("%s/%07d.json", dir, i)
		printf("{%s\n", body) > f
		close(f)
	}
}'
bytes=$(awk '{ s += length($0) - 15 } END { print s }' "$work/docs.jsonl")   # the documents, without _id
want_age30=$(grep -c '"age":30,' "$work/docs.jsonl")

# ---- plain: cp -r of the files, from a warm page cache
(cd "$work/src" && find . -type f -print0 | xargs -0 cat >/dev/null)
sync
mkdir -p "$work/plain"
t=$(now); cp -r "$work/src" "$work/plain/c"; sync; t_cp=$(since "$t")
log "plain cp -r: $t_cp s"
rm -rf "$work/plain"

# ---- mount
mkdir -p "$work/mnt"
"$hdb" mount "$work/data" "$work/mnt" -f 2>"$work/daemon.log" &
pid=$!
for _ in $(seq 200); do mountpoint -q "$work/mnt" && break; sleep 0.05; done
mountpoint -q "$work/mnt" || die "the mount did not come up: $(tail -5 "$work/daemon.log")"
mkdir "$work/mnt/c"
cat "$work/docs.jsonl" >/dev/null
t=$(now); cp "$work/docs.jsonl" "$work/mnt/c/.import"; echo sync >"$work/mnt/.control"; t_imp=$(since "$t")
log "import: $t_imp s"
got=$(ls -f "$work/mnt/c" | grep -c '\.json$') || true
[ "$got" = "$n" ] || die "the mount holds $got documents, not $n"

count() {	# path: time of cat path/.count, checks the answer
	local t c
	t=$(now); c=$(cat "$1/.count"); T=$(since "$t")
	[ "$c" = "$want_age30" ] || die "$1: $c matches, awk finds $want_age30"
}
count "$work/mnt/c/.where/age=30"; t_scan_mem=$T
echo compact >"$work/mnt/.control"
count "$work/mnt/c/.where/age=30"; t_scan_first=$T   # maps the new tables
count "$work/mnt/c/.where/age=30"; t_scan_tab=$T
t=$(now); mkdir "$work/mnt/c/.indexes/age"; t_idx=$(since "$t")
count "$work/mnt/c/.where/age=30"; t_eq_count=$T
count "$work/mnt/c/.where/age=30"; t_eq_count=$T    # warm
k=$((n / 2 + 1))
t=$(now); one=$(ls "$work/mnt/c/.where/id=$k"); t_eq_one=$(since "$t")   # unindexed field: a scan
mkdir "$work/mnt/c/.indexes/id"
t=$(now); one=$(ls "$work/mnt/c/.where/id=$k"); t_eq_one_idx=$(since "$t")
[ "$one" = "$(printf '%07d.json' "$k")" ] || die "id=$k answered '$one'"
t=$(now); lines=$(wc -l <"$work/mnt/c/.export.jsonl"); t_exp=$(since "$t")
[ "$lines" = "$n" ] || die "the export has $lines lines, not $n"
fusermount3 -u "$work/mnt"
wait "$pid" || die "the daemon exited with an error"
pid=''

mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
rate() { awk -v a="$1" -v t="$2" 'BEGIN { printf "%.0f", a / t }'; }
echo "## Queries and JSON Lines: $n documents, $mb MiB of JSON"
echo
echo "| measure | time (s) | rate | target |"
echo "| --- | ---: | ---: | --- |"
echo "| cp -r of the files into a plain directory | $t_cp | $(rate "$n" "$t_cp") docs/s | |"
echo "| cp docs.jsonl MNT/c/.import | $t_imp | $(rate "$n" "$t_imp") docs/s | >= 200000 docs/s |"
echo "| import speed-up over cp -r | | $(awk -v a="$t_cp" -v b="$t_imp" 'BEGIN { printf "%.1fx", a / b }') | >= 5x |"
echo "| unindexed age=30, MemTable | $t_scan_mem | $(rate "$mb" "$t_scan_mem") MiB/s | >= 200 MB/s |"
echo "| unindexed age=30, tables, first pass after compact | $t_scan_first | $(rate "$mb" "$t_scan_first") MiB/s | |"
echo "| unindexed age=30, tables | $t_scan_tab | $(rate "$mb" "$t_scan_tab") MiB/s | >= 200 MB/s |"
echo "| mkdir .indexes/age | $t_idx | $(rate "$n" "$t_idx") docs/s | |"
echo "| indexed age=30 .count ($want_age30 matches) | $t_eq_count | | <= 0.010 s + results |"
echo "| unindexed id=K, 1 match (ls) | $t_eq_one | | |"
echo "| indexed id=K, 1 match (ls) | $t_eq_one_idx | | <= 0.010 s + results |"
echo "| cat .export.jsonl | $t_exp | $(rate "$mb" "$t_exp") MiB/s | |"

#!/usr/bin/env bash
# bench-engine.sh — build hdb-bench in release mode and run it: hybriddb
# against LevelDB, RocksDB and SQLite on identical keys and values.
#
# Usage: scripts/bench-engine.sh [hdb-bench options]
#   e.g. scripts/bench-engine.sh --num 200000 --engines hybriddb,leveldb
# Every argument goes to hdb-bench (see `--help`).  The machine description
# and the Markdown table go to stdout; progress goes to stderr.
#
# Environment: BUILD_DIR (default build-bench; relative to the repository).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/scripts/lib.sh"
build=${BUILD_DIR:-build-bench}
case $build in
/*) ;;
*) build=$repo/$build ;;
esac
packages=(meson ninja-build pkg-config zlib1g-dev libleveldb-dev librocksdb-dev libsqlite3-dev)

build_bench() {
	local opts=(-Dbench=true -Dtests=false --buildtype=release)
	cd "$repo"
	if [ -d "$build/meson-private" ]; then
		meson setup --reconfigure "$build" "${opts[@]}" >&2
	else
		meson setup "$build" "${opts[@]}" >&2
	fi
	ninja -C "$build" >&2
}

# The directory hdb-bench will put its databases under: --dir, else $TMPDIR.
bench_dir() {
	local dir=${TMPDIR:-/tmp} prev=
	local a
	for a in "$@"; do
		case $a in
		--dir=*) dir=${a#--dir=} ;;
		*) [ "$prev" = --dir ] && dir=$a ;;
		esac
		prev=$a
	done
	echo "$dir"
}

print_machine() {
	local dir=$1 model fs
	model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
	fs=$(df -PT "$dir" | awk 'NR == 2 { print $2 " on " $1 }')
	echo "## Machine"
	echo
	echo "- CPUs: $(nproc) x ${model:-unknown}"
	echo "- Memory: $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "- Kernel: $(uname -sr)"
	echo "- Bench directory: $dir ($fs)"
	echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
}

hdb_install_missing "${packages[@]}"
build_bench
print_machine "$(bench_dir "$@")"
exec "$build/scripts/bench/hdb-bench" "$@"

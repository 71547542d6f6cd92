#!/usr/bin/env bash
# Runs the stress test (tests/integration/test_stress.sh) for SECONDS:
# four workers doing create/overwrite/rename/unlink/read/readdir on one
# mount against a model while full compactions are forced; prints the
# number of operations done.  Needs root and /dev/fuse.
#
#   scripts/stress.sh SECONDS
#
# Environment: HYBRIDDB, the hybriddb binary to test (default: build it with
# ASan + UBSan in BUILD_DIR, default build-stress).
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -eq 1 ] && [[ $1 =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 SECONDS" >&2; exit 2; }

bin=${HYBRIDDB:-}
if [ -z "$bin" ]; then
	build=${BUILD_DIR:-build-stress}
	if [ ! -d "$build" ]; then
		meson setup "$build" -Dsanitize=true --buildtype=debugoptimized >/dev/null
	fi
	ninja -C "$build" mount/hybriddb >/dev/null
	bin=$build/mount/hybriddb
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
HDB_STRESS_SECONDS=$1 exec tests/integration/test_stress.sh "$bin"

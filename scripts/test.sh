#!/usr/bin/env bash
# Sets up a Debian machine and runs every test of hybriddb: a libFuzzer run
# of every parser, then unit tests, engine model/crash/corruption tests and
# integration tests on a real FUSE mount, all under AddressSanitizer +
# UndefinedBehaviorSanitizer with leak detection, after the engine's
# threaded tests under ThreadSanitizer (scripts/tsan.sh).  Ends with
# meson's summary (Ok / Fail counts).
#
#   scripts/test.sh [BUILD_DIR]       HDB_FUZZ_SECONDS=60: per fuzz target
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

packages=(meson ninja-build pkg-config gcc libc6-dev libfuse3-dev fuse3 zlib1g-dev
          libcmocka-dev jq rsync tar diffutils findutils util-linux python3)
hdb_install_missing "${packages[@]}"

build=${1:-build-test}
if [ -d "$build" ]; then
	meson configure "$build" -Dsanitize=true -Dtests=true >/dev/null
else
	meson setup "$build" -Dsanitize=true -Dtests=true --buildtype=debugoptimized
fi
ninja -C "$build"

# Every parser of untrusted bytes is fuzzed for a while on each run (clang's
# libFuzzer, its own build dir); a crash fails the run with its reproducer.
scripts/fuzz.sh all "${HDB_FUZZ_SECONDS:-60}"

# The engine's threaded tests under ThreadSanitizer (their own build dir,
# build-tsan); any report fails the run.
BUILD_DIR=build-tsan scripts/tsan.sh

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
exec meson test -C "$build" --print-errorlogs --num-processes 2

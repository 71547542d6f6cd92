#!/usr/bin/env bash
# Builds the engine and its concurrent unit tests with ThreadSanitizer in
# build-tsan and runs them; prints one line per data race (or other TSan
# report) with the frames that locate it, and meson's summary.
#
#   scripts/tsan.sh [TEST...]
#
# TEST names a meson test (default: skiplist cache db, and model when the
# build defines it); `unit` runs the whole unit suite.  Exits non-zero when
# a test fails or TSan reports anything.
#
# Environment: CC (default gcc; clang works too), BUILD_DIR (default
# build-tsan), TSAN_OPTIONS (added to the defaults below).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

cc=${CC:-gcc}
packages=(meson ninja-build pkg-config libc6-dev libfuse3-dev zlib1g-dev libcmocka-dev)
case $cc in
clang*) packages+=(clang libclang-rt-14-dev) ;;
*) packages+=(gcc libtsan2) ;;
esac
hdb_install_missing "${packages[@]}"

build=${BUILD_DIR:-build-tsan}
if [ -d "$build" ]; then
	meson configure "$build" -Dtsan=true -Dsanitize=false -Dfuzz=false -Dtests=true >/dev/null
else
	CC=$cc meson setup "$build" -Dtsan=true -Dsanitize=false -Dtests=true \
		--buildtype=debugoptimized >/dev/null
fi

tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
	tests=(skiplist cache db)
	if meson introspect "$build" --tests | grep -q '"name": "model"'; then
		tests+=(model)
	fi
fi
if [ "${tests[*]}" = unit ]; then
	ninja -C "$build"
	selection=(--suite unit)
else
	ninja -C "$build" "${tests[@]/#/tests/test_}"
	selection=("${tests[@]}")
fi

# Reports go on without stopping the test, so one run shows every race;
# TSan then makes the test exit 66, which meson counts as a failure.
export TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1 history_size=4 ${TSAN_OPTIONS:-}"
# TSan runs the model test 5-15 times slower; fewer operations still cover
# many flush and compaction cycles.
export HDB_MODEL_OPS=${HDB_MODEL_OPS:-50000}
rc=0
meson test -C "$build" --no-rebuild --print-errorlogs --num-processes 1 \
	--timeout-multiplier 10 "${selection[@]}" >"$build/tsan-run.txt" 2>&1 || rc=$?

log=$build/meson-logs/testlog.txt
reports=$(grep -c '^WARNING: ThreadSanitizer' "$log" || true)
echo "== ThreadSanitizer reports: $reports (full log: $log)"
# One line per report: its kind, then the top two frames of the two
# accesses (allocation and thread-creation stacks left out).
awk '
	/^WARNING: ThreadSanitizer/ {
		if (line != "") print line
		sub(/ \(pid=[0-9]+\)/, ""); line = $0; stacks = 0; next
	}
	/^SUMMARY: ThreadSanitizer/ { if (line != "") print line; line = ""; next }
	line != "" && /^ *#0 / { stacks++ }
	line != "" && stacks <= 2 && /^ *#[01] / { sub(/^ */, ""); sub(/ \(.*\)$/, ""); line = line " | " $0 }
	END { if (line != "") print line }
' "$log" | sort | uniq -c | sort -rn
echo "== meson"
sed -n '/^Ok:/,/^Timeout:/p' "$build/tsan-run.txt"
[ "$reports" -eq 0 ] || rc=1
exit $rc

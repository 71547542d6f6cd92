#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan +
# coverage) in build-fuzz and runs them.
#
#   scripts/fuzz.sh TARGET SECONDS
#
# TARGET is one of: wal batch block sst manifest json query csv schema
# control, or `all` (every target for SECONDS, FUZZ_JOBS of them at a
# time).  Each run starts from a copy of tests/fuzz/corpus/TARGET in a
# temporary directory, so the repository is
# never written (except build-fuzz).  Prints executions, executions/s and
# coverage per target.  Exits non-zero when a target crashed, leaked, timed
# out or ran out of memory, after printing the reproducer's path (kept) and
# the command that replays it.
#
# Environment: BUILD_DIR (default build-fuzz); FUZZ_JOBS, targets run at
# once (default: the number of CPUs); FUZZ_ARGS, extra libFuzzer
# flags (e.g. "-max_len=65536"); FUZZ_KEEP=1 keeps every work dir (the
# grown corpus is in its corpus/, e.g. to merge into the seeds with -merge=1).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

targets_all=(wal batch block sst manifest json query csv schema control)

usage() {
	local IFS='|'
	echo "usage: $0 {${targets_all[*]}|all} SECONDS" >&2
	exit 2
}

[ $# -eq 2 ] || usage
target=$1
seconds=$2
[[ $seconds =~ ^[1-9][0-9]*$ ]] || usage
if [ "$target" = all ]; then
	targets=("${targets_all[@]}")
else
	[[ " ${targets_all[*]} " == *" $target "* ]] || usage
	targets=("$target")
fi

# libFuzzer's runtime (libclang_rt.fuzzer*.a) comes with libclang-rt-14-dev;
# fuse3 is needed because configuring the project looks for it.
packages=(meson ninja-build pkg-config clang libclang-rt-14-dev libc6-dev zlib1g-dev libfuse3-dev)
hdb_install_missing "${packages[@]}"

build=${BUILD_DIR:-build-fuzz}
if [ -d "$build" ]; then
	meson configure "$build" -Dfuzz=true -Dtests=false -Dsanitize=false -Dtsan=false >/dev/null
else
	CC=clang meson setup "$build" -Dfuzz=true -Dtests=false --buildtype=debugoptimized >/dev/null
fi
ninja -C "$build" "${targets[@]/#/tests/fuzz/fuzz_}"

# run_one TARGET: fuzzes one target; its summary line goes to
# $results/TARGET, and its report (on failure) to standard output.
run_one() {
	local t=$1 exe work rc runs speed cov units artifacts a
	exe=$build/tests/fuzz/fuzz_$t
	work=$(mktemp -d "${TMPDIR:-/tmp}/hdbfuzz-run-$t.XXXXXX")
	mkdir "$work/corpus" "$work/artifacts" "$work/tmp"
	if [ -d "tests/fuzz/corpus/$t" ]; then
		cp -r "tests/fuzz/corpus/$t/." "$work/corpus/"
	fi
	echo "== fuzz_$t for ${seconds}s (work dir $work)"
	rc=0
	# shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
	TMPDIR=$work/tmp "$exe" -max_total_time="$seconds" -timeout=25 -print_final_stats=1 \
		-artifact_prefix="$work/artifacts/" ${FUZZ_ARGS:-} "$work/corpus" \
		>"$work/log" 2>&1 || rc=$?

	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log")
	cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -1 | cut -d' ' -f2)
	units=$(find "$work/corpus" -type f | wc -l)
	artifacts=$(find "$work/artifacts" -type f | sort)
	if [ "$rc" -ne 0 ] || [ -n "$artifacts" ]; then
		printf '%-9s FAILED (exit %s) after %s runs\n' "$t" "$rc" "${runs:-?}" >"$results/$t"
		{
			echo "== fuzz_$t FAILED"
			# The report, without libFuzzer's and libc's own frames.
			grep -E '^(==[0-9]+==ERROR|SUMMARY|    #[0-9]+ )' "$work/log" |
				grep -vE 'fuzzer::|__sanitizer_print|pthread_kill|raise\.c|abort\.c|libc_start|in _start|libc\.so' |
				head -25 || true
			echo "log: $work/log"
			for a in $artifacts; do
				echo "reproducer: $a"
				echo "replay with: $exe $a"
			done
		} >"$results/$t.report"
		# The work dir stays: it holds the reproducer.
	else
		printf '%-9s ok  %10s runs %8s exec/s  cov %6s  corpus %5s\n' \
			"$t" "${runs:-?}" "${speed:-?}" "${cov:-?}" "$units" >"$results/$t"
		[ "${FUZZ_KEEP:-0}" = 1 ] || rm -rf "$work"
	fi
}

# Targets run FUZZ_JOBS at a time (default: one per CPU); each still gets
# SECONDS of its own.
jobs=${FUZZ_JOBS:-$(nproc)}
results=$(mktemp -d "${TMPDIR:-/tmp}/hdbfuzz-results.XXXXXX")
running=0
for t in "${targets[@]}"; do
	if [ "$running" -ge "$jobs" ]; then
		wait -n || true
		running=$((running - 1))
	fi
	run_one "$t" &
	running=$((running + 1))
done
wait

failed=0
summary=()
for t in "${targets[@]}"; do
	if [ -e "$results/$t.report" ]; then
		failed=1
		cat "$results/$t.report"
	fi
	summary+=("$(cat "$results/$t" 2>/dev/null || printf '%-9s FAILED (no result)' "$t")")
	[ -e "$results/$t" ] || failed=1
done
rm -rf "$results"

echo "== summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
exit $failed

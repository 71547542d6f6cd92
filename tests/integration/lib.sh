# shellcheck shell=bash
# lib.sh — shared helpers for the hybriddb integration tests.
#
# Sourced (never run) by tests/integration/test_*.sh:
#
#	. "$(dirname "$0")/lib.sh"
#	hdb_setup "$@"			# $1 or $HYBRIDDB: the hybriddb binary
#	hdb_mount "$DATA" "$MNT" -o sync=periodic
#	...				# assertions; fail "message" on error
#	hdb_umount "$MNT"		# checks that the daemon exited 0
#	pass
#
# Guarantees: everything a test creates lives in one mktemp -d directory
# ($HDB_TMP); an EXIT trap always unmounts every mount point the test made
# (fusermount3 -u, then -uz), kills the daemons it started (by pid) and
# removes the directory (--one-file-system, so a mount that would not go
# away is never descended into).  Exit codes: 0 pass, 1 fail, 77 skip
# (meson's convention).  Set HDB_KEEP_TMP=1 to keep the directory.

set -euo pipefail

HDB_TEST=$(basename "$0" .sh)
HDB_TMP=""
HDB_BIN=""
HDB_PIDS=()		# every daemon pid this test started
HDB_MOUNTS=()		# every FUSE mount point this test mounted
HDB_PLAIN_MOUNTS=()	# other mounts (tmpfs) this test made, unmounted last
declare -A HDB_PID_OF=()	# mount point -> pid of its daemon
declare -A HDB_ADOPTED=()	# pids that are not our children (no exit status)
HDB_LAST_LOG=""
HDB_ENV_SIGDFL=(env)

# Set by hdb_setup: the conventional paths of a test.
export DATA=""
export MNT=""

note() { printf '%s: %s\n' "$HDB_TEST" "$*" >&2; }

hdb_dump_logs() {
	local f
	[ -n "$HDB_TMP" ] && [ -d "$HDB_TMP" ] || return 0
	for f in "$HDB_TMP"/daemon*.log; do
		[ -s "$f" ] || continue
		printf -- '--- %s (last 40 lines) ---\n' "$(basename "$f")" >&2
		tail -n 40 "$f" >&2
	done
}

fail() {
	printf 'FAIL: %s: %s\n' "$HDB_TEST" "$*" >&2
	hdb_dump_logs
	exit 1
}

skip() {
	printf 'SKIP: %s: %s\n' "$HDB_TEST" "$*" >&2
	exit 77
}

pass() {
	printf 'PASS: %s\n' "$HDB_TEST" >&2
	exit 0
}

# True when $1 is a mount point in /proc/self/mounts (works on a mount whose
# daemon is dead, where stat(2) would fail with ENOTCONN).
hdb_is_mounted() {
	awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/self/mounts
}

hdb_unmount_quiet() {
	local mnt=$1
	hdb_is_mounted "$mnt" || return 0
	fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" 2>/dev/null || true
}

# True while pid runs (a zombie, exited but not yet reaped, counts as gone).
hdb_pid_alive() {
	local st
	kill -0 "$1" 2>/dev/null || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

hdb_wait_pid_exit() {	# pid timeout_s: 0 once the pid is gone
	local pid=$1 deadline=$((SECONDS + $2))
	while hdb_pid_alive "$pid"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
	return 0
}

hdb_cleanup() {
	local rc=$? m p
	trap - EXIT INT TERM
	set +e
	# Helper loops this test put in the background (not the daemons).
	for p in $(jobs -p); do
		[[ " ${HDB_PIDS[*]} " == *" $p "* ]] || kill -TERM "$p" 2>/dev/null
	done
	for m in "${HDB_MOUNTS[@]}"; do
		hdb_unmount_quiet "$m"
	done
	for p in "${HDB_PIDS[@]}"; do
		hdb_pid_alive "$p" || continue
		hdb_wait_pid_exit "$p" 10 && continue
		kill -TERM "$p" 2>/dev/null
		hdb_wait_pid_exit "$p" 5 && continue
		kill -KILL "$p" 2>/dev/null
	done
	for m in "${HDB_MOUNTS[@]}"; do
		hdb_is_mounted "$m" && fusermount3 -uz "$m" 2>/dev/null
	done
	for m in "${HDB_PLAIN_MOUNTS[@]}"; do
		hdb_is_mounted "$m" && { umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; }
	done
	if [ -n "$HDB_TMP" ] && [ -d "$HDB_TMP" ]; then
		if [ "${HDB_KEEP_TMP:-0}" = 1 ]; then
			note "kept $HDB_TMP"
		else
			rm -rf --one-file-system -- "$HDB_TMP"
		fi
	fi
	exit "$rc"
}

# hdb_setup [hybriddb-binary]: resolve the binary, check FUSE is usable,
# make the temp dir and install the cleanup trap.
hdb_setup() {
	local bin=${1:-${HYBRIDDB:-}}
	[ -n "$bin" ] || { echo "usage: $0 PATH-TO-hybriddb (or env HYBRIDDB)" >&2; exit 2; }
	[ -x "$bin" ] || { echo "$0: $bin: not an executable" >&2; exit 2; }
	HDB_BIN=$(readlink -f "$bin")
	command -v fusermount3 >/dev/null || skip "fusermount3 not installed"
	[ -r /dev/fuse ] && [ -w /dev/fuse ] || skip "/dev/fuse not usable"
	trap hdb_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	HDB_TMP=$(mktemp -d /tmp/hdbit.XXXXXX)
	DATA=$HDB_TMP/data
	MNT=$HDB_TMP/mnt
	mkdir "$MNT"
	# An ASan build of the daemon: a report aborts it, so the exit status
	# (checked by hdb_umount) shows it.  Keep whatever the caller set.
	export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1}
	HDB_ENV_SIGDFL=(env)
	if env --default-signal=INT true 2>/dev/null; then
		HDB_ENV_SIGDFL=(env --default-signal=INT)
	fi
}

# wait_for_mount MNT [PID] [TIMEOUT_S]: succeed once MNT is a served FUSE
# mount, fail early if the daemon PID died, or after the timeout.
wait_for_mount() {
	local mnt=$1 pid=${2:-} deadline=$((SECONDS + ${3:-30}))
	while [ "$SECONDS" -lt "$deadline" ]; do
		if hdb_is_mounted "$mnt" && timeout 10 mountpoint -q "$mnt" 2>/dev/null; then
			return 0
		fi
		if [ -n "$pid" ] && ! hdb_pid_alive "$pid"; then
			return 1
		fi
		sleep 0.05
	done
	return 1
}

# hdb_mount DATA MNT [hybriddb mount options...]: start the daemon in the
# foreground (-f) as a background job, wait until the mount is served.
# Sets HDB_PID to the daemon's pid.  Each mount gets its own log file.
hdb_mount() {
	local data=$1 mnt=$2 n=0
	shift 2
	while [ -e "$HDB_TMP/daemon$n.log" ]; do n=$((n + 1)); done
	HDB_LAST_LOG=$HDB_TMP/daemon$n.log
	echo "+ hybriddb mount $data $mnt -f $*" >"$HDB_LAST_LOG"
	# A background job of a script starts with SIGINT ignored, and libfuse
	# keeps an ignored signal ignored: give the daemon default SIGINT.
	"${HDB_ENV_SIGDFL[@]}" "$HDB_BIN" mount "$data" "$mnt" -f "$@" >>"$HDB_LAST_LOG" 2>&1 &
	HDB_PID=$!
	HDB_PIDS+=("$HDB_PID")
	HDB_MOUNTS+=("$mnt")
	HDB_PID_OF[$mnt]=$HDB_PID
	if ! wait_for_mount "$mnt" "$HDB_PID" 30; then
		fail "hybriddb mount $data $mnt -f $* did not come up within 30 s"
	fi
}

# hdb_umount_rc MNT: unmount, wait for the daemon; its exit status goes to
# HDB_RC.  Fails the test only if the daemon does not exit.
hdb_umount_rc() {
	local mnt=$1 pid
	HDB_RC=0
	pid=${HDB_PID_OF[$mnt]:-}
	fusermount3 -u "$mnt" || fail "fusermount3 -u $mnt failed"
	[ -n "$pid" ] || return 0
	hdb_wait_pid_exit "$pid" 60 || fail "daemon $pid still running 60 s after unmounting $mnt"
	unset "HDB_PID_OF[$mnt]"
	[ -z "${HDB_ADOPTED[$pid]:-}" ] || return 0
	wait "$pid" || HDB_RC=$?
}

# hdb_umount MNT: unmount, wait for the daemon and require exit status 0
# (a clean shutdown: flushed, no sanitizer report, no leak).
hdb_umount() {
	hdb_umount_rc "$1"
	[ "$HDB_RC" -eq 0 ] || fail "daemon for $1 exited with status $HDB_RC after a clean unmount"
}

# hdb_find_daemon MNT: pid of the process whose command line has MNT as an
# argument (to find a daemon that forked itself into the background).  The
# temp paths are unique, so this matches only the process this test started.
hdb_find_daemon() {
	local d arg
	for d in /proc/[0-9]*; do
		[ -r "$d/cmdline" ] || continue
		while IFS= read -r -d '' arg; do
			if [ "$arg" = "$1" ]; then
				echo "${d#/proc/}"
				return 0
			fi
		done <"$d/cmdline" 2>/dev/null
	done
	return 1
}

# hdb_adopt_daemon MNT: after a daemonizing mount, find its pid and track it
# for cleanup and for hdb_umount.
hdb_adopt_daemon() {
	local pid
	pid=$(hdb_find_daemon "$1") || fail "no daemon process found for $1"
	HDB_PIDS+=("$pid")
	HDB_MOUNTS+=("$1")
	HDB_PID_OF[$1]=$pid
	HDB_ADOPTED[$pid]=1
}

# hdb_kill9 MNT: kill -9 the daemon of MNT and detach the dead mount.
hdb_kill9() {
	local mnt=$1 pid
	pid=${HDB_PID_OF[$mnt]:?no daemon for $1}
	[ -n "${HDB_ADOPTED[$pid]:-}" ] || disown "$pid"	# no "Killed" notice
	kill -KILL "$pid"
	hdb_wait_pid_exit "$pid" 10 || fail "daemon $pid survived kill -9"
	unset "HDB_PID_OF[$mnt]"
	fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" || fail "cannot detach dead mount $mnt"
	! hdb_is_mounted "$mnt" || fail "$mnt still mounted after kill -9 + fusermount3 -uz"
}

# Assertion helpers.  Each prints what was expected and what was found.
assert_eq() {	# expected actual what
	[ "$1" = "$2" ] || fail "$3: expected '$1', got '$2'"
}

assert_file_eq() {	# expected-file actual-file
	cmp -s -- "$1" "$2" || fail "content of $2 differs from $1 ($(cmp -- "$1" "$2" 2>&1 | head -1))"
}

assert_diff_r() {	# dir-a dir-b
	local out
	out=$(diff -r -- "$1" "$2" 2>&1) || fail "diff -r $1 $2:
$(printf '%s\n' "$out" | head -20)"
}

# run_rc EXPECTED what CMD...: run CMD (stdin closed, at most 60 s),
# require its exit status; its output is left in $HDB_TMP/out and err.
run_rc() {
	local want=$1 what=$2 rc=0
	shift 2
	timeout 60 "$@" </dev/null >"$HDB_TMP/out" 2>"$HDB_TMP/err" || rc=$?
	[ "$rc" -eq "$want" ] || fail "$what: '$*' exited $rc, expected $want; stdout: $(head -c 300 "$HDB_TMP/out"); stderr: $(head -c 300 "$HDB_TMP/err")"
}

# stats_get JQ-EXPR: evaluate a jq expression on $MNT/.stats.
stats_get() {
	local out
	out=$(jq -er "$1" "$MNT/.stats") || fail "jq '$1' on $MNT/.stats failed: $(head -c 400 "$MNT/.stats" 2>&1)"
	printf '%s\n' "$out"
}

# gen_tree DIR NDIRS NSUB NDOCS: a tree of NDIRS collections with NSUB
# sub-collections each and NDOCS small JSON documents in every
# sub-collection, written by one awk process (fast).  Sizes vary 60..~2100
# bytes; every 17th document carries "colour": "red".
gen_tree() {
	local dir=$1
	mkdir -p "$dir"
	awk -v dir="$dir" -v nd="$2" -v ns="$3" -v nf="$4" 'BEGIN {
		id = 0
		for (d = 0; d < nd; d++) {
			for (s = 0; s < ns; s++) {
				sub_dir = sprintf("%s/col%02d/sub%02d", dir, d, s)
				system("mkdir -p " sub_dir)
				for (f = 0; f < nf; f++) {
					id++
					path = sprintf("%s/doc%05d.json", sub_dir, id)
					pad = ""
					for (k = 0; k < (id * 37) % 2000; k += 50)
						pad = pad "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMN"
					colour = (id % 17 == 0) ? "red" : "blue"
					printf("{\"id\": %d, \"colour\": \"%s\", \"path\": \"col%02d/sub%02d\", \"pad\": \"%s\"}\n",
					       id, colour, d, s, pad) > path
					close(path)
				}
			}
		}
	}'
}

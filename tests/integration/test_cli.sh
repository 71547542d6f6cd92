#!/bin/bash
# test_cli.sh HYBRIDDB
#
# The hybriddb command: --version and --help (exit 0), usage errors (exit 2),
# mount options, daemon mode (the parent returns only once the mount is
# served), the fstab form `hybriddb DATA MNT -o <mount(8) options>` and a
# mount through mount(8) and mount.fuse (type fuse.hybriddb), clean
# shutdown on SIGTERM and SIGINT (exit 0, unmounted, nothing lost), -o ro,
# a second mount of the same DATA refused, and the offline subcommands
# check, stats and compact.  (import and export, also with --csv, are
# tested in test_query.sh and test_tables.sh.)
. "$(dirname "$0")/lib.sh"
hdb_setup "${1:-}"
SRC=$HDB_TMP/src
mkdir -p "$SRC"
printf '{"name":"Alice","age":30}\n' >"$SRC/alice.json"
printf '{"name":"Bob","age":41}\n' >"$SRC/bob.json"

# --- --version, --help, usage errors -------------------------------------------
run_rc 0 "--version" "$HDB_BIN" --version
grep -Eq '[0-9]+\.[0-9]+' "$HDB_TMP/out" || fail "--version prints no version: $(cat "$HDB_TMP/out")"
run_rc 0 "--help" "$HDB_BIN" --help
grep -q mount "$HDB_TMP/out" || fail "--help does not mention mount: $(head -c 300 "$HDB_TMP/out")"
grep -qF -- 'import --csv' "$HDB_TMP/out" || fail "--help does not mention import --csv: $(cat "$HDB_TMP/out")"
for sub in mount check stats compact import export find; do
	run_rc 0 "$sub --help" "$HDB_BIN" "$sub" --help
	[ -s "$HDB_TMP/out" ] || fail "$sub --help printed nothing on stdout"
done
run_rc 2 "no arguments" "$HDB_BIN"
run_rc 2 "unknown subcommand" "$HDB_BIN" frobnicate
run_rc 2 "mount without a mount point" "$HDB_BIN" mount "$DATA"
run_rc 2 "unknown --option" "$HDB_BIN" mount --frobnicate "$DATA" "$MNT"
run_rc 2 "import with an unknown flag" "$HDB_BIN" import --cvs "$DATA" c "$SRC/alice.json"
grep -qF 'unknown flag --cvs' "$HDB_TMP/err" || fail "import --cvs: $(head -c 300 "$HDB_TMP/err")"
run_rc 2 "export --csv without a collection" "$HDB_BIN" export --csv "$DATA"
for opt in sync=sometimes memtable_size=lots max_doc_size=-5 compression=maybe; do
	run_rc 2 "-o $opt" "$HDB_BIN" mount "$DATA" "$MNT" -f -o "$opt"
	if hdb_is_mounted "$MNT"; then
		HDB_MOUNTS+=("$MNT")
		fail "mount with -o $opt succeeded"
	fi
done

# --- every -o option at once; an empty DATA directory is created in --------
mkdir "$DATA"
hdb_mount "$DATA" "$MNT" -o sync=always,memtable_size=1M,cache_size=4M,max_doc_size=2M,compression=off,clone_fd,splice
mkdir "$MNT/users"
cp "$SRC/alice.json" "$MNT/users/" || fail "write with all options set failed"
assert_file_eq "$SRC/alice.json" "$MNT/users/alice.json"
[ -e "$DATA/CURRENT" ] || fail "no CURRENT file in $DATA (DESIGN.md: a CURRENT pointer)"

# --- a second mount of the same DATA is refused -----------------------------------
MNT2=$HDB_TMP/mnt2
mkdir "$MNT2"
run_rc 1 "second mount of the same DATA" "$HDB_BIN" mount "$DATA" "$MNT2" -f
hdb_is_mounted "$MNT2" && { HDB_MOUNTS+=("$MNT2"); fail "second mount of the same DATA succeeded"; }
[ "$(grep -c . "$HDB_TMP/err")" -eq 1 ] || fail "second mount: expected a one-line message, got: $(cat "$HDB_TMP/err")"
assert_file_eq "$SRC/alice.json" "$MNT/users/alice.json"
hdb_umount "$MNT"

# --- SIGTERM and SIGINT: clean shutdown, unmounted, nothing lost -------------------
for sig in TERM INT; do
	hdb_mount "$DATA" "$MNT"
	cp "$SRC/bob.json" "$MNT/users/bob-$sig.json" || fail "write before SIG$sig failed"
	kill -"$sig" "$HDB_PID"
	hdb_wait_pid_exit "$HDB_PID" 60 || fail "daemon still running 60 s after SIG$sig"
	rc=0
	wait "$HDB_PID" || rc=$?
	unset "HDB_PID_OF[$MNT]"
	[ "$rc" -eq 0 ] || fail "daemon exited $rc after SIG$sig, expected 0"
	! hdb_is_mounted "$MNT" || fail "$MNT still mounted after the daemon exited on SIG$sig"
done
hdb_mount "$DATA" "$MNT"
for sig in TERM INT; do
	assert_file_eq "$SRC/bob.json" "$MNT/users/bob-$sig.json"
done
hdb_umount "$MNT"

# --- daemon mode: the parent returns once the mount is served -------------------------
run_rc 0 "daemonized mount" "$HDB_BIN" mount "$DATA" "$MNT"
hdb_is_mounted "$MNT" || fail "hybriddb mount returned 0 before $MNT was mounted"
hdb_adopt_daemon "$MNT"
timeout 10 stat "$MNT/users/alice.json" >/dev/null || fail "daemonized mount does not answer"
assert_file_eq "$SRC/alice.json" "$MNT/users/alice.json"
hdb_umount "$MNT"

# --- fstab form: mount(8) runs `hybriddb DATA MNT -o <options>` ----------------------
run_rc 0 "fstab-style mount" "$HDB_BIN" "$DATA" "$MNT" -o rw,defaults,nofail,_netdev,noauto,user,x-systemd.automount,sync=periodic
hdb_is_mounted "$MNT" || fail "fstab-style mount returned 0 but $MNT is not mounted"
hdb_adopt_daemon "$MNT"
cp "$SRC/bob.json" "$MNT/users/bob-fstab.json" || fail "write on the fstab-style mount failed"
hdb_umount "$MNT"

# --- through mount(8) and fuse3's mount.fuse, as an fstab line is mounted -------------
# An fstab line of type fuse.hybriddb makes mount(8) run mount.fuse, which runs
# `hybriddb` from the system PATH; the test cannot install it there, so it
# names the binary in the source instead (type fuse, "PROGRAM#DATA"): the same
# helper, the same option handling, the same resulting type.
if [ -x /sbin/mount.fuse ] || [ -x /usr/sbin/mount.fuse ]; then
	bin_abs=$(readlink -f "$HDB_BIN")
	run_rc 0 "mount -t fuse" mount -t fuse "$bin_abs#$DATA" "$MNT" -o sync=periodic,max_doc_size=1M,noatime
	hdb_is_mounted "$MNT" || fail "mount -t fuse returned 0 but $MNT is not mounted"
	hdb_adopt_daemon "$MNT"
	findmnt -n -o FSTYPE "$MNT" | grep -qx 'fuse.hybriddb' ||
		fail "mount(8) mounted type $(findmnt -n -o FSTYPE "$MNT"), expected fuse.hybriddb"
	assert_file_eq "$SRC/bob.json" "$MNT/users/bob-fstab.json"
	hdb_umount "$MNT"
else
	note "mount.fuse not installed: the mount(8) case is not run"
fi

# --- read-only mount ---------------------------------------------------------------
hdb_mount "$DATA" "$MNT" -o ro
assert_file_eq "$SRC/bob.json" "$MNT/users/bob-fstab.json"
if touch "$MNT/users/new.json" 2>"$HDB_TMP/ro.err"; then fail "touch on a read-only mount succeeded"; fi
grep -q 'Read-only file system' "$HDB_TMP/ro.err" || fail "write on -o ro: expected EROFS, got: $(cat "$HDB_TMP/ro.err")"
hdb_umount "$MNT"

# --- offline subcommands ----------------------------------------------------------------
run_rc 0 "check of a clean database" "$HDB_BIN" check "$DATA"
run_rc 0 "stats" "$HDB_BIN" stats "$DATA"
jq -e 'type == "object"' "$HDB_TMP/out" >/dev/null || fail "hybriddb stats does not print a JSON object: $(head -c 300 "$HDB_TMP/out")"
run_rc 0 "offline compact" "$HDB_BIN" compact "$DATA"
run_rc 0 "check after offline compact" "$HDB_BIN" check "$DATA"
hdb_mount "$DATA" "$MNT"
assert_file_eq "$SRC/alice.json" "$MNT/users/alice.json"
for f in bob-TERM bob-INT bob-fstab; do
	assert_file_eq "$SRC/bob.json" "$MNT/users/$f.json"
done
assert_eq 4 "$(stats_get .documents)" ".stats documents after offline compact"
hdb_umount "$MNT"

# --- the suggested `hybriddb recover` pastes back into a shell ---------------------
# A database whose directory name needs quoting, killed with two documents
# in its WAL, and the first record damaged: check and mount both name the
# recover command, which must give back the directory as one word.
ODD="$HDB_TMP/it's a \$dir"
mkdir "$ODD"
hdb_mount "$ODD" "$MNT" -o sync=always
mkdir "$MNT/c"
cp "$SRC/alice.json" "$SRC/bob.json" "$MNT/c/" || fail "write into $ODD failed"
kill -9 "$HDB_PID"
hdb_wait_pid_exit "$HDB_PID" 30 || fail "daemon survived kill -9"
fusermount3 -u "$MNT" 2>/dev/null || true
unset "HDB_PID_OF[$MNT]"
wal=$(find "$ODD" -name '*.wal' -size +100c | head -1)
[ -n "$wal" ] || fail "no WAL with records in $ODD: $(ls -la "$ODD")"
printf '\xff\xff\xff\xff' | dd of="$wal" bs=1 seek=20 conv=notrunc status=none
recover_word() {	# file: the argument of the `hybriddb recover ...` it suggests
	local cmd
	# shellcheck disable=SC2016 # the backticks are part of the message
	cmd=$(sed -n 's/.*`hybriddb recover \(.*\)` accepts.*/\1/p' "$1" | head -1)
	[ -n "$cmd" ] || fail "no recover command suggested: $(cat "$1")"
	(eval "set -- $cmd" && [ $# -eq 1 ] && printf '%s' "$1")
}
run_rc 3 "check of a database with a damaged WAL record" "$HDB_BIN" check "$ODD"
assert_eq "$ODD" "$(recover_word "$HDB_TMP/out")" "the directory check's recover command names"
run_rc 1 "mount of a database with a damaged WAL record" "$HDB_BIN" mount "$ODD" "$MNT" -f
hdb_is_mounted "$MNT" && { HDB_MOUNTS+=("$MNT"); fail "mount of a damaged WAL succeeded"; }
assert_eq "$ODD" "$(recover_word "$HDB_TMP/err")" "the directory mount's recover command names"
run_rc 0 "recover of $ODD" "$HDB_BIN" recover "$ODD"
pass

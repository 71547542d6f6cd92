#!/bin/bash
# test_badinput.sh HYBRIDDB
#
# The "Bad input" table of DESIGN.md §1, driven with shell tools:
#   - invalid JSON in *.json at close: cp fails with EINVAL, the previous
#     version (or absence) is intact, the daemon logs the name and the byte
#     offset ("hybriddb: <path>: invalid JSON at byte <offset>: <reason>");
#   - name over 255 bytes: ENAMETOOLONG; names with control characters work;
#   - writes to .stats: EACCES or EPERM; rmdir of a non-empty collection:
#     ENOTEMPTY; ln: EPERM;
#   - not a hybriddb directory: mount refuses with one line and exit 1,
#     touching nothing (foreground and daemon mode);
#   - corruption on disk (bad CRC): hybriddb check exits 3, affected reads
#     fail with EIO, never wrong bytes, the daemon keeps running;
#   - disk full (a tmpfs of 8 MiB, when this test may mount one): the write
#     or close fails with ENOSPC, everything acknowledged before stays
#     readable while mounted and after a remount with more space.
. "$(dirname "$0")/lib.sh"
hdb_setup "${1:-}"
SRC=$HDB_TMP/src
mkdir -p "$SRC"

# expect_fail ERRTEXT CMD...: CMD must fail and say ERRTEXT (strerror text).
expect_fail() {
	local want=$1 out
	shift
	if out=$("$@" 2>&1); then
		fail "$* succeeded; expected: $want"
	fi
	grep -q -- "$want" <<<"$out" || fail "$*: expected '$want', got: $out"
}

# expect_fail2 TEXT1 TEXT2 CMD...: CMD must fail saying TEXT1 or TEXT2.
expect_fail2() {
	local a=$1 b=$2 out
	shift 2
	if out=$("$@" 2>&1); then
		fail "$* succeeded; expected: $a or $b"
	fi
	grep -q -e "$a" -e "$b" <<<"$out" || fail "$*: expected '$a' or '$b', got: $out"
}

# --- invalid JSON, names, reserved files, rmdir, ln ------------------------
hdb_mount "$DATA" "$MNT"
mkdir "$MNT/c"
printf '{"a":1,}' >"$SRC/bad.json"
printf '{"a":1}\n' >"$SRC/good.json"
expect_fail 'Invalid argument' cp "$SRC/bad.json" "$MNT/c/new.json"
[ ! -e "$MNT/c/new.json" ] || fail "c/new.json exists after its invalid first version was refused"
cp "$SRC/good.json" "$MNT/c/doc.json" || fail "cp of a valid document failed"
expect_fail 'Invalid argument' cp "$SRC/bad.json" "$MNT/c/doc.json"
assert_file_eq "$SRC/good.json" "$MNT/c/doc.json"
grep -q 'new\.json: invalid JSON at byte 7' "$HDB_LAST_LOG" ||
	fail "daemon log lacks 'new.json: invalid JSON at byte 7': $(grep -i json "$HDB_LAST_LOG" | head -3)"
grep -q 'doc\.json: invalid JSON at byte 7' "$HDB_LAST_LOG" ||
	fail "daemon log lacks 'doc.json: invalid JSON at byte 7'"
cp "$SRC/bad.json" "$MNT/c/bad.txt" || fail "invalid JSON under a non-.json name was refused"
# mv reports rename's EINVAL as "cannot move ... to a subdirectory of itself".
expect_fail2 'Invalid argument' 'subdirectory of itself' mv "$MNT/c/bad.txt" "$MNT/c/bad.json"
[ ! -e "$MNT/c/bad.json" ] || fail "invalid content was renamed onto bad.json"
assert_file_eq "$SRC/bad.json" "$MNT/c/bad.txt"

long=$(printf 'x%.0s' $(seq 1 251)).json
expect_fail 'File name too long' touch "$MNT/c/$long"
expect_fail 'File name too long' mkdir "$MNT/c/$long"
ok=$(printf 'y%.0s' $(seq 1 250)).json
cp "$SRC/good.json" "$MNT/c/$ok" || fail "a 255-byte name was refused"
assert_file_eq "$SRC/good.json" "$MNT/c/$ok"
ctl=$'tab\there\001\033[0m.json'
cp "$SRC/good.json" "$MNT/c/$ctl" || fail "a name with control characters was refused"
assert_file_eq "$SRC/good.json" "$MNT/c/$ctl"
[ -n "$(find "$MNT/c" -maxdepth 1 -name $'tab\there*')" ] || fail "name with control characters not listed"

expect_fail2 'Permission denied' 'Operation not permitted' dd if="$SRC/good.json" of="$MNT/.stats" conv=notrunc status=none
expect_fail2 'Permission denied' 'Operation not permitted' truncate -s 0 "$MNT/.stats"
expect_fail 'Operation not permitted' rm -f "$MNT/.stats"
expect_fail 'Operation not permitted' rm -f "$MNT/.control"
expect_fail 'Directory not empty' rmdir "$MNT/c"
expect_fail 'Operation not permitted' ln "$MNT/c/doc.json" "$MNT/c/hard.json"
[ ! -e "$MNT/c/hard.json" ] || fail "hard link exists after EPERM"
expect_fail 'Operation not permitted' mkfifo "$MNT/c/fifo"
hdb_umount "$MNT"

# --- not a hybriddb directory ------------------------------------------------
NOTDB=$HDB_TMP/notdb
mkdir "$NOTDB"
printf 'precious\n' >"$NOTDB/file.txt"
refuse() {	# mode-args...: mount must exit 1 with one line and change nothing
	local rc=0 lines
	timeout 60 "$HDB_BIN" mount "$NOTDB" "$MNT" "$@" >"$HDB_TMP/notdb.out" 2>"$HDB_TMP/notdb.err" || rc=$?
	if hdb_is_mounted "$MNT"; then
		HDB_MOUNTS+=("$MNT")
		fail "mount of a non-hybriddb directory ($*) succeeded"
	fi
	[ "$rc" -eq 1 ] || fail "mount of a non-hybriddb directory ($*): exit $rc, expected 1; stderr: $(cat "$HDB_TMP/notdb.err")"
	lines=$(grep -c . "$HDB_TMP/notdb.err" || true)
	[ "$lines" -eq 1 ] || fail "mount of a non-hybriddb directory ($*): expected a one-line message, got $lines lines: $(cat "$HDB_TMP/notdb.err")"
	assert_eq "file.txt" "$(ls -A "$NOTDB")" "contents of the refused directory ($*)"
	assert_eq "precious" "$(cat "$NOTDB/file.txt")" "file in the refused directory ($*)"
}
refuse -f
refuse

# --- corruption on disk -------------------------------------------------------
CDATA=$HDB_TMP/cdata
hdb_mount "$CDATA" "$MNT" -o compression=off
mkdir "$MNT/c" "$SRC/docs"
awk -v dir="$SRC/docs" 'BEGIN {
	srand(7)
	for (i = 0; i < 400; i++) {
		f = sprintf("%s/%03d.json", dir, i)
		printf("{\"i\": %d, \"noise\": \"", i) > f
		for (k = 0; k < 60; k++)
			printf("%08x", int(rand() * 4294967295)) > f
		print "\"}" > f
		close(f)
	}
}'
cp "$SRC/docs/"*.json "$MNT/c/" || fail "cp of 400 documents failed"
echo compact >"$MNT/.control" || fail "compact failed"
hdb_umount "$MNT"
"$HDB_BIN" check "$CDATA" >"$HDB_TMP/check0.out" 2>&1 || fail "check of the sound database failed: $(cat "$HDB_TMP/check0.out")"
sst=$(find "$CDATA" -name '*.sst' -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2-)
[ -n "$sst" ] || fail "no *.sst table in $CDATA after compact: $(ls "$CDATA")"
size=$(stat -c %s "$sst")
off=$((size / 4))
perl -e 'open(F, "+<", $ARGV[0]) or die; sysseek(F, $ARGV[1], 0); sysread(F, $b, 16) == 16 or die;
	$b ^= "\xff" x 16; sysseek(F, $ARGV[1], 0); syswrite(F, $b) == 16 or die' "$sst" "$off" ||
	fail "could not corrupt $sst"
rc=0
"$HDB_BIN" check "$CDATA" >"$HDB_TMP/check1.out" 2>&1 || rc=$?
[ "$rc" -eq 3 ] || fail "hybriddb check on a corrupted table: exit $rc, expected 3: $(head -5 "$HDB_TMP/check1.out")"
grep -q "$(basename "$sst")" "$HDB_TMP/check1.out" || fail "check output does not name $(basename "$sst"): $(head -5 "$HDB_TMP/check1.out")"

hdb_mount "$CDATA" "$MNT"
eio=0 good=0
for f in "$SRC/docs/"*.json; do
	n=$(basename "$f")
	if cat "$MNT/c/$n" >"$HDB_TMP/read.out" 2>"$HDB_TMP/read.err"; then
		cmp -s "$f" "$HDB_TMP/read.out" || fail "c/$n read back WRONG bytes from a corrupted table"
		good=$((good + 1))
	else
		grep -q 'Input/output error' "$HDB_TMP/read.err" || fail "reading c/$n failed with something other than EIO: $(cat "$HDB_TMP/read.err")"
		eio=$((eio + 1))
	fi
done
note "corrupted $(basename "$sst") at $off: $eio reads failed with EIO, $good were whole"
[ "$eio" -ge 1 ] || fail "no read failed after corrupting $(basename "$sst") at offset $off"
hdb_pid_alive "$HDB_PID" || fail "daemon died after reading corrupted data"
jq -e . "$MNT/.stats" >/dev/null || fail ".stats unreadable after EIO"
grep -qi "$(basename "$sst")" "$HDB_LAST_LOG" || fail "daemon log does not name the corrupted file $(basename "$sst")"
hdb_umount_rc "$MNT"
[ "$HDB_RC" -lt 128 ] || fail "daemon crashed (status $HDB_RC) after reading corrupted data"

# --- disk full ----------------------------------------------------------------
SMALL=$HDB_TMP/small
mkdir "$SMALL"
if ! mount -t tmpfs -o size=8m tmpfs "$SMALL" 2>/dev/null; then
	note "cannot mount a tmpfs here: disk-full case skipped"
	pass
fi
HDB_PLAIN_MOUNTS+=("$SMALL")
mkdir "$SRC/big"
awk -v dir="$SRC/big" 'BEGIN {
	srand(11)
	for (i = 0; i < 1200; i++) {
		f = sprintf("%s/%04d.json", dir, i)
		printf("{\"i\": %d, \"noise\": \"", i) > f
		for (k = 0; k < 2000; k++)
			printf("%08x", int(rand() * 4294967295)) > f
		print "\"}" > f
		close(f)
	}
}'
hdb_mount "$SMALL/data" "$MNT" -o compression=off
mkdir "$MNT/c"
acked=0 full=0
for f in "$SRC/big/"*.json; do
	if ! cp "$f" "$MNT/c/" 2>"$HDB_TMP/enospc.err"; then
		full=1
		break
	fi
	acked=$((acked + 1))
done
[ "$full" -eq 1 ] || fail "1200 documents of 16 KB fit in an 8 MiB tmpfs?"
grep -q 'No space left on device' "$HDB_TMP/enospc.err" || fail "disk full: expected ENOSPC, got: $(cat "$HDB_TMP/enospc.err")"
note "disk full after $acked documents"
[ "$acked" -ge 1 ] || fail "not even one document fitted"
check_acked() {	# what
	local i=0 f
	for f in "$SRC/big/"*.json; do
		[ "$i" -lt "$acked" ] || break
		cmp -s "$f" "$MNT/c/$(basename "$f")" || fail "acknowledged c/$(basename "$f") unreadable or different $1"
		i=$((i + 1))
	done
}
check_acked "while the disk is full"
hdb_pid_alive "$HDB_PID" || fail "daemon died on a full disk"
hdb_umount_rc "$MNT"
[ "$HDB_RC" -lt 128 ] || fail "daemon crashed (status $HDB_RC) on a full disk"
mount -o remount,size=64m "$SMALL" || fail "cannot grow the tmpfs"
hdb_mount "$SMALL/data" "$MNT"
check_acked "after remount with space"
cp "$SRC/good.json" "$MNT/c/after.json" || fail "cannot write after space came back"
hdb_umount "$MNT"
pass

#!/bin/bash
# test_workflows.sh HYBRIDDB
#
# The shell workflow of DESIGN.md §1 on a tree of 5,200 small JSON documents
# in nested collections: cp -r, diff -r, cat, ls -l sizes, cp -a times and
# modes, grep -rl, jq, mv of a file and of a directory, sed -i (valid and
# invalid result), an editor-style save (temp file, fsync, mv over), rm -r,
# .control and .stats from the shell, then unmount, remount and check that
# everything (content, inode numbers, attributes, counters) persisted.
. "$(dirname "$0")/lib.sh"
hdb_setup "${1:-}"

SRC=$HDB_TMP/src
T=$SRC/tree
gen_tree "$T" 10 5 104			# 5,200 documents in 50 sub-collections
docp() {	# id: the path of document id inside the tree
	local i=$(($1 - 1))
	printf 'col%02d/sub%02d/doc%05d.json' $((i / 520)) $((i % 520 / 104)) "$1"
}
printf 'plain text, not a document\n' >"$T/README.txt"
printf 'swap' >"$T/col00/.doc.swp"
: >"$T/col00/empty.txt"
ln -s "sub00/$(basename "$(docp 521)")" "$T/col01/latest"
awk 'BEGIN { printf("{\"big\": ["); for (i = 0; i < 40000; i++) printf("%s%d", i ? "," : "", i); print "]}" }' \
	>"$T/col02/big.json"
ndocs=$(find "$T" -name '*.json' -type f | wc -l)
[ "$ndocs" -ge 5000 ] || fail "generator made only $ndocs documents"

hdb_mount "$DATA" "$MNT"

# --- cp -r and diff -r -------------------------------------------------------
start=$SECONDS
cp -r "$T" "$MNT/" || fail "cp -r $T $MNT/ failed"
note "cp -r of $ndocs documents took $((SECONDS - start)) s"
assert_diff_r "$T" "$MNT/tree"

# --- cat: byte for byte ------------------------------------------------------
cat "$MNT/tree/$(docp 1700)" >"$HDB_TMP/cat.out" || fail "cat failed"
assert_file_eq "$T/$(docp 1700)" "$HDB_TMP/cat.out"
cmp -s "$T/col02/big.json" "$MNT/tree/col02/big.json" || fail "big.json differs after cp"

# --- ls -l and find: names, types and sizes match the source ------------------
listing() {	# dir: "name type size" of every entry, sorted
	(cd "$1" && find . -printf '%p %y %s\n' | LC_ALL=C sort)
}
diff <(listing "$T" | grep -v ' d ') <(listing "$MNT/tree" | grep -v ' d ') >"$HDB_TMP/ls.diff" ||
	fail "find sizes differ: $(head -5 "$HDB_TMP/ls.diff")"
d=col04/sub01
want=$(cd "$T/$d" && stat -c '%n %s' -- * | LC_ALL=C sort)
got=$(ls -ln "$MNT/tree/$d" | awk 'NR > 1 { print $NF, $5 }' | LC_ALL=C sort)
assert_eq "$want" "$got" "ls -l sizes of $d"

# --- cp -a keeps times (to the nanosecond), modes and owners ----------------
chmod 0600 "$T/$(docp 2601)"
touch -d '2001-02-03 04:05:06.123456789' "$T/$(docp 2705)"
cp -a "$T/col05" "$MNT/acopy" || fail "cp -a failed"
attrs() {	# dir: "name type mode uid gid mtime" of every entry
	(cd "$1" && find . -printf '%p %y %m %U %G %T@\n' | LC_ALL=C sort)
}
diff <(attrs "$T/col05") <(attrs "$MNT/acopy") >"$HDB_TMP/attrs.diff" ||
	fail "cp -a did not preserve attributes: $(head -6 "$HDB_TMP/attrs.diff")"
assert_diff_r "$T/col05" "$MNT/acopy"

# --- grep -rl and jq ---------------------------------------------------------
want=$(cd "$T" && grep -rl '"colour": "red"' . | LC_ALL=C sort)
got=$(cd "$MNT/tree" && grep -rl '"colour": "red"' . | LC_ALL=C sort)
[ -n "$want" ] || fail "generator made no red documents"
assert_eq "$want" "$got" "grep -rl result"
assert_eq 1700 "$(jq -r .id "$MNT/tree/$(docp 1700)")" "jq .id"
assert_eq "red" "$(jq -r .colour "$MNT/tree/$(docp 1700)")" "jq .colour"
assert_eq 40000 "$(jq '.big | length' "$MNT/tree/col02/big.json")" "jq on big.json"

# --- .stats counts -----------------------------------------------------------
check_counts() {	# what
	local docs colls
	docs=$(find "$MNT" -name '*.json' -type f | wc -l)
	colls=$(find "$MNT" -mindepth 1 -type d | wc -l)
	assert_eq "$docs" "$(stats_get .documents)" ".stats documents ($1)"
	assert_eq "$colls" "$(stats_get .collections)" ".stats collections ($1)"
}
check_counts "after cp"

# --- mv of a file and of a directory ----------------------------------------
mv "$MNT/tree/$(docp 1)" "$MNT/tree/col00/sub00/renamed.json" || fail "mv file failed"
[ ! -e "$MNT/tree/$(docp 1)" ] || fail "old name still exists after mv"
assert_file_eq "$T/$(docp 1)" "$MNT/tree/col00/sub00/renamed.json"
mv "$MNT/tree/col00/sub00/renamed.json" "$MNT/tree/$(docp 1)"

mv "$MNT/tree/col01" "$MNT/moved01" || fail "mv directory failed"
[ ! -e "$MNT/tree/col01" ] || fail "old directory still exists after mv"
assert_diff_r "$T/col01" "$MNT/moved01"
mv "$MNT/moved01" "$MNT/tree/col02/inner" || fail "mv directory into a collection failed"
assert_diff_r "$T/col01" "$MNT/tree/col02/inner"
mv "$MNT/tree/col02/inner" "$MNT/tree/col01"
assert_diff_r "$T" "$MNT/tree"
check_counts "after mv"

# --- sed -i: a valid edit goes through, an invalid one is refused ------------
f=$(docp 3121)
cp "$T/$f" "$HDB_TMP/expect.json"
sed -i 's/"colour": "blue"/"colour": "green"/' "$HDB_TMP/expect.json"
sed -i 's/"colour": "blue"/"colour": "green"/' "$MNT/tree/$f" || fail "sed -i on $f failed"
assert_file_eq "$HDB_TMP/expect.json" "$MNT/tree/$f"
assert_eq green "$(jq -r .colour "$MNT/tree/$f")" "jq after sed -i"
if sed -i 's/}/,/' "$MNT/tree/$f" 2>"$HDB_TMP/sed.err"; then
	fail "sed -i producing invalid JSON in $f succeeded"
fi
grep -q 'Invalid argument' "$HDB_TMP/sed.err" || fail "sed -i to invalid JSON: expected EINVAL, got: $(cat "$HDB_TMP/sed.err")"
assert_file_eq "$HDB_TMP/expect.json" "$MNT/tree/$f"
# sed's own temp file may be left behind by the failed rename: not a document.
find "$MNT/tree/$(dirname "$f")" -name 'sed*' -delete
cp "$T/$f" "$MNT/tree/$f"

# --- editor-style save: temp file, fsync, rename over the target ------------
f=$(docp 3641)
target=$MNT/tree/$f
tmp=$MNT/tree/$(dirname "$f")/.$(basename "$f").swp
printf '{"edited": true, "by": "an editor"}\n' >"$HDB_TMP/edited.json"
dd if="$HDB_TMP/edited.json" of="$tmp" conv=fsync status=none || fail "dd conv=fsync to $tmp failed"
sync "$tmp" || fail "sync $tmp (fsync) failed"
mv -f "$tmp" "$target" || fail "mv $tmp over $target failed"
assert_file_eq "$HDB_TMP/edited.json" "$target"
[ ! -e "$tmp" ] || fail "temp file still present after the save"
cp "$T/$f" "$target"

# --- .control and .stats from the shell ---------------------------------------
root_ls=$(ls -A "$MNT")
grep -qx '.control' <<<"$root_ls" || fail "ls -A of the root does not show .control: $root_ls"
grep -qx '.stats' <<<"$root_ls" || fail "ls -A of the root does not show .stats: $root_ls"
grep -qx 'compact.*' "$MNT/.control" || fail "cat .control does not list compact: $(cat "$MNT/.control")"
echo compact >"$MNT/.control" || fail "echo compact > .control failed"
if (echo frobnicate >"$MNT/.control") 2>"$HDB_TMP/ctl.err"; then
	fail "echo frobnicate > .control succeeded"
fi
grep -q 'Invalid argument' "$HDB_TMP/ctl.err" || fail "unknown command: expected EINVAL, got: $(cat "$HDB_TMP/ctl.err")"
jq -e 'type == "object" and (.engine | type == "object")' "$MNT/.stats" >/dev/null ||
	fail ".stats is not an object with an engine object: $(head -c 300 "$MNT/.stats")"
assert_diff_r "$T" "$MNT/tree"			# now read from compacted tables
check_counts "after compact"

# --- rm -r ------------------------------------------------------------------------
before=$(stats_get .documents)
gone=$(find "$MNT/acopy" -name '*.json' -type f | wc -l)
rm -r "$MNT/acopy" || fail "rm -r failed"
[ ! -e "$MNT/acopy" ] || fail "acopy still exists after rm -r"
assert_eq $((before - gone)) "$(stats_get .documents)" ".stats documents after rm -r"
check_counts "after rm -r"

# --- persistence across unmount and remount ------------------------------------
snapshot() {	# "name inode type size mode mtime" of everything under tree
	(cd "$MNT/tree" && find . -printf '%p %i %y %s %m %U %G %T@\n' | LC_ALL=C sort)
}
snapshot >"$HDB_TMP/before.snap"
stats_before=$(jq -c '{documents, collections, files, bytes}' "$MNT/.stats")
hdb_umount "$MNT"
hdb_is_mounted "$MNT" && fail "$MNT still mounted after unmount"

hdb_mount "$DATA" "$MNT"
snapshot >"$HDB_TMP/after.snap"
diff "$HDB_TMP/before.snap" "$HDB_TMP/after.snap" >"$HDB_TMP/snap.diff" ||
	fail "names, inodes or attributes changed across remount: $(head -6 "$HDB_TMP/snap.diff")"
assert_diff_r "$T" "$MNT/tree"
assert_eq "$stats_before" "$(jq -c '{documents, collections, files, bytes}' "$MNT/.stats")" ".stats across remount"
hdb_umount "$MNT"

"$HDB_BIN" check "$DATA" >"$HDB_TMP/check.out" 2>&1 || fail "hybriddb check after clean unmount failed: $(tail -5 "$HDB_TMP/check.out")"
pass

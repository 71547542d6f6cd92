#!/bin/bash
# test_query.sh HYBRIDDB
#
# Queries as paths, secondary indexes, JSON Lines import and export, on a
# real mount, with shell tools (fs/qvfs.h):
#   - C/.where/COND/... lists the matching documents, which are the same
#     inodes as in the collection; .count; nested paths, every operator,
#     type mixing, missing fields, %XX escapes; a malformed condition is
#     ENOENT and the daemon logs why; the virtual names are not listed and
#     are reserved (EPERM);
#   - mkdir/rmdir C/.indexes/F; answers identical with and without the
#     index (and checked against jq over the files); the index follows
#     overwrites, renames, deletes, a remount and a kill -9 (hybriddb check
#     verifies every entry);
#   - C/.export.jsonl streams every document; export then import into
#     another collection gives the same documents;
#   - C/.import: applied at close; a bad first, middle or last line fails
#     cp with EINVAL, logs the line and byte, applies nothing; an empty file
#     imports nothing; duplicate ids: the last line wins;
#   - hybriddb import / export / find on an unmounted database.
. "$(dirname "$0")/lib.sh"
hdb_setup "${1:-}"
SRC=$HDB_TMP/src
mkdir -p "$SRC"

# expect_errno TEXT CMD...: CMD fails, saying TEXT.
expect_errno() {
	local want=$1 out
	shift
	if out=$("$@" 2>&1); then
		fail "$* succeeded; expected: $want"
	fi
	grep -q -- "$want" <<<"$out" || fail "$*: expected '$want', got: $out"
}

# q DIR: the names listed in a query directory, one per line.
q() { ls -1 "$1" | LC_ALL=C sort; }

# jqnames FILTER: names of the documents of $SRC/docs that jq selects.
jqnames() {
	jq -r "select(try ($1) catch false) | input_filename" "$SRC"/docs/*.json | sed 's|.*/||' | LC_ALL=C sort
}

# --- documents -------------------------------------------------------------
mkdir -p "$SRC/docs"
awk -v dir="$SRC/docs" 'BEGIN {
	split("Paris Lyon Berlin Oslo", city, " ")
	for (i = 1; i <= 200; i++) {
		f = sprintf("%s/u%03d.json", dir, i)
		if (i % 10 == 0)
			age = "\"" (i % 70) "\""          # a string: never equal to a number
		else if (i % 13 == 0)
			age = "null"
		else
			age = (i * 7) % 70
		addr = (i % 9 == 0) ? "" : sprintf(", \"address\": {\"city\": \"%s\", \"zip\": %d}", city[1 + i % 4], 75000 + i % 20)
		tags = (i % 4 == 0) ? "[\"red\", \"blue\"]" : (i % 4 == 1 ? "[\"blue\"]" : "[]")
		if (i % 11 == 0)
			printf("{\"name\": \"user %d\"%s}\n", i, addr) > f   # no age, no tags
		else
			printf("{\"name\": \"user %d\", \"age\": %s, \"tags\": %s, \"active\": %s%s}\n",
			       i, age, tags, (i % 3 ? "true" : "false"), addr) > f
		close(f)
	}
}'
hdb_mount "$DATA" "$MNT"
mkdir "$MNT/users"
cp "$SRC"/docs/*.json "$MNT/users/" || fail "cp of the documents failed"

# --- query directories ---------------------------------------------------------
W=$MNT/users/.where
assert_eq "$(ls "$SRC/docs" | LC_ALL=C sort)" "$(q "$W")" ".where lists every document"
assert_eq 200 "$(cat "$W/.count")" ".where/.count"

check_query() {	# COND... -- JQ-FILTER: the listing equals jq's selection
	local path=$W conds=() c
	while [ "$1" != -- ]; do conds+=("$1"); path=$path/$1; shift; done
	shift
	local want got
	want=$(jqnames "$1")
	got=$(q "$path") || fail "ls $path failed"
	[ "$got" = "$want" ] || fail "query ${conds[*]}: got $(wc -l <<<"$got") names, jq selects $(wc -l <<<"$want"); diff: $(diff <(echo "$want") <(echo "$got") | head -5)"
	assert_eq "$(grep -c . <<<"$want")" "$(cat "$path/.count")" ".count of ${conds[*]}"
}

run_queries() {
	check_query 'age=21' -- '.age == 21'
	check_query 'age="30"' -- '.age == "30"'
	check_query 'age!=21' -- '.age != 21'
	check_query 'age>50' -- '(.age | type) == "number" and .age > 50'
	check_query 'age>=63' -- '(.age | type) == "number" and .age >= 63'
	check_query 'age<7' -- '(.age | type) == "number" and .age < 7'
	check_query 'age<=7' -- '(.age | type) == "number" and .age <= 7'
	check_query 'age=null' -- 'has("age") and .age == null'
	check_query 'age!=null' -- '(has("age") and .age == null) | not'
	check_query 'address.city=Paris' -- '.address.city == "Paris"'
	check_query 'address.zip>=75010' -- '(.address.zip | type) == "number" and .address.zip >= 75010'
	check_query 'address.city!=Paris' -- '.address.city != "Paris"'
	check_query 'tags@red' -- '(.tags | type) == "array" and (.tags | index("red")) != null'
	check_query 'tags=[]' -- '.tags == []'
	check_query 'active=false' -- '.active == false'
	check_query 'name~^user 1[0-9]$' -- '.name | test("^user 1[0-9]$")'
	check_query 'age>20' 'address.city=Lyon' -- '(.age | type) == "number" and .age > 20 and .address.city == "Lyon"'
	check_query 'age>20' 'age<40' 'tags@blue' -- '(.age | type) == "number" and .age > 20 and .age < 40 and (.tags | index("blue")) != null'
}
run_queries

# A document in a query directory is the document itself.
assert_eq "$(stat -c %i "$MNT/users/u003.json")" "$(stat -c %i "$W/age=21/u003.json")" "inode via .where"
assert_file_eq "$SRC/docs/u003.json" "$W/age=21/u003.json"
[ ! -e "$W/age=22/u003.json" ] || fail "u003.json (age 21) found under age=22"
# %XX: '/' in a value; a malformed condition
mkdir "$MNT/paths"
echo '{"p":"a/b","q.r":1}' >"$MNT/paths/x.json"
assert_eq x.json "$(q "$MNT/paths/.where/p=a%2Fb")" "%2F in a value"
expect_errno 'No such file or directory' ls "$W/age"
expect_errno 'No such file or directory' ls "$W/age!21"
expect_errno 'No such file or directory' ls "$W/name~("
grep -q 'users/.where: "age!21" is not a condition' "$HDB_LAST_LOG" || fail "the daemon did not log the malformed condition"
# virtual names: not listed, reserved
ls -A "$MNT/users" | grep -q '^\.' && fail "ls -A lists a virtual name: $(ls -A "$MNT/users" | grep '^\.')"
expect_errno 'Operation not permitted' mv "$MNT/users/u001.json" "$MNT/users/.import"
expect_errno 'Operation not permitted' touch "$W/new.json"
expect_errno 'Permission denied' sh -c "echo x > '$MNT/users/.export.jsonl'"

# --- indexes ---------------------------------------------------------------------
mkdir "$MNT/users/.indexes/age" "$MNT/users/.indexes/address.city" || fail "mkdir .indexes/F failed"
assert_eq "$(printf 'address.city\nage')" "$(ls "$MNT/users/.indexes")" "ls .indexes"
expect_errno 'File exists' mkdir "$MNT/users/.indexes/age"
before=$(stats_get .queries.indexed)
run_queries
after=$(stats_get .queries.indexed)
[ "$after" -gt "$before" ] || fail "no query used an index ($before -> $after)"

# maintenance: overwrite, rename within and across collections, delete
echo '{"name":"changed","age":21,"address":{"city":"Oslo"}}' >"$SRC/docs/u050.json"
cp "$SRC/docs/u050.json" "$MNT/users/u050.json"
mv "$MNT/users/u003.json" "$MNT/users/u203.json" && mv "$SRC/docs/u003.json" "$SRC/docs/u203.json"
mkdir "$MNT/other"
mv "$MNT/users/u004.json" "$MNT/other/u004.json" && rm "$SRC/docs/u004.json"
rm "$MNT/users/u007.json" "$SRC/docs/u007.json"
mv "$MNT/users/u008.json" "$MNT/users/u009.json" && mv "$SRC/docs/u008.json" "$SRC/docs/u009.json"
run_queries

hdb_umount "$MNT"
"$HDB_BIN" check "$DATA" >"$HDB_TMP/check.out" || fail "hybriddb check after the index changes: $(cat "$HDB_TMP/check.out")"
hdb_mount "$DATA" "$MNT"
assert_eq "$(printf 'address.city\nage')" "$(ls "$MNT/users/.indexes")" "indexes after a remount"
run_queries
rmdir "$MNT/users/.indexes/address.city" || fail "rmdir .indexes/address.city failed"
assert_eq age "$(ls "$MNT/users/.indexes")" "ls .indexes after rmdir"
run_queries

# --- export ----------------------------------------------------------------------
"$HDB_BIN" --version >/dev/null
jq -c . "$MNT/users/.export.jsonl" >"$HDB_TMP/export.jsonl" || fail "the export is not JSON Lines"
assert_eq "$(ls "$SRC/docs" | wc -l)" "$(wc -l <"$HDB_TMP/export.jsonl")" "export lines"
assert_eq "$(ls "$SRC/docs" | LC_ALL=C sort | sed 's/\.json$//')" "$(jq -r ._id "$HDB_TMP/export.jsonl")" "export ids in name order"
for f in u001 u050 u203; do
	assert_eq "$(jq -cS . "$SRC/docs/$f.json")" "$(jq -cS "select(._id == \"$f\") | del(._id)" "$HDB_TMP/export.jsonl")" "export of $f"
done
assert_eq "$(jqnames '.address.city == "Lyon"' | wc -l)" "$(wc -l <"$W/address.city=Lyon/.export.jsonl")" "export of a query"
# export -> import round trip
mkdir "$MNT/copy"
cp "$MNT/users/.export.jsonl" "$MNT/copy/.import" || fail "cp of the export into .import failed"
assert_eq "$(ls "$MNT/users")" "$(ls "$MNT/copy")" "names after the round trip"
for f in "$MNT"/users/*.json; do
	assert_eq "$(jq -cS . "$f")" "$(jq -cS . "$MNT/copy/$(basename "$f")")" "round trip of $(basename "$f")"
done

# --- import ----------------------------------------------------------------------
mkdir "$MNT/imp"
printf '{"_id":"a","v":1}\n{"_id":"b","v":2}\n{"v":3,"_id":"a"}\n\n{"v":4}\n' >"$SRC/ok.jsonl"
cp "$SRC/ok.jsonl" "$MNT/imp/.import" || fail "import failed"
assert_eq 3 "$(ls "$MNT/imp" | wc -l)" "imported documents"
assert_eq '{"v":3}' "$(cat "$MNT/imp/a.json")" "duplicate ids: the last line wins"
assert_eq 1 "$(cat "$MNT/imp/.where/v=4/.count")" "the document without _id"
# appended in several writes (O_APPEND, as >> does), applied at the close
mkdir "$MNT/imp2"
python3 - "$MNT/imp2/.import" <<'PY' || fail "an import written in appends failed"
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
for i in range(50):
    os.write(fd, b'{"_id":"ap%d","v":%d}\n' % (i, i))
os.close(fd)
PY
assert_eq 50 "$(cat "$MNT/imp2/.where/v>=0/.count")" "documents imported in 50 appends"
bad_import() {	# NAME CONTENT LINE BYTE
	printf '%b' "$2" >"$SRC/$1.jsonl"
	expect_errno 'Invalid argument' cp "$SRC/$1.jsonl" "$MNT/imp/.import"
	grep -q "imp/.import: line $3, byte $4:" "$HDB_LAST_LOG" ||
		fail "$1: the log lacks 'line $3, byte $4': $(grep 'imp/.import' "$HDB_LAST_LOG" | tail -1)"
	assert_eq 3 "$(ls "$MNT/imp" | wc -l)" "$1: nothing applied"
	[ ! -e "$MNT/imp/new.json" ] || fail "$1: new.json was created"
}
bad_import first '{"_id":"new"\n{"_id":"x"}\n' 1 12
bad_import middle '{"_id":"new"}\n[1]\n{"_id":"x"}\n' 2 14
bad_import last '{"_id":"new"}\n{"_id":"x"}\n{"v":tru}\n' 3 34
bad_import badid '{"_id":"new"}\n{"_id":"a/b"}\n' 2 21
: >"$SRC/empty.jsonl"
cp "$SRC/empty.jsonl" "$MNT/imp/.import" || fail "an empty import failed"
assert_eq 3 "$(ls "$MNT/imp" | wc -l)" "an empty import changes nothing"
expect_errno 'Permission denied' cat "$MNT/imp/.import"
# A document whose pages the kernel holds (too large to come with its open)
# replaced by an import with content of the same size: the next read sees it.
mkdir "$MNT/imp3"
pad=$(printf '%070000d' 0)
printf '{"_id":"big","v":"%s1"}\n' "$pad" >"$SRC/big1.jsonl"
printf '{"_id":"big","v":"%s2"}\n' "$pad" >"$SRC/big2.jsonl"
cp "$SRC/big1.jsonl" "$MNT/imp3/.import" || fail "import of big1 failed"
[ "$(cat "$MNT/imp3/big.json")" = "{\"v\":\"${pad}1\"}" ] || fail "big.json: not the imported content"
cp "$SRC/big2.jsonl" "$MNT/imp3/.import" || fail "import of big2 failed"
[ "$(cat "$MNT/imp3/big.json")" = "{\"v\":\"${pad}2\"}" ] ||
	fail "big.json: not the content of the same-size import that replaced it"
assert_eq "$(stats_get .documents)" "$(find "$MNT" -name '*.json' -type f | wc -l)" ".stats documents after imports"

# --- kill -9 with an index being maintained --------------------------------------------
mkdir "$MNT/crash" "$MNT/crash/.indexes/n"
for ((i = 0; i < 4000; i++)); do printf '{"n": %d, "s": "%0200d"}\n' $((i % 17)) "$i" >"$SRC/c$i.json.src"; done 2>/dev/null
( for ((i = 0; i < 4000; i++)); do cp "$SRC/c$i.json.src" "$MNT/crash/c$i.json" 2>/dev/null || exit 0; done ) &
loader=$!
sleep 1.5
hdb_kill9 "$MNT"
wait "$loader" 2>/dev/null || true
"$HDB_BIN" check "$DATA" >"$HDB_TMP/check.out" || fail "hybriddb check after kill -9: $(cat "$HDB_TMP/check.out")"
hdb_mount "$DATA" "$MNT"
total=$(ls "$MNT/crash" | wc -l)
[ "$total" -gt 0 ] || fail "nothing survived the kill"
sum=0
for ((k = 0; k < 17; k++)); do
	c=$(cat "$MNT/crash/.where/n=$k/.count")
	want=$(grep -l "\"n\": $k," "$MNT"/crash/*.json | wc -l)
	assert_eq "$want" "$c" "n=$k after kill -9 (indexed count vs grep)"
	sum=$((sum + c))
done
assert_eq "$total" "$sum" "every document in exactly one n=K"
rm -r "$MNT/crash" || fail "rm -r of a collection with an index failed"
[ ! -e "$MNT/crash" ] || fail "crash/ is still there"
hdb_umount "$MNT"
"$HDB_BIN" check "$DATA" >"$HDB_TMP/check.out" || fail "hybriddb check after rm -r: $(cat "$HDB_TMP/check.out")"

# --- the offline commands --------------------------------------------------------------
"$HDB_BIN" import "$DATA" offline/sub "$SRC/ok.jsonl" || fail "hybriddb import failed"
assert_eq 3 "$("$HDB_BIN" export "$DATA" offline/sub | wc -l)" "hybriddb export lines"
assert_eq '{"_id":"a","v":3}' "$("$HDB_BIN" find "$DATA" offline/sub 'v=3')" "hybriddb find"
assert_eq 2 "$("$HDB_BIN" find "$DATA" offline/sub -c 'v<=3')" "hybriddb find -c"
assert_eq b.json "$("$HDB_BIN" find "$DATA" offline/sub -l 'v=2')" "hybriddb find -l"
set +e
"$HDB_BIN" find "$DATA" offline/sub 'v' >/dev/null 2>&1
rc=$?
"$HDB_BIN" import "$DATA" offline/sub "$SRC/middle.jsonl" 2>"$HDB_TMP/err"
rc2=$?
set -e
assert_eq 2 "$rc" "find with a malformed condition exits 2"
assert_eq 1 "$rc2" "import of a bad file exits 1"
grep -q 'line 2, byte 14' "$HDB_TMP/err" || fail "hybriddb import does not name the bad line: $(cat "$HDB_TMP/err")"
"$HDB_BIN" check "$DATA" >/dev/null || fail "hybriddb check after the offline import"
pass

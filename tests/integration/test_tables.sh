#!/bin/bash
# test_tables.sh HYBRIDDB
#
# Tables on a real mount (fs/tables.h, fs/schema.h, fs/csv.h):
#   - C/.schema: setting it on a collection with a bad document fails with
#     EINVAL, logs the document and column, changes nothing; reading it
#     returns the bytes written; rm makes the collection schemaless; it is
#     never listed; ENOENT without a schema;
#   - every committed document is checked: each type, null as missing,
#     required, "additional": false, the key's file name, renames into
#     and within a table, RENAME_EXCHANGE, write-temp-then-rename, .import
#     (JSON Lines), hybriddb import; the document is unchanged afterwards
#     and the daemon logs document, column and reason;
#   - schema changes: an optional column added to an "additional": false
#     table is immediate (no document read, per /.stats), a type change or
#     a newly required column re-validates and fails on a document that
#     does not fit;
#   - .export.csv (and under .where) against expected bytes; .import.csv
#     with quotes, commas, newlines, CRLF and empty fields, a header that
#     misses a required column, a bad row in the middle (line logged,
#     nothing applied); export -> import round trip;
#   - rmdir / rm -r / rename of tables; a remount, a kill -9 after an
#     acknowledged schema write, and hybriddb check;
#   - hybriddb import --csv / export --csv on the unmounted database: the
#     same documents as .import.csv, the same bytes as .export.csv, a bad
#     row named by line and byte with nothing imported, a collection
#     without schema refused, a .csv file without --csv answered with the
#     command to use, and CSV over 512 MiB refused unread.
. "$(dirname "$0")/lib.sh"
hdb_setup "${1:-}"

# po OP ARGS...: one system call sequence in python; prints OK or the
# errno name (EINVAL, ENOENT, ...).
cat >"$HDB_TMP/po.py" <<'PY'
import ctypes, errno, os, sys

def write(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)

def exchange(a, b):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.renameat2(-100, a.encode(), -100, b.encode(), 2) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))

op, args = sys.argv[1], sys.argv[2:]
try:
    if op == "write":
        write(args[0], args[1])
    elif op == "rename":
        os.rename(args[0], args[1])
    elif op == "exchange":
        exchange(args[0], args[1])
    elif op == "open":
        os.close(os.open(args[0], os.O_RDONLY))
    elif op == "unlink":
        os.unlink(args[0])
    print("OK")
except OSError as e:
    print(errno.errorcode[e.errno])
PY
po() { python3 "$HDB_TMP/po.py" "$@"; }

# expect ERRNO OP ARGS...: po's answer must be ERRNO.
expect() {
	local want=$1 got
	shift
	got=$(po "$@")
	[ "$got" = "$want" ] || fail "$*: expected $want, got $got"
}

# logged TEXT: the daemon's log holds TEXT (a fixed string).
logged() {
	grep -qF -- "$1" "$HDB_LAST_LOG" || fail "the log lacks '$1': $(tail -5 "$HDB_LAST_LOG")"
}

stat_of() { stats_get ".tables.$1"; }

SCHEMA='{"columns": {"id": "integer", "name": "string", "score": "number", "active": "boolean", "tags": "array", "meta": "object"}, "required": ["id", "name"], "key": "id", "additional": false}'
printf '%s\n' "$SCHEMA" >"$HDB_TMP/schema.json"

hdb_mount "$DATA" "$MNT"
T=$MNT/p
mkdir "$T"

# --- setting a schema -----------------------------------------------------------
expect ENOENT open "$T/.schema"
expect ENOENT open "$T/.export.csv"
expect ENOENT open "$T/.import.csv"
po write "$T/1.json" '{"id": 1, "name": "plain", "score": 2.5, "active": true, "tags": ["a", "b"], "meta": {"k": [1, 2]}}' >/dev/null
po write "$T/2.json" '{"id": 2, "name": 7}' >/dev/null
expect EINVAL write "$T/.schema" "$SCHEMA"
logged "/p/2.json: column name:"
expect ENOENT open "$T/.schema"
assert_eq '{"id": 2, "name": 7}' "$(cat "$T/2.json")" "a failed schema write leaves the documents"
expect EINVAL write "$T/.schema" '{"columns": {"id": "int"}}'
expect EINVAL write "$T/.schema" '{"columns": {}}'
expect EINVAL write "$T/.schema" '{"columns": {"a": "string"}, "key": "a", "extra": 1}'
expect ENOENT open "$T/.schema"
po write "$T/2.json" '{"id": 2, "name": "comma, \"quote\"\nnewline", "score": null}' >/dev/null
cp "$HDB_TMP/schema.json" "$T/.schema" || fail "cp of a schema into a collection with fitting documents failed"
assert_file_eq "$HDB_TMP/schema.json" "$T/.schema"
assert_eq "$(stat -c %s "$HDB_TMP/schema.json")" "$(stat -c %s "$T/.schema")" ".schema's size"
assert_eq "1.json 2.json" "$(ls -A "$T" | tr '\n' ' ' | sed 's/ $//')" "ls -A of a table lists documents only"

# --- every committed document is checked -------------------------------------------
check_bad() {	# NAME CONTENT COLUMN: refused at close, logged, nothing changed
	local before=""
	[ -e "$T/$1" ] && before=$(cat "$T/$1")
	expect EINVAL write "$T/$1" "$2"
	logged "/p/$1: column $3:"
	if [ -n "$before" ]; then
		assert_eq "$before" "$(cat "$T/$1")" "$1 after a refused write"
	else
		[ ! -e "$T/$1" ] || fail "$1 exists after a refused create"
	fi
}
check_bad 1.json '{"id": 1.0, "name": "a"}' id
check_bad 1.json '{"id": 1e3, "name": "a"}' id
check_bad 1.json '{"id": "1", "name": "a"}' id
check_bad 1.json '{"id": 1, "name": "a", "score": "high"}' score
check_bad 1.json '{"id": 1, "name": ["a"]}' name
check_bad 1.json '{"id": 1, "name": "a", "active": "true"}' active
check_bad 1.json '{"id": 1, "name": "a", "tags": {"a": 1}}' tags
check_bad 1.json '{"id": 1, "name": "a", "meta": [1]}' meta
check_bad 1.json '{"id": 1, "name": null}' name
check_bad 1.json '{"id": 1}' name
check_bad 1.json '{"id": 1, "name": "a", "colour": "red"}' colour
check_bad 5.json '{"id": 6, "name": "a"}' id
expect EINVAL write "$T/7.json" '[1, 2]'
[ ! -e "$T/7.json" ] || fail "a document that is not an object was created"
expect OK write "$T/3.json" '{"id": 3, "name": "", "active": false, "tags": [], "score": null, "meta": null}'
expect OK write "$T/-4.json" '{"id": -4, "name": " lead", "score": 1e3}'
echo '{"id": 3, "name": "", "active": false, "tags": []}' >"$T/3.json"
# write-temp-then-rename: the temporary name is free, the rename is checked
expect OK write "$T/.9.json.tmp" '{"id": 9, "name": 9}'
expect EINVAL rename "$T/.9.json.tmp" "$T/9.json"
logged "/p/9.json: column name:"
[ -e "$T/.9.json.tmp" ] && [ ! -e "$T/9.json" ] || fail "a refused rename changed the names"
expect OK write "$T/.9.json.tmp" '{"id": 9, "name": "nine"}'
expect OK rename "$T/.9.json.tmp" "$T/9.json"
expect EINVAL rename "$T/9.json" "$T/8.json"
logged "/p/8.json: column id:"
expect OK rename "$T/9.json" "$T/9.json.bak"
expect OK rename "$T/9.json.bak" "$T/9.json"
# renames into the table from another collection
mkdir "$MNT/s"
echo '{"id": 12, "name": "moved"}' >"$MNT/s/12.json"
echo '{"foo": 1}' >"$MNT/s/13.json"
expect EINVAL rename "$MNT/s/13.json" "$T/13.json"
[ -e "$MNT/s/13.json" ] || fail "a refused rename removed its source"
expect OK rename "$MNT/s/12.json" "$T/12.json"
# RENAME_EXCHANGE: within the keyed table (both names wrong) and across
expect EINVAL exchange "$T/1.json" "$T/3.json"
echo '{"foo": 1}' >"$MNT/s/1.json"
expect EINVAL exchange "$T/1.json" "$MNT/s/1.json"
assert_eq plain "$(jq -r .name "$T/1.json")" "1.json after refused exchanges"
# a subdirectory of a table is an independent collection
mkdir "$T/sub"
expect OK write "$T/sub/x.json" '{"anything": true}'
rmdir "$T/sub" 2>/dev/null || rm -r "$T/sub"

# --- .export.csv ------------------------------------------------------------------
printf '%s\n' 'id,name,score,active,tags,meta' '-4," lead",1e3,,,' \
	'1,plain,2.5,true,"[""a"",""b""]","{""k"":[1,2]}"' '12,moved,,,,' '2,"comma, ""quote""' 'newline",,,,' \
	'3,"",,false,[],' '9,nine,,,,' >"$HDB_TMP/want.csv"
cat "$T/.export.csv" >"$HDB_TMP/got.csv"
assert_file_eq "$HDB_TMP/want.csv" "$HDB_TMP/got.csv"
printf '%s\n' 'id,name,score,active,tags,meta' '1,plain,2.5,true,"[""a"",""b""]","{""k"":[1,2]}"' >"$HDB_TMP/want2.csv"
cat "$T/.where/active=true/.export.csv" >"$HDB_TMP/got2.csv"
assert_file_eq "$HDB_TMP/want2.csv" "$HDB_TMP/got2.csv"
expect ENOENT open "$MNT/s/.export.csv"
expect ENOENT open "$MNT/s/.where/.export.csv"
expect ENOENT write "$MNT/s/.import.csv" 'a'

# --- .import.csv ------------------------------------------------------------------
mkdir "$MNT/p2"
cp "$HDB_TMP/schema.json" "$MNT/p2/.schema"
cp "$HDB_TMP/got.csv" "$MNT/p2/.import.csv" || fail "importing the export failed"
cat "$MNT/p2/.export.csv" >"$HDB_TMP/again.csv"
assert_file_eq "$HDB_TMP/got.csv" "$HDB_TMP/again.csv"
for f in "$T"/*.json; do
	b=$(basename "$f")
	assert_eq "$(jq -cS 'del(.[] | nulls)' "$f")" "$(jq -cS . "$MNT/p2/$b")" "round trip of $b"
done
mkdir "$MNT/p3"
cp "$HDB_TMP/schema.json" "$MNT/p3/.schema"
cp "$HDB_TMP/again.csv" "$MNT/p3/.import.csv"
assert_diff_r "$MNT/p2" "$MNT/p3"
# quotes, commas, CRLF inside and between records, empty fields, `""`
expect OK write "$MNT/p2/.import.csv" $'name,id,tags,active\r\n"x, ""y""\r\nz",10,"[1, 2]",\r\n"",11,,true\r\n'
assert_eq '{"id":10,"name":"x, \"y\"\r\nz","tags":[1,2]}' "$(jq -c . "$MNT/p2/10.json")" "10.json from CSV"
assert_eq '{"id":11,"name":"","active":true}' "$(jq -c . "$MNT/p2/11.json")" "11.json from CSV"
# a header without a required column, a bad row in the middle: nothing applied
expect EINVAL write "$MNT/p2/.import.csv" $'id,score\n20,1\n'
logged "/p2/.import.csv: line 1: header:"
expect EINVAL write "$MNT/p2/.import.csv" $'id,name\n20,a\n21,"two\nlines"\n2x,b\n23,c\n'
logged "/p2/.import.csv: line 5: column id:"
expect EINVAL write "$MNT/p2/.import.csv" $'id,name,active\n20,a,\n21,b,""\n'
logged "/p2/.import.csv: line 3: column active:"
expect EINVAL write "$MNT/p2/.import.csv" $'id,name\n20,a\n21,"b\n'
expect EINVAL write "$MNT/p2/.import.csv" $'id,name\n20,a,extra\n'
for n in 20 21 22 23; do
	[ ! -e "$MNT/p2/$n.json" ] || fail "a failed CSV import applied $n.json"
done
# JSON Lines into a table: named from the key, every line checked
expect EINVAL write "$T/.import" $'{"id": 30, "name": "j"}\n{"id": 31, "name": 5}\n'
logged "/p/.import: line 2: 31.json: column name:"
[ ! -e "$T/30.json" ] || fail "a failed .import applied a line"
expect OK write "$T/.import" $'{"id": 30, "name": "j"}\n{"_id": 31, "id": 31, "name": "k"}\n'
assert_eq '30 31' "$(jq -r .id "$T/30.json" "$T/31.json" | tr '\n' ' ' | sed 's/ $//')" ".import into a table"

# --- schema changes ---------------------------------------------------------------------
reval=$(stat_of revalidations)
imm=$(stat_of immediate_changes)
S2='{"columns": {"id": "integer", "name": "string", "score": "number", "active": "boolean", "tags": "array", "meta": "object", "note": "string"}, "required": ["id", "name"], "key": "id", "additional": false}'
expect OK write "$T/.schema" "$S2"
assert_eq "$reval" "$(stat_of revalidations)" "adding an optional column re-validated"
assert_eq $((imm + 1)) "$(stat_of immediate_changes)" "adding an optional column was not immediate"
expect OK write "$T/40.json" '{"id": 40, "name": "n", "note": "new column"}'
S3=${S2/\"score\": \"number\"/\"score\": \"integer\"}
expect EINVAL write "$T/.schema" "$S3"
assert_eq $((reval + 1)) "$(stat_of revalidations)" "a type change did not re-validate"
logged "/p/1.json: column score:"
S4=${S2/\"required\": \[\"id\", \"name\"\]/\"required\": [\"id\", \"name\", \"active\"]}
expect EINVAL write "$T/.schema" "$S4"
assert_eq $((reval + 2)) "$(stat_of revalidations)" "a newly required column did not re-validate"
assert_eq "$S2" "$(cat "$T/.schema")" "the schema after refused changes"
mkdir "$MNT/q"
echo '{"a": 1, "b": "x"}' >"$MNT/q/a.json"
expect OK write "$MNT/q/.schema" '{"columns": {"a": "integer"}}'
expect EINVAL write "$MNT/q/.schema" '{"columns": {"a": "integer", "b": "integer"}}'
assert_eq $((reval + 4)) "$(stat_of revalidations)" "adding a column to an additional table re-validates"

# --- removing, renaming, rmdir ------------------------------------------------------------
expect OK unlink "$MNT/q/.schema"
expect ENOENT open "$MNT/q/.schema"
expect ENOENT unlink "$MNT/q/.schema"
echo '{"a": "now free"}' >"$MNT/q/b.json" || fail "a schemaless collection refused a document"
mkdir "$MNT/e"
expect OK write "$MNT/e/.schema" '{"columns": {"a": "string"}}'
rmdir "$MNT/e" || fail "rmdir of a table that holds only its schema"
mkdir "$MNT/e"
expect ENOENT open "$MNT/e/.schema"
rm -r "$MNT/p3" || fail "rm -r of a table"
mv "$MNT/p2" "$MNT/renamed" || fail "renaming a table"
assert_file_eq "$HDB_TMP/schema.json" "$MNT/renamed/.schema"
expect EINVAL write "$MNT/renamed/50.json" '{"id": 50}'
# a table replaced by a rename goes with its schema
mkdir "$MNT/gone" "$MNT/src"
expect OK write "$MNT/gone/.schema" '{"columns": {"a": "string"}}'
mv -T "$MNT/src" "$MNT/gone" || fail "rename over an empty table"
expect ENOENT open "$MNT/gone/.schema"

# --- remount, check, kill -9 ---------------------------------------------------------------
hdb_umount "$MNT"
"$HDB_BIN" check "$DATA" >"$HDB_TMP/check.out" 2>&1 || fail "hybriddb check: $(cat "$HDB_TMP/check.out")"
printf '%s\n' '{"id": 60, "name": "ok"}' '{"id": 61, "name": 61}' >"$HDB_TMP/bad.jsonl"
if "$HDB_BIN" import "$DATA" p "$HDB_TMP/bad.jsonl" 2>"$HDB_TMP/err"; then
	fail "hybriddb import of a line that does not fit the table succeeded"
fi
grep -q 'line 2, byte 25:' "$HDB_TMP/err" || fail "hybriddb import does not name the line and byte: $(cat "$HDB_TMP/err")"
hdb_mount "$DATA" "$MNT"
[ ! -e "$T/60.json" ] || fail "a failed hybriddb import applied a line"
assert_eq "$S2" "$(cat "$T/.schema")" "the schema after a remount"
expect EINVAL write "$T/1.json" '{"id": 1, "name": 1}'
mkdir "$MNT/k"
expect OK write "$MNT/k/.schema" '{"columns": {"v": "integer"}, "required": ["v"]}'
hdb_kill9 "$MNT"
hdb_mount "$DATA" "$MNT"
assert_eq '{"columns": {"v": "integer"}, "required": ["v"]}' "$(cat "$MNT/k/.schema")" "a schema after kill -9"
expect EINVAL write "$MNT/k/a.json" '{"w": 1}'
hdb_umount "$MNT"
"$HDB_BIN" check "$DATA" >"$HDB_TMP/check.out" 2>&1 || fail "hybriddb check after kill -9: $(cat "$HDB_TMP/check.out")"

# --- hybriddb import --csv, export --csv ---------------------------------------------------
# c1 is loaded by the command, c2 through the mount's .import.csv, from the
# same CSV (got.csv: quotes, commas, a newline in a field, empty fields).
hdb_mount "$DATA" "$MNT"
mkdir "$MNT/c1" "$MNT/c2"
cp "$HDB_TMP/schema.json" "$MNT/c1/.schema"
cp "$HDB_TMP/schema.json" "$MNT/c2/.schema"
cp "$HDB_TMP/got.csv" "$MNT/c2/.import.csv" || fail ".import.csv of got.csv"
hdb_umount "$MNT"
rows=$(($(wc -l <"$HDB_TMP/got.csv") - 2)) # the header and a field's newline are not rows
run_rc 0 "import --csv" "$HDB_BIN" import --csv "$DATA" c1 "$HDB_TMP/got.csv"
run_rc 0 "export --csv" "$HDB_BIN" export --csv "$DATA" c1
cp "$HDB_TMP/out" "$HDB_TMP/cli.csv"
assert_file_eq "$HDB_TMP/got.csv" "$HDB_TMP/cli.csv"
printf '%s\n' 'id,name' '70,a' '71,"two' 'lines"' '7x,b' '73,c' >"$HDB_TMP/bad.csv"
run_rc 1 "import --csv of a row that does not fit" "$HDB_BIN" import --csv "$DATA" c1 "$HDB_TMP/bad.csv"
grep -qF 'line 5, byte 28:' "$HDB_TMP/err" || fail "import --csv does not name line and byte: $(cat "$HDB_TMP/err")"
grep -qF 'column id:' "$HDB_TMP/err" || fail "import --csv does not say why: $(cat "$HDB_TMP/err")"
assert_eq "$rows" "$("$HDB_BIN" export "$DATA" c1 | wc -l)" "documents of c1 after a refused import --csv"
run_rc 1 "import --csv into a missing collection" "$HDB_BIN" import --csv "$DATA" nothere "$HDB_TMP/got.csv"
assert_eq 1 "$(wc -l <"$HDB_TMP/err")" "lines of the message for import --csv into a missing collection"
run_rc 1 "import --csv into a collection without schema" "$HDB_BIN" import --csv "$DATA" s "$HDB_TMP/got.csv"
assert_eq 1 "$(wc -l <"$HDB_TMP/err")" "lines of the message for import --csv into s"
grep -qF 'not a table' "$HDB_TMP/err" || fail "import --csv into s: $(cat "$HDB_TMP/err")"
run_rc 1 "export --csv of a collection without schema" "$HDB_BIN" export --csv "$DATA" s
assert_eq 1 "$(wc -l <"$HDB_TMP/err")" "lines of the message for export --csv of s"
grep -qF 'not a table' "$HDB_TMP/err" || fail "export --csv of s: $(cat "$HDB_TMP/err")"
[ ! -s "$HDB_TMP/out" ] || fail "export --csv of s printed: $(head -c 200 "$HDB_TMP/out")"
run_rc 2 "import of a .csv file without --csv" "$HDB_BIN" import "$DATA" fresh "$HDB_TMP/got.csv"
grep -qF -- "import --csv $DATA fresh $HDB_TMP/got.csv" "$HDB_TMP/err" ||
	fail "import of a .csv file without --csv does not suggest --csv: $(cat "$HDB_TMP/err")"
# The suggestion pastes back into a shell as the same words.
odd="$HDB_TMP/it's a \$x.csv"
cp "$HDB_TMP/got.csv" "$odd"
run_rc 2 "import of an oddly named .csv file without --csv" "$HDB_BIN" import "$DATA" fresh "$odd"
suggested=$(sed -n 's/.*with --csv: hybriddb //p' "$HDB_TMP/err")
assert_eq 5 "$(eval "set -- $suggested" && echo $#)" "words of the suggested command: $suggested"
assert_eq "$odd" "$(eval "set -- $suggested" && printf '%s' "$5")" "file of the suggested command"
truncate -s 513M "$HDB_TMP/big.csv"
run_rc 1 "import --csv of 513 MiB" "$HDB_BIN" import --csv "$DATA" c1 "$HDB_TMP/big.csv"
grep -qF '512 MiB' "$HDB_TMP/err" || fail "import --csv of 513 MiB: $(cat "$HDB_TMP/err")"
hdb_mount "$DATA" "$MNT"
assert_diff_r "$MNT/c2" "$MNT/c1"
cat "$MNT/c1/.export.csv" >"$HDB_TMP/mnt.csv"
assert_file_eq "$HDB_TMP/mnt.csv" "$HDB_TMP/cli.csv"
assert_eq '{"id":2,"name":"comma, \"quote\"\nnewline"}' "$(cat "$MNT/c1/2.json")" "c1/2.json from import --csv"
assert_eq "$rows" "$(ls "$MNT/c1" | wc -l)" "documents of c1 on the mount"
[ ! -e "$MNT/fresh" ] || fail "import of a .csv file without --csv made a collection"
hdb_umount "$MNT"
pass

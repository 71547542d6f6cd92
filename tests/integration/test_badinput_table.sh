#!/bin/bash
# test_badinput_table.sh HYBRIDDB
#
# The bad-input table: mounts a fresh database with a small max_doc_size,
# runs tests/integration/badinput_table.py on it (hostile names, JSON edge
# cases, oversize documents, control-file abuse; each row's exact errno,
# and the database unchanged after every row), then remounts and checks
# that the database is still the one the table started from.
. "$(dirname "$0")/lib.sh"
hdb_setup "${1:-}"
command -v python3 >/dev/null || skip "python3 not installed"

table=$(dirname "$0")/badinput_table.py
max=1048576	# the 100k-deep rows need more than 600 KB
snap=$HDB_TMP/snapshot.json

hdb_mount "$DATA" "$MNT" -o max_doc_size=$max
python3 "$table" run "$MNT" "$max" "$snap" || fail "rows failed; see above"
hdb_umount "$MNT"
hdb_mount "$DATA" "$MNT" -o max_doc_size=$max
python3 "$table" compare "$MNT" "$snap" || fail "the database changed across a remount"
hdb_umount "$MNT"
pass

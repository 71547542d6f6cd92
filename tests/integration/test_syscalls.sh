#!/bin/bash
# test_syscalls.sh HYBRIDDB [TEST_SYSCALLS]
#
# Mounts a fresh database with -o max_doc_size=1M and runs the cmocka program
# tests/test_syscalls.c ($2 or env HDB_SYSCALLS) on it with HDB_MNT set, then
# unmounts and requires a clean daemon exit.
. "$(dirname "$0")/lib.sh"
hdb_setup "${1:-}"

prog=${2:-${HDB_SYSCALLS:-}}
[ -n "$prog" ] && [ -x "$prog" ] || { echo "usage: $0 HYBRIDDB TEST_SYSCALLS (or env HDB_SYSCALLS)" >&2; exit 2; }

hdb_mount "$DATA" "$MNT" -o max_doc_size=1M
rc=0
HDB_MNT=$MNT "$prog" || rc=$?
[ "$rc" -eq 0 ] || fail "test_syscalls failed (exit $rc); see the cmocka output above"
hdb_umount "$MNT"
pass

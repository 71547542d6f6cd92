#!/bin/bash
# test_security.sh HYBRIDDB
#
# Access control of a mount, checked as root against the unprivileged user
# nobody (uid/gid 65534, via setpriv, or su when setpriv is missing):
#   - the data directory is created 0700 and every file in it 0600, even
#     with a permissive umask (022);
#   - without allow_other, nobody cannot enter the mount (EACCES), although
#     the path to it is open;
#   - with -o allow_other, modes are enforced (default_permissions): a 0600
#     document owned by root is unreadable by nobody, a 0644 one is
#     readable, a 0700 collection cannot be listed, a root-owned 0755
#     collection refuses nobody's new document, and the control file
#     (0600, root) cannot be written by nobody; the same after a remount.
. "$(dirname "$0")/lib.sh"
hdb_setup "${1:-}"
[ "$(id -u)" -eq 0 ] || skip "needs root (to act as nobody)"
id nobody >/dev/null 2>&1 || skip "no user nobody"
if command -v setpriv >/dev/null; then
	as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }
elif command -v su >/dev/null; then
	as_nobody() { su nobody -s /bin/sh -c "$(printf '%q ' "$@")"; }
else
	skip "neither setpriv nor su available"
fi
umask 022
# The temp dir is 0700 (mktemp): open the path to the mount point so that
# a refusal can only come from the mount itself.
chmod 755 "$HDB_TMP" "$MNT"
mkdir "$HDB_TMP/open"
as_nobody ls "$HDB_TMP/open" >/dev/null || fail "nobody cannot list $HDB_TMP/open: the test's premise fails"

# expect_denied WHAT CMD...: CMD run as nobody must fail with EACCES.
expect_denied() {
	local what=$1 out
	shift
	if out=$(as_nobody "$@" 2>&1); then
		fail "$what: nobody succeeded: $*"
	fi
	grep -q 'Permission denied' <<<"$out" || fail "$what: expected 'Permission denied', got: $out"
}

# --- the data directory is owner-only -------------------------------------------
hdb_mount "$DATA" "$MNT"
mkdir "$MNT/c"
printf '{"a":1}\n' >"$MNT/c/doc.json"
echo compact >"$MNT/.control" || fail "compact failed"
printf '{"a":2}\n' >"$MNT/c/doc2.json"

# --- without allow_other, only root gets in ----------------------------------------
expect_denied "ls of a mount without allow_other" ls "$MNT"
expect_denied "stat of a document without allow_other" stat "$MNT/c/doc.json"
hdb_umount "$MNT"

assert_eq 700 "$(stat -c %a "$DATA")" "mode of the data directory"
n=$(find "$DATA" -mindepth 1 | wc -l)
[ "$n" -ge 4 ] || fail "expected a MANIFEST, tables and a WAL in $DATA, found: $(ls "$DATA")"
bad=$(find "$DATA" -mindepth 1 \( -type f ! -perm 600 -o ! -type f \) -printf '%M %p\n')
[ -z "$bad" ] || fail "entries of the data directory that are not 0600 files: $bad"

# --- with allow_other, the modes decide ----------------------------------------------
check_modes() {	# when
	expect_denied "cat of a 0600 root document ($1)" cat "$MNT/c/secret.json"
	out=$(as_nobody cat "$MNT/c/public.json") || fail "nobody cannot read a 0644 document ($1)"
	assert_eq '{"public":true}' "$out" "public.json read by nobody ($1)"
	expect_denied "ls of a 0700 collection ($1)" ls "$MNT/private"
	expect_denied "create in a root-owned 0755 collection ($1)" sh -c "echo '{}' >'$MNT/c/intruder.json'"
	[ ! -e "$MNT/c/intruder.json" ] || fail "nobody's document exists after EACCES ($1)"
	assert_eq "600 0 0" "$(stat -c '%a %u %g' "$MNT/.control")" "mode and owner of .control ($1)"
	expect_denied "write to .control ($1)" sh -c "echo compact >'$MNT/.control'"
}
hdb_mount "$DATA" "$MNT" -o allow_other
printf '{"secret":true}\n' >"$MNT/c/secret.json"
printf '{"public":true}\n' >"$MNT/c/public.json"
chmod 600 "$MNT/c/secret.json"
chmod 644 "$MNT/c/public.json"
chmod 755 "$MNT/c"
mkdir -m 700 "$MNT/private"
printf '{"x":1}\n' >"$MNT/private/x.json"
as_nobody ls "$MNT/c" >/dev/null || fail "nobody cannot list a 0755 collection with allow_other"
check_modes "mounted"
hdb_umount "$MNT"
hdb_mount "$DATA" "$MNT" -o allow_other
check_modes "after a remount"
hdb_umount "$MNT"
pass

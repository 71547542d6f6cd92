#!/bin/bash
# test_corruption_trials.sh HYBRIDDB
#
# 100 trials of one flipped byte (HDB_TRIALS overrides the number): a
# database is built through a mount (phase A: 300 documents in 4
# collections, `compact`, 50 more writes, clean unmount -> SSTables and a
# MANIFEST; phase B: 60 creates/overwrites/unlinks, then kill -9 -> a WAL
# holding those records).  Each trial copies the pristine directory, XORs
# one byte at a random offset of a random non-empty *.sst, *.wal or
# MANIFEST-* file with a random non-zero value (seeded: the seed is printed,
# HDB_SEED overrides), then:
#
#   1. `hybriddb check` must exit 3 and name the damaged file, or exit 0
#      only when the byte is provably irrelevant (see accept_check_ok);
#   2. the mount either refuses with exit 1 and a one-line message (only
#      acceptable for MANIFEST damage; for a table's index block or footer,
#      without which nothing in it can be read, or the data block holding
#      the root directory's entry, when the message names the table; and
#      for WAL damage that intact records follow when the message names
#      the segment, the offset and `hybriddb recover`), or serves, and then every document reads back
#      byte-identical to what it should hold or fails with EIO; never
#      different bytes, never a name that should not be there, and the
#      daemon is alive at the end and exits without a crash (status < 128:
#      no signal, no sanitizer abort) when unmounted;
#   3. after a refusal for WAL damage, `hybriddb recover` exits 0, reports
#      the cut (segment and offset) and keeps NNNNNN.wal.damaged, and the
#      database then mounts and serves what was written before the cut
#      (checked as in 2, with the cut as a torn tail's).
#
# Prints the outcome counts: refused / refused for WAL damage and recovered
# / all intact / some EIO.
. "$(dirname "$0")/lib.sh"
hdb_setup "${1:-}"
command -v python3 >/dev/null || skip "python3 not installed"

TRIALS=${HDB_TRIALS:-100}
SEED=${HDB_SEED:-$(( $(date +%s) % 1000000 ))}
echo "test_corruption_trials: seed $SEED (HDB_SEED=$SEED reproduces), $TRIALS trials"
PRISTINE=$HDB_TMP/pristine
REF=$HDB_TMP/ref
W=$HDB_TMP/work
mkdir -p "$REF/a" "$REF/final" "$W"

# --- the pristine database -----------------------------------------------------
# doc C I GEN: the bytes of document I of collection C, generation GEN.
doc() {
	printf '{"c":%d,"i":%d,"gen":%d,"pad":"%s"}\n' "$1" "$2" "$3" "$(head -c $(( ($2 * 53 + $3 * 11) % 1800 )) /dev/zero | tr '\0' q)"
}
hdb_mount "$PRISTINE" "$MNT"
for c in 0 1 2 3; do
	mkdir "$MNT/c$c" "$REF/a/c$c"
	for i in $(seq 1 75); do doc "$c" "$i" 0 >"$REF/a/c$c/d$i.json"; done
	cp "$REF/a/c$c/"*.json "$MNT/c$c/" || fail "cp of collection c$c failed"
done
echo compact >"$MNT/.control" || fail "compact failed"
for k in $(seq 1 50); do	# overwrites and new documents after the compaction
	c=$((k % 4)) i=$(( k % 2 ? k : 75 + k ))
	doc "$c" "$i" 1 >"$REF/a/c$c/d$i.json"
	cp "$REF/a/c$c/d$i.json" "$MNT/c$c/" || fail "cp c$c/d$i.json failed"
done
hdb_umount "$MNT"

# Phase B, after a remount: each op touches its own name; OPS lists
# "name kind wal_end_before wal_end_after" (the WAL's size around the
# close, read from outside: close() returns once the record is written).
cp -a "$REF/a/." "$REF/final/"
hdb_mount "$PRISTINE" "$MNT"
wal=$(find "$PRISTINE" -maxdepth 1 -name '*.wal' -printf '%f\n' | sort | tail -1)
[ -n "$wal" ] || fail "no WAL segment in $PRISTINE while mounted: $(ls "$PRISTINE")"
: >"$W/ops"
for k in $(seq 1 60); do
	c=$((k % 4))
	case $((k % 6)) in
	0) i=$((200 + k)) kind=create ;;
	1 | 2 | 3) i=$(( (k * 7) % 75 + 1 )) kind=overwrite ;;
	4) i=$(( (k * 11) % 75 + 1 )) kind=unlink ;;
	5) i=$((300 + k)) kind=create ;;
	esac
	name=c$c/d$i.json
	grep -q "^$name " "$W/ops" && continue
	before=$(stat -c %s "$PRISTINE/$wal")
	if [ "$kind" = unlink ]; then
		rm "$MNT/$name" || fail "rm $name failed"
		rm "$REF/final/$name"
	else
		doc "$c" "$i" 2 >"$REF/final/$name"
		cp "$REF/final/$name" "$MNT/$name" || fail "cp $name failed"
	fi
	echo "$name $kind $before $(stat -c %s "$PRISTINE/$wal")" >>"$W/ops"
done
newest_wal=$(find "$PRISTINE" -maxdepth 1 -name '*.wal' -printf '%f\n' | sort | tail -1)
assert_eq "$wal" "$newest_wal" "WAL segment at the end of phase B (a flush rotated it?)"
hdb_kill9 "$MNT"
"$HDB_BIN" check "$PRISTINE" >"$W/check0.out" 2>&1 || fail "check of the pristine database failed: $(cat "$W/check0.out")"
[ -s "$PRISTINE/$wal" ] || fail "the WAL $wal holds no records after phase B"
find "$PRISTINE" -name '*.sst' | grep -q . || fail "no SSTable in the pristine database"
note "pristine: $(cd "$PRISTINE" && ls -l --time-style=+ | awk 'NR > 1 { printf "%s(%s) ", $NF, $5 }')"

# --- helpers ----------------------------------------------------------------------
# frame_info FILE OFFSET XOR: for a WAL segment (records from byte 0) or a
# MANIFEST (records after its 16-byte header), framed as in wal_format.h
# ([crc u32][length u32][type u8][payload]): prints "START EXTENT_REACHES_EOF"
# for the record holding OFFSET in the damaged file (the length as damaged),
# or "HEADER 0" for a manifest header byte.
frame_info() {
	python3 - "$@" <<'EOF'
import struct, sys
path, off, xor = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = bytearray(open(path, "rb").read())
size = len(data)
pos = 16 if "MANIFEST-" in path else 0
if off < pos:
    print("HEADER 0"); sys.exit(0)
while True:
    if size - pos < 9:			# a header cut short holds the offset
        print(pos, 1); break
    n = struct.unpack_from("<I", data, pos + 4)[0]
    end = pos + 9 + n
    if off < min(end, size):
        if pos + 4 <= off < pos + 8:	# the flip is in this length field
            d = data[pos + 4:pos + 8]
            d[off - pos - 4] ^= xor
            end = pos + 9 + struct.unpack("<I", d)[0]
        print(pos, int(end >= size)); break
    pos = end
EOF
}

# accept_check_ok FILE OFFSET XOR: why exit 0 of `hybriddb check` is right
# for this flip, or nothing (then exit 0 is a failure).  The only accepted
# case is a record whose claimed extent, as damaged, reaches the end of the
# file, in the newest WAL segment or in the MANIFEST:
#   - a WAL segment's replay stops at the first record that is not intact;
#     when that record's extent reaches the end of the newest segment it is
#     exactly what a crash in the middle of its single write(2) leaves (a
#     torn last record, wal_format.h), which recovery truncates, and nothing
#     after it exists to be lost.  The records before it are replayed.
#     What the mount must then show is computed from CUT = the record's
#     start (documents whose close wrote past CUT may read as before);
#   - the MANIFEST's replay ignores a last record that is cut short or whose
#     CRC fails while it ends exactly at the end of the file
#     (manifest_format.h): the same torn-tail rule.  The mount step then
#     checks that this did not lose or change any acknowledged document.
# SSTables: every byte of a table is covered by a block CRC or the footer's
# CRC and magic (sst_format.h: blocks are contiguous, the footer ends the
# file), and check verifies every table the manifest lists: no exit 0.
# Sets WHY (empty: not accepted) and, for a WAL, CUT.
CUT=-1 WHY=""
accept_check_ok() {
	local f=$1 base info
	base=$(basename "$f")
	WHY=""
	case $base in
	*.wal) [ "$base" = "$wal" ] || return 0 ;;
	MANIFEST-*) ;;
	*) return 0 ;;
	esac
	info=$(frame_info "$f" "$2" "$3") || fail "frame_info $f failed"
	set -- $info
	[ "$1" != HEADER ] && [ "$2" = 1 ] || return 0
	if [[ $base == *.wal ]]; then CUT=$1; fi
	WHY="damaged record at $1 reaches the end of $base: torn tail"
}

# sst_region FILE OFFSET: what byte OFFSET of the (undamaged) table FILE
# belongs to (sst_format.h): "footer", "index" or "filter" (with their
# trailers), "root" for the data block holding the root directory's entry
# ('E' | 0 | ""), else "data".
sst_region() {
	python3 - "$@" <<'EOF'
import struct, sys, zlib
path, off = sys.argv[1], int(sys.argv[2])
d = open(path, "rb").read()
def varint(b, p):
    r = s = 0
    while True:
        c = b[p]; p += 1; r |= (c & 0x7f) << s; s += 7
        if not c & 0x80: return r, p
def contents(o, n):
    stored = d[o:o + n]
    if d[o + n] != 1:
        return stored
    _, p = varint(stored, 0)
    return zlib.decompress(bytes(stored[p:]), -15)
def keys(c):
    nr = struct.unpack_from("<I", c, len(c) - 4)[0]
    end, p, key = len(c) - 4 - 4 * nr, 0, b""
    while p < end:
        sh, p = varint(c, p); un, p = varint(c, p); vl, p = varint(c, p)
        key = key[:sh] + c[p:p + un]
        yield key, c[p + un:p + un + vl]
        p += un + vl
io, isz, fo, fsz = struct.unpack_from("<QQQQ", d, len(d) - 56)
if off >= len(d) - 56: print("footer"); sys.exit(0)
if io <= off < io + isz + 5: print("index"); sys.exit(0)
if fsz and fo <= off < fo + fsz + 5: print("filter"); sys.exit(0)
for _, h in keys(contents(io, isz)):
    bo, p = varint(h, 0); bs, p = varint(h, p)
    if bo <= off < bo + bs + 5:
        root = any(k[:-8] == b"E" + bytes(8) for k, _ in keys(contents(bo, bs)))
        print("root" if root else "data"); sys.exit(0)
print("data")
EOF
}

# verify_mount: every document holds what it should or fails with EIO.
# Prints "intact" or "eio N"; exits non-zero (with the reason) on wrong
# bytes, a wrong presence or another error.
verify_mount() {
	python3 - "$MNT" "$REF/a" "$REF/final" "$W/ops" "$CUT" <<'EOF'
import errno, os, sys
mnt, ref_a, ref_final, ops_path, cut = sys.argv[1:6]
cut = int(cut)
def load(root):
    out = {}
    for c in sorted(os.listdir(root)):
        for n in os.listdir(os.path.join(root, c)):
            out[c + "/" + n] = open(os.path.join(root, c, n), "rb").read()
    return out
a, final = load(ref_a), load(ref_final)
want = {name: [final.get(name)] for name in set(a) | set(final)}
if cut >= 0:	# a torn WAL tail was cut at byte `cut`
    for line in open(ops_path):
        name, kind, before, after = line.split()
        if int(after) <= cut:
            continue		# the whole close is before the cut
        want[name] = [a.get(name)] if int(before) >= cut else [a.get(name), final.get(name)]
eio, bad = 0, []
for name in sorted(want):
    path = os.path.join(mnt, name)
    try:
        with open(path, "rb") as f:
            got = f.read()
    except FileNotFoundError:
        got = None
    except OSError as e:
        if e.errno == errno.EIO:
            eio += 1
            continue
        bad.append("%s: %s" % (name, e))
        continue
    if got not in want[name]:
        what = "absent" if got is None else "%d bytes %r" % (len(got), got[:60])
        bad.append("%s: read %s, expected %s" % (name, what,
                   " or ".join("absent" if w is None else "%d bytes" % len(w) for w in want[name])))
for c in sorted(os.listdir(ref_a)):
    try:
        names = os.listdir(os.path.join(mnt, c))
    except OSError as e:
        if e.errno == errno.EIO:
            continue
        bad.append("listing %s: %s" % (c, e))
        continue
    for n in names:
        if c + "/" + n not in want:
            bad.append("%s/%s listed but never written" % (c, n))
if bad:
    print("\n".join(bad[:8]))
    sys.exit(1)
print("eio %d" % eio if eio else "intact")
EOF
}

# --- the trials ---------------------------------------------------------------------
mapfile -t FILES < <(cd "$PRISTINE" && find . -maxdepth 1 -type f -size +0 \
	\( -name '*.sst' -o -name '*.wal' -o -name 'MANIFEST-*' \) -printf '%f\n' | sort)
[ "${#FILES[@]}" -ge 3 ] || fail "expected SSTables, a WAL and a MANIFEST, found: ${FILES[*]}"
RANDOM=$SEED
rnd() {	# R = a random number in [0, $1), from bash's seeded RANDOM (30 bits)
	R=$(( ((RANDOM << 15) | RANDOM) % $1 ))
}
T=$HDB_TMP/trial
# trial T F OFF XOR: one trial, run in a subshell (so `fail` ends only this
# trial); appends its outcome words to $W/outcome and the daemon's pid to
# $W/pid.  Outcomes: check3 | checkok, then refused | refused-sst |
# refused-wal (then
# the outcome after recover) | intact | eio, then daemon-err when the
# daemon exited non-zero (no crash) at unmount.
trial() {
	local t=$1 f=$2 off=$3 xor=$4 rc pid out what region
	what="trial $t: $f byte $off of $(stat -c %s "$T/$f") ^ 0x$(printf %02x "$xor")"
	perl -e 'open(F, "+<", $ARGV[0]) or die "$!"; sysseek(F, $ARGV[1], 0); sysread(F, $b, 1) == 1 or die;
		$b ^= chr($ARGV[2]); sysseek(F, $ARGV[1], 0); syswrite(F, $b) == 1 or die' "$T/$f" "$off" "$xor" ||
		fail "$what: could not flip the byte"

	CUT=-1
	rc=0
	"$HDB_BIN" check "$T" >"$W/check.out" 2>&1 || rc=$?
	if [ "$rc" -eq 3 ]; then
		grep -qF "$f" "$W/check.out" || fail "$what: check exited 3 without naming $f: $(head -3 "$W/check.out")"
		echo check3 >>"$W/outcome"
	elif [ "$rc" -eq 0 ]; then
		accept_check_ok "$T/$f" "$off" "$xor"
		[ -n "$WHY" ] || fail "$what: hybriddb check exited 0 on a damaged byte it must report: $(head -3 "$W/check.out")"
		echo checkok >>"$W/outcome"
	else
		fail "$what: hybriddb check exited $rc (expected 3, or 0 for an irrelevant byte): $(head -3 "$W/check.out")"
	fi

	rc=0
	"${HDB_ENV_SIGDFL[@]}" "$HDB_BIN" mount "$T" "$MNT" -f >"$W/mount.out" 2>"$W/mount.err" &
	pid=$!
	echo "$pid" >"$W/pid"
	if ! wait_for_mount "$MNT" "$pid" 30; then
		hdb_is_mounted "$MNT" && fail "$what: mount did not come up within 30 s"
		wait "$pid" || rc=$?
		[ "$rc" -eq 1 ] || fail "$what: mount failed with exit $rc (expected 1 or a mount): $(cat "$W/mount.err")"
		[ "$(grep -c . "$W/mount.err")" -eq 1 ] || fail "$what: mount refused without a one-line message: $(cat "$W/mount.err")"
		if [[ $f == *.wal ]] && grep -qF "$f offset " "$W/mount.err" && grep -qF "hybriddb recover" "$W/mount.err"; then
			recover_and_verify "$what" "$pid"
			echo refused-wal >>"$W/outcome"
			return 0
		fi
		if [[ $f == *.sst ]]; then
			# A table whose index or footer is damaged cannot be read at
			# all, and nothing can be served without the root directory.
			region=$(sst_region "$PRISTINE/$f" "$off") || fail "$what: sst_region failed"
			case $region in
			index | footer | root)
				grep -qF "$f offset " "$W/mount.err" || fail "$what: refusal does not name $f: $(cat "$W/mount.err")"
				echo refused-sst >>"$W/outcome"
				return 0
				;;
			esac
			fail "$what: mount refused a database whose $f is damaged in a $region block: $(cat "$W/mount.err")"
		fi
		[[ $f == MANIFEST-* ]] || fail "$what: mount refused a database whose $f is damaged (only MANIFEST damage may): $(cat "$W/mount.err")"
		echo refused >>"$W/outcome"
		return 0
	fi
	serve_and_verify "$what" "$pid"
}

# recover_and_verify WHAT: the mount refused WAL damage; `hybriddb recover`
# must accept the loss, name the cut, and leave a database that mounts and
# serves what was written before the cut (CUT = the damaged record).
recover_and_verify() {
	local what=$1 pid rc=0
	"$HDB_BIN" recover "$T" >"$W/recover.out" 2>&1 || rc=$?
	[ "$rc" -eq 0 ] || fail "$what: recover exited $rc: $(cat "$W/recover.out")"
	CUT=$(sed -n "s/.*WAL $f offset \([0-9]*\): .*kept in $f.damaged.*/\1/p" "$W/recover.out" | head -1)
	[ -n "$CUT" ] || fail "$what: recover did not report the cut in $f: $(cat "$W/recover.out")"
	[ -s "$T/$f.damaged" ] || fail "$what: recover kept no $f.damaged"
	"${HDB_ENV_SIGDFL[@]}" "$HDB_BIN" mount "$T" "$MNT" -f >"$W/mount.out" 2>"$W/mount.err" &
	pid=$!
	echo "$pid" >"$W/pid"
	wait_for_mount "$MNT" "$pid" 30 || fail "$what: no mount after recover: $(cat "$W/mount.err")"
	serve_and_verify "$what (after recover)" "$pid"
}

# serve_and_verify WHAT PID: the daemon PID serves $MNT; checks every
# document, unmounts, and appends the outcome.
serve_and_verify() {
	local what=$1 pid=$2 out rc=0
	out=$(verify_mount) || fail "$what: wrong content: $out
check said: $(head -3 "$W/check.out")"
	hdb_pid_alive "$pid" || fail "$what: the daemon died while reading: $(tail -5 "$W/mount.err")"
	fusermount3 -u "$MNT" || fail "$what: fusermount3 -u failed"
	hdb_wait_pid_exit "$pid" 60 || fail "$what: daemon still running 60 s after unmount"
	wait "$pid" || rc=$?
	[ "$rc" -lt 128 ] || fail "$what: daemon crashed at unmount (status $rc): $(tail -5 "$W/mount.err")"
	echo "${out%% *}" >>"$W/outcome"
	[ "$rc" -eq 0 ] || echo daemon-err >>"$W/outcome"
}

: >"$W/outcome"
: >"$W/failures"
for t in $(seq 1 "$TRIALS"); do
	rm -rf --one-file-system "$T"
	cp -a "$PRISTINE" "$T"
	rnd ${#FILES[@]}
	f=${FILES[$R]}
	rnd "$(stat -c %s "$T/$f")"
	off=$R
	rnd 255
	xor=$((R + 1))
	: >"$W/pid"
	(trial "$t" "$f" "$off" "$xor") 2>>"$W/failures" || echo failed >>"$W/outcome"
	# A trial that failed may leave its mount and daemon behind.
	pid=$(cat "$W/pid")
	hdb_unmount_quiet "$MNT"
	if [ -n "$pid" ] && hdb_pid_alive "$pid"; then
		hdb_wait_pid_exit "$pid" 10 || { kill -KILL "$pid" 2>/dev/null; hdb_wait_pid_exit "$pid" 5 || true; }
	fi
	hdb_is_mounted "$MNT" && fusermount3 -uz "$MNT"
done
count() { grep -cx "$1" "$W/outcome" || true; }
echo "test_corruption_trials: seed $SEED, $TRIALS trials: check reported the file $(count check3), accepted $(count checkok) as a torn tail;" \
	"mount refused $(count refused) for the MANIFEST and $(count refused-sst) for a table's index, footer or root entry," \
	"refused for WAL damage then recovered $(count refused-wal)," \
	"all intact $(count intact), some EIO $(count eio), FAILED $(count failed);" \
	"daemon exited non-zero (no crash) at unmount in $(count daemon-err)"
[ "$(count failed)" -eq 0 ] || fail "$(count failed) of $TRIALS trials failed (seed $SEED):
$(grep '^FAIL' "$W/failures")"
pass

#!/bin/bash
# test_concurrent.sh HYBRIDDB
#
# Four writer processes at once, each writing 500 documents into its own
# collection and 500 into a shared one (interleaved, in batches of 25 per
# cp), while four more processes rewrite one shared 300 KB document over
# and over.  Then: exact counts per collection, exact contents, .stats
# documents == documents written, the hot document is exactly one of the
# versions written (never a mix), and the same after a remount.
. "$(dirname "$0")/lib.sh"
hdb_setup "${1:-}"

NPROC=4
NDOCS=500
BATCH=25
SRC=$HDB_TMP/src

# Source documents: $SRC/p<P>/own/<i>.json and $SRC/p<P>/shared/p<P>-<i>.json
awk -v dir="$SRC" -v np=$NPROC -v nd=$NDOCS 'BEGIN {
	for (p = 0; p < np; p++) {
		system("mkdir -p " dir "/p" p "/own " dir "/p" p "/shared")
		for (i = 0; i < nd; i++) {
			f = sprintf("%s/p%d/own/%04d.json", dir, p, i)
			printf("{\"writer\": %d, \"i\": %d, \"where\": \"own\", \"pad\": \"%*s\"}\n", p, i, (i * 7) % 300, "") > f
			close(f)
			f = sprintf("%s/p%d/shared/p%d-%04d.json", dir, p, p, i)
			printf("{\"writer\": %d, \"i\": %d, \"where\": \"shared\"}\n", p, i) > f
			close(f)
		}
	}
}'
# Four versions of the hot document, each 300 KB, each byte tells its writer.
for p in $(seq 0 $((NPROC - 1))); do
	awk -v p="$p" 'BEGIN { printf("{\"writer\": %d, \"data\": \"", p); for (i = 0; i < 300000; i++) printf("%d", p); print "\"}" }' \
		>"$SRC/hot$p.json"
done

hdb_mount "$DATA" "$MNT"
mkdir "$MNT/shared"
for p in $(seq 0 $((NPROC - 1))); do mkdir "$MNT/w$p"; done
# Created first: cp opens a destination it found absent with O_EXCL.
cp "$SRC/hot0.json" "$MNT/shared/hot.json"

writer() {	# p: own and shared documents, alternating batches
	local p=$1 i j own=() shared=()
	for ((i = 0; i < NDOCS; i += BATCH)); do
		own=() shared=()
		for ((j = i; j < i + BATCH; j++)); do
			own+=("$SRC/p$p/own/$(printf '%04d' $j).json")
			shared+=("$SRC/p$p/shared/p$p-$(printf '%04d' $j).json")
		done
		cp "${own[@]}" "$MNT/w$p/" || return 1
		cp "${shared[@]}" "$MNT/shared/" || return 1
	done
}

hot_writer() {	# p: rewrite the hot document 15 times
	local p=$1 k
	for ((k = 0; k < 15; k++)); do
		cp "$SRC/hot$p.json" "$MNT/shared/hot.json" || return 1
	done
}

pids=()
for p in $(seq 0 $((NPROC - 1))); do
	writer "$p" 2>"$HDB_TMP/writer$p.err" &
	pids+=($!)
	hot_writer "$p" 2>"$HDB_TMP/hot$p.err" &
	pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do
	wait "$pid" || failed=$((failed + 1))
done
[ "$failed" -eq 0 ] || fail "$failed writer process(es) failed: $(cat "$HDB_TMP"/writer*.err "$HDB_TMP"/hot*.err | head -5)"

verify() {	# when
	local p n ok=0
	for p in $(seq 0 $((NPROC - 1))); do
		n=$(find "$MNT/w$p" -type f | wc -l)
		assert_eq "$NDOCS" "$n" "documents in w$p ($1)"
		assert_diff_r "$SRC/p$p/own" "$MNT/w$p"
		for f in "$SRC/p$p/shared/"*.json; do
			cmp -s "$f" "$MNT/shared/$(basename "$f")" ||
				fail "shared/$(basename "$f") differs from what writer $p wrote ($1)"
		done
	done
	n=$(find "$MNT/shared" -type f | wc -l)
	assert_eq $((NPROC * NDOCS + 1)) "$n" "documents in shared ($1)"
	for p in $(seq 0 $((NPROC - 1))); do
		cmp -s "$SRC/hot$p.json" "$MNT/shared/hot.json" && ok=1
	done
	[ "$ok" -eq 1 ] || fail "shared/hot.json is none of the versions written ($1): size $(stat -c %s "$MNT/shared/hot.json"), starts $(head -c 40 "$MNT/shared/hot.json")"
	assert_eq $((2 * NPROC * NDOCS + 1)) "$(stats_get .documents)" ".stats documents ($1)"
	assert_eq $((NPROC + 1)) "$(stats_get .collections)" ".stats collections ($1)"
}

verify "after the writers"
hdb_umount "$MNT"
hdb_mount "$DATA" "$MNT"
verify "after remount"
hdb_umount "$MNT"
pass

#!/bin/bash
# test_stress.sh HYBRIDDB
#
# Four worker processes on one mount for HDB_STRESS_SECONDS (default 60, what `meson test` runs)
# while a fifth forces `echo compact > MNT/.control` over and over.
#
# Model (no two processes race on one name):
#   - worker P owns collection wP and its names d00..d23.json; only P
#     creates, overwrites (cp in place, or cp to a temporary name + mv over),
#     renames (mv dA dB, replacing dB) and unlinks there.  P keeps the model
#     name -> version in memory; it changes the model only after the command
#     succeeded (acknowledged), and appends each version to its log
#     ack.P only after the cp that wrote it succeeded (close returned 0);
#   - version V of worker P is the exact bytes gen P V (below): a JSON
#     object naming P and V, with padding of a length derived from V;
#   - P reads its own documents and must get exactly the model's version,
#     and lists wP and must get exactly the model's names;
#   - P also reads documents of the other workers (a reader: those change
#     under it): each read either fails with ENOENT (unlinked or renamed
#     meanwhile) or returns exactly gen Q V for some V, which it records;
#     after the run every recorded V must be in ack.Q (a version is
#     logged after its close returns, so the check waits for the end).
# At the end (and again after a clean unmount + remount, and after
# `hybriddb check`), every wP holds exactly the model's names and versions.
# Prints the number of operations done.
. "$(dirname "$0")/lib.sh"
hdb_setup "${1:-}"

DURATION=${HDB_STRESS_SECONDS:-60}
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || fail "HDB_STRESS_SECONDS must be a positive integer, got '$DURATION'"
NPROC=4
NNAMES=24
W=$HDB_TMP/work
mkdir -p "$W"

PAD=x
while [ ${#PAD} -lt 40000 ]; do PAD=$PAD$PAD; done

# gen P V: version V of worker P, on stdout.  Mostly small, every 13th
# version ~40 KB (more than one SSTable block).
gen() {
	local len=$(( ($2 * 37) % 1500 ))
	[ $(($2 % 13)) -ne 0 ] || len=$(( 30000 + ($2 * 11) % 10000 ))
	printf '{"p":%d,"v":%d,"pad":"%s"}\n' "$1" "$2" "${PAD:0:len}"
}

# The mount must keep the same answers whatever the compaction state:
# verify_all WHEN compares every wP with the model dumps model.P.
verify_all() {
	local p name v want got
	for p in $(seq 0 $((NPROC - 1))); do
		want=$(cut -d' ' -f1 "$W/model.$p" | sort)
		got=$(ls -A "$MNT/w$p" | sort) || fail "ls $MNT/w$p failed ($1)"
		[ "$want" = "$got" ] || fail "names in w$p differ from the model ($1):
$(diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") | head -10)"
		while read -r name v; do
			gen "$p" "$v" >"$W/want"
			cmp -s "$W/want" "$MNT/w$p/$name" ||
				fail "w$p/$name differs from version $v of the model ($1): $(cmp "$W/want" "$MNT/w$p/$name" 2>&1 | head -1)"
		done <"$W/model.$p"
	done
}

# worker P: runs until $DEADLINE; on error writes the reason to err.P and
# returns 1.  Writes model.P (name version) and ops.P at the end.
worker() {
	local p=$1 ops=0 v=0 r a b q name got
	local -A m=()
	local tmp=$W/tmp.$p out=$W/out.$p seen=$W/seen.$p
	local dir=$MNT/w$p
	set +e +o pipefail	# every failure below is checked and explained
	: >"$W/ack.$p"
	: >"$seen"
	RANDOM=$((p * 7919 + 17))
	werr() { printf '%s\n' "$*" >"$W/err.$p"; }
	while [ "$SECONDS" -lt "$DEADLINE" ]; do
		r=$((RANDOM % 100))
		printf -v a 'd%02d.json' $((RANDOM % NNAMES))
		printf -v b 'd%02d.json' $((RANDOM % NNAMES))
		if [ "$r" -lt 30 ]; then	# create or overwrite in place
			v=$((v + 1))
			gen "$p" "$v" >"$tmp"
			cp "$tmp" "$dir/$a" 2>"$out" || { werr "cp version $v to w$p/$a: $(cat "$out")"; return 1; }
			m[$a]=$v
			echo "$v" >>"$W/ack.$p"
		elif [ "$r" -lt 40 ]; then	# atomic replace: temporary name + rename
			v=$((v + 1))
			gen "$p" "$v" >"$tmp"
			cp "$tmp" "$dir/.tmp-$a" 2>"$out" || { werr "cp version $v to w$p/.tmp-$a: $(cat "$out")"; return 1; }
			echo "$v" >>"$W/ack.$p"
			mv "$dir/.tmp-$a" "$dir/$a" 2>"$out" || { werr "mv w$p/.tmp-$a w$p/$a: $(cat "$out")"; return 1; }
			m[$a]=$v
		elif [ "$r" -lt 50 ]; then	# rename (replacing the target if any)
			[ -n "${m[$a]:-}" ] && [ "$a" != "$b" ] || continue
			mv "$dir/$a" "$dir/$b" 2>"$out" || { werr "mv w$p/$a w$p/$b: $(cat "$out")"; return 1; }
			m[$b]=${m[$a]}
			unset "m[$a]"
		elif [ "$r" -lt 58 ]; then	# unlink
			[ -n "${m[$a]:-}" ] || continue
			rm "$dir/$a" 2>"$out" || { werr "rm w$p/$a: $(cat "$out")"; return 1; }
			unset "m[$a]"
		elif [ "$r" -lt 73 ]; then	# read own: exactly the model's version, or absent
			if [ -n "${m[$a]:-}" ]; then
				gen "$p" "${m[$a]}" >"$tmp"
				cmp -s "$tmp" "$dir/$a" ||
					{ werr "w$p/$a: expected version ${m[$a]}: $(cmp "$tmp" "$dir/$a" 2>&1 | head -1)"; return 1; }
			elif cat "$dir/$a" >/dev/null 2>"$out"; then
				werr "w$p/$a readable after its unlink/rename"; return 1
			else
				grep -q 'No such file' "$out" || { werr "cat absent w$p/$a: $(cat "$out")"; return 1; }
			fi
		elif [ "$r" -lt 80 ]; then	# readdir own: exactly the model's names
			got=$(ls -A "$dir" 2>"$out") || { werr "ls w$p: $(cat "$out")"; return 1; }
			got=$(printf '%s\n' "$got" | sort)
			name=$( (for name in "${!m[@]}"; do echo "$name"; done) | sort)
			[ "$got" = "$name" ] ||
				{ werr "ls w$p differs from the model: got [${got//$'\n'/ }] want [${name//$'\n'/ }]"; return 1; }
		else				# read another worker's document
			q=$(( (p + 1 + RANDOM % (NPROC - 1)) % NPROC ))
			if ! cat "$MNT/w$q/$a" >"$tmp" 2>"$out"; then
				grep -q 'No such file' "$out" || { werr "cat w$q/$a: $(cat "$out")"; return 1; }
			else
				got=$(head -c 40 "$tmp")
				[[ $got =~ ^\{\"p\":$q,\"v\":([0-9]+), ]] ||
					{ werr "w$q/$a is not a version of worker $q: $(stat -c %s "$tmp") bytes: '$(head -c 80 "$tmp")'"; return 1; }
				gen "$q" "${BASH_REMATCH[1]}" >"$tmp.want"
				cmp -s "$tmp.want" "$tmp" ||
					{ werr "w$q/$a: bytes differ from version ${BASH_REMATCH[1]}: $(cmp "$tmp.want" "$tmp" 2>&1 | head -1)"; return 1; }
				jq -e . "$tmp" >/dev/null 2>&1 || { werr "w$q/$a is not valid JSON"; return 1; }
				echo "$q ${BASH_REMATCH[1]}" >>"$seen"
			fi
		fi
		ops=$((ops + 1))
	done
	: >"$W/model.$p"
	for name in "${!m[@]}"; do echo "$name ${m[$name]}" >>"$W/model.$p"; done
	echo "$ops" >"$W/ops.$p"
}

compactor() {	# forces full compactions until the deadline
	local n=0
	set +e
	while [ "$SECONDS" -lt "$DEADLINE" ]; do
		echo compact >"$MNT/.control" 2>"$W/compact.err" || { cat "$W/compact.err" >"$W/err.compactor"; return 1; }
		n=$((n + 1))
		sleep 0.5
	done
	echo "$n" >"$W/ops.compact"
}

hdb_mount "$DATA" "$MNT"
for p in $(seq 0 $((NPROC - 1))); do mkdir "$MNT/w$p"; done

DEADLINE=$((SECONDS + DURATION))
pids=()
for p in $(seq 0 $((NPROC - 1))); do
	worker "$p" &
	pids+=($!)
done
compactor &
pids+=($!)
failed=0
for pid in "${pids[@]}"; do
	wait "$pid" || failed=$((failed + 1))
done
for p in $(seq 0 $((NPROC - 1))) compact; do
	[ -e "$W/ops.$p" ] || [ -e "$W/err.$p" ] || echo "process $p stopped without a report" >"$W/err.$p"
done
hdb_pid_alive "$HDB_PID" || fail "the daemon died during the stress run"
[ "$failed" -eq 0 ] || fail "$failed process(es) failed: $(cat "$W"/err.* 2>/dev/null | head -5)"

# Every version a reader saw was written (and acknowledged) by its writer.
for p in $(seq 0 $((NPROC - 1))); do
	while read -r q v; do
		grep -qx "$v" "$W/ack.$q" || fail "worker $p read version $v of worker $q, never acknowledged"
	done < <(sort -u "$W/seen.$p")
done

ops=0
for p in $(seq 0 $((NPROC - 1))); do ops=$((ops + $(cat "$W/ops.$p"))); done
compactions=$(cat "$W/ops.compact")
[ "$compactions" -ge 2 ] || fail "only $compactions forced compactions ran during the stress run"
verify_all "at the end of the run"
echo compact >"$MNT/.control" || fail "final compact failed"
verify_all "after a final compaction"
hdb_umount "$MNT"
rc=0
"$HDB_BIN" check "$DATA" >"$HDB_TMP/check.out" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || fail "hybriddb check after the stress run: exit $rc: $(head -5 "$HDB_TMP/check.out")"
hdb_mount "$DATA" "$MNT"
verify_all "after a remount"
hdb_umount "$MNT"
docs=$(cat "$W"/model.* | wc -l)
echo "stress: $ops operations by $NPROC workers in $DURATION s, $compactions forced compactions, $docs documents at the end: model and mount agree (also after remount)"
pass

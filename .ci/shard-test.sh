#!/usr/bin/env bash
# -shard and merge as a CI matrix uses them, proven on Debian's 7.3: the
# whole suite once, then as 3 shards one after another, merged; the merged
# report must hold exactly the single run's specs with the same outcomes
# and the same exit code. An incomplete set (2 of the 3 shards) and a shard
# given twice must be refused with exit 3. Prints each run's wall time.
#
#   .ci/shard-test.sh [WORKDIR]      (default: results/shard-test)
set -uo pipefail
cd "$(dirname "$0")/.."
work=$(realpath -m "${1:-results/shard-test}")
rm -rf "$work"; mkdir -p "$work"
export ZCSUITE_ACCEL="${ZCSUITE_ACCEL:-tcg}"
kernel=debian:7.3-cloud
n=3
fail() { echo "shard-test: FAIL $*"; exit 1; }
./run.sh setup >/dev/null || fail "./run.sh setup"

tag=shard-test
. "$(dirname "$0")/timed.sh"
# outcomes DIR: "spec<TAB>outcome" of every spec, sorted.
outcomes() { jq -r '.runs[].verdict.specs[] | "\(.name)\t\(.outcome)"' "$1/verdict.json" | LC_ALL=C sort; }

timed single ./run.sh -kernel "$kernel" -report-dir "$work/single"
single_rc=$rc
[ "$single_rc" = 0 ] || fail "the single run exited $single_rc ($(tail -1 "$work/single.out"))"
t_shards=$(date +%s.%N)
dirs=()
for k in $(seq 1 $n); do
	timed "shard-$k" ./run.sh -kernel "$kernel" -shard "$k/$n" -report-dir "$work/shard-$k"
	case $rc in 0|1) ;; *) fail "shard $k/$n exited $rc ($(tail -1 "$work/shard-$k.out"))";; esac
	[ "$(jq -r '.shard | "\(.k)/\(.n)"' "$work/shard-$k/kernel.json")" = "$k/$n" ] || fail "shard $k/$n: kernel.json names another shard"
	dirs+=("$work/shard-$k")
done
printf 'shard-test: %d shards one after another: %.1fs\n' "$n" "$(echo "$(date +%s.%N) - $t_shards" | bc)"
timed merge ./run.sh merge -report-dir "$work/merged" "${dirs[@]}"
[ "$rc" = "$single_rc" ] || fail "merge exited $rc, the single run $single_rc"
outcomes "$work/single" >"$work/single.outcomes"
outcomes "$work/merged" >"$work/merged.outcomes"
diff -u "$work/single.outcomes" "$work/merged.outcomes" >"$work/outcomes.diff" ||
	fail "merged outcomes differ from the single run's: $(head -20 "$work/outcomes.diff")"
[ "$(jq .exit_code "$work/merged/verdict.json")" = "$single_rc" ] || fail "merged verdict.json exit_code $(jq .exit_code "$work/merged/verdict.json")"
# The four result files of the merged report hold the same specs.
v=$(jq '[.runs[].verdict.specs[]] | length' "$work/merged/verdict.json")
r=$(jq '[.[].SpecReports[]? | select(.LeafNodeType == "It")] | length' "$work/merged/report.json")
j=$(grep -c '<testcase ' "$work/merged/junit.xml")
kt=$(grep -cE '^ +(not )?ok ' "$work/merged/results.ktap")
[ "$v" = "$r" ] && [ "$v" = "$j" ] && [ "$v" = "$kt" ] ||
	fail "merged report files disagree: verdict.json $v, report.json $r, junit.xml $j, results.ktap $kt specs"
[ "$v" = "$(wc -l <"$work/single.outcomes")" ] || fail "merged $v specs, single $(wc -l <"$work/single.outcomes")"
tail -1 "$work/merge.out" | grep -q "merged into" || fail "merge: $(tail -1 "$work/merge.out")"
grep -E '^zcsuite: [0-9]+ passed' "$work/merge.out" | sed 's/^/shard-test: merged: /'

# Sets that are not one run's shards 1..N, each once: exit 3, one line.
timed incomplete ./run.sh merge -report-dir "$work/bad" "${dirs[@]:0:2}"
[ "$rc" = 3 ] && [ "$(wc -l <"$work/incomplete.out")" = 1 ] || fail "2 of 3 shards: exit $rc: $(cat "$work/incomplete.out")"
timed twice ./run.sh merge -report-dir "$work/bad" "${dirs[@]}" "${dirs[0]}"
[ "$rc" = 3 ] && [ "$(wc -l <"$work/twice.out")" = 1 ] || fail "a shard twice: exit $rc: $(cat "$work/twice.out")"
echo "shard-test: ok: $v specs, 3 shards merged = the single run (exit $single_rc)"

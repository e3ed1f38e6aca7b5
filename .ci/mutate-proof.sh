#!/usr/bin/env bash
# .ci/mutate-proof.sh [REPORT_DIR]: proves -mutate on real sources, briefly.
# It reuses .ci/bisect-test.sh's throw-away repository of Debian's
# linux-source-7.3 and its minimal build (run that first), checks the
# repository out at its pristine commit, and runs zcsuite -mutate on
# fs/fuse/dev_uring.c restricted to two mutants:
#   KILL   ADD_QUEUE's zero-copy CAP_SYS_ADMIN refusal returns -EINVAL instead
#          of -EPERM: the cap-gate specs pin the errno and must kill it;
#   EQUIV  a log line dropped (pr_info_ratelimited in copy_header_to_ring), listed
#          in fixtures/mutation/equivalent.txt: it must be recognised, not run.
# zcsuite first builds and tests the unmutated tree (it must pass), then the
# mutant. Exit 0 when the unmutated kernel passed, KILL was killed by a
# cap-gate spec and EQUIV was listed as equivalent.
#
# Environment: ZCSUITE_CACHE, ZCSUITE_ACCEL (read by zcsuite);
# ZCSUITE_MUTATE_TREE runs on another tree instead (e.g. debian-source:7.3,
# whose minimal build a developer's cache may already hold).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=$(mkdir -p "${1:-$ROOT/results/mutate-proof}" && cd "${1:-$ROOT/results/mutate-proof}" && pwd)
CACHE=${ZCSUITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/zcsuite}
KILL=ddd981235c50
EQUIV=0c02096ff7ec
log() { echo "mutate-proof: $*"; }

. "$ROOT/.ci/bisect-tree.sh"
bisect_tree "${ZCSUITE_MUTATE_TREE:-}"

T0=$(date +%s)
set +e
./run.sh -kernel-tree "$REPO" -mutate fs/fuse/dev_uring.c -mutate-id "$KILL,$EQUIV" -report-dir "$OUT" 2>&1 | tee "$OUT.log"
RC=${PIPESTATUS[0]}
set -e
T_ALL=$(( $(date +%s) - T0 ))
J="$OUT/mutation.json"
if [ ! -f "$J" ]; then
	log "FAIL: zcsuite exited $RC without $J; see $OUT.log"
	exit 1
fi
log "times: unmutated build $(jq -r '.baseline.build_s | round' "$J")s suite $(jq -r '.baseline.test_s | round' "$J")s; mutant build $(jq -r --arg id "$KILL" '.mutants[] | select(.id == $id) | .build_s | round' "$J")s suite $(jq -r --arg id "$KILL" '.mutants[] | select(.id == $id) | .test_s | round' "$J")s; total ${T_ALL}s"
KILLER=$(jq -r --arg id "$KILL" '.mutants[] | select(.id == $id and .status == "killed") | .killer' "$J")
EQ=$(jq -r --arg id "$EQUIV" '.mutants[] | select(.id == $id) | .status' "$J")
if [ "$RC" -ne 0 ] || [ -z "$KILLER" ] || [ "$EQ" != equivalent ]; then
	log "FAIL: exit $RC (want 0); $KILL killed by '${KILLER:-nothing}'; $EQUIV is '${EQ:-absent}' (want equivalent); see $OUT/mutation.md"
	exit 1
fi
log "OK: $KILL killed by '$KILLER'; $EQUIV recognised as equivalent"

#!/usr/bin/env bash
# .ci/coverage-proof.sh [REPORT_DIR]: proves -coverage on real sources,
# briefly. It reuses .ci/bisect-test.sh's throw-away repository of Debian's
# linux-source-7.3 (run that first), checks it out at its pristine commit,
# builds it with gcov (kernelconfig/gcov.config, its own build directory
# beside the minimal one) and runs the cap-gate specs in ONE VM (-jobs 1)
# with -coverage. Exit 0 when the run passed, exactly that VM's counters were
# collected, and coverage.json shows fs/fuse/dev_uring.c executed: lines hit
# and fuse_uring_cmd (the uring_cmd entry every cap-gate spec goes through)
# called.
#
# Environment: ZCSUITE_CACHE, ZCSUITE_ACCEL (read by zcsuite);
# ZCSUITE_COVERAGE_TREE runs on another tree instead (e.g. debian-source:7.3,
# whose gcov build a developer's cache may already hold).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=$(mkdir -p "${1:-$ROOT/results/coverage-proof}" && cd "${1:-$ROOT/results/coverage-proof}" && pwd)
CACHE=${ZCSUITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/zcsuite}
log() { echo "coverage-proof: $*"; }

. "$ROOT/.ci/bisect-tree.sh"
bisect_tree "${ZCSUITE_COVERAGE_TREE:-}"

T0=$(date +%s)
set +e
./run.sh -kernel-tree "$REPO" -coverage -label-filter 'cap-gate && abi-upstream' -jobs 1 -report-dir "$OUT" 2>&1 | tee "$OUT.log"
RC=${PIPESTATUS[0]}
set -e
T_ALL=$(( $(date +%s) - T0 ))
J="$OUT/coverage.json"
if [ ! -f "$J" ]; then
	log "FAIL: zcsuite exited $RC without $J; see $OUT.log"
	exit 1
fi
VMS=$(jq -r '.vms_collected | length' "$J")
MISSING=$(jq -r '.vms_missing // [] | join(" ")' "$J")
LINES=$(jq -r '.files[] | select(.path == "fs/fuse/dev_uring.c") | "\(.lines_hit)/\(.lines) lines, \(.branches_hit)/\(.branches) branches"' "$J")
HIT=$(jq -r '.files[] | select(.path == "fs/fuse/dev_uring.c") | .lines_hit' "$J")
CMD=$(jq -r '.files[] | select(.path == "fs/fuse/dev_uring.c") | .functions[] | select(.name == "fuse_uring_cmd") | .hits' "$J")
log "dev_uring.c: ${LINES:-absent}; fuse_uring_cmd called ${CMD:-no} time(s); VMs collected $VMS${MISSING:+, missing $MISSING}; total ${T_ALL}s (build, boot, suite, reports)"
if [ "$RC" -ne 0 ] || [ "$VMS" -ne 1 ] || [ -n "$MISSING" ] || [ "${HIT:-0}" -le 0 ] || [ "${CMD:-0}" -le 0 ]; then
	log "FAIL: exit $RC (want 0), want one VM collected and fs/fuse/dev_uring.c hit with fuse_uring_cmd called; see $OUT/coverage.md"
	exit 1
fi
log "OK: coverage collected from one VM; fuse_uring_cmd called $CMD time(s)"

#!/usr/bin/env bash
# .ci/debug-kernel.sh [REPORT_DIR]: builds Debian's linux-source-7.3 with
# kernelconfig/min.config + debug.config (KASAN, KFENCE, lockdep, UBSAN,
# DEBUG_LIST, DEBUG_ATOMIC_SLEEP) and runs the whole suite on it, nothing
# filtered. Its exit code is zcsuite's: 0 only when every spec passed or
# failed the way fixtures/expectations records for 7.3-rc7, and no kernel
# splat was left unexplained. Prints the build, boot and suite times and
# every splat title the run saw (expected or not).
#
# Environment: ZCSUITE_CACHE, ZCSUITE_ACCEL and ZCSUITE_CCACHE (read by zcsuite).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${1:-$ROOT/results/debug-kernel}
mkdir -p "$(dirname "$OUT")"
log() { echo "debug-kernel: $*"; }

T0=$(date +%s)
set +e
./run.sh -kernel-tree debian-source:7.3 -debug-kernel -report-dir "$OUT" 2>&1 | tee "$OUT.log"
RC=${PIPESTATUS[0]}
set -e
T_ALL=$(( $(date +%s) - T0 ))

# The phases zcsuite recorded (a regexp on their names), in seconds; "kernel"
# is the build (configure + make), boot:, resume: and suite: are per VM ("-"
# when no VM had that phase: every VM resumed from a saved state, or none did).
phase() { jq -r --arg re "$1" '[.phases[] | select(.name | test($re)) | .duration_ns / 1e9 | . * 10 | round / 10] | map(tostring) | join("/") | if . == "" then "-" else . + "s" end' "$OUT/kernel.json" 2>/dev/null || echo "?"; }
log "times: build $(phase '^kernel$'), boot $(phase '^boot:'), resume $(phase '^resume:'), suite $(phase '^suite:'), total ${T_ALL}s"
if [ -f "$OUT/verdict.json" ]; then
	jq -r '[.runs[].verdict | ((.specs // [])[] | .splats // [] | .[].title), ((.outside_splats // [])[].title)] | unique | if length == 0 then "debug-kernel: splats seen: none" else "debug-kernel: splats seen:", (.[] | "  " + .) end' "$OUT/verdict.json"
fi
if [ "$RC" -ne 0 ]; then
	log "FAIL: the full suite on the debug kernel exited $RC, want 0; see $OUT.log"
	exit "$RC"
fi
log "OK: the full suite passed on the debug kernel"

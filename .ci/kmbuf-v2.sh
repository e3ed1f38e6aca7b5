#!/usr/bin/env bash
# .ci/kmbuf-v2.sh [REPORT_DIR]: the seed series on a real kernel. Builds
# Debian's linux-source-7.2 with the kmbuf v2 series applied (-patch, from
# ../shared/kernel/kmbuf-v2/ beside the checkout) and kernelconfig/min.config,
# runs the whole suite with -abi auto (nothing filtered) and requires:
#   - exit 0: every spec passed or skipped for its reason, and the WARNs the
#     series itself contains were matched by the specs that declare them;
#   - the ABI the run detected (kernel.json abi_profile) is kmbuf-v2;
#   - every abi-upstream spec skipped with the ABI gate's reason, and at
#     least one abi-kmbuf spec passed.
# Prints the build, boot and suite times. Without the series folder it says
# so in one line and exits 0 (the series' code is not ours to ship).
#
# Environment: ZCSUITE_KMBUF_V2_DIR (the series folder; default
# ../shared/kernel/kmbuf-v2 from the checkout's top), ZCSUITE_KMBUF_V2_KERNEL
# (zcsuite flags choosing the kernel instead of the series build, e.g.
# "-kernel debian:7.3-cloud": how the script's own failure path is proved),
# ZCSUITE_CACHE, ZCSUITE_ACCEL, ZCSUITE_CCACHE (read by zcsuite).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${1:-$ROOT/results/kmbuf-v2}
log() { echo "kmbuf-v2: $*"; }

SERIES=${ZCSUITE_KMBUF_V2_DIR:-$ROOT/../shared/kernel/kmbuf-v2}
PATCH=$SERIES/kmbuf-v2-on-7.2.patch
if [ -z "${ZCSUITE_KMBUF_V2_KERNEL:-}" ] && [ ! -f "$PATCH" ]; then
	log "SKIP: no kmbuf v2 series at $SERIES (kmbuf-v2-on-7.2.patch); set ZCSUITE_KMBUF_V2_DIR to test it"
	exit 0
fi
command -v jq >/dev/null || { log "jq is not installed"; exit 125; }
mkdir -p "$(dirname "$OUT")"

if [ -n "${ZCSUITE_KMBUF_V2_KERNEL:-}" ]; then
	read -r -a KERNEL <<<"$ZCSUITE_KMBUF_V2_KERNEL"
else
	KERNEL=(-kernel-tree debian-source:7.2 -patch "$PATCH")
fi
T0=$(date +%s)
set +e
./run.sh "${KERNEL[@]}" -abi auto -report-dir "$OUT" 2>&1 | tee "$OUT.log"
RC=${PIPESTATUS[0]}
set -e
T_ALL=$(( $(date +%s) - T0 ))

# Phase durations from kernel.json (a regexp on their names), in seconds;
# "kernel" is the build (configure + make), boot:/suite: are per VM.
phase() { jq -r --arg re "$1" '[.phases[] | select(.name | test($re)) | .duration_ns / 1e9 | . * 10 | round / 10] | map(tostring) | join("/") | if . == "" then "-" else . + "s" end' "$OUT/kernel.json" 2>/dev/null || echo "?"; }
log "times: build $(phase '^kernel$'), boot $(phase '^boot:'), resume $(phase '^resume:'), suite $(phase '^suite:'), total ${T_ALL}s"

fail() { log "FAIL: $*; see $OUT.log"; exit 1; }
case $RC in 129|130|143) log "interrupted (zcsuite exited $RC)"; exit "$RC" ;; esac
[ -f "$OUT/kernel.json" ] && [ -f "$OUT/verdict.json" ] || fail "zcsuite exited $RC and wrote no kernel.json/verdict.json"
ABI=$(jq -r '.abi_profile // ""' "$OUT/kernel.json")
SPECS='[(.runs // [])[] | (.verdict.specs // [])[]]'
count() { jq -r "$SPECS | map(select($1)) | length" "$OUT/verdict.json"; }
UP_ALL=$(count '(.labels // []) | index("abi-upstream")')
UP_GATED=$(count '((.labels // []) | index("abi-upstream")) and .outcome == "SKIP" and (.reason // "" | startswith("ABI gate: "))')
KM_PASS=$(count '((.labels // []) | index("abi-kmbuf")) and .outcome == "PASS"')
DECLARED=$(count '(.expected_splats // []) != [] and ((.splats // []) != [])')
log "abi $ABI; $KM_PASS abi-kmbuf specs passed; $UP_GATED of $UP_ALL abi-upstream specs skipped at the ABI gate; $DECLARED spec(s) saw the splat they declare"
jq -r "$SPECS | map(select(.splats // [] | length > 0)) | .[] | \"kmbuf-v2:   splat in \" + .name + \": \" + ([.splats[].title] | join(\", \")) + \" (\" + .outcome + \")\"" "$OUT/verdict.json"
# abi_profile is "NAME (auto: the evidence)".
[ "${ABI%% *}" = "kmbuf-v2" ] || fail "the run detected ABI '${ABI:-none}', want kmbuf-v2"
[ "$RC" -eq 0 ] || fail "the full suite exited $RC, want 0"
[ "$UP_ALL" -gt 0 ] && [ "$UP_GATED" -eq "$UP_ALL" ] || fail "$UP_GATED of $UP_ALL abi-upstream specs skipped with the ABI gate's reason, want all"
[ "$KM_PASS" -gt 0 ] || fail "no abi-kmbuf spec passed"
log "OK: kmbuf-v2 detected, the whole suite passed on the series (exit 0)"

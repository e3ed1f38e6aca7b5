#!/usr/bin/env bash
# .ci/bisect-test.sh [REPORT_DIR]: proves the kernel developers' loop on real
# sources. It unpacks Debian's linux-source-7.3 (zcsuite -fetch-source), puts a
# throw-away git history on top of it in the cache (never in this repository):
#   c1 pristine   c2 harmless   c3 breaks one guard the suite checks   c4 harmless
# builds c1 with kernelconfig/min.config and runs the whole suite against it
# with no filter (it must exit 0: 7.3-rc7's known bugs are KNOWN-FAIL through
# fixtures/expectations, anything else fails this script, and at least one of
# the specs that hunt the guard must have passed), then runs `git bisect start
# c4 c1 && git bisect run zcsuite -kernel-tree … -bisect …` and checks that the
# bisection names c3. The breaking patch is generated here with sed. Exit 0
# when c1 passed and the bisection named c3.
#
# Environment: ZCSUITE_CACHE (cache; default as zcsuite's), ZCSUITE_BISECT_GUARD
# (which guard c3 breaks, see GUARD below), ZCSUITE_PRISTINE_ARGS (extra zcsuite
# flags for the c1 run, default none: the whole suite), ZCSUITE_ACCEL and
# ZCSUITE_CCACHE (read by zcsuite).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=$(mkdir -p "${1:-$ROOT/results/bisect-test}" && cd "${1:-$ROOT/results/bisect-test}" && pwd)
CACHE=${ZCSUITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/zcsuite}
mkdir -p "$CACHE" && CACHE=$(cd "$CACHE" && pwd)
export ZCSUITE_CACHE=$CACHE

# GUARD chooses the guard c3 breaks: the sed expression applied to BREAK_FILE,
# the -bad-if SIGNATURE that hunts it and the -label-filter FILTER that keeps
# each bisect step short. Switching guards is this one variable.
GUARD=${ZCSUITE_BISECT_GUARD:-cap-gate}
BREAK_FILE=fs/fuse/dev_uring.c
case "$GUARD" in
enable_uring)
	# Rename the fuse.enable_uring module parameter: the command line's
	# fuse.enable_uring=1 no longer reaches it and the env spec fails.
	BREAK_SED='s/^module_param(enable_uring, bool, 0644);/module_param_named(enable_uring_renamed, enable_uring, bool, 0644);/'
	SIGNATURE='has fuse\.enable_uring switched on'
	FILTER=env ;;
cap-gate)
	# Drop the CAP_SYS_ADMIN check for zero-copy in fuse_uring_add_queue().
	BREAK_SED='s/if (zero_copy \&\& !capable(CAP_SYS_ADMIN))/if (zero_copy \&\& 0)/'
	SIGNATURE='ADD_QUEUE zero copy needs CAP_SYS_ADMIN'
	FILTER='cap-gate && abi-upstream' ;;
*)
	echo "bisect-test: unknown ZCSUITE_BISECT_GUARD=$GUARD (enable_uring, cap-gate)" >&2; exit 2 ;;
esac

now() { date +%s; }
T_START=$(now)
log() { echo "bisect-test: $*"; }

# zcsuite as users run it: through run.sh, which builds the command and
# execs it (its exit codes are what git bisect run sees).
ZCSUITE="$ROOT/run.sh"
mkdir -p "$CACHE/bisect-test"

# 1. Debian's source, unpacked once into the cache.
T0=$(now)
SRC=$("$ZCSUITE" -fetch-source 7.3)
T_FETCH=$(( $(now) - T0 ))
log "linux-source-7.3 in $SRC (${T_FETCH}s)"

# 2. The throw-away repository: a hard-linked copy of the source (git and sed
# replace files rather than write into them, so the unpacked tree stays
# pristine) with the pristine tree as its first commit, reused across runs.
REPO="$CACHE/bisect-test/linux-source-7.3"
g() { git -C "$REPO" -c user.name=zcsuite -c user.email=zcsuite@invalid -c commit.gpgsign=false "$@"; }
T0=$(now)
if [ "$(g rev-parse -q --verify zcsuite-pristine 2>/dev/null)" = "" ] || [ "$(cat "$REPO/.zcsuite-src" 2>/dev/null)" != "$SRC" ]; then
	log "creating the throw-away repository $REPO"
	rm -rf "$REPO"
	mkdir -p "$REPO"
	cp -al "$SRC/." "$REPO/"
	g init -q
	g config gc.auto 0
	# -f: Debian's tarball carries a .gitignore that ignores its top level.
	g add -A -f
	g commit -q -m "pristine Debian linux-source-7.3"
	g tag zcsuite-pristine
	printf '%s\n' ".zcsuite-src" > "$REPO/.git/info/exclude"
	echo "$SRC" > "$REPO/.zcsuite-src"
else
	g bisect reset >/dev/null 2>&1 || true
	g checkout -q -f --detach zcsuite-pristine
	g clean -q -fd
fi
T_REPO=$(( $(now) - T0 ))
C1=$(g rev-parse zcsuite-pristine)

# 3. Build c1 with the minimal fragment and run the whole suite against it,
# nothing filtered: our own minimal kernel must pass our own suite (exit 0).
# The known bugs of 7.3-rc7 count as KNOWN-FAIL (fixtures/expectations); any
# other failure, a splat, or a kernel that cannot be tested fails here. The
# specs the bisection hunts with must have run and passed on c1, or a bad c3
# could not be told from a good one.
log "c1 $C1: build + full suite"
T0=$(now)
set +e
# shellcheck disable=SC2086
"$ZCSUITE" -kernel-tree "$REPO" -report-dir "$OUT/pristine" ${ZCSUITE_PRISTINE_ARGS:-} 2>&1 | tee "$OUT/pristine.log"
RC=${PIPESTATUS[0]}
set -e
T_PRISTINE=$(( $(now) - T0 ))
if [ "$RC" -ne 0 ]; then
	log "FAIL: the full suite on the pristine tree exited $RC, want 0; see $OUT/pristine.log"
	exit 1
fi
# A matching spec may skip for its own reason (a feature-absent case); none may
# be KNOWN-FAIL, and at least one must pass.
HUNTED=$(jq -r --arg re "$SIGNATURE" '[.runs[].verdict.specs[] | select(.name | test($re)) | .outcome] | "\([.[] | select(. == "PASS")] | length) \([.[] | select(. != "PASS" and . != "SKIP")] | length)"' "$OUT/pristine/verdict.json")
if [ "${HUNTED% *}" = 0 ] || [ "${HUNTED#* }" != 0 ]; then
	log "FAIL: on the pristine tree, of the specs matching '$SIGNATURE', ${HUNTED% *} passed and ${HUNTED#* } neither passed nor skipped: the guard was not observed holding"
	exit 1
fi

# 4. c2..c4 on top of c1, regenerated on every run.
g checkout -q --detach zcsuite-pristine
echo "/* zcsuite bisect test: harmless change 1 */" >> "$REPO/$BREAK_FILE"
g commit -q -a -m "harmless: a comment in $BREAK_FILE"
C2=$(g rev-parse HEAD)
cp "$REPO/$BREAK_FILE" "$CACHE/bisect-test/before.c"
sed -i "$BREAK_SED" "$REPO/$BREAK_FILE"
if cmp -s "$REPO/$BREAK_FILE" "$CACHE/bisect-test/before.c"; then
	log "FAIL: the $GUARD expression changed nothing in $BREAK_FILE: update BREAK_SED"
	exit 1
fi
g commit -q -a -m "break the $GUARD guard"
C3=$(g rev-parse HEAD)
echo "/* zcsuite bisect test: harmless change 2 */" >> "$REPO/fs/fuse/inode.c"
g commit -q -a -m "harmless: a comment in fs/fuse/inode.c"
C4=$(g rev-parse HEAD)
log "history: c1 ${C1:0:12} pristine, c2 ${C2:0:12} harmless, c3 ${C3:0:12} breaks $GUARD, c4 ${C4:0:12} harmless"

# 5. git bisect run with zcsuite, exactly as the README shows it: from the
# kernel tree, run.sh by its path. The last step's reports are in
# $OUT/bisect; every step's output is in $OUT/bisect.log.
T0=$(now)
g bisect start "$C4" "$C1" >/dev/null
trap 'g bisect reset >/dev/null 2>&1 || true' EXIT
set +e
(cd "$REPO" && git bisect run "$ZCSUITE" --kernel-tree "$PWD" --bisect --bad-if "$SIGNATURE" --label-filter "$FILTER" --no-destructive --report-dir "$OUT/bisect") 2>&1 | tee "$OUT/bisect.log"
set -e
T_BISECT=$(( $(now) - T0 ))
FIRST_BAD=$(g rev-parse -q --verify refs/bisect/bad || true)
g bisect log > "$OUT/bisect-log.txt" || true

echo
# 6. Times, then the verdict.
# phase DIR NAME: the first phase called NAME or NAME:<vm>, in seconds.
phase() { command -v jq >/dev/null || { echo "?"; return; }; jq -r --arg p "$2" '.phases[] | select(.name == $p or (.name | startswith($p + ":"))) | .duration_ns / 1e9 | . * 10 | round / 10' "$1/kernel.json" 2>/dev/null | head -1; }
log "times: fetch+unpack ${T_FETCH}s, repository ${T_REPO}s, c1 build+suite ${T_PRISTINE}s (build $(phase "$OUT/pristine" kernel)s, boot $(phase "$OUT/pristine" boot)s), bisect ${T_BISECT}s, total $(( $(now) - T_START ))s"
grep -E '^zcsuite: (built|bisect verdict)' "$OUT/bisect.log" | sed 's/^/bisect-test:   /' || true
if [ "$FIRST_BAD" != "$C3" ]; then
	log "FAIL: git bisect named ${FIRST_BAD:-nothing}, want c3 $C3 ($OUT/bisect.log)"
	exit 1
fi
log "OK: git bisect run named c3 ${C3:0:12} (break the $GUARD guard)"

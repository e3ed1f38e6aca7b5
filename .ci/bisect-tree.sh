# Sourced by the .ci scripts that reuse .ci/bisect-test.sh's throw-away
# repository of Debian's linux-source-7.3 and its builds.
# bisect_tree OVERRIDE: set REPO to OVERRIDE when it is non-empty; else to
# that repository, checked out clean at its pristine commit (after any
# bisect it was left in). Without the repository it says so and exits 1.
# Needs CACHE and log().
bisect_tree() {
	REPO="$CACHE/bisect-test/linux-source-7.3"
	if [ -n "${1:-}" ]; then
		REPO=$1
	elif [ ! -d "$REPO/.git" ]; then
		log "FAIL: $REPO is missing: run .ci/bisect-test.sh first (this step reuses its tree)"
		exit 1
	else
		git -C "$REPO" bisect reset >/dev/null 2>&1 || true
		git -C "$REPO" checkout -q -f --detach zcsuite-pristine
		git -C "$REPO" clean -q -fd
	fi
}

#!/usr/bin/env bash
# zcsuite entry point.
#   ./run.sh [zcsuite flags]   install what is missing, then test a kernel (default debian:7.3-cloud)
#   ./run.sh test              vet + unit tests + the VM suite against debian:7.3-cloud and debian:7.2-cloud
#   ./run.sh setup             only install the host packages
# Exit codes: 0 good, 1 bad, 2 usage, 125 kernel could not be tested (git bisect run compatible).
set -euo pipefail
# Relative paths in the flags (e.g. --kernel-tree . under git bisect run)
# are resolved against the caller's directory.
export ZCSUITE_CALLER_DIR="$PWD"
cd "$(dirname "$0")"

# need PKG...: install the Debian packages that are missing.
need() {
	local missing=() p
	for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	local sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
	echo "zcsuite: installing ${missing[*]}" >&2
	$sudo apt-get update -q >/dev/null || true
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# Host packages: QEMU and apt/dpkg always; a kernel toolchain for tree builds.
setup() {
	need qemu-system-x86 apt dpkg ca-certificates
	case " $* " in *" --kernel-tree"*|*" --series"*|*" -kernel-tree"*|*" -series"*|*" test "*)
		need make gcc flex bison bc libelf-dev libssl-dev xz-utils perl git jq ;;
	esac
}

case "${1:-}" in
setup)
	shift; setup test "$@" ;;
test)
	shift; setup test "$@"
	go vet ./...
	go test -count=1 $(go list ./... | grep -v '/suites/host$')
	go test -count=1 -timeout 80m -v ./suites/host -args -require-vm "$@" ;;
bench)
	shift; setup "$@"; need fio
	exec go run ./harness/cmd/zcsuite -bench "$@" ;;
*)
	setup "$@"
	exec go run ./harness/cmd/zcsuite "$@" ;;
esac

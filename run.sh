#!/usr/bin/env bash
# zcsuite entry point.
#   ./run.sh [zcsuite flags]   install what is missing, then test a kernel (default debian:7.3-cloud)
#   ./run.sh test              vet + unit tests + the VM suite against the CI kernels
#   ./run.sh bench             the benchmark (fio in the VM)
#   ./run.sh setup             only install the host packages
# The zcsuite command is built into the cache and exec'd, so its exit code
# and its signal handling are the caller's: 0 good, 1 bad, 2 usage,
# 125 kernel could not be tested, 128 (with -bisect) stop the bisection,
# 129/130/143 interrupted by SIGHUP/SIGINT/SIGTERM (see ./run.sh -help).
set -euo pipefail
# Relative paths in the flags (-kernel, -report-dir, -kernel-tree, ...) are
# taken from the caller's directory.
export ZCSUITE_CALLER_DIR="${ZCSUITE_CALLER_DIR:-$PWD}"
cd "$(dirname "$0")"

# untestable MSG: this host cannot run zcsuite; under -bisect that must stop
# the bisection (128), not mark or skip a commit.
untestable() {
	echo "zcsuite: $*" >&2
	case " $* ${ARGS:-} " in *" -bisect "*|*" --bisect "*|*" -bisect=true "*|*" --bisect=true "*) exit 128 ;; esac
	exit 125
}
ARGS="$*"

# need PKG...: install the Debian packages that are missing.
need() {
	local missing=() p
	for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	local sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
	echo "zcsuite: installing ${missing[*]}" >&2
	$sudo apt-get update -q >/dev/null || true
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
		untestable "apt-get install ${missing[*]} failed"
}

# Host packages: QEMU and apt/dpkg always; a kernel toolchain for tree builds.
setup() {
	need qemu-system-x86 apt dpkg ca-certificates
	case " $* " in *" --kernel-tree"*|*" --series"*|*" -kernel-tree"*|*" -series"*|*" test "*)
		need make gcc flex bison bc libelf-dev libssl-dev xz-utils lz4 perl git jq stress-ng ;;
	esac
	# -coverage: lcov (geninfo, lcov, genhtml) turns the gcov counters into
	# reports; `test` too, so that the lcov unit test runs instead of skipping.
	case " $* " in *" -coverage"*|*" --coverage"*|*" test "*) need lcov ;; esac
}

# build: compile the zcsuite command into the cache (one binary per
# checkout; Go's build cache makes an unchanged build a fraction of a
# second) and print its path.
build() {
	command -v go >/dev/null || untestable "go is not installed (zcsuite needs the Go version in go.mod)"
	local cache="${ZCSUITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/zcsuite}"
	local dir="$cache/bin/$(printf %s "$PWD" | sha256sum | cut -c1-16)"
	mkdir -p "$dir/tmp"
	# GOTMPDIR beside the binary: go build then renames the new binary
	# into place, which a concurrent run of the old one survives.
	GOTMPDIR="$dir/tmp" go build -o "$dir/zcsuite" ./harness/cmd/zcsuite >&2 ||
		untestable "building the zcsuite command failed"
	echo "$dir/zcsuite"
}

case "${1:-}" in
setup)
	shift; setup test "$@" ;;
test)
	shift; setup test "$@"
	go vet ./...
	# Unit tests, tallied: each package's result, every failure's output,
	# then the counts and every skipped test with its reason; a test that
	# skips because a file it reads is missing fails the step.
	bin=$(build)
	go test -count=1 -json $(go list ./... | grep -v '/suites/host$') | "$bin" test-tally
	# The VM suite through go test: the same flags, reports and verdicts
	# as the zcsuite command, one kernel after another (KERNEL=CODE expects
	# that exit code; Debian 6.12 predates FUSE-over-io_uring and must be
	# reported untested for exactly that reason).
	go test -count=1 -timeout 80m -v ./suites/host -args -require-vm \
		-kernels debian:7.3-cloud,debian:7.2-cloud,debian:6.12-cloud=feature-absent "$@" ;;
bench)
	shift; setup "$@"; need fio
	bin=$(build)
	exec "$bin" -bench "$@" ;;
*)
	setup "$@"
	bin=$(build)
	exec "$bin" "$@" ;;
esac

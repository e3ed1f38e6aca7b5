#!/usr/bin/env bash
# zcsuite on LAVA, for real on this machine: install Debian's
# lava-dispatcher, generate the job for Debian's 7.3 kernel with
# `zcsuite lava-job`, check it against LAVA's job schema, run it with
# lava-run on the repository's qemu device (harness/lava/qemu-x86_64.yaml), and
# require LAVA's results to hold every non-destructive spec of a
# `./run.sh -no-destructive` run on the same kernel, with the same
# outcomes. Prints both wall times and the load average.
#
#   .ci/lava-test.sh [WORKDIR]      (default: results/lava-test)
set -uo pipefail
cd "$(dirname "$0")/.."
work=$(realpath -m "${1:-results/lava-test}")
rm -rf "$work"; mkdir -p "$work"
export ZCSUITE_ACCEL="${ZCSUITE_ACCEL:-tcg}"
kernel=debian:7.3-cloud
fail() { echo "lava-test: FAIL $*"; exit 1; }
sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
if ! command -v lava-run >/dev/null || ! /usr/bin/python3 -c 'import lava_common.schemas' 2>/dev/null; then
	echo "lava-test: installing lava-dispatcher lava-common"
	$sudo apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends lava-dispatcher lava-common >/dev/null ||
		fail "apt-get install lava-dispatcher lava-common"
fi
./run.sh setup >/dev/null || fail "./run.sh setup"
tag=lava-test
. "$(dirname "$0")/timed.sh"

timed lava-job ./run.sh lava-job -kernel "$kernel" -out "$work/job"
[ "$rc" = 0 ] || fail "zcsuite lava-job: $(tail -1 "$work/lava-job.out")"
/usr/bin/python3 .ci/lava-check.py schema "$work/job/job.yaml" || fail "the job is not a valid LAVA job"
timed lava-run lava-run --job-id 1 --output-dir "$work/lava-run" --device harness/lava/qemu-x86_64.yaml "$work/job/job.yaml"
[ "$rc" = 0 ] || fail "lava-run: $(tail -3 "$work/lava-run.out")"
timed run.sh ./run.sh -kernel "$kernel" -no-destructive -report-dir "$work/run"
[ "$rc" = 0 ] || fail "./run.sh -no-destructive exited $rc"
/usr/bin/python3 .ci/lava-check.py results "$work/lava-run.out" "$work/run/verdict.json" "$work/job/job.yaml" "$work/lava-results.yaml" ||
	fail "LAVA's results differ from ./run.sh's"
echo "lava-test: ok"

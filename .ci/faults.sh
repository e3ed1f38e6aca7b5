#!/usr/bin/env bash
# The ends of a run that are not the happy path, as users meet them:
# through ./run.sh, on Debian's 7.3 kernel. Each case asserts the exit
# code, the message, complete reports and that nothing the run started
# outlives it (checked by PID).
#
#   .ci/faults.sh [WORKDIR]      (default: results/faults)
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD
work=$(realpath -m "${1:-results/faults}")
rm -rf "$work"; mkdir -p "$work"
export ZCSUITE_ACCEL="${ZCSUITE_ACCEL:-tcg}"
kernel=debian:7.3-cloud
failures=0 passed=0
t_all=$(date +%s)

ok()   { passed=$((passed+1)); echo "faults: ok   $*"; }
bad()  { failures=$((failures+1)); echo "faults: FAIL $*"; }
note() { echo "faults: $*"; }

# expect NAME CODE PATTERN CMD...: run CMD, want exit CODE and PATTERN in
# its output (stdout and stderr).
expect() {
	local name=$1 code=$2 pat=$3; shift 3
	local out="$work/$name.out" t0=$(date +%s) rc
	"$@" >"$out" 2>&1; rc=$?
	if [ "$rc" != "$code" ]; then bad "$name: exit $rc, want $code ($(tail -3 "$out" | tr '\n' ' '))"; return 1; fi
	if ! grep -qE -- "$pat" "$out"; then bad "$name: output lacks /$pat/ ($(tail -3 "$out" | tr '\n' ' '))"; return 1; fi
	ok "$name: exit $rc in $(( $(date +%s)-t0 ))s"
}

# one_error_line NAME: the run's stderr-ish output has exactly one zcsuite: line.
one_error_line() {
	local n; n=$(grep -c '^zcsuite: ' "$work/$1.out")
	[ "$n" = 1 ] && ok "$1: one line" || bad "$1: $n zcsuite: lines, want one"
}

# reports_agree DIR WANT: every report file is there and all four hold the
# same number of specs (WANT when given). junit.xml has one more testcase,
# "VM <name>", per VM that failed by itself; it is not a spec.
reports_agree() {
	local dir=$1 want=${2:-} f
	for f in verdict.json kernel.json junit.xml report.json results.ktap console.log kmsg.log; do
		[ -s "$dir/$f" ] || { bad "$dir: $f missing or empty"; return 1; }
	done
	local v j r k
	v=$(jq '[.runs[].verdict.specs[]] | length' "$dir/verdict.json")
	j=$(grep '<testcase ' "$dir/junit.xml" | grep -vc '<testcase name="VM ')
	r=$(jq '[.[].SpecReports[]? | select(.LeafNodeType == "It")] | length' "$dir/report.json")
	k=$(grep -cE '^ *(not )?ok [0-9]+ ' "$dir/results.ktap")
	k=$((k - $(jq '.runs | length' "$dir/verdict.json")))
	if [ "$v" != "$j" ] || [ "$v" != "$r" ] || [ "$v" != "$k" ] || { [ -n "$want" ] && [ "$v" != "$want" ]; }; then
		bad "$dir: specs verdict.json $v, junit.xml $j, report.json $r, results.ktap $k${want:+, want $want}"
		return 1
	fi
	ok "$dir: every report holds the same $v specs"
}

# children PID: the PIDs of PID's descendants.
children() {
	local p c
	for c in $(pgrep -P "$1"); do echo "$c"; children "$c"; done
}

# none_alive NAME PID...: none of these processes exists any more.
none_alive() {
	local name=$1 p left=""; shift
	for p in "$@"; do kill -0 "$p" 2>/dev/null && left="$left $p($(ps -o comm= -p "$p"))"; done
	[ -z "$left" ] && ok "$name: nothing the run started is left ($# processes checked)" || bad "$name: still running:$left"
}

# ---- bad input: one line, the documented code, nothing boots
img=$(ls "${ZCSUITE_CACHE:-$HOME/.cache/zcsuite}"/kernels/linux-binary-7.3-cloud-amd64_*/usr/lib/modules/*/vmlinuz 2>/dev/null | head -1)
expect missing-kernel 2 "no such kernel file: /nonexistent/bzImage" ./run.sh -kernel /nonexistent/bzImage && one_error_line missing-kernel
expect bisect-missing-tree 128 "not a buildable kernel tree" ./run.sh -bisect -kernel-tree /nonexistent
expect bad-label-filter 2 'label filter "cap-gate &&"' ./run.sh -label-filter 'cap-gate &&' && one_error_line bad-label-filter
expect bad-focus 2 'focus "\("' ./run.sh -focus '('
expect unknown-flag 2 "flag provided but not defined: -no-such-flag" ./run.sh -no-such-flag
expect unknown-debian 2 "bad kernel argument|no such Debian kernel" ./run.sh -kernel debian:cloud
expect short-timeout 2 "timeout 5s is below 20s" ./run.sh -timeout 5s
if [ -n "$img" ]; then
	head -c 1000000 "$img" >"$work/vmlinuz-cut"
	expect cut-kernel 2 "is cut short: 1000000 bytes" ./run.sh -kernel "$work/vmlinuz-cut" && one_error_line cut-kernel
else
	bad "cut-kernel: no cached Debian 7.3 vmlinuz to cut (did ./run.sh test run first?)"
fi
# A kernel that lacks a required option (its config known): refused before
# it boots, one line naming the option and what it is for; under -bisect a
# skip (125), since the commit cannot be tested, not judged.
cfg="$(dirname "${img:-/nonexistent}")/config"
if [ -s "$cfg" ]; then
	sed 's/^CONFIG_FUSE_IO_URING=y$/# CONFIG_FUSE_IO_URING is not set/' "$cfg" >"$work/no-fuse-io-uring.config"
	expect config-lacks-option 125 "misses 1 required option\(s\): CONFIG_FUSE_IO_URING is not set \(want y\), needed for: FUSE over io_uring" \
		./run.sh -kernel "$img" -kernel-config "$work/no-fuse-io-uring.config" -report-dir "$work/no-fuse-io-uring" &&
		{ [ "$(jq -c '[.exit_code, (.runs | length)]' "$work/no-fuse-io-uring/verdict.json")" = "[125,0]" ] &&
			ok "config-lacks-option: verdict.json says 125 and no VM booted" || bad "config-lacks-option: verdict.json $(jq -c '[.exit_code, (.runs | length)]' "$work/no-fuse-io-uring/verdict.json" 2>&1)"; }
	sed 's/^CONFIG_KALLSYMS=y$/# CONFIG_KALLSYMS is not set/' "$cfg" >"$work/no-kallsyms.config"
	expect bisect-config-lacks-kallsyms 125 "bisect verdict: SKIP \(exit 125\).*CONFIG_KALLSYMS is not set \(want y\), needed for: Symbol names in splats" \
		./run.sh -bisect -kernel "$img" -kernel-config "$work/no-kallsyms.config" -report-dir "$work/no-kallsyms"
else
	bad "config-lacks-option: no config beside the cached Debian 7.3 vmlinuz"
fi
# A kernel without the feature (Debian 6.12: no FUSE-over-io_uring) under
# -bisect: a skip, naming what its INIT offer lacks, never a bad commit.
expect bisect-feature-absent 125 "bisect verdict: SKIP \(exit 125\): untested: FUSE over io_uring is absent from this kernel.*lacks bit 9" \
	./run.sh -bisect -kernel debian:6.12-cloud -report-dir "$work/feature-absent"
expect report-dir-proc 2 "report directory /proc/zcsuite-x" ./run.sh -report-dir /proc/zcsuite-x -label-filter cap-gate

# Relative paths are the caller's: from another directory, -report-dir r
# lands there.
mkdir -p "$work/caller"
( cd "$work/caller" && "$top/run.sh" -report-dir r -label-filter cap-gate -no-destructive >"$work/relative.out" 2>&1 ); rc=$?
if [ "$rc" = 0 ] && [ -s "$work/caller/r/verdict.json" ] && grep -q "reports in $work/caller/r" "$work/relative.out"; then
	ok "relative -report-dir: reports in the caller's directory"
else
	bad "relative -report-dir: exit $rc, $(tail -2 "$work/relative.out" | tr '\n' ' ')"
fi

# ---- a report directory that fills up: 125, naming the file; the earlier
# run's files do not survive beside the new ones.
full="$work/full"
mkdir -p "$full"
if mount -t tmpfs -o size=64k tmpfs "$full" 2>/dev/null; then
	echo '<testsuites failures="0"></testsuites>' >"$full/junit.xml"
	expect full-report-dir 125 "no space left on device" ./run.sh -report-dir "$full" -label-filter cap-gate -no-destructive
	grep -q 'failures="0"></testsuites>' "$full/junit.xml" 2>/dev/null && bad "full-report-dir: the earlier run's junit.xml survived" || ok "full-report-dir: no earlier run's file left"
	umount "$full"
else
	bad "full-report-dir: cannot mount a 64k tmpfs (need root)"
fi

# ---- under 4x CPU oversubscription: the same verdict, nothing lost.
if command -v stress-ng >/dev/null; then
	stress-ng --cpu $((4 * $(nproc))) --timeout 600s >/dev/null 2>&1 &
	spid=$!
	t0=$(date +%s)
	./run.sh -report-dir "$work/loaded" >"$work/loaded.out" 2>&1; rc=$?
	kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
	[ "$rc" = 0 ] && ok "loaded: exit 0 in $(( $(date +%s)-t0 ))s beside stress-ng --cpu $((4 * $(nproc)))" || bad "loaded: exit $rc ($(grep -E '^zcsuite: [0-9]+ passed' "$work/loaded.out"))"
	reports_agree "$work/loaded"
	grep -q "ended without the guest's done event" "$work/loaded.out" && bad "loaded: a VM lost its done event"
else
	bad "loaded: stress-ng is not installed"
fi

# Every later full run must report the same number of specs as this one.
all=$(jq '[.runs[].verdict.specs[]] | length' "$work/loaded/verdict.json" 2>/dev/null || echo 0)
note "a full run holds $all specs"

# ---- a damaged cache: everything a Debian-kernel run reuses, damaged at
# once in a copy of the cache (the user's own cache is never touched). The
# run must repair each piece with a line naming it, give the same verdict
# as the loaded run above, and leave a cache the next run trusts.
cache="${ZCSUITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/zcsuite}"
dc="$work/damaged-cache"
rm -rf "$dc"; mkdir -p "$dc/kernels"
# flip FILE: overwrite 4 KiB in the middle of FILE (its size is kept).
flip() { local n; n=$(stat -c %s "$1"); head -c 4096 /dev/urandom | dd of="$1" bs=1 seek=$((n / 2)) conv=notrunc status=none; }
if cp -a "$cache/apt" "$cache/image" "$cache/accel" "$cache/vmstate" "$cache/timings" "$dc/" 2>/dev/null &&
	cp -a "$cache"/kernels/linux-binary-7.3-cloud-* "$dc/kernels/" 2>/dev/null; then
	vmlinuz=$(ls "$dc"/kernels/linux-binary-7.3-cloud-*/usr/lib/modules/*/vmlinuz | head -1)
	deb=$(ls "$dc"/apt/debs/linux-binary-7.3-cloud-*.deb | head -1)
	size=$(stat -c %s "$vmlinuz")
	truncate -s $((size / 2)) "$vmlinuz"               # the unpacked kernel: cut short
	flip "$deb"                                         # and the package it came from
	for f in "$dc"/image/initramfs/*.cpio "$dc"/vmstate/*.state; do flip "$f"; done
	for f in "$dc"/accel/*; do [ -f "$f" ] && echo "kv" >"$f"; done
	for f in "$dc"/timings/*; do [ -f "$f" ] && echo '{"a spec": "soon"' >"$f"; done
	# -accel auto: the probe cache is read only when the accelerator is probed.
	ZCSUITE_ACCEL=auto ./run.sh -cache-dir "$dc" -kernel "$kernel" -report-dir "$work/damaged" >"$work/damaged.out" 2>&1; rc=$?
	[ "$rc" = 0 ] && ok "damaged-cache: exit 0" || bad "damaged-cache: exit $rc ($(tail -2 "$work/damaged.out" | tr '\n' ' '))"
	reports_agree "$work/damaged" "$all"
	for said in "kernel cache linux-binary-7.3-cloud-.*unpacking it again" \
		"linux-binary-7.3-cloud-.*\.deb has sha256 .*downloading it again" \
		"initramfs .* has sha256 .*packing it again" \
		"saved VM state .*dropped it" \
		"accelerator probe cache .* is damaged" \
		"spec timings cache .* is damaged"; do
		grep -qE -- "$said" "$work/damaged.out" && ok "damaged-cache: said /$said/" || bad "damaged-cache: never said /$said/"
	done
	[ "$(stat -c %s "$vmlinuz" 2>/dev/null)" = "$size" ] && ok "damaged-cache: the kernel is whole again" || bad "damaged-cache: the kernel is still $(stat -c %s "$vmlinuz" 2>/dev/null) bytes, want $size"
	rm -rf "$dc"
else
	bad "damaged-cache: no warm cache to copy from $cache (did ./run.sh test run first?)"
fi

# ---- signals in the middle of the suite
# interrupt NAME SIGNAL CODE HOW: start a full run, wait for 10 passed
# specs, send SIGNAL (to run.sh's PID, or to its process group), then want
# CODE within 5 s, reports with NOT-RUN specs, and no process left.
interrupt() {
	local name=$1 sig=$2 code=$3 how=$4 dir="$work/$1" out="$work/$1.out"
	setsid ./run.sh -report-dir "$dir" >"$out" 2>&1 &
	local pid=$! i kids=""
	for i in $(seq 1 300); do
		[ "$(grep -c '^zcsuite:   PASSED' "$out")" -ge 10 ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 1
	done
	kids=$(children "$pid")
	local t0; t0=$(date +%s.%N)
	if [ "$how" = group ]; then kill -s "$sig" -- "-$pid"; else kill -s "$sig" "$pid"; fi
	wait "$pid"; local rc=$?
	local took; took=$(echo "$(date +%s.%N) - $t0" | bc)
	if [ "$rc" != "$code" ]; then bad "$name: exit $rc, want $code"; else ok "$name: exit $rc ${took}s after $sig"; fi
	(( $(echo "$took < 5" | bc) )) || bad "$name: took ${took}s to exit, want < 5"
	grep -q "interrupted by $sig" "$out" || bad "$name: the output does not say 'interrupted by $sig'"
	grep -qE '^(HANG|CRASH) ' "$out" && bad "$name: an interruption was reported as a HANG or CRASH"
	[ "$(jq .exit_code "$dir/verdict.json")" = "$code" ] || bad "$name: verdict.json exit_code $(jq .exit_code "$dir/verdict.json")"
	[ "$(jq '[.runs[].verdict.specs[] | select(.outcome == "NOT-RUN")] | length' "$dir/verdict.json")" -gt 0 ] || bad "$name: no NOT-RUN spec in verdict.json"
	reports_agree "$dir" "$all"
	none_alive "$name" $pid $kids
}
interrupt sigint-pid SIGINT 130 pid
interrupt sigterm-pid SIGTERM 143 pid
interrupt sigint-group SIGINT 130 group
interrupt sighup-pid SIGHUP 129 pid

# ---- a deadline: said on the screen, NOT-RUN in the reports, bounded.
t0=$(date +%s)
./run.sh -report-dir "$work/deadline" -timeout 20s -jobs 1 >"$work/deadline.out" 2>&1; rc=$?
took=$(( $(date +%s)-t0 ))
[ "$rc" = 1 ] && ok "deadline: exit 1 in ${took}s" || bad "deadline: exit $rc, want 1"
grep -qE 'VM main hit its deadline \(.* of the run.s -timeout 20s\).*; [0-9]+ of its specs never ran' "$work/deadline.out" && ok "deadline: said on the screen" || bad "deadline: not said on the screen"
[ "$(jq '[.runs[].verdict.specs[] | select(.outcome == "NOT-RUN")] | length' "$work/deadline/verdict.json")" -gt 0 ] && ok "deadline: NOT-RUN specs in verdict.json" || bad "deadline: no NOT-RUN spec"
reports_agree "$work/deadline" "$all"
# -timeout bounds the VMs (one at a time here): 20 s, + 10 s for QEMU's
# kill, + a second of slack.
vms=$(jq '[.phases[] | select(.name | startswith("vm:")) | .duration_ns] | add / 1e9 | floor' "$work/deadline/kernel.json")
[ "$vms" -le 31 ] && ok "deadline: the VMs took ${vms}s in all (-timeout 20s)" || bad "deadline: the VMs took ${vms}s, want <= 31"

# ---- -fail-fast: a spec failed on purpose (the test knob
# ZCSUITE_TEST_FAIL_SPEC, on this healthy kernel) ends the run: exit 1
# within 10 s of the guest reporting it, every other planned spec NOT-RUN
# naming it, complete reports, nothing left running.
ff_spec='environment has /dev/fuse as the FUSE character device'
ZCSUITE_TEST_FAIL_SPEC="$ff_spec" setsid ./run.sh -fail-fast -report-dir "$work/fail-fast" >"$work/fail-fast.out" 2>&1 &
pid=$! seen="" kids=""
for i in $(seq 1 3000); do
	[ -z "$kids" ] && kids=$(children "$pid")
	if grep -q "^zcsuite:   FAILED   $ff_spec" "$work/fail-fast.out"; then seen=$(date +%s.%N); break; fi
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
kids="$kids $(children "$pid")"
wait "$pid"; rc=$?
if [ -z "$seen" ]; then
	bad "fail-fast: the guest never reported the spec failed on purpose ($(tail -2 "$work/fail-fast.out" | tr '\n' ' '))"
else
	took=$(echo "$(date +%s.%N) - $seen" | bc)
	[ "$rc" = 1 ] && ok "fail-fast: exit 1 ${took}s after the guest reported the failure" || bad "fail-fast: exit $rc, want 1"
	(( $(echo "$took <= 10" | bc) )) || bad "fail-fast: took ${took}s after the failure, want <= 10"
fi
grep -q -- "-fail-fast stopped the run at FAIL of \"$ff_spec" "$work/fail-fast.out" && ok "fail-fast: said on the screen" || bad "fail-fast: not said on the screen"
jq -e --arg s "$ff_spec" '[.runs[].verdict.specs[] | select(.outcome == "FAIL")] | length == 1 and (.[0].name | startswith($s)) and (.[0].reason | contains("failed on purpose"))' "$work/fail-fast/verdict.json" >/dev/null &&
	ok "fail-fast: exactly the one spec FAIL" || bad "fail-fast: FAIL specs $(jq -c '[.runs[].verdict.specs[] | select(.outcome == "FAIL") | .name]' "$work/fail-fast/verdict.json")"
nr=$(jq '[.runs[].verdict.specs[] | select(.outcome == "NOT-RUN")] | length' "$work/fail-fast/verdict.json")
named=$(jq --arg s "$ff_spec" '[.runs[].verdict.specs[] | select(.outcome == "NOT-RUN") | select(.reason | contains($s))] | length' "$work/fail-fast/verdict.json")
[ "$nr" -gt 0 ] && [ "$nr" = "$named" ] && ok "fail-fast: $nr specs NOT-RUN, each naming the failed spec" || bad "fail-fast: $nr NOT-RUN specs, $named naming the failed spec"
reports_agree "$work/fail-fast" "$all"
none_alive fail-fast $pid $kids

echo "faults: took $(( $(date +%s)-t_all ))s"
echo "faults: ${passed} passed, ${failures} failed"
[ "$failures" = 0 ]

# Sourced by the .ci scripts. timed NAME CMD...: run CMD with its output in
# $work/NAME.out, set rc, and print one line "$tag: NAME exit N in Ts (load
# L)" ($tag is the calling script's name).
timed() {
	local name=$1 t0; shift
	t0=$(date +%s.%N)
	"$@" >"$work/$name.out" 2>&1; rc=$?
	printf '%s: %-10s exit %d in %.1fs (load %s)\n' "$tag" "$name" "$rc" "$(echo "$(date +%s.%N) - $t0" | bc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

package runner

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// TestReproArgsSelectEachShard checks that the repro of every shard of a
// planned run names exactly that shard's specs, in a config that fits on
// the kernel command line, and keeps the other arguments.
func TestReproArgsSelectEachShard(t *testing.T) {
	var all, main []string
	for i := range 193 {
		s := fmt.Sprintf("family %d: refuses case %d with EINVAL (§4.%d) [a|b] and keeps (x) the ring serving", i%9, i, i%7)
		all = append(all, s)
		if i%10 != 0 { // the rest are destructive or bench specs
			main = append(main, s)
		}
	}
	mainArgs := func(specs []string, sharded bool) []string {
		return []string{"--ginkgo.label-filter=!destructive && !bench", "--ginkgo.focus=" + focusOn(specs)}
	}
	p := vmPlanner{lanes: 2, est: func(string) float64 { return 1 }, mainArgs: mainArgs, mainTimeout: time.Minute, destructiveTimeout: time.Minute}.plan(main, nil)
	if len(p.shards) != 2 {
		t.Fatalf("%d shards", len(p.shards))
	}
	seen := 0
	for _, sh := range p.shards {
		gc := vmevent.GuestConfig{Mode: vmevent.ModeSuite, Binary: "/zcsuite/guest.test", TimeoutSec: 480, HungTaskSec: 20,
			Args: append(sh.args, "--zcsuite.expect-release=7.3.0-1-cloud-amd64", "--zcsuite.kernel=debian:7.3-cloud", "--zcsuite.abi=auto")}
		if word, _ := gc.Cmdline(); len(word) < reproMaxCmdline {
			t.Fatalf("the shard's config is only %d bytes: the test does not model the problem", len(word))
		}
		args, err := reproArgs(gc.Args, all)
		if err != nil {
			t.Fatal(err)
		}
		if args[0] != "--ginkgo.label-filter=!destructive && !bench" || !slices.Contains(args, "--zcsuite.abi=auto") {
			t.Errorf("arguments lost: %q", args)
		}
		var set string
		for _, a := range args {
			if strings.HasPrefix(a, "--ginkgo.focus=") {
				t.Errorf("the focus stayed: %.60s…", a)
			}
			if v, ok := strings.CutPrefix(a, "--"+vmevent.SpecSetFlag+"="); ok {
				set = v
			}
		}
		gc.Args = args
		if word, _ := gc.Cmdline(); len(word)+len(strings.Join(KernelCmdline, " ")) > reproMaxCmdline {
			t.Errorf("the repro config is still %d bytes", len(word))
		}
		got, err := vmevent.DecodeSpecSet(set, all)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, s := range all {
			if strings.Contains(sh.args[1], "|"+regexp.QuoteMeta(s)+"|") || strings.Contains(sh.args[1], "(?:"+regexp.QuoteMeta(s)+"|") || strings.Contains(sh.args[1], "|"+regexp.QuoteMeta(s)+")$") {
				want = append(want, s)
			}
		}
		slices.Sort(want)
		if !slices.Equal(got, want) || len(got) == 0 {
			t.Errorf("shard %s: the repro runs %d specs, the shard %d", sh.name, len(got), len(want))
		}
		seen += len(got)
	}
	if seen != len(main) {
		t.Errorf("the shards' repros run %d specs, the run %d", seen, len(main))
	}
}

// TestReproArgsWithoutFocus leaves arguments without a focus alone.
func TestReproArgsWithoutFocus(t *testing.T) {
	in := []string{"--ginkgo.label-filter=cap-gate"}
	out, err := reproArgs(in, []string{"a"})
	if err != nil || !slices.Equal(in, out) {
		t.Fatalf("%q %v", out, err)
	}
}

package runner

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/zcsuite/zcsuite/harness/qemu"
	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// reproMaxCmdline is what x86 kernels accept on their command line, less
// a margin.
const reproMaxCmdline = 2000

// repro is a command that boots this VM's guest with its config on the
// command line (no snapshot, no event port protocol), for a user to rerun
// it by hand; it runs exactly this VM's specs. A shard's focus regexp does
// not fit on the command line: the repro then names the same specs by a
// spec set (reproArgs). It returns "" with the reason when it cannot make
// one.
func (r *runState) repro(ctx context.Context, guestTest string, opts []qemu.Option, gc vmevent.GuestConfig) (string, error) {
	gc.HostUnixNano = 0
	word, err := gc.Cmdline()
	if err == nil && len(word)+len(strings.Join(KernelCmdline, " ")) > reproMaxCmdline {
		r.catalogOnce.Do(func() {
			// A run being interrupted still gets its repro commands.
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			r.catalog, r.catalogErr = specCatalog(lctx, guestTest)
		})
		if err = r.catalogErr; err == nil {
			gc.Args, err = reproArgs(gc.Args, r.catalog)
		}
		if err == nil {
			word, err = gc.Cmdline()
		}
		if err == nil && len(word)+len(strings.Join(KernelCmdline, " ")) > reproMaxCmdline {
			err = fmt.Errorf("its config is %d bytes even with a spec set", len(word))
		}
	}
	if err != nil {
		return "", err
	}
	return qemu.ReproCommand(append(opts, qemu.WithCmdline(append(append([]string(nil), KernelCmdline...), word)...))...)
}

// reproArgs replaces the focus regexp in a guest binary's arguments by the
// spec set of the specs it selects among all (Ginkgo matches a focus
// against the suite description, a space and the spec's full text); the
// other arguments, the label filter among them, stay.
func reproArgs(args, all []string) ([]string, error) {
	var out []string
	var focus *regexp.Regexp
	for _, a := range args {
		f, ok := strings.CutPrefix(a, "--ginkgo.focus=")
		if !ok {
			out = append(out, a)
			continue
		}
		re, err := regexp.Compile(f)
		if err != nil {
			return nil, fmt.Errorf("the focus %q: %w", f, err)
		}
		focus = re
	}
	if focus == nil {
		return args, nil
	}
	var chosen []string
	for _, s := range all {
		if focus.MatchString(labels.SuiteDescription + " " + s) {
			chosen = append(chosen, s)
		}
	}
	set, err := vmevent.EncodeSpecSet(all, chosen)
	if err != nil {
		return nil, err
	}
	return append(out, "--"+vmevent.SpecSetFlag+"="+set), nil
}

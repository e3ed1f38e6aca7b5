package runner

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/zcsuite/zcsuite/harness/kconfig"
	"github.com/zcsuite/zcsuite/harness/kernel"
)

// A config that meets every requirement but FeatureOption, and does not
// know that option, is a kernel from before the feature: it boots (the
// guest states the absence). One that has the option switched off, or
// misses anything else too, is refused as before.
func TestCheckConfigKernelBeforeFeature(t *testing.T) {
	req, err := moduleFile("kernelconfig/required.config")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(req)
	if err != nil {
		t.Fatal(err)
	}
	set := regexp.MustCompile(`(?m)^CONFIG_[A-Z0-9_]+=.*$`).FindAllString(string(b), -1)
	without := func(drop ...string) []string {
		var out []string
	next:
		for _, l := range set {
			for _, d := range drop {
				if strings.HasPrefix(l, d+"=") {
					continue next
				}
			}
			out = append(out, l)
		}
		return out
	}
	check := func(lines ...string) (*kernel.Kernel, error) {
		p := filepath.Join(t.TempDir(), "config")
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		k := &kernel.Kernel{Spec: "test", ConfigPath: p, ConfigSource: "package"}
		_, err := CheckConfig(k)
		return k, err
	}
	if k, err := check(set...); err != nil || strings.Contains(k.ConfigSource, FeatureOption) {
		t.Fatalf("a complete config: %v (%s)", err, k.ConfigSource)
	}
	k, err := check(without(FeatureOption)...)
	if err != nil || !strings.Contains(k.ConfigSource, FeatureOption+" unknown") {
		t.Errorf("no %s symbol: %v (%s); want it booted, the source noting why", FeatureOption, err, k.ConfigSource)
	}
	if _, err := check(append(without(FeatureOption), "# "+FeatureOption+" is not set")...); !errors.Is(err, kconfig.ErrRequirements) {
		t.Errorf("%s switched off: %v, want refused", FeatureOption, err)
	}
	if _, err := check(without(FeatureOption, "CONFIG_ACPI")...); !errors.Is(err, kconfig.ErrRequirements) {
		t.Errorf("another option missing too: %v, want refused", err)
	}
	// A kernel without KALLSYMS: splat titles without functions, refused
	// in one line that names the option.
	if _, err := check(without("CONFIG_KALLSYMS")...); !errors.Is(err, kconfig.ErrRequirements) || !strings.Contains(err.Error(), "CONFIG_KALLSYMS") || strings.Contains(err.Error(), "\n") {
		t.Errorf("no KALLSYMS: %v, want refused in one line naming CONFIG_KALLSYMS", err)
	}
}

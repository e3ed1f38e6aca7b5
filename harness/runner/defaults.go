package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/zcsuite/zcsuite/harness/console"
	"github.com/zcsuite/zcsuite/harness/expect"
	"github.com/zcsuite/zcsuite/harness/kconfig"
	"github.com/zcsuite/zcsuite/harness/kernel"
	"github.com/zcsuite/zcsuite/harness/verdict"
	"github.com/zcsuite/zcsuite/vmimage"
)

// FindSplats is the default splat finder: the console package's scanner
// (the guest's, when it decides its own verdicts, is the same).
func FindSplats(lines []string) []verdict.Splat { return console.VerdictSplats(lines) }

// moduleFile returns a path inside the zcsuite checkout.
func moduleFile(rel string) (string, error) {
	dir, err := vmimage.ModuleDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, rel), nil
}

// CheckConfig is the default config check: the kernel's config (from its
// package, --kernel-config, a tree's .config, or the image's embedded
// IKCONFIG) against kernelconfig/required.config. A kernel whose config
// cannot be found is not refused: the guest's own probes then tell what it
// lacks, and kernel.json records that nothing was checked.
func CheckConfig(k *kernel.Kernel) (string, error) {
	reqPath, err := moduleFile("kernelconfig/required.config")
	if err != nil {
		return "", err
	}
	reqs, err := kconfig.LoadRequired(reqPath)
	if err != nil {
		return "", err
	}
	var cfg kconfig.Config
	switch {
	case k.ConfigPath != "":
		cfg, err = kconfig.FromFile(k.ConfigPath)
	default:
		cfg, err = kconfig.FromKernelImage(k.Image)
		if err == nil {
			k.ConfigSource = "ikconfig"
		}
		if errors.Is(err, kconfig.ErrNoIKConfig) || errors.Is(err, kconfig.ErrNoPayload) {
			k.ConfigSource = "none (no --kernel-config, no embedded IKCONFIG)"
			return "", nil
		}
	}
	if err != nil {
		return "", err
	}
	if err := cfg.Check(reqs); err != nil {
		if !predatesFeature(err, cfg) {
			return "", fmt.Errorf("kernel %s: %w", k.Spec, err)
		}
		// Boot it: the guest's FUSE_INIT probe states the absence in the
		// kernel's own words, and the run is untested (exit 125).
		k.ConfigSource += " (" + FeatureOption + " unknown to it: a kernel from before FUSE-over-io_uring)"
	}
	return cfg.Hash(), nil
}

// FeatureOption is the option that builds the feature under test.
const FeatureOption = "CONFIG_FUSE_IO_URING"

// predatesFeature reports whether a failed config check means only that the
// kernel predates the feature: FeatureOption is the one unmet requirement,
// and the config does not mention it at all although FUSE and io_uring
// (its dependencies, both required) are built in, so its Kconfig has no
// such symbol. A config that has the symbol switched off stays refused.
func predatesFeature(err error, cfg kconfig.Config) bool {
	var missing *kconfig.MissingError
	return errors.As(err, &missing) && len(missing.Options) == 1 &&
		missing.Options[0].Option == FeatureOption && !cfg.Mentions(FeatureOption)
}

// KnownIssues is the default known-issue lookup: every
// fixtures/expectations/*.json file, filtered by the kernel's identity.
func KnownIssues(k *kernel.Kernel) ([]verdict.Expectation, error) {
	dir, err := moduleFile("fixtures/expectations")
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, nil
	}
	files, err := expect.LoadDir(dir)
	if err != nil {
		return nil, err
	}
	return expect.For(files, k), nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

package runner

import (
	"github.com/zcsuite/zcsuite/harness/kconfig"
	"github.com/zcsuite/zcsuite/harness/kernel"
	"github.com/zcsuite/zcsuite/harness/ksym"
	"github.com/zcsuite/zcsuite/harness/verdict"
)

// splatFinder returns the run's splat finder. A kernel without KALLSYMS
// prints bare addresses where a splat names its function, so its titles
// cannot match a declared splat ("WARNING in fuse_uring_"). A kernel whose
// config is known and lacks KALLSYMS was refused before this
// (required.config); when the config is not known the run says so once,
// and when the kernel's System.map is at hand (a tree build) the lines are
// read through it, so the titles name functions whatever the config.
func (r *runState) splatFinder(k *kernel.Kernel) verdict.SplatFinder {
	find := r.c.Find
	if find == nil {
		return nil
	}
	var cfg kconfig.Config
	if k.ConfigPath != "" {
		cfg, _ = kconfig.FromFile(k.ConfigPath)
	} else if k.ConfigSource == "ikconfig" {
		cfg, _ = kconfig.FromKernelImage(k.Image)
	}
	if cfg == nil {
		r.logf("the kernel's config is not known: if it lacks CONFIG_KALLSYMS, splat titles cannot name functions and declared splats cannot match%s",
			map[bool]string{true: " (its System.map names them: " + k.SystemMap + ")", false: ""}[k.SystemMap != ""])
	}
	if k.SystemMap == "" {
		return find
	}
	if cfg.Value("CONFIG_RANDOMIZE_BASE") == "y" {
		// A relocated kernel's addresses are not the map's.
		return find
	}
	syms, err := ksym.Load(k.SystemMap)
	if err != nil {
		r.logf("warning: splat addresses stay unnamed: %v", err)
		return find
	}
	return func(lines []string) []verdict.Splat { return find(syms.Lines(lines)) }
}

package kbuild

import (
	"errors"
	"fmt"
	"strings"
)

// Errors Build returns; callers map ErrTree to a usage error and the others
// to "the kernel could not be tested".
var (
	// ErrTree: the directory is not a kernel source tree zcsuite can build.
	ErrTree = errors.New("kbuild: not a buildable kernel tree")
	// ErrConfig: configuring failed, or Kconfig dropped options the
	// fragments ask for (a *ConfigError names them).
	ErrConfig = errors.New("kbuild: kernel configuration failed")
	// ErrBuild: make failed (a *BuildError carries the compiler's errors).
	ErrBuild = errors.New("kbuild: kernel build failed")
	// ErrTools: a build tool is missing on the host.
	ErrTools = errors.New("kbuild: build tools missing")
)

// Dropped is one option a fragment sets that the configured .config does
// not have.
type Dropped struct {
	Option string
	// Want is the fragment's value ("y", "8", "n"); Got is the .config's
	// ("n" when not set or not mentioned).
	Want, Got string
	// Fragment is the file that asked for it (the last one setting it).
	Fragment string
	// Unknown is true when no Kconfig file in the tree defines the option.
	Unknown bool
}

func (d Dropped) String() string {
	s := fmt.Sprintf("%s=%s (%s) ", d.Option, d.Want, d.Fragment)
	switch {
	case d.Unknown:
		s += "is not an option of this tree"
	case d.Got == "n":
		s += "ended up not set: a dependency is off or it is selected away"
	default:
		s += "ended up =" + d.Got
	}
	return s
}

// ConfigError lists every option the fragments set that Kconfig dropped.
type ConfigError struct {
	Config  string
	Dropped []Dropped
}

func (e *ConfigError) Error() string {
	parts := make([]string, len(e.Dropped))
	for i, d := range e.Dropped {
		parts[i] = d.String()
	}
	return fmt.Sprintf("Kconfig dropped %d option(s) the fragments ask for (%s): %s", len(e.Dropped), e.Config, strings.Join(parts, "; "))
}

// Is makes errors.Is(err, ErrConfig) true.
func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

// BuildError is a failed make: its log and the compiler's error lines.
type BuildError struct {
	// Target is the make target that failed ("bzImage", "tinyconfig").
	Target string
	// Log is the full make output.
	Log string
	// Lines are the error lines with a little context, tree paths made
	// relative.
	Lines []string
	// Err is how make ended.
	Err error
}

func (e *BuildError) Error() string {
	s := fmt.Sprintf("make %s failed (%v; full log %s)", e.Target, e.Err, e.Log)
	if len(e.Lines) > 0 {
		s += ":\n    " + strings.Join(e.Lines, "\n    ")
	}
	return s
}

// Is makes errors.Is(err, ErrBuild) true.
func (e *BuildError) Is(target error) bool { return target == ErrBuild }

// Unwrap returns how make ended (a context error when it was cancelled).
func (e *BuildError) Unwrap() error { return e.Err }

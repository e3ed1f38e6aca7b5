package kconfig

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
)

// Config is a kernel configuration: CONFIG_ symbol → value. An option that
// is "not set" has the value "n"; an option the file does not mention is
// absent.
type Config map[string]string

var (
	setRE   = regexp.MustCompile(`^(CONFIG_[A-Za-z0-9_]+)=(.*)$`)
	unsetRE = regexp.MustCompile(`^# (CONFIG_[A-Za-z0-9_]+) is not set$`)
)

// Parse reads a .config. Comment and blank lines are skipped; any other line
// that is not an assignment is an error naming its line number. A later
// assignment of the same symbol wins, as it does for Kconfig itself.
func Parse(r io.Reader) (Config, error) {
	c := Config{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if m := setRE.FindStringSubmatch(line); m != nil {
			c[m[1]] = m[2]
			continue
		}
		if m := unsetRE.FindStringSubmatch(line); m != nil {
			c[m[1]] = "n"
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		return nil, fmt.Errorf("kconfig: line %d: not a config assignment: %q", n, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("kconfig: read: %w", err)
	}
	return c, nil
}

// FromFile parses the .config at path.
func FromFile(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("kconfig: %w", err)
	}
	defer f.Close()
	c, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Value returns the option's value, "n" when it is not set or not mentioned.
func (c Config) Value(option string) string {
	if v, ok := c[option]; ok {
		return v
	}
	return "n"
}

// Mentions reports whether the config names the option at all, set or
// "is not set". Kconfig writes every visible symbol it knows, so a symbol
// whose dependencies are met but that the file does not mention does not
// exist in that kernel's sources.
func (c Config) Mentions(option string) bool {
	_, ok := c[option]
	return ok
}

// Hash returns the hex sha256 of the normalized config: one "CONFIG_X=v"
// line per option that is set (not "n"), sorted. Two configs that differ
// only in comments, order or how they spell an unset option hash equal.
func (c Config) Hash() string {
	keys := make([]string, 0, len(c))
	for k, v := range c {
		if v != "n" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%s\n", k, c[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Requirement is one option zcsuite needs.
type Requirement struct {
	// Option is the CONFIG_ symbol.
	Option string
	// Want is the required value: "y" (built in), "n" (off) or an exact value.
	Want string
	// Why is the comment block written above the option in the requirements file.
	Why string
}

// LoadRequired reads a requirements file: a .config fragment in which each
// option is preceded by a comment block saying why zcsuite needs it. A
// requirement of "=m" is refused: zcsuite loads no modules.
func LoadRequired(path string) ([]Requirement, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("kconfig: %w", err)
	}
	defer f.Close()
	var (
		reqs []Requirement
		why  []string
		seen = map[string]bool{}
		n    int
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		var opt, want string
		if m := setRE.FindStringSubmatch(line); m != nil {
			opt, want = m[1], m[2]
		} else if m := unsetRE.FindStringSubmatch(line); m != nil {
			opt, want = m[1], "n"
		} else if strings.HasPrefix(line, "#") {
			// "# --- title" heads a section of options; it says no reason.
			if c := strings.TrimSpace(strings.TrimPrefix(line, "#")); !strings.HasPrefix(c, "---") {
				why = append(why, c)
			}
			continue
		} else if line == "" {
			why = why[:0]
			continue
		} else {
			return nil, fmt.Errorf("kconfig: %s:%d: not a config assignment: %q", path, n, line)
		}
		switch {
		case want == "m":
			return nil, fmt.Errorf("kconfig: %s:%d: %s=m: a requirement cannot be a module, zcsuite loads none", path, n, opt)
		case seen[opt]:
			return nil, fmt.Errorf("kconfig: %s:%d: %s required twice", path, n, opt)
		case len(why) == 0:
			return nil, fmt.Errorf("kconfig: %s:%d: %s has no comment saying why it is required", path, n, opt)
		}
		seen[opt] = true
		reqs = append(reqs, Requirement{Option: opt, Want: want, Why: strings.Join(why, " ")})
		why = why[:0]
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("kconfig: %s: %w", path, err)
	}
	if len(reqs) == 0 {
		return nil, fmt.Errorf("kconfig: %s: no requirements", path)
	}
	return reqs, nil
}

// Summary is the first phrase of Why (up to its first ": ", ". " or
// "; "): what the option is for, short enough for an error line.
func (r Requirement) Summary() string {
	w := r.Why
	for _, sep := range []string{": ", ". ", "; "} {
		if i := strings.Index(w, sep); i >= 0 {
			w = w[:i]
		}
	}
	return strings.TrimSuffix(w, ".")
}

// Unmet is one requirement a config does not meet.
type Unmet struct {
	Requirement
	// Got is the config's value ("n" when the option is absent).
	Got string
}

func (u Unmet) String() string {
	var s string
	switch {
	case u.Got == "m" && u.Want == "y":
		s = u.Option + "=m (a module; zcsuite loads no modules, it must be =y)"
	case u.Got == "n":
		s = u.Option + " is not set (want " + u.Want + ")"
	default:
		s = u.Option + "=" + u.Got + " (want " + u.Want + ")"
	}
	if w := u.Summary(); w != "" {
		s += ", needed for: " + w
	}
	return s
}

// MissingError lists every requirement a config does not meet, in the
// requirements' order.
type MissingError struct {
	Options []Unmet
}

func (e *MissingError) Error() string {
	parts := make([]string, len(e.Options))
	for i, u := range e.Options {
		parts[i] = u.String()
	}
	return fmt.Sprintf("kernel config misses %d required option(s): %s", len(e.Options), strings.Join(parts, "; "))
}

// Is makes errors.Is(err, ErrRequirements) true for a *MissingError.
func (e *MissingError) Is(target error) bool { return target == ErrRequirements }

// ErrRequirements is matched (errors.Is) by every *MissingError.
var ErrRequirements = errors.New("kernel config does not meet zcsuite's requirements")

// Check returns nil when c meets every requirement, else a *MissingError
// naming all the options that are missing or wrong. A "=y" requirement is
// not met by "=m".
func (c Config) Check(reqs []Requirement) error {
	var bad []Unmet
	for _, r := range reqs {
		got := c.Value(r.Option)
		if got != r.Want {
			bad = append(bad, Unmet{Requirement: r, Got: got})
		}
	}
	if len(bad) > 0 {
		return &MissingError{Options: bad}
	}
	return nil
}

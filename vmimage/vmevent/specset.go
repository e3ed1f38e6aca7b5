package vmevent

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// SpecSetFlag is the guest test binary's flag that selects the specs to run
// by a spec set (EncodeSpecSet) instead of a focus regexp: a set of a
// hundred specs fits on a kernel command line, their focus regexp does not.
// The binary lists its own specs, decodes the set against them and runs
// exactly those (FocusOn).
const SpecSetFlag = "zcsuite.specs"

// EncodeSpecSet names the chosen specs among all the specs of a guest test
// binary (their full texts, in any order; duplicates count once) in a
// compact word: "N.HASH.BITS", N the number of distinct specs, HASH the
// first 8 hex digits of the sha256 of their sorted texts, BITS a bitmap
// over the sorted texts in unpadded URL-safe base64 (bit i%8 of byte i/8
// for the i-th text). A chosen spec that is not among all is an error.
func EncodeSpecSet(all, chosen []string) (string, error) {
	cat := catalog(all)
	bits := make([]byte, (len(cat)+7)/8)
	for _, c := range chosen {
		i, ok := slices.BinarySearch(cat, c)
		if !ok {
			return "", fmt.Errorf("vmevent: spec set: %q is not a spec of the binary", c)
		}
		bits[i/8] |= 1 << (i % 8)
	}
	return fmt.Sprintf("%d.%s.%s", len(cat), catalogHash(cat), base64.RawURLEncoding.EncodeToString(bits)), nil
}

// ErrSpecSetMismatch means a spec set was made for another binary's specs.
var ErrSpecSetMismatch = errors.New("vmevent: the spec set was made for other specs than this binary's")

// DecodeSpecSet returns the specs of set among all (the binary's own spec
// texts), sorted. It fails with ErrSpecSetMismatch when all is not the list
// the set was encoded against.
func DecodeSpecSet(set string, all []string) ([]string, error) {
	f := strings.Split(set, ".")
	if len(f) != 3 {
		return nil, fmt.Errorf("vmevent: spec set %q is not N.HASH.BITS", set)
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 0 {
		return nil, fmt.Errorf("vmevent: spec set %q: bad count", set)
	}
	bits, err := base64.RawURLEncoding.DecodeString(f[2])
	if err != nil || len(bits) != (n+7)/8 {
		return nil, fmt.Errorf("vmevent: spec set %q: bad bitmap", set)
	}
	cat := catalog(all)
	if len(cat) != n || catalogHash(cat) != f[1] {
		return nil, fmt.Errorf("%w (set: %d specs, hash %s; binary: %d specs, hash %s)", ErrSpecSetMismatch, n, f[1], len(cat), catalogHash(cat))
	}
	var out []string
	for i, s := range cat {
		if bits[i/8]&(1<<(i%8)) != 0 {
			out = append(out, s)
		}
	}
	return out, nil
}

// FocusOn is the Ginkgo focus regexp that selects exactly the given specs
// of a suite: Ginkgo matches a focus against the suite's description, a
// space and the spec's full text.
func FocusOn(suiteDescription string, specs []string) string {
	q := make([]string, len(specs))
	for i, s := range specs {
		q[i] = regexp.QuoteMeta(s)
	}
	return "^" + regexp.QuoteMeta(suiteDescription+" ") + "(?:" + strings.Join(q, "|") + ")$"
}

func catalog(all []string) []string {
	cat := slices.Clone(all)
	slices.Sort(cat)
	return slices.Compact(cat)
}

func catalogHash(cat []string) string {
	h := sha256.Sum256([]byte(strings.Join(cat, "\n")))
	return hex.EncodeToString(h[:4])
}

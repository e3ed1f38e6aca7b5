package vmevent

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

func TestSpecSetRoundTrip(t *testing.T) {
	var all []string
	for i := range 190 {
		all = append(all, fmt.Sprintf("family %d: spec (§4.%d) [x|y] with a long text to weigh like the real ones", i%9, i))
	}
	var chosen []string
	for i := 0; i < len(all); i += 2 {
		chosen = append(chosen, all[i])
	}
	set, err := EncodeSpecSet(all, chosen)
	if err != nil {
		t.Fatal(err)
	}
	if len(set) > 50 {
		t.Errorf("set %q is %d bytes; it must stay small for a kernel command line", set, len(set))
	}
	if focus := FocusOn("suite", chosen); len(focus) < 5000 {
		t.Errorf("the focus regexp is only %d bytes; the test does not model the problem", len(focus))
	}
	// The binary lists its specs in another order, with a duplicate.
	rev := append([]string{all[5]}, all...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	got, err := DecodeSpecSet(set, rev)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(chosen) {
		t.Fatalf("decoded %d specs, want %d", len(got), len(chosen))
	}
	want := map[string]bool{}
	for _, c := range chosen {
		want[c] = true
	}
	for _, g := range got {
		if !want[g] {
			t.Errorf("decoded %q, which was not chosen", g)
		}
	}
}

func TestSpecSetRefusesOtherSpecs(t *testing.T) {
	all := []string{"a", "b", "c"}
	set, err := EncodeSpecSet(all, []string{"b"})
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range [][]string{{"a", "b"}, {"a", "b", "d"}} {
		if _, err := DecodeSpecSet(set, other); !errors.Is(err, ErrSpecSetMismatch) {
			t.Errorf("decoding against %v: %v, want ErrSpecSetMismatch", other, err)
		}
	}
	if _, err := EncodeSpecSet(all, []string{"z"}); err == nil {
		t.Error("encoded a spec that is not among all")
	}
	for _, bad := range []string{"", "3.abc", "x.00000000.Ag", "3.00000000.!!", "3.00000000.AgAA"} {
		if _, err := DecodeSpecSet(bad, all); err == nil || errors.Is(err, ErrSpecSetMismatch) {
			t.Errorf("DecodeSpecSet(%q) = %v, want a format error", bad, err)
		}
	}
}

func TestFocusOn(t *testing.T) {
	re := regexp.MustCompile(FocusOn("zcsuite guest", []string{"cap-gate: a (x) [y]", "b|c"}))
	for s, want := range map[string]bool{
		"zcsuite guest cap-gate: a (x) [y]":   true,
		"zcsuite guest b|c":                   true,
		"zcsuite guest b":                     false,
		"zcsuite guest cap-gate: a (x) [y] z": false,
	} {
		if re.MatchString(s) != want {
			t.Errorf("%q: match %v, want %v", s, !want, want)
		}
	}
	if !strings.HasPrefix(FocusOn("s", nil), "^s ") {
		t.Error("no anchor")
	}
}

package vmevent

import "testing"

func TestCheckABI(t *testing.T) {
	for _, p := range []string{"auto", "upstream", "kmbuf-v2", "kmbuf-v3", "kmbuf-v4"} {
		if err := CheckABI(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	for _, p := range []string{"", "kmbuf", "kmbuf-v1", "Upstream"} {
		if CheckABI(p) == nil {
			t.Errorf("%q accepted", p)
		}
	}
}

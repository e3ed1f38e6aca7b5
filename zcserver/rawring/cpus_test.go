package rawring

import "testing"

func TestCountCPUList(t *testing.T) {
	for s, want := range map[string]int{"0\n": 1, "0-1\n": 2, "0-3,5,7-8": 7, "0,2": 2} {
		if n, err := countCPUList(s); err != nil || n != want {
			t.Errorf("%q: %d, %v; want %d", s, n, err, want)
		}
	}
	for _, s := range []string{"", "a", "3-1", "1-", "-1"} {
		if _, err := countCPUList(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

package gotest

import (
	"strings"
	"testing"
)

// stream is go test -json output as cmd/test2json writes it, cut down: a
// package with a pass, a skip with its reason and a failure, a package
// without tests, and a package whose tests did not build.
const stream = `{"Action":"start","Package":"github.com/zcsuite/zcsuite/a"}
{"Action":"run","Package":"github.com/zcsuite/zcsuite/a","Test":"TestGood"}
{"Action":"output","Package":"github.com/zcsuite/zcsuite/a","Test":"TestGood","Output":"=== RUN   TestGood\n"}
{"Action":"pass","Package":"github.com/zcsuite/zcsuite/a","Test":"TestGood","Elapsed":0.01}
{"Action":"run","Package":"github.com/zcsuite/zcsuite/a","Test":"TestHeavy"}
{"Action":"output","Package":"github.com/zcsuite/zcsuite/a","Test":"TestHeavy","Output":"=== RUN   TestHeavy\n"}
{"Action":"output","Package":"github.com/zcsuite/zcsuite/a","Test":"TestHeavy","Output":"    heavy_test.go:12: ZCSUITE_HEAVY is not set (takes minutes)\n"}
{"Action":"output","Package":"github.com/zcsuite/zcsuite/a","Test":"TestHeavy","Output":"--- SKIP: TestHeavy (0.00s)\n"}
{"Action":"skip","Package":"github.com/zcsuite/zcsuite/a","Test":"TestHeavy","Elapsed":0}
{"Action":"run","Package":"github.com/zcsuite/zcsuite/a","Test":"TestBad"}
{"Action":"output","Package":"github.com/zcsuite/zcsuite/a","Test":"TestBad","Output":"=== RUN   TestBad\n"}
{"Action":"output","Package":"github.com/zcsuite/zcsuite/a","Test":"TestBad","Output":"    bad_test.go:7: got 3, want 4\n"}
{"Action":"output","Package":"github.com/zcsuite/zcsuite/a","Test":"TestBad","Output":"--- FAIL: TestBad (0.00s)\n"}
{"Action":"fail","Package":"github.com/zcsuite/zcsuite/a","Test":"TestBad","Elapsed":0}
{"Action":"output","Package":"github.com/zcsuite/zcsuite/a","Output":"FAIL\n"}
{"Action":"fail","Package":"github.com/zcsuite/zcsuite/a","Elapsed":0.2}
{"Action":"start","Package":"github.com/zcsuite/zcsuite/b"}
{"Action":"output","Package":"github.com/zcsuite/zcsuite/b","Output":"?   \tgithub.com/zcsuite/zcsuite/b\t[no test files]\n"}
{"Action":"skip","Package":"github.com/zcsuite/zcsuite/b","Elapsed":0}
{"Action":"run","Package":"github.com/zcsuite/zcsuite/c","Test":"TestConfig"}
{"Action":"output","Package":"github.com/zcsuite/zcsuite/c","Test":"TestConfig","Output":"    config_test.go:20: open testdata/x.config: no such file or directory\n"}
{"Action":"skip","Package":"github.com/zcsuite/zcsuite/c","Test":"TestConfig","Elapsed":0}
{"Action":"pass","Package":"github.com/zcsuite/zcsuite/c","Elapsed":0.1}
# github.com/zcsuite/zcsuite/d [github.com/zcsuite/zcsuite/d.test]
d/d_test.go:3:2: undefined: nothing
{"Action":"fail","Package":"github.com/zcsuite/zcsuite/d","Elapsed":0}
`

func TestTally(t *testing.T) {
	var w strings.Builder
	s, err := Tally(strings.NewReader(stream), &w)
	if err != nil {
		t.Fatal(err)
	}
	if s.Passed != 1 || s.Failed != 1 || s.Skipped != 2 || s.FailedPackages != 2 {
		t.Errorf("tally = %+v, want 1 passed, 1 failed, 2 skipped, 2 failed packages", s)
	}
	if len(s.Skips) != 2 || s.Skips[0].Reason != "heavy_test.go:12: ZCSUITE_HEAVY is not set (takes minutes)" {
		t.Errorf("skips = %+v", s.Skips)
	}
	got := w.String()
	for _, want := range []string{
		"bad_test.go:7: got 3, want 4",          // a failed test's output
		"FAIL\tgithub.com/zcsuite/zcsuite/a\n",  // its package's line
		"?   \tgithub.com/zcsuite/zcsuite/b",    // no test files
		"ok  \tgithub.com/zcsuite/zcsuite/c",    // a passed package
		"d/d_test.go:3:2: undefined: nothing\n", // a build error, copied through
		"FAIL\tgithub.com/zcsuite/zcsuite/d\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "ZCSUITE_HEAVY") {
		t.Errorf("a skip's output was printed before the closing report:\n%s", got)
	}
	if s.OK() {
		t.Error("OK() with a failed test")
	}
}

func TestMissingFileSkipFails(t *testing.T) {
	s, err := Tally(strings.NewReader(stream), new(strings.Builder))
	if err != nil {
		t.Fatal(err)
	}
	m := s.MissingFile()
	if len(m) != 1 || m[0].Test != "TestConfig" {
		t.Fatalf("MissingFile = %+v, want TestConfig only", m)
	}
	var w strings.Builder
	s.Report(&w)
	for _, want := range []string{
		"unit tests: 1 passed, 1 failed, 2 skipped, 2 package(s) failed\n",
		"  skipped a TestHeavy: heavy_test.go:12: ZCSUITE_HEAVY is not set (takes minutes)\n",
		"unit tests: c TestConfig skipped for a missing file, which fails the run:",
	} {
		if !strings.Contains(w.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, w.String())
		}
	}

	// Only passes and reasoned skips: OK.
	ok := Summary{Passed: 3, Skipped: 1, Skips: []Skip{{"p", "T", "ZCSUITE_X is not set"}}}
	if !ok.OK() {
		t.Error("a reasoned skip failed the tally")
	}
}

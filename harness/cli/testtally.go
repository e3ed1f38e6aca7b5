package cli

import (
	"fmt"
	"io"

	"github.com/zcsuite/zcsuite/harness/gotest"
	"github.com/zcsuite/zcsuite/harness/verdict"
)

// testTallyMain is `zcsuite test-tally`: it reads `go test -json` on
// stdin (how `./run.sh test` runs the unit tests), prints each package's
// result and every failed test's output as they come, then the counts and
// every skipped test with its reason. Exit 1 when a test failed or skipped
// for a missing file, 0 otherwise.
func testTallyMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "zcsuite test-tally: takes no arguments (reads go test -json on stdin), got %q\n", args)
		return verdict.ExitUsage
	}
	s, err := gotest.Tally(stdin, stdout)
	s.Report(stdout)
	if err != nil {
		fmt.Fprintf(stderr, "zcsuite test-tally: reading go test's output: %v\n", err)
		return 1
	}
	if !s.OK() {
		return 1
	}
	return 0
}

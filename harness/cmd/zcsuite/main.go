// Command zcsuite boots a kernel in QEMU, runs the zcsuite guest specs
// against it and prints a verdict per spec. Its flags, exit codes and
// environment are package cli's.
package main

import (
	"os"

	"github.com/zcsuite/zcsuite/harness/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}

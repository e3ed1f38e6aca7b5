package main

import (
	"github.com/zcsuite/zcsuite/harness/kernel"
	"github.com/zcsuite/zcsuite/harness/verdict"
)

// findSplats adapts the console scanner to the verdict package.
func findSplats(lines []string) []verdict.Splat { return nil }

// checkConfig checks the kernel config against kernelconfig/required.config.
func checkConfig(k *kernel.Kernel) (string, error) { return "", nil }

// knownIssues loads fixtures/expectations for k.
func knownIssues(k *kernel.Kernel) ([]verdict.Expectation, error) { return nil, nil }

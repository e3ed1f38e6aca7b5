package report

// File is one file a run may write into its report directory.
type File struct {
	Name string
	// With names the flags that make a run write the file ("" when every
	// run writes it).
	With  string
	Holds string
}

// Files lists every file a run may write into its report directory, the
// canonical verdicts first; each list of specs in them is the same. A run
// removes the ones an earlier run left there before it starts, so that
// every report file in the directory belongs to one run; -help prints
// them.
var Files = []File{
	{"verdict.json", "", "the host's verdict of every spec, per VM: outcome (PASS, SKIP, KNOWN-FAIL, FAIL, FIXED, HANG, PANIC, CRASH, NOT-RUN), reason, labels, splats; each VM's outcome, its own failure, how it ended, duration, QEMU stderr and repro command (a QEMU command line that boots that VM's guest alone and runs exactly its specs, events to ./events.jsonl); the exit code"},
	{"report.json", "", "Ginkgo JSON, one report per VM: the guest's record of each spec amended with its verdict (entry zcsuite-verdict), or a record made from the verdict where the guest sent none (a VM that panicked or was cut off, a spec decided without booting, a spec not run); a VM's own failure as an AfterSuite node \"VM <name>\"; SuiteSucceeded true only when the run exits 0"},
	{"junit.xml", "", "JUnit XML of the same specs, for CI: SKIP, KNOWN-FAIL and NOT-RUN are skips whose message starts with the outcome (a KNOWN-FAIL's system-out says it is a known kernel issue), FAIL, FIXED, HANG, PANIC and CRASH are failures typed by the outcome, a VM's own failure is a failing testcase \"VM <name>\" (an error when it could test nothing); suite properties zcsuite.exit_code, zcsuite.known_failures, zcsuite.not_run"},
	{KTAPFile, "", "KTAP version 1 of the same specs, for kernel CI: one subtest per VM; XFAIL for a known failure, \"# SKIP not run: …\" for a spec that never started, TIMEOUT for a hang, ERROR for a panic or crash"},
	{"kernel.json", "", "what was booted and how: kernel source, package version, sha256s, config hash, accelerator, ABI profile, initramfs, phase timings, exit code"},
	{"console.log", "", "each VM's serial console, after its repro command"},
	{"kmsg.log", "", "each VM's kernel log"},
	{"bench.md", "-bench", "the benchmark's table"},
	{"bench.png", "-bench", "the benchmark's chart"},
	{"judgement.json", "-kernel-tree, -bisect, -repeat or -bad-if", "the kernel's verdict under those rules"},
}

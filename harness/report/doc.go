// Package report writes what a zcsuite run found into the report directory
// and prints the per-spec console summary. The host's verdicts are the
// canonical list of specs: verdict.json holds them per VM, and report.json
// (Ginkgo JSON, one report per VM: the guest's records amended with the
// verdicts, or records made from the verdicts where the guest sent none),
// junit.xml and results.ktap (KTAP version 1) hold the same specs with the
// same outcomes, and each VM's own failure. kernel.json, console.log and
// kmsg.log complete it. The package decides nothing: verdicts come from
// package verdict.
package report

// Package report writes what a zcsuite run found into the report directory
// (report.json: the guest Ginkgo reports amended with the host's verdicts;
// junit.xml; results.ktap, KTAP version 1; verdict.json; kernel.json;
// console.log; kmsg.log) and prints the per-spec console summary. It decides
// nothing: verdicts come from package verdict.
package report

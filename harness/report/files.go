package report

// Files are the names of every file a run may write into its report
// directory. A run removes the ones an earlier run left there before it
// starts, so that every report file in the directory belongs to one run.
var Files = []string{
	"console.log", "kmsg.log", "kernel.json", "verdict.json", "report.json",
	"junit.xml", "results.ktap", "bench.md", "bench.png", "judgement.json",
}

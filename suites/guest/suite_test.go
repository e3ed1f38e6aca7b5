package guest

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/guest/cause"
	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/suites/spectime"
	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// Flags the host passes to the guest binary.
var (
	expectRelease = flag.String("zcsuite.expect-release", "", "kernel release the host booted (uname -r must match)")
	kernelSpec    = flag.String("zcsuite.kernel", "", "the kernel argument the host resolved (for reports)")
	specSet       = flag.String(vmevent.SpecSetFlag, "", "run exactly the specs of this spec set (vmevent.EncodeSpecSet); a VM's repro command passes it where the VM got a focus regexp too long for the kernel command line")
	// failSpec is a test of the harness, not of the kernel: the host
	// passes it only when its test knob ZCSUITE_TEST_FAIL_SPEC is set
	// (.ci/faults.sh proves -fail-fast with it on a healthy kernel).
	failSpec = flag.String(vmevent.FailSpecFlag, "", "test of the harness only: fail every spec whose full text matches this regexp, on purpose")
)

// failOnPurpose fails the spec when -zcsuite.fail-spec selects it.
var _ = BeforeEach(func() {
	if *failSpec == "" {
		return
	}
	re, err := regexp.Compile(*failSpec)
	Expect(err).NotTo(HaveOccurred(), "-%s", vmevent.FailSpecFlag)
	if re.MatchString(CurrentSpecReport().FullText()) {
		Fail(fmt.Sprintf("failed on purpose by -%s=%q (a test of the harness, not a verdict on the kernel)", vmevent.FailSpecFlag, *failSpec))
	}
})

func TestGuest(t *testing.T) {
	RegisterFailHandler(Fail)
	suiteConfig, reporterConfig := GinkgoConfiguration()
	dryRun = suiteConfig.DryRun
	if *specSet != "" {
		focus, err := focusOnSet(*specSet)
		if err != nil {
			t.Fatalf("-%s: %v", vmevent.SpecSetFlag, err)
		}
		suiteConfig.FocusStrings = []string{focus}
	}
	RunSpecs(t, labels.SuiteDescription, suiteConfig, reporterConfig)
}

// dryRun is true when Ginkgo only lists the specs: the report nodes that
// mark specs in kmsg and send their events must not run then.
var dryRun bool

// focusOnSet lists this binary's specs (all of them, whatever the filters)
// and returns the focus regexp of those in the spec set. The list comes
// from a dry run of the binary in a child process: Ginkgo's PreviewSpecs
// would do it in this one, but the suite it leaves behind has lost its
// top-level nodes (the VM check and the spec events below).
func focusOnSet(set string) (string, error) {
	dir, err := os.MkdirTemp("", "zcsuite-specs-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "dry.json")
	cmd := exec.Command(os.Args[0], "-test.run=^TestGuest$", "--ginkgo.dry-run", "--ginkgo.no-color", "--ginkgo.json-report="+out)
	cmd.Dir = dir
	msg, err := cmd.CombinedOutput()
	b, rerr := os.ReadFile(out)
	if rerr != nil {
		return "", fmt.Errorf("listing this binary's specs: %v: %s", err, strings.TrimSpace(string(msg)))
	}
	var reps []types.Report
	if err := json.Unmarshal(b, &reps); err != nil {
		return "", fmt.Errorf("listing this binary's specs: %w", err)
	}
	var all []string
	for _, rep := range reps {
		for _, sr := range rep.SpecReports {
			if sr.LeafNodeType == types.NodeTypeIt {
				all = append(all, sr.FullText())
			}
		}
	}
	specs, err := vmevent.DecodeSpecSet(set, all)
	if err != nil {
		return "", err
	}
	return vmevent.FocusOn(labels.SuiteDescription, specs), nil
}

// Spec order within a VM, so that failures show early: the environment
// and FUSE_INIT checks first (when they fail, every other spec would, for
// the same reason), then the edge-case families (each spec a few commands,
// most in a tenth of a second), then the integrity workloads.
var (
	prioBasics = SpecPriority(2)
	prioEdge   = SpecPriority(1)
)

// maxSpecTimeout is the longest any spec may run (the benchmark aside),
// the bound of the integrity workloads and ABI probes; edge-case and
// fault-knob specs have edgeTimeout. The slowest spec takes under 5 s
// under TCG on a quiet host, so this leaves room for a debug kernel on a
// loaded one; and it bounds a run on a kernel whose ring leaves a request
// unanswered: the host stops waiting on such a kernel at the first spec
// that times out, and plans each VM's deadline from these bounds
// (harness/runner).
const maxSpecTimeout = spectime.Max

// ReportEntryExpectedSplat is the report entry name by which a spec declares
// a kernel splat it provokes on purpose; the host does not fail the spec for
// a splat whose title starts with the entry's value.
const ReportEntryExpectedSplat = "expected-splat"

// ReportEntryExpectedWedge is the report entry by which a destructive spec
// declares that it leaves the kernel wedged (its value says why): the host
// then does not fail the VM for the guest suite hanging after the spec.
const ReportEntryExpectedWedge = "expected-wedge"

var (
	inVM        bool
	notVMWhy    string
	events      *vmevent.Writer
	specSeq     int
	taintBefore uint64
	eventsOnce  sync.Once
)

func init() {
	if inVM, notVMWhy = vmevent.InVM(); !inVM {
		notVMWhy += "; run the suite through ./run.sh or go test ./suites/host"
	}
}

func eventWriter() *vmevent.Writer {
	eventsOnce.Do(func() {
		fd, err := strconv.Atoi(os.Getenv("ZCSUITE_EVENT_FD"))
		if err != nil || fd < 3 {
			return
		}
		events = vmevent.NewWriter(os.NewFile(uintptr(fd), "zcsuite-events"))
	})
	return events
}

// kmsgMark writes a marker line into the kernel log; the host uses the
// markers to attribute kernel splats to the spec that was running. Raw
// system calls: this runs twice per spec, and os.File's poller
// registration is not free under TCG.
func kmsgMark(s string) {
	fd, err := unix.Open("/dev/kmsg", unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	unix.Write(fd, []byte(s+"\n"))
	unix.Close(fd)
}

// specOpen is true between the start and end events of a spec that runs;
// specs the label filter or focus left out are skipped before they start
// and produce no events, so they never appear as SKIP in the verdicts.
var specOpen bool

var _ = ReportBeforeEach(func(r SpecReport) {
	if !inVM || dryRun || r.State == types.SpecStateSkipped || r.State == types.SpecStatePending {
		return
	}
	specOpen = true
	specSeq++
	taintBefore = readTaint()
	kmsgMark("zcsuite: spec-start " + strconv.Itoa(specSeq) + " " + r.FullText())
	if w := eventWriter(); w != nil {
		w.Write(vmevent.Event{Type: vmevent.SpecStart, Seq: specSeq, Spec: r.FullText(), Labels: r.Labels()})
	}
})

var _ = ReportAfterEach(func(r SpecReport) {
	if !inVM || !specOpen {
		return
	}
	specOpen = false
	kmsgMark("zcsuite: spec-end " + strconv.Itoa(specSeq) + " " + r.State.String())
	var expected []string
	wedge := ""
	for _, e := range r.ReportEntries {
		switch e.Name {
		case ReportEntryExpectedSplat:
			expected = append(expected, e.StringRepresentation())
		case ReportEntryExpectedWedge:
			wedge = e.StringRepresentation()
		}
	}
	msg := ""
	switch {
	case r.State.Is(types.SpecStateFailureStates):
		msg = cause.Of(r.Failure.Message)
	case r.State == types.SpecStateSkipped:
		// A skip's message is our own text, written to be read whole
		// (a probe's findings can take a thousand bytes).
		msg = strings.Join(strings.Fields(r.Failure.Message), " ")
	}
	if w := eventWriter(); w != nil {
		w.Write(vmevent.Event{Type: vmevent.SpecEnd, Seq: specSeq, Spec: r.FullText(), Labels: r.Labels(),
			State: r.State.String(), Message: msg, ExpectedSplats: expected, ExpectedWedge: wedge,
			TaintBefore: taintBefore, TaintAfter: readTaint()})
	}
})

func readTaint() uint64 {
	fd, err := unix.Open("/proc/sys/kernel/tainted", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(fd)
	var b [32]byte
	n, err := unix.Read(fd, b[:])
	if err != nil || n <= 0 {
		return 0
	}
	v, _ := strconv.ParseUint(strings.TrimSpace(string(b[:n])), 10, 64)
	return v
}

// Every spec needs the VM; outside it, skip with the reason.
var _ = BeforeEach(func() {
	if !inVM {
		Skip(notVMWhy)
	}
}, OncePerOrdered)

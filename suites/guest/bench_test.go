package guest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/vmimage/vmevent"
	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/features"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi"
)

// fioPath is where a bench image carries Debian's fio.
const fioPath = "/bin/fio"

// benchJob is one fio job shape: the seed patch's benchmark (bs=1M, sync
// engine, 2 jobs, random read or write, direct or buffered), sized down for
// a 1 GiB VM under emulation.
type benchJob struct {
	name   string
	rw     string
	direct bool
}

var benchJobs = []benchJob{
	{"randread-direct", "randread", true},
	{"randread-buffered", "randread", false},
	{"randwrite-direct", "randwrite", true},
	{"randwrite-buffered", "randwrite", false},
}

type benchMode struct {
	name string
	mode zcserver.Mode
}

var benchModes = []benchMode{
	{"copy", zcserver.ModeRingPerEntry},
	{"pool", zcserver.ModeRingPool},
	{"zero-copy", zcserver.ModeRingZeroCopy},
}

const benchRounds = 3

var _ = Describe("benchmark: zcserver modes under fio", Label(labels.Bench, labels.ABIUpstream), func() {
	It("measures copy, pool and zero-copy throughput, interleaved over rounds", func(ctx SpecContext) {
		if _, err := os.Stat(fioPath); err != nil {
			Skip("fio is not in this image (run ./run.sh bench): " + err.Error())
		}
		servers := map[string]*zcserver.Server{}
		for _, m := range benchModes {
			mnt := filepath.Join(os.TempDir(), "bench-"+m.name)
			Expect(os.MkdirAll(mnt, 0o755)).To(Succeed())
			srv, err := zcserver.Start(ctx, zcserver.Config{
				MountPoint: mnt, Mode: m.mode, QueueDepth: 4, MaxWrite: 1 << 20,
				ZeroCopyFiles: func(string) bool { return true },
			})
			if err != nil && len(servers) == 0 {
				// The first ring mode decides whether the kernel can run
				// the bench at all; a later failure is a real one.
				probe := startDevFuse(ctx, zcserver.Config{Mode: zcserver.ModeDevFuse})
				if perr := features.RequireOnRelease(features.HaveBufPool(probe.Init()), kernelRelease()); errors.Is(perr, features.ErrNotSupported) {
					Skip(perr.Error())
				}
			}
			Expect(err).NotTo(HaveOccurred(), "start zcserver in mode %s", m.name)
			DeferCleanup(srv.Close)
			servers[m.name] = srv
		}
		for round := 1; round <= benchRounds; round++ {
			for _, j := range benchJobs {
				for i := range benchModes {
					// Rotate the order each round so no mode always runs
					// first or last.
					m := benchModes[(i+round)%len(benchModes)]
					s := runFio(ctx, servers[m.name], m.name, j, round)
					b, _ := json.Marshal(s)
					AddReportEntry(vmevent.BenchEntry, string(b))
					Expect(s.MBps).To(BeNumerically(">", 0), "%s %s moved no data", m.name, j.name)
					switch m.name {
					case "zero-copy":
						Expect(s.ZeroCopyBytes).To(BeNumerically(">", 0), "zero-copy mode moved nothing through slots in %s", j.name)
						Expect(s.CopiedBytes).To(BeZero(), "zero-copy mode copied READ/WRITE payload in %s", j.name)
					default:
						Expect(s.ZeroCopyBytes).To(BeZero(), "%s mode reported zero-copied bytes", m.name)
					}
				}
			}
		}
	}, SpecTimeout(20*time.Minute))
})

// fioResult is the part of fio's JSON output we read.
type fioResult struct {
	Jobs []struct {
		Read struct {
			BwBytes float64 `json:"bw_bytes"`
		} `json:"read"`
		Write struct {
			BwBytes float64 `json:"bw_bytes"`
		} `json:"write"`
	} `json:"jobs"`
}

func runFio(ctx SpecContext, srv *zcserver.Server, mode string, j benchJob, round int) vmevent.BenchSample {
	GinkgoHelper()
	direct := "0"
	if j.direct {
		direct = "1"
	}
	var ru0, ru1 unix.Rusage
	c0 := srv.Counters()
	unix.Getrusage(unix.RUSAGE_SELF, &ru0)
	// fio runs in its own process: nothing in the server's process touches
	// its own mount.
	cmd := exec.CommandContext(ctx, fioPath,
		"--name="+j.name, "--directory="+srv.MountPoint(), "--filename_format=bench.$jobnum",
		"--ioengine=sync", "--rw="+j.rw, "--bs=1M", "--size=32M", "--numjobs=2",
		"--time_based", "--runtime=3", "--ramp_time=1", "--group_reporting=1",
		"--direct="+direct, "--output-format=json")
	out, err := cmd.Output()
	Expect(err).NotTo(HaveOccurred(), "fio %s on %s: %s", j.name, mode, exitText(err))
	unix.Getrusage(unix.RUSAGE_SELF, &ru1)
	c1 := srv.Counters()
	var res fioResult
	Expect(json.Unmarshal(out, &res)).To(Succeed(), "fio JSON")
	Expect(res.Jobs).NotTo(BeEmpty())
	bw := res.Jobs[0].Read.BwBytes + res.Jobs[0].Write.BwBytes
	cpu := func(r unix.Rusage) float64 {
		return float64(r.Utime.Nano()+r.Stime.Nano()) / 1e9
	}
	return vmevent.BenchSample{
		Mode: mode, Job: j.name, Round: round, MBps: bw / 1e6,
		ServerCPUSec:  cpu(ru1) - cpu(ru0),
		Requests:      (c1.Requests[fuseabi.FUSE_READ] + c1.Requests[fuseabi.FUSE_WRITE]) - (c0.Requests[fuseabi.FUSE_READ] + c0.Requests[fuseabi.FUSE_WRITE]),
		CopiedBytes:   (c1.CopiedReadBytes + c1.CopiedWriteBytes) - (c0.CopiedReadBytes + c0.CopiedWriteBytes),
		ZeroCopyBytes: (c1.ZeroCopyReadBytes + c1.ZeroCopyWriteBytes) - (c0.ZeroCopyReadBytes + c0.ZeroCopyWriteBytes),
	}
}

func exitText(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Sprintf("%v: %s", err, ee.Stderr)
	}
	return fmt.Sprint(err)
}

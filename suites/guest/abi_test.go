package guest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/suites/labels"
	"github.com/zcsuite/zcsuite/vmimage/vmevent"
	"github.com/zcsuite/zcsuite/zcserver"
	"github.com/zcsuite/zcsuite/zcserver/features"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/kmbuf"
	"github.com/zcsuite/zcsuite/zcserver/kmbufring"
	"github.com/zcsuite/zcsuite/zcserver/protocol"
	"github.com/zcsuite/zcsuite/zcserver/uring"
)

// abiFlag is the host's --abi (vmevent.ABIProfiles).
var abiFlag = flag.String("zcsuite.abi", vmevent.ABIAuto, "FUSE io_uring ABI profile: "+strings.Join(vmevent.ABIProfiles, ", "))

// abiState is the guest's ABI profile: what the host asked for, what the
// kernel states about itself, and the profile the specs run under.
type abiState struct {
	requested string
	// name is the profile in force ("upstream", "kmbuf-v2", ...); kmbuf is
	// set when it is a kmbuf profile.
	name  string
	kmbuf *kmbuf.Profile
	why   string
	// err: the profile could not be decided (the kernel contradicts
	// itself or a probe is broken); specs that depend on it fail.
	err error

	init     protocol.InitInfo
	probe    features.KmbufProbe
	probeErr error
}

func (a *abiState) String() string {
	switch {
	case a.err != nil:
		return a.requested + " (unresolved: " + a.err.Error() + ")"
	case a.requested == vmevent.ABIAuto:
		return a.name + " (auto: " + a.why + ")"
	}
	return a.name + " (requested; " + a.why + ")"
}

var abiDetect struct {
	sync.Once
	state *abiState
}

// currentABI returns the run's ABI profile, deciding it on first use: one
// throwaway mount reads the kernel's INIT offer, the kmbuf ring probe asks
// io_uring, and for auto on a kernel with the series a second throwaway
// mount tells the REGISTER layout.
func currentABI() *abiState {
	abiDetect.Do(func() { abiDetect.state = detectABI(*abiFlag) })
	return abiDetect.state
}

func detectABI(requested string) *abiState {
	a := &abiState{requested: requested}
	if err := vmevent.CheckABI(requested); err != nil {
		a.err = err
		return a
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if a.init, a.err = kernelInitOffer(ctx); a.err != nil {
		return a
	}
	a.probe, a.probeErr = features.HaveKmbufRing()
	return resolveABI(ctx, a)
}

// resolveABI fills name, kmbuf and why of a whose requested, init and
// probe are set.
func resolveABI(ctx context.Context, a *abiState) *abiState {
	says := fmt.Sprintf("kernel: INIT %d.%d flags2 %#x, register opcode 37 probe: %s", a.init.KernelMajor, a.init.KernelMinor, a.init.KernelFlags2, probeSummary(a.probe, a.probeErr))
	switch a.requested {
	case vmevent.ABIAuto:
		fam, why, err := features.ResolveABI(a.init, a.probeErr)
		if err != nil {
			a.err = err
			return a
		}
		a.why = why
		if fam == features.ABIUpstream {
			a.name = vmevent.ABIUpstream
			return a
		}
		rev, evidence, err := probeRevision(ctx)
		a.why += "; " + evidence
		if err != nil {
			a.err = err
			return a
		}
		p, err := kmbuf.ProfileFor(rev)
		if err != nil {
			a.err = err
			return a
		}
		a.name, a.kmbuf = p.Name, &p
	case vmevent.ABIUpstream:
		a.name, a.why = a.requested, says
	default:
		p, err := kmbuf.ProfileNamed(a.requested)
		if err != nil {
			a.err = err
			return a
		}
		a.name, a.kmbuf, a.why = p.Name, &p, says
	}
	return a
}

func probeSummary(p features.KmbufProbe, err error) string {
	switch {
	case err == nil:
		return "EEXIST, kmbuf ring confirmed"
	case errors.Is(err, features.ErrNotSupported):
		return unix.ErrnoName(p.Occupied) + ", not a kmbuf ring register"
	}
	return "broken: " + err.Error()
}

// throwaway mounts a zcserver for a probe and returns it with its cleanup.
func throwaway(ctx context.Context, cfg zcserver.Config) (*zcserver.Server, func(), error) {
	mnt, err := os.MkdirTemp("", "zc-abi-")
	if err != nil {
		return nil, nil, err
	}
	cfg.MountPoint = mnt
	srv, err := zcserver.Start(ctx, cfg)
	if err != nil {
		os.Remove(mnt)
		return nil, nil, err
	}
	return srv, func() {
		srv.Abort()
		srv.Close()
		os.Remove(mnt)
	}, nil
}

// initOffer records the kernel's FUSE_INIT offer on a throwaway mount.
func initOffer(ctx context.Context) (protocol.InitInfo, error) {
	srv, done, err := throwaway(ctx, zcserver.Config{Mode: zcserver.ModeDevFuse})
	if err != nil {
		return protocol.InitInfo{}, fmt.Errorf("ABI detection: mount for the INIT offer: %w", err)
	}
	defer done()
	return srv.Init(), nil
}

// probeRevision runs kmbufring.ProbeRevision on a throwaway connection.
func probeRevision(ctx context.Context) (kmbuf.Revision, string, error) {
	srv, done, err := throwaway(ctx, zcserver.Config{Mode: zcserver.ModeDevFuse, RingInit: true})
	if err != nil {
		return 0, "", fmt.Errorf("ABI detection: mount for the revision probe: %w", err)
	}
	defer done()
	return kmbufring.ProbeRevision(ctx, srv.DevFD())
}

// kmbufGate says whether kmbuf specs run under a: the kmbuf profile, or
// the reason to skip (the profile is not kmbuf, or the kernel lacks the
// series: the probe's own words), or an error (the profile could not be
// decided, or the probe is broken: fail, never skip).
func kmbufGate(a *abiState) (kmbuf.Profile, string, error) {
	switch {
	case a.err != nil:
		return kmbuf.Profile{}, "", fmt.Errorf("ABI profile %s: %w", a.requested, a.err)
	case a.requested == vmevent.ABIUpstream:
		return kmbuf.Profile{}, vmevent.ABIGatePrefix + "-zcsuite.abi=upstream: the kmbuf series' specs do not apply", nil
	case a.probeErr != nil && errors.Is(a.probeErr, features.ErrNotSupported):
		return kmbuf.Profile{}, fmt.Sprintf("%s-zcsuite.abi=%s: %v", vmevent.ABIGatePrefix, a.requested, a.probeErr), nil
	case a.probeErr != nil:
		return kmbuf.Profile{}, "", fmt.Errorf("kmbuf ring probe: %w", a.probeErr)
	case a.kmbuf == nil:
		return kmbuf.Profile{}, "", fmt.Errorf("the kernel registers kmbuf rings but the profile resolved to %q", a.name)
	}
	return *a.kmbuf, "", nil
}

// requireKmbuf skips the spec unless it runs under a kmbuf profile on a
// kernel with the series, and returns the profile.
func requireKmbuf() kmbuf.Profile {
	GinkgoHelper()
	p, skip, err := kmbufGate(currentABI())
	if err != nil {
		Fail(err.Error())
	}
	if skip != "" {
		Skip(skip)
	}
	return p
}

// Every spec records the profile it runs under; under a kmbuf profile the
// upstream ABI's specs skip (the kmbuf specs skip themselves, through
// requireKmbuf, under the upstream profile).
var _ = BeforeEach(func() {
	if !inVM {
		return
	}
	a := currentABI()
	AddReportEntry(vmevent.ReportEntryABI, a.String())
	if a.err == nil && a.kmbuf != nil && slices.Contains(CurrentSpecReport().Labels(), labels.ABIUpstream) {
		Skip(fmt.Sprintf("%sABI profile %s: the upstream ABI's specs do not apply", vmevent.ABIGatePrefix, a.name))
	}
})

func openFDCount() int {
	ents, err := os.ReadDir("/proc/self/fd")
	Expect(err).NotTo(HaveOccurred())
	return len(ents)
}

var _ = Describe("ABI profile", Label(labels.Env), prioBasics, func() {
	// catches: auto misfiring, i.e. picking a kmbuf profile on a mainline
	// kernel (opcode 37 is IORING_REGISTER_BPF_FILTER from 7.2 on), or
	// missing the 7.46 ABI a 7.3 kernel states.
	It("resolves auto from the INIT offer and the kmbuf ring probe, and never to kmbuf without the series", func(ctx SpecContext) {
		a := currentABI()
		Expect(a.err).NotTo(HaveOccurred(), "ABI detection")
		auto := resolveABI(ctx, &abiState{requested: vmevent.ABIAuto, init: a.init, probe: a.probe, probeErr: a.probeErr})
		AddReportEntry("abi-auto", auto.String())
		Expect(auto.err).NotTo(HaveOccurred())
		kmbufHere := a.probeErr == nil
		if !kmbufHere {
			Expect(errors.Is(a.probeErr, features.ErrNotSupported)).To(BeTrue(), "the probe must be conclusive: %v", a.probeErr)
			Expect(a.probe.Occupied).To(Equal(unix.EINVAL), "a kernel without the series refuses the kmbuf registration for a taken group with EINVAL: %s", a.probe)
			Expect(auto.name).To(Equal(vmevent.ABIUpstream))
			Expect(auto.kmbuf).To(BeNil())
		} else {
			Expect(a.probe.Confirmed).To(BeTrue(), "%s", a.probe)
			Expect(auto.name).To(HavePrefix("kmbuf-"))
		}
		if strings.HasPrefix(*kernelSpec, "debian:") {
			Expect(kmbufHere).To(BeFalse(), "%s is a stock Debian kernel: it has no kmbuf series", *kernelSpec)
		}
		if features.HaveBufPool(a.init) == nil {
			Expect(auto.name).To(Equal(vmevent.ABIUpstream), "a kernel stating the 7.46 ABI is upstream")
		}
		if features.AtLeast(kernelRelease(), features.BufPool.Since) && !kmbufHere {
			Expect(auto.why).To(ContainSubstring("states the 7.46 buffer-pool ABI"), "kernel %s", kernelRelease())
		}
	}, SpecTimeout(maxSpecTimeout))

	// catches: a probe that changes the kernel it asks (a BPF filter or a
	// provided-buffer ring left behind, a leaked descriptor or mapping) or
	// that answers differently when asked twice.
	It("probes register opcode 37 without leaving anything behind, and answers the same twice", func() {
		cached := currentABI()
		before := openFDCount()
		p, err := features.ProbeKmbufRing()
		absent := errors.Is(err, features.ErrNotSupported)
		Expect(openFDCount()).To(Equal(before), "descriptors after the probe")
		AddReportEntry("kmbuf-probe", p.String())
		Expect(errors.Is(err, features.ErrNotSupported)).To(Equal(errors.Is(cached.probeErr, features.ErrNotSupported)), "first %v, now %v", cached.probeErr, err)
		Expect(p.Occupied).To(Equal(cached.probe.Occupied))
		if err == nil {
			Expect(p.Confirmed).To(BeTrue())
		} else {
			Expect(errors.Is(err, features.ErrNotSupported)).To(BeTrue(), "probe broken: %v", err)
			Expect(p.Steps).To(ContainElement("NOP: ok"), "the probe's own ring still runs a NOP after opcode 37: no filter was installed")
		}
		// Nothing outlives the probe: a fresh ring runs a NOP.
		r, err := uring.New(4)
		Expect(err).NotTo(HaveOccurred())
		defer r.Close()
		if absent {
			// What opcode 37 is on this kernel, for the report: a
			// struct io_uring_bpf (cmd_type 1, a one-instruction filter
			// for IORING_OP_NOP) whose pdu_size 255 exceeds the NOP's
			// makes mainline's BPF filter registration stop with EMSGSIZE
			// before it builds anything (EINVAL: unknown opcode, or
			// io_uring BPF filters not built in).
			bpf := make([]byte, 4096)
			bpf[0], bpf[16], bpf[20] = 1, 1, 255
			_, berr := r.Register(uring.RegisterOp(kmbuf.IORING_REGISTER_KMBUF_RING), unsafe.Pointer(&bpf[0]), 1)
			AddReportEntry("opcode-37-as-bpf-filter", fmt.Sprint(berr))
			Expect(berr).To(HaveOccurred(), "the oversized BPF filter must be refused")
		}
		sqe, err := r.NextSQE()
		Expect(err).NotTo(HaveOccurred())
		sqe.PrepNop()
		_, err = r.SubmitAndWait(1)
		Expect(err).NotTo(HaveOccurred())
		c, err := r.WaitCQE()
		Expect(err).NotTo(HaveOccurred())
		Expect(c.Err()).To(Succeed(), "a NOP on a fresh ring after the probe")
	})

	// catches: a kmbuf spec that would run (and could pass) on a kernel
	// without the series because of an explicit --abi.
	It("makes every kmbuf spec skip with the probe's reason on a kernel without the series, whatever --abi says", func(ctx SpecContext) {
		a := currentABI()
		Expect(a.err).NotTo(HaveOccurred(), "ABI detection")
		if a.probeErr == nil {
			Skip("this kernel carries the kmbuf series: kmbuf specs run")
		}
		for _, req := range vmevent.ABIProfiles {
			s := resolveABI(ctx, &abiState{requested: req, init: a.init, probe: a.probe, probeErr: a.probeErr})
			Expect(s.err).NotTo(HaveOccurred(), "--abi %s", req)
			p, skip, err := kmbufGate(s)
			Expect(err).NotTo(HaveOccurred(), "--abi %s", req)
			Expect(skip).NotTo(BeEmpty(), "--abi %s would run kmbuf specs as %s", req, p.Name)
			if req != vmevent.ABIUpstream {
				Expect(skip).To(ContainSubstring(features.KmbufRing.Name), "--abi %s: the skip carries the probe's reason", req)
				Expect(skip).To(ContainSubstring("EINVAL"))
			}
			Expect(skip).To(HavePrefix(vmevent.ABIGatePrefix), "the host recognises a gate skip by its prefix")
		}
	}, SpecTimeout(maxSpecTimeout))
})

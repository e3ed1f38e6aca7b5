package vmevent

import (
	"fmt"
	"strings"
)

// ABI profiles: the values of the host's --abi flag, passed unchanged to
// the guest test binary as -zcsuite.abi. A profile names the FUSE io_uring
// ABI the guest specs speak to the kernel under test.
const (
	// ABIAuto lets the guest decide from what the booted kernel states
	// (its FUSE_INIT offer and a kmbuf ring probe); it never picks a
	// kmbuf profile on a kernel without the kmbuf series.
	ABIAuto = "auto"
	// ABIUpstream is mainline's ABI (Linux 7.3 buffer pools and zero copy).
	ABIUpstream = "upstream"
	// ABIKmbufV2 and ABIKmbufV3 are the out-of-tree kmbuf zero-copy
	// series, whose two revisions differ in the REGISTER layout;
	// ABIKmbufV4 has the v3 layout.
	ABIKmbufV2 = "kmbuf-v2"
	ABIKmbufV3 = "kmbuf-v3"
	ABIKmbufV4 = "kmbuf-v4"
)

// ABIProfiles lists every valid --abi value.
var ABIProfiles = []string{ABIAuto, ABIUpstream, ABIKmbufV2, ABIKmbufV3, ABIKmbufV4}

// ReportEntryABI is the name of the Ginkgo report entry by which every
// guest spec records the ABI profile it ran under ("upstream (auto: ...)").
// The host reads the resolved profile of an auto run from it.
const ReportEntryABI = "abi-profile"

// ABIGatePrefix starts the skip message of a spec that the ABI gate
// skipped because it belongs to the profile this run does not use. The
// gate depends only on the kernel and -abi, so the host may decide a spec
// of the same profile label from one VM's gate skip without booting
// another VM.
const ABIGatePrefix = "ABI gate: "

// CheckABI returns an error unless p is one of ABIProfiles.
func CheckABI(p string) error {
	for _, v := range ABIProfiles {
		if p == v {
			return nil
		}
	}
	return fmt.Errorf("ABI profile %q (want one of %s)", p, strings.Join(ABIProfiles, ", "))
}

package cli

import (
	"flag"
	"strings"

	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// addABIFlag declares -abi, the FUSE io_uring ABI profile of the guest
// specs (runner.WithABI).
func addABIFlag(fs *flag.FlagSet) *string {
	return fs.String("abi", vmevent.ABIAuto, "FUSE io_uring ABI profile: "+strings.Join(vmevent.ABIProfiles, ", ")+
		" (auto: decided in the guest from the kernel's INIT offer and a kmbuf ring probe, never kmbuf on a kernel without the series; kmbuf-v4 uses the v3 layout); recorded in kernel.json")
}

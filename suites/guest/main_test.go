package guest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/zcsuite/zcsuite/vmimage/vmevent"
)

// TestMain lets the guest init start this binary before the VM state is
// saved, when its arguments are not known yet: with vmevent.ArgsFDEnv set,
// it first reads them from that descriptor. A VM resumed from the state
// then skips the binary's start-up.
func TestMain(m *testing.M) {
	if v := os.Getenv(vmevent.ArgsFDEnv); v != "" {
		os.Unsetenv(vmevent.ArgsFDEnv) // not for the children it starts
		args, err := readArgs(v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "guest suite: %s=%s: %v\n", vmevent.ArgsFDEnv, v, err)
			os.Exit(125)
		}
		os.Args = append(os.Args[:1], args...)
	}
	os.Exit(m.Run())
}

func readArgs(fdText string) ([]string, error) {
	fd, err := strconv.Atoi(fdText)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("not a descriptor number")
	}
	f := os.NewFile(uintptr(fd), "zcsuite-args")
	defer f.Close()
	line, err := bufio.NewReader(f).ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("reading the arguments: %w", err)
	}
	var args []string
	if err := json.Unmarshal(line, &args); err != nil {
		return nil, fmt.Errorf("the arguments are not a JSON array of strings: %w", err)
	}
	return args, nil
}

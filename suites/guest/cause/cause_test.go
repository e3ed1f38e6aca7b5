package cause

import (
	"strings"
	"testing"
)

// The messages are what Gomega v1.44 prints for these assertions.
func TestOf(t *testing.T) {
	for _, c := range []struct{ name, msg, want string }{
		{"wrapped errno with a description", `mount zcserver over /dev/fuse
Unexpected error:
    <*fmt.wrapError | 0x185b97e32040>: 
    add queue 0: function not implemented
    {
        msg: "add queue 0: function not implemented",
        err: <syscall.Errno>0x26,
    }
occurred`, "mount zcserver over /dev/fuse: Unexpected error: add queue 0: function not implemented occurred"},
		{"bare errno", `Unexpected error:
    <syscall.Errno>: 
    function not implemented
    0x26
occurred`, "Unexpected error: function not implemented occurred"},
		{"error string with braces in the dump", `mount zcserver over /dev/fuse
Unexpected error:
    <*errors.errorString | 0x185b97dec540>: 
    zcserver: INIT flags2 0x1ff lacks bit 9; first in Linux 6.14
    {
        s: "zcserver: INIT flags2 0x1ff lacks bit 9; first in Linux 6.14 }",
    }
occurred`, "mount zcserver over /dev/fuse: Unexpected error: zcserver: INIT flags2 0x1ff lacks bit 9; first in Linux 6.14 occurred"},
		{"MatchError", `unprivileged ADD_QUEUE
Expected
    <*fmt.wrapError | 0x185b97e32080>: 
    add queue: invalid argument
    {
        msg: "add queue: invalid argument",
        err: <syscall.Errno>0x16,
    }
to match error
    <syscall.Errno>: 
    operation not permitted
    0x1`, "unprivileged ADD_QUEUE: Expected add queue: invalid argument to match error operation not permitted"},
		{"inline values", "payload_sz seen by the server\nExpected\n    <int>: 3\nto equal\n    <int>: 4", "payload_sz seen by the server: Expected 3 to equal 4"},
		{"bytes", "Expected\n    <[]uint8 | len:11, cap:11>: \"hello world\"\nto equal\n    <[]uint8 | len:11, cap:11>: \"hello worle\"", `Expected "hello world" to equal "hello worle"`},
		{"no error", "ADD_QUEUE with depth 0\nExpected an error to have occurred.  Got:\n    <nil>: nil", "ADD_QUEUE with depth 0: Expected an error to have occurred. Got: nil"},
		{"a hex value is kept when it is the value", "flags2\nExpected\n    <uint64>: \n    0x1ff\nto equal\n    <uint64>: 0x3ff", "flags2: Expected 0x1ff to equal 0x3ff"},
		{"skip message", "ABI gate: -zcsuite.abi=auto: io_uring kernel-managed buffer rings: not supported by this kernel", "ABI gate: -zcsuite.abi=auto: io_uring kernel-managed buffer rings: not supported by this kernel"},
		{"description ending in a colon", "setup:\nExpected\n    <int>: 1\nto equal\n    <int>: 2", "setup: Expected 1 to equal 2"},
		{"empty", "", ""},
	} {
		if got := Of(c.msg); got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}

func TestOfBounds(t *testing.T) {
	msg := "write check\nExpected\n    <string>: " + strings.Repeat("é", 400) + "\nto equal\n    <string>: x"
	got := Of(msg)
	if len(got) > Max || !strings.HasSuffix(got, "…") || !strings.HasPrefix(got, "write check: Expected éé") {
		t.Fatalf("len %d: %q", len(got), got)
	}
	if strings.ContainsRune(got, '\uFFFD') {
		t.Fatalf("cut inside a character: %q", got)
	}
	if got := Of("a  \t b\n\n   c"); got != "a b c" {
		t.Fatalf("whitespace not folded: %q", got)
	}
}

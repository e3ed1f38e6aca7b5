package main

import "testing"

func TestParseKmsg(t *testing.T) {
	e, ok := parseKmsg("4,1234,5678901,-;WARNING: CPU: 1 PID: 77 at fs/fuse/dev_uring.c:172 fuse_uring_req_end+0x1/0x2\n SUBSYSTEM=x\n")
	if !ok || e.KmsgSeq != 1234 || e.KmsgLevel != 4 || e.KmsgUsec != 5678901 ||
		e.Text != "WARNING: CPU: 1 PID: 77 at fs/fuse/dev_uring.c:172 fuse_uring_req_end+0x1/0x2" {
		t.Fatalf("got %+v ok=%v", e, ok)
	}
	e, ok = parseKmsg(`6,2,3,c;tab\x09here`)
	if !ok || e.Text != "tab\there" || e.KmsgLevel != 6 {
		t.Fatalf("escaped: %+v", e)
	}
	if _, ok := parseKmsg("garbage"); ok {
		t.Fatal("garbage parsed")
	}
}

package ksym

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func writeMap(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "System.map")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const smallMap = `ffffffff81000000 T _text
ffffffff81000000 T startup_64
ffffffff81000100 t helper
ffffffff81000100 t helper_alias
ffffffff81000180 D some_data
ffffffff81000200 T last_fn
ffffffff81000300 T _etext
`

func TestLookup(t *testing.T) {
	tab, err := Load(writeMap(t, smallMap))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		addr        uint64
		name        string
		start, size uint64
		ok          bool
	}{
		{0xffffffff80ffffff, "", 0, 0, false},
		{0xffffffff81000000, "_text", 0xffffffff81000000, 0x100, true},
		{0xffffffff81000123, "helper", 0xffffffff81000100, 0x100, true}, // a data symbol does not end a function
		{0xffffffff810002ff, "last_fn", 0xffffffff81000200, 0x100, true},
		{0xffffffff81000300, "", 0, 0, false}, // the end of the text
	} {
		name, start, size, ok := tab.Lookup(c.addr)
		if name != c.name || start != c.start || size != c.size || ok != c.ok {
			t.Errorf("Lookup(%#x) = %q %#x %#x %v, want %q %#x %#x %v", c.addr, name, start, size, ok, c.name, c.start, c.size, c.ok)
		}
	}
}

func TestLine(t *testing.T) {
	tab, err := Load(writeMap(t, smallMap))
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"WARNING: at 0xffffffff81000123, CPU#0: zcserver/77": "WARNING: at helper+0x23/0x100, CPU#0: zcserver/77",
		"RIP: 0010:0xffffffff81000204":                       "RIP: 0010:last_fn+0x4/0x100",
		// A return address is looked up one byte before it: the call
		// that made it is in the function ending there.
		" 0xffffffff81000200":                  " helper+0x100/0x100",
		" ? 0xffffffff81000201":                " ? last_fn+0x1/0x100",
		"[   30.808605]  ? 0xffffffff81000200": "[   30.808605]  ? helper+0x100/0x100",
		// Not text, or not an address: left alone.
		"RAX: ffffffff81000123 RBX: 0000000000000000": "RAX: ffffffff81000123 RBX: 0000000000000000",
		"CR2: 0xffffffff90000000":                     "CR2: 0xffffffff90000000",
		"RIP: 0033:0x7f0000001234":                    "RIP: 0033:0x7f0000001234",
	} {
		if got := tab.Line(in); got != want {
			t.Errorf("Line(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "none")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing map: %v", err)
	}
	if _, err := Load(writeMap(t, "ffffffff81000180 D some_data\n")); !errors.Is(err, ErrNoText) {
		t.Errorf("a map without text: %v", err)
	}
}

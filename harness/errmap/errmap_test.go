package errmap

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zcsuite/zcsuite/harness/runner"
)

// MapFile is the reviewed map of fs/fuse/dev_uring.c, relative to this
// package.
const mapFile = "../../fixtures/coverage/dev_uring-errors.txt"

func TestParse(t *testing.T) {
	sites, err := Parse("# comment\n\nf EINVAL `return -EINVAL;` spec some: spec text\ng ENOMEM `x = -ENOMEM;` unreachable allocation failure\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(sites) != 2 || sites[0].Func != "f" || sites[0].Fragment != "return -EINVAL;" || sites[0].Status != Spec ||
		sites[0].Detail != "some: spec text" || sites[1].Line != 4 || sites[1].Status != Unreachable {
		t.Fatalf("parsed %+v", sites)
	}
	if c := Counts(sites); c[Spec] != 1 || c[Unreachable] != 1 || c[Gap] != 0 {
		t.Fatalf("counts %v", c)
	}
	for _, bad := range []string{
		"f EINVAL `return -EINVAL;` spec",         // no detail
		"f EINVAL return -EINVAL; spec some text", // fragment not quoted
		"f EINVAL `return -EINVAL;` covered text", // unknown status
		"f einval `return -EINVAL;` gap text",     // errno spelling
		"f EINVAL `` gap text",                    // empty fragment
		"# only a comment",                        // no site at all
	} {
		if _, err := Parse(bad); !errors.Is(err, ErrFormat) {
			t.Errorf("Parse(%q) = %v, want ErrFormat", bad, err)
		}
	}
}

func TestSpecTexts(t *testing.T) {
	dir := t.TempDir()
	src := `package x
var _ = Describe("fam: things", Label("a"), func() {
	It("does one", func() {})
	DescribeTable("checks", func(n int) {},
		Entry("case 1", 1),
		Entry(name(), 2),
	)
	Context("inner", func() { It("does two", func() {}) })
})
`
	if err := os.WriteFile(filepath.Join(dir, "x_test.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	specs, err := SpecTexts(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range specs {
		got = append(got, s.Full)
	}
	want := "fam: things does one|fam: things checks case 1|fam: things inner does two"
	if strings.Join(got, "|") != want {
		t.Fatalf("spec texts %q, want %q", got, want)
	}
	for _, c := range []struct {
		prefix string
		ok     bool
	}{
		{"fam: things does one", true},
		{"fam: things does", true},
		{"fam: things checks case", true},
		{"fam: things checks", true}, // a whole table
		{"fam: things check", false}, // part of a table's text
		{"fam: things", false},       // container text only
		{"fam: things inner", false}, // a Context's text
		{"fam: things does three", false},
	} {
		if _, ok := FindSpec(specs, c.prefix); ok != c.ok {
			t.Errorf("FindSpec(%q) = %v, want %v", c.prefix, ok, c.ok)
		}
	}
}

func TestLocate(t *testing.T) {
	src := []byte(`static int helper(int x)
{
	if (x < 0)
		return -EINVAL;
	return 0;
}

static int cmd(int op)
{
	int err;

	err = -ENOTCONN;
	if (op == 1)
		return err;
	if (op == 2)
		return err;
	if (op <= -EINVAL)
		return -EFAULT;
	return -EIOCBQUEUED;
}
`)
	sites := []Site{
		{Func: "helper", Errno: "EINVAL", Fragment: "if (x < 0) return -EINVAL;"},
		{Func: "cmd", Errno: "ENOTCONN", Fragment: "err = -ENOTCONN; if (op == 1) return err;"},
	}
	found, unlisted, errs := Locate(src, sites)
	if len(errs) != 0 || len(found) != 2 {
		t.Fatalf("found %v, errors %v", found, errs)
	}
	if found[0].First != 3 || found[0].Last != 4 || found[1].First != 12 || found[1].Last != 14 {
		t.Errorf("spans %d-%d and %d-%d", found[0].First, found[0].Last, found[1].First, found[1].Last)
	}
	// The -EFAULT return is not listed; the comparison with -EINVAL and
	// -EIOCBQUEUED are not errno sites.
	if len(unlisted) != 1 || unlisted[0] != 18 {
		t.Errorf("unlisted lines %v, want [18]", unlisted)
	}
	_, _, errs = Locate(src, []Site{
		{Func: "cmd", Errno: "ENOTCONN", Fragment: "return err;"},      // twice in cmd
		{Func: "helper", Errno: "EFAULT", Fragment: "return -EFAULT;"}, // not in helper
		{Func: "gone", Errno: "EINVAL", Fragment: "return -EINVAL;"},   // no such function
	})
	if len(errs) != 3 {
		t.Fatalf("errors %v, want 3", errs)
	}
	for i, want := range []string{"2 times", "not found", "no function gone"} {
		if !strings.Contains(errs[i].Error(), want) {
			t.Errorf("error %q does not say %q", errs[i], want)
		}
	}
}

// TestDevUringMap keeps fixtures/coverage/dev_uring-errors.txt honest:
// every line well formed, every spec line naming a spec that exists in
// suites/guest, and, when Debian's linux-source-7.3 is unpacked in the
// cache, every site still in dev_uring.c and no errno site missing.
func TestDevUringMap(t *testing.T) {
	sites, err := Load(mapFile)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := SpecTexts("../../suites/guest")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sites {
		if s.Status != Spec {
			continue
		}
		if _, ok := FindSpec(specs, s.Detail); !ok {
			t.Errorf("%v: no spec in suites/guest starts with %q (the text of its Describe and It or Entry, joined by spaces)", s, s.Detail)
		}
	}
	cache := runner.DefaultCacheDir()
	trees, _ := filepath.Glob(filepath.Join(cache, "sources", "linux-source-7.3_*", ".complete"))
	if len(trees) == 0 {
		t.Skipf("no unpacked linux-source-7.3 under %s/sources (./run.sh -kernel-tree debian-source:7.3 unpacks it): the sites were not checked against dev_uring.c", cache)
	}
	for _, c := range trees {
		path := filepath.Join(filepath.Dir(c), "linux-source-7.3", "fs", "fuse", "dev_uring.c")
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		_, unlisted, errs := Locate(src, sites)
		for _, err := range errs {
			t.Errorf("%s: %v", path, err)
		}
		lines := strings.Split(string(src), "\n")
		for _, n := range unlisted {
			t.Errorf("%s:%d produces an errno the map does not list: %s", path, n, strings.TrimSpace(lines[n-1]))
		}
	}
}

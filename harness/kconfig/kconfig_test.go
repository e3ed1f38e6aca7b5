package kconfig

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/zcsuite/zcsuite/harness/kernel"
)

const (
	fixtures     = "../../fixtures/kconfig"
	requiredPath = "../../kernelconfig/required.config"
)

// debianKernel fetches a Debian kernel package through the project's own
// fetcher and cache ($ZCSUITE_CACHE, else the user cache's zcsuite
// folder), as a run would. It skips only when told to stay offline
// (-short or ZCSUITE_OFFLINE), never because a file happens to be absent.
func debianKernel(t *testing.T, spec string) *kernel.Kernel {
	t.Helper()
	if testing.Short() || os.Getenv("ZCSUITE_OFFLINE") != "" {
		t.Skip("needs Debian's archive (-short or ZCSUITE_OFFLINE set)")
	}
	cache := os.Getenv("ZCSUITE_CACHE")
	if cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		cache = filepath.Join(dir, "zcsuite")
	}
	k, err := kernel.FetchDebian(context.Background(), spec, cache, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParse(t *testing.T) {
	c, err := FromFile(filepath.Join(fixtures, "tiny.config"))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		"CONFIG_64BIT":                  "y",
		"CONFIG_NR_CPUS":                "8",
		"CONFIG_DEFAULT_HOSTNAME":       `"(none)"`,
		"CONFIG_CMDLINE":                `""`,
		"CONFIG_FUSE_FS":                "y",
		"CONFIG_FUSE_IO_URING":          "y",
		"CONFIG_FUSE_DAX":               "n",
		"CONFIG_VIRTIO_FS":              "m",
		"CONFIG_KFENCE_SAMPLE_INTERVAL": "100",
		"CONFIG_ARCH_MMAP_RND_BITS_MIN": "28",
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("parsed\n%v\nwant\n%v", c, want)
	}
	if v := c.Value("CONFIG_NOT_MENTIONED"); v != "n" {
		t.Errorf("Value of an absent option = %q, want n", v)
	}
}

func TestParseRejectsGarbage(t *testing.T) {
	_, err := Parse(strings.NewReader("CONFIG_A=y\nthis is not a config line\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("err = %v, want an error naming line 2", err)
	}
}

func TestParseLaterAssignmentWins(t *testing.T) {
	c, err := Parse(strings.NewReader("CONFIG_A=y\n# CONFIG_A is not set\nCONFIG_B=n\nCONFIG_B=m\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c["CONFIG_A"] != "n" || c["CONFIG_B"] != "m" {
		t.Errorf("got %v", c)
	}
}

// TestParseDebian parses the real configs of Debian's 7.3 and 7.2 cloud
// kernels and checks a few facts the suite relies on.
func TestParseDebian(t *testing.T) {
	for _, spec := range []string{"debian:7.3-cloud", "debian:7.2-cloud"} {
		t.Run(spec, func(t *testing.T) {
			k := debianKernel(t, spec)
			if k.ConfigPath == "" {
				t.Fatalf("%s: the package has no config", spec)
			}
			c, err := FromFile(k.ConfigPath)
			if err != nil {
				t.Fatal(err)
			}
			if len(c) < 3000 {
				t.Errorf("only %d options parsed from a distribution config", len(c))
			}
			for opt, want := range map[string]string{
				"CONFIG_FUSE_FS":       "y",
				"CONFIG_FUSE_IO_URING": "y",
				"CONFIG_IKCONFIG":      "n", // why FromKernelImage finds nothing in Debian's vmlinuz
				"CONFIG_MODULES":       "y",
			} {
				if got := c.Value(opt); got != want {
					t.Errorf("%s = %q, want %q", opt, got, want)
				}
			}
			reqs, err := LoadRequired(requiredPath)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Check(reqs); err != nil {
				t.Errorf("Debian's cloud config should meet the requirements: %v", err)
			}
		})
	}
}

func TestLoadRequired(t *testing.T) {
	reqs, err := LoadRequired(requiredPath)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Requirement{}
	for _, r := range reqs {
		if r.Want != "y" {
			t.Errorf("%s: want %q, every requirement is =y", r.Option, r.Want)
		}
		if len(r.Why) < 20 {
			t.Errorf("%s: reason %q is too short to say why", r.Option, r.Why)
		}
		byName[r.Option] = r
	}
	for _, opt := range []string{
		"CONFIG_FUSE_FS", "CONFIG_FUSE_IO_URING", "CONFIG_IO_URING", "CONFIG_VIRTIO_CONSOLE",
		"CONFIG_VIRTIO_PCI", "CONFIG_DEVTMPFS", "CONFIG_BLK_DEV_INITRD", "CONFIG_SERIAL_8250_CONSOLE",
		"CONFIG_TMPFS", "CONFIG_PROC_FS", "CONFIG_SYSFS", "CONFIG_ACPI", "CONFIG_MULTIUSER",
		"CONFIG_FUTEX", "CONFIG_EPOLL", "CONFIG_MEMFD_CREATE", "CONFIG_NET", "CONFIG_UNIX",
		"CONFIG_EVENTFD", "CONFIG_SYSCTL", "CONFIG_SMP",
	} {
		if _, ok := byName[opt]; !ok {
			t.Errorf("required.config lacks %s", opt)
		}
	}
}

func TestLoadRequiredRefuses(t *testing.T) {
	for name, text := range map[string]string{
		"module":     "# needed\nCONFIG_FUSE_FS=m\n",
		"no reason":  "# needed\nCONFIG_A=y\n\nCONFIG_B=y\n",
		"twice":      "# needed\nCONFIG_A=y\n# again\nCONFIG_A=y\n",
		"garbage":    "# needed\nFUSE=y\n",
		"empty file": "# nothing here\n",
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "required.config")
			if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			if reqs, err := LoadRequired(p); err == nil {
				t.Fatalf("LoadRequired accepted %q: %+v", text, reqs)
			}
		})
	}
}

// TestMinConfigMeetsRequired: the VM kernel fragment sets everything
// required.config asks for (merge_config.sh -n leaves the rest off).
func TestMinConfigMeetsRequired(t *testing.T) {
	reqs, err := LoadRequired(requiredPath)
	if err != nil {
		t.Fatal(err)
	}
	c, err := FromFile("../../kernelconfig/min.config")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(reqs); err != nil {
		t.Error(err)
	}
	for _, opt := range []string{"CONFIG_IKCONFIG", "CONFIG_IKCONFIG_PROC", "CONFIG_DETECT_HUNG_TASK", "CONFIG_KALLSYMS"} {
		if c.Value(opt) != "y" {
			t.Errorf("min.config: %s is not =y", opt)
		}
	}
}

func TestCheckNamesEveryUnmetOption(t *testing.T) {
	reqs, err := LoadRequired(requiredPath)
	if err != nil {
		t.Fatal(err)
	}
	c, err := FromFile(filepath.Join(fixtures, "missing.config"))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Check(reqs)
	var me *MissingError
	if !errors.As(err, &me) {
		t.Fatalf("Check = %v, want a *MissingError", err)
	}
	if !errors.Is(err, ErrRequirements) {
		t.Errorf("errors.Is(%v, ErrRequirements) = false", err)
	}
	got := map[string]string{}
	var order []string
	for _, u := range me.Options {
		got[u.Option] = u.Got
		order = append(order, u.Option)
	}
	want := map[string]string{
		"CONFIG_FUSE_IO_URING":  "n",
		"CONFIG_IO_URING":       "n",
		"CONFIG_VIRTIO_CONSOLE": "m",
		"CONFIG_ACPI":           "n",
		"CONFIG_KALLSYMS":       "n",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("unmet = %v, want %v", got, want)
	}
	// In the order of required.config.
	if strings.Join(order, " ") != "CONFIG_FUSE_IO_URING CONFIG_IO_URING CONFIG_VIRTIO_CONSOLE CONFIG_ACPI CONFIG_KALLSYMS" {
		t.Errorf("order = %v", order)
	}
	msg := err.Error()
	for opt := range want {
		if !strings.Contains(msg, opt) {
			t.Errorf("message %q does not name %s", msg, opt)
		}
	}
	if !strings.Contains(msg, "CONFIG_VIRTIO_CONSOLE=m (a module") {
		t.Errorf("message %q does not explain the module", msg)
	}
	// Each option with what it is for: the first phrase of its comment,
	// never a section heading.
	for _, part := range []string{
		"CONFIG_FUSE_IO_URING is not set (want y), needed for: FUSE over io_uring;",
		"CONFIG_KALLSYMS is not set (want y), needed for: Symbol names in splats",
	} {
		if !strings.Contains(msg, part) {
			t.Errorf("message %q lacks %q", msg, part)
		}
	}
	if strings.Contains(msg, "---") {
		t.Errorf("message %q carries a section heading", msg)
	}
	t.Log(msg)
}

func TestCheckExactValues(t *testing.T) {
	reqs := []Requirement{{Option: "CONFIG_NR_CPUS", Want: "8", Why: "x"}, {Option: "CONFIG_KASAN", Want: "n", Why: "x"}}
	if err := (Config{"CONFIG_NR_CPUS": "8"}).Check(reqs); err != nil {
		t.Errorf("absent option should meet =n: %v", err)
	}
	err := (Config{"CONFIG_NR_CPUS": "2", "CONFIG_KASAN": "y"}).Check(reqs)
	var me *MissingError
	if !errors.As(err, &me) || len(me.Options) != 2 {
		t.Fatalf("Check = %v, want both options named", err)
	}
}

func TestHash(t *testing.T) {
	a, err := Parse(strings.NewReader("# c\nCONFIG_A=y\nCONFIG_B=\"x\"\n# CONFIG_C is not set\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse(strings.NewReader("CONFIG_B=\"x\"\n\nCONFIG_A=y\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Hash() != b.Hash() {
		t.Error("order, comments and unset options changed the hash")
	}
	if len(a.Hash()) != 64 {
		t.Errorf("hash %q is not a hex sha256", a.Hash())
	}
	b["CONFIG_A"] = "m"
	if a.Hash() == b.Hash() {
		t.Error("a changed value kept the hash")
	}
}

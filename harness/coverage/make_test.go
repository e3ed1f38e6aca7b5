package coverage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A C file laid out like a kernel source, built out of tree like the
// kernel (gcc runs in the build directory on an absolute source path).
const fakeDevUring = `#define EINVAL 22
#define EPERM 1
int fuse_uring_cmd(int op)
{
	if (op == 1)
		return -EINVAL;
	if (op == 2)
		return -EPERM;
	return 0;
}

int main(int argc, char **argv)
{
	fuse_uring_cmd(argc);
	return 0;
}
`

// TestMakeOutOfTree runs the whole host side on a userspace program built
// and run like a gcov kernel: .gcda files archived under their build
// directory path (as the guest's debugfs names them), merged over two
// "VMs" with lcov, and reported.
func TestMakeOutOfTree(t *testing.T) {
	if err := CheckTools(); err != nil {
		t.Skipf("needs lcov and gcc: %v", err)
	}
	root := t.TempDir()
	tree, build, report := filepath.Join(root, "tree"), filepath.Join(root, "build"), filepath.Join(root, "report")
	for _, d := range []string{filepath.Join(tree, "fs/fuse"), filepath.Join(build, "fs/fuse"), report} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	src := filepath.Join(tree, "fs/fuse/dev_uring.c")
	if err := os.WriteFile(src, []byte(fakeDevUring), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(dir, name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	run(build, "gcc", "--coverage", "-O0", "-c", src, "-o", "fs/fuse/dev_uring.o")
	run(build, "gcc", "--coverage", "-o", "prog", "fs/fuse/dev_uring.o")
	var vms []VM
	for i, args := range [][]string{{"x"}, {"x", "y"}} { // argc 2, then argc 3
		os.Remove(filepath.Join(build, "fs/fuse/dev_uring.gcda"))
		run(build, "./prog", args...)
		name := []string{"vm-a", "vm-b"}[i]
		arch := filepath.Join(report, name+".tgz")
		writeArchive(t, arch, strings.TrimPrefix(build, "/")+"/fs/fuse/dev_uring.gcda", filepath.Join(build, "fs/fuse/dev_uring.gcda"))
		vms = append(vms, VM{Name: name, Archive: arch})
	}
	vms = append(vms, VM{Name: "vm-dead", Archive: filepath.Join(report, "vm-dead.tgz")}, VM{Name: "vm-gated", NotBooted: true})
	os.Remove(filepath.Join(build, "fs/fuse/dev_uring.gcda"))

	s, err := Make(context.Background(), Options{ReportDir: report, BuildDir: build, Tree: tree, VMs: vms})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(s.Collected, ",") != "vm-a,vm-b" || strings.Join(s.Missing, ",") != "vm-dead" || strings.Join(s.NotBooted, ",") != "vm-gated" {
		t.Errorf("collected %v, missing %v, not booted %v; want vm-a,vm-b, vm-dead and vm-gated", s.Collected, s.Missing, s.NotBooted)
	}
	if len(s.Files) != 1 || s.Files[0].Path != "fs/fuse/dev_uring.c" {
		t.Fatalf("files %+v, want fs/fuse/dev_uring.c alone", s.Files)
	}
	var cmd *FuncSum
	for i := range s.Files[0].Funcs {
		if s.Files[0].Funcs[i].Name == "fuse_uring_cmd" {
			cmd = &s.Files[0].Funcs[i]
		}
	}
	// One call in each VM, merged.
	if cmd == nil || cmd.Hits != 2 {
		t.Fatalf("fuse_uring_cmd %+v, want 2 calls", cmd)
	}
	// Neither run took op == 1: "return -EINVAL" (line 6) is the one
	// error return not reached; "return -EPERM" (line 8, argc 2) was.
	e := s.Errors[0]
	if len(e.NotHit) != 1 || e.NotHit[0].Line != 6 || e.Total != 2 {
		t.Errorf("error returns %+v, want line 6 alone not reached of 2", e)
	}
	if s.Files[0].Branches == 0 || s.Files[0].BranchesHit == 0 || s.Files[0].BranchesHit == s.Files[0].Branches {
		t.Errorf("branches %d/%d, want some but not all taken", s.Files[0].BranchesHit, s.Files[0].Branches)
	}
	for _, f := range []string{MarkdownFile, JSONFile, InfoFile, filepath.Join(HTMLDir, "index.html")} {
		if _, err := os.Stat(filepath.Join(report, f)); err != nil {
			t.Errorf("report file: %v", err)
		}
	}
	// coverage.json as .ci/coverage-proof.sh reads it.
	var back struct {
		Files []struct {
			Path     string `json:"path"`
			LinesHit int    `json:"lines_hit"`
			Funcs    []struct {
				Name string `json:"name"`
				Hits int64  `json:"hits"`
			} `json:"functions"`
		} `json:"files"`
	}
	b, _ := os.ReadFile(filepath.Join(report, JSONFile))
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("coverage.json: %v", err)
	}
	if len(back.Files) != 1 || back.Files[0].Path != "fs/fuse/dev_uring.c" || back.Files[0].LinesHit == 0 || len(back.Files[0].Funcs) == 0 {
		t.Errorf("coverage.json files %+v, want fs/fuse/dev_uring.c with lines hit and functions", back.Files)
	}
}

func writeArchive(t *testing.T, path, name, file string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
	tw.Write(data)
	tw.Close()
	zw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/zcsuite/zcsuite/harness/qemu"
)

// snapshotFormat changes whenever what a snapshot holds changes meaning
// (the guest init's port protocol, QEMU's device list, the metadata's
// checks).
const snapshotFormat = "zcsuite-vmstate-2"

// snapshotsKept is how many VM states the cache keeps (each is the guest's
// used memory, about 150 MB); the oldest go first.
const snapshotsKept = 4

// snapshotStore holds the saved state of a guest that has booted and waits
// for its config. The first VM of a run that finds none saves it when its
// guest is Ready; every other VM, in this run or a later one, resumes from
// it instead of booting: the same kernel, initramfs, command line and
// machine, so the same boot, minus its seconds.
//
// A state is checked before it is served: its size, and once per run its
// sha256, against what its metadata recorded at saving. A damaged state is
// dropped by the first VM that finds it, and that VM and every later one
// boot instead. Each VM gets its own open file of the state, so a state
// dropped or replaced meanwhile never pulls the file from under a VM that
// is loading it; and a VM that fails to resume drops the state only if it
// is still the one that VM loaded, never a newer one another VM saved.
type snapshotStore struct {
	dir  string
	key  string
	why  string // the key's inputs, for the report
	logf func(string, ...any)
	mu   sync.Mutex
	busy bool // a VM of this run is saving it
	// checked is the state file whose sha256 this run checked.
	checked os.FileInfo
	// loaded is the state file each VM (by name) was given.
	loaded map[string]os.FileInfo
}

// snapshotMeta is stored beside the state.
type snapshotMeta struct {
	Key     string `json:"key"`
	Inputs  string `json:"inputs"`
	Created string `json:"created"`
	// Boot is QEMU start to Ready in the boot that was saved.
	Boot time.Duration `json:"boot_ns"`
	// Save is how long writing the state took.
	Save time.Duration `json:"save_ns"`
	// Size and SHA256 describe the state file as it was written.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Console is the serial console up to the save: a resumed VM's own
	// console starts after it.
	Console []string `json:"console"`
}

func newSnapshotStore(cacheDir string, logf func(string, ...any), parts ...string) *snapshotStore {
	h := sha256.New()
	h.Write([]byte(snapshotFormat))
	for _, p := range parts {
		fmt.Fprintf(h, "\x00%s", p)
	}
	return &snapshotStore{
		dir:    filepath.Join(cacheDir, "vmstate"),
		key:    hex.EncodeToString(h.Sum(nil))[:20],
		why:    strings.Join(parts, " | "),
		logf:   logf,
		loaded: map[string]os.FileInfo{},
	}
}

func (s *snapshotStore) statePath() string { return filepath.Join(s.dir, s.key+".state") }
func (s *snapshotStore) metaPath() string  { return filepath.Join(s.dir, s.key+".json") }

// readMeta returns the state's metadata; the error wraps fs.ErrNotExist
// when there is no complete state (none saved, or a save under way).
func (s *snapshotStore) readMeta() (*snapshotMeta, error) {
	b, err := os.ReadFile(s.metaPath())
	if err != nil {
		return nil, err
	}
	var m snapshotMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("its metadata is damaged: %v", err)
	}
	if m.Key != s.key || m.Size <= 0 || len(m.SHA256) != 64 {
		return nil, errors.New("its metadata is incomplete")
	}
	return &m, nil
}

// load returns the saved state's metadata and the state file, open, for
// VM name; false when there is none or it is damaged (then it is dropped,
// with a line saying so). The caller closes the file once QEMU started.
func (s *snapshotStore) load(name string) (*snapshotMeta, *os.File, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, f, fi, err := s.open()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, false
	}
	if err != nil {
		s.remove(fi)
		s.logf("saved VM state %s: %v; dropped it, VM %q boots", s.key, err, name)
		return nil, nil, false
	}
	s.loaded[name] = fi
	now := time.Now()
	os.Chtimes(s.metaPath(), now, now) // most recently used: pruned last
	return m, f, true
}

// open opens the state and checks it against its metadata; fi is the
// state file it checked, also when the check failed (nil when it found
// none). The caller holds s.mu.
func (s *snapshotStore) open() (m *snapshotMeta, f *os.File, fi os.FileInfo, err error) {
	if m, err = s.readMeta(); err != nil {
		return nil, nil, nil, err
	}
	if f, err = os.Open(s.statePath()); err != nil {
		return nil, nil, nil, err
	}
	defer func() {
		if err != nil {
			f.Close()
			f = nil
		}
	}()
	if fi, err = f.Stat(); err != nil {
		return nil, nil, nil, err
	}
	if fi.Size() != m.Size {
		return nil, nil, fi, fmt.Errorf("it is %d bytes, not the %d it was saved with", fi.Size(), m.Size)
	}
	if s.checked != nil && sameFile(s.checked, fi) {
		return m, f, fi, nil
	}
	sum, err := readerSHA256(f)
	if err != nil {
		return nil, nil, fi, fmt.Errorf("reading it: %v", err)
	}
	if sum != m.SHA256 {
		return nil, nil, fi, fmt.Errorf("its sha256 is %s, not the %s it was saved with", sum[:16], m.SHA256[:16])
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, nil, fi, err
	}
	s.checked = fi
	return m, f, fi, nil
}

// remove deletes the state and its metadata, but when only is set, only if
// the state file is still only (not dropped or replaced since); it
// reports whether it deleted anything. The caller holds s.mu.
func (s *snapshotStore) remove(only os.FileInfo) bool {
	if only != nil {
		cur, err := os.Stat(s.statePath())
		if err != nil || !sameFile(cur, only) {
			return false
		}
	}
	errMeta := os.Remove(s.metaPath())
	errState := os.Remove(s.statePath())
	s.checked = nil
	return errMeta == nil || errState == nil
}

// claim reports whether the caller should save the state: none exists and
// no other VM of this run is saving it.
func (s *snapshotStore) claim() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy {
		return false
	}
	if _, err := s.readMeta(); err == nil {
		if _, err := os.Stat(s.statePath()); err == nil {
			return false
		}
	}
	s.busy = true
	return true
}

// save writes vm's state and its metadata; the state file appears only
// once complete, and its metadata after it.
func (s *snapshotStore) save(ctx context.Context, vm *qemu.VM, boot time.Duration, console []string) (*snapshotMeta, error) {
	defer func() {
		s.mu.Lock()
		s.busy = false
		s.mu.Unlock()
	}()
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, err
	}
	t0 := time.Now()
	size, err := vm.SaveState(ctx, s.statePath())
	if err != nil {
		return nil, err
	}
	f, err := os.Open(s.statePath())
	if err != nil {
		return nil, err
	}
	sum, err := readerSHA256(f)
	fi, serr := f.Stat()
	f.Close()
	if err != nil {
		return nil, err
	}
	if serr == nil {
		s.mu.Lock()
		s.checked = fi // this run's later VMs need not hash it again
		s.mu.Unlock()
	}
	m := &snapshotMeta{Key: s.key, Inputs: s.why, Created: time.Now().UTC().Format(time.RFC3339), Boot: boot, Save: time.Since(t0), Size: size, SHA256: sum, Console: console}
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := writeCacheFile(s.metaPath(), b); err != nil {
		return nil, err
	}
	s.prune()
	return m, nil
}

// drop deletes the state VM name failed to resume from, unless it was
// dropped or replaced since; it reports whether it did.
func (s *snapshotStore) drop(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	fi := s.loaded[name]
	delete(s.loaded, name)
	if fi == nil {
		return false
	}
	return s.remove(fi)
}

// sameFile reports whether a and b describe the same file unchanged: a
// removed file's inode number is soon reused, so size and modification
// time are compared too.
func sameFile(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

func readerSHA256(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// prune keeps the snapshotsKept most recently used states.
func (s *snapshotStore) prune() {
	metas, _ := filepath.Glob(filepath.Join(s.dir, "*.json"))
	type ent struct {
		key string
		mod time.Time
	}
	var all []ent
	for _, m := range metas {
		if fi, err := os.Stat(m); err == nil {
			all = append(all, ent{strings.TrimSuffix(filepath.Base(m), ".json"), fi.ModTime()})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].mod.After(all[j].mod) })
	for i := snapshotsKept; i < len(all); i++ {
		os.Remove(filepath.Join(s.dir, all[i].key+".json"))
		os.Remove(filepath.Join(s.dir, all[i].key+".state"))
	}
	// States without metadata are leftovers of interrupted saves.
	states, _ := filepath.Glob(filepath.Join(s.dir, "*.state*"))
	for _, st := range states {
		key := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(st), ".part"), ".state")
		if _, err := os.Stat(filepath.Join(s.dir, key+".json")); err != nil && key != s.key {
			os.Remove(st)
		}
	}
}

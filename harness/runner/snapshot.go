package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/zcsuite/zcsuite/harness/qemu"
)

// snapshotFormat changes whenever what a snapshot holds changes meaning
// (the guest init's port protocol, QEMU's device list).
const snapshotFormat = "zcsuite-vmstate-1"

// snapshotsKept is how many VM states the cache keeps (each is the guest's
// used memory, about 150 MB); the oldest go first.
const snapshotsKept = 4

// snapshotStore holds the saved state of a guest that has booted and waits
// for its config. The first VM of a run that finds none saves it when its
// guest is Ready; every other VM, in this run or a later one, resumes from
// it instead of booting: the same kernel, initramfs, command line and
// machine, so the same boot, minus its seconds.
type snapshotStore struct {
	dir  string
	key  string
	why  string // the key's inputs, for the report
	mu   sync.Mutex
	busy bool // a VM of this run is saving it
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
	Size int64         `json:"size"`
	// Console is the serial console up to the save: a resumed VM's own
	// console starts after it.
	Console []string `json:"console"`
}

func newSnapshotStore(cacheDir string, parts ...string) *snapshotStore {
	h := sha256.New()
	h.Write([]byte(snapshotFormat))
	for _, p := range parts {
		fmt.Fprintf(h, "\x00%s", p)
	}
	return &snapshotStore{
		dir: filepath.Join(cacheDir, "vmstate"),
		key: hex.EncodeToString(h.Sum(nil))[:20],
		why: strings.Join(parts, " | "),
	}
}

func (s *snapshotStore) statePath() string { return filepath.Join(s.dir, s.key+".state") }
func (s *snapshotStore) metaPath() string  { return filepath.Join(s.dir, s.key+".json") }

// load returns the saved state's metadata, or false when there is none.
func (s *snapshotStore) load() (*snapshotMeta, bool) {
	b, err := os.ReadFile(s.metaPath())
	if err != nil {
		return nil, false
	}
	var m snapshotMeta
	if json.Unmarshal(b, &m) != nil || m.Key != s.key {
		return nil, false
	}
	if _, err := os.Stat(s.statePath()); err != nil {
		return nil, false
	}
	now := time.Now()
	os.Chtimes(s.metaPath(), now, now) // most recently used: pruned last
	return &m, true
}

// claim reports whether the caller should save the state: none exists and
// no other VM of this run is saving it.
func (s *snapshotStore) claim() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy {
		return false
	}
	if _, ok := s.load(); ok {
		return false
	}
	s.busy = true
	return true
}

// save writes vm's state and its metadata; the state file appears only
// once complete.
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
	m := &snapshotMeta{Key: s.key, Inputs: s.why, Created: time.Now().UTC().Format(time.RFC3339), Boot: boot, Save: time.Since(t0), Size: size, Console: console}
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(s.metaPath()+".part", b, 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(s.metaPath()+".part", s.metaPath()); err != nil {
		return nil, err
	}
	s.prune()
	return m, nil
}

// invalidate drops a state that failed to resume.
func (s *snapshotStore) invalidate() {
	os.Remove(s.metaPath())
	os.Remove(s.statePath())
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

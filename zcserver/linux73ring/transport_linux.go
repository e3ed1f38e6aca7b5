package linux73ring

import (
	"fmt"
	"sync"

	"github.com/zcsuite/zcsuite/zcserver/fuseconn"
	"github.com/zcsuite/zcsuite/zcserver/knobs"
	"github.com/zcsuite/zcsuite/zcserver/protocol"
	"github.com/zcsuite/zcsuite/zcserver/ringplan"
)

// slotProbesBuffer is the capacity of the SlotProbes channel.
const slotProbesBuffer = 4096

// Config configures New.
type Config struct {
	// DevFD is the connection's /dev/fuse descriptor and Handler the
	// protocol layer answering its requests (fuseconn.Conn's); the
	// Transport never closes DevFD.
	DevFD   int
	Handler *protocol.Handler
	// Knobs is the fault-knob seam every driver asks.
	Knobs *knobs.Injector
	// Queues is the number of queues (possible CPUs); 0 gives a Transport
	// without rings, on which Ring always fails.
	Queues int
	// Depth is the number of entries per queue (1..ringplan.MaxDepth);
	// PoolBuffers the buffers per pool (0: Depth).
	Depth, PoolBuffers int
	// Layout is how Driver.Setup sets a queue up; nil means Setup is
	// unavailable (the caller steps through the setup by hand).
	Layout *Layout
	// Name names the mode in errors.
	Name string
	// EntLogSize is the number of EntRecords kept (at least 1).
	EntLogSize int
}

// Transport is the Linux 7.3 ring transport of one connection: one Driver
// per queue, created on demand, plus what they record together
// (counters, EntLog, SetupLog, slot probes). Methods are safe for
// concurrent use.
type Transport struct {
	cfg   Config
	h     *protocol.Handler
	fd    int
	knobs *knobs.Injector

	driversMu sync.Mutex
	drivers   []*Driver // by qid; nil until created
	closing   bool      // under driversMu: no new drivers

	counters   counters
	entLog     *entLog
	setupMu    sync.Mutex
	setupLog   []SetupStep
	slotProbes chan SlotProbe
}

// New returns the transport of cfg; it creates no ring yet.
func New(cfg Config) *Transport {
	return &Transport{
		cfg:        cfg,
		h:          cfg.Handler,
		fd:         cfg.DevFD,
		knobs:      cfg.Knobs,
		drivers:    make([]*Driver, cfg.Queues),
		entLog:     newEntLog(cfg.EntLogSize),
		slotProbes: make(chan SlotProbe, slotProbesBuffer),
	}
}

// Queues returns the number of queues.
func (t *Transport) Queues() int { return t.cfg.Queues }

// Ring returns the driver of queue qid, creating it (ring and locked
// thread, nothing issued) on the first call for qid.
func (t *Transport) Ring(qid int) (*Driver, error) {
	t.driversMu.Lock()
	defer t.driversMu.Unlock()
	if qid < 0 || qid >= len(t.drivers) {
		return nil, fmt.Errorf("zcserver: no ring for qid %d (%d queues, mode %s)", qid, len(t.drivers), t.cfg.Name)
	}
	if d := t.drivers[qid]; d != nil {
		return d, nil
	}
	if t.closing {
		return nil, ErrClosed
	}
	d, err := newDriver(t, qid)
	if err != nil {
		return nil, err
	}
	t.drivers[qid] = d
	return d, nil
}

// Drivers returns the drivers created so far, by qid.
func (t *Transport) Drivers() []*Driver {
	t.driversMu.Lock()
	defer t.driversMu.Unlock()
	var out []*Driver
	for _, d := range t.drivers {
		if d != nil {
			out = append(out, d)
		}
	}
	return out
}

// StopNew makes Ring refuse to create drivers (ErrClosed) from now on.
func (t *Transport) StopNew() {
	t.driversMu.Lock()
	t.closing = true
	t.driversMu.Unlock()
}

// Shutdown stops every driver's loop and waits for it. free says whether
// the kernel can no longer touch the drivers' buffers (the connection
// ended), so they may be unmapped.
func (t *Transport) Shutdown(free bool) {
	t.StopNew()
	for _, d := range t.Drivers() {
		d.shutdown(free)
	}
}

// QueueCounters returns a snapshot of each created driver's queue
// counters, by qid.
func (t *Transport) QueueCounters() []fuseconn.QueueCounters {
	var out []fuseconn.QueueCounters
	for _, d := range t.Drivers() {
		out = append(out, d.q.Snapshot())
	}
	return out
}

// Counters returns a snapshot of the ring counters (Held stays 0: the
// knobs count held requests).
func (t *Transport) Counters() Counters { return t.counters.snapshot() }

// EntLog returns the kept EntRecords with Seq > since, oldest first: what
// the kernel wrote into ring entries for each delivered request.
func (t *Transport) EntLog(since uint64) []EntRecord { return t.entLog.snapshot(since) }

// SetupLog returns every FUSE io_uring command issued so far by Setup and
// by the Driver step methods, with its result.
func (t *Transport) SetupLog() []SetupStep {
	t.setupMu.Lock()
	defer t.setupMu.Unlock()
	return append([]SetupStep(nil), t.setupLog...)
}

// SlotProbes returns the channel of knobs.Faults.ProbeSlotAfterCommit
// results. It is never closed; results that find it full are dropped (the
// counters still count them).
func (t *Transport) SlotProbes() <-chan SlotProbe { return t.slotProbes }

// Plan computes the automatic setup of queue qid on its own ring (ABI doc
// §4.1), which Driver.Setup executes: ADD_QUEUE when the kernel has the
// 7.46 ABI (abi746), entry i's zero-copy slot is slot i, and a registered
// pool takes the slot after the entries'. bufSize is max_payload_sz. The
// fault knobs that change the plan apply here.
func (t *Transport) Plan(qid int, bufSize uint32, abi746 bool) (ringplan.Queue, error) {
	if t.cfg.Layout == nil {
		return ringplan.Queue{}, fmt.Errorf("mode %s has no ring", t.cfg.Name)
	}
	in := ringplan.Input{
		Qid: qid, Depth: t.cfg.Depth, Mode: t.cfg.Layout.Payload, ZeroCopy: t.cfg.Layout.ZeroCopy, AddQueue: abi746,
		PoolBufs: t.cfg.PoolBuffers, BufSize: bufSize, ZCBase: 0, PoolSlot: uint16(t.cfg.Depth),
	}
	t.knobs.Plan(&in)
	return ringplan.Plan(in)
}

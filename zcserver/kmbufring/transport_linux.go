package kmbufring

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/zcsuite/zcsuite/zcserver/features"
	"github.com/zcsuite/zcsuite/zcserver/fuseabi/kmbuf"
	"github.com/zcsuite/zcsuite/zcserver/fuseconn"
	"github.com/zcsuite/zcsuite/zcserver/rawring"
)

// TransportConfig configures StartTransport.
type TransportConfig struct {
	// Profile is the revision of the series the kernel speaks.
	Profile kmbuf.Profile
	// ZeroCopy makes every queue a zero-copy queue (CAP_SYS_ADMIN).
	ZeroCopy bool
	// Depth is the number of entries per queue; 0 means 4.
	Depth uint16
	// BufSize and Buffers size each queue's kmbuf ring (see Layout).
	BufSize uint32
	Buffers uint32
}

// Transport serves every queue of a FUSE connection over kmbuf rings:
// zcserver in kmbuf mode. The connection keeps being served over
// /dev/fuse by its readers (fuseconn.Conn) for FORGET, INTERRUPT and
// requests queued before the rings were ready.
type Transport struct {
	conn   *fuseconn.Conn
	rings  []*Ring
	queues []*Queue
	stop   chan struct{}
	wg     sync.WaitGroup

	mu   sync.Mutex
	errs []error
}

// StartTransport sets up one ring per queue of conn (qid = possible CPU),
// each with its kmbuf ring, headers buffer and cfg.Depth entries, and
// serves them with conn's protocol handler. conn must be the connection of
// a zcserver.Server started with Config.RingInit (zcserver.Server.Conn:
// INIT asked for FUSE_OVER_IO_URING and the server has no ring of its
// own). On a kernel without the series it returns the kmbuf probe's
// error, which matches features.ErrNotSupported. Close the server first
// (aborting the connection ends the entries), then the Transport.
func StartTransport(ctx context.Context, conn *fuseconn.Conn, cfg TransportConfig) (*Transport, error) {
	if _, err := features.HaveKmbufRing(); err != nil {
		return nil, fmt.Errorf("kmbufring: %w", err)
	}
	info := conn.Init()
	if err := features.HaveIOURing(info); err != nil {
		return nil, fmt.Errorf("kmbufring: %w", err)
	}
	if !info.Ring {
		return nil, fmt.Errorf("kmbufring: the INIT reply lacks FUSE_OVER_IO_URING (start the server with Config.RingInit): %s", info.String())
	}
	if cfg.Depth == 0 {
		cfg.Depth = 4
	}
	nq, err := rawring.PossibleCPUs()
	if err != nil {
		return nil, fmt.Errorf("kmbufring: %w", err)
	}
	tr := &Transport{conn: conn, stop: make(chan struct{})}
	for qid := range nq {
		r, err := Start(conn.DevFD(), Config{Profile: cfg.Profile, Entries: uint32(4*cfg.Depth + 16)})
		if err != nil {
			tr.Close()
			return nil, err
		}
		tr.rings = append(tr.rings, r)
		var q *Queue
		err = r.Do(ctx, func(t *Thread) error {
			var err error
			q, err = t.SetupQueue(Layout{Qid: uint16(qid), ZeroCopy: cfg.ZeroCopy, Depth: cfg.Depth,
				BufSize: cfg.BufSize, Buffers: cfg.Buffers, PayloadSz: info.MaxPayloadSz})
			return err
		})
		if err != nil {
			tr.Close()
			return nil, fmt.Errorf("kmbufring: queue %d (%s): %w", qid, cfg.Profile, err)
		}
		tr.queues = append(tr.queues, q)
	}
	for qid, r := range tr.rings {
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			if err := r.Serve(context.Background(), conn.Handler(), tr.stop); err != nil && !teardown(err) {
				tr.mu.Lock()
				tr.errs = append(tr.errs, fmt.Errorf("queue %d: %w", qid, err))
				tr.mu.Unlock()
			}
		}()
	}
	return tr, nil
}

// teardown reports the errnos the kernel ends waiting commands with when
// the connection or the ring goes away.
func teardown(err error) bool {
	return errors.Is(err, unix.ENOTCONN) || errors.Is(err, unix.ECANCELED) || errors.Is(err, unix.ECONNABORTED) ||
		errors.Is(err, ErrClosed)
}

// Rings returns the rings by qid.
func (tr *Transport) Rings() []*Ring { return tr.rings }

// Queues returns what was set up, by qid.
func (tr *Transport) Queues() []*Queue { return tr.queues }

// Err returns the serving errors so far (teardown excluded).
func (tr *Transport) Err() error {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return errors.Join(tr.errs...)
}

// Close stops serving and closes the rings, then returns every serving
// error. Close the zcserver.Server (or end the connection) first.
func (tr *Transport) Close() error {
	select {
	case <-tr.stop:
	default:
		close(tr.stop)
	}
	tr.wg.Wait()
	var errs []error
	for _, r := range tr.rings {
		if err := r.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(append(errs, tr.Err())...)
}

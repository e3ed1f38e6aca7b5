package ringtest

import (
	"fmt"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// Client is fn running on its own OS thread pinned to one CPU, which
// chooses the FUSE queue of its requests (the qid is the CPU the request
// is issued from, ABI doc §4.3). The thread is discarded when fn returns.
type Client struct {
	CPU  int
	done chan struct{}
	err  error
}

// OnCPU starts fn on a new OS thread whose affinity is exactly cpu. fn
// must use raw system calls on the mount (unix.Open, unix.Pread, ...),
// never the os package, which would register the file with Go's poller.
func OnCPU(cpu int, fn func() error) *Client {
	c := &Client{CPU: cpu, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		// Never unlocked: the thread's affinity is changed, so it must
		// not go back to the runtime's pool.
		runtime.LockOSThread()
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			c.err = fmt.Errorf("ringtest: pin client to CPU %d: %w", cpu, err)
			return
		}
		c.err = fn()
	}()
	return c
}

// Done is closed when fn has returned.
func (c *Client) Done() <-chan struct{} { return c.done }

// Finished reports whether fn has returned.
func (c *Client) Finished() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Err returns fn's error once Done is closed (nil before).
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Clients tracks clients so that a spec's cleanup can wait for all of
// them after releasing whatever blocks them (aborting the connection).
type Clients struct {
	mu sync.Mutex
	cs []*Client
}

// Go starts fn with OnCPU and tracks it.
func (g *Clients) Go(cpu int, fn func() error) *Client {
	c := OnCPU(cpu, fn)
	g.mu.Lock()
	g.cs = append(g.cs, c)
	g.mu.Unlock()
	return c
}

// Running returns how many tracked clients have not returned.
func (g *Clients) Running() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, c := range g.cs {
		if !c.Finished() {
			n++
		}
	}
	return n
}

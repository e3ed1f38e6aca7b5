package runner

import (
	"fmt"

	"github.com/zcsuite/zcsuite/harness/report"
	"github.com/zcsuite/zcsuite/harness/shard"
)

// WithShard makes the run test only the K-th of N parts of its specs
// (package shard): a CI matrix runs every part on its own machine and
// `zcsuite merge` puts the reports back together.
func WithShard(s shard.Shard) Option {
	return func(c *Config) error {
		if s.On() && c.Bench {
			return fmt.Errorf("%w: -shard and -bench exclude each other (the benchmark is one VM)", ErrUsage)
		}
		c.Shard = s
		return nil
	}
}

// shardTimingsFile holds the spec times every machine balances shards by.
const shardTimingsFile = "fixtures/timings/tcg.json"

// selectShard narrows the run's specs to c.Shard's part, balanced by the
// shipped timings, and says which part it is in kernel.json. Without a
// shard it returns the specs unchanged. extra are specs of the run that
// are not split (zcserver's tests, which the first shard runs): they
// count in the run's spec set.
func selectShard(c *Config, mainSpecs, destructive, extra []string, facts *report.Facts) ([]string, []string, error) {
	if !c.Shard.On() {
		return mainSpecs, destructive, nil
	}
	path, err := moduleFile(shardTimingsFile)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrUntestable, err)
	}
	t, err := shard.LoadTimings(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrUntestable, err)
	}
	all := append(append([]string(nil), mainSpecs...), destructive...)
	m, d := c.Shard.Select(mainSpecs, destructive, t.Est)
	set := append(all, extra...)
	if len(m)+len(d) == 0 {
		return nil, nil, fmt.Errorf("%w: shard %s holds no spec: the label filter %q and focus %q select %d spec(s) for %d shards", ErrUsage, c.Shard, c.LabelFilter, c.Focus, len(all), c.Shard.N)
	}
	facts.Shard = &report.Shard{K: c.Shard.K, N: c.Shard.N, Specs: len(set), SetSHA256: shard.SetHash(set)}
	return m, d, nil
}

// shardVMName keeps a shard's VM names apart from every other shard's, so
// that merged reports name each VM once.
func shardVMName(c *Config, name string) string {
	if !c.Shard.On() {
		return name
	}
	return fmt.Sprintf("shard%d-%s", c.Shard.K, name)
}

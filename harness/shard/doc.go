// Package shard splits a run's specs into N deterministic, time-balanced
// parts so that N machines (CI jobs, matrix cells) can each run one and a
// merge can put the verdicts back together. Every machine must agree on
// the split without talking to the others, so it depends only on the list
// of specs and on the spec timings shipped in fixtures/timings, never on a
// machine's own cache. The same greedy balance (longest spec first, onto
// the least loaded part) splits a run's specs over its lanes.
package shard

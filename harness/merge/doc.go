// Package merge puts the report directories of a shard set (runs with
// -shard 1/N … N/N) back together into one report directory and one
// verdict, decided by the same exit-code rules as a single run. It refuses
// a set that does not cover every spec of the run exactly once, or whose
// shards tested different kernels, images or spec sets.
package merge

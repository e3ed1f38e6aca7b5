// Package bench turns the guest's benchmark samples (fio throughput per
// zcserver mode, job and round, with the server's CPU time and copy
// counters) into the report's bench.md table and bench.png chart: median
// and spread per mode, and the zero-copy/copy and pool/copy ratios beside
// the ratios the seed patch published. Under TCG the absolute numbers say
// little; the ratios are what compare.
package bench

// Package console turns a kernel log — serial console text or /dev/kmsg
// records — into crash reports (splats), each with a kind, a stable title,
// the line it starts on, its text and whether it ended in a panic; it needs
// nothing from the kernel beyond its usual printk output (PRINTK_TIME
// timestamps are optional, KALLSYMS makes titles name functions).
//
// Recognition is driven by one table of patterns (patterns.go): each row
// names a Kind, the regexp that starts a report, how the report ends and how
// its title is built. Titles follow the style of syzkaller's report package
// (ideas only, no shared code): the report's headline with every run-specific
// part (addresses, pids, timestamps, durations) dropped and the guilty
// function named, e.g. "WARNING in fuse_uring_req_end", "kernel BUG in
// fuse_copy_fill", "KASAN: slab-use-after-free Read in foo", "INFO: task hung
// in lookup_open".
//
// A report ends at its own end marker ("---[ end trace ...]---", the closing
// "====" of a KASAN or KFENCE report), at the first line that cannot belong to
// it, at the next report's first line or at a "zcsuite:" marker line. A
// "Kernel panic - not syncing" that follows a report (panic_on_oops,
// panic_on_warn, hung_task_panic ...) is part of that report and makes it
// Fatal, and so is an oops printed right after its end marker (the same
// fault on another CPU); a panic nothing explains is a report of its own,
// of KindPanic.
// A report repeated with the same kind and title and no marker line between
// (a hung task reported every check interval, a soft lockup reported again)
// is returned once.
//
// Every pattern is tested against real logs captured from real kernels, kept
// in fixtures/console/ with their expected kinds and titles; a new kind of
// report arrives as a fixture before the table changes.
package console

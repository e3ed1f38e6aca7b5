package console

import (
	"regexp"
	"strings"
)

// pattern is one row of the report table.
type pattern struct {
	kind Kind
	// start matches a report's first message (time stamp already stripped).
	start *regexp.Regexp
	// join: when a report is already open (or has just ended), this line is
	// part of it instead of a new report: the "Oops:" line after a
	// "BUG: kernel NULL pointer dereference", the panic after an oops.
	join bool
	// end, when set, matches the report's last line; every line up to it
	// belongs to the report. When nil the report lasts while its lines look
	// like report body (bodyLine).
	end *regexp.Regexp
	// until, when set, matches a line up to which everything is report body
	// whatever it looks like (lockdep's free-form text before its
	// "stack backtrace:"); after it the bodyLine rule applies.
	until *regexp.Regexp
	// body, when set, accepts extra body lines specific to this kind.
	body *regexp.Regexp
	// title builds the report's title from its lines (time stamps stripped)
	// and start's submatches.
	title func(lines []string, m []string) string
}

var (
	endTrace   = regexp.MustCompile(`^-+\[ end trace [0-9a-f]* ?\]-+$`)
	endPanic   = regexp.MustCompile(`^-+\[ end Kernel panic - not syncing:`)
	sanEnd     = regexp.MustCompile(`^={20,}$`)
	lockdepEnd = regexp.MustCompile(`^stack backtrace:$`)
	// bodyRE matches the lines a kernel report is made of: indented lines
	// (stack frames, lock lists, register continuations) and the fixed
	// headings of oops, hung-task, lockup and stall reports.
	bodyRE = regexp.MustCompile(`^(?:\s|Call Trace:|Call trace:|<\/?[A-Z]+>|RIP:|RSP:|RAX:|RDX:|RBP:|R\d+:|FS:|CS:|CR2:|DR\d:|PKRU:|Code:|` +
		`Modules linked in:|CPU: \d|Hardware name:|Workqueue:|task:|Tainted:|Not tainted|irq event stamp:|hardirqs last|softirqs last|` +
		`Showing all locks held|\d+ locks? held by|#\d+:|"echo 0 > |INFO: task \S+ .*blocked on |Sending NMI from CPU|NMI backtrace for cpu|` +
		`Kernel Offset:|Rebooting in|-+\[ end |\? |rcu: |\(detected by|Task dump for CPU|Preemption disabled at:|#PF: |PGD |note: |` +
		`Fixing recursive fault|in_atomic\(\)|preempt_count: |INFO: lockdep is turned off|={20,}$|-{20,}$)`)
	// tailRE matches what may follow an end marker and still belong to the
	// report just ended.
	tailRE = regexp.MustCompile(`^(?:note: |Kernel Offset:|Rebooting in|Fixing recursive fault|-+\[ end )`)
	// markerRE matches zcsuite's own kmsg marker lines.
	markerRE = regexp.MustCompile(`^zcsuite: `)
)

// patterns is the report table, tried in order: the first row whose start
// matches wins, so specific rows come before the generic ones.
var patterns = []pattern{
	{
		kind:  KindKASAN,
		start: regexp.MustCompile(`^BUG: KASAN: ([a-z0-9-]+) in (\S+)`),
		end:   sanEnd,
		title: func(l []string, m []string) string {
			t := "KASAN: " + m[1]
			if a := findSub(l, accessRE); a != "" {
				t += " " + a
			}
			return t + inFunc(preferFrame(symbol(m[2]), l))
		},
	},
	{
		kind:  KindKFENCE,
		start: regexp.MustCompile(`^BUG: KFENCE: (.+?) in (\S+)`),
		end:   sanEnd,
		title: func(l []string, m []string) string {
			return "KFENCE: " + m[1] + inFunc(preferFrame(symbol(m[2]), l))
		},
	},
	{
		kind:  KindUBSAN,
		start: regexp.MustCompile(`^UBSAN: ([a-z0-9-]+) in (\S+?)(?::\d+)*$`),
		end:   endTrace,
		title: func(l []string, m []string) string { return "UBSAN: " + m[1] + " in " + sourcePath(m[2]) },
	},
	{
		// WARN(): "WARNING: CPU: 0 PID: 1 at fs/x.c:12 func+0x1/0x2 [mod]"
		// before 7.x; "WARNING: fs/x.c:12 at func+0x1/0x2, CPU#0: comm/1"
		// since, without the file:line when DEBUG_BUGVERBOSE is off.
		kind:  KindWarning,
		start: regexp.MustCompile(`^WARNING: (?:CPU: \d+ PID: \d+ at (\S+)(?: (\S+))?|(?:(\S+:\d+) )?at ([^\s,]+), CPU#\d+)`),
		end:   endTrace,
		title: func(l []string, m []string) string {
			file, sym := m[1], m[2]
			if m[4] != "" {
				file, sym = m[3], m[4]
			}
			if f := preferFrame(symbol(sym), l); f != "" {
				return "WARNING in " + f
			}
			if file != "" {
				return "WARNING at " + sourcePath(file)
			}
			return "WARNING"
		},
	},
	{
		// lockdep and RCU-lockdep: a "WARNING:" headline that is not WARN()'s.
		kind:  KindLockdep,
		start: regexp.MustCompile(`^WARNING: (.*\b(?:lock|locks|locking|unlock|RCU|rcu)\b.*?)[.!]?$`),
		until: lockdepEnd,
		title: func(l []string, m []string) string { return m[1] },
	},
	{
		kind:  KindHungTask,
		start: regexp.MustCompile(`^INFO: task (\S+):(\d+) blocked for more than \d+ seconds`),
		title: func(l []string, m []string) string { return "INFO: task hung" + inFunc(firstFrame(l)) },
	},
	{
		kind:  KindSoftLockup,
		start: regexp.MustCompile(`^(?:watchdog: )?BUG: soft lockup - CPU#\d+ stuck for`),
		title: func(l []string, m []string) string { return "BUG: soft lockup" + inFunc(ripOrFrame(l)) },
	},
	{
		kind:  KindHardLockup,
		start: regexp.MustCompile(`^(?:watchdog: |NMI watchdog: )?Watchdog detected hard LOCKUP on cpu \d+`),
		title: func(l []string, m []string) string { return "BUG: hard lockup" + inFunc(ripOrFrame(l)) },
	},
	{
		kind:  KindRCUStall,
		start: regexp.MustCompile(`^(?:rcu: )?INFO: rcu_\w+ (?:self-)?detected (?:expedited )?stalls?`),
		body:  regexp.MustCompile(`^(?:Unless \S+ kthread gets|RCU grace-period kthread stack dump:|Stack dump where RCU GP kthread last ran:)`),
		title: func(l []string, m []string) string { return "INFO: rcu detected stall" + inFunc(ripOrFrame(l)) },
	},
	{
		kind:  KindOops,
		start: regexp.MustCompile(`^BUG: (?:kernel NULL pointer dereference|unable to handle kernel NULL pointer dereference)`),
		end:   endTrace,
		title: func(l []string, m []string) string {
			return "BUG: kernel NULL pointer dereference" + inFunc(ripOrFrame(l))
		},
	},
	{
		kind:  KindOops,
		start: regexp.MustCompile(`^BUG: unable to handle (?:page fault|kernel paging request)`),
		end:   endTrace,
		title: func(l []string, m []string) string {
			return "BUG: unable to handle kernel paging request" + inFunc(ripOrFrame(l))
		},
	},
	{
		// "kernel BUG at fs/fuse/dev.c:1064!", or without DEBUG_BUGVERBOSE
		// "kernel BUG at func+0x2/0x2 [verbose debug info unavailable]".
		kind:  KindBUG,
		start: regexp.MustCompile(`^kernel BUG at (?:(\S+?):\d+!|\S+ \[verbose debug info unavailable\])`),
		end:   endTrace,
		title: func(l []string, m []string) string {
			if f := ripOrFrame(l); f != "" {
				return "kernel BUG in " + f
			}
			if m[1] != "" {
				return "kernel BUG at " + sourcePath(m[1])
			}
			return "kernel BUG"
		},
	},
	{
		kind:  KindGPF,
		start: regexp.MustCompile(`^(?:Oops: )?general protection fault\b`),
		end:   endTrace,
		title: func(l []string, m []string) string { return "general protection fault" + inFunc(ripOrFrame(l)) },
	},
	{
		// Any other "BUG: what[: details | at file:line | , details]".
		kind:  KindBUG,
		start: regexp.MustCompile(`^BUG: (.+?)(?:: | at |, | in process |\s+-\s+|$)`),
		title: func(l []string, m []string) string { return "BUG: " + m[1] + inFunc(ripOrFrame(l)) },
	},
	{
		// "Oops: invalid opcode: 0000 [#1] SMP", "Oops: Oops: 0002 [#1]".
		kind:  KindOops,
		start: regexp.MustCompile(`^Oops: (?:(.+?): )?[0-9a-f]{4} \[#\d+\]`),
		join:  true,
		end:   endTrace,
		title: func(l []string, m []string) string {
			what := m[1]
			if what == "" || what == "Oops" {
				what = "Oops"
			}
			return what + inFunc(ripOrFrame(l))
		},
	},
	{
		kind:  KindPanic,
		start: regexp.MustCompile(`^Kernel panic - not syncing: (.*)$`),
		join:  true,
		end:   endPanic,
		title: func(l []string, m []string) string {
			return "Kernel panic - not syncing: " + strings.Join(strings.Fields(m[1]), " ")
		},
	},
}

var (
	// accessRE finds KASAN's "Read of size 8 at addr ..." line.
	accessRE = regexp.MustCompile(`^(Read|Write) of size \d+`)
	ripRE    = regexp.MustCompile(`^RIP: [0-9a-f]{4}:(\S+)`)
	frameRE  = regexp.MustCompile(`^\s*(\? )?([A-Za-z_.$][\w.$]*)\+0x[0-9a-f]+/0x[0-9a-f]+`)
	lineNoRE = regexp.MustCompile(`(?::\d+)+$`)
)

// skipFrame matches functions that report, lock, schedule or copy on
// someone else's behalf: a title names the first function past them.
var skipFrame = regexp.MustCompile(`^(?:` +
	`dump_stack\w*|show_stack\w*|show_trace_log_lvl|print_report|print_address_description\w*|` +
	`_*kasan_\w*|_*asan_\w*|check_memory_region\w*|kfence_\w*|_*kfence_\w*|_*ubsan_\w*|` +
	`_*mem(?:cpy|set|move|cmp)\w*|_*str(?:cpy|ncpy|len|nlen|cmp|scpy)\w*|_*copy_(?:to|from)_user\w*|fortify_\w*|` +
	`v?panic|_*warn\w*|report_bug|handle_bug|exc_\w+|asm_exc_\w+|do_error_trap|do_trap|_*die\w*|oops_\w+|` +
	`page_fault_oops|kernelmode_fixup_or_oops|_*bad_area\w*|do_(?:user|kern)_addr_fault|handle_page_fault|` +
	`_*schedule\w*|io_schedule\w*|preempt_schedule\w*|schedule_timeout\w*|` +
	`rwsem_\w+|_*down_\w+|down|_*up_\w+|_*mutex_\w+|_*rt_mutex_\w+|_*ww_mutex_\w+|` +
	`_raw_\w+|do_raw_\w+|queued_\w+|native_queued_\w+|_*lock_acquire\w*|lock_release|lockdep_\w+|` +
	`_*might_\w+|_*wait_for_\w+|wait_for_completion\w*|_*wait_event\w*|prepare_to_wait\w*|finish_wait|bit_wait\w*|_*wait_on_\w+|` +
	`_*list_\w+_valid\w*|_*list_valid\w*|refcount_warn_saturate|_*refcount_\w+|` +
	`nmi_cpu_backtrace\w*|nmi_trigger_cpumask_backtrace|arch_trigger_cpumask_backtrace|` +
	`rcu_\w+|print_cpu_stall\w*|check_cpu_stall|update_process_times|tick_\w+|_*hrtimer_\w+|watchdog_timer_fn|` +
	`_*sysvec_\w+|asm_sysvec_\w+|_*irq_exit\w*|instrument_\w+` +
	`)$`)

// symbol returns a report's "func+0x1/0x2 [mod]" as the function name alone,
// without the compiler's suffixes (".cold", ".isra.0", ".constprop.0").
func symbol(s string) string {
	if i := strings.Index(s, "+0x"); i >= 0 {
		s = s[:i]
	}
	if strings.HasPrefix(s, "0x") {
		return "" // an address: a user-space RIP or no symbols
	}
	if i := strings.IndexByte(s, '.'); i > 0 {
		s = s[:i]
	}
	return s
}

// firstFrame returns the first reliable stack frame, after the first
// "Call Trace:", that skipFrame does not skip.
func firstFrame(lines []string) string {
	in := false
	for _, l := range lines {
		if strings.HasPrefix(l, "Call Trace:") || strings.HasPrefix(l, "Call trace:") {
			in = true
			continue
		}
		if !in {
			continue
		}
		m := frameRE.FindStringSubmatch(l)
		if m == nil || m[1] != "" {
			continue
		}
		if s := symbol(m[2]); s != "" && !skipFrame.MatchString(s) {
			return s
		}
	}
	return ""
}

// ripOrFrame names the function the report blames: the first kernel RIP,
// unless skipFrame skips it, else the first frame of the stack.
func ripOrFrame(lines []string) string {
	for _, l := range lines {
		if m := ripRE.FindStringSubmatch(l); m != nil {
			if s := symbol(m[1]); s != "" && !skipFrame.MatchString(s) {
				return s
			}
		}
	}
	return firstFrame(lines)
}

// preferFrame returns sym, the function a report's headline names, unless
// it is empty or a function skipFrame skips, in which case the call stack
// decides (not a RIP line: in a KASAN or KFENCE report a RIP belongs to the
// context an interrupt arrived in).
func preferFrame(sym string, lines []string) string {
	if sym != "" && !skipFrame.MatchString(sym) {
		return sym
	}
	if f := firstFrame(lines); f != "" {
		return f
	}
	return sym
}

func inFunc(f string) string {
	if f == "" {
		return ""
	}
	return " in " + f
}

func findSub(lines []string, re *regexp.Regexp) string {
	for _, l := range lines {
		if m := re.FindStringSubmatch(l); m != nil {
			return m[1]
		}
	}
	return ""
}

// sourceTop matches the top-level directories of a kernel source tree.
var sourceTop = regexp.MustCompile(`(?:^|/)((?:arch|block|certs|crypto|drivers|fs|include|init|io_uring|ipc|kernel|lib|mm|net|rust|samples|security|sound|virt)/.*)$`)

// sourcePath returns a source file name without its ":line:column" and
// relative to the source tree: an out-of-tree (O=) build prints absolute
// paths such as /build/linux-7.3/drivers/x.c:12:3.
func sourcePath(file string) string {
	file = lineNoRE.ReplaceAllString(file, "")
	if strings.HasPrefix(file, "/") {
		if m := sourceTop.FindStringSubmatch(file); m != nil {
			return m[1]
		}
	}
	return file
}

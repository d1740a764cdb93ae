package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"unicode/utf8"
)

// report is what a run prints: one markdown table and the facts under it.
type report struct {
	h            *harness
	title        string
	scaling      bool
	rows         []row
	rows2        []row // scaling: the same scenarios at many orders
	phases       [2]int64
	extra        []measured
	checks       []hotCheck
	rss, bareRSS int64
	setupRSS     int64 // smmapi's VmHWM after provisioning, before the load
	badLedger    int
	orders       int64
	db           string

	hooks *hookResult // the webhooks scenario, when run

	failures     int64
	failedChecks []string
}

// tally counts requests and failures and lists failed checks.
func (r *report) tally() (total int64) {
	r.failures, r.failedChecks = 0, nil
	add := func(m measured) {
		r.failures += m.failed()
		total += m.ok + m.fail + m.warmOK + m.warmFail
	}
	for _, rows := range [][]row{r.rows, r.rows2} {
		for _, x := range rows {
			add(x.smm)
			add(x.ceil)
		}
	}
	for _, m := range r.extra {
		add(m)
	}
	if r.hooks != nil {
		for _, x := range []row{r.hooks.alone, r.hooks.without, r.hooks.with} {
			add(x.smm)
			add(x.ceil)
		}
		if !r.hooks.ok() {
			r.failedChecks = append(r.failedChecks, "webhooks: lost, out of order or badly signed deliveries")
		}
	}
	for i, c := range r.checks {
		if !c.ok() {
			r.failedChecks = append(r.failedChecks, fmt.Sprintf("hot account balance #%d", i+1))
		}
	}
	if r.badLedger > 0 {
		r.failedChecks = append(r.failedChecks, "ledger invariant")
	}
	return total
}

func (r *report) passed() bool {
	r.tally()
	return r.failures == 0 && len(r.failedChecks) == 0
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

func (r *report) String() string {
	total := r.tally()
	o := r.h.o
	var b strings.Builder
	fmt.Fprintf(&b, "## %s\n\n", r.title)
	fmt.Fprintf(&b, "%s; %s (load average %s at the end); %d connections; %s per scenario, in %d slices alternating with its ceiling, after a %s warm-up; %d accounts; %d services; ",
		r.db, cpus(), loadAvg(), o.conns, o.duration, o.rounds, o.warmup, o.accounts, o.services)
	if r.scaling {
		fmt.Fprintf(&b, "%d orders in the table at the end.\n\n", r.orders)
	} else {
		fmt.Fprintf(&b, "%d existing orders (%d in the table at the end); smmapi logging at info (one access-log line per request, as in production).\n\n", r.h.seeded, r.orders)
	}

	if r.scaling {
		t := table{head: []string{"scenario", fmt.Sprintf("req/s at %d orders", r.phases[0]), "p99",
			fmt.Sprintf("req/s at %d orders", r.phases[1]), "p99", "ratio", "target", "met?", "ceiling ratio"}}
		for _, z := range r.rows2 {
			base := z.baseName
			if base == "" {
				base = z.name
			}
			i := slices.IndexFunc(r.rows, func(a row) bool { return a.name == base })
			if i < 0 {
				continue
			}
			a := r.rows[i]
			ratio := z.smm.rps / max(a.smm.rps, 1e-9)
			t.add(z.name, fmt.Sprintf("%.0f", a.smm.rps), ms(a.smm.p99), fmt.Sprintf("%.0f", z.smm.rps), ms(z.smm.p99),
				fmt.Sprintf("%.2f", ratio), fmt.Sprintf("≥ %.2f", a.target), yesNo(ratio >= a.target),
				fmt.Sprintf("%.2f (%s)", z.ceil.rps/max(a.ceil.rps, 1e-9), a.ceilName))
		}
		b.WriteString(t.String())
	} else {
		t := table{head: []string{"scenario", "smmapi req/s", "p50", "p99", "failed", "ceiling", "ceiling req/s", "ceiling p99", "ratio", "target", "met?"}}
		for _, x := range r.rows {
			t.add(x.name, fmt.Sprintf("%.0f", x.smm.rps), ms(x.smm.p50), ms(x.smm.p99), fmt.Sprint(x.smm.failed()),
				x.ceilName, fmt.Sprintf("%.0f", x.ceil.rps), ms(x.ceil.p99), fmt.Sprintf("%.2f", x.ratio()),
				x.targetText(), yesNo(x.met()))
		}
		b.WriteString(t.String())
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "- failed requests: %d of %d (smmapi and ceilings, warm-ups included)\n", r.failures, total)
	for _, rows := range [][]row{r.rows, r.rows2} {
		for _, x := range rows {
			for _, m := range []measured{x.smm, x.ceil} {
				if m.failed() > 0 {
					fmt.Fprintf(&b, "  - %s: %d failed, first: %s\n", m.name, m.failed(), m.firstErr)
				}
			}
		}
	}
	fmt.Fprintf(&b, "- smmapi peak RSS (VmHWM, whole run): %s (target < 150 MB: %s); ceiling server: %s\n",
		mb(r.rss), yesNo(r.rss < 150<<20), mb(r.bareRSS))
	fmt.Fprintf(&b, "  - smmapi VmHWM after provisioning: %s", mb(r.setupRSS))
	for _, rows := range [][]row{r.rows, r.rows2} {
		for _, x := range rows {
			fmt.Fprintf(&b, "; after %s: %s", x.name, mb(x.rss))
		}
	}
	b.WriteString("\n")
	for _, c := range r.checks {
		fmt.Fprintf(&b, "- hot account after add (one hot account): %s\n", c)
	}
	fmt.Fprintf(&b, "- ledger invariant (every account's balance = the sum of its ledger): %s\n",
		map[bool]string{true: "OK", false: fmt.Sprintf("FAIL (%d accounts)", r.badLedger)}[r.badLedger == 0])
	for _, m := range r.extra {
		fmt.Fprintf(&b, "- also measured: %s: %.0f req/s, p50 %s, p99 %s", m.name, m.rps, ms(m.p50), ms(m.p99))
		for _, x := range r.rows {
			if (x.name == "status (1 ID)" || strings.HasSuffix(m.name, "("+x.name+")")) && m.rps > 0 {
				fmt.Fprintf(&b, " (%s = %.2f of it)", x.name, x.smm.rps/m.rps)
			}
		}
		b.WriteString("\n")
	}
	for _, x := range r.rows {
		if strings.HasPrefix(x.name, "services") {
			fmt.Fprintf(&b, "- %s: smmapi answered %d of %d compressed, %.1f KB per answer; ceiling %.1f KB per answer\n",
				x.name, x.smm.encoded, x.smm.ok, kb(x.smm.bytes, x.smm.ok), kb(x.ceil.bytes, x.ceil.ok))
		}
	}
	if r.hooks != nil {
		b.WriteString(r.hooks.lines())
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "- smmapi warning/error log lines: %d\n", r.h.warnCount)
	for _, l := range r.h.warnLines {
		fmt.Fprintf(&b, "  - %.300s\n", l)
	}
	return b.String()
}

func kb(bytes, n int64) float64 {
	if n == 0 {
		return 0
	}
	return float64(bytes) / float64(n) / 1024
}

// table renders an aligned markdown table: numbers right-aligned, words
// (cells starting with a letter in the first row) left-aligned.
type table struct {
	head []string
	rows [][]string
}

func (t *table) rightAligned(i int) bool {
	if len(t.rows) == 0 || t.rows[0][i] == "" {
		return true
	}
	c := t.rows[0][i][0]
	return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z')
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) String() string {
	w := make([]int, len(t.head))
	for _, r := range append([][]string{t.head}, t.rows...) {
		for i, c := range r {
			w[i] = max(w[i], utf8.RuneCountInString(c))
		}
	}
	pad := func(s string, n int, right bool) string {
		gap := strings.Repeat(" ", n-utf8.RuneCountInString(s))
		if right {
			return gap + s
		}
		return s + gap
	}
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for i, c := range cells {
			b.WriteString(" " + pad(c, w[i], t.rightAligned(i)) + " |")
		}
		b.WriteString("\n")
	}
	line(t.head)
	b.WriteString("|")
	for i := range t.head {
		if !t.rightAligned(i) {
			b.WriteString(" " + strings.Repeat("-", w[i]) + " |")
		} else {
			b.WriteString(" " + strings.Repeat("-", w[i]-1) + ": |")
		}
	}
	b.WriteString("\n")
	for _, r := range t.rows {
		line(r)
	}
	return b.String()
}

// loadAvg is the machine's 1-minute load average: how much else ran.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

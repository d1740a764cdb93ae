package tests

// Every metric name and label the alert rules and the dashboard use exists
// on a real smmapi's /metrics once it has done some work: a renamed series
// or a typo in a rule fails here, not silently in production (a rule over a
// series that does not exist never fires).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
)

// opsQuery is one PromQL expression and where it was found.
type opsQuery struct {
	where, expr string
}

// opsQueries reads every expression of the alert rules and of the dashboard.
func opsQueries(t *testing.T) []opsQuery {
	t.Helper()
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	mustYAML(t, "../deploy/prometheus/alerts.yml", &rules)
	var qs []opsQuery
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			qs = append(qs, opsQuery{"alert " + r.Alert, r.Expr})
		}
	}
	type panel struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"` // inside collapsed rows
	}
	var dash struct {
		Panels []json.RawMessage `json:"panels"`
	}
	data, err := os.ReadFile("../deploy/grafana/dashboards/smmapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("smmapi.json: %v", err)
	}
	// Grafana's interval variables are not PromQL.
	vars := strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")
	todo := dash.Panels
	for len(todo) > 0 {
		var p panel
		if err := json.Unmarshal(todo[0], &p); err != nil {
			t.Fatalf("smmapi.json panel: %v", err)
		}
		todo = append(todo[1:], p.Panels...)
		for _, tg := range p.Targets {
			qs = append(qs, opsQuery{"panel " + p.Title, vars.Replace(tg.Expr)})
		}
	}
	if len(qs) < 20 {
		t.Fatalf("only %d expressions found in the rules and the dashboard", len(qs))
	}
	return qs
}

// opsUses is what one expression needs of the exposition: per metric name,
// the label names it selects on, groups by or matches on.
func opsUses(t *testing.T, expr string) (map[string][]string, error) {
	t.Helper()
	root, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	uses := map[string][]string{}
	// names returns the metrics selected under n.
	names := func(n parser.Node) []string {
		var out []string
		parser.Inspect(n, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				out = append(out, vs.Name)
			}
			return nil
		})
		return out
	}
	need := func(under parser.Node, labels []string) {
		for _, name := range names(under) {
			uses[name] = append(uses[name], labels...)
		}
	}
	parser.Inspect(root, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			if n.Name == "" {
				t.Errorf("%s: a selector without a metric name", expr)
			}
			uses[n.Name] = append(uses[n.Name], []string{}...)
			for _, m := range n.LabelMatchers {
				if m.Name != model.MetricNameLabel {
					uses[n.Name] = append(uses[n.Name], m.Name)
				}
			}
		case *parser.AggregateExpr:
			if !n.Without {
				need(n.Expr, n.Grouping)
			}
		case *parser.BinaryExpr:
			if n.VectorMatching != nil && n.VectorMatching.On {
				need(n.LHS, n.VectorMatching.MatchingLabels)
				need(n.RHS, n.VectorMatching.MatchingLabels)
			}
		}
		return nil
	})
	return uses, nil
}

// opsExposition parses /metrics into series name → label names seen.
// Histograms expand into _bucket (with le), _sum and _count.
func opsExposition(t *testing.T, body []byte) map[string]map[string]bool {
	t.Helper()
	fams := opsFamilies(t, body)
	out := map[string]map[string]bool{}
	add := func(name string, m *dto.Metric, extra ...string) {
		if out[name] == nil {
			out[name] = map[string]bool{}
		}
		for _, l := range m.GetLabel() {
			out[name][l.GetName()] = true
		}
		for _, l := range extra {
			out[name][l] = true
		}
	}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM:
				add(name+"_bucket", m, "le")
				add(name+"_sum", m)
				add(name+"_count", m)
			case dto.MetricType_SUMMARY:
				add(name, m, "quantile")
				add(name+"_sum", m)
				add(name+"_count", m)
			default:
				add(name, m)
			}
		}
	}
	return out
}

// opsTargetLabels are added by Prometheus to every scraped series, and
// opsSynthetic are series Prometheus makes itself; neither is on /metrics.
var (
	opsTargetLabels = []string{"job", "instance"}
	opsSynthetic    = []string{"up"}
)

func TestOpsMetricNames(t *testing.T) {
	queries := opsQueries(t)
	eachBackend(t, func(t *testing.T, b Backend) {
		// Balances polled every second, two invalid keys lock an IP out.
		r := fulStart(t, b, "SMMAPI_SUPPLIERS_BALANCE_INTERVAL=1s", "SMMAPI_LIMITS_AUTH_FAILURES=2")
		s := r.s
		acc := s.MustAccount(t, "ops", "100")
		id := mustAddOrder(t, s, acc.Key, r.svc, "https://instagram.com/ops", "100")
		fulForwarded(t, s, id)
		fulPublic(t, s, acc.Key, "status", "order", id)
		fulPublic(t, s, acc.Key, "add", "service", r.svc, "link", "", "quantity", "100") // an error answer
		// The balance poll has run once the supplier was seen.
		fulWait(t, 15*time.Second, "supplier balance exported", func() bool {
			return bytes.Contains(opsScrape(t, s), []byte("smmapi_supplier_balance{"))
		})
		// Last, since it locks this IP out of the public API.
		for range 3 {
			fulPublic(t, s, strings.Repeat("0", 32), "balance")
		}

		have := opsExposition(t, opsScrape(t, s))
		for _, q := range queries {
			uses, err := opsUses(t, q.expr)
			if err != nil {
				t.Errorf("%s: %v\n%s", q.where, err, q.expr)
				continue
			}
			for name, labels := range uses {
				if slices.Contains(opsSynthetic, name) {
					continue
				}
				seen, ok := have[name]
				if !ok {
					t.Errorf("%s uses %s, which /metrics does not have", q.where, name)
					continue
				}
				for _, l := range labels {
					if !seen[l] && !slices.Contains(opsTargetLabels, l) {
						t.Errorf("%s uses label %q of %s; it has %v", q.where, l, name, opsKeys(seen))
					}
				}
			}
		}
	})
}

// TestOpsMetricValues: the new series say what happened. One order at the
// fake supplier, forwarded and In progress; its balance read; a call each.
func TestOpsMetricValues(t *testing.T) {
	eachBackend(t, func(t *testing.T, b Backend) {
		// Supplier 1 (the first of a fresh database) has a floor of its own.
		r := fulStart(t, b, "SMMAPI_SUPPLIERS_BALANCE_INTERVAL=1s", "SMMAPI_SUPPLIERS_BALANCE_FLOOR=10,1=5000")
		if r.sup != "1" {
			t.Fatalf("supplier ID %s, want 1", r.sup)
		}
		acc := r.s.MustAccount(t, "ops", "100")
		fulForwarded(t, r.s, mustAddOrder(t, r.s, acc.Key, r.svc, "https://instagram.com/ops", "100"))
		sup := r.sup
		want := map[string]float64{
			`smmapi_orders_open{status="In progress"}`:                                         1,
			`smmapi_orders_open{status="Pending"}`:                                             0,
			`smmapi_orders_forward{state="sent"}`:                                              1,
			`smmapi_orders_forward{state="reconcile"}`:                                         0,
			`smmapi_supplier_open_orders{supplier="` + sup + `"}`:                              1,
			`smmapi_supplier_balance{supplier="` + sup + `"}`:                                  1234.5678,
			`smmapi_supplier_balance_floor{supplier="` + sup + `"}`:                            5000,
			`smmapi_supplier_requests_total{action="add",outcome="ok",supplier="` + sup + `"}`: 1,
			`smmapi_dependency_up{dependency="database"}`:                                      1,
		}
		if b.RedisAddr != "" {
			want[`smmapi_dependency_up{dependency="redis"}`] = 1
		}
		var got map[string]float64
		fulWait(t, 15*time.Second, "supplier balance exported", func() bool {
			got = opsValues(t, opsScrape(t, r.s))
			_, ok := got[`smmapi_supplier_balance{supplier="`+sup+`"}`]
			return ok
		})
		for series, w := range want {
			if v, ok := got[series]; !ok || v != w {
				t.Errorf("%s = %v (present: %v), want %v", series, v, ok, w)
			}
		}
		if age, ok := got[`smmapi_supplier_oldest_order_seconds{supplier="`+sup+`"}`]; !ok || age < 0 || age > 60 {
			t.Errorf("oldest order at the supplier: %v s (present: %v), want 0–60", age, ok)
		}
	})
}

// opsScrape reads /metrics from the internal listener.
func opsScrape(t *testing.T, s *Server) []byte {
	t.Helper()
	resp := s.Admin(t, http.MethodGet, "/metrics", nil)
	if resp.Status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", resp.Status, resp.Body)
	}
	return resp.Body
}

// opsFamilies parses the text exposition.
func opsFamilies(t *testing.T, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// opsValues parses /metrics into `name{label="value",…}` (labels sorted) →
// value, for counters and gauges.
func opsValues(t *testing.T, body []byte) map[string]float64 {
	t.Helper()
	fams := opsFamilies(t, body)
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(ls)
			key := name
			if len(ls) > 0 {
				key += "{" + strings.Join(ls, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

func opsKeys(m map[string]bool) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return fmt.Sprint(ks)
}

// Command smmapi serves the reseller API of an SMM panel operator:
// /api/v2 and /api/v3 on the public listener, the admin JSON API on the
// internal one. `go run .` serves at once on an embedded SQLite file.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"smmapi/api"
	"smmapi/service"
	"smmapi/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "smmapi:", err)
		os.Exit(1)
	}
}

// run is the whole program, minus the process: tests and main share it.
// Everything is wired (wire.go) before the first listener serves.
func run(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("smmapi", flag.ContinueOnError)
	fs.SetOutput(stdout)
	configPath := fs.String("config", "", "config file (default: ./config.yaml if present)")
	healthcheck := fs.Bool("healthcheck", false, "GET /healthz on the public listener and exit 0 if it answers 200")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *configPath == "" {
		if _, err := os.Stat("config.yaml"); err == nil {
			*configPath = "config.yaml"
		}
	}
	cfg, err := loadConfig(*configPath, getenv)
	if err != nil {
		return err
	}
	if *healthcheck {
		return probe(ctx, cfg.HTTP.Addr)
	}

	out := newLogWriter(stdout, 100*time.Millisecond)
	defer out.Close()
	log := slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: logLevel(cfg.Log.Level)}))
	routeDriverLogs(log)
	log.Info("config", "config", cfg.redacted())
	// A soft memory limit unless GOMEMLIMIT sets one: the price-list cache
	// is live heap, and the collector would otherwise let the heap grow to
	// twice what is live (a run with 1000 gzipped price lists peaked at
	// 182 MB, 128 MB with this limit).
	if getenv("GOMEMLIMIT") == "" {
		limit := int64(cfg.Pricing.CacheMB+64) << 20
		debug.SetMemoryLimit(limit)
		log.Info("soft memory limit", "mb", limit>>20)
	}

	a := &app{cfg: cfg, log: log, out: out}
	defer a.close()
	for _, step := range []func(context.Context) error{a.openDatabase, a.openMetrics, a.openRedis, a.registerLive, a.buildActions, a.buildServers} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return a.serve(ctx)
}

// limits converts the limits section; Validate has checked the CIDRs.
func limits(cfg Config) api.Limits {
	l := cfg.Limits
	proxies, _ := api.ParseCIDRs(l.TrustedProxies)
	return api.Limits{KeyRate: l.KeyRate, KeyBurst: l.KeyBurst, IPRate: l.IPRate, IPBurst: l.IPBurst,
		AuthFailures: l.AuthFailures, AuthWindow: time.Duration(l.AuthWindow), AuthLockout: time.Duration(l.AuthLockout),
		TrustedProxies: proxies}
}

// internalToken returns the configured token. In the embedded mode an empty
// one is generated once into a 0600 file beside the database, so a newcomer
// can use the internal API without editing anything.
func internalToken(cfg Config, log *slog.Logger) (string, error) {
	if cfg.Internal.Token != "" {
		return cfg.Internal.Token, nil
	}
	if cfg.Database.Driver != store.SQLite {
		log.Warn("internal.token is empty: every internal API request is refused (set SMMAPI_INTERNAL_TOKEN)")
		return "", nil
	}
	path := sqliteFile(cfg.Database.DSN) + ".internal-token"
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		log.Info("internal token read from file", "path", path)
		return strings.TrimSpace(string(b)), nil
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write internal token: %w", err)
	}
	log.Info("internal token generated", "path", path)
	return tok, nil
}

// serviceBus converts a possibly nil concrete bus into a nil-able interface.
func serviceBus(b eventBus) service.Bus {
	if b == nil {
		return nil
	}
	return b
}

// secretsSealer returns the sealer of supplier keys: from secrets.key, or in
// the embedded mode from a generated 0600 file beside the database. In
// mysql mode without a key it returns nil: supplier endpoints answer 409
// and forwarding is paused.
func secretsSealer(cfg Config, log *slog.Logger) (service.Sealer, error) {
	key := cfg.Secrets.Key
	if key == "" && cfg.Database.Driver == store.SQLite {
		path := sqliteFile(cfg.Database.DSN) + ".secrets-key"
		b, err := os.ReadFile(path)
		if err == nil && len(strings.TrimSpace(string(b))) == 64 {
			key = strings.TrimSpace(string(b))
		} else {
			buf := make([]byte, 32)
			if _, err := rand.Read(buf); err != nil {
				return nil, err
			}
			key = hex.EncodeToString(buf)
			if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
				return nil, fmt.Errorf("write secrets key: %w", err)
			}
			log.Info("secrets key generated", "path", path)
		}
	}
	if key == "" {
		log.Warn("secrets.key is not configured: supplier endpoints answer 409 and forwarding is paused (set SMMAPI_SECRETS_KEY)")
		return nil, nil
	}
	s, err := store.NewSealer(key)
	if err != nil {
		return nil, fmt.Errorf("config: secrets.key: %w", err)
	}
	return s, nil
}

// sqliteFile returns the file path of a SQLite DSN ("file:x.db?..." → "x.db").
func sqliteFile(dsn string) string {
	dsn = strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(dsn, '?'); i >= 0 {
		dsn = dsn[:i]
	}
	return filepath.Clean(dsn)
}

// probe is the container health check: the public /healthz answers 200.
func probe(ctx context.Context, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz: %s", resp.Status)
	}
	return nil
}

func logLevel(s string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(s))
	return l
}

// logWriter buffers log lines and writes them at most every interval (or
// when 64 KiB pile up): one access-log line per request must not cost a
// write system call per request. Close flushes what is left.
type logWriter struct {
	mu   sync.Mutex
	w    *bufio.Writer
	done chan struct{}
	wg   sync.WaitGroup
}

func newLogWriter(w io.Writer, interval time.Duration) *logWriter {
	lw := &logWriter{w: bufio.NewWriterSize(w, 64<<10), done: make(chan struct{})}
	lw.wg.Add(1)
	go func() {
		defer lw.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				lw.flush()
			case <-lw.done:
				lw.flush()
				return
			}
		}
	}()
	return lw
}

func (lw *logWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.w.Write(p)
}

func (lw *logWriter) flush() {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.w.Flush()
}

// Close stops the ticker and flushes.
func (lw *logWriter) Close() error {
	close(lw.done)
	lw.wg.Wait()
	return nil
}

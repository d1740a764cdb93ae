package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// profile loads smmapi alone with t for -duration while its CPU profile is
// taken through the internal listener's /debug/pprof (bearer token). The
// profile lands in -profile as <scenario>.pprof; `go tool pprof` reads it.
func (h *harness) profile(ctx context.Context, t target) error {
	if err := os.MkdirAll(h.o.profile, 0o755); err != nil {
		return err
	}
	secs := max(int(h.o.duration/time.Second), 1)
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", h.smm.addrs["internal"], secs)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	type got struct {
		b   []byte
		err error
	}
	done := make(chan got, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- got{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("profile: HTTP %d: %.200s", resp.StatusCode, b)
		}
		done <- got{b, err}
	}()
	r := runLoad(ctx, t, h.o.conns, time.Duration(secs)*time.Second)
	g := <-done
	if g.err != nil {
		return g.err
	}
	name := strings.NewReplacer(" ", "-", "(", "", ")", "").Replace(t.name)
	file := filepath.Join(h.o.profile, name+".pprof")
	step("  profiled %s (%.0f req/s while profiling) → %s", t.name, r.rps, file)
	return os.WriteFile(file, g.b, 0o644)
}

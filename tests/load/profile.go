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
	secs := max(int(h.o.duration/time.Second), 1)
	wait := h.startProfile(ctx, t.name, secs)
	r := runLoad(ctx, t, h.o.conns, time.Duration(secs)*time.Second)
	file, err := wait()
	if err == nil {
		step("  profiled %s (%.0f req/s while profiling) → %s", t.name, r.rps, file)
	}
	return err
}

// startProfile starts a CPU profile of secs seconds named name; wait
// returns the file it was written to.
func (h *harness) startProfile(ctx context.Context, name string, secs int) (wait func() (string, error)) {
	type got struct {
		b   []byte
		err error
	}
	done := make(chan got, 1)
	go func() {
		url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", h.smm.addrs["internal"], secs)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			done <- got{err: err}
			return
		}
		req.Header.Set("Authorization", "Bearer "+h.token)
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
	return func() (string, error) {
		g := <-done
		if g.err != nil {
			return "", g.err
		}
		if err := os.MkdirAll(h.o.profile, 0o755); err != nil {
			return "", err
		}
		file := filepath.Join(h.o.profile, strings.NewReplacer(" ", "-", "(", "", ")", "", ",", "").Replace(name)+".pprof")
		return file, os.WriteFile(file, g.b, 0o644)
	}
}

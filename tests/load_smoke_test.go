package tests

import (
	"bytes"
	"context"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestLoadSmoke runs the load harness (tests/load) with tiny numbers on
// every configured backend: it must complete with every request answered
// and the hot account's money exact. It measures nothing; the real runs are
// `go run ./tests/load` (see its doc comment).
func TestLoadSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("load smoke run: skipped with -short")
	}
	eachBackend(t, func(t *testing.T, b Backend) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		args := []string{"run", "./tests/load", "-smoke", "-bin", binary, "-backend", b.Name}
		if b.MySQLDSN != "" {
			args = append(args, "-mysql-dsn", b.MySQLDSN, "-redis", b.RedisAddr)
		}
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = ".."
		// go run's child and the servers it starts share a process group:
		// a timeout stops them all, not only the go command.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
		cmd.WaitDelay = 30 * time.Second
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := cmd.Run()
		if err != nil {
			t.Fatalf("go %v: %v (after %s)\n%s", args, err, time.Since(start).Round(time.Millisecond), out.String())
		}
		t.Logf("load smoke (%s) passed in %s", b.Name, time.Since(start).Round(time.Millisecond))
	})
}

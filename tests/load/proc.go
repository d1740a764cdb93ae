package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a server process (smmapi, or the bare ceiling server) whose
// stdout goes to a log file. The file, not a pipe: a reader in this process
// would take CPU from the generator, and a slow one would block the server.
type proc struct {
	name  string
	cmd   *exec.Cmd
	log   *os.File
	addrs map[string]string // listener name → host:port
	done  chan struct{}
}

// startProc starts cmd and waits until it has logged a "listening" line for
// every listener in want, as smmapi does (tests/harness_test.go reads the
// same lines).
func startProc(name string, cmd *exec.Cmd, logPath string, want ...string) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_RDWR|os.O_APPEND|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	// Our children die with us, whatever way we go. Pdeathsig fires when
	// the forking thread ends, not the process: the goroutine that starts
	// the child keeps its thread until the child has exited.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	p := &proc{name: name, cmd: cmd, log: f, addrs: map[string]string{}, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := cmd.Start()
		started <- err
		if err == nil {
			cmd.Wait()
		}
		close(p.done)
	}()
	if err := <-started; err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	limit := time.Now().Add(60 * time.Second)
	for {
		p.scanListening()
		if len(p.addrs) >= len(want) {
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited before listening:\n%s", name, p.tail(4000))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(limit) {
			p.stop()
			return nil, fmt.Errorf("%s did not listen within 60s:\n%s", name, p.tail(4000))
		}
	}
}

func (p *proc) scanListening() {
	b, err := os.ReadFile(p.log.Name())
	if err != nil {
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct{ Msg, Listener, Addr string }
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "listening" {
			p.addrs[l.Listener] = l.Addr
		}
	}
}

// tail returns the end of the log.
func (p *proc) tail(n int) string {
	b, _ := os.ReadFile(p.log.Name())
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// drainLog returns the warning and error lines logged since the last call
// (at most max of them) and empties the file, so that a long run does not
// fill the disk with access-log lines.
func (p *proc) drainLog(max int) (lines []string, count int) {
	b, err := os.ReadFile(p.log.Name())
	if err != nil {
		return nil, 0
	}
	for _, l := range bytes.Split(b, []byte("\n")) {
		if bytes.Contains(l, []byte(`"level":"WARN"`)) || bytes.Contains(l, []byte(`"level":"ERROR"`)) {
			count++
			if len(lines) < max {
				lines = append(lines, string(l))
			}
		}
	}
	// O_APPEND: the child's next write lands at the new end.
	_ = p.log.Truncate(0)
	return lines, count
}

// peakRSS returns the process's peak resident set (VmHWM) in bytes.
func (p *proc) peakRSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", p.cmd.Process.Pid)
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits for the exit (SIGKILL after 20 s).
func (p *proc) stop() {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	}
	p.log.Close()
}

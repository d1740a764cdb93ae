package tests

import (
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Fault modes of a faultProxy.
const (
	proxyPass   = "pass"   // forward both ways
	proxyRefuse = "refuse" // listener closed, open connections reset
	proxySilent = "silent" // accept and hold connections, forward nothing
)

// faultProxy forwards TCP on 127.0.0.1 to a target (MariaDB, Redis) and can
// refuse or go silent, as a dead or a paused server does. Silence holds the
// bytes (nothing is dropped), so a connection resumes intact on pass, like
// a process that was paused. One proxy per client gives per-client faults.
type faultProxy struct {
	t      testing.TB
	target string
	Addr   string

	mu     sync.Mutex
	mode   string
	resume chan struct{} // closed while passing; silent waits on it
	ln     net.Listener
	conns  map[net.Conn]struct{}
	closed bool
}

// mustFaultProxy starts a passing proxy to target; it stops with the test.
func mustFaultProxy(tb testing.TB, target string) *faultProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &faultProxy{t: tb, target: target, Addr: ln.Addr().String(), mode: proxyPass,
		resume: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	close(p.resume)
	p.serve(ln)
	tb.Cleanup(func() {
		p.Set(proxyPass) // let held goroutines run out
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.Set(proxyRefuse)
	})
	return p
}

// Set switches the proxy's mode.
func (p *faultProxy) Set(mode string) {
	p.mu.Lock()
	old := p.mode
	p.mode = mode
	if mode == proxySilent && old != proxySilent {
		p.resume = make(chan struct{})
	}
	if mode != proxySilent && old == proxySilent {
		close(p.resume)
	}
	if mode == proxyRefuse && p.ln != nil {
		p.ln.Close()
		p.ln = nil
		for c := range p.conns {
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0) // a reset, not a polite close
			}
			c.Close()
		}
		p.conns = map[net.Conn]struct{}{}
	}
	relisten := mode != proxyRefuse && old == proxyRefuse && !p.closed
	p.mu.Unlock()
	if relisten {
		ln, err := net.Listen("tcp", p.Addr)
		if err != nil {
			p.t.Errorf("proxy: listen again on %s: %v", p.Addr, err)
			return
		}
		p.serve(ln)
	}
}

func (p *faultProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed: refusing or stopped
			}
			u, err := net.DialTimeout("tcp", p.target, 5*time.Second)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.ln != ln {
				p.mu.Unlock()
				c.Close()
				u.Close()
				continue
			}
			p.conns[c], p.conns[u] = struct{}{}, struct{}{}
			p.mu.Unlock()
			go p.pipe(u, c)
			go p.pipe(c, u)
		}
	}()
}

// pipe copies src to dst, holding each chunk while the proxy is silent.
func (p *faultProxy) pipe(dst, src net.Conn) {
	defer func() {
		dst.Close()
		src.Close()
		p.mu.Lock()
		delete(p.conns, dst)
		delete(p.conns, src)
		p.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			resume := p.resume
			p.mu.Unlock()
			<-resume // silent: hold the bytes until pass (or refuse, which closes both)
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF or closed: both ends close
		}
	}
}

// viaProxy returns env's MySQL DSN with its address replaced by addr.
func viaProxy(tb testing.TB, dsn, addr string) string {
	tb.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Addr = addr
	return cfg.FormatDSN()
}

// mysqlAddr returns the host:port of a MySQL DSN.
func mysqlAddr(tb testing.TB, dsn string) string {
	tb.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	return cfg.Addr
}

// mysqlOnly returns the MariaDB + Redis backend, or skips saying why the
// test needs it (faults of a server are meaningless on the embedded file).
func mysqlOnly(t *testing.T, why string) Backend {
	t.Helper()
	for _, b := range backends(t) {
		if b.MySQLDSN != "" {
			return b
		}
	}
	t.Skip("needs SMMAPI_TEST_MYSQL_DSN and SMMAPI_TEST_REDIS_ADDR (" + why + ")")
	return Backend{}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// mustJSONLog fails unless every line the server wrote is a JSON object.
func mustJSONLog(t *testing.T, s *Server) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSpace(s.Logs()), "\n") {
		var v map[string]any
		if json.Unmarshal([]byte(l), &v) != nil {
			t.Errorf("log line is not JSON: %s", l)
		}
	}
}

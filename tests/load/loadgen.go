package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"
)

// The load generator speaks HTTP/1.1 itself over keep-alive connections: a
// pre-formatted request, a minimal response parser. On a 2-core machine the
// generator shares the CPU with the server and the database; net/http's
// client costs several times more per request and would flatten the ratios.

// requestTimeout bounds one exchange; a stuck request is a failure.
const requestTimeout = 30 * time.Second

// target is what one load run sends: where, which header block, and a body
// generator. body(worker, seq, dst) appends the form of the seq-th request
// of worker to dst.
type target struct {
	name string
	addr string // host:port
	head []byte // request line and headers up to "Content-Length: "
	body func(worker, seq int, dst []byte) []byte
}

// newTarget builds a POST of form bodies to path on addr.
func newTarget(name, addr, path string, gzip bool, body func(worker, seq int, dst []byte) []byte) target {
	h := "POST " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: smmapi-load\r\n" +
		"Content-Type: application/x-www-form-urlencoded\r\n"
	if gzip {
		h += "Accept-Encoding: gzip\r\n"
	}
	h += "Content-Length: "
	return target{name: name, addr: addr, head: []byte(h), body: body}
}

// pool returns a body generator cycling through pre-built bodies.
func pool(bodies [][]byte) func(worker, seq int, dst []byte) []byte {
	return func(worker, seq int, dst []byte) []byte {
		return append(dst, bodies[(worker*7919+seq)%len(bodies)]...)
	}
}

// result is one load run's measurement.
type result struct {
	name     string
	ok, fail int64
	elapsed  time.Duration
	p50, p99 time.Duration
	rps      float64 // successful requests per second
	encoded  int64   // answers with a Content-Encoding
	bytes    int64   // body bytes received
	firstErr string
	lat      []uint32 // every latency, µs, sorted
}

// runLoad sends requests on conns connections for d and measures them.
func runLoad(ctx context.Context, t target, conns int, d time.Duration) result {
	type worker struct {
		lat      []uint32 // microseconds
		ok, fail int64
		encoded  int64
		bytes    int64
		firstErr string
	}
	ws := make([]worker, conns)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &ws[i]
			w.lat = make([]uint32, 0, 1<<14)
			c := &client{addr: t.addr}
			defer c.close()
			var form []byte
			for seq := 0; ; seq++ {
				now := time.Now()
				if !now.Before(deadline) || ctx.Err() != nil {
					return
				}
				form = t.body(i, seq, form[:0])
				status, body, enc, err := c.roundTrip(t.head, form)
				took := time.Since(now)
				w.lat = append(w.lat, uint32(min(took.Microseconds(), 1<<32-1)))
				switch {
				case err != nil:
					w.fail++
					if w.firstErr == "" {
						w.firstErr = err.Error()
					}
				case status != 200 || !enc && bytes.Contains(body, []byte(`"error"`)):
					w.fail++
					if w.firstErr == "" {
						w.firstErr = fmt.Sprintf("HTTP %d: %.200s", status, body)
					}
				default:
					w.ok++
					w.bytes += int64(len(body))
					if enc {
						w.encoded++
					}
				}
			}
		}()
	}
	wg.Wait()
	r := result{name: t.name, elapsed: time.Since(start)}
	for _, w := range ws {
		r.ok += w.ok
		r.fail += w.fail
		r.encoded += w.encoded
		r.bytes += w.bytes
		if r.firstErr == "" {
			r.firstErr = w.firstErr
		}
		r.lat = append(r.lat, w.lat...)
	}
	return r.summarize()
}

// merge adds another slice of the same scenario to r.
func (r result) merge(o result) result {
	r.ok += o.ok
	r.fail += o.fail
	r.encoded += o.encoded
	r.bytes += o.bytes
	r.elapsed += o.elapsed
	if r.firstErr == "" {
		r.firstErr = o.firstErr
	}
	r.lat = append(r.lat, o.lat...)
	return r.summarize()
}

func (r result) summarize() result {
	slices.Sort(r.lat)
	if n := len(r.lat); n > 0 {
		r.p50 = time.Duration(r.lat[(n-1)*50/100]) * time.Microsecond
		r.p99 = time.Duration(r.lat[(n-1)*99/100]) * time.Microsecond
	}
	if r.elapsed > 0 {
		r.rps = float64(r.ok) / r.elapsed.Seconds()
	}
	return r
}

// client is one keep-alive HTTP/1.1 connection, redialled after an error.
type client struct {
	addr string
	conn net.Conn
	br   *bufio.Reader
	req  []byte
	body []byte
}

func (c *client) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

var errBadResponse = errors.New("malformed HTTP response")

// roundTrip sends one request and reads the whole answer. encoded reports a
// Content-Encoding (the body is then not inspected).
func (c *client) roundTrip(head, form []byte) (status int, body []byte, encoded bool, err error) {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
		if err != nil {
			return 0, nil, false, err
		}
		c.conn = conn
		c.br = bufio.NewReaderSize(conn, 32<<10)
	}
	c.req = append(c.req[:0], head...)
	c.req = strconv.AppendInt(c.req, int64(len(form)), 10)
	c.req = append(c.req, "\r\n\r\n"...)
	c.req = append(c.req, form...)
	if err := c.conn.SetDeadline(time.Now().Add(requestTimeout)); err != nil {
		c.close()
		return 0, nil, false, err
	}
	if _, err := c.conn.Write(c.req); err != nil {
		c.close()
		return 0, nil, false, err
	}
	status, body, encoded, keep, err := c.readResponse()
	if err != nil || !keep {
		c.close()
	}
	return status, body, encoded, err
}

func (c *client) readResponse() (status int, body []byte, encoded, keep bool, err error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return 0, nil, false, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, nil, false, false, errBadResponse
	}
	keep = line[7] == '1'
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, false, false, errBadResponse
	}
	length, chunked := -1, false
	for {
		line, err = c.br.ReadSlice('\n')
		if err != nil {
			return 0, nil, false, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, nil, false, false, errBadResponse
		}
		val = bytes.TrimSpace(val)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(val)); err != nil || length < 0 {
				return 0, nil, false, false, errBadResponse
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.Contains(bytes.ToLower(val), []byte("chunked"))
		case bytes.EqualFold(name, []byte("Content-Encoding")):
			encoded = len(val) > 0 && !bytes.EqualFold(val, []byte("identity"))
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(val, []byte("close")) {
				keep = false
			}
		}
	}
	c.body = c.body[:0]
	switch {
	case status == 204 || status == 304 || status < 200:
	case chunked:
		for {
			line, err = c.br.ReadSlice('\n')
			if err != nil {
				return 0, nil, false, false, err
			}
			line = bytes.TrimRight(line, "\r\n")
			if i := bytes.IndexByte(line, ';'); i >= 0 {
				line = line[:i]
			}
			n, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 32)
			if err != nil || n < 0 {
				return 0, nil, false, false, errBadResponse
			}
			if n == 0 {
				for { // trailers, then the blank line
					line, err = c.br.ReadSlice('\n')
					if err != nil {
						return 0, nil, false, false, err
					}
					if len(bytes.TrimRight(line, "\r\n")) == 0 {
						break
					}
				}
				break
			}
			if err := c.readN(int(n)); err != nil {
				return 0, nil, false, false, err
			}
			if _, err := c.br.Discard(2); err != nil {
				return 0, nil, false, false, err
			}
		}
	case length >= 0:
		if err := c.readN(length); err != nil {
			return 0, nil, false, false, err
		}
	default: // no length: the body runs to the end of the connection
		rest, err := io.ReadAll(c.br)
		if err != nil {
			return 0, nil, false, false, err
		}
		c.body = append(c.body, rest...)
		keep = false
	}
	return status, c.body, encoded, keep, nil
}

// readN appends exactly n body bytes to c.body.
func (c *client) readN(n int) error {
	c.body = slices.Grow(c.body, n)
	start := len(c.body)
	c.body = c.body[:start+n]
	_, err := io.ReadFull(c.br, c.body[start:])
	return err
}

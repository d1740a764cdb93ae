// Package webhook sends webhook requests to addresses the policy allows:
// every address a host resolves to is checked at send time and the
// connection is made to the checked address itself, so DNS cannot point a
// hook at an internal service between the check and the dial.
package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"smmapi/service"
)

var _ service.HookSender = (*Sender)(nil)

// MaxAnswer is how much of an answer is read.
const MaxAnswer = 64 << 10

// Sender posts webhook requests.
type Sender struct {
	client   *http.Client
	dialer   *net.Dialer
	policy   *service.AddrPolicy
	resolver *net.Resolver
}

// New returns a Sender; timeout bounds connecting, the headers and the body
// (the caller's context bounds the whole exchange); conns is how many
// requests may be under way at once, the idle connections kept.
func New(timeout time.Duration, conns int, policy *service.AddrPolicy) *Sender {
	connect := min(timeout, 5*time.Second)
	s := &Sender{dialer: &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}, policy: policy, resolver: net.DefaultResolver}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would dial for us, past the address check
		DialContext:           s.dial,
		TLSHandshakeTimeout:   connect,
		ResponseHeaderTimeout: timeout,
		MaxIdleConns:          conns,
		// Many children's endpoints may live on one host (a panel
		// provider's): their connections are kept for reuse, not redialled.
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     60 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	s.client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // never followed: the 3xx is the answer
	}}
	return s
}

// dial resolves the host, refuses it if any address is not allowed, and
// connects to the checked addresses only.
func (s *Sender) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else if ips, err = s.resolver.LookupNetIP(ctx, "ip", host); err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	for _, ip := range ips {
		if why := s.policy.Refused(ip); why != "" {
			return nil, fmt.Errorf("%s resolves to %s, a %s address, which webhooks.allow_private does not allow", host, ip.Unmap(), why)
		}
	}
	p, _ := strconv.ParseUint(port, 10, 16)
	var last error
	for _, ip := range ips {
		c, err := s.dialer.DialContext(ctx, network, netip.AddrPortFrom(ip.Unmap(), uint16(p)).String())
		if err == nil {
			return c, nil
		}
		last = err
	}
	return nil, last
}

// Send posts body and reads at most MaxAnswer bytes of the answer; a longer
// answer, one cut short, or one not complete before ctx ends is an error.
func (s *Sender) Send(ctx context.Context, target string, header http.Header, body []byte) service.HookAnswer {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return service.HookAnswer{Err: fmt.Errorf("bad request: %w", err)}
	}
	req.Header = header
	resp, err := s.client.Do(req)
	if err != nil {
		return service.HookAnswer{Err: plain(err)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer+1))
	ans := service.HookAnswer{Status: resp.StatusCode, Body: b}
	switch {
	case err != nil:
		ans.Err = fmt.Errorf("HTTP %d, then the answer broke off: %w", resp.StatusCode, plain(err))
	case len(b) > MaxAnswer:
		ans.Body = b[:MaxAnswer]
		ans.Err = fmt.Errorf("HTTP %d, answer longer than %d KiB (not read further)", resp.StatusCode, MaxAnswer>>10)
	}
	return ans
}

// plain drops net/http's "Post \"url\": " prefix (the URL may carry a
// token in its query) and names timeouts plainly.
func plain(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("timed out (webhooks.timeout)")
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return errors.New("timed out (webhooks.timeout)")
		}
		return ue.Err
	}
	return err
}

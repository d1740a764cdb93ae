package service

import (
	"net/netip"
	"testing"
)

func TestAddrPolicy(t *testing.T) {
	none, err := NewAddrPolicy("")
	if err != nil {
		t.Fatal(err)
	}
	some, err := NewAddrPolicy("127.0.0.0/8, 10.1.2.3, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ip         string
		none, some string // why refused ("" allowed) without and with the allow list
	}{
		{"93.184.216.34", "", ""},
		{"2606:2800:220:1:248:1893:25c8:1946", "", ""},
		{"127.0.0.1", "loopback", ""},
		{"127.9.9.9", "loopback", ""},
		{"::1", "loopback", "loopback"},
		{"::ffff:127.0.0.1", "loopback", ""},
		{"10.1.2.3", "private", ""},
		{"10.1.2.4", "private", "private"},
		{"172.16.0.1", "private", "private"},
		{"192.168.1.1", "private", "private"},
		{"fd12::1", "private", ""},
		{"169.254.169.254", "link-local", "link-local"},
		{"fe80::1", "link-local", "link-local"},
		{"224.0.0.1", "link-local", "link-local"},
		{"239.1.2.3", "multicast", "multicast"},
		{"ff02::1", "link-local", "link-local"},
		{"ff0e::1", "multicast", "multicast"},
		{"0.0.0.0", "unspecified", "unspecified"},
		{"::", "unspecified", "unspecified"},
		{"0.1.2.3", "reserved", "reserved"},
		{"100.64.0.1", "reserved", "reserved"},
		{"255.255.255.255", "reserved", "reserved"},
		{"64:ff9b::7f00:1", "loopback", ""},
		{"64:ff9b::5db8:d822", "", ""},
	} {
		ip := netip.MustParseAddr(c.ip)
		if got := none.Refused(ip); got != c.none {
			t.Errorf("%s without allow list: %q, want %q", c.ip, got, c.none)
		}
		if got := some.Refused(ip); got != c.some {
			t.Errorf("%s with allow list: %q, want %q", c.ip, got, c.some)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "localhost", "10.0.0"} {
		if _, err := NewAddrPolicy(bad); err == nil {
			t.Errorf("allow_private %q accepted", bad)
		}
	}
}

func TestCheckURL(t *testing.T) {
	p, _ := NewAddrPolicy("")
	for raw, ok := range map[string]bool{
		"https://child.example/hooks/smm":     true,
		"HTTP://child.example:8443/x?y=1":     true,
		"http://localhost:8080/":              true, // names are checked at send time
		"https://93.184.216.34/":              true,
		"ftp://child.example/":                false,
		"https://":                            false,
		"child.example/hook":                  false,
		"mailto:x@child.example":              false,
		"https://u@child.example/":            false,
		"http://[fe80::1%25eth0]/":            false,
		"http://10.0.0.1/":                    false,
		"http://[::ffff:10.0.0.1]/":           false,
		"https://child.example/\xff":          false,
		"https://child.example:99999999/hook": false,
	} {
		if err := p.CheckURL(raw); (err == nil) != ok {
			t.Errorf("%q: %v, want ok=%v", raw, err, ok)
		}
	}
}

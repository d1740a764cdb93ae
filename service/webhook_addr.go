package service

import (
	"fmt"
	"net/netip"
	"strings"
)

// AddrPolicy says which addresses webhooks may reach: public ones, and the
// private ranges webhooks.allow_private lets through.
type AddrPolicy struct {
	allow []netip.Prefix
}

// NewAddrPolicy reads webhooks.allow_private: a comma list of CIDRs (a bare
// address is its own /32 or /128).
func NewAddrPolicy(allow string) (*AddrPolicy, error) {
	p := &AddrPolicy{}
	for _, part := range strings.Split(allow, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		pre, err := netip.ParsePrefix(part)
		if err != nil {
			ip, ierr := netip.ParseAddr(part)
			if ierr != nil {
				return nil, fmt.Errorf("%q is not a CIDR or an address", part)
			}
			pre = netip.PrefixFrom(ip, ip.BitLen())
		}
		p.allow = append(p.allow, pre.Masked())
	}
	return p, nil
}

// Special-purpose IPv4 ranges beyond what netip classifies: "this network",
// shared address space (carrier NAT), benchmarking, reserved, broadcast.
var refusedV4 = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"), netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"), netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
}

// nat64 embeds an IPv4 address in its last 32 bits.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// Refused returns why ip may not be reached ("loopback", "private", …), or
// "" when it may.
func (p *AddrPolicy) Refused(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	for _, pre := range p.allow {
		if pre.Contains(ip) {
			return ""
		}
	}
	if nat64.Contains(ip) {
		b := ip.As16()
		return p.Refused(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	}
	switch {
	case ip.IsLoopback():
		return "loopback"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "link-local"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	case ip.IsUnspecified():
		return "unspecified"
	}
	if ip.Is4() {
		for _, pre := range refusedV4 {
			if pre.Contains(ip) {
				return "reserved"
			}
		}
	}
	return ""
}

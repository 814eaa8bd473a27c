//! Which addresses a webhook may reach: every address a receiver's name resolves to is
//! classified, at creation and again before every delivery, and the delivery connects only
//! to an address that passed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What an address is, for the question "may a webhook connect to it".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// A global unicast address.
    Public,
    /// The appliance's own host (127.0.0.0/8, ::1, and their IPv4-mapped forms).
    Loopback,
    /// Not on the public internet (private, link-local, documentation, …); says which.
    Internal(&'static str),
    /// Never a receiver (unspecified, multicast, broadcast); says which.
    Never(&'static str),
}

/// Classifies `ip`. IPv4-mapped (`::ffff:a.b.c.d`), NAT64 (`64:ff9b::/96`) and 6to4
/// (`2002::/16`) IPv6 addresses are judged by the IPv4 address they carry.
pub fn classify(ip: IpAddr) -> Reach {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Reach {
    let o = ip.octets();
    if o[0] == 0 {
        Reach::Never("unspecified (0.0.0.0/8)")
    } else if ip.is_loopback() {
        Reach::Loopback
    } else if ip.is_broadcast() {
        Reach::Never("broadcast")
    } else if ip.is_multicast() {
        Reach::Never("multicast")
    } else if ip.is_private() {
        Reach::Internal("private (RFC 1918)")
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        Reach::Internal("shared address space (100.64.0.0/10)")
    } else if ip.is_link_local() {
        Reach::Internal("link-local (169.254.0.0/16, cloud metadata)")
    } else if ip.is_documentation() {
        Reach::Internal("documentation")
    } else if o[0] == 192 && o[1] == 0 && o[2] == 0 {
        Reach::Internal("IETF protocol assignments (192.0.0.0/24)")
    } else if o[0] == 198 && (o[1] & 0xfe) == 18 {
        Reach::Internal("benchmarking (198.18.0.0/15)")
    } else if o[0] >= 240 {
        Reach::Internal("reserved (240.0.0.0/4)")
    } else {
        Reach::Public
    }
}

fn embedded_v4(hi: u16, lo: u16) -> Ipv4Addr {
    let [a, b] = hi.to_be_bytes();
    let [c, d] = lo.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

fn classify_v6(ip: Ipv6Addr) -> Reach {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let s = ip.segments();
    if ip.is_unspecified() {
        Reach::Never("unspecified (::)")
    } else if ip.is_loopback() {
        Reach::Loopback
    } else if s[..6] == [0; 6] {
        Reach::Internal("IPv4-compatible (::/96, deprecated)")
    } else if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4] {
        match classify_v4(embedded_v4(s[6], s[7])) {
            Reach::Loopback => Reach::Internal("NAT64 of a loopback address"),
            other => other,
        }
    } else if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 {
        Reach::Internal("local-use NAT64 (64:ff9b:1::/48)")
    } else if s[0] == 0x2002 {
        match classify_v4(embedded_v4(s[1], s[2])) {
            Reach::Loopback => Reach::Internal("6to4 of a loopback address"),
            other => other,
        }
    } else if (s[0] & 0xff00) == 0xff00 {
        Reach::Never("multicast")
    } else if (s[0] & 0xfe00) == 0xfc00 {
        Reach::Internal("unique local (fc00::/7)")
    } else if (s[0] & 0xffc0) == 0xfe80 {
        Reach::Internal("link-local (fe80::/10)")
    } else if (s[0] & 0xffc0) == 0xfec0 {
        Reach::Internal("site-local (fec0::/10)")
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        Reach::Internal("documentation (2001:db8::/32)")
    } else if s[0] == 0x2001 && s[1] == 0 {
        Reach::Internal("Teredo (2001::/32)")
    } else if s[0] == 0x0100 && s[1..4] == [0; 3] {
        Reach::Internal("discard-only (100::/64)")
    } else {
        Reach::Public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Reach {
        classify(s.parse().unwrap())
    }

    #[test]
    fn public_addresses_are_public() {
        for a in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "2606:4700::1111",
            "2a00:1450::1",
        ] {
            assert_eq!(c(a), Reach::Public, "{a}");
        }
    }

    #[test]
    fn loopback_in_every_spelling() {
        for a in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            assert_eq!(c(a), Reach::Loopback, "{a}");
        }
    }

    #[test]
    fn internal_ranges_are_internal() {
        for a in [
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.169.254",
            "169.254.0.1",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "192.0.0.8",
            "240.0.0.1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "2001:db8::1",
            "2001::1",
            "100::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:192.168.0.1",
            "::10.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "2002:a00:1::1",
            "2002:7f00:1::1",
        ] {
            assert!(matches!(c(a), Reach::Internal(_)), "{a}: {:?}", c(a));
        }
    }

    #[test]
    fn never_receivers() {
        for a in [
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "239.1.1.1",
            "::",
            "ff02::1",
            "::ffff:0.0.0.0",
            "::ffff:224.0.0.1",
        ] {
            assert!(matches!(c(a), Reach::Never(_)), "{a}: {:?}", c(a));
        }
    }

    #[test]
    fn neighbours_of_the_ranges_stay_public() {
        for a in [
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "11.0.0.1",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert_eq!(c(a), Reach::Public, "{a}");
        }
    }
}

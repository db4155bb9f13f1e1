//! Client-IP extraction: peer address, or X-Forwarded-For behind trusted proxies.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;

/// The address of the client that sent a request.
///
/// Invariants:
/// - it is created only inside this crate (by the [`crate::IpLayer`] middleware and by
///   tests), so code outside the crate can never get hold of a raw address through it;
/// - the address is always normalised ([`normalise`]): an IPv4-mapped IPv6 address is
///   stored as IPv4;
/// - it has no `Display` and its `Debug` prints `[REDACTED]`, so it cannot end up in a log
///   line by accident.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(IpAddr);

impl ClientIp {
    /// Wraps an address, normalising it.
    pub(crate) fn new(ip: IpAddr) -> Self {
        Self(normalise(ip))
    }

    /// The raw address. Crate-private on purpose: only sealing, tagging and block hashing
    /// may see it.
    pub(crate) fn addr(&self) -> IpAddr {
        self.0
    }
}

impl fmt::Debug for ClientIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientIp([REDACTED])")
    }
}

/// Normalises an address: IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes plain IPv4, so that
/// a dual-stack listener and an IPv4 listener give the same tag, block hash and sealed
/// value for the same client.
pub fn normalise(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// The proxies whose `X-Forwarded-For` header is believed (`MESTRING_TRUSTED_PROXIES`).
///
/// Invariant: holds only networks with their host bits cleared; an empty list trusts
/// nobody, so X-Forwarded-For is then always ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

/// An entry in `MESTRING_TRUSTED_PROXIES` that is neither an IP address nor a CIDR.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "MESTRING_TRUSTED_PROXIES: entry {position} ({entry:?}) is not an IP address or CIDR \
     network (expected e.g. \"10.0.0.1, 192.168.0.0/16, fd00::/8\")"
)]
pub struct TrustedProxiesError {
    /// 1-based position of the bad entry in the comma-separated list.
    pub position: usize,
    /// The entry as written (a proxy address from the operator's configuration, not a
    /// client address, so it is safe to show).
    pub entry: String,
}

impl TrustedProxies {
    /// Trusts nobody.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses a comma-separated list of IP addresses and CIDR networks. Whitespace around
    /// entries and empty entries are ignored, so the empty string trusts nobody.
    pub fn parse(list: &str) -> Result<Self, TrustedProxiesError> {
        let mut nets = Vec::new();
        for (i, raw) in list.split(',').enumerate() {
            let entry = raw.trim();
            if entry.is_empty() {
                continue;
            }
            let net = if let Ok(net) = IpNet::from_str(entry) {
                net.trunc()
            } else if let Ok(ip) = IpAddr::from_str(entry) {
                IpNet::from(normalise(ip))
            } else {
                return Err(TrustedProxiesError {
                    position: i + 1,
                    entry: entry.to_owned(),
                });
            };
            nets.push(net);
        }
        Ok(Self { nets })
    }

    /// Whether `ip` (normalised first) is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = normalise(ip);
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }
}

impl FromStr for TrustedProxies {
    type Err = TrustedProxiesError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Parses one X-Forwarded-For hop: a bare address, or (as a few proxies write it)
/// `a.b.c.d:port` / `[v6]:port`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = IpAddr::from_str(hop) {
        return Some(ip);
    }
    if let Ok(sa) = SocketAddr::from_str(hop) {
        return Some(sa.ip());
    }
    // `[v6]` without a port.
    hop.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .and_then(|h| IpAddr::from_str(h).ok())
}

/// Determines the client address of a request.
///
/// Rules (why: the header is client-controlled, only hops appended by our own proxies can
/// be believed):
/// - no peer address → `None`;
/// - peer not a trusted proxy → the peer address; X-Forwarded-For is ignored;
/// - peer trusted → walk X-Forwarded-For from the right, skipping trusted proxies, and take
///   the first (right-most) untrusted hop;
/// - if a hop on that walk does not parse, or the header is absent or empty → the peer
///   address (the chain can no longer be trusted);
/// - if every hop is a trusted proxy → the left-most hop (the request started inside the
///   trusted network).
///
/// The result is normalised ([`normalise`]).
pub fn extract_client_ip(
    peer: Option<SocketAddr>,
    x_forwarded_for: Option<&str>,
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    let peer = normalise(peer?.ip());
    if !trusted.contains(peer) {
        return Some(peer);
    }
    let Some(xff) = x_forwarded_for else {
        return Some(peer);
    };
    let mut leftmost = None;
    for hop in xff.rsplit(',') {
        if hop.trim().is_empty() {
            // "a, , b" – an empty hop is garbage in the chain.
            return Some(peer);
        }
        let Some(ip) = parse_hop(hop) else {
            return Some(peer);
        };
        let ip = normalise(ip);
        if !trusted.contains(ip) {
            return Some(ip);
        }
        leftmost = Some(ip);
    }
    Some(leftmost.unwrap_or(peer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn sa(s: &str) -> Option<SocketAddr> {
        Some(s.parse().expect("test socket addr"))
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test ip")
    }

    #[test]
    fn parse_list() {
        let t = TrustedProxies::parse(" 10.0.0.1, 192.168.0.0/16 ,, fd00::/8").expect("parses");
        assert!(t.contains(ip("10.0.0.1")));
        assert!(!t.contains(ip("10.0.0.2")));
        assert!(t.contains(ip("192.168.44.5")));
        assert!(t.contains(ip("fd12::1")));
        assert!(t.contains(ip("::ffff:10.0.0.1")), "mapped peer normalised");
        assert!(TrustedProxies::parse("").expect("empty").is_empty());
        assert!(TrustedProxies::parse(" , ").expect("blank").is_empty());
    }

    #[test]
    fn parse_error_is_clear() {
        let err = TrustedProxies::parse("10.0.0.1, proxy.local").expect_err("bad entry");
        assert_eq!(err.position, 2);
        assert_eq!(err.entry, "proxy.local");
        let msg = err.to_string();
        assert!(msg.contains("MESTRING_TRUSTED_PROXIES"), "{msg}");
        assert!(msg.contains("proxy.local"), "{msg}");
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn no_peer_gives_none() {
        assert_eq!(
            extract_client_ip(None, Some("1.2.3.4"), &TrustedProxies::none()),
            None
        );
    }

    #[test]
    fn untrusted_peer_ignores_xff() {
        let t = TrustedProxies::parse("10.0.0.1").expect("parses");
        let got = extract_client_ip(sa("203.0.113.9:5555"), Some("1.2.3.4"), &t);
        assert_eq!(got, Some(ip("203.0.113.9")));
        let got = extract_client_ip(
            sa("203.0.113.9:5555"),
            Some("1.2.3.4"),
            &TrustedProxies::none(),
        );
        assert_eq!(got, Some(ip("203.0.113.9")));
    }

    #[test]
    fn trusted_peer_takes_rightmost_untrusted_hop() {
        let t = TrustedProxies::parse("10.0.0.0/8").expect("parses");
        // The client forged "6.6.6.6"; 198.51.100.7 is what our first proxy saw.
        let got = extract_client_ip(
            sa("10.0.0.1:443"),
            Some("6.6.6.6, 198.51.100.7, 10.1.2.3"),
            &t,
        );
        assert_eq!(got, Some(ip("198.51.100.7")));
        let got = extract_client_ip(sa("10.0.0.1:443"), Some("198.51.100.7"), &t);
        assert_eq!(got, Some(ip("198.51.100.7")));
        // Ports and brackets as some proxies write them.
        let got = extract_client_ip(sa("10.0.0.1:443"), Some("[2001:db8::5]:1234"), &t);
        assert_eq!(got, Some(ip("2001:db8::5")));
        let got = extract_client_ip(sa("10.0.0.1:443"), Some("198.51.100.7:999"), &t);
        assert_eq!(got, Some(ip("198.51.100.7")));
    }

    #[test]
    fn all_trusted_takes_leftmost() {
        let t = TrustedProxies::parse("10.0.0.0/8").expect("parses");
        let got = extract_client_ip(sa("10.0.0.1:443"), Some("10.9.9.9, 10.1.1.1"), &t);
        assert_eq!(got, Some(ip("10.9.9.9")));
    }

    #[test]
    fn garbage_xff_falls_back_to_peer() {
        let t = TrustedProxies::parse("10.0.0.1").expect("parses");
        for xff in [
            "",
            "   ",
            "not-an-ip",
            "1.2.3.4, garbage",
            "1.2.3.4,,",
            "999.1.1.1",
        ] {
            let got = extract_client_ip(sa("10.0.0.1:443"), Some(xff), &t);
            assert_eq!(got, Some(ip("10.0.0.1")), "xff {xff:?}");
        }
        // Garbage left of the right-most untrusted hop is never looked at.
        let got = extract_client_ip(sa("10.0.0.1:443"), Some("garbage, 1.2.3.4"), &t);
        assert_eq!(got, Some(ip("1.2.3.4")));
        // Trusted peer without the header.
        let got = extract_client_ip(sa("10.0.0.1:443"), None, &t);
        assert_eq!(got, Some(ip("10.0.0.1")));
    }

    #[test]
    fn ipv4_mapped_is_normalised() {
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        assert_eq!(normalise(mapped), ip("192.0.2.1"));
        let got = extract_client_ip(
            Some(SocketAddr::new(mapped, 80)),
            None,
            &TrustedProxies::none(),
        );
        assert_eq!(got, Some(ip("192.0.2.1")));
        let t = TrustedProxies::parse("10.0.0.1").expect("parses");
        let got = extract_client_ip(sa("[::ffff:10.0.0.1]:80"), Some("::ffff:198.51.100.2"), &t);
        assert_eq!(got, Some(ip("198.51.100.2")));
        assert_eq!(ClientIp::new(mapped).addr(), ip("192.0.2.1"));
        // A real IPv6 address stays IPv6.
        let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        assert_eq!(normalise(v6), v6);
    }

    #[test]
    fn client_ip_debug_is_redacted() {
        let c = ClientIp::new(ip("198.51.100.23"));
        let s = format!("{c:?}");
        assert!(s.contains("[REDACTED]"));
        assert!(!s.contains("198"));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn trusted() -> TrustedProxies {
            TrustedProxies::parse("10.0.0.0/8").expect("parses")
        }

        proptest! {
            /// A client that is not a trusted proxy is itself, whatever
            /// header it sends.
            #[test]
            fn an_untrusted_peer_is_never_overridden(xff in ".{0,200}", last in 1u8..250) {
                let peer: SocketAddr = format!("198.51.100.{last}:443").parse().expect("sa");
                let got = extract_client_ip(Some(peer), Some(&xff), &trusted());
                prop_assert_eq!(got, Some(peer.ip()));
            }

            /// Behind a trusted proxy, the hop the proxy appended decides,
            /// whatever the client put to its left (garbage, commas, other
            /// addresses).
            #[test]
            fn the_right_most_untrusted_hop_wins(left in ".{0,200}", a in 1u8..250, b in 1u8..250) {
                let client = IpAddr::V4(Ipv4Addr::new(203, 0, 113, a));
                let xff = format!("{left}, {client}, 10.1.1.{b}");
                let got = extract_client_ip(sa("10.0.0.1:443"), Some(&xff), &trusted());
                prop_assert_eq!(got, Some(client));
            }

            /// Never a panic and always some address, for any input.
            #[test]
            fn any_header_gives_an_address(xff in any::<String>()) {
                prop_assert!(extract_client_ip(sa("10.0.0.1:443"), Some(&xff), &trusted()).is_some());
            }
        }
    }
}

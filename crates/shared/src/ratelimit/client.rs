//! Who the client is: the socket's peer, or, behind trusted proxies, the address they
//! saw.
//!
//! Each proxy appends the address it received the request from to `X-Forwarded-For`,
//! so the list reads client-supplied entries first and proxy-written ones last. Only
//! the entries written by our own proxies can be believed: walking from the right,
//! the first address that is not one of `TRUSTED_PROXIES` is the client. Anything to
//! its left was written by the client itself and is ignored, so a client cannot pick
//! its own address (and dodge its limits) by sending the header.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use crate::config::limits::RateLimitConfig;

/// The client address of a request from `peer` carrying the `X-Forwarded-For` header
/// values `forwarded` (in the order received).
pub fn client_addr<'a>(
    peer: IpAddr,
    forwarded: impl DoubleEndedIterator<Item = &'a str>,
    config: &RateLimitConfig,
) -> IpAddr {
    let mut client = peer.to_canonical();
    if !config.is_trusted(client) {
        return client;
    }
    let entries: Vec<&str> = forwarded.flat_map(|value| value.split(',')).collect();
    for entry in entries.into_iter().rev() {
        // An entry a trusted proxy wrote is an address; anything else means the rest
        // of the list cannot be read: the last hop known is the best answer.
        let Some(addr) = parse_entry(entry) else {
            return client;
        };
        client = addr;
        if !config.is_trusted(addr) {
            return addr;
        }
    }
    client
}

/// `203.0.113.7`, `2001:db8::1`, `[2001:db8::1]:443` or `203.0.113.7:51000`.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|e| e.strip_suffix(']'))
                .and_then(|e| e.parse().ok())
        })
        .map(|ip: IpAddr| ip.to_canonical())
}

/// The key a client is limited under: an IPv4 address, or the /64 of an IPv6 one.
pub fn subject(client: IpAddr) -> String {
    match client.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let net = u128::from(v6) & (u128::MAX << 64);
            format!("{}/64", Ipv6Addr::from(net))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(proxies: &str) -> RateLimitConfig {
        let proxies = proxies.to_owned();
        RateLimitConfig::from_source(&move |n: &str| {
            (n == "TRUSTED_PROXIES").then(|| proxies.clone())
        })
        .unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_sends() {
        let cfg = config("");
        let got = client_addr(ip("198.51.100.9"), ["1.2.3.4"].into_iter(), &cfg);
        assert_eq!(got, ip("198.51.100.9"));
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_entry_wins() {
        let cfg = config("10.0.0.0/8");
        // The client forged "1.2.3.4"; the ALB appended the address it saw.
        let got = client_addr(ip("10.0.1.5"), ["1.2.3.4, 203.0.113.7"].into_iter(), &cfg);
        assert_eq!(got, ip("203.0.113.7"));
        // Two proxies of ours (nginx behind the ALB), split over two header lines.
        let got = client_addr(
            ip("10.0.1.5"),
            ["6.6.6.6, 203.0.113.7", "10.0.2.9"].into_iter(),
            &cfg,
        );
        assert_eq!(got, ip("203.0.113.7"));
    }

    #[test]
    fn odd_lists_fall_back_to_the_last_hop_known() {
        let cfg = config("10.0.0.0/8");
        assert_eq!(
            client_addr(ip("10.0.1.5"), std::iter::empty(), &cfg),
            ip("10.0.1.5")
        );
        assert_eq!(
            client_addr(ip("10.0.1.5"), ["garbage, 10.0.3.3"].into_iter(), &cfg),
            ip("10.0.3.3")
        );
        assert_eq!(
            client_addr(ip("10.0.1.5"), ["[2001:db8::1]:443"].into_iter(), &cfg),
            ip("2001:db8::1")
        );
        assert_eq!(
            client_addr(
                ip("::ffff:10.0.1.5"),
                ["203.0.113.7:5100"].into_iter(),
                &cfg
            ),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn ipv6_clients_are_limited_per_64() {
        assert_eq!(subject(ip("2001:db8:1:2:3:4:5:6")), "2001:db8:1:2::/64");
        assert_eq!(subject(ip("2001:db8:1:2:ffff::1")), "2001:db8:1:2::/64");
        assert_eq!(subject(ip("::ffff:192.0.2.1")), "192.0.2.1");
    }
}

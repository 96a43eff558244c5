//! The `Host` check of the API and the registry: only requests addressed to a loopback name
//! are served. A web page can point a name it controls at 127.0.0.1 (DNS rebinding) and have
//! the developer's browser send requests here; those carry the page's name as `Host`.

use std::net::{Ipv4Addr, Ipv6Addr};

use http::{HeaderMap, Uri};

/// Whether `host` (a `Host` header value or URI authority, with or without a port) names
/// this machine: `localhost`, an address in 127.0.0.0/8, or `[::1]`.
pub fn is_loopback(host: &str) -> bool {
    let name = strip_port(host);
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Some(v6) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        return v6.parse::<Ipv6Addr>().is_ok_and(|a| a.is_loopback());
    }
    // Strict dotted-quad parsing: `127.1` or `0x7f.0.0.1` are not what a browser sends.
    name.parse::<Ipv4Addr>().is_ok_and(|a| a.is_loopback())
        || name.parse::<Ipv6Addr>().is_ok_and(|a| a.is_loopback())
}

/// `name:port` → `name`; `[v6]:port` → `[v6]`; a bare IPv6 address stays whole.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) if host[end + 1..].is_empty() || valid_port(&host[end + 1..]) => {
                &host[..=end]
            }
            _ => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && valid_port(&format!(":{port}")) => name,
        _ => host,
    }
}

/// `:` followed by 1 to 5 digits.
fn valid_port(s: &str) -> bool {
    s.strip_prefix(':')
        .is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks a request's `Host` header (and the authority of an absolute-form URI): `Err` names
/// what was refused.
pub fn check(headers: &HeaderMap, uri: &Uri) -> Result<(), String> {
    let mut hosts = headers.get_all(http::header::HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(host), None) => host
            .to_str()
            .map_err(|_| "a Host header that is not text".to_owned())?,
        (None, _) => return Err("a request without a Host header".to_owned()),
        (Some(_), Some(_)) => return Err("a request with several Host headers".to_owned()),
    };
    if !is_loopback(host) {
        return Err(format!("Host {host:?}"));
    }
    match uri.authority() {
        Some(authority) if !is_loopback(authority.as_str()) => {
            Err(format!("the request target {authority}"))
        }
        _ => Ok(()),
    }
}

/// The message of a refusal: what was refused and why.
pub fn refusal_message(what: &str) -> String {
    format!(
        "local-ecs serves only requests addressed to localhost, 127.0.0.0/8 or [::1]; {what} is \
         refused (a web page could otherwise reach local-ecs through DNS rebinding)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_with_and_without_ports() {
        for ok in [
            "localhost",
            "LOCALHOST:4580",
            "127.0.0.1",
            "127.0.0.1:4580",
            "127.8.9.10:1",
            "[::1]",
            "[::1]:4580",
            "::1",
        ] {
            assert!(is_loopback(ok), "{ok}");
        }
        for refused in [
            "evil.example",
            "evil.example:4580",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "10.0.0.1:4580",
            "0.0.0.0",
            "[::2]:4580",
            "[::1]x",
            "localhost:",
            "localhost:99999999",
            "127.1",
            "",
        ] {
            assert!(!is_loopback(refused), "{refused}");
        }
    }

    #[test]
    fn the_header_and_an_absolute_target_are_both_checked() {
        let mut headers = HeaderMap::new();
        let origin: Uri = "/".parse().unwrap();
        assert!(
            check(&headers, &origin)
                .unwrap_err()
                .contains("without a Host")
        );
        headers.insert(http::header::HOST, "127.0.0.1:4580".parse().unwrap());
        assert!(check(&headers, &origin).is_ok());
        let absolute: Uri = "http://evil.example/".parse().unwrap();
        assert!(
            check(&headers, &absolute)
                .unwrap_err()
                .contains("evil.example")
        );
        headers.insert(http::header::HOST, "rebound.example:4580".parse().unwrap());
        let err = check(&headers, &origin).unwrap_err();
        assert!(err.contains("rebound.example"), "{err}");
        assert!(refusal_message(&err).contains("DNS rebinding"));
        headers.append(http::header::HOST, "localhost".parse().unwrap());
        assert!(check(&headers, &origin).unwrap_err().contains("several"));
    }
}

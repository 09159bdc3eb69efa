//! Outbound HTTP to addresses other people chose (webhook endpoints), with the guards that needs.
//!
//! - **No server-side request forgery:** the host is resolved first and every address checked; a
//!   private, loopback, link-local, shared, multicast or otherwise special address is refused
//!   unless `allow_private` is set (tests, development). The request then goes to exactly the
//!   checked addresses, so a DNS answer cannot change between the check and the connection.
//! - **No redirects** are followed (a redirect could point anywhere).
//! - **Bounded:** a timeout per request and at most 1 KiB of the response kept (for logs).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Once;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct OutboundConfig {
    pub allow_private: bool,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct OutboundResponse {
    pub status: u16,
    /// The start of the body, for the delivery log.
    pub excerpt: String,
}

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("invalid target URL: {0}")]
    InvalidUrl(String),
    #[error("refused target: {0}")]
    Refused(String),
    #[error("request failed: {0}")]
    Transport(String),
}

/// rustls with the ring provider is the one TLS stack; install it once per process.
pub fn install_crypto() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Whether an address is an ordinary public one (not private, loopback, link-local, …).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || v6 == Ipv6Addr::LOCALHOST)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240)
}

/// Checks a URL's form (http or https, a host, no credentials) and, for an IP-literal host,
/// its address. Names are checked again at each request, after resolution.
pub fn check_url(raw: &str, allow_private: bool) -> Result<reqwest_client::Url, OutboundError> {
    let url = reqwest_client::Url::parse(raw).map_err(|e| OutboundError::InvalidUrl(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(OutboundError::InvalidUrl("the scheme must be http or https".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(OutboundError::InvalidUrl("credentials in the URL are not allowed".into()));
    }
    let Some(host) = url.host() else { return Err(OutboundError::InvalidUrl("the URL has no host".into())) };
    let literal = match host {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(d) if d.eq_ignore_ascii_case("localhost") => Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        url::Host::Domain(_) => None,
    };
    if let Some(ip) = literal
        && !allow_private
        && !is_public(ip)
    {
        return Err(OutboundError::Refused(format!("{ip} is not a public address")));
    }
    Ok(url)
}

/// POSTs `body` to `url` with `headers`, under the guards above.
pub async fn post(
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
    config: &OutboundConfig,
) -> Result<OutboundResponse, OutboundError> {
    install_crypto();
    let url = check_url(url, config.allow_private)?;
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| OutboundError::Transport(format!("cannot resolve {host}: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(OutboundError::Transport(format!("{host} has no address")));
    }
    if !config.allow_private
        && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip()))
    {
        return Err(OutboundError::Refused(format!("{host} resolves to {}, which is not public", bad.ip())));
    }
    let client = reqwest_client::Client::builder()
        .redirect(reqwest_client::redirect::Policy::none())
        .timeout(config.timeout)
        .resolve_to_addrs(&host, &addrs)
        .build()
        .map_err(|e| OutboundError::Transport(e.to_string()))?;
    let span = tracing::info_span!(
        "http.client",
        otel.name = "POST",
        otel.kind = "client",
        server.address = %host,
        http.response.status_code = tracing::field::Empty,
    );
    let mut request = client.post(url).header("content-type", "application/json").body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = crate::trace::send(request, span).await.map_err(|e| OutboundError::Transport(e.to_string()))?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap_or_default();
    let excerpt = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).into_owned();
    Ok(OutboundResponse { status, excerpt })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_need_http_a_host_and_a_public_literal() {
        assert!(check_url("https://hooks.example.com/x", false).is_ok());
        assert!(matches!(check_url("ftp://x.example", false), Err(OutboundError::InvalidUrl(_))));
        assert!(matches!(check_url("http://user:pw@x.example", false), Err(OutboundError::InvalidUrl(_))));
        assert!(matches!(check_url("http://169.254.169.254/latest", false), Err(OutboundError::Refused(_))));
        assert!(matches!(check_url("http://localhost:8080", false), Err(OutboundError::Refused(_))));
        assert!(check_url("http://127.0.0.1:9/x", true).is_ok());
    }
}

//! Who the client is, and how often it may call.
//!
//! **Client address.** The connection's peer, unless that peer is a configured trusted proxy:
//! then the right-most address in `X-Forwarded-For` that is not itself a trusted proxy (what a
//! client cannot forge past the proxies it went through).
//!
//! **Rate limits** (GCRA, [`keel_platform::ratelimit`]), three classes:
//! - `auth` — signing in, registering, token refresh, password resets, OpenID: per client address;
//! - `checkout` — placing an order, and `default` — every other API call: per client address and,
//!   when the request carries one, per credential (customer token, staff token or API key) too,
//!   so neither many addresses sharing a key nor many (perhaps invented) keys from one address
//!   get more than one quota. IPv6 clients count per /64.
//!
//! A GraphQL request counts in the `default` class as a whole, and each sign-in, registration,
//! token refresh and checkout inside it counts in its stricter class too ([`Charge`]), so an
//! operation costs the same through either API.
//!
//! Health, readiness, metrics and static assets are never limited. Each limited answer carries
//! `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers); a refused one is a
//! 429 problem (`rate_limited`) with `Retry-After`.

use crate::problem::ApiError;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keel_platform::ratelimit::{Decision, Limiter, Quota};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// An address range (`10.0.0.0/8`, `::1/128`, or a single address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    addr: IpAddr,
    prefix: u8,
}

impl IpRange {
    pub fn parse(text: &str) -> Result<IpRange, String> {
        let bad = || format!("{text:?} is not an address or range such as 10.0.0.0/8");
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().map_err(|_| bad())?, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (text.trim().parse::<IpAddr>().map_err(|_| bad())?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(IpRange { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The quotas of each class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub default: Quota,
    pub auth: Quota,
    pub checkout: Quota,
}

impl Default for RateLimits {
    fn default() -> Self {
        let minute = Duration::from_secs(60);
        RateLimits {
            default: Quota { limit: 1200, window: minute },
            auth: Quota { limit: 20, window: minute },
            checkout: Quota { limit: 30, window: minute },
        }
    }
}

impl RateLimits {
    fn quota(&self, class: Class) -> Quota {
        match class {
            Class::Auth => self.auth,
            Class::Checkout => self.checkout,
            Class::Default => self.default,
        }
    }
}

/// The client's address, as [`edge`] resolved it (a request extension).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// What the edge middleware needs.
#[derive(Clone)]
pub struct Edge {
    trusted: Arc<[IpRange]>,
    limits: Option<RateLimits>,
    limiter: Arc<Limiter>,
}

impl Edge {
    /// Counts in process, or in `shared` Redis (every node against the same counts).
    pub fn new(trusted: Vec<IpRange>, limits: Option<RateLimits>, shared: Option<keel_platform::redis::Redis>) -> Edge {
        let limiter = shared.map_or_else(Limiter::default, Limiter::shared);
        Edge { trusted: trusted.into(), limits, limiter: Arc::new(limiter) }
    }

    fn client(&self, req: &Request) -> Option<IpAddr> {
        let peer = req.extensions().get::<ConnectInfo<crate::tls::PeerAddr>>().map(|c| c.0.0.ip())?;
        if !self.trusted.iter().any(|r| r.contains(peer)) {
            return Some(peer);
        }
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        let mut client = peer;
        for hop in forwarded.iter().rev() {
            let Some(ip) = hop_address(hop) else {
                tracing::debug!(hop, "an X-Forwarded-For hop that is not an address");
                break;
            };
            client = ip;
            if !self.trusted.iter().any(|r| r.contains(ip)) {
                break;
            }
        }
        Some(client)
    }
}

/// An `X-Forwarded-For` hop: `203.0.113.7`, `203.0.113.7:5432`, `2001:db8::1`, `[2001:db8::1]:443`.
fn hop_address(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split_once(']').and_then(|(ip, _)| ip.parse().ok());
    }
    hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip())
}

/// The address a quota counts: IPv6 clients by their /64 (one subscriber's network), IPv4 (and
/// IPv4-mapped) by the address.
fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("ip:{v4}"),
            None => format!("ip6:{:x}", u128::from(v6) >> 64),
        },
        IpAddr::V4(v4) => format!("ip:{v4}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Default,
    Auth,
    Checkout,
}

impl Class {
    fn name(self) -> &'static str {
        match self {
            Class::Default => "default",
            Class::Auth => "auth",
            Class::Checkout => "checkout",
        }
    }
}

/// Which class a request counts against, or `None` when it is not limited.
fn classify(method: &Method, path: &str) -> Option<Class> {
    if method == Method::POST && path.starts_with(crate::web::session::PATH) {
        return Some(Class::Auth);
    }
    let api = path.starts_with("/v1/") || path == "/graphql";
    if !api {
        return None;
    }
    if path.contains("/oidc/")
        || (method == Method::POST
            && (path.starts_with("/v1/store/auth/")
                || path.starts_with("/v1/admin/auth/")
                || path == "/v1/store/customers"))
    {
        return Some(Class::Auth);
    }
    if method == Method::POST && path.starts_with("/v1/store/carts/") && path.ends_with("/checkout") {
        return Some(Class::Checkout);
    }
    Some(Class::Default)
}

/// Resolves the client address, then counts the request against its class.
pub async fn edge(State(edge): State<Edge>, mut req: Request, next: Next) -> Response {
    let client = edge.client(&req);
    if let Some(ip) = client {
        req.extensions_mut().insert(ClientIp(ip));
    }
    let Some(limits) = edge.limits else { return next.run(req).await };
    if req.method() == Method::OPTIONS {
        return next.run(req).await;
    }
    let Some(class) = classify(req.method(), req.uri().path()) else { return next.run(req).await };
    let quota = limits.quota(class);
    // Every request counts against its address; one with a credential also against that
    // credential (unverified here, so an invented token buys no extra quota: the address's
    // still applies). The tighter of the two answers.
    let charge = Charge {
        edge: edge.clone(),
        address: client.map_or_else(|| "unknown".to_string(), address_key),
        credential: credential(&req),
    };
    let decision = charge.count(class, quota).await;
    req.extensions_mut().insert(charge);
    if !decision.allowed {
        let mut response = refusal(class, decision).into_response();
        annotate(&mut response, class, quota, decision);
        return response;
    }
    let mut response = next.run(req).await;
    annotate(&mut response, class, quota, decision);
    response
}

/// A 429 problem for a refused request of `class`.
fn refusal(class: Class, decision: Decision) -> ApiError {
    metrics::counter!("keel_rate_limited_total", "class" => class.name()).increment(1);
    let retry = secs_up(decision.retry_after).max(1);
    let mut error = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many requests ({} class): try again in {retry} s", class.name()),
    );
    error.retry_after = Some(retry);
    error
}

/// Who a request counts as, kept in its extensions so one request doing several limited things
/// (GraphQL: a sign-in and a checkout in one document) counts each against its class.
#[derive(Clone)]
pub struct Charge {
    edge: Edge,
    address: String,
    credential: Option<String>,
}

impl Charge {
    /// Counts one use of `class`: against the address always, and the credential too (except
    /// for `auth`, counted per address only). The tighter answers.
    async fn count(&self, class: Class, quota: Quota) -> Decision {
        let mut keys = vec![format!("{}|{}", class.name(), self.address)];
        if class != Class::Auth
            && let Some(credential) = &self.credential
        {
            keys.push(format!("{}|{credential}", class.name()));
        }
        self.edge.limiter.check(&keys, quota).await
    }

    /// Counts one more use of a stricter `class` inside a request already counted as `default`
    /// (a GraphQL sign-in, registration or checkout); refused with the REST answer's problem.
    pub(crate) async fn charge(&self, class: Class) -> Result<(), ApiError> {
        let Some(limits) = self.edge.limits else { return Ok(()) };
        let decision = self.count(class, limits.quota(class)).await;
        if decision.allowed { Ok(()) } else { Err(refusal(class, decision)) }
    }
}

/// The credential a request carries, hashed (a customer's or staff member's token, an API key).
fn credential(req: &Request) -> Option<String> {
    let token = crate::auth::bearer_token(req.headers())?;
    Some(format!("cred:{:016x}", xxhash_rust::xxh3::xxh3_64(token.as_bytes())))
}

fn secs_up(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn annotate(response: &mut Response, class: Class, quota: Quota, decision: Decision) {
    let name = class.name();
    let policy = format!("\"{name}\";q={};w={}", quota.limit, quota.window.as_secs());
    let state = format!("\"{name}\";r={};t={}", decision.remaining, secs_up(decision.reset));
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&policy) {
        headers.insert("ratelimit-policy", v);
    }
    if let Ok(v) = HeaderValue::from_str(&state) {
        headers.insert("ratelimit", v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_contain_what_they_should() {
        let net = IpRange::parse("10.0.0.0/8").unwrap();
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.0.0.1".parse().unwrap()), "IPv4-mapped IPv6");
        let one = IpRange::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let v6 = IpRange::parse("fd00::/8").unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("fe80::1".parse().unwrap()));
        assert!(IpRange::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        for bad in ["10.0.0.0/33", "x", "10.0.0/8", "::/129"] {
            assert!(IpRange::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_hops_and_address_keys() {
        assert_eq!(hop_address("203.0.113.7"), Some("203.0.113.7".parse().unwrap()));
        assert_eq!(hop_address("203.0.113.7:5432"), Some("203.0.113.7".parse().unwrap()));
        assert_eq!(hop_address("2001:db8::1"), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(hop_address("[2001:db8::1]:443"), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(hop_address("unknown"), None);
        let a = address_key("2001:db8:1:2::1".parse().unwrap());
        assert_eq!(a, address_key("2001:db8:1:2:ffff::9".parse().unwrap()), "one /64, one quota");
        assert_ne!(a, address_key("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(address_key("::ffff:10.0.0.1".parse().unwrap()), "ip:10.0.0.1");
    }

    #[test]
    fn classes() {
        assert_eq!(classify(&Method::POST, "/v1/store/auth/token"), Some(Class::Auth));
        assert_eq!(classify(&Method::POST, "/v1/store/customers"), Some(Class::Auth));
        assert_eq!(classify(&Method::POST, "/admin/session"), Some(Class::Auth));
        assert_eq!(classify(&Method::POST, "/admin/session/refresh"), Some(Class::Auth));
        assert_eq!(classify(&Method::GET, "/admin/app.js"), None);
        assert_eq!(classify(&Method::GET, "/v1/admin/auth/oidc/google/login"), Some(Class::Auth));
        assert_eq!(classify(&Method::POST, "/v1/store/carts/cart_1/checkout"), Some(Class::Checkout));
        assert_eq!(classify(&Method::GET, "/v1/store/products"), Some(Class::Default));
        assert_eq!(classify(&Method::POST, "/graphql"), Some(Class::Default));
        assert_eq!(classify(&Method::GET, "/healthz"), None);
        assert_eq!(classify(&Method::GET, "/docs/assets/init.js"), None);
    }
}

//! `keel-load`: drives a running Keel with a realistic shopper mix and reports, per step,
//! throughput and latency percentiles (HDR histograms).
//!
//! Journeys, chosen by weight (`--mix`):
//! - `browse`: a page of the product list, sometimes the next page too;
//! - `search`: a search for a word from the catalog's titles;
//! - `detail`: a product page;
//! - `cart`: create a cart and add a line;
//! - `checkout`: the whole purchase — cart, line, email and address, shipping options, shipping
//!   method, and checkout paid with the paysim test card (`tok_visa`), with an idempotency key.
//!
//! **Closed loop** (`--users N`): N virtual shoppers, each starting its next journey when the last
//! ends. **Open loop** (`--rate R`): R journeys a second on a fixed schedule, however slow the
//! server is; a journey's first request is timed from when it was due, so a stalled server shows
//! in the percentiles instead of hiding behind fewer requests (no coordinated omission).
//!
//! Bounded: `--duration` (at most 10 minutes) and `--max-requests`; the target must be a loopback
//! address.

use anyhow::{Context, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser, Debug, Clone)]
#[command(name = "keel-load", about = "Drive a running Keel with a shopper mix and report latency per step")]
struct Args {
    /// Keel's base URL (loopback only); several, comma-separated, share the requests round-robin
    /// (several api nodes of one shop).
    #[arg(long, default_value = "http://127.0.0.1:8080", value_delimiter = ',')]
    target: Vec<String>,
    /// Closed loop: this many virtual shoppers.
    #[arg(long, conflicts_with = "rate")]
    users: Option<usize>,
    /// Open loop: this many journeys started per second.
    #[arg(long)]
    rate: Option<f64>,
    /// How long to run, in seconds (at most 600).
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Stop after this many requests.
    #[arg(long, default_value_t = 1_000_000)]
    max_requests: u64,
    /// Journey weights, e.g. browse=40,search=20,detail=25,cart=10,checkout=5.
    #[arg(long, default_value = "browse=40,search=20,detail=25,cart=10,checkout=5")]
    mix: String,
    /// An admin API key: with it, the products' stock is topped up first so checkouts do not run out.
    #[arg(long, env = "KEEL_LOAD_ADMIN_KEY")]
    admin_key: Option<String>,
    /// Write the report as JSON here too.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// A label for the report (engine, setup).
    #[arg(long, default_value = "")]
    label: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Journey {
    Browse,
    Search,
    Detail,
    Cart,
    Checkout,
}

impl Journey {
    fn parse(name: &str) -> anyhow::Result<Journey> {
        Ok(match name {
            "browse" => Journey::Browse,
            "search" => Journey::Search,
            "detail" => Journey::Detail,
            "cart" => Journey::Cart,
            "checkout" => Journey::Checkout,
            other => bail!("unknown journey {other:?} (browse, search, detail, cart, checkout)"),
        })
    }
}

/// What the journeys pick from, learned from the store API before the run.
struct Catalog {
    handles: Vec<String>,
    variants: Vec<String>,
    words: Vec<String>,
}

/// Per-step latencies (µs) and counts.
#[derive(Default)]
struct Stats {
    steps: BTreeMap<&'static str, Step>,
}

struct Step {
    latency: Histogram<u64>,
    errors: u64,
    first_error: Option<String>,
}

impl Default for Step {
    fn default() -> Self {
        // 1 µs to 2 minutes at 3 significant digits: valid bounds, so this cannot fail.
        let latency = Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds");
        Step { latency, errors: 0, first_error: None }
    }
}

struct Shared {
    http: reqwest::Client,
    bases: Vec<String>,
    next_base: AtomicU64,
    catalog: Catalog,
    stats: Mutex<Stats>,
    requests: AtomicU64,
    max_requests: u64,
    deadline: Instant,
    checkouts: AtomicU64,
    serial: AtomicU64,
}

impl Shared {
    fn done(&self) -> bool {
        Instant::now() >= self.deadline || self.requests.load(Ordering::Relaxed) >= self.max_requests
    }

    /// One request; `since` is when it was due (open loop) or `None` (now).
    async fn call(
        &self,
        step: &'static str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
        since: Option<Instant>,
    ) -> Option<Value> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let started = since.unwrap_or_else(Instant::now);
        let n = self.next_base.fetch_add(1, Ordering::Relaxed) as usize % self.bases.len();
        let mut req = self.http.request(method, format!("{}{path}", self.bases[n]));
        if let Some(body) = body {
            req = req.json(&body);
        }
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        let outcome = match req.send().await {
            Ok(response) if response.status().is_success() => match response.json::<Value>().await {
                Ok(v) => Ok(v),
                Err(e) => Err(format!("unreadable body: {e}")),
            },
            Ok(response) => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                Err(format!("{status}: {}", text.chars().take(200).collect::<String>()))
            }
            Err(e) => Err(e.to_string()),
        };
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);
        let mut stats = self.stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = stats.steps.entry(step).or_default();
        match outcome {
            Ok(v) => {
                let _ = entry.latency.record(micros.min(120_000_000));
                Some(v)
            }
            Err(e) => {
                entry.errors += 1;
                entry.first_error.get_or_insert(e);
                None
            }
        }
    }

    async fn journey(&self, journey: Journey, due: Option<Instant>) {
        use reqwest::Method;
        let (handle, variant, word) = {
            let mut rng = rand::rng();
            (
                self.catalog.handles.choose(&mut rng).cloned().unwrap_or_default(),
                self.catalog.variants.choose(&mut rng).cloned().unwrap_or_default(),
                self.catalog.words.choose(&mut rng).cloned().unwrap_or_default(),
            )
        };
        match journey {
            Journey::Browse => {
                let page = self.call("list", Method::GET, "/v1/store/products?limit=20", None, None, due).await;
                let next = page.as_ref().and_then(|p| p["next_cursor"].as_str().map(String::from));
                if let Some(cursor) = next
                    && rand::rng().random_bool(0.3)
                {
                    self.call(
                        "list",
                        Method::GET,
                        &format!("/v1/store/products?limit=20&cursor={cursor}"),
                        None,
                        None,
                        None,
                    )
                    .await;
                }
            }
            Journey::Search => {
                self.call("search", Method::GET, &format!("/v1/store/search?q={word}&limit=20"), None, None, due).await;
            }
            Journey::Detail => {
                self.call("detail", Method::GET, &format!("/v1/store/products/{handle}"), None, None, due).await;
            }
            Journey::Cart | Journey::Checkout => {
                let Some(cart) = self
                    .call("cart.create", Method::POST, "/v1/store/carts", Some(json!({"currency": "USD"})), None, due)
                    .await
                else {
                    return;
                };
                let Some(id) = cart["id"].as_str().map(String::from) else { return };
                let line = json!({"variant_id": variant, "quantity": 1});
                if self
                    .call("cart.add", Method::POST, &format!("/v1/store/carts/{id}/line-items"), Some(line), None, None)
                    .await
                    .is_none()
                    || journey == Journey::Cart
                {
                    return;
                }
                let n = self.serial.fetch_add(1, Ordering::Relaxed);
                let details = json!({"email": format!("load{n}@example.com"),
                    "shipping_address": {"line1": "1 Main St", "city": "Springfield", "country_code": "US"}});
                if self
                    .call("cart.update", Method::PATCH, &format!("/v1/store/carts/{id}"), Some(details), None, None)
                    .await
                    .is_none()
                {
                    return;
                }
                let Some(options) = self
                    .call(
                        "cart.shipping_options",
                        Method::GET,
                        &format!("/v1/store/carts/{id}/shipping-options"),
                        None,
                        None,
                        None,
                    )
                    .await
                else {
                    return;
                };
                let Some(option) = options["data"][0]["id"].as_str().map(String::from) else { return };
                if self
                    .call(
                        "cart.shipping",
                        Method::POST,
                        &format!("/v1/store/carts/{id}/shipping-method"),
                        Some(json!({"option_id": option})),
                        None,
                        None,
                    )
                    .await
                    .is_none()
                {
                    return;
                }
                let pay = json!({"payment": {"provider": "paysim", "token": "tok_visa"}});
                let key = format!("load-{id}");
                if self
                    .call(
                        "checkout",
                        Method::POST,
                        &format!("/v1/store/carts/{id}/checkout"),
                        Some(pay),
                        Some(&key),
                        None,
                    )
                    .await
                    .is_some()
                {
                    self.checkouts.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

fn parse_mix(mix: &str) -> anyhow::Result<Vec<(Journey, u32)>> {
    let mut out = Vec::new();
    for part in mix.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, weight) = part.split_once('=').with_context(|| format!("{part:?} is not name=weight"))?;
        out.push((Journey::parse(name.trim())?, weight.trim().parse().with_context(|| format!("weight of {name}"))?));
    }
    if out.iter().map(|(_, w)| w).sum::<u32>() == 0 {
        bail!("the mix has no weight");
    }
    Ok(out)
}

fn pick(mix: &[(Journey, u32)]) -> Journey {
    let total: u32 = mix.iter().map(|(_, w)| w).sum();
    let mut roll = rand::rng().random_range(0..total);
    for (journey, weight) in mix {
        if roll < *weight {
            return *journey;
        }
        roll -= weight;
    }
    mix[0].0
}

fn check_loopback(target: &str) -> anyhow::Result<()> {
    let url = url::Url::parse(target).context("--target is not a URL")?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    if !loopback {
        bail!("keel-load only targets loopback addresses (127.0.0.0/8, ::1, localhost), not {target}");
    }
    Ok(())
}

async fn discover(http: &reqwest::Client, base: &str, admin_key: Option<&str>) -> anyhow::Result<Catalog> {
    let mut catalog = Catalog { handles: Vec::new(), variants: Vec::new(), words: Vec::new() };
    let mut cursor: Option<String> = None;
    while catalog.handles.len() < 2000 {
        let mut url = format!("{base}/v1/store/products?limit=100");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = http.get(&url).send().await?.error_for_status()?.json().await?;
        for product in page["data"].as_array().into_iter().flatten() {
            catalog.handles.push(product["handle"].as_str().unwrap_or_default().to_string());
            for word in product["title"].as_str().unwrap_or_default().split_whitespace() {
                let word = word.to_lowercase();
                if word.len() >= 4 && word.chars().all(char::is_alphanumeric) && !catalog.words.contains(&word) {
                    catalog.words.push(word);
                }
            }
            let priced = |v: &&Value| v["prices"].as_array().is_some_and(|p| p.iter().any(|p| p["currency"] == "USD"));
            if let Some(variant) = product["variants"].as_array().and_then(|vs| vs.iter().find(priced)) {
                catalog.variants.push(variant["id"].as_str().unwrap_or_default().to_string());
            }
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    if catalog.handles.is_empty() || catalog.variants.is_empty() {
        bail!("the store has no published products with USD prices to shop for");
    }
    if let Some(key) = admin_key {
        for variant in catalog.variants.iter().take(50) {
            http.put(format!("{base}/v1/admin/variants/{variant}/inventory"))
                .bearer_auth(key)
                .json(&json!({"on_hand": 10_000_000}))
                .send()
                .await?
                .error_for_status()
                .context("topping up stock (is the admin key valid?)")?;
        }
        catalog.variants.truncate(50);
    }
    Ok(catalog)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    for target in &args.target {
        check_loopback(target)?;
    }
    // The workspace builds reqwest without a default TLS provider (one TLS stack: rustls with ring).
    let _ = rustls::crypto::ring::default_provider().install_default();
    if args.duration == 0 || args.duration > 600 {
        bail!("--duration must be 1 to 600 seconds");
    }
    let mix = parse_mix(&args.mix)?;
    let bases: Vec<String> = args.target.iter().map(|t| t.trim_end_matches('/').to_string()).collect();
    let base = bases.first().cloned().context("--target is empty")?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(1024).timeout(Duration::from_secs(30)).build()?;
    let catalog = discover(&http, &base, args.admin_key.as_deref()).await?;
    eprintln!(
        "catalog: {} products, {} variants to buy, {} search words; running {} s",
        catalog.handles.len(),
        catalog.variants.len(),
        catalog.words.len(),
        args.duration
    );
    let started = Instant::now();
    let shared = Arc::new(Shared {
        http,
        bases,
        next_base: AtomicU64::new(0),
        catalog,
        stats: Mutex::default(),
        requests: AtomicU64::new(0),
        max_requests: args.max_requests,
        deadline: started + Duration::from_secs(args.duration),
        checkouts: AtomicU64::new(0),
        serial: AtomicU64::new(0),
    });
    let mode = match (args.users, args.rate) {
        (_, Some(rate)) => {
            if !(rate > 0.0 && rate <= 100_000.0) {
                bail!("--rate must be above 0 and at most 100000 journeys/s");
            }
            let interval = Duration::from_secs_f64(1.0 / rate);
            let mut tasks = tokio::task::JoinSet::new();
            let mut due = Instant::now();
            while !shared.done() {
                tokio::time::sleep_until(due.into()).await;
                let journey = pick(&mix);
                let s = shared.clone();
                let at = due;
                tasks.spawn(async move { s.journey(journey, Some(at)).await });
                due += interval;
                while tasks.try_join_next().is_some() {}
            }
            while tasks.join_next().await.is_some() {}
            format!("open loop, {rate} journeys/s")
        }
        (users, None) => {
            let users = users.unwrap_or(32).clamp(1, 10_000);
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..users {
                let s = shared.clone();
                let mix = mix.clone();
                tasks.spawn(async move {
                    while !s.done() {
                        s.journey(pick(&mix), None).await;
                    }
                });
            }
            while tasks.join_next().await.is_some() {}
            format!("closed loop, {users} users")
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    report(&args, &shared, &mode, elapsed)
}

fn report(args: &Args, shared: &Shared, mode: &str, elapsed: f64) -> anyhow::Result<()> {
    let stats = shared.stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{mode}, {elapsed:.1} s{}",
        if args.label.is_empty() { String::new() } else { format!(", {}", args.label) }
    );
    println!();
    println!("| step | requests | errors | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut rows = Vec::new();
    let mut total = 0;
    for (name, step) in &stats.steps {
        let h = &step.latency;
        let n = h.len();
        total += n;
        println!(
            "| {name} | {n} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            step.errors,
            n as f64 / elapsed,
            ms(h, 0.5),
            ms(h, 0.9),
            ms(h, 0.99),
            ms(h, 0.999),
            h.max() as f64 / 1000.0
        );
        rows.push(json!({"step": name, "requests": n, "errors": step.errors, "rps": n as f64 / elapsed,
            "p50_ms": ms(h, 0.5), "p90_ms": ms(h, 0.9), "p99_ms": ms(h, 0.99), "p999_ms": ms(h, 0.999),
            "max_ms": h.max() as f64 / 1000.0, "first_error": step.first_error}));
    }
    let checkouts = shared.checkouts.load(Ordering::Relaxed);
    println!();
    println!(
        "{total} successful requests ({:.1}/s), {checkouts} checkouts ({:.2}/s)",
        total as f64 / elapsed,
        checkouts as f64 / elapsed
    );
    for (name, step) in &stats.steps {
        if let Some(e) = &step.first_error {
            println!("first {name} error: {e}");
        }
    }
    if let Some(path) = &args.json {
        let doc = json!({"mode": mode, "label": args.label, "seconds": elapsed, "mix": args.mix,
            "requests": total, "checkouts": checkouts, "checkouts_per_s": checkouts as f64 / elapsed, "steps": rows});
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets() {
        assert!(check_loopback("http://127.0.0.1:8080").is_ok());
        assert!(check_loopback("http://localhost:1").is_ok());
        assert!(check_loopback("http://[::1]:8080").is_ok());
        assert!(check_loopback("http://10.0.0.1:8080").is_err());
        assert!(check_loopback("https://example.com").is_err());
    }

    #[test]
    fn a_mix_parses_and_picks_by_weight() {
        let mix = parse_mix("browse=3,checkout=0").unwrap();
        assert!((0..100).all(|_| pick(&mix) == Journey::Browse));
        assert!(parse_mix("browse=0").is_err());
        assert!(parse_mix("fly=1").is_err());
        assert!(parse_mix("browse").is_err());
    }
}

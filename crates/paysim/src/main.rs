//! `paysim`: the payment provider simulator as its own process.
//!
//! ```sh
//! paysim --addr 127.0.0.1:12111 --webhook-url http://127.0.0.1:8080/v1/payments/paysim/webhook
//! ```

use clap::Parser;
use std::time::Duration;

#[derive(Parser)]
#[command(version, about = "A local simulator of a card payment provider's HTTP API")]
struct Args {
    /// Where to listen (loopback by default).
    #[arg(long, env = "PAYSIM_ADDR", default_value = "127.0.0.1:12111")]
    addr: String,
    /// The key clients send as `Authorization: Bearer …`.
    #[arg(long, env = "PAYSIM_SECRET_KEY", default_value = "sk_test_paysim")]
    secret_key: String,
    /// Where events are POSTed (none: no webhooks).
    #[arg(long, env = "PAYSIM_WEBHOOK_URL")]
    webhook_url: Option<String>,
    /// The key webhook signatures are made with.
    #[arg(long, env = "PAYSIM_WEBHOOK_SECRET", default_value = "whsec_paysim")]
    webhook_secret: String,
    /// Milliseconds added to every API call.
    #[arg(long, env = "PAYSIM_LATENCY_MS", default_value_t = 0)]
    latency_ms: u64,
    /// The share (0 to 1) of API calls answered 503.
    #[arg(long, env = "PAYSIM_FAILURE_RATE", default_value_t = 0.0)]
    failure_rate: f64,
    /// How long `tok_async` payments stay processing, in milliseconds.
    #[arg(long, env = "PAYSIM_ASYNC_DELAY_MS", default_value_t = 200)]
    async_delay_ms: u64,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(&args.addr).await?;
    eprintln!("paysim listening on http://{}", listener.local_addr()?);
    let config = paysim::Config {
        secret_key: args.secret_key,
        webhook_url: args.webhook_url,
        webhook_secret: args.webhook_secret,
        latency: Duration::from_millis(args.latency_ms),
        failure_rate: args.failure_rate,
        async_delay: Duration::from_millis(args.async_delay_ms),
    };
    paysim::serve(listener, config).await
}

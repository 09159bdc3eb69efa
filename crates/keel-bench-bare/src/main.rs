//! The baseline of Keel's HTTP benchmarks: a bare axum server that answers every GET with the
//! bytes of one file, as `application/json`. Measured beside Keel on the same machine in the same
//! run, it shows what the HTTP stack alone costs for a body of the same size.
//!
//! Usage: `keel-bench-bare ADDR FILE`

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(file)) = (args.next(), args.next()) else {
        eprintln!("usage: keel-bench-bare ADDR FILE");
        std::process::exit(2);
    };
    let body: &'static [u8] = Box::leak(std::fs::read(&file)?.into_boxed_slice());
    let app = Router::new()
        .fallback(get(move || async move { ([(header::CONTENT_TYPE, "application/json")], body).into_response() }));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("bare server on {addr}, {} byte body", body.len());
    axum::serve(listener, app).await?;
    Ok(())
}

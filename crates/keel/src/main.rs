//! `keel`: the command line. Serving is the default; the other subcommands run one task and exit.

use anyhow::Context;
use clap::{Parser, Subcommand};
use keel::config::Config;
use keel::{app, telemetry};
use keel_services::demo::SeedProgress;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "keel", version, about = "Keel: a headless commerce backend")]
struct Cli {
    /// A TOML configuration file (default: ./keel.toml if present). KEEL_* variables override it.
    #[arg(long, global = true, env = "KEEL_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default): migrate, seed an empty database with the demo catalog, serve.
    Serve {
        /// `all` (API and worker, the default), `api`, or `worker`.
        #[arg(long, value_enum, default_value = "all", env = "KEEL_ROLE")]
        role: app::Role,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Fill the database with data.
    #[command(group = clap::ArgGroup::new("what").required(true).multiple(true).args(["demo", "products"]))]
    Seed {
        /// The demo catalog (only into an empty catalog).
        #[arg(long)]
        demo: bool,
        /// Add this many generated products (five variants each) to the catalog, after the demo
        /// catalog if the database is empty: a large catalog to measure Keel with.
        #[arg(long, value_name = "N")]
        products: Option<usize>,
    },
    /// Manage admin API keys.
    Apikey {
        #[command(subcommand)]
        command: ApikeyCommand,
    },
    /// Manage staff accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage this node's search index.
    Search {
        #[command(subcommand)]
        command: SearchCommand,
    },
    /// Ask this node's own HTTP server (at KEEL_ADDR, plain HTTP) whether it is healthy: exits 0
    /// when PATH answers 200. For container health checks, where there is no curl.
    Probe {
        #[arg(long, default_value = "/healthz")]
        path: String,
        /// The address to ask instead of KEEL_ADDR: a worker answers on KEEL_METRICS_ADDR.
        #[arg(long)]
        addr: Option<std::net::SocketAddr>,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Print the GraphQL schemas (store and admin) as SDL.
    GraphqlSchema,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a staff member (the first owner, typically) who signs in with email and password.
    Create {
        #[arg(long)]
        email: String,
        /// The password (visible to other local users in the process list; prefer --password-stdin).
        #[arg(long, conflicts_with = "password_stdin", required_unless_present = "password_stdin")]
        password: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// owner, admin, catalog_manager, order_manager, support, read_only, or a custom role.
        #[arg(long, default_value = "owner")]
        role: String,
        #[arg(long, default_value = "")]
        name: String,
    },
}

#[derive(Subcommand)]
enum SearchCommand {
    /// Rebuild the search index in the data directory from the database, showing progress. (A
    /// running node rebuilds its own index at start and then follows every change.)
    Reindex,
}

#[derive(Subcommand)]
enum ApikeyCommand {
    /// Create a key and print its secret (alone, on the last line). It is shown only once.
    Create {
        #[arg(long)]
        name: String,
        /// A permission such as products:write; repeat for more. None means all permissions.
        #[arg(long = "permission")]
        permissions: Vec<String>,
    },
}

fn main() -> anyhow::Result<()> {
    keel_platform::http::install_crypto();
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        println!("{}", keel_api::openapi().to_pretty_json()?);
        return Ok(());
    }
    if let Some(Command::GraphqlSchema) = cli.command {
        print!("{}", keel_api::graphql::sdl());
        return Ok(());
    }
    let config = Config::load(cli.config.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let telemetry = {
        let _inside = runtime.enter();
        telemetry::install(&config)
    };
    let result = runtime.block_on(run(cli.command.unwrap_or(Command::Serve { role: app::Role::All }), config));
    runtime.block_on(telemetry.shutdown());
    result
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve { role } => serve(config, role).await,
        Command::Migrate => {
            app::open(&config).await?;
            eprintln!("migrations applied ({} known)", keel_store::MIGRATION_COUNT);
            Ok(())
        }
        Command::Seed { demo: _, products } => {
            let services = app::open(&config).await?;
            match app::seed_if_empty(&services, print_progress).await? {
                Some(s) => eprintln!(
                    "\nseeded {} products, {} variants, {} categories, {} collections, {} stock locations",
                    s.products, s.variants, s.categories, s.collections, s.locations
                ),
                None if products.is_none() => eprintln!("the catalog already has products; demo seed skipped"),
                None => {}
            }
            if let Some(count) = products {
                let started = std::time::Instant::now();
                let s = keel_services::demo::seed_products(&services.db, count, bulk_progress()).await?;
                eprintln!(
                    "\nadded {} products, {} variants in {:.1} s",
                    s.products,
                    s.variants,
                    started.elapsed().as_secs_f64()
                );
            }
            Ok(())
        }
        Command::Apikey { command: ApikeyCommand::Create { name, permissions } } => {
            let services = app::open(&config).await?;
            let key = services.api_keys.create(&name, &permissions).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let grant = key.grant.to_names().join(", ");
            println!("created API key {} ({}) with permissions: {grant}", key.id, key.name);
            println!("store the secret now; it cannot be shown again:");
            println!("{}", key.secret);
            Ok(())
        }
        Command::User { command: UserCommand::Create { email, password, password_stdin, role, name } } => {
            let password = match password {
                Some(p) if !password_stdin => p,
                _ => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line).context("cannot read the password from stdin")?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            let services = app::open(&config).await?;
            let staff =
                services.staff.create(&email, &password, &name, &role).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("created staff member {} <{}> with role {}", staff.id, staff.email, staff.role);
            println!("sign in: POST /v1/admin/auth/token {{\"email\": \"{}\", \"password\": …}}", staff.email);
            Ok(())
        }
        Command::Search { command: SearchCommand::Reindex } => {
            let services = app::open(&config).await?;
            let started = std::time::Instant::now();
            let tty = std::io::stderr().is_terminal();
            let count = services
                .search
                .rebuild_in(config.search_dir(), move |done| {
                    if tty {
                        eprint!("\rindexing products: {done}");
                        let _ = std::io::stderr().flush();
                    } else {
                        eprintln!("indexing products: {done}");
                    }
                })
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!("\nsearch index rebuilt: {count} products in {:.1} s", started.elapsed().as_secs_f64());
            Ok(())
        }
        Command::Probe { path, addr } => probe(addr.map_or_else(|| config.socket_addr(), Ok)?, &path).await,
        Command::Openapi | Command::GraphqlSchema => unreachable!("handled before the runtime starts"),
    }
}

/// One plain HTTP/1.0 GET to this node's address (an unspecified IP asks loopback), within 3 s.
async fn probe(mut addr: std::net::SocketAddr, path: &str) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let ask = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes()).await?;
        let mut head = [0u8; 32];
        let n = stream.read(&mut head).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&head[..n]).to_string())
    };
    let head = tokio::time::timeout(std::time::Duration::from_secs(3), ask)
        .await
        .context("no answer within 3 s")?
        .with_context(|| format!("cannot reach {addr}"))?;
    let status = head.split_whitespace().nth(1).unwrap_or_default();
    anyhow::ensure!(status == "200", "{path} answered {status:?}");
    println!("{path}: 200");
    Ok(())
}

async fn serve(config: Config, role: app::Role) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let services = app::open(&config).await?;
    if config.demo_seed
        && let Some(s) = app::seed_if_empty(&services, print_progress).await?
    {
        eprintln!("\nfresh database: seeded the demo catalog ({} products, {} variants)", s.products, s.variants);
    }
    if role == app::Role::Worker {
        tracing::info!(database = services.db.engine().as_str(), "keel worker is running");
        eprintln!("Keel worker is running (no HTTP); stop it with Ctrl-C or SIGTERM");
        return app::run(role, None, services, &config, app::shutdown_signal()).await;
    }
    let addr = config.socket_addr()?;
    let listener =
        tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} (KEEL_ADDR)"))?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, database = services.db.engine().as_str(), startup_ms = started.elapsed().as_millis() as u64, "keel is serving");
    let scheme = if config.tls_cert.is_some() { "https" } else { "http" };
    eprintln!("Keel is serving on {scheme}://{local}");
    eprintln!("  store API  {scheme}://{local}/v1/store/products");
    eprintln!("  API docs   {scheme}://{local}/docs");
    app::run(role, Some(listener), services, &config, app::shutdown_signal()).await
}

/// Progress of `seed --products`: a line redrawn on a terminal, a line per tenth otherwise.
fn bulk_progress() -> impl FnMut(SeedProgress) {
    let tty = std::io::stderr().is_terminal();
    let mut tenths = 0;
    move |p| {
        if let SeedProgress::Products { done, total } = p {
            let now = done * 10 / total.max(1);
            if tty {
                eprint!("\radding products: {done}/{total} ({}%)", done * 100 / total.max(1));
                let _ = std::io::stderr().flush();
            } else if now != tenths || done == total {
                eprintln!("adding products: {done}/{total}");
            }
            tenths = now;
        }
    }
}

fn print_progress(p: SeedProgress) {
    let tty = std::io::stderr().is_terminal();
    match p {
        SeedProgress::Products { done, total } if tty => {
            eprint!("\rseeding the demo catalog: {done}/{total} products");
            let _ = std::io::stderr().flush();
        }
        SeedProgress::Products { done, total } if done % 10 == 0 || done == total => {
            eprintln!("seeding the demo catalog: {done}/{total} products");
        }
        SeedProgress::Products { .. } => {}
        SeedProgress::Committing => eprint!("{}committing…", if tty { "\n" } else { "" }),
    }
}

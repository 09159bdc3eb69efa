//! Keel scaled out: two api and two worker processes of the real binary against one PostgreSQL,
//! Redis and NATS. Requests spread over both api nodes; an admin change made on one is served by
//! the other within a second; checkouts spread over both never oversell; an api node killed with
//! SIGKILL while shoppers are spread over both leaves the other serving, with no 5xx and no failed
//! request but those in flight on the dead node; a worker killed leaves the jobs to the other.
//! (A worker killed in the middle of a job, with another running beside it, is `binary.rs`'s
//! `a_killed_workers_job_is_finished_by_another_worker`.)

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::process::{Lines, keel};
use serde_json::{Value, json};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

struct Node {
    child: Child,
    /// Read until the end: a closed pipe would kill the process on its next line.
    _output: Lines,
    port: Option<u16>,
}

impl Node {
    fn start(env: &[(&str, String)], role: &str, dir: &std::path::Path) -> Node {
        let mut command = keel();
        command.current_dir(dir).args(["serve", "--role", role]).stdout(Stdio::null()).stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let mut output = Lines::of(child.stderr.take().unwrap());
        let port = if role == "api" {
            Some(output.serving_port())
        } else {
            assert!(output.wait_for("worker is running", Duration::from_secs(60)), "{:?}", output.seen);
            None
        };
        Node { child, _output: output, port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port.unwrap())
    }

    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the shoppers saw while node A was killed.
#[derive(Default)]
struct Tally {
    /// Answers other than 5xx, from A and from B.
    answered: [AtomicUsize; 2],
    b_after_kill: AtomicUsize,
    server_errors: AtomicUsize,
    /// Requests to A that failed at the connection once A was being killed.
    lost_on_a: AtomicUsize,
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let response = client.get(url).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_api_and_two_worker_processes_share_one_postgres_redis_and_nats() {
    let Some(nats) = common::nats_url().await else { return };
    let Some((redis, prefix)) = common::redis().await else { return };
    let Some(mut db) = common::Database::create(common::Backend::Postgres).await else { return };
    let secret_key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    db.config.secret_key = Some(secret_key.to_string());
    let (services, paysim_url) = common::shop::shop_with_paysim(&mut db).await;
    let stream = format!("KEEL_TEST_{}", uuid::Uuid::new_v4().simple());
    let database_url = db.config.database_url.clone().unwrap();
    let cleanup = async {
        common::drop_stream(&nats, &stream).await;
        common::drop_redis_keys(&redis, &prefix).await;
        db.drop_now().await;
    };
    let test = cluster(
        services,
        database_url.clone(),
        [
            ("KEEL_DATABASE_URL", database_url),
            ("KEEL_DEMO_SEED", "false".into()),
            ("KEEL_PAYSIM_URL", paysim_url),
            ("KEEL_SECRET_KEY", secret_key.into()),
            ("KEEL_REDIS_URL", redis.clone()),
            ("KEEL_REDIS_PREFIX", prefix.clone()),
            ("KEEL_NATS_URL", nats.clone()),
            ("KEEL_NATS_STREAM", stream.clone()),
            ("KEEL_NATS_SUBJECT_PREFIX", format!("test.{stream}")),
            ("KEEL_WORKER_LEASE_SECS", "3".into()),
            ("KEEL_RATE_LIMITS", "false".into()),
            ("KEEL_ADDR", "127.0.0.1:0".into()),
        ],
    );
    common::then_clean_up(test, cleanup).await;
}

async fn cluster(services: keel_services::Services, database_url: String, env: [(&'static str, String); 12]) {
    let admin_key = services.api_keys.create("cluster", &[]).await.unwrap().secret;
    let dir = tempfile::tempdir().unwrap();
    let mut a = Node::start(&env, "api", dir.path());
    let b = Node::start(&env, "api", dir.path());
    let mut first_worker = Node::start(&env, "worker", dir.path());
    let _second_worker = Node::start(&env, "worker", dir.path());
    let client = reqwest::Client::new();

    // Both api nodes answer, alike.
    let (status_a, list_a) = get(&client, &a.url("/v1/store/products?limit=5")).await;
    let (status_b, list_b) = get(&client, &b.url("/v1/store/products?limit=5")).await;
    assert_eq!((status_a, status_b), (200, 200));
    assert_eq!(list_a["data"], list_b["data"]);
    let id = list_a["data"][0]["id"].as_str().unwrap().to_string();

    // B has the product cached; a change made through A reaches B within a second.
    let detail = b.url(&format!("/v1/store/products/{id}"));
    for _ in 0..2 {
        assert_eq!(get(&client, &detail).await.0, 200);
    }
    let changed = client
        .patch(a.url(&format!("/v1/admin/products/{id}")))
        .bearer_auth(&admin_key)
        .json(&json!({"title": "Changed on A"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let since = Instant::now();
    loop {
        let (status, product) = get(&client, &detail).await;
        assert_eq!(status, 200);
        if product["title"] == "Changed on A" {
            break;
        }
        assert!(since.elapsed() < Duration::from_secs(5), "node B never served the change");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = since.elapsed();
    assert!(took < Duration::from_secs(1), "node B served the change after {took:?}");

    // One worker dies before the orders come: every job they make is left to the other.
    first_worker.kill();

    // Sixteen shoppers race for three units, checking out through both nodes.
    let variant = common::shop::variant_in_stock(&services, "CLUSTER-1", 3).await;
    let mut carts = Vec::new();
    for i in 0..16 {
        carts.push(common::shop::ready_cart(&services, variant, &format!("cluster{i}@example.com")).await);
    }
    let tasks: Vec<_> = carts
        .iter()
        .enumerate()
        .map(|(i, cart)| {
            let url = if i % 2 == 0 { &a } else { &b }.url(&format!("/v1/store/carts/{cart}/checkout"));
            let client = client.clone();
            tokio::spawn(async move {
                let res = client
                    .post(url)
                    .header("Idempotency-Key", "cluster")
                    .json(&json!({"payment": {"provider": "paysim", "token": "tok_visa"}}))
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                (status, res.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut placed = 0;
    for task in tasks {
        match task.await.unwrap() {
            (201, _) => placed += 1,
            (409, body) if body["code"] == "insufficient_stock" => {}
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(placed, 3, "exactly as many orders as units");
    let levels = services.inventory.inventory(variant).await.unwrap().levels;
    assert_eq!((levels.iter().map(|l| l.on_hand).sum::<i64>(), levels.iter().map(|l| l.reserved).sum::<i64>()), (0, 0));

    // Four shoppers browse through both nodes in turn, as a load balancer spreads them, while A is
    // killed outright. A request to A fails only at the connection (in flight, or the one that
    // finds A gone: the balancer then takes A out); no request anywhere gets a 5xx.
    let stop = Arc::new(AtomicBool::new(false));
    let killed = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let product = format!("/v1/store/products/{id}");
    let paths = ["/v1/store/products?limit=10", product.as_str(), "/v1/store/categories"];
    let bases = [a.url(""), b.url("")];
    let shoppers: Vec<_> = (0..4)
        .map(|shopper| {
            let (stop, killed, tally, client) = (stop.clone(), killed.clone(), tally.clone(), client.clone());
            let urls: Vec<[String; 2]> =
                paths.iter().map(|p| [format!("{}{p}", bases[0]), format!("{}{p}", bases[1])]).collect();
            tokio::spawn(async move {
                let mut a_out = false;
                let mut n = shopper;
                while !stop.load(Ordering::Relaxed) {
                    let node = if a_out { 1 } else { n % 2 };
                    let after_kill = killed.load(Ordering::Relaxed);
                    let answer = client.get(&urls[n % urls.len()][node]).send().await;
                    n += 1;
                    match answer {
                        Ok(response) if response.status().is_server_error() => {
                            tally.server_errors.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => {
                            tally.answered[node].fetch_add(1, Ordering::Relaxed);
                            if after_kill && node == 1 {
                                tally.b_after_kill.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(_) if node == 0 && killed.load(Ordering::Relaxed) => {
                            tally.lost_on_a.fetch_add(1, Ordering::Relaxed);
                            a_out = true;
                        }
                        Err(e) => panic!("a request to a live node failed: {e}"),
                    }
                }
            })
        })
        .collect();
    let until = Instant::now() + Duration::from_secs(30);
    while tally.answered[0].load(Ordering::Relaxed) < 20 || tally.answered[1].load(Ordering::Relaxed) < 20 {
        assert!(Instant::now() < until, "the shoppers are not served by both nodes");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    killed.store(true, Ordering::Relaxed);
    a.kill();
    let dead = client.get(a.url("/v1/store/products")).send().await;
    assert!(dead.is_err(), "the killed node answers nothing: {dead:?}");
    while tally.b_after_kill.load(Ordering::Relaxed) < 100 {
        assert!(Instant::now() < until, "node B stopped answering");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for shopper in shoppers {
        shopper.await.unwrap();
    }
    assert_eq!(tally.server_errors.load(Ordering::Relaxed), 0, "a request was answered 5xx");
    let lost = tally.lost_on_a.load(Ordering::Relaxed);
    assert_eq!(lost, 4, "each shopper found A gone once, at the connection (never a 5xx), then kept to B");
    let (status, cart) = {
        let response = client.post(b.url("/v1/store/carts")).json(&json!({"currency": "USD"})).send().await.unwrap();
        (response.status().as_u16(), response.json::<Value>().await.unwrap())
    };
    assert_eq!(status, 201, "B takes writes too: {cart}");

    // Every job the orders made (mail, invoices, webhooks) finishes on the surviving worker.
    let pool = sqlx::PgPool::connect(&database_url).await.unwrap();
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool).await.unwrap() }
    };
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        // (Maintenance jobs are scheduled ahead; they are not the orders' work.)
        let open =
            count("SELECT count(*) FROM jobs WHERE state IN ('pending', 'running') AND queue <> 'maintenance'").await;
        let dead = count("SELECT count(*) FROM jobs WHERE state = 'dead'").await;
        let mailed = count("SELECT count(*) FROM jobs WHERE queue = 'mail' AND state = 'completed'").await;
        assert_eq!(dead, 0, "no job died");
        if open == 0 && mailed >= 3 {
            break;
        }
        assert!(Instant::now() < until, "jobs never finished on the surviving worker: {open} open, {mailed} mailed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pool.close().await;

    drop((b, first_worker, _second_worker));
    services.db.close().await;
}

//! Servers of a test's own — a NATS or Redis process on a free port, with its own store — so a
//! test can stop and restart one without touching the machine's shared servers.

use std::time::{Duration, Instant};

pub struct Server {
    kind: Kind,
    binary: &'static str,
    child: Option<std::process::Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

#[derive(Clone, Copy)]
enum Kind {
    Nats,
    Redis,
}

impl Server {
    /// A NATS server with JetStream, or `None` (outside CI) when nats-server is not installed.
    pub async fn nats() -> Option<Server> {
        Self::start(Kind::Nats, &["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"]).await
    }

    /// A Redis server keeping nothing on disk, or `None` (outside CI) when it is not installed.
    pub async fn redis() -> Option<Server> {
        Self::start(Kind::Redis, &["/usr/bin/redis-server", "/usr/local/bin/redis-server"]).await
    }

    async fn start(kind: Kind, paths: &[&'static str]) -> Option<Server> {
        let Some(binary) = paths.iter().copied().find(|p| std::path::Path::new(p).exists()) else {
            let name = paths[0].rsplit('/').next().unwrap_or_default();
            assert!(!super::in_ci(), "CI=true but {name} is not installed");
            eprintln!("suite NOT RUN: {name} is not installed");
            return None;
        };
        let port = super::process::free_port();
        let mut server = Server { kind, binary, child: None, port, dir: tempfile::tempdir().unwrap() };
        server.spawn().await;
        Some(server)
    }

    /// Starts the process (again, on the same port and store after [`Server::kill`]).
    pub async fn spawn(&mut self) {
        let port = self.port.to_string();
        let mut command = std::process::Command::new(self.binary);
        match self.kind {
            Kind::Nats => command.args(["-a", "127.0.0.1", "-p", &port, "-js", "-sd"]).arg(self.dir.path()),
            Kind::Redis => command
                .args(["--bind", "127.0.0.1", "--port", &port, "--save", "", "--appendonly", "no", "--dir"])
                .arg(self.dir.path()),
        };
        let child = command.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(Instant::now() < until, "{} did not start", self.binary);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills the process (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    pub fn url(&self) -> String {
        match self.kind {
            Kind::Nats => format!("nats://127.0.0.1:{}", self.port),
            Kind::Redis => format!("redis://127.0.0.1:{}", self.port),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

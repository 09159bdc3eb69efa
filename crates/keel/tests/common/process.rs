//! The real `keel` binary as a child process: a clean environment, and its output read line by
//! line on a thread so a test can wait for a line with a deadline.

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::time::{Duration, Instant};

/// The `keel` binary, with none of this process's `KEEL_*` variables.
pub fn keel() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keel"));
    // Only the variables a test sets may reach the binary.
    for (key, _) in std::env::vars() {
        if key.starts_with("KEEL_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// An admin API key with `permission`, made by `keel apikey create` on the database of a node
/// run in `dir`.
pub fn api_key(dir: &std::path::Path, permission: &str) -> String {
    let made = keel()
        .current_dir(dir)
        .args(["apikey", "create", "--name", "test", "--permission", permission])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    String::from_utf8(made.stdout).unwrap().lines().last().unwrap().trim().to_string()
}

/// A child process killed (SIGKILL) and reaped when dropped, so a failing test leaves no Keel
/// running behind it.
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Collects a child's output lines on a thread, so a test can wait for a line with a deadline.
pub struct Lines {
    rx: std::sync::mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Lines {
    pub fn of(stream: impl std::io::Read + Send + 'static) -> Lines {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines { rx, seen: Vec::new() }
    }

    /// Waits until a line containing `needle` arrives, or the deadline passes.
    pub fn wait_for(&mut self, needle: &str, deadline: Duration) -> bool {
        self.wait_until(|line| line.contains(needle), deadline)
    }

    /// Waits until a line for which `hit` holds has arrived, or the deadline passes.
    pub fn wait_until(&mut self, hit: impl Fn(&str) -> bool, deadline: Duration) -> bool {
        let until = Instant::now() + deadline;
        if self.seen.iter().any(|l| hit(l)) {
            return true;
        }
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    let found = hit(&line);
                    self.seen.push(line);
                    if found {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
        false
    }

    /// The port from the "Keel is serving on …" line (after waiting for it): nodes bind port 0,
    /// so tests running side by side never race for a free port.
    pub fn serving_port(&mut self) -> u16 {
        assert!(self.wait_for("Keel is serving on", Duration::from_secs(60)), "keel did not start: {:?}", self.seen);
        let line = self.seen.iter().find(|l| l.contains("Keel is serving on")).unwrap();
        line.rsplit(':').next().unwrap().trim().parse().unwrap()
    }

    /// Everything the stream printed until it closed.
    pub fn rest(mut self) -> Vec<String> {
        self.seen.extend(self.rx.iter());
        self.seen
    }
}

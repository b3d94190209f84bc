//! A server child process on a free loopback port, killed on drop.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const READY_WITHIN: Duration = Duration::from_secs(60);
const PORT_ATTEMPTS: usize = 3;

pub(crate) struct ServerProcess {
    child: Child,
    pub port: u16,
    log: tempfile::NamedTempFile,
}

impl ServerProcess {
    /// Starts `command(port)` until one listens on its port within the time limit. A port taken
    /// between choosing and binding makes the server exit, and another port is tried.
    pub fn start(name: &str, mut command: impl FnMut(u16) -> Command) -> Self {
        let mut failures = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let log = tempfile::NamedTempFile::new().expect("server log file");
            let mut cmd = command(port);
            cmd.stdin(Stdio::null())
                .stdout(log.reopen().expect("server log"))
                .stderr(log.reopen().expect("server log"));
            let child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("starting {name}: {e}"));
            let mut server = ServerProcess { child, port, log };
            match server.wait_ready() {
                Ok(()) => return server,
                Err(why) => failures.push(format!("port {port}: {why}")),
            }
        }
        panic!("{name} did not start:\n{}", failures.join("\n"));
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_WITHIN;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited with {status}: {}", self.log_text()));
            }
            if TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "not listening after {READY_WITHIN:?}: {}",
            self.log_text()
        ))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("binding a free loopback port")
        .port()
}

/// Runs one request future to completion on a private runtime, from sync or async callers alike.
pub(crate) fn block_on<F: std::future::Future + Send>(future: F) -> F::Output
where
    F::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime")
                    .block_on(future)
            })
            .join()
            .expect("request thread")
    })
}

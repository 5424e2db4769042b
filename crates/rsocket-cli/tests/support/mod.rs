//! Test support: run the real `rsocket` binary, as a server and as a client, with deadlines.

#![allow(dead_code)] // each test binary uses a different part

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_rsocket");

/// How long any one command may run.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A free local port (bound, then released).
pub fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local address")
}

/// `rsocket serve` on free ports (RSocket TCP and WebSocket only), killed on drop.
pub struct Server {
    child: Child,
    /// RSocket over TCP.
    pub tcp: SocketAddr,
    /// RSocket over WebSocket (path /rsocket).
    pub ws: SocketAddr,
}

impl Server {
    /// Starts a server and waits until both listeners accept connections.
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    /// Starts a server with extra `serve` options.
    pub fn start_with(extra: &[&str]) -> Server {
        for _attempt in 0..5 {
            let (tcp, ws) = (free_addr(), free_addr());
            let mut child = Command::new(BIN)
                .args(["serve", "--tcp", &tcp.to_string(), "--ws", &ws.to_string()])
                .args(["--wamp-ws", "off", "--wamp-rawsocket", "off"])
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn rsocket serve");
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                let up = |a: &SocketAddr| {
                    TcpStream::connect_timeout(a, Duration::from_millis(200)).is_ok()
                };
                if up(&tcp) && up(&ws) {
                    return Server { child, tcp, ws };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // a port was taken meanwhile: try others
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("rsocket serve did not start listening in time");
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("rsocket serve could not start after 5 attempts");
    }

    /// `tcp://127.0.0.1:PORT`.
    pub fn tcp_uri(&self) -> String {
        format!("tcp://{}", self.tcp)
    }

    /// `ws://127.0.0.1:PORT/rsocket`.
    pub fn ws_uri(&self) -> String {
        format!("ws://{}/rsocket", self.ws)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a finished command did.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 if killed by a signal).
    pub code: i32,
    /// Stdout, raw.
    pub stdout_bytes: Vec<u8>,
    /// Stdout as text (lossy).
    pub stdout: String,
    /// Stderr as text (lossy).
    pub stderr: String,
    /// How long it ran.
    pub elapsed: Duration,
}

/// Runs `rsocket ARGS` with empty stdin.
pub fn rsocket(args: &[&str]) -> Run {
    rsocket_with_stdin(args, b"")
}

/// Runs `rsocket ARGS` feeding `input` on stdin (then EOF), within [`DEADLINE`].
pub fn rsocket_with_stdin(args: &[&str], input: &[u8]) -> Run {
    let start = Instant::now();
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rsocket");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&input);
        // Dropping stdin closes it: EOF.
    });
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_reader = thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let err_reader = thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for rsocket") {
            break s;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rsocket {args:?} did not finish within {DEADLINE:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    let _ = writer.join();
    let stdout_bytes = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout_bytes).into_owned(),
        stdout_bytes,
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        elapsed,
    }
}

/// A path for a temporary file unique to this process and `name`; removed on drop.
pub struct TempFile(pub PathBuf);

impl TempFile {
    /// A new path (the file is not created).
    pub fn new(name: &str) -> TempFile {
        TempFile(
            std::env::temp_dir().join(format!("rsocket-cli-test-{}-{name}", std::process::id())),
        )
    }

    /// The path as text.
    pub fn path(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

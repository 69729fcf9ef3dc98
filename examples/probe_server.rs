//! A tiny loopback server used by the example manifests and the integration tests as a
//! stand-in for a dev server: it listens on 127.0.0.1, answers every HTTP request with
//! the status code read from a file (so a test can make it unhealthy and healthy again),
//! and can start late or announce itself.
//!
//! probe_server --port N [--status-file F] [--delay-ms MS] [--ready-file F] [--say TEXT]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn main() {
    let mut port = 0u16;
    let mut status_file = None;
    let mut delay_ms = 0u64;
    let mut ready_file = None;
    let mut say = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--port" => port = v.parse().expect("--port N"),
            "--status-file" => status_file = Some(v),
            "--delay-ms" => delay_ms = v.parse().expect("--delay-ms MS"),
            "--ready-file" => ready_file = Some(v),
            "--say" => say = Some(v),
            other => panic!("unknown argument {other}"),
        }
    }
    std::thread::sleep(Duration::from_millis(delay_ms));
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let port = listener.local_addr().expect("addr").port();
    if let Some(f) = ready_file {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        std::fs::write(f, nanos.to_string()).expect("ready file");
    }
    println!(
        "{}",
        say.unwrap_or_else(|| format!("listening on 127.0.0.1:{port}"))
    );
    for stream in listener.incoming() {
        let Ok(mut s) = stream else { continue };
        let status = status_file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .and_then(|c| c.trim().parse::<u16>().ok())
            .unwrap_or(200);
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 2048];
        let _ = s.read(&mut buf);
        let body = format!("status {status}\n");
        let _ = write!(
            s,
            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
    }
}

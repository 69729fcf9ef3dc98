//! Benchmark helper, built by `bench.py` with `rustc -O` (no Cargo, no dependencies).
//!
//! `gen lines N [SECRET_EVERY]`: print N lines of 80 bytes (79 + newline), each with its
//! sequence number so a checker can prove every line arrived intact and in order; with
//! SECRET_EVERY > 0, every SECRET_EVERY-th line carries a Stripe-shaped secret that a
//! redacting supervisor must hide.
//! `gen listen PORT`: accept and close TCP connections on 127.0.0.1:PORT forever (a
//! cheap target for tcp health checks).

use std::io::{self, Write};

pub const SECRET: &str = "sk_live_0123456789abcdefghijABCD";

fn lines(n: u64, secret_every: u64) -> io::Result<()> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let filler = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
    let mut line = String::with_capacity(96);
    for i in 0..n {
        line.clear();
        if secret_every > 0 && i % secret_every == secret_every - 1 {
            line.push_str(&format!("line {i:010} key={SECRET} "));
        } else {
            line.push_str(&format!("line {i:010} "));
        }
        while line.len() < 79 {
            let room = 79 - line.len();
            line.push_str(&filler[..room.min(filler.len())]);
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    out.flush()
}

fn listen(port: u16) -> io::Result<()> {
    let l = std::net::TcpListener::bind(("127.0.0.1", port))?;
    for c in l.incoming() {
        drop(c);
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let num = |i: usize| args.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    let r = match args.get(1).map(String::as_str) {
        Some("lines") => lines(num(2), num(3)),
        Some("listen") => listen(num(2) as u16),
        _ => {
            eprintln!("usage: gen lines N [SECRET_EVERY] | gen listen PORT");
            std::process::exit(2);
        }
    };
    if let Err(e) = r {
        if e.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("gen: {e}");
            std::process::exit(1);
        }
    }
}

//! Health probes (docs/behaviour.md#health-checks): one check of a task's health, with a reason
//! a person can act on (HTTP status, timeout, connection refused, exit code). The `log`
//! probe is not polled: the output path reports the first matching line instead.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::Uri;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::manifest::Probe;
use crate::process::unix;

/// The result of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub ok: bool,
    /// e.g. `http 200 in 12ms`, `connection refused`, `timed out after 2s`, `exit code 1`.
    pub detail: String,
}

impl Verdict {
    fn ok(detail: String) -> Self {
        Verdict { ok: true, detail }
    }
    fn fail(detail: String) -> Self {
        Verdict { ok: false, detail }
    }
}

/// Run one probe with `timeout`. `Probe::Log` never reaches here.
pub async fn check(
    probe: &Probe,
    timeout: Duration,
    cwd: &Path,
    env: &[(String, String)],
) -> Verdict {
    let started = Instant::now();
    let result = match probe {
        Probe::Http(url) => tokio::time::timeout(timeout, http(url)).await,
        Probe::Tcp { host, port } => {
            tokio::time::timeout(timeout, tcp(host.as_deref(), *port)).await
        }
        // The command probe enforces its timeout itself: it must kill its process group.
        Probe::Cmd(cmd) => return command(cmd, cwd, env, timeout).await,
        Probe::Log(_) => return Verdict::fail("log probes are not polled".into()),
    };
    match result {
        Ok(mut v) => {
            if v.ok {
                v.detail = format!(
                    "{} in {}",
                    v.detail,
                    crate::clock::short_duration(started.elapsed())
                );
            }
            v
        }
        Err(_) => Verdict::fail(format!(
            "timed out after {}",
            crate::clock::short_duration(timeout)
        )),
    }
}

async fn tcp(host: Option<&str>, port: u16) -> Verdict {
    let candidates: Vec<String> = match host {
        Some(h) => vec![format!("{h}:{port}")],
        None => vec![format!("127.0.0.1:{port}"), format!("[::1]:{port}")],
    };
    let mut last = String::new();
    for addr in &candidates {
        match TcpStream::connect(addr.as_str()).await {
            Ok(_) => return Verdict::ok(format!("tcp {addr} open")),
            Err(e) => last = format!("tcp {addr}: {}", io_reason(&e)),
        }
    }
    Verdict::fail(last)
}

async fn http(url: &str) -> Verdict {
    let uri: Uri = match url.parse() {
        Ok(u) => u,
        Err(e) => return Verdict::fail(format!("bad url {url}: {e}")),
    };
    if uri.scheme_str() != Some("http") {
        return Verdict::fail(format!("only http:// probes are supported: {url}"));
    }
    let Some(host) = uri.host() else {
        return Verdict::fail(format!("no host in {url}"));
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(80);
    let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host.as_str(), port)).await {
        Ok(a) => a.collect(),
        Err(e) => return Verdict::fail(format!("cannot resolve {host}: {e}")),
    };
    let mut stream = None;
    let mut last = String::from("no address");
    for a in addrs {
        match TcpStream::connect(a).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = io_reason(&e),
        }
    }
    let Some(stream) = stream else {
        return Verdict::fail(last);
    };
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    {
        Ok(x) => x,
        Err(e) => return Verdict::fail(format!("http handshake failed: {e}")),
    };
    let driver = tokio::spawn(conn);
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or(host.as_str());
    let req = match hyper::Request::get(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::USER_AGENT, "bts-health")
        .body(Empty::<Bytes>::new())
    {
        Ok(r) => r,
        Err(e) => return Verdict::fail(format!("bad request for {url}: {e}")),
    };
    let verdict = match sender.send_request(req).await {
        Ok(res) => {
            let code = res.status().as_u16();
            let detail = format!("http {code}");
            if (200..400).contains(&code) {
                Verdict::ok(detail)
            } else {
                Verdict::fail(detail)
            }
        }
        Err(e) => Verdict::fail(format!("http request failed: {e}")),
    };
    driver.abort();
    verdict
}

async fn command(cmd: &str, cwd: &Path, env: &[(String, String)], timeout: Duration) -> Verdict {
    let mut c = tokio::process::Command::new("/bin/sh");
    c.arg("-c")
        .arg(cmd)
        .current_dir(cwd)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    // SAFETY: only async-signal-safe calls (signal, setrlimit) between fork and exec.
    unsafe {
        c.pre_exec(crate::process::unix::prepare_child);
    }
    let mut child = match c.spawn() {
        Ok(c) => c,
        Err(e) => return Verdict::fail(format!("cannot run `{cmd}`: {e}")),
    };
    let pgid = child.id().map(|p| p as i32);
    // The probe is a supervised process too: should this future be dropped (its run
    // ended, the supervisor stops), its group is killed. Its leader is not reaped then,
    // so the group id cannot have been reused.
    let mut guard = GroupGuard(pgid);
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(st)) => {
            guard.0 = None;
            if let Some(pg) = pgid {
                // Anything the probe left behind in its group goes with it.
                let _ = unix::signal_group(pg, libc::SIGKILL);
            }
            match st.code() {
                Some(0) => Verdict::ok("cmd exit 0".into()),
                Some(c) => Verdict::fail(format!("cmd exit code {c}")),
                None => Verdict::fail("cmd killed by a signal".into()),
            }
        }
        Ok(Err(e)) => Verdict::fail(format!("cmd wait failed: {e}")),
        Err(_) => {
            if let Some(pg) = guard.0.take() {
                let _ = unix::signal_group(pg, libc::SIGKILL);
            }
            let _ = child.wait().await;
            Verdict::fail(format!(
                "cmd timed out after {}",
                crate::clock::short_duration(timeout)
            ))
        }
    }
}

/// Kills a process group when dropped, unless disarmed (its `Option` taken).
struct GroupGuard(Option<i32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pg) = self.0.take() {
            let _ = unix::signal_group(pg, libc::SIGKILL);
        }
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::TimedOut => "connection timed out".into(),
        _ => e.to_string(),
    }
}

/// Whether something accepts connections on `port` at 127.0.0.1 or ::1.
pub async fn port_bound(port: u16) -> bool {
    for addr in [format!("127.0.0.1:{port}"), format!("[::1]:{port}")] {
        let connect = TcpStream::connect(addr.as_str());
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(1), connect).await {
            return true;
        }
    }
    false
}

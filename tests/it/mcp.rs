//! `bts mcp` over stdio, driven by a test client speaking JSON-RPC: initialize, the tool
//! list with schemas, an ad-hoc server started, looked at, tailed and stopped, approve
//! with and without confirm, hundreds of bad calls that never kill the server, every
//! answer within 500 tokens — and the official Python SDK as a real client.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::*;

struct Client {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    next: u64,
}

impl Client {
    fn start(p: &Project) -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bts"))
            .arg("mcp")
            .current_dir(p.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut c = Client {
            child,
            stdin,
            lines: rx,
            next: 0,
        };
        let init = c.call(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}),
        );
        assert_eq!(init["result"]["serverInfo"]["name"], "bts", "{init}");
        c.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string());
        c
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Send a request and wait (up to 60 s) for its response.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        self.send(
            &json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string(),
        );
        self.response(id)
    }

    fn response(&mut self, id: u64) -> Value {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .expect("the server answers");
            let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if v["id"] == id {
                return v;
            }
        }
    }

    fn tool(&mut self, name: &str, args: Value) -> (bool, String, Value) {
        let r = self.call("tools/call", json!({"name": name, "arguments": args}));
        let res = &r["result"];
        let text = res["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let tokens = tiktoken_rs::o200k_base()
            .unwrap()
            .encode_with_special_tokens(&r.to_string())
            .len();
        assert!(tokens <= 500, "{name}: {tokens} tokens: {r}");
        (
            res["isError"] == true,
            text,
            res["structuredContent"].clone(),
        )
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn tools_are_listed_with_schemas() {
    let p = Project::new("tasks:\n  web:\n    cmd: exec sleep 300\n");
    let mut c = Client::start(&p);
    let list = c.call("tools/list", json!({}));
    let tools = list["result"]["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    for want in [
        "start",
        "status",
        "list",
        "stop",
        "restart",
        "tail",
        "archive_logs",
        "cleanup_zombies",
        "check",
        "approve",
        "wait",
    ] {
        assert!(names.contains(&want), "{want} missing: {names:?}");
    }
    let start = tools.iter().find(|t| t["name"] == "start").unwrap();
    assert_eq!(start["inputSchema"]["type"], "object");
    assert!(start["inputSchema"]["properties"]["cmd"]["description"].is_string());
    assert!(start["description"].as_str().unwrap().len() > 20);
}

#[test]
fn an_agent_starts_inspects_tails_and_stops_a_server() {
    let p = Project::new(
        "tasks:\n  migrate:\n    cmd: echo migrated > migrated.txt\n    destructive: true\n",
    );
    let _g = DaemonGuard { project: &p };
    let mut c = Client::start(&p);
    let port = free_port();
    let server = example_bin("probe_server").display().to_string();
    let (err, text, data) = c.tool(
        "start",
        json!({"name": "web", "cmd": server, "args": ["--port", port.to_string(), "--say", "listening"],
               "ports": [port], "health": {"http": format!("http://127.0.0.1:{port}/")}, "wait": true}),
    );
    assert!(!err, "{text}");
    assert!(text.contains("web: UP"), "{text}");
    assert_eq!(data["tasks"][0]["status"], "UP", "{data}");
    let (err, text, _) = c.tool("status", json!({}));
    assert!(
        !err && text.contains("web") && text.contains("UP"),
        "{text}"
    );
    let (err, text, data) = c.tool("status", json!({"name": "web"}));
    assert!(!err && text.contains("[TASK: web] UP"), "{text}");
    assert_eq!(data["tasks"][0]["task"], "web");
    let (err, text, _) = c.tool("tail", json!({"name": "web"}));
    assert!(
        !err && text.contains("listening") && text.contains("log: .bts/logs/web.log"),
        "{text}"
    );
    let (err, text, _) = c.tool("list", json!({}));
    assert!(!err && text.contains("web"), "{text}");
    // approve: refused without confirm, runs with it (migrate was BLOCKED at the start).
    let (err, text, _) = c.tool("approve", json!({"name": "migrate"}));
    assert!(err && text.contains("confirm: true"), "{text}");
    assert!(!p.file("migrated.txt").exists());
    let (err, text, _) = c.tool("approve", json!({"name": "migrate", "confirm": true}));
    assert!(!err, "{text}");
    assert!(eventually(Duration::from_secs(10), || p
        .file("migrated.txt")
        .exists()));
    let (err, text, _) = c.tool("stop", json!({"name": "web"}));
    assert!(!err, "{text}");
    assert!(
        text.contains("web: stopped") && text.contains("log archived to"),
        "{text}"
    );
    let (err, text, _) = c.tool("stop", json!({"name": "nope"}));
    assert!(err && text.contains("no task matches `nope`"), "{text}");
}

#[test]
fn the_wait_tool_waits_for_a_watchers_verdict() {
    let p = Project::new(crate::cycles::WATCHER);
    p.write("src.txt", "good\n");
    let up = p.run(&["up", "--wait"]);
    assert_eq!(up.code(), 0, "{}", up.all());
    let _g = DaemonGuard { project: &p };
    let mut c = Client::start(&p);
    p.write("src.txt", "bad\n");
    let (_, text, data) = c.tool(
        "wait",
        json!({"names": ["w"], "for": "cycle", "timeoutSeconds": 20}),
    );
    assert_eq!(data["result"], "failed", "{text}");
    assert!(text.contains("src.txt:3:5: error: bad thing"), "{text}");
    p.write("src.txt", "good again\n");
    let (err, text, data) = c.tool(
        "wait",
        json!({"names": ["w"], "for": "cycle", "timeoutSeconds": 20}),
    );
    assert!(!err, "{text}");
    assert_eq!(data["result"], "happened", "{text}");
    assert!(text.contains("Build: passing"), "{text}");
}

#[test]
fn bad_calls_get_errors_and_the_server_keeps_answering() {
    let p = Project::new("tasks:\n  web:\n    cmd: exec sleep 300\n");
    let mut c = Client::start(&p);
    let bad: Vec<(String, Value)> = vec![
        ("stop".into(), json!({})),
        ("stop".into(), json!({"name": 5})),
        ("tail".into(), json!({"name": "web", "lines": "many"})),
        ("start".into(), json!({"name": "x"})),
        ("start".into(), json!({"cmd": "sleep"})),
        (
            "start".into(),
            json!({"name": "x", "cmd": "sleep", "restartPolicy": "sometimes"}),
        ),
        ("wait".into(), json!({"for": "godot", "timeoutSeconds": 1})),
        ("nosuchtool".into(), json!({})),
        ("status".into(), json!({"name": "nope"})),
        ("restart".into(), json!({"nme": "web"})),
    ];
    for i in 0..200 {
        let (name, args) = &bad[i % bad.len()];
        let r = c.call("tools/call", json!({"name": name, "arguments": args}));
        let failed = r["error"].is_object() || r["result"]["isError"] == true;
        assert!(failed, "call {i} ({name} {args}) was not refused: {r}");
    }
    // Not even JSON: no answer is owed, but the server must not die of it.
    c.send("{this is not json");
    c.send("[]");
    let list = c.call("tools/list", json!({}));
    assert!(list["result"]["tools"].is_array(), "{list}");
}

#[test]
fn the_official_python_sdk_drives_bts_mcp() {
    let python = match std::env::var("BTS_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "BTS_TEST_PYTHON (a python with the `mcp` package) must be set under CI"
            );
            eprintln!(
                "SKIPPED: set BTS_TEST_PYTHON to a python with `pip install mcp` (.ci/run does)"
            );
            return;
        }
    };
    let p = Project::new("tasks:\n  placeholder:\n    cmd: exec sleep 300\n    autostart: false\n");
    let _g = DaemonGuard { project: &p };
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_client.py");
    let port = free_port();
    let out = Command::new(python)
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_bts"))
        .arg(example_bin("probe_server"))
        .arg(port.to_string())
        .current_dir(p.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("python client: ok"), "{text}");
}

//! The MCP server: its tools, their input schemas (from the argument types), and how each
//! answers — a short text and, where it helps, structured content; a tool error (never a
//! dead server) for anything a bad call causes, with the CLI's message and hint.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerInfo};
use rmcp::{tool, tool_handler, tool_router, ErrorData as McpError, ServerHandler, ServiceExt};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

use super::cli::{budget, Ran, Runner, TEXT_BUDGET};

/// How long a tool call may hold, at most (a `wait` says how long it waits, within it).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_WAIT: u64 = 600;

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthSpec {
    /// An http(s) URL that must answer 2xx/3xx.
    pub http: Option<String>,
    /// A port, or "host:port", that must accept a connection.
    pub tcp: Option<String>,
    /// A command that must exit 0.
    pub cmd: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StartArgs {
    /// Tasks of bts.yaml to start (names or globs); empty with no `cmd`: every autostart task.
    #[serde(default)]
    pub names: Vec<String>,
    /// An ad-hoc task's name (with `cmd`).
    pub name: Option<String>,
    /// Working directory of the ad-hoc task (default: the server's).
    pub wd: Option<String>,
    /// The ad-hoc task's program.
    pub cmd: Option<String>,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Ports it listens on (PORT is set to the first).
    #[serde(default)]
    pub ports: Vec<u16>,
    /// A health probe.
    pub health: Option<HealthSpec>,
    /// never, on-failure or always.
    pub restart_policy: Option<String>,
    /// Rotate its log past this size.
    #[serde(rename = "logMaxKB")]
    pub log_max_kb: Option<u64>,
    /// The task changes data irreversibly (needs confirm: true).
    #[serde(default)]
    pub destructive: bool,
    /// Approve a destructive task.
    #[serde(default)]
    pub confirm: bool,
    /// Answer once it is UP (else once it runs).
    #[serde(default)]
    pub wait: bool,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StopArgs {
    /// The task's name.
    pub name: String,
    /// The signal to send first instead of its stop_signal (e.g. SIGINT); SIGKILL
    /// follows after its stop_timeout.
    pub signal: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MaybeName {
    /// One task; none: the whole stack.
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestartArgs {
    /// The task's name.
    pub name: String,
    /// Answer once the new run is UP.
    #[serde(default)]
    pub wait: bool,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TailArgs {
    /// The task's name.
    pub name: String,
    /// How many log lines to look at (default 20, at most 500); like lines fold.
    pub lines: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NamesArg {
    /// Tasks (names or globs); none: all.
    #[serde(default)]
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveArgs {
    /// The BLOCKED destructive task.
    pub name: String,
    /// Must be true: approving runs the task (after its checkpoint).
    #[serde(default)]
    pub confirm: bool,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WaitArgs {
    /// Tasks (names or globs); none: every task.
    #[serde(default)]
    pub names: Vec<String>,
    /// up (default), exit, error (a new error line), change (a state change or error
    /// line) or cycle (a watcher's verdict on the files as they are).
    #[serde(rename = "for")]
    pub until: Option<String>,
    /// Give up after this many seconds (default 60, at most 600).
    pub timeout_seconds: Option<u64>,
}

/// The server: tools that run `bts` commands.
#[derive(Clone)]
pub struct Bts {
    runner: Runner,
    tool_router: ToolRouter<Self>,
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A result: `text` (cut to the budget), and `data` as structured content.
fn answer(text: &str, data: Option<Value>) -> CallToolResult {
    let mut r = CallToolResult::success(vec![ContentBlock::text(budget(text, TEXT_BUDGET))]);
    r.structured_content = data;
    r
}

/// A tool error with the CLI's message and hint.
fn refuse(message: &str) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(budget(message, TEXT_BUDGET))])
}

/// `ran`'s stdout as the answer, or its error.
fn relay(ran: Ran, data: Option<Value>) -> CallToolResult {
    if ran.ok() {
        answer(&ran.stdout, data)
    } else {
        refuse(&ran.message())
    }
}

/// Tasks in structured content, at most (the text says the rest).
const MAX_STRUCTURED: usize = 8;

/// The compact form of digests for structured content (at most [`MAX_STRUCTURED`]).
fn compact(tasks: &Value) -> Value {
    let list = tasks.as_array().cloned().unwrap_or_default();
    Value::Array(
        list.iter()
            .take(MAX_STRUCTURED)
            .map(|d| {
                let mut o = serde_json::Map::new();
                for k in ["task", "status", "pid", "ports"] {
                    if !d[k].is_null() && d[k] != json!([]) {
                        o.insert(k.into(), d[k].clone());
                    }
                }
                for k in ["detail", "next_action"] {
                    if d[k].as_str().is_some_and(|s| !s.is_empty()) {
                        o.insert(k.into(), d[k].clone());
                    }
                }
                Value::Object(o)
            })
            .collect(),
    )
}

impl Bts {
    async fn bts(&self, list: Vec<String>, timeout: Duration) -> Ran {
        let runner = self.runner.clone();
        tokio::task::spawn_blocking(move || runner.run(&list, timeout))
            .await
            .unwrap_or_else(|e| Ran {
                code: 1,
                stdout: String::new(),
                stderr: format!("error: the command failed: {e}"),
            })
    }

    /// Digests of `names` (or all) from `bts status --json`.
    async fn digests(&self, names: &[String]) -> Option<Value> {
        let mut a = args(&["status", "--json"]);
        a.extend(names.iter().cloned());
        let ran = self.bts(a, CALL_TIMEOUT).await;
        let doc: Value = serde_json::from_str(ran.stdout.trim()).ok()?;
        Some(doc["tasks"].clone())
    }
}

#[tool_router]
impl Bts {
    pub fn new(file: Option<PathBuf>) -> Self {
        Bts {
            runner: Runner { file },
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        description = "Start tasks: names of bts.yaml tasks, or an ad-hoc task (name + cmd, with wd, args, env, ports, health, restartPolicy, logMaxKB, destructive). A background supervisor is started when none runs. Returns the start receipt."
    )]
    async fn start(
        &self,
        Parameters(a): Parameters<StartArgs>,
    ) -> Result<CallToolResult, McpError> {
        let Some(cmd) = a.cmd.clone() else {
            if a.name.is_some() {
                return Ok(refuse(
                    "an ad-hoc task needs `cmd` (and `name`); for bts.yaml tasks use `names`",
                ));
            }
            let mut l = args(&["up", "-d"]);
            if a.confirm {
                for n in &a.names {
                    l.push("--confirm".into());
                    l.push(n.clone());
                }
            }
            l.push("--".into());
            l.extend(a.names.iter().cloned());
            let ran = self.bts(l, CALL_TIMEOUT).await;
            return Ok(relay(ran, None));
        };
        let Some(name) = a.name.clone() else {
            return Ok(refuse("an ad-hoc task needs a `name`"));
        };
        let mut l = args(&["run", &name, "--json"]);
        if let Some(wd) = &a.wd {
            l.extend(["--cwd".into(), wd.clone()]);
        }
        for (k, v) in &a.env {
            l.extend(["--env".into(), format!("{k}={v}")]);
        }
        for p in &a.ports {
            l.extend(["--port".into(), p.to_string()]);
        }
        if let Some(h) = &a.health {
            for (flag, v) in [
                ("--health-http", &h.http),
                ("--health-tcp", &h.tcp),
                ("--health-cmd", &h.cmd),
            ] {
                if let Some(v) = v {
                    l.extend([flag.to_string(), v.clone()]);
                }
            }
        }
        if let Some(r) = &a.restart_policy {
            l.extend(["--restart".into(), r.clone()]);
        }
        if let Some(n) = a.log_max_kb {
            l.extend(["--log-max-kb".into(), n.to_string()]);
        }
        if a.destructive {
            l.push("--destructive".into());
        }
        if a.confirm {
            l.push("--confirm".into());
        }
        if a.wait {
            l.push("--wait".into());
        }
        l.push("--".into());
        l.push(cmd);
        l.extend(a.args.iter().cloned());
        let timeout = if a.wait {
            Duration::from_secs(MAX_WAIT)
        } else {
            CALL_TIMEOUT
        };
        let ran = self.bts(l, timeout).await;
        if !ran.ok() && ran.stdout.trim().is_empty() {
            return Ok(refuse(&ran.message()));
        }
        let doc: Value = serde_json::from_str(ran.stdout.trim()).unwrap_or(Value::Null);
        let tasks = compact(&doc["tasks"]);
        let text = tasks
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                format!(
                    "{}: {}{}",
                    t["task"].as_str().unwrap_or(&name),
                    t["status"].as_str().unwrap_or("?"),
                    t["pid"]
                        .as_i64()
                        .map_or(String::new(), |p| format!(" (pid {p})"))
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        let log = doc["tasks"][0]["log_path"]
            .as_str()
            .map(|p| {
                crate::digest::relative(std::path::Path::new(p))
                    .display()
                    .to_string()
            })
            .unwrap_or_else(|| format!(".bts/logs/{name}.log"));
        let data = json!({ "tasks": tasks, "log": log });
        let text = format!("{text}\nlog: {log}");
        Ok(if ran.ok() {
            answer(&text, Some(data))
        } else {
            refuse(&text)
        })
    }

    #[tool(
        description = "The stack hand-off (one line per fine task, a block with the next action per task that needs attention), or one task's digest."
    )]
    async fn status(
        &self,
        Parameters(a): Parameters<MaybeName>,
    ) -> Result<CallToolResult, McpError> {
        let names: Vec<String> = a.name.into_iter().collect();
        let mut l = args(&["status"]);
        l.extend(names.iter().cloned());
        let ran = self.bts(l, CALL_TIMEOUT).await;
        if !ran.ok() {
            return Ok(refuse(&ran.message()));
        }
        let data = if names.is_empty() {
            None
        } else {
            self.digests(&names)
                .await
                .map(|t| json!({ "tasks": compact(&t) }))
        };
        Ok(answer(&ran.stdout, data))
    }

    #[tool(description = "Every task: name, state, pid, ports.")]
    async fn list(&self) -> Result<CallToolResult, McpError> {
        let ran = self.bts(args(&["ps"]), CALL_TIMEOUT).await;
        Ok(relay(ran, None))
    }

    #[tool(
        description = "Stop a task (its stop signal, then SIGKILL after its stop_timeout); returns the stop receipt with the archived log's path."
    )]
    async fn stop(&self, Parameters(a): Parameters<StopArgs>) -> Result<CallToolResult, McpError> {
        let mut l = args(&["down", &a.name]);
        if let Some(sig) = &a.signal {
            l.extend(["--signal".into(), sig.clone()]);
        }
        let ran = self.bts(l, CALL_TIMEOUT).await;
        Ok(relay(ran, None))
    }

    #[tool(description = "Restart a task (wait: answer once the new run is UP).")]
    async fn restart(
        &self,
        Parameters(a): Parameters<RestartArgs>,
    ) -> Result<CallToolResult, McpError> {
        let mut l = args(&["restart", &a.name]);
        if a.wait {
            l.push("--wait".into());
        }
        let ran = self.bts(l, Duration::from_secs(MAX_WAIT)).await;
        Ok(relay(ran, None))
    }

    #[tool(
        description = "The end of a task's log, folded like the summary view (like lines counted, errors kept), with the log's path — never a raw dump."
    )]
    async fn tail(&self, Parameters(a): Parameters<TailArgs>) -> Result<CallToolResult, McpError> {
        let n = a.lines.unwrap_or(20).clamp(1, 500);
        let ran = self
            .bts(args(&["logs", &a.name, "-n", &n.to_string()]), CALL_TIMEOUT)
            .await;
        if !ran.ok() {
            return Ok(refuse(&ran.message()));
        }
        let lines: Vec<String> = ran.stdout.lines().map(str::to_string).collect();
        let classifier = crate::output::summary::Classifier::new(None, None)
            .map_err(|e| McpError::internal_error(e.to_string(), None))?;
        let log = self
            .digests(std::slice::from_ref(&a.name))
            .await
            .and_then(|t| {
                t[0]["log_path"].as_str().map(|p| {
                    crate::digest::relative(std::path::Path::new(p))
                        .display()
                        .to_string()
                })
            })
            .unwrap_or_else(|| format!(".bts/logs/{}.log", a.name));
        let text = format!(
            "{}log: {log}",
            super::tail::fold(&lines, &classifier, TEXT_BUDGET - 200)
        );
        Ok(answer(&text, Some(json!({ "task": a.name, "log": log }))))
    }

    #[tool(description = "Gzip tasks' current logs into .bts/archive/ and start fresh ones.")]
    async fn archive_logs(
        &self,
        Parameters(a): Parameters<NamesArg>,
    ) -> Result<CallToolResult, McpError> {
        let mut l = args(&["archive-logs"]);
        l.extend(a.names);
        Ok(relay(self.bts(l, CALL_TIMEOUT).await, None))
    }

    #[tool(
        description = "Stop what a supervisor that died left running (verified by process start time) and remove its stale files."
    )]
    async fn cleanup_zombies(&self) -> Result<CallToolResult, McpError> {
        Ok(relay(
            self.bts(args(&["cleanup"]), CALL_TIMEOUT).await,
            None,
        ))
    }

    #[tool(
        description = "Validate bts.yaml and the environment (cwd, commands, ports): every problem with file:line and a hint."
    )]
    async fn check(&self) -> Result<CallToolResult, McpError> {
        let ran = self.bts(args(&["check"]), CALL_TIMEOUT).await;
        let text = format!("{}{}", ran.stdout, ran.stderr);
        Ok(if ran.ok() {
            answer(&text, None)
        } else {
            refuse(&text)
        })
    }

    #[tool(
        description = "Approve a BLOCKED destructive task: its checkpoint runs first, then the task. Refused unless confirm is true."
    )]
    async fn approve(
        &self,
        Parameters(a): Parameters<ApproveArgs>,
    ) -> Result<CallToolResult, McpError> {
        if !a.confirm {
            return Ok(refuse(&format!(
                "approving `{}` runs a destructive task: call approve again with confirm: true",
                a.name
            )));
        }
        let ran = self
            .bts(
                args(&["up", "-d", "--confirm", &a.name, "--", &a.name]),
                CALL_TIMEOUT,
            )
            .await;
        Ok(relay(ran, None))
    }

    #[tool(
        description = "Wait until tasks are UP (for: up), ended (exit), print a new error line (error), change state (change), or — for watchers (tsc, vitest, jest, vite, cargo watch…) — until a build/test cycle after the call has a verdict (cycle: result `happened` = passing, `failed` with the located error lines); at most timeoutSeconds. A FAILED or BLOCKED task ends the wait at once."
    )]
    async fn wait(&self, Parameters(a): Parameters<WaitArgs>) -> Result<CallToolResult, McpError> {
        let until = a.until.unwrap_or_else(|| "up".into());
        if !["up", "exit", "error", "change", "cycle"].contains(&until.as_str()) {
            return Ok(refuse(&format!(
                "for: `{until}` is not one of up, exit, error, change, cycle"
            )));
        }
        let secs = a.timeout_seconds.unwrap_or(60).clamp(1, MAX_WAIT);
        let mut l = args(&["wait", "--for", &until, "--timeout", &format!("{secs}s")]);
        l.extend(a.names);
        let ran = self.bts(l, Duration::from_secs(secs + 10)).await;
        let result = match ran.code {
            0 => "happened",
            124 => "timed out",
            _ => "failed",
        };
        let data = json!({ "result": result });
        Ok(match ran.code {
            0 | 124 | 1 if ran.stderr.trim().is_empty() => answer(&ran.stdout, Some(data)),
            _ => refuse(&ran.message()),
        })
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Bts {
    fn get_info(&self) -> ServerInfo {
        ServerInfo::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("bts", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "bts supervises this repository's background tasks (dev servers, watchers, databases). Use `status` between steps (a compact hand-off), `start` for a task of bts.yaml or an ad-hoc one, `wait` instead of polling, `tail` for a folded view of a log.",
            )
    }
}

/// Serve MCP on stdin/stdout until the client closes it.
pub fn serve(file: Option<PathBuf>) -> Result<u8, crate::errors::AppError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| crate::errors::AppError::io("cannot start the async runtime", e))?;
    runtime.block_on(async move {
        let service = Bts::new(file)
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| crate::errors::AppError::new(format!("mcp: {e}")))?;
        let _ = service.waiting().await;
        Ok(crate::errors::exit::OK)
    })
}

/// What registers bts with an MCP client.
pub fn config_snippet() -> String {
    serde_json::to_string_pretty(&json!({
        "mcpServers": { "bts": { "command": "bts", "args": ["mcp"] } }
    }))
    .unwrap_or_default()
}

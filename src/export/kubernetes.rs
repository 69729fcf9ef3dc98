//! `bts export kubernetes`: the manifest as Kubernetes objects (README: From a laptop to
//! a cluster). A Deployment per long-running task, a Job per one-shot task (a
//! destructive one suspended, its checkpoint an init container: approving it is
//! unsuspending it), a Service per task with ports, probes from health checks, init
//! containers that wait for dependencies, one Secret with the secret keys (no values).
//! What cannot be expressed is said in a comment above the object it concerns.

use std::collections::BTreeSet;

use serde_yaml::{Mapping, Value};

use super::cluster::{self, insert, list, map, n, s, Var, Workload};
use crate::manifest::{CommandSpec, Condition, Health, Manifest, Probe, RestartPolicy};

/// The image of the init containers that wait for a dependency's Service.
const WAIT_IMAGE: &str = "busybox:1.36";
/// The image of the init containers that wait for a dependency's Job.
const KUBECTL_IMAGE: &str = "bitnami/kubectl:1.31";
/// How long an init container waits for a dependency.
const WAIT_SECS: u64 = 600;

/// One object and the comments that go above it.
struct Doc {
    notes: Vec<String>,
    value: Value,
}

pub struct Options {
    pub namespace: Option<String>,
}

/// The export: a header (what the file comes from, what was not expressed) and one
/// object per document, deterministic for a manifest.
pub struct Export {
    pub header: String,
    docs: Vec<Doc>,
}

impl Export {
    /// Everything as one multi-document YAML text.
    pub fn text(&self) -> String {
        let mut out = self.header.clone();
        for d in &self.docs {
            out.push_str("---\n");
            out.push_str(&d.render());
        }
        out
    }

    /// One file per object, `<name>.<kind>.yaml`, each with the header.
    pub fn files(&self) -> Vec<(String, String)> {
        self.docs
            .iter()
            .map(|d| {
                let field = |k: &str| d.value.get(k).and_then(Value::as_str).unwrap_or("");
                let name = d
                    .value
                    .get("metadata")
                    .and_then(|md| md.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or("object");
                let file = format!("{name}.{}.yaml", field("kind").to_ascii_lowercase());
                (file, format!("{}{}", self.header, d.render()))
            })
            .collect()
    }
}

impl Doc {
    fn render(&self) -> String {
        let mut out = String::new();
        for note in &self.notes {
            out.push_str(&format!("# {note}\n"));
        }
        out.push_str(&cluster::to_yaml(&self.value));
        out
    }
}

pub fn kubernetes(m: &Manifest, opts: &Options) -> Result<Export, crate::errors::AppError> {
    cluster::require_images(m, "kubernetes")?;
    let names = cluster::dns_names(m)?;
    // What bts adds to every task's environment, built once for the stack.
    let stack = crate::task_env::StackEnv::new(&m.project, &m.tasks, None);
    let redactor = crate::redact::for_manifest(m)
        .map_err(|e| crate::errors::AppError::new(format!("secrets settings: {e}")))?;
    let project = cluster::dns_name(&m.project);
    let secret_name = format!("{project}-secrets");
    let waiter = format!("{project}-waiter");
    let mut docs: Vec<Doc> = vec![];
    let mut secret_keys: BTreeSet<String> = BTreeSet::new();
    let mut needs_waiter = false;
    let mut unexpressed: Vec<String> = vec![];

    let meta = |name: &str, labels: &Value| {
        let mut md = map([("name", s(name))]);
        if let Some(ns) = &opts.namespace {
            insert(&mut md, "namespace", s(ns.clone()));
        }
        insert(&mut md, "labels", labels.clone());
        md
    };

    for t in &m.tasks {
        let name = &names[&t.name];
        let labels = map([
            ("app.kubernetes.io/name", s(name.clone())),
            ("app.kubernetes.io/part-of", s(project.clone())),
        ]);
        let mut notes = vec![];
        let env = cluster::env(m, t, &names, &redactor, &stack);
        let env_value = list(env.iter().map(|v| match v {
            Var::Plain(k, v) => map([("name", s(k.clone())), ("value", s(cluster::literal(v)))]),
            Var::Secret(k) => {
                secret_keys.insert(k.clone());
                map([
                    ("name", s(k.clone())),
                    (
                        "valueFrom",
                        map([(
                            "secretKeyRef",
                            map([("name", s(secret_name.clone())), ("key", s(k.clone()))]),
                        )]),
                    ),
                ])
            }
        }));
        let mut container = map([
            ("name", s(name.clone())),
            ("image", s(t.image.clone().unwrap_or_default())),
            (
                "command",
                command(&cluster::command_to_services(m, t, &names)),
            ),
        ]);
        if let Some(dir) = cluster::working_dir(m, t) {
            insert(&mut container, "workingDir", s(dir));
        }
        insert(&mut container, "env", env_value.clone());
        if !t.ports.is_empty() {
            insert(
                &mut container,
                "ports",
                list(
                    t.ports
                        .iter()
                        .map(|p| map([("containerPort", n(u64::from(*p)))])),
                ),
            );
        }
        let workload = cluster::workload(m, t);
        if let Some(h) = &t.health {
            match probe(h) {
                Some(p) => {
                    insert(&mut container, "readinessProbe", probe_timing(&p, h, false));
                    if workload == Workload::Service && t.restart != RestartPolicy::Never {
                        insert(&mut container, "livenessProbe", probe_timing(&p, h, false));
                    }
                    if !h.start_period.is_zero() {
                        insert(&mut container, "startupProbe", probe_timing(&p, h, true));
                    }
                }
                None => notes.push(format!(
                    "{}: its `log:` health check cannot be expressed (a cluster probes, it does not read output); no probe",
                    t.name
                )),
            }
        }
        if let Some(r) = cluster::resource_limits(&t.limits) {
            insert(&mut container, "resources", r);
        }
        if t.stop_signal != libc::SIGTERM {
            let sig = crate::process::unix::signal_name_or_number(t.stop_signal);
            let short = sig.trim_start_matches("SIG").to_string();
            insert(
                &mut container,
                "lifecycle",
                map([(
                    "preStop",
                    map([(
                        "exec",
                        map([(
                            "command",
                            list([s("sh"), s("-c"), s(format!("kill -{short} 1"))]),
                        )]),
                    )]),
                )]),
            );
            notes.push(format!(
                "{}: stop_signal {sig}: sent to pid 1 by a preStop hook (needs `kill` in the image) before Kubernetes' SIGTERM",
                t.name
            ));
        }

        // Dependencies: an init container per dependency.
        let mut init = vec![];
        for d in &t.depends_on {
            let dep = m.task(&d.task);
            let dep_name = &names[&d.task];
            match d.condition {
                Condition::Completed => {
                    needs_waiter = true;
                    init.push(map([
                        ("name", s(format!("wait-{dep_name}"))),
                        ("image", s(KUBECTL_IMAGE)),
                        (
                            "command",
                            list([
                                s("kubectl"),
                                s("wait"),
                                s("--for=condition=complete"),
                                s(format!("job/{dep_name}")),
                                s(format!("--timeout={WAIT_SECS}s")),
                            ]),
                        ),
                    ]));
                }
                Condition::Started | Condition::Healthy => match dep.and_then(|t| t.ports.first()) {
                    Some(port) => init.push(map([
                        ("name", s(format!("wait-{dep_name}"))),
                        ("image", s(WAIT_IMAGE)),
                        (
                            "command",
                            list([
                                s("sh"),
                                s("-c"),
                                s(format!(
                                    "i=0; until nc -z -w 2 {dep_name} {port}; do i=$((i+1)); \
                                     if [ $i -ge {WAIT_SECS} ]; then echo \"{dep_name}:{port} not ready after {WAIT_SECS}s\" >&2; exit 1; fi; \
                                     sleep 1; done"
                                )),
                            ],
                        )),
                    ])),
                    None => notes.push(format!(
                        "{}: depends on `{}`, which has no port and so no Service to wait for; start order is not enforced",
                        t.name, d.task
                    )),
                },
            }
        }
        if t.destructive {
            if let Some(c) = &t.checkpoint {
                init.insert(
                    0,
                    map([
                        ("name", s("checkpoint")),
                        ("image", s(t.image.clone().unwrap_or_default())),
                        ("command", list([s("sh"), s("-c"), s(cluster::literal(c))])),
                        ("env", env_value.clone()),
                    ]),
                );
            }
        }
        let mut pod = map([]);
        if init
            .iter()
            .any(|c| c.get("image") == Some(&s(KUBECTL_IMAGE)))
        {
            insert(&mut pod, "serviceAccountName", s(waiter.clone()));
        }
        insert(
            &mut pod,
            "terminationGracePeriodSeconds",
            n(cluster::secs(t.stop_timeout, 0)),
        );
        if !init.is_empty() {
            insert(&mut pod, "initContainers", list(init));
        }
        insert(&mut pod, "containers", list([container]));
        if !t.watch.is_empty() {
            notes.push(format!(
                "{}: `watch` (restart on file changes) is for local runs; not exported",
                t.name
            ));
        }

        let value = match workload {
            Workload::Service => {
                if t.restart == RestartPolicy::OnFailure {
                    notes.push(format!(
                        "{}: restart on-failure: a Deployment restarts its pod after any exit",
                        t.name
                    ));
                }
                map([
                    ("apiVersion", s("apps/v1")),
                    ("kind", s("Deployment")),
                    ("metadata", meta(name, &labels)),
                    (
                        "spec",
                        map([
                            ("replicas", n(u64::from(t.autostart))),
                            ("selector", map([("matchLabels", labels.clone())])),
                            (
                                "template",
                                map([
                                    ("metadata", map([("labels", labels.clone())])),
                                    ("spec", pod),
                                ]),
                            ),
                        ]),
                    ),
                ])
            }
            Workload::OneShot => {
                // bts never restarts a destructive task by itself (docs/behaviour.md).
                let once = t.restart == RestartPolicy::Never || t.destructive;
                insert(
                    &mut pod,
                    "restartPolicy",
                    s(if once { "Never" } else { "OnFailure" }),
                );
                let suspended = t.destructive || !t.autostart;
                if t.destructive {
                    notes.push(format!(
                        "{}: destructive: a suspended Job; approve it with `kubectl patch job {name} -p '{{\"spec\":{{\"suspend\":false}}}}'`",
                        t.name
                    ));
                } else if !t.autostart {
                    notes.push(format!("{}: autostart false: a suspended Job", t.name));
                }
                let backoff = if once { 0 } else { u64::from(t.max_restarts) };
                map([
                    ("apiVersion", s("batch/v1")),
                    ("kind", s("Job")),
                    ("metadata", meta(name, &labels)),
                    (
                        "spec",
                        map([
                            ("suspend", Value::Bool(suspended)),
                            ("backoffLimit", n(backoff)),
                            (
                                "template",
                                map([
                                    ("metadata", map([("labels", labels.clone())])),
                                    ("spec", pod),
                                ]),
                            ),
                        ]),
                    ),
                ])
            }
        };
        unexpressed.extend(notes.iter().cloned());
        docs.push(Doc { notes, value });
        if !t.ports.is_empty() {
            let ports = list(t.ports.iter().map(|p| {
                map([
                    ("name", s(format!("p{p}"))),
                    ("port", n(u64::from(*p))),
                    ("targetPort", n(u64::from(*p))),
                ])
            }));
            docs.push(Doc {
                notes: vec![],
                value: map([
                    ("apiVersion", s("v1")),
                    ("kind", s("Service")),
                    ("metadata", meta(name, &labels)),
                    (
                        "spec",
                        map([("selector", labels.clone()), ("ports", ports)]),
                    ),
                ]),
            });
        }
    }

    let part_of = map([("app.kubernetes.io/part-of", s(project.clone()))]);
    if !secret_keys.is_empty() {
        let data: Mapping = secret_keys.iter().map(|k| (s(k.clone()), s(""))).collect();
        docs.insert(
            0,
            Doc {
                notes: vec!["Fill in the values (never committed): `kubectl create secret generic … --from-env-file`, or edit here before applying".into()],
                value: map([
                    ("apiVersion", s("v1")),
                    ("kind", s("Secret")),
                    ("metadata", meta(&secret_name, &part_of)),
                    ("type", s("Opaque")),
                    ("stringData", Value::Mapping(data)),
                ]),
            },
        );
    }
    if needs_waiter {
        let ns = opts.namespace.as_deref().unwrap_or("default");
        for d in waiter_rbac(&waiter, ns, &part_of, &meta) {
            docs.push(d);
        }
    }

    let mut header = format!(
        "# Generated by `bts export kubernetes` from {}.\n# Apply with `kubectl apply -f`; the secret values and the images are yours to provide.\n",
        m.path.file_name().map_or_else(|| "bts.yaml".into(), |n| n.to_string_lossy())
    );
    if unexpressed.is_empty() {
        header.push_str("# Everything in the manifest was expressed.\n");
    } else {
        header.push_str("# Not expressed as in bts (details above each object):\n");
        for u in &unexpressed {
            header.push_str(&format!("#   {u}\n"));
        }
    }
    Ok(Export { header, docs })
}

/// The argv of a task's command (`$` escaped: Kubernetes expands `$(VAR)` there).
fn command(c: &CommandSpec) -> Value {
    match c {
        CommandSpec::Shell(script) => list([s("sh"), s("-c"), s(cluster::literal(script))]),
        CommandSpec::Exec { program, args } => list(
            std::iter::once(s(cluster::literal(program)))
                .chain(args.iter().map(|a| s(cluster::literal(a)))),
        ),
    }
}

/// The probe handler for a health check; `None` for a `log:` check.
fn probe(h: &Health) -> Option<Value> {
    Some(match &h.probe {
        Probe::Http(url) => {
            let (path, port, https) = cluster::url_parts(url);
            let mut get = map([("path", s(path)), ("port", n(u64::from(port)))]);
            if https {
                insert(&mut get, "scheme", s("HTTPS"));
            }
            map([("httpGet", get)])
        }
        Probe::Tcp { port, .. } => map([("tcpSocket", map([("port", n(u64::from(*port)))]))]),
        Probe::Cmd(c) => map([(
            "exec",
            map([("command", list([s("sh"), s("-c"), s(c.clone())]))]),
        )]),
        Probe::Log(_) => return None,
    })
}

/// A probe with bts's timing: interval → periodSeconds, timeout → timeoutSeconds,
/// retries → failureThreshold; the startup probe allows `start_period`.
fn probe_timing(handler: &Value, h: &Health, startup: bool) -> Value {
    let mut p = handler.clone();
    let period = cluster::secs(h.interval, 1);
    insert(&mut p, "periodSeconds", n(period));
    insert(&mut p, "timeoutSeconds", n(cluster::secs(h.timeout, 1)));
    let threshold = if startup {
        cluster::secs(h.start_period, 1).div_ceil(period).max(1)
    } else {
        u64::from(h.retries.max(1))
    };
    insert(&mut p, "failureThreshold", n(threshold));
    p
}

/// The ServiceAccount, Role and RoleBinding the `kubectl wait` init containers use.
fn waiter_rbac(
    waiter: &str,
    namespace: &str,
    labels: &Value,
    meta: &dyn Fn(&str, &Value) -> Value,
) -> Vec<Doc> {
    let note =
        "Lets the init containers that wait for a Job (`depends_on: {x: completed}`) read Jobs"
            .to_string();
    vec![
        Doc {
            notes: vec![note],
            value: map([
                ("apiVersion", s("v1")),
                ("kind", s("ServiceAccount")),
                ("metadata", meta(waiter, labels)),
            ]),
        },
        Doc {
            notes: vec![],
            value: map([
                ("apiVersion", s("rbac.authorization.k8s.io/v1")),
                ("kind", s("Role")),
                ("metadata", meta(waiter, labels)),
                (
                    "rules",
                    list([map([
                        ("apiGroups", list([s("batch")])),
                        ("resources", list([s("jobs")])),
                        ("verbs", list([s("get"), s("list"), s("watch")])),
                    ])]),
                ),
            ]),
        },
        Doc {
            notes: vec![],
            value: map([
                ("apiVersion", s("rbac.authorization.k8s.io/v1")),
                ("kind", s("RoleBinding")),
                ("metadata", meta(waiter, labels)),
                (
                    "roleRef",
                    map([
                        ("apiGroup", s("rbac.authorization.k8s.io")),
                        ("kind", s("Role")),
                        ("name", s(waiter)),
                    ]),
                ),
                (
                    "subjects",
                    list([map([
                        ("kind", s("ServiceAccount")),
                        ("name", s(waiter)),
                        ("namespace", s(namespace)),
                    ])]),
                ),
            ]),
        },
    ]
}

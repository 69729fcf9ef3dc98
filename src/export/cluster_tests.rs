//! The container exports' mapping, checked on the YAML they write: probes, dependency
//! conditions, destructive tasks, secrets, images, references to other tasks' ports.

use serde_yaml::Value;

use super::compose::compose;
use super::kubernetes::{kubernetes, Options};
use crate::manifest::Manifest;

fn load(yaml: &str) -> (tempfile::TempDir, Manifest) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bts.yaml");
    std::fs::write(&path, yaml).unwrap();
    let m = crate::manifest::load_path(&path).unwrap_or_else(|e| panic!("{e}"));
    (dir, m)
}

fn k8s(yaml: &str) -> (String, Vec<Value>) {
    let (_d, m) = load(yaml);
    let text = kubernetes(&m, &Options { namespace: None }).unwrap().text();
    let docs = text
        .split("\n---\n")
        .skip(1)
        .map(|d| serde_yaml::from_str(d).unwrap_or_else(|e| panic!("{e}\n{d}")))
        .collect();
    (text, docs)
}

fn object<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn container(workload: &Value) -> &Value {
    &workload["spec"]["template"]["spec"]["containers"][0]
}

const PROBES: &str = "defaults: {image: 'alpine:3.20', restart: always}
tasks:
  web:
    cmd: serve
    ports: [3000]
    health: {http: 'http://127.0.0.1:3000/healthz', interval: 2s, timeout: 1500ms, retries: 4, start_period: 10s}
  db:
    cmd: postgres
    ports: [5432]
    health: {tcp: 5432}
  cache:
    cmd: redis-server
    restart: never
    health: {cmd: redis-cli ping, start_period: 0s}
  worker:
    cmd: work
    health: {log: ready}
";

#[test]
fn each_probe_kind_and_its_timing() {
    let (text, docs) = k8s(PROBES);
    let web = container(object(&docs, "Deployment", "web"));
    let r = &web["readinessProbe"];
    assert_eq!(r["httpGet"]["path"], "/healthz");
    assert_eq!(r["httpGet"]["port"], 3000);
    assert_eq!(r["periodSeconds"], 2);
    assert_eq!(r["timeoutSeconds"], 2, "1.5 s rounds up");
    assert_eq!(r["failureThreshold"], 4);
    assert_eq!(web["livenessProbe"], *r, "restart always: DOWN restarts");
    assert_eq!(
        web["startupProbe"]["failureThreshold"], 5,
        "10 s of 2 s periods"
    );
    let db = container(object(&docs, "Deployment", "db"));
    assert_eq!(db["readinessProbe"]["tcpSocket"]["port"], 5432);
    // restart: never makes a Job; its probe is exec, no liveness, no startup probe.
    let cache = container(object(&docs, "Job", "cache"));
    assert_eq!(
        cache["readinessProbe"]["exec"]["command"],
        serde_yaml::from_str::<Value>("[sh, -c, redis-cli ping]").unwrap()
    );
    assert!(cache.get("livenessProbe").is_none());
    assert!(cache.get("startupProbe").is_none());
    // A log probe cannot be expressed: no probe, and the header says why.
    let worker = container(object(&docs, "Deployment", "worker"));
    assert!(worker.get("readinessProbe").is_none());
    assert!(text.contains("worker: its `log:` health check cannot be expressed"));
    // A Service per task with ports, none without.
    assert_eq!(
        object(&docs, "Service", "web")["spec"]["ports"][0]["port"],
        3000
    );
    assert!(!docs
        .iter()
        .any(|d| d["kind"] == "Service" && d["metadata"]["name"] == "worker"));
}

const DEPS: &str = "defaults: {image: 'alpine:3.20'}
tasks:
  db: {cmd: postgres, ports: [5432], restart: always, health: {tcp: 5432}}
  queue: {cmd: q, restart: always}
  migrate: {cmd: migrate up}
  api:
    cmd: 'serve --db 127.0.0.1:$BTS_PORT_DB'
    restart: always
    env: {DATABASE_HOST: 'localhost:5432', OTHER: 'localhost:54321'}
    depends_on: {db: healthy, migrate: completed, queue: started}
";

#[test]
fn each_dependency_condition_and_service_names() {
    let (text, docs) = k8s(DEPS);
    let api = object(&docs, "Deployment", "api");
    let pod = &api["spec"]["template"]["spec"];
    let init = pod["initContainers"].as_sequence().unwrap();
    let wait_db = init.iter().find(|c| c["name"] == "wait-db").unwrap();
    let script = wait_db["command"][2].as_str().unwrap();
    assert!(script.contains("nc -z -w 2 db 5432"), "{script}");
    assert!(
        script.contains("not ready after 600s"),
        "bounded, with a message: {script}"
    );
    let wait_job = init.iter().find(|c| c["name"] == "wait-migrate").unwrap();
    assert_eq!(wait_job["command"][3], "job/migrate");
    assert_eq!(
        pod["serviceAccountName"],
        "bts-waiter".replace("bts", &project(&text))
    );
    for kind in ["ServiceAccount", "Role", "RoleBinding"] {
        assert!(docs.iter().any(|d| d["kind"] == kind), "{kind}");
    }
    // `queue` has no port, so no Service to wait for: said, not dropped.
    assert!(text.contains("api: depends on `queue`, which has no port"));
    // A task another waits for to complete is a Job.
    assert_eq!(object(&docs, "Job", "migrate")["spec"]["suspend"], false);
    // Another task's port on this machine is its Service.
    let env = container(api)["env"].as_sequence().unwrap();
    let var = |k: &str| env.iter().find(|e| e["name"] == k).unwrap()["value"].clone();
    assert_eq!(var("DATABASE_HOST"), "db:5432");
    assert_eq!(var("OTHER"), "localhost:54321");
    assert_eq!(container(api)["command"][2], "serve --db db:$$BTS_PORT_DB");
    assert_eq!(var("BTS_HOST_DB"), "db");
    assert_eq!(var("BTS_PORT_DB"), "5432");
}

/// The project name is the temp dir's; read it back from the labels.
fn project(text: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("app.kubernetes.io/part-of: "))
        .unwrap()
        .to_string()
}

const DESTRUCTIVE: &str = "name: shop
defaults: {image: 'app:1'}
tasks:
  reset:
    cmd: 'echo $HOME; rails db:reset'
    destructive: true
    restart: always
    checkpoint: 'pg_dump > /backup/$(date +%s).sql'
  docs:
    cmd: serve-docs
    restart: always
    autostart: false
  api:
    cmd: [server, --port, '$PORT']
    restart: always
    ports: [4000]
    env: {API_TOKEN: 'ghp_0123456789abcdefghijklmnopqrstuvwxyzAB', DEBUG: 'on', STRIPE_SECRET_KEY: plain}
";

#[test]
fn destructive_is_a_suspended_job_and_secrets_have_no_values() {
    let (text, docs) = k8s(DESTRUCTIVE);
    let job = object(&docs, "Job", "reset");
    assert_eq!(job["spec"]["suspend"], true);
    assert_eq!(job["spec"]["backoffLimit"], 0);
    assert_eq!(
        job["spec"]["template"]["spec"]["restartPolicy"], "Never",
        "never restarted"
    );
    let init = &job["spec"]["template"]["spec"]["initContainers"][0];
    assert_eq!(init["name"], "checkpoint");
    // `$` doubled: Kubernetes reads `$(…)` in commands as a variable.
    assert_eq!(init["command"][2], "pg_dump > /backup/$$(date +%s).sql");
    assert_eq!(container(job)["command"][2], "echo $$HOME; rails db:reset");
    assert!(text.contains("kubectl patch job reset -p '{\"spec\":{\"suspend\":false}}'"));
    assert_eq!(object(&docs, "Deployment", "docs")["spec"]["replicas"], 0);
    // Secret keys (a token-shaped value, a masked key name) in one Secret, empty.
    let secret = object(&docs, "Secret", "shop-secrets");
    assert_eq!(
        secret["stringData"],
        serde_yaml::from_str::<Value>("{API_TOKEN: '', STRIPE_SECRET_KEY: ''}").unwrap()
    );
    assert!(
        !text.contains("ghp_0123456789"),
        "a secret value in the export"
    );
    let env = container(object(&docs, "Deployment", "api"))["env"]
        .as_sequence()
        .unwrap()
        .clone();
    let token = env.iter().find(|e| e["name"] == "API_TOKEN").unwrap();
    assert_eq!(token["valueFrom"]["secretKeyRef"]["name"], "shop-secrets");
    // YAML 1.1 readers see the string "on", not true.
    assert!(text.contains("value: 'on'"), "{text}");
    assert_eq!(
        container(object(&docs, "Deployment", "api"))["command"][2],
        "$$PORT"
    );
}

#[test]
fn a_missing_image_names_every_task_and_exports_are_deterministic() {
    let (_d, m) = load("tasks:\n  a: {cmd: x, image: 'i:1'}\n  b: x\n  c: y\n");
    let e = kubernetes(&m, &Options { namespace: None }).err().unwrap();
    assert!(e.message.contains("2 have none: b, c"), "{}", e.message);
    assert!(e.hint.unwrap().contains("defaults"));
    let e = compose(&m, "s.env").err().unwrap();
    assert!(e.message.contains("`bts export compose`") && e.message.contains("b, c"));
    let (_d, m) = load(DEPS);
    let opts = Options {
        namespace: Some("staging".into()),
    };
    let one = kubernetes(&m, &opts).unwrap().text();
    assert_eq!(one, kubernetes(&m, &opts).unwrap().text());
    assert!(one.contains("namespace: staging"));
    assert_eq!(
        compose(&m, "s.env").unwrap().text,
        compose(&m, "s.env").unwrap().text
    );
}

#[test]
fn compose_keeps_the_three_conditions_restart_and_profiles() {
    let (_d, m) = load(&format!("{DEPS}  web:\n    cmd: web\n    restart: on-failure\n    max_restarts: 7\n    stop_signal: INT\n    stop_timeout: 90s\n    ports: [8080]\n    health: {{http: 'http://localhost:8080/up'}}\n    depends_on: {{queue: healthy}}\n"));
    let out = compose(&m, "bts.secrets.env").unwrap();
    let doc: Value = serde_yaml::from_str(&out.text).unwrap();
    let api = &doc["services"]["api"];
    assert_eq!(api["depends_on"]["db"]["condition"], "service_healthy");
    assert_eq!(
        api["depends_on"]["migrate"]["condition"],
        "service_completed_successfully"
    );
    assert_eq!(api["depends_on"]["queue"]["condition"], "service_started");
    assert_eq!(api["environment"]["DATABASE_HOST"], "db:5432");
    assert_eq!(doc["services"]["migrate"]["restart"], "no");
    assert!(
        out.text.contains("restart: 'no'"),
        "YAML 1.1 reads a bare no as false"
    );
    let web = &doc["services"]["web"];
    assert_eq!(web["restart"], "on-failure:7");
    assert_eq!(web["stop_signal"], "SIGINT");
    assert_eq!(web["stop_grace_period"], "1m30s");
    assert_eq!(web["ports"][0], "8080:8080");
    let test = web["healthcheck"]["test"][1].as_str().unwrap();
    assert!(test.contains("http://127.0.0.1:8080/up"), "{test}");
    // Healthy on a task without a health check compose can run: started, and said.
    assert_eq!(web["depends_on"]["queue"]["condition"], "service_started");
    assert!(out.text.contains("web: waits for `queue` to be healthy"));
    assert!(out.secrets.is_none());

    let (_d, m) = load(DESTRUCTIVE);
    let out = compose(&m, "bts.secrets.env").unwrap();
    let doc: Value = serde_yaml::from_str(&out.text).unwrap();
    assert_eq!(doc["services"]["reset"]["profiles"][0], "manual");
    assert_eq!(doc["services"]["reset"]["restart"], "no");
    assert_eq!(doc["services"]["docs"]["profiles"][0], "manual");
    assert_eq!(
        doc["services"]["reset"]["command"][2],
        "echo $$HOME; rails db:reset"
    );
    assert_eq!(doc["services"]["api"]["env_file"][0], "bts.secrets.env");
    assert!(doc["services"]["api"]["environment"]
        .get("API_TOKEN")
        .is_none());
    assert_eq!(
        out.secrets
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>(),
        ["API_TOKEN=", "STRIPE_SECRET_KEY="]
    );
    assert!(!out.text.contains("ghp_0123456789"));
}

#[test]
fn limits_become_the_clusters_resource_limits() {
    let yaml = "defaults: {image: 'alpine:3.20', restart: always}\ntasks:\n  web: {cmd: serve, max_memory: 512MB, max_cpu: 150%}\n  odd: {cmd: x, max_memory: 1.3MB}\n  free: {cmd: y}\n";
    let (_text, docs) = k8s(yaml);
    let web = container(object(&docs, "Deployment", "web"));
    assert_eq!(web["resources"]["limits"]["memory"], "512Mi");
    assert_eq!(web["resources"]["limits"]["cpu"], "1500m");
    let odd = container(object(&docs, "Deployment", "odd"));
    assert_eq!(odd["resources"]["limits"]["memory"], "1363149");
    assert!(odd["resources"]["limits"].get("cpu").is_none());
    assert!(container(object(&docs, "Deployment", "free"))
        .get("resources")
        .is_none());

    let (_d, m) = load(yaml);
    let doc: Value = serde_yaml::from_str(&compose(&m, "s.env").unwrap().text).unwrap();
    assert_eq!(doc["services"]["web"]["mem_limit"], 512u64 << 20);
    assert_eq!(doc["services"]["web"]["cpus"], "1.5");
    assert!(doc["services"]["free"].get("mem_limit").is_none());
}

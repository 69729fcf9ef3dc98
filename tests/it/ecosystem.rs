//! Fitting the ecosystem: Procfiles (run and `init`), the JSON Schema against every
//! shipped manifest, shell completions, and the systemd and Procfile exports.
//!
//! The fixed port numbers in this file are never bound or checked by bts: a Procfile's
//! PORT (foreman's 5000, 5100, … convention, under test here) only reaches a process's
//! environment — it is not a declared port — and the exports only write files.

use std::path::PathBuf;

use crate::common::*;

/// A project with a Procfile and no bts.yaml.
fn procfile_project(procfile: &str) -> Project {
    let p = Project::new("");
    std::fs::remove_file(p.file("bts.yaml")).expect("remove bts.yaml");
    p.write("Procfile", procfile);
    p
}

/// 5000, 5100, 5200: foreman's convention, only echoed (see the module doc).
#[test]
fn procfile_runs_with_foreman_ports_and_dot_env() {
    let p = procfile_project(
        "# the processes\nweb: echo \"web port=$PORT greeting=$GREETING\"\n\nworker: echo \"worker port=$PORT\"\nclock: echo \"clock port=$PORT\"\n",
    );
    p.write(".env", "GREETING=hello-from-dotenv\n");
    // PORT of the calling environment is never passed on unless a test sets it.
    let r = p
        .cmd(&["up", "--output", "full"])
        .env_remove("GREETING")
        .run();
    let out = &r.stdout;
    assert!(r.status.success(), "{}", r.all());
    assert!(
        out.contains("web port=5000 greeting=hello-from-dotenv"),
        "{out}"
    );
    assert!(out.contains("worker port=5100"), "{out}");
    assert!(out.contains("clock port=5200"), "{out}");
}

#[test]
fn procfile_port_base_comes_from_port() {
    let p = procfile_project("a: echo \"a port=$PORT\"\nb: echo \"b port=$PORT\"\n");
    let base = free_port().min(65000);
    let r = p
        .cmd(&["up", "--output", "full"])
        .env("PORT", base.to_string())
        .run();
    let out = &r.stdout;
    assert!(r.status.success(), "{}", r.all());
    assert!(out.contains(&format!("a port={base}")), "{out}");
    assert!(out.contains(&format!("b port={}", base + 100)), "{out}");
}

#[test]
fn a_bad_procfile_line_is_a_manifest_error() {
    let p = procfile_project("web: echo hi\nthis is not a process\n");
    let r = p.run(&["up"]);
    assert_eq!(r.code(), 2, "{}", r.all());
    assert!(r.stderr.contains("Procfile:2:1"), "{}", r.stderr);
    assert!(r.stderr.contains("hint"), "{}", r.stderr);
}

#[test]
fn init_converts_the_procfile_and_never_overwrites() {
    let p = procfile_project("web: bundle exec rails s -p $PORT\nworker: echo 'a: b' # x\n");
    p.write(".env", "A=1\n");
    let r = p.run(&["init"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(r.stdout.contains("2 tasks from Procfile"), "{}", r.stdout);
    let yaml = p.read("bts.yaml");
    assert!(yaml.starts_with('#'), "commented:\n{yaml}");
    assert!(yaml.contains("env_file: .env"), "{yaml}");
    assert!(yaml.contains("ports: [5100]"), "{yaml}");

    // The generated bts.yaml now wins over the Procfile, with the same tasks and commands.
    let exported = p.run(&["export", "procfile"]);
    assert_eq!(exported.code(), 0, "{}", exported.all());
    assert_eq!(
        entries(&exported.stdout),
        entries(&p.read("Procfile")),
        "{yaml}"
    );

    // Never overwritten without --force.
    std::fs::write(p.file("bts.yaml"), "tasks: {keep: {cmd: 'true'}}\n").unwrap();
    let again = p.run(&["init"]);
    assert_eq!(again.code(), 1, "{}", again.all());
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    assert!(p.read("bts.yaml").contains("keep"));
    let forced = p.run(&["init", "--force"]);
    assert_eq!(forced.code(), 0, "{}", forced.all());
    assert!(p.read("bts.yaml").contains("bundle exec rails"));
}

#[test]
fn init_without_a_procfile_writes_a_starter_that_loads() {
    let p = Project::new("");
    std::fs::remove_file(p.file("bts.yaml")).unwrap();
    let r = p.run(&["init"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(r.stdout.contains("starter"), "{}", r.stdout);
    let r = p.run(&["export", "procfile"]);
    assert_eq!(r.code(), 0, "the starter loads: {}", r.all());
}

/// `name: command` pairs of a Procfile, ignoring comments and blank lines.
fn entries(procfile: &str) -> Vec<(String, String)> {
    procfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(n, c)| (n.trim().to_string(), c.trim().to_string()))
        .collect()
}

#[test]
fn procfile_export_round_trips_through_the_procfile_loader() {
    let p = procfile_project(
        "web: echo \"web $PORT\" && sleep 0\nworker: printf '%s\\n' 'it''s' \"a: b\"\nrelease.x: echo done\n",
    );
    let r = p.run(&["export", "procfile", "--out", "Procfile.out"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    let exported = p.read("Procfile.out");
    assert_eq!(
        entries(&exported),
        entries(&p.read("Procfile")),
        "{exported}"
    );
    // And again from the exported file, read by the Procfile loader.
    let r2 = p.run(&["-f", "Procfile.out", "export", "procfile"]);
    assert_eq!(r2.code(), 0, "{}", r2.all());
    assert_eq!(entries(&r2.stdout), entries(&exported));

    // From a bts.yaml: a task's cwd becomes a `cd`, maintenance tasks are comments.
    let q = Project::new(
        "tasks:\n  api:\n    cmd: [cargo, run, -p, api]\n    cwd: services/api\n  migrate:\n    cmd: ./migrate\n    destructive: true\n",
    );
    let r = q.run(&["export", "procfile"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(
        r.stdout
            .contains("api: cd services/api && cargo run -p api"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("# migrate: ./migrate"), "{}", r.stdout);
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// bts.example.yaml and every manifest in examples/.
pub fn shipped_manifests() -> Vec<PathBuf> {
    let mut out = vec![repo().join("bts.example.yaml")];
    let mut examples: Vec<PathBuf> = std::fs::read_dir(repo().join("examples"))
        .expect("examples/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 3, "at least three examples: {examples:?}");
    out.extend(examples);
    out
}

#[test]
fn schema_validates_every_shipped_manifest_and_so_does_the_loader() {
    let p = Project::new("tasks: {a: 'true'}\n");
    let r = p.run(&["schema"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    let schema: serde_json::Value = serde_json::from_str(&r.stdout).expect("schema is JSON");
    // The copy the examples' modelines point to is current.
    let committed = std::fs::read_to_string(repo().join("bts.schema.json")).unwrap_or_default();
    assert!(
        committed == r.stdout,
        "bts.schema.json is stale: run `cargo run -- schema > bts.schema.json`"
    );
    let validator = jsonschema::draft7::new(&schema).expect("a valid draft-07 schema");
    for path in shipped_manifests() {
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: serde_json::Value =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
        // The loader: `export procfile` loads the manifest and nothing else.
        let shown = path.to_string_lossy().into_owned();
        let r = p.run(&["export", "procfile", "-f", &shown]);
        assert_eq!(r.code(), 0, "{}: {}", path.display(), r.all());
    }
    // The schema also says no to an unknown key, as the loader does.
    let bad: serde_json::Value =
        serde_yaml::from_str("tasks: {web: {cmd: x, restrat: always}}").unwrap();
    assert!(!validator.is_valid(&bad));
}

#[test]
fn readme_shows_the_schema_modeline_and_points_to_examples() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        readme.contains("# yaml-language-server: $schema="),
        "modeline"
    );
    assert!(readme.contains("examples/"), "examples");
}

#[test]
fn completions_are_printed_for_each_shell() {
    let p = Project::new("tasks: {a: 'true'}\n");
    for shell in ["bash", "zsh", "fish"] {
        let r = p.run(&["completions", shell]);
        assert_eq!(r.code(), 0, "{shell}: {}", r.all());
        assert!(r.stdout.len() > 200, "{shell}: {}", r.stdout);
        assert!(r.stdout.contains("export"), "{shell} knows the commands");
    }
    let r = p.run(&["completions", "tcsh"]);
    assert_eq!(r.code(), 2, "{}", r.all());
}

#[test]
fn systemd_export_writes_units_that_verify() {
    let p = Project::new(
        r#"name: shop
env_file: .env
env:
  NODE_ENV: production
  DATABASE_URL: "postgres://shop:hunter2secret@127.0.0.1/shop"
tasks:
  db:
    cmd: exec sleep 1000
    health: { tcp: 5432 }
    stop_signal: SIGINT
    stop_timeout: 30s
    nice: 5
    max_memory: 512MB
    max_cpu: 150%
  migrate:
    cmd: echo "migrating $PORT 100%"
    destructive: true
  api:
    cmd: [sleep, "1000"]
    cwd: api
    ports: [4000]
    restart: on-failure
    backoff: 500ms
    max_memory: 1.5GB
    on_limit: warn
    depends_on: { db: healthy, migrate: completed }
  web:
    cmd: echo "it's \"quoted\" \\ $HOME"
    restart: always
    depends_on: [api]
  cron:
    cmd: echo maintenance
    autostart: false
"#,
    );
    p.write(
        ".env",
        "STRIPE_SECRET_KEY=sk_test_abcdefghijklmnop\nPLAIN=1\n",
    );
    std::fs::create_dir_all(p.file("api")).unwrap();
    let r = p.run(&["export", "systemd", "--out", "units"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    let unit = |name: &str| p.read(&format!("units/{name}"));
    let api = unit("shop-api.service");
    // `on_limit: warn`: reclaim above the limit, no kill.
    assert!(api.contains("\nMemoryHigh=1610612736\n"), "{api}");
    assert!(
        !api.contains("MemoryMax") && !api.contains("CPUQuota"),
        "{api}"
    );
    for want in [
        "Type=exec",
        "Restart=on-failure",
        "RestartSec=500ms",
        "KillMode=control-group",
        "KillSignal=SIGTERM",
        "TimeoutStopSec=10s",
        "Requires=shop-db.service",
        "After=shop-db.service",
        "After=shop-migrate.service",
        "WantedBy=shop.target",
        "Environment=\"NODE_ENV=production\"",
        "Environment=PORT=4000",
    ] {
        assert!(api.contains(want), "{want} in:\n{api}");
    }
    assert!(
        api.contains(&format!(
            "WorkingDirectory={}",
            p.path().join("api").display()
        )) || api.contains("WorkingDirectory=/"),
        "{api}"
    );
    // A destructive dependency is ordered, never pulled in.
    assert!(!api.contains("Requires=shop-migrate.service"), "{api}");
    // Secrets stay out of the units: env files by reference, the rest to fill in.
    for name in ["shop-api.service", "shop-web.service", "shop-db.service"] {
        let u = unit(name);
        assert!(!u.contains("hunter2secret"), "{u}");
        assert!(!u.contains("sk_test_"), "{u}");
        assert!(u.contains("EnvironmentFile="), "{u}");
    }
    assert!(api.contains(&format!(
        "EnvironmentFile={}",
        p.path().canonicalize().unwrap().join(".env").display()
    )));
    let secrets = unit("shop.secrets.env");
    assert!(secrets.contains("DATABASE_URL="), "{secrets}");
    assert!(!secrets.contains("hunter2secret"), "{secrets}");

    let db = unit("shop-db.service");
    assert!(
        db.contains("KillSignal=SIGINT") && db.contains("TimeoutStopSec=30s"),
        "{db}"
    );
    assert!(db.contains("\nNice=5\n"), "{db}");
    // Limits: the kernel's (systemd-analyze verify below checks the keys).
    assert!(db.contains("\nMemoryMax=536870912\n"), "{db}");
    assert!(db.contains("\nCPUQuota=150%\n"), "{db}");
    assert!(!db.contains("MemoryHigh"), "{db}");
    let migrate = unit("shop-migrate.service");
    assert!(migrate.contains("Type=oneshot"), "{migrate}");
    assert!(!migrate.contains("WantedBy"), "{migrate}");
    assert!(
        migrate.contains("$$PORT 100%%"),
        "systemd escapes: {migrate}"
    );
    let web = unit("shop-web.service");
    assert!(web.contains("Wants=shop-api.service"), "{web}");
    assert!(web.contains("Restart=always"), "{web}");
    let target = unit("shop.target");
    assert!(target.contains("Wants=shop-api.service"), "{target}");
    assert!(!target.contains("shop-migrate"), "{target}");
    assert!(!target.contains("shop-cron"), "{target}");

    let Some(analyze) = require_tool("systemd-analyze", "the units' `systemd-analyze verify`")
    else {
        return;
    };
    let files: Vec<PathBuf> = std::fs::read_dir(p.file("units"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|f| {
            f.extension()
                .is_some_and(|x| x == "service" || x == "target")
        })
        .collect();
    let out = Invocation::program(&analyze)
        .arg("verify")
        .arg("--man=no")
        .args(&files)
        .current_dir(p.file("units"))
        .run();
    let stderr = &out.stderr;
    // Without a running systemd (containers), verify may complain about the manager
    // itself; the units are what we check.
    let unit_problems: Vec<&str> = stderr.lines().filter(|l| l.contains("shop")).collect();
    assert!(
        out.status.success() && unit_problems.is_empty(),
        "systemd-analyze verify:\n{stderr}\n{}",
        files
            .iter()
            .map(|f| format!(
                "== {}\n{}",
                f.display(),
                std::fs::read_to_string(f).unwrap()
            ))
            .collect::<String>()
    );
}

#[test]
fn procfile_export_keeps_declared_ports_and_names_the_env() {
    let p = Project::new("tasks:\n  api:\n    cmd: node server.js\n    ports: [4000]\n    env: { DB: \"x y\" }\n  worker:\n    cmd: node worker.js\n");
    let r = p.run(&["export", "procfile"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(
        r.stdout.contains("api: PORT=4000 node server.js"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("worker: node worker.js"), "{}", r.stdout);
    assert!(r.stdout.contains("#   api: DB"), "{}", r.stdout);
}

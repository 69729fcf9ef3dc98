//! `include:` (docs/behaviour.md#include): other manifests' tasks join the stack, each
//! with its own file's directory as the base of its relative paths; duplicates, cycles
//! and missing files are errors naming their files and lines.

use crate::common::*;

/// A monorepo: two apps found by a glob, a tools file named directly.
fn monorepo() -> Project {
    let p = Project::new(
        "include: [apps/*/bts.yaml, tools/db.yaml]\nenv: {SHARED: from-root}\ntasks:\n  root:\n    cmd: exec sleep 300\n",
    );
    p.write(
        "apps/web/bts.yaml",
        "name: web-alone\nenv_file: .env\ntasks:\n  web:\n    cmd: echo \"x=$WEB_X shared=$SHARED pwd=$(pwd)\"; exec sleep 300\n",
    );
    p.write("apps/web/.env", "WEB_X=from-web-env\n");
    std::fs::create_dir_all(p.file("apps/api/src")).unwrap();
    p.write(
        "apps/api/bts.yaml",
        "defaults: {restart: on-failure}\ntasks:\n  api:\n    cmd: echo \"pwd=$(pwd)\"; exec sleep 300\n    cwd: src\n    depends_on: [db]\n",
    );
    p.write("tools/db.yaml", "tasks:\n  db:\n    cmd: exec sleep 300\n");
    p
}

#[test]
fn included_tasks_join_the_stack_with_their_own_directories() {
    let p = monorepo();
    let check = p.run(&["check"]);
    assert_eq!(check.code(), 0, "{}", check.all());
    assert!(check.stdout.contains("4 tasks"), "{}", check.all());
    let up = p.run(&["up", "--wait"]);
    assert_eq!(up.code(), 0, "{}", up.all());
    let _guard = DaemonGuard { project: &p };
    for t in ["root", "web", "api", "db"] {
        assert_eq!(task_status(&p, t)["status"], "UP", "{t}");
    }
    let root = p.path().canonicalize().unwrap();
    let mut log = String::new();
    assert!(eventually(DEADLINE, || {
        log = p.read(".bts/logs/web.log");
        log.contains("pwd=")
    }));
    assert!(log.contains("x=from-web-env"), "its own env_file: {log}");
    assert!(
        log.contains("shared=from-root"),
        "the including file's env: {log}"
    );
    assert!(
        log.contains(&format!("pwd={}", root.join("apps/web").display())),
        "{log}"
    );
    assert!(eventually(DEADLINE, || p
        .read(".bts/logs/api.log")
        .contains("pwd=")));
    let api = p.read(".bts/logs/api.log");
    assert!(
        api.contains(&format!("pwd={}", root.join("apps/api/src").display())),
        "{api}"
    );
    // The project is the including manifest's, not an included file's `name`.
    let doc = status_json(&p);
    assert_ne!(doc["project"], "web-alone");
}

#[test]
fn a_task_defined_twice_names_both_files_unless_extended() {
    let p = monorepo();
    p.write(
        "tools/db.yaml",
        "tasks:\n  db:\n    cmd: exec sleep 300\n  web:\n    cmd: x\n",
    );
    let r = p.run(&["check"]);
    assert_eq!(r.code(), 1, "{}", r.all());
    let all = r.all();
    assert!(
        all.contains(
            "task `web` is defined twice: at apps/web/bts.yaml:4:3 and at tools/db.yaml:4:3"
        ),
        "{all}"
    );
    assert!(
        all.contains("--> tools/db.yaml:4:3"),
        "rendered in its own file: {all}"
    );
    assert!(all.contains("extends: true"), "{all}");

    // `extends: true` in the including file lays keys over the included task.
    let p = monorepo();
    p.write(
        "bts.yaml",
        "include: [apps/*/bts.yaml, tools/db.yaml]\ntasks:\n  web:\n    extends: true\n    env: {WEB_X: overridden}\n",
    );
    let r = p.run(&["check"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    let up = p.run(&["up", "--wait", "web"]);
    assert_eq!(up.code(), 0, "{}", up.all());
    let _guard = DaemonGuard { project: &p };
    assert!(eventually(DEADLINE, || p
        .read(".bts/logs/web.log")
        .contains("x=overridden")));

    // Over a one-line included task too.
    let q = Project::new("include: [inc.yaml]\ntasks:\n  web:\n    extends: true\n    cmd: echo overridden; exec sleep 300\n");
    q.write("inc.yaml", "tasks:\n  web: echo plain; exec sleep 300\n");
    let m = bts::manifest::load_path(&q.file("bts.yaml")).unwrap();
    assert_eq!(
        m.task("web").unwrap().command.display(),
        "echo overridden; exec sleep 300"
    );

    // Without an included task of that name, `extends` is an error.
    let q = Project::new("tasks:\n  web:\n    extends: true\n    cmd: x\n");
    let r = q.run(&["check"]);
    assert!(
        r.all()
            .contains("task `web` has `extends: true` but no included file defines `web`"),
        "{}",
        r.all()
    );
}

#[test]
fn cycles_missing_files_and_empty_globs() {
    let p = Project::new("include: [a.yaml]\ntasks:\n  root: exec sleep 300\n");
    p.write(
        "a.yaml",
        "include: [sub/b.yaml]\ntasks:\n  a: exec sleep 300\n",
    );
    p.write(
        "sub/b.yaml",
        "include: [../a.yaml]\ntasks:\n  b: exec sleep 300\n",
    );
    let r = p.run(&["check"]);
    assert_eq!(r.code(), 1, "{}", r.all());
    assert!(
        r.all()
            .contains("include cycle: a.yaml → sub/b.yaml → a.yaml"),
        "{}",
        r.all()
    );
    assert!(r.all().contains("--> sub/b.yaml:1:11"), "{}", r.all());

    let p = Project::new("include: [tools/missing.yaml]\ntasks:\n  root: exec sleep 300\n");
    let r = p.run(&["check"]);
    assert_eq!(r.code(), 1, "{}", r.all());
    assert!(
        r.all()
            .contains("included file `tools/missing.yaml` not found"),
        "{}",
        r.all()
    );
    assert!(r.all().contains("--> bts.yaml:1:11"), "{}", r.all());

    let p = Project::new("include: ['apps/[web']\ntasks:\n  root: exec sleep 300\n");
    let r = p.run(&["check"]);
    assert_eq!(r.code(), 1, "{}", r.all());
    assert!(r.all().contains("is not a valid glob"), "{}", r.all());

    // `**/bts.yaml` finds the including file too: it means the others.
    let p = Project::new("include: ['**/bts.yaml']\ntasks:\n  root: exec sleep 300\n");
    p.write("sub/bts.yaml", "tasks:\n  sub: exec sleep 300\n");
    let r = p.run(&["check"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert!(r.stdout.contains("2 tasks"), "{}", r.all());

    let p = Project::new("include: [apps/*/bts.yaml]\ntasks:\n  root: exec sleep 300\n");
    let r = p.run(&["check"]);
    assert_eq!(
        r.code(),
        0,
        "a glob that matches nothing is a warning: {}",
        r.all()
    );
    assert!(
        r.all()
            .contains("warning: bts.yaml:1:11: include `apps/*/bts.yaml` matches no file"),
        "{}",
        r.all()
    );
}

#[test]
fn an_error_in_an_included_file_points_into_it() {
    let p = monorepo();
    p.write(
        "tools/db.yaml",
        "tasks:\n  db:\n    cmd: exec sleep 300\n    restart: sometimes\n",
    );
    let r = p.run(&["check"]);
    assert_eq!(r.code(), 1, "{}", r.all());
    assert!(r.all().contains("--> tools/db.yaml:4:14"), "{}", r.all());
    assert!(
        r.all().contains("4 |     restart: sometimes"),
        "{}",
        r.all()
    );
}

#[test]
fn live_reload_follows_an_included_file() {
    let p = monorepo();
    p.write(
        "bts.yaml",
        "settings: {reload: true}\ninclude: [apps/*/bts.yaml, tools/db.yaml]\ntasks:\n  root:\n    cmd: exec sleep 300\n",
    );
    let up = p.run(&["up", "--wait"]);
    assert_eq!(up.code(), 0, "{}", up.all());
    let _guard = DaemonGuard { project: &p };
    p.write(
        "tools/db.yaml",
        "tasks:\n  db:\n    cmd: exec sleep 300\n  cache:\n    cmd: exec sleep 300\n",
    );
    let mut d = serde_json::Value::Null;
    let ok = eventually(DEADLINE, || {
        d = task_status(&p, "cache");
        d["status"] == "UP"
    });
    assert!(ok, "{d:#}\n{}", p.read(".bts/supervisor.log"));
}

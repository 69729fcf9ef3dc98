//! Reliability under load: one task floods output as fast as it can while another's
//! health check must keep running and passing and a third is stopped and restarted
//! through the control socket. All three must behave. No wall-clock bound: what is
//! asserted is that checks go on and never fail, however slow the machine.

use std::time::Duration;

use crate::common::*;

#[test]
fn flood_does_not_starve_health_checks_or_control() {
    let port = free_port();
    let p = Project::new(&format!(
        r#"tasks:
  flood:
    cmd: exec yes 'flood line padded out to about eighty bytes so the pipe fills quickly ...'
    log_max_kb: 256
  web:
    cmd: {server} --port {port}
    health: {{ tcp: {port}, interval: 200ms, timeout: 3s, retries: 2, start_period: 0s }}
  worker:
    cmd: echo worker ready; exec sleep 300
"#,
        server = probe_server()
    ));
    let _g = DaemonGuard { project: &p };
    let r = p.run(&["up", "-d"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    wait_state(&p, "web", "UP");
    let worker_before = wait_state(&p, "worker", "UP")["pid"].as_i64().unwrap();

    // The flood really floods: its log rotates while the rest of the test runs.
    let log = p.file(".bts/logs/flood.log");
    assert!(
        eventually(DEADLINE, || std::fs::metadata(&log)
            .map(|m| m.len() > 64 * 1024)
            .unwrap_or(false)),
        "flood never wrote its log"
    );

    // Stop and restart the third task while the flood goes on.
    let r = p.run(&["down", "worker"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    assert_eq!(task_status(&p, "worker")["status"], "STOPPED");
    assert!(!alive(worker_before as i32));
    let r = p.run(&["up", "worker"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    let worker_after = wait_state(&p, "worker", "UP")["pid"].as_i64().unwrap();
    assert_ne!(worker_before, worker_after);
    assert!(alive(worker_after as i32));

    // While the flood goes on, the health check keeps running and passing: sample until
    // eight distinct checks have been seen (a couple of seconds at a 200 ms interval; the
    // deadline only bounds a stall), web and the flood UP at every sample.
    let mut checks = std::collections::BTreeSet::new();
    let mut samples = 0;
    let kept_checking =
        eventually_every(Duration::from_secs(60), Duration::from_millis(100), || {
            let web = task_status(&p, "web");
            assert_eq!(web["status"], "UP", "web left UP under the flood: {web}");
            if let Some(t) = web["health"]["last_check"].as_str() {
                checks.insert(t.to_string());
            }
            assert_eq!(task_status(&p, "flood")["status"], "UP");
            samples += 1;
            checks.len() >= 8
        });
    assert!(
        kept_checking,
        "health checks stalled under the flood: {} distinct last_check values in {samples} samples",
        checks.len()
    );
    let log_text = p.read(".bts/supervisor.log");
    assert!(
        !log_text.contains("web: DEGRADED") && !log_text.contains("web: DOWN"),
        "{log_text}"
    );
    // Any rotation will do: `.1.gz` alone may be between its shift and its rewrite.
    let rotated = std::fs::read_dir(p.file(".bts/logs"))
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().ends_with(".gz"));
    assert!(rotated, "the flood log never rotated");
    assert_eq!(task_status(&p, "worker")["status"], "UP");
}

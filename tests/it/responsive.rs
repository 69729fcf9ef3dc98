//! The supervisor loop stays responsive: slow work (gzipping a big log) happens off it,
//! and `status` answers with fresh figures.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::common::*;

#[test]
fn status_answers_quickly_while_a_100mb_log_is_archived() {
    let p = Project::new(
        "tasks:\n  big:\n    cmd: exec sleep 300\n    log_max_kb: 1000000\n  other:\n    cmd: exec sleep 300\n",
    );
    let _g = DaemonGuard { project: &p };
    assert_eq!(p.run(&["up", "-d"]).code(), 0);
    wait_state(&p, "big", "UP");
    // 100 MB of log lines, appended behind the writer's back (the log is O_APPEND).
    {
        let mut log = std::fs::OpenOptions::new()
            .append(true)
            .open(p.file(".bts/logs/big.log"))
            .unwrap();
        // Varied lines (a compressor has work to do), as real logs are.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut chunk = String::new();
        let mut written = 0u64;
        while written < 100 << 20 {
            chunk.clear();
            for _ in 0..10_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.push_str(&format!(
                    "2026-01-01T00:00:00.000Z GET /api/{x:016x} 200 {:x} {:x}\n",
                    x.rotate_left(17),
                    x.wrapping_mul(31)
                ));
            }
            log.write_all(chunk.as_bytes()).unwrap();
            written += chunk.len() as u64;
        }
    }
    // `down big` archives the log at its stop; status round trips meanwhile.
    let mut down = p.spawn(&["down", "big"]);
    let mut slowest = Duration::ZERO;
    let mut during = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !down.exited() && Instant::now() < deadline {
        let t = Instant::now();
        let r = p.run(&["status", "--json"]);
        assert_eq!(r.code(), 0, "{}", r.all());
        slowest = slowest.max(t.elapsed());
        during += 1;
    }
    let code = down
        .wait_exit(Duration::from_secs(60))
        .and_then(|s| s.code());
    assert_eq!(code, Some(0), "{}", down.output());
    assert!(during >= 1, "down returned before a status could be asked");
    // Generous: a status is a few ms; a gzip of 100 MB on the loop takes seconds.
    assert!(
        slowest < Duration::from_millis(1500),
        "status took {slowest:?} during the archive"
    );
    let archived: Vec<_> = std::fs::read_dir(p.file(".bts/archive"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("big-"))
        .collect();
    assert_eq!(archived.len(), 1);
    assert!(archived[0].metadata().unwrap().len() > 0);
    assert!(
        down.stdout().contains("log archived to"),
        "{}",
        down.stdout()
    );
}

#[test]
fn status_has_cpu_and_memory_of_a_task_started_a_moment_ago() {
    let p = Project::new("tasks:\n  spin:\n    cmd: while :; do :; done\n");
    let _g = DaemonGuard { project: &p };
    assert_eq!(p.run(&["up", "-d"]).code(), 0);
    let mut last = serde_json::Value::Null;
    let ok = eventually(Duration::from_secs(3), || {
        last = task_status(&p, "spin");
        last["pid"].is_i64()
    });
    assert!(ok, "{last}");
    // Far sooner than the 5 s periodic sample.
    let started = Instant::now();
    let ok = eventually(Duration::from_secs(2), || {
        last = task_status(&p, "spin");
        last["cpu_percent"].is_number() && last["rss_bytes"].as_u64().is_some_and(|r| r > 0)
    });
    assert!(ok, "no usage within {:?}: {last}", started.elapsed());
}

//! The stack hand-off of `bts status`: ten tasks under load, two with problems, in at
//! most 500 tokens of a real BPE tokenizer, naming both problems with their next action.

use std::time::Duration;

use crate::common::*;

fn stack() -> String {
    let mut m = String::from("name: shop\ntasks:\n");
    for i in 0..8 {
        m.push_str(&format!(
            "  svc{i}:\n    cmd: i=0; while :; do i=$((i+1)); echo \"GET /api/items/$i 200 12ms user=u$i\"; sleep 0.005; done\n"
        ));
    }
    m.push_str(
        "  crashy:\n    cmd: \"echo 'Error: cannot connect to db at 127.0.0.1:5432'; exit 1\"\n    restart: on-failure\n    max_restarts: 2\n    backoff: 10ms\n",
    );
    m.push_str("  migrate:\n    cmd: touch migrated\n    destructive: true\n");
    m
}

#[test]
fn status_hands_off_ten_tasks_in_500_tokens() {
    let p = Project::new(&stack());
    let _g = DaemonGuard { project: &p };
    p.run(&["up", "-d"]);
    wait_state(&p, "crashy", "FAILED");
    wait_state(&p, "migrate", "BLOCKED");
    for i in 0..8 {
        wait_state(&p, &format!("svc{i}"), "UP");
    }
    // Let the output pile up a little, as it would between two steps of an agent.
    std::thread::sleep(Duration::from_millis(500));
    let r = p.run(&["status"]);
    assert_eq!(r.code(), 0, "{}", r.all());
    let text = r.stdout;
    let bpe = tiktoken_rs::o200k_base().unwrap();
    let tokens = bpe.encode_with_special_tokens(&text).len();
    assert!(tokens <= 500, "{tokens} tokens:\n{text}");
    assert!(
        text.starts_with("shop: 10 tasks, 8 fine, 2 need attention"),
        "{text}"
    );
    for i in 0..8 {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("svc{i} ")) && l.contains("UP")),
            "svc{i} has its line:\n{text}"
        );
    }
    assert!(text.contains("! crashy  FAILED  crash loop"), "{text}");
    assert!(text.contains("next: it keeps crashing"), "{text}");
    assert!(text.contains("cannot connect to db"), "{text}");
    assert!(text.contains("! migrate  BLOCKED"), "{text}");
    assert!(text.contains("`bts up --confirm migrate`"), "{text}");
    // The full digests are still there when asked for.
    let all = p.run(&["status", "--all"]);
    assert!(all.stdout.contains("[TASK: svc0] UP"), "{}", all.stdout);
    let one = p.run(&["status", "crashy"]);
    assert!(
        one.stdout.contains("[TASK: crashy] FAILED"),
        "{}",
        one.stdout
    );
}

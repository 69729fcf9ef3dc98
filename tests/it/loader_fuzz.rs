//! The loader property test through the real binary: a sample of random manifests
//! (`fuzz_gen`) checked with `bts check`. Never a panic: exit 0 (valid, environment
//! fine), 1 (problems found) or 2 (unreadable), and a rejection always says why. The
//! in-process test in `src/manifest/fuzz_tests.rs` covers thousands more cases.

use crate::common::*;
use crate::fuzz_gen::{manifest, Rng};

#[test]
fn bts_check_never_panics_on_random_manifests() {
    let mut r = Rng::new(0x0b75_c4ec);
    let p = Project::new("");
    for case in 0..60 {
        let text = manifest(&mut r);
        p.write("bts.yaml", &text);
        let out = p.run(&["check"]);
        let all = out.all();
        assert!(
            [0, 1, 2].contains(&out.code()) && !all.contains("panicked"),
            "case {case}: exit {} on:\n{text}\n--- output\n{all}",
            out.code()
        );
        if out.code() != 0 {
            assert!(
                all.contains("error"),
                "case {case}: rejected silently:\n{text}\n{all}"
            );
        }
    }
}

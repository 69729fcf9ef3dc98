//! A dependency-free property test of the loader: thousands of random manifests (from
//! `tests/it/fuzz_gen.rs`: the real vocabulary, then byte-wise mutations) go through
//! `validate` and the diagnostic renderer, in process — about a thousand times faster
//! than running the binary per case, so it can afford thousands of cases. The property: never a panic, and every rejection
//! comes with at least one diagnostic. A fixed seed keeps failures reproducible; set
//! `BTS_FUZZ_SEED` / `BTS_FUZZ_CASES` to explore further.

use std::collections::BTreeMap;
use std::path::Path;

use super::diag::{Invalid, ManifestError};
use super::validate::validate;

#[path = "../../tests/it/fuzz_gen.rs"]
mod fuzz_gen;
use fuzz_gen::{manifest, Rng};

#[test]
fn random_manifests_never_panic_the_loader() {
    let seed = std::env::var("BTS_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x05ee_db75);
    let cases: usize = std::env::var("BTS_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let dir = std::env::temp_dir();
    let path = dir.join("bts-fuzz").join("bts.yaml");
    let calling: BTreeMap<String, String> = [("HOME".to_string(), "/home/x".to_string())].into();
    let mut r = Rng::new(seed);
    for case in 0..cases {
        let text = manifest(&mut r);
        let result =
            std::panic::catch_unwind(|| match validate(&text, Path::new(&path), &calling) {
                Ok(_) => {}
                Err(diagnostics) => {
                    assert!(!diagnostics.is_empty(), "rejected without a diagnostic");
                    let err = ManifestError::Invalid(Box::new(Invalid {
                        includes: vec![],
                        shown_path: "bts.yaml".into(),
                        source_text: text.clone(),
                        diagnostics,
                    }));
                    let _ = err.to_string();
                }
            });
        if result.is_err() {
            panic!("case {case} (seed {seed:#x}) panicked on:\n{text}\n---");
        }
    }
}

//! Unit tests of redaction: masks and publics, token shapes, the fast negative check,
//! overlapping matches, and the many-values path.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn redactor(pairs: &[(&str, &str)]) -> Redactor {
    Redactor::new(&env(pairs), &Secrets::default()).expect("redactor builds")
}

fn red(r: &Redactor, line: &str) -> String {
    r.redact_str(line).into_owned()
}

#[test]
fn shapes_compile() {
    for shape in SHAPES {
        Regex::new(shape.pattern).unwrap_or_else(|e| panic!("{}: {e}", shape.name));
    }
}

#[test]
fn token_shapes_redacted_and_near_misses_kept() {
    let r = redactor(&[]);
    let a36 = "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8";
    assert_eq!(a36.len(), 36);
    let cases: &[(String, String)] = &[
        ("key=AKIAIOSFODNN7EXAMPLE end".into(), "key=**** end".into()),
        ("key=ASIAIOSFODNN7EXAMPLE".into(), "key=****".into()),
        (format!("t ghp_{a36} x"), "t **** x".into()),
        (format!("gho_{a36}"), "****".into()),
        (format!("ghs_{a36}"), "****".into()),
        (format!("ghu_{a36}"), "****".into()),
        (format!("ghr_{a36}"), "****".into()),
        ("github_pat_11ABCDEFG0123456789_abcdefghij".into(), "****".into()),
        ("glpat-abcdEFGH1234_-ijklmnop more".into(), "**** more".into()),
        ("xoxb-1234567890-abcdefghij".into(), "****".into()),
        ("xoxp-12345-67890abcde".into(), "****".into()),
        ("sk_live_abcdefghIJKLMNOP1234".into(), "****".into()),
        ("rk_live_abcdefghIJKLMNOP1234".into(), "****".into()),
        ("sk_test_abcdefghIJKLMNOP1234".into(), "****".into()),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U ok"
                .into(),
            "jwt **** ok".into(),
        ),
    ];
    for (line, want) in cases {
        assert_eq!(&red(&r, line), want, "line: {line}");
    }
    let near_misses = [
        "AKIAIOSFODNN7EXAMPL",                              // 15 after the prefix
        "AKIAiosfodnn7example",                             // lowercase
        "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R",          // 35
        "ghx_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",         // unknown prefix
        "github_pat_short123",                              // < 22
        "glpat-tooShort123",                                // < 20
        "xoxz-1234567890-abcdefghij",                       // unknown slack prefix
        "xoxb-12345",                                       // < 10
        "sk_live_short123",                                 // < 16
        "pk_live_abcdefghIJKLMNOP1234",                     // publishable key
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0", // two segments
        "use Bearer auth",                                  // short word after Bearer
        "see http://example.com/a:b@c",                     // `@` after the path starts
        "listening on http://localhost:3000/",
    ];
    for line in near_misses {
        assert!(
            matches!(r.redact(line.as_bytes()), Cow::Borrowed(_)),
            "redacted: {line}"
        );
    }
}

#[test]
fn bearer_keeps_the_word() {
    let r = redactor(&[]);
    assert_eq!(
        red(&r, "Authorization: Bearer abc.DEF-123_456~xyz== next"),
        "Authorization: Bearer **** next"
    );
    assert_eq!(
        red(&r, "authorization: bearer 0123456789abcdef"),
        "authorization: bearer ****"
    );
}

#[test]
fn url_keeps_scheme_user_and_host() {
    let r = redactor(&[]);
    assert_eq!(
        red(
            &r,
            "connecting to postgres://app:hunter2@db.internal:5432/app"
        ),
        "connecting to postgres://app:****@db.internal:5432/app"
    );
    assert_eq!(
        red(&r, "redis://:s3cret@cache:6379"),
        "redis://:****@cache:6379"
    );
    // An unescaped `@` in the password does not leave its tail visible.
    assert_eq!(red(&r, "amqp://u:p@ss@mq/vhost"), "amqp://u:****@mq/vhost");
}

#[test]
fn masked_env_value_redacted() {
    let r = redactor(&[
        ("DB_PASSWORD", "correct-horse"),
        ("GITHUB_TOKEN", "tok123456"),
        ("HOME", "/home/me"),
    ]);
    assert_eq!(
        red(&r, "login with correct-horse now"),
        "login with **** now"
    );
    assert_eq!(red(&r, "token=tok123456"), "token=****");
    assert_eq!(red(&r, "home is /home/me"), "home is /home/me");
    assert!(r.is_masked("DB_PASSWORD"));
    assert!(r.is_masked("db_password"), "globs are case-insensitive");
    assert!(r.is_masked("AWS_SECRET_ACCESS_KEY"));
    assert!(r.is_masked("STRIPE_KEY"));
    assert!(!r.is_masked("HOME"));
    assert!(!r.is_masked("KEYBOARD"));
}

#[test]
fn short_value_not_redacted() {
    let r = redactor(&[("API_KEY", "abcde"), ("SECRET", "ünïcö")]);
    assert_eq!(red(&r, "key abcde"), "key abcde");
    // Characters, not bytes: five characters stay visible even as ten bytes.
    assert_eq!(red(&r, "x ünïcö"), "x ünïcö");
    let r = redactor(&[("API_KEY", "abcdef")]);
    assert_eq!(red(&r, "key abcdef"), "key ****");
}

#[test]
fn public_keys_shown() {
    let secrets = Secrets {
        public: vec!["SENTRY_*".into()],
        ..Secrets::default()
    };
    let e = env(&[
        ("PUBLIC_API_KEY", "pk_visible_123"),
        ("SENTRY_TOKEN", "sentry-token-value"),
        ("DB_PASSWORD", "hunter22"),
        ("PATH", "/usr/bin"),
    ]);
    let r = Redactor::new(&e, &secrets).expect("builds");
    assert!(r.is_public("PUBLIC_API_KEY"));
    assert!(!r.is_masked("PUBLIC_API_KEY"));
    assert!(r.is_public("SENTRY_TOKEN"));
    assert!(!r.is_masked("SENTRY_TOKEN"));
    assert_eq!(
        red(&r, "pk_visible_123 sentry-token-value hunter22"),
        "pk_visible_123 sentry-token-value ****"
    );
    assert_eq!(
        r.env_for_display(&e),
        vec![
            (
                "PUBLIC_API_KEY".to_string(),
                Some("pk_visible_123".to_string())
            ),
            (
                "SENTRY_TOKEN".to_string(),
                Some("sentry-token-value".to_string())
            ),
            ("DB_PASSWORD".to_string(), None),
            ("PATH".to_string(), None),
        ]
    );
}

#[test]
fn public_value_still_loses_url_password() {
    let e = env(&[("PUBLIC_DB_URL", "postgres://app:hunter2@db/app")]);
    let r = Redactor::new(&e, &Secrets::default()).expect("builds");
    assert_eq!(
        r.env_for_display(&e),
        vec![(
            "PUBLIC_DB_URL".to_string(),
            Some("postgres://app:****@db/app".to_string())
        )]
    );
}

#[test]
fn extra_mask_glob() {
    let secrets = Secrets {
        mask: vec!["*_DSN".into()],
        ..Secrets::default()
    };
    let r =
        Redactor::new(&env(&[("SENTRY_DSN", "https-sentry-dsn-value")]), &secrets).expect("builds");
    assert!(r.is_masked("sentry_dsn"));
    assert_eq!(red(&r, "dsn=https-sentry-dsn-value"), "dsn=****");
}

#[test]
fn extra_redact_regex() {
    let secrets = Secrets {
        redact: vec![r"acct-\d{6}".into()],
        ..Secrets::default()
    };
    let r = Redactor::new(&[], &secrets).expect("builds");
    assert_eq!(
        red(&r, "account acct-123456 charged"),
        "account **** charged"
    );
    assert_eq!(
        red(&r, "account acct-12345 charged"),
        "account acct-12345 charged"
    );
}

#[test]
fn bad_patterns_are_named() {
    let secrets = Secrets {
        redact: vec!["(unclosed".into()],
        ..Secrets::default()
    };
    let err = Redactor::new(&[], &secrets).expect_err("bad regex");
    assert!(err.to_string().contains("`(unclosed`"), "{err}");

    let secrets = Secrets {
        redact: vec!["x*".into()],
        ..Secrets::default()
    };
    let err = Redactor::new(&[], &secrets).expect_err("empty match");
    assert!(matches!(err, RedactError::EmptyMatch { .. }), "{err}");

    let secrets = Secrets {
        mask: vec!["[A-".into()],
        ..Secrets::default()
    };
    let err = Redactor::new(&[], &secrets).expect_err("bad glob");
    assert!(err.to_string().contains("secrets.mask glob `[A-`"), "{err}");
}

#[test]
fn two_secrets_in_one_line() {
    let r = redactor(&[("API_TOKEN", "tok-aaaaaa")]);
    assert_eq!(
        red(&r, "a tok-aaaaaa b AKIAIOSFODNN7EXAMPLE c"),
        "a **** b **** c"
    );
}

#[test]
fn longer_secret_wins_over_contained_one() {
    let r = redactor(&[("SHORT_SECRET", "abcdef"), ("LONG_SECRET", "xxabcdefyy")]);
    assert_eq!(red(&r, "v=xxabcdefyy;"), "v=****;");
    assert_eq!(red(&r, "v=abcdef;"), "v=****;");
}

#[test]
fn overlapping_secrets_leave_no_fragment() {
    // Neither contains the other; the first starts earlier, the second ends later.
    let r = redactor(&[("A_SECRET", "abcdefgh"), ("B_SECRET", "efghijkl")]);
    assert_eq!(red(&r, "[abcdefghijkl]"), "[****]");
    // An env value overlapping a token shape.
    let r = redactor(&[("C_SECRET", "prefix-AKIA")]);
    assert_eq!(red(&r, "prefix-AKIAIOSFODNN7EXAMPLE!"), "****!");
    // Adjacent secrets merge into one mask.
    let r = redactor(&[("D_SECRET", "123456"), ("E_SECRET", "abcdef")]);
    assert_eq!(red(&r, "123456abcdef"), "****");
}

#[test]
fn multiline_value_redacted_line_by_line() {
    let r = redactor(&[(
        "PRIVATE_KEY",
        "-----BEGIN KEY-----\r\nMIIEvQIBADANBg\n-----END KEY-----",
    )]);
    assert_eq!(red(&r, "MIIEvQIBADANBg"), "****");
}

#[test]
fn invalid_utf8_line_redacted() {
    let r = redactor(&[("API_KEY", "sekrit-value")]);
    let line = b"\xff\xfe sekrit-value \xc3 AKIAIOSFODNN7EXAMPLE\x80";
    assert_eq!(&*r.redact(line), b"\xff\xfe **** \xc3 ****\x80");
}

#[test]
fn clean_line_is_borrowed() {
    let r = redactor(&[("API_KEY", "sekrit-value")]);
    let line = b"2025-01-01T00:00:00Z INFO server listening on 0.0.0.0:8080";
    assert!(matches!(r.redact(line), Cow::Borrowed(_)));
    assert!(matches!(r.redact_str("plain"), Cow::Borrowed(_)));
    assert!(matches!(r.redact(b""), Cow::Borrowed(_)));
}

#[test]
fn many_values_use_their_own_searchers() {
    let mut pairs = bench_env(FOLD_MAX_VALUES + 40);
    pairs.push(("X_SECRET".into(), "overlap-abcdefgh".into()));
    pairs.push(("Y_SECRET".into(), "abcdefgh-tail".into()));
    let r = Redactor::new(&pairs, &Secrets::default()).expect("builds");
    let values = r.values.as_ref().expect("values");
    assert_eq!(values.packed.len(), 2, "two Teddy chunks");
    assert!(!r.components.iter().any(|c| matches!(c, Component::Values)));
    let last = &pairs[FOLD_MAX_VALUES + 39].1;
    assert_eq!(red(&r, &format!("v={last};")), "v=****;");
    assert_eq!(red(&r, "[overlap-abcdefgh-tail]"), "[****]");
    assert_eq!(red(&r, "k AKIAIOSFODNN7EXAMPLE"), "k ****");
    assert!(matches!(r.redact(b"nothing to see"), Cow::Borrowed(_)));
}

/// Typical log lines without secrets, about 80 bytes each.
fn log_lines(n: usize, with_urls: bool) -> Vec<Vec<u8>> {
    let levels = ["INFO ", "DEBUG", "WARN ", "INFO "];
    (0..n)
        .map(|i| {
            let mut s = if with_urls && i % 2 == 0 {
                format!(
                    "2025-03-14T09:26:{:02}.{:03}Z {} proxy: GET http://localhost:{}/api/v1/items/{} 200",
                    i % 60,
                    i % 1000,
                    levels[i % 4],
                    3000 + i % 10,
                    i
                )
            } else {
                format!(
                    "2025-03-14T09:26:{:02}.{:03}Z {} api::http: GET /v1/users/{} 200 {}ms req={:08x}",
                    i % 60,
                    i % 1000,
                    levels[i % 4],
                    i * 7,
                    i % 97,
                    i * 2_654_435_761 % (1 << 32)
                )
            };
            s.truncate(80);
            while s.len() < 80 {
                s.push(' ');
            }
            s.into_bytes()
        })
        .collect()
}

fn bench_env(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            (
                format!("SERVICE_{i}_TOKEN"),
                format!(
                    "{:016x}-s3cr3t",
                    (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ),
            )
        })
        .collect()
}

/// The last secret value of [`bench_env`]`(values)`, checking it is redacted.
fn r_value(r: &Redactor, values: usize) -> String {
    let v = bench_env(values).pop().expect("values").1;
    assert_eq!(red(r, &v), "****");
    v
}

fn ns_per_line(r: &Redactor, lines: &[Vec<u8>], n: usize) -> f64 {
    let start = std::time::Instant::now();
    let mut borrowed = 0usize;
    for i in 0..n {
        let line = std::hint::black_box(&lines[i % lines.len()]);
        if matches!(r.redact(line), Cow::Borrowed(_)) {
            borrowed += 1;
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    assert_eq!(borrowed, n, "benchmark lines must hold no secret");
    ns
}

#[test]
#[ignore = "benchmark: cargo test --release --bin bts redact::tests::bench -- --ignored --nocapture"]
fn bench_clean_lines() {
    let n = 1_000_000;
    let plain = log_lines(1000, false);
    let urls = log_lines(1000, true);
    for values in [10, 30, 100] {
        let r = Redactor::new(&bench_env(values), &Secrets::default()).expect("builds");
        ns_per_line(&r, &plain, 10_000); // warm-up
        let plain_ns = ns_per_line(&r, &plain, n);
        let urls_ns = ns_per_line(&r, &urls, n);
        let secret = format!(
            "2025-03-14T09:26:00.000Z INFO  auth: token={} ok",
            r_value(&r, values)
        );
        let hit = std::time::Instant::now();
        for _ in 0..100_000 {
            std::hint::black_box(r.redact(std::hint::black_box(secret.as_bytes())));
        }
        let hit_ns = hit.elapsed().as_nanos() as f64 / 100_000.0;
        println!(
            "{values:>3} env secrets, 80-byte lines without secrets: {plain_ns:5.1} ns/line; \
             half of them with an http:// URL: {urls_ns:5.1}; a line with a secret: {hit_ns:5.0}"
        );
    }
}

#[test]
fn a_read_without_any_secret_literal_is_clear_and_one_with_is_not() {
    let r = redactor(&[("API_KEY", "hunter2-very-secret")]);
    let quiet: String = (0..500).map(|i| format!("GET /items/{i} 200\n")).collect();
    assert!(r.clear_of_secrets(quiet.as_bytes()));
    // A secret anywhere in the read, a token shape or an env value, makes it not clear.
    let with_value = format!("{quiet}login hunter2-very-secret ok\n");
    assert!(!r.clear_of_secrets(with_value.as_bytes()));
    let with_shape = format!("{quiet}token ghp_0123456789abcdefghijklmnopqrstuvwxyzAB\n");
    assert!(!r.clear_of_secrets(with_shape.as_bytes()));
    // Custom regexes have no literal prefilter: never clear.
    let secrets = Secrets {
        redact: vec!["pin=[0-9]+".into()],
        ..Default::default()
    };
    let custom = Redactor::new(&env(&[]), &secrets).expect("builds");
    assert!(!custom.clear_of_secrets(quiet.as_bytes()));
}

//! Secret redaction: decides which env keys are secret (mask and public globs), and
//! replaces secrets with `****` in anything bts writes or prints — task output, logs,
//! digests, receipts, status, command lines (docs/behaviour.md#secrets). A [`Redactor`] is built
//! once per supervisor from every env var a task can see plus the manifest's `secrets`
//! settings, and is then shared read-only by the output path, which calls
//! [`Redactor::redact`] on every line.
//!
//! Three sources of secrets are redacted:
//! - the values (6+ characters) of env vars whose key matches a mask glob and no public
//!   glob;
//! - well-known token shapes ([`SHAPES`]): cloud and forge tokens, JWTs, `Bearer …`, and
//!   the password in `scheme://user:pass@host`;
//! - the manifest's `secrets.redact` regexes.
//!
//! Lines almost never hold a secret, so the design is a fast negative: one multi-pattern
//! regex set (whose literal prefixes become a SIMD prefilter) answers "anything here?"
//! and a clean line comes back borrowed, without allocating. (Past
//! [`FOLD_MAX_VALUES`] env values, the values get SIMD searchers of their own.) Only a line that hits pays for
//! finding every match of every pattern that hit, overlapping ones included, and masking
//! the union of their spans, so that no fragment of a secret stays visible whichever
//! pattern matched first.

use std::borrow::Cow;

use aho_corasick::{packed, AhoCorasick, MatchKind};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use regex::bytes::{Regex, RegexSet, RegexSetBuilder};
use thiserror::Error;

use crate::manifest::{Manifest, Secrets};

/// What a secret is replaced with.
pub const MASK: &str = "****";

/// Env values shorter than this are not redacted: they are too likely to occur in
/// ordinary output (`true`, `8080`, `dev`) to hide them everywhere.
pub const MIN_SECRET_CHARS: usize = 6;

/// Env keys whose values are secret unless a public glob also matches (case-insensitive).
pub const DEFAULT_MASK: &[&str] = &[
    "*TOKEN*",
    "*SECRET*",
    "*PASSWORD*",
    "*PASSWD*",
    "*API_KEY*",
    "*APIKEY*",
    "*PRIVATE_KEY*",
    "*CREDENTIAL*",
    "*_KEY",
];

/// Env keys whose values may be shown (case-insensitive); they also win over mask globs.
pub const DEFAULT_PUBLIC: &[&str] = &["PUBLIC_*"];

/// A built-in token shape.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Names the shape in test failures.
    pub name: &'static str,
    pub pattern: &'static str,
    /// The capture group that is the secret: 0 for the whole match, 1 where context
    /// around the secret is kept (the word `Bearer`, a URL's scheme, user and host).
    pub group: usize,
}

/// Built-in token shapes. Unicode is off (`(?-u)`) so classes and `\b` are ASCII: the
/// lazy DFA cannot handle a Unicode `\b` on non-ASCII input and would fall back to a far
/// slower engine. Each pattern starts with a literal so that the combined matcher keeps
/// a literal prefilter; that is why the URL shape starts at `://` rather than at the
/// scheme (which is kept anyway).
pub const SHAPES: &[Shape] = &[
    Shape {
        name: "aws access key id",
        pattern: r"(?-u)(?:AKIA|ASIA)[A-Z0-9]{16}\b",
        group: 0,
    },
    Shape {
        // Classic tokens are prefix + 36; longer ones are redacted whole rather than
        // leaving a tail visible.
        name: "github token",
        pattern: r"(?-u)gh[pousr]_[A-Za-z0-9]{36,}",
        group: 0,
    },
    Shape {
        name: "github fine-grained token",
        pattern: r"(?-u)github_pat_[A-Za-z0-9_]{22,}",
        group: 0,
    },
    Shape {
        name: "gitlab token",
        pattern: r"(?-u)glpat-[A-Za-z0-9_\-]{20,}",
        group: 0,
    },
    Shape {
        name: "slack token",
        pattern: r"(?-u)xox[abprs]-[A-Za-z0-9\-]{10,}",
        group: 0,
    },
    Shape {
        name: "stripe key",
        pattern: r"(?-u)(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}",
        group: 0,
    },
    Shape {
        // Header and payload are base64url JSON, so they start `eyJ` (`{"`); an unsigned
        // token (`alg: none`) has an empty third segment.
        name: "jwt",
        pattern: r"(?-u)eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]*",
        group: 0,
    },
    Shape {
        // RFC 6750 §2.1 b64token. Short words after "Bearer" are prose, not tokens.
        name: "bearer token",
        pattern: r"(?-u)[Bb]earer[ \t]+([A-Za-z0-9\-._~+/]{8,}=*)",
        group: 1,
    },
    Shape {
        // userinfo is `user:pass@` (RFC 3986 §3.2.1; the user may be empty, as in
        // `redis://:pass@host`). The password runs to the last `@` before the path, so
        // an unescaped `@` inside it does not leave its tail visible.
        name: "url password",
        pattern: r"(?-u)://[^\s/?#:@]*:([^\s/?#]+)@",
        group: 1,
    },
];

#[derive(Debug, Error)]
pub enum RedactError {
    #[error("invalid secrets.{field} glob `{pattern}`")]
    Glob {
        field: &'static str,
        pattern: String,
        #[source]
        source: globset::Error,
    },
    #[error("invalid secrets.redact regex `{pattern}`")]
    Regex {
        pattern: String,
        #[source]
        source: regex::Error,
    },
    #[error("secrets.redact regex `{pattern}` matches the empty string")]
    EmptyMatch { pattern: String },
    #[error("cannot build the matcher for {values} secret env values")]
    Values {
        values: usize,
        #[source]
        source: aho_corasick::BuildError,
    },
    #[error("cannot build the matcher for token shapes and {regexes} secrets.redact regexes")]
    Combined {
        regexes: usize,
        #[source]
        source: regex::Error,
    },
}

/// Teddy, the SIMD searcher behind both regex's and aho-corasick's literal prefilters,
/// takes at most 64 patterns; past that both fall back to a byte-at-a-time automaton.
const TEDDY_MAX_PATTERNS: usize = 64;

/// Up to this many env values are folded into the regex set: its prefilter then holds
/// them plus the shapes' ~22 literal prefixes, within [`TEDDY_MAX_PATTERNS`], and one
/// scan answers for everything (22–33 ns per clean 80-byte line with 10 values). Past it
/// that prefilter leaves Teddy (130 ns at 60 values), so the values get their own Teddy
/// searchers in chunks instead (45 ns at 60 values, 55–115 at 100, depending on how much
/// the values look like the log text).
const FOLD_MAX_VALUES: usize = 32;

/// The secret env values.
#[derive(Debug)]
struct Values {
    /// The fast check when the values are not folded into the regex set: one Teddy
    /// searcher per chunk of values. Empty when they are folded.
    packed: Vec<packed::Searcher>,
    /// Every occurrence of every value, overlapping ones included, for lines that hit.
    all: AhoCorasick,
}

impl Values {
    /// The values' matcher, and the alternation to fold into the regex set if the
    /// values are to be checked there.
    fn new(values: &[String]) -> Result<(Option<Values>, Option<String>), RedactError> {
        if values.is_empty() {
            return Ok((None, None));
        }
        let all = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(values)
            .map_err(|source| RedactError::Values {
                values: values.len(),
                source,
            })?;
        let packed = if values.len() > FOLD_MAX_VALUES {
            // `None` where Teddy is unavailable (no SSSE3, not x86-64/aarch64): fold
            // then, and let the regex engine pick what it can.
            values
                .chunks(TEDDY_MAX_PATTERNS)
                .map(|chunk| packed::Config::new().builder().extend(chunk).build())
                .collect::<Option<Vec<_>>>()
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let folded = packed.is_empty().then(|| {
            values
                .iter()
                .map(|v| regex::escape(v))
                .collect::<Vec<_>>()
                .join("|")
        });
        Ok((Some(Values { packed, all }), folded))
    }

    #[inline]
    fn packed_match(&self, line: &[u8]) -> bool {
        self.packed.iter().any(|s| s.find(line).is_some())
    }
}

/// One pattern of the regex set.
#[derive(Debug)]
enum Component {
    /// The folded env values; their spans come from [`Values::all`].
    Values,
    /// A shape or `secrets.redact` regex, compiled on its own too so that a hit can be
    /// re-searched for every (overlapping) match and its secret group.
    Regex { re: Regex, group: usize },
}

/// Redacts secrets; built once per supervisor, shared read-only (it is `Send + Sync`).
#[derive(Debug)]
pub struct Redactor {
    mask: GlobSet,
    public: GlobSet,
    values: Option<Values>,
    /// Token shapes, `secrets.redact` regexes and (when few) the env values as one
    /// multi-pattern matcher; pattern `i` is `components[i]`.
    any: RegexSet,
    components: Vec<Component>,
    /// When every pattern starts with a known literal (no `secrets.redact` regexes) and
    /// they fit: one Teddy search for any of those literals. Most lines contain none,
    /// and this says so several times faster than the regex set, whose own prefilter
    /// falls back to a slower automaton for this mix of literals.
    quick: Option<packed::Searcher>,
}

/// A literal every match of the built-in shapes contains, in the order of [`SHAPES`]
/// (the shape tests fail if one is missing: the quick filter would hide the match).
const SHAPE_LITERALS: &[&str] = &[
    "AKIA",
    "ASIA",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xoxa-",
    "xoxb-",
    "xoxp-",
    "xoxr-",
    "xoxs-",
    "sk_live_",
    "rk_live_",
    "sk_test_",
    "rk_test_",
    "eyJ",
    "Bearer",
    "bearer",
    "://",
];

impl Redactor {
    /// `env` is every env var a task can see (the calling environment plus manifest and
    /// task env); the values of its secret keys are redacted wherever they appear.
    pub fn new(env: &[(String, String)], secrets: &Secrets) -> Result<Redactor, RedactError> {
        let mask = glob_set(
            "mask",
            DEFAULT_MASK
                .iter()
                .copied()
                .chain(secrets.mask.iter().map(String::as_str)),
        )?;
        let public = glob_set(
            "public",
            DEFAULT_PUBLIC
                .iter()
                .copied()
                .chain(secrets.public.iter().map(String::as_str)),
        )?;

        let mut patterns: Vec<String> = Vec::new();
        let mut components = Vec::new();

        let secret_values = secret_values(env, &mask, &public);
        let (values, folded) = Values::new(&secret_values)?;
        if let Some(pattern) = folded {
            patterns.push(pattern);
            components.push(Component::Values);
        }
        for shape in SHAPES {
            let re = Regex::new(shape.pattern).expect("built-in redaction shapes compile (tested)");
            patterns.push(shape.pattern.to_string());
            components.push(Component::Regex {
                re,
                group: shape.group,
            });
        }
        for pattern in &secrets.redact {
            let re = Regex::new(pattern).map_err(|source| RedactError::Regex {
                pattern: pattern.clone(),
                source,
            })?;
            // A pattern that matches nothing-at-all would make every line a hit and
            // redact nothing; it is a mistake in the manifest.
            if re.is_match(b"") {
                return Err(RedactError::EmptyMatch {
                    pattern: pattern.clone(),
                });
            }
            patterns.push(pattern.clone());
            components.push(Component::Regex { re, group: 0 });
        }

        let any =
            RegexSetBuilder::new(&patterns)
                .build()
                .map_err(|source| RedactError::Combined {
                    regexes: secrets.redact.len(),
                    source,
                })?;
        let quick = if secrets.redact.is_empty()
            && SHAPE_LITERALS.len() + secret_values.len() <= TEDDY_MAX_PATTERNS
        {
            let mut b = packed::Config::new().builder();
            b.extend(SHAPE_LITERALS);
            b.extend(&secret_values);
            b.build()
        } else {
            None
        };
        Ok(Redactor {
            mask,
            public,
            values,
            any,
            components,
            quick,
        })
    }

    /// Whether `key`'s value may be shown (default `PUBLIC_*`, plus `secrets.public`).
    pub fn is_public(&self, key: &str) -> bool {
        self.public.is_match(key)
    }

    /// Whether `key`'s value is a secret: it matches a mask glob and no public glob.
    pub fn is_masked(&self, key: &str) -> bool {
        self.mask.is_match(key) && !self.is_public(key)
    }

    /// Env for receipts, digests and status: every key, but a value only for public
    /// keys (and even those redacted, in case one holds a token or a URL password).
    pub fn env_for_display(&self, env: &[(String, String)]) -> Vec<(String, Option<String>)> {
        env.iter()
            .map(|(k, v)| {
                let value = self.is_public(k).then(|| self.redact_str(v).into_owned());
                (k.clone(), value)
            })
            .collect()
    }

    /// `line` with every secret replaced by [`MASK`]; borrowed (no allocation) when the
    /// line holds none. Works on any bytes, UTF-8 or not.
    pub fn redact<'a>(&self, line: &'a [u8]) -> Cow<'a, [u8]> {
        if self.quick.as_ref().is_some_and(|q| q.find(line).is_none()) {
            return Cow::Borrowed(line);
        }
        if !self.any.is_match(line) && !self.values.as_ref().is_some_and(|v| v.packed_match(line)) {
            return Cow::Borrowed(line);
        }
        let spans = self.secret_spans(line);
        if spans.is_empty() {
            return Cow::Borrowed(line);
        }
        let mut out = Vec::with_capacity(line.len());
        let mut copied = 0;
        for (start, end) in spans {
            out.extend_from_slice(&line[copied..start]);
            out.extend_from_slice(MASK.as_bytes());
            copied = end;
        }
        out.extend_from_slice(&line[copied..]);
        Cow::Owned(out)
    }

    /// [`Redactor::redact`] for text.
    pub fn redact_str<'a>(&self, s: &'a str) -> Cow<'a, str> {
        match self.redact(s.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(s),
            // Spans end on ASCII or at the ends of UTF-8 env values, so this is valid
            // UTF-8 unless a `secrets.redact` regex turned Unicode off and cut a
            // character; then lossy is the honest answer.
            Cow::Owned(bytes) => Cow::Owned(
                String::from_utf8(bytes)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            ),
        }
    }

    /// The spans to mask, sorted, with overlapping and touching spans merged. All
    /// matches count, overlapping ones included: env values through aho-corasick's
    /// overlapping search, and each regex that hit by restarting one byte after each
    /// match's start rather than at its end. The union of all spans is masked, so a
    /// secret that starts inside another leaves no fragment visible.
    fn secret_spans(&self, line: &[u8]) -> Vec<(usize, usize)> {
        let mut spans = Vec::new();
        if let Some(values) = &self.values {
            spans.extend(
                values
                    .all
                    .find_overlapping_iter(line)
                    .map(|m| (m.start(), m.end())),
            );
        }
        for i in self.any.matches(line).iter() {
            let Component::Regex { re, group } = &self.components[i] else {
                continue;
            };
            let mut at = 0;
            while at <= line.len() {
                let (whole_start, secret) = if *group == 0 {
                    match re.find_at(line, at) {
                        Some(m) => (m.start(), Some((m.start(), m.end()))),
                        None => break,
                    }
                } else {
                    match re.captures_at(line, at) {
                        Some(caps) => match caps.get(0) {
                            Some(m) => (m.start(), caps.get(*group).map(|g| (g.start(), g.end()))),
                            None => break,
                        },
                        None => break,
                    }
                };
                if let Some((s, e)) = secret.filter(|(s, e)| s < e) {
                    spans.push((s, e));
                }
                at = whole_start + 1;
            }
        }
        spans.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
        for (s, e) in spans {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        merged
    }
}

fn glob_set<'a>(
    field: &'static str,
    globs: impl Iterator<Item = &'a str>,
) -> Result<GlobSet, RedactError> {
    let mut builder = GlobSetBuilder::new();
    for pattern in globs {
        // Case-insensitive: `db_password` is as secret as `DB_PASSWORD`.
        let glob = GlobBuilder::new(pattern)
            .case_insensitive(true)
            .build()
            .map_err(|source| RedactError::Glob {
                field,
                pattern: pattern.to_string(),
                source,
            })?;
        builder.add(glob);
    }
    builder.build().map_err(|source| RedactError::Glob {
        field,
        pattern: String::new(),
        source,
    })
}

/// Distinct secret values. A multi-line value (a PEM key) is split into
/// lines, since output is redacted a line at a time.
fn secret_values(env: &[(String, String)], mask: &GlobSet, public: &GlobSet) -> Vec<String> {
    let mut values: Vec<String> = env
        .iter()
        .filter(|(k, _)| mask.is_match(k) && !public.is_match(k))
        .flat_map(|(_, v)| v.lines())
        .filter(|v| v.chars().count() >= MIN_SECRET_CHARS)
        .map(str::to_string)
        .collect();
    values.sort_unstable();
    values.dedup();
    values
}

/// The redactor for a supervisor of `manifest`: every env var its tasks can see (the
/// calling environment and each task's env) and its `secrets` settings.
pub fn for_manifest(manifest: &Manifest) -> Result<Redactor, RedactError> {
    let mut env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    for t in &manifest.tasks {
        env.extend(t.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    env.sort();
    env.dedup();
    Redactor::new(&env, &manifest.settings.secrets)
}

/// Token shapes only (no env values): for messages printed before a manifest is loaded
/// or when it failed to load.
pub fn shapes_only() -> Option<Redactor> {
    Redactor::new(&[], &Secrets::default()).ok()
}

#[cfg(test)]
mod tests {
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
        let r = Redactor::new(&env(&[("SENTRY_DSN", "https-sentry-dsn-value")]), &secrets)
            .expect("builds");
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
}

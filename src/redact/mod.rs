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

mod shapes;

use shapes::SHAPE_LITERALS;
pub use shapes::{Shape, SHAPES};

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

    /// Whether `text` (a whole read of many lines) certainly holds no secret: none of
    /// the literals every secret shape and value starts from occurs in it, so none of
    /// its lines needs [`Redactor::redact`]. `false` when it may (or when this redactor
    /// has no such prefilter: `secrets.redact` regexes, many values).
    pub fn clear_of_secrets(&self, text: &[u8]) -> bool {
        self.quick.as_ref().is_some_and(|q| q.find(text).is_none())
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
mod tests;

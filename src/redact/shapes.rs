//! The built-in token shapes bts redacts wherever they appear (cloud and forge tokens,
//! JWTs, `Bearer …`, URL passwords), and the literal each match contains, which makes
//! the fast negative check possible.

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

/// A literal every match of the built-in shapes contains, in the order of [`SHAPES`]
/// (the shape tests fail if one is missing: the quick filter would hide the match).
pub(super) const SHAPE_LITERALS: &[&str] = &[
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

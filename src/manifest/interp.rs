//! `${VAR}` interpolation in env values, compose/shell style: `${VAR}`, `$VAR`,
//! `${VAR:-default}` (unset or empty), `${VAR-default}` (unset), `${VAR:?message}` /
//! `${VAR?message}` (required), `${VAR:+alt}` / `${VAR+alt}`, and `$$` for a literal `$`.
//! Defaults may themselves contain variables. A `$` not followed by a name or `{` stays
//! as it is. Every problem in a value is returned, not only the first.

/// A problem in one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpError {
    /// `${NAME}` or `$NAME` with NAME unset and no default.
    Undefined(String),
    /// `${NAME:?message}` with NAME unset (or empty).
    Required { name: String, message: String },
    /// `${` without its `}`.
    Unclosed,
    /// `${}` or `${1abc}` or an unknown operator.
    BadSyntax(String),
}

/// Interpolate `s`, looking variables up with `lookup`.
pub fn interpolate(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Vec<InterpError>> {
    let mut errors = Vec::new();
    let out = expand(s, lookup, &mut errors);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn expand(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<InterpError>,
) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                // Find the matching `}`, allowing nested `${...}` in defaults.
                let mut depth = 1;
                let mut j = i + 2;
                while j < chars.len() {
                    match chars[j] {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                if j >= chars.len() {
                    errors.push(InterpError::Unclosed);
                    return out;
                }
                let inner: String = chars[i + 2..j].iter().collect();
                out.push_str(&braced(&inner, lookup, errors));
                i = j + 1;
            }
            Some(&n) if is_name_start(n) => {
                let mut j = i + 1;
                while j < chars.len() && is_name_char(chars[j]) {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                match lookup(&name) {
                    Some(v) => out.push_str(&v),
                    None => errors.push(InterpError::Undefined(name)),
                }
                i = j;
            }
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    out
}

fn braced(
    inner: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<InterpError>,
) -> String {
    let name_len = inner
        .find(|c: char| !is_name_char(c))
        .unwrap_or(inner.len());
    let (name, rest) = inner.split_at(name_len);
    if name.is_empty() || !name.starts_with(is_name_start) {
        errors.push(InterpError::BadSyntax(format!("${{{inner}}}")));
        return String::new();
    }
    let value = lookup(name);
    if rest.is_empty() {
        return match value {
            Some(v) => v,
            None => {
                errors.push(InterpError::Undefined(name.to_string()));
                String::new()
            }
        };
    }
    let (colon, op_and_word) = match rest.strip_prefix(':') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let mut op_chars = op_and_word.chars();
    let op = op_chars.next();
    let word = op_chars.as_str();
    // With `:`, an empty value counts as unset.
    let set = match &value {
        Some(v) => !(colon && v.is_empty()),
        None => false,
    };
    match op {
        Some('-') => {
            if set {
                value.unwrap_or_default()
            } else {
                expand(word, lookup, errors)
            }
        }
        Some('?') => {
            if set {
                value.unwrap_or_default()
            } else {
                let message = if word.is_empty() {
                    "required".to_string()
                } else {
                    expand(word, lookup, errors)
                };
                errors.push(InterpError::Required {
                    name: name.to_string(),
                    message,
                });
                String::new()
            }
        }
        Some('+') => {
            if set {
                expand(word, lookup, errors)
            } else {
                String::new()
            }
        }
        _ => {
            errors.push(InterpError::BadSyntax(format!("${{{inner}}}")));
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/me".into()),
            "EMPTY" => Some(String::new()),
            "PORT" => Some("4000".into()),
            _ => None,
        }
    }

    fn run(s: &str) -> Result<String, Vec<InterpError>> {
        interpolate(s, &env)
    }

    #[test]
    fn expands_braced_and_bare() {
        assert_eq!(run("${HOME}/bin:$HOME").unwrap(), "/home/me/bin:/home/me");
        assert_eq!(
            run("http://localhost:${PORT}/x").unwrap(),
            "http://localhost:4000/x"
        );
        assert_eq!(run("no vars").unwrap(), "no vars");
    }

    #[test]
    fn defaults_and_alternatives() {
        assert_eq!(run("${NOPE:-dev}").unwrap(), "dev");
        assert_eq!(run("${EMPTY:-dev}").unwrap(), "dev");
        assert_eq!(run("${EMPTY-dev}").unwrap(), "");
        assert_eq!(run("${NOPE:-${PORT}}").unwrap(), "4000");
        assert_eq!(run("${NOPE:-}").unwrap(), "");
        assert_eq!(run("${PORT:+set}${NOPE:+no}").unwrap(), "set");
    }

    #[test]
    fn dollars_that_are_not_variables_stay() {
        assert_eq!(run("$$HOME").unwrap(), "$HOME");
        assert_eq!(run("cost: 5$ or $1").unwrap(), "cost: 5$ or $1");
        assert_eq!(run("$").unwrap(), "$");
    }

    #[test]
    fn reports_every_undefined_variable() {
        assert_eq!(
            run("${A}-$B-${C:-ok}").unwrap_err(),
            vec![
                InterpError::Undefined("A".into()),
                InterpError::Undefined("B".into())
            ]
        );
    }

    #[test]
    fn required_and_syntax_errors() {
        assert_eq!(
            run("${TOKEN:?set TOKEN first}").unwrap_err(),
            vec![InterpError::Required {
                name: "TOKEN".into(),
                message: "set TOKEN first".into()
            }]
        );
        assert_eq!(run("${HOME").unwrap_err(), vec![InterpError::Unclosed]);
        assert!(matches!(
            run("${}").unwrap_err()[0],
            InterpError::BadSyntax(_)
        ));
        assert!(matches!(
            run("${1X}").unwrap_err()[0],
            InterpError::BadSyntax(_)
        ));
        assert!(matches!(
            run("${HOME/x}").unwrap_err()[0],
            InterpError::BadSyntax(_)
        ));
    }
}

//! `bts schema`: the JSON Schema (draft-07, what yaml-language-server and VS Code read) of
//! bts.yaml, rendered from the field table in [`crate::manifest::fields`] — the same table
//! the validator takes its known keys from, so editor completion and the loader's
//! "unknown key" rule cannot disagree about which keys exist.
//!
//! The schema describes shapes; what needs the whole file (unique ports, known
//! `depends_on` targets, cycles, `${VAR}` defined) stays the loader's job (`bts check`).

use serde_json::{json, Map, Value};

use crate::errors::AppError;
use crate::manifest::fields::{self, Field, Ty};

/// `^[A-Za-z0-9][A-Za-z0-9_.-]*$`, as `valid_task_name` checks it.
const TASK_NAME: &str = "^[A-Za-z0-9][A-Za-z0-9_.-]*$";

pub fn print() -> Result<u8, AppError> {
    let text = serde_json::to_string_pretty(&schema())
        .map_err(|e| AppError::new(format!("cannot render the schema: {e}")))?;
    crate::completions::print_stdout(format!("{text}\n").as_bytes())
}

/// The whole schema.
pub fn schema() -> Value {
    let mut root = object(&fields::TOP);
    let o = root.as_object_mut().expect("object() returns an object");
    o.insert(
        "$schema".into(),
        json!("http://json-schema.org/draft-07/schema#"),
    );
    o.insert("title".into(), json!("bts.yaml"));
    o.insert(
        "description".into(),
        json!("bts (background task supervisor) manifest. Validate fully with `bts check`."),
    );
    // Extension fields (compose's convention), a place for YAML anchors.
    o.insert("patternProperties".into(), json!({ "^x-": {} }));
    o.insert("required".into(), json!(["tasks"]));
    o.insert(
        "definitions".into(),
        json!({
            "task": object(&fields::TASK),
            "health": health(),
            "duration": duration(false),
            "duration_or_zero": duration(true),
            "signal": signal(),
            "strings": strings(),
        }),
    );
    root
}

/// A map of `fields` with no other keys.
fn object(fields: &[Field]) -> Value {
    let mut props = Map::new();
    for f in fields {
        let mut v = ty(f.ty);
        if let Some(o) = v.as_object_mut() {
            o.insert("description".into(), json!(f.doc));
        }
        props.insert(f.name.into(), v);
    }
    json!({
        "type": "object",
        "properties": props,
        "additionalProperties": false,
    })
}

fn ty(t: Ty) -> Value {
    match t {
        Ty::Version => json!({ "enum": [1, "1"] }),
        Ty::Str | Ty::Path => json!({ "type": "string", "pattern": "\\S" }),
        Ty::Image => json!({ "type": "string", "pattern": "^\\S+$" }),
        Ty::Paths => json!({
            "anyOf": [
                { "type": "string", "pattern": "\\S" },
                { "type": "array", "items": { "type": "string", "pattern": "\\S" } },
            ]
        }),
        Ty::Bool => json!({
            "anyOf": [
                { "type": "boolean" },
                { "enum": ["yes", "no", "on", "off", "Yes", "No", "On", "Off", "YES", "NO", "ON", "OFF"] },
            ]
        }),
        Ty::UInt { min, max } => json!({ "type": "integer", "minimum": min, "maximum": max }),
        Ty::Int { min, max } => json!({ "type": "integer", "minimum": min, "maximum": max }),
        Ty::Cycle => json!({
            "oneOf": [
                { "enum": ["off", false] },
                {
                    "type": "object",
                    "properties": {
                        "start": { "type": "string" },
                        "ok": { "type": "string" },
                        "fail": { "type": "string" }
                    },
                    "required": ["ok", "fail"],
                    "additionalProperties": false
                }
            ]
        }),
        Ty::Size => {
            json!({ "type": "string", "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*([bBkKmMgGtT]|[kKmMgGtT][bB]|[kKmMgGtT]i[bB])\\s*$" })
        }
        Ty::Percent => json!({
            "oneOf": [
                { "type": "integer", "minimum": 1 },
                { "type": "string", "pattern": "^\\s*[0-9]+\\s*%\\s*$" }
            ]
        }),
        Ty::Duration { zero_ok } => json!({
            "$ref": if zero_ok { "#/definitions/duration_or_zero" } else { "#/definitions/duration" }
        }),
        Ty::Signal => json!({ "$ref": "#/definitions/signal" }),
        Ty::Enum { values, aliases } => {
            let all: Vec<&str> = values.iter().chain(aliases).copied().collect();
            json!({ "enum": all })
        }
        Ty::Regexes | Ty::Globs | Ty::Args => json!({ "$ref": "#/definitions/strings" }),
        Ty::Regex | Ty::Url => json!({ "type": "string", "pattern": "\\S" }),
        Ty::Env => json!({
            "type": ["object", "null"],
            "additionalProperties": { "type": ["string", "number", "boolean", "null"] },
        }),
        Ty::Map(fields) => {
            let mut v = object(fields);
            if let Some(o) = v.as_object_mut() {
                o.insert("type".into(), json!(["object", "null"]));
            }
            v
        }
        Ty::Tasks => json!({
            "type": "object",
            "minProperties": 1,
            "propertyNames": { "pattern": TASK_NAME },
            "additionalProperties": {
                "anyOf": [
                    { "$ref": "#/definitions/task" },
                    { "type": "string", "pattern": "\\S", "description": "The command (Procfile shorthand for `cmd:`)." },
                ]
            },
        }),
        Ty::Defaults => json!({
            "anyOf": [{ "$ref": "#/definitions/task" }, { "type": "null" }]
        }),
        Ty::Command => json!({
            "anyOf": [
                { "type": "string", "pattern": "\\S" },
                { "type": "array", "minItems": 1, "items": { "type": ["string", "number", "boolean"] } },
            ]
        }),
        Ty::Ports => {
            let port = json!({ "type": "integer", "minimum": 1, "maximum": 65535 });
            json!({
                "anyOf": [port, { "type": "array", "items": port, "uniqueItems": true }]
            })
        }
        Ty::Health => json!({ "$ref": "#/definitions/health" }),
        Ty::TcpTarget => json!({
            "anyOf": [
                { "type": "integer", "minimum": 1, "maximum": 65535 },
                { "type": "string", "pattern": "^(\\d+|.+:\\d+)$" },
            ]
        }),
        Ty::DependsOn => {
            let cond = ty(fields::DEPENDENCY[0].ty);
            json!({
                "anyOf": [
                    { "type": "string", "pattern": TASK_NAME },
                    { "type": "array", "items": { "type": "string", "pattern": TASK_NAME } },
                    {
                        "type": "object",
                        "propertyNames": { "pattern": TASK_NAME },
                        "additionalProperties": {
                            "anyOf": [
                                cond,
                                { "type": "null" },
                                object(&fields::DEPENDENCY),
                            ]
                        },
                    },
                    { "type": "null" },
                ]
            })
        }
    }
}

/// `health`: its fields, with exactly one probe kind.
fn health() -> Value {
    let mut v = object(&fields::HEALTH);
    let one_of: Vec<Value> = fields::PROBE_KINDS
        .iter()
        .map(|k| json!({ "required": [k] }))
        .collect();
    if let Some(o) = v.as_object_mut() {
        o.insert("oneOf".into(), Value::Array(one_of));
    }
    v
}

/// humantime durations: one or more `<number><unit>` (`500ms`, `2s`, `1m 30s`, `1h`).
fn duration(zero_ok: bool) -> Value {
    let text = json!({
        "type": "string",
        "pattern": "^\\s*(\\d+\\s*(nsec|ns|usec|us|µs|msec|ms|seconds|second|sec|s|minutes|minute|min|m|hours|hour|hr|h|days|day|d|weeks|week|w|months|month|M|years|year|y)\\s*)+$",
    });
    if zero_ok {
        json!({ "anyOf": [text, { "const": 0 }] })
    } else {
        text
    }
}

/// Signal names as the loader reads them: with or without `SIG`, any case; or a number.
fn signal() -> Value {
    use nix::sys::signal::Signal;
    let ci = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphabetic() {
                    format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())
                } else {
                    c.to_string()
                }
            })
            .collect()
    };
    let names: Vec<String> = Signal::iterator()
        .map(|s| ci(s.as_str().trim_start_matches("SIG")))
        .collect();
    let pattern = format!("^\\s*({})?({})\\s*$", ci("SIG"), names.join("|"));
    json!({
        "anyOf": [
            { "type": "string", "pattern": pattern },
            { "type": "integer", "minimum": 1, "maximum": 64 },
        ]
    })
}

/// A list of strings, or one string.
fn strings() -> Value {
    json!({
        "anyOf": [
            { "type": "string" },
            { "type": "array", "items": { "type": ["string", "number", "boolean"] } },
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::fields::{HEALTH, SECRETS, SETTINGS, TASK, TOP};

    /// A YAML value of type `t` that the loader accepts.
    fn sample(t: Ty) -> String {
        match t {
            Ty::Version => "1".into(),
            Ty::Str | Ty::Regex => "\"echo x\"".into(),
            Ty::Image => "\"ghcr.io/acme/api:1.4\"".into(),
            Ty::Path => "\".\"".into(),
            Ty::Paths => "[]".into(),
            Ty::Bool => "true".into(),
            Ty::UInt { min, .. } => min.max(1).to_string(),
            Ty::Int { max, .. } => max.to_string(),
            Ty::Duration { .. } => "1m 30s".into(),
            Ty::Size => "512MB".into(),
            Ty::Cycle => "{start: 'building', ok: 'built', fail: 'failed'}".into(),
            Ty::Percent => "\"150%\"".into(),
            Ty::Signal => "sigint".into(),
            Ty::Enum { values, .. } => values[0].into(),
            Ty::Regexes => "['(?i)error']".into(),
            Ty::Globs => "['src/**/*.rs']".into(),
            Ty::Env => "{A: \"1\"}".into(),
            Ty::Map(fields) => map(fields, &[]),
            Ty::Tasks | Ty::Defaults | Ty::DependsOn => unreachable!("built by hand below"),
            Ty::Command => "echo hi".into(),
            Ty::Args => "[a]".into(),
            Ty::Ports => "[4000]".into(),
            Ty::Health => "{tcp: 4000}".into(),
            Ty::TcpTarget => "4000".into(),
            Ty::Url => "http://127.0.0.1:4000/".into(),
        }
    }

    fn map(fields: &[Field], skip: &[&str]) -> String {
        let items: Vec<String> = fields
            .iter()
            .filter(|f| !skip.contains(&f.name))
            .map(|f| format!("{}: {}", f.name, sample(f.ty)))
            .collect();
        format!("{{{}}}", items.join(", "))
    }

    /// A manifest using every key of the field table.
    fn every_key() -> String {
        // `wd` is an alias of `cwd` (not both), and the probe kinds are exclusive: each
        // probe gets a task of its own.
        let task = map(&TASK, &["wd", "health", "depends_on", "ports", "extends"]);
        let rest: Vec<String> = HEALTH
            .iter()
            .filter(|f| !fields::PROBE_KINDS.contains(&f.name))
            .map(|f| format!("{}: {}", f.name, sample(f.ty)))
            .collect();
        let mut probes = String::new();
        for (i, f) in HEALTH
            .iter()
            .filter(|f| fields::PROBE_KINDS.contains(&f.name))
            .enumerate()
        {
            probes.push_str(&format!(
                "  probe-{i}: {{cmd: sleep 1, health: {{{}: {}, {}}}}}\n",
                f.name,
                sample(f.ty),
                rest.join(", ")
            ));
        }
        let settings = map(&SETTINGS, &[]);
        assert!(settings.contains("secrets"), "{settings}");
        let _ = SECRETS;
        format!(
            "version: 1\nname: shop\ninclude: [inc.yaml]\nenv_file: []\nenv: {{X: \"1\"}}\nsettings: {settings}\ndefaults: {{restart: always}}\ntasks:\n  db: {{cmd: sleep 1, ports: [4000]}}\n  api: {task}\n  included: {{extends: true, env: {{B: \"2\"}}}}\n  web: {{wd: \".\", cmd: x, depends_on: {{db: healthy, api: {{condition: service_started}}}}}}\n  short: echo hi\n{probes}",
        )
    }

    #[test]
    fn every_key_of_the_table_loads_and_matches_the_schema() {
        let text = every_key();
        for f in TOP
            .iter()
            .chain(&TASK)
            .chain(&HEALTH)
            .chain(&SETTINGS)
            .chain(&SECRETS)
        {
            assert!(text.contains(&format!("{}:", f.name)), "{} unused", f.name);
        }
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("bts.yaml");
        std::fs::write(&path, &text).unwrap();
        std::fs::write(
            tmp.path().join("inc.yaml"),
            "tasks:\n  included: {cmd: sleep 1}\n",
        )
        .unwrap();
        if let Err(e) = crate::manifest::load_path(&path) {
            panic!("{e}\n{text}");
        }
        let doc: Value = serde_yaml::from_str(&text).unwrap();
        let validator = jsonschema::draft7::new(&schema()).unwrap();
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:#?}\n{text}");
    }

    #[test]
    fn the_schema_rejects_what_the_loader_rejects() {
        let validator = jsonschema::draft7::new(&schema()).unwrap();
        for bad in [
            "tasks: {web: {cmd: x, colour: red}}",
            "tasks: {web: {cmd: x, image: \"node 20\"}}",
            "tasks: {web: {cmd: x, restart: sometimes}}",
            "tasks: {web: {cmd: x, health: {tcp: 1, http: \"http://x\"}}}",
            "tasks: {web: {cmd: x, health: {interval: 2s}}}",
            "tasks: {web: {cmd: x, ports: [70000]}}",
            "tasks: {web: {cmd: x, stop_signal: SIGNOPE}}",
            "tasks: {web: {cmd: x, stop_timeout: soon}}",
            "tasks: {'-bad': x}",
            "tsks: {}",
        ] {
            let doc: Value = serde_yaml::from_str(bad).unwrap();
            assert!(!validator.is_valid(&doc), "schema accepted {bad}");
            let tmp = tempfile::tempdir().unwrap();
            let path = tmp.path().join("bts.yaml");
            std::fs::write(&path, bad).unwrap();
            assert!(
                crate::manifest::load_path(&path).is_err(),
                "loader accepted {bad}"
            );
        }
    }
}

//! The small shared core of Fleet's areas: helpers several areas use (saved-object shapes,
//! names, namespaces, hosts, which agent policies reference a setting), kept here so that no area
//! depends on another in a circle.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Map, Value};
use store::{Filter, Scalar};

use crate::error::{FleetError, Result};

/// What the API answers for a stored settings object: its id and its non-null fields.
pub fn to_item(doc: &store::Doc) -> Value {
    let mut item = Map::new();
    item.insert("id".into(), json!(doc.id));
    if let Value::Object(attrs) = &doc.body {
        for (k, v) in attrs {
            if !v.is_null() {
                item.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(item)
}

/// Kibana's `normalizeHostsForAgents`: a missing port becomes the scheme's default one.
pub fn normalize_host(h: &str) -> String {
    let Some((scheme, rest)) = h.split_once("://") else {
        return h.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        && !authority.ends_with(']');
    if has_port {
        return h.to_string();
    }
    let port = if scheme == "https" { 443 } else { 80 };
    format!("{scheme}://{authority}:{port}{path}")
}

/// Agent policies that use output `id` (as data or monitoring output, or through the default).
pub fn policies_using_output(id: &str, is_default: bool, is_default_monitoring: bool) -> Filter {
    let field = |f: &str| store::doc_field(f);
    let mut any = vec![
        Filter::Eq(field("data_output_id"), Scalar::Str(id.into())),
        Filter::Eq(field("monitoring_output_id"), Scalar::Str(id.into())),
    ];
    if is_default {
        any.push(Filter::Not(Box::new(Filter::Exists(field(
            "data_output_id",
        )))));
    }
    if is_default_monitoring {
        any.push(Filter::Not(Box::new(Filter::Exists(field(
            "monitoring_output_id",
        )))));
    }
    Filter::Or(any)
}

/// Kibana's saved-object version string: base64 of `[seq_no, primary_term]`.
pub fn version_string(version: i64) -> String {
    B64.encode(format!("[{version},1]"))
}

/// The name Kibana gives the copy of a package policy: `name (copy)`, then `(copy 2)`, ...
/// `taken` are the names already used on the target policy.
pub fn copy_name(name: &str, taken: &[&str]) -> String {
    let base = match name.rfind(" (copy") {
        Some(i) if name.ends_with(')') => &name[..i],
        _ => name,
    };
    let first = format!("{base} (copy)");
    if !taken.contains(&first.as_str()) {
        return first;
    }
    (2..)
        .map(|n| format!("{base} (copy {n})"))
        .find(|c| !taken.contains(&c.as_str()))
        .expect("an unbounded range always yields a free name")
}

/// Kibana's `isValidNamespace`, in its order of checks: what is wrong with a namespace.
pub fn namespace_problem(namespace: &str) -> Option<&'static str> {
    if namespace.trim().is_empty() {
        return Some("Namespace is required");
    }
    if namespace != namespace.to_lowercase() {
        return Some("Namespace must be lowercase");
    }
    if namespace.chars().any(|c| {
        matches!(
            c,
            '*' | '\\' | '/' | '?' | '"' | '<' | '>' | '|' | ',' | '#' | ':' | '-'
        ) || c.is_whitespace()
    }) {
        return Some("Namespace contains invalid characters");
    }
    if namespace.len() > 100 {
        return Some("Namespace cannot be more than 100 bytes");
    }
    None
}

/// [`namespace_problem`] as the 400 of a request body's `namespace`.
pub fn validate_namespace(namespace: &str) -> Result<()> {
    match namespace_problem(namespace) {
        Some(why) => Err(FleetError::BadRequest(format!(
            "[request body.namespace]: {why}"
        ))),
        None => Ok(()),
    }
}

/// Whether a caller's date parses (RFC 3339, or a calendar date), as Kibana's `moment(v).isValid()`
/// checks dates it is given.
pub fn is_date(value: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(value).is_ok()
        || chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok()
        || chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
}

/// A global data tag's value: a string or a number.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum TagValue {
    Text(String),
    Number(serde_json::Number),
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GlobalDataTag {
    pub name: String,
    pub value: TagValue,
}

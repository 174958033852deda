//! Kibana's request contracts, declared as Rust types.
//!
//! A request body or query is a type that derives `serde::Deserialize` and
//! `schemars::JsonSchema` (ranges, lengths and enums as `#[schemars(...)]` attributes, unknown
//! keys refused with `#[serde(deny_unknown_fields)]`) and implements [`Request`] for the rules a
//! type cannot say (Kibana's custom `validate` functions). [`parse`] checks a JSON value against
//! the type's schema with the rules and messages of Kibana's `@kbn/config-schema`, then
//! deserializes it, so a handler receives a typed value or the client gets the answer Kibana
//! gives:
//!
//! - `[request body.inactivity_timeout]: expected value of type [number] but got [string]`
//! - `[request query.perPage]: Value must be equal to or lower than [10000].`
//! - `[request body.foo]: definition for this key is missing`
//!
//! As config-schema: numbers and booleans given as strings (`"20"`, `"true"`) are converted,
//! objects and arrays given as JSON text are parsed; an optional key may be absent but not
//! `null` unless the field is marked nullable (`#[schemars(extend("x-nullable" = true))]`);
//! only the first failure is reported, declared keys in declaration order before unknown ones;
//! a union lists why each alternative failed.
//!
//! The same schema documents the request in `/api/oas` ([`schema_of`]).

mod check;

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use check::Failure;

/// A field that may be absent, `null` (cleared) or a value: `None`, `Some(None)`,
/// `Some(Some(v))` (config-schema's `maybe(oneOf([literal(null), T]))`). Read it with
/// `#[serde(default, deserialize_with = "contract::nullable")]` and mark its schema
/// `#[schemars(extend("x-nullable" = true))]`.
pub type Nullable<T> = Option<Option<T>>;

/// Reads a [`Nullable`] keeping `null` apart from absent.
pub fn nullable<'de, D, T>(d: D) -> Result<Nullable<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// A request part (body, query, params) as a type. `check` holds the rules Kibana writes as
/// `validate` functions; it runs after the schema passed, on the typed value.
pub trait Request: DeserializeOwned + JsonSchema + 'static {
    fn check(&self) -> Result<(), Violation> {
        Ok(())
    }
}

/// A rule a typed value broke: where (keys from the part's root) and Kibana's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: Vec<String>,
    pub message: String,
    /// The field is config-schema's `oneOf([literal(null), T])`: the message is the second
    /// alternative's, after "expected value to equal [null]".
    pub nullable: bool,
    /// Where, inside a nullable field's value, the rule failed (`inputs` of `overrides`).
    pub inner: Vec<String>,
}

impl Violation {
    /// A violation at `path` (`"global_data_tags"`, `"advanced_settings.agent_limits_go_max_procs"`,
    /// or `""` for the whole part).
    pub fn at(path: &str, message: impl Into<String>) -> Self {
        Violation {
            path: path
                .split('.')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            message: message.into(),
            nullable: false,
            inner: Vec::new(),
        }
    }

    /// A violation of a nullable field's value (see [`Violation::nullable`]).
    pub fn nullable_at(path: &str, message: impl Into<String>) -> Self {
        Violation {
            nullable: true,
            ..Self::at(path, message)
        }
    }

    /// A violation at `inner` inside the value of the nullable field at `path`
    /// (`overrides` → `inputs`: `[request body.overrides.1.inputs]`).
    pub fn nullable_within(path: &str, inner: &str, message: impl Into<String>) -> Self {
        Violation {
            inner: Self::at(inner, "").path,
            ..Self::nullable_at(path, message)
        }
    }
}

/// The JSON Schema of `T` (its definitions under `components.schemas`), generated once per
/// type.
pub fn schema_of<T: JsonSchema + 'static>() -> Arc<Value> {
    static CACHE: OnceLock<Mutex<HashMap<TypeId, Arc<Value>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    if let Some(s) = cache.lock().expect("schema cache").get(&TypeId::of::<T>()) {
        return s.clone();
    }
    // OpenAPI 3.0's dialect (`nullable`, definitions under `/components/schemas`), so the
    // schema that checks a request is the one `/api/oas` shows.
    let schema = Arc::new(
        schemars::generate::SchemaSettings::openapi3()
            .into_generator()
            .into_root_schema_for::<T>()
            .to_value(),
    );
    cache
        .lock()
        .expect("schema cache")
        .insert(TypeId::of::<T>(), schema.clone());
    schema
}

/// Checks `value` against `T`'s schema and rules and returns it typed, or Kibana's message
/// (`[<namespace>.<path>]: <why>`). `namespace` is `request body`, `request query` or
/// `request params`.
pub fn parse<T: Request>(namespace: &str, mut value: Value) -> Result<T, String> {
    let schema = schema_of::<T>();
    check::Checker::new(&schema)
        .check(&schema, &mut value)
        .map_err(|f| f.render(namespace))?;
    let typed: T = serde_json::from_value(value).map_err(|e| {
        // The schema passed, so this is a type whose serde and schema disagree: a defect here,
        // but still the client's request that did not fit.
        format!("[{namespace}]: {e}")
    })?;
    typed
        .check()
        .map_err(|v| Failure::of(v).render(namespace))?;
    Ok(typed)
}

/// Whether `value` fits `T`'s schema: how a union of types picks its alternative (the first
/// that fits, as config-schema's `oneOf`), where serde alone would be laxer than the schema
/// (a field kept as JSON whose schema is stricter).
pub fn fits<T: JsonSchema + 'static>(value: &Value) -> bool {
    let schema = schema_of::<T>();
    check::Checker::new(&schema)
        .check(&schema, &mut value.clone())
        .is_ok()
}

/// A query string's pairs as the JSON object [`parse`] takes (values are strings; the schema
/// converts numbers and booleans as Kibana does).
pub fn query_value<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect(),
    )
}

#[cfg(test)]
mod tests;

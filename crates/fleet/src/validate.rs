//! Request-body validation with the messages of Kibana's `@kbn/config-schema`, so that a script
//! that greps Kibana's errors sees the same text: `[request body.namespace]: ...`.

use serde_json::{Map, Value};

use crate::error::{FleetError, Result};

/// The shape a value must have.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Any,
    Str {
        min_len: usize,
    },
    Bool,
    Num {
        min: Option<f64>,
        max: Option<f64>,
    },
    StrOrNum,
    Enum(&'static [&'static str]),
    Array(&'static Ty),
    /// An object with known keys; any other key is refused.
    Object(&'static [Field]),
    /// An object whose keys are free.
    Map,
    Nullable(&'static Ty),
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
}

pub const fn req(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        ty,
        required: true,
    }
}

pub const fn opt(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        ty,
        required: false,
    }
}

pub const STR: Ty = Ty::Str { min_len: 0 };
pub const NON_EMPTY: Ty = Ty::Str { min_len: 1 };
pub const BOOL: Ty = Ty::Bool;
pub const NUM: Ty = Ty::Num {
    min: None,
    max: None,
};

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "Array",
        Value::Object(_) => "Object",
    }
}

fn err(path: &str, msg: String) -> FleetError {
    FleetError::BadRequest(format!("[{path}]: {msg}"))
}

/// Validates `value` (the whole body, at `path` e.g. `request body`) against an object schema.
pub fn check_body(path: &str, value: &Value, fields: &'static [Field]) -> Result<()> {
    match value {
        Value::Object(map) => check_object(path, map, fields),
        other => Err(err(
            path,
            format!(
                "expected a plain object value, but found [{}] instead.",
                type_name(other)
            ),
        )),
    }
}

fn check_object(path: &str, map: &Map<String, Value>, fields: &'static [Field]) -> Result<()> {
    for field in fields {
        let p = format!("{path}.{}", field.name);
        match map.get(field.name) {
            None if field.required => {
                return Err(err(
                    &p,
                    format!(
                        "expected value of type [{}] but got [undefined]",
                        expected(&field.ty)
                    ),
                ))
            }
            None => {}
            Some(v) => check(&p, v, &field.ty)?,
        }
    }
    for key in map.keys() {
        if !fields.iter().any(|f| f.name == key) {
            return Err(err(
                &format!("{path}.{key}"),
                "definition for this key is missing".into(),
            ));
        }
    }
    Ok(())
}

fn expected(ty: &Ty) -> &'static str {
    match ty {
        Ty::Any => "any",
        Ty::Str { .. } | Ty::Enum(_) => "string",
        Ty::Bool => "boolean",
        Ty::Num { .. } => "number",
        Ty::StrOrNum => "string | number",
        Ty::Array(_) => "array",
        Ty::Object(_) | Ty::Map => "Object",
        Ty::Nullable(inner) => expected(inner),
    }
}

fn mismatch(path: &str, ty: &Ty, v: &Value) -> FleetError {
    err(
        path,
        format!(
            "expected value of type [{}] but got [{}]",
            expected(ty),
            type_name(v)
        ),
    )
}

pub fn check(path: &str, v: &Value, ty: &Ty) -> Result<()> {
    match (ty, v) {
        (Ty::Any, _) => Ok(()),
        (Ty::Nullable(_), Value::Null) => Ok(()),
        (Ty::Nullable(inner), _) => check(path, v, inner),
        (Ty::Str { min_len }, Value::String(s)) => {
            let len = s.chars().count();
            if len < *min_len {
                Err(err(
                    path,
                    format!("value has length [{len}] but it must have a minimum length of [{min_len}]."),
                ))
            } else {
                Ok(())
            }
        }
        (Ty::Bool, Value::Bool(_)) => Ok(()),
        (Ty::Num { min, max }, Value::Number(n)) => {
            let n = n.as_f64().unwrap_or(f64::NAN);
            if let Some(min) = min {
                if n < *min {
                    return Err(err(
                        path,
                        format!("Value must be equal to or greater than [{min}]."),
                    ));
                }
            }
            if let Some(max) = max {
                if n > *max {
                    return Err(err(
                        path,
                        format!("Value must be equal to or lower than [{max}]."),
                    ));
                }
            }
            Ok(())
        }
        (Ty::StrOrNum, Value::String(_) | Value::Number(_)) => Ok(()),
        (Ty::Enum(options), Value::String(s)) => {
            if options.contains(&s.as_str()) {
                Ok(())
            } else {
                Err(err(
                    path,
                    format!(
                        "expected value to be one of [{}] but got [{s}]",
                        options.join(", ")
                    ),
                ))
            }
        }
        (Ty::Array(inner), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                check(&format!("{path}.{i}"), item, inner)?;
            }
            Ok(())
        }
        (Ty::Object(fields), Value::Object(map)) => check_object(path, map, fields),
        (Ty::Map, Value::Object(_)) => Ok(()),
        _ => Err(mismatch(path, ty, v)),
    }
}

/// The strings of a JSON array (a validated `ids` field); anything else gives none.
pub fn string_array(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads an optional boolean query parameter the way Kibana's schema coerces it.
pub fn query_bool(name: &str, raw: Option<&str>) -> Result<Option<bool>> {
    match raw {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(err(
            &format!("request query.{name}"),
            format!("expected value of type [boolean] but got [string] ({other:?})"),
        )),
    }
}

/// Reads an optional number query parameter.
pub fn query_num(name: &str, raw: Option<&str>) -> Result<Option<f64>> {
    match raw {
        None => Ok(None),
        Some(s) => s.trim().parse::<f64>().map(Some).map_err(|_| {
            err(
                &format!("request query.{name}"),
                "expected value of type [number] but got [string]".into(),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    static FIELDS: &[Field] = &[
        req("name", NON_EMPTY),
        opt(
            "n",
            Ty::Num {
                min: Some(0.0),
                max: None,
            },
        ),
    ];

    #[test]
    fn messages_match_kibana() {
        let e = check_body("request body", &json!({}), FIELDS).unwrap_err();
        assert_eq!(
            e.to_string(),
            "[request body.name]: expected value of type [string] but got [undefined]"
        );
        let e = check_body("request body", &json!({"name": ""}), FIELDS).unwrap_err();
        assert_eq!(
            e.to_string(),
            "[request body.name]: value has length [0] but it must have a minimum length of [1]."
        );
        let e = check_body("request body", &json!({"name": "a", "x": 1}), FIELDS).unwrap_err();
        assert_eq!(
            e.to_string(),
            "[request body.x]: definition for this key is missing"
        );
        let e = check_body("request body", &json!({"name": "a", "n": -1}), FIELDS).unwrap_err();
        assert_eq!(
            e.to_string(),
            "[request body.n]: Value must be equal to or greater than [0]."
        );
        assert!(check_body("request body", &json!({"name": "a", "n": 3}), FIELDS).is_ok());
    }
}

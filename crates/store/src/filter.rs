//! A store-neutral filter over document fields, rendered to parameterized SQL per dialect.
//! Field paths are validated (dotted identifiers only) and values always travel as bind
//! parameters, so no user input is ever spliced into SQL text.

use crate::{Result, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    Asc,
    #[default]
    Desc,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Str(String),
    Num(f64),
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOp {
    Lt,
    Lte,
    Gt,
    Gte,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub enum Filter {
    /// Matches everything.
    #[default]
    All,
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    /// The (scalar) field equals the value.
    Eq(String, Scalar),
    /// The field is an array and one of its elements equals the value.
    AnyEq(String, Scalar),
    /// The field's string value matches a pattern where `*` is any run of characters.
    Wildcard(String, String),
    Range(String, RangeOp, Scalar),
    /// The field is present and not null.
    Exists(String),
}

/// A bind parameter, in the order placeholders were emitted.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bind {
    Text(String),
    Int(i64),
    Float(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// Checks a dotted path (`a.b_c.d`) and returns its segments.
pub(crate) fn path_segments(path: &str) -> Result<Vec<&str>> {
    let segments: Vec<&str> = path.split('.').collect();
    let ok = segments.iter().all(|s| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '@')
    });
    if ok {
        Ok(segments)
    } else {
        Err(StoreError::InvalidQuery(format!(
            "invalid field path [{path}]"
        )))
    }
}

impl Dialect {
    /// The SQL expression for a field's JSON value (typed: numbers sort as numbers).
    pub(crate) fn json_value(self, column: &str, path: &str) -> Result<String> {
        let segs = path_segments(path)?;
        Ok(match self {
            Dialect::Sqlite => format!("json_extract({column}, '$.{}')", segs.join(".")),
            Dialect::Postgres => format!("({column} #> '{{{}}}')", segs.join(",")),
        })
    }

    /// The SQL expression for a field's value as text.
    pub(crate) fn json_text(self, column: &str, path: &str) -> Result<String> {
        let segs = path_segments(path)?;
        Ok(match self {
            Dialect::Sqlite => format!("json_extract({column}, '$.{}')", segs.join(".")),
            Dialect::Postgres => format!("({column} #>> '{{{}}}')", segs.join(",")),
        })
    }

    pub(crate) fn placeholder(self, binds: &[Bind]) -> String {
        format!("${}", binds.len())
    }
}

pub(crate) struct Rendered {
    pub sql: String,
    pub binds: Vec<Bind>,
}

/// Renders `filter` against the JSON column `column`; `binds` already holds the parameters that
/// come before it in the statement.
pub(crate) fn render(
    dialect: Dialect,
    column: &str,
    filter: &Filter,
    mut binds: Vec<Bind>,
) -> Result<Rendered> {
    let sql = render_into(dialect, column, filter, &mut binds, 0)?;
    Ok(Rendered { sql, binds })
}

const MAX_DEPTH: usize = 64;

fn render_into(
    d: Dialect,
    col: &str,
    f: &Filter,
    binds: &mut Vec<Bind>,
    depth: usize,
) -> Result<String> {
    if depth > MAX_DEPTH {
        return Err(StoreError::InvalidQuery("filter nested too deeply".into()));
    }
    Ok(match f {
        Filter::All => "1=1".to_string(),
        Filter::And(items) | Filter::Or(items) => {
            if items.is_empty() {
                return Ok(if matches!(f, Filter::And(_)) {
                    "1=1"
                } else {
                    "1=0"
                }
                .into());
            }
            let joiner = if matches!(f, Filter::And(_)) {
                " AND "
            } else {
                " OR "
            };
            let parts = items
                .iter()
                .map(|i| render_into(d, col, i, binds, depth + 1))
                .collect::<Result<Vec<_>>>()?;
            format!("({})", parts.join(joiner))
        }
        Filter::Not(inner) => {
            let s = render_into(d, col, inner, binds, depth + 1)?;
            // NULL-safe: a missing field does not match `x`, so it matches `not x`.
            format!("(NOT COALESCE({s}, FALSE))")
        }
        Filter::Exists(path) => format!("({} IS NOT NULL)", d.json_value(col, path)?),
        Filter::Eq(path, value) => {
            let lhs = d.json_value(col, path)?;
            let rhs = scalar_param(d, value, binds);
            format!("({lhs} = {rhs})")
        }
        Filter::AnyEq(path, value) => any_eq(d, col, path, value, binds)?,
        Filter::Range(path, op, value) => {
            let op = match op {
                RangeOp::Lt => "<",
                RangeOp::Lte => "<=",
                RangeOp::Gt => ">",
                RangeOp::Gte => ">=",
            };
            let lhs = d.json_value(col, path)?;
            let rhs = scalar_param(d, value, binds);
            format!("({lhs} {op} {rhs})")
        }
        Filter::Wildcard(path, pattern) => {
            let lhs = d.json_text(col, path)?;
            match d {
                Dialect::Sqlite => {
                    // GLOB is case-sensitive like an Elasticsearch keyword; escape its own
                    // metacharacters and keep `*` as the only wildcard.
                    let mut glob = String::new();
                    for c in pattern.chars() {
                        match c {
                            '[' => glob.push_str("[[]"),
                            '?' => glob.push_str("[?]"),
                            _ => glob.push(c),
                        }
                    }
                    binds.push(Bind::Text(glob));
                    format!("({lhs} GLOB {})", d.placeholder(binds))
                }
                Dialect::Postgres => {
                    let mut like = String::new();
                    for c in pattern.chars() {
                        match c {
                            '%' | '_' | '\\' => {
                                like.push('\\');
                                like.push(c)
                            }
                            '*' => like.push('%'),
                            _ => like.push(c),
                        }
                    }
                    binds.push(Bind::Text(like));
                    format!("({lhs} LIKE {} ESCAPE '\\')", d.placeholder(binds))
                }
            }
        }
    })
}

fn scalar_param(d: Dialect, value: &Scalar, binds: &mut Vec<Bind>) -> String {
    match d {
        Dialect::Sqlite => {
            binds.push(match value {
                Scalar::Str(s) => Bind::Text(s.clone()),
                Scalar::Num(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Bind::Int(*n as i64),
                Scalar::Num(n) => Bind::Float(*n),
                // json_extract yields 1/0 for JSON true/false.
                Scalar::Bool(b) => Bind::Int(i64::from(*b)),
            });
            d.placeholder(binds)
        }
        Dialect::Postgres => {
            let json = match value {
                Scalar::Str(s) => serde_json::Value::String(s.clone()),
                Scalar::Num(n) => serde_json::Number::from_f64(*n)
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::Null),
                Scalar::Bool(b) => serde_json::Value::Bool(*b),
            };
            binds.push(Bind::Text(json.to_string()));
            format!("{}::jsonb", d.placeholder(binds))
        }
    }
}

fn any_eq(
    d: Dialect,
    col: &str,
    path: &str,
    value: &Scalar,
    binds: &mut Vec<Bind>,
) -> Result<String> {
    let segs = path_segments(path)?;
    let rhs = scalar_param(d, value, binds);
    Ok(match d {
        Dialect::Sqlite => format!(
            // json_each of a scalar yields the scalar itself: check the type first.
            "(json_type({col}, '$.{p}') = 'array' AND EXISTS (SELECT 1 FROM json_each({col}, '$.{p}') je WHERE je.value = {rhs}))",
            p = segs.join(".")
        ),
        Dialect::Postgres => {
            let lhs = d.json_value(col, path)?;
            format!("(jsonb_typeof({lhs}) = 'array' AND {lhs} @> jsonb_build_array({rhs}))")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_paths_that_could_escape_sql() {
        assert!(path_segments("name").is_ok());
        assert!(path_segments("a.b_c").is_ok());
        assert!(path_segments("a'b").is_err());
        assert!(path_segments("a..b").is_err());
        assert!(path_segments("").is_err());
    }

    #[test]
    fn values_are_bound_not_spliced() {
        let f = Filter::Eq("name".into(), Scalar::Str("x' OR 1=1 --".into()));
        let r = render(Dialect::Postgres, "doc", &f, vec![]).unwrap();
        assert!(!r.sql.contains("OR 1=1"));
        assert_eq!(r.binds, vec![Bind::Text("\"x' OR 1=1 --\"".into())]);
    }
}

//! Turns a `kuery` into a store [`Filter`] using a per-type field schema, and reads the common
//! list parameters (page, perPage, sortField, sortOrder).

use kuery::{Node, Value as KValue};
use store::{Filter, Scalar, SortOrder};

use crate::error::{FleetError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Keyword,
    /// An array of keywords: matches when any element does.
    KeywordArray,
    Text,
    Number,
    Boolean,
    Date,
}

/// The queryable fields of one Fleet type.
pub struct Schema {
    /// The saved-object type, accepted (with a dot) as a field prefix: `ingest-agent-policies.`.
    pub prefix: &'static str,
    pub fields: &'static [(&'static str, FieldType)],
}

impl Schema {
    /// Resolves a field as users write it (with or without the type prefix).
    pub fn field(&self, name: &str) -> Option<(&'static str, FieldType)> {
        let bare = name
            .strip_prefix(self.prefix)
            .and_then(|r| r.strip_prefix('.'))
            .or_else(|| name.strip_prefix(&format!("{}.attributes.", self.prefix)))
            .unwrap_or(name);
        self.fields.iter().find(|(f, _)| *f == bare).copied()
    }

    pub fn filter(&self, kuery: Option<&str>) -> Result<Filter> {
        let Some(kuery) = kuery else {
            return Ok(Filter::All);
        };
        let node = kuery::parse(kuery).map_err(|e| {
            FleetError::BadRequest(format!(
                "KQLSyntaxError: {}\n{kuery}\n{}^",
                e.message,
                "-".repeat(e.position)
            ))
        })?;
        match node {
            None => Ok(Filter::All),
            Some(node) => self.node(&node),
        }
    }

    fn node(&self, node: &Node) -> Result<Filter> {
        Ok(match node {
            Node::And(items) => {
                Filter::And(items.iter().map(|i| self.node(i)).collect::<Result<_>>()?)
            }
            Node::Or(items) => {
                Filter::Or(items.iter().map(|i| self.node(i)).collect::<Result<_>>()?)
            }
            Node::Not(inner) => Filter::Not(Box::new(self.node(inner)?)),
            Node::Exists { field } => Filter::Exists(self.resolve(field)?.0.to_string()),
            Node::Match { field, value } => {
                let (path, ty) = self.resolve(field)?;
                let path = path.to_string();
                match (ty, value) {
                    (FieldType::Boolean, v) => {
                        let s = value_str(v);
                        match s {
                            "true" => Filter::Eq(path, Scalar::Bool(true)),
                            "false" => Filter::Eq(path, Scalar::Bool(false)),
                            _ => {
                                return Err(FleetError::BadRequest(format!(
                                    "Invalid value [{s}] for boolean field [{field}]"
                                )))
                            }
                        }
                    }
                    (FieldType::Number, v) => {
                        let s = value_str(v);
                        let n: f64 = s.parse().map_err(|_| {
                            FleetError::BadRequest(format!(
                                "Invalid value [{s}] for number field [{field}]"
                            ))
                        })?;
                        Filter::Eq(path, Scalar::Num(n))
                    }
                    (FieldType::KeywordArray, KValue::Literal(s)) if s.contains('*') => {
                        return Err(FleetError::BadRequest(format!(
                            "Invalid kuery: wildcards on the array field [{field}] are not supported yet"
                        )))
                    }
                    (FieldType::KeywordArray, v) => Filter::AnyEq(path, Scalar::Str(value_str(v).to_string())),
                    (_, KValue::Literal(s)) if s.contains('*') => Filter::Wildcard(path, s.clone()),
                    (_, v) => Filter::Eq(path, Scalar::Str(value_str(v).to_string())),
                }
            }
        })
    }

    fn resolve(&self, field: &str) -> Result<(&'static str, FieldType)> {
        self.field(field).ok_or_else(|| {
            FleetError::BadRequest(format!(
                "Invalid kuery: field [{field}] is not a known field of [{}]",
                self.prefix
            ))
        })
    }

    /// The store sort key for `sortField`.
    pub fn sort_field(&self, name: &str) -> Result<&'static str> {
        self.field(name).map(|(f, _)| f).ok_or_else(|| {
            FleetError::BadRequest(format!(
                "[request query.sortField]: unknown sort field [{name}]"
            ))
        })
    }
}

fn value_str(v: &KValue) -> &str {
    match v {
        KValue::Literal(s) | KValue::Phrase(s) => s,
    }
}

/// Page and window checks shared by every list endpoint. Elasticsearch refuses a window past
/// 10,000 results, and so does Kibana.
pub fn page_window(
    page: Option<f64>,
    per_page: Option<f64>,
    default_per_page: u64,
) -> Result<(u64, u64)> {
    let page = page.unwrap_or(1.0);
    let per_page = per_page.unwrap_or(default_per_page as f64);
    if page < 1.0 || page.fract() != 0.0 {
        return Err(FleetError::BadRequest(
            "[request query.page]: Value must be equal to or greater than [1].".into(),
        ));
    }
    if per_page < 0.0 || per_page.fract() != 0.0 {
        return Err(FleetError::BadRequest(
            "[request query.perPage]: Value must be equal to or greater than [0].".into(),
        ));
    }
    let (page, per_page) = (page as u64, per_page as u64);
    let window = page.saturating_mul(per_page);
    if window > 10_000 {
        return Err(FleetError::BadRequest(format!(
            "Result window is too large, from + size must be less than or equal to: [10000] but was [{window}]."
        )));
    }
    Ok((page, per_page))
}

pub fn sort_order(raw: Option<&str>) -> Result<SortOrder> {
    match raw {
        None | Some("desc") => Ok(SortOrder::Desc),
        Some("asc") => Ok(SortOrder::Asc),
        Some(other) => Err(FleetError::BadRequest(format!(
            "[request query.sortOrder]: types that failed validation:\n- [request query.sortOrder.0]: expected value to equal [desc]\n- [request query.sortOrder.1]: expected value to equal [asc] (got [{other}])"
        ))),
    }
}

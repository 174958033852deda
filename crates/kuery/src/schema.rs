//! What a kuery may name: a schema per Fleet type, and the resolution of a syntax tree into a
//! typed [`Expr`].

use chrono::{DateTime, Utc};

use crate::ast::{Node, Piece, RangeOp, Value};
use crate::datemath;
use crate::expr::{text_words, Expr, Pattern, Scalar, Target};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Keyword,
    /// An array of keywords: matches when any element does.
    KeywordArray,
    Text,
    Number,
    Boolean,
    /// RFC 3339 UTC timestamps with milliseconds, compared as instants.
    Date,
}

#[derive(Debug, Clone, Copy)]
pub enum Storage {
    /// The JSON document, at the field's own path.
    Json,
    /// A trusted SQL expression per dialect (a real column, or a derived value such as agent
    /// status); the evaluator reads the document at the field's path.
    Sql {
        sqlite: &'static str,
        postgres: &'static str,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The dotted name users write (and the document path).
    pub name: &'static str,
    pub ty: FieldType,
    pub storage: Storage,
}

pub const fn field(name: &'static str, ty: FieldType) -> Field {
    Field {
        name,
        ty,
        storage: Storage::Json,
    }
}

/// The queryable fields of one Fleet type.
#[derive(Debug)]
pub struct Schema {
    /// The saved-object type, accepted with a dot as a field prefix (`ingest-agent-policies.`).
    pub prefix: &'static str,
    pub fields: &'static [Field],
}

/// A kuery that parses but cannot apply to this schema (unknown field, bad value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError(pub String);

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SchemaError {}

type R<T> = Result<T, SchemaError>;

fn glob_match(pattern: &[Piece], text: &str) -> bool {
    crate::eval::pattern_matches(&Pattern(pattern.to_vec()), text)
}

impl Schema {
    fn strip<'a>(&self, name: &'a str) -> &'a str {
        name.strip_prefix(self.prefix)
            .and_then(|r| r.strip_prefix('.'))
            .map(|r| r.strip_prefix("attributes.").unwrap_or(r))
            .unwrap_or(name)
    }

    /// The field a name (with or without the type prefix) refers to.
    pub fn field(&self, name: &str) -> Option<&Field> {
        let bare = self.strip(name);
        self.fields.iter().find(|f| f.name == bare)
    }

    /// Fields matching a name that may contain wildcards (at least one, or an error).
    fn fields_for(&self, name: &Value, prefix: &str) -> R<Vec<&Field>> {
        let text = format!("{prefix}{}", name.text());
        match name {
            Value::Literal(pieces) if name.has_wildcard() => {
                let mut pieces = pieces.clone();
                if !prefix.is_empty() {
                    pieces.insert(0, Piece::Text(prefix.to_string()));
                }
                let found: Vec<&Field> = self
                    .fields
                    .iter()
                    .filter(|f| {
                        glob_match(&pieces, f.name)
                            || glob_match(&pieces, &format!("{}.{}", self.prefix, f.name))
                    })
                    .collect();
                if found.is_empty() {
                    Err(self.unknown(&text))
                } else {
                    Ok(found)
                }
            }
            _ => self
                .field(&text)
                .map(|f| vec![f])
                .ok_or_else(|| self.unknown(&text)),
        }
    }

    fn unknown(&self, name: &str) -> SchemaError {
        SchemaError(format!(
            "The field [{name}] is not a known field of [{}]",
            self.prefix
        ))
    }

    /// Resolves a parsed kuery into a typed expression. `now` anchors date math.
    pub fn compile(&self, node: &Node, now: DateTime<Utc>) -> R<Expr> {
        self.node(node, "", now)
    }

    fn node(&self, node: &Node, prefix: &str, now: DateTime<Utc>) -> R<Expr> {
        Ok(match node {
            Node::And(items) => Expr::And(
                items
                    .iter()
                    .map(|n| self.node(n, prefix, now))
                    .collect::<R<_>>()?,
            ),
            Node::Or(items) => Expr::Or(
                items
                    .iter()
                    .map(|n| self.node(n, prefix, now))
                    .collect::<R<_>>()?,
            ),
            Node::Not(inner) => Expr::Not(Box::new(self.node(inner, prefix, now)?)),
            Node::MatchAll => Expr::All,
            Node::Nested { path, query } => {
                let p = format!("{prefix}{}.", self.strip(&path.text()));
                self.node(query, &p, now)?
            }
            Node::Exists { field } => {
                let fields = self.fields_for(field, prefix)?;
                one_or_any(fields.iter().map(|f| Expr::Exists(target(f))).collect())
            }
            Node::Match {
                field: Some(field),
                value,
            } => {
                let fields = self.fields_for(field, prefix)?;
                one_or_any(
                    fields
                        .iter()
                        .map(|f| self.matches(f, value, now))
                        .collect::<R<_>>()?,
                )
            }
            Node::Match { field: None, value } => {
                // Free text: any keyword or text field.
                let mut any = Vec::new();
                for f in self.fields.iter().filter(|f| {
                    matches!(
                        f.ty,
                        FieldType::Keyword | FieldType::KeywordArray | FieldType::Text
                    )
                }) {
                    if f.ty == FieldType::Text && value.has_wildcard() {
                        continue;
                    }
                    any.push(self.matches(f, value, now)?);
                }
                one_or_any(any)
            }
            Node::Range { field, op, value } => {
                let fields = self.fields_for(field, prefix)?;
                one_or_any(
                    fields
                        .iter()
                        .map(|f| self.range(f, *op, value, now))
                        .collect::<R<_>>()?,
                )
            }
        })
    }

    fn matches(&self, f: &Field, value: &Value, now: DateTime<Utc>) -> R<Expr> {
        let t = target(f);
        if value.is_star() {
            return Ok(Expr::Exists(t));
        }
        let text = value.text();
        Ok(match f.ty {
            FieldType::Keyword | FieldType::KeywordArray => {
                let array = f.ty == FieldType::KeywordArray;
                match value {
                    Value::Literal(pieces) if value.has_wildcard() => Expr::Wildcard {
                        target: t,
                        pattern: Pattern(pieces.clone()),
                        array,
                    },
                    _ if array => Expr::AnyEq(t, Scalar::Str(text)),
                    _ => Expr::Eq(t, Scalar::Str(text)),
                }
            }
            FieldType::Text => {
                if value.has_wildcard() {
                    return Err(SchemaError(format!(
                        "Wildcards are not supported on the text field [{}]",
                        f.name
                    )));
                }
                Expr::Text {
                    target: t,
                    words: text_words(&text),
                    phrase: matches!(value, Value::Phrase(_)),
                }
            }
            FieldType::Number => Expr::Eq(t, Scalar::Num(number(f, &text)?)),
            FieldType::Boolean => Expr::Eq(t, Scalar::Bool(boolean(f, &text)?)),
            FieldType::Date => Expr::Eq(t, Scalar::Str(date(f, &text, None, now)?)),
        })
    }

    fn range(&self, f: &Field, op: RangeOp, value: &Value, now: DateTime<Utc>) -> R<Expr> {
        let text = value.text();
        let scalar = match f.ty {
            FieldType::Number => Scalar::Num(number(f, &text)?),
            FieldType::Date => Scalar::Str(date(f, &text, Some(op), now)?),
            FieldType::Boolean => {
                return Err(SchemaError(format!(
                    "Ranges are not supported on the boolean field [{}]",
                    f.name
                )))
            }
            _ => Scalar::Str(text),
        };
        Ok(Expr::Range(target(f), op, scalar))
    }
}

fn target(f: &Field) -> Target {
    match f.storage {
        Storage::Json => Target::Json(f.name.to_string()),
        Storage::Sql { sqlite, postgres } => Target::Column {
            sqlite,
            postgres,
            json_path: f.name,
        },
    }
}

fn one_or_any(mut items: Vec<Expr>) -> Expr {
    if items.len() == 1 {
        items.pop().expect("one item")
    } else {
        Expr::Or(items)
    }
}

fn number(f: &Field, s: &str) -> R<f64> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .ok_or_else(|| {
            SchemaError(format!(
                "Invalid value [{s}] for the number field [{}]",
                f.name
            ))
        })
}

fn boolean(f: &Field, s: &str) -> R<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(SchemaError(format!(
            "Invalid value [{s}] for the boolean field [{}]",
            f.name
        ))),
    }
}

fn date(f: &Field, s: &str, op: Option<RangeOp>, now: DateTime<Utc>) -> R<String> {
    datemath::resolve(s, op, now)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .ok_or_else(|| {
            SchemaError(format!(
                "Invalid date [{s}] for the date field [{}]",
                f.name
            ))
        })
}

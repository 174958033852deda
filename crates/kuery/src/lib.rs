//! KQL (Kibana Query Language), the `kuery` parameter of every Fleet list endpoint.
//!
//! - [`parse`] turns text into a syntax tree ([`Node`]) following Kibana's grammar, with
//!   Kibana's error messages and positions;
//! - a [`Schema`] per Fleet type resolves the tree into a typed [`Expr`] (fields, types, date
//!   math), refusing unknown fields;
//! - [`eval`] runs an `Expr` over a JSON document, and [`sql::to_sql`] translates it into a
//!   parameterized `WHERE` condition for SQLite or PostgreSQL. The two agree by construction
//!   and are tested against each other.
//!
//! No I/O. Input is limited in size and nesting, and no input can panic or run super-linearly.

mod ast;
mod datemath;
mod eval;
mod expr;
mod parser;
mod schema;
pub mod sql;

pub use ast::{Node, Piece, RangeOp, Value};
pub use eval::{eval, lookup, pattern_matches};
pub use expr::{text_words, Expr, Pattern, Scalar, Target, TEXT_SEPARATORS};
pub use parser::parse;
pub use schema::{field, Field, FieldType, Schema, SchemaError, Storage};

use std::fmt;

/// Longest kuery accepted, in bytes.
pub const MAX_INPUT: usize = 16 * 1024;
/// Deepest nesting of parentheses, `not` and `{}` accepted.
pub const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset in the input where the problem was seen.
    pub position: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at position {}", self.message, self.position)
    }
}

impl std::error::Error for ParseError {}

/// Any reason a kuery cannot be used: syntax, or what it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    Syntax { query: String, error: ParseError },
    Schema(SchemaError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Kibana's KQLSyntaxError: the message, the query, and a caret under the position.
            Error::Syntax { query, error } => {
                let col = query[..error.position.min(query.len())].chars().count();
                write!(
                    f,
                    "KQLSyntaxError: {}\n{query}\n{}^",
                    error.message,
                    "-".repeat(col)
                )
            }
            Error::Schema(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

/// Parses and resolves a kuery against a schema; an empty kuery is [`Expr::All`].
pub fn compile(
    kuery: &str,
    schema: &Schema,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Expr, Error> {
    match parse(kuery).map_err(|error| Error::Syntax {
        query: kuery.to_string(),
        error,
    })? {
        None => Ok(Expr::All),
        Some(node) => schema.compile(&node, now).map_err(Error::Schema),
    }
}

//! The syntax tree of a kuery, before any schema is applied.

/// One piece of an unquoted value or field name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    /// An unescaped `*`: any run of characters.
    Star,
}

/// A value or field name as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A quoted phrase (`"..."`): matched as a whole, never a wildcard.
    Phrase(String),
    /// An unquoted literal, possibly with `*` wildcards.
    Literal(Vec<Piece>),
}

impl Value {
    /// A literal with no wildcard.
    pub fn term(s: &str) -> Value {
        Value::Literal(vec![Piece::Text(s.to_string())])
    }

    /// Is this the lone `*`?
    pub fn is_star(&self) -> bool {
        matches!(self, Value::Literal(p) if p.as_slice() == [Piece::Star])
    }

    pub fn has_wildcard(&self) -> bool {
        matches!(self, Value::Literal(p) if p.contains(&Piece::Star))
    }

    /// The text with wildcards written as `*` (for messages and exact matches).
    pub fn text(&self) -> String {
        match self {
            Value::Phrase(s) => s.clone(),
            Value::Literal(pieces) => pieces
                .iter()
                .map(|p| match p {
                    Piece::Text(t) => t.as_str(),
                    Piece::Star => "*",
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOp {
    Lt,
    Lte,
    Gt,
    Gte,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Or(Vec<Node>),
    And(Vec<Node>),
    Not(Box<Node>),
    /// `field:value`; `field` is None for a field-less (free-text) value.
    Match {
        field: Option<Value>,
        value: Value,
    },
    /// `field:*`.
    Exists {
        field: Value,
    },
    /// `field < value` and friends.
    Range {
        field: Value,
        op: RangeOp,
        value: Value,
    },
    /// `path:{ query }`: the query's fields are relative to `path`, and for an array of objects
    /// one element must satisfy all of it.
    Nested {
        path: Value,
        query: Box<Node>,
    },
    /// A lone `*`: everything.
    MatchAll,
}

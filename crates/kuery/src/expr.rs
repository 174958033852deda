//! The typed query: a kuery resolved against a [`crate::Schema`]. Both back ends (the evaluator
//! and the SQL translation) read this, never the raw syntax tree, so they agree by construction
//! on what every field and value means.

pub use crate::ast::RangeOp;

/// Where a field's value lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A dotted path inside the JSON document.
    Json(String),
    /// A trusted SQL expression from a schema (a real column, or a derived value such as agent
    /// status); the evaluator reads `json_path` of the document for it instead.
    Column {
        sqlite: &'static str,
        postgres: &'static str,
        json_path: &'static str,
    },
}

impl Target {
    /// The path the evaluator reads.
    pub fn json_path(&self) -> &str {
        match self {
            Target::Json(p) => p,
            Target::Column { json_path, .. } => json_path,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Str(String),
    Num(f64),
    Bool(bool),
}

/// A wildcard pattern: literal text and `*` (any run of characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(pub Vec<crate::ast::Piece>);

#[derive(Debug, Clone, PartialEq, Default)]
pub enum Expr {
    /// Everything.
    #[default]
    All,
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// The scalar value equals (same JSON type).
    Eq(Target, Scalar),
    /// An array whose elements include the value.
    AnyEq(Target, Scalar),
    /// A string (or, with `array`, any string element) matching the pattern, case-sensitively.
    Wildcard {
        target: Target,
        pattern: Pattern,
        array: bool,
    },
    /// Compares with a value of the same JSON type (strings by code point).
    Range(Target, RangeOp, Scalar),
    /// Present, not null, and not an empty array.
    Exists(Target),
    /// Text search: lower-cased words split at punctuation and spaces; any word (or, with
    /// `phrase`, all of them consecutively) must occur.
    Text {
        target: Target,
        words: Vec<String>,
        phrase: bool,
    },
}

/// Characters that split text into words, the same for every back end (SQL replaces exactly
/// these, so the set is fixed rather than Unicode's idea of whitespace).
pub const TEXT_SEPARATORS: &str = " \t\n\r\u{b}\u{c},.;:!?'\"()[]{}<>/\\|-_+=*&^%$#@~`";

/// The words of a text, as text fields compare them.
pub fn text_words(s: &str) -> Vec<String> {
    s.split(|c: char| TEXT_SEPARATORS.contains(c))
        .filter(|w| !w.is_empty())
        .map(|w| w.to_ascii_lowercase())
        .collect()
}

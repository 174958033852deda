//! Translation of a typed [`Expr`] into a parameterized SQL condition for SQLite or PostgreSQL.
//! Values always travel as bind parameters; the only text spliced in comes from schemas
//! (trusted SQL) and validated dotted paths.

use crate::ast::{Piece, RangeOp};
use crate::expr::{Expr, Pattern, Scalar, Target, TEXT_SEPARATORS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A bind parameter, in the order the placeholders were written.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError(pub String);

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SqlError {}

type R<T> = Result<T, SqlError>;

/// Checks a dotted path (`a.b_c.d`) and returns its segments.
pub fn path_segments(path: &str) -> R<Vec<&str>> {
    let segments: Vec<&str> = path.split('.').collect();
    let ok = segments.iter().all(|s| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '@')
    });
    if ok {
        Ok(segments)
    } else {
        Err(SqlError(format!("invalid field path [{path}]")))
    }
}

impl Dialect {
    /// A JSON path literal for SQLite (`'$."a"."b"'`); segments are quoted so `-` is safe.
    fn sqlite_path(segs: &[&str]) -> String {
        let quoted: Vec<String> = segs.iter().map(|s| format!("\"{s}\"")).collect();
        format!("'$.{}'", quoted.join("."))
    }

    /// The field's JSON value (typed: numbers compare as numbers).
    pub fn json_value(self, column: &str, path: &str) -> R<String> {
        let segs = path_segments(path)?;
        Ok(match self {
            Dialect::Sqlite => format!("json_extract({column}, {})", Self::sqlite_path(&segs)),
            Dialect::Postgres => format!("({column} #> '{{{}}}')", segs.join(",")),
        })
    }

    /// The field's value as text (strings unquoted).
    pub fn json_text(self, column: &str, path: &str) -> R<String> {
        let segs = path_segments(path)?;
        Ok(match self {
            Dialect::Sqlite => format!("json_extract({column}, {})", Self::sqlite_path(&segs)),
            Dialect::Postgres => format!("({column} #>> '{{{}}}')", segs.join(",")),
        })
    }

    /// The field's JSON type, named the same on both back ends
    /// (`string`, `number`, `boolean`, `array`, `object`, `null`).
    fn json_type(self, column: &str, path: &str) -> R<String> {
        let segs = path_segments(path)?;
        Ok(match self {
            Dialect::Sqlite => format!(
                "(CASE json_type({column}, {p}) WHEN 'text' THEN 'string' WHEN 'integer' THEN 'number' \
                 WHEN 'real' THEN 'number' WHEN 'true' THEN 'boolean' WHEN 'false' THEN 'boolean' \
                 ELSE json_type({column}, {p}) END)",
                p = Self::sqlite_path(&segs)
            ),
            Dialect::Postgres => format!("jsonb_typeof({column} #> '{{{}}}')", segs.join(",")),
        })
    }
}

pub struct Sql {
    pub text: String,
    pub binds: Vec<Bind>,
}

/// Translates `expr` over the JSON column `column`; `binds` holds the parameters that come
/// before it in the statement (placeholders continue from there).
pub fn to_sql(expr: &Expr, dialect: Dialect, column: &str, binds: Vec<Bind>) -> R<Sql> {
    let mut w = Writer {
        d: dialect,
        col: column,
        binds,
    };
    let text = w.expr(expr, 0)?;
    Ok(Sql {
        text,
        binds: w.binds,
    })
}

const MAX_DEPTH: usize = 256;

struct Writer<'a> {
    d: Dialect,
    col: &'a str,
    binds: Vec<Bind>,
}

impl Writer<'_> {
    fn pick<'s>(&self, sqlite: &'s str, postgres: &'s str) -> &'s str {
        match self.d {
            Dialect::Sqlite => sqlite,
            Dialect::Postgres => postgres,
        }
    }

    fn bind(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.binds.len())
    }

    fn scalar(&mut self, s: &Scalar) -> String {
        match s {
            Scalar::Str(v) => self.bind(Bind::Text(v.clone())),
            Scalar::Num(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => {
                self.bind(Bind::Int(*n as i64))
            }
            Scalar::Num(n) => self.bind(Bind::Float(*n)),
            Scalar::Bool(b) => self.bind(Bind::Bool(*b)),
        }
    }

    /// A scalar as a JSON literal parameter (PostgreSQL jsonb comparisons).
    fn json_scalar(&mut self, s: &Scalar) -> String {
        let v = match s {
            Scalar::Str(v) => serde_json::Value::String(v.clone()),
            Scalar::Num(n) => serde_json::Number::from_f64(*n)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Scalar::Bool(b) => serde_json::Value::Bool(*b),
        };
        format!("{}::jsonb", self.bind(Bind::Text(v.to_string())))
    }

    fn type_name(s: &Scalar) -> &'static str {
        match s {
            Scalar::Str(_) => "string",
            Scalar::Num(_) => "number",
            Scalar::Bool(_) => "boolean",
        }
    }

    fn expr(&mut self, e: &Expr, depth: usize) -> R<String> {
        if depth > MAX_DEPTH {
            return Err(SqlError("query nested too deeply".into()));
        }
        Ok(match e {
            Expr::All => "(1=1)".into(),
            Expr::And(items) | Expr::Or(items) => {
                let and = matches!(e, Expr::And(_));
                if items.is_empty() {
                    return Ok(if and { "(1=1)" } else { "(1=0)" }.into());
                }
                let parts = items
                    .iter()
                    .map(|i| self.expr(i, depth + 1))
                    .collect::<R<Vec<_>>>()?;
                format!("({})", parts.join(if and { " AND " } else { " OR " }))
            }
            // A missing field makes a comparison NULL; NULL counts as "no match" everywhere, so
            // `not` must turn it into a definite false before negating.
            Expr::Not(inner) => format!("(NOT COALESCE({}, FALSE))", self.expr(inner, depth + 1)?),
            Expr::Eq(t, s) => match t {
                Target::Column {
                    sqlite, postgres, ..
                } => {
                    let sql = self.pick(sqlite, postgres);
                    let v = self.scalar(s);
                    format!("({sql} = {v})")
                }
                Target::Json(p) => {
                    let ty = self.d.json_type(self.col, p)?;
                    let want = Self::type_name(s);
                    match self.d {
                        Dialect::Sqlite => {
                            let lhs = self.d.json_value(self.col, p)?;
                            let v = match s {
                                Scalar::Bool(b) => self.bind(Bind::Int(i64::from(*b))),
                                _ => self.scalar(s),
                            };
                            format!("({ty} = '{want}' AND {lhs} = {v})")
                        }
                        Dialect::Postgres => {
                            let lhs = self.d.json_value(self.col, p)?;
                            let v = self.json_scalar(s);
                            format!("({ty} = '{want}' AND {lhs} = {v})")
                        }
                    }
                }
            },
            Expr::AnyEq(t, s) => {
                let p = json_only(t)?;
                let ty = self.d.json_type(self.col, p)?;
                match self.d {
                    Dialect::Sqlite => {
                        let path = Dialect::sqlite_path(&path_segments(p)?);
                        let (types, v) = match s {
                            Scalar::Str(_) => ("'text'", self.scalar(s)),
                            Scalar::Num(_) => ("'integer','real'", self.scalar(s)),
                            Scalar::Bool(b) => {
                                (if *b { "'true'" } else { "'false'" }, "je.type".to_string())
                            }
                        };
                        let cmp = if matches!(s, Scalar::Bool(_)) {
                            "1=1".to_string()
                        } else {
                            format!("je.value = {v}")
                        };
                        format!(
                            "({ty} = 'array' AND EXISTS (SELECT 1 FROM json_each({col}, {path}) je WHERE je.type IN ({types}) AND {cmp}))",
                            col = self.col
                        )
                    }
                    Dialect::Postgres => {
                        let lhs = self.d.json_value(self.col, p)?;
                        let v = self.json_scalar(s);
                        format!("({ty} = 'array' AND {lhs} @> jsonb_build_array({v}))")
                    }
                }
            }
            Expr::Wildcard {
                target,
                pattern,
                array,
            } => {
                let pat = self.pattern(pattern);
                match (target, array) {
                    (
                        Target::Column {
                            sqlite, postgres, ..
                        },
                        _,
                    ) => {
                        let sql = self.pick(sqlite, postgres);
                        self.matches_pattern(sql, &pat)
                    }
                    (Target::Json(p), false) => {
                        let ty = self.d.json_type(self.col, p)?;
                        let text = self.d.json_text(self.col, p)?;
                        let m = self.matches_pattern(&text, &pat);
                        format!("({ty} = 'string' AND {m})")
                    }
                    (Target::Json(p), true) => {
                        let ty = self.d.json_type(self.col, p)?;
                        match self.d {
                            Dialect::Sqlite => {
                                let path = Dialect::sqlite_path(&path_segments(p)?);
                                let m = self.matches_pattern("je.value", &pat);
                                format!(
                                    "({ty} = 'array' AND EXISTS (SELECT 1 FROM json_each({col}, {path}) je WHERE je.type = 'text' AND {m}))",
                                    col = self.col
                                )
                            }
                            Dialect::Postgres => {
                                let lhs = self.d.json_value(self.col, p)?;
                                let m = self.matches_pattern("(je #>> '{}')", &pat);
                                format!(
                                    "({ty} = 'array' AND EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof({lhs}) = 'array' THEN {lhs} ELSE '[]'::jsonb END) je WHERE jsonb_typeof(je) = 'string' AND {m}))"
                                )
                            }
                        }
                    }
                }
            }
            Expr::Range(t, op, s) => {
                let op = match op {
                    RangeOp::Lt => "<",
                    RangeOp::Lte => "<=",
                    RangeOp::Gt => ">",
                    RangeOp::Gte => ">=",
                };
                match t {
                    Target::Column {
                        sqlite, postgres, ..
                    } => {
                        let sql = self.pick(sqlite, postgres);
                        let v = self.scalar(s);
                        format!("({sql} {op} {v})")
                    }
                    Target::Json(p) => {
                        let ty = self.d.json_type(self.col, p)?;
                        let want = Self::type_name(s);
                        let cmp = match (self.d, s) {
                            (Dialect::Postgres, Scalar::Str(_)) => {
                                let lhs = self.d.json_text(self.col, p)?;
                                let v = self.scalar(s);
                                // Code-point order, as Elasticsearch compares keywords.
                                format!("({lhs} COLLATE \"C\") {op} {v}")
                            }
                            (Dialect::Postgres, _) => {
                                let lhs = self.d.json_value(self.col, p)?;
                                let v = self.json_scalar(s);
                                format!("{lhs} {op} {v}")
                            }
                            (Dialect::Sqlite, _) => {
                                let lhs = self.d.json_value(self.col, p)?;
                                let v = self.scalar(s);
                                format!("{lhs} {op} {v}")
                            }
                        };
                        format!("({ty} = '{want}' AND {cmp})")
                    }
                }
            }
            Expr::Exists(t) => {
                match t {
                    Target::Column {
                        sqlite, postgres, ..
                    } => format!("({} IS NOT NULL)", self.pick(sqlite, postgres)),
                    Target::Json(p) => {
                        let ty = self.d.json_type(self.col, p)?;
                        let len = match self.d {
                            Dialect::Sqlite => format!(
                                "json_array_length({}, {})",
                                self.col,
                                Dialect::sqlite_path(&path_segments(p)?)
                            ),
                            Dialect::Postgres => {
                                let v = self.d.json_value(self.col, p)?;
                                format!("jsonb_array_length(CASE WHEN jsonb_typeof({v}) = 'array' THEN {v} ELSE '[]'::jsonb END)")
                            }
                        };
                        format!("({ty} IS NOT NULL AND {ty} <> 'null' AND ({ty} <> 'array' OR {len} > 0))")
                    }
                }
            }
            Expr::Text {
                target,
                words,
                phrase,
            } => {
                if words.is_empty() {
                    return Ok("(1=0)".into());
                }
                let (ty, text) = match target {
                    Target::Column {
                        sqlite, postgres, ..
                    } => (None, self.pick(sqlite, postgres).to_string()),
                    Target::Json(p) => (
                        Some(self.d.json_type(self.col, p)?),
                        self.d.json_text(self.col, p)?,
                    ),
                };
                let norm = self.normalized(&text, *phrase);
                let conds: Vec<String> = if *phrase {
                    vec![format!(
                        "{norm} LIKE {} ESCAPE '\\'",
                        self.bind(Bind::Text(format!("% {} %", words.join(" "))))
                    )]
                } else {
                    words
                        .iter()
                        .map(|w| {
                            format!(
                                "{norm} LIKE {} ESCAPE '\\'",
                                self.bind(Bind::Text(format!("% {w} %")))
                            )
                        })
                        .collect()
                };
                let any = format!("({})", conds.join(" OR "));
                match ty {
                    Some(ty) => format!("({ty} = 'string' AND {any})"),
                    None => any,
                }
            }
        })
    }

    /// ` words separated by single spaces ` of a text: ASCII-lowercased, separators as spaces.
    fn normalized(&self, text: &str, collapse: bool) -> String {
        let (chr, lower) = match self.d {
            Dialect::Sqlite => ("char", format!("lower({text})")),
            Dialect::Postgres => (
                "chr",
                format!(
                    "translate({text}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
                ),
            ),
        };
        let mut s = lower;
        for c in TEXT_SEPARATORS
            .chars()
            .chain(['\t', '\n', '\r', '\u{b}', '\u{c}'])
        {
            s = format!("replace({s}, {chr}({}), ' ')", c as u32);
        }
        s = format!("(' ' || {s} || ' ')");
        if collapse {
            // Each pass halves runs of spaces: eight passes join runs of up to 256.
            for _ in 0..8 {
                s = format!("replace({s}, '  ', ' ')");
            }
        }
        s
    }

    fn pattern(&mut self, p: &Pattern) -> String {
        let mut out = String::new();
        for piece in &p.0 {
            match (piece, self.d) {
                (Piece::Star, Dialect::Sqlite) => out.push('*'),
                (Piece::Star, Dialect::Postgres) => out.push('%'),
                (Piece::Text(t), Dialect::Sqlite) => {
                    for c in t.chars() {
                        match c {
                            '*' => out.push_str("[*]"),
                            '?' => out.push_str("[?]"),
                            '[' => out.push_str("[[]"),
                            _ => out.push(c),
                        }
                    }
                }
                (Piece::Text(t), Dialect::Postgres) => {
                    for c in t.chars() {
                        if matches!(c, '%' | '_' | '\\') {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                }
            }
        }
        self.bind(Bind::Text(out))
    }

    fn matches_pattern(&self, lhs: &str, placeholder: &str) -> String {
        match self.d {
            // GLOB is case-sensitive, as Elasticsearch keyword wildcards are.
            Dialect::Sqlite => format!("({lhs} GLOB {placeholder})"),
            Dialect::Postgres => format!("({lhs} LIKE {placeholder} ESCAPE '\\')"),
        }
    }
}

fn json_only(t: &Target) -> R<&str> {
    match t {
        Target::Json(p) => Ok(p),
        Target::Column { .. } => Err(SqlError("array matching needs a JSON field".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_bound_not_spliced() {
        let e = Expr::Eq(
            Target::Json("name".into()),
            Scalar::Str("x' OR 1=1 --".into()),
        );
        for d in [Dialect::Sqlite, Dialect::Postgres] {
            let sql = to_sql(&e, d, "doc", vec![]).unwrap();
            assert!(!sql.text.contains("OR 1=1"), "{}", sql.text);
        }
        assert!(path_segments("a'b").is_err());
        assert!(path_segments("a..b").is_err());
    }
}

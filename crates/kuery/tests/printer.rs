//! A compact, readable form of kuery syntax trees for the corpus.

use kuery::{Node, Piece, RangeOp, Value};

pub fn value(v: &Value) -> String {
    match v {
        Value::Phrase(s) => serde_json::to_string(s).unwrap(),
        Value::Literal(pieces) => {
            let mut out = String::from("`");
            for p in pieces {
                match p {
                    Piece::Star => out.push('*'),
                    Piece::Text(t) => {
                        for c in t.chars() {
                            match c {
                                '*' | '\\' | '`' => {
                                    out.push('\\');
                                    out.push(c)
                                }
                                '\t' => out.push_str("\\t"),
                                '\n' => out.push_str("\\n"),
                                '\r' => out.push_str("\\r"),
                                _ => out.push(c),
                            }
                        }
                    }
                }
            }
            out.push('`');
            out
        }
    }
}

pub fn node(n: &Node) -> String {
    match n {
        Node::Or(items) => format!(
            "(or {})",
            items.iter().map(node).collect::<Vec<_>>().join(" ")
        ),
        Node::And(items) => format!(
            "(and {})",
            items.iter().map(node).collect::<Vec<_>>().join(" ")
        ),
        Node::Not(inner) => format!("(not {})", node(inner)),
        Node::Match {
            field: Some(f),
            value: v,
        } => format!("(match {} {})", value(f), value(v)),
        Node::Match {
            field: None,
            value: v,
        } => format!("(match _ {})", value(v)),
        Node::Exists { field } => format!("(exists {})", value(field)),
        Node::Range {
            field,
            op,
            value: v,
        } => {
            let op = match op {
                RangeOp::Lt => "<",
                RangeOp::Lte => "<=",
                RangeOp::Gt => ">",
                RangeOp::Gte => ">=",
            };
            format!("(range {} {op} {})", value(field), value(v))
        }
        Node::Nested { path, query } => format!("(nested {} {})", value(path), node(query)),
        Node::MatchAll => "(all)".into(),
    }
}

pub fn show(query: &str) -> String {
    match kuery::parse(query) {
        Ok(None) => "(empty)".into(),
        Ok(Some(n)) => node(&n),
        Err(e) => format!("ERR@{}: {}", e.position, e.message),
    }
}

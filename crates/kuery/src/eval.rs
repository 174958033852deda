//! The evaluator: does a JSON document match a typed [`Expr`]? Its meaning is, field for field,
//! the SQL translation's (the differential tests hold them to it).

use std::cmp::Ordering;

use serde_json::Value;

use crate::ast::{Piece, RangeOp};
use crate::expr::{text_words, Expr, Pattern, Scalar, Target};

/// The value at a dotted path, through nested objects.
pub fn lookup<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(doc, |v, key| v.as_object()?.get(key))
}

pub fn eval(expr: &Expr, doc: &Value) -> bool {
    match expr {
        Expr::All => true,
        Expr::And(items) => items.iter().all(|e| eval(e, doc)),
        Expr::Or(items) => items.iter().any(|e| eval(e, doc)),
        Expr::Not(inner) => !eval(inner, doc),
        Expr::Eq(t, s) => get(doc, t).is_some_and(|v| scalar_eq(v, s)),
        Expr::AnyEq(t, s) => array(doc, t).is_some_and(|a| a.iter().any(|v| scalar_eq(v, s))),
        Expr::Wildcard {
            target,
            pattern,
            array: false,
        } => get(doc, target)
            .and_then(Value::as_str)
            .is_some_and(|s| pattern_matches(pattern, s)),
        Expr::Wildcard {
            target,
            pattern,
            array: true,
        } => array(doc, target).is_some_and(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .any(|s| pattern_matches(pattern, s))
        }),
        Expr::Range(t, op, s) => get(doc, t).is_some_and(|v| {
            let ord = match (v, s) {
                (Value::String(a), Scalar::Str(b)) => Some(a.as_str().cmp(b.as_str())),
                (Value::Number(a), Scalar::Num(b)) => a.as_f64().and_then(|a| a.partial_cmp(b)),
                _ => None,
            };
            ord.is_some_and(|o| match op {
                RangeOp::Lt => o == Ordering::Less,
                RangeOp::Lte => o != Ordering::Greater,
                RangeOp::Gt => o == Ordering::Greater,
                RangeOp::Gte => o != Ordering::Less,
            })
        }),
        Expr::Exists(t) => match get(doc, t) {
            None | Some(Value::Null) => false,
            Some(Value::Array(a)) => !a.is_empty(),
            Some(_) => true,
        },
        Expr::Text {
            target,
            words,
            phrase,
        } => {
            let Some(text) = get(doc, target).and_then(Value::as_str) else {
                return false;
            };
            if words.is_empty() {
                return false;
            }
            let have = text_words(text);
            if *phrase {
                have.windows(words.len()).any(|w| w == words.as_slice())
            } else {
                words.iter().any(|w| have.contains(w))
            }
        }
    }
}

fn get<'a>(doc: &'a Value, t: &Target) -> Option<&'a Value> {
    lookup(doc, t.json_path())
}

fn array<'a>(doc: &'a Value, t: &Target) -> Option<&'a Vec<Value>> {
    get(doc, t).and_then(Value::as_array)
}

fn scalar_eq(v: &Value, s: &Scalar) -> bool {
    match (v, s) {
        (Value::String(a), Scalar::Str(b)) => a == b,
        (Value::Number(a), Scalar::Num(b)) => a.as_f64() == Some(*b),
        (Value::Bool(a), Scalar::Bool(b)) => a == b,
        _ => false,
    }
}

/// `*`-wildcard matching in linear passes: the first piece anchors the start, the last the
/// end, the ones between are found leftmost-first (which is optimal for `*` alone).
pub fn pattern_matches(pattern: &Pattern, text: &str) -> bool {
    let pieces = &pattern.0;
    let starts_free = matches!(pieces.first(), Some(Piece::Star));
    let ends_free = matches!(pieces.last(), Some(Piece::Star));
    let texts: Vec<&str> = pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Text(t) => Some(t.as_str()),
            Piece::Star => None,
        })
        .collect();
    if texts.is_empty() {
        return starts_free || text.is_empty();
    }
    if !starts_free && !ends_free && texts.len() == 1 {
        return text == texts[0];
    }
    let mut rest = text;
    let mut inner = &texts[..];
    if !starts_free {
        match rest.strip_prefix(texts[0]) {
            Some(r) => rest = r,
            None => return false,
        }
        inner = &inner[1..];
    }
    let last = if !ends_free {
        let (l, init) = inner.split_last().expect("at least one text piece remains");
        inner = init;
        Some(*l)
    } else {
        None
    };
    for t in inner {
        match rest.find(t) {
            Some(i) => rest = &rest[i + t.len()..],
            None => return false,
        }
    }
    match last {
        Some(l) => rest.ends_with(l) && rest.len() >= l.len(),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(s: &str) -> Pattern {
        let mut pieces = Vec::new();
        for (i, part) in s.split('*').enumerate() {
            if i > 0 {
                pieces.push(Piece::Star);
            }
            if !part.is_empty() {
                pieces.push(Piece::Text(part.into()));
            }
        }
        Pattern(pieces)
    }

    #[test]
    fn wildcards() {
        for (p, t, want) in [
            ("web-*", "web-1", true),
            ("web-*", "db-1", false),
            ("*-1", "web-1", true),
            ("*eb*", "web-1", true),
            ("w*1", "web-1", true),
            ("w*1", "web-12", false),
            ("a*a", "a", false),
            ("a*a", "aa", true),
            ("*", "", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "acb", false),
            ("ab*ab", "abab", true),
            ("ab*ab", "aba", false),
        ] {
            assert_eq!(pattern_matches(&pat(p), t), want, "{p} ~ {t}");
        }
    }
}

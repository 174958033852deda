//! KQL (Kibana Query Language), the `kuery` parameter of every Fleet list endpoint.
//!
//! This first cut parses the forms scripts use most: `field:value`, `field:"quoted value"`,
//! `field:*` (exists), `field:pre*` (wildcard), combined with `and`, `or`, `not` and
//! parentheses. The KQL issue grows it into the whole grammar; the AST stays the contract.

use std::fmt;

/// Longest kuery accepted, in bytes; longer input is refused before parsing.
pub const MAX_INPUT: usize = 16 * 1024;
/// Deepest nesting of parentheses and `not` accepted.
pub const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An unquoted literal; `*` in it is a wildcard.
    Literal(String),
    /// A quoted phrase, matched as is.
    Phrase(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    /// `field:value`.
    Match {
        field: String,
        value: Value,
    },
    /// `field:*`.
    Exists {
        field: String,
    },
}

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

/// Parses a kuery. An empty or blank kuery is `None` (match everything).
pub fn parse(input: &str) -> Result<Option<Node>, ParseError> {
    if input.len() > MAX_INPUT {
        return Err(ParseError {
            position: MAX_INPUT,
            message: format!("kuery is longer than {MAX_INPUT} bytes"),
        });
    }
    let tokens = lex(input)?;
    if tokens.is_empty() {
        return Ok(None);
    }
    let mut p = Parser {
        tokens,
        pos: 0,
        input_len: input.len(),
    };
    let node = p.or(0)?;
    if let Some(t) = p.tokens.get(p.pos) {
        return Err(ParseError {
            position: t.at,
            message: format!(
                "Expected AND, OR, end of input but {} found",
                t.kind.describe()
            ),
        });
    }
    Ok(Some(node))
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Colon,
    And,
    Or,
    Not,
    Word(String),
    Quoted(String),
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::LParen => "\"(\"".into(),
            Tok::RParen => "\")\"".into(),
            Tok::Colon => "\":\"".into(),
            Tok::And => "AND".into(),
            Tok::Or => "OR".into(),
            Tok::Not => "NOT".into(),
            Tok::Word(w) => format!("\"{w}\""),
            Tok::Quoted(q) => format!("\"\\\"{q}\\\"\""),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: Tok,
    at: usize,
}

fn lex(input: &str) -> Result<Vec<Token>, ParseError> {
    let mut out = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | ':' => {
                chars.next();
                let kind = match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    _ => Tok::Colon,
                };
                out.push(Token { kind, at });
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                let mut closed = false;
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' => match chars.next() {
                            Some((_, e)) => s.push(e),
                            None => break,
                        },
                        '"' => {
                            closed = true;
                            break;
                        }
                        _ => s.push(c),
                    }
                }
                if !closed {
                    return Err(ParseError {
                        position: input.len(),
                        message: "Expected \"\\\"\" but end of input found".into(),
                    });
                }
                out.push(Token {
                    kind: Tok::Quoted(s),
                    at,
                });
            }
            _ => {
                let mut s = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | ':' | '"') {
                        break;
                    }
                    chars.next();
                    if c == '\\' {
                        if let Some((_, e)) = chars.next() {
                            s.push(e);
                        }
                    } else {
                        s.push(c);
                    }
                }
                let kind = match s.to_ascii_lowercase().as_str() {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    _ => Tok::Word(s),
                };
                out.push(Token { kind, at });
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    input_len: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.kind)
    }

    fn here(&self) -> usize {
        self.tokens
            .get(self.pos)
            .map(|t| t.at)
            .unwrap_or(self.input_len)
    }

    fn unexpected(&self, expected: &str) -> ParseError {
        let found = self
            .tokens
            .get(self.pos)
            .map(|t| t.kind.describe())
            .unwrap_or_else(|| "end of input".into());
        ParseError {
            position: self.here(),
            message: format!("Expected {expected} but {found} found"),
        }
    }

    /// `field:(a or b and not c)`: a value list, one field for every value.
    fn value_or(&mut self, field: &str, depth: usize) -> Result<Node, ParseError> {
        let mut items = vec![self.value_and(field, depth)?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            items.push(self.value_and(field, depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::Or(items)
        })
    }

    fn value_and(&mut self, field: &str, depth: usize) -> Result<Node, ParseError> {
        let mut items = vec![self.value_not(field, depth)?];
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            items.push(self.value_not(field, depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::And(items)
        })
    }

    fn value_not(&mut self, field: &str, depth: usize) -> Result<Node, ParseError> {
        if depth > MAX_DEPTH {
            return Err(ParseError {
                position: self.here(),
                message: "kuery is nested too deeply".into(),
            });
        }
        match self.peek() {
            Some(Tok::Not) => {
                self.pos += 1;
                Ok(Node::Not(Box::new(self.value_not(field, depth + 1)?)))
            }
            Some(Tok::LParen) => {
                self.pos += 1;
                let node = self.value_or(field, depth + 1)?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(self.unexpected("\")\""));
                }
                self.pos += 1;
                Ok(node)
            }
            _ => self.value(field),
        }
    }

    fn value(&mut self, field: &str) -> Result<Node, ParseError> {
        let field = field.to_string();
        match self.peek().cloned() {
            Some(Tok::Word(w)) => {
                self.pos += 1;
                Ok(Node::Match {
                    field,
                    value: Value::Literal(w),
                })
            }
            Some(Tok::Quoted(q)) => {
                self.pos += 1;
                Ok(Node::Match {
                    field,
                    value: Value::Phrase(q),
                })
            }
            _ => Err(self.unexpected("a value")),
        }
    }

    fn or(&mut self, depth: usize) -> Result<Node, ParseError> {
        let mut items = vec![self.and(depth)?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            items.push(self.and(depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::Or(items)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Node, ParseError> {
        let mut items = vec![self.not(depth)?];
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            items.push(self.not(depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::And(items)
        })
    }

    fn not(&mut self, depth: usize) -> Result<Node, ParseError> {
        if depth > MAX_DEPTH {
            return Err(ParseError {
                position: self.here(),
                message: "kuery is nested too deeply".into(),
            });
        }
        if self.peek() == Some(&Tok::Not) {
            self.pos += 1;
            return Ok(Node::Not(Box::new(self.not(depth + 1)?)));
        }
        self.primary(depth)
    }

    fn primary(&mut self, depth: usize) -> Result<Node, ParseError> {
        match self.peek().cloned() {
            Some(Tok::LParen) => {
                self.pos += 1;
                let node = self.or(depth + 1)?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(self.unexpected("\")\""));
                }
                self.pos += 1;
                Ok(node)
            }
            Some(Tok::Word(field)) => {
                self.pos += 1;
                if self.peek() != Some(&Tok::Colon) {
                    return Err(ParseError {
                        position: self.here(),
                        message: format!(
                            "Free-text queries are not supported yet: expected \":\" after \"{field}\""
                        ),
                    });
                }
                self.pos += 1;
                match self.peek().cloned() {
                    Some(Tok::Word(w)) if w == "*" => {
                        self.pos += 1;
                        Ok(Node::Exists { field })
                    }
                    Some(Tok::LParen) => {
                        self.pos += 1;
                        let node = self.value_or(&field, depth + 1)?;
                        if self.peek() != Some(&Tok::RParen) {
                            return Err(self.unexpected("\")\""));
                        }
                        self.pos += 1;
                        Ok(node)
                    }
                    _ => self.value(&field),
                }
            }
            _ => Err(self.unexpected("a field name or \"(\"")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(field: &str, v: &str) -> Node {
        Node::Match {
            field: field.into(),
            value: Value::Literal(v.into()),
        }
    }

    #[test]
    fn parses_simple_forms() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("name:abc").unwrap(), Some(m("name", "abc")));
        assert_eq!(
            parse("ingest-agent-policies.name : \"Agent policy 1\"").unwrap(),
            Some(Node::Match {
                field: "ingest-agent-policies.name".into(),
                value: Value::Phrase("Agent policy 1".into())
            })
        );
        assert_eq!(
            parse("a:* ").unwrap(),
            Some(Node::Exists { field: "a".into() })
        );
        assert_eq!(
            parse("a:1 or b:2 and not c:3").unwrap(),
            Some(Node::Or(vec![
                m("a", "1"),
                Node::And(vec![m("b", "2"), Node::Not(Box::new(m("c", "3")))])
            ]))
        );
    }

    #[test]
    fn reports_errors_with_positions() {
        let e = parse("name:").unwrap_err();
        assert_eq!(e.position, 5);
        assert!(parse("(a:b").is_err());
        assert!(parse("a:b c:d").is_err());
        assert!(parse("a:\"open").is_err());
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let q = format!("{}a:b{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&q).is_err());
        let q = format!("{}a:b", "not ".repeat(10_000));
        assert!(parse(&q).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,200}") {
            let _ = parse(&s);
        }

        #[test]
        fn field_value_roundtrip(f in "[a-z_]{1,12}", v in "[a-zA-Z0-9_.-]{1,12}") {
            let keyword = ["and", "or", "not"].iter().any(|k| v.eq_ignore_ascii_case(k));
            proptest::prop_assume!(!keyword);
            proptest::prop_assert_eq!(parse(&format!("{f}:{v}")).unwrap(), Some(m(&f, &v)));
        }
    }
}

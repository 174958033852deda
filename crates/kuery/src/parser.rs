//! A recursive-descent parser for KQL that follows Kibana's grammar (`kuery.peggy`) rule for
//! rule, including its quirks (unquoted values may contain spaces; `or`, `and` and `not ` end
//! them), and reports errors the way Kibana does: the farthest position reached and what was
//! expected there.
//!
//! Every loop consumes input and recursion is bounded by [`MAX_DEPTH`], so parsing is linear in
//! the input and cannot overflow the stack.

use std::collections::BTreeSet;

use crate::ast::{Node, Piece, RangeOp, Value};
use crate::{ParseError, MAX_DEPTH, MAX_INPUT};

const SPECIAL: &[char] = &['\\', '(', ')', ':', '<', '>', '"', '*', '{', '}'];

struct Parser<'a> {
    input: &'a str,
    chars: Vec<(usize, char)>,
    pos: usize,
    /// Farthest char index where something was expected, and what.
    far: usize,
    expected: BTreeSet<&'static str>,
    depth_error: bool,
}

type PResult<T> = Result<T, ()>;

pub fn parse(input: &str) -> Result<Option<Node>, ParseError> {
    if input.len() > MAX_INPUT {
        return Err(ParseError {
            position: MAX_INPUT,
            message: format!("The query is longer than the limit of {MAX_INPUT} bytes."),
        });
    }
    let mut p = Parser {
        input,
        chars: input.char_indices().collect(),
        pos: 0,
        far: 0,
        expected: BTreeSet::new(),
        depth_error: false,
    };
    p.spaces();
    if p.at_end() {
        return Ok(None);
    }
    let first = p.pos;
    let result = p.or_query(0).and_then(|node| {
        p.spaces();
        if p.at_end() {
            Ok(node)
        } else {
            p.expect("end of input");
            Err(())
        }
    });
    if result.is_err() && !p.depth_error {
        // The query itself is optional in Kibana's grammar: end of input was expected too.
        let far = p.pos;
        p.pos = first;
        p.expect("end of input");
        p.pos = far;
    }
    result.map(Some).map_err(|()| p.error())
}

impl Parser<'_> {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).map(|&(_, c)| c)
    }

    fn peek_at(&self, i: usize) -> Option<char> {
        self.chars.get(i).map(|&(_, c)| c)
    }

    fn byte_pos(&self, i: usize) -> usize {
        self.chars
            .get(i)
            .map(|&(b, _)| b)
            .unwrap_or(self.input.len())
    }

    /// Records a failed expectation at the current position.
    fn expect(&mut self, what: &'static str) {
        if self.pos > self.far {
            self.far = self.pos;
            self.expected.clear();
        }
        if self.pos == self.far {
            self.expected.insert(what);
        }
    }

    fn error(&self) -> ParseError {
        if self.depth_error {
            return ParseError {
                position: self.byte_pos(self.far),
                message: format!("The query is nested deeper than the limit of {MAX_DEPTH}."),
            };
        }
        let found = match self.peek_at(self.far) {
            None => "end of input".to_string(),
            Some(c) => format!("\"{}\"", c.escape_default()),
        };
        // Kibana lists literal tokens first, then rule names, alphabetically within each.
        let mut quoted: Vec<&str> = self
            .expected
            .iter()
            .copied()
            .filter(|e| e.starts_with('"'))
            .collect();
        let mut named: Vec<&str> = self
            .expected
            .iter()
            .copied()
            .filter(|e| !e.starts_with('"'))
            .collect();
        quoted.sort();
        named.sort();
        quoted.extend(named);
        ParseError {
            position: self.byte_pos(self.far),
            message: format!("Expected {} but {found} found.", quoted.join(", ")),
        }
    }

    fn is_space(c: char) -> bool {
        matches!(c, ' ' | '\t' | '\r' | '\n')
    }

    /// `Space*`: Kibana names the rule "whitespace", so it is expected where the spaces end.
    fn spaces(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(Self::is_space) {
            self.pos += 1;
        }
        self.expect("whitespace");
        self.pos - start
    }

    /// Case-insensitive keyword at char index `i` (no boundary checks).
    fn word_at(&self, i: usize, word: &str) -> bool {
        word.chars().enumerate().all(|(k, w)| {
            self.peek_at(i + k)
                .is_some_and(|c| c.eq_ignore_ascii_case(&w))
        })
    }

    /// `Space+ word Space+` starting at char index `i`; returns the index after it.
    fn spaced_keyword_at(&self, i: usize, word: &str) -> Option<usize> {
        let mut j = i;
        while self.peek_at(j).is_some_and(Self::is_space) {
            j += 1;
        }
        if j == i || !self.word_at(j, word) {
            return None;
        }
        let mut k = j + word.len();
        let after = k;
        while self.peek_at(k).is_some_and(Self::is_space) {
            k += 1;
        }
        (k > after).then_some(k)
    }

    /// `not Space+` at `i`.
    fn not_at(&self, i: usize) -> Option<usize> {
        if !self.word_at(i, "not") {
            return None;
        }
        let mut k = i + 3;
        while self.peek_at(k).is_some_and(Self::is_space) {
            k += 1;
        }
        (k > i + 3).then_some(k)
    }

    fn keyword_or(&mut self) -> bool {
        match self.spaced_keyword_at(self.pos, "or") {
            Some(end) => {
                self.pos = end;
                true
            }
            None => {
                self.expect("OR");
                false
            }
        }
    }

    fn keyword_and(&mut self) -> bool {
        match self.spaced_keyword_at(self.pos, "and") {
            Some(end) => {
                self.pos = end;
                true
            }
            None => {
                self.expect("AND");
                false
            }
        }
    }

    fn keyword_not(&mut self) -> bool {
        match self.not_at(self.pos) {
            Some(end) => {
                self.pos = end;
                true
            }
            None => {
                self.expect("NOT");
                false
            }
        }
    }

    fn depth(&mut self, depth: usize) -> PResult<()> {
        if depth > MAX_DEPTH {
            self.far = self.pos;
            self.depth_error = true;
            return Err(());
        }
        Ok(())
    }

    fn char(&mut self, c: char, name: &'static str) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            self.expect(name);
            false
        }
    }

    // OrQuery = AndQuery (Or AndQuery)*
    fn or_query(&mut self, depth: usize) -> PResult<Node> {
        self.depth(depth)?;
        let mut items = vec![self.and_query(depth)?];
        loop {
            let save = self.pos;
            if !self.keyword_or() {
                break;
            }
            match self.and_query(depth) {
                Ok(n) => items.push(n),
                Err(()) if self.depth_error => return Err(()),
                Err(()) => {
                    self.pos = save;
                    return Err(());
                }
            }
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one item")
        } else {
            Node::Or(items)
        })
    }

    // AndQuery = NotQuery (And NotQuery)*
    fn and_query(&mut self, depth: usize) -> PResult<Node> {
        let mut items = vec![self.not_query(depth)?];
        loop {
            if !self.keyword_and() {
                break;
            }
            items.push(self.not_query(depth)?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one item")
        } else {
            Node::And(items)
        })
    }

    // NotQuery = Not SubQuery / SubQuery
    fn not_query(&mut self, depth: usize) -> PResult<Node> {
        self.depth(depth)?;
        let save = self.pos;
        if self.keyword_not() {
            match self.sub_query(depth + 1) {
                Ok(n) => return Ok(Node::Not(Box::new(n))),
                Err(()) if self.depth_error => return Err(()),
                // `not` may also begin a value ("nothing:x" is not this case: it needs a space).
                Err(()) => self.pos = save,
            }
        }
        self.sub_query(depth)
    }

    // SubQuery = '(' Space* OrQuery Space* ')' / NestedQuery
    fn sub_query(&mut self, depth: usize) -> PResult<Node> {
        self.depth(depth)?;
        if self.char('(', "\"(\"") {
            self.spaces();
            let node = self.or_query(depth + 1)?;
            self.spaces();
            if !self.char(')', "\")\"") {
                return Err(());
            }
            return Ok(node);
        }
        self.expression(depth)
    }

    // NestedQuery / FieldRangeExpression / FieldValueExpression / ValueExpression
    fn expression(&mut self, depth: usize) -> PResult<Node> {
        let start = self.pos;
        let Some(field) = self.literal("field name") else {
            // A value alone cannot start with a special character either.
            self.expect("value");
            return Err(());
        };
        let after_field = self.pos;
        self.spaces();
        // Range: field < value
        if let Some(op) = self.range_operator() {
            self.spaces();
            let Some(value) = self.literal("literal") else {
                return Err(());
            };
            return Ok(Node::Range { field, op, value });
        }
        if self.char(':', "\":\"") {
            self.spaces();
            if self.char('{', "\"{\"") {
                self.spaces();
                let query = self.or_query(depth + 1)?;
                self.spaces();
                if !self.char('}', "\"}\"") {
                    return Err(());
                }
                return Ok(Node::Nested {
                    path: field,
                    query: Box::new(query),
                });
            }
            return self.list_of_values(&field, depth + 1);
        }
        // A value with no field: re-read it as a value (the same text, here).
        self.pos = after_field;
        let _ = start;
        if field.is_star() {
            return Ok(Node::MatchAll);
        }
        Ok(Node::Match {
            field: None,
            value: field,
        })
    }

    fn range_operator(&mut self) -> Option<RangeOp> {
        let op = match (self.peek(), self.peek_at(self.pos + 1)) {
            (Some('<'), Some('=')) => Some((RangeOp::Lte, 2)),
            (Some('>'), Some('=')) => Some((RangeOp::Gte, 2)),
            (Some('<'), _) => Some((RangeOp::Lt, 1)),
            (Some('>'), _) => Some((RangeOp::Gt, 1)),
            _ => None,
        };
        match op {
            Some((op, n)) => {
                self.pos += n;
                Some(op)
            }
            None => {
                for e in ["\"<\"", "\"<=\"", "\">\"", "\">=\""] {
                    self.expect(e);
                }
                None
            }
        }
    }

    // ListOfValues = '(' Space* OrListOfValues Space* ')' / Value
    fn list_of_values(&mut self, field: &Value, depth: usize) -> PResult<Node> {
        self.depth(depth)?;
        if self.char('(', "\"(\"") {
            self.spaces();
            let node = self.or_values(field, depth + 1)?;
            self.spaces();
            if !self.char(')', "\")\"") {
                return Err(());
            }
            return Ok(node);
        }
        let Some(value) = self.literal("value") else {
            return Err(());
        };
        Ok(if value.is_star() {
            Node::Exists {
                field: field.clone(),
            }
        } else {
            Node::Match {
                field: Some(field.clone()),
                value,
            }
        })
    }

    fn or_values(&mut self, field: &Value, depth: usize) -> PResult<Node> {
        let mut items = vec![self.and_values(field, depth)?];
        while self.keyword_or() {
            items.push(self.and_values(field, depth)?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one item")
        } else {
            Node::Or(items)
        })
    }

    fn and_values(&mut self, field: &Value, depth: usize) -> PResult<Node> {
        let mut items = vec![self.not_values(field, depth)?];
        while self.keyword_and() {
            items.push(self.not_values(field, depth)?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one item")
        } else {
            Node::And(items)
        })
    }

    fn not_values(&mut self, field: &Value, depth: usize) -> PResult<Node> {
        self.depth(depth)?;
        let save = self.pos;
        if self.keyword_not() {
            match self.list_of_values(field, depth + 1) {
                Ok(n) => return Ok(Node::Not(Box::new(n))),
                Err(()) if self.depth_error => return Err(()),
                Err(()) => self.pos = save,
            }
        }
        self.list_of_values(field, depth)
    }

    /// Literal = QuotedString / UnquotedLiteral. `what` names it in errors.
    fn literal(&mut self, what: &'static str) -> Option<Value> {
        if self.peek() == Some('"') {
            // Kibana's literal rules are named: a failure inside is reported as the rule, at
            // its start.
            let q = self.quoted();
            if q.is_none() {
                self.expect(what);
            }
            return q;
        }
        let start = self.pos;
        let mut pieces: Vec<Piece> = Vec::new();
        let mut text = String::new();
        while let Some(c) = self.peek() {
            if c == '\\' {
                match self.peek_at(self.pos + 1) {
                    Some('t') => text.push('\t'),
                    Some('r') => text.push('\r'),
                    Some('n') => text.push('\n'),
                    Some(e) if SPECIAL.contains(&e) => text.push(e),
                    Some('u') if self.unicode_at(self.pos + 2).is_some() => {
                        text.push(self.unicode_at(self.pos + 2).expect("checked above"));
                        self.pos += 6;
                        continue;
                    }
                    Some(_) => {
                        // An escaped keyword: \or \and \not
                        let kw = ["or", "and", "not"]
                            .into_iter()
                            .find(|k| self.word_at(self.pos + 1, k));
                        match kw {
                            Some(k) => {
                                let word: String = self.chars[self.pos + 1..self.pos + 1 + k.len()]
                                    .iter()
                                    .map(|&(_, c)| c)
                                    .collect();
                                text.push_str(&word);
                                self.pos += 1 + k.len();
                                continue;
                            }
                            None => break,
                        }
                    }
                    None => break,
                }
                self.pos += 2;
                continue;
            }
            if c == '*' {
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Star);
                self.pos += 1;
                continue;
            }
            if SPECIAL.contains(&c) {
                break;
            }
            // A keyword (with its spaces) ends the literal.
            if self.spaced_keyword_at(self.pos, "or").is_some()
                || self.spaced_keyword_at(self.pos, "and").is_some()
                || self.not_at(self.pos).is_some()
            {
                break;
            }
            text.push(c);
            self.pos += 1;
        }
        if self.pos == start {
            self.expect(what);
            return None;
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        // Kibana trims unquoted literals; trailing spaces go back to the input.
        trim_pieces(&mut pieces);
        while self.pos > start
            && self.chars[self.pos - 1].1 == ' '
            && ends_unescaped_space(&self.chars[start..self.pos])
        {
            self.pos -= 1;
        }
        if pieces.is_empty() {
            self.pos = start;
            self.expect(what);
            return None;
        }
        Some(Value::Literal(pieces))
    }

    /// Four hex digits at `i` as a character (`\uXXXX`).
    fn unicode_at(&self, i: usize) -> Option<char> {
        let hex: String = (i..i + 4)
            .map(|k| self.peek_at(k))
            .collect::<Option<String>>()?;
        if !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        char::from_u32(u32::from_str_radix(&hex, 16).ok()?)
    }

    fn quoted(&mut self) -> Option<Value> {
        let start = self.pos;
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => {
                    self.pos = start;
                    return None;
                }
                Some('"') => {
                    self.pos += 1;
                    return Some(Value::Phrase(s));
                }
                Some('\\') => match self.peek_at(self.pos + 1) {
                    Some('t') => {
                        s.push('\t');
                        self.pos += 2
                    }
                    Some('r') => {
                        s.push('\r');
                        self.pos += 2
                    }
                    Some('n') => {
                        s.push('\n');
                        self.pos += 2
                    }
                    Some(c @ ('\\' | '"')) => {
                        s.push(c);
                        self.pos += 2
                    }
                    Some('u') if self.unicode_at(self.pos + 2).is_some() => {
                        s.push(self.unicode_at(self.pos + 2).expect("checked above"));
                        self.pos += 6
                    }
                    _ => {
                        s.push('\\');
                        self.pos += 1
                    }
                },
                Some(c) => {
                    s.push(c);
                    self.pos += 1;
                }
            }
        }
    }
}

/// Trims leading and trailing whitespace from the text pieces of a literal.
fn trim_pieces(pieces: &mut Vec<Piece>) {
    if let Some(Piece::Text(t)) = pieces.first_mut() {
        *t = t.trim_start().to_string();
    }
    if let Some(Piece::Text(t)) = pieces.last_mut() {
        *t = t.trim_end().to_string();
    }
    pieces.retain(|p| !matches!(p, Piece::Text(t) if t.is_empty()));
}

/// True when the scanned literal ends with a plain (unescaped) space.
fn ends_unescaped_space(chars: &[(usize, char)]) -> bool {
    let n = chars.len();
    n >= 1 && chars[n - 1].1 == ' ' && !(n >= 2 && chars[n - 2].1 == '\\')
}

//! SCIM filter expressions (RFC 7644 §3.4.2.2): a typed AST, a hand-written parser, a canonical
//! `Display` that re-parses to the same AST, and in-memory evaluation against a JSON resource.

use crate::error::{ScimError, ScimType};
use crate::schema::{AttrType, AttributeDef, ResourceSchema, get_ci};
use serde_json::{Number, Value};

/// An attribute path: optional schema URN, attribute name, optional sub-attribute (`name.familyName`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// Schema URN prefix such as `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`, if given.
    pub uri: Option<String>,
    /// Attribute name, as written (matching is case-insensitive).
    pub name: String,
    /// Sub-attribute name, as written.
    pub sub: Option<String>,
}

/// A comparison operator of the filter grammar (`pr` is [`Filter::Present`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `eq`: equal.
    Eq,
    /// `ne`: not equal.
    Ne,
    /// `co`: contains.
    Co,
    /// `sw`: starts with.
    Sw,
    /// `ew`: ends with.
    Ew,
    /// `gt`: greater than.
    Gt,
    /// `ge`: greater than or equal.
    Ge,
    /// `lt`: less than.
    Lt,
    /// `le`: less than or equal.
    Le,
}

/// A comparison value: a JSON literal other than an object or array.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A JSON number.
    Number(Number),
    /// A JSON string (escapes already decoded).
    String(String),
}

/// A parsed SCIM filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `a and b`.
    And(Box<Filter>, Box<Filter>),
    /// `a or b`.
    Or(Box<Filter>, Box<Filter>),
    /// `not (a)`.
    Not(Box<Filter>),
    /// `path op value`.
    Compare {
        /// Attribute compared.
        path: AttrPath,
        /// Operator.
        op: CompareOp,
        /// Literal compared with.
        value: CompValue,
    },
    /// `path pr`.
    Present(AttrPath),
    /// `attr[filter]`; paths inside `filter` are relative to `attr` (sub-attribute names in `name`).
    ValuePath {
        /// The multi-valued (or complex) attribute.
        attr: AttrPath,
        /// Filter applied to each of its values.
        filter: Box<Filter>,
    },
}

/// Maximum length of a filter expression in bytes.
pub const MAX_FILTER_LEN: usize = 4096;
/// Maximum nesting depth (parentheses, `not (…)` and value-path brackets) of a filter.
pub const MAX_FILTER_DEPTH: usize = 16;

/// A syntax error with the byte offset where it was detected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    /// Byte offset into the input.
    pub(crate) pos: usize,
    /// What went wrong.
    pub(crate) msg: String,
}

impl SyntaxError {
    fn new(pos: usize, msg: impl Into<String>) -> Self {
        SyntaxError {
            pos,
            msg: msg.into(),
        }
    }
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at offset {})", self.msg, self.pos)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(Number),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Dot,
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: usize,
}

fn is_word_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'$'
}

fn is_word_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'_' | b'-' | b'$')
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Word(w) => format!("'{w}'"),
        Tok::Str(s) => format!("string {}", Value::String(s.clone())),
        Tok::Num(n) => format!("number {n}"),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::LBracket => "'['".into(),
        Tok::RBracket => "']'".into(),
        Tok::Dot => "'.'".into(),
        Tok::Eof => "end of input".into(),
    }
}

fn lex(input: &str) -> Result<Vec<Token>, SyntaxError> {
    let bytes = input.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        let tok = match b {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'(' => {
                i += 1;
                Tok::LParen
            }
            b')' => {
                i += 1;
                Tok::RParen
            }
            b'[' => {
                i += 1;
                Tok::LBracket
            }
            b']' => {
                i += 1;
                Tok::RBracket
            }
            b'.' => {
                i += 1;
                Tok::Dot
            }
            b'"' => {
                let mut j = i + 1;
                let mut closed = false;
                while j < bytes.len() {
                    match bytes[j] {
                        b'\\' => j += 2,
                        b'"' => {
                            closed = true;
                            break;
                        }
                        _ => j += 1,
                    }
                }
                if !closed {
                    return Err(SyntaxError::new(start, "unterminated string literal"));
                }
                let lit = &input[start..=j];
                let s: String = serde_json::from_str(lit)
                    .map_err(|e| SyntaxError::new(start, format!("invalid string literal: {e}")))?;
                i = j + 1;
                Tok::Str(s)
            }
            b'-' | b'0'..=b'9' => {
                let mut j = i + 1;
                while j < bytes.len()
                    && (bytes[j].is_ascii_digit()
                        || matches!(bytes[j], b'.' | b'e' | b'E' | b'+' | b'-'))
                {
                    j += 1;
                }
                let lit = &input[start..j];
                let n = parse_number(lit)
                    .ok_or_else(|| SyntaxError::new(start, format!("invalid number '{lit}'")))?;
                i = j;
                Tok::Num(n)
            }
            b if is_word_start(b) => {
                let mut j = i + 1;
                while j < bytes.len() && is_word_char(bytes[j]) {
                    j += 1;
                }
                i = j;
                Tok::Word(input[start..j].to_string())
            }
            _ => {
                let ch = input[start..].chars().next().unwrap_or('?');
                return Err(SyntaxError::new(
                    start,
                    format!("unexpected character {ch:?}"),
                ));
            }
        };
        out.push(Token { tok, pos: start });
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: input.len(),
    });
    Ok(out)
}

/// Whether `s` follows the JSON number grammar (RFC 8259 §6).
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if b.first() == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}

/// A JSON number literal as a [`Number`]: integers exactly, others as the nearest finite `f64`
/// (std's correctly rounded parser, so `Display` round-trips).
fn parse_number(lit: &str) -> Option<Number> {
    if !is_json_number(lit) {
        return None;
    }
    if !lit.contains(['.', 'e', 'E']) {
        if let Ok(n) = lit.parse::<i64>() {
            return Some(n.into());
        }
        if let Ok(n) = lit.parse::<u64>() {
            return Some(n.into());
        }
    }
    lit.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .and_then(Number::from_f64)
}

fn valid_attr_name(s: &str) -> bool {
    if s.eq_ignore_ascii_case("$ref") {
        return true;
    }
    let mut chars = s.bytes();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

impl AttrPath {
    /// A path without URN and sub-attribute.
    pub fn simple(name: &str) -> Self {
        AttrPath {
            uri: None,
            name: name.to_string(),
            sub: None,
        }
    }

    /// Parses `[URN ":"] name ["." sub]` (400 invalidFilter on error).
    pub fn parse(input: &str) -> Result<Self, ScimError> {
        let trimmed = input.trim();
        if trimmed.len() > MAX_FILTER_LEN {
            return Err(invalid_filter(format!(
                "attribute path longer than {MAX_FILTER_LEN} bytes"
            )));
        }
        parse_attr_word(trimmed, 0)
            .map_err(|e| invalid_filter(format!("invalid attribute path {input:?}: {e}")))
    }

    /// Whether `self` names the same attribute as `other` (case-insensitive, URNs compared case-insensitively).
    pub fn same_as(&self, other: &AttrPath) -> bool {
        let uri_eq = match (&self.uri, &other.uri) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            (None, None) => true,
            _ => false,
        };
        let sub_eq = match (&self.sub, &other.sub) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            (None, None) => true,
            _ => false,
        };
        uri_eq && sub_eq && self.name.eq_ignore_ascii_case(&other.name)
    }
}

impl std::fmt::Display for AttrPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(uri) = &self.uri {
            write!(f, "{uri}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// Splits a lexed word into an [`AttrPath`]; `pos` is the word's offset for error messages.
fn parse_attr_word(word: &str, pos: usize) -> Result<AttrPath, SyntaxError> {
    if word.is_empty() {
        return Err(SyntaxError::new(pos, "empty attribute path"));
    }
    let (uri, rest) = if word.len() > 4 && word[..4].eq_ignore_ascii_case("urn:") {
        match word.rfind(':') {
            Some(idx) if idx > 4 && idx + 1 < word.len() => {
                (Some(word[..idx].to_string()), &word[idx + 1..])
            }
            _ => {
                return Err(SyntaxError::new(
                    pos,
                    format!("'{word}' is a URN without an attribute name"),
                ));
            }
        }
    } else {
        if word.contains(':') {
            return Err(SyntaxError::new(
                pos,
                format!("'{word}': only a schema URN (urn:…) may contain ':'"),
            ));
        }
        (None, word)
    };
    let mut parts = rest.split('.');
    let name = parts.next().unwrap_or_default();
    let sub = parts.next();
    if parts.next().is_some() {
        return Err(SyntaxError::new(
            pos,
            format!("'{word}': at most one sub-attribute level is allowed"),
        ));
    }
    if !valid_attr_name(name) {
        return Err(SyntaxError::new(
            pos,
            format!("'{word}': invalid attribute name '{name}'"),
        ));
    }
    if let Some(sub) = sub
        && !valid_attr_name(sub)
    {
        return Err(SyntaxError::new(
            pos,
            format!("'{word}': invalid sub-attribute name '{sub}'"),
        ));
    }
    Ok(AttrPath {
        uri,
        name: name.to_string(),
        sub: sub.map(str::to_string),
    })
}

pub(crate) fn invalid_filter(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidFilter, detail.into())
}

fn compare_op(word: &str) -> Option<CompareOp> {
    Some(match word.to_ascii_lowercase().as_str() {
        "eq" => CompareOp::Eq,
        "ne" => CompareOp::Ne,
        "co" => CompareOp::Co,
        "sw" => CompareOp::Sw,
        "ew" => CompareOp::Ew,
        "gt" => CompareOp::Gt,
        "ge" => CompareOp::Ge,
        "lt" => CompareOp::Lt,
        "le" => CompareOp::Le,
        _ => return None,
    })
}

impl CompareOp {
    /// The operator keyword (`eq`, `ne`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }
}

struct Parser {
    toks: Vec<Token>,
    i: usize,
    depth: usize,
    in_value_path: bool,
}

impl Parser {
    fn peek(&self) -> &Token {
        // the token list always ends with Eof and `i` never moves past it
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if !matches!(t.tok, Tok::Eof) {
            self.i += 1;
        }
        t
    }

    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(&self.peek().tok, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    fn enter(&mut self, pos: usize) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return Err(SyntaxError::new(
                pos,
                format!("filter nested deeper than {MAX_FILTER_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn expect(&mut self, want: Tok, what: &str) -> Result<(), SyntaxError> {
        let t = self.bump();
        if t.tok == want {
            Ok(())
        } else {
            Err(SyntaxError::new(
                t.pos,
                format!("expected {what}, found {}", describe(&t.tok)),
            ))
        }
    }

    fn parse_or(&mut self) -> Result<Filter, SyntaxError> {
        let mut left = self.parse_and()?;
        while self.peek_keyword("or") {
            self.bump();
            let right = self.parse_and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_and(&mut self) -> Result<Filter, SyntaxError> {
        let mut left = self.parse_unary()?;
        while self.peek_keyword("and") {
            self.bump();
            let right = self.parse_unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_group(&mut self, open_pos: usize) -> Result<Filter, SyntaxError> {
        self.enter(open_pos)?;
        let inner = self.parse_or()?;
        self.expect(Tok::RParen, "')'")?;
        self.depth -= 1;
        Ok(inner)
    }

    fn parse_unary(&mut self) -> Result<Filter, SyntaxError> {
        let t = self.bump();
        match t.tok {
            Tok::LParen => self.parse_group(t.pos),
            Tok::Word(w) if w.eq_ignore_ascii_case("not") => {
                let open = self.bump();
                if open.tok != Tok::LParen {
                    return Err(SyntaxError::new(
                        open.pos,
                        format!(
                            "'not' must be followed by '(', found {}",
                            describe(&open.tok)
                        ),
                    ));
                }
                Ok(Filter::Not(Box::new(self.parse_group(open.pos)?)))
            }
            Tok::Word(w) => {
                let path = parse_attr_word(&w, t.pos)?;
                self.parse_after_path(path, &w, t.pos)
            }
            Tok::Eof => Err(SyntaxError::new(
                t.pos,
                "unexpected end of filter: expected an expression",
            )),
            other => Err(SyntaxError::new(
                t.pos,
                format!("expected an attribute path, found {}", describe(&other)),
            )),
        }
    }

    fn parse_after_path(
        &mut self,
        path: AttrPath,
        word: &str,
        pos: usize,
    ) -> Result<Filter, SyntaxError> {
        let t = self.bump();
        match t.tok {
            Tok::LBracket => {
                if self.in_value_path {
                    return Err(SyntaxError::new(t.pos, "value paths cannot be nested"));
                }
                if path.sub.is_some() {
                    return Err(SyntaxError::new(
                        pos,
                        format!(
                            "'{word}': a value path applies to an attribute, not a sub-attribute"
                        ),
                    ));
                }
                let inner = self.parse_value_filter(t.pos)?;
                if matches!(self.peek().tok, Tok::Dot) {
                    return Err(SyntaxError::new(
                        self.peek().pos,
                        "'attr[filter].sub' is only valid in a PATCH path; in a filter write the condition inside the brackets",
                    ));
                }
                Ok(Filter::ValuePath {
                    attr: path,
                    filter: Box::new(inner),
                })
            }
            Tok::Word(op) if op.eq_ignore_ascii_case("pr") => Ok(Filter::Present(path)),
            Tok::Word(op) => match compare_op(&op) {
                Some(op) => {
                    let v = self.bump();
                    let value = match v.tok {
                        Tok::Str(s) => CompValue::String(s),
                        Tok::Num(n) => CompValue::Number(n),
                        Tok::Word(w) if w.eq_ignore_ascii_case("true") => CompValue::Bool(true),
                        Tok::Word(w) if w.eq_ignore_ascii_case("false") => CompValue::Bool(false),
                        Tok::Word(w) if w.eq_ignore_ascii_case("null") => CompValue::Null,
                        Tok::Word(w) => {
                            return Err(SyntaxError::new(
                                v.pos,
                                format!(
                                    "expected a value after '{}', found '{w}' (strings must be quoted)",
                                    op.as_str()
                                ),
                            ));
                        }
                        other => {
                            return Err(SyntaxError::new(
                                v.pos,
                                format!(
                                    "expected a value after '{}', found {}",
                                    op.as_str(),
                                    describe(&other)
                                ),
                            ));
                        }
                    };
                    Ok(Filter::Compare { path, op, value })
                }
                None => Err(SyntaxError::new(
                    t.pos,
                    format!("unknown operator '{op}' after '{word}'"),
                )),
            },
            Tok::Eof => Err(SyntaxError::new(
                t.pos,
                format!("expected an operator after '{word}'"),
            )),
            other => Err(SyntaxError::new(
                t.pos,
                format!(
                    "expected an operator after '{word}', found {}",
                    describe(&other)
                ),
            )),
        }
    }

    /// Parses `filter "]"` after an opening bracket at `open_pos`.
    fn parse_value_filter(&mut self, open_pos: usize) -> Result<Filter, SyntaxError> {
        self.enter(open_pos)?;
        self.in_value_path = true;
        let inner = self.parse_or()?;
        self.in_value_path = false;
        self.expect(Tok::RBracket, "']'")?;
        self.depth -= 1;
        Ok(inner)
    }
}

fn new_parser(input: &str) -> Result<Parser, SyntaxError> {
    if input.len() > MAX_FILTER_LEN {
        return Err(SyntaxError::new(
            MAX_FILTER_LEN,
            format!(
                "input is {} bytes, the limit is {MAX_FILTER_LEN}",
                input.len()
            ),
        ));
    }
    Ok(Parser {
        toks: lex(input)?,
        i: 0,
        depth: 0,
        in_value_path: false,
    })
}

fn parse_filter_syntax(input: &str) -> Result<Filter, SyntaxError> {
    let mut p = new_parser(input)?;
    if matches!(p.peek().tok, Tok::Eof) {
        return Err(SyntaxError::new(0, "empty filter"));
    }
    let f = p.parse_or()?;
    let t = p.bump();
    if t.tok != Tok::Eof {
        return Err(SyntaxError::new(
            t.pos,
            format!(
                "unexpected {} after a complete expression",
                describe(&t.tok)
            ),
        ));
    }
    Ok(f)
}

/// Parses a SCIM filter (RFC 7644 §3.4.2.2); any error is 400 invalidFilter with the offset in the detail.
pub fn parse_filter(input: &str) -> Result<Filter, ScimError> {
    parse_filter_syntax(input).map_err(|e| invalid_filter(format!("invalid filter: {e}")))
}

/// The parts of a PATCH path: attribute, optional value filter, optional sub-attribute after `]`.
pub(crate) type PathParts = (AttrPath, Option<Filter>, Option<String>);

/// Parses a PATCH path (`attrPath`, `attrPath[valFilter]`, `attrPath[valFilter].sub`, RFC 7644 §3.5.2).
pub(crate) fn parse_path_syntax(input: &str) -> Result<PathParts, SyntaxError> {
    let mut p = new_parser(input)?;
    let t = p.bump();
    let (attr, word) = match t.tok {
        Tok::Word(w) => (parse_attr_word(&w, t.pos)?, w),
        Tok::Eof => return Err(SyntaxError::new(0, "empty path")),
        other => {
            return Err(SyntaxError::new(
                t.pos,
                format!("expected an attribute path, found {}", describe(&other)),
            ));
        }
    };
    let mut value_filter = None;
    let mut sub_attr = None;
    if matches!(p.peek().tok, Tok::LBracket) {
        let open = p.bump();
        if attr.sub.is_some() {
            return Err(SyntaxError::new(
                t.pos,
                format!("'{word}': a value filter applies to an attribute, not a sub-attribute"),
            ));
        }
        value_filter = Some(p.parse_value_filter(open.pos)?);
        if matches!(p.peek().tok, Tok::Dot) {
            p.bump();
            let s = p.bump();
            match s.tok {
                Tok::Word(w) if valid_attr_name(&w) => sub_attr = Some(w),
                other => {
                    return Err(SyntaxError::new(
                        s.pos,
                        format!(
                            "expected a sub-attribute name after '].', found {}",
                            describe(&other)
                        ),
                    ));
                }
            }
        }
    }
    let t = p.bump();
    if t.tok != Tok::Eof {
        return Err(SyntaxError::new(
            t.pos,
            format!("unexpected {} in path", describe(&t.tok)),
        ));
    }
    Ok((attr, value_filter, sub_attr))
}

impl std::fmt::Display for CompValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompValue::Null => f.write_str("null"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Number(n) => write!(f, "{n}"),
            CompValue::String(s) => write!(f, "{}", Value::String(s.clone())),
        }
    }
}

impl CompValue {
    /// The literal as a JSON value.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            CompValue::Null => Value::Null,
            CompValue::Bool(b) => Value::Bool(*b),
            CompValue::Number(n) => Value::Number(n.clone()),
            CompValue::String(s) => Value::String(s.clone()),
        }
    }
}

impl std::fmt::Display for CompareOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn write_operand(f: &mut std::fmt::Formatter<'_>, child: &Filter, paren: bool) -> std::fmt::Result {
    if paren {
        write!(f, "({child})")
    } else {
        write!(f, "{child}")
    }
}

/// Canonical form: lowercase keywords, single spaces, JSON literals, and parentheses exactly where
/// needed for `and`/`or` (left-associative, `and` binding tighter) so that it re-parses to the same AST.
impl std::fmt::Display for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Filter::And(l, r) => {
                write_operand(f, l, matches!(**l, Filter::Or(..)))?;
                f.write_str(" and ")?;
                write_operand(f, r, matches!(**r, Filter::Or(..) | Filter::And(..)))
            }
            Filter::Or(l, r) => {
                write_operand(f, l, false)?;
                f.write_str(" or ")?;
                write_operand(f, r, matches!(**r, Filter::Or(..)))
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::Compare { path, op, value } => write!(f, "{path} {op} {value}"),
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::ValuePath { attr, filter } => write!(f, "{attr}[{filter}]"),
        }
    }
}

/// Splits `[urn:…:]name[.sub]` without validating it (for client-side helpers with constant paths).
fn attr_path_lossy(path: &str) -> AttrPath {
    match parse_attr_word(path, 0) {
        Ok(p) => p,
        Err(_) => AttrPath::simple(path),
    }
}

impl Filter {
    /// `path eq "value"` (the common client lookup, e.g. `Filter::eq("userName", "alice")`).
    pub fn eq(path: &str, value: &str) -> Filter {
        Filter::compare(path, CompareOp::Eq, CompValue::String(value.to_string()))
    }

    /// `path op value`.
    pub fn compare(path: &str, op: CompareOp, value: CompValue) -> Filter {
        Filter::Compare {
            path: attr_path_lossy(path),
            op,
            value,
        }
    }

    /// `path pr`.
    pub fn present(path: &str) -> Filter {
        Filter::Present(attr_path_lossy(path))
    }

    /// `self and other`.
    pub fn and(self, other: Filter) -> Filter {
        Filter::And(Box::new(self), Box::new(other))
    }

    /// `self or other`.
    pub fn or(self, other: Filter) -> Filter {
        Filter::Or(Box::new(self), Box::new(other))
    }

    /// `not (self)`.
    pub fn negate(self) -> Filter {
        Filter::Not(Box::new(self))
    }
}

impl std::str::FromStr for Filter {
    type Err = ScimError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_filter(s)
    }
}

// ---------------------------------------------------------------------------------------------------
// Evaluation

/// Where paths are resolved: the resource itself, or one value of a multi-valued attribute (inside `[…]`).
#[derive(Clone, Copy)]
enum Scope<'a> {
    Top(&'a ResourceSchema),
    Elem(Option<&'static AttributeDef>),
}

/// The container object a top-level path's attribute lives in (the resource, or its extension object).
fn container<'v>(
    path: &AttrPath,
    resource: &'v Value,
    rs: &ResourceSchema,
) -> Option<&'v serde_json::Map<String, Value>> {
    let obj = resource.as_object()?;
    let ext = match rs.resolve(path.uri.as_deref(), &path.name) {
        Some((Some(schema), _)) => rs.extension(schema.id),
        Some((None, _)) => None,
        None => path.uri.as_deref().and_then(|u| rs.extension(u)),
    };
    match ext {
        Some(ext) => get_ci(obj, ext.id).and_then(Value::as_object),
        None => Some(obj),
    }
}

fn flatten(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().filter(|i| !i.is_null()).collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// The definition a path refers to in a scope, and the JSON values found (arrays flattened).
fn resolve_values<'v>(
    path: &AttrPath,
    scope: Scope<'_>,
    node: &'v Value,
) -> (Option<&'static AttributeDef>, Vec<&'v Value>) {
    let (def, raw) = match scope {
        Scope::Top(rs) => {
            let def = rs.resolve(path.uri.as_deref(), &path.name).map(|(_, d)| d);
            let raw = container(path, node, rs).and_then(|c| get_ci(c, &path.name));
            (def, raw)
        }
        Scope::Elem(parent) => {
            let def = parent.and_then(|p| p.sub(&path.name));
            let raw = node.as_object().and_then(|o| get_ci(o, &path.name));
            (def, raw)
        }
    };
    let mut values = raw.map(flatten).unwrap_or_default();
    let mut def = def;
    if let Some(sub) = &path.sub {
        def = def.and_then(|d| d.sub(sub));
        values = values
            .into_iter()
            .filter_map(|v| v.as_object().and_then(|o| get_ci(o, sub)))
            .flat_map(flatten)
            .collect();
    }
    (def, values)
}

/// For a complex attribute compared without a sub-attribute, RFC 7644 compares its `value` sub-attribute.
fn implied_value<'v>(
    def: Option<&'static AttributeDef>,
    values: Vec<&'v Value>,
) -> (Option<&'static AttributeDef>, Vec<&'v Value>) {
    let complex = def
        .map(|d| d.attr_type == AttrType::Complex)
        .unwrap_or(false)
        || values.iter().any(|v| v.is_object());
    if !complex {
        return (def, values);
    }
    let vdef = def.and_then(|d| d.sub("value"));
    let vals = values
        .into_iter()
        .filter_map(|v| v.as_object().and_then(|o| get_ci(o, "value")))
        .flat_map(flatten)
        .collect();
    (vdef, vals)
}

fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(is_present),
        Value::Object(o) => o.values().any(is_present),
        _ => true,
    }
}

fn parse_instant(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

fn order_matches(op: CompareOp, ord: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        CompareOp::Eq => ord == Equal,
        CompareOp::Ne => ord != Equal,
        CompareOp::Gt => ord == Greater,
        CompareOp::Ge => ord != Less,
        CompareOp::Lt => ord == Less,
        CompareOp::Le => ord != Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn compare_numbers(a: &Value, b: &Number) -> Option<std::cmp::Ordering> {
    let a = a.as_number()?;
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

/// Compares one stored value with a literal (`op` is never `Ne` here: `ne` is evaluated as `not eq`).
fn compare_one(v: &Value, op: CompareOp, lit: &CompValue, def: Option<&AttributeDef>) -> bool {
    let ty = def.map(|d| d.attr_type);
    match lit {
        CompValue::Null => false,
        CompValue::Bool(b) => {
            let stored = match v {
                Value::Bool(x) => Some(*x),
                Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
                Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
                _ => None,
            };
            op == CompareOp::Eq && stored == Some(*b)
        }
        CompValue::Number(n) => match compare_numbers(v, n) {
            Some(ord) => order_matches(op, ord),
            None => false,
        },
        CompValue::String(lit) => {
            let Some(stored) = v.as_str() else {
                return false;
            };
            let string_op = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
            if (ty == Some(AttrType::DateTime) || ty.is_none())
                && !string_op
                && let (Some(a), Some(b)) = (parse_instant(stored), parse_instant(lit))
            {
                return order_matches(op, a.cmp(&b));
            }
            let case_exact = def.map(|d| d.case_exact).unwrap_or(false);
            let (a, b) = if case_exact {
                (stored.to_string(), lit.clone())
            } else {
                (stored.to_lowercase(), lit.to_lowercase())
            };
            match op {
                CompareOp::Co => a.contains(&b),
                CompareOp::Sw => a.starts_with(&b),
                CompareOp::Ew => a.ends_with(&b),
                _ => order_matches(op, a.cmp(&b)),
            }
        }
    }
}

fn eval(filter: &Filter, node: &Value, scope: Scope<'_>) -> bool {
    match filter {
        Filter::And(l, r) => eval(l, node, scope) && eval(r, node, scope),
        Filter::Or(l, r) => eval(l, node, scope) || eval(r, node, scope),
        Filter::Not(inner) => !eval(inner, node, scope),
        Filter::Present(path) => {
            let (_, values) = resolve_values(path, scope, node);
            values.into_iter().any(is_present)
        }
        Filter::Compare { path, op, value } => {
            let (def, values) = resolve_values(path, scope, node);
            let (def, values) = if path.sub.is_none() {
                implied_value(def, values)
            } else {
                (def, values)
            };
            match (op, value) {
                (CompareOp::Eq, CompValue::Null) => !values.into_iter().any(is_present),
                (CompareOp::Ne, CompValue::Null) => values.into_iter().any(is_present),
                (CompareOp::Ne, _) => !values
                    .iter()
                    .any(|v| compare_one(v, CompareOp::Eq, value, def)),
                _ => values.iter().any(|v| compare_one(v, *op, value, def)),
            }
        }
        Filter::ValuePath { attr, filter } => {
            let (def, values) = resolve_values(attr, scope, node);
            values
                .into_iter()
                .any(|elem| eval(filter, elem, Scope::Elem(def)))
        }
    }
}

/// Evaluates `filter` against a JSON resource of type `rs` (RFC 7644 §3.4.2.2): names are
/// case-insensitive, string comparison honours each attribute's caseExact, a multi-valued attribute
/// matches if any value does, a complex attribute without sub-attribute compares its `value`,
/// dateTimes compare as instants, `pr` means present and non-empty, `ne` is `not eq` (true when
/// absent), `eq null` means not present (as for `pr`). Type mismatches simply do not match; use [`validate_filter`]
/// first to turn them into 400 invalidFilter.
pub fn matches(filter: &Filter, resource: &Value, rs: &ResourceSchema) -> bool {
    eval(filter, resource, Scope::Top(rs))
}

/// [`validate_filter`] then [`matches`].
pub fn try_matches(
    filter: &Filter,
    resource: &Value,
    rs: &ResourceSchema,
) -> Result<bool, ScimError> {
    validate_filter(filter, rs)?;
    Ok(matches(filter, resource, rs))
}

/// Checks a filter against the schema: every attribute must exist, value paths must name complex
/// attributes, and each literal must suit the attribute type (booleans only with `eq`/`ne`, numbers not
/// with `co`/`sw`/`ew`, dateTime literals must be RFC 3339). Errors are 400 invalidFilter.
pub fn validate_filter(filter: &Filter, rs: &ResourceSchema) -> Result<(), ScimError> {
    check(filter, Scope::Top(rs))
}

fn lookup_def(path: &AttrPath, scope: Scope<'_>) -> Result<&'static AttributeDef, ScimError> {
    let base = match scope {
        Scope::Top(rs) => rs.resolve(path.uri.as_deref(), &path.name).map(|(_, d)| d),
        Scope::Elem(parent) => parent.and_then(|p| p.sub(&path.name)),
    };
    let base =
        base.ok_or_else(|| invalid_filter(format!("unknown attribute '{path}' in filter")))?;
    match &path.sub {
        None => Ok(base),
        Some(sub) => base
            .sub(sub)
            .ok_or_else(|| invalid_filter(format!("unknown attribute '{path}' in filter"))),
    }
}

fn check(filter: &Filter, scope: Scope<'_>) -> Result<(), ScimError> {
    match filter {
        Filter::And(l, r) | Filter::Or(l, r) => {
            check(l, scope)?;
            check(r, scope)
        }
        Filter::Not(inner) => check(inner, scope),
        Filter::Present(path) => lookup_def(path, scope).map(|_| ()),
        Filter::ValuePath { attr, filter } => {
            let def = lookup_def(attr, scope)?;
            if def.attr_type != AttrType::Complex {
                return Err(invalid_filter(format!(
                    "'{attr}[…]': a value filter needs a complex attribute"
                )));
            }
            check(filter, Scope::Elem(Some(def)))
        }
        Filter::Compare { path, op, value } => {
            let mut def = lookup_def(path, scope)?;
            if def.attr_type == AttrType::Complex {
                def = def.sub("value").ok_or_else(|| {
                    invalid_filter(format!(
                        "'{path}' is complex: compare one of its sub-attributes"
                    ))
                })?;
            }
            check_literal(path, def, *op, value)
        }
    }
}

fn check_literal(
    path: &AttrPath,
    def: &AttributeDef,
    op: CompareOp,
    value: &CompValue,
) -> Result<(), ScimError> {
    let string_op = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
    let bad = |why: &str| Err(invalid_filter(format!("'{path} {op} {value}': {why}")));
    if *value == CompValue::Null {
        return if matches!(op, CompareOp::Eq | CompareOp::Ne) {
            Ok(())
        } else {
            bad("null can only be compared with eq or ne")
        };
    }
    match def.attr_type {
        AttrType::Boolean => match value {
            CompValue::Bool(_) if !matches!(op, CompareOp::Eq | CompareOp::Ne) => {
                bad("a boolean attribute supports only eq and ne")
            }
            CompValue::Bool(_) => Ok(()),
            _ => bad("the attribute is boolean"),
        },
        AttrType::Integer | AttrType::Decimal => match value {
            CompValue::Number(_) if string_op => bad("co, sw and ew do not apply to numbers"),
            CompValue::Number(_) => Ok(()),
            _ => bad("the attribute is numeric"),
        },
        AttrType::DateTime => match value {
            CompValue::String(_) if string_op => Ok(()),
            CompValue::String(s) if parse_instant(s).is_some() => Ok(()),
            CompValue::String(_) => bad("not an RFC 3339 date-time"),
            _ => bad("the attribute is a dateTime (an RFC 3339 string)"),
        },
        AttrType::String | AttrType::Reference | AttrType::Binary => match value {
            CompValue::String(_) => Ok(()),
            _ => bad("the attribute is a string"),
        },
        AttrType::Complex => bad("complex attributes cannot be compared"),
    }
}

/// Evaluates a value filter (the `[…]` part of a value path) against one value of the multi-valued
/// complex attribute `attr`; paths in `filter` are sub-attribute names of `attr`.
pub fn matches_value(filter: &Filter, element: &Value, attr: &'static AttributeDef) -> bool {
    eval(filter, element, Scope::Elem(Some(attr)))
}

/// [`validate_filter`] for a value filter whose paths are sub-attributes of `attr`.
pub fn validate_value_filter(
    filter: &Filter,
    attr: &'static AttributeDef,
) -> Result<(), ScimError> {
    check(filter, Scope::Elem(Some(attr)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_number_grammar() {
        for ok in ["0", "-0", "12", "-3.25", "1e9", "1E-2", "2.5e+3"] {
            assert!(is_json_number(ok), "{ok}");
        }
        for bad in [
            "", "-", "01", "1.", ".5", "1e", "1e+", "+1", "1.2.3", "--1", "0x10",
        ] {
            assert!(!is_json_number(bad), "{bad}");
        }
        assert_eq!(parse_number("18446744073709551615"), Some(u64::MAX.into()));
        assert_eq!(parse_number("1e999"), None, "infinite");
    }

    #[test]
    fn errors_carry_the_offset() {
        let e = parse_filter_syntax(r#"userName eq "x" garbage"#).unwrap_err();
        assert_eq!(e.pos, 16);
        let e = parse_filter_syntax(r#"userName zz "x""#).unwrap_err();
        assert_eq!(e.pos, 9);
        assert!(e.msg.contains("unknown operator 'zz'"), "{}", e.msg);
        let e = parse_filter(r#"userName eq "x"#).unwrap_err();
        assert!(
            e.detail.contains("unterminated string") && e.detail.contains("offset 12"),
            "{}",
            e.detail
        );
    }

    #[test]
    fn path_syntax() {
        let (a, f, s) = parse_path_syntax(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(a, AttrPath::simple("emails"));
        assert!(f.is_some());
        assert_eq!(s.as_deref(), Some("value"));
        assert!(parse_path_syntax("emails[type pr].value.x").is_err());
        assert!(parse_path_syntax("emails[type pr] x").is_err());
    }
}

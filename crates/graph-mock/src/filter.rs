//! `$filter` as far as the mock understands it: a declared filter (teams), `or`-ed `endswith`
//! clauses on string properties (advanced query), and the time bounds a bookmark declaration
//! names: `ge` on its property (audit logs), or `gt`/`lt` with the declared `$orderby` (chat
//! messages' `lastModifiedDateTime`).

use chrono::{DateTime, FixedOffset};
use serde_json::Value;
use stream_spec::{Bookmark, BookmarkOperator, Derived, Incremental, StreamSpec};

use crate::tenant::{RowRef, Tenant};

fn bookmark(spec: &StreamSpec, operator: BookmarkOperator) -> Option<&Bookmark> {
    match &spec.incremental {
        Incremental::Bookmark(b) if b.operator == operator => Some(b),
        _ => None,
    }
}

/// The property `ge` is allowed on for `spec` (its bookmark's, where that compares with `ge`).
pub(crate) fn date_property(spec: &StreamSpec) -> Option<&str> {
    bookmark(spec, BookmarkOperator::Ge).map(|b| b.property.as_str())
}

/// The property `gt`/`lt` are allowed on for `spec`, and the `$orderby` they need
/// (`lastModifiedDateTime`, `lastModifiedDateTime desc`).
pub(crate) fn ordered_time(spec: &StreamSpec) -> Option<(&str, &str)> {
    let b = bookmark(spec, BookmarkOperator::Gt)?;
    Some((b.property.as_str(), b.order_by.as_deref()?))
}

/// A `$filter` the mock understands.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Filter {
    None,
    /// The stream's own declared filter (teams on /groups).
    Declared,
    /// Clauses joined by `or`: a row passes when any clause holds.
    AnyOf(Vec<Clause>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Clause {
    /// `endswith(property,'suffix')`, case-insensitive as Graph compares UPNs.
    EndsWith { property: String, suffix: String },
    /// `property ge 2026-01-01T00:00:00Z`.
    AtLeast {
        property: String,
        at: DateTime<FixedOffset>,
    },
    /// `property gt <t>` (chat messages' `lastModifiedDateTime`).
    After {
        property: String,
        at: DateTime<FixedOffset>,
    },
    /// `property lt <t>` (chat messages' `lastModifiedDateTime`).
    Before {
        property: String,
        at: DateTime<FixedOffset>,
    },
}

/// Why a `$filter` could not be parsed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ParseError {
    /// Not a form the mock (or Graph, on these endpoints) accepts.
    Unsupported,
    /// A `ge` operand that is no OData DateTimeOffset literal.
    BadDate(String),
}

/// Parses `clause (or clause)*`; a clause is `endswith(p,'s')`, `p ge <DateTimeOffset>` or a
/// parenthesised `or` list.
pub(crate) fn parse(filter: &str) -> Result<Vec<Clause>, ParseError> {
    let tokens = tokenize(filter).ok_or(ParseError::Unsupported)?;
    let mut parser = Parser { tokens, at: 0 };
    let clauses = parser.or_list()?;
    match parser.at == parser.tokens.len() {
        true => Ok(clauses),
        false => Err(ParseError::Unsupported),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Comma,
    /// A quoted string literal, `''` unescaped.
    Text(String),
    Word(String),
}

fn tokenize(filter: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = filter.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' => tokens.push(Token::Open),
            ')' => tokens.push(Token::Close),
            ',' => tokens.push(Token::Comma),
            '\'' => {
                let mut text = String::new();
                loop {
                    match chars.next()? {
                        '\'' if chars.peek() == Some(&'\'') => {
                            chars.next();
                            text.push('\'');
                        }
                        '\'' => break,
                        other => text.push(other),
                    }
                }
                tokens.push(Token::Text(text));
            }
            first => {
                let mut word = first.to_string();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | ',' | '\'') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Some(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn expect(&mut self, token: Token) -> Result<(), ParseError> {
        match self.next() {
            Some(t) if t == token => Ok(()),
            _ => Err(ParseError::Unsupported),
        }
    }

    fn or_list(&mut self) -> Result<Vec<Clause>, ParseError> {
        let mut clauses = self.clause()?;
        while let Some(Token::Word(w)) = self.tokens.get(self.at)
            && w.eq_ignore_ascii_case("or")
        {
            self.at += 1;
            clauses.extend(self.clause()?);
        }
        Ok(clauses)
    }

    fn clause(&mut self) -> Result<Vec<Clause>, ParseError> {
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or_list()?;
                self.expect(Token::Close)?;
                Ok(inner)
            }
            Some(Token::Word(f)) if f.eq_ignore_ascii_case("endswith") => {
                self.expect(Token::Open)?;
                let Some(Token::Word(property)) = self.next() else {
                    return Err(ParseError::Unsupported);
                };
                self.expect(Token::Comma)?;
                let Some(Token::Text(suffix)) = self.next() else {
                    return Err(ParseError::Unsupported);
                };
                self.expect(Token::Close)?;
                Ok(vec![Clause::EndsWith { property, suffix }])
            }
            Some(Token::Word(property)) => {
                let op = match self.next() {
                    Some(Token::Word(op))
                        if ["ge", "gt", "lt"]
                            .iter()
                            .any(|o| op.eq_ignore_ascii_case(o)) =>
                    {
                        op.to_ascii_lowercase()
                    }
                    _ => return Err(ParseError::Unsupported),
                };
                let literal = match self.next() {
                    Some(Token::Word(w)) => w,
                    // A quoted date is a string, which Graph will not compare with a DateTimeOffset.
                    Some(Token::Text(t)) => return Err(ParseError::BadDate(format!("'{t}'"))),
                    _ => return Err(ParseError::Unsupported),
                };
                let at = DateTime::parse_from_rfc3339(&literal)
                    .map_err(|_| ParseError::BadDate(literal.clone()))?;
                Ok(vec![match op.as_str() {
                    "gt" => Clause::After { property, at },
                    "lt" => Clause::Before { property, at },
                    _ => Clause::AtLeast { property, at },
                }])
            }
            _ => Err(ParseError::Unsupported),
        }
    }
}

/// Whether a row passes the filter.
pub(crate) fn matches(tenant: &Tenant, row: RowRef<'_>, filter: &Filter) -> bool {
    match filter {
        Filter::None | Filter::Declared => true,
        Filter::AnyOf(clauses) => clauses.iter().any(|c| clause_holds(tenant, row, c)),
    }
}

fn clause_holds(tenant: &Tenant, row: RowRef<'_>, clause: &Clause) -> bool {
    match clause {
        Clause::EndsWith { property, suffix } => {
            let suffix = suffix.to_ascii_lowercase();
            let value = if row.spec.mock.derived(property) == Some(Derived::Upn) {
                Some(tenant.upn(row.index))
            } else {
                string_value(tenant, row, property)
            };
            value.is_some_and(|v| v.to_ascii_lowercase().ends_with(&suffix))
        }
        // Compared as instants, at the records' full 7-digit precision; a null never passes.
        Clause::AtLeast { property, at } => {
            time_value(tenant, row, property).is_some_and(|v| v >= *at)
        }
        Clause::After { property, at } => {
            time_value(tenant, row, property).is_some_and(|v| v > *at)
        }
        Clause::Before { property, at } => {
            time_value(tenant, row, property).is_some_and(|v| v < *at)
        }
    }
}

pub(crate) fn time_value(
    tenant: &Tenant,
    row: RowRef<'_>,
    property: &str,
) -> Option<DateTime<FixedOffset>> {
    string_value(tenant, row, property).and_then(|v| DateTime::parse_from_rfc3339(&v).ok())
}

/// One property of a row, generated alone (each field has its own RNG).
fn string_value(tenant: &Tenant, row: RowRef<'_>, property: &str) -> Option<String> {
    tenant
        .record_selected(row, Some(&[property.to_string()]))
        .get(property)
        .and_then(Value::as_str)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends(property: &str, suffix: &str) -> Clause {
        Clause::EndsWith {
            property: property.into(),
            suffix: suffix.into(),
        }
    }

    #[test]
    fn endswith_clauses_parse_alone_or_joined() {
        assert_eq!(
            parse("endswith(mail,'@contoso.com')"),
            Ok(vec![ends("mail", "@contoso.com")])
        );
        assert_eq!(
            parse("endswith(userPrincipalName,'@a') or (endswith(mail,'@o''b'))"),
            Ok(vec![ends("userPrincipalName", "@a"), ends("mail", "@o'b")])
        );
        // `or` inside a literal is text, not an operator.
        assert_eq!(
            parse("endswith(mail,'x or y')"),
            Ok(vec![ends("mail", "x or y")])
        );
    }

    #[test]
    fn ge_takes_a_datetimeoffset_literal() {
        let Ok(clauses) = parse("activityDateTime ge 2026-01-01T00:00:00.5+01:00") else {
            panic!("parses");
        };
        let Clause::AtLeast { property, at } = &clauses[0] else {
            panic!("{clauses:?}");
        };
        assert_eq!(property, "activityDateTime");
        assert_eq!(at.to_rfc3339(), "2026-01-01T00:00:00.500+01:00");
        for bad in ["2026-13-01T00:00:00Z", "yesterday", "2026-01-01"] {
            assert_eq!(
                parse(&format!("createdDateTime ge {bad}")),
                Err(ParseError::BadDate(bad.into()))
            );
        }
        assert!(matches!(
            parse("createdDateTime ge '2026-01-01T00:00:00Z'"),
            Err(ParseError::BadDate(_))
        ));
    }

    #[test]
    fn other_forms_are_unsupported() {
        for f in [
            "startswith(mail,'a')",
            "endswith(mail,'a') and endswith(mail,'b')",
            "endswith(mail,'a'",
            "endswith(mail,'a) or x",
            "createdDateTime le 2026-01-01T00:00:00Z",
            "createdDateTime eq 2026-01-01T00:00:00Z",
            "endswith(mail,'a') or",
            "",
        ] {
            assert_eq!(parse(f), Err(ParseError::Unsupported), "{f}");
        }
    }
}

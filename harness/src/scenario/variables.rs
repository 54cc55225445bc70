//! Variables in a scenario's strings: their syntax, and filling them in.
//!
//! A string may hold `{<owner>.<field>}` with an optional filter, `{dut.thing|upper}`.
//! A `{` starts a variable only when a letter or `_` follows it, so JSON text (`{"a":1}`),
//! regex repetitions (`\d{2}`) and `{}` stay as they are; `{{` writes a literal `{`, and
//! so does the `{` of `${`, so that AWS policy variables (`${iot:ClientId}`) stay as written.
//! [`pieces`] splits a string into text and variables (or says where its syntax is
//! wrong); [`fill`] puts values in. Which variables a scenario has, and the walk over every
//! string of a step, are the `step_strings` module's business; the values come from the
//! runner, once the boards are provisioned.

use std::collections::BTreeMap;
use std::ops::Range;

/// The filters a variable may carry: `{dut.thing|upper}`.
pub const FILTERS: [&str; 2] = ["upper", "lower"];

/// One part of a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Text as it is (`{{` gives a `{` of its own).
    Text(&'a str),
    /// A variable.
    Variable(Variable<'a>),
}

/// A variable in a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable<'a> {
    /// `dut.thing`.
    pub name: &'a str,
    /// `upper` in `{dut.thing|upper}`.
    pub filter: Option<&'a str>,
    /// Where it is in the string, braces included (bytes).
    pub at: Range<usize>,
}

/// A `{` that starts a variable but has no `}` after its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unclosed {
    /// From the `{` to where the name stops (bytes).
    pub at: Range<usize>,
}

impl std::fmt::Display for Unclosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unclosed variable")
    }
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '|')
}

/// Splits `text` into text and variables.
pub fn pieces(text: &str) -> Result<Vec<Piece<'_>>, Unclosed> {
    let mut out = Vec::new();
    let mut start = 0; // of the text not yet pushed
    let mut rest = 0; // where to look for the next `{`
    while let Some(found) = text[rest..].find('{') {
        let open = rest + found;
        let after = &text[open + 1..];
        if after.starts_with('{') {
            out.push(Piece::Text(&text[start..=open]));
            start = open + 2;
            rest = start;
            continue;
        }
        if !after.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            || text[..open].ends_with('$')
        {
            rest = open + 1;
            continue;
        }
        let len = after.find(|c: char| !name_char(c)).unwrap_or(after.len());
        if !after[len..].starts_with('}') {
            return Err(Unclosed {
                at: open..open + 1 + len,
            });
        }
        if start < open {
            out.push(Piece::Text(&text[start..open]));
        }
        let inner = &after[..len];
        let (name, filter) = match inner.split_once('|') {
            Some((name, filter)) => (name, Some(filter)),
            None => (inner, None),
        };
        let end = open + len + 2;
        out.push(Piece::Variable(Variable {
            name,
            filter,
            at: open..end,
        }));
        start = end;
        rest = end;
    }
    if start < text.len() {
        out.push(Piece::Text(&text[start..]));
    }
    Ok(out)
}

/// Why [`fill`] could not fill a string in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FillError {
    /// The syntax is wrong (validation reports it with its place first).
    Unclosed(Unclosed),
    /// A variable has no value yet (say, `{dut.thing}` before `dut` is provisioned).
    NoValue(String),
    /// A filter other than [`FILTERS`].
    UnknownFilter(String),
}

impl std::fmt::Display for FillError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FillError::Unclosed(_) => write!(f, "an unclosed variable"),
            FillError::NoValue(name) => write!(f, "{{{name}}} has no value yet"),
            FillError::UnknownFilter(filter) => write!(f, "unknown filter |{filter}"),
        }
    }
}

/// `value` through `filter`, if the filter exists.
fn filtered(value: &str, filter: Option<&str>) -> Option<String> {
    match filter {
        None => Some(value.to_owned()),
        Some("upper") => Some(value.to_uppercase()),
        Some("lower") => Some(value.to_lowercase()),
        Some(_) => None,
    }
}

/// `text` with every variable replaced by its value (filtered, then passed through
/// `escape`, e.g. `regex::escape` for a regular expression).
pub fn fill(
    text: &str,
    values: &BTreeMap<String, String>,
    escape: fn(&str) -> String,
) -> Result<String, FillError> {
    let mut out = String::with_capacity(text.len());
    for piece in pieces(text).map_err(FillError::Unclosed)? {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Variable(variable) => {
                let value = values
                    .get(variable.name)
                    .ok_or_else(|| FillError::NoValue(variable.name.to_owned()))?;
                let value = filtered(value, variable.filter).ok_or_else(|| {
                    FillError::UnknownFilter(variable.filter.unwrap_or_default().to_owned())
                })?;
                out.push_str(&escape(&value));
            }
        }
    }
    Ok(out)
}

/// The `{...}` variables in a text, with their filters (`dut.thing|upper`).
pub fn variables_in(text: &str) -> Vec<String> {
    pieces(text)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Variable(v) => Some(text[v.at.start + 1..v.at.end - 1].to_owned()),
            Piece::Text(_) => None,
        })
        .collect()
}

/// Replaces variables (with their filters) by their values; unknown ones, and a text
/// whose syntax is wrong, are left as they are.
pub fn substitute(text: &str, values: &BTreeMap<String, String>) -> String {
    let Ok(pieces) = pieces(text) else {
        return text.to_owned();
    };
    let mut out = String::with_capacity(text.len());
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Variable(variable) => {
                let value = values.get(variable.name);
                match value.and_then(|value| filtered(value, variable.filter)) {
                    Some(value) => out.push_str(&value),
                    None => out.push_str(&text[variable.at]),
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("dut.thing".to_owned(), "ab12".to_owned()),
            ("ca.id".to_owned(), "c0ffee".to_owned()),
        ])
    }

    #[test]
    fn a_brace_starts_a_variable_only_before_a_letter() {
        let text = r#"{"a":{}} \d{2} { dut.thing } {} {{dut.thing}"#;
        assert_eq!(
            pieces(text).unwrap(),
            vec![
                Piece::Text(r#"{"a":{}} \d{2} { dut.thing } {} {"#),
                Piece::Text("dut.thing}")
            ]
        );
        assert_eq!(
            fill(text, &values(), str::to_owned).unwrap(),
            r#"{"a":{}} \d{2} { dut.thing } {} {dut.thing}"#
        );
    }

    #[test]
    fn aws_policy_variables_stay_as_written_beside_scenario_variables() {
        let text = "arn:aws:iot:*:*:topic/${iot:ClientId}/status and {dut.thing}/${x}";
        assert_eq!(
            fill(text, &values(), str::to_owned).unwrap(),
            "arn:aws:iot:*:*:topic/${iot:ClientId}/status and ab12/${x}"
        );
    }

    #[test]
    fn variables_are_split_out_with_their_filters_and_places() {
        let text = "{dut.thing|upper}/x/{ca.id}";
        assert_eq!(
            pieces(text).unwrap(),
            vec![
                Piece::Variable(Variable {
                    name: "dut.thing",
                    filter: Some("upper"),
                    at: 0..17
                }),
                Piece::Text("/x/"),
                Piece::Variable(Variable {
                    name: "ca.id",
                    filter: None,
                    at: 20..27
                }),
            ]
        );
        assert_eq!(variables_in(text), vec!["dut.thing|upper", "ca.id"]);
    }

    #[test]
    fn an_unclosed_variable_is_placed_from_its_brace_to_where_its_name_stops() {
        assert_eq!(pieces("a/{dut.thing/sensors"), Err(Unclosed { at: 2..12 }));
        assert_eq!(pieces("{ca.id"), Err(Unclosed { at: 0..6 }));
        // A `}` later in the text does not close it.
        assert_eq!(pieces("{dut thing}"), Err(Unclosed { at: 0..4 }));
    }

    #[test]
    fn fill_applies_filters_and_escape_and_names_what_has_no_value() {
        let escape: fn(&str) -> String = |v| format!("<{v}>");
        assert_eq!(
            fill(
                "{dut.thing|upper}-{dut.thing|lower}-{ca.id}",
                &values(),
                escape
            )
            .unwrap(),
            "<AB12>-<ab12>-<c0ffee>"
        );
        assert_eq!(
            fill("{rogue.thing}/x", &values(), str::to_owned),
            Err(FillError::NoValue("rogue.thing".into()))
        );
        assert_eq!(
            fill("{dut.thing|reverse}", &values(), str::to_owned),
            Err(FillError::UnknownFilter("reverse".into()))
        );
        assert_eq!(
            fill("{dut.thing", &values(), str::to_owned),
            Err(FillError::Unclosed(Unclosed { at: 0..10 }))
        );
    }

    #[test]
    fn substitute_leaves_what_it_cannot_fill() {
        assert_eq!(
            substitute(
                "{dut.thing|upper}/{dut.thing}/{other}/{dut.thing|odd}",
                &values()
            ),
            "AB12/ab12/{other}/{dut.thing|odd}"
        );
        assert_eq!(substitute("{unclosed", &values()), "{unclosed");
    }
}

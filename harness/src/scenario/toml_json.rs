//! TOML tables as JSON ([`json_of`]): the JSON a scenario's tables stand for (a `json`
//! payload or matcher, a job document, a policy document).
//!
//! serde's own conversion writes a TOML date or time as the toml crate's private marker
//! object (`{"$__toml_private_datetime": "2012-10-17"}`), which no device or AWS API
//! understands; JSON has no dates, so a TOML date or time (`Version = 2012-10-17`, unquoted)
//! becomes the string it was written as (`"2012-10-17"`).

use serde_json::{Map, Value};

/// `value` as JSON; see the module documentation.
pub fn json_of_value(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(json_of_value).collect()),
        toml::Value::Table(table) => json_of(table),
    }
}

/// `table` as a JSON object; see the module documentation.
pub fn json_of(table: &toml::Table) -> Value {
    Value::Object(
        table
            .iter()
            .map(|(key, value)| (key.clone(), json_of_value(value)))
            .collect::<Map<String, Value>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_become_the_strings_they_were_written_as_at_any_depth() {
        let table: toml::Table = toml::from_str(
            "Version = 2012-10-17\nStatement = [{ Effect = \"Allow\", When = 07:32:00 }]\nn = 1\nx = 1.5\nok = true",
        )
        .unwrap();
        assert_eq!(
            json_of(&table).to_string(),
            r#"{"Statement":[{"Effect":"Allow","When":"07:32:00"}],"Version":"2012-10-17","n":1,"ok":true,"x":1.5}"#
        );
    }

    #[test]
    fn a_float_json_cannot_hold_is_null() {
        let table: toml::Table = toml::from_str("a = nan").unwrap();
        assert_eq!(json_of(&table).to_string(), r#"{"a":null}"#);
    }
}

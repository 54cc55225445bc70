//! Shadow MQTT topics and names: which topics are shadow requests ([`parse_topic`]), the
//! prefix replies and notifications go under ([`topic_prefix`]), and which thing and shadow
//! names are valid.
//!
//! Classic (unnamed) shadows live under `$aws/things/<thing>/shadow`, named ones under
//! `$aws/things/<thing>/shadow/name/<shadowName>`; requests append `update`, `get` or
//! `delete` ("Device Shadow MQTT topics",
//! <https://docs.aws.amazon.com/iot/latest/developerguide/device-shadow-mqtt.html>).
//! Nothing here reads payloads or keeps state: that is [`super::store`]'s.

/// Longest thing name, in bytes (AWS IoT API reference, GetThingShadow: 1..128 of
/// `[a-zA-Z0-9:_-]`).
pub const MAX_THING_NAME: usize = 128;

/// Longest shadow name, in bytes (AWS IoT API reference, GetThingShadow: 1..64 of
/// `[$a-zA-Z0-9:_-]`,
/// <https://docs.aws.amazon.com/iot/latest/apireference/API_iotdata_GetThingShadow.html>).
pub const MAX_SHADOW_NAME: usize = 64;

/// A shadow operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// `update`.
    Update,
    /// `get`.
    Get,
    /// `delete`.
    Delete,
}

impl Operation {
    /// The topic segment: `update`, `get` or `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Update => "update",
            Operation::Get => "get",
            Operation::Delete => "delete",
        }
    }
}

/// A shadow request topic, split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShadowTopic<'a> {
    /// The thing name.
    pub thing: &'a str,
    /// The shadow name; `None` for the classic (unnamed) shadow.
    pub shadow: Option<&'a str>,
    /// What is asked.
    pub operation: Operation,
}

/// Splits a shadow request topic (`.../shadow/update`, `.../shadow/name/<n>/get`, ...).
///
/// `None` for anything else, including the service's own replies (`.../update/accepted`)
/// and topics whose thing or shadow name is invalid: those are not shadow requests and get
/// no answer. `$aws/things/x/shadow/name/classic/get` names a shadow called `classic`,
/// which is a named shadow like any other: AWS reserves no shadow name for the classic
/// shadow, which is only reached through the unnamed topics.
pub fn parse_topic(topic: &str) -> Option<ShadowTopic<'_>> {
    let rest = topic.strip_prefix("$aws/things/")?;
    let (thing, rest) = rest.split_once("/shadow/")?;
    let (shadow, op) = match rest.strip_prefix("name/") {
        Some(named) => {
            let (name, op) = named.split_once('/')?;
            (Some(name), op)
        }
        None => (None, rest),
    };
    let operation = match op {
        "update" => Operation::Update,
        "get" => Operation::Get,
        "delete" => Operation::Delete,
        _ => return None,
    };
    (valid_thing_name(thing) && shadow.is_none_or(valid_shadow_name)).then_some(ShadowTopic {
        thing,
        shadow,
        operation,
    })
}

/// The topic prefix of a shadow: `$aws/things/<thing>/shadow` for the classic one,
/// `$aws/things/<thing>/shadow/name/<shadow>` for a named one.
pub fn topic_prefix(thing: &str, shadow: Option<&str>) -> String {
    match shadow {
        None => format!("$aws/things/{thing}/shadow"),
        Some(name) => format!("$aws/things/{thing}/shadow/name/{name}"),
    }
}

/// Whether `name` is a valid thing name: 1..=128 bytes of `[a-zA-Z0-9:_-]`.
pub fn valid_thing_name(name: &str) -> bool {
    (1..=MAX_THING_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":_-".contains(&b))
}

/// Whether `name` is a valid shadow name: 1..=64 bytes of `[$a-zA-Z0-9:_-]`.
///
/// The `$` follows the AWS API reference's pattern (AWS's own reserved shadows, such as the
/// Software Package Catalog's `$package`, use it).
pub fn valid_shadow_name(name: &str) -> bool {
    (1..=MAX_SHADOW_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"$:_-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic<'a>(
        thing: &'a str,
        shadow: Option<&'a str>,
        operation: Operation,
    ) -> Option<ShadowTopic<'a>> {
        Some(ShadowTopic {
            thing,
            shadow,
            operation,
        })
    }

    #[test]
    fn classic_and_named_request_topics_parse() {
        assert_eq!(
            parse_topic("$aws/things/abc/shadow/update"),
            topic("abc", None, Operation::Update)
        );
        assert_eq!(
            parse_topic("$aws/things/abc/shadow/name/cfg/get"),
            topic("abc", Some("cfg"), Operation::Get)
        );
        assert_eq!(
            parse_topic("$aws/things/abc/shadow/name/classic/delete"),
            topic("abc", Some("classic"), Operation::Delete)
        );
        // A shadow may be called like an operation or like the `name` segment.
        assert_eq!(
            parse_topic("$aws/things/abc/shadow/name/name/update"),
            topic("abc", Some("name"), Operation::Update)
        );
        assert_eq!(
            parse_topic("$aws/things/abc/shadow/name/$package/get"),
            topic("abc", Some("$package"), Operation::Get)
        );
    }

    #[test]
    fn replies_and_malformed_topics_are_not_requests() {
        for topic in [
            "$aws/things/abc/shadow/update/delta",
            "$aws/things/abc/shadow/update/accepted",
            "$aws/things/abc/shadow/name/cfg/update/documents",
            "$aws/things/abc/shadow/name/update",
            "$aws/things/abc/shadow/name//update",
            "$aws/things//shadow/get",
            "$aws/things/a.b/shadow/get",
            "$aws/things/abc/shadow/name/bad.name/get",
            "abc/shadow/get",
            "$aws/things/abc/shadow/list",
        ] {
            assert_eq!(parse_topic(topic), None, "{topic}");
        }
        let long = "s".repeat(MAX_SHADOW_NAME + 1);
        assert_eq!(
            parse_topic(&format!("$aws/things/abc/shadow/name/{long}/get")),
            None
        );
        let longest = "s".repeat(MAX_SHADOW_NAME);
        assert!(parse_topic(&format!("$aws/things/abc/shadow/name/{longest}/get")).is_some());
    }

    #[test]
    fn prefixes() {
        assert_eq!(topic_prefix("t", None), "$aws/things/t/shadow");
        assert_eq!(topic_prefix("t", Some("n")), "$aws/things/t/shadow/name/n");
    }

    #[test]
    fn thing_names() {
        assert!(valid_thing_name("Thing_1:a-b"));
        assert!(valid_thing_name(&"t".repeat(MAX_THING_NAME)));
        assert!(!valid_thing_name(&"t".repeat(MAX_THING_NAME + 1)));
        assert!(!valid_thing_name(""));
        assert!(!valid_thing_name("a$b"));
        assert!(!valid_thing_name("a/b"));
    }
}

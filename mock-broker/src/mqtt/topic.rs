//! Topic names and topic filters as AWS IoT Core reads them.
//!
//! Owns the rules for names and filters, in two layers, and filter matching. MQTT 3.1.1's
//! own rules ([`check_name`], [`check_filter`]: not empty, no U+0000, wildcards only where
//! the specification allows them) are applied by the packet validation layer
//! ([`crate::mqtt::validate`]) before the core sees a packet. AWS IoT Core's rules
//! ([`validate_publish_topic`], [`validate_filter`]) are the core's: a topic or filter has
//! at most [`MAX_SLASHES`] slashes, and clients cannot publish to `$aws/events/...`.
//! Matching differs from the specification where AWS does: `a/#` matches `a/` but not
//! `a`. Whether a client is *allowed* to use a topic is the authorization hook's business
//! ([`crate::mqtt::hooks`]), not this module's.

use crate::mqtt::errors::Violation;

/// At most this many `/` in a topic name or filter (AWS IoT Core limit).
pub const MAX_SLASHES: usize = 7;

/// The reserved prefix that only the broker publishes to.
pub const EVENTS_PREFIX: &str = "$aws/events/";

/// MQTT 3.1.1's rules for a topic name (PUBLISH, Will): at least one character
/// [MQTT-4.7.3-1], no U+0000 [MQTT-4.7.3-2], no wildcard [MQTT-3.3.2-2].
pub fn check_name(topic: &str) -> Result<(), Violation> {
    check_characters("topic", topic)?;
    if topic.contains(['+', '#']) {
        return Err(Violation::WildcardInTopic(topic.to_owned()));
    }
    Ok(())
}

/// MQTT 3.1.1's rules for a topic filter (SUBSCRIBE, UNSUBSCRIBE): at least one character,
/// no U+0000, `#` only as the whole last level [MQTT-4.7.1-2], `+` only as a whole level
/// [MQTT-4.7.1-3].
pub fn check_filter(filter: &str) -> Result<(), Violation> {
    check_characters("topic filter", filter)?;
    let levels: Vec<&str> = filter.split('/').collect();
    for (index, level) in levels.iter().enumerate() {
        let bad_hash = level.contains('#') && (*level != "#" || index + 1 != levels.len());
        let bad_plus = level.contains('+') && *level != "+";
        if bad_hash || bad_plus {
            return Err(Violation::InvalidFilter(filter.to_owned()));
        }
    }
    Ok(())
}

fn check_characters(what: &'static str, name: &str) -> Result<(), Violation> {
    if name.is_empty() {
        return Err(Violation::EmptyTopic);
    }
    if name.contains('\0') {
        return Err(Violation::NulCharacter {
            what,
            text: name.to_owned(),
        });
    }
    Ok(())
}

/// AWS IoT Core's rules for a topic name a client publishes to (the MQTT rules of
/// [`check_name`] are assumed): at most [`MAX_SLASHES`] slashes, not `$aws/events/...`.
pub fn validate_publish_topic(topic: &str) -> Result<(), Violation> {
    check_slashes(topic)?;
    if topic.starts_with(EVENTS_PREFIX) {
        return Err(Violation::ReservedTopic(topic.to_owned()));
    }
    Ok(())
}

/// AWS IoT Core's rules for a topic filter (the MQTT rules of [`check_filter`] are
/// assumed): at most [`MAX_SLASHES`] slashes.
pub fn validate_filter(filter: &str) -> Result<(), Violation> {
    check_slashes(filter)
}

fn check_slashes(name: &str) -> Result<(), Violation> {
    let slashes = name.matches('/').count();
    if slashes > MAX_SLASHES {
        return Err(Violation::TooManySlashes {
            topic: name.to_owned(),
            slashes,
        });
    }
    Ok(())
}

/// True when `filter` has no wildcard, so it only ever matches one topic.
pub fn is_exact(filter: &str) -> bool {
    !filter.contains(['+', '#'])
}

/// Does `filter` (already validated) match the topic name `topic`?
///
/// `+` matches one level, `#` the rest of the levels. Following AWS IoT Core, `#` needs
/// the separator before it to be present: `a/#` matches `a/`, `a/b` and `a/b/c`, but not
/// `a`. Wildcards never match a topic that starts with `$` at their level 0.
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut filter_levels = filter.split('/');
    let mut topic_levels = topic.split('/');
    loop {
        match (filter_levels.next(), topic_levels.next()) {
            (Some("#"), Some(_)) => return true,
            (Some("+"), Some(_)) => {}
            (Some(f), Some(t)) if f == t => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_needs_its_separator_like_aws() {
        assert!(matches("sensor/#", "sensor/"));
        assert!(matches("sensor/#", "sensor/a"));
        assert!(matches("sensor/#", "sensor/a/b/c"));
        assert!(!matches("sensor/#", "sensor"));
        assert!(matches("#", "anything/at/all"));
    }

    #[test]
    fn plus_matches_exactly_one_level() {
        assert!(matches("a/+/c", "a/b/c"));
        assert!(matches("a/+", "a/"));
        assert!(!matches("a/+", "a/b/c"));
        assert!(!matches("a/+/c", "a/c"));
    }

    #[test]
    fn topics_are_case_sensitive() {
        assert!(!matches("ABC/sensors", "abc/sensors"));
        assert!(matches("abc/sensors", "abc/sensors"));
    }

    #[test]
    fn dollar_topics_are_not_matched_by_leading_wildcards() {
        assert!(!matches("#", "$aws/events/presence/connected/x"));
        assert!(!matches("+/events/#", "$aws/events/x"));
        assert!(matches("$aws/events/#", "$aws/events/presence/connected/x"));
    }

    #[test]
    fn publish_topic_rules() {
        assert_eq!(check_name("a/b"), Ok(()));
        assert_eq!(validate_publish_topic("a/b"), Ok(()));
        assert!(matches!(
            check_name("a/+"),
            Err(Violation::WildcardInTopic(_))
        ));
        assert!(matches!(
            check_name("a/#"),
            Err(Violation::WildcardInTopic(_))
        ));
        assert!(matches!(
            validate_publish_topic("$aws/events/presence/connected/x"),
            Err(Violation::ReservedTopic(_))
        ));
        assert_eq!(check_name(""), Err(Violation::EmptyTopic));
        assert_eq!(
            validate_publish_topic("$aws/things/x/shadow/update"),
            Ok(())
        );
    }

    #[test]
    fn at_most_seven_slashes() {
        assert_eq!(validate_publish_topic("1/2/3/4/5/6/7/8"), Ok(()));
        assert!(matches!(
            validate_publish_topic("1/2/3/4/5/6/7/8/9"),
            Err(Violation::TooManySlashes { slashes: 8, .. })
        ));
        assert!(matches!(
            validate_filter("1/2/3/4/5/6/7/8/#"),
            Err(Violation::TooManySlashes { .. })
        ));
    }

    #[test]
    fn filter_wildcards_must_stand_alone() {
        assert_eq!(check_filter("a/+/b/#"), Ok(()));
        assert_eq!(check_filter("#"), Ok(()));
        assert_eq!(
            check_filter("nul\0"),
            Err(Violation::NulCharacter {
                what: "topic filter",
                text: "nul\0".into()
            })
        );
        for bad in ["a/#/b", "a/b#", "a+/b", "a/+b"] {
            assert!(
                matches!(check_filter(bad), Err(Violation::InvalidFilter(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn exact_filters_have_no_wildcards() {
        assert!(is_exact("a/b"));
        assert!(!is_exact("a/+"));
        assert!(!is_exact("a/#"));
    }
}

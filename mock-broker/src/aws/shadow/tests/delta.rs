//! Merging updates, the delta, and the notifications of an accepted update.

use super::*;
use serde_json::json;

#[test]
fn a_desired_toggle_produces_a_compact_delta_microchip_can_parse() {
    let mut shadows = Shadows::default();
    let replies = update(&mut shadows, r#"{"state":{"desired":{"toggle":1}}}"#, 100);
    assert_eq!(
        suffixes(&replies),
        ["update/accepted", "update/documents", "update/delta"]
    );
    assert_eq!(
        payload(&replies, "update/delta"),
        r#"{"version":1,"timestamp":100,"state":{"toggle":1},"metadata":{"toggle":{"timestamp":100}}}"#
    );
}

#[test]
fn the_delta_has_state_before_metadata_like_aws() {
    // Microchip's firmware takes the first `"toggle":` in the delta; metadata has one too.
    let mut shadows = Shadows::default();
    let replies = update(&mut shadows, r#"{"state":{"desired":{"toggle":1}}}"#, 100);
    let delta = payload(&replies, "update/delta");
    assert!(
        delta.starts_with(r#"{"version":1,"timestamp":100,"state":{"toggle":1},"metadata":"#),
        "{delta}"
    );
}

#[test]
fn update_accepted_echoes_the_request_with_metadata_version_and_token() {
    let mut shadows = Shadows::default();
    let replies = update(
        &mut shadows,
        r#"{"state":{"desired":{"led":"on","cfg":{"rate":5,"old":null}},"reported":null},"clientToken":"c1"}"#,
        100,
    );
    assert_eq!(
        payload(&replies, "update/accepted"),
        concat!(
            r#"{"state":{"desired":{"led":"on","cfg":{"rate":5,"old":null}},"reported":null},"#,
            r#""metadata":{"desired":{"led":{"timestamp":100},"cfg":{"rate":{"timestamp":100},"old":{"timestamp":100}}},"reported":{"timestamp":100}},"#,
            r#""version":1,"timestamp":100,"clientToken":"c1"}"#
        )
    );
}

#[test]
fn the_api_answer_is_the_accepted_notification_and_mqtt_publishes_the_same() {
    let request = br#"{"state":{"desired":{"led":"on"}},"clientToken":"c1"}"#;
    let mut api = Shadows::default();
    let answer = api.update(THING, None, request, 100).unwrap();
    let mut mqtt = Shadows::default();
    let replies = mqtt.handle("$aws/things/dev/shadow/update", request, 100);
    assert_eq!(answer.notifications, replies);
    assert_eq!(answer.document.to_string(), replies[0].1);
    assert_eq!(api, mqtt);
}

#[test]
fn a_reported_only_update_brings_the_delta_back() {
    let mut shadows = Shadows::default();
    update(&mut shadows, r#"{"state":{"desired":{"led":"on"}}}"#, 1);
    let matching = update(&mut shadows, r#"{"state":{"reported":{"led":"on"}}}"#, 2);
    assert_eq!(suffixes(&matching), ["update/accepted", "update/documents"]);
    let replies = update(&mut shadows, r#"{"state":{"reported":{"led":"off"}}}"#, 3);
    assert_eq!(
        suffixes(&replies),
        ["update/accepted", "update/documents", "update/delta"]
    );
    assert_eq!(
        body(&replies, "update/delta"),
        json!({"version": 3, "timestamp": 3, "state": {"led": "on"}, "metadata": {"led": {"timestamp": 1}}})
    );
    assert_eq!(
        get(&shadows, 4).unwrap()["state"]["delta"],
        json!({"led": "on"})
    );
}

#[test]
fn the_delta_holds_every_differing_key_whatever_the_update_touched() {
    let mut shadows = Shadows::default();
    update(&mut shadows, r#"{"state":{"desired":{"a":1,"b":2}}}"#, 1);
    let replies = update(&mut shadows, r#"{"state":{"reported":{"c":3}}}"#, 2);
    assert_eq!(
        body(&replies, "update/delta")["state"],
        json!({"a": 1, "b": 2})
    );
}

#[test]
fn accepted_and_delta_of_one_update_share_the_version() {
    let mut shadows = Shadows::default();
    for now in 1..=3 {
        let replies = update(
            &mut shadows,
            &format!(r#"{{"state":{{"desired":{{"n":{now}}}}}}}"#),
            now,
        );
        let accepted = body(&replies, "update/accepted");
        let delta = body(&replies, "update/delta");
        assert_eq!(accepted["version"], now);
        assert_eq!(delta["version"], now);
    }
}

#[test]
fn a_matching_report_clears_the_delta() {
    let mut shadows = Shadows::default();
    update(&mut shadows, r#"{"state":{"desired":{"toggle":1}}}"#, 100);
    let replies = update(&mut shadows, r#"{"state":{"reported":{"toggle":1}}}"#, 101);
    assert_eq!(suffixes(&replies), ["update/accepted", "update/documents"]);
    assert_eq!(
        get(&shadows, 102).unwrap(),
        json!({
            "state": {"desired": {"toggle": 1}, "reported": {"toggle": 1}},
            "metadata": {"desired": {"toggle": {"timestamp": 100}}, "reported": {"toggle": {"timestamp": 101}}},
            "version": 2,
            "timestamp": 102
        })
    );
}

#[test]
fn desired_null_removes_the_section_and_publishes_no_delta() {
    let mut shadows = Shadows::default();
    update(
        &mut shadows,
        r#"{"state":{"desired":{"led":"on","fan":2}}}"#,
        1,
    );
    let replies = update(
        &mut shadows,
        r#"{"state":{"reported":{"led":"off"},"desired":null}}"#,
        2,
    );
    assert_eq!(suffixes(&replies), ["update/accepted", "update/documents"]);
    assert_eq!(
        get(&shadows, 3).unwrap(),
        json!({
            "state": {"reported": {"led": "off"}},
            "metadata": {"reported": {"led": {"timestamp": 2}}},
            "version": 2,
            "timestamp": 3
        })
    );
}

#[test]
fn a_null_key_is_removed_with_its_metadata_and_publishes_no_delta_for_it() {
    let mut shadows = Shadows::default();
    update(
        &mut shadows,
        r#"{"state":{"desired":{"led":"on","fan":1}}}"#,
        1,
    );
    update(&mut shadows, r#"{"state":{"reported":{"fan":1}}}"#, 2);
    let replies = update(&mut shadows, r#"{"state":{"desired":{"led":null}}}"#, 3);
    assert_eq!(suffixes(&replies), ["update/accepted", "update/documents"]);
    let doc = get(&shadows, 4).unwrap();
    assert_eq!(
        doc["state"],
        json!({"desired": {"fan": 1}, "reported": {"fan": 1}})
    );
    assert_eq!(doc["metadata"]["desired"], json!({"fan": {"timestamp": 1}}));

    // With another key still differing, the delta holds that one only.
    update(
        &mut shadows,
        r#"{"state":{"desired":{"led":"on","x":1}}}"#,
        5,
    );
    let replies = update(&mut shadows, r#"{"state":{"desired":{"led":null}}}"#, 6);
    assert_eq!(
        payload(&replies, "update/delta"),
        r#"{"version":5,"timestamp":6,"state":{"x":1},"metadata":{"x":{"timestamp":5}}}"#
    );
}

#[test]
fn a_nested_delta_holds_only_the_differing_keys() {
    let mut shadows = Shadows::default();
    update(
        &mut shadows,
        r#"{"state":{"reported":{"lights":{"color":{"r":255,"g":0,"b":255},"on":true}}}}"#,
        1,
    );
    let replies = update(
        &mut shadows,
        r#"{"state":{"desired":{"lights":{"color":{"r":255,"g":255,"b":255},"on":true}}}}"#,
        2,
    );
    assert_eq!(
        body(&replies, "update/delta"),
        json!({
            "version": 2,
            "timestamp": 2,
            "state": {"lights": {"color": {"g": 255}}},
            "metadata": {"lights": {"color": {"g": {"timestamp": 2}}}}
        })
    );
}

#[test]
fn arrays_are_replaced_whole_with_per_element_metadata() {
    let mut shadows = Shadows::default();
    update(
        &mut shadows,
        r#"{"state":{"desired":{"colors":["RED","GREEN","BLUE"]}}}"#,
        1,
    );
    update(
        &mut shadows,
        r#"{"state":{"desired":{"colors":["RED"]}}}"#,
        2,
    );
    let doc = get(&shadows, 3).unwrap();
    assert_eq!(doc["state"]["desired"], json!({"colors": ["RED"]}));
    assert_eq!(
        doc["metadata"]["desired"],
        json!({"colors": [{"timestamp": 2}]})
    );
}

#[test]
fn arrays_are_compared_whole_and_go_into_the_delta_whole() {
    let mut shadows = Shadows::default();
    update(
        &mut shadows,
        r#"{"state":{"reported":{"pins":[1,2,3]}}}"#,
        1,
    );
    let replies = update(&mut shadows, r#"{"state":{"desired":{"pins":[1,2,4]}}}"#, 2);
    assert_eq!(
        body(&replies, "update/delta"),
        json!({
            "version": 2,
            "timestamp": 2,
            "state": {"pins": [1, 2, 4]},
            "metadata": {"pins": [{"timestamp": 2}, {"timestamp": 2}, {"timestamp": 2}]}
        })
    );
    let replies = update(
        &mut shadows,
        r#"{"state":{"reported":{"pins":[1,2,4]}}}"#,
        3,
    );
    assert_eq!(suffixes(&replies), ["update/accepted", "update/documents"]);
}

#[test]
fn an_empty_object_is_stored_as_an_empty_object() {
    let mut shadows = Shadows::default();
    update(&mut shadows, r#"{"state":{"reported":{"cfg":{}}}}"#, 1);
    update(&mut shadows, r#"{"state":{"reported":{"opt":{"a":1}}}}"#, 2);
    update(
        &mut shadows,
        r#"{"state":{"reported":{"opt":{"a":null}}}}"#,
        3,
    );
    let doc = get(&shadows, 4).unwrap();
    assert_eq!(doc["state"], json!({"reported": {"cfg": {}, "opt": {}}}));
    assert_eq!(doc["metadata"], json!({"reported": {"cfg": {}, "opt": {}}}));
}

#[test]
fn documents_show_previous_and_current_and_previous_is_null_at_creation() {
    let mut shadows = Shadows::default();
    let first = update(
        &mut shadows,
        r#"{"state":{"reported":{"a":1,"b":{"c":2}}},"clientToken":"t"}"#,
        1,
    );
    assert_eq!(
        payload(&first, "update/documents"),
        concat!(
            r#"{"previous":null,"current":{"state":{"reported":{"a":1,"b":{"c":2}}},"#,
            r#""metadata":{"reported":{"a":{"timestamp":1},"b":{"c":{"timestamp":1}}}},"version":1},"#,
            r#""timestamp":1,"clientToken":"t"}"#
        )
    );
    let replies = update(&mut shadows, r#"{"state":{"reported":{"a":null}}}"#, 2);
    assert_eq!(
        body(&replies, "update/documents"),
        json!({
            "previous": {
                "state": {"reported": {"a": 1, "b": {"c": 2}}},
                "metadata": {"reported": {"a": {"timestamp": 1}, "b": {"c": {"timestamp": 1}}}},
                "version": 1
            },
            "current": {
                "state": {"reported": {"b": {"c": 2}}},
                "metadata": {"reported": {"b": {"c": {"timestamp": 1}}}},
                "version": 2
            },
            "timestamp": 2
        })
    );
}

#[test]
fn state_null_empties_the_shadow_without_deleting_it() {
    let mut shadows = Shadows::default();
    update(
        &mut shadows,
        r#"{"state":{"desired":{"a":1},"reported":{"b":2}}}"#,
        1,
    );
    let replies = update(&mut shadows, r#"{"state":null}"#, 2);
    assert_eq!(suffixes(&replies), ["update/accepted", "update/documents"]);
    assert_eq!(
        get(&shadows, 3).unwrap(),
        json!({"state": {}, "metadata": {}, "version": 2, "timestamp": 3})
    );
}

//! Get, delete and versions: what exists when, and which version comes next.

use super::*;
use serde_json::json;

#[test]
fn get_returns_state_delta_metadata_version_and_the_token() {
    let mut shadows = Shadows::default();
    update(
        &mut shadows,
        r#"{"state":{"desired":{"led":"on","fan":1}}}"#,
        1,
    );
    update(
        &mut shadows,
        r#"{"state":{"reported":{"led":"off","fan":1}}}"#,
        2,
    );
    let replies = publish(&mut shadows, "get", r#"{"clientToken":"g1"}"#, 3);
    assert_eq!(suffixes(&replies), ["get/accepted"]);
    assert_eq!(
        payload(&replies, "get/accepted"),
        concat!(
            r#"{"state":{"desired":{"led":"on","fan":1},"reported":{"led":"off","fan":1},"delta":{"led":"on"}},"#,
            r#""metadata":{"desired":{"led":{"timestamp":1},"fan":{"timestamp":1}},"reported":{"led":{"timestamp":2},"fan":{"timestamp":2}}},"#,
            r#""version":2,"timestamp":3,"clientToken":"g1"}"#
        )
    );
    // The API answers the same document, without a token.
    let mut expected = body(&replies, "get/accepted");
    if let Value::Object(map) = &mut expected {
        map.remove("clientToken");
    }
    assert_eq!(get(&shadows, 3).unwrap(), expected);
}

#[test]
fn get_of_a_missing_shadow_is_404_naming_the_thing() {
    let mut shadows = Shadows::default();
    let replies = publish(&mut shadows, "get", r#"{"clientToken":"g1"}"#, 5);
    assert_eq!(
        payload(&replies, "get/rejected"),
        r#"{"code":404,"message":"No shadow exists with name: 'dev'","timestamp":5,"clientToken":"g1"}"#
    );
    assert_eq!(
        get(&shadows, 5).unwrap_err(),
        ShadowError::new(404, "No shadow exists with name: 'dev'")
    );
}

#[test]
fn a_get_payload_must_be_empty_or_a_json_object() {
    let mut shadows = Shadows::default();
    update(&mut shadows, r#"{"state":{"reported":{"a":1}}}"#, 1);
    assert_eq!(
        body(&publish(&mut shadows, "get", "", 2), "get/accepted")["version"],
        1
    );
    assert_eq!(
        body(&publish(&mut shadows, "get", "{}", 2), "get/accepted")["version"],
        1
    );
    assert_eq!(
        body(&publish(&mut shadows, "get", "{oops", 2), "get/rejected"),
        json!({"code": 400, "message": "Invalid JSON", "timestamp": 2})
    );
    assert_eq!(
        body(
            &publish(&mut shadows, "get", r#"{"clientToken":1}"#, 2),
            "get/rejected"
        ),
        json!({"code": 400, "message": "Invalid clientToken", "timestamp": 2})
    );
}

#[test]
fn delete_answers_the_deleted_version_and_removes_the_shadow() {
    let mut shadows = Shadows::default();
    update(&mut shadows, r#"{"state":{"desired":{"x":1}}}"#, 1);
    update(&mut shadows, r#"{"state":{"desired":{"x":2}}}"#, 2);
    let replies = publish(&mut shadows, "delete", r#"{"clientToken":"d1"}"#, 3);
    assert_eq!(
        replies,
        [(
            "$aws/things/dev/shadow/delete/accepted".to_owned(),
            r#"{"version":2,"timestamp":3,"clientToken":"d1"}"#.to_owned()
        )]
    );
    assert_eq!(get(&shadows, 4).unwrap_err().code, 404);
    assert_eq!(
        body(&publish(&mut shadows, "delete", "", 4), "delete/rejected"),
        json!({"code": 404, "message": "No shadow exists with name: 'dev'", "timestamp": 4})
    );
}

#[test]
fn an_api_delete_returns_version_and_timestamp_and_publishes_delete_accepted() {
    let mut shadows = Shadows::default();
    update(&mut shadows, r#"{"state":{"reported":{"x":1}}}"#, 1);
    let (answer, notifications) = shadows.delete(THING, None, 7).unwrap();
    assert_eq!(answer, json!({"version": 1, "timestamp": 7}));
    assert_eq!(
        notifications,
        [(
            "$aws/things/dev/shadow/delete/accepted".to_owned(),
            r#"{"version":1,"timestamp":7}"#.to_owned()
        )]
    );
    assert_eq!(
        shadows.delete(THING, None, 8).unwrap_err(),
        ShadowError::new(404, "No shadow exists with name: 'dev'")
    );
}

#[test]
fn a_delete_payload_is_ignored_but_its_token_comes_back() {
    let mut shadows = Shadows::default();
    update(&mut shadows, r#"{"state":{"reported":{"x":1}}}"#, 1);
    let replies = publish(&mut shadows, "delete", "not json", 2);
    assert_eq!(
        payload(&replies, "delete/accepted"),
        r#"{"version":1,"timestamp":2}"#
    );
    let replies = publish(&mut shadows, "delete", r#"{"clientToken":"d"}"#, 3);
    assert_eq!(
        payload(&replies, "delete/rejected"),
        r#"{"code":404,"message":"No shadow exists with name: 'dev'","timestamp":3,"clientToken":"d"}"#
    );
}

#[test]
fn after_a_delete_the_version_continues_for_48_hours() {
    let mut shadows = Shadows::default();
    for now in 1..=3 {
        update(&mut shadows, r#"{"state":{"desired":{"x":1}}}"#, now);
    }
    shadows.delete(THING, None, 10).unwrap();
    // A version check does not apply to a shadow that does not exist.
    let replies = update(
        &mut shadows,
        r#"{"state":{"reported":{"y":1}},"version":1}"#,
        10 + VERSION_MEMORY_SECS - 1,
    );
    assert_eq!(body(&replies, "update/accepted")["version"], 4);
    assert_eq!(body(&replies, "update/documents")["previous"], Value::Null);
    assert_eq!(
        get(&shadows, 20).unwrap()["state"],
        json!({"reported": {"y": 1}})
    );

    shadows.delete(THING, None, 100).unwrap();
    let replies = update(
        &mut shadows,
        r#"{"state":{"reported":{"y":1}}}"#,
        100 + VERSION_MEMORY_SECS,
    );
    assert_eq!(body(&replies, "update/accepted")["version"], 1);
}

#[test]
fn versions_start_at_1_and_grow_by_one_per_accepted_update() {
    let mut shadows = Shadows::default();
    let versions: Vec<Value> = [
        r#"{"state":{"desired":{"a":1}}}"#,
        r#"{"state":{"desired":{"a":1}}}"#,
        r#"{"state":{"oops":1}}"#,
        r#"{"state":{}}"#,
    ]
    .into_iter()
    .map(|request| {
        let replies = update(&mut shadows, request, 1);
        match suffixes(&replies)[..] {
            ["update/accepted", ..] => body(&replies, "update/accepted")["version"].clone(),
            _ => Value::Null,
        }
    })
    .collect();
    assert_eq!(versions, [json!(1), json!(2), Value::Null, json!(3)]);
}

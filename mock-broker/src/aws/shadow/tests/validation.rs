//! Refused updates: every 400, the 409, both 413s and the 415, with their error documents;
//! a refused update changes nothing.

use super::*;
use serde_json::json;

/// Publishes `request` as an update at `now = 9` and returns its `update/rejected`
/// document, checking that nothing else was published.
fn rejected(shadows: &mut Shadows, request: &str) -> Value {
    let replies = update(shadows, request, 9);
    assert_eq!(suffixes(&replies), ["update/rejected"], "{request}");
    body(&replies, "update/rejected")
}

fn error(code: u16, message: &str) -> Value {
    json!({"code": code, "message": message, "timestamp": 9})
}

fn error_with_token(code: u16, message: &str) -> Value {
    json!({"code": code, "message": message, "timestamp": 9, "clientToken": "tok"})
}

#[test]
fn invalid_json_and_non_objects() {
    let mut shadows = Shadows::default();
    for request in ["{oops", "", "[1]", "\"state\"", "null"] {
        assert_eq!(
            rejected(&mut shadows, request),
            error(400, "Invalid JSON"),
            "{request}"
        );
    }
}

#[test]
fn the_error_document_is_published_compact_on_rejected() {
    let mut shadows = Shadows::default();
    let replies = update(&mut shadows, r#"{"clientToken":"tok"}"#, 9);
    assert_eq!(
        replies,
        [(
            "$aws/things/dev/shadow/update/rejected".to_owned(),
            r#"{"code":400,"message":"Missing required node: state","timestamp":9,"clientToken":"tok"}"#
                .to_owned()
        )]
    );
}

#[test]
fn state_must_be_there_and_an_object() {
    let mut shadows = Shadows::default();
    assert_eq!(
        rejected(&mut shadows, r#"{"desired":{"a":1},"clientToken":"tok"}"#),
        error_with_token(400, "Missing required node: state")
    );
    for state in ["1", "\"x\"", "[]", "true"] {
        assert_eq!(
            rejected(
                &mut shadows,
                &format!(r#"{{"state":{state},"clientToken":"tok"}}"#)
            ),
            error_with_token(400, "State node must be an object"),
            "{state}"
        );
    }
}

#[test]
fn desired_and_reported_must_be_objects_or_null() {
    let mut shadows = Shadows::default();
    for value in ["1", "\"on\"", "[1]", "false"] {
        assert_eq!(
            rejected(
                &mut shadows,
                &format!(r#"{{"state":{{"desired":{value}}},"clientToken":"tok"}}"#)
            ),
            error_with_token(400, "Desired node must be an object")
        );
        assert_eq!(
            rejected(
                &mut shadows,
                &format!(r#"{{"state":{{"reported":{value}}},"clientToken":"tok"}}"#)
            ),
            error_with_token(400, "Reported node must be an object")
        );
    }
}

#[test]
fn delta_or_any_other_node_in_state_is_invalid() {
    let mut shadows = Shadows::default();
    for request in [
        r#"{"state":{"delta":{"a":1}},"clientToken":"tok"}"#,
        r#"{"state":{"desired":{"a":1},"delta":{"a":1}},"clientToken":"tok"}"#,
        r#"{"state":{"reported":{"a":1},"metadata":{}},"clientToken":"tok"}"#,
    ] {
        assert_eq!(
            rejected(&mut shadows, request),
            error_with_token(400, "State contains an invalid node"),
            "{request}"
        );
    }
}

#[test]
fn client_tokens_are_strings_of_at_most_64_bytes() {
    let mut shadows = Shadows::default();
    for token in ["5", "null", "{}", &format!("\"{}\"", "t".repeat(65))] {
        assert_eq!(
            rejected(
                &mut shadows,
                &format!(r#"{{"state":{{"desired":{{"a":1}}}},"clientToken":{token}}}"#)
            ),
            error(400, "Invalid clientToken"),
            "{token}"
        );
    }
    let longest = "t".repeat(64);
    let replies = update(
        &mut shadows,
        &format!(r#"{{"state":{{"desired":{{"a":1}}}},"clientToken":"{longest}"}}"#),
        9,
    );
    assert_eq!(body(&replies, "update/accepted")["clientToken"], longest);
}

#[test]
fn versions_are_positive_integers() {
    let mut shadows = Shadows::default();
    for version in ["0", "-1", "1.5", "\"1\"", "null"] {
        assert_eq!(
            rejected(
                &mut shadows,
                &format!(
                    r#"{{"state":{{"desired":{{"a":1}}}},"version":{version},"clientToken":"tok"}}"#
                )
            ),
            error_with_token(400, "Invalid version"),
            "{version}"
        );
    }
}

#[test]
fn six_levels_of_nesting_pass_and_seven_fail() {
    let mut shadows = Shadows::default();
    // The section object is level 1; objects and arrays inside add one each.
    let six = r#"{"a":{"b":{"c":{"d":{"e":{"f":1}}}}}}"#;
    let six_with_array = r#"{"a":{"b":{"c":{"d":{"e":[1]}}}}}"#;
    let seven = r#"{"a":{"b":{"c":{"d":{"e":{"f":{"g":1}}}}}}}"#;
    let seven_with_array = r#"{"a":{"b":{"c":{"d":{"e":[[1]]}}}}}"#;
    for section in ["desired", "reported"] {
        for ok in [six, six_with_array] {
            let replies = update(
                &mut shadows,
                &format!(r#"{{"state":{{"{section}":{ok}}}}}"#),
                9,
            );
            assert_eq!(suffixes(&replies)[0], "update/accepted", "{section} {ok}");
        }
        for deep in [seven, seven_with_array] {
            assert_eq!(
                rejected(
                    &mut shadows,
                    &format!(r#"{{"state":{{"{section}":{deep}}},"clientToken":"tok"}}"#)
                ),
                error_with_token(
                    400,
                    "JSON contains too many levels of nesting; maximum is 6"
                ),
                "{section} {deep}"
            );
        }
    }
}

#[test]
fn arrays_cannot_hold_null_anywhere() {
    let mut shadows = Shadows::default();
    for section in [
        r#"{"colors":[null,"RED"]}"#,
        r#"{"a":{"b":[1,[2,null]]}}"#,
        r#"{"a":[{"b":null}]}"#,
    ] {
        assert_eq!(
            rejected(
                &mut shadows,
                &format!(r#"{{"state":{{"reported":{section}}},"clientToken":"tok"}}"#)
            ),
            error_with_token(400, "Arrays can't have null values"),
            "{section}"
        );
    }
}

#[test]
fn a_stale_version_is_a_conflict() {
    let mut shadows = Shadows::default();
    update(&mut shadows, r#"{"state":{"desired":{"a":1}}}"#, 1);
    assert_eq!(
        rejected(
            &mut shadows,
            r#"{"state":{"desired":{"a":2}},"version":7,"clientToken":"tok"}"#
        ),
        error_with_token(409, "Version conflict")
    );
    let ok = update(
        &mut shadows,
        r#"{"state":{"desired":{"a":2}},"version":1}"#,
        3,
    );
    assert_eq!(body(&ok, "update/accepted")["version"], 2);
}

#[test]
fn a_request_whose_data_is_over_8_kib_is_too_large_and_only_the_data_counts() {
    let mut shadows = Shadows::default();
    // The reported data `{"a":"<x...>"}` of 8192 bytes passes, 8193 does not.
    let data = |len: usize| format!(r#"{{"a":"{}"}}"#, "x".repeat(len - r#"{"a":""}"#.len()));
    assert_eq!(data(8192).len(), 8192);
    let largest = format!(r#"{{"state":{{"reported":{}}}}}"#, data(8192));
    let replies = update(&mut shadows, &largest, 9);
    assert_eq!(body(&replies, "update/accepted")["version"], 1);
    let over = format!(r#"{{"state":{{"reported":{}}}}}"#, data(8193));
    assert_eq!(
        rejected(&mut Shadows::default(), &over),
        error(413, "The payload exceeds the maximum size allowed")
    );
    // Whitespace, the client token and ignored keys are not data: 9000 spaces pass.
    let padded = format!(
        r#"{{"state":{{"desired":{{"a":1}}}},"clientToken":"t","note":"{}"}}{}"#,
        "n".repeat(100),
        " ".repeat(9000)
    );
    assert!(padded.len() > 9000);
    let replies = update(&mut Shadows::default(), &padded, 9);
    assert_eq!(body(&replies, "update/accepted")["version"], 1);
}

#[test]
fn a_small_update_whose_merge_exceeds_8_kib_is_too_large_and_changes_nothing() {
    let mut shadows = Shadows::default();
    // `{"a":"<4088 x>"}` and `{"b":"<4088 y>"}` are 4096 bytes each: 8192 in all.
    let half = |key: &str, c: &str| format!(r#"{{"{key}":"{}"}}"#, c.repeat(4088));
    assert_eq!(half("a", "x").len(), 4096);
    update(
        &mut shadows,
        &format!(r#"{{"state":{{"reported":{}}}}}"#, half("a", "x")),
        1,
    );
    let replies = update(
        &mut shadows,
        &format!(r#"{{"state":{{"desired":{}}}}}"#, half("b", "y")),
        2,
    );
    assert_eq!(body(&replies, "update/accepted")["version"], 2);
    let before = get(&shadows, 3).unwrap();
    let saved = shadows.clone();

    let small = r#"{"state":{"reported":{"c":1}},"clientToken":"tok"}"#;
    assert!(small.len() < 100);
    assert_eq!(
        rejected(&mut shadows, small),
        error_with_token(413, "The payload exceeds the maximum size allowed")
    );
    assert_eq!(shadows, saved);
    assert_eq!(get(&shadows, 3).unwrap(), before);
    // Making room works: a null removes a key, and the update is counted after merging.
    let replies = update(&mut shadows, r#"{"state":{"desired":{"b":null,"c":1}}}"#, 4);
    assert_eq!(body(&replies, "update/accepted")["version"], 3);
}

#[test]
fn a_payload_that_is_not_utf8_is_unsupported() {
    let mut shadows = Shadows::default();
    let replies = shadows.handle(
        "$aws/things/dev/shadow/update",
        b"{\"state\":{\"desired\":{\"a\":\"\xff\"}}}",
        9,
    );
    assert_eq!(
        body(&replies, "update/rejected"),
        error(
            415,
            "Unsupported documented encoding; supported encoding is UTF-8"
        )
    );
}

#[test]
fn refused_updates_change_nothing_and_publish_nothing_else() {
    let mut shadows = Shadows::default();
    update(&mut shadows, r#"{"state":{"desired":{"a":1}}}"#, 1);
    let saved = shadows.clone();
    for request in [
        "{oops",
        r#"{"state":{"desired":{"a":2}},"version":5}"#,
        r#"{"state":{"desired":{"a":2},"delta":{}}}"#,
        r#"{"state":{"desired":{"a":[null]}}}"#,
    ] {
        rejected(&mut shadows, request);
        assert_eq!(shadows, saved, "{request}");
    }
    assert_eq!(get(&shadows, 9).unwrap()["version"], 1);
}

#[test]
fn the_api_returns_the_error_and_publishes_nothing() {
    let mut shadows = Shadows::default();
    let error = shadows
        .update(
            THING,
            None,
            br#"{"state":{"desired":5},"clientToken":"tok"}"#,
            9,
        )
        .unwrap_err();
    assert_eq!(
        error,
        ShadowError {
            code: 400,
            message: "Desired node must be an object".into(),
            client_token: Some("tok".into()),
        }
    );
    assert_eq!(
        error.document(9),
        error_with_token(400, "Desired node must be an object")
    );
    for (thing, shadow, message) in [
        ("bad.thing", None, "Invalid thing name"),
        (THING, Some("bad name"), "Invalid shadow name"),
        (THING, Some(""), "Invalid shadow name"),
    ] {
        let error = shadows
            .update(thing, shadow, br#"{"state":{}}"#, 9)
            .unwrap_err();
        assert_eq!((error.code, error.message.as_str()), (400, message));
    }
    assert_eq!(shadows, Shadows::default());
}

//! Named shadows: their own topics, independent of the classic shadow and of each other,
//! listed by `list_named`.

use super::*;
use serde_json::json;

fn named(
    shadows: &mut Shadows,
    name: &str,
    op: &str,
    payload: &str,
    now: u64,
) -> Vec<Notification> {
    shadows.handle(
        &format!("$aws/things/{THING}/shadow/name/{name}/{op}"),
        payload.as_bytes(),
        now,
    )
}

#[test]
fn a_named_shadow_answers_on_its_own_topics() {
    let mut shadows = Shadows::default();
    let replies = named(
        &mut shadows,
        "cfg",
        "update",
        r#"{"state":{"desired":{"rate":5}}}"#,
        1,
    );
    let topics: Vec<&str> = replies.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        topics,
        [
            "$aws/things/dev/shadow/name/cfg/update/accepted",
            "$aws/things/dev/shadow/name/cfg/update/documents",
            "$aws/things/dev/shadow/name/cfg/update/delta",
        ]
    );
    assert_eq!(
        payload(&replies, "update/delta"),
        r#"{"version":1,"timestamp":1,"state":{"rate":5},"metadata":{"rate":{"timestamp":1}}}"#
    );
    let get = named(&mut shadows, "cfg", "get", "", 2);
    assert_eq!(get[0].0, "$aws/things/dev/shadow/name/cfg/get/accepted");
    let delete = named(&mut shadows, "cfg", "delete", "", 3);
    assert_eq!(
        delete,
        [(
            "$aws/things/dev/shadow/name/cfg/delete/accepted".to_owned(),
            r#"{"version":1,"timestamp":3}"#.to_owned()
        )]
    );
}

#[test]
fn named_and_classic_shadows_are_independent() {
    let mut shadows = Shadows::default();
    named(
        &mut shadows,
        "cfg",
        "update",
        r#"{"state":{"reported":{"a":1}}}"#,
        1,
    );
    named(
        &mut shadows,
        "cfg",
        "update",
        r#"{"state":{"reported":{"a":2}}}"#,
        2,
    );
    // The classic shadow does not exist yet.
    assert_eq!(
        body(&publish(&mut shadows, "get", "", 3), "get/rejected"),
        json!({"code": 404, "message": "No shadow exists with name: 'dev'", "timestamp": 3})
    );
    // Its first update is version 1, whatever the named shadows' versions.
    let replies = update(&mut shadows, r#"{"state":{"reported":{"a":9}}}"#, 4);
    assert_eq!(body(&replies, "update/accepted")["version"], 1);
    assert_eq!(
        shadows.get(THING, Some("cfg"), 5).unwrap()["state"],
        json!({"reported": {"a": 2}})
    );
    // A missing named shadow is named in the 404.
    assert_eq!(
        body(&named(&mut shadows, "other", "get", "", 6), "get/rejected"),
        json!({"code": 404, "message": "No shadow exists with name: 'other'", "timestamp": 6})
    );
    // Deleting one leaves the others.
    shadows.delete(THING, Some("cfg"), 7).unwrap();
    assert_eq!(get(&shadows, 8).unwrap()["version"], 1);
    assert_eq!(shadows.get(THING, Some("cfg"), 8).unwrap_err().code, 404);
}

#[test]
fn a_shadow_named_classic_is_not_the_classic_shadow() {
    let mut shadows = Shadows::default();
    update(
        &mut shadows,
        r#"{"state":{"reported":{"where":"unnamed"}}}"#,
        1,
    );
    named(
        &mut shadows,
        "classic",
        "update",
        r#"{"state":{"reported":{"where":"named"}}}"#,
        2,
    );
    assert_eq!(
        get(&shadows, 3).unwrap()["state"],
        json!({"reported": {"where": "unnamed"}})
    );
    assert_eq!(
        shadows.get(THING, Some("classic"), 3).unwrap()["state"],
        json!({"reported": {"where": "named"}})
    );
    assert_eq!(shadows.list_named(THING), ["classic"]);
}

#[test]
fn list_named_is_sorted_and_leaves_out_the_classic_and_deleted_shadows() {
    let mut shadows = Shadows::default();
    update(&mut shadows, r#"{"state":{}}"#, 1);
    for name in ["zeta", "Alpha", "beta", "gone", "a-1"] {
        shadows
            .update(THING, Some(name), br#"{"state":{}}"#, 1)
            .unwrap();
    }
    shadows
        .update("other", Some("x"), br#"{"state":{}}"#, 1)
        .unwrap();
    shadows.delete(THING, Some("gone"), 2).unwrap();
    assert_eq!(shadows.list_named(THING), ["Alpha", "a-1", "beta", "zeta"]);
    assert_eq!(shadows.list_named("other"), ["x"]);
    assert!(shadows.list_named("nobody").is_empty());
}

#[test]
fn topics_with_invalid_names_get_no_answer() {
    let mut shadows = Shadows::default();
    for topic in [
        "$aws/things/dev/shadow/name/bad.name/update",
        "$aws/things/dev/shadow/name//update",
        "$aws/things/bad.thing/shadow/update",
    ] {
        assert!(
            shadows
                .handle(topic, br#"{"state":{"desired":{"a":1}}}"#, 1)
                .is_empty(),
            "{topic}"
        );
    }
    assert_eq!(shadows, Shadows::default());
}

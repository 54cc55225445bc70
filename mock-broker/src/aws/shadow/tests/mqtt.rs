//! The broker service: which topics it takes, what it publishes, and `shadows.json`.

use super::*;
use crate::mqtt::hooks::{BrokerMessage, Service};
use serde_json::json;

#[test]
fn the_service_takes_requests_and_not_its_own_replies() {
    let service = ShadowService::new(None).unwrap();
    assert!(service.wants("$aws/things/dev/shadow/update"));
    assert!(service.wants("$aws/things/dev/shadow/name/cfg/get"));
    assert!(!service.wants("$aws/things/dev/shadow/update/accepted"));
    assert!(!service.wants("$aws/things/dev/shadow/name/cfg/update/delta"));
    assert!(!service.wants("dev/sensors"));
}

#[test]
fn the_service_answers_in_seconds_with_broker_messages() {
    let service = ShadowService::new(None).unwrap();
    let messages = service.on_message(
        "$aws/things/dev/shadow/update",
        br#"{"state":{"desired":{"toggle":1}}}"#,
        100_999,
    );
    let topics: Vec<&str> = messages.iter().map(|m| m.topic.as_str()).collect();
    assert_eq!(
        topics,
        [
            "$aws/things/dev/shadow/update/accepted",
            "$aws/things/dev/shadow/update/documents",
            "$aws/things/dev/shadow/update/delta",
        ]
    );
    assert_eq!(
        messages[2],
        BrokerMessage {
            topic: "$aws/things/dev/shadow/update/delta".into(),
            payload: br#"{"version":1,"timestamp":100,"state":{"toggle":1},"metadata":{"toggle":{"timestamp":100}}}"#.to_vec(),
        }
    );
    // The HTTP side sees the same shadows.
    assert_eq!(service.lock().get("dev", None, 101).unwrap()["version"], 1);
}

#[test]
fn shadows_survive_a_restart_in_the_state_dir() {
    let dir = tempfile::tempdir().unwrap();
    let service = ShadowService::new(Some(dir.path())).unwrap();
    service.on_message(
        "$aws/things/dev/shadow/update",
        br#"{"state":{"desired":{"toggle":1}}}"#,
        1_000,
    );
    {
        let mut shadows = service.lock();
        shadows
            .update("dev", Some("cfg"), br#"{"state":{"reported":{"a":1}}}"#, 2)
            .unwrap();
        shadows
            .update("dev", Some("gone"), br#"{"state":{"reported":{"a":1}}}"#, 2)
            .unwrap();
        shadows.delete("dev", Some("gone"), 3).unwrap();
    }
    service.stop();
    let saved = service.lock().clone();

    let again = ShadowService::new(Some(dir.path())).unwrap();
    assert_eq!(*again.lock(), saved);
    assert_eq!(again.lock().list_named("dev"), ["cfg"]);
    assert_eq!(
        again.lock().get("dev", None, 5).unwrap()["state"]["delta"],
        json!({"toggle": 1})
    );
    // The deleted shadow's version is remembered too.
    let update = again
        .lock()
        .update("dev", Some("gone"), br#"{"state":{}}"#, 4)
        .unwrap();
    assert_eq!(update.document["version"], 2);
}

#[test]
fn the_first_file_format_still_loads() {
    let dir = tempfile::tempdir().unwrap();
    let old = json!({"documents": {"dev": {
        "desired": {"toggle": 1},
        "reported": {},
        "desired_meta": {"toggle": {"timestamp": 7}},
        "reported_meta": {},
        "version": 3
    }}});
    std::fs::write(dir.path().join(SHADOWS_FILE), old.to_string()).unwrap();
    let service = ShadowService::new(Some(dir.path())).unwrap();
    assert_eq!(
        service.lock().get("dev", None, 8).unwrap(),
        json!({
            "state": {"desired": {"toggle": 1}, "delta": {"toggle": 1}},
            "metadata": {"desired": {"toggle": {"timestamp": 7}}},
            "version": 3,
            "timestamp": 8
        })
    );
}

#[test]
fn a_broken_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(SHADOWS_FILE), "{oops").unwrap();
    let error = ShadowService::new(Some(dir.path())).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
}

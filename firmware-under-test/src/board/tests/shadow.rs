//! The shadow delta: the toggle held on yellow and reported.

use super::*;

#[test]
fn a_shadow_delta_holds_yellow_and_is_reported() {
    let mut rig = Rig::new(provisioned());
    rig.connect();
    let topic = delta_topic(THING);
    let actions = rig.feed(Input::Publish {
        topic: &topic,
        payload: br#"{"version":3,"timestamp":1,"state":{"toggle":1},"metadata":{}}"#,
        qos: Qos::AtLeastOnce,
        pkid: 7,
    });
    assert!(has(&actions, &Action::MqttPubAck { pkid: 7 }));
    assert!(actions.iter().any(|a| matches!(a,
        Action::MqttPublish { topic, payload, .. }
            if topic.as_str() == std::format!("$aws/things/{THING}/shadow/update")
            && payload.as_str() == r#"{"state":{"reported":{"toggle":1}}}"#)));
    // Held on: telemetry no longer pulses it.
    let later = rig.run_until(5000);
    assert!(led_edges(&later, Led::Yellow).is_empty());
    assert!(rig.board.led(Led::Yellow));
    rig.feed(Input::Publish {
        topic: &topic,
        payload: br#"{"state":{"toggle":0}}"#,
        qos: Qos::AtMostOnce,
        pkid: 0,
    });
    assert!(!rig.board.led(Led::Yellow));
}

#[test]
fn toggle_is_found_like_the_microchip_parser_does() {
    assert_eq!(find_toggle(br#"{"state":{"toggle":12}}"#), Some(12));
    assert_eq!(
        find_toggle(br#"{"state":{"toggle": 1}}"#),
        None,
        "compact JSON only"
    );
    assert_eq!(find_toggle(br#"{"state":{}}"#), None);
}

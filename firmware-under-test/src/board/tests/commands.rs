//! The console: provisioning, bad input, information commands.

use super::*;

#[test]
fn without_credentials_red_lights_and_the_console_lists_what_is_missing() {
    let mut rig = Rig::new(Credentials::default());
    let actions = rig.feed(Input::Boot);
    assert!(has(
        &actions,
        &Action::SetLed {
            led: Led::Red,
            on: true
        }
    ));
    assert!(!has(&actions, &Action::JoinWifi));
    let text = rig.console();
    assert!(text.starts_with("HIL reference firmware"));
    assert!(text.contains("[W] missing credentials: cert, rootca, endpoint, wifi\r\n"));
    assert!(text.ends_with('\u{4}'));
}

#[test]
fn provisioning_over_the_console() {
    let mut rig = Rig::new(Credentials::default());
    rig.feed(Input::Boot);
    rig.console();
    let (_, csr) = rig.type_line("csr");
    assert_eq!(
        csr,
        "-----BEGIN CERTIFICATE REQUEST-----\r\nAAAA\r\n-----END CERTIFICATE REQUEST-----\r\n\u{4}"
    );

    rig.type_line("cert");
    rig.type_line("-----BEGIN CERTIFICATE-----");
    rig.type_line("GOOD");
    rig.type_line("-----END CERTIFICATE-----");
    let (actions, reply) = rig.type_line("");
    assert_eq!(reply, "OK\r\n\u{4}");
    assert!(has(&actions, &Action::SaveCredentials));

    for (cmd, lines) in [
        ("rootca", ["-----BEGIN CERTIFICATE-----", "root CA"]),
        ("signer", ["-----BEGIN CERTIFICATE-----", "signer CA"]),
    ] {
        rig.type_line(cmd);
        for l in lines {
            rig.type_line(l);
        }
        assert_eq!(rig.type_line("").1, "OK\r\n\u{4}");
    }
    assert_eq!(
        rig.type_line("endpoint broker.local:18883").1,
        "OK\r\n\u{4}"
    );
    assert_eq!(rig.type_line("wifi lab,secret").1, "OK\r\n\u{4}");
    assert!(rig.board.credentials().is_complete());
    assert_eq!(rig.type_line("thing").1, std::format!("{THING}\r\n\u{4}"));
    let (actions, reply) = rig.type_line("reset");
    assert_eq!(reply, "OK\r\n\u{4}");
    assert!(has(&actions, &Action::Reset));
}

#[test]
fn bad_certificates_are_refused_and_change_nothing() {
    let mut rig = Rig::new(provisioned());
    rig.feed(Input::Boot);
    rig.console();
    let before = rig.board.credentials().clone();
    for (body, error) in [
        ("not pem at all", "not a PEM certificate"),
        (
            "-----BEGIN CERTIFICATE-----\nOTHERKEY",
            "does not match the device key",
        ),
        ("-----BEGIN CERTIFICATE-----\n@@@@", "does not parse"),
    ] {
        rig.type_line("cert");
        for line in body.lines() {
            rig.type_line(line);
        }
        let (actions, reply) = rig.type_line("");
        assert!(
            reply.starts_with("ERROR: ") && reply.contains(error),
            "{reply}"
        );
        assert!(!has(&actions, &Action::SaveCredentials));
        assert_eq!(rig.board.credentials(), &before);
    }
    // A PEM block longer than the board can hold.
    rig.type_line("rootca");
    for _ in 0..40 {
        rig.type_line("CACACACACACACACACACACACACACACACACACACACACACACACACACACACACACACACA");
    }
    let (_, reply) = rig.type_line("");
    assert!(reply.contains("too long"), "{reply}");
    assert_eq!(rig.board.credentials(), &before);
}

#[test]
fn bad_console_input_gets_an_error_and_the_command_list() {
    let mut rig = Rig::new(provisioned());
    rig.feed(Input::Boot);
    rig.console();
    let (_, reply) = rig.type_line(&"x".repeat(400));
    assert_eq!(
        reply,
        "ERROR: line too long (at most 256 characters)\r\n\u{4}"
    );
    let reply = {
        rig.feed(Input::Console(b"\xde\xad\xbe\xef\r\n"));
        rig.console()
    };
    assert_eq!(reply, "ERROR: invalid characters in line\r\n\u{4}");
    let (_, reply) = rig.type_line("fly");
    assert!(reply.starts_with("ERROR: unknown command; commands:\r\n"));
    assert!(reply.contains("  endpoint <host>[:<port>]\r\n"));
    let (_, reply) = rig.type_line("endpoint :8883");
    assert_eq!(reply, "ERROR: usage: endpoint <host>[:<port>]\r\n\u{4}");
    assert!(rig.board.credentials().is_complete(), "nothing was lost");
}

#[test]
fn erase_forgets_the_credentials() {
    let mut rig = Rig::new(provisioned());
    rig.connect();
    rig.console();
    let (actions, reply) = rig.type_line("erase");
    assert_eq!(reply, "OK\r\n\u{4}");
    assert!(has(&actions, &Action::CloseTransport));
    assert!(has(&actions, &Action::SaveCredentials));
    assert!(has(
        &actions,
        &Action::SetLed {
            led: Led::Red,
            on: true
        }
    ));
    assert_eq!(rig.board.credentials(), &Credentials::default());
}

#[test]
fn info_commands_reply_and_debug_silences_logs() {
    let mut rig = Rig::new(provisioned());
    rig.feed(Input::Boot);
    rig.console();
    assert_eq!(rig.type_line("device").1, "0123EE0000000001\r\n\u{4}");
    assert_eq!(
        rig.type_line("version").1,
        std::format!("{}\r\n\u{4}", crate::FIRMWARE_VERSION)
    );
    assert_eq!(rig.type_line("cli_version").1, "2.0\r\n\u{4}");
    assert_eq!(rig.type_line("debug 0").1, "OK\r\n\u{4}");
    rig.feed(Input::WifiJoined);
    assert_eq!(rig.console(), "");
}

/// The retained publishes among `actions`: (topic, payload, pkid, dup, retain).
fn status_publishes(actions: &[Action]) -> Vec<(String, String, u16, bool, bool)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::MqttPublish {
                topic,
                payload,
                qos: Qos::AtLeastOnce,
                pkid,
                dup,
                retain,
            } if topic.ends_with("/status") => Some((
                String::from(topic.as_str()),
                String::from(payload.as_str()),
                *pkid,
                *dup,
                *retain,
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn status_publishes_the_status_retained_at_qos_1_and_resends_it_retained() {
    let mut rig = Rig::new(provisioned());
    rig.connect();
    rig.console();
    let (actions, reply) = rig.type_line("status");
    assert_eq!(
        reply,
        std::format!(
            "thing: {THING}\r\nconnected: true\r\ntelemetry_period_ms: 1000\r\nOK\r\n\u{4}"
        )
    );
    let sent = status_publishes(&actions);
    assert_eq!(sent.len(), 1, "{actions:?}");
    let (topic, payload, pkid, dup, retain) = &sent[0];
    assert_eq!(topic, &std::format!("{THING}/status"));
    assert_eq!(
        payload,
        &std::format!(
            r#"{{"firmware":"{}","telemetry_period_ms":1000,"telemetry_sent":1}}"#,
            crate::FIRMWARE_VERSION
        )
    );
    assert!(*retain && !*dup);
    // No PUBACK: resent with the same packet id, DUP, and still retained.
    let resent: Vec<Action> = rig
        .run_until(rig.now.millis() + Config::default().ack_timeout.millis())
        .into_iter()
        .map(|(_, a)| a)
        .collect();
    assert_eq!(
        status_publishes(&resent),
        [(topic.clone(), payload.clone(), *pkid, true, true)]
    );
}

#[test]
fn status_while_offline_prints_the_status_and_publishes_nothing() {
    let mut rig = Rig::new(provisioned());
    rig.feed(Input::Boot);
    rig.console();
    let (actions, reply) = rig.type_line("status");
    assert!(status_publishes(&actions).is_empty(), "{actions:?}");
    assert!(reply.contains("connected: false\r\n"), "{reply}");
    assert!(
        reply.ends_with("ERROR: not connected: status not published\r\n\u{4}"),
        "{reply}"
    );
}

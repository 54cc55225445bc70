//! The accounting fed with made-up events, as a JITR fleet produces them.

use super::*;

fn event(board: usize, t_ms: u64, kind: BoardEventKind) -> BoardEvent {
    BoardEvent {
        board: Some(board),
        t_ms,
        kind,
    }
}

fn thing(board: usize) -> String {
    format!("{board:040x}")
}

fn certificate(board: usize) -> String {
    format!("{board:064x}")
}

/// A fleet of `n` identified boards.
fn fleet(n: usize) -> Accounting {
    let mut accounting = Accounting::new(n);
    for board in 0..n {
        accounting.identify(board, &thing(board), &certificate(board));
    }
    accounting
}

/// The TCP port (and the broker's connection id) of `board`'s attempt `attempt`.
fn port(board: usize, attempt: u32) -> u16 {
    10_000 + 10 * board as u16 + attempt as u16
}

/// `board`'s attempt `attempt` reaches TLS, as the board and the broker report it.
fn tls_up(accounting: &mut Accounting, board: usize, attempt: u32, t: u64) {
    accounting.record(&event(board, t, BoardEventKind::Connecting { attempt }));
    accounting.record(&event(
        board,
        t,
        BoardEventKind::TlsUp {
            port: Some(port(board, attempt)),
        },
    ));
    accounting.observe(&BrokerObservation::Accepted {
        conn: u64::from(port(board, attempt)),
        port: port(board, attempt),
    });
}

/// The broker closes `board`'s attempt `attempt` for `reason`.
fn refused(board: usize, attempt: u32, reason: &str) -> BrokerObservation {
    BrokerObservation::Refused {
        conn: u64::from(port(board, attempt)),
        client_id: thing(board),
        reason: reason.into(),
    }
}

fn closed_by_server() -> BoardEventKind {
    BoardEventKind::Closed {
        reason: "closed by the server".into(),
        connected: false,
    }
}

const JITR: &str = "JITR: certificate registered as PENDING_ACTIVATION";

/// Board `board` through JITR, as the fleet process and the broker report it: powered on
/// at `on`, refused at its first CONNECT (registration), connected and sending telemetry
/// at `on + took`.
fn through_jitr(accounting: &mut Accounting, board: usize, on: u64, took: u64) {
    accounting.record(&event(board, on, BoardEventKind::PowerOn));
    tls_up(accounting, board, 1, on + 1);
    accounting.observe(&BrokerObservation::Registered {
        certificate_id: certificate(board),
    });
    accounting.observe(&refused(board, 1, JITR));
    accounting.record(&event(board, on + 3, closed_by_server()));
    tls_up(accounting, board, 2, on + 4);
    accounting.record(&event(
        board,
        on + took - 1,
        BoardEventKind::Connack { accepted: true },
    ));
    accounting.record(&event(board, on + took, BoardEventKind::FirstTelemetry));
    accounting.observe(&BrokerObservation::Telemetry {
        client_id: thing(board),
    });
}

#[test]
fn ten_boards_through_jitr_are_ten_registrations_and_ten_first_telemetries() {
    let mut accounting = fleet(10);
    for board in 0..10 {
        through_jitr(&mut accounting, board, 100, 1000 + 100 * board as u64);
    }
    assert!(accounting.settled());
    let tally = accounting.tally();
    assert_eq!(tally.boards, 10);
    assert_eq!(tally.provisioned, 10);
    assert_eq!(tally.powered_on, 10);
    assert_eq!(tally.connected, 10);
    assert_eq!(tally.reached_telemetry, 10);
    assert_eq!(tally.failed, 0);
    assert!(tally.failures_by_cause.is_empty());
    assert_eq!(tally.registration_events, 10);
    assert_eq!(tally.certificates_registered, 10);
    assert_eq!(tally.telemetry_messages, 10);
    assert_eq!((tally.attempts, tally.max_attempts), (20, 2));
    // Each board's first attempt is counted with the broker's reason, not the board's.
    assert_eq!(
        tally.attempt_failures_by_cause,
        BTreeMap::from([(JITR.to_owned(), 10)])
    );
    let times = tally.time_to_first_telemetry.unwrap();
    assert_eq!(
        (times.min_ms, times.p50_ms, times.max_ms),
        (1000, 1400, 1900)
    );
    assert_eq!(times.count, 10);
    let connected = tally.time_to_connected.unwrap();
    assert_eq!(connected.min_ms, 999);
}

#[test]
fn a_board_refused_by_the_broker_fails_with_the_brokers_reason() {
    let mut accounting = fleet(3);
    through_jitr(&mut accounting, 0, 0, 500);
    through_jitr(&mut accounting, 1, 0, 600);
    accounting.record(&event(2, 0, BoardEventKind::PowerOn));
    for attempt in 1..=3 {
        tls_up(&mut accounting, 2, attempt, 10 * u64::from(attempt));
        let reason = format!("certificate is REVOKED ({})", certificate(2));
        accounting.observe(&refused(2, attempt, &reason));
        accounting.record(&event(2, 10 * u64::from(attempt) + 5, closed_by_server()));
    }
    assert!(!accounting.settled(), "a refused board keeps trying");
    let tally = accounting.tally();
    assert_eq!((tally.reached_telemetry, tally.failed), (2, 1));
    assert_eq!(
        tally.failures_by_cause,
        BTreeMap::from([("certificate is REVOKED (…)".to_owned(), 1)])
    );
    assert_eq!(
        tally.attempt_failures_by_cause["certificate is REVOKED (…)"],
        3
    );
    assert_eq!(tally.time_to_first_telemetry.unwrap().count, 2);
}

#[test]
fn without_the_brokers_word_a_failure_is_what_the_board_saw() {
    let mut accounting = fleet(2);
    accounting.record(&event(0, 0, BoardEventKind::PowerOn));
    accounting.record(&event(0, 1, BoardEventKind::Connecting { attempt: 1 }));
    accounting.record(&event(
        0,
        2,
        BoardEventKind::GaveUp {
            reason: "TLS not up within the connect timeout".into(),
        },
    ));
    accounting.record(&event(1, 0, BoardEventKind::PowerOn));
    accounting.record(&event(1, 1, BoardEventKind::Connecting { attempt: 1 }));
    accounting.record(&event(
        1,
        2,
        BoardEventKind::TransportFailed {
            reason: "TLS: invalid peer certificate: UnknownIssuer".into(),
            fatal: true,
        },
    ));
    assert!(!accounting.settled(), "board 0 retries");
    let tally = accounting.tally();
    assert_eq!(
        tally.failures_by_cause,
        BTreeMap::from([
            (
                "connect failed: TLS: invalid peer certificate: UnknownIssuer".to_owned(),
                1
            ),
            ("TLS not up within the connect timeout".to_owned(), 1),
        ])
    );
}

#[test]
fn a_refusal_without_a_port_belongs_to_the_attempt_it_came_in_and_not_to_the_next() {
    let mut accounting = fleet(1);
    accounting.record(&event(0, 0, BoardEventKind::PowerOn));
    accounting.record(&event(0, 1, BoardEventKind::Connecting { attempt: 1 }));
    accounting.observe(&BrokerObservation::Refused {
        conn: 77,
        client_id: thing(0),
        reason: "certificate is PENDING_ACTIVATION".into(),
    });
    accounting.record(&event(0, 2, BoardEventKind::Connecting { attempt: 2 }));
    accounting.record(&event(
        0,
        3,
        BoardEventKind::Closed {
            reason: "read: connection reset".into(),
            connected: false,
        },
    ));
    assert_eq!(
        accounting.boards()[0].last_failure.as_deref(),
        Some("closed before CONNACK: read: connection reset")
    );
}

#[test]
fn a_refusal_read_after_the_boards_next_attempt_goes_to_the_attempt_at_its_port() {
    let mut accounting = fleet(1);
    accounting.record(&event(0, 0, BoardEventKind::PowerOn));
    // The board's side of attempt 1, its close, and attempt 2 under way...
    accounting.record(&event(0, 1, BoardEventKind::Connecting { attempt: 1 }));
    accounting.record(&event(
        0,
        1,
        BoardEventKind::TlsUp {
            port: Some(port(0, 1)),
        },
    ));
    accounting.record(&event(0, 2, closed_by_server()));
    accounting.record(&event(0, 3, BoardEventKind::Connecting { attempt: 2 }));
    accounting.record(&event(
        0,
        3,
        BoardEventKind::TlsUp {
            port: Some(port(0, 2)),
        },
    ));
    // ...before the broker's word on attempt 1.
    accounting.observe(&BrokerObservation::Accepted {
        conn: 1,
        port: port(0, 1),
    });
    accounting.observe(&BrokerObservation::Refused {
        conn: 1,
        client_id: thing(0),
        reason: JITR.into(),
    });
    assert_eq!(
        accounting.tally().attempt_failures_by_cause,
        BTreeMap::from([(JITR.to_owned(), 1)])
    );
    assert_eq!(accounting.boards()[0].last_failure.as_deref(), Some(JITR));
}

#[test]
fn a_refusal_read_before_the_board_says_which_port_waits_for_it() {
    let mut accounting = fleet(1);
    accounting.record(&event(0, 0, BoardEventKind::PowerOn));
    accounting.record(&event(0, 1, BoardEventKind::Connecting { attempt: 1 }));
    accounting.observe(&BrokerObservation::Accepted {
        conn: 5,
        port: port(0, 1),
    });
    accounting.observe(&BrokerObservation::Refused {
        conn: 5,
        client_id: thing(0),
        reason: JITR.into(),
    });
    accounting.record(&event(
        0,
        1,
        BoardEventKind::TlsUp {
            port: Some(port(0, 1)),
        },
    ));
    accounting.record(&event(0, 2, closed_by_server()));
    let tally = accounting.tally();
    assert_eq!(
        tally.attempt_failures_by_cause,
        BTreeMap::from([(JITR.to_owned(), 1)])
    );
    assert_eq!(
        tally.failures_by_cause,
        BTreeMap::from([(JITR.to_owned(), 1)])
    );
}

#[test]
fn provisioning_failures_and_boards_never_powered_on_are_failures_with_their_cause() {
    let mut accounting = fleet(3);
    accounting.provisioning_failed(0, "the board reports thing abc, not def");
    accounting.record(&event(
        1,
        0,
        BoardEventKind::ProvisionFailed {
            command: "cert".into(),
            reply: "ERROR: the certificate does not match the device key".into(),
        },
    ));
    through_jitr(&mut accounting, 2, 0, 100);
    assert!(accounting.settled(), "provisioning failures are final");
    let tally = accounting.tally();
    assert_eq!(tally.failed, 2);
    assert_eq!(tally.provisioned, 1);
    assert_eq!(
        tally.failures_by_cause.keys().collect::<Vec<_>>(),
        [
            "provisioning: cert: ERROR: the certificate does not match the device key",
            "provisioning: the board reports thing abc, not def",
        ]
    );
    let mut unpowered = fleet(1);
    assert_eq!(
        unpowered.tally().failures_by_cause,
        BTreeMap::from([("not powered on".to_owned(), 1)])
    );
    unpowered.record(&event(0, 0, BoardEventKind::PowerOn));
    assert_eq!(
        unpowered.tally().failures_by_cause,
        BTreeMap::from([("never tried to connect".to_owned(), 1)])
    );
}

#[test]
fn observations_of_other_clients_and_lines_of_other_boards_are_not_counted() {
    let mut accounting = fleet(1);
    accounting.observe(&BrokerObservation::Registered {
        certificate_id: "someone-else".into(),
    });
    accounting.observe(&BrokerObservation::Telemetry {
        client_id: "someone-else".into(),
    });
    accounting.record(&event(7, 0, BoardEventKind::FirstTelemetry));
    accounting.record(&BoardEvent {
        board: None,
        t_ms: 0,
        kind: BoardEventKind::Ready { boards: 1 },
    });
    let tally = accounting.tally();
    assert_eq!(
        (
            tally.registration_events,
            tally.telemetry_messages,
            tally.reached_telemetry
        ),
        (0, 0, 0)
    );
}

#[test]
fn ids_in_causes_are_grouped_and_short_hex_is_kept() {
    assert_eq!(
        group("the issuing CA 3f2a9c0d1e2b3c4d5e6f708192a3b4c5 is INACTIVE"),
        "the issuing CA … is INACTIVE"
    );
    assert_eq!(
        group("CONNACK BadUserNamePassword"),
        "CONNACK BadUserNamePassword"
    );
    assert_eq!(group("port 8883 at 0xbeef"), "port 8883 at 0xbeef");
}

#[test]
fn a_line_of_fleet_board_decodes_and_an_unknown_event_is_kept_as_unknown() {
    let line = r#"{"board":3,"t_ms":1500,"event":"closed","reason":"closed by the server","connected":false}"#;
    assert_eq!(
        BoardEvent::parse(line).unwrap(),
        event(
            3,
            1500,
            BoardEventKind::Closed {
                reason: "closed by the server".into(),
                connected: false
            }
        )
    );
    let newer = r#"{"board":3,"t_ms":1,"event":"something_new","x":1}"#;
    assert_eq!(
        BoardEvent::parse(newer).unwrap().kind,
        BoardEventKind::Unknown
    );
    let ready = r#"{"t_ms":9,"event":"ready","boards":2,"speed":1.0}"#;
    assert_eq!(
        BoardEvent::parse(ready).unwrap(),
        BoardEvent {
            board: None,
            t_ms: 9,
            kind: BoardEventKind::Ready { boards: 2 }
        }
    );
}

#[test]
fn a_refusal_seen_after_the_boards_own_close_still_gives_the_cause() {
    let mut accounting = fleet(1);
    accounting.record(&event(0, 0, BoardEventKind::PowerOn));
    tls_up(&mut accounting, 0, 1, 1);
    accounting.record(&event(0, 2, closed_by_server()));
    accounting.observe(&refused(0, 1, "certificate is REVOKED"));
    let tally = accounting.tally();
    assert_eq!(
        tally.attempt_failures_by_cause,
        BTreeMap::from([("certificate is REVOKED".to_owned(), 1)])
    );
    assert_eq!(
        tally.failures_by_cause,
        BTreeMap::from([("certificate is REVOKED".to_owned(), 1)])
    );
    assert_eq!(accounting.counts().failed_attempts, 1);
    // A second close of that attempt changes nothing; the next attempt starts afresh:
    // its failure is the board's again.
    accounting.observe(&refused(0, 1, "certificate is REVOKED"));
    assert_eq!(accounting.counts().failed_attempts, 1);
    accounting.record(&event(0, 3, BoardEventKind::Connecting { attempt: 2 }));
    accounting.record(&event(
        0,
        4,
        BoardEventKind::GaveUp {
            reason: "TLS not up within the connect timeout".into(),
        },
    ));
    assert_eq!(accounting.tally().attempt_failures_by_cause.len(), 2);
}

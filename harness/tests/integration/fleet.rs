//! Fleet mode's accounting on a small fleet: `fleet-board` with 10 boards against the
//! default rig's embedded broker, counted to their first telemetry; and a board whose
//! certificate was revoked, counted as failed with the broker's reason.

use harness::fleet::{Fleet, FleetOptions};
use harness::provision::ProvisionMode;
use harness::rig::{Rig, workspace_root};
use mock_broker::aws::registry::CertificateStatus;
use std::time::Duration;

/// The default rig (speed 500, zero-touch activation), whatever `HIL_RIG` says: the fleet
/// needs its embedded broker.
fn default_rig() -> Rig {
    Rig::load(&workspace_root().join("scenarios/rigs/emulated.toml")).unwrap()
}

/// Wall time a whole test may take: a safety net, the run ends when the fleet is done.
const SAFETY_NET: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_boards_through_jitr_are_counted_to_their_first_telemetry() {
    let rig = default_rig();
    let options = FleetOptions {
        // Board time at the rig's speed (500): 2 h is 14 s of wall time at most; the run
        // ends as soon as every board has sent telemetry.
        within: Duration::from_secs(7200),
        ..FleetOptions::new(10)
    };
    let report = tokio::time::timeout(SAFETY_NET, async {
        let mut fleet = Fleet::start(&rig, options).await.unwrap();
        let boards = fleet.provision().await.unwrap();
        assert_eq!(boards.len(), 10);
        fleet.run().await.unwrap()
    })
    .await
    .expect("the fleet run ended");
    let tally = &report.tally;
    assert_eq!(report.mode, "jitr");
    assert_eq!(report.speed, 500.0);
    assert_eq!(
        (tally.boards, tally.provisioned, tally.powered_on),
        (10, 10, 10)
    );
    assert_eq!(tally.reached_telemetry, 10, "{}", report.summary());
    assert_eq!(tally.failed, 0, "{}", report.summary());
    assert!(tally.failures_by_cause.is_empty());
    assert_eq!(tally.certificates_registered, 10, "{}", report.summary());
    assert!(tally.registration_events >= 10);
    assert_eq!(report.activations, 10);
    assert!(tally.telemetry_messages >= 10);
    // Every board's first CONNECT is refused by JITR, which the broker says.
    assert_eq!(
        tally.attempt_failures_by_cause["JITR: certificate registered as PENDING_ACTIVATION"],
        10,
        "{}",
        report.summary()
    );
    assert!(tally.attempts >= 20);
    let times = tally.time_to_first_telemetry.as_ref().unwrap();
    assert_eq!(times.count, 10);
    // The Wi-Fi join alone takes 1.5 s of board time.
    assert!(times.min_ms >= 1500, "{times:?}");
    assert!(times.p50_ms <= times.p90_ms && times.p90_ms <= times.max_ms);
    assert_eq!(times.histogram.iter().map(|b| b.count).sum::<usize>(), 10);
    assert_eq!(report.tap_events_lost, 0);
    assert!(report.fleet_process.peak_rss_per_board_bytes > 0);
    assert!(report.wall.all_first_telemetry_ms.is_some());
    assert_eq!(report.per_board.len(), 10);
    assert!(
        report
            .per_board
            .iter()
            .all(|b| b.registered && b.thing.is_some())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_whose_certificate_was_revoked_is_a_failure_with_the_brokers_reason() {
    let rig = default_rig();
    let options = FleetOptions {
        mode: ProvisionMode::Preregistered,
        // 20 times real time: the revoked board backs off and retries for 30 s of board
        // time (1.5 s of wall time), the others connect in about 2 s of board time.
        speed: Some(20.0),
        within: Duration::from_secs(30),
        ..FleetOptions::new(4)
    };
    let report = tokio::time::timeout(SAFETY_NET, async {
        let mut fleet = Fleet::start(&rig, options).await.unwrap();
        let revoked = fleet.provision().await.unwrap()[0].certificate_id.clone();
        fleet
            .broker()
            .set_certificate_status(&revoked, CertificateStatus::Revoked)
            .unwrap();
        fleet.run().await.unwrap()
    })
    .await
    .expect("the fleet run ended");
    let tally = &report.tally;
    assert_eq!(
        (tally.reached_telemetry, tally.failed),
        (3, 1),
        "{}",
        report.summary()
    );
    assert_eq!(
        tally.failures_by_cause.iter().collect::<Vec<_>>(),
        [(&"certificate is REVOKED".to_owned(), &1)],
        "{}",
        report.summary()
    );
    assert!(report.per_board[0].first_telemetry_ms.is_none());
    assert!(report.per_board[0].attempts >= 2, "it retried");
    assert!(
        tally.attempt_failures_by_cause["certificate is REVOKED"] >= 2,
        "{}",
        report.summary()
    );
    // Pre-registered: nothing for JITR to do.
    assert_eq!((tally.registration_events, report.activations), (0, 0));
}

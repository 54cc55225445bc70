//! Boards provisioned in different modes on one rig share the signer CA, as the devices of
//! a real account do: provisioning one board never takes away what another needs, one
//! after the other or at once in a `parallel` block.

use crate::support::ENDPOINT;
use harness::broker::embedded::{EmbeddedBroker, EmbeddedOptions, JITP_TEMPLATE, SignerNeeds};
use harness::pki::TestPki;
use harness::rig::Rig;
use harness::runner::{Outcome, Quiet, Runner};
use harness::scenario::Scenario;
use harness::timeline::Timeline;
use std::sync::Arc;

/// A rig of three emulated boards at speed 5 (JITR's reconnection comes quickly) and the
/// embedded broker with Microchip's zero-touch rule, its PKI in `dir`.
fn rig(dir: &std::path::Path) -> Rig {
    let text = format!(
        r#"
speed = 5

[broker]
kind = "embedded"
endpoint = "{ENDPOINT}"
zero_touch_ms = 200

[pki]
dir = "pki"

[wifi.lab]
ssid = "hil-lab"
password = "hil-lab-password"

[boards.a]
kind = "emulated"

[boards.b]
kind = "emulated"

[boards.c]
kind = "emulated"
"#
    );
    let path = dir.join("rig.toml");
    std::fs::write(&path, &text).unwrap();
    Rig::parse(&path, &text).unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)))
}

/// Runs the scenario `text` on the three-board rig; panics with the report unless it passed.
async fn passes(text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.toml");
    let scenario =
        Scenario::parse(&path, text).unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)));
    let runner = Runner::new(rig(dir.path())).with_output_root(dir.path().join("out"));
    let report = runner.run(&scenario, &Quiet).await;
    match report.outcome {
        Outcome::Passed => {}
        Outcome::Skipped(reason) => panic!("skipped: {reason}"),
        Outcome::Failed(failure) => panic!("{failure}"),
        Outcome::Interrupted(stop) => panic!("interrupted: {stop}"),
    }
}

/// Issue #14's example: pre-registering board `b` used to re-register the CA with
/// auto-registration off, so board `a`'s certificate was never registered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preregistered_board_leaves_a_jitr_board_its_auto_registration() {
    passes(
        r#"
name = "jitr, then preregistered"
boards = ["a", "b"]

[[step]]
provision = { board = "a", mode = "jitr" }

[[step]]
provision = { board = "b", mode = "preregistered" }

[[step]]
expect_message = { topic = "$aws/events/certificates/registered/{ca.id}", within = "20s", json = { certificateStatus = "PENDING_ACTIVATION" } }

[[step]]
expect_message = { topic = "{a.thing}/sensors", within = "20s" }

[[step]]
expect_message = { topic = "{b.thing}/sensors", within = "20s" }
"#,
    )
    .await;
}

/// The three modes at once: the provisioning steps race on the registries, and every
/// board ends up streaming (the `jitr` board is provisioned by the JITP template if it
/// connects after the template is on the CA, by JITR and the zero-touch rule before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_boards_provisioned_at_once_in_three_modes_all_stream() {
    passes(
        r#"
name = "three modes in one parallel block"
boards = ["a", "b", "c"]

[[step]]
parallel = [
    { provision = { board = "a", mode = "jitr" } },
    { provision = { board = "b", mode = "jitp" } },
    { provision = { board = "c", mode = "preregistered" } },
]

[[step]]
parallel = [
    { expect_message = { topic = "{a.thing}/sensors", within = "30s" } },
    { expect_message = { topic = "{b.thing}/sensors", within = "30s" } },
    { expect_message = { topic = "{c.thing}/sensors", within = "30s" } },
]
"#,
    )
    .await;
}

/// The signer CA as the control plane has it: (auto-registration, template).
fn signer_settings(broker: &EmbeddedBroker, id: &str) -> (bool, Option<String>) {
    broker.control_plane().read(|reg| {
        let ca = reg.ca(id).unwrap();
        (ca.auto_registration, ca.template_body.clone())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preparing_the_signer_only_adds_and_races_safely() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Arc::new(TestPki::open(dir.path(), &[ENDPOINT, "127.0.0.1"], false).unwrap());
    let options = EmbeddedOptions::new(ENDPOINT, "127.0.0.1:0".parse().unwrap());
    let broker = Arc::new(
        EmbeddedBroker::start(&options, pki.clone(), Timeline::new())
            .await
            .unwrap(),
    );
    let id = pki.signer.id().unwrap();

    // Eight steps at once, in every mode, on a broker without the CA: each registers it
    // if nobody has yet, none fails on another's registration, and the result has all
    // that any of them needs.
    let needs = [
        SignerNeeds::Registration,
        SignerNeeds::AutoRegistration,
        SignerNeeds::Template,
        SignerNeeds::Registration,
    ];
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let broker = broker.clone();
            std::thread::spawn(move || broker.prepare_signer(needs[i % needs.len()]))
        })
        .collect();
    for racer in racers {
        assert_eq!(racer.join().unwrap().unwrap(), id);
    }
    assert_eq!(broker.control_plane().read(|reg| reg.cas().count()), 1);
    assert_eq!(
        signer_settings(&broker, &id),
        (true, Some(JITP_TEMPLATE.to_owned()))
    );

    // A `ca` step turns auto-registration off; pre-registering leaves it off, JITR turns
    // it back on, and the template stays through it all.
    broker.update_signer(None, Some(false)).unwrap();
    broker.prepare_signer(SignerNeeds::Registration).unwrap();
    assert_eq!(
        signer_settings(&broker, &id),
        (false, Some(JITP_TEMPLATE.to_owned()))
    );
    broker
        .prepare_signer(SignerNeeds::AutoRegistration)
        .unwrap();
    assert_eq!(
        signer_settings(&broker, &id),
        (true, Some(JITP_TEMPLATE.to_owned()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_keeps_the_status_a_ca_step_gave_the_signer() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Arc::new(TestPki::open(dir.path(), &[ENDPOINT, "127.0.0.1"], false).unwrap());
    let options = EmbeddedOptions::new(ENDPOINT, "127.0.0.1:0".parse().unwrap());
    let broker = EmbeddedBroker::start(&options, pki.clone(), Timeline::new())
        .await
        .unwrap();
    let id = broker.register_signer_as(false, false, None).unwrap();
    broker.prepare_signer(SignerNeeds::Template).unwrap();
    let (status, auto) = broker.control_plane().read(|reg| {
        let ca = reg.ca(&id).unwrap();
        (ca.status, ca.auto_registration)
    });
    assert_eq!(
        (status, auto),
        (mock_broker::aws::registry::CaStatus::Inactive, true)
    );
}

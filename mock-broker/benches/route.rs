//! Routing with many sessions: the core's cost per PUBLISH when a fleet is connected.
//!
//! Builds a [`Core`] with BOARDS sessions (default 1000), each subscribed the way the
//! reference firmware subscribes (its shadow delta, its Jobs topics, a command filter with
//! `#`), plus one observer on `+/sensors`, then has every board publish telemetry on
//! `<thing>/sensors` in turn (QoS 0, one delivery each, to the observer) and prints PUBLISHes
//! handled per second by the core. For comparison it also times what routing did before the
//! subscription index: matching every session's filters against each topic.
//!
//! `cargo bench -p mock-broker --bench route [-- BOARDS [MESSAGES]]`

use bytes::Bytes;
use mock_broker::mqtt::core::{Action, Core, CoreConfig};
use mock_broker::mqtt::hooks::{AllowAll, ClientIdentity};
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::{Connect, Packet, Publish, Subscribe, SubscribeFilter};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn thing(n: u64) -> String {
    format!("{n:040x}")
}

fn connect(core: &mut Core, conn: u64, client_id: &str, filters: Vec<SubscribeFilter>) {
    core.open(
        conn,
        Duration::ZERO,
        ClientIdentity::with_id(format!("cert-{conn}")),
    );
    let mut connect = Connect::new(client_id);
    connect.keep_alive = 1200;
    core.handle_packet(conn, Duration::ZERO, Packet::Connect(connect));
    let subscribe = Subscribe::new_many(filters);
    core.handle_packet(conn, Duration::ZERO, Packet::Subscribe(subscribe));
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .filter_map(|a| a.parse::<u64>().ok());
    let boards = args.next().unwrap_or(1000);
    let messages = args.next().unwrap_or(200_000);

    let config = CoreConfig {
        lifecycle_events: false,
        ..CoreConfig::default()
    };
    let mut core = Core::new(config, Arc::new(AllowAll));
    let observer = boards + 1;
    connect(
        &mut core,
        observer,
        "observer",
        vec![SubscribeFilter::new("+/sensors".into(), QoS::AtMostOnce)],
    );
    for n in 0..boards {
        let t = thing(n);
        let filters = [
            format!("$aws/things/{t}/shadow/update/delta"),
            format!("$aws/things/{t}/jobs/notify-next"),
            format!("$aws/things/{t}/jobs/+/get/+"),
            format!("{t}/commands/#"),
        ]
        .into_iter()
        .map(|f| SubscribeFilter::new(f, QoS::AtLeastOnce))
        .collect();
        connect(&mut core, n, &t, filters);
    }
    let topics: Vec<String> = (0..boards)
        .map(|n| format!("{}/sensors", thing(n)))
        .collect();
    let payload = Bytes::from_static(br#"{"Light":120,"Temp":21.50}"#);

    // The core, index and all: PUBLISH in, tap events and the delivery out.
    let start = Instant::now();
    let mut delivered = 0usize;
    for i in 0..messages {
        let n = i % boards;
        let publish = Publish::from_bytes(&topics[n as usize], QoS::AtMostOnce, payload.clone());
        let actions = core.handle_packet(n, Duration::ZERO, Packet::Publish(publish));
        delivered += actions
            .iter()
            .filter(|a| matches!(a, Action::Send { conn, .. } if *conn == observer))
            .count();
    }
    let core_rate = messages as f64 / start.elapsed().as_secs_f64();
    assert_eq!(
        delivered as u64, messages,
        "each message reaches the observer once"
    );

    // What routing did before the index: every session's filters against the topic.
    let linear_messages = (messages / 50).max(boards);
    let start = Instant::now();
    let mut matched = 0usize;
    for i in 0..linear_messages {
        let topic = &topics[(i % boards) as usize];
        matched += core
            .sessions()
            .values()
            .filter(|s| black_box(s.matching_qos(topic)).is_some())
            .count();
    }
    let linear_rate = linear_messages as f64 / start.elapsed().as_secs_f64();
    assert_eq!(matched as u64, linear_messages);

    println!(
        "route: {boards} boards x 4 filters + 1 observer, {messages} QoS 0 PUBLISHes of telemetry"
    );
    println!("  core (index, tap events, delivery): {core_rate:>12.0} PUBLISH/s");
    println!(
        "  matching every session's filters:   {linear_rate:>12.0} topics/s (before the index)"
    );
}

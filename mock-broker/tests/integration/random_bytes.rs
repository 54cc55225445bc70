//! A bounded random test: connections that send random bytes after a valid handshake never
//! disturb a client that keeps publishing, and leave nothing behind.

use crate::support::TestBroker;
use rumqttc::QoS;
use rumqttc::mqttbytes::v4::{Connect, Packet};

/// xorshift64*: a tiny seeded generator, so a failure can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = 1 + (self.next() as usize) % max;
        (0..len).map(|_| self.next() as u8).collect()
    }
}

const SEED: u64 = 0x5eed_f00d_b10c;
const ROUNDS: usize = 60;

#[tokio::test]
async fn random_bytes_after_the_handshake_do_not_disturb_others() {
    let t = TestBroker::start().await;
    let mut sub = t.client("steady-sub");
    sub.connected().await;
    sub.subscribe("steady/data", QoS::AtLeastOnce).await;
    let mut publisher = t.client("steady-pub");
    publisher.connected().await;

    let mut rng = Rng(SEED);
    for round in 0..ROUNDS {
        let mut raw = if round % 2 == 0 {
            t.raw().await
        } else {
            let mut raw = t.raw().await;
            raw.send(Packet::Connect(Connect::new(format!("fuzz-{round}"))))
                .await;
            raw
        };
        let noise = rng.bytes(512);
        raw.send_bytes(&noise).await;
        raw.drop_connection().await;

        let payload = format!("tick {round}");
        publisher
            .client
            .publish("steady/data", QoS::AtLeastOnce, false, payload.clone())
            .await
            .unwrap();
        let got = sub.message().await;
        assert_eq!(
            got.payload,
            payload.as_bytes(),
            "seed {SEED:#x}, round {round}"
        );
    }
    // Every noisy connection is gone; the two steady clients remain.
    let mut tap = t.broker.tap();
    while t.broker.connection_count() > 2 {
        tap.wait_for(crate::support::WAIT, |e| {
            matches!(e, mock_broker::EventKind::Closed { .. })
        })
        .await
        .expect("noisy connections are closed");
    }
    assert_eq!(t.broker.connection_count(), 2);
}

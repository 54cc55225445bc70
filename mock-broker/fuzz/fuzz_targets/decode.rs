//! Fuzzes packet framing and the broker core: arbitrary bytes are framed with the broker's
//! codec, and every packet that decodes is fed to a core as if it came from a client.
//! Run with `cargo +nightly fuzz run decode` from `mock-broker/`.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mock_broker::mqtt::core::{Core, CoreConfig};
use mock_broker::mqtt::hooks::{AllowAll, ClientIdentity};
use std::sync::Arc;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let mut core = Core::new(CoreConfig::default(), Arc::new(AllowAll));
    let identity = ClientIdentity {
        certificate_id: "fuzz".into(),
        superuser: false,
    };
    core.open(1, Duration::ZERO, identity);
    let mut buf = BytesMut::from(data);
    let mut now = Duration::ZERO;
    while let Ok(Some(packet)) = mock_broker::mqtt::codec::decode(&mut buf) {
        now += Duration::from_millis(1);
        let _ = core.handle_packet(1, now, packet);
    }
    let _ = core.handle_close(1, now, mock_broker::CloseReason::ConnectionLost);
});

//! Test helpers shared by the probe-rs backend's tests.

use super::attach;
use probe_rs::Session;
use probe_rs::probe::Probe;
use probe_rs::probe::fake_probe::FakeProbe;

/// A session on probe-rs's fake probe, attached to a chip it mocks.
pub(crate) fn fake_session() -> Session {
    let probe = Probe::from_specific_probe(Box::new(FakeProbe::with_mocked_core()));
    attach(probe, "STM32F411RETx").expect("the fake probe attaches")
}

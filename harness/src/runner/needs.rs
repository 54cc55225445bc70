//! What a scenario needs from the rig's broker beyond MQTT, step by step, so a scenario
//! that a broker cannot run is skipped with the reason instead of failing.

use crate::broker::BrokerCapabilities;
use crate::scenario::{ClientIdentity, Mode, PublishVia, Scenario, Step};

/// A broker capability a step needs, and why, in words for the skip reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// AWS IoT's control plane: registries, JITR, policies, lifecycle events, shadow.
    ControlPlane(&'static str),
    /// Fault injection.
    Faults,
    /// Every packet and connection event.
    Tap,
    /// A restart with state kept.
    Restart,
}

impl Need {
    /// Does a broker with `capabilities` meet it?
    pub fn met_by(self, capabilities: BrokerCapabilities) -> bool {
        match self {
            Need::ControlPlane(_) => capabilities.control_plane,
            Need::Faults => capabilities.faults,
            Need::Tap => capabilities.tap,
            Need::Restart => capabilities.restart,
        }
    }

    /// What is needed, in words.
    pub fn describe(self) -> String {
        match self {
            Need::ControlPlane(what) => format!("AWS IoT's {what}"),
            Need::Faults => "fault injection".into(),
            Need::Tap => "the broker's tap (connection attempts)".into(),
            Need::Restart => "a broker restart with its state kept".into(),
        }
    }
}

fn aws_topic(topic: &str) -> bool {
    topic.starts_with("$aws/")
}

/// What `step` of `scenario` needs from the broker, if anything beyond MQTT.
pub fn need_of(scenario: &Scenario, step: &Step) -> Option<Need> {
    match step {
        Step::Provision(s) if matches!(s.mode, Mode::Jitr | Mode::Jitp) => {
            Some(Need::ControlPlane("just-in-time registration"))
        }
        Step::Certificate(_) | Step::Ca(_) => Some(Need::ControlPlane("certificate registries")),
        Step::Policy(_) => Some(Need::ControlPlane("policies")),
        Step::FleetPowerOn(_) | Step::FleetStorm(_) | Step::ExpectFleet(_) => {
            Some(Need::ControlPlane("a fleet (JITR and the tap)"))
        }
        Step::Fault(_) => Some(Need::Faults),
        Step::ExpectBackoff(_)
        | Step::ExpectRetry(_)
        | Step::ExpectPacket(_)
        | Step::ExpectCipherSuites(_) => Some(Need::Tap),
        Step::LongDuration(_) => Some(Need::Faults),
        Step::BrokerRestart(_) => Some(Need::Restart),
        Step::ExpectDisconnected(_) => Some(Need::ControlPlane("policy enforcement")),
        Step::Job(_) | Step::ExpectJob(_) => Some(Need::ControlPlane("Jobs service")),
        Step::Connect(s)
            if scenario
                .clients
                .get(s.client.get())
                .is_some_and(|c| c.identity == ClientIdentity::Device) =>
        {
            Some(Need::ControlPlane("device registry (a device client)"))
        }
        Step::ExpectMessage(s) if aws_topic(s.topic.get()) => {
            Some(Need::ControlPlane("reserved $aws topics"))
        }
        Step::ExpectNoMessage(s) if aws_topic(s.topic.get()) => {
            Some(Need::ControlPlane("reserved $aws topics"))
        }
        Step::Publish(s) if s.via.as_ref().is_some_and(|v| *v.get() == PublishVia::Http) => Some(
            Need::ControlPlane("AWS IoT's HTTP data plane (publish via http)"),
        ),
        Step::Publish(s) if aws_topic(s.topic.get()) => {
            Some(Need::ControlPlane("reserved $aws topics (shadow)"))
        }
        Step::Snapshot(s) if s.topic.as_ref().is_some_and(|t| aws_topic(t.get())) => {
            Some(Need::ControlPlane("reserved $aws topics"))
        }
        _ => None,
    }
}

/// Why a broker of `kind` with `capabilities` cannot run `scenario`, if it cannot.
pub fn broker_shortfall(
    scenario: &Scenario,
    kind: &str,
    capabilities: BrokerCapabilities,
) -> Option<String> {
    scenario.all_steps().into_iter().find_map(|step| {
        let need = need_of(scenario, step)?;
        (!need.met_by(capabilities)).then(|| {
            format!(
                "step {} needs {}, which the {kind} broker does not have",
                step.kind(),
                need.describe()
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn scenario(steps: &str) -> Scenario {
        let text =
            format!("name = \"x\"\n[clients.rogue]\nidentity = \"device\"\n[clients.app]\n{steps}");
        Scenario::parse(Path::new("/s/x.toml"), &text).unwrap()
    }

    #[test]
    fn portable_steps_need_nothing() {
        let s = scenario(
            "[[step]]\nprovision = { board = \"dut\", mode = \"preregistered\" }\n[[step]]\nexpect_message = { topic = \"{dut.thing}/sensors\", within = \"5s\" }\n[[step]]\nconnect = { client = \"app\" }\n",
        );
        assert_eq!(
            broker_shortfall(&s, "mosquitto", BrokerCapabilities::OBSERVED),
            None
        );
    }

    #[test]
    fn aws_only_steps_are_named_in_the_reason() {
        let cases = [
            (
                "provision = { board = \"dut\" }",
                "just-in-time registration",
            ),
            (
                "certificate = { board = \"dut\", status = \"REVOKED\" }",
                "certificate registries",
            ),
            ("fault = { withhold_connack = 2 }", "fault injection"),
            (
                "expect_backoff = { board = \"dut\", attempts = 4, within = \"9s\" }",
                "tap",
            ),
            ("broker_restart = {}", "restart"),
            (
                "job = { board = \"dut\", id = \"j1\", document = { operation = \"x\" } }",
                "Jobs service",
            ),
            ("connect = { client = \"rogue\" }", "device client"),
            (
                "expect_message = { topic = \"$aws/events/presence/connected/x\", within = \"1s\" }",
                "$aws",
            ),
            (
                "parallel = [ { fault = { clear = true } } ]",
                "fault injection",
            ),
        ];
        for (step, reason) in cases {
            let s = scenario(&format!("[[step]]\n{step}\n"));
            let why = broker_shortfall(&s, "mosquitto", BrokerCapabilities::OBSERVED)
                .unwrap_or_else(|| panic!("{step} should need something"));
            assert!(
                why.contains(reason) && why.contains("mosquitto"),
                "{step}: {why}"
            );
            assert_eq!(
                broker_shortfall(&s, "embedded", BrokerCapabilities::FULL),
                None
            );
        }
    }
}

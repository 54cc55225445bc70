//! Which faults are armed: the data that [`crate::Faults`] edits and the core consults.
//!
//! This is plain data: the core asks it, per client, whether to withhold a CONNACK, PUBACK,
//! SUBACK or PINGRESP and how long to delay outgoing packets. Faults that act on sockets
//! (dropping a connection, another server certificate) are carried out by the server edge.

use std::time::Duration;

/// Which clients a fault applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every client.
    All,
    /// The client with this client id.
    Client(String),
}

impl Target {
    /// Does the fault apply to `client_id`?
    pub fn applies_to(&self, client_id: &str) -> bool {
        match self {
            Target::All => true,
            Target::Client(id) => id == client_id,
        }
    }
}

/// A packet the broker can withhold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withhold {
    /// PUBACK for the client's QoS 1 publishes.
    Puback,
    /// SUBACK for the client's subscriptions.
    Suback,
    /// PINGRESP for the client's pings.
    Pingresp,
}

/// The armed faults.
#[derive(Debug, Default)]
pub struct FaultPlan {
    connack: Vec<(Target, u32)>,
    withheld: Vec<(Target, Withhold)>,
    delay: Vec<(Target, Duration)>,
}

impl FaultPlan {
    /// Withhold CONNACK for the next `count` connects of `target`.
    pub fn withhold_connack(&mut self, target: Target, count: u32) {
        self.connack.retain(|(t, _)| *t != target);
        if count > 0 {
            self.connack.push((target, count));
        }
    }

    /// Consumes one withheld CONNACK for `client_id`, if one is armed.
    pub fn take_connack(&mut self, client_id: &str) -> bool {
        let Some(entry) = self
            .connack
            .iter_mut()
            .find(|(target, left)| *left > 0 && target.applies_to(client_id))
        else {
            return false;
        };
        entry.1 -= 1;
        self.connack.retain(|(_, left)| *left > 0);
        true
    }

    /// Starts withholding `packet` for `target`, until [`FaultPlan::release`].
    pub fn withhold(&mut self, target: Target, packet: Withhold) {
        self.withheld.push((target, packet));
    }

    /// Stops withholding `packet` for `target`.
    pub fn release(&mut self, target: &Target, packet: Withhold) {
        self.withheld
            .retain(|(t, p)| !(t == target && *p == packet));
    }

    /// Is `packet` withheld for `client_id`?
    pub fn withholds(&self, client_id: &str, packet: Withhold) -> bool {
        self.withheld
            .iter()
            .any(|(target, p)| *p == packet && target.applies_to(client_id))
    }

    /// Delays every packet sent to `target` by `delay` (zero removes the delay).
    pub fn delay_outgoing(&mut self, target: Target, delay: Duration) {
        self.delay.retain(|(t, _)| *t != target);
        if !delay.is_zero() {
            self.delay.push((target, delay));
        }
    }

    /// The delay for packets to `client_id`.
    pub fn delay_for(&self, client_id: &str) -> Duration {
        self.delay
            .iter()
            .filter(|(target, _)| target.applies_to(client_id))
            .map(|(_, delay)| *delay)
            .max()
            .unwrap_or_default()
    }

    /// Disarms everything.
    pub fn clear(&mut self) {
        *self = FaultPlan::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connack_is_withheld_exactly_n_times() {
        let mut plan = FaultPlan::default();
        plan.withhold_connack(Target::Client("dev".into()), 2);
        assert!(!plan.take_connack("other"));
        assert!(plan.take_connack("dev"));
        assert!(plan.take_connack("dev"));
        assert!(!plan.take_connack("dev"));
    }

    #[test]
    fn withholding_is_per_packet_and_client_until_released() {
        let mut plan = FaultPlan::default();
        plan.withhold(Target::All, Withhold::Puback);
        assert!(plan.withholds("any", Withhold::Puback));
        assert!(!plan.withholds("any", Withhold::Suback));
        plan.release(&Target::All, Withhold::Puback);
        assert!(!plan.withholds("any", Withhold::Puback));
    }

    #[test]
    fn the_longest_applicable_delay_wins() {
        let mut plan = FaultPlan::default();
        plan.delay_outgoing(Target::All, Duration::from_millis(10));
        plan.delay_outgoing(Target::Client("slow".into()), Duration::from_millis(50));
        assert_eq!(plan.delay_for("slow"), Duration::from_millis(50));
        assert_eq!(plan.delay_for("fast"), Duration::from_millis(10));
        plan.clear();
        assert_eq!(plan.delay_for("slow"), Duration::ZERO);
    }
}

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
    unstable: Vec<(Target, u32)>,
    /// State of the generator that places unstable drops (xorshift64*; a fixed start,
    /// so runs repeat).
    rng: u64,
}

/// How long after its CONNACK an unstable connection is dropped, at most (board time).
pub const UNSTABLE_WINDOW: Duration = Duration::from_secs(5);

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

    /// Makes the next `count` connections of `target` unstable: each is dropped at a
    /// random moment within [`UNSTABLE_WINDOW`] of its CONNACK (Device Advisor's
    /// reconnect-on-unstable-connection case).
    pub fn unstable(&mut self, target: Target, count: u32) {
        self.unstable.retain(|(t, _)| *t != target);
        if count > 0 {
            self.unstable.push((target, count));
        }
    }

    /// Consumes one unstable connection of `client_id`, if one is armed: how long after
    /// its CONNACK to drop it, in `[0, UNSTABLE_WINDOW)`.
    pub fn take_unstable(&mut self, client_id: &str) -> Option<Duration> {
        let entry = self
            .unstable
            .iter_mut()
            .find(|(target, left)| *left > 0 && target.applies_to(client_id))?;
        entry.1 -= 1;
        self.unstable.retain(|(_, left)| *left > 0);
        if self.rng == 0 {
            self.rng = 0x9e37_79b9_7f4a_7c15;
        }
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let unit =
            (self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64;
        Some(UNSTABLE_WINDOW.mul_f64(unit))
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
    fn unstable_connections_are_dropped_at_varied_moments_n_times() {
        let mut plan = FaultPlan::default();
        plan.unstable(Target::Client("dev".into()), 3);
        assert_eq!(plan.take_unstable("other"), None);
        let drops: Vec<Duration> = (0..3).filter_map(|_| plan.take_unstable("dev")).collect();
        assert_eq!(drops.len(), 3);
        assert!(drops.iter().all(|d| *d < UNSTABLE_WINDOW), "{drops:?}");
        assert!(drops[0] != drops[1] && drops[1] != drops[2], "{drops:?}");
        assert_eq!(plan.take_unstable("dev"), None);
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

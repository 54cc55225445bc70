//! [`BrokerHandle`]: what other services of the same process (the HTTP data plane) may do
//! with a running broker: publish as the broker, and read its retained messages.
//!
//! A handle does not keep the broker alive: once the broker has shut down (or restarted,
//! which starts a new one), every call answers [`BrokerGone`].

use crate::mqtt::core::RetainedMessage;
use crate::mqtt::hooks::BrokerMessage;
use crate::mqtt::server::Shared;
use bytes::Bytes;
use rumqttc::mqttbytes::QoS;
use std::sync::Weak;

/// A weak handle on a running [`crate::MockBroker`]; see the module documentation.
#[derive(Clone)]
pub struct BrokerHandle {
    shared: Weak<Shared>,
}

impl std::fmt::Debug for BrokerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerHandle")
            .field("alive", &(self.shared.strong_count() > 0))
            .finish()
    }
}

/// The broker behind a [`BrokerHandle`] has shut down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the broker has shut down")]
pub struct BrokerGone;

impl BrokerHandle {
    pub(crate) fn new(shared: Weak<Shared>) -> Self {
        BrokerHandle { shared }
    }

    /// Publishes a message as the broker itself (as AWS IoT Core's HTTP Publish does):
    /// routed to every subscriber, answered by services, retained when asked.
    pub fn publish(
        &self,
        topic: &str,
        payload: impl Into<Bytes>,
        qos: QoS,
        retain: bool,
    ) -> Result<(), BrokerGone> {
        let shared = self.shared.upgrade().ok_or(BrokerGone)?;
        let payload = payload.into();
        shared.with_core(|core, now| ((), core.publish(now, topic, payload, qos, retain)));
        Ok(())
    }

    /// Runs `f` with the broker's state locked, then publishes the messages it returns (QoS
    /// 1, not retained), in order, before anything else can happen: a service changed
    /// outside MQTT (an HTTP shadow update) notifies subscribers in the order of its
    /// changes, as its MQTT path does. `f` must not call back into the broker.
    pub fn publish_with<R>(
        &self,
        f: impl FnOnce() -> (R, Vec<BrokerMessage>),
    ) -> Result<R, BrokerGone> {
        let shared = self.shared.upgrade().ok_or(BrokerGone)?;
        Ok(shared.with_core(|core, now| {
            let (result, messages) = f();
            let actions = messages
                .into_iter()
                .flat_map(|message| {
                    core.publish(
                        now,
                        &message.topic,
                        Bytes::from(message.payload),
                        QoS::AtLeastOnce,
                        false,
                    )
                })
                .collect();
            (result, actions)
        }))
    }

    /// The retained message of `topic`, if there is one.
    pub fn retained(&self, topic: &str) -> Result<Option<RetainedMessage>, BrokerGone> {
        let shared = self.shared.upgrade().ok_or(BrokerGone)?;
        Ok(shared.lock().core.retained().get(topic).cloned())
    }

    /// Every retained message, by topic (sorted).
    pub fn retained_messages(&self) -> Result<Vec<(String, RetainedMessage)>, BrokerGone> {
        let shared = self.shared.upgrade().ok_or(BrokerGone)?;
        let state = shared.lock();
        Ok(state
            .core
            .retained()
            .iter()
            .map(|(topic, message)| (topic.clone(), message.clone()))
            .collect())
    }
}

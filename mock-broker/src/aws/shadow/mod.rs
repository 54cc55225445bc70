//! AWS IoT's Device Shadow service: classic and named shadows, over MQTT and for the HTTP
//! data plane.
//!
//! [`Shadows`] holds every thing's shadows and is the clock-free core: [`Shadows::update`],
//! [`Shadows::get`], [`Shadows::delete`] and [`Shadows::list_named`] take names, a payload
//! and `now` (Unix seconds) and return the answer plus the MQTT notifications to publish,
//! or a [`ShadowError`] with AWS's code and message. The HTTP API calls them directly;
//! MQTT requests reach them through [`Shadows::handle`], which adds the `/rejected`
//! replies, so both paths behave the same. [`ShadowService`] plugs the shadows into the
//! broker as a [`crate::mqtt::hooks::Service`] and saves them in the state dir.
//!
//! The behaviour follows AWS's developer guide ("Device Shadow service documents",
//! "Device Shadow error messages", "Device Shadow MQTT topics", "Interacting with shadows")
//! and measurements against the live service. Where AWS documents nothing, the choice is
//! written down in the module that makes it:
//!
//! - `topic`: topics and names; `classic` is an ordinary named shadow;
//! - `request`: validation order, how the 6 nesting levels are counted, nulls in arrays;
//! - `document`: merge, delta, metadata (arrays get per-element metadata), empty objects,
//!   what the 8 KiB limit counts;
//! - `store`: versions (a deleted shadow's version is remembered for 48 hours), which
//!   notifications each operation publishes (HTTP deletes publish `delete/accepted` too);
//! - `service`: the MQTT edge and persistence;
//! - `error`: AWS's codes and messages.
//!
//! All JSON sent is compact; the delta has `state` before `metadata` (Microchip's firmware
//! finds `"toggle":` by text).

mod document;
mod error;
mod request;
mod service;
mod store;
mod topic;

#[cfg(test)]
mod tests;

pub use error::ShadowError;
pub use request::{MAX_CLIENT_TOKEN, MAX_DEPTH, MAX_PAYLOAD};
pub use service::{SHADOWS_FILE, ShadowService};
pub use store::{Notification, Shadows, Update, VERSION_MEMORY_SECS};
pub use topic::{
    MAX_SHADOW_NAME, MAX_THING_NAME, Operation, ShadowTopic, parse_topic, topic_prefix,
    valid_shadow_name, valid_thing_name,
};

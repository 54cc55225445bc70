//! Remembered authorization decisions, so a device publishing thousands of messages a
//! second does not have its policies evaluated again for each one.
//!
//! A decision depends only on the registries (the certificate's status and its CA's, the
//! policies attached to it, the things attached to it) and on the request: certificate,
//! client id, action and resource. [`DecisionCache`] keeps decisions keyed by that request
//! and tagged with the registries' generation; [`RegistryGuard`], the only way the
//! control plane reaches the registries, bumps the generation whenever anything takes
//! them mutably (CreatePolicy, AttachPolicy, UpdateCertificate, JITR, ...), which empties
//! the cache before the next decision. A generation is read with the registry lock held,
//! so a decision is never stored under a generation it was not computed in.

use crate::aws::registry::Registry;
use crate::mqtt::hooks::Decision;
use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// At most this many decisions are remembered; the cache starts again when full.
const CAPACITY: usize = 65_536;

/// The registries behind their lock, with the generation that counts mutable accesses.
#[derive(Debug)]
pub(super) struct GuardedRegistry {
    registry: Mutex<Registry>,
    generation: AtomicU64,
}

impl GuardedRegistry {
    pub(super) fn new(registry: Registry) -> Self {
        GuardedRegistry {
            registry: Mutex::new(registry),
            generation: AtomicU64::new(0),
        }
    }

    /// The generation now, without the lock: a look-up in the cache that misses because a
    /// change is under way waits for the lock afterwards.
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Locks the registries.
    pub(super) fn lock(&self) -> RegistryGuard<'_> {
        RegistryGuard {
            guard: self.registry.lock().unwrap_or_else(|p| p.into_inner()),
            generation: &self.generation,
        }
    }
}

/// The locked registries: reading is free, taking them mutably bumps the generation.
pub(super) struct RegistryGuard<'a> {
    guard: MutexGuard<'a, Registry>,
    generation: &'a AtomicU64,
}

impl RegistryGuard<'_> {
    /// The generation of the registries as they are now (stable while the guard lives,
    /// unless the guard itself takes them mutably).
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

impl Deref for RegistryGuard<'_> {
    type Target = Registry;

    fn deref(&self) -> &Registry {
        &self.guard
    }
}

impl DerefMut for RegistryGuard<'_> {
    fn deref_mut(&mut self) -> &mut Registry {
        self.generation.fetch_add(1, Ordering::AcqRel);
        &mut self.guard
    }
}

/// Decisions by request, valid for one generation of the registries.
#[derive(Debug, Default)]
pub(super) struct DecisionCache {
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    generation: u64,
    decisions: HashMap<String, Decision>,
    /// The key being looked up, kept to spare an allocation per look-up.
    key: String,
}

/// What a decision is about.
#[derive(Debug, Clone, Copy)]
pub(super) struct Request<'a> {
    pub(super) certificate_id: &'a str,
    pub(super) client_id: &'a str,
    pub(super) action: &'a str,
    pub(super) resource: &'a str,
}

impl Entries {
    fn set_key(&mut self, request: Request<'_>) {
        self.key.clear();
        for part in [
            request.certificate_id,
            request.client_id,
            request.action,
            request.resource,
        ] {
            self.key.push_str(part);
            // Client ids and topics cannot hold U+0000 (MQTT), so parts cannot run together.
            self.key.push('\0');
        }
    }
}

impl DecisionCache {
    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The decision remembered for `request` in `generation`, if any.
    pub(super) fn get(&self, generation: u64, request: Request<'_>) -> Option<Decision> {
        let mut entries = self.lock();
        if entries.generation != generation {
            return None;
        }
        entries.set_key(request);
        entries.decisions.get(entries.key.as_str()).cloned()
    }

    /// Remembers `decision` for `request`, computed in `generation`.
    pub(super) fn put(&self, generation: u64, request: Request<'_>, decision: &Decision) {
        let mut entries = self.lock();
        if entries.generation != generation {
            if generation < entries.generation {
                // Computed before a change that a newer decision has already seen.
                return;
            }
            entries.decisions.clear();
            entries.generation = generation;
        }
        if entries.decisions.len() >= CAPACITY {
            entries.decisions.clear();
        }
        entries.set_key(request);
        let key = entries.key.clone();
        entries.decisions.insert(key, decision.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::registry::Account;

    fn request<'a>(client_id: &'a str, resource: &'a str) -> Request<'a> {
        Request {
            certificate_id: "cert",
            client_id,
            action: "iot:Publish",
            resource,
        }
    }

    fn registry() -> GuardedRegistry {
        GuardedRegistry::new(Registry::new(Account {
            id: "123456789012".into(),
            region: "us-east-1".into(),
            registration_code: "code".into(),
            endpoint: "localhost".into(),
        }))
    }

    #[test]
    fn taking_the_registries_mutably_bumps_the_generation() {
        let registry = registry();
        let before = registry.lock().generation();
        {
            let guard = registry.lock();
            let _ = guard.arn("cert", "x");
        }
        assert_eq!(
            registry.lock().generation(),
            before,
            "reading changes nothing"
        );
        {
            let mut guard = registry.lock();
            let _: &mut Registry = &mut guard;
        }
        assert_eq!(registry.lock().generation(), before + 1);
    }

    #[test]
    fn decisions_hold_for_their_generation_only() {
        let cache = DecisionCache::default();
        let deny = Decision::Deny("no".into());
        cache.put(3, request("a", "t/1"), &Decision::Allow);
        cache.put(3, request("b", "t/1"), &deny);
        assert_eq!(cache.get(3, request("a", "t/1")), Some(Decision::Allow));
        assert_eq!(cache.get(3, request("b", "t/1")), Some(deny));
        assert_eq!(cache.get(3, request("a", "t/2")), None);
        assert_eq!(cache.get(4, request("a", "t/1")), None, "a change forgets");
        // A decision from before the newest change is not kept.
        cache.put(4, request("a", "t/1"), &Decision::Allow);
        cache.put(3, request("a", "t/2"), &Decision::Allow);
        assert_eq!(cache.get(4, request("a", "t/2")), None);
        assert_eq!(cache.get(4, request("a", "t/1")), Some(Decision::Allow));
    }

    #[test]
    fn parts_of_a_request_do_not_run_together() {
        let cache = DecisionCache::default();
        cache.put(0, request("ab", "c"), &Decision::Allow);
        assert_eq!(cache.get(0, request("a", "bc")), None);
    }
}

//! The subscription index: which sessions a message on a topic goes to, without looking at
//! every session's filters.
//!
//! [`SubscriptionIndex`] is a tree of topic levels, as Mosquitto's subscription tree and
//! rumqttd's router keep them: a filter `a/+/c` is stored under the nodes `a`, `+`, `c`,
//! and a message on `a/b/c` walks the literal level and the `+` branch at each level,
//! collecting the `#` subscribers it passes. Matching costs the depth of the topic (at most
//! eight levels, [`crate::mqtt::topic::MAX_SLASHES`]) times the branches taken, whatever
//! the number of sessions.
//!
//! The rules are [`crate::mqtt::topic::matches`]'s, AWS IoT Core's: `#` needs the level
//! separator before it (`a/#` matches `a/` but not `a`), and neither `+` nor `#` at the
//! first level matches a topic that starts with `$`. A session subscribed with several
//! filters that match one topic gets the message once, at the highest granted QoS.
//!
//! The index is plain data kept beside the sessions by [`crate::mqtt::core::Core`], which
//! updates it wherever a session's subscriptions change; [`crate::mqtt::session::Session`]
//! keeps each session's own filters (for persistence and the session's lifetime).

use rumqttc::mqttbytes::QoS;
use std::collections::HashMap;
use std::sync::Arc;

/// Subscriptions of every session, indexed by topic level; see the module documentation.
#[derive(Debug, Default)]
pub struct SubscriptionIndex {
    root: Node,
    filters: usize,
}

#[derive(Debug, Default)]
struct Node {
    /// Children by literal level.
    levels: HashMap<String, Node>,
    /// The `+` child.
    plus: Option<Box<Node>>,
    /// Sessions whose filter ends here, with the QoS granted.
    here: HashMap<Arc<str>, QoS>,
    /// Sessions whose filter is this node's path followed by `/#` (or `#` at the root).
    hash: HashMap<Arc<str>, QoS>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.levels.is_empty()
            && self.plus.is_none()
            && self.here.is_empty()
            && self.hash.is_empty()
    }
}

impl SubscriptionIndex {
    /// An empty index.
    pub fn new() -> Self {
        SubscriptionIndex::default()
    }

    /// How many (session, filter) pairs the index holds.
    pub fn len(&self) -> usize {
        self.filters
    }

    /// True when nobody is subscribed to anything.
    pub fn is_empty(&self) -> bool {
        self.filters == 0
    }

    /// Subscribes `client_id` to `filter` (already validated) with `qos`, replacing the QoS
    /// of the same filter if it was subscribed already.
    pub fn insert(&mut self, client_id: &str, filter: &str, qos: QoS) {
        let mut node = &mut self.root;
        let mut levels = filter.split('/').peekable();
        while let Some(level) = levels.next() {
            if level == "#" && levels.peek().is_none() {
                if node.hash.insert(Arc::from(client_id), qos).is_none() {
                    self.filters += 1;
                }
                return;
            }
            node = if level == "+" {
                node.plus.get_or_insert_with(Box::default)
            } else {
                node.levels.entry(level.to_owned()).or_default()
            };
        }
        if node.here.insert(Arc::from(client_id), qos).is_none() {
            self.filters += 1;
        }
    }

    /// Unsubscribes `client_id` from `filter`; returns whether it was subscribed. Nodes left
    /// empty are removed, so a fleet of clients coming and going does not grow the tree.
    pub fn remove(&mut self, client_id: &str, filter: &str) -> bool {
        let levels: Vec<&str> = filter.split('/').collect();
        let removed = remove_at(&mut self.root, &levels, client_id);
        if removed {
            self.filters -= 1;
        }
        removed
    }

    /// The sessions a message on `topic` goes to, each once with the highest QoS any of its
    /// matching filters was granted, sorted by client id.
    pub fn matches(&self, topic: &str) -> Vec<(Arc<str>, QoS)> {
        let mut found: Vec<(&Arc<str>, QoS)> = Vec::new();
        let dollar = topic.starts_with('$');
        // Clients cannot publish deeper topics than MAX_SLASHES allows, so the levels fit on
        // the stack; the broker's own may not (a client id with slashes in a lifecycle
        // event's topic).
        let mut levels = [""; crate::mqtt::topic::MAX_SLASHES + 1];
        let mut split = topic.split('/');
        let mut depth = 0;
        for slot in &mut levels {
            let Some(level) = split.next() else { break };
            *slot = level;
            depth += 1;
        }
        if split.next().is_none() {
            collect(&self.root, &levels[..depth], dollar, &mut found);
        } else {
            let levels: Vec<&str> = topic.split('/').collect();
            collect(&self.root, &levels, dollar, &mut found);
        }
        // By client id, the highest QoS first; then one entry per client id.
        found.sort_unstable_by(|a, b| a.0.cmp(b.0).then((b.1 as u8).cmp(&(a.1 as u8))));
        found.dedup_by(|next, kept| next.0 == kept.0);
        found
            .into_iter()
            .map(|(client_id, qos)| (client_id.clone(), qos))
            .collect()
    }
}

fn remove_at(node: &mut Node, levels: &[&str], client_id: &str) -> bool {
    let Some((level, rest)) = levels.split_first() else {
        return node.here.remove(client_id).is_some();
    };
    if *level == "#" && rest.is_empty() {
        return node.hash.remove(client_id).is_some();
    }
    if *level == "+" {
        let Some(child) = node.plus.as_deref_mut() else {
            return false;
        };
        let removed = remove_at(child, rest, client_id);
        if child.is_empty() {
            node.plus = None;
        }
        removed
    } else {
        let Some(child) = node.levels.get_mut(*level) else {
            return false;
        };
        let removed = remove_at(child, rest, client_id);
        if child.is_empty() {
            node.levels.remove(*level);
        }
        removed
    }
}

/// Adds the subscribers of `node` matching the remaining `levels`; `dollar` is set at the
/// root for a `$` topic, whose first level wildcards do not match.
fn collect<'a>(
    node: &'a Node,
    levels: &[&str],
    dollar: bool,
    found: &mut Vec<(&'a Arc<str>, QoS)>,
) {
    let Some((level, rest)) = levels.split_first() else {
        add(found, &node.here);
        return;
    };
    if !dollar {
        // At least one level remains, so the separator before `#` is present.
        add(found, &node.hash);
        if let Some(plus) = node.plus.as_deref() {
            collect(plus, rest, false, found);
        }
    }
    if let Some(child) = node.levels.get(*level) {
        collect(child, rest, false, found);
    }
}

fn add<'a>(found: &mut Vec<(&'a Arc<str>, QoS)>, subscribers: &'a HashMap<Arc<str>, QoS>) {
    found.extend(subscribers.iter().map(|(client_id, qos)| (client_id, *qos)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::topic;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;

    fn index(subscriptions: &[(&str, &str, QoS)]) -> SubscriptionIndex {
        let mut index = SubscriptionIndex::new();
        for (client, filter, qos) in subscriptions {
            index.insert(client, filter, *qos);
        }
        index
    }

    fn clients(index: &SubscriptionIndex, topic: &str) -> Vec<String> {
        index
            .matches(topic)
            .into_iter()
            .map(|(c, _)| c.to_string())
            .collect()
    }

    fn targets(index: &SubscriptionIndex, topic: &str) -> Vec<(String, QoS)> {
        index
            .matches(topic)
            .into_iter()
            .map(|(c, qos)| (c.to_string(), qos))
            .collect()
    }

    #[test]
    fn plus_and_hash_match_like_aws() {
        let index = index(&[
            ("hash", "a/#", QoS::AtMostOnce),
            ("plus", "a/+", QoS::AtMostOnce),
            ("exact", "a/b", QoS::AtMostOnce),
            ("deep", "a/+/c", QoS::AtMostOnce),
            ("all", "#", QoS::AtMostOnce),
        ]);
        assert_eq!(clients(&index, "a/b"), ["all", "exact", "hash", "plus"]);
        assert_eq!(clients(&index, "a/"), ["all", "hash", "plus"]);
        // `#` needs its separator: `a/#` does not match `a`.
        assert_eq!(clients(&index, "a"), ["all"]);
        assert_eq!(clients(&index, "a/x/c"), ["all", "deep", "hash"]);
        assert_eq!(clients(&index, "A/b"), ["all"]);
    }

    #[test]
    fn topics_deeper_than_clients_may_publish_still_match() {
        let index = index(&[
            ("all", "#", QoS::AtMostOnce),
            (
                "events",
                "$aws/events/presence/connected/#",
                QoS::AtMostOnce,
            ),
        ]);
        let deep = "$aws/events/presence/connected/a/b/c/d/e";
        assert_eq!(clients(&index, deep), ["events"]);
        assert_eq!(clients(&index, "1/2/3/4/5/6/7/8/9/10"), ["all"]);
        assert_eq!(clients(&index, "1/2/3/4/5/6/7/8"), ["all"]);
    }

    #[test]
    fn dollar_topics_are_not_matched_by_leading_wildcards() {
        let index = index(&[
            ("all", "#", QoS::AtMostOnce),
            ("plus", "+/events/#", QoS::AtMostOnce),
            ("aws", "$aws/events/#", QoS::AtMostOnce),
            ("inner", "$aws/+/x", QoS::AtMostOnce),
        ]);
        assert_eq!(clients(&index, "$aws/events/presence"), ["aws"]);
        assert_eq!(clients(&index, "$aws/y/x"), ["inner"]);
        assert_eq!(clients(&index, "x/events/y"), ["all", "plus"]);
    }

    #[test]
    fn overlapping_filters_deliver_once_at_the_highest_qos() {
        let index = index(&[
            ("c", "a/#", QoS::AtMostOnce),
            ("c", "a/b", QoS::AtLeastOnce),
            ("c", "+/b", QoS::AtMostOnce),
        ]);
        assert_eq!(targets(&index, "a/b"), [("c".into(), QoS::AtLeastOnce)]);
        assert_eq!(targets(&index, "a/c"), [("c".into(), QoS::AtMostOnce)]);
        assert_eq!(index.len(), 3);
    }

    #[test]
    fn resubscribing_replaces_the_qos_and_removing_prunes() {
        let mut index = index(&[("c", "a/b", QoS::AtMostOnce)]);
        index.insert("c", "a/b", QoS::AtLeastOnce);
        assert_eq!(index.len(), 1);
        assert_eq!(targets(&index, "a/b"), [("c".into(), QoS::AtLeastOnce)]);
        index.insert("c", "x/+/#", QoS::AtMostOnce);
        assert!(!index.remove("c", "x/+"));
        assert!(!index.remove("other", "x/+/#"));
        assert!(index.remove("c", "x/+/#"));
        assert!(index.remove("c", "a/b"));
        assert!(index.is_empty());
        assert!(index.root.is_empty(), "every node pruned: {:?}", index.root);
    }

    /// The index agrees with matching every filter, on random filters and topics.
    #[test]
    fn agrees_with_the_linear_matcher() {
        const LEVELS: [&str; 5] = ["a", "b", "", "$aws", "c"];
        let mut rng = StdRng::seed_from_u64(15);
        let random_topic = |rng: &mut StdRng| {
            let depth = rng.gen_range(1..=4);
            (0..depth)
                .map(|_| LEVELS[rng.gen_range(0..LEVELS.len())])
                .collect::<Vec<_>>()
                .join("/")
        };
        for _ in 0..200 {
            let mut index = SubscriptionIndex::new();
            let mut linear: BTreeMap<(String, String), QoS> = BTreeMap::new();
            for _ in 0..rng.gen_range(0..30) {
                let mut filter: Vec<String> = random_topic(&mut rng)
                    .split('/')
                    .map(|level| match rng.gen_range(0..4) {
                        0 => "+".to_owned(),
                        _ => level.to_owned(),
                    })
                    .collect();
                if rng.gen_bool(0.3) {
                    filter.push("#".into());
                }
                let filter = filter.join("/");
                let client = format!("c{}", rng.gen_range(0..5));
                let qos = if rng.gen_bool(0.5) {
                    QoS::AtLeastOnce
                } else {
                    QoS::AtMostOnce
                };
                if rng.gen_bool(0.2) {
                    let removed = index.remove(&client, &filter);
                    assert_eq!(removed, linear.remove(&(client, filter)).is_some());
                } else {
                    index.insert(&client, &filter, qos);
                    linear.insert((client, filter), qos);
                }
            }
            assert_eq!(index.len(), linear.len());
            for _ in 0..50 {
                let topic = random_topic(&mut rng);
                let mut expected: BTreeMap<String, QoS> = BTreeMap::new();
                for ((client, filter), qos) in &linear {
                    if topic::matches(filter, &topic) {
                        let best = expected.entry(client.clone()).or_insert(*qos);
                        if (*qos as u8) > (*best as u8) {
                            *best = *qos;
                        }
                    }
                }
                let expected: Vec<(String, QoS)> = expected.into_iter().collect();
                assert_eq!(targets(&index, &topic), expected, "topic {topic:?}");
            }
        }
    }
}

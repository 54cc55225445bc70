//! The `snapshot` step: the latest message on a topic, or a board's console transcript,
//! made stable by [`crate::snapshot`] and compared with the stored snapshot.

use super::message::Source;
use super::world::{Mismatch, World, mismatch};
use crate::scenario::{Scenario, SnapshotStep};
use crate::snapshot::{compare, mask, payload_text, replace_variables};
use crate::timeline::What;
use std::path::Path;

impl World {
    pub(super) fn snapshot(&self, scenario: &Scenario, s: &SnapshotStep) -> Result<(), Mismatch> {
        let entries = self.timeline.entries();
        let text = match (&s.topic, &s.console) {
            (Some(topic), _) => {
                let topic = topic.get().as_str();
                let source = match &s.client {
                    Some(client) => Source::Client(client.get().clone()),
                    None => Source::Broker,
                };
                let message = entries
                    .iter()
                    .rev()
                    .filter_map(|entry| source.message(entry))
                    .find(|message| message.topic == topic)
                    .ok_or_else(|| {
                        mismatch(
                            format!("a message on {topic} to {} to snapshot", source.describe()),
                            "none so far (put an expect_message before the snapshot)",
                        )
                    })?;
                payload_text(&message.payload, &s.redact_keys)
            }
            (None, Some(board)) => {
                // From the harness's last line on this console (its echo included).
                let last_sent = entries.iter().rposition(|entry| {
                    matches!(&entry.what, What::Console { board: name, sent: true, .. }
                        if name == board.get())
                });
                entries[last_sent.unwrap_or(0)..]
                    .iter()
                    .filter_map(|entry| match &entry.what {
                        What::Console {
                            board: name,
                            line,
                            sent,
                        } if name == board.get() => {
                            Some(format!("{} {line}", if *sent { ">>" } else { "<<" }))
                        }
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            (None, None) => return Err(mismatch("a topic or a console", "neither")),
        };
        let patterns = s
            .redact
            .iter()
            .map(|p| regex::Regex::new(p.get()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| mismatch("valid redaction patterns", e.to_string()))?;
        // The patterns are filled in with the variables' values, so they see those first.
        let text = replace_variables(&mask(&text, &patterns), &self.variables());
        // insta reads a relative snapshot path from its own source file: make it absolute.
        let dir = std::path::absolute(&scenario.path)
            .map_err(|e| mismatch("the scenario's folder", e.to_string()))?
            .parent()
            .unwrap_or(Path::new("/"))
            .join("snapshots");
        let name = format!("{}__{}", scenario.id(), s.name.get());
        compare(&dir, &scenario.path, &name, &text)
            .map_err(|seen| mismatch(format!("the text of snapshot {name}"), seen))
    }
}

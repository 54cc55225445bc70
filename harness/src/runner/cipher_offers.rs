//! The second half of AWS IoT Device Advisor's cipher suite case, `expect_cipher_suites`
//! with `offer_each`: the broker offers only AWS IoT's recommended suites, then each
//! suite it can negotiate alone, one connection of the board each (the board dropped to
//! make it connect again), and the step reports which the board accepts. The judging is
//! pure ([`offers_verdict`]); the offers are the mock broker's
//! ([`mock_broker::Faults::offer_cipher_suites`], over
//! [`mock_broker::mqtt::tls_policy::negotiable_with_ecdsa`]).

use super::tls_cases::SuiteNote;
use super::world::{Mismatch, World, mismatch};
use crate::timeline::What;
use mock_broker::mqtt::tls_policy::{Support, negotiable_with_ecdsa};
use std::time::Duration;

/// What the broker offered for one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// For people: a suite's IANA name, or "AWS IoT's recommended suites".
    pub label: String,
    /// The suites offered (IANA codes).
    pub codes: Vec<u16>,
    /// The offer is AWS IoT's recommended suites together.
    pub recommended: bool,
}

/// How the board's next handshake went under an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted: the suite and TLS version negotiated.
    Accepted {
        /// IANA name.
        suite: String,
        /// e.g. `TLSv1_3`.
        version: String,
    },
    /// Refused by the broker's TLS: why, as the tap says.
    Refused(String),
    /// No handshake of the board within the step's `within`.
    NoAttempt,
}

/// The offers, in order: AWS IoT's recommended suites together, then each suite alone.
pub fn offers() -> Vec<Offer> {
    let suites = negotiable_with_ecdsa();
    let recommended = suites
        .iter()
        .filter(|s| s.support == Support::Recommended)
        .map(|s| s.code)
        .collect();
    let mut offers = vec![Offer {
        label: "AWS IoT's recommended suites".into(),
        codes: recommended,
        recommended: true,
    }];
    offers.extend(suites.iter().map(|s| Offer {
        label: s.name.into(),
        codes: vec![s.code],
        recommended: false,
    }));
    offers
}

/// Judges the outcomes of [`offers`]: a note per offer, then one listing the suites
/// accepted alone; a warning when the board would not connect to a broker offering only
/// the recommended suites. Fails when it accepted no offer at all.
pub fn offers_verdict(results: &[(Offer, Outcome)]) -> Result<Vec<SuiteNote>, String> {
    let mut notes: Vec<SuiteNote> = results
        .iter()
        .map(|(offer, outcome)| {
            let offered = if offer.recommended {
                format!("the broker offering only {}", offer.label)
            } else {
                format!("the broker offering {} alone", offer.label)
            };
            let (text, warning) = match outcome {
                Outcome::Accepted { suite, version } => {
                    (format!("{offered}: accepted ({suite}, {version})"), false)
                }
                Outcome::Refused(why) => (format!("{offered}: refused ({why})"), offer.recommended),
                Outcome::NoAttempt => (format!("{offered}: no handshake came"), offer.recommended),
            };
            SuiteNote { text, warning }
        })
        .collect();
    let alone = |accepted: bool| -> Vec<&str> {
        results
            .iter()
            .filter(|(offer, outcome)| {
                !offer.recommended && matches!(outcome, Outcome::Accepted { .. }) == accepted
            })
            .map(|(offer, _)| offer.label.as_str())
            .collect()
    };
    if !results
        .iter()
        .any(|(_, outcome)| matches!(outcome, Outcome::Accepted { .. }))
    {
        let texts: Vec<&str> = notes.iter().map(|n| n.text.as_str()).collect();
        return Err(format!(
            "it connected under none of the broker's offers: {}",
            texts.join("; ")
        ));
    }
    let listed = |names: Vec<&str>| {
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    };
    notes.push(SuiteNote {
        text: format!(
            "accepts alone: {}; refuses alone: {}",
            listed(alone(true)),
            listed(alone(false))
        ),
        warning: false,
    });
    Ok(notes)
}

impl World {
    /// Runs [`offers`] against `board`, notes the outcomes, then offers every suite again
    /// and waits for the board to connect once more.
    pub(super) async fn offer_each_cipher_suite(
        &self,
        board: &crate::scenario::BoardName,
        within: Duration,
    ) -> Result<(), Mismatch> {
        let provisioned = self.provisioned(board)?;
        let faults = {
            let broker = self.broker.read().await;
            Self::registry(broker.as_ref(), "offer cipher suites")?.faults()
        };
        let board_ids = (
            provisioned.thing.as_str(),
            provisioned.certificate_id.as_str(),
        );
        let mut results = Vec::new();
        for offer in offers() {
            faults.offer_cipher_suites(&offer.codes).map_err(|e| {
                mismatch(
                    format!("the broker offering {}", offer.label),
                    e.to_string(),
                )
            })?;
            let outcome = self.next_handshake(&faults, board_ids, within).await;
            results.push((offer, outcome));
        }
        faults.restore_cipher_suites();
        let again = self.next_handshake(&faults, board_ids, within).await;
        let name = board.get();
        let notes = offers_verdict(&results).map_err(|why| {
            mismatch(
                format!("{name} connecting under the broker's cipher suite offers"),
                why,
            )
        })?;
        for SuiteNote { text, warning } in notes {
            self.timeline.record(What::Note {
                text: format!("expect_cipher_suites {name}: {text}"),
                warning,
            });
        }
        match again {
            Outcome::Accepted { .. } => Ok(()),
            other => Err(mismatch(
                format!("{name} connecting again with every suite offered, within {within:?}"),
                format!("{other:?}"),
            )),
        }
    }

    /// Drops the board's connection and waits up to `within` for its next handshake:
    /// accepted (its certificate's), or refused (its certificate's, or one that carried
    /// none, as a refusal for no common suite does). A board between its accepted handshake
    /// and its CONNECT has no connection to drop yet: it is dropped once it has one. A
    /// board that is not connecting (refused before, backing off) is waited for.
    async fn next_handshake(
        &self,
        faults: &mock_broker::Faults,
        (thing, certificate_id): (&str, &str),
        within: Duration,
    ) -> Outcome {
        let mut live = self.timeline.subscribe();
        let from = self.timeline.entries().len();
        let deadline = self.timeline.instant(self.timeline.now() + within);
        let mut dropped = false;
        loop {
            dropped = dropped || faults.disconnect(thing);
            let entries = self.timeline.entries();
            for entry in entries.iter().skip(from) {
                let What::Broker { event } = &entry.what else {
                    continue;
                };
                let ours = event["certificate_id"] == certificate_id;
                match event["event"].as_str() {
                    Some("tls_accepted") if ours => {
                        return Outcome::Accepted {
                            suite: event["cipher_suite"].as_str().unwrap_or("?").into(),
                            version: event["tls_version"].as_str().unwrap_or("?").into(),
                        };
                    }
                    Some("tls_rejected") if ours || event["certificate_id"].is_null() => {
                        return Outcome::Refused(event["reason"].as_str().unwrap_or("?").into());
                    }
                    _ => {}
                }
            }
            if !Self::next_entry(&mut live, deadline).await {
                return Outcome::NoAttempt;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(suite: &str) -> Outcome {
        Outcome::Accepted {
            suite: suite.into(),
            version: "TLSv1_3".into(),
        }
    }

    #[test]
    fn the_offers_are_the_recommended_suites_then_each_alone() {
        let offers = offers();
        assert!(offers[0].recommended);
        assert_eq!(offers[0].codes, [0x1301, 0xC02B]);
        let alone: Vec<&str> = offers[1..].iter().map(|o| o.label.as_str()).collect();
        assert_eq!(alone.len(), 5, "{alone:?}");
        assert!(offers[1..].iter().all(|o| o.codes.len() == 1));
    }

    #[test]
    fn the_verdict_lists_what_was_accepted_and_warns_without_the_recommended_offer() {
        let offers = offers();
        let results: Vec<(Offer, Outcome)> = offers
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, offer)| {
                let outcome = match i {
                    0 => Outcome::Refused("no cipher suite in common".into()),
                    2 => accepted("TLS_AES_256_GCM_SHA384"),
                    _ => Outcome::Refused("no cipher suite in common".into()),
                };
                (offer, outcome)
            })
            .collect();
        let notes = offers_verdict(&results).unwrap();
        assert!(notes[0].warning, "{notes:?}");
        assert_eq!(
            notes[0].text,
            "the broker offering only AWS IoT's recommended suites: refused (no cipher suite in common)"
        );
        assert!(!notes[2].warning);
        let last = notes.last().unwrap();
        assert!(
            last.text.starts_with(
                "accepts alone: TLS_AES_256_GCM_SHA384; refuses alone: TLS_AES_128_GCM_SHA256, "
            ),
            "{}",
            last.text
        );
    }

    #[test]
    fn a_board_that_accepts_no_offer_fails() {
        let results: Vec<(Offer, Outcome)> = offers()
            .into_iter()
            .map(|offer| (offer, Outcome::NoAttempt))
            .collect();
        let why = offers_verdict(&results).unwrap_err();
        assert!(
            why.starts_with("it connected under none of the broker's offers: "),
            "{why}"
        );
    }

    #[test]
    fn accepting_everything_is_a_clean_pass() {
        let results: Vec<(Offer, Outcome)> = offers()
            .into_iter()
            .map(|offer| (offer, accepted("TLS_AES_128_GCM_SHA256")))
            .collect();
        let notes = offers_verdict(&results).unwrap();
        assert!(notes.iter().all(|n| !n.warning), "{notes:?}");
        assert!(notes.last().unwrap().text.ends_with("refuses alone: none"));
    }
}

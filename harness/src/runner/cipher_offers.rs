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
    /// The suites offered (IANA names, as the tap names the negotiated one).
    pub names: Vec<&'static str>,
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

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Accepted { suite, version } => write!(f, "accepted ({suite}, {version})"),
            Outcome::Refused(why) => write!(f, "refused ({why})"),
            Outcome::NoAttempt => write!(f, "no handshake came within `within`"),
        }
    }
}

/// The offers, in order: AWS IoT's recommended suites together, then each suite alone.
pub fn offers() -> Vec<Offer> {
    let suites = negotiable_with_ecdsa();
    let recommended: Vec<_> = suites
        .iter()
        .filter(|s| s.support == Support::Recommended)
        .collect();
    let mut offers = vec![Offer {
        label: "AWS IoT's recommended suites".into(),
        codes: recommended.iter().map(|s| s.code).collect(),
        names: recommended.iter().map(|s| s.name).collect(),
        recommended: true,
    }];
    offers.extend(suites.iter().map(|s| Offer {
        label: s.name.into(),
        codes: vec![s.code],
        names: vec![s.name],
        recommended: false,
    }));
    offers
}

/// The timeline note for one offer's outcome: a warning when the board would not connect
/// to a broker offering only the recommended suites.
pub fn offer_note(offer: &Offer, outcome: &Outcome) -> SuiteNote {
    let offered = if offer.recommended {
        format!("the broker offering only {}", offer.label)
    } else {
        format!("the broker offering {} alone", offer.label)
    };
    SuiteNote {
        text: format!("{offered}: {outcome}"),
        warning: offer.recommended && !matches!(outcome, Outcome::Accepted { .. }),
    }
}

/// Judges the outcomes of [`offers`]: the note listing the suites the board accepted
/// alone, refused alone, and did not try within `within`. Fails when it accepted no
/// offer at all.
pub fn offers_verdict(results: &[(Offer, Outcome)]) -> Result<SuiteNote, String> {
    if !results
        .iter()
        .any(|(_, outcome)| matches!(outcome, Outcome::Accepted { .. }))
    {
        let texts: Vec<String> = results
            .iter()
            .map(|(offer, outcome)| offer_note(offer, outcome).text)
            .collect();
        return Err(format!(
            "it connected under none of the broker's offers: {}",
            texts.join("; ")
        ));
    }
    let alone = |wanted: fn(&Outcome) -> bool| -> String {
        let names: Vec<&str> = results
            .iter()
            .filter(|(offer, outcome)| !offer.recommended && wanted(outcome))
            .map(|(offer, _)| offer.label.as_str())
            .collect();
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    };
    let mut text = format!(
        "accepts alone: {}; refuses alone: {}",
        alone(|o| matches!(o, Outcome::Accepted { .. })),
        alone(|o| matches!(o, Outcome::Refused(_)))
    );
    let untried = alone(|o| *o == Outcome::NoAttempt);
    if untried != "none" {
        text.push_str(&format!("; no handshake within `within`: {untried}"));
    }
    Ok(SuiteNote {
        text,
        warning: untried != "none",
    })
}

/// Offers every suite again when dropped: on the step's end, its failure, or its
/// cancellation (a `parallel` block that failed elsewhere).
struct RestoreSuites(mock_broker::Faults);

impl Drop for RestoreSuites {
    fn drop(&mut self) {
        self.0.restore_cipher_suites();
    }
}

/// Whose handshakes [`World::next_handshake`] waits for.
struct BoardTls<'a> {
    thing: &'a str,
    certificate_id: &'a str,
    /// The suites of the board's ClientHello (IANA names, the board's order): a refusal
    /// for no common suite carries no certificate, and is the board's when its ClientHello
    /// offered these.
    hello: &'a [String],
}

impl World {
    /// Runs [`offers`] against `board` (whose ClientHello offered `hello`), noting each
    /// outcome as it comes, then offers every suite again and waits for the board to
    /// connect once more.
    pub(super) async fn offer_each_cipher_suite(
        &self,
        board: &crate::scenario::BoardName,
        hello: &[String],
        within: Duration,
    ) -> Result<(), Mismatch> {
        let provisioned = self.provisioned(board)?;
        let faults = {
            let broker = self.broker.read().await;
            Self::registry(broker.as_ref(), "offer cipher suites")?.faults()
        };
        let restore = RestoreSuites(faults.clone());
        let tls = BoardTls {
            thing: &provisioned.thing,
            certificate_id: &provisioned.certificate_id,
            hello,
        };
        let name = board.get();
        let note = |SuiteNote { text, warning }| {
            self.timeline.record(What::Note {
                text: format!("expect_cipher_suites {name}: {text}"),
                warning,
            });
        };
        let mut results = Vec::new();
        for offer in offers() {
            faults.offer_cipher_suites(&offer.codes).map_err(|e| {
                mismatch(
                    format!("the broker offering {}", offer.label),
                    e.to_string(),
                )
            })?;
            let outcome = self
                .next_handshake(&faults, &tls, Some(&offer.names), within)
                .await;
            note(offer_note(&offer, &outcome));
            results.push((offer, outcome));
        }
        drop(restore);
        let again = self.next_handshake(&faults, &tls, None, within).await;
        let summary = offers_verdict(&results).map_err(|why| {
            mismatch(
                format!("{name} connecting under the broker's cipher suite offers"),
                why,
            )
        })?;
        note(summary);
        match again {
            Outcome::Accepted { .. } => Ok(()),
            other => Err(mismatch(
                format!("{name} connecting again with every suite offered, within {within:?}"),
                other.to_string(),
            )),
        }
    }

    /// Drops the board's connection and waits up to `within` for its next handshake:
    /// accepted (its certificate's, negotiating a suite of `offered` when given: one
    /// accepted under the offer before belongs to that offer), or refused (its
    /// certificate's, or one that carried none but offered the board's ClientHello suites,
    /// as a refusal for no common suite does). A board between its accepted handshake and
    /// its CONNECT has no connection to drop yet: it is dropped once it has one. A board
    /// that is not connecting (refused before, backing off) is waited for.
    async fn next_handshake(
        &self,
        faults: &mock_broker::Faults,
        board: &BoardTls<'_>,
        offered: Option<&[&str]>,
        within: Duration,
    ) -> Outcome {
        let mut live = self.timeline.subscribe();
        let from = self.timeline.entries().len();
        let deadline = self.timeline.instant(self.timeline.now() + within);
        let mut dropped = false;
        loop {
            dropped = dropped || faults.disconnect(board.thing);
            let entries = self.timeline.entries();
            for entry in entries.iter().skip(from) {
                let What::Broker { event } = &entry.what else {
                    continue;
                };
                let ours = event["certificate_id"] == board.certificate_id;
                let suite = event["cipher_suite"].as_str().unwrap_or("?");
                match event["event"].as_str() {
                    Some("tls_accepted")
                        if ours && offered.is_none_or(|names| names.contains(&suite)) =>
                    {
                        return Outcome::Accepted {
                            suite: suite.into(),
                            version: event["tls_version"].as_str().unwrap_or("?").into(),
                        };
                    }
                    Some("tls_rejected")
                        if ours
                            || (event["certificate_id"].is_null()
                                && super::tls_cases::offered(event) == board.hello) =>
                    {
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

    fn refused() -> Outcome {
        Outcome::Refused("no cipher suite in common".into())
    }

    #[test]
    fn the_offers_are_the_recommended_suites_then_each_alone() {
        let offers = offers();
        assert!(offers[0].recommended);
        assert_eq!(offers[0].codes, [0x1301, 0xC02B]);
        assert_eq!(
            offers[0].names,
            [
                "TLS_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
            ]
        );
        let alone: Vec<&str> = offers[1..].iter().map(|o| o.label.as_str()).collect();
        assert_eq!(alone.len(), 5, "{alone:?}");
        assert!(
            offers[1..]
                .iter()
                .all(|o| o.codes.len() == 1 && o.names == [o.label.as_str()])
        );
    }

    #[test]
    fn refusing_the_recommended_offer_warns_and_the_summary_lists_each_kind() {
        let offers = offers();
        assert!(offer_note(&offers[0], &refused()).warning);
        assert_eq!(
            offer_note(&offers[0], &refused()).text,
            "the broker offering only AWS IoT's recommended suites: refused (no cipher suite in common)"
        );
        assert!(!offer_note(&offers[1], &refused()).warning);
        let results: Vec<(Offer, Outcome)> = offers
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, offer)| {
                let outcome = match i {
                    2 => accepted("TLS_AES_256_GCM_SHA384"),
                    5 => Outcome::NoAttempt,
                    _ => refused(),
                };
                (offer, outcome)
            })
            .collect();
        let summary = offers_verdict(&results).unwrap();
        assert_eq!(
            summary.text,
            "accepts alone: TLS_AES_256_GCM_SHA384; refuses alone: TLS_AES_128_GCM_SHA256, \
             TLS_CHACHA20_POLY1305_SHA256, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256; no handshake \
             within `within`: TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
        );
        assert!(summary.warning, "an offer not tried is not evidence");
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
        let summary = offers_verdict(&results).unwrap();
        assert!(!summary.warning);
        assert!(
            summary.text.ends_with("refuses alone: none"),
            "{}",
            summary.text
        );
    }
}

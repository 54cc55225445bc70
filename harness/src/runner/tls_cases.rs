//! What AWS IoT Device Advisor's TLS cases need from the runner beyond the other steps:
//! the `expect_cipher_suites` step, whose judging is pure ([`cipher_suite_verdict`] over
//! the suites a ClientHello offered, as the broker's tap names them), and the large
//! payload of a `publish` step's `size` ([`padded_payload`]). Which suites AWS IoT Core
//! supports and recommends is the mock broker's knowledge
//! ([`mock_broker::mqtt::tls_policy`]); the large server certificate chain is the test
//! PKI's ([`crate::pki::BadServerCert::Large`]).

use super::world::{Mismatch, World, mismatch};
use crate::scenario::{ExpectCipherSuitesStep, Scenario};
use crate::timeline::{Entry, What};
use mock_broker::mqtt::tls_policy::{SUPPORTED, Support, support_of_name};
use serde_json::Value;

/// One judged point of a ClientHello, for the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteNote {
    /// What was found, e.g. `offers TLS_AES_128_GCM_SHA256: recommended by AWS IoT`.
    pub text: String,
    /// Device Advisor would pass the case with a warning for it.
    pub warning: bool,
}

/// What Device Advisor's cipher suite case makes of the suites a device offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuiteVerdict {
    /// At least one suite AWS IoT Core supports: a note per suite offered (signalling
    /// values left out), in the device's order, and a warning when none is recommended.
    /// A warning among them makes the case a pass with warnings.
    Pass(Vec<SuiteNote>),
    /// Not one suite AWS IoT Core supports: why.
    Fail(String),
}

/// Judges the cipher suites a ClientHello offered (IANA names, as the tap gives them), as
/// "TLS Device Support for AWS IoT recommended Cipher Suites" does: Pass with a
/// recommended suite and nothing unsupported, Pass with warnings with a supported suite
/// but no recommended one or with something unsupported, Fail with no supported suite.
pub fn cipher_suite_verdict(offered: &[String]) -> SuiteVerdict {
    let judged: Vec<(&str, Support)> = offered
        .iter()
        .map(|name| (name.as_str(), support_of_name(name)))
        .filter(|(_, support)| *support != Support::Signalling)
        .collect();
    let any = |wanted: &[Support]| judged.iter().any(|(_, s)| wanted.contains(s));
    if !any(&[Support::Recommended, Support::Supported]) {
        let names: Vec<&str> = judged.iter().map(|(name, _)| *name).collect();
        return SuiteVerdict::Fail(format!(
            "it offers none of the cipher suites AWS IoT Core supports, only: {}",
            if names.is_empty() {
                "nothing".to_owned()
            } else {
                names.join(", ")
            }
        ));
    }
    let mut notes: Vec<SuiteNote> = judged
        .iter()
        .map(|(name, support)| match support {
            Support::Recommended => SuiteNote {
                text: format!("offers {name}: recommended by AWS IoT"),
                warning: false,
            },
            Support::Supported => SuiteNote {
                text: format!("offers {name}: supported by AWS IoT Core"),
                warning: false,
            },
            _ => SuiteNote {
                text: format!(
                    "offers {name}: not supported by AWS IoT Core (verify that it is safe)"
                ),
                warning: true,
            },
        })
        .collect();
    if !any(&[Support::Recommended]) {
        let recommended: Vec<&str> = SUPPORTED
            .iter()
            .filter(|s| s.support == Support::Recommended)
            .map(|s| s.name)
            .collect();
        notes.push(SuiteNote {
            text: format!(
                "offers none of AWS IoT's recommended cipher suites ({})",
                recommended.join(", ")
            ),
            warning: true,
        });
    }
    SuiteVerdict::Pass(notes)
}

/// `payload` padded with `x`s to `size` bytes: a JSON object (`json`) gets a `padding`
/// member, text is followed by them. Errors when the payload is longer than `size`
/// already, or is JSON but not an object.
pub fn padded_payload(payload: String, json: bool, size: u32) -> Result<String, String> {
    let size = size as usize;
    let too_long = |bare: usize| format!("the payload takes {bare} bytes without padding");
    if !json {
        let bare = payload.len();
        return match size.checked_sub(bare) {
            Some(missing) => Ok(payload + &"x".repeat(missing)),
            None => Err(too_long(bare)),
        };
    }
    let mut value: Value = serde_json::from_str(&payload).map_err(|e| e.to_string())?;
    let pad = |value: &mut Value, padding: String| match value.as_object_mut() {
        Some(object) => {
            object.insert("padding".into(), Value::String(padding));
            Ok(())
        }
        None => Err("a JSON payload that is an object, to pad".to_owned()),
    };
    pad(&mut value, String::new())?;
    let bare = value.to_string().len();
    let missing = size.checked_sub(bare).ok_or_else(|| too_long(bare))?;
    pad(&mut value, "x".repeat(missing))?;
    Ok(value.to_string())
}

/// The board's latest accepted handshake on the timeline, as the tap recorded it.
fn latest_accepted<'a>(entries: &'a [Entry], certificate_id: &str) -> Option<&'a Value> {
    entries.iter().rev().find_map(|entry| match &entry.what {
        What::Broker { event }
            if event["event"] == "tls_accepted" && event["certificate_id"] == certificate_id =>
        {
            Some(event)
        }
        _ => None,
    })
}

/// The suites of a tap event (`cipher_suites`).
pub(super) fn offered(event: &Value) -> Vec<String> {
    event["cipher_suites"]
        .as_array()
        .map(|suites| {
            suites
                .iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// What the refused handshakes on the timeline say, for a board none of whose handshakes
/// was accepted (a refused handshake may carry no certificate to tell whose it was).
fn refused_handshakes(entries: &[Entry], certificate_id: &str) -> String {
    let refused: Vec<&Value> = entries
        .iter()
        .filter_map(|entry| match &entry.what {
            What::Broker { event }
                if event["event"] == "tls_rejected"
                    && (event["certificate_id"].is_null()
                        || event["certificate_id"] == certificate_id) =>
            {
                Some(event)
            }
            _ => None,
        })
        .collect();
    let Some(last) = refused.last() else {
        return "no handshake was refused either".into();
    };
    let verdict = match cipher_suite_verdict(&offered(last)) {
        SuiteVerdict::Fail(why) => format!(": {why}"),
        SuiteVerdict::Pass(_) => String::new(),
    };
    format!(
        "{} handshake(s) refused, the last for \"{}\", offering {}{verdict}",
        refused.len(),
        last["reason"].as_str().unwrap_or(""),
        offered(last).join(", ")
    )
}

impl World {
    pub(super) async fn expect_cipher_suites(
        &self,
        s: &ExpectCipherSuitesStep,
    ) -> Result<(), Mismatch> {
        let certificate_id = self.provisioned(&s.board)?.certificate_id;
        let board = s.board.get();
        let within = Scenario::checked_duration(&s.within);
        let deadline = self.timeline.instant(self.timeline.now() + within);
        let mut live = self.timeline.subscribe();
        let expected = format!(
            "a TLS handshake of {board} offering cipher suites AWS IoT Core supports, within {within:?}"
        );
        loop {
            let entries = self.timeline.entries();
            if let Some(event) = latest_accepted(&entries, &certificate_id) {
                let notes = match cipher_suite_verdict(&offered(event)) {
                    SuiteVerdict::Pass(notes) => notes,
                    SuiteVerdict::Fail(why) => return Err(mismatch(expected, why)),
                };
                let note = |text: String, warning| {
                    self.timeline.record(What::Note {
                        text: format!("expect_cipher_suites {board}: {text}"),
                        warning,
                    });
                };
                for SuiteNote { text, warning } in notes {
                    note(text, warning);
                }
                note(
                    format!(
                        "connected with {} over {}",
                        event["cipher_suite"].as_str().unwrap_or("?"),
                        event["tls_version"].as_str().unwrap_or("?")
                    ),
                    false,
                );
                if s.offer_each {
                    return self
                        .offer_each_cipher_suite(&s.board, &offered(event), within)
                        .await;
                }
                return Ok(());
            }
            if !Self::next_entry(&mut live, deadline).await {
                let refused = refused_handshakes(&entries, &certificate_id);
                return Err(mismatch(
                    expected,
                    format!("no handshake of {board} was accepted; {refused}"),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_recommended_suite_and_nothing_unsupported_passes_without_warning() {
        let offered = names(&[
            "TLS_AES_256_GCM_SHA384",
            "TLS_AES_128_GCM_SHA256",
            "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ]);
        let SuiteVerdict::Pass(notes) = cipher_suite_verdict(&offered) else {
            panic!("{:?}", cipher_suite_verdict(&offered));
        };
        assert_eq!(
            notes.len(),
            3,
            "the signalling value is no suite: {notes:?}"
        );
        assert!(notes.iter().all(|n| !n.warning), "{notes:?}");
        assert_eq!(
            notes[1].text,
            "offers TLS_AES_128_GCM_SHA256: recommended by AWS IoT"
        );
    }

    #[test]
    fn an_unsupported_suite_or_no_recommended_one_warns() {
        let offered = names(&[
            "TLS_AES_128_GCM_SHA256",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        ]);
        let SuiteVerdict::Pass(notes) = cipher_suite_verdict(&offered) else {
            panic!()
        };
        assert_eq!(notes.iter().filter(|n| n.warning).count(), 1, "{notes:?}");
        assert!(notes[1].text.contains("not supported by AWS IoT Core"));
        let SuiteVerdict::Pass(notes) =
            cipher_suite_verdict(&names(&["TLS_CHACHA20_POLY1305_SHA256"]))
        else {
            panic!()
        };
        assert!(
            notes.last().is_some_and(
                |n| n.warning && n.text.starts_with("offers none of AWS IoT's recommended")
            ),
            "{notes:?}"
        );
    }

    #[test]
    fn no_supported_suite_fails() {
        let offered = names(&[
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
        ]);
        assert_eq!(
            cipher_suite_verdict(&offered),
            SuiteVerdict::Fail(
                "it offers none of the cipher suites AWS IoT Core supports, only: \
                 TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, \
                 TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"
                    .into()
            )
        );
        assert!(
            matches!(cipher_suite_verdict(&[]), SuiteVerdict::Fail(why) if why.ends_with("nothing"))
        );
    }

    #[test]
    fn payloads_are_padded_to_the_byte() {
        let json = padded_payload(r#"{"state":{"toggle":1}}"#.into(), true, 16_384).unwrap();
        assert_eq!(json.len(), 16_384);
        let value: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["state"]["toggle"], 1);
        assert!(value["padding"].as_str().unwrap().chars().all(|c| c == 'x'));
        assert_eq!(padded_payload("hi".into(), false, 5).unwrap(), "hixxx");
        assert!(padded_payload("hello".into(), false, 3).is_err());
        assert!(padded_payload("[1]".into(), true, 100).is_err());
        assert!(padded_payload(r#"{"a":1}"#.into(), true, 3).is_err());
    }
}

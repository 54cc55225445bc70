//! Choosing the debug probe a rig names, among the attached ones.
//!
//! [`choose_probe`] is a pure function over a probe list (tested with chosen lists);
//! [`select_probe`] lists the attached probes with probe-rs, chooses, and opens.
//!
//! The rules, for a bench with several boards of one kind:
//! - a probe matches when its VID and PID are the selector's and, when the selector names
//!   a serial number, its serial number is exactly that one;
//! - a single match is chosen, with or without a serial number;
//! - several matches are an error that lists every candidate with its serial number:
//!   taking the first would flash whichever board enumerated first. A probe without a
//!   serial number (or two with the same one) cannot be told apart from the others, so it
//!   is selectable only when it is the only match;
//! - no match is an error that lists the attached probes.
//!
//! The outcome never depends on the order in which the probes enumerate: candidates are
//! listed sorted.

use crate::errors::ProbeSelectError;
use crate::rig::ProbeSelector;
use probe_rs::probe::list::Lister;
use probe_rs::probe::{DebugProbeInfo, Probe};

/// A probe's USB serial number, if it has one (an empty one counts as none).
pub fn usb_serial(info: &DebugProbeInfo) -> Option<&str> {
    info.serial_number
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// How a probe is shown in errors: `03eb:2175:SERIAL (product)`, or `03eb:2175 without a
/// serial number (product)`.
pub fn describe_probe(info: &DebugProbeInfo) -> String {
    let serial = match usb_serial(info) {
        Some(serial) => format!(":{serial}"),
        None => " without a serial number".to_owned(),
    };
    format!(
        "{:04x}:{:04x}{serial} ({})",
        info.vendor_id, info.product_id, info.identifier
    )
}

fn matches(selector: &ProbeSelector, info: &DebugProbeInfo) -> bool {
    info.vendor_id == selector.vid
        && info.product_id == selector.pid
        && selector
            .serial
            .as_deref()
            .is_none_or(|wanted| usb_serial(info) == Some(wanted))
}

fn sorted_descriptions<'a>(probes: impl Iterator<Item = &'a DebugProbeInfo>) -> Vec<String> {
    let mut listed: Vec<String> = probes.map(describe_probe).collect();
    listed.sort();
    listed
}

/// The one probe in `probes` that `selector` names; see the module documentation for
/// the rules.
pub fn choose_probe<'a>(
    selector: &ProbeSelector,
    probes: &'a [DebugProbeInfo],
) -> Result<&'a DebugProbeInfo, ProbeSelectError> {
    let found: Vec<&DebugProbeInfo> = probes.iter().filter(|p| matches(selector, p)).collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(ProbeSelectError::NotAttached {
            wanted: selector.to_string(),
            attached: sorted_descriptions(probes.iter()),
        }),
        several => {
            let serials: Vec<Option<&str>> = several.iter().map(|p| usb_serial(p)).collect();
            let distinct = serials
                .iter()
                .all(|s| s.is_some() && serials.iter().filter(|other| *other == s).count() == 1);
            let help = if distinct {
                let mut named: Vec<String> = several
                    .iter()
                    .map(|p| {
                        format!(
                            "\"{:04x}:{:04x}:{}\"",
                            p.vendor_id,
                            p.product_id,
                            usb_serial(p).unwrap_or_default()
                        )
                    })
                    .collect();
                named.sort();
                format!(
                    "name one by its serial number: probe = {}",
                    named.join(" or ")
                )
            } else {
                "probes without a serial number, or with the same one, cannot be told apart: \
                 leave only one of them attached"
                    .to_owned()
            };
            Err(ProbeSelectError::Ambiguous {
                wanted: selector.to_string(),
                candidates: sorted_descriptions(several.iter().copied()),
                help,
            })
        }
    }
}

/// Lists the attached probes, chooses the one `selector` names ([`choose_probe`]) and
/// opens it; returns it with its description from the list.
pub fn select_probe(selector: &ProbeSelector) -> Result<(Probe, DebugProbeInfo), ProbeSelectError> {
    let probes = Lister::new().list_all();
    let info = choose_probe(selector, &probes)?;
    let probe = info.open().map_err(|source| ProbeSelectError::Open {
        probe: describe_probe(info),
        source,
    })?;
    Ok((probe, info.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use probe_rs::probe::cmsisdap::CmsisDapFactory;

    /// A listed probe (never opened: the factory is only what the list entry carries).
    fn probe(vid: u16, pid: u16, serial: Option<&str>, product: &str) -> DebugProbeInfo {
        DebugProbeInfo::new(
            product,
            vid,
            pid,
            serial.map(str::to_owned),
            &CmsisDapFactory,
            Some(0),
            false,
        )
    }

    fn selector(text: &str) -> ProbeSelector {
        let mut parts = text.splitn(3, ':');
        let mut hex = || u16::from_str_radix(parts.next().unwrap(), 16).unwrap();
        let (vid, pid) = (hex(), hex());
        ProbeSelector {
            vid,
            pid,
            serial: parts.next().map(str::to_owned),
        }
    }

    fn nedbg(serial: Option<&str>) -> DebugProbeInfo {
        probe(0x03eb, 0x2175, serial, "nEDBG CMSIS-DAP")
    }

    /// The serial number of the chosen probe, chosen in both enumeration orders.
    fn chosen_in_any_order(wanted: &str, probes: &[DebugProbeInfo]) -> Option<String> {
        let choose = |list: &[DebugProbeInfo]| {
            choose_probe(&selector(wanted), list)
                .expect("one probe is chosen")
                .serial_number
                .clone()
        };
        let mut reversed = probes.to_vec();
        reversed.reverse();
        let forward = choose(probes);
        assert_eq!(
            forward,
            choose(&reversed),
            "the order of enumeration changed the choice"
        );
        forward
    }

    fn error_in_any_order(wanted: &str, probes: &[DebugProbeInfo]) -> String {
        let forward = choose_probe(&selector(wanted), probes)
            .expect_err("no single probe")
            .to_string();
        let mut reversed = probes.to_vec();
        reversed.reverse();
        let backward = choose_probe(&selector(wanted), &reversed)
            .expect_err("no single probe")
            .to_string();
        assert_eq!(
            forward, backward,
            "the order of enumeration changed the error"
        );
        forward
    }

    #[test]
    fn the_only_match_is_chosen_with_or_without_a_serial_number() {
        let bench = [
            nedbg(Some("ATML3203081800001234")),
            probe(0x0d28, 0x0204, Some("0240000034"), "DAPLink CMSIS-DAP"),
        ];
        assert_eq!(
            chosen_in_any_order("03eb:2175", &bench).as_deref(),
            Some("ATML3203081800001234")
        );
        let bare = [nedbg(None), probe(0x0d28, 0x0204, None, "DAPLink")];
        assert_eq!(chosen_in_any_order("03eb:2175", &bare), None);
        assert_eq!(
            chosen_in_any_order("03eb:2175", &[nedbg(Some("   "))]).as_deref(),
            Some("   "),
            "a blank serial number counts as none, and one such probe is still selectable"
        );
    }

    #[test]
    fn two_probes_of_one_kind_need_a_serial_number() {
        let bench = [
            nedbg(Some("ATML3203081800001234")),
            nedbg(Some("ATML3203081800005678")),
        ];
        assert_eq!(
            error_in_any_order("03eb:2175", &bench),
            "2 probes match 03eb:2175: 03eb:2175:ATML3203081800001234 (nEDBG CMSIS-DAP), \
             03eb:2175:ATML3203081800005678 (nEDBG CMSIS-DAP); name one by its serial number: \
             probe = \"03eb:2175:ATML3203081800001234\" or \"03eb:2175:ATML3203081800005678\""
        );
        assert_eq!(
            chosen_in_any_order("03eb:2175:ATML3203081800005678", &bench).as_deref(),
            Some("ATML3203081800005678")
        );
        assert_eq!(
            chosen_in_any_order("03eb:2175:ATML3203081800001234", &bench).as_deref(),
            Some("ATML3203081800001234")
        );
    }

    #[test]
    fn probes_without_a_serial_number_cannot_be_told_apart() {
        let bench = [
            nedbg(Some("ATML3203081800001234")),
            nedbg(None),
            nedbg(Some("")),
        ];
        assert_eq!(
            error_in_any_order("03eb:2175", &bench),
            "3 probes match 03eb:2175: 03eb:2175 without a serial number (nEDBG CMSIS-DAP), \
             03eb:2175 without a serial number (nEDBG CMSIS-DAP), \
             03eb:2175:ATML3203081800001234 (nEDBG CMSIS-DAP); probes without a serial \
             number, or with the same one, cannot be told apart: leave only one of them attached"
        );
        // The one with a serial number can still be named.
        assert_eq!(
            chosen_in_any_order("03eb:2175:ATML3203081800001234", &bench).as_deref(),
            Some("ATML3203081800001234")
        );
    }

    #[test]
    fn duplicated_serial_numbers_are_ambiguous_even_when_named() {
        // Cheap clones often share one serial number.
        let bench = [
            nedbg(Some("0001")),
            nedbg(Some("0001")),
            nedbg(Some("0002")),
        ];
        let error = error_in_any_order("03eb:2175:0001", &bench);
        assert!(
            error.starts_with("2 probes match 03eb:2175:0001: 03eb:2175:0001 (nEDBG CMSIS-DAP), 03eb:2175:0001 (nEDBG CMSIS-DAP); probes without"),
            "{error}"
        );
        assert!(error_in_any_order("03eb:2175", &bench).contains("cannot be told apart"));
        assert_eq!(
            chosen_in_any_order("03eb:2175:0002", &bench).as_deref(),
            Some("0002")
        );
    }

    #[test]
    fn a_missing_probe_is_named_with_the_attached_ones() {
        let bench = [
            probe(0x0d28, 0x0204, Some("0240000034"), "DAPLink CMSIS-DAP"),
            nedbg(Some("ATML3203081800001234")),
        ];
        assert_eq!(
            error_in_any_order("03eb:2175:XYZ", &bench),
            "no probe 03eb:2175:XYZ is attached; attached: \
             03eb:2175:ATML3203081800001234 (nEDBG CMSIS-DAP), \
             0d28:0204:0240000034 (DAPLink CMSIS-DAP)"
        );
        assert_eq!(
            error_in_any_order("1366:0105", &[]),
            "no probe 1366:0105 is attached; attached: none"
        );
    }

    #[test]
    fn the_attached_probes_are_listed_when_none_matches() {
        // This machine's real probe list (none in CI): no probe with this serial exists.
        let Err(error) = select_probe(&selector("03eb:2175:NO-SUCH-SERIAL")) else {
            panic!("no such probe here")
        };
        assert!(
            error
                .to_string()
                .starts_with("no probe 03eb:2175:NO-SUCH-SERIAL is attached; attached: "),
            "{error}"
        );
    }
}

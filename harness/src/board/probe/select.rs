//! Choosing the debug probe a rig names, among the attached ones.

use crate::rig::ProbeSelector;
use probe_rs::probe::Probe;
use probe_rs::probe::list::Lister;

/// Opens the probe matching `selector`; the error lists the attached probes.
pub fn select_probe(selector: &ProbeSelector) -> Result<Probe, String> {
    let lister = Lister::new();
    let probes = lister.list_all();
    let wanted = probes.iter().find(|p| {
        p.vendor_id == selector.vid
            && p.product_id == selector.pid
            && selector
                .serial
                .as_ref()
                .is_none_or(|s| p.serial_number.as_deref() == Some(s.as_str()))
    });
    match wanted {
        Some(info) => info
            .open()
            .map_err(|e| format!("cannot open probe {}: {e}", info.identifier)),
        None => {
            let attached: Vec<String> = probes
                .iter()
                .map(|p| {
                    format!(
                        "{:04x}:{:04x}{} ({})",
                        p.vendor_id,
                        p.product_id,
                        p.serial_number
                            .as_deref()
                            .map(|s| format!(":{s}"))
                            .unwrap_or_default(),
                        p.identifier
                    )
                })
                .collect();
            let serial = selector
                .serial
                .as_deref()
                .map(|s| format!(":{s}"))
                .unwrap_or_default();
            Err(format!(
                "no probe {:04x}:{:04x}{serial} is attached; attached: {}",
                selector.vid,
                selector.pid,
                if attached.is_empty() {
                    "none".to_owned()
                } else {
                    attached.join(", ")
                }
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_probe_is_named_with_the_attached_ones() {
        let Err(error) = select_probe(&ProbeSelector {
            vid: 0x03eb,
            pid: 0x2175,
            serial: Some("XYZ".into()),
        }) else {
            panic!("no such probe here")
        };
        assert!(
            error.contains("no probe 03eb:2175:XYZ is attached"),
            "{error}"
        );
    }
}

//! Checking a firmware image before QEMU runs it: [`check_elf`] reads the ELF with the
//! `object` crate and refuses, naming the file and what is wrong, an image QEMU would
//! load into nothing or not boot: not ELF32, not ARM, not little-endian, no entry point,
//! a loadable segment outside the machine's memory ([`Machine`], from QEMU's
//! `hw/arm/mps2.c`; each mirror its own region, so a segment cannot run into its own
//! start), or no vector table at address 0, where a Cortex-M boots from (an initial stack
//! pointer in memory and a Thumb reset vector). Starting QEMU is elsewhere
//! (`super::process`).

use object::Endianness;
use object::elf;
use object::read::elf::{FileHeader, ProgramHeader};
use std::ops::Range;
use std::path::Path;

/// A QEMU machine the harness knows: its name and where its memory is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// QEMU's name for it (`-M`).
    pub name: &'static str,
    /// Memory regions a loadable segment may occupy, with their names.
    pub memory: &'static [(&'static str, Range<u64>)],
}

/// ARM's AN385 on an MPS2 board (Cortex-M3), as QEMU's `mps2.c` maps it (checked with
/// `info mtree` on QEMU 7.2): ZBT SSRAM1 for code (4 MiB at 0, and its mirror above), the
/// block RAM (16 KiB at 0x0100_0000, mirrored 4 times), SSRAM2/3 for data (4 MiB at
/// 0x2000_0000, and its mirror above) and the PSRAM (16 MiB at 0x2100_0000).
pub const MPS2_AN385: Machine = Machine {
    name: "mps2-an385",
    memory: &[
        ("code (ZBT SSRAM1)", 0x0000_0000..0x0040_0000),
        ("code mirror (ZBT SSRAM1)", 0x0040_0000..0x0080_0000),
        ("block RAM", 0x0100_0000..0x0100_4000),
        ("block RAM mirror 1", 0x0100_4000..0x0100_8000),
        ("block RAM mirror 2", 0x0100_8000..0x0100_c000),
        ("block RAM mirror 3", 0x0100_c000..0x0101_0000),
        ("data (ZBT SSRAM2/3)", 0x2000_0000..0x2040_0000),
        ("data mirror (ZBT SSRAM2/3)", 0x2040_0000..0x2080_0000),
        ("PSRAM", 0x2100_0000..0x2200_0000),
    ],
};

/// The machines a rig may name.
pub const MACHINES: &[Machine] = &[MPS2_AN385];

/// The machine called `name`, if the harness knows it.
pub fn machine(name: &str) -> Option<&'static Machine> {
    MACHINES.iter().find(|m| m.name == name)
}

/// What is wrong with an image (the caller adds the file).
fn check_bytes(data: &[u8], machine: &Machine) -> Result<(), String> {
    let header = elf::FileHeader32::<Endianness>::parse(data).map_err(|_| {
        if data.get(..4) == Some(b"\x7fELF") {
            format!(
                "not a 32-bit ELF (class {}): {} is a 32-bit Cortex-M machine",
                data.get(4).copied().unwrap_or(0),
                machine.name
            )
        } else {
            "not an ELF file".to_owned()
        }
    })?;
    let endian = header
        .endian()
        .map_err(|_| "unknown ELF byte order".to_owned())?;
    if endian != Endianness::Little {
        return Err(format!("big-endian ELF; {} is little-endian", machine.name));
    }
    let e_machine = header.e_machine(endian);
    if e_machine != elf::EM_ARM {
        return Err(format!(
            "ELF for machine {e_machine} (not ARM, 40); {} is a Cortex-M3",
            machine.name
        ));
    }
    let entry = u64::from(header.e_entry(endian));
    if entry == 0 {
        return Err("no entry point (e_entry is 0)".to_owned());
    }
    let segments = header
        .program_headers(endian, data)
        .map_err(|e| format!("unreadable program headers: {e}"))?;
    let inside = |start: u64, len: u64| {
        len == 0
            || machine.memory.iter().any(|(_, r)| {
                start >= r.start && start.checked_add(len).is_some_and(|end| end <= r.end)
            })
    };
    let mut loadable = 0;
    for segment in segments {
        if segment.p_type(endian) != elf::PT_LOAD {
            continue;
        }
        loadable += 1;
        let (paddr, vaddr) = (
            u64::from(segment.p_paddr(endian)),
            u64::from(segment.p_vaddr(endian)),
        );
        let (filesz, memsz) = (
            u64::from(segment.p_filesz(endian)),
            u64::from(segment.p_memsz(endian)),
        );
        if !inside(paddr, filesz) || !inside(vaddr, memsz) {
            let regions: Vec<String> = machine
                .memory
                .iter()
                .map(|(name, r)| format!("{name} {:#010x}..{:#010x}", r.start, r.end))
                .collect();
            return Err(format!(
                "loadable segment at {paddr:#010x} ({filesz} bytes; {memsz} in memory at {vaddr:#010x}) is outside {}'s memory: {}",
                machine.name,
                regions.join(", ")
            ));
        }
    }
    if loadable == 0 {
        return Err("no loadable segment".to_owned());
    }
    if !machine.memory.iter().any(|(_, r)| r.contains(&entry)) {
        return Err(format!(
            "entry point {entry:#010x} is outside {}'s memory",
            machine.name
        ));
    }
    check_vector_table(data, endian, segments, machine)
}

/// A Cortex-M boots from the vector table at address 0: the initial stack pointer (in
/// memory, or just past its end) and the reset handler (a Thumb address, bit 0 set, in
/// memory). They must be in the file, in a loadable segment that starts at 0.
fn check_vector_table(
    data: &[u8],
    endian: Endianness,
    segments: &[elf::ProgramHeader32<Endianness>],
    machine: &Machine,
) -> Result<(), String> {
    let words = segments
        .iter()
        .filter(|s| s.p_type(endian) == elf::PT_LOAD)
        .filter(|s| s.p_paddr(endian) == 0 && s.p_filesz(endian) >= 8)
        .find_map(|s| {
            let offset = usize::try_from(s.p_offset(endian)).ok()?;
            let bytes = data.get(offset..offset.checked_add(8)?)?;
            let word = |i: usize| {
                let b: [u8; 4] = bytes.get(i..i + 4)?.try_into().ok()?;
                Some(u64::from(u32::from_le_bytes(b)))
            };
            Some((word(0)?, word(4)?))
        });
    let Some((stack, reset)) = words else {
        return Err(format!(
            "no vector table at 0x00000000 (a loadable segment there with the initial stack \
             pointer and the reset vector): {} boots a Cortex-M from address 0",
            machine.name
        ));
    };
    if reset & 1 == 0 {
        return Err(format!(
            "reset vector {reset:#010x} is not a Thumb address (bit 0 clear)"
        ));
    }
    if !machine
        .memory
        .iter()
        .any(|(_, r)| r.contains(&(reset & !1)))
    {
        return Err(format!(
            "reset vector {reset:#010x} is outside {}'s memory",
            machine.name
        ));
    }
    if !machine
        .memory
        .iter()
        .any(|(_, r)| r.start < stack && stack <= r.end)
    {
        return Err(format!(
            "initial stack pointer {stack:#010x} is outside {}'s memory",
            machine.name
        ));
    }
    Ok(())
}

/// Checks that `path` is an image `machine` can run; the error names the file and what is
/// wrong with it.
pub fn check_elf(path: &Path, machine: &Machine) -> Result<(), String> {
    let data = std::fs::read(path).map_err(|e| {
        format!(
            "cannot read firmware {}: {e} (the reference image: run ci/build-qemu-firmware; \
                 another: `firmware =` in the rig, or HIL_QEMU_FIRMWARE)",
            path.display()
        )
    })?;
    check_bytes(&data, machine).map_err(|why| {
        format!(
            "firmware {} cannot run on {}: {why}",
            path.display(),
            machine.name
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF: header and one PT_LOAD program header (32- or 64-bit layout).
    struct Image {
        class: u8,
        big_endian: bool,
        machine: u16,
        entry: u32,
        load: Option<(u32, u32)>,
        /// The first two words of the segment's file data: initial SP and reset vector.
        vectors: (u32, u32),
    }

    impl Default for Image {
        fn default() -> Self {
            Image {
                class: 1,
                big_endian: false,
                machine: 40,
                entry: 0xc1,
                load: Some((0, 0x100)),
                vectors: (0x2040_0000, 0xc1),
            }
        }
    }

    impl Image {
        fn bytes(&self) -> Vec<u8> {
            let big = self.big_endian;
            let h16 = |v: u16| {
                if big {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                }
            };
            let h32 = |v: u32| {
                if big {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                }
            };
            let mut out = vec![0x7f, b'E', b'L', b'F', self.class];
            out.push(if self.big_endian { 2 } else { 1 });
            out.push(1);
            out.resize(16, 0);
            out.extend(h16(2)); // ET_EXEC
            out.extend(h16(self.machine));
            out.extend(h32(1));
            out.extend(h32(self.entry));
            out.extend(h32(if self.load.is_some() { 52 } else { 0 })); // e_phoff
            out.extend(h32(0)); // e_shoff
            out.extend(h32(0x0500_0200)); // e_flags
            out.extend(h16(52));
            out.extend(h16(32));
            out.extend(h16(u16::from(self.load.is_some())));
            out.extend(h16(40));
            out.extend(h16(0));
            out.extend(h16(0));
            if let Some((addr, size)) = self.load {
                // The segment's file data follows the program header.
                let data = 52 + 32;
                for word in [1, data, addr, addr, size, size, 5, 4] {
                    out.extend(h32(word));
                }
                out.extend(h32(self.vectors.0));
                out.extend(h32(self.vectors.1));
            }
            out
        }

        fn check(&self) -> Result<(), String> {
            check_bytes(&self.bytes(), &MPS2_AN385)
        }
    }

    #[test]
    fn a_cortex_m_image_in_the_machines_memory_passes() {
        Image::default().check().unwrap();
        Image {
            vectors: (0x2080_0000, 0x401),
            ..Image::default()
        }
        .check()
        .unwrap();
    }

    #[test]
    fn what_is_wrong_is_said() {
        let err = |image: Image| image.check().unwrap_err();
        assert_eq!(
            check_bytes(b"#!/bin/sh\n", &MPS2_AN385).unwrap_err(),
            "not an ELF file"
        );
        assert!(
            err(Image {
                class: 2,
                ..Image::default()
            })
            .starts_with("not a 32-bit ELF"),
        );
        assert_eq!(
            err(Image {
                big_endian: true,
                ..Image::default()
            }),
            "big-endian ELF; mps2-an385 is little-endian"
        );
        assert_eq!(
            err(Image {
                machine: 62,
                ..Image::default()
            }),
            "ELF for machine 62 (not ARM, 40); mps2-an385 is a Cortex-M3"
        );
        assert_eq!(
            err(Image {
                entry: 0,
                ..Image::default()
            }),
            "no entry point (e_entry is 0)"
        );
        assert!(
            err(Image {
                load: Some((0x0800_0000, 0x100)),
                ..Image::default()
            })
            .starts_with("loadable segment at 0x08000000 (256 bytes; 256 in memory at 0x08000000) is outside mps2-an385's memory: code (ZBT SSRAM1) 0x00000000..0x00400000"),
        );
        assert!(
            err(Image {
                load: Some((0x207f_ff00, 0x200)),
                ..Image::default()
            })
            .contains("outside"),
            "a segment across the end of RAM"
        );
        assert_eq!(
            err(Image {
                load: None,
                ..Image::default()
            }),
            "no loadable segment"
        );
        assert!(
            err(Image {
                load: Some((0x2040_0000 - 0x100, 0x200)),
                ..Image::default()
            })
            .contains("outside"),
            "a segment running from RAM into its mirror"
        );
        assert!(
            err(Image {
                load: Some((0x2000_0000, 0x1000)),
                ..Image::default()
            })
            .starts_with("no vector table at 0x00000000"),
            "linked to RAM only"
        );
        assert_eq!(
            err(Image {
                vectors: (0x2040_0000, 0xc0),
                ..Image::default()
            }),
            "reset vector 0x000000c0 is not a Thumb address (bit 0 clear)"
        );
        assert_eq!(
            err(Image {
                vectors: (0x2040_0000, 0x0900_0001),
                ..Image::default()
            }),
            "reset vector 0x09000001 is outside mps2-an385's memory"
        );
        assert_eq!(
            err(Image {
                vectors: (0x3000_0000, 0xc1),
                ..Image::default()
            }),
            "initial stack pointer 0x30000000 is outside mps2-an385's memory"
        );
    }

    #[test]
    fn the_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.elf");
        std::fs::write(&path, b"not elf").unwrap();
        assert_eq!(
            check_elf(&path, &MPS2_AN385).unwrap_err(),
            format!(
                "firmware {} cannot run on mps2-an385: not an ELF file",
                path.display()
            )
        );
        assert!(
            check_elf(&dir.path().join("missing.elf"), &MPS2_AN385)
                .unwrap_err()
                .starts_with("cannot read firmware ")
        );
    }

    #[test]
    #[ignore = "needs the mps2-an385 image (ci/build-qemu-firmware)"]
    fn the_reference_image_passes() {
        let image = std::env::var_os("HIL_QEMU_FIRMWARE").map_or_else(
            || super::super::default_firmware(&crate::rig::workspace_root()),
            std::path::PathBuf::from,
        );
        check_elf(&image, &MPS2_AN385).unwrap();
    }
}

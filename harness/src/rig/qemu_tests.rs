//! Rig parsing of `kind = "qemu"` boards: the shipped QEMU rig, defaults, and located
//! errors (speed, firmware, machine, probe-rs keys).

use super::*;

/// The error's message without the file name in front, and its line and column.
fn located(dir: &Path, text: &str) -> (String, (usize, usize)) {
    let path = dir.join("rig.toml");
    let error = Rig::parse(&path, text).unwrap_err();
    let at = error.line_column().expect("the error has a location");
    let prefix = format!("{}: ", path.display());
    let message = error.message();
    (
        message.strip_prefix(&prefix).unwrap_or(message).to_owned(),
        at,
    )
}

#[test]
fn the_shipped_qemu_rig_loads() {
    let rig = Rig::load(&workspace_root().join("scenarios/rigs/qemu.toml")).unwrap();
    assert!(rig.clock.is_real_time());
    assert_eq!(rig.boards.len(), 3);
    for board in rig.boards.values() {
        let BoardSpec::Qemu {
            machine,
            leds,
            program,
            poll,
            ..
        } = board
        else {
            panic!("{board:?}")
        };
        assert_eq!(machine.name, "mps2-an385");
        assert_eq!(program, Path::new("qemu-system-arm"));
        assert_eq!(*poll, Duration::from_millis(10));
        let bits: Vec<(&str, u32, u8)> = leds
            .iter()
            .map(|(n, l)| (n.as_str(), l.register, l.bit))
            .collect();
        assert_eq!(
            bits,
            [
                ("blue", 0x4002_f004, 0),
                ("green", 0x4002_f004, 1),
                ("red", 0x4002_f004, 3),
                ("yellow", 0x4002_f004, 2)
            ]
        );
        assert!(leds.values().all(|l| !l.active_low));
    }
    let caps = rig.boards["dut"].capabilities();
    assert!(caps.power_cycle && caps.wifi && !caps.environment);
}

#[test]
fn paths_are_relative_to_the_rig_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.elf"), b"").unwrap();
    let rig = Rig::parse(
        &dir.path().join("rig.toml"),
        "[boards.dut]\nkind = \"qemu\"\nmachine = \"mps2-an385\"\nfirmware = \"app.elf\"\nqemu = \"bin/qemu-system-arm\"\n",
    )
    .unwrap();
    let BoardSpec::Qemu {
        firmware, program, ..
    } = &rig.boards["dut"]
    else {
        panic!()
    };
    assert_eq!(firmware, &dir.path().join("app.elf"));
    assert_eq!(program, &dir.path().join("bin/qemu-system-arm"));
}

#[test]
fn a_qemu_rig_runs_in_real_time() {
    let dir = tempfile::tempdir().unwrap();
    let board = "[boards.dut]\nkind = \"qemu\"\nmachine = \"mps2-an385\"\n";
    let (message, at) = located(dir.path(), &format!("speed = 500\n{board}"));
    assert_eq!(
        message,
        "the rig has a qemu board (dut), which runs in real time, so its speed must be 1"
    );
    assert_eq!(at, (1, 9));
    let (message, at) = located(dir.path(), &format!("{board}speed = 20\n"));
    assert_eq!(
        message,
        "board dut is a firmware image under QEMU (no -icount): it runs in real time"
    );
    assert_eq!(at, (4, 9));
    Rig::parse(&dir.path().join("rig.toml"), &format!("speed = 1\n{board}")).unwrap();
}

#[test]
fn qemu_board_errors_point_at_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let (message, at) = located(
        dir.path(),
        "[boards.dut]\nkind = \"qemu\"\nmachine = \"mps2-an385\"\nfirmware = \"missing.elf\"\n",
    );
    assert_eq!(
        message,
        format!(
            "no firmware image at {}",
            dir.path().join("missing.elf").display()
        )
    );
    assert_eq!(at, (4, 12));
    let (message, at) = located(
        dir.path(),
        "[boards.dut]\nkind = \"qemu\"\nmachine = \"mps2-an386\"\n",
    );
    assert_eq!(message, "unknown QEMU machine \"mps2-an386\"");
    assert_eq!(at, (3, 11));
    let (message, _) = located(dir.path(), "[boards.dut]\nkind = \"qemu\"\n");
    assert_eq!(message, "a qemu board needs `machine`");
    let (message, at) = located(
        dir.path(),
        "[boards.dut]\nkind = \"qemu\"\nmachine = \"mps2-an385\"\nserial = { port = \"/dev/ttyACM0\" }\n",
    );
    assert_eq!(message, "`serial` is for probe-rs boards");
    assert_eq!(at.0, 4);
    let (message, at) = located(
        dir.path(),
        "[boards.dut]\nkind = \"qemu\"\nmachine = \"mps2-an385\"\n[boards.dut.leds]\npurple = { register = 1, bit = 1 }\n",
    );
    assert_eq!(message, "unknown LED \"purple\"");
    assert_eq!(at, (5, 1));
}

#[test]
fn a_poll_period_over_a_second_is_a_located_error() {
    let dir = tempfile::tempdir().unwrap();
    let (message, at) = located(
        dir.path(),
        "[broker]\nkind = \"embedded\"\n[boards.dut]\nkind = \"qemu\"\nmachine = \"mps2-an385\"\npoll_ms = 5000\n",
    );
    assert_eq!(message, "poll_ms must be at most 1000");
    assert_eq!(at, (6, 11));
}

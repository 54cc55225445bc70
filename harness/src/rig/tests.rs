//! Rig parsing: the shipped rigs, and every validation error with its location.

use super::*;
use std::path::PathBuf;

fn parse(text: &str) -> Result<Rig, RigError> {
    Rig::parse(Path::new("/rigs/test.toml"), text)
}

fn error_at(text: &str) -> (String, (usize, usize)) {
    let error = parse(text).unwrap_err();
    let location = error.line_column().expect("the error has a location");
    (error.message().to_owned(), location)
}

#[test]
fn the_shipped_rigs_load() {
    let root = workspace_root();
    let emulated = Rig::load(&root.join(DEFAULT_RIG)).unwrap();
    assert!(matches!(emulated.boards["dut"], BoardSpec::Emulated { .. }));
    assert_eq!(
        emulated.access_point("dut").map(|ap| ap.ssid.as_str()),
        Some("hil-lab")
    );
    assert!(matches!(emulated.broker, BrokerSpec::Embedded { .. }));
    assert!(emulated.clock.speed() >= 10.0, "the default rig runs fast");

    let lab = Rig::load(&root.join("scenarios/rigs/sam-iot-wg.toml")).unwrap();
    let BoardSpec::ProbeRs {
        chip,
        probe,
        leds,
        poll,
        serial_port,
        ..
    } = &lab.boards["dut"]
    else {
        panic!("the lab rig has a probe-rs board")
    };
    assert_eq!(chip, "ATSAMD21G18A");
    assert_eq!((probe.vid, probe.pid), (0x03eb, 0x2175));
    assert_eq!(*serial_port, SerialPortSpec::ProbeUsb);
    assert_eq!(*poll, Duration::from_millis(5));
    assert_eq!(
        leds["blue"],
        LedBit {
            register: 0x4100_4410,
            bit: 21,
            active_low: true
        }
    );
    assert_eq!(leds["green"].bit, 20);
    assert_eq!(leds["yellow"].bit, 11);
    assert_eq!(leds["red"].bit, 25);

    let bench = Rig::load(&root.join("scenarios/rigs/sam-iot-wg-bench.toml")).unwrap();
    let probes: Vec<String> = bench
        .boards
        .iter()
        .map(|(name, board)| match board {
            BoardSpec::ProbeRs {
                probe, serial_port, ..
            } => {
                assert_eq!(*serial_port, SerialPortSpec::ProbeUsb);
                format!("{name} {probe}")
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        probes,
        [
            "dut 03eb:2175:ATML3203081800001111",
            "dut2 03eb:2175:ATML3203081800002222",
            "dut3 03eb:2175:ATML3203081800003333"
        ]
    );
}

/// A probe-rs board `name` on `probe`, with `serial` as its console line.
fn probe_board(name: &str, probe: &str, serial: &str) -> String {
    format!(
        "[boards.{name}]\nkind = \"probe-rs\"\nchip = \"X\"\nprobe = \"{probe}\"\nfirmware = \"f.elf\"\n{serial}\n"
    )
}

fn console_of(text: &str) -> (SerialPortSpec, u32) {
    match parse(text).unwrap().boards.remove("dut") {
        Some(BoardSpec::ProbeRs {
            serial_port, baud, ..
        }) => (serial_port, baud),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_console_is_a_path_a_usb_serial_number_or_the_probes_own_port() {
    let by_id =
        "/dev/serial/by-id/usb-Microchip_Technology_Inc._nEDBG_CMSIS-DAP_ATML3203081800001234-if01";
    assert_eq!(
        console_of(&probe_board(
            "dut",
            "03eb:2175",
            &format!("serial = {{ port = \"{by_id}\", baud = 9600 }}")
        )),
        (SerialPortSpec::Path(PathBuf::from(by_id)), 9600)
    );
    assert_eq!(
        console_of(&probe_board(
            "dut",
            "03eb:2175",
            "serial = { usb_serial = \" A10KZP2F \" }"
        )),
        (SerialPortSpec::UsbSerial("A10KZP2F".into()), 115_200)
    );
    assert_eq!(
        console_of(&probe_board(
            "dut",
            "03eb:2175",
            "serial = { baud = 57600 }"
        )),
        (SerialPortSpec::ProbeUsb, 57_600)
    );
    assert_eq!(
        console_of(&probe_board("dut", "03eb:2175", "")),
        (SerialPortSpec::ProbeUsb, 115_200)
    );
}

/// The error's message without the file name in front, and its line and column.
fn located(text: &str) -> (String, (usize, usize)) {
    let (message, at) = error_at(text);
    let message = message
        .strip_prefix("/rigs/test.toml: ")
        .map(str::to_owned)
        .unwrap_or(message);
    (message, at)
}

#[test]
fn bad_console_settings_point_at_the_value() {
    let board = |serial: &str| probe_board("dut", "03eb:2175", serial);
    let (message, at) = located(&board(
        "serial = { port = \"/dev/ttyACM0\", usb_serial = \"ATML1\" }",
    ));
    assert_eq!(message, "`port` and `usb_serial` both name the console");
    assert_eq!(at, (6, 48));
    let (message, at) = located(&board("serial = { port = \"ttyACM0\" }"));
    assert_eq!(message, "the console port is a device path");
    assert_eq!(at, (6, 19));
    let (message, at) = located(&board("serial = { usb_serial = \"  \" }"));
    assert_eq!(message, "the USB serial number is empty");
    assert_eq!(at, (6, 25));
    let (message, at) = located(&board("serial = { baud = 0 }"));
    assert_eq!(message, "the baud rate must be positive");
    assert_eq!(at, (6, 19));
    let (message, at) = located(&board("serial = { by_path = \"/dev/x\" }"));
    assert!(message.contains("unknown field `by_path`"), "{message}");
    assert_eq!(at.0, 6);
    let (message, at) =
        located("[boards.dut]\nkind = \"emulated\"\nserial = { port = \"/dev/ttyACM0\" }\n");
    assert_eq!(
        message,
        "an emulated board's console is its own pseudo-terminal"
    );
    assert_eq!(at, (3, 10));
}

#[test]
fn two_boards_cannot_share_a_probe_or_a_console() {
    let rig = |a: (&str, &str), b: (&str, &str)| {
        format!(
            "{}{}",
            probe_board("a", a.0, a.1),
            probe_board("b", b.0, b.1)
        )
    };
    // Line 10 is board b's probe, line 12 its serial.
    for (a, b) in [
        ("03eb:2175", "03eb:2175"),
        ("03eb:2175:ATML1", "03eb:2175"),
        ("03eb:2175", "03eb:2175:ATML2"),
        ("03eb:2175:ATML1", "03eb:2175:ATML1"),
    ] {
        let (message, at) = located(&rig((a, ""), (b, "")));
        assert_eq!(
            message,
            format!("boards a and b could open the same probe ({b})"),
            "{a} / {b}"
        );
        assert_eq!(at, (10, 9), "{a} / {b}");
    }
    // Each probe named by its serial number: fine, each board's console is its probe's.
    let pair = parse(&rig(("03eb:2175:ATML1", ""), ("03eb:2175:ATML2", ""))).unwrap();
    assert_eq!(pair.boards.len(), 2);
    assert!(parse(&rig(("03eb:2175", ""), ("0d28:0204", ""))).is_ok());

    for (a, b, shared) in [
        (
            "serial = { port = \"/dev/ttyUSB0\" }",
            "serial = { port = \"/dev/ttyUSB0\" }",
            "/dev/ttyUSB0",
        ),
        (
            "serial = { usb_serial = \"A10KZP2F\" }",
            "serial = { usb_serial = \"A10KZP2F\" }",
            "USB serial A10KZP2F",
        ),
        // Board a's console is its probe's own port; board b names that same device.
        (
            "",
            "serial = { usb_serial = \"ATML1\" }",
            "USB serial ATML1",
        ),
    ] {
        let (message, at) = located(&rig(("03eb:2175:ATML1", a), ("0d28:0204", b)));
        assert_eq!(
            message,
            format!("boards a and b have the same console ({shared})")
        );
        assert_eq!(at, (12, 10));
    }
}

/// The help a located error renders with.
fn help_of(text: &str) -> String {
    use miette::Diagnostic;
    let error = parse(text).unwrap_err();
    error.help().map(|h| h.to_string()).unwrap_or_default()
}

#[test]
fn the_rig_has_one_clock() {
    let emulated = "[boards.dut]\nkind = \"emulated\"\n";
    let rig = parse(emulated).unwrap();
    assert_eq!(
        rig.clock,
        RigClock::REAL_TIME,
        "speed 1 when the file gives none"
    );
    let rig = parse(&format!("speed = 20\n{emulated}")).unwrap();
    assert_eq!(rig.clock.speed(), 20.0);
    let rig = parse(&format!("speed = 12.5\n{emulated}speed = 12.5\n")).unwrap();
    assert_eq!(
        rig.clock.speed(),
        12.5,
        "a board may repeat the rig's speed"
    );

    let (message, at) = located(&format!("speed = 0\n{emulated}"));
    assert_eq!(
        message,
        "speed must be a positive number from 0.000001 to 1000000, not 0"
    );
    assert_eq!(at, (1, 9));
    let (message, at) = located(&format!("speed = \"fast\"\n{emulated}"));
    assert!(message.contains("invalid type"), "{message}");
    assert_eq!(at.0, 1);

    // A board's own speed is the rig's, or an error at the board's value.
    let other = format!("speed = 20\n{emulated}speed = 10\n");
    let (message, at) = located(&other);
    assert_eq!(message, "board dut's speed 10 differs from the rig's (20)");
    assert_eq!(at, (4, 9));
    assert_eq!(
        help_of(&other),
        "a rig has one clock: remove the board's `speed`"
    );
    let per_board = format!("{emulated}speed = 5.0\n");
    let (message, at) = located(&per_board);
    assert_eq!(message, "board dut's speed 5 differs from the rig's (1)");
    assert_eq!(at, (3, 9));
    assert!(
        help_of(&per_board).contains("write `speed = 5` at the top of the rig file"),
        "{}",
        help_of(&per_board)
    );
    let (message, at) = located(&format!("{emulated}speed = -1.0\n"));
    assert!(
        message.starts_with("speed must be a positive number"),
        "{message}"
    );
    assert_eq!(at, (3, 9));
}

#[test]
fn a_rig_with_real_hardware_runs_in_real_time() {
    let lab = probe_board("dut", "03eb:2175", "");
    let rig = parse(&format!("speed = 1\n{lab}")).unwrap();
    assert!(rig.clock.is_real_time());

    let fast = format!("speed = 20\n{lab}");
    let (message, at) = located(&fast);
    assert_eq!(
        message,
        "the rig has a probe-rs board (dut), which runs in real time, so its speed must be 1"
    );
    assert_eq!(at, (1, 9), "at the rig's speed");
    assert!(help_of(&fast).contains("scenario durations are board time"));

    // With an emulated board beside it, still one clock for both.
    let mixed = format!("speed = 20\n[boards.emu]\nkind = \"emulated\"\n{lab}");
    let (message, at) = located(&mixed);
    assert!(message.contains("probe-rs board (dut)"), "{message}");
    assert_eq!(at, (1, 9));

    let (message, at) = located(&format!("{lab}speed = 2\n"));
    assert_eq!(message, "board dut is real hardware: it runs in real time");
    assert_eq!(at.0, 7, "at the board's own speed");
}

#[test]
fn relative_paths_are_relative_to_the_rig_file() {
    let rig =
        parse("[pki]\ndir = \"pki\"\n[boards.dut]\nkind = \"emulated\"\nbinary = \"bin/board\"\n")
            .unwrap();
    assert_eq!(rig.pki_dir, Path::new("/rigs/pki"));
    assert!(
        matches!(&rig.boards["dut"], BoardSpec::Emulated { binary: Some(b), .. } if b == Path::new("/rigs/bin/board"))
    );
}

#[test]
fn syntax_errors_and_unknown_keys_have_locations() {
    let (message, at) = located("[boards.dut]\nkind = \"emulated\"\nsped = 2.0\n");
    assert!(message.contains("sped"), "{message}");
    assert_eq!(at.0, 3);
    let (_, at) = located("[boards.dut\nkind = 1\n");
    assert_eq!(at.0, 1);
}

#[test]
fn validation_errors_point_at_the_value() {
    let (message, at) = located("[boards.dut]\nkind = \"teleport\"\n");
    assert!(
        message.contains("unknown board kind \"teleport\""),
        "{message}"
    );
    assert_eq!(at, (2, 8));

    let (message, at) = located("[boards.dut]\nkind = \"emulated\"\nspeed = -1.0\n");
    assert!(message.contains("speed"), "{message}");
    assert_eq!(at.0, 3);

    let (message, at) = located("[boards.dut]\nkind = \"emulated\"\nwifi = \"nowhere\"\n");
    assert!(message.contains("no access point \"nowhere\""), "{message}");
    assert_eq!(at.0, 3);

    let (message, at) = located(
        "[boards.dut]\nkind = \"probe-rs\"\nchip = \"X\"\nprobe = \"zz:2175\"\nfirmware = \"f.elf\"\nserial = { port = \"/dev/ttyACM0\" }\n",
    );
    assert!(message.contains("invalid probe selector"), "{message}");
    assert_eq!(at.0, 4);

    let (message, at) = located(
        "[boards.dut]\nkind = \"probe-rs\"\nchip = \"X\"\nprobe = \"03eb:2175\"\nfirmware = \"f.elf\"\nserial = { port = \"/dev/ttyACM0\" }\n[boards.dut.leds]\npurple = { register = 1, bit = 1 }\n",
    );
    assert!(message.contains("unknown LED \"purple\""), "{message}");
    assert_eq!(at.0, 8);

    let (message, _) = located("[broker]\nkind = \"cloud\"\n[boards.dut]\nkind = \"emulated\"\n");
    assert!(message.contains("unknown broker kind"), "{message}");
    let (message, _) = located(
        "[broker]\nkind = \"external\"\nurl = \"http://x\"\n[boards.dut]\nkind = \"emulated\"\n",
    );
    assert!(message.contains("mqtts://"), "{message}");
}

#[test]
fn missing_parts_are_named() {
    let error = parse("[broker]\nkind = \"embedded\"\n").unwrap_err();
    assert!(error.message().contains("no [boards]"));
    let (message, _) = located("[boards.dut]\nkind = \"probe-rs\"\nchip = \"X\"\n");
    assert!(message.contains("needs `probe`"), "{message}");
}

#[test]
fn a_missing_file_says_how_to_choose_a_rig() {
    let error = Rig::load(Path::new("/nonexistent/rig.toml")).unwrap_err();
    assert!(error.message().contains("cannot read rig file"));
    let rendered = format!("{:?}", miette::Report::new(error));
    assert!(rendered.contains("HIL_RIG"), "{rendered}");
}

#[test]
fn the_external_broker_url_is_split() {
    let rig = parse("[broker]\nkind = \"external\"\nurl = \"mqtts://iot.example.com:443\"\n[boards.dut]\nkind = \"emulated\"\n").unwrap();
    assert_eq!(
        rig.broker,
        BrokerSpec::External {
            host: "iot.example.com".into(),
            port: 443
        }
    );
}

#[test]
fn the_embedded_broker_takes_a_region_and_an_account_id() {
    let board = "[boards.dut]\nkind = \"emulated\"\n";
    let rig = parse(&format!("{board}[broker]\nkind = \"embedded\"\nregion = \"us-east-2\"\naccount_id = \"210987654321\"\n")).unwrap();
    let BrokerSpec::Embedded {
        region, account_id, ..
    } = &rig.broker
    else {
        panic!("embedded")
    };
    assert_eq!(
        (region.as_str(), account_id.as_str()),
        ("us-east-2", "210987654321")
    );
    let defaults = parse(board).unwrap();
    assert!(
        matches!(&defaults.broker, BrokerSpec::Embedded { region, account_id, .. }
        if region == "us-east-1" && account_id == "123456789012")
    );

    let (message, at) = located(&format!(
        "[broker]\nkind = \"embedded\"\nregion = \"US East 2\"\n{board}"
    ));
    assert!(message.contains("not a region name"), "{message}");
    assert_eq!(at, (3, 10));
    let (message, at) = located(&format!(
        "[broker]\nkind = \"embedded\"\naccount_id = \"1234\"\n{board}"
    ));
    assert!(message.contains("not 12 digits"), "{message}");
    assert_eq!(at, (3, 14));
    let (message, at) = located(&format!(
        "[broker]\nkind = \"mosquitto\"\nregion = \"us-east-2\"\n{board}"
    ));
    assert!(message.contains("only the embedded broker"), "{message}");
    assert_eq!(at, (3, 10));
}

#[test]
fn a_board_takes_a_provisioning_hook() {
    let rig = parse(
        "[boards.dut]\nkind = \"emulated\"\n[boards.dut.provision]\n\
         command = \"tools/prov --cert {certificate} --port {serial_port}\"\n\
         csr_command = \"tools/prov --csr {serial_port}\"\ntimeout = \"90s\"\n\
         [boards.other]\nkind = \"emulated\"\n",
    )
    .unwrap();
    let hook = rig.provision_hook("dut").expect("dut has a hook");
    assert_eq!(
        hook.command.text(),
        "tools/prov --cert {certificate} --port {serial_port}"
    );
    assert_eq!(
        hook.command.placeholders().collect::<Vec<_>>(),
        [
            crate::provision::hook::Placeholder::Certificate,
            crate::provision::hook::Placeholder::SerialPort
        ]
    );
    assert_eq!(
        hook.csr_command.as_ref().map(|c| c.text()),
        Some("tools/prov --csr {serial_port}")
    );
    assert_eq!(hook.timeout, Duration::from_secs(90));
    assert_eq!(hook.dir, Path::new("/rigs"));
    assert!(rig.provision_hook("other").is_none());

    let shipped = Rig::load(&workspace_root().join("scenarios/rigs/emulated-provision-hook.toml"))
        .unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)));
    let hook = shipped
        .provision_hook("dut")
        .expect("the example rig has a hook");
    assert!(hook.dir.ends_with("scenarios/rigs"), "{:?}", hook.dir);
    assert!(hook.csr_command.is_some());

    let rig =
        parse("[boards.dut]\nkind = \"emulated\"\nprovision = { command = \"prov\" }\n").unwrap();
    let hook = rig.provision_hook("dut").unwrap();
    assert_eq!(
        (hook.timeout, hook.csr_command.is_none()),
        (crate::provision::hook::DEFAULT_HOOK_TIMEOUT, true)
    );
}

#[test]
fn hook_errors_point_at_the_placeholder() {
    let board = "[boards.dut]\nkind = \"emulated\"\n[boards.dut.provision]\n";
    let error = parse(&format!("{board}command = \"prov --cert {{cert}} x\"\n")).unwrap_err();
    assert_eq!(
        error.message(),
        "/rigs/test.toml: unknown placeholder `{cert}`"
    );
    assert_eq!(error.line_column(), Some((4, 24)));
    let rendered = format!("{:?}", miette::Report::new(error));
    assert!(
        rendered.contains("did you mean {certificate}?"),
        "{rendered}"
    );

    let (message, at) = error_at(&format!(
        "{board}command = \"prov\"\ncsr_command = \"prov --csr {{serial_port}} {{thing}}\"\n"
    ));
    assert_eq!(
        message,
        "/rigs/test.toml: csr_command runs before the certificate exists, so it cannot use {thing}"
    );
    assert_eq!(at, (5, 41));

    let (message, at) = error_at(&format!("{board}command = \"prov {{board\"\n"));
    assert!(message.contains("without its `}`"), "{message}");
    assert_eq!(at, (4, 17));
    let (message, at) = error_at(&format!("{board}command = \"prov 'x\"\n"));
    assert!(message.contains("unbalanced quotes"), "{message}");
    assert_eq!(at, (4, 11));
    let (message, at) = error_at(&format!("{board}command = \"prov\"\ntimeout = \"soon\"\n"));
    assert!(message.contains("not a duration"), "{message}");
    assert_eq!(at, (5, 11));
    let (message, at) = error_at(&format!("{board}command = \"prov\"\ntimeout = \"0s\"\n"));
    assert!(message.contains("must not be zero"), "{message}");
    assert_eq!(at.0, 5);
    let (message, at) = error_at(&format!("{board}comand = \"prov\"\n"));
    assert!(message.contains("comand"), "{message}");
    assert_eq!(at.0, 4);
}

#[test]
fn an_emulated_board_takes_flaws_and_only_it() {
    let rig = parse(
        "[boards.dut]\nkind = \"emulated\"\nflaws = [\"no-jitter\", \"tls12-chacha-only\"]\n",
    )
    .unwrap();
    assert!(matches!(&rig.boards["dut"],
        BoardSpec::Emulated { flaws, .. } if flaws == &["no-jitter", "tls12-chacha-only"]));

    let (message, at) = located("[boards.dut]\nkind = \"emulated\"\nflaws = [\"No Jitter\"]\n");
    assert!(message.contains("not a flaw name"), "{message}");
    assert_eq!(at, (3, 10));

    let qemu = "[boards.dut]\nkind = \"qemu\"\nfirmware = \"fw.elf\"\nflaws = [\"no-dup\"]\n";
    let (message, at) = located(qemu);
    assert!(
        message.contains("flaws are switches of the emulated board"),
        "{message}"
    );
    assert_eq!(at.0, 4);
}

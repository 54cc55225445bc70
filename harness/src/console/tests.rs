//! The console against a PTY that stands in for a board.

use super::locate::fake::FakeDevices;
use super::*;
use crate::errors::ConsoleError;
use crate::timeline::{Entry, Timeline, What};
use serialport::{SerialPort, TTYPort};
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// A PTY standing in for a board's port: the board's end, and the path of the port.
fn pty() -> (TTYPort, String) {
    let (board, port) = TTYPort::pair().unwrap();
    let path = port.name().unwrap();
    (board, path)
}

/// Waits (up to 15 s, a safety net) for the first new timeline entry that `wanted` picks.
async fn next_entry(
    live: &mut broadcast::Receiver<Entry>,
    wanted: impl Fn(&What) -> bool,
) -> Entry {
    let found = async {
        loop {
            if let Ok(entry) = live.recv().await
                && wanted(&entry.what)
            {
                return entry;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(15), found)
        .await
        .expect("the awaited timeline entry came")
}

fn action_with(needle: &'static str) -> impl Fn(&What) -> bool {
    move |what| matches!(what, What::Action { text } if text.contains(needle))
}

/// The lines received from the board, in order.
fn received_lines(timeline: &Timeline) -> Vec<String> {
    timeline
        .entries()
        .into_iter()
        .filter_map(|e| match e.what {
            What::Console {
                line, sent: false, ..
            } => Some(line),
            _ => None,
        })
        .collect()
}

#[test]
fn replies_lose_their_eot_and_log_lines() {
    assert_eq!(strip_logs("OK\r\n\u{4}"), "OK");
    assert_eq!(strip_logs("[I] wifi: joined\r\nabc\r\n\u{4}"), "abc");
    assert_eq!(strip_logs("\u{4}"), "");
    assert_eq!(strip_logs("a\r\nb\r\n\u{4}"), "a\r\nb");
    assert_eq!(strip_logs("[not a log line\r\n\u{4}"), "[not a log line");
}

/// A PTY pair stands in for a board: the test writes the board's side.
#[tokio::test]
async fn commands_get_eot_framed_replies_and_lines_reach_the_timeline() {
    let (mut board, harness_side) = TTYPort::pair().unwrap();
    let path = harness_side.name().unwrap();
    drop(harness_side);
    let timeline = Timeline::new();
    let mut console = Console::open("dut", &path, 115_200, timeline.clone()).unwrap();
    console.send("thing").unwrap();
    let mut got = [0u8; 7];
    board.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"thing\r\n");
    board
        .write_all(b"[I] mqtt: connected\r\nabc123\r\n\x04")
        .unwrap();
    assert_eq!(
        console.reply(Duration::from_secs(5)).await.unwrap(),
        "abc123"
    );
    board
        .write_all(b"HIL reference firmware 0.1.0\r\n\x04")
        .unwrap();
    let found = console
        .expect(r"firmware (\d+\.\d+)", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(found, "firmware 0.1");
    let lines: Vec<String> = timeline
        .entries()
        .into_iter()
        .filter_map(|e| match e.what {
            What::Console { line, sent, .. } => {
                Some(format!("{}{line}", if sent { ">" } else { "<" }))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        lines[..3],
        [
            ">thing".to_owned(),
            "<[I] mqtt: connected".into(),
            "<abc123".into()
        ]
    );
}

#[tokio::test]
async fn a_silent_board_times_out_with_the_tail_of_its_output() {
    let (mut board, harness_side) = TTYPort::pair().unwrap();
    let path = harness_side.name().unwrap();
    drop(harness_side);
    let mut console = Console::open("dut", &path, 115_200, Timeline::new()).unwrap();
    board.write_all(b"partial").unwrap();
    let error = console.reply(Duration::from_millis(300)).await.unwrap_err();
    assert!(
        matches!(&error, ConsoleError::Timeout { tail, .. } if tail == "partial"),
        "{error}"
    );
    assert!(matches!(
        console.expect("(", Duration::from_millis(10)).await,
        Err(ConsoleError::Regex { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_that_goes_away_and_comes_back_under_its_path_is_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttyACM0");
    let (first, slave) = pty();
    std::os::unix::fs::symlink(&slave, &link).unwrap();
    let timeline = Timeline::new();
    let mut console =
        Console::open("dut", link.to_str().unwrap(), 115_200, timeline.clone()).unwrap();
    let mut live = timeline.subscribe();
    // The "USB device" disappears (its terminal closes) and a new one appears under
    // the same name, as around a reset.
    drop(first);
    next_entry(&mut live, action_with("lost")).await;
    let (mut second, slave) = pty();
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&slave, &link).unwrap();
    let back = next_entry(&mut live, |w| matches!(w, What::ConsoleReopened { .. })).await;
    let What::ConsoleReopened { path, device, .. } = back.what else {
        unreachable!()
    };
    assert_eq!(path, link.display().to_string());
    assert_eq!(device, slave, "the link's target is recorded");
    second.write_all(b"back\r\n\x04").unwrap();
    assert_eq!(console.reply(Duration::from_secs(5)).await.unwrap(), "back");
}

const NEDBG: &str = "ATML3203081800001234";

/// A console on the tty of the fake USB device `1-2` (serial number [`NEDBG`]), which is
/// `ttyACM0`, a PTY whose board end is returned.
fn usb_console(window: Duration) -> (FakeDevices, TTYPort, Console, Arc<Timeline>) {
    let fake = FakeDevices::new();
    let (board, slave) = pty();
    fake.usb_device("1-2", 0x03eb, 0x2175, Some(NEDBG));
    fake.acm_tty("1-2", 1, "ttyACM0", Some(slave.as_ref()));
    let timeline = Timeline::new();
    let config = PortConfig {
        key: PortKey::UsbSerial(NEDBG.into()),
        baud: 115_200,
        reopen_window: window,
        roots: fake.roots.clone(),
    };
    let console = Console::open_with("dut", config, timeline.clone()).unwrap();
    (fake, board, console, timeline)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_renumbered_after_a_reset_is_found_again_by_its_usb_serial_number() {
    let (fake, board, mut console, timeline) = usb_console(REOPEN_WINDOW);
    let mut live = timeline.subscribe();
    assert_eq!(
        console.path(),
        Some(fake.roots.dev.join("ttyACM0").display().to_string())
    );
    let mut board = board;
    board.write_all(b"[I] publishing").unwrap();
    console
        .expect("publishing", Duration::from_secs(5))
        .await
        .unwrap();

    // Reset: the device leaves mid-line, and comes back as ttyACM1, busy at first (another
    // program holds the new port).
    drop(board);
    next_entry(&mut live, action_with("lost")).await;
    fake.remove_tty("ttyACM0");
    let (mut board, slave) = pty();
    let holder = serialport::new(&slave, 115_200).open_native().unwrap();
    fake.acm_tty("1-2", 1, "ttyACM1", Some(slave.as_ref()));
    let busy = next_entry(&mut live, action_with("ttyACM1: ")).await;
    assert!(
        matches!(&busy.what, What::Action { text } if text.starts_with("dut: console not back yet (attempt ")),
        "{busy:?}"
    );
    drop(holder);
    let back = next_entry(&mut live, |w| matches!(w, What::ConsoleReopened { .. })).await;
    let What::ConsoleReopened {
        board: name,
        path,
        device,
        gone,
        attempts,
    } = back.what
    else {
        unreachable!()
    };
    let renumbered = fake.roots.dev.join("ttyACM1").display().to_string();
    assert_eq!(
        (name.as_str(), path.as_str(), device.as_str()),
        ("dut", renumbered.as_str(), slave.as_str())
    );
    assert!(
        attempts >= 2,
        "the busy attempt, then the one that opened: {attempts}"
    );
    assert!(gone >= REOPEN_RETRY * 2, "{gone:?}");
    assert_eq!(console.path(), Some(renumbered));

    // The new port works both ways, and the line cut by the reset stayed a line.
    board
        .write_all(b"\xFF\x00HIL reference firmware 0.1.0\r\n")
        .unwrap();
    let banner = console
        .expect(r"(?m)^HIL reference firmware \S+", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(banner, "HIL reference firmware 0.1.0");
    console.send("version").unwrap();
    let mut typed = [0u8; 9];
    board.read_exact(&mut typed).unwrap();
    assert_eq!(&typed, b"version\r\n");
    assert_eq!(
        received_lines(&timeline),
        ["[I] publishing", "HIL reference firmware 0.1.0"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_that_does_not_come_back_in_the_window_is_reported_gone() {
    let window = Duration::from_millis(300);
    let (fake, board, mut console, timeline) = usb_console(window);
    let mut live = timeline.subscribe();
    drop(board);
    fake.remove_tty("ttyACM0");
    let error = console
        .expect("never", Duration::from_secs(10))
        .await
        .unwrap_err();
    let ConsoleError::Gone {
        port,
        window: tried,
        reason,
    } = &error
    else {
        panic!("{error}")
    };
    assert_eq!(port, &format!("the tty of USB serial number {NEDBG}"));
    assert_eq!(*tried, window);
    assert_eq!(
        reason,
        &format!("no tty belongs to a USB device with serial number \"{NEDBG}\"; USB ttys: none")
    );
    next_entry(&mut live, action_with("did not come back within 300ms")).await;
    assert!(matches!(
        console.send("anything"),
        Err(ConsoleError::Closed { .. })
    ));
}

#[tokio::test]
async fn a_missing_usb_serial_number_fails_at_open_with_the_usb_ttys() {
    let fake = FakeDevices::new();
    let config = PortConfig {
        key: PortKey::UsbSerial("NOPE".into()),
        baud: 115_200,
        reopen_window: REOPEN_WINDOW,
        roots: fake.roots.clone(),
    };
    let error = Console::open_with("dut", config, Timeline::new()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot find serial port the tty of USB serial number NOPE"
    );
    let ConsoleError::Lookup { source, .. } = error else {
        panic!("{error}")
    };
    assert_eq!(
        source.to_string(),
        "no tty belongs to a USB device with serial number \"NOPE\"; USB ttys: none"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_bare_crs_and_split_characters_frame_lines_and_replies() {
    let (mut board, path) = pty();
    let timeline = Timeline::new();
    let mut console = Console::open("dut", &path, 115_200, timeline.clone()).unwrap();
    for chunk in [
        &b"Temp 21.5 \xC2"[..],
        b"\xB0C\r",
        b"\nflash 50%\rflash 100%\r\n[I] publish",
        b"\xFF\xFF\x00",
        b"HIL reference firmware 0.1.0\r\n",
    ] {
        board.write_all(chunk).unwrap();
        board.flush().unwrap();
    }
    // Matching goes on across the junk: the banner starts a line of its own.
    let banner = console
        .expect(
            r"(?m)^HIL reference firmware (\S+)\r\n",
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(banner, "HIL reference firmware 0.1.0\r\n");
    // A reply after junk is the reply alone.
    board.write_all(b"\xFF\xFE0.1.0\r\n\x04").unwrap();
    assert_eq!(
        console.reply(Duration::from_secs(5)).await.unwrap(),
        "0.1.0"
    );
    assert_eq!(
        received_lines(&timeline),
        [
            "Temp 21.5 °C",
            "flash 50%",
            "flash 100%",
            "[I] publish",
            "HIL reference firmware 0.1.0",
            "0.1.0"
        ]
    );
}

#[tokio::test]
async fn a_released_port_can_be_opened_by_another_program_until_reclaimed() {
    let (mut board, harness_side) = serialport::TTYPort::pair().unwrap();
    let path = harness_side.name().unwrap();
    drop(harness_side);
    let timeline = Timeline::new();
    let mut console = Console::open("dut", &path, 115_200, timeline.clone()).unwrap();
    // Held: the port is locked against other openers.
    assert!(super::reader::open_port(std::path::Path::new(&path), 115_200).is_err());

    console.release().await.unwrap();
    assert!(matches!(
        console.send("thing"),
        Err(ConsoleError::Closed { .. })
    ));
    let mut tool = super::reader::open_port(std::path::Path::new(&path), 115_200)
        .expect("a released port opens");
    tool.write_all(b"cert\r\n").unwrap();
    let mut got = [0u8; 6];
    board.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"cert\r\n");
    board.write_all(b"OK\r\n\x04").unwrap();
    let mut reply = [0u8; 5];
    tool.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"OK\r\n\x04");
    drop(tool);

    console.reclaim().unwrap();
    board.write_all(b"back\r\n\x04").unwrap();
    assert_eq!(console.reply(Duration::from_secs(5)).await.unwrap(), "back");
    let actions: Vec<String> = timeline
        .entries()
        .into_iter()
        .filter_map(|e| match e.what {
            What::Action { text } => Some(text),
            _ => None,
        })
        .collect();
    assert_eq!(
        actions,
        [
            format!("dut: console {path} released"),
            format!("dut: console {path} reclaimed")
        ]
    );
}

//! The console against a PTY that stands in for a board.

use super::*;
use crate::errors::ConsoleError;
use crate::timeline::{Timeline, What};
use serialport::{SerialPort, TTYPort};
use std::io::{Read, Write};
use std::time::Duration;

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
async fn a_port_that_goes_away_and_comes_back_is_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttyACM0");
    let (first, slave) = TTYPort::pair().unwrap();
    std::os::unix::fs::symlink(slave.name().unwrap(), &link).unwrap();
    drop(slave);
    let timeline = Timeline::new();
    let mut console =
        Console::open("dut", link.to_str().unwrap(), 115_200, timeline.clone()).unwrap();
    let mut live = timeline.subscribe();
    // The "USB device" disappears (its terminal closes) and a new one appears under
    // the same name, as around a reset.
    drop(first);
    let (mut second, slave) = TTYPort::pair().unwrap();
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(slave.name().unwrap(), &link).unwrap();
    drop(slave);
    let reopened = async {
        loop {
            if let Ok(entry) = live.recv().await
                && matches!(&entry.what, What::Action { text } if text.contains("reopened"))
            {
                return;
            }
        }
    };
    tokio::time::timeout(REOPEN_WINDOW, reopened)
        .await
        .expect("the console reopens the port");
    second.write_all(b"back\r\n\x04").unwrap();
    assert_eq!(console.reply(Duration::from_secs(5)).await.unwrap(), "back");
}

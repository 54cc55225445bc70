//! The `hil` command line: exit codes, the failure report, located errors, the schema, the
//! other commands, provisioning hooks, Ctrl-C, and scenarios in parallel and in slices. One
//! test binary; the helpers that run `hil` and watch its output and children are here, the
//! tests by subject in the modules.

mod cipher_offers;
mod commands;
mod flaws;
mod fleet;
mod hooks;
mod interrupt;
mod parallel;
mod policy;
mod qualify;
mod run;

use std::process::Command;

pub(crate) fn hil(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_hil"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

pub(crate) struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads a child's stdout lines on a thread, so tests can wait for one with a timeout.
pub(crate) fn lines_of(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for the first line containing `needle`.
pub(crate) fn wait_for_line(lines: &std::sync::mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(line) => seen.push(line),
            Err(e) => panic!("no line containing {needle:?} ({e}); other lines: {seen:#?}"),
        }
    }
}

// Multi-threaded: the line waits block their thread while the observer's event loop runs.

pub(crate) fn emulated_rig(dir: &std::path::Path) -> std::path::PathBuf {
    let default = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/rigs/emulated.toml"
    ))
    .unwrap();
    let rig = default.replace("dir = \"../../target/hil/pki\"", "dir = \"pki\"");
    assert_ne!(rig, default, "the default rig names its PKI directory");
    let path = dir.join("rig.toml");
    std::fs::write(&path, rig).unwrap();
    path
}

/// The default rig in real time (speed 1), for tests that compare wall times: at the
/// default rig's speed, a scenario's waits are too short to order runs by.
pub(crate) fn real_time_rig(dir: &std::path::Path) -> std::path::PathBuf {
    let path = emulated_rig(dir);
    let text = std::fs::read_to_string(&path).unwrap();
    let without: Vec<&str> = text
        .lines()
        .filter(|line| !line.starts_with("speed ="))
        .collect();
    assert_ne!(
        without.len(),
        text.lines().count(),
        "the default rig has a speed"
    );
    std::fs::write(&path, format!("speed = 1\n{}\n", without.join("\n"))).unwrap();
    path
}

/// The live children of `parent` whose command name is `name` (from /proc).
pub(crate) fn children_named(parent: u32, name: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        if &stat[open + 1..close] == name && fields.get(1) == Some(&parent.to_string().as_str()) {
            found.push(pid);
        }
    }
    found
}

/// Waits until `done()` holds, for what no event announces (a child process appearing in
/// /proc): checks every 20 ms, fails after 30 s, the safety net.
pub(crate) fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not happen"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Whether `pid` is a process that has not ended (a zombie has ended).
pub(crate) fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rfind(')')
            .and_then(|close| stat[close + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

/// `hil run --rig RIG --output OUT SCENARIO`: the exit code, stdout and stderr.
pub(crate) fn hil_run(
    rig: &std::path::Path,
    out: &std::path::Path,
    scenario: &std::path::Path,
) -> (i32, String, String) {
    hil(&[
        "run",
        "--rig",
        rig.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        scenario.to_str().unwrap(),
    ])
}

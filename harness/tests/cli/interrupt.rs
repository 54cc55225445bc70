//! Ctrl-C: `hil run` stops the scenario under way, tears its rig down, reports and exits 130.

use super::*;

#[test]
fn sigint_stops_hil_run_with_its_rig_torn_down_a_summary_a_junit_file_and_exit_130() {
    let dir = tempfile::tempdir().unwrap();
    let rig = emulated_rig(dir.path());
    let scenario = dir.path().join("sigint-during-a-wait.toml");
    std::fs::write(
        &scenario,
        "name = \"a long wait, interrupted\"\n[[step]]\nwait = { for = \"10ms\" }\n[[step]]\nwait = { for = \"120s\" }\n",
    )
    .unwrap();
    let junit = dir.path().join("junit.xml");
    let started = std::time::Instant::now();
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_hil"))
            .args([
                "run",
                "--rig",
                rig.to_str().unwrap(),
                "--junit",
                junit.to_str().unwrap(),
                scenario.to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let lines = lines_of(child.0.stdout.take().unwrap());
    // Step 1 is done, so the rig is up and step 2 (the long wait) is under way.
    wait_for_line(&lines, "[1/2] wait ... ok");
    let hil = child.0.id();
    let boards = children_named(hil, "emulated-board");
    assert_eq!(boards.len(), 1, "the rig's one emulated board runs");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(hil as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let step = wait_for_line(&lines, "[2/2] wait ...");
    assert!(
        step.starts_with("    [2/2] wait ... interrupted ("),
        "{step}"
    );
    wait_for_line(&lines, "interrupted at step 2 (wait)");
    let row = wait_for_line(&lines, "sigint-during-a-wait  ");
    assert!(row.contains("INTERRUPTED"), "{row}");
    let counts = wait_for_line(&lines, " passed, ");
    // The rig was torn down before the summary: the board is gone while hil still runs.
    assert!(
        !boards.iter().any(|pid| alive(*pid)),
        "the emulated board outlived the interrupted scenario"
    );
    assert_eq!(counts, "0 passed, 0 failed, 0 skipped, 1 interrupted");
    assert_eq!(
        wait_for_line(&lines, "interrupted by"),
        "interrupted by SIGINT: 0 of 1 scenario(s) not run"
    );
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "the 120 s wait was cut short: {:?}",
        started.elapsed()
    );
    assert!(!boards.iter().any(|pid| alive(*pid)));

    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("errors=\"1\""), "{xml}");
    assert!(
        xml.contains("<error message=\"interrupted at step 2 (wait)\" type=\"interrupted\">"),
        "{xml}"
    );
    assert!(
        xml.contains("testcase name=\"sigint-during-a-wait\""),
        "{xml}"
    );
}

#[test]
fn sigint_stops_every_scenario_under_way_starts_no_other_and_reports_each() {
    let dir = tempfile::tempdir().unwrap();
    let rig = emulated_rig(dir.path());
    let scenarios: Vec<String> = ["first", "second", "third"]
        .iter()
        .map(|id| {
            let path = dir.path().join(format!("{id}.toml"));
            std::fs::write(
                &path,
                format!("name = \"{id} waits long\"\n[[step]]\nwait = {{ for = \"120s\" }}\n"),
            )
            .unwrap();
            path.to_str().unwrap().to_owned()
        })
        .collect();
    let junit = dir.path().join("junit.xml");
    let started = std::time::Instant::now();
    let mut args = vec![
        "run".to_owned(),
        "--rig".into(),
        rig.to_str().unwrap().into(),
        "--jobs".into(),
        "2".into(),
        "--output".into(),
        dir.path().join("out").to_str().unwrap().into(),
        "--junit".into(),
        junit.to_str().unwrap().into(),
    ];
    args.extend(scenarios);
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_hil"))
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let lines = lines_of(child.0.stdout.take().unwrap());
    let hil = child.0.id();
    // Two scenarios at once: each has its board up (nothing is printed until one ends).
    wait_until("two emulated boards running", || {
        children_named(hil, "emulated-board").len() == 2
    });
    let boards = children_named(hil, "emulated-board");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(hil as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let counts = wait_for_line(&lines, " passed, ");
    assert!(
        !boards.iter().any(|pid| alive(*pid)),
        "a board outlived its interrupted scenario"
    );
    assert_eq!(counts, "0 passed, 0 failed, 0 skipped, 2 interrupted");
    assert_eq!(
        wait_for_line(&lines, "interrupted by"),
        "interrupted by SIGINT: 1 of 3 scenario(s) not run"
    );
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "the 120 s waits were cut short: {:?}",
        started.elapsed()
    );
    assert!(children_named(hil, "emulated-board").is_empty());

    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"2\""), "{xml}");
    assert_eq!(
        xml.matches("<error message=\"interrupted at step 1 (wait)\" type=\"interrupted\">")
            .count(),
        2,
        "{xml}"
    );
    assert!(
        xml.contains("testcase name=\"first\"") && xml.contains("testcase name=\"second\""),
        "{xml}"
    );
}

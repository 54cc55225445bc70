//! boto3 creates jobs and checks them (`tests/boto3_jobs.py`) while a device executes one
//! over MQTT: the script stops at `READY fw-1`, the device starts and finishes fw-1, the
//! test answers `DONE`, and the script sees DescribeJobExecution SUCCEEDED.

use super::*;
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// How long the script may take to reach a line (starting Python and boto3 included);
/// a safety net, not a synchronisation.
const SCRIPT_WAIT: Duration = Duration::from_secs(60);

#[tokio::test]
#[ignore = "needs python3 with boto3"]
async fn boto3_creates_jobs_that_a_device_executes_over_mqtt() {
    let aws = Aws::start(None, None).await;
    let (mut device, thing) = jobs_device(&aws, "1C", &jobs_policy("*")).await;
    let prefix = format!("$aws/things/{thing}/jobs");
    subscribe_all(
        &mut device,
        &[
            format!("{prefix}/notify-next"),
            format!("{prefix}/start-next/accepted"),
            format!("{prefix}/fw-1/update/accepted"),
        ],
    )
    .await;
    let api = mock_broker::aws::admin_api::AdminApi::start_with_data(
        "127.0.0.1:0".parse().unwrap(),
        aws.plane.clone(),
        aws.t.broker.handle(),
    )
    .await
    .unwrap();

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/boto3_jobs.py");
    let mut child = tokio::process::Command::new("python3")
        .arg(script)
        .arg(api.url())
        .arg(&thing)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs");
    let mut stdin = child.stdin.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut output = Vec::new();
    loop {
        let line = tokio::time::timeout(SCRIPT_WAIT, lines.next_line())
            .await
            .expect("the script goes on")
            .unwrap();
        match line {
            Some(line) if line == "READY fw-1" => break,
            Some(line) => output.push(line),
            None => {
                let mut errors = String::new();
                stderr.read_to_string(&mut errors).await.unwrap();
                panic!(
                    "the script ended before READY:\n{}\n{errors}",
                    output.join("\n")
                );
            }
        }
    }

    // The device was told about fw-1 when boto3 created it, and runs it now.
    let next = next_on(&mut device, &format!("{prefix}/notify-next")).await;
    assert_eq!(next["execution"]["jobId"], "fw-1");
    device
        .client
        .publish(
            format!("{prefix}/start-next"),
            QoS::AtLeastOnce,
            false,
            "{}",
        )
        .await
        .unwrap();
    let started = next_on(&mut device, &format!("{prefix}/start-next/accepted")).await;
    assert_eq!(
        started["execution"]["jobDocument"],
        json!({"operation": "upgrade", "version": "2.0"})
    );
    device
        .client
        .publish(
            format!("{prefix}/fw-1/update"),
            QoS::AtLeastOnce,
            false,
            r#"{"status":"SUCCEEDED","statusDetails":{"firmware":"2.0"},"expectedVersion":2}"#,
        )
        .await
        .unwrap();
    next_on(&mut device, &format!("{prefix}/fw-1/update/accepted")).await;

    stdin.write_all(b"DONE\n").await.unwrap();
    drop(stdin);
    while let Some(line) = tokio::time::timeout(SCRIPT_WAIT, lines.next_line())
        .await
        .expect("the script goes on")
        .unwrap()
    {
        output.push(line);
    }
    let status = tokio::time::timeout(SCRIPT_WAIT, child.wait())
        .await
        .expect("the script ends")
        .unwrap();
    let mut errors = String::new();
    stderr.read_to_string(&mut errors).await.unwrap();
    let printed = output.join("\n");
    assert!(
        status.success(),
        "boto3 script failed:\n{printed}\n{errors}"
    );
    assert!(
        printed.contains("all boto3 jobs checks passed"),
        "{printed}"
    );
}

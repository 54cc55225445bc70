//! The control plane's operations on the store: CreateJob's checks, CancelJob's rules,
//! completion, and the reads the admin API lists with.

use super::*;
use crate::aws::registry::AwsErrorKind;

fn refused(jobs: &mut Jobs, job: NewJob) -> AwsErrorKind {
    let before = jobs.clone();
    let error = jobs.create_job(job, T0).unwrap_err();
    assert_eq!(*jobs, before, "a refused CreateJob changes nothing");
    error.kind
}

#[test]
fn create_job_refuses_what_aws_refuses_and_changes_nothing() {
    let mut jobs = Jobs::default();
    create(&mut jobs, "taken", T0);

    let kind = refused(&mut jobs, new_job("taken", &[THING]));
    assert_eq!(
        kind,
        AwsErrorKind::ResourceAlreadyExists {
            resource_id: "taken".into(),
            resource_arn: "arn:aws:iot:us-east-1:123456789012:job/taken".into(),
        }
    );
    for id in ["", "a:b", "$next", &"j".repeat(MAX_JOB_ID + 1)] {
        assert_eq!(
            refused(&mut jobs, new_job(id, &[THING])),
            AwsErrorKind::InvalidRequest,
            "{id:?}"
        );
    }
    assert_eq!(
        refused(&mut jobs, new_job("none", &[])),
        AwsErrorKind::InvalidRequest
    );
    let mut not_json = new_job("doc", &[THING]);
    not_json.document = "reboot please".into();
    assert_eq!(refused(&mut jobs, not_json), AwsErrorKind::InvalidRequest);
    let mut big = new_job("big", &[THING]);
    big.document = format!(r#"{{"blob":"{}"}}"#, "x".repeat(MAX_DOCUMENT));
    assert_eq!(refused(&mut jobs, big), AwsErrorKind::InvalidRequest);
    let mut wordy = new_job("wordy", &[THING]);
    wordy.description = Some("d".repeat(MAX_DESCRIPTION + 1));
    assert_eq!(refused(&mut jobs, wordy), AwsErrorKind::InvalidRequest);
    let mut control = new_job("ctl", &[THING]);
    control.description = Some("line\nbreak".into());
    assert_eq!(refused(&mut jobs, control), AwsErrorKind::InvalidRequest);

    // The largest document passes.
    let mut largest = new_job("largest", &[THING]);
    largest.document = format!(r#""{}""#, "x".repeat(MAX_DOCUMENT - 2));
    assert!(jobs.create_job(largest, T0).is_ok());
}

#[test]
fn a_created_job_is_in_progress_with_one_queued_execution_per_thing() {
    let mut jobs = Jobs::default();
    let mut request = new_job("fw", &["a", "b"]);
    request.description = Some("firmware 2".into());
    let (job, _) = jobs.create_job(request, T0).unwrap();
    assert_eq!(job.status, JobStatus::InProgress);
    assert_eq!(job.description.as_deref(), Some("firmware 2"));
    assert_eq!(job.created_at, T0);
    for thing in ["a", "b"] {
        let execution = jobs.execution(thing, "fw").unwrap();
        assert_eq!(
            (
                execution.status,
                execution.version_number,
                execution.execution_number,
                execution.queued_at
            ),
            (ExecutionStatus::Queued, 1, 1, T0)
        );
    }
    let counts = jobs.execution_counts(jobs.job("fw").unwrap());
    assert_eq!(counts["QUEUED"], 2);
    assert_eq!(counts["SUCCEEDED"], 0);
    assert_eq!(
        jobs.execution("c", "fw").unwrap_err().kind,
        AwsErrorKind::ResourceNotFound
    );
    assert_eq!(
        jobs.job("missing").unwrap_err().kind,
        AwsErrorKind::ResourceNotFound
    );
}

#[test]
fn a_job_completes_when_its_last_execution_ends() {
    let mut jobs = Jobs::default();
    jobs.create_job(new_job("fw", &["a", "b"]), T0).unwrap();
    jobs.handle(
        "$aws/things/a/jobs/fw/update",
        br#"{"status":"SUCCEEDED"}"#,
        T0 + 1,
    );
    assert_eq!(jobs.job("fw").unwrap().status, JobStatus::InProgress);
    jobs.handle(
        "$aws/things/b/jobs/fw/update",
        br#"{"status":"FAILED"}"#,
        T0 + 2,
    );
    let job = jobs.job("fw").unwrap();
    assert_eq!(
        (job.status, job.completed_at, job.last_updated_at),
        (JobStatus::Completed, Some(T0 + 2), T0 + 2)
    );
    let counts = jobs.execution_counts(job);
    assert_eq!((counts["SUCCEEDED"], counts["FAILED"]), (1, 1));
    // A completed job cannot be canceled.
    assert_eq!(
        jobs.cancel_job("fw", Cancel::default(), T0 + 3)
            .unwrap_err()
            .kind,
        AwsErrorKind::InvalidRequest
    );
}

#[test]
fn a_canceled_job_stays_canceled_while_its_devices_finish() {
    let mut jobs = Jobs::default();
    create(&mut jobs, "fw", T0);
    publish(&mut jobs, "start-next", "", T0);
    let cancel = Cancel {
        force: false,
        reason_code: Some("BAD_BUILD_2"),
        comment: Some("rolled back"),
    };
    let (job, _) = jobs.cancel_job("fw", cancel, T0 + 1).unwrap();
    assert_eq!(
        (
            job.status,
            job.reason_code.as_deref(),
            job.comment.as_deref()
        ),
        (
            JobStatus::Canceled,
            Some("BAD_BUILD_2"),
            Some("rolled back")
        )
    );
    let replies = report(&mut jobs, "fw", "SUCCEEDED", T0 + 2);
    assert_eq!(suffixes(&replies)[0], "fw/update/accepted");
    assert_eq!(jobs.job("fw").unwrap().status, JobStatus::Canceled);
}

#[test]
fn cancel_checks_its_members() {
    let mut jobs = Jobs::default();
    create(&mut jobs, "fw", T0);
    for cancel in [
        Cancel {
            reason_code: Some("lower"),
            ..Cancel::default()
        },
        Cancel {
            reason_code: Some(&"R".repeat(MAX_REASON_CODE + 1)),
            ..Cancel::default()
        },
        Cancel {
            comment: Some("a\u{7}"),
            ..Cancel::default()
        },
    ] {
        let error = jobs.cancel_job("fw", cancel, T0).unwrap_err();
        assert_eq!(error.kind, AwsErrorKind::InvalidRequest, "{cancel:?}");
    }
    assert_eq!(status_of(&jobs, "fw"), ExecutionStatus::Queued);
    assert_eq!(
        jobs.cancel_job("nope", Cancel::default(), T0)
            .unwrap_err()
            .kind,
        AwsErrorKind::ResourceNotFound
    );
}

#[test]
fn reads_list_by_job_id() {
    let mut jobs = Jobs::default();
    for id in ["b", "c", "a"] {
        create(&mut jobs, id, T0);
    }
    let ids: Vec<&str> = jobs.jobs().map(|j| j.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    let ids: Vec<&str> = jobs
        .executions_of(THING)
        .map(|e| e.job_id.as_str())
        .collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(jobs.executions_of("stranger").count(), 0);
}

"""Drives mock-broker's Jobs operations with boto3, as cloud-side code does, around a
device that executes the job over MQTT.

Usage: boto3_jobs.py ENDPOINT_URL THING

THING is a registered thing whose device is connected over MQTT. The script creates jobs
for it, checks botocore's shapes, exceptions and paginators, then prints `READY fw-1` and
waits for a line `DONE` on stdin: the Rust test that runs it has the device start and
finish fw-1 over MQTT in between. Then it checks that DescribeJobExecution shows
SUCCEEDED and DescribeJob COMPLETED.
"""
import datetime
import json
import sys

import boto3

url, thing = sys.argv[1], sys.argv[2]
iot = boto3.client(
    "iot",
    endpoint_url=url,
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
)
checks = 0


def check(condition, what):
    global checks
    if not condition:
        raise SystemExit(f"FAILED: {what}")
    checks += 1
    print(f"ok: {what}", flush=True)


def refused(exception, what, call, **kwargs):
    try:
        call(**kwargs)
    except exception:
        check(True, what)
        return
    check(False, what)


arn = iot.describe_thing(thingName=thing)["thingArn"]
spare = iot.create_thing(thingName="boto3-jobs-spare")["thingArn"]
document = {"operation": "upgrade", "version": "2.0"}

created = iot.create_job(
    jobId="fw-1",
    targets=[arn],
    document=json.dumps(document),
    description="firmware 2.0",
    targetSelection="SNAPSHOT",
)
check(
    created["jobId"] == "fw-1"
    and created["jobArn"].endswith(":job/fw-1")
    and created["description"] == "firmware 2.0",
    "create_job",
)
iot.create_job(jobId="fw-2", targets=[arn, spare], document="{}")
refused(
    iot.exceptions.ResourceAlreadyExistsException,
    "a taken job id is ResourceAlreadyExistsException",
    iot.create_job, jobId="fw-1", targets=[arn], document="{}",
)
refused(
    iot.exceptions.ResourceNotFoundException,
    "an unknown target is ResourceNotFoundException",
    iot.create_job, jobId="fw-x", targets=[arn.replace(thing, "nobody")], document="{}",
)
refused(
    iot.exceptions.InvalidRequestException,
    "CONTINUOUS is InvalidRequestException",
    iot.create_job, jobId="fw-x", targets=[arn], document="{}", targetSelection="CONTINUOUS",
)

job = iot.describe_job(jobId="fw-1")["job"]
check(
    job["status"] == "IN_PROGRESS"
    and job["targetSelection"] == "SNAPSHOT"
    and job["targets"] == [arn]
    and isinstance(job["createdAt"], datetime.datetime)
    and job["jobProcessDetails"]["numberOfQueuedThings"] == 1,
    "describe_job",
)
check(
    json.loads(iot.get_job_document(jobId="fw-1")["document"]) == document,
    "get_job_document",
)

iot.cancel_job(jobId="fw-2", reasonCode="NOT_NEEDED", comment="only fw-1")
job = iot.describe_job(jobId="fw-2")["job"]
check(
    job["status"] == "CANCELED"
    and job["reasonCode"] == "NOT_NEEDED"
    and job["jobProcessDetails"]["numberOfCanceledThings"] == 2,
    "cancel_job",
)

pages = iot.get_paginator("list_jobs").paginate(PaginationConfig={"PageSize": 1})
listed = [(j["jobId"], j["status"]) for page in pages for j in page["jobs"]]
check(listed == [("fw-1", "IN_PROGRESS"), ("fw-2", "CANCELED")], f"list_jobs {listed}")
pages = iot.get_paginator("list_job_executions_for_thing").paginate(
    thingName=thing, PaginationConfig={"PageSize": 1}
)
executions = [
    (e["jobId"], e["jobExecutionSummary"]["status"])
    for page in pages
    for e in page["executionSummaries"]
]
check(
    executions == [("fw-1", "QUEUED"), ("fw-2", "CANCELED")],
    f"list_job_executions_for_thing {executions}",
)
execution = iot.describe_job_execution(jobId="fw-1", thingName=thing)["execution"]
check(
    execution["status"] == "QUEUED" and execution["versionNumber"] == 1,
    "describe_job_execution before the device",
)

print("READY fw-1", flush=True)
answer = sys.stdin.readline().strip()
check(answer == "DONE", f"the device finished ({answer!r})")

execution = iot.describe_job_execution(jobId="fw-1", thingName=thing)["execution"]
check(
    execution["status"] == "SUCCEEDED"
    and execution["statusDetails"]["detailsMap"] == {"firmware": "2.0"}
    and execution["versionNumber"] == 3
    and execution["thingArn"] == arn
    and isinstance(execution["startedAt"], datetime.datetime),
    f"describe_job_execution shows SUCCEEDED {execution}",
)
job = iot.describe_job(jobId="fw-1")["job"]
check(
    job["status"] == "COMPLETED"
    and job["jobProcessDetails"]["numberOfSucceededThings"] == 1
    and isinstance(job["completedAt"], datetime.datetime),
    "describe_job shows COMPLETED",
)
succeeded = iot.list_job_executions_for_thing(thingName=thing, status="SUCCEEDED")
check(
    [e["jobId"] for e in succeeded["executionSummaries"]] == ["fw-1"],
    "list_job_executions_for_thing by status",
)
refused(
    iot.exceptions.ResourceNotFoundException,
    "an unknown execution is ResourceNotFoundException",
    iot.describe_job_execution, jobId="fw-9", thingName=thing,
)

print(f"all boto3 jobs checks passed ({checks})", flush=True)

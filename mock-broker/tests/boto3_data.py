"""Drives mock-broker's iot-data API (the HTTP data plane) with boto3, as cloud-side code does.

Usage: boto3_data.py ENDPOINT_URL

The Rust test that runs it watches MQTT: the publish on boto3/hello and the shadow delta
of boto3-lamp must reach subscribers.
"""
import json
import sys

import boto3

url = sys.argv[1]
data = boto3.client(
    "iot-data",
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
    print(f"ok: {what}")


data.publish(topic="boto3/hello", qos=1, payload=b"from boto3")
check(True, "publish")

for n in range(5):
    data.publish(topic=f"boto3/retained/{n}", qos=0, retain=True, payload=f"v{n}".encode())
message = data.get_retained_message(topic="boto3/retained/3")
check(message["payload"] == b"v3" and message["qos"] == 0, "get_retained_message")
check(message["lastModifiedTime"] > 0, "lastModifiedTime")
pages = data.get_paginator("list_retained_messages").paginate(PaginationConfig={"PageSize": 2})
topics = [t["topic"] for page in pages for t in page["retainedTopics"]]
check(topics == [f"boto3/retained/{n}" for n in range(5)], f"paginated retained topics {topics}")
try:
    data.get_retained_message(topic="boto3/none")
    check(False, "a missing retained message is ResourceNotFoundException")
except data.exceptions.ResourceNotFoundException:
    check(True, "a missing retained message is ResourceNotFoundException")

accepted = json.loads(
    data.update_thing_shadow(
        thingName="boto3-lamp", payload=json.dumps({"state": {"desired": {"led": "on"}}})
    )["payload"].read()
)
check(accepted["version"] == 1 and accepted["state"]["desired"]["led"] == "on", "update_thing_shadow")
shadow = json.loads(data.get_thing_shadow(thingName="boto3-lamp")["payload"].read())
check(shadow["state"]["delta"] == {"led": "on"}, "get_thing_shadow has the delta")
try:
    data.update_thing_shadow(
        thingName="boto3-lamp",
        payload=json.dumps({"state": {"reported": {"led": "on"}}, "version": 9}),
    )
    check(False, "a stale version is ConflictException")
except data.exceptions.ConflictException:
    check(True, "a stale version is ConflictException")

for name in ["cfg", "alarm"]:
    data.update_thing_shadow(
        thingName="boto3-lamp", shadowName=name, payload=json.dumps({"state": {"reported": {"x": 1}}})
    )
named = data.list_named_shadows_for_thing(thingName="boto3-lamp")
check(named["results"] == ["alarm", "cfg"], f"list_named_shadows_for_thing {named['results']}")
deleted = json.loads(data.delete_thing_shadow(thingName="boto3-lamp", shadowName="cfg")["payload"].read())
check(deleted["version"] == 1, "delete_thing_shadow")
try:
    data.get_thing_shadow(thingName="boto3-lamp", shadowName="cfg")
    check(False, "a deleted shadow is ResourceNotFoundException")
except data.exceptions.ResourceNotFoundException:
    check(True, "a deleted shadow is ResourceNotFoundException")

print(f"all iot-data checks passed ({checks})")

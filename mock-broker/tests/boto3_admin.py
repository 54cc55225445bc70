"""Drives mock-broker's admin API with boto3, as a user would against AWS IoT.

Usage: boto3_admin.py ENDPOINT_URL REGISTRATION_CODE CA.pem VERIFICATION.pem WRONG.pem DEVICE.pem
"""
import json
import sys

import boto3

url, code, ca_path, verification_path, wrong_path, device_path = sys.argv[1:7]
read = lambda path: open(path).read()
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
    print(f"ok: {what}")


check(iot.get_registration_code()["registrationCode"] == code, "registration code")

try:
    iot.register_ca_certificate(
        caCertificate=read(ca_path), verificationCertificate=read(wrong_path), setAsActive=True
    )
    check(False, "a wrong verification certificate is refused")
except iot.exceptions.CertificateValidationException:
    check(True, "a wrong verification certificate is refused")

ca = iot.register_ca_certificate(
    caCertificate=read(ca_path),
    verificationCertificate=read(verification_path),
    setAsActive=True,
    allowAutoRegistration=True,
)
ca_id = ca["certificateId"]
check(len(ca_id) == 64 and ca["certificateArn"].endswith(ca_id), "register CA with a verification certificate")

try:
    iot.register_ca_certificate(
        caCertificate=read(ca_path), verificationCertificate=read(verification_path)
    )
    check(False, "a duplicate CA is refused")
except iot.exceptions.ResourceAlreadyExistsException as e:
    check(e.response["Error"]["Code"] == "ResourceAlreadyExistsException", "a duplicate CA is refused")

described = iot.describe_ca_certificate(certificateId=ca_id)["certificateDescription"]
check(described["status"] == "ACTIVE" and described["autoRegistrationStatus"] == "ENABLE", "describe CA")
check(any(c["certificateId"] == ca_id for c in iot.list_ca_certificates()["certificates"]), "list CAs")

cert = iot.register_certificate(
    certificatePem=read(device_path), caCertificatePem=read(ca_path), status="ACTIVE"
)
cert_id, cert_arn = cert["certificateId"], cert["certificateArn"]
check(len(cert_id) == 64, "register a device certificate")

thing = iot.create_thing(thingName="boto3-thing", attributePayload={"attributes": {"site": "lab"}})
check(thing["thingName"] == "boto3-thing", "create thing")
check(iot.describe_thing(thingName="boto3-thing")["attributes"] == {"site": "lab"}, "describe thing")

document = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}
)
check(iot.create_policy(policyName="boto3-policy", policyDocument=document)["policyName"] == "boto3-policy", "create policy")
check(json.loads(iot.get_policy(policyName="boto3-policy")["policyDocument"]) == json.loads(document), "get policy")
try:
    iot.create_policy(policyName="broken", policyDocument="{not json")
    check(False, "a malformed policy is refused")
except iot.exceptions.MalformedPolicyException:
    check(True, "a malformed policy is refused")

iot.attach_policy(policyName="boto3-policy", target=cert_arn)
attached = iot.list_attached_policies(target=cert_arn)["policies"]
check([p["policyName"] for p in attached] == ["boto3-policy"], "attach policy")
iot.attach_thing_principal(thingName="boto3-thing", principal=cert_arn)
check(iot.list_thing_principals(thingName="boto3-thing")["principals"] == [cert_arn], "attach thing principal")

iot.update_certificate(certificateId=cert_id, newStatus="INACTIVE")
check(iot.describe_certificate(certificateId=cert_id)["certificateDescription"]["status"] == "INACTIVE", "update certificate status")

iot.detach_policy(policyName="boto3-policy", target=cert_arn)
iot.detach_thing_principal(thingName="boto3-thing", principal=cert_arn)
iot.delete_certificate(certificateId=cert_id)
check(all(c["certificateId"] != cert_id for c in iot.list_certificates()["certificates"]), "delete certificate")
iot.delete_thing(thingName="boto3-thing")
try:
    iot.describe_thing(thingName="boto3-thing")
    check(False, "a deleted thing is gone")
except iot.exceptions.ResourceNotFoundException:
    check(True, "a deleted thing is gone")

check(iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"], "describe endpoint")
print(f"all boto3 checks passed ({checks})")

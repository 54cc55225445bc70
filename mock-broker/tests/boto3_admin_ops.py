"""Drives the rest of mock-broker's admin API with boto3: every operation beyond the seed
flow, boto3's paginators over lists longer than a page, and the SigV4 region checks.

Usage: boto3_admin_ops.py EAST1_URL EAST2_URL EAST2_ACCOUNT DIR

EAST1_URL serves account 123456789012 in us-east-1, EAST2_URL account EAST2_ACCOUNT in
us-east-2. DIR holds ca.pem, verification.pem (for EAST1_URL's registration code),
device-1.pem .. device-4.pem issued by that CA, and csr.pem, a CSR made by the Rust test.
With the `cryptography` package (not a boto3 dependency) the script makes its own CSR and
checks the issued certificate and key pair itself; without it, it sends csr.pem. Either
way it writes what it sent and got to DIR (out-csr.pem, out-from-csr.pem, out-keys.json)
for the Rust test to check.
"""
import json
import os
import re
import sys

import boto3
from botocore.exceptions import ClientError

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID
except ImportError:
    x509 = None

east1_url, east2_url, east2_account, folder = sys.argv[1:5]
read = lambda name: open(os.path.join(folder, name)).read()


def write(name, text):
    with open(os.path.join(folder, name), "w") as f:
        f.write(text)


def client(url, region):
    return boto3.client(
        "iot",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


iot = client(east1_url, "us-east-1")
checks = 0


def check(condition, what):
    global checks
    if not condition:
        raise SystemExit(f"FAILED: {what}")
    checks += 1
    print(f"ok: {what}")


def refused(call, code, status, what, message=None):
    """Runs call; checks it fails with this exception code and HTTP status."""
    try:
        call()
    except ClientError as e:
        error = e.response["Error"]
        got = (error["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"])
        check(got == (code, status), f"{what}: {got}")
        if message is not None:
            check(error["Message"] == message, f"{what}: message {error['Message']!r}")
        return
    check(False, f"{what}: no error")


def walk(operation, result_key, page_size, **kwargs):
    """Every page of a boto3 paginator; checks no page is larger than asked."""
    pages = []
    paginator = iot.get_paginator(operation)
    for page in paginator.paginate(PaginationConfig={"PageSize": page_size}, **kwargs):
        items = page[result_key]
        check(len(items) <= page_size, f"{operation}: a page of {len(items)} <= {page_size}")
        pages.append(items)
    return pages


def sizes(pages):
    return [len(p) for p in pages]


# --- Region: SigV4 scope against the broker's region ---------------------------------
wrong = client(east1_url, "us-east-2")
refused(
    wrong.list_things,
    "InvalidSignatureException",
    403,
    "a us-east-1 broker refuses a request signed for us-east-2",
    "Credential should be scoped to a valid region, not 'us-east-2'. ",
)
east2 = client(east2_url, "us-east-2")
thing = east2.create_thing(thingName="east-thing")
check(
    thing["thingArn"] == f"arn:aws:iot:us-east-2:{east2_account}:thing/east-thing",
    "a us-east-2 broker puts its region and account in ARNs",
)
policy = east2.create_policy(
    policyName="east-policy",
    policyDocument=json.dumps({"Statement": [{"Effect": "Allow", "Action": "iot:Publish",
                                              "Resource": f"arn:aws:iot:us-east-2:{east2_account}:topic/east/*"}]}),
)
check(policy["policyArn"] == f"arn:aws:iot:us-east-2:{east2_account}:policy/east-policy", "policy ARN in us-east-2")
refused(
    client(east2_url, "us-east-1").list_policies,
    "InvalidSignatureException",
    403,
    "a us-east-2 broker refuses a request signed for us-east-1",
    "Credential should be scoped to a valid region, not 'us-east-1'. ",
)

# --- CA certificates: UpdateCACertificate, ListCertificatesByCA, DeleteCACertificate ----
ca = iot.register_ca_certificate(
    caCertificate=read("ca.pem"),
    verificationCertificate=read("verification.pem"),
    setAsActive=True,
    allowAutoRegistration=True,
)
ca_id = ca["certificateId"]
try:
    iot.register_ca_certificate(caCertificate=read("ca.pem"), verificationCertificate=read("verification.pem"))
    check(False, "a registered CA is not registered again")
except iot.exceptions.ResourceAlreadyExistsException as e:
    # Microchip's pyawsutils reads the existing CA's id from the message this way.
    found = re.search("ID:([0-9a-zA-Z]+)", e.response["Error"]["Message"])
    check(found is not None and found.group(1) == ca_id, "a duplicate CA's message carries ID:<id>, as pyawsutils parses it")
template = json.dumps({"Resources": {}})
iot.update_ca_certificate(
    certificateId=ca_id,
    newStatus="INACTIVE",
    newAutoRegistrationStatus="DISABLE",
    registrationConfig={"templateBody": template},
)
described = iot.describe_ca_certificate(certificateId=ca_id)
check(
    (described["certificateDescription"]["status"], described["certificateDescription"]["autoRegistrationStatus"])
    == ("INACTIVE", "DISABLE"),
    "UpdateCACertificate: newStatus and newAutoRegistrationStatus",
)
check(described["registrationConfig"]["templateBody"] == template, "UpdateCACertificate: registrationConfig")
iot.update_ca_certificate(
    certificateId=ca_id, newStatus="ACTIVE", newAutoRegistrationStatus="ENABLE", removeAutoRegistration=True
)
described = iot.describe_ca_certificate(certificateId=ca_id)
check(described["certificateDescription"]["status"] == "ACTIVE", "UpdateCACertificate: ACTIVE again")
check("registrationConfig" not in described, "UpdateCACertificate: removeAutoRegistration")

devices = []
for n in range(1, 5):
    cert = iot.register_certificate(certificatePem=read(f"device-{n}.pem"), caCertificatePem=read("ca.pem"), setAsActive=True)
    devices.append((cert["certificateId"], cert["certificateArn"]))
device_ids = sorted(d[0] for d in devices)
by_ca = iot.list_certificates_by_ca(caCertificateId=ca_id)
check(sorted(c["certificateId"] for c in by_ca["certificates"]) == device_ids, "ListCertificatesByCA")
check("nextMarker" not in by_ca, "ListCertificatesByCA: one page, no marker")
pages = walk("list_certificates_by_ca", "certificates", 3, caCertificateId=ca_id)
check(sizes(pages) == [3, 1], f"ListCertificatesByCA paginator pages {sizes(pages)}")
check(sorted(c["certificateId"] for p in pages for c in p) == device_ids, "ListCertificatesByCA paginator: each once")

try:
    iot.delete_ca_certificate(certificateId=ca_id)
    check(False, "DeleteCACertificate of an ACTIVE CA fails")
except iot.exceptions.CertificateStateException as e:
    check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 406, "DeleteCACertificate of an ACTIVE CA: CertificateStateException 406")

# --- Certificates AWS issues ---------------------------------------------------------
if x509 is not None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "boto3-csr")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )
    print("CSR made with cryptography")
else:
    csr = read("csr.pem")
    print("cryptography is missing: sending the Rust test's CSR")
from_csr = iot.create_certificate_from_csr(certificateSigningRequest=csr, setAsActive=True)
write("out-csr.pem", csr)
write("out-from-csr.pem", from_csr["certificatePem"])
if x509 is not None:
    issued = x509.load_pem_x509_certificate(from_csr["certificatePem"].encode())
    spki = lambda public: public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    check(spki(issued.public_key()) == spki(key.public_key()), "CreateCertificateFromCsr: the CSR's key is certified")
    check(
        issued.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "AWS IoT Certificate",
        "CreateCertificateFromCsr: AWS's subject",
    )
description = iot.describe_certificate(certificateId=from_csr["certificateId"])["certificateDescription"]
check(description["status"] == "ACTIVE" and "caCertificateId" not in description, "CreateCertificateFromCsr: ACTIVE, no CA")
check(description["certificatePem"] == from_csr["certificatePem"], "CreateCertificateFromCsr: DescribeCertificate has it")
refused(
    lambda: iot.create_certificate_from_csr(certificateSigningRequest="not a csr"),
    "InvalidRequestException",
    400,
    "CreateCertificateFromCsr: garbage is refused",
)

keys = iot.create_keys_and_certificate(setAsActive=False)
write("out-keys.json", json.dumps({k: keys[k] for k in ("certificateId", "certificatePem", "keyPair")}))
check(keys["keyPair"]["PrivateKey"].startswith("-----BEGIN RSA PRIVATE KEY-----"), "CreateKeysAndCertificate: PKCS#1 private key")
if x509 is not None:
    private = serialization.load_pem_private_key(keys["keyPair"]["PrivateKey"].encode(), password=None)
    check(isinstance(private, rsa.RSAPrivateKey) and private.key_size == 2048, "CreateKeysAndCertificate: RSA 2048")
    cert = x509.load_pem_x509_certificate(keys["certificatePem"].encode())
    public = serialization.load_pem_public_key(keys["keyPair"]["PublicKey"].encode())
    check(
        cert.public_key().public_numbers() == private.public_key().public_numbers()
        and spki(cert.public_key()) == spki(public),
        "CreateKeysAndCertificate: the key pair matches the certificate",
    )
check(
    iot.describe_certificate(certificateId=keys["certificateId"])["certificateDescription"]["status"] == "INACTIVE",
    "CreateKeysAndCertificate: INACTIVE without setAsActive",
)

all_ids = sorted(device_ids + [from_csr["certificateId"], keys["certificateId"]])
pages = walk("list_certificates", "certificates", 2)
check(sizes(pages) == [2, 2, 2], f"ListCertificates paginator pages {sizes(pages)}")
newest_first = [c["certificateId"] for p in pages for c in p]
check(sorted(newest_first) == all_ids, "ListCertificates paginator: each certificate once")
oldest_first = [c["certificateId"] for p in walk("list_certificates", "certificates", 4, ascendingOrder=True) for c in p]
check(oldest_first == newest_first[::-1], "ListCertificates ascendingOrder reverses the order")
refused(lambda: iot.list_certificates(marker="zz"), "InvalidRequestException", 400, "ListCertificates: a bad marker")
pages = walk("list_ca_certificates", "certificates", 1)
check([c["certificateId"] for p in pages for c in p] == [ca_id], "ListCACertificates paginator")

# --- Policies ------------------------------------------------------------------------
document = json.dumps({"Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]})
cert_arn = devices[0][1]
names = [f"pg-{n}" for n in range(5)]
for name in names:
    iot.create_policy(policyName=name, policyDocument=document)
pages = walk("list_policies", "policies", 2)
check(sizes(pages) == [2, 2, 1], f"ListPolicies paginator pages {sizes(pages)}")
check(sorted(p["policyName"] for page in pages for p in page) == names, "ListPolicies paginator: each policy once")
for name in names:
    iot.attach_policy(policyName=name, target=cert_arn)
pages = walk("list_attached_policies", "policies", 2, target=cert_arn)
check(sorted(p["policyName"] for page in pages for p in page) == names and sizes(pages) == [2, 2, 1],
      "ListAttachedPolicies paginator")
for _, arn in devices[1:]:
    iot.attach_policy(policyName="pg-0", target=arn)
pages = walk("list_targets_for_policy", "targets", 3, policyName="pg-0")
check(sorted(t for p in pages for t in p) == sorted(a for _, a in devices) and sizes(pages) == [3, 1],
      "ListTargetsForPolicy paginator")
try:
    iot.delete_policy(policyName="pg-0")
    check(False, "DeletePolicy of an attached policy fails")
except iot.exceptions.DeleteConflictException as e:
    check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 409, "DeletePolicy of an attached policy: DeleteConflictException 409")
for _, arn in devices:
    iot.detach_policy(policyName="pg-0", target=arn)
iot.delete_policy(policyName="pg-0")
refused(lambda: iot.get_policy(policyName="pg-0"), "ResourceNotFoundException", 404, "DeletePolicy: gone")
iot.detach_policy(policyName="pg-1", target=cert_arn)
iot.attach_principal_policy(policyName="pg-1", principal=cert_arn)
check(
    [p["policyName"] for p in iot.list_principal_policies(principal=cert_arn, ascendingOrder=True)["policies"]]
    == ["pg-1", "pg-2", "pg-3", "pg-4"],
    "AttachPrincipalPolicy, ListPrincipalPolicies (deprecated)",
)

# --- Things --------------------------------------------------------------------------
things = [f"pt-{n}" for n in range(7)]
for name in things:
    iot.create_thing(thingName=name)
    iot.attach_thing_principal(thingName=name, principal=cert_arn)
pages = walk("list_things", "things", 3)
check(sizes(pages) == [3, 3, 1], f"ListThings paginator pages {sizes(pages)}")
check([t["thingName"] for p in pages for t in p] == things, "ListThings paginator: each thing once, by name")
pages = walk("list_principal_things", "things", 3, principal=cert_arn)
check([t for p in pages for t in p] == things and sizes(pages) == [3, 3, 1], "ListPrincipalThings paginator")
for _, arn in devices[1:]:
    iot.attach_thing_principal(thingName="pt-0", principal=arn)
pages = walk("list_thing_principals", "principals", 3, thingName="pt-0")
check(sorted(a for p in pages for a in p) == sorted(a for _, a in devices) and sizes(pages) == [3, 1],
      "ListThingPrincipals paginator")
refused(lambda: iot.list_things(nextToken="bogus"), "InvalidRequestException", 400, "ListThings: a bad nextToken")

iot.create_thing(thingName="upd", attributePayload={"attributes": {"a": "1", "b": "2"}})
described = iot.describe_thing(thingName="upd")
check(
    {k: described[k] for k in ("thingName", "defaultClientId", "attributes", "version")}
    == {"thingName": "upd", "defaultClientId": "upd", "attributes": {"a": "1", "b": "2"}, "version": 1}
    and described["thingArn"] == "arn:aws:iot:us-east-1:123456789012:thing/upd"
    and len(described["thingId"]) > 0,
    "DescribeThing",
)
iot.update_thing(thingName="upd", attributePayload={"attributes": {"b": "", "c": "3"}, "merge": True}, expectedVersion=1)
described = iot.describe_thing(thingName="upd")
check(described["attributes"] == {"a": "1", "c": "3"} and described["version"] == 2, "UpdateThing: merge, removal by empty value")
iot.update_thing(thingName="upd", attributePayload={"attributes": {"z": "26"}})
check(iot.describe_thing(thingName="upd")["attributes"] == {"z": "26"}, "UpdateThing: replace without merge")
refused(
    lambda: iot.update_thing(thingName="upd", attributePayload={"attributes": {"a": "x"}}, expectedVersion=1),
    "VersionConflictException",
    409,
    "UpdateThing: a stale expectedVersion",
)
refused(lambda: iot.delete_thing(thingName="upd", expectedVersion=1), "VersionConflictException", 409,
        "DeleteThing: a stale expectedVersion")
iot.delete_thing(thingName="upd", expectedVersion=3)
refused(lambda: iot.describe_thing(thingName="upd"), "ResourceNotFoundException", 404, "DeleteThing with expectedVersion")

# --- The account, and deleting the CA ------------------------------------------------
code = iot.get_registration_code()["registrationCode"]
iot.delete_registration_code()
check(iot.get_registration_code()["registrationCode"] != code, "DeleteRegistrationCode makes a new code")
iot.update_ca_certificate(certificateId=ca_id, newStatus="INACTIVE")
iot.delete_ca_certificate(certificateId=ca_id)
refused(lambda: iot.describe_ca_certificate(certificateId=ca_id), "ResourceNotFoundException", 404,
        "DeleteCACertificate of an INACTIVE CA")
check(iot.list_ca_certificates()["certificates"] == [], "ListCACertificates: none left")

print(f"all boto3 ops checks passed ({checks})")

#!/usr/bin/env bash
# The broker benchmark with AWS IoT Core's policy checks on: mock-broker runs with
# --control-plane, and the load generator connects with a *device* certificate (a P-256 key,
# its CSR signed through the admin API's CreateCertificateFromCsr, ACTIVE), whose attached
# policy allows iot:Connect on client/bench-*, iot:Publish and iot:Receive on topic/bench/*
# and iot:Subscribe on topicfilter/bench/#. Every CONNECT, PUBLISH, SUBSCRIBE and delivery
# is authorized against it, as for a board. (The operator certificate that
# ../shared/tools/bench-vs-mosquitto.sh uses with MB_ARGS=--control-plane is a superuser,
# whose requests skip the policies.) Mosquitto runs the same loads beside it, with the
# mock's PKI, as in that script.
#
# Usage: [SCALE=N] vs-mosquitto-policy.sh MOCK_BROKER_RELEASE_BIN MQTT_BENCH_BIN [RUNS] [CASES]
#   CASES: any of q1 q0 conn (default: "q1 q0"). SCALE multiplies the messages each publisher
#   sends (default 1, the issue's loads); the issue's loads last 0.2-0.5 s, too short for
#   steady CPU figures. Needs openssl, python3, mosquitto.
# Prints one summary line per case and broker (median over RUNS), then a ratio line.
set -u
MB=$1; BENCH=$2; RUNS=${3:-3}; CASES=${4:-q1 q0}; SCALE=${SCALE:-1}
T=$(mktemp -d); chmod 755 "$T"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
MP=$(free_port); AP=$(free_port)
"$MB" serve --listen 127.0.0.1:"$MP" --state-dir "$T/mb" --control-plane --admin-listen 127.0.0.1:"$AP" >"$T/mb.out" 2>&1 & MPID=$!
trap 'kill $MPID ${QPID:-} 2>/dev/null; rm -rf "$T"' EXIT
wait_port "$MP" && wait_port "$AP" || { echo "mock-broker did not start"; cat "$T/mb.out"; exit 1; }
API=http://127.0.0.1:$AP

# The device identity: a P-256 key whose CSR the control plane signs, and its policy.
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out "$T/device.key"
openssl req -new -key "$T/device.key" -subj "/CN=bench-device" -out "$T/device.csr"
python3 - "$T" "$API" <<'PY' || { echo "device set-up failed"; exit 1; }
import json, sys, urllib.request
t, api = sys.argv[1], sys.argv[2]
def call(method, path, body):
    req = urllib.request.Request(api + path, data=json.dumps(body).encode(), method=method,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req) as reply:
        return json.loads(reply.read() or b"{}")
cert = call("POST", "/certificates?setAsActive=true",
            {"certificateSigningRequest": open(f"{t}/device.csr").read()})
open(f"{t}/device.pem", "w").write(cert["certificatePem"])
arn = lambda kind, rest: f"arn:aws:iot:us-east-1:123456789012:{kind}/{rest}"
policy = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "iot:Connect", "Resource": arn("client", "bench-*")},
    {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"], "Resource": arn("topic", "bench/*")},
    {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": arn("topicfilter", "bench/#")},
]}
call("POST", "/policies/bench", {"policyDocument": json.dumps(policy)})
call("PUT", "/target-policies/bench", {"target": cert["certificateArn"]})
print("device certificate", cert["certificateId"], "with policy bench", file=sys.stderr)
PY

# Mosquitto: the mock's server certificate and client CA, as in bench-vs-mosquitto.sh.
chmod 755 "$T/mb" "$T/mb/pki"; chmod 644 "$T/mb/pki/"*.pem; cp "$T/mb/pki/server.key" "$T/mosq-server.key"; chmod 644 "$T/mosq-server.key"
QP=$(free_port)
cat >"$T/mosq.conf" <<C
per_listener_settings false
allow_anonymous false
persistence false
listener $QP 127.0.0.1
cafile $T/mb/pki/client-ca.pem
certfile $T/mb/pki/server.pem
keyfile $T/mosq-server.key
require_certificate true
use_identity_as_username true
max_queued_messages 0
C
mosquitto -c "$T/mosq.conf" >"$T/mosq.log" 2>&1 & QPID=$!
wait_port "$QP" || { echo "mosquitto did not start"; cat "$T/mosq.log"; exit 1; }

CA=(--host localhost --ca "$T/mb/pki/server-ca.pem")
OPERATOR=(--cert "$T/mb/pki/client.pem" --key "$T/mb/pki/client.key")
DEVICE=(--cert "$T/device.pem" --key "$T/device.key")
run() { # broker-name port pid case identity... -- args...
  local name=$1 port=$2 pid=$3 case=$4; shift 4
  local identity=(); while [ "$1" != "--" ]; do identity+=("$1"); shift; done; shift
  for _ in $(seq 1 "$RUNS"); do
    out=$("$BENCH" "$@" "${CA[@]}" "${identity[@]}" --port "$port" --broker-pid "$pid" 2>/dev/null | tail -1)
    echo "{\"broker\":\"$name\",\"case\":\"$case\",${out#\{}" >>"$T/results"
    sleep 1
  done
}
for c in $CASES; do
  case $c in
    q1) args=(throughput --publishers 100 --messages $((200 * SCALE)) --size 64 --qos 1 --inflight 10);;
    q0) args=(throughput --publishers 10 --messages $((2000 * SCALE)) --size 1024 --qos 0);;
    conn) args=(connect --clients 1000 --concurrency 50);;
  esac
  run mosquitto "$QP" "$QPID" "$c" "${OPERATOR[@]}" -- "${args[@]}"
  run mock-broker "$MP" "$MPID" "$c" "${DEVICE[@]}" -- "${args[@]}"
done
python3 - "$T/results" <<'PY'
import json, sys, statistics as st
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
def med(b, c, k):
    v = [r[k] for r in rows if r["broker"] == b and r["case"] == c and k in r and r[k] is not None]
    return st.median(v) if v else float("nan")
for c in sorted({r["case"] for r in rows}, key=["q1", "q0", "conn"].index):
    rate = "conn_per_s" if c == "conn" else "msgs_per_s"
    for b in ["mosquitto", "mock-broker"]:
        got = [r.get("received", r.get("ok", 0)) for r in rows if r["broker"] == b and r["case"] == c]
        dups = sum(r.get("duplicates", 0) for r in rows if r["broker"] == b and r["case"] == c)
        print(f"{c:5} {b:12} rate {med(b,c,rate):>9.0f}  p50 {med(b,c,'p50_ms'):7.2f} ms  p99 {med(b,c,'p99_ms'):7.2f} ms  broker cpu {med(b,c,'broker_cpu_pct'):5.0f}%  received {got} duplicates {dups}")
    m, q = med("mock-broker", c, rate), med("mosquitto", c, rate)
    mc, qc = med("mock-broker", c, "broker_cpu_pct"), med("mosquitto", c, "broker_cpu_pct")
    print(f"{c:5} ratio mock/mosquitto: rate {m/q:.2f}x, per broker-CPU {(m/mc)/(q/qc):.2f}x")
PY

//! Scenario parsing: a valid file, and every error with its location.

use super::*;

fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    Scenario::parse(Path::new("/scenarios/test.toml"), text)
}

fn error_at(text: &str) -> (String, (usize, usize)) {
    let error = parse(text).unwrap_err();
    let at = error.line_column().expect("located");
    (error.message().to_owned(), at)
}

const GOOD: &str = r#"
name = "first connection"
tags = ["seed"]

[[step]]
provision = { board = "dut" }

[[step]]
expect_led = { board = "dut", led = "blue", is = "on", within = "10s" }

[[step]]
expect_message = { topic = "{dut.thing}/sensors", within = "20s", json = { Light = 1 } }

[[step]]
expect_led = { board = "dut", led = "yellow", blinking = { hz = "0.5..3" }, for = "4s" }
"#;

#[test]
fn a_scenario_parses_with_defaults() {
    let scenario = parse(GOOD).unwrap();
    assert_eq!(scenario.boards, vec!["dut"]);
    assert_eq!(scenario.steps.len(), 4);
    assert!(matches!(scenario.steps[0].get(), Step::Provision(p) if p.mode == Mode::Jitr));
    assert_eq!(scenario.id(), "test");
    assert_eq!(scenario.steps[2].get().kind(), "expect_message");
    assert_eq!(scenario.device_advisor, None);
}

#[test]
fn a_scenario_may_name_its_device_advisor_case() {
    let text = format!("device_advisor = \"TLS Connect\"\n{GOOD}");
    let scenario = parse(&text).unwrap();
    assert_eq!(scenario.device_advisor.as_deref(), Some("TLS Connect"));
}

#[test]
fn an_unknown_step_is_located() {
    let (message, at) = error_at("name = \"x\"\n[[step]]\nteleport = { board = \"dut\" }\n");
    assert!(message.contains("teleport"), "{message}");
    assert_eq!(at.0, 3);
}

#[test]
fn a_bad_duration_is_located() {
    let (message, at) = error_at("name = \"x\"\n[[step]]\nwait = { for = \"soon\" }\n");
    assert!(message.contains("not a duration"), "{message}");
    assert_eq!(at.0, 3);
}

#[test]
fn a_send_step_names_its_board_and_needs_a_line() {
    let scenario =
        parse("name = \"x\"\n[[step]]\nsend = { board = \"dut\", line = \"reset\" }\n").unwrap();
    assert!(matches!(scenario.steps[0].get(), Step::Send(s) if s.line == "reset"));
    assert_eq!(scenario.steps[0].get().kind(), "send");
    let (message, at) =
        error_at("name = \"x\"\n[[step]]\nsend = { board = \"other\", line = \"reset\" }\n");
    assert!(message.contains("unknown board \"other\""), "{message}");
    assert_eq!(at, (3, 18));
    let (message, _) = error_at("name = \"x\"\n[[step]]\nsend = { board = \"dut\" }\n");
    assert!(message.contains("line"), "{message}");
}

#[test]
fn message_filters_parse_and_a_bad_qos_is_located() {
    let scenario = parse(
        "name = \"x\"\n[[step]]\nexpect_message = { topic = \"t\", within = \"1s\", qos = 1, retained = true }\n",
    )
    .unwrap();
    assert!(matches!(
        scenario.steps[0].get(),
        Step::ExpectMessage(s) if s.qos.as_ref().map(|q| *q.get()) == Some(1) && s.retained == Some(true)
    ));
    let (message, at) = error_at(
        "name = \"x\"\n[[step]]\nexpect_message = { topic = \"t\", within = \"1s\", qos = 2 }\n",
    );
    assert!(message.contains("QoS 2"), "{message}");
    assert_eq!(at, (3, 54));
}

#[test]
fn a_json_schema_is_loaded_relative_to_the_scenario_and_checked() {
    let (message, at) = error_at(
        "name = \"x\"\n[[step]]\nexpect_message = { topic = \"t\", within = \"1s\", schema = \"nope.json\" }\n",
    );
    assert!(
        message.contains("cannot read JSON Schema /scenarios/nope.json"),
        "{message}"
    );
    assert_eq!(at, (3, 57));

    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.toml");
    std::fs::write(
        &scenario,
        "name = \"x\"\n[[step]]\nexpect_message = { topic = \"t\", within = \"1s\", schema = \"schemas/t.json\" }\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("schemas")).unwrap();
    let schema = dir.path().join("schemas/t.json");
    std::fs::write(&schema, r#"{"type": "object", "required": ["Light"]}"#).unwrap();
    let loaded = Scenario::load(&scenario).unwrap();
    let Step::ExpectMessage(step) = loaded.steps[0].get() else {
        panic!("an expect_message step");
    };
    let validator = loaded.json_schema(step.schema.as_ref().unwrap()).unwrap();
    assert!(validator.is_valid(&serde_json::json!({"Light": 1})));
    assert!(!validator.is_valid(&serde_json::json!({"Temp": 1})));

    std::fs::write(&schema, r#"{"type": 12}"#).unwrap();
    let message = Scenario::load(&scenario).unwrap_err().message().to_owned();
    assert!(message.contains("is not a valid JSON Schema"), "{message}");
    std::fs::write(&schema, "{").unwrap();
    let message = Scenario::load(&scenario).unwrap_err().message().to_owned();
    assert!(message.contains("is not JSON"), "{message}");
}

#[test]
fn unknown_boards_leds_and_variables_are_located() {
    let (message, at) = error_at("name = \"x\"\n[[step]]\nreset = { board = \"other\" }\n");
    assert!(message.contains("unknown board \"other\""), "{message}");
    assert_eq!(at, (3, 19));
    let (message, _) = error_at(
        "name = \"x\"\n[[step]]\nexpect_led = { board = \"dut\", led = \"purple\", is = \"on\", within = \"1s\" }\n",
    );
    assert!(message.contains("unknown LED"), "{message}");
    let (message, _) = error_at(
        "name = \"x\"\n[[step]]\nexpect_message = { topic = \"{dut.serial}/x\", within = \"1s\" }\n",
    );
    assert!(
        message.contains("unknown variable {dut.serial}"),
        "{message}"
    );
    let (message, _) = error_at(
        "name = \"x\"\n[[step]]\nexpect_message = { topic = \"{other.thing}/x\", within = \"1s\" }\n",
    );
    assert!(message.contains("unknown variable"), "{message}");
}

#[test]
fn led_expectations_need_exactly_one_shape() {
    let (message, _) = error_at(
        "name = \"x\"\n[[step]]\nexpect_led = { board = \"dut\", led = \"red\", is = \"on\" }\n",
    );
    assert!(message.contains("needs `within`"), "{message}");
    let (message, _) = error_at(
        "name = \"x\"\n[[step]]\nexpect_led = { board = \"dut\", led = \"red\", is = \"on\", holds = \"on\", within = \"1s\" }\n",
    );
    assert!(message.contains("exactly one"), "{message}");
    let (message, _) = error_at(
        "name = \"x\"\n[[step]]\nexpect_led = { board = \"dut\", led = \"red\", blinking = { hz = \"3..1\" }, for = \"1s\" }\n",
    );
    assert!(message.contains("empty"), "{message}");
    let (message, _) = error_at(
        "name = \"x\"\n[[step]]\nexpect_led = { board = \"dut\", led = \"red\", is = \"dim\", within = \"1s\" }\n",
    );
    assert!(message.contains("on\" or \"off"), "{message}");
}

#[test]
fn other_checks() {
    let error = parse("name = \"x\"\n").unwrap_err();
    assert!(error.message().contains("no steps"));
    let (message, _) = error_at("name = \"x\"\n[[step]]\npublish = { topic = \"a\" }\n");
    assert!(
        message.contains("exactly one of `payload` and `json`"),
        "{message}"
    );
    let (message, _) = error_at(
        "name = \"x\"\n[[step]]\nexpect = { board = \"dut\", regex = \"(\", within = \"1s\" }\n",
    );
    assert!(message.contains("regex"), "{message}");
    let (message, _) =
        error_at("name = \"x\"\n[[step]]\ncertificate = { board = \"dut\", status = \"GONE\" }\n");
    assert!(message.contains("ACTIVE, INACTIVE, REVOKED"), "{message}");
    let (message, _) = error_at("name = \"x\"\nsurprise = 1\n[[step]]\nwait = { for = \"1s\" }\n");
    assert!(message.contains("surprise"), "{message}");
}

#[test]
fn variables_are_found_and_substituted() {
    assert_eq!(
        variables_in("{dut.thing}/sensors/{ca.id}"),
        vec!["dut.thing", "ca.id"]
    );
    let values = BTreeMap::from([("dut.thing".to_owned(), "abc".to_owned())]);
    assert_eq!(substitute("{dut.thing}/sensors", &values), "abc/sensors");
}

#[test]
fn the_schema_names_every_step() {
    let schema = json_schema();
    for step in [
        "provision",
        "send",
        "expect_led",
        "expect_message",
        "expect_no_message",
        "publish",
        "wait",
        "certificate",
    ] {
        assert!(schema.contains(&format!("\"{step}\"")), "{step}");
    }
}

#[test]
fn faults_and_backoff_are_checked() {
    let (message, _) = error_at("name = \"x\"\n[[step]]\nfault = { withhold = \"connack\" }\n");
    assert!(message.contains("puback, suback or pingresp"), "{message}");
    let (message, _) = error_at("name = \"x\"\n[[step]]\nfault = { server_cert = \"stale\" }\n");
    assert!(
        message.contains("expired, wrong_name, untrusted, large or restore"),
        "{message}"
    );
    let error = parse("name = \"x\"\n[[step]]\nfault = { withhold_connack = 2, clear = true }\n")
        .unwrap_err();
    assert!(
        error.message().contains("exactly one"),
        "{}",
        error.message()
    );
    let error = parse("name = \"x\"\n[[step]]\nfault = { disconnect = true }\n").unwrap_err();
    assert!(
        error.message().contains("needs a board"),
        "{}",
        error.message()
    );
    let (message, _) = error_at(
        "name = \"x\"\n[[step]]\nexpect_backoff = { board = \"dut\", attempts = 2, within = \"1s\" }\n",
    );
    assert!(message.contains("at least 4 attempts"), "{message}");
    assert!(
        parse("name = \"x\"\n[[step]]\nfault = { board = \"dut\", withhold = \"puback\" }\n")
            .is_ok()
    );
}

#[test]
fn clients_are_declared_and_their_variables_known() {
    let text = r#"
name = "x"
[clients.console]
[clients.rogue]
identity = "device"
[[step]]
connect = { client = "rogue" }
[[step]]
publish = { client = "rogue", topic = "{rogue.thing}/sensors", payload = "{}" }
[[step]]
subscribe = { client = "console", topic = "{dut.thing|upper}/sensors", qos = 1 }
[[step]]
expect_disconnected = { client = "rogue", within = "5s" }
"#;
    let scenario = parse(text).unwrap();
    assert_eq!(scenario.clients["rogue"].identity, ClientIdentity::Device);
    assert_eq!(
        scenario.clients["console"].identity,
        ClientIdentity::Operator
    );
    assert_eq!(
        scenario.steps[1].get().client().map(|c| c.get().as_str()),
        Some("rogue")
    );

    let (message, at) = error_at("name = \"x\"\n[[step]]\nconnect = { client = \"ghost\" }\n");
    assert!(message.contains("unknown client \"ghost\""), "{message}");
    assert_eq!(at, (3, 22));
    // An operator client has no thing of its own.
    let (message, _) = error_at(
        "name = \"x\"\n[clients.console]\n[[step]]\nexpect_message = { topic = \"{console.thing}/x\", within = \"1s\" }\n",
    );
    assert!(
        message.contains("unknown variable {console.thing}"),
        "{message}"
    );
    let error =
        parse("name = \"x\"\n[clients.dut]\n[[step]]\nwait = { for = \"1s\" }\n").unwrap_err();
    assert!(
        error.message().contains("name of a board"),
        "{}",
        error.message()
    );
    let (message, _) = error_at(
        "name = \"x\"\n[clients.c]\n[[step]]\nsubscribe = { client = \"c\", topic = \"t\", qos = 2 }\n",
    );
    assert!(message.contains("QoS 2"), "{message}");
}

#[test]
fn variable_filters_are_checked_and_applied() {
    let (message, at) = error_at(
        "name = \"x\"\n[[step]]\nexpect_no_message = { topic = \"{dut.thing|reverse}\", for = \"1s\" }\n",
    );
    assert!(message.contains("unknown filter |reverse"), "{message}");
    assert_eq!(at.0, 3);
    let values = BTreeMap::from([("dut.thing".to_owned(), "ab12".to_owned())]);
    assert_eq!(
        substitute(
            "{dut.thing|upper}/{dut.thing}/{dut.thing|lower}/{other}",
            &values
        ),
        "AB12/ab12/ab12/{other}"
    );
    assert_eq!(substitute("{unclosed", &values), "{unclosed");
}

#[test]
fn a_parallel_block_checks_its_steps_and_does_not_nest() {
    let scenario = parse(
        "name = \"x\"\n[[step]]\nparallel = [ { wait = { for = \"1s\" } }, { expect_led = { board = \"dut\", led = \"red\", holds = \"off\", for = \"1s\" } } ]\n",
    )
    .unwrap();
    assert!(matches!(scenario.steps[0].get(), Step::Parallel(steps) if steps.len() == 2));
    let (message, at) = error_at(
        "name = \"x\"\n[[step]]\nparallel = [ { wait = { for = \"1s\" } }, { expect_led = { board = \"dut\", led = \"pink\", holds = \"off\", for = \"1s\" } } ]\n",
    );
    assert!(message.contains("unknown LED \"pink\""), "{message}");
    assert_eq!(at.0, 3);
    let (message, _) = error_at(
        "name = \"x\"\n[[step]]\nparallel = [ { parallel = [ { wait = { for = \"1s\" } } ] } ]\n",
    );
    assert!(
        message.contains("cannot hold another parallel"),
        "{message}"
    );
    let (message, _) = error_at("name = \"x\"\n[[step]]\nparallel = []\n");
    assert!(message.contains("empty parallel"), "{message}");
}

#[test]
fn ca_and_certificate_steps_need_something_to_do() {
    let scenario = parse(
        "name = \"x\"\n[[step]]\nca = { register = true, status = \"INACTIVE\" }\n[[step]]\ncertificate = { board = \"dut\", register = true }\n",
    )
    .unwrap();
    assert!(matches!(scenario.steps[0].get(), Step::Ca(c) if c.register));
    let (message, at) = error_at("name = \"x\"\n[[step]]\nca = { status = \"REVOKED\" }\n");
    assert!(message.contains("ACTIVE, INACTIVE"), "{message}");
    assert_eq!(at, (3, 17));
    let error = parse("name = \"x\"\n[[step]]\nca = {}\n").unwrap_err();
    assert!(
        error.message().contains("needs `register`"),
        "{}",
        error.message()
    );
    let (message, _) = error_at("name = \"x\"\n[[step]]\ncertificate = { board = \"dut\" }\n");
    assert!(message.contains("`status`, or `register"), "{message}");
}

#[test]
fn snapshot_steps_are_checked() {
    let scenario = parse(
        "name = \"x\"\n[[step]]\nsnapshot = { name = \"event\", topic = \"{dut.thing}/x\", redact_keys = [\"Temp\"], redact = ['\\d+ ms'] }\n",
    )
    .unwrap();
    assert!(matches!(scenario.steps[0].get(), Step::Snapshot(s) if s.redact_keys == ["Temp"]));
    let (message, at) =
        error_at("name = \"x\"\n[[step]]\nsnapshot = { name = \"../up\", console = \"dut\" }\n");
    assert!(message.contains("cannot name a snapshot file"), "{message}");
    assert_eq!(at.0, 3);
    let (message, _) = error_at(
        "name = \"x\"\n[[step]]\nsnapshot = { name = \"a\", console = \"dut\", topic = \"t\" }\n",
    );
    assert!(message.contains("exactly one of `topic`"), "{message}");
    let (message, _) = error_at(
        "name = \"x\"\n[[step]]\nsnapshot = { name = \"a\", console = \"dut\", redact = ['('] }\n",
    );
    assert!(
        message.contains("regex") || message.contains("unclosed"),
        "{message}"
    );
}

#[test]
fn publish_via_http_is_for_the_cloud_not_for_a_client() {
    let ok = parse(
        "name = \"x\"\n[[step]]\npublish = { topic = \"a\", payload = \"p\", via = \"http\" }\n",
    )
    .unwrap();
    let Step::Publish(step) = ok.steps[0].get() else {
        panic!("a publish step")
    };
    assert_eq!(step.via.as_ref().map(|v| *v.get()), Some(PublishVia::Http));
    let (message, at) = error_at(
        "name = \"x\"\n[clients.c]\n[[step]]\npublish = { topic = \"a\", payload = \"p\", client = \"c\", via = \"http\" }\n",
    );
    assert!(message.contains("its own MQTT connection"), "{message}");
    assert_eq!(at.0, 4);
    let (message, _) = error_at(
        "name = \"x\"\n[[step]]\npublish = { topic = \"a\", payload = \"p\", via = \"carrier pigeon\" }\n",
    );
    assert!(message.contains("unknown variant"), "{message}");
}

#[test]
fn a_long_duration_can_be_shortened_and_the_new_text_is_what_runs() {
    let text = "name = \"x\"\n[[step]]\nlong_duration = { board = \"dut\", for = \"2h\" }\n";
    let scenario = parse(text).unwrap();
    let short = scenario.with_long_duration("20m").unwrap();
    let Step::LongDuration(s) = short.step_filled(0, &BTreeMap::new()).unwrap() else {
        panic!("not a long_duration step");
    };
    assert_eq!(s.for_.get(), "20m");
    let error = scenario.with_long_duration("soon").unwrap_err();
    assert!(
        error.message().contains("not a duration"),
        "{}",
        error.message()
    );
}

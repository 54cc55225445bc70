//! Scenario files that cannot run, and the located error each gets when it loads (before
//! any board or broker starts): wildcards where a topic name goes, misplaced wildcards in
//! filters, variables that are unclosed or unknown or carry an unknown filter (in any
//! string of a step), regular expressions over the regex crate's size limit, bytes that
//! are not UTF-8. And the files that must still load.

use super::*;
use miette::Diagnostic;

const PATH: &str = "/scenarios/test.toml";

fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    Scenario::parse(Path::new(PATH), text)
}

/// The message (without the path), the help and the line and column of the error.
fn error_of(text: &str) -> (String, String, (usize, usize)) {
    let error = parse(text).expect_err("the file is refused");
    let message = error
        .message()
        .strip_prefix(&format!("{PATH}: "))
        .unwrap_or_else(|| panic!("the path leads the message: {}", error.message()))
        .to_owned();
    let help = error.help().map(|h| h.to_string()).unwrap_or_default();
    let at = error.line_column().expect("the error is located");
    (message, help, at)
}

/// Line and column (from 1) of the first `needle` in `text`.
fn place_of(text: &str, needle: &str) -> (usize, usize) {
    let offset = text.find(needle).expect("the needle is in the text");
    let line = text[..offset].matches('\n').count() + 1;
    let column = offset - text[..offset].rfind('\n').map_or(0, |n| n + 1) + 1;
    (line, column)
}

fn file(steps: &str) -> String {
    format!("name = \"x\"\n[clients.console]\n[clients.rogue]\nidentity = \"device\"\n{steps}")
}

#[test]
fn a_publish_topic_with_a_wildcard_is_refused_at_the_wildcard() {
    let text = file("[[step]]\npublish = { topic = \"a/+/b\", payload = \"x\" }\n");
    let (message, help, at) = error_of(&text);
    assert_eq!(message, "the publish topic \"a/+/b\" holds a wildcard");
    assert_eq!(
        help,
        "a message goes to one topic; `+` and `#` belong in `subscribe` filters"
    );
    assert_eq!(at, place_of(&text, "+/b"));

    let text = file("[[step]]\npublish = { topic = \"{dut.thing}/#\", json = { a = 1 } }\n");
    let (message, _, at) = error_of(&text);
    assert_eq!(
        message,
        "the publish topic \"{dut.thing}/#\" holds a wildcard"
    );
    assert_eq!(at, place_of(&text, "#\""));

    let text = file("[[step]]\npublish = { topic = \"\", payload = \"x\" }\n");
    let (message, _, at) = error_of(&text);
    assert_eq!(message, "empty topic");
    assert_eq!(at, place_of(&text, "\"\""));
}

#[test]
fn topics_compared_exactly_cannot_hold_wildcards() {
    for (step, kind) in [
        (
            "expect_message = { topic = \"{dut.thing}/+\", within = \"1s\" }",
            "expect_message",
        ),
        (
            "expect_no_message = { topic = \"{dut.thing}/+\", for = \"1s\" }",
            "expect_no_message",
        ),
        (
            "snapshot = { name = \"s\", topic = \"{dut.thing}/+\" }",
            "snapshot",
        ),
    ] {
        let text = file(&format!("[[step]]\n{step}\n"));
        let (message, help, at) = error_of(&text);
        assert_eq!(
            message,
            format!("the {kind} topic \"{{dut.thing}}/+\" holds a wildcard")
        );
        assert_eq!(
            help,
            "this step compares topics exactly; a scenario client can `subscribe` with a filter"
        );
        assert_eq!(at, place_of(&text, "+\""));
    }
}

#[test]
fn a_filter_with_a_misplaced_wildcard_is_refused_at_its_level() {
    for (filter, level) in [
        ("a/#/b", "#/b"),
        ("a/b#", "b#"),
        ("a/+b/c", "+b"),
        ("{dut.thing}/sensors+", "sensors+"),
    ] {
        let text = file(&format!(
            "[[step]]\nsubscribe = {{ client = \"console\", topic = \"{filter}\" }}\n"
        ));
        let (message, help, at) = error_of(&text);
        assert_eq!(message, format!("invalid topic filter {filter:?}"));
        assert_eq!(
            help,
            "MQTT 3.1.1: `#` only as the whole last level (`a/#`), `+` only as a whole level (`a/+/b`)"
        );
        assert_eq!(at, place_of(&text, level), "{filter}");
    }
    for good in [
        "#",
        "a/#",
        "+/+/b",
        "{dut.thing|upper}/+",
        "$aws/things/+/shadow/#",
    ] {
        let text = file(&format!(
            "[[step]]\nsubscribe = {{ client = \"console\", topic = \"{good}\" }}\n"
        ));
        assert!(parse(&text).is_ok(), "{good}");
    }
}

#[test]
fn an_unclosed_variable_is_refused_at_its_brace() {
    let text =
        file("[[step]]\nexpect_message = { topic = \"{dut.thing/sensors\", within = \"1s\" }\n");
    let (message, help, at) = error_of(&text);
    assert_eq!(
        message,
        "unclosed variable {dut.thing: a variable ends with }"
    );
    assert!(help.ends_with("write {{ for a literal {"), "{help}");
    assert_eq!(at, place_of(&text, "{dut.thing/"));
}

#[test]
fn an_unknown_variable_is_refused_with_the_nearest_one() {
    let text = file("[[step]]\nexpect_message = { topic = \"x/{dut.thingg}\", within = \"1s\" }\n");
    let (message, help, at) = error_of(&text);
    assert_eq!(message, "unknown variable {dut.thingg}");
    assert_eq!(
        help,
        "did you mean {dut.thing}? this scenario's variables: {ca.id}, {dut.certificate_id}, {dut.thing}, {rogue.certificate_id}, {rogue.thing}"
    );
    assert_eq!(at, place_of(&text, "{dut.thingg}"));
    // An operator client has no thing of its own.
    let text = file("[[step]]\npublish = { topic = \"{console.thing}/x\", payload = \"\" }\n");
    let (message, _, _) = error_of(&text);
    assert_eq!(message, "unknown variable {console.thing}");
}

#[test]
fn an_unknown_filter_is_refused() {
    let text =
        file("[[step]]\nexpect_message = { topic = \"{dut.thing|reverse}/x\", within = \"1s\" }\n");
    let (message, help, at) = error_of(&text);
    assert_eq!(message, "unknown filter |reverse in {dut.thing|reverse}");
    assert_eq!(help, "filters: |upper, |lower");
    assert_eq!(at, place_of(&text, "{dut.thing|reverse}"));
}

#[test]
fn variables_are_checked_in_every_string_of_every_step() {
    for (step, bad) in [
        // The issue's example, with a typo in the json matcher.
        (
            "expect_message = { topic = \"$aws/events/certificates/registered/{ca.id}\", within = \"15s\", json = { caCertificateId = \"{ca.idd}\", certificateId = \"{dut.certificate_id}\" } }",
            "{ca.idd}",
        ),
        (
            "publish = { topic = \"t\", json = { state = { desired = { who = [\"{dut.thingy}\"] } } } }",
            "{dut.thingy}",
        ),
        (
            "publish = { topic = \"t\", json = { \"{dut.thng}\" = 1 } }",
            "{dut.thng}",
        ),
        (
            "publish = { topic = \"t\", payload = \"{rogue.thin}\" }",
            "{rogue.thin}",
        ),
        (
            "expect = { board = \"dut\", regex = 'thing {dut.thinG}', within = \"1s\" }",
            "{dut.thinG}",
        ),
        (
            "command = { board = \"dut\", send = \"thing\", reply = \"{dut.thing_}\" }",
            "{dut.thing_}",
        ),
        (
            "send = { board = \"dut\", line = \"wifi {dut.ssid}\" }",
            "{dut.ssid}",
        ),
        (
            "snapshot = { name = \"s\", console = \"dut\", redact = ['x', '{ca.ID}'] }",
            "{ca.ID}",
        ),
        (
            "snapshot = { name = \"s-{dut.th}\", console = \"dut\" }",
            "{dut.th}",
        ),
        (
            "parallel = [ { wait = { for = \"1s\" } }, { expect_no_message = { topic = \"{dut.thing}\", regex = \"{dut.certificate}\", for = \"1s\" } } ]",
            "{dut.certificate}",
        ),
    ] {
        let text = file(&format!("[[step]]\n{step}\n"));
        let (message, _, at) = error_of(&text);
        assert_eq!(message, format!("unknown variable {bad}"), "{step}");
        assert_eq!(at, place_of(&text, bad), "{step}");
    }
}

#[test]
fn a_string_with_escapes_is_located_as_a_whole() {
    let text = file("[[step]]\npublish = { topic = \"t\", payload = \"\\t{dut.thing|x}\" }\n");
    let (message, _, at) = error_of(&text);
    assert_eq!(message, "unknown filter |x in {dut.thing|x}");
    assert_eq!(at, place_of(&text, "\"\\t"));
}

#[test]
fn a_regex_over_the_size_limit_is_refused_at_the_regex() {
    // 180 KB of `\w{10}`: small as text, over 10 MiB compiled (Unicode word classes).
    let huge = r"\w{10}".repeat(30_000);
    for step in [
        format!("expect_message = {{ topic = \"t\", within = \"1s\", regex = '{huge}' }}"),
        format!("expect = {{ board = \"dut\", regex = '{huge}', within = \"1s\" }}"),
        format!("snapshot = {{ name = \"s\", console = \"dut\", redact = ['{huge}'] }}"),
    ] {
        let text = file(&format!("[[step]]\n{step}\n"));
        let (message, _, at) = error_of(&text);
        assert_eq!(
            message,
            "Compiled regex exceeds size limit of 10485760 bytes.",
            "{}",
            &step[..30]
        );
        assert_eq!(at, place_of(&text, "'\\w{10}"));
    }
}

#[test]
fn a_file_that_is_not_utf8_is_refused_with_its_line_and_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.toml");
    let line = "send = { board = \"dut\", line = \"caf";
    let mut bytes = format!("name = \"x\"\n[[step]]\n{line}").into_bytes();
    bytes.extend([0xE9, b'"', b' ', b'}', b'\n']); // "café" in Latin-1
    std::fs::write(&path, &bytes).unwrap();
    let error = Scenario::load(&path).unwrap_err();
    assert_eq!(
        error.message(),
        format!(
            "{}: the file is not UTF-8: line 3, byte {} of the line (0xE9) starts no UTF-8 character",
            path.display(),
            line.len() + 1,
        )
    );
    assert_eq!(error.line_column(), Some((3, line.len() + 1)));
}

#[test]
fn literal_braces_json_text_and_regex_repetitions_still_load() {
    let text = file(
        r#"[[step]]
publish = { topic = "{dut.thing}/in", payload = '{"a":{"b":[1,{}]}} {{dut.thing} { not a variable }' }
[[step]]
expect_message = { topic = "{dut.thing}/sensors", within = "1s", regex = '^\{"Light":\d{1,5},"Temp":-?\d+\.\d\d\}$' }
[[step]]
snapshot = { name = "s-{dut.thing|upper}", console = "dut", redact = ['device [0-9A-F]{16}', '\{{dut'] }
"#,
    );
    let scenario = parse(&text).unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)));
    let filled = scenario
        .step_filled(0, &BTreeMap::from([("dut.thing".into(), "t".into())]))
        .unwrap();
    let Step::Publish(publish) = filled else {
        panic!("publish")
    };
    assert_eq!(
        publish.payload.as_deref(),
        Some(r#"{"a":{"b":[1,{}]}} {dut.thing} { not a variable }"#)
    );
}

#[test]
fn every_seed_scenario_loads() {
    let dir = crate::rig::workspace_root().join("scenarios");
    let mut loaded = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            Scenario::load(&path).unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)));
            loaded += 1;
        }
    }
    assert!(loaded >= 14, "{loaded} seed scenarios");
}

#[test]
fn a_policy_step_is_refused_for_a_bad_name_or_a_document_that_is_no_policy() {
    let document = r#"{ Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = "iot:RetainPublish", Resource = "arn:aws:iot:*:*:topic/${iot:ClientId}/status" }] }"#;
    let text = file(&format!(
        "[[step]]\npolicy = {{ board = \"dut\", name = \"retain status\", document = {document} }}\n"
    ));
    let (message, help, at) = error_of(&text);
    assert_eq!(message, "\"retain status\" is not a policy name");
    assert_eq!(help, "");
    assert_eq!(at, place_of(&text, "\"retain status\""));

    let text = file(
        "[[step]]\npolicy = { board = \"dut\", name = \"P\", document = { Version = \"2012-10-17\" } }\n",
    );
    let (message, _, at) = error_of(&text);
    assert!(
        message.starts_with("this policy document does not parse: "),
        "{message}"
    );
    assert_eq!(at, place_of(&text, "{ Version"));

    // AWS's policy variables are not scenario variables; a name may hold scenario ones.
    let text = file(&format!(
        "[[step]]\npolicy = {{ board = \"dut\", name = \"Retain-{{dut.thing}}\", document = {document} }}\n"
    ));
    parse(&text).expect("the policy step loads");
}

#[test]
fn a_step_with_no_action_or_two_is_refused_in_words() {
    let text = file("[[step]]\n\n[[step]]\nwait = { for = \"1s\" }\n");
    let (message, _, at) = error_of(&text);
    assert_eq!(
        message,
        "an empty step: a step names one action (`provision`, `expect_message`, ...)"
    );
    assert_eq!(at, place_of(&text, "[[step]]"));

    let text = file("[[step]]\nwait = { for = \"1s\" }\nreset = { board = \"dut\" }\n");
    let (message, _, _) = error_of(&text);
    assert_eq!(
        message,
        "a step names one action; this one names several: split it into steps"
    );
}

#[test]
fn a_scenario_variable_written_with_a_dollar_is_refused_at_it() {
    let text =
        file("[[step]]\nexpect_message = { topic = \"${dut.thing}/sensors\", within = \"5s\" }\n");
    let (message, help, at) = error_of(&text);
    assert_eq!(
        message,
        "${dut.thing} stays as written: `${...}` is how AWS policy variables are written"
    );
    assert_eq!(
        help,
        "a scenario variable is written {dut.thing}, without the $"
    );
    assert_eq!(at, place_of(&text, "${dut.thing}"));
}

#[test]
fn offer_each_needs_time_to_wait_for_each_handshake() {
    let text = file(
        "[[step]]\nexpect_cipher_suites = { board = \"dut\", within = \"0s\", offer_each = true }\n",
    );
    let (message, help, at) = error_of(&text);
    assert!(
        message.starts_with("with `offer_each`, `within` is how long"),
        "{message}"
    );
    assert_eq!(
        help,
        "longer than the board's backoff ceiling, e.g. within = \"1m\""
    );
    assert_eq!(at, place_of(&text, "\"0s\""));
}

#[test]
fn fleet_steps_need_a_fleet_and_a_fleet_starts_with_its_power_on() {
    let text = file("[[step]]\nfleet_power_on = { within = \"1m\" }\n");
    let (message, _, at) = error_of(&text);
    assert_eq!(message, "a fleet_power_on step needs a [fleet] section");
    assert_eq!(at, place_of(&text, "[[step]]"));

    let fleet = "name = \"f\"\n[fleet]\nboards = 5\n";
    let text = format!("{fleet}[[step]]\nexpect_fleet = {{ max_attempts = 3 }}\n");
    let (message, _, _) = error_of(&text);
    assert_eq!(message, "a fleet scenario starts with fleet_power_on");

    let text = format!(
        "{fleet}[[step]]\nfleet_power_on = {{ within = \"1m\" }}\n[[step]]\nreset = {{ board = \"dut\" }}\n"
    );
    let (message, help, _) = error_of(&text);
    assert_eq!(message, "a fleet scenario has only fleet steps and `wait`");
    assert_eq!(help, "fleet_power_on, fleet_storm, expect_fleet, wait");

    let text =
        "name = \"f\"\n[fleet]\nboards = 0\n[[step]]\nfleet_power_on = { within = \"1m\" }\n";
    let (message, _, at) = error_of(text);
    assert_eq!(message, "a fleet has 1 to 100000 boards");
    assert_eq!(at, place_of(text, "0\n"));

    let text = "name = \"f\"\n[fleet]\nboards = 3\nmode = \"jitx\"\n[[step]]\nfleet_power_on = { within = \"1m\" }\n";
    let (message, _, _) = error_of(text);
    assert!(message.contains("jitr, jitp, preregistered"), "{message}");
}

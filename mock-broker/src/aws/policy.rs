//! AWS IoT policies: parsing the JSON document and deciding a request.
//!
//! A [`PolicyDocument`] holds statements with an `Effect`, `Action`s and `Resource`s (a
//! string or a list each). [`evaluate`] decides one request against every policy attached
//! to a certificate, the way AWS IoT Core does: policy variables are substituted into
//! resources, `*` and `?` are wildcards (and `*` crosses `/`), MQTT's `+` and `#` are plain
//! characters, an explicit Deny wins over any Allow, and nothing allowed means denied. The
//! [`Verdict`] names the statement that decided, for the tap.
//!
//! Not supported (refused when parsing, so nobody relies on them silently): `NotAction`,
//! `NotResource` and `Condition`.

use serde_json::Value;

/// Actions a statement may name (matching is case-insensitive, `*` and `?` allowed).
pub const KNOWN_ACTIONS: &[&str] = &[
    "iot:Connect",
    "iot:Publish",
    "iot:Subscribe",
    "iot:Receive",
    "iot:RetainPublish",
    "iot:GetThingShadow",
    "iot:UpdateThingShadow",
    "iot:DeleteThingShadow",
    "iot:GetRetainedMessage",
    "iot:ListRetainedMessages",
];

/// Why a policy document was refused (AWS answers `MalformedPolicyException`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The document is not JSON.
    #[error("policy document is not valid JSON: {0}")]
    Json(String),
    /// A required field is missing or has the wrong type.
    #[error("policy document: {0}")]
    Shape(String),
    /// An action that AWS IoT does not have.
    #[error("policy document: unknown action {0:?}")]
    UnknownAction(String),
    /// A feature the mock does not evaluate.
    #[error("policy document: {0} is not supported by mock-broker")]
    Unsupported(&'static str),
}

/// Allow or Deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Grants.
    Allow,
    /// Refuses, whatever else allows.
    Deny,
}

/// One statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// `Sid`, if given.
    pub sid: Option<String>,
    /// `Effect`.
    pub effect: Effect,
    /// `Action` patterns.
    pub actions: Vec<String>,
    /// `Resource` patterns, possibly with policy variables.
    pub resources: Vec<String>,
}

/// A parsed policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    /// The statements, in order.
    pub statements: Vec<Statement>,
}

fn string_or_list(value: Option<&Value>, field: &str) -> Result<Vec<String>, PolicyError> {
    let shape = || PolicyError::Shape(format!("{field} must be a string or a list of strings"));
    match value {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(shape))
            .collect(),
        _ => Err(shape()),
    }
}

impl PolicyDocument {
    /// Parses and checks a policy document.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let json: Value =
            serde_json::from_str(text).map_err(|e| PolicyError::Json(e.to_string()))?;
        let statements = match json.get("Statement") {
            Some(Value::Array(list)) if !list.is_empty() => list.clone(),
            Some(object @ Value::Object(_)) => vec![object.clone()],
            _ => {
                return Err(PolicyError::Shape(
                    "Statement must be an object or a non-empty list".into(),
                ));
            }
        };
        let statements = statements
            .iter()
            .map(|s| {
                let Some(object) = s.as_object() else {
                    return Err(PolicyError::Shape(
                        "each Statement must be an object".into(),
                    ));
                };
                for (key, feature) in [
                    ("NotAction", "NotAction"),
                    ("NotResource", "NotResource"),
                    ("Condition", "Condition"),
                ] {
                    if object.contains_key(key) {
                        return Err(PolicyError::Unsupported(feature));
                    }
                }
                let effect = match object.get("Effect").and_then(Value::as_str) {
                    Some("Allow") => Effect::Allow,
                    Some("Deny") => Effect::Deny,
                    _ => {
                        return Err(PolicyError::Shape(
                            "Effect must be \"Allow\" or \"Deny\"".into(),
                        ));
                    }
                };
                let actions = string_or_list(object.get("Action"), "Action")?;
                for action in &actions {
                    let known = action == "*"
                        || KNOWN_ACTIONS.iter().any(|known| {
                            wildcard_match(
                                &known.to_ascii_lowercase(),
                                &action.to_ascii_lowercase(),
                            )
                        });
                    if !known {
                        return Err(PolicyError::UnknownAction(action.clone()));
                    }
                }
                Ok(Statement {
                    sid: object.get("Sid").and_then(Value::as_str).map(str::to_owned),
                    effect,
                    actions,
                    resources: string_or_list(object.get("Resource"), "Resource")?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PolicyDocument { statements })
    }
}

/// The policy variables of a connection.
#[derive(Debug, Clone, Copy)]
pub struct Variables<'a> {
    /// `${iot:ClientId}`.
    pub client_id: &'a str,
    /// `${iot:Connection.Thing.ThingName}`: set only when the client id is the name of a
    /// thing attached to the certificate.
    pub thing_name: Option<&'a str>,
}

impl Variables<'_> {
    /// Substitutes the variables in `pattern`; `None` when one cannot be resolved (the
    /// resource then matches nothing, as in AWS).
    fn substitute(&self, pattern: &str) -> Option<String> {
        let mut out = String::with_capacity(pattern.len());
        let mut rest = pattern;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}')? + start;
            let value = match &rest[start + 2..end] {
                "iot:ClientId" => self.client_id.to_owned(),
                "iot:Connection.Thing.ThingName" => self.thing_name?.to_owned(),
                "iot:Connection.Thing.IsAttached" => self.thing_name.is_some().to_string(),
                _ => return None,
            };
            out.push_str(&value);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Some(out)
    }
}

/// The outcome of [`evaluate`], naming the deciding statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed by this statement.
    Allow {
        /// Policy name.
        policy: String,
        /// Statement index and `Sid`.
        statement: String,
    },
    /// Explicitly denied by this statement.
    Deny {
        /// Policy name.
        policy: String,
        /// Statement index and `Sid`.
        statement: String,
    },
    /// No statement allows it.
    NotAllowed,
}

impl Verdict {
    /// Was it allowed?
    pub fn allowed(&self) -> bool {
        matches!(self, Verdict::Allow { .. })
    }

    /// A sentence for the tap.
    pub fn describe(&self) -> String {
        match self {
            Verdict::Allow { policy, statement } => format!("allowed by {policy} {statement}"),
            Verdict::Deny { policy, statement } => {
                format!("explicitly denied by {policy} {statement}")
            }
            Verdict::NotAllowed => "no attached policy allows it".to_owned(),
        }
    }
}

fn statement_label(index: usize, statement: &Statement) -> String {
    match &statement.sid {
        Some(sid) => format!("statement {index} ({sid})"),
        None => format!("statement {index}"),
    }
}

/// Decides `action` (e.g. `iot:Publish`) on `resource` (a full ARN) against `policies`.
pub fn evaluate<'p>(
    policies: impl IntoIterator<Item = (&'p str, &'p PolicyDocument)>,
    action: &str,
    resource: &str,
    variables: Variables<'_>,
) -> Verdict {
    let action = action.to_ascii_lowercase();
    let mut allow = None;
    for (name, document) in policies {
        for (index, statement) in document.statements.iter().enumerate() {
            let action_matches = statement
                .actions
                .iter()
                .any(|a| wildcard_match(&action, &a.to_ascii_lowercase()));
            let resource_matches = statement.resources.iter().any(|pattern| {
                variables
                    .substitute(pattern)
                    .is_some_and(|pattern| wildcard_match(resource, &pattern))
            });
            if !(action_matches && resource_matches) {
                continue;
            }
            let label = statement_label(index, statement);
            match statement.effect {
                Effect::Deny => {
                    return Verdict::Deny {
                        policy: name.to_owned(),
                        statement: label,
                    };
                }
                Effect::Allow if allow.is_none() => {
                    allow = Some(Verdict::Allow {
                        policy: name.to_owned(),
                        statement: label,
                    });
                }
                Effect::Allow => {}
            }
        }
    }
    allow.unwrap_or(Verdict::NotAllowed)
}

/// Glob matching: `*` matches any run of characters (including `/`), `?` exactly one;
/// everything else, `+` and `#` included, matches itself.
pub fn wildcard_match(text: &str, pattern: &str) -> bool {
    let (t, p): (Vec<char>, Vec<char>) = (text.chars().collect(), pattern.chars().collect());
    let (mut ti, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            ti += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((star_p, star_t)) = star {
            pi = star_p + 1;
            ti = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Microchip's zero-touch JITR policy (the Lambda's): connect only as `thing` (the SKI),
/// publish, receive and subscribe under the client id and on its shadow topics; plus, what
/// Microchip's own policy does not grant, its AWS IoT Jobs topics
/// (`$aws/things/<client id>/jobs/*`), which the reference firmware uses.
pub fn microchip_jitr_policy(region: &str, account: &str, thing: &str) -> String {
    let arn = |kind: &str, rest: &str| format!("arn:aws:iot:{region}:{account}:{kind}/{rest}");
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["iot:Connect"], "Resource": [arn("client", thing)]},
            {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"], "Resource": [
                arn("topic", "${iot:ClientId}/*"),
                arn("topic", "$aws/things/${iot:ClientId}/shadow/*"),
                arn("topic", "$aws/things/${iot:ClientId}/jobs/*"),
            ]},
            {"Effect": "Allow", "Action": ["iot:Subscribe"], "Resource": [
                arn("topicfilter", "${iot:ClientId}/#"),
                arn("topicfilter", "$aws/things/${iot:ClientId}/shadow/*"),
                arn("topicfilter", "$aws/things/${iot:ClientId}/jobs/*"),
            ]},
        ]
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:iot:eu-west-1:123456789012";

    fn vars(client_id: &str) -> Variables<'_> {
        Variables {
            client_id,
            thing_name: None,
        }
    }

    fn doc(json: &str) -> PolicyDocument {
        PolicyDocument::parse(json).unwrap()
    }

    #[test]
    fn star_crosses_slashes_and_question_mark_is_one_character() {
        assert!(wildcard_match("a/b/c", "a/*"));
        assert!(wildcard_match("abc", "a?c"));
        assert!(!wildcard_match("abbc", "a?c"));
        assert!(wildcard_match("", "*"));
        assert!(!wildcard_match("a/b", "a"));
    }

    #[test]
    fn mqtt_wildcards_are_literal_in_policies() {
        assert!(!wildcard_match("dev/sensors", "dev/#"));
        assert!(!wildcard_match("dev/x/sensors", "dev/+/sensors"));
        assert!(wildcard_match("dev/#", "dev/#"));
    }

    #[test]
    fn action_and_resource_may_be_strings_or_lists() {
        let one = doc(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}}"#,
        );
        let many = doc(
            r#"{"Statement":[{"Effect":"Allow","Action":["iot:Connect","iot:Publish"],"Resource":["*"]}]}"#,
        );
        assert_eq!(one.statements[0].actions, vec!["iot:Connect"]);
        assert_eq!(many.statements[0].actions.len(), 2);
    }

    #[test]
    fn malformed_documents_are_refused() {
        assert!(matches!(
            PolicyDocument::parse("{"),
            Err(PolicyError::Json(_))
        ));
        assert!(matches!(
            PolicyDocument::parse("{}"),
            Err(PolicyError::Shape(_))
        ));
        assert!(matches!(
            PolicyDocument::parse(
                r#"{"Statement":[{"Effect":"Maybe","Action":"iot:Connect","Resource":"*"}]}"#
            ),
            Err(PolicyError::Shape(_))
        ));
        assert_eq!(
            PolicyDocument::parse(
                r#"{"Statement":[{"Effect":"Allow","Action":"iot:Fly","Resource":"*"}]}"#
            ),
            Err(PolicyError::UnknownAction("iot:Fly".into()))
        );
        assert_eq!(
            PolicyDocument::parse(
                r#"{"Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*","Condition":{}}]}"#
            ),
            Err(PolicyError::Unsupported("Condition"))
        );
        assert!(
            PolicyDocument::parse(
                r#"{"Statement":[{"Effect":"Allow","Action":"iot:*Shadow","Resource":"*"}]}"#
            )
            .is_ok()
        );
    }

    #[test]
    fn client_id_variable_is_substituted() {
        let policy = doc(&microchip_jitr_policy(
            "eu-west-1",
            "123456789012",
            "abc123",
        ));
        let p = [("zt", &policy)];
        let v = vars("abc123");
        assert!(evaluate(p, "iot:Connect", &format!("{ARN}:client/abc123"), v).allowed());
        assert!(!evaluate(p, "iot:Connect", &format!("{ARN}:client/other"), v).allowed());
        assert!(evaluate(p, "iot:Publish", &format!("{ARN}:topic/abc123/sensors"), v).allowed());
        assert!(!evaluate(p, "iot:Publish", &format!("{ARN}:topic/other/sensors"), v).allowed());
        assert!(
            evaluate(
                p,
                "iot:Subscribe",
                &format!("{ARN}:topicfilter/$aws/things/abc123/shadow/update/delta"),
                v
            )
            .allowed()
        );
        assert!(
            evaluate(
                p,
                "iot:Subscribe",
                &format!("{ARN}:topicfilter/abc123/#"),
                v
            )
            .allowed()
        );
        assert!(!evaluate(p, "iot:Subscribe", &format!("{ARN}:topicfilter/#"), v).allowed());
        // The Jobs topics, wildcard filters included; another thing's are not.
        let jobs = format!("{ARN}:topicfilter/$aws/things/abc123/jobs/+/update/+");
        assert!(evaluate(p, "iot:Subscribe", &jobs, v).allowed());
        let update = format!("{ARN}:topic/$aws/things/abc123/jobs/job-1/update");
        assert!(evaluate(p, "iot:Publish", &update, v).allowed());
        let theirs = format!("{ARN}:topic/$aws/things/other/jobs/job-1/update");
        assert!(!evaluate(p, "iot:Publish", &theirs, v).allowed());
        assert!(
            evaluate(
                p,
                "iot:Receive",
                &format!("{ARN}:topic/$aws/things/abc123/shadow/update/delta"),
                v
            )
            .allowed()
        );
    }

    #[test]
    fn thing_name_variable_needs_an_attached_thing() {
        let policy = doc(&format!(
            r#"{{"Statement":[{{"Effect":"Allow","Action":"iot:Publish","Resource":"{ARN}:topic/${{iot:Connection.Thing.ThingName}}/*"}}]}}"#
        ));
        let resource = format!("{ARN}:topic/dev1/data");
        let unattached = Variables {
            client_id: "dev1",
            thing_name: None,
        };
        let attached = Variables {
            client_id: "dev1",
            thing_name: Some("dev1"),
        };
        assert_eq!(
            evaluate([("p", &policy)], "iot:Publish", &resource, unattached),
            Verdict::NotAllowed
        );
        assert!(evaluate([("p", &policy)], "iot:Publish", &resource, attached).allowed());
    }

    #[test]
    fn an_explicit_deny_wins_and_names_its_statement() {
        let allow = doc(r#"{"Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#);
        let deny = doc(
            r#"{"Statement":[{"Sid":"nosecrets","Effect":"Deny","Action":"iot:Publish","Resource":"*secret*"}]}"#,
        );
        let verdict = evaluate(
            [("open", &allow), ("guard", &deny)],
            "iot:Publish",
            &format!("{ARN}:topic/a/secret/b"),
            vars("c"),
        );
        assert_eq!(
            verdict,
            Verdict::Deny {
                policy: "guard".into(),
                statement: "statement 0 (nosecrets)".into()
            }
        );
        assert!(verdict.describe().contains("guard"));
        assert!(
            evaluate(
                [("open", &allow), ("guard", &deny)],
                "iot:Publish",
                &format!("{ARN}:topic/a/b"),
                vars("c")
            )
            .allowed()
        );
    }

    #[test]
    fn nothing_attached_means_denied() {
        assert_eq!(
            evaluate([], "iot:Connect", &format!("{ARN}:client/x"), vars("x")),
            Verdict::NotAllowed
        );
    }

    #[test]
    fn actions_match_case_insensitively_with_wildcards() {
        let policy =
            doc(r#"{"Statement":[{"Effect":"Allow","Action":"IOT:pub*","Resource":"*"}]}"#);
        assert!(evaluate([("p", &policy)], "iot:Publish", "x", vars("c")).allowed());
        assert!(!evaluate([("p", &policy)], "iot:Subscribe", "x", vars("c")).allowed());
    }
}

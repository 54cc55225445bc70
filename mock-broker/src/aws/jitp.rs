//! Just-in-time provisioning templates: what a CA's template says to create for a
//! certificate presented on first connection.
//!
//! [`evaluate`] resolves the template's `Parameters` from the certificate subject (as AWS
//! does: nothing else is available to JITP) and reads its `Resources` into a [`Plan`]: the
//! thing to create and attach, the policy to create or reuse and attach, and the
//! certificate's status. Applying the plan to the registries is the control plane's job.
//! Supported intrinsic functions: `Ref` and `Fn::Join`.

use crate::aws::certs::CertInfo;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What a template asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Thing to create (or reuse) and attach to the certificate.
    pub thing: Option<(String, BTreeMap<String, String>)>,
    /// Policy to attach: an existing name, or a document to create.
    pub policy: Option<PolicySpec>,
    /// Status to give the certificate (ACTIVE unless the template says otherwise).
    pub certificate_status: Option<String>,
}

/// The policy of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySpec {
    /// `PolicyName`: an existing policy.
    Existing(String),
    /// `PolicyDocument`: a new policy with this document.
    Document(String),
}

fn parameters(
    template: &Map<String, Value>,
    cert: &CertInfo,
) -> Result<BTreeMap<String, String>, String> {
    let mut values = BTreeMap::new();
    let Some(declared) = template.get("Parameters").and_then(Value::as_object) else {
        return Ok(values);
    };
    for (name, spec) in declared {
        let from_cert = match name.as_str() {
            "AWS::IoT::Certificate::CommonName" => cert.common_name.clone(),
            "AWS::IoT::Certificate::Organization" => cert.organization.clone(),
            "AWS::IoT::Certificate::Id" => Some(cert.id.clone()),
            "AWS::IoT::Certificate::SerialNumber" => Some(cert.serial.clone()),
            _ => None,
        };
        let value = from_cert
            .or_else(|| {
                spec.get("Default")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .ok_or_else(|| {
                format!("template parameter {name} has no value in the certificate subject")
            })?;
        values.insert(name.clone(), value);
    }
    Ok(values)
}

fn resolve(value: &Value, params: &BTreeMap<String, String>) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Object(map) if map.len() == 1 => {
            if let Some(name) = map.get("Ref").and_then(Value::as_str) {
                return params
                    .get(name)
                    .cloned()
                    .ok_or_else(|| format!("Ref to undeclared parameter {name}"));
            }
            if let Some(Value::Array(args)) = map.get("Fn::Join") {
                if let [Value::String(sep), Value::Array(parts)] = args.as_slice() {
                    let parts = parts
                        .iter()
                        .map(|p| resolve(p, params))
                        .collect::<Result<Vec<_>, _>>()?;
                    return Ok(parts.join(sep));
                }
                return Err("Fn::Join takes [separator, [parts]]".into());
            }
            Err(format!("unsupported template expression {value}"))
        }
        other => Err(format!("unsupported template value {other}")),
    }
}

/// Reads `template` (JSON text) for the certificate `cert`.
pub fn evaluate(template: &str, cert: &CertInfo) -> Result<Plan, String> {
    let json: Value =
        serde_json::from_str(template).map_err(|e| format!("template is not JSON: {e}"))?;
    let template = json.as_object().ok_or("template must be a JSON object")?;
    let params = parameters(template, cert)?;
    let resources = template
        .get("Resources")
        .and_then(Value::as_object)
        .ok_or("template has no Resources")?;
    let mut plan = Plan::default();
    for (name, resource) in resources {
        let kind = resource
            .get("Type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let props = resource.get("Properties").and_then(Value::as_object);
        let prop = |key: &str| props.and_then(|p| p.get(key));
        match kind {
            "AWS::IoT::Thing" => {
                let thing_name =
                    prop("ThingName").ok_or(format!("resource {name}: ThingName is required"))?;
                let mut attributes = BTreeMap::new();
                if let Some(Value::Object(payload)) = prop("AttributePayload") {
                    for (key, value) in payload {
                        attributes.insert(key.clone(), resolve(value, &params)?);
                    }
                }
                plan.thing = Some((resolve(thing_name, &params)?, attributes));
            }
            "AWS::IoT::Policy" => {
                plan.policy = Some(match (prop("PolicyName"), prop("PolicyDocument")) {
                    (Some(name), _) => PolicySpec::Existing(resolve(name, &params)?),
                    (None, Some(Value::String(doc))) => PolicySpec::Document(doc.clone()),
                    (None, Some(doc @ Value::Object(_))) => PolicySpec::Document(doc.to_string()),
                    _ => {
                        return Err(format!(
                            "resource {name}: PolicyName or PolicyDocument is required"
                        ));
                    }
                });
            }
            "AWS::IoT::Certificate" => {
                if let Some(status) = prop("Status") {
                    plan.certificate_status = Some(resolve(status, &params)?);
                }
            }
            other => return Err(format!("resource {name}: unsupported type {other:?}")),
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev_pki::{TestCa, Validity};

    fn cert(cn: &str) -> CertInfo {
        let ca = TestCa::new("ca").unwrap();
        CertInfo::from_pem(&ca.client(cn, Validity::Long).unwrap().cert_pem).unwrap()
    }

    const TEMPLATE: &str = r#"{
        "Parameters": {
            "AWS::IoT::Certificate::CommonName": {"Type": "String"},
            "AWS::IoT::Certificate::Id": {"Type": "String"},
            "Site": {"Type": "String", "Default": "lab"}
        },
        "Resources": {
            "thing": {"Type": "AWS::IoT::Thing", "Properties": {
                "ThingName": {"Fn::Join": ["-", ["dev", {"Ref": "AWS::IoT::Certificate::CommonName"}]]},
                "AttributePayload": {"site": {"Ref": "Site"}}
            }},
            "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {
                "CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ACTIVE"
            }},
            "policy": {"Type": "AWS::IoT::Policy", "Properties": {
                "PolicyDocument": "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":\"*\"}]}"
            }}
        }
    }"#;

    #[test]
    fn a_template_resolves_from_the_certificate_subject() {
        let plan = evaluate(TEMPLATE, &cert("sn0123")).unwrap();
        let (name, attributes) = plan.thing.unwrap();
        assert_eq!(name, "dev-sn0123");
        assert_eq!(attributes.get("site").map(String::as_str), Some("lab"));
        assert!(matches!(plan.policy, Some(PolicySpec::Document(doc)) if doc.contains("iot:*")));
        assert_eq!(plan.certificate_status.as_deref(), Some("ACTIVE"));
    }

    #[test]
    fn bad_templates_say_why() {
        let c = cert("x");
        assert!(evaluate("nope", &c).unwrap_err().contains("not JSON"));
        assert!(evaluate("{}", &c).unwrap_err().contains("Resources"));
        let missing =
            r#"{"Parameters":{"AWS::IoT::Certificate::Country":{"Type":"String"}},"Resources":{}}"#;
        assert!(evaluate(missing, &c).unwrap_err().contains("Country"));
        let odd = r#"{"Resources":{"r":{"Type":"AWS::S3::Bucket"}}}"#;
        assert!(evaluate(odd, &c).unwrap_err().contains("unsupported type"));
    }
}

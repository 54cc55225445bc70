//! Policies: CreatePolicy, GetPolicy, AttachPolicy, DetachPolicy, ListAttachedPolicies.

use super::*;

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreatePolicy {
    policy_document: Option<String>,
}

pub(super) async fn create_policy(
    State(plane): Plane,
    Path(name): Path<String>,
    raw: axum::body::Bytes,
) -> Reply {
    let request: CreatePolicy = body(&raw)?;
    let document = request
        .policy_document
        .ok_or_else(|| bad_request("policyDocument is required"))?;
    let reply = plane.change(|reg, now| {
        let policy = reg.create_policy(&name, &document, now)?.clone();
        Ok(json!({
            "policyName": policy.name,
            "policyArn": reg.arn("policy", &policy.name),
            "policyDocument": policy.document,
            "policyVersionId": "1",
        }))
    })?;
    Ok(Json(reply))
}

pub(super) async fn get_policy(State(plane): Plane, Path(name): Path<String>) -> Reply {
    let reply = plane.read(|reg| -> Result<Value, AwsError> {
        let policy = reg.policy(&name)?;
        Ok(json!({
            "policyName": policy.name,
            "policyArn": reg.arn("policy", &policy.name),
            "policyDocument": policy.document,
            "defaultVersionId": "1",
            "creationDate": seconds(policy.created_ms),
            "lastModifiedDate": seconds(policy.created_ms),
            "generationId": "1",
        }))
    })?;
    Ok(Json(reply))
}

#[derive(Default, Deserialize)]
struct Target {
    target: Option<String>,
}

pub(super) async fn attach_policy(
    State(plane): Plane,
    Path(name): Path<String>,
    raw: axum::body::Bytes,
) -> Reply {
    let target = body::<Target>(&raw)?
        .target
        .ok_or_else(|| bad_request("target is required"))?;
    plane.change(|reg, _| reg.attach_policy(&name, &target))?;
    Ok(Json(json!({})))
}

pub(super) async fn detach_policy(
    State(plane): Plane,
    Path(name): Path<String>,
    raw: axum::body::Bytes,
) -> Reply {
    let target = body::<Target>(&raw)?
        .target
        .ok_or_else(|| bad_request("target is required"))?;
    plane.change(|reg, _| reg.detach_policy(&name, &target))?;
    Ok(Json(json!({})))
}

pub(super) async fn list_attached_policies(
    State(plane): Plane,
    Path(target): Path<String>,
) -> Reply {
    Ok(Json(plane.read(|reg| {
        let policies: Vec<Value> = reg
            .attached_policies(&target)
            .into_iter()
            .map(|p| json!({"policyName": p.name, "policyArn": reg.arn("policy", &p.name)}))
            .collect();
        json!({"policies": policies})
    })))
}

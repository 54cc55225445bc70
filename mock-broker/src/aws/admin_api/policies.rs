//! Policies: CreatePolicy, GetPolicy, ListPolicies, DeletePolicy, AttachPolicy,
//! DetachPolicy, ListAttachedPolicies, ListTargetsForPolicy, and the deprecated
//! AttachPrincipalPolicy, DetachPrincipalPolicy, ListPrincipalPolicies and
//! ListPolicyPrincipals (older JITR samples still call them), which are the same
//! operations with the principal or policy in a header.

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

/// The `policies` of ListPolicies, ListAttachedPolicies and ListPrincipalPolicies.
fn policies_reply(reg: &Registry, page: Page<&PolicyRecord>) -> Value {
    let policies: Vec<Value> = page
        .items
        .iter()
        .map(|p| json!({"policyName": p.name, "policyArn": reg.arn("policy", &p.name)}))
        .collect();
    with_marker(json!({"policies": policies}), page.next)
}

/// ListPolicies: `marker`/`pageSize`, newest first unless `isAscendingOrder`.
pub(super) async fn list_policies(State(plane): Plane, query: Query) -> Reply {
    let request = query.marker_page(false)?;
    let reply = plane.read(|reg| -> Result<Value, AwsError> {
        Ok(policies_reply(reg, reg.list_policies(&request)?))
    })?;
    Ok(Json(reply))
}

/// DeletePolicy: a policy still attached is a DeleteConflictException (409).
pub(super) async fn delete_policy(State(plane): Plane, Path(name): Path<String>) -> Reply {
    plane.change(|reg, _| reg.delete_policy(&name))?;
    Ok(Json(json!({})))
}

#[derive(Default, Deserialize)]
struct Target {
    target: Option<String>,
}

fn target(raw: &[u8]) -> Result<String, ApiError> {
    body::<Target>(raw)?
        .target
        .ok_or_else(|| bad_request("target is required"))
}

pub(super) async fn attach_policy(
    State(plane): Plane,
    Path(name): Path<String>,
    raw: axum::body::Bytes,
) -> Reply {
    let target = target(&raw)?;
    plane.change(|reg, _| reg.attach_policy(&name, &target))?;
    Ok(Json(json!({})))
}

pub(super) async fn detach_policy(
    State(plane): Plane,
    Path(name): Path<String>,
    raw: axum::body::Bytes,
) -> Reply {
    let target = target(&raw)?;
    plane.change(|reg, _| reg.detach_policy(&name, &target))?;
    Ok(Json(json!({})))
}

/// ListAttachedPolicies: `marker`/`pageSize`, by name (`recursive` has nothing to add:
/// targets are certificates, which belong to no group).
pub(super) async fn list_attached_policies(
    State(plane): Plane,
    Path(target): Path<String>,
    query: Query,
) -> Reply {
    query.optional_flag("recursive")?;
    let request = query.marker_page(true)?;
    let reply = plane.read(|reg| -> Result<Value, AwsError> {
        Ok(policies_reply(
            reg,
            reg.list_attached_policies(&target, &request)?,
        ))
    })?;
    Ok(Json(reply))
}

/// The `targets` (or `principals`) of a policy, marker-paged, under `field`.
fn targets_reply(field: &str, page: Page<String>) -> Value {
    with_marker(json!({ field: page.items }), page.next)
}

/// ListTargetsForPolicy: `marker`/`pageSize`, by ARN.
pub(super) async fn list_targets_for_policy(
    State(plane): Plane,
    Path(name): Path<String>,
    query: Query,
) -> Reply {
    let request = query.marker_page(true)?;
    let page = plane.read(|reg| reg.list_targets_for_policy(&name, &request))?;
    Ok(Json(targets_reply("targets", page)))
}

/// AttachPrincipalPolicy (deprecated): AttachPolicy with the principal in
/// `x-amzn-iot-principal`.
pub(super) async fn attach_principal_policy(
    State(plane): Plane,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Reply {
    let principal = header(&headers, "x-amzn-iot-principal")?;
    plane.change(|reg, _| reg.attach_policy(&name, &principal))?;
    Ok(Json(json!({})))
}

/// DetachPrincipalPolicy (deprecated): DetachPolicy with the principal in
/// `x-amzn-iot-principal`.
pub(super) async fn detach_principal_policy(
    State(plane): Plane,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Reply {
    let principal = header(&headers, "x-amzn-iot-principal")?;
    plane.change(|reg, _| reg.detach_policy(&name, &principal))?;
    Ok(Json(json!({})))
}

/// ListPrincipalPolicies (deprecated): ListAttachedPolicies of `x-amzn-iot-principal`, by
/// name (backwards without `isAscendingOrder=true`, choice).
pub(super) async fn list_principal_policies(
    State(plane): Plane,
    headers: HeaderMap,
    query: Query,
) -> Reply {
    let principal = header(&headers, "x-amzn-iot-principal")?;
    let request = query.marker_page(false)?;
    let reply = plane.read(|reg| -> Result<Value, AwsError> {
        Ok(policies_reply(
            reg,
            reg.list_attached_policies(&principal, &request)?,
        ))
    })?;
    Ok(Json(reply))
}

/// ListPolicyPrincipals (deprecated): ListTargetsForPolicy of `x-amzn-iot-policy`.
pub(super) async fn list_policy_principals(
    State(plane): Plane,
    headers: HeaderMap,
    query: Query,
) -> Reply {
    let name = header(&headers, "x-amzn-iot-policy")?;
    let request = query.marker_page(false)?;
    let page = plane.read(|reg| reg.list_targets_for_policy(&name, &request))?;
    Ok(Json(targets_reply("principals", page)))
}

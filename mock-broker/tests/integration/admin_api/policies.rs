//! Policies through the router: ListPolicies, DeletePolicy (refused while attached),
//! ListTargetsForPolicy, and the deprecated principal-policy operations.

use super::*;

async fn create_policy(p: &Arc<ControlPlane>, name: &str) {
    call(
        p,
        "POST",
        &format!("/policies/{name}"),
        &[],
        json!({"policyDocument": open_policy()}),
    )
    .await
    .ok();
}

#[tokio::test]
async fn an_attached_policy_is_not_deleted() {
    let p = plane();
    let (ca, _) = register_ca(&p, "signer").await;
    let (_, arn) = register_device(&p, &ca, "01").await;
    create_policy(&p, "p1").await;
    call(
        &p,
        "PUT",
        "/target-policies/p1",
        &[],
        json!({"target": arn}),
    )
    .await
    .ok();
    let refused = call(&p, "DELETE", "/policies/p1", &[], Value::Null).await;
    refused.assert_error(409, "DeleteConflictException");
    get(&p, "/policies/p1").await.ok();
    assert_eq!(
        call(&p, "POST", "/policy-targets/p1", &[], Value::Null)
            .await
            .ok(),
        &json!({"targets": [arn]})
    );

    call(
        &p,
        "POST",
        "/target-policies/p1",
        &[],
        json!({"target": arn}),
    )
    .await
    .ok();
    assert_eq!(
        call(&p, "POST", "/policy-targets/p1", &[], Value::Null)
            .await
            .ok(),
        &json!({"targets": []})
    );
    assert_eq!(
        call(&p, "DELETE", "/policies/p1", &[], Value::Null)
            .await
            .ok(),
        &json!({})
    );
    get(&p, "/policies/p1")
        .await
        .assert_error(404, "ResourceNotFoundException");
    call(&p, "DELETE", "/policies/p1", &[], Value::Null)
        .await
        .assert_error(404, "ResourceNotFoundException");
    call(&p, "POST", "/policy-targets/p1", &[], Value::Null)
        .await
        .assert_error(404, "ResourceNotFoundException");
}

#[tokio::test]
async fn list_policies_names_every_policy_with_its_arn() {
    let p = plane();
    assert_eq!(get(&p, "/policies").await.ok(), &json!({"policies": []}));
    create_policy(&p, "p1").await;
    create_policy(&p, "p2").await;
    let listed = get(&p, "/policies?isAscendingOrder=true").await;
    let mut policies: Vec<Value> = listed.ok()["policies"].as_array().unwrap().clone();
    policies.sort_by_key(|p| p["policyName"].as_str().unwrap().to_owned());
    assert_eq!(
        policies,
        [
            json!({"policyName": "p1", "policyArn": "arn:aws:iot:us-east-1:123456789012:policy/p1"}),
            json!({"policyName": "p2", "policyArn": "arn:aws:iot:us-east-1:123456789012:policy/p2"}),
        ]
    );
    assert_eq!(listed.json.get("nextMarker"), None);
}

#[tokio::test]
async fn the_deprecated_principal_policy_operations_still_work() {
    let p = plane();
    let (ca, _) = register_ca(&p, "signer").await;
    let (_, arn) = register_device(&p, &ca, "01").await;
    create_policy(&p, "legacy").await;
    let principal = [("x-amzn-iot-principal", arn.as_str())];
    call(
        &p,
        "PUT",
        "/principal-policies/legacy",
        &principal,
        Value::Null,
    )
    .await
    .ok();
    let listed = call(&p, "GET", "/principal-policies", &principal, Value::Null).await;
    assert_eq!(
        listed.ok(),
        &json!({"policies": [{"policyName": "legacy", "policyArn": "arn:aws:iot:us-east-1:123456789012:policy/legacy"}]})
    );
    let principals = call(
        &p,
        "GET",
        "/policy-principals",
        &[("x-amzn-iot-policy", "legacy")],
        Value::Null,
    )
    .await;
    assert_eq!(principals.ok(), &json!({"principals": [arn]}));
    call(
        &p,
        "DELETE",
        "/principal-policies/legacy",
        &principal,
        Value::Null,
    )
    .await
    .ok();
    assert_eq!(
        call(&p, "GET", "/principal-policies", &principal, Value::Null)
            .await
            .ok(),
        &json!({"policies": []})
    );
    call(&p, "PUT", "/principal-policies/legacy", &[], Value::Null)
        .await
        .assert_error(400, "InvalidRequestException");
}

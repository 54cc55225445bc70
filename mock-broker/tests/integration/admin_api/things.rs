//! Things through the router: DescribeThing's shape, UpdateThing (merge, removal, replace,
//! `expectedVersion`), DeleteThing's `expectedVersion`, ListThings' filters,
//! ListThingPrincipals and ListPrincipalThings (principal in `x-amzn-principal`).

use super::*;

async fn create_thing(p: &Arc<ControlPlane>, name: &str, attributes: Value) -> Value {
    call(
        p,
        "POST",
        &format!("/things/{name}"),
        &[],
        json!({"attributePayload": {"attributes": attributes}}),
    )
    .await
    .ok()
    .clone()
}

async fn update(p: &Arc<ControlPlane>, name: &str, body: Value) -> Reply {
    call(p, "PATCH", &format!("/things/{name}"), &[], body).await
}

#[tokio::test]
async fn describe_thing_has_awss_shape() {
    let p = plane();
    let created = create_thing(&p, "dev1", json!({"site": "lab"})).await;
    let described = get(&p, "/things/dev1").await;
    let json = described.ok();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "defaultClientId",
            "thingName",
            "thingId",
            "thingArn",
            "attributes",
            "version"
        ]
    );
    assert_eq!(json["defaultClientId"], "dev1");
    assert_eq!(json["thingName"], "dev1");
    assert_eq!(json["thingId"], created["thingId"]);
    assert_eq!(
        json["thingArn"],
        "arn:aws:iot:us-east-1:123456789012:thing/dev1"
    );
    assert_eq!(json["thingArn"], created["thingArn"]);
    assert_eq!(json["attributes"], json!({"site": "lab"}));
    assert_eq!(json["version"], 1);
}

#[tokio::test]
async fn update_thing_merges_removes_replaces_and_bumps_the_version() {
    let p = plane();
    create_thing(&p, "dev1", json!({"a": "1", "b": "2"})).await;
    let merged = update(
        &p,
        "dev1",
        json!({"attributePayload": {"attributes": {"a": "9", "b": "", "c": "3"}, "merge": true}, "expectedVersion": 1}),
    )
    .await;
    assert_eq!(merged.ok(), &json!({}));
    let described = get(&p, "/things/dev1").await;
    assert_eq!(described.json["attributes"], json!({"a": "9", "c": "3"}));
    assert_eq!(described.json["version"], 2);

    // A null value removes too (boto3 cannot send one; raw HTTP can).
    update(
        &p,
        "dev1",
        json!({"attributePayload": {"attributes": {"a": null}, "merge": true}}),
    )
    .await
    .ok();
    let described = get(&p, "/things/dev1").await;
    assert_eq!(described.json["attributes"], json!({"c": "3"}));
    assert_eq!(described.json["version"], 3);

    // Without merge, the given attributes replace the stored ones.
    update(
        &p,
        "dev1",
        json!({"attributePayload": {"attributes": {"z": "26"}}}),
    )
    .await
    .ok();
    let described = get(&p, "/things/dev1").await;
    assert_eq!(described.json["attributes"], json!({"z": "26"}));
    assert_eq!(described.json["version"], 4);
}

#[tokio::test]
async fn update_thing_refusals_change_nothing() {
    let p = plane();
    create_thing(&p, "dev1", json!({"a": "1"})).await;
    let stale = update(
        &p,
        "dev1",
        json!({"attributePayload": {"attributes": {"a": "2"}, "merge": true}, "expectedVersion": 5}),
    )
    .await;
    stale.assert_error(409, "VersionConflictException");
    update(
        &p,
        "dev1",
        json!({"attributePayload": {"attributes": {"a": "has space"}}}),
    )
    .await
    .assert_error(400, "InvalidRequestException");
    update(&p, "dev1", json!({"thingTypeName": "sensor"}))
        .await
        .assert_error(404, "ResourceNotFoundException");
    update(&p, "dev1", json!({"expectedVersion": "one"}))
        .await
        .assert_error(400, "InvalidRequestException");
    update(&p, "nope", json!({}))
        .await
        .assert_error(404, "ResourceNotFoundException");
    let described = get(&p, "/things/dev1").await;
    assert_eq!(described.json["attributes"], json!({"a": "1"}));
    assert_eq!(described.json["version"], 1);
    call(
        &p,
        "POST",
        "/things/dev2",
        &[],
        json!({"attributePayload": {"attributes": {"bad name": "x"}}}),
    )
    .await
    .assert_error(400, "InvalidRequestException");
    get(&p, "/things/dev2")
        .await
        .assert_error(404, "ResourceNotFoundException");
}

#[tokio::test]
async fn delete_thing_checks_the_expected_version() {
    let p = plane();
    create_thing(&p, "dev1", json!({})).await;
    call(
        &p,
        "DELETE",
        "/things/dev1?expectedVersion=2",
        &[],
        Value::Null,
    )
    .await
    .assert_error(409, "VersionConflictException");
    get(&p, "/things/dev1").await.ok();
    call(
        &p,
        "DELETE",
        "/things/dev1?expectedVersion=x",
        &[],
        Value::Null,
    )
    .await
    .assert_error(400, "InvalidRequestException");
    call(
        &p,
        "DELETE",
        "/things/dev1?expectedVersion=1",
        &[],
        Value::Null,
    )
    .await
    .ok();
    get(&p, "/things/dev1")
        .await
        .assert_error(404, "ResourceNotFoundException");
}

#[tokio::test]
async fn list_things_filters_by_attribute() {
    let p = plane();
    create_thing(&p, "a", json!({"site": "lab-1"})).await;
    create_thing(&p, "b", json!({"site": "lab-2"})).await;
    create_thing(&p, "c", json!({})).await;
    let names = |reply: Reply| -> Vec<String> {
        reply.ok()["things"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["thingName"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(get(&p, "/things").await), ["a", "b", "c"]);
    assert_eq!(
        names(get(&p, "/things?attributeName=site&attributeValue=lab-2").await),
        ["b"]
    );
    assert_eq!(
        names(
            get(
                &p,
                "/things?attributeName=site&attributeValue=lab&usePrefixAttributeValue=true"
            )
            .await
        ),
        ["a", "b"]
    );
    assert!(names(get(&p, "/things?thingTypeName=sensor").await).is_empty());
    let thing = &get(&p, "/things?attributeName=site&attributeValue=lab-1")
        .await
        .json["things"][0];
    assert_eq!(
        thing,
        &json!({
            "thingName": "a",
            "thingArn": "arn:aws:iot:us-east-1:123456789012:thing/a",
            "attributes": {"site": "lab-1"},
            "version": 1,
        })
    );
}

#[tokio::test]
async fn principals_and_things_are_listed_both_ways() {
    let p = plane();
    let (ca, _) = register_ca(&p, "signer").await;
    let (_, arn) = register_device(&p, &ca, "01").await;
    let principal = [("x-amzn-principal", arn.as_str())];
    for thing in ["t2", "t1"] {
        create_thing(&p, thing, json!({})).await;
        call(
            &p,
            "PUT",
            &format!("/things/{thing}/principals"),
            &principal,
            Value::Null,
        )
        .await
        .ok();
    }
    let things = call(&p, "GET", "/principals/things", &principal, Value::Null).await;
    assert_eq!(things.ok(), &json!({"things": ["t1", "t2"]}));
    assert_eq!(
        get(&p, "/things/t1/principals").await.ok(),
        &json!({"principals": [arn]})
    );
    get(&p, "/principals/things")
        .await
        .assert_error(400, "InvalidRequestException");
    let unknown = format!("arn:aws:iot:us-east-1:123456789012:cert/{}", "c".repeat(64));
    call(
        &p,
        "GET",
        "/principals/things",
        &[("x-amzn-principal", unknown.as_str())],
        Value::Null,
    )
    .await
    .assert_error(404, "ResourceNotFoundException");
    get(&p, "/things/nope/principals")
        .await
        .assert_error(404, "ResourceNotFoundException");
    call(
        &p,
        "DELETE",
        "/things/t1/principals",
        &principal,
        Value::Null,
    )
    .await
    .ok();
    assert_eq!(
        call(&p, "GET", "/principals/things", &principal, Value::Null)
            .await
            .ok(),
        &json!({"things": ["t2"]})
    );
}

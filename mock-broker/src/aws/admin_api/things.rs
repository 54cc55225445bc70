//! Things and their principals: CreateThing, DescribeThing, ListThings, DeleteThing,
//! AttachThingPrincipal, DetachThingPrincipal, ListThingPrincipals.

use super::*;

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttributePayload {
    attributes: Option<BTreeMap<String, String>>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateThing {
    attribute_payload: Option<AttributePayload>,
}

pub(super) async fn create_thing(
    State(plane): Plane,
    Path(name): Path<String>,
    raw: axum::body::Bytes,
) -> Reply {
    let request: CreateThing = body(&raw)?;
    let attributes = request
        .attribute_payload
        .and_then(|p| p.attributes)
        .unwrap_or_default();
    let reply = plane.change(|reg, _| {
        let thing = reg.create_thing(&name, attributes)?.clone();
        Ok(json!({"thingName": thing.name, "thingArn": reg.arn("thing", &thing.name), "thingId": thing.id}))
    })?;
    Ok(Json(reply))
}

pub(super) async fn describe_thing(State(plane): Plane, Path(name): Path<String>) -> Reply {
    let reply = plane.read(|reg| -> Result<Value, AwsError> {
        let thing = reg.thing(&name)?;
        Ok(json!({
            "defaultClientId": thing.name,
            "thingName": thing.name,
            "thingId": thing.id,
            "thingArn": reg.arn("thing", &thing.name),
            "attributes": thing.attributes,
            "version": thing.version,
        }))
    })?;
    Ok(Json(reply))
}

pub(super) async fn list_things(State(plane): Plane) -> Reply {
    Ok(Json(plane.read(|reg| {
        let things: Vec<Value> = reg
            .things()
            .map(|t| {
                json!({
                    "thingName": t.name,
                    "thingArn": reg.arn("thing", &t.name),
                    "attributes": t.attributes,
                    "version": t.version,
                })
            })
            .collect();
        json!({"things": things})
    })))
}

pub(super) async fn delete_thing(State(plane): Plane, Path(name): Path<String>) -> Reply {
    plane.change(|reg, _| reg.delete_thing(&name))?;
    Ok(Json(json!({})))
}

pub(super) fn principal(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get("x-amzn-principal")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| bad_request("the x-amzn-principal header is required"))
}

pub(super) async fn attach_thing_principal(
    State(plane): Plane,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Reply {
    let principal = principal(&headers)?;
    plane.change(|reg, _| reg.attach_thing_principal(&name, &principal))?;
    Ok(Json(json!({})))
}

pub(super) async fn detach_thing_principal(
    State(plane): Plane,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Reply {
    let principal = principal(&headers)?;
    plane.change(|reg, _| reg.detach_thing_principal(&name, &principal))?;
    Ok(Json(json!({})))
}

pub(super) async fn list_thing_principals(State(plane): Plane, Path(name): Path<String>) -> Reply {
    let principals = plane.read(|reg| reg.thing_principals(&name))?;
    Ok(Json(json!({"principals": principals})))
}

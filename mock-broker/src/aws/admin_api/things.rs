//! Things and their principals: CreateThing, DescribeThing, UpdateThing, ListThings,
//! DeleteThing, AttachThingPrincipal, DetachThingPrincipal, ListThingPrincipals,
//! ListPrincipalThings.

use super::*;

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttributePayload {
    attributes: Option<BTreeMap<String, String>>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateThing {
    thing_type_name: Option<String>,
    attribute_payload: Option<AttributePayload>,
}

/// mock-broker has no thing types: naming one is a ResourceNotFoundException, as for a
/// type that does not exist.
fn no_thing_type(name: Option<&str>) -> Result<(), ApiError> {
    match name {
        Some(name) => Err(ApiError(AwsError::new(
            AwsErrorKind::ResourceNotFound,
            format!("thing type {name} does not exist (mock-broker has no thing types)"),
        ))),
        None => Ok(()),
    }
}

pub(super) async fn create_thing(
    State(plane): Plane,
    Path(name): Path<String>,
    raw: axum::body::Bytes,
) -> Reply {
    let request: CreateThing = body(&raw)?;
    no_thing_type(request.thing_type_name.as_deref())?;
    let attributes = request
        .attribute_payload
        .and_then(|p| p.attributes)
        .unwrap_or_default();
    Registry::check_attributes(attributes.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let reply = plane.change(|reg, _| {
        let thing = reg.create_thing(&name, attributes)?.clone();
        Ok(json!({"thingName": thing.name, "thingArn": reg.arn("thing", &thing.name), "thingId": thing.id}))
    })?;
    Ok(Json(reply))
}

/// DescribeThing: `defaultClientId`, `thingName`, `thingId`, `thingArn`, `attributes`,
/// `version` (no `thingTypeName` nor `billingGroupName`: mock-broker has neither).
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

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdatePayload {
    /// `null` values are allowed here: they remove the attribute, like `""`.
    attributes: Option<BTreeMap<String, Option<String>>>,
    merge: Option<bool>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateThing {
    thing_type_name: Option<String>,
    attribute_payload: Option<UpdatePayload>,
    expected_version: Option<u64>,
    remove_thing_type: Option<bool>,
}

/// UpdateThing (PATCH): `attributePayload` (with `merge`), `expectedVersion`.
pub(super) async fn update_thing(
    State(plane): Plane,
    Path(name): Path<String>,
    raw: axum::body::Bytes,
) -> Reply {
    let request: UpdateThing = body(&raw)?;
    if request.remove_thing_type == Some(true) && request.thing_type_name.is_some() {
        return Err(bad_request(
            "thingTypeName and removeThingType cannot both be given",
        ));
    }
    let update = request.attribute_payload.map(|payload| AttributeUpdate {
        attributes: payload.attributes.unwrap_or_default(),
        merge: payload.merge.unwrap_or(false),
    });
    plane.change(|reg, _| {
        reg.update_thing(
            &name,
            update.as_ref(),
            request.thing_type_name.as_deref(),
            request.expected_version,
        )
        .map(|_| ())
    })?;
    Ok(Json(json!({})))
}

/// ListThings: `nextToken`/`maxResults`, by name; `attributeName`, `attributeValue`,
/// `usePrefixAttributeValue` and `thingTypeName` filter.
pub(super) async fn list_things(State(plane): Plane, query: Query) -> Reply {
    let request = query.token_page()?;
    let filter = ThingFilter {
        attribute_name: query.text("attributeName"),
        attribute_value: query.text("attributeValue"),
        prefix: query.flag("usePrefixAttributeValue")?,
        thing_type: query.text("thingTypeName"),
    };
    let reply = plane.read(|reg| -> Result<Value, AwsError> {
        let page = reg.list_things(&filter, &request)?;
        let things: Vec<Value> = page
            .items
            .iter()
            .map(|t| {
                json!({
                    "thingName": t.name,
                    "thingArn": reg.arn("thing", &t.name),
                    "attributes": t.attributes,
                    "version": t.version,
                })
            })
            .collect();
        Ok(with_token(json!({"things": things}), page.next))
    })?;
    Ok(Json(reply))
}

/// DeleteThing, with `expectedVersion` from the query string.
pub(super) async fn delete_thing(
    State(plane): Plane,
    Path(name): Path<String>,
    query: Query,
) -> Reply {
    let expected = query.number("expectedVersion")?;
    plane.change(|reg, _| {
        reg.check_thing_version(&name, expected)?;
        reg.delete_thing(&name)
    })?;
    Ok(Json(json!({})))
}

pub(super) async fn attach_thing_principal(
    State(plane): Plane,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Reply {
    let principal = header(&headers, "x-amzn-principal")?;
    plane.change(|reg, _| reg.attach_thing_principal(&name, &principal))?;
    Ok(Json(json!({})))
}

pub(super) async fn detach_thing_principal(
    State(plane): Plane,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Reply {
    let principal = header(&headers, "x-amzn-principal")?;
    plane.change(|reg, _| reg.detach_thing_principal(&name, &principal))?;
    Ok(Json(json!({})))
}

/// ListThingPrincipals: `nextToken`/`maxResults`.
pub(super) async fn list_thing_principals(
    State(plane): Plane,
    Path(name): Path<String>,
    query: Query,
) -> Reply {
    let request = query.token_page()?;
    let page = plane.read(|reg| reg.list_thing_principals(&name, &request))?;
    Ok(Json(with_token(
        json!({"principals": page.items}),
        page.next,
    )))
}

/// ListPrincipalThings: the principal in the `x-amzn-principal` header,
/// `nextToken`/`maxResults`.
pub(super) async fn list_principal_things(
    State(plane): Plane,
    headers: HeaderMap,
    query: Query,
) -> Reply {
    let principal = header(&headers, "x-amzn-principal")?;
    let request = query.token_page()?;
    let page = plane.read(|reg| reg.list_principal_things(&principal, &request))?;
    Ok(Json(with_token(json!({"things": page.items}), page.next)))
}

//! The unauthenticated discovery endpoints: ServiceProviderConfig, ResourceTypes and Schemas.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{LIST_SCHEMA, MAX_PAYLOAD, Reply, base_url, groups, users};
use crate::Authn;

fn attr(name: &str, kind: &str, multi: bool, required: bool, uniqueness: &str) -> Value {
    json!({
        "name": name, "type": kind, "multiValued": multi, "required": required,
        "caseExact": false, "mutability": "readWrite", "returned": "default",
        "uniqueness": uniqueness,
    })
}

fn user_schema(base: &str) -> Value {
    let mut password = attr("password", "string", false, false, "none");
    password["mutability"] = "writeOnly".into();
    password["returned"] = "never".into();
    let mut groups = attr("groups", "complex", true, false, "none");
    groups["mutability"] = "readOnly".into();
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": users::SCHEMA, "name": "User", "description": "User Account",
        "attributes": [
            attr("userName", "string", false, true, "server"),
            attr("name", "complex", false, false, "none"),
            attr("displayName", "string", false, false, "none"),
            attr("active", "boolean", false, false, "none"),
            attr("externalId", "string", false, false, "none"),
            attr("emails", "complex", true, false, "none"),
            attr("roles", "complex", true, false, "none"),
            groups,
            password,
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{}", users::SCHEMA)},
    })
}

fn group_schema(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": groups::SCHEMA, "name": "Group", "description": "Group",
        "attributes": [
            attr("displayName", "string", false, true, "server"),
            attr("externalId", "string", false, false, "none"),
            attr("members", "complex", true, false, "none"),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{}", groups::SCHEMA)},
    })
}

fn resource_type(base: &str, name: &str, endpoint: &str, schema: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": name, "name": name, "endpoint": endpoint, "schema": schema,
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{name}")},
    })
}

fn list(items: Vec<Value>) -> Reply {
    Reply::json(
        StatusCode::OK,
        json!({"schemas": [LIST_SCHEMA], "totalResults": items.len(), "startIndex": 1, "itemsPerPage": items.len(), "Resources": items}),
    )
}

/// Answers a discovery path (`rel` is the path under `/api/scim/v2`), or `None` for the others.
pub fn answer(st: &Authn, method: &Method, rel: &str) -> Option<Reply> {
    let base = base_url(st);
    let cfg = st.config.scim;
    let segs: Vec<&str> = rel.trim_matches('/').split('/').collect();
    let reply = match segs.as_slice() {
        ["ServiceProviderConfig" | "ResourceTypes" | "Schemas", ..] if method != Method::GET => {
            Reply::error(
                StatusCode::METHOD_NOT_ALLOWED,
                None,
                "discovery endpoints are read-only",
            )
        }
        ["ServiceProviderConfig"] => Reply::json(
            StatusCode::OK,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
                "patch": {"supported": true},
                "bulk": {"supported": cfg.bulk_enabled, "maxOperations": cfg.max_bulk_operations, "maxPayloadSize": MAX_PAYLOAD},
                "filter": {"supported": true, "maxResults": cfg.max_results},
                "changePassword": {"supported": false},
                "sort": {"supported": true},
                "etag": {"supported": true},
                "authenticationSchemes": [{
                    "type": "oauthbearertoken", "name": "Bearer token",
                    "description": "A SCIM token an admin creates with POST /auth/api/scim/tokens",
                    "primary": true,
                }],
                "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
            }),
        ),
        ["ResourceTypes"] => list(vec![
            resource_type(&base, "User", "/Users", users::SCHEMA),
            resource_type(&base, "Group", "/Groups", groups::SCHEMA),
        ]),
        ["ResourceTypes", "User"] => Reply::json(
            StatusCode::OK,
            resource_type(&base, "User", "/Users", users::SCHEMA),
        ),
        ["ResourceTypes", "Group"] => Reply::json(
            StatusCode::OK,
            resource_type(&base, "Group", "/Groups", groups::SCHEMA),
        ),
        ["Schemas"] => list(vec![user_schema(&base), group_schema(&base)]),
        ["Schemas", id] if *id == users::SCHEMA => Reply::json(StatusCode::OK, user_schema(&base)),
        ["Schemas", id] if *id == groups::SCHEMA => {
            Reply::json(StatusCode::OK, group_schema(&base))
        }
        ["ResourceTypes" | "Schemas", id] => Reply::error(
            StatusCode::NOT_FOUND,
            None,
            format!("no such schema or resource type `{id}`"),
        ),
        _ => return None,
    };
    Some(reply)
}

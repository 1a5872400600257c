//! The user API's OpenAPI document: generated from the handlers' route
//! annotations and the API crate's types, then finished at start-up with
//! what only this node knows — the statuses every route can answer (the
//! deadline, the body checks, the lanes) and its vocabulary (the party's
//! levels, the topics, the parties) as enums, so a client generating
//! requests from the document generates ones the node can decide.

use serde_json::{Map, Value, json};

use crate::node::Node;

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } }
    })
}

/// Sets `enum` on a string schema, or on its items for an array (nullable
/// or not).
fn restrict(schema: Option<&mut Value>, values: &[String]) {
    let Some(schema) = schema else {
        return;
    };
    let target = match schema.get_mut("items") {
        Some(items) => items,
        None => schema,
    };
    if let Some(o) = target.as_object_mut() {
        o.insert("enum".into(), json!(values));
    }
}

fn property<'a>(schemas: &'a mut Value, schema: &str, field: &str) -> Option<&'a mut Value> {
    schemas
        .get_mut(schema)?
        .get_mut("properties")?
        .get_mut(field)
}

/// The finished document, as served at `/openapi.json`.
pub fn finish(doc: utoipa::openapi::OpenApi, node: &Node) -> Value {
    let mut v = serde_json::to_value(&doc).unwrap_or_else(|_| json!({}));
    let reg = node.registry();
    if let Some(info) = v.get_mut("info").and_then(Value::as_object_mut) {
        info.insert("title".into(), json!("gsomia node — user API"));
        info.insert(
            "description".into(),
            json!(format!(
                "The HTTPS API of the gsomia node of {}: items under access decisions, releases decided by the agreements in force, agreement events, consents and missile warnings. Every read, decision and refusal is ledgered.",
                node.party()
            )),
        );
        info.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
    }
    // The node's vocabulary.
    let levels: Vec<String> = reg
        .policy(node.me())
        .map(|p| {
            p.levels()
                .iter()
                .filter(|l| l.classified)
                .map(|l| l.native.clone())
                .collect()
        })
        .unwrap_or_default();
    let topics: Vec<String> = reg
        .topics()
        .list()
        .iter()
        .map(|t| t.id.to_string())
        .collect();
    let parties: Vec<String> = reg
        .policies()
        .iter()
        .map(|p| p.party().to_string())
        .collect();
    if let Some(schemas) = v.pointer_mut("/components/schemas") {
        restrict(property(schemas, "SubmitItem", "level"), &levels);
        restrict(property(schemas, "SubmitItem", "topics"), &topics);
        restrict(property(schemas, "SubmitItem", "rel_to"), &parties);
        restrict(property(schemas, "ReleaseItem", "to"), &parties);
        restrict(property(schemas, "GrantConsent", "holder"), &parties);
        restrict(property(schemas, "GrantConsent", "recipient"), &parties);
        restrict(property(schemas, "GrantConsent", "topics"), &topics);
    }
    if let Some(components) = v.get_mut("components").and_then(Value::as_object_mut) {
        components.insert(
            "securitySchemes".into(),
            json!({ "bearer": { "type": "http", "scheme": "bearer",
                "description": "A person's token from `gsomia person add`" } }),
        );
    }
    // Statuses every route can answer besides its own.
    if let Some(paths) = v.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut() {
            let Some(ops) = item.as_object_mut() else {
                continue;
            };
            for op in ops.values_mut() {
                let Some(op) = op.as_object_mut() else {
                    continue;
                };
                let body = op.contains_key("requestBody");
                let secured = op.contains_key("security");
                let responses = op
                    .entry("responses")
                    .or_insert_with(|| Value::Object(Map::new()));
                let Some(responses) = responses.as_object_mut() else {
                    continue;
                };
                let mut add = |code: &str, why: &str| {
                    responses
                        .entry(code.to_owned())
                        .or_insert_with(|| error_response(why));
                };
                if body {
                    add("400", "The body is not the request it should be");
                    add("413", "The body is too large");
                    add("415", "The body is not `application/json`");
                }
                if secured {
                    add("401", "No valid bearer token");
                }
                add("408", "The request took too long");
                add(
                    "500",
                    "Internal error (details in the node's log under the request id)",
                );
                add("503", "The node is stopping");
            }
        }
        paths.insert(
            "/openapi.json".into(),
            json!({ "get": {
                "tags": ["node"],
                "summary": "This document",
                "operationId": "openapi",
                "responses": { "200": { "description": "The OpenAPI document",
                    "content": { "application/json": { "schema": { "type": "object" } } } } }
            } }),
        );
    }
    v
}

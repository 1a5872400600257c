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
    // Examples a client (and the examples phase of a schema fuzzer) can send
    // as they are: the lowest classified level, a partner, a topic.
    let lowest = reg
        .policy(node.me())
        .and_then(|p| {
            p.levels()
                .iter()
                .filter(|l| l.classified)
                .min_by_key(|l| l.rank)
        })
        .map(|l| l.native.clone())
        .unwrap_or_default();
    let partner = node
        .partners()
        .first()
        .map(|p| p.party.clone())
        .unwrap_or_else(|| node.party().to_owned());
    let third = parties
        .iter()
        .find(|p| **p != partner && *p != node.party())
        .cloned()
        .unwrap_or_else(|| partner.clone());
    let examples = [
        (
            "SubmitItem",
            json!({ "level": lowest, "topics": ["dprk.missile"], "rel_to": [partner],
                    "content": "bGF1bmNoIGF0IDA2OjMwIEtTVA==" }),
        ),
        ("ReleaseItem", json!({ "to": partner })),
        (
            "EnterEvent",
            json!({ "kind": "announcement", "summary": "a statement with no legal effect" }),
        ),
        (
            "GrantConsent",
            json!({ "holder": partner, "recipient": third, "topics": ["dprk.missile"],
                    "expires_at": "2099-01-01T00:00:00Z" }),
        ),
        (
            "Launch",
            json!({ "launch_point": { "lat": 39.03, "lon": 125.75 } }),
        ),
        (
            "Track",
            json!({ "point": { "lat": 39.6, "lon": 128.1 }, "alt_km": 150.0 }),
        ),
        (
            "Impact",
            json!({ "impact_point": { "lat": 40.1, "lon": 133.2 } }),
        ),
        ("CopyItem", json!({ "count": 1, "reason": "a briefing" })),
        (
            "TranslateItem",
            json!({ "language": "ko", "content": "bGF1bmNoIGF0IDA2OjMwIEtTVA==" }),
        ),
        (
            "DestroyItem",
            json!({ "method": "shredded", "witnesses": [] }),
        ),
        ("ReturnItem", json!({ "reason": "no longer needed" })),
        (
            "ReclassifyItem",
            json!({ "level": lowest, "reason": "the sources are public now" }),
        ),
        (
            "RequestVisit",
            json!({ "to": partner, "visitor": "a person's id", "purpose": "liaison",
                    "highest_level": lowest, "topics": ["dprk.missile"],
                    "from": "2099-03-01T00:00:00Z", "until": "2099-03-06T00:00:00Z" }),
        ),
        (
            "InspectFacility",
            json!({ "passed": true, "findings": "storage and register as required" }),
        ),
        (
            "FollowUpIncident",
            json!({ "text": "the room was locked; no one entered" }),
        ),
    ];
    if let Some(schemas) = v.pointer_mut("/components/schemas") {
        for (name, example) in examples {
            if let Some(s) = schemas.get_mut(name).and_then(Value::as_object_mut) {
                s.insert("examples".into(), json!([example]));
            }
        }
        restrict(property(schemas, "SubmitItem", "level"), &levels);
        restrict(property(schemas, "SubmitItem", "topics"), &topics);
        restrict(property(schemas, "SubmitItem", "rel_to"), &parties);
        restrict(property(schemas, "DeriveItem", "level"), &levels);
        restrict(property(schemas, "DeriveItem", "topics"), &topics);
        restrict(property(schemas, "DeriveItem", "rel_to"), &parties);
        // Named once each (a source or witness twice is refused).
        for (schema, field) in [("DeriveItem", "sources"), ("DestroyItem", "witnesses")] {
            if let Some(o) = property(schemas, schema, field).and_then(Value::as_object_mut) {
                o.insert("uniqueItems".into(), json!(true));
            }
        }
        restrict(property(schemas, "ReleaseItem", "to"), &parties);
        restrict(property(schemas, "ReclassifyItem", "level"), &levels);
        restrict(property(schemas, "AddFacility", "clearance"), &levels);
        restrict(property(schemas, "RequestVisit", "to"), &parties);
        restrict(property(schemas, "RequestVisit", "highest_level"), &levels);
        restrict(property(schemas, "RequestVisit", "topics"), &topics);
        if let Some(o) = property(schemas, "RequestVisit", "topics").and_then(Value::as_object_mut)
        {
            o.insert("uniqueItems".into(), json!(true));
        }
        restrict(property(schemas, "GrantConsent", "holder"), &parties);
        restrict(property(schemas, "GrantConsent", "recipient"), &parties);
        restrict(property(schemas, "GrantConsent", "topics"), &topics);
        // A consent covers one item or some topics: exactly one of the two.
        if let Some(g) = schemas
            .get_mut("GrantConsent")
            .and_then(Value::as_object_mut)
        {
            g.insert(
                "oneOf".into(),
                json!([
                    { "required": ["item"],
                      "properties": { "item": { "type": "string" }, "topics": { "type": "null" } } },
                    { "required": ["topics"],
                      "properties": { "topics": { "type": "array", "minItems": 1 }, "item": { "type": "null" } } }
                ]),
            );
        }
    }
    // The agreements this party is in, for the `{id}` of the agreement routes.
    let agreements: Vec<String> = reg
        .agreement_refs()
        .filter(|a| reg.agreement(*a).is_some_and(|x| x.has_party(node.me())))
        .map(|a| reg.agreement_id(a).to_owned())
        .collect();
    for path in ["/v1/agreements/{id}", "/v1/agreements/{id}/events"] {
        if let Some(params) = v
            .get_mut("paths")
            .and_then(|p| p.get_mut(path))
            .and_then(Value::as_object_mut)
        {
            for op in params.values_mut() {
                for p in op
                    .get_mut("parameters")
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    if p.get("name") == Some(&json!("id")) {
                        restrict(p.get_mut("schema"), &agreements);
                    }
                }
            }
        }
    }
    // The query parameters of the lists: this node's vocabulary, the
    // cursors it gives (digits), instants, the transfer states.
    if let Some(paths) = v.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut() {
            for op in item
                .as_object_mut()
                .into_iter()
                .flat_map(|o| o.values_mut())
            {
                for p in op
                    .get_mut("parameters")
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    if p.get("in") != Some(&json!("query")) {
                        continue;
                    }
                    let name = p
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned();
                    // An empty value is refused: say so.
                    if let Some(o) = p
                        .get_mut("schema")
                        .and_then(Value::as_object_mut)
                        .filter(|o| o.get("type") != Some(&json!("integer")))
                    {
                        o.insert("minLength".into(), json!(1));
                    }
                    let schema = p.get_mut("schema");
                    match name.as_str() {
                        "level" => restrict(schema, &levels),
                        "topic" => restrict(schema, &topics),
                        "originator" | "recipient" => restrict(schema, &parties),
                        "state" => restrict(
                            schema,
                            &["queued", "sending", "delivered", "refused"].map(String::from),
                        ),
                        "next" => {
                            if let Some(o) = schema.and_then(Value::as_object_mut) {
                                o.insert("pattern".into(), json!("^[0-9]{1,18}$"));
                            }
                        }
                        "since" => {
                            if let Some(o) = schema.and_then(Value::as_object_mut) {
                                o.insert("format".into(), json!("date-time"));
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    // What a created resource leads to (clients and the stateful tests follow these).
    for (path, method, status, links) in [
        (
            "/v1/items",
            "post",
            "201",
            &[
                ("show_item", "id"),
                ("read_item", "id"),
                ("release_item", "id"),
                ("copy_item", "id"),
                ("translate_item", "id"),
                ("item_history", "id"),
                ("destroy_item", "id"),
            ][..],
        ),
        (
            "/v1/consents",
            "post",
            "201",
            &[("revoke_consent", "id")][..],
        ),
        (
            "/v1/warnings",
            "post",
            "201",
            &[("track", "id"), ("impact", "id")][..],
        ),
    ] {
        if let Some(resp) = v
            .get_mut("paths")
            .and_then(|p| p.get_mut(path))
            .and_then(|p| p.get_mut(method))
            .and_then(|o| o.get_mut("responses"))
            .and_then(|r| r.get_mut(status))
            .and_then(Value::as_object_mut)
        {
            let mut map = Map::new();
            for (op, field) in links {
                map.insert(
                    (*op).to_owned(),
                    json!({ "operationId": op, "parameters": { "id": format!("$response.body#/{field}") } }),
                );
            }
            resp.insert("links".into(), Value::Object(map));
        }
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

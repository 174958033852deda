//! `GET /api/oas`, the OpenAPI document of the API Flotilla serves, checked against the running
//! router both ways: every operation it lists is routed (not the router's own 404 or 405), every
//! query parameter it lists is accepted, and every operation of Kibana's Fleet spec that
//! Flotilla routes is listed.

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// A concrete path for an OpenAPI path: every `{param}` becomes a value no object has.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "no-such-object"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether a listed path template (with `{param}` segments) covers a concrete path: Kibana's
/// `GET /agents/collector_groups` reaches Flotilla's `GET /agents/{agentId}`, which is listed.
fn covered(listed: &[(String, String, Value)], method: &str, path: &str) -> bool {
    let want: Vec<&str> = path.split('/').collect();
    listed.iter().any(|(m, template, _)| {
        let segs: Vec<&str> = template.split('/').collect();
        m == method
            && segs.len() == want.len()
            && segs
                .iter()
                .zip(&want)
                .all(|(t, w)| t.starts_with('{') || t == w)
    })
}

/// Whether the router itself answered "no such route" (rather than a handler answering).
fn unrouted(status: StatusCode, body: &Value) -> bool {
    status == StatusCode::METHOD_NOT_ALLOWED
        || (status == StatusCode::NOT_FOUND && body["message"] == "Not Found")
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            out.push((method.to_uppercase(), path.clone(), op.clone()));
        }
    }
    out
}

both_backends! {
    async fn the_document_matches_the_routes(srv: TestServer) {
        let (status, doc) = srv.get("/api/oas").await;
        assert_eq!(status, 200, "{doc}");
        assert_eq!(doc["openapi"], "3.0.3");
        let ops = operations(&doc);
        assert!(ops.len() > 120, "{} operations", ops.len());

        // Reads first, writes after (a logout or a key invalidation must not cut the rest off).
        let mut ordered = ops.clone();
        ordered.sort_by_key(|(m, p, _)| (m != "GET", p == "/api/security/logout"));
        for (method, path, op) in &ordered {
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            let body = (method == "POST" || method == "PUT").then(|| serde_json::json!({}));
            let (status, answer) = srv.call(m.clone(), &concrete(path), body.clone()).await;
            assert!(!unrouted(status, &answer), "{method} {path} is listed but not routed: {status} {answer}");
            // Every listed query parameter is one the handler accepts (an unknown one is a 400
            // naming it).
            for q in op["parameters"].as_array().unwrap().iter().filter(|p| p["in"] == "query") {
                let name = q["name"].as_str().unwrap();
                if method != "GET" {
                    continue;
                }
                let (_, answer) = srv
                    .call(m.clone(), &format!("{}?{name}=1", concrete(path)), None)
                    .await;
                let text = answer.to_string();
                assert!(
                    !text.contains(&format!("[request query.{name}]: definition for this key is missing")),
                    "{method} {path}: {name} is listed but refused: {text}"
                );
            }
        }

        // The other way: every operation of Kibana's Fleet spec that Flotilla routes is listed.
        let spec = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/reference/fleet-openapi.json");
        let Ok(text) = std::fs::read_to_string(&spec) else {
            eprintln!("skipped the reverse check: {} is absent", spec.display());
            srv.stop().await;
            return;
        };
        let kibana: Value = serde_json::from_str(&text).unwrap();
        let listed: std::collections::HashSet<(String, String)> = ops
            .iter()
            .map(|(m, p, _)| (m.clone(), concrete(p)))
            .collect();
        let mut missing = Vec::new();
        for (method, path, _) in operations(&kibana) {
            if !["GET", "POST", "PUT", "DELETE", "PATCH"].contains(&method.as_str()) {
                continue;
            }
            let key = (method.clone(), concrete(&path));
            if listed.contains(&key) || covered(&ops, &method, &path) {
                continue;
            }
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            let body = (method == "POST" || method == "PUT").then(|| serde_json::json!({}));
            let (status, answer) = srv.call(m, &key.1, body).await;
            if !unrouted(status, &answer) {
                missing.push(format!("{method} {path}"));
            }
        }
        assert!(missing.is_empty(), "routed but not in /api/oas: {missing:#?}");

        // Kibana's filter.
        let (_, some) = srv.get("/api/oas?pathStartsWith=/api/fleet/agent_policies").await;
        let paths = some["paths"].as_object().unwrap();
        assert!(paths.contains_key("/api/fleet/agent_policies/{agentPolicyId}/full"));
        assert!(paths.keys().all(|p| p.starts_with("/api/fleet/agent_policies")));
        let (status, bad) = srv.get("/api/oas?pathStartWith=/api").await;
        assert_eq!(status, 400, "{bad}");
        srv.stop().await;
    }
}

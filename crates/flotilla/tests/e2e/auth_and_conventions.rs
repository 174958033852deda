//! Authentication, authorization and the request conventions every management route keeps
//! (`docs/conventions.md`), over HTTP on SQLite and PostgreSQL.

use crate::support::{basic, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn raw(
    srv: &TestServer,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = srv.http.request(method, format!("{}{path}", srv.base));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    let text = res.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

both_backends! {
    async fn missing_or_wrong_credentials_are_401(srv: TestServer) {
        let path = "/api/fleet/agent_policies";
        let (status, _, body) = raw(&srv, reqwest::Method::GET, path, &[], None).await;
        assert_eq!(status, 401);
        assert_eq!(body, json!({"statusCode": 401, "error": "Unauthorized", "message": "Unauthorized"}));
        let wrong = basic("elastic", "wrong");
        let (status, _, body) = raw(&srv, reqwest::Method::GET, path, &[("authorization", &wrong)], None).await;
        assert_eq!(status, 401);
        assert_eq!(body["error"], "Unauthorized");
        let nobody = basic("nobody", "x");
        let (status, _, _) = raw(&srv, reqwest::Method::GET, path, &[("authorization", &nobody)], None).await;
        assert_eq!(status, 401);
        for bad in ["ApiKey bm9wZTpub3Bl", "ApiKey !!!", "Bearer abc", "Basic", "garbage"] {
            let (status, _, _) = raw(&srv, reqwest::Method::GET, path, &[("authorization", bad)], None).await;
            assert_eq!(status, 401, "{bad}");
        }
        // The right password still works after wrong ones (and from the verified cache).
        let (status, _) = srv.get(path).await;
        assert_eq!(status, 200);
        let (status, _) = srv.get(path).await;
        assert_eq!(status, 200);
        srv.stop().await;
    }
}

both_backends! {
    async fn kbn_xsrf_is_required_on_writes(srv: TestServer) {
        let auth = srv.auth.clone().unwrap();
        let (status, _, body) = raw(&srv, reqwest::Method::POST, "/api/fleet/agent_policies", &[("authorization", &auth)], Some(json!({"name": "a", "namespace": "default"}))).await;
        assert_eq!(status, 400);
        assert_eq!(body, json!({"statusCode": 400, "error": "Bad Request", "message": "Request must contain a kbn-xsrf header."}));
        let (_, list) = srv.get("/api/fleet/agent_policies").await;
        assert_eq!(list["total"], 0);
        // Reads need none.
        let (status, _, _) = raw(&srv, reqwest::Method::GET, "/api/fleet/agent_policies", &[("authorization", &auth)], None).await;
        assert_eq!(status, 200);
        srv.stop().await;
    }
}

both_backends! {
    async fn api_version_header(srv: TestServer) {
        let auth = srv.auth.clone().unwrap();
        let path = "/api/fleet/agent_policies";
        let (status, headers, _) = raw(&srv, reqwest::Method::GET, path, &[("authorization", &auth), ("elastic-api-version", "2023-10-31")], None).await;
        assert_eq!(status, 200);
        assert_eq!(headers["elastic-api-version"], "2023-10-31");
        let (status, headers, _) = raw(&srv, reqwest::Method::GET, path, &[("authorization", &auth)], None).await;
        assert_eq!(status, 200);
        assert_eq!(headers["elastic-api-version"], "2023-10-31");
        let (status, _, body) = raw(&srv, reqwest::Method::GET, path, &[("authorization", &auth), ("elastic-api-version", "2024-01-01")], None).await;
        assert_eq!(status, 400);
        assert_eq!(body["message"], "No version \"2024-01-01\" available for [get] [/api/fleet/agent_policies]. Available versions are: [\"2023-10-31\"]");
        let (status, _, body) = raw(&srv, reqwest::Method::GET, path, &[("authorization", &auth), ("elastic-api-version", "1")], None).await;
        assert_eq!(status, 400);
        assert_eq!(body["message"], "Invalid version. Received \"1\", expected a valid date string formatted as YYYY-MM-DD.");
        srv.stop().await;
    }
}

both_backends! {
    async fn roles_decide_what_a_user_may_do(srv: TestServer) {
        srv.fleet().auth.put_user("reader", "readpw", fleet::auth::Role::FleetRead).await.unwrap();
        srv.fleet().auth.put_user("admin", "adminpw", fleet::auth::Role::FleetAdmin).await.unwrap();
        let reader = basic("reader", "readpw");
        let (status, _, _) = raw(&srv, reqwest::Method::GET, "/api/fleet/agent_policies", &[("authorization", &reader)], None).await;
        assert_eq!(status, 200);
        let (status, _, body) = raw(&srv, reqwest::Method::POST, "/api/fleet/agent_policies", &[("authorization", &reader), ("kbn-xsrf", "x")], Some(json!({"name": "a", "namespace": "default"}))).await;
        assert_eq!(status, 403);
        assert_eq!(body, json!({"statusCode": 403, "error": "Forbidden", "message": "API [POST /api/fleet/agent_policies] is unauthorized for user, this action is granted by the Kibana privileges [fleet-agent-policies-all]"}));
        let admin = basic("admin", "adminpw");
        let (status, _, body) = raw(&srv, reqwest::Method::POST, "/api/fleet/agent_policies", &[("authorization", &admin), ("kbn-xsrf", "x")], Some(json!({"name": "a", "namespace": "default"}))).await;
        assert_eq!(status, 200);
        assert_eq!(body["item"]["updated_by"], "admin");
        let (_, list) = srv.get("/api/fleet/agent_policies").await;
        assert_eq!(list["total"], 1);
        srv.stop().await;
    }
}

both_backends! {
    async fn api_keys_lifecycle(srv: TestServer) {
        let (status, key) = srv.post("/_security/api_key", json!({"name": "ci", "expiration": "30d"})).await;
        assert_eq!(status, 200, "{key}");
        for field in ["id", "name", "api_key", "encoded", "expiration"] {
            assert!(key.get(field).is_some(), "{field} in {key}");
        }
        use base64::Engine;
        let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(key["encoded"].as_str().unwrap()).unwrap()).unwrap();
        assert_eq!(decoded, format!("{}:{}", key["id"].as_str().unwrap(), key["api_key"].as_str().unwrap()));
        let auth = format!("ApiKey {}", key["encoded"].as_str().unwrap());
        let (status, _, body) = raw(&srv, reqwest::Method::POST, "/api/fleet/agent_policies", &[("authorization", &auth), ("kbn-xsrf", "x")], Some(json!({"name": "by key", "namespace": "default"}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["item"]["updated_by"], "elastic", "API keys act as their owner");

        let (status, list) = srv.get("/_security/api_key").await;
        assert_eq!(status, 200);
        let listed: Vec<&Value> = list["api_keys"].as_array().unwrap().iter().filter(|k| k["id"] == key["id"]).collect();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["invalidated"], false);
        assert!(listed[0].get("api_key").is_none() && listed[0].get("key_hash").is_none(), "no secret is ever listed");
        // Enrollment tokens made with policies are not user API keys.
        assert!(list["api_keys"].as_array().unwrap().iter().all(|k| k["role"] != "enrollment"));

        let (status, res) = srv.call(reqwest::Method::DELETE, "/_security/api_key", Some(json!({"ids": [key["id"]]}))).await;
        assert_eq!(status, 200);
        assert_eq!(res["invalidated_api_keys"], json!([key["id"]]));
        let (status, _, _) = raw(&srv, reqwest::Method::GET, "/api/fleet/agent_policies", &[("authorization", &auth)], None).await;
        assert_eq!(status, 401, "a revoked key no longer works");

        let (status, res) = srv.post("/_security/api_key", json!({"name": "x", "expiration": "soon"})).await;
        assert_eq!(status, 400, "{res}");
        let (status, _) = srv.post("/_security/api_key", json!({"expiration": "1d"})).await;
        assert_eq!(status, 400);
        srv.stop().await;
    }
}

both_backends! {
    async fn enrollment_tokens_do_not_open_the_management_api(srv: TestServer) {
        let item = srv.create_policy(json!({"name": "p", "namespace": "default"})).await;
        let mut tx = srv.fleet().store.begin(fleet::store::Mode::Read).await.unwrap();
        let keys = tx.find(fleet::store::Kind::EnrollmentApiKey, &Default::default()).await.unwrap();
        drop(tx);
        assert_eq!(keys[0].body["policy_id"], item["id"]);
        let token = keys[0].body["api_key"].as_str().unwrap();
        let auth = format!("ApiKey {token}");
        let (status, _, _) = raw(&srv, reqwest::Method::GET, "/api/fleet/agent_policies", &[("authorization", &auth)], None).await;
        assert_eq!(status, 401);
        srv.stop().await;
    }
}

both_backends! {
    async fn status_endpoints_and_unknown_routes(srv: TestServer) {
        let res = srv.http.get(format!("{}/api/status", srv.base)).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["status"]["overall"]["level"], "available");
        assert!(body["version"]["number"].is_string());
        let res = srv.http.get(format!("{}/api/status", srv.agent_base)).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["status"], "HEALTHY");
        // Health checks for load balancers and Kubernetes, on both listeners, without credentials.
        for base in [&srv.base, &srv.agent_base] {
            for path in ["/livez", "/readyz"] {
                let res = srv.http.get(format!("{base}{path}")).send().await.unwrap();
                assert_eq!(res.status(), 200, "{base}{path}");
                assert_eq!(res.json::<Value>().await.unwrap()["status"], "ok");
            }
        }
        let (status, body) = srv.get("/api/fleet/nope").await;
        assert_eq!(status, 404);
        assert_eq!(body["statusCode"], 404);
        srv.stop().await;
    }
}

both_backends! {
    async fn bodies_over_10_mib_are_413(srv: TestServer) {
        let answer = srv.oversized_post("/api/fleet/agent_policies", "application/json", 11 * 1024 * 1024).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap_or_default()).unwrap();
        assert_eq!(body["error"], "Payload Too Large");
        srv.stop().await;
    }
}

//! `/api/fleet/enrollment_api_keys` over HTTP, on SQLite and PostgreSQL.

use serde_json::{json, Value};

fn ids(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

both_backends! {
    async fn guide_call_lists_the_documented_shape(srv: TestServer) {
        let policy = srv.create_policy(json!({"name": "p", "namespace": "default"})).await;
        // "Get enrollment tokens" in the guide: GET with Content-Type and kbn-xsrf headers.
        let res = srv.http.get(format!("{}/api/fleet/enrollment_api_keys", srv.base))
            .header("authorization", srv.auth.clone().unwrap())
            .header("Content-Type", "application/json").header("kbn-xsrf", "xx")
            .send().await.unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["total"], 1);
        assert_eq!((body["page"].clone(), body["perPage"].clone()), (json!(1), json!(20)));
        assert_eq!(body["list"], body["items"], "the deprecated list mirrors items");
        let key = &body["items"][0];
        let id = key["id"].as_str().unwrap();
        assert_eq!(key["active"], true);
        assert_eq!(key["policy_id"], policy["id"]);
        assert_eq!(key["name"], format!("Default ({id})"));
        assert!(key["created_at"].as_str().unwrap().ends_with('Z'));
        use base64::Engine;
        let token = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(key["api_key"].as_str().unwrap()).unwrap()).unwrap();
        assert!(token.starts_with(&format!("{}:", key["api_key_id"].as_str().unwrap())), "the token is base64(api_key_id:secret)");
        let (status, got) = srv.get(&format!("/api/fleet/enrollment_api_keys/{id}")).await;
        assert_eq!(status, 200);
        assert_eq!(&got["item"], key);
        srv.stop().await;
    }
}

both_backends! {
    async fn create_names_keys_and_refuses_duplicates(srv: TestServer) {
        let policy = srv.create_policy(json!({"name": "p", "namespace": "default"})).await;
        let pid = policy["id"].as_str().unwrap();
        let (status, res) = srv.post("/api/fleet/enrollment_api_keys", json!({"policy_id": pid, "name": "something"})).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["action"], "created");
        let id = res["item"]["id"].as_str().unwrap();
        assert_eq!(res["item"]["name"], format!("something ({id})"));
        let (status, res) = srv.post("/api/fleet/enrollment_api_keys", json!({"policy_id": pid, "name": "something"})).await;
        assert_eq!(status, 409);
        assert_eq!(res["message"], format!("An enrollment key named something already exists for agent policy {pid}"));
        // A longer name that merely starts with an existing one is fine.
        let (status, _) = srv.post("/api/fleet/enrollment_api_keys", json!({"policy_id": pid, "name": "something else"})).await;
        assert_eq!(status, 200);
        let (status, res) = srv.post("/api/fleet/enrollment_api_keys", json!({"policy_id": pid})).await;
        assert_eq!(status, 200);
        assert_eq!(res["item"]["name"], res["item"]["id"], "no name: the id");
        let (status, res) = srv.post("/api/fleet/enrollment_api_keys", json!({"policy_id": pid, "expiration": "1d"})).await;
        assert_eq!(status, 200);
        assert!(res["item"]["expire_at"].is_string());

        let (status, res) = srv.post("/api/fleet/enrollment_api_keys", json!({"policy_id": "nope"})).await;
        assert_eq!(status, 404);
        assert_eq!(res["message"], "Agent policy \"nope\" not found");
        let (status, res) = srv.post("/api/fleet/enrollment_api_keys", json!({"name": "x"})).await;
        assert_eq!(status, 400);
        assert_eq!(res["message"], "[request body.policy_id]: expected value of type [string] but got [undefined]");
        let (status, _) = srv.post("/api/fleet/enrollment_api_keys", json!({"policy_id": pid, "expiration": "soon"})).await;
        assert_eq!(status, 400);
        let (_, list) = srv.get(&format!("/api/fleet/enrollment_api_keys?kuery={}", "policy_id:%22".to_string() + pid + "%22")).await;
        assert_eq!(list["total"], 5);
        srv.stop().await;
    }
}

both_backends! {
    async fn list_pages_and_filters(srv: TestServer) {
        let a = srv.create_policy(json!({"name": "a", "namespace": "default"})).await;
        let b = srv.create_policy(json!({"name": "b", "namespace": "default"})).await;
        for _ in 0..3 {
            srv.post("/api/fleet/enrollment_api_keys", json!({"policy_id": a["id"]})).await;
        }
        let (_, all) = srv.get("/api/fleet/enrollment_api_keys?perPage=2&page=2").await;
        assert_eq!(all["total"], 5);
        assert_eq!(ids(&all).len(), 2);
        let (_, only_b) = srv.get(&format!("/api/fleet/enrollment_api_keys?kuery=fleet-enrollment-api-keys.policy_id:{}", b["id"].as_str().unwrap())).await;
        assert_eq!(only_b["total"], 1);
        let (status, res) = srv.get("/api/fleet/enrollment_api_keys?kuery=nosuch:x").await;
        assert_eq!(status, 400, "{res}");
        let (status, _) = srv.get("/api/fleet/enrollment_api_keys?sortField=name").await;
        assert_eq!(status, 400, "unknown parameters are refused");
        srv.stop().await;
    }
}

both_backends! {
    async fn delete_revokes_and_force_delete_removes(srv: TestServer) {
        srv.create_policy(json!({"name": "p", "namespace": "default"})).await;
        let (_, list) = srv.get("/api/fleet/enrollment_api_keys").await;
        let id = list["items"][0]["id"].as_str().unwrap().to_string();
        let (status, res) = srv.call(reqwest::Method::DELETE, &format!("/api/fleet/enrollment_api_keys/{id}"), None).await;
        assert_eq!(status, 200);
        assert_eq!(res, json!({"action": "deleted"}));
        let (_, got) = srv.get(&format!("/api/fleet/enrollment_api_keys/{id}")).await;
        assert_eq!(got["item"]["active"], false, "revoked, still listed");
        let (status, _) = srv.call(reqwest::Method::DELETE, &format!("/api/fleet/enrollment_api_keys/{id}?forceDelete=true"), None).await;
        assert_eq!(status, 200);
        let (status, res) = srv.get(&format!("/api/fleet/enrollment_api_keys/{id}")).await;
        assert_eq!(status, 404);
        assert_eq!(res["message"], format!("EnrollmentAPIKey {id} not found"));
        let (status, _) = srv.call(reqwest::Method::DELETE, "/api/fleet/enrollment_api_keys/nope", None).await;
        assert_eq!(status, 404);
        srv.stop().await;
    }
}

both_backends! {
    async fn bulk_delete_by_ids_or_kuery(srv: TestServer) {
        let p = srv.create_policy(json!({"name": "p", "namespace": "default"})).await;
        for _ in 0..3 {
            srv.post("/api/fleet/enrollment_api_keys", json!({"policy_id": p["id"]})).await;
        }
        let (_, list) = srv.get("/api/fleet/enrollment_api_keys").await;
        let all = ids(&list);
        let (status, res) = srv.post("/api/fleet/enrollment_api_keys/_bulk_delete", json!({"tokenIds": [all[0], "missing"]})).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res, json!({"action": "deleted", "count": 2, "successCount": 1, "errorCount": 1}));
        let (status, res) = srv.post("/api/fleet/enrollment_api_keys/_bulk_delete", json!({"kuery": "active:true", "forceDelete": true})).await;
        assert_eq!(status, 200);
        assert_eq!(res["successCount"], 3);
        let (_, list) = srv.get("/api/fleet/enrollment_api_keys").await;
        assert_eq!(list["total"], 1, "only the revoked one is left");
        assert_eq!(list["items"][0]["active"], false);
        let (status, _) = srv.post("/api/fleet/enrollment_api_keys/_bulk_delete", json!({})).await;
        assert_eq!(status, 400);
        srv.stop().await;
    }
}

both_backends! {
    async fn every_route_refuses_what_its_contract_refuses(srv: TestServer) {
        let p = srv.create_policy(json!({"name": "p", "namespace": "default"})).await;
        let (_, keys) = srv.get("/api/fleet/enrollment_api_keys").await;
        let key = keys["items"][0]["id"].as_str().unwrap().to_string();
        let refusals = [
            (reqwest::Method::GET, "/api/fleet/enrollment_api_keys?perPage=many".to_string(), None, "[request query.perPage]: expected value of type [number] but got [string]"),
            (reqwest::Method::POST, "/api/fleet/enrollment_api_keys".to_string(), Some(json!({"policy_id": p["id"], "expiration": 30})), "[request body.expiration]: expected value of type [string] but got [number]"),
            (reqwest::Method::POST, "/api/fleet/enrollment_api_keys".to_string(), Some(json!({"policy_id": p["id"], "hidden": true})), "[request body.hidden]: definition for this key is missing"),
            (reqwest::Method::GET, format!("/api/fleet/enrollment_api_keys/{key}?full=true"), None, "[request query.full]: definition for this key is missing"),
            (reqwest::Method::DELETE, format!("/api/fleet/enrollment_api_keys/{key}?forceDelete=sure"), None, "[request query.forceDelete]: expected value of type [boolean] but got [string]"),
            (reqwest::Method::POST, "/api/fleet/enrollment_api_keys/_bulk_delete".to_string(), Some(json!({"tokenIds": [1]})), "[request body.tokenIds.0]: expected value of type [string] but got [number]"),
            (reqwest::Method::POST, "/api/fleet/enrollment_api_keys/_bulk_delete".to_string(), Some(json!({})), "[request body]: Either tokenIds or kuery must be provided"),
        ];
        for (method, path, body, message) in refusals {
            let (status, res) = srv.call(method.clone(), &path, body).await;
            assert_eq!((status.as_u16(), res["message"].as_str().unwrap_or_default()), (400, message), "{method} {path}");
        }
        let (_, list) = srv.get("/api/fleet/enrollment_api_keys").await;
        assert_eq!(list["total"], 1, "nothing refused was made or revoked");
        assert_eq!(list["items"][0]["active"], true);
        srv.stop().await;
    }
}

//! The full agent policy of a realistic policy — nginx and system integrations, an
//! Elasticsearch output behind a proxy for data, a Logstash output for monitoring, a custom
//! download source through the proxy — checked field by field against
//! `tests/fixtures/golden/full_agent_policy.json`, on both stores. Values that are random per run
//! (token hash, signing key, signature, the agent listener's port) are replaced by placeholders.
//! `FLOTILLA_UPDATE_GOLDEN=1` rewrites the file (review the diff before committing it).

use crate::support::{reference_package, Options, TestServer};
use serde_json::{json, Value};

fn options() -> Option<Options> {
    Some(Options {
        packages: vec![
            reference_package("nginx-1.5.0"),
            reference_package("system-1.20.4"),
        ],
        ..Default::default()
    })
}

fn golden_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/golden/full_agent_policy.json")
}

async fn ok(srv: &TestServer, path: &str, body: Value) -> Value {
    let (status, res) = srv.post(path, body).await;
    assert_eq!(status, 200, "{path}: {res}");
    res
}

fn normalize(mut full: Value) -> Value {
    let protection = &mut full["agent"]["protection"];
    assert!(protection["uninstall_token_hash"]
        .as_str()
        .is_some_and(|h| !h.is_empty()));
    protection["uninstall_token_hash"] = json!("<uninstall token hash>");
    assert!(protection["signing_key"]
        .as_str()
        .is_some_and(|k| !k.is_empty()));
    protection["signing_key"] = json!("<signing key>");
    assert!(full["signed"]["data"].is_string() && full["signed"]["signature"].is_string());
    full["signed"] = json!("<signed>");
    full
}

both_backends_with! { options();
    async fn the_full_policy_matches_the_golden_file(srv: TestServer) {
        ok(&srv, "/api/fleet/proxies", json!({"id": "corp-proxy", "name": "corp", "url": "http://proxy.corp:3128", "proxy_headers": {"X-Team": "fleet"}})).await;
        ok(&srv, "/api/fleet/outputs", json!({"id": "es-out", "name": "corp es", "type": "elasticsearch", "hosts": ["https://es.corp:9200"], "proxy_id": "corp-proxy", "ca_trusted_fingerprint": "abc123"})).await;
        ok(&srv, "/api/fleet/outputs", json!({"id": "ls-out", "name": "corp logstash", "type": "logstash", "hosts": ["ls.corp:5044"], "ssl": {"certificate_authorities": ["-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----"]}})).await;
        ok(&srv, "/api/fleet/agent_download_sources", json!({"id": "mirror", "name": "mirror", "host": "https://mirror.corp/downloads/", "proxy_id": "corp-proxy"})).await;
        ok(&srv, "/api/fleet/fleet_server_hosts", json!({"id": "corp-fleet", "name": "corp fleet", "host_urls": ["https://fleet.corp:8220"], "proxy_id": "corp-proxy"})).await;
        ok(&srv, "/api/fleet/agent_policies", json!({
            "id": "golden", "name": "Golden", "namespace": "prod",
            "data_output_id": "es-out", "monitoring_output_id": "ls-out",
            "download_source_id": "mirror", "fleet_server_host_id": "corp-fleet",
            "monitoring_enabled": ["logs", "metrics"],
            "agent_features": [{"name": "fqdn", "enabled": true}],
            "global_data_tags": [{"name": "team", "value": "core"}],
        })).await;
        ok(&srv, "/api/fleet/package_policies", json!({
            "id": "nginx-golden", "name": "nginx-golden", "policy_id": "golden",
            "package": {"name": "nginx", "version": "1.5.0"},
            "inputs": {"nginx-logfile": {"streams": {"nginx.access": {"vars": {"tags": ["test"]}}, "nginx.error": {"vars": {"tags": ["test"]}}}}},
        })).await;
        ok(&srv, "/api/fleet/package_policies", json!({
            "id": "system-golden", "name": "system-golden", "policy_id": "golden",
            "package": {"name": "system", "version": "1.20.4"},
        })).await;

        let (status, res) = srv.get("/api/fleet/agent_policies/golden/full").await;
        assert_eq!(status, 200, "{res}");
        let got = normalize(res["item"].clone());
        let path = golden_path();
        if std::env::var("FLOTILLA_UPDATE_GOLDEN").is_ok() {
            std::fs::write(&path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        }
        let golden: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("golden file")).unwrap();
        let (g, w) = (golden.as_object().unwrap(), got.as_object().unwrap());
        let keys = |o: &serde_json::Map<String, Value>| o.keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(w), keys(g), "top-level fields");
        for (k, expected) in g {
            if k == "inputs" {
                let (ei, gi) = (expected.as_array().unwrap(), w[k].as_array().unwrap());
                assert_eq!(gi.len(), ei.len(), "number of inputs");
                for (i, (e, a)) in ei.iter().zip(gi).enumerate() {
                    for (field, ev) in e.as_object().unwrap() {
                        assert_eq!(&a[field], ev, "inputs[{i}] ({}).{field}", e["id"]);
                    }
                    assert_eq!(a.as_object().unwrap().len(), e.as_object().unwrap().len(), "inputs[{i}] fields");
                }
            } else {
                assert_eq!(&w[k], expected, "{k}");
            }
        }
        srv.stop().await;
    }
}

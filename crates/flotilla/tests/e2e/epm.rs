//! `/api/fleet/epm/...` over HTTP, on both stores: local packages, uploads (and the archives
//! that must be refused), a package registry (with its cache used offline), install/uninstall,
//! package info and files, the inputs template, and `sys_monitoring`.

use crate::support::{fixture_package, reference_package, Options, TestServer};
use reqwest::Method;
use serde_json::{json, Value};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn local_packages() -> Option<Options> {
    Some(Options {
        packages: vec![
            reference_package("nginx-1.5.0"),
            reference_package("system-1.20.4"),
            reference_package("elastic_agent-1.3.5"),
            fixture_package("flotilla_test-1.0.0"),
        ],
        ..Default::default()
    })
}

fn no_packages() -> Option<Options> {
    Some(Options::default())
}

/// A zip archive of the given (path, bytes) entries.
fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut out);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (path, data) in entries {
            w.start_file(*path, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap();
    }
    out.into_inner()
}

/// A gzipped tar archive of the given (path, bytes) entries.
fn tar_gz_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    for (path, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, path, *data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

async fn upload(srv: &TestServer, bytes: Vec<u8>, content_type: &str) -> (u16, Value) {
    let res = srv
        .http
        .post(format!("{}/api/fleet/epm/packages", srv.base))
        .header("kbn-xsrf", "x")
        .header("authorization", srv.auth.clone().unwrap())
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

const MINI_MANIFEST: &str = "format_version: 3.0.0\nname: mini\ntitle: Mini\nversion: 0.1.0\ndescription: A tiny package\ntype: integration\nowner:\n  github: flotilla/flotilla\npolicy_templates:\n  - name: mini\n    title: Mini\n    description: Mini\n    inputs:\n      - type: logfile\n        title: Logs\n        description: Logs\n";

both_backends_with! { local_packages();
    async fn local_packages_list_install_info_files_and_uninstall(srv: TestServer) {
        let (status, list) = srv.get("/api/fleet/epm/packages").await;
        assert_eq!(status, 200, "{list}");
        let names: Vec<&str> = list["items"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect();
        for n in ["nginx", "system", "elastic_agent", "flotilla_test"] {
            assert!(names.contains(&n), "{names:?}");
        }
        assert!(list["items"].as_array().unwrap().iter().all(|i| i["status"] == "not_installed"));
        let (_, web) = srv.get("/api/fleet/epm/packages?category=web").await;
        assert_eq!(web["items"].as_array().unwrap().len(), 1);
        assert_eq!(web["items"][0]["name"], "nginx");
        let (_, cats) = srv.get("/api/fleet/epm/categories").await;
        let web = cats["items"].as_array().unwrap().iter().find(|c| c["id"] == "web").unwrap().clone();
        assert_eq!(web["count"], 1);

        let (status, info) = srv.get("/api/fleet/epm/packages/nginx/1.5.0").await;
        assert_eq!(status, 200, "{info}");
        assert_eq!(info["item"]["status"], "not_installed");
        assert_eq!(info["item"]["latestVersion"], "1.5.0");
        assert_eq!(info["item"]["conditions"]["kibana"]["version"], "^8.0.0", "dotted keys expanded");
        let ds: Vec<&str> = info["item"]["data_streams"].as_array().unwrap().iter().map(|d| d["dataset"].as_str().unwrap()).collect();
        assert_eq!(ds, vec!["nginx.access", "nginx.error", "nginx.stubstatus"]);
        assert_eq!(info["item"]["data_streams"][0]["streams"][0]["template_path"], "stream.yml.hbs");
        let (status, _) = srv.get("/api/fleet/epm/packages/nginx/9.9.9").await;
        assert_eq!(status, 404);

        let (status, res) = srv.post("/api/fleet/epm/packages/nginx/1.5.0", json!({})).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["_meta"], json!({"install_source": "local", "name": "nginx"}));
        let (status, res) = srv.post("/api/fleet/epm/packages/system", Value::Null).await;
        assert_eq!(status, 200, "latest version: {res}");
        let (_, info) = srv.get("/api/fleet/epm/packages/nginx?withMetadata=true").await;
        assert_eq!(info["item"]["status"], "installed");
        assert_eq!(info["item"]["installationInfo"]["install_status"], "installed");
        assert_eq!(info["metadata"]["has_policies"], false);
        let (_, installed) = srv.get("/api/fleet/epm/packages/installed").await;
        assert_eq!(installed["total"], 2);
        assert_eq!(installed["items"][0]["name"], "nginx");
        assert_eq!(installed["items"][0]["dataStreams"][0], json!({"name": "logs-nginx.access-*", "title": "Nginx access logs"}));
        let (_, page) = srv.get("/api/fleet/epm/packages/installed?perPage=1&searchAfter=%5B%22nginx%22%5D").await;
        assert_eq!(page["items"][0]["name"], "system");
        let (_, list) = srv.get("/api/fleet/epm/packages").await;
        let nginx = list["items"].as_array().unwrap().iter().find(|i| i["name"] == "nginx").unwrap().clone();
        assert_eq!(nginx["status"], "installed");

        // Files, as the registry serves them.
        let res = srv.http.get(format!("{}/api/fleet/epm/packages/nginx/1.5.0/data_stream/access/agent/stream/stream.yml.hbs", srv.base))
            .header("authorization", srv.auth.clone().unwrap()).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.text().await.unwrap().starts_with("{{#if ignore_older}}"));
        let res = srv.http.get(format!("{}/api/fleet/epm/packages/nginx/1.5.0/manifest.yml", srv.base))
            .header("authorization", srv.auth.clone().unwrap()).send().await.unwrap();
        assert_eq!(res.headers()["content-type"], "text/yaml; charset=UTF-8");
        let (status, _) = srv.get("/api/fleet/epm/packages/nginx/1.5.0/nope.txt").await;
        assert_eq!(status, 404);

        // The inputs template: the API reference of inputs, streams and their compiled config.
        let (status, tpl) = srv.get("/api/fleet/epm/templates/nginx/1.5.0/inputs").await;
        assert_eq!(status, 200, "{tpl}");
        assert_eq!(tpl["inputs"][0]["id"], "logfile-nginx");
        assert_eq!(tpl["inputs"][0]["streams"][0]["id"], "logfile-nginx.access");
        assert_eq!(tpl["inputs"][0]["streams"][0]["paths"], json!(["/var/log/nginx/access.log*"]));
        assert_eq!(tpl["inputs"][1]["type"], "nginx/metrics", "disabled inputs are left out");
        let (status, yml) = srv.get("/api/fleet/epm/templates/nginx/1.5.0/inputs?format=yml").await;
        assert_eq!(status, 200);
        let parsed: Value = serde_yaml_ng::from_str(yml.as_str().unwrap()).unwrap();
        assert_eq!(parsed, tpl);
        let (status, _) = srv.get("/api/fleet/epm/templates/nginx/1.5.0/inputs?format=xml").await;
        assert_eq!(status, 400);

        // A package in use cannot be uninstalled; stats count the agent policies using it.
        let p = srv.create_policy(json!({"name": "p", "namespace": "default"})).await;
        let (status, pp) = srv.post("/api/fleet/package_policies", json!({"name": "n1", "policy_ids": [p["id"]], "package": {"name": "nginx", "version": "1.5.0"}})).await;
        assert_eq!(status, 200, "{pp}");
        let (_, stats) = srv.get("/api/fleet/epm/packages/nginx/stats").await;
        assert_eq!(stats, json!({"response": {"agent_policy_count": 1}}));
        let (status, res) = srv.call(Method::DELETE, "/api/fleet/epm/packages/nginx/1.5.0", None).await;
        assert_eq!(status, 400);
        assert_eq!(res["message"], "Unable to remove package with existing package policy(s) in use by agent(s)");
        let (status, _) = srv.call(Method::DELETE, &format!("/api/fleet/package_policies/{}", pp["item"]["id"].as_str().unwrap()), None).await;
        assert_eq!(status, 200);
        let (status, res) = srv.call(Method::DELETE, "/api/fleet/epm/packages/nginx/1.5.0", None).await;
        assert_eq!(status, 200, "{res}");
        let (_, info) = srv.get("/api/fleet/epm/packages/nginx/1.5.0").await;
        assert_eq!(info["item"]["status"], "not_installed");

        // Settings, limited packages, bulk install.
        let (status, res) = srv.put("/api/fleet/epm/packages/system", json!({"keepPoliciesUpToDate": true})).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["item"]["keepPoliciesUpToDate"], true);
        let (status, res) = srv.post("/api/fleet/epm/packages/_bulk", json!({"packages": ["flotilla_test", {"name": "nginx", "version": "1.5.0"}, "nope"]})).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["items"][0]["result"]["status"], "installed");
        assert_eq!(res["items"][1]["version"], "1.5.0");
        assert_eq!(res["items"][2]["statusCode"], 404);
        let (_, limited) = srv.get("/api/fleet/epm/packages/limited").await;
        assert_eq!(limited, json!({"items": ["flotilla_test"]}));
        srv.stop().await;
    }
}

both_backends_with! { no_packages();
    async fn uploads_install_valid_archives_and_refuse_bad_ones(srv: TestServer) {
        let good = zip_of(&[("mini-0.1.0/manifest.yml", MINI_MANIFEST.as_bytes())]);
        let (status, res) = upload(&srv, good, "application/zip").await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["_meta"], json!({"install_source": "upload", "name": "mini"}));
        let (_, info) = srv.get("/api/fleet/epm/packages/mini/0.1.0").await;
        assert_eq!(info["item"]["status"], "installed");
        assert_eq!(info["item"]["installationInfo"]["install_source"], "upload");
        // The OpenAPI document's own format: a gzipped tar.
        let (status, res) = upload(&srv, tar_gz_of(&[("mini-0.2.0/manifest.yml", MINI_MANIFEST.replace("version: 0.1.0", "version: 0.2.0").as_bytes())]), "application/gzip").await;
        assert_eq!(status, 200, "{res}");
        let (_, info) = srv.get("/api/fleet/epm/packages/mini/0.2.0").await;
        assert_eq!(info["item"]["status"], "installed");

        let cases: Vec<(Vec<u8>, &str, &str)> = vec![
            (b"not a zip".to_vec(), "application/zip", "Error during extraction of package"),
            (b"not gzip".to_vec(), "application/gzip", "Error during extraction of package"),
            (tar_gz_of(&[("mini-0.1.0/manifest.yml", MINI_MANIFEST.as_bytes()), ("other/x", b"x")]), "application/gzip", "more than one top-level directory"),
            (zip_of(&[("mini-0.1.0/manifest.yml", MINI_MANIFEST.as_bytes())]), "application/json", "Unsupported content type"),
            (zip_of(&[("mini-0.1.0/../../etc/passwd", b"x"), ("mini-0.1.0/manifest.yml", MINI_MANIFEST.as_bytes())]), "application/zip", "points outside the package"),
            (zip_of(&[("a-0.1.0/manifest.yml", MINI_MANIFEST.as_bytes()), ("b/x", b"x")]), "application/zip", "more than one top-level directory"),
            (zip_of(&[("mini-0.1.0/README", b"x")]), "application/zip", "must contain a top-level manifest.yml"),
            (zip_of(&[("other-1.0.0/manifest.yml", MINI_MANIFEST.as_bytes())]), "application/zip", "do not match top-level directory"),
            (zip_of(&[("mini-0.1.0/manifest.yml", b"name: mini\n")]), "application/zip", "Invalid top-level package manifest"),
            (zip_of(&[("mini-0.1.0/manifest.yml", MINI_MANIFEST.replace("version: 0.1.0", "version: one").as_bytes())]), "application/zip", "not semver"),
            (zip_of(&[("mini-0.1.0/manifest.yml", MINI_MANIFEST.as_bytes()), ("mini-0.1.0/bomb", &vec![0u8; 8 * 1024 * 1024])]), "application/zip", "zip bomb"),
        ];
        for (bytes, ct, message) in cases {
            let (status, res) = upload(&srv, bytes, ct).await;
            assert_eq!(status, 400, "{message}: {res}");
            assert!(res["message"].as_str().unwrap().contains(message), "{message}: {res}");
        }
        let (_, installed) = srv.get("/api/fleet/epm/packages/installed").await;
        assert_eq!(installed["total"], 1, "only the good upload: {installed}");

        // Over the upload limit: 413.
        let answer = srv.oversized_post("/api/fleet/epm/packages", "application/zip", 101 * 1024 * 1024).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

        // What needs Elasticsearch says so.
        let (status, res) = srv.get("/api/fleet/epm/data_streams").await;
        assert_eq!(status, 400);
        assert!(res["message"].as_str().unwrap().contains("Elasticsearch"), "{res}");
        let (status, res) = srv.post("/api/fleet/epm/packages/mini/0.1.0/kibana_assets", json!({})).await;
        assert_eq!(status, 400);
        assert!(res["message"].as_str().unwrap().contains("Elasticsearch"), "{res}");

        // sys_monitoring without the system package anywhere: a clear 400, nothing written.
        let (status, res) = srv.post("/api/fleet/agent_policies?sys_monitoring=true", json!({"name": "p", "namespace": "default"})).await;
        assert_eq!(status, 400);
        assert!(res["message"].as_str().unwrap().contains("system package"), "{res}");
        let (_, list) = srv.get("/api/fleet/agent_policies").await;
        assert_eq!(list["total"], 0);
        srv.stop().await;
    }
}

both_backends_with! { local_packages();
    async fn sys_monitoring_adds_the_system_integration(srv: TestServer) {
        let (status, res) = srv.post("/api/fleet/agent_policies?sys_monitoring=true", json!({"name": "p1", "namespace": "prod", "monitoring_enabled": ["logs", "metrics"]})).await;
        assert_eq!(status, 200, "{res}");
        let item = &res["item"];
        assert_eq!(item["revision"], 1, "the system policy does not bump the new policy");
        assert_eq!(item["package_policies"][0]["name"], "system-1");
        assert_eq!(item["package_policies"][0]["namespace"], "prod");
        assert_eq!(item["package_policies"][0]["package"]["version"], "1.20.4");
        let (status, res) = srv.post("/api/fleet/agent_policies?sys_monitoring=true", json!({"name": "p2", "namespace": "default"})).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["item"]["package_policies"][0]["name"], "system-2");
        // Monitoring installed elastic_agent, which a source has.
        let (_, info) = srv.get("/api/fleet/epm/packages/elastic_agent").await;
        assert_eq!(info["item"]["status"], "installed");
        // The full policy runs system's default inputs.
        let (_, full) = srv.get(&format!("/api/fleet/agent_policies/{}/full", item["id"].as_str().unwrap())).await;
        let types: Vec<&str> = full["item"]["inputs"].as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap()).collect();
        assert_eq!(types, vec!["logfile", "winlog", "system/metrics"]);
        assert_eq!(full["item"]["inputs"][2]["streams"].as_array().unwrap().len(), 11);
        assert_eq!(full["item"]["inputs"][0]["data_stream"]["namespace"], "prod");
        srv.stop().await;
    }
}

/// A minimal Elastic Package Registry serving one package, counting requests.
async fn fake_registry(
    zip: Vec<u8>,
    entry: Value,
    hits: Arc<AtomicUsize>,
) -> (String, tokio::task::JoinHandle<()>) {
    use axum::routing::get;
    let zip = Arc::new(zip);
    let entry = Arc::new(entry);
    let app = axum::Router::new()
        .route(
            "/search",
            get({
                let entry = entry.clone();
                let hits = hits.clone();
                move || async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    axum::Json(json!([*entry]))
                }
            }),
        )
        .route(
            "/categories",
            get({
                let hits = hits.clone();
                move || async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    axum::Json(json!([{"id": "web", "title": "Web Server", "count": 1}]))
                }
            }),
        )
        .route(
            "/epr/nginx/nginx-1.5.0.zip",
            get({
                let zip = zip.clone();
                let hits = hits.clone();
                move || async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    (*zip).clone()
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}"), task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installs_from_the_registry_and_keeps_working_offline_from_its_cache_sqlite() {
    from_the_registry(crate::support::Backend::Sqlite).await;
}

#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: set FLOTILLA_TEST_DATABASE_URL"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installs_from_the_registry_and_keeps_working_offline_from_its_cache_postgres() {
    from_the_registry(crate::support::Backend::Postgres).await;
}

async fn from_the_registry(backend: crate::support::Backend) {
    let dir = reference_package("nginx-1.5.0");
    let pkg = packages::Package::from_dir(&dir).unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let (url, registry) = fake_registry(pkg.to_zip(), pkg.search_entry(), hits.clone()).await;
    let Some(srv) = TestServer::start_with(
        backend,
        Options {
            registry_url: Some(url),
            ..Default::default()
        },
    )
    .await
    else {
        return;
    };
    let (status, list) = srv.get("/api/fleet/epm/packages").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["items"][0]["name"], "nginx");
    let (_, cats) = srv.get("/api/fleet/epm/categories").await;
    assert_eq!(
        cats["items"][1],
        json!({"id": "web", "title": "Web Server", "count": 1}),
        "the registry's title"
    );
    assert_eq!(
        cats["items"][0],
        json!({"id": "security", "title": "Security", "count": 1})
    );
    let (status, info) = srv.get("/api/fleet/epm/packages/nginx").await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["item"]["version"], "1.5.0");

    // The registry goes away: what was fetched is served from the cache.
    registry.abort();
    let _ = registry.await;
    let before = hits.load(Ordering::SeqCst);
    let (status, list) = srv.get("/api/fleet/epm/packages").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        list["items"][0]["name"], "nginx",
        "from the cached search answer"
    );
    let p = srv
        .create_policy(json!({"name": "p", "namespace": "default"}))
        .await;
    let (status, res) = srv.post("/api/fleet/package_policies", json!({"name": "n", "policy_id": p["id"], "package": {"name": "nginx", "version": "1.5.0"}})).await;
    assert_eq!(status, 200, "offline, from the cached archive: {res}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        before,
        "nothing reached the registry"
    );
    let (_, info) = srv.get("/api/fleet/epm/packages/nginx/1.5.0").await;
    assert_eq!(
        info["item"]["installationInfo"]["install_source"],
        "registry"
    );
    // A version the registry never served cannot be had offline: a clear error.
    let (status, res) = srv
        .post("/api/fleet/epm/packages/nginx/2.0.0", json!({}))
        .await;
    assert_eq!(status, 400, "{res}");
    assert!(
        res["message"]
            .as_str()
            .unwrap()
            .contains("package registry"),
        "{res}"
    );
    srv.stop().await;
}

/// A package folder as a zip archive under `<name>-<version>/`, its manifest's version replaced.
fn zip_of_dir_as(dir: &std::path::Path, from_version: &str, to_version: &str) -> Vec<u8> {
    let pkg = packages::Package::from_dir(dir).unwrap();
    let entries: Vec<(String, Vec<u8>)> = pkg
        .file_paths()
        .map(|rel| {
            let data = pkg.file(rel).unwrap().to_vec();
            let data = if rel == "manifest.yml" {
                String::from_utf8(data)
                    .unwrap()
                    .replace(
                        &format!("version: {from_version}"),
                        &format!("version: {to_version}"),
                    )
                    .into_bytes()
            } else {
                data
            };
            (format!("{}-{to_version}/{rel}", pkg.name), data)
        })
        .collect();
    let refs: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(p, d)| (p.as_str(), d.as_slice()))
        .collect();
    zip_of(&refs)
}

both_backends_with! { local_packages();
    async fn bulk_upgrade_rollback_and_uninstall_report_per_package(srv: TestServer) {
        // Only installed packages, and at least one.
        let (status, res) = srv.post("/api/fleet/epm/packages/_bulk_upgrade", json!({"packages": [{"name": "nginx"}, {"name": "system"}]})).await;
        assert_eq!(status, 400, "{res}");
        assert_eq!(res["message"], "Cannot upgrade non-installed packages: nginx, system");
        let (status, res) = srv.post("/api/fleet/epm/packages/_bulk_uninstall", json!({"packages": []})).await;
        assert_eq!(status, 400, "{res}");
        let (status, res) = srv.post("/api/fleet/epm/packages/_bulk_uninstall", json!({"packages": [{"name": "nginx"}]})).await;
        assert_eq!(status, 400, "a version is required to uninstall: {res}");

        // flotilla_test 0.9.0 installed by upload and used by a policy; 1.0.0 is local.
        let older = zip_of_dir_as(&fixture_package("flotilla_test-1.0.0"), "1.0.0", "0.9.0");
        let (status, res) = upload(&srv, older, "application/zip").await;
        assert_eq!(status, 200, "{res}");
        let p = srv.create_policy(json!({"name": "p", "namespace": "default"})).await;
        let (status, pp) = srv.post("/api/fleet/package_policies", json!({"name": "svc", "policy_ids": [p["id"]], "package": {"name": "flotilla_test", "version": "0.9.0"}})).await;
        assert_eq!(status, 200, "{pp}");
        let pp_id = pp["item"]["id"].as_str().unwrap().to_string();

        let (status, res) = srv.post("/api/fleet/epm/packages/_bulk_upgrade", json!({"packages": [{"name": "flotilla_test"}], "upgrade_package_policies": true})).await;
        assert_eq!(status, 200, "{res}");
        let task = res["taskId"].as_str().unwrap().to_string();
        let (status, state) = srv.get(&format!("/api/fleet/epm/packages/_bulk_upgrade/{task}")).await;
        assert_eq!(status, 200, "{state}");
        assert_eq!(state, json!({"status": "success", "results": [{"name": "flotilla_test", "success": true}]}));
        let (_, info) = srv.get("/api/fleet/epm/packages/flotilla_test").await;
        assert_eq!(info["item"]["installationInfo"]["version"], "1.0.0", "{info}");
        let (_, got) = srv.get(&format!("/api/fleet/package_policies/{pp_id}")).await;
        assert_eq!(got["item"]["package"]["version"], "1.0.0", "{got}");
        let upgraded_revision = got["item"]["revision"].as_i64().unwrap();

        // Rollback: the package and its policies back to what the upgrade replaced, only when
        // every policy using it has that copy.
        let rollback = |name: &str| format!("/api/fleet/epm/packages/{name}/rollback");
        let (status, res) = srv.post(&rollback("nginx"), Value::Null).await;
        assert_eq!(status, 400, "{res}");
        assert_eq!(res["message"], "Cannot rollback non-installed packages: nginx");
        let (status, res) = srv.post("/api/fleet/epm/packages/nginx/1.5.0", Value::Null).await;
        assert_eq!(status, 200, "{res}");
        let (status, res) = srv.post(&rollback("nginx"), Value::Null).await;
        assert_eq!(status, 400, "{res}");
        assert_eq!(res["message"], "No previous version found for package");
        let (status, newer) = srv.post("/api/fleet/package_policies", json!({"name": "svc-new", "policy_ids": [p["id"]], "package": {"name": "flotilla_test", "version": "1.0.0"}})).await;
        assert_eq!(status, 200, "{newer}");
        let (status, res) = srv.post(&rollback("flotilla_test"), Value::Null).await;
        assert_eq!(status, 400, "{res}");
        assert_eq!(res["message"], "No previous version found for least one package policy");
        let (status, _) = srv.call(Method::DELETE, &format!("/api/fleet/package_policies/{}", newer["item"]["id"].as_str().unwrap()), None).await;
        assert_eq!(status, 200);
        let (status, res) = srv.post(&rollback("flotilla_test"), Value::Null).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res, json!({"version": "0.9.0", "success": true}));
        let (_, info) = srv.get("/api/fleet/epm/packages/flotilla_test").await;
        assert_eq!(info["item"]["installationInfo"]["version"], "0.9.0", "{info}");
        let (_, got) = srv.get(&format!("/api/fleet/package_policies/{pp_id}")).await;
        assert_eq!(got["item"]["package"]["version"], "0.9.0", "{got}");
        assert_eq!(got["item"]["revision"], upgraded_revision + 1);
        let (status, res) = srv.post(&rollback("flotilla_test"), Value::Null).await;
        assert_eq!(status, 400, "only once: {res}");
        // The same through a bulk task, which reports per package.
        let (status, res) = srv.post("/api/fleet/epm/packages/_bulk_upgrade", json!({"packages": [{"name": "flotilla_test"}], "upgrade_package_policies": true})).await;
        assert_eq!(status, 200, "{res}");
        let (status, res) = srv.post("/api/fleet/epm/packages/_bulk_rollback", json!({"packages": [{"name": "flotilla_test"}, {"name": "nginx"}]})).await;
        assert_eq!(status, 200, "{res}");
        let task = res["taskId"].as_str().unwrap().to_string();
        let (_, state) = srv.get(&format!("/api/fleet/epm/packages/_bulk_rollback/{task}")).await;
        assert_eq!(state, json!({"status": "failed", "results": [
            {"name": "flotilla_test", "success": true},
            {"name": "nginx", "success": false, "error": {"message": "No previous version found for package"}},
        ]}));
        let (_, got) = srv.get(&format!("/api/fleet/package_policies/{pp_id}")).await;
        assert_eq!(got["item"]["package"]["version"], "0.9.0", "{got}");

        // Uninstall: a package in use fails on its own; a free one goes.
        let (status, res) = srv.post("/api/fleet/epm/packages/_bulk_uninstall", json!({"packages": [{"name": "flotilla_test", "version": "0.9.0"}, {"name": "nginx", "version": "1.5.0"}]})).await;
        assert_eq!(status, 200, "{res}");
        let task = res["taskId"].as_str().unwrap().to_string();
        let (_, state) = srv.get(&format!("/api/fleet/epm/packages/_bulk_uninstall/{task}")).await;
        assert_eq!(state["status"], "failed", "{state}");
        assert_eq!(state["results"][0], json!({"name": "flotilla_test", "success": false, "error": {"message": "Unable to remove package with existing package policy(s) in use by agent(s)"}}));
        assert_eq!(state["results"][1], json!({"name": "nginx", "success": true}));
        let (_, info) = srv.get("/api/fleet/epm/packages/nginx/1.5.0").await;
        assert_eq!(info["item"]["status"], "not_installed");
        let (_, info) = srv.get("/api/fleet/epm/packages/flotilla_test").await;
        assert_eq!(info["item"]["status"], "installed");

        // A task is read under its own operation only.
        let (status, _) = srv.get(&format!("/api/fleet/epm/packages/_bulk_upgrade/{task}")).await;
        assert_eq!(status, 404);
        let (status, res) = srv.get("/api/fleet/epm/packages/_bulk_uninstall/nope").await;
        assert_eq!(status, 404, "{res}");
        srv.stop().await;
    }
}

both_backends_with! { local_packages();
    async fn package_routes_refuse_what_their_contracts_refuse(srv: TestServer) {
        for (method, path, body, message) in [
            (Method::GET, "/api/fleet/epm/categories?prerelease=soon", None, "[request query.prerelease]: expected value of type [boolean] but got [string]"),
            (Method::GET, "/api/fleet/epm/packages?sort=name", None, "[request query.sort]: definition for this key is missing"),
            (Method::GET, "/api/fleet/epm/packages/installed?sortOrder=up", None, "[request query.sortOrder]: types that failed validation:\n- [request query.sortOrder.0]: expected value to equal [asc]\n- [request query.sortOrder.1]: expected value to equal [desc]"),
            (Method::GET, "/api/fleet/epm/packages/installed?perPage=-1", None, "[request query.perPage]: Value must be equal to or greater than [0]."),
            (Method::GET, "/api/fleet/epm/packages/nginx?withMetadata=3", None, "[request query.withMetadata]: expected value of type [boolean] but got [string]"),
            (Method::POST, "/api/fleet/epm/packages/nginx/1.5.0", Some(json!({"force": "yes"})), "[request body.force]: expected value of type [boolean] but got [string]"),
            (Method::DELETE, "/api/fleet/epm/packages/nginx/1.5.0?force=always", None, "[request query.force]: expected value of type [boolean] but got [string]"),
            (Method::GET, "/api/fleet/epm/templates/nginx/1.5.0/inputs?format=xml", None, "[request query.format]: types that failed validation:\n- [request query.format.0]: expected value to equal [json]\n- [request query.format.1]: expected value to equal [yml]\n- [request query.format.2]: expected value to equal [yaml]"),
            (Method::GET, "/api/fleet/epm/packages/nginx/stats?x=1", None, "[request query.x]: definition for this key is missing"),
            (Method::POST, "/api/fleet/epm/packages/_bulk", Some(json!({"packages": []})), "[request body.packages]: array size is [0], but cannot be smaller than [1]"),
            (Method::POST, "/api/fleet/epm/packages/_bulk", Some(json!({"packages": [{"name": "nginx"}]})), "[request body.packages.0]: types that failed validation:\n- [request body.packages.0.0]: expected value of type [string] but got [Object]\n- [request body.packages.0.1.version]: expected value of type [string] but got [undefined]"),
            (Method::POST, "/api/fleet/epm/packages/_bulk", Some(json!({"packages": ["nginx"], "force": 1})), "[request body.force]: expected value of type [boolean] but got [number]"),
            (Method::POST, "/api/fleet/epm/packages/_bulk_upgrade", Some(json!({"packages": [{"name": "nginx", "versions": "1.5.0"}]})), "[request body.packages.0.versions]: definition for this key is missing"),
            (Method::POST, "/api/fleet/epm/packages/_bulk_uninstall", Some(json!({"packages": [{"name": "nginx"}]})), "[request body.packages.0.version]: expected value of type [string] but got [undefined]"),
            (Method::POST, "/api/fleet/epm/packages/_bulk_rollback", Some(json!({})), "[request body.packages]: expected value of type [array] but got [undefined]"),
            (Method::PUT, "/api/fleet/epm/packages/nginx", Some(json!({"keepPoliciesUpToDate": "maybe"})), "[request body.keepPoliciesUpToDate]: expected value of type [boolean] but got [string]"),
        ] {
            let (status, res) = srv.call(method.clone(), path, body).await;
            assert_eq!((status.as_u16(), res["message"].as_str().unwrap_or_default()), (400, message), "{method} {path}");
        }
        let (_, installed) = srv.get("/api/fleet/epm/packages/installed").await;
        assert_eq!(installed["items"], json!([]), "nothing was installed by a refused request");
        srv.stop().await;
    }
}

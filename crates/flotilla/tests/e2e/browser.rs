//! The web UI in a real headless Chromium (Debian's `chromium` driven through `chromedriver`,
//! WebDriver): log in, create a policy through the form, add the nginx integration through the
//! generated form, run a console request, select every agent matching a KQL query (more than one
//! page) and tag them. Screenshots of each page go to `target/ui-screenshots/`.
//!
//! Without `chromedriver` the test says so and passes, unless `FLOTILLA_REQUIRE_BROWSER=1`
//! (set by `.ci/run`, which installs it).

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::support::{fixture_package, reference_package, Backend, Options, TestServer, PASSWORD};

const WAIT: Duration = Duration::from_secs(30);

struct Browser {
    client: Client,
    _driver: tokio::process::Child,
    shots: PathBuf,
}

fn find_program(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(PathBuf::from(p));
    }
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

impl Browser {
    async fn start() -> Option<Browser> {
        let driver = find_program("FLOTILLA_CHROMEDRIVER", &["/usr/bin/chromedriver"]);
        let chromium = find_program(
            "FLOTILLA_CHROMIUM",
            &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
        );
        let (Some(driver), Some(chromium)) = (driver, chromium) else {
            assert!(
                std::env::var("FLOTILLA_REQUIRE_BROWSER").is_err(),
                "FLOTILLA_REQUIRE_BROWSER is set but chromium or chromedriver is missing"
            );
            eprintln!(
                "skipped: no chromium/chromedriver (apt-get install chromium chromium-driver)"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = tokio::process::Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let caps = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900", "--lang=en-US"],
            }
        });
        let caps: fantoccini::wd::Capabilities = caps.as_object().unwrap().clone();
        // fantoccini's client is built with rustls; the process picks ring, as the server does.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut last = None;
        for _ in 0..100 {
            match ClientBuilder::rustls()
                .expect("rustls")
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => {
                    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                        .join("../../target/ui-screenshots");
                    std::fs::create_dir_all(&shots).unwrap();
                    return Some(Browser {
                        client,
                        _driver: child,
                        shots,
                    });
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start a session: {last:?}");
    }

    /// Saves a screenshot of the page, and checks the page's accessible basics.
    async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
        let problems = self.client.execute(A11Y_CHECK, vec![]).await.unwrap();
        assert_eq!(problems, json!([]), "accessibility of the {name} page");
    }

    async fn wait_css(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
    }

    /// Waits until the element's text satisfies `check`; returns the text.
    async fn wait_text(&self, css: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Ok(el) = self.client.find(Locator::Css(css)).await {
                if let Ok(text) = el.text().await {
                    if check(&text) {
                        return text;
                    }
                    assert!(tokio::time::Instant::now() < deadline, "{css}: {text:?}");
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{css} never appeared"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// On the agents page: selects the page, then every agent matching the search.
    async fn select_all_matching(&self, expect: &str) {
        self.click("table.agents thead input[type=checkbox]").await;
        self.click("#agents-select-all").await;
        self.wait_text("#agents-selected", |t| t == expect).await;
    }

    /// Types into the element; found again if the page redrew it meanwhile.
    async fn fill(&self, css: &str, text: &str) {
        self.retry_stale(css, |el| async move {
            el.clear().await?;
            el.send_keys(text).await
        })
        .await;
    }

    /// Clicks the element; found again if the page redrew it meanwhile (a page may redraw a
    /// table when a second request answers).
    async fn click(&self, css: &str) {
        self.retry_stale(css, |el| async move { el.click().await })
            .await;
    }

    async fn retry_stale<F, Fut>(&self, css: &str, act: F)
    where
        F: Fn(fantoccini::elements::Element) -> Fut,
        Fut: std::future::Future<Output = Result<(), fantoccini::error::CmdError>>,
    {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let el = self.wait_css(css).await;
            match act(el).await {
                Ok(()) => return,
                Err(e) if e.to_string().contains("stale element") => {
                    assert!(tokio::time::Instant::now() < deadline, "{css}: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("{css}: {e}"),
            }
        }
    }
}

/// The accessible basics of a page (Swagger UI's own markup aside): a language, one `h1`, a
/// label for every form field, a name for every button and link.
const A11Y_CHECK: &str = r#"
const bad = [];
const skip = (el) => el.closest('.swagger-ui') || el.closest('[hidden]');
const text = (el) => (el.getAttribute('aria-label') || el.title || el.textContent || el.value || '').trim();
if (!document.documentElement.lang) bad.push('the page has no lang');
const h1 = [...document.querySelectorAll('h1')].filter((el) => !skip(el)).length;
if (h1 !== 1) bad.push(`${h1} h1 elements`);
for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
  if (skip(el)) continue;
  const labelled = (el.labels && el.labels.length) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
  if (!labelled) bad.push(`${el.outerHTML.slice(0, 100)} has no label`);
}
for (const el of document.querySelectorAll('button, a[href]')) {
  if (skip(el)) continue;
  if (!text(el)) bad.push(`${el.outerHTML.slice(0, 100)} has no name`);
}
return bad;
"#;

/// The package names of an agent policy's integrations, sorted.
async fn packages_of(srv: &TestServer, policy_id: &str) -> Vec<String> {
    let (_, v) = srv
        .get(&format!(
            "/api/fleet/package_policies?kuery=ingest-package-policies.policy_ids:%22{policy_id}%22"
        ))
        .await;
    let mut names: Vec<String> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["package"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// Polls the API until `check` holds.
async fn until(srv: &TestServer, path: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_, v) = srv.get(path).await;
        if check(&v) {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "{path}: {v:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_ui_in_chromium() {
    let (nginx, system, agent) = (
        reference_package("nginx-1.5.0"),
        reference_package("system-1.20.4"),
        reference_package("elastic_agent-1.3.5"),
    );
    let Some(b) = Browser::start().await else {
        return;
    };
    let options = Options {
        packages: vec![nginx, system, agent, fixture_package("flotilla_test-1.0.0")],
        ..Default::default()
    };
    let srv = TestServer::start_with(Backend::Sqlite, options)
        .await
        .unwrap();
    let c = &b.client;

    // 25 agents: more than one page of 20.
    let seed = srv
        .create_policy(json!({"name": "seed", "namespace": "default"}))
        .await;
    let token = srv.enrollment_token(seed["id"].as_str().unwrap()).await;
    for i in 0..25 {
        srv.enroll(&token, &format!("web-{i:02}")).await;
    }
    srv.enroll(&token, "db-01").await;

    // Log in: the page asked for comes back after the login form.
    c.goto(&format!("{}/app/fleet/agents", srv.base))
        .await
        .unwrap();
    b.wait_css("#login-form").await;
    b.shot("login").await;
    b.fill("#username", "elastic").await;
    b.fill("#password", "wrong").await;
    b.click("#login-form button[type=submit]").await;
    b.wait_text("#error", |t| t.contains("incorrect")).await;
    b.fill("#password", PASSWORD).await;
    b.click("#login-form button[type=submit]").await;
    b.wait_text("#agents-range", |t| t == "Showing 1–20 of 26 agents")
        .await;
    b.shot("agents").await;
    // The keyboard: the first Tab reaches "Skip to content", which moves focus to the page.
    c.find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("\u{e004}")
        .await
        .unwrap();
    let focused = c.active_element().await.unwrap();
    assert_eq!(focused.text().await.unwrap(), "Skip to content");
    focused.send_keys("\u{e007}").await.unwrap();
    let focused = c.active_element().await.unwrap();
    assert_eq!(focused.attr("id").await.unwrap().as_deref(), Some("main"));

    // The overview: counts by status now, and the chart of them over time.
    srv.fleet()
        .sample_agent_status_at(chrono::Utc::now() + chrono::Duration::minutes(1))
        .await
        .unwrap();
    c.goto(&format!("{}/app/fleet/overview", srv.base))
        .await
        .unwrap();
    b.wait_css("#status-chart polyline[data-series='online']")
        .await;
    b.wait_text("#overview-counts", |t| t.contains("Agents 26"))
        .await;
    b.shot("overview").await;

    // Create a policy through the form, after previewing the request it sends.
    c.goto(&format!("{}/app/fleet/policies", srv.base))
        .await
        .unwrap();
    b.fill("#policy-name", "Made in the browser").await;
    b.fill("#policy-description", "from the form").await;
    b.click("#policy-preview-button").await;
    let preview = b.wait_text("#policy-preview", |t| !t.is_empty()).await;
    assert!(
        preview.starts_with("POST kbn:/api/fleet/agent_policies?sys_monitoring=true\n{"),
        "{preview}"
    );
    assert!(
        preview.contains(r#""name": "Made in the browser""#),
        "{preview}"
    );
    b.shot("policies").await;
    b.click("#create-policy button[type=submit]").await;
    b.wait_text(".alerts p", |t| t.contains("created")).await;
    let list = until(
        &srv,
        "/api/fleet/agent_policies?kuery=name:%22Made%20in%20the%20browser%22",
        |v| v["total"] == 1,
    )
    .await;
    let policy = list["items"][0].clone();
    assert_eq!(policy["description"], "from the form");
    assert_eq!(policy["monitoring_enabled"], json!(["logs", "metrics"]));

    // Add nginx to it through the form generated from the package's vars.
    c.goto(&format!(
        "{}/app/integrations/detail/nginx-1.5.0/overview",
        srv.base
    ))
    .await
    .unwrap();
    b.wait_css("#add-integration").await;
    b.fill("#pp-name", "nginx-from-browser").await;
    let select = b.wait_css("#pp-policy").await;
    select
        .select_by_value(policy["id"].as_str().unwrap())
        .await
        .unwrap();
    b.click("#pp-preview-button").await;
    let preview = b.wait_text("#pp-preview", |t| !t.is_empty()).await;
    assert!(
        preview.starts_with("POST kbn:/api/fleet/package_policies\n{"),
        "{preview}"
    );
    b.shot("add-integration").await;
    b.click("#add-integration button[type=submit]").await;
    b.wait_text("#pp-created", |t| t.contains("nginx-from-browser"))
        .await;
    let (_, pps) = srv
        .get("/api/fleet/package_policies?kuery=ingest-package-policies.name:nginx-from-browser")
        .await;
    assert_eq!(pps["total"], 1, "{pps:#}");
    assert_eq!(pps["items"][0]["package"]["name"], "nginx");
    assert_eq!(pps["items"][0]["policy_ids"], json!([policy["id"]]));

    // Every var type of the project's test package gets a field.
    c.goto(&format!(
        "{}/app/integrations/detail/flotilla_test-1.0.0/overview",
        srv.base
    ))
    .await
    .unwrap();
    b.wait_css("#add-integration").await;
    b.shot("add-integration-every-var-type").await;

    // The console runs a request in Kibana Console syntax and shows the JSON answer.
    c.goto(&format!("{}/app/dev_tools#/console", srv.base))
        .await
        .unwrap();
    b.fill("#console-input", "GET kbn:/api/fleet/agent_policies")
        .await;
    b.click("#console-run").await;
    b.wait_text("#console-status", |t| t.starts_with("200"))
        .await;
    let out = b
        .wait_text("#console-output", |t| t.contains("\"items\""))
        .await;
    let answer: Value = serde_json::from_str(&out).expect("pretty JSON");
    assert!(answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "Made in the browser"));
    b.shot("console").await;

    // The API docs: Swagger UI over the document the server serves.
    c.goto(&format!("{}/app/api_docs", srv.base)).await.unwrap();
    b.wait_text(".swagger-ui .info .title", |t| {
        t.contains("Flotilla Fleet API")
    })
    .await;
    b.wait_css(".swagger-ui .opblock-summary-path[data-path='/api/fleet/agent_policies']")
        .await;
    b.shot("api-docs").await;

    // The policy's page: its integrations, the YAML, edit (with the request previewed), copy.
    let policy_id = policy["id"].as_str().unwrap().to_string();
    c.goto(&format!("{}/app/fleet/policies/{policy_id}", srv.base))
        .await
        .unwrap();
    b.wait_text("#policy-integrations", |t| t.contains("nginx-from-browser"))
        .await;
    b.wait_text("#policy-yaml", |t| t.contains("nginx")).await;
    b.fill("#edit-policy-name", "Renamed in the browser").await;
    b.click("#edit-policy-preview-button").await;
    let preview = b.wait_text("#edit-policy-preview", |t| !t.is_empty()).await;
    assert!(
        preview.starts_with(&format!(
            "PUT kbn:/api/fleet/agent_policies/{policy_id}\n{{"
        )),
        "{preview}"
    );
    b.shot("policy").await;
    b.click("#edit-policy button[type=submit]").await;
    b.wait_text("#policy-saved", |t| t.contains("Renamed in the browser"))
        .await;
    let (_, saved) = srv
        .get(&format!("/api/fleet/agent_policies/{policy_id}"))
        .await;
    assert_eq!(saved["item"]["name"], "Renamed in the browser");
    assert_eq!(saved["item"]["description"], "from the form");
    b.fill("#copy-name", "Copied in the browser").await;
    b.click("#copy-policy button[type=submit]").await;
    b.wait_text("h1", |t| t == "Copied in the browser").await;
    let copies = until(
        &srv,
        "/api/fleet/agent_policies?kuery=name:%22Copied%20in%20the%20browser%22",
        |v| v["total"] == 1,
    )
    .await;
    let copy_id = copies["items"][0]["id"].as_str().unwrap().to_string();
    b.wait_text("#policy-integrations", |t| t.contains("nginx"))
        .await;
    let copied = packages_of(&srv, &copy_id).await;
    assert_eq!(copied, packages_of(&srv, &policy_id).await);
    assert!(copied.contains(&"nginx".to_string()), "{copied:?}");

    // Every agent matching a KQL query, beyond the first page, gets a tag.
    c.goto(&format!("{}/app/fleet/agents", srv.base))
        .await
        .unwrap();
    b.fill("#agents-search", "local_metadata.host.hostname:web*")
        .await;
    b.click("form.search button[type=submit]").await;
    b.wait_text("#agents-range", |t| t == "Showing 1–20 of 25 agents")
        .await;
    b.select_all_matching("25 agents selected").await;
    b.shot("agents-selected").await;
    let add_tags = c
        .find(Locator::XPath(
            "//div[@class='bulk']//button[text()='Add tags']",
        ))
        .await
        .unwrap();
    add_tags.click().await.unwrap();
    c.send_alert_text("from-browser").await.unwrap();
    c.accept_alert().await.unwrap();
    until(
        &srv,
        "/api/fleet/agents?kuery=tags:from-browser&perPage=100",
        |v| v["total"] == 25,
    )
    .await;
    let (_, db) = srv
        .get("/api/fleet/agents?kuery=tags:from-browser%20and%20local_metadata.host.hostname:db*")
        .await;
    assert_eq!(db["total"], 0, "only the matching agents are tagged");

    // The same selection, moved to the copied policy through the policy chooser.
    c.goto(&format!(
        "{}/app/fleet/agents?kuery=local_metadata.host.hostname:web*",
        srv.base
    ))
    .await
    .unwrap();
    b.wait_text("#agents-range", |t| t == "Showing 1–20 of 25 agents")
        .await;
    b.select_all_matching("25 agents selected").await;
    c.find(Locator::XPath(
        "//div[@class='bulk']//button[text()='Assign to policy']",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    b.wait_css("#choose-value")
        .await
        .select_by_value(&copy_id)
        .await
        .unwrap();
    b.shot("agents-assign-policy").await;
    b.click("#choose-ok").await;
    until(
        &srv,
        &format!("/api/fleet/agents?kuery=policy_id:%22{copy_id}%22&perPage=100"),
        |v| v["total"] == 25,
    )
    .await;

    // The next page is reachable (searchAfter), and a narrow screen still shows the list.
    b.click("nav.pager button:last-child").await;
    b.wait_text("#agents-range", |t| t == "Showing 21–25 of 25 agents")
        .await;
    c.set_window_size(420, 900).await.unwrap();
    b.shot("agents-narrow").await;

    // In a Kibana space (`/s/{space}/app/...`) the pages show that space's objects, and their
    // links and requests stay in it.
    c.set_window_size(1280, 900).await.unwrap();
    let (status, team) = srv
        .post(
            "/s/team-a/api/fleet/agent_policies",
            json!({"name": "Team A policy", "namespace": "default"}),
        )
        .await;
    assert_eq!(status, 200, "{team}");
    c.goto(&format!("{}/s/team-a/app/fleet/policies", srv.base))
        .await
        .unwrap();
    let names = b
        .wait_text("table.policies tbody", |t| t.contains("Team A policy"))
        .await;
    assert!(!names.contains("Made in the browser"), "{names}");
    let link = b.wait_css("table.policies tbody a").await;
    assert_eq!(
        link.attr("href").await.unwrap().as_deref(),
        Some(
            format!(
                "/s/team-a/app/fleet/policies/{}",
                team["item"]["id"].as_str().unwrap()
            )
            .as_str()
        )
    );
    let nav = b.wait_css("header nav a[aria-current=page]").await;
    assert_eq!(
        nav.attr("href").await.unwrap().as_deref(),
        Some("/s/team-a/app/fleet/policies")
    );
    b.shot("policies-in-space").await;

    // Log out: the pages ask for the login again.
    c.goto(&format!("{}/api/security/logout", srv.base))
        .await
        .unwrap();
    b.wait_css("#login-form").await;
    b.wait_text("#message", |t| t.contains("logged out")).await;
    c.goto(&format!("{}/app/fleet/agents", srv.base))
        .await
        .unwrap();
    b.wait_css("#login-form").await;
    b.client.clone().close().await.unwrap();
    srv.stop().await;
}

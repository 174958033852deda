//! `cargo bench -p flotilla --bench auth_flood`: an unauthenticated flood of wrong passwords
//! against a real `flotilla serve` process (SQLite), and what it does to everyone else. The
//! floor is the same server and the same legitimate clients before the flood.
//!
//! Printed: the server's RSS before, at the peak of and after the flood; legitimate API-key
//! requests and `GET /api/status` during the flood (p50/p99) beside the same before it; what the
//! flood was answered (401, or 429 when the password checks were full); and the time to refuse
//! an unknown user beside a known user with a wrong password (they should not differ).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use indicatif::{ProgressBar, ProgressStyle};

const FLOOD_CLIENTS: usize = 200;
/// How long the flood lasts (`FLOOD_SECONDS` changes it).
fn flood_for() -> Duration {
    Duration::from_secs(
        std::env::var("FLOOD_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(15),
    )
}
const MEASURE_FOR: Duration = Duration::from_secs(5);
const LEGIT_CLIENTS: usize = 4;
const PASSWORD: &str = "bench-password";

struct ServerProcess {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server() -> ServerProcess {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--agent-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--registry-url", "none"])
        .env("FLOTILLA_ELASTIC_PASSWORD", PASSWORD)
        .env("FLOTILLA_LOG", "warn,flotilla=info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("flotilla serve starts");
    let stderr = child.stderr.take().expect("stderr piped");
    let mut lines = BufReader::new(stderr).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("the server logs its address")
            .expect("stderr is text");
        if let Some(at) = line.find("api=") {
            let addr = line[at + 4..].split_whitespace().next().unwrap_or_default();
            break format!("http://{addr}");
        }
    };
    // Keep draining the logs so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    ServerProcess {
        child,
        base,
        _dir: dir,
    }
}

/// The resident set of a process, in MiB (Linux).
fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn pct(latencies: &mut [Duration], p: f64) -> f64 {
    if latencies.is_empty() {
        return f64::NAN;
    }
    latencies.sort();
    let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
    latencies[i].as_secs_f64() * 1000.0
}

/// `LEGIT_CLIENTS` clients sending `path` with `auth` back to back for `MEASURE_FOR`;
/// (latencies, failures).
async fn legit(
    http: &reqwest::Client,
    url: String,
    auth: Option<String>,
) -> (Vec<Duration>, usize) {
    let failures = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + MEASURE_FOR;
    let clients = (0..LEGIT_CLIENTS).map(|_| {
        let (http, url, auth, failures) =
            (http.clone(), url.clone(), auth.clone(), failures.clone());
        async move {
            let mut out = Vec::new();
            while Instant::now() < deadline {
                let mut req = http.get(&url);
                if let Some(a) = &auth {
                    req = req.header("authorization", a);
                }
                let t = Instant::now();
                match req.send().await {
                    Ok(res) if res.status().is_success() => {
                        let _ = res.bytes().await;
                        out.push(t.elapsed());
                    }
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            out
        }
    });
    let latencies = futures::future::join_all(clients)
        .await
        .into_iter()
        .flatten()
        .collect();
    (latencies, failures.load(Ordering::Relaxed))
}

/// Median time to be refused, over `n` sequential attempts as `user`.
async fn refusal_ms(http: &reqwest::Client, base: &str, user: &str, n: usize) -> f64 {
    let mut latencies = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let res = http
            .get(format!("{base}/api/fleet/agent_policies"))
            .header("authorization", basic(user, "not the password"))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 401);
        latencies.push(t.elapsed());
    }
    pct(&mut latencies, 0.5)
}

#[tokio::main]
async fn main() {
    let server = start_server();
    let base = server.base.clone();
    let pid = server.child.id();
    let http = reqwest::Client::new();
    let key: serde_json::Value = http
        .post(format!("{base}/_security/api_key"))
        .header("authorization", basic("elastic", PASSWORD))
        .header("kbn-xsrf", "bench")
        .json(&serde_json::json!({"name": "bench"}))
        .send()
        .await
        .expect("create key")
        .json()
        .await
        .expect("key JSON");
    let key_auth = format!("ApiKey {}", key["encoded"].as_str().expect("encoded key"));
    let api_url = format!("{base}/api/fleet/agent_policies");
    let status_url = format!("{base}/api/status");

    // The floor: the same clients with no flood.
    let rss_before = rss_mib(pid);
    let (mut key_floor, _) = legit(&http, api_url.clone(), Some(key_auth.clone())).await;
    let (mut status_floor, _) = legit(&http, status_url.clone(), None).await;
    let unknown_floor = refusal_ms(&http, &base, "nobody", 30).await;
    let known_floor = refusal_ms(&http, &base, "elastic", 30).await;
    // The same traffic without a flood also grows the heap; the flood is judged against this.
    let rss_after_floor = rss_mib(pid);

    // The flood, with the legitimate clients measured during it.
    let stop = Arc::new(AtomicBool::new(false));
    let (unauthorized, shed, errors) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let flood_http = reqwest::Client::new();
    let flooders: Vec<_> = (0..FLOOD_CLIENTS)
        .map(|_| {
            let (http, url, stop) = (flood_http.clone(), api_url.clone(), stop.clone());
            let (unauthorized, shed, errors) = (unauthorized.clone(), shed.clone(), errors.clone());
            tokio::spawn(async move {
                let auth = basic("elastic", "wrong password");
                while !stop.load(Ordering::Relaxed) {
                    match http.get(&url).header("authorization", &auth).send().await {
                        Ok(res) if res.status() == 401 => {
                            unauthorized.fetch_add(1, Ordering::Relaxed)
                        }
                        Ok(res) if res.status() == 429 => shed.fetch_add(1, Ordering::Relaxed),
                        _ => errors.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    let peak = Arc::new(std::sync::Mutex::new(rss_after_floor));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let now = rss_mib(pid);
                {
                    let mut p = peak.lock().expect("peak lock");
                    if now > *p {
                        *p = now;
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let bar = ProgressBar::new(flood_for().as_secs());
    bar.set_style(ProgressStyle::with_template("flood {bar:30} {pos}/{len} s").expect("template"));
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    bar.set_position(2);
    let ((mut key_flood, key_failed), (mut status_flood, status_failed)) = tokio::join!(
        legit(&http, api_url.clone(), Some(key_auth.clone())),
        legit(&http, status_url.clone(), None),
    );
    bar.set_position(started.elapsed().as_secs());
    while started.elapsed() < flood_for() {
        tokio::time::sleep(Duration::from_millis(250)).await;
        bar.set_position(started.elapsed().as_secs().min(flood_for().as_secs()));
    }
    stop.store(true, Ordering::Relaxed);
    for f in flooders {
        let _ = f.await;
    }
    let _ = sampler.await;
    bar.finish_and_clear();
    let flood_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss_after = rss_mib(pid);
    let rss_peak = *peak.lock().expect("peak lock");

    let (u, s, e) = (
        unauthorized.load(Ordering::Relaxed),
        shed.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
    );
    println!(
        "\nflood: {FLOOD_CLIENTS} clients sending a wrong password for `elastic` for {flood_secs:.0} s; \
         {LEGIT_CLIENTS} legitimate clients of each kind; one SQLite server process; client and server share the cores\n"
    );
    println!(
        "| {:<52} | {:>14} | {:>14} |",
        "figure", "during flood", "floor (before)"
    );
    println!("|{:-<54}|{:->16}|{:->16}|", "", "", "");
    let row = |label: &str, during: String, floor: String| {
        println!("| {label:<52} | {during:>14} | {floor:>14} |")
    };
    row(
        "server RSS at start, MiB",
        "-".into(),
        format!("{rss_before:.0}"),
    );
    row(
        "server RSS, MiB (peak during; after floor traffic)",
        format!("{rss_peak:.0}"),
        format!("{rss_after_floor:.0}"),
    );
    row(
        "server RSS 5 s after the flood, MiB",
        format!("{rss_after:.0}"),
        format!("{rss_after_floor:.0}"),
    );
    row(
        "API-key GET agent_policies p50 ms",
        format!("{:.1}", pct(&mut key_flood, 0.5)),
        format!("{:.1}", pct(&mut key_floor, 0.5)),
    );
    row(
        "API-key GET agent_policies p99 ms",
        format!("{:.1}", pct(&mut key_flood, 0.99)),
        format!("{:.1}", pct(&mut key_floor, 0.99)),
    );
    row(
        "API-key requests served in 5 s (failed)",
        format!("{} ({key_failed})", key_flood.len()),
        format!("{}", key_floor.len()),
    );
    row(
        "GET /api/status p99 ms",
        format!("{:.1}", pct(&mut status_flood, 0.99)),
        format!("{:.1}", pct(&mut status_floor, 0.99)),
    );
    row(
        "GET /api/status served in 5 s (failed)",
        format!("{} ({status_failed})", status_flood.len()),
        format!("{}", status_floor.len()),
    );
    row(
        "flood answers: 401 / 429 / other",
        format!("{u} / {s} / {e}"),
        "-".into(),
    );
    println!(
        "\nrefused before the flood, median of 30: unknown user {unknown_floor:.1} ms, known user with a wrong password {known_floor:.1} ms"
    );
}

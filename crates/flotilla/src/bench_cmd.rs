//! `flotilla bench`: the performance harness. It starts what it needs as child processes of this
//! same binary — `flotilla serve` nodes, `flotilla simulate --json` fleets (one process holds at
//! most ~19,000 connections here), and `flotilla bench-floor`, a bare axum server parking the
//! same long-polls — drives them, and prints one table where every figure stands beside a floor
//! measured in the same run.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Agents held by one node, measured in turn (the largest also takes a policy change)
    #[arg(long, value_delimiter = ',', default_value = "5000,10000,19000")]
    node_agents: Vec<usize>,
    /// Agents in the multi-node run on PostgreSQL
    #[arg(long, default_value_t = 100_000)]
    total_agents: usize,
    /// Nodes in the multi-node run (each holds total/nodes agents; at most ~19,000 each)
    #[arg(long, default_value_t = 6)]
    nodes: usize,
    /// How long the fleets are held connected and watched for errors
    #[arg(long, default_value = "5m", value_parser = duration)]
    hold: Duration,
    /// PostgreSQL server for the multi-node run; a database is created and dropped there
    #[arg(
        long,
        env = "FLOTILLA_BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    database_url: String,
    /// Small sizes and short holds: checks the harness in a few minutes
    #[arg(long)]
    quick: bool,
    /// Skip the single-node part
    #[arg(long)]
    skip_single: bool,
    /// Skip the multi-node part
    #[arg(long)]
    skip_multi: bool,
    /// How long the multi-node bulk upgrade is followed before its progress is reported
    #[arg(long, default_value = "10m", value_parser = duration)]
    upgrade_wait: Duration,
}

fn duration(s: &str) -> Result<Duration, String> {
    fleet::agents::protocol::parse_go_duration(s).ok_or_else(|| format!("{s:?} is not a duration"))
}

const PASSWORD: &str = "flotilla-bench";
/// One simulator process holds at most this many agents (the open-files limit is 20,000).
const PER_SIMULATOR: usize = 19_000;

/// A child process, killed when dropped.
struct Proc {
    child: Child,
    pid: u32,
}

impl Proc {
    fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|n| n.parse().ok())
            })
            .unwrap_or(0)
    }

    /// CPU seconds used so far (user + system).
    fn cpu_s(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, r)| r.split_whitespace().collect())
            .unwrap_or_default();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // Fields 14 and 15 of stat; here indexed after the command name (field 3 is index 0).
        (ticks(11) + ticks(12)) / 100.0
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn exe() -> Result<PathBuf> {
    std::env::current_exe().context("locating the flotilla binary")
}

/// Reads a child's stderr until it prints `listening NAME=ADDR` for each name; the rest of
/// its output goes to `log`.
async fn wait_listening(child: &mut Child, names: &[&str], log: &Path) -> Result<Vec<String>> {
    let stderr = child.stderr.take().ok_or_else(|| anyhow!("no stderr"))?;
    let mut lines = BufReader::new(stderr).lines();
    let mut found = vec![String::new(); names.len()];
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while found.iter().any(String::is_empty) {
        let line = tokio::time::timeout_at(deadline.into(), lines.next_line())
            .await
            .context("waiting for the server to listen")??
            .ok_or_else(|| anyhow!("the server exited; see {}", log.display()))?;
        use std::io::Write;
        writeln!(file, "{line}")?;
        for (i, name) in names.iter().enumerate() {
            if let Some(rest) = line.split(&format!("listening {name}=")).nth(1) {
                found[i] = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .trim_matches('"')
                    .to_string();
            }
        }
    }
    tokio::spawn(async move {
        use std::io::Write;
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = writeln!(file, "{line}");
        }
    });
    Ok(found)
}

struct Node {
    proc: Proc,
    api: String,
    agents: String,
}

async fn start_node(data_dir: &Path, database_url: &str, log: &Path) -> Result<Node> {
    let mut child = Command::new(exe()?)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--agent-listen",
            "127.0.0.1:0",
            "--registry-url",
            "none",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--database-url", database_url])
        .env("FLOTILLA_ELASTIC_PASSWORD", PASSWORD)
        .env("FLOTILLA_LOG", "warn,flotilla=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().unwrap_or_default();
    let addrs = wait_listening(&mut child, &["api", "agents"], log).await?;
    Ok(Node {
        proc: Proc { child, pid },
        api: format!("http://{}", addrs[0]),
        agents: format!("http://{}", addrs[1]),
    })
}

async fn start_floor(log: &Path) -> Result<Node> {
    let mut child = Command::new(exe()?)
        .args(["bench-floor", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().unwrap_or_default();
    let addrs = wait_listening(&mut child, &["agents"], log).await?;
    Ok(Node {
        proc: Proc { child, pid },
        api: format!("http://{}", addrs[0]),
        agents: format!("http://{}", addrs[0]),
    })
}

/// What a simulator process last said.
#[derive(Default)]
struct SimState {
    status: Value,
    policy_received: Vec<(i64, f64)>,
    exited: bool,
}

struct Fleet {
    sims: Vec<(Proc, Arc<Mutex<SimState>>)>,
}

impl Fleet {
    fn new() -> Fleet {
        Fleet { sims: Vec::new() }
    }

    /// Starts simulator processes for `agents` more agents spread over `urls`.
    async fn add(
        &mut self,
        urls: &[String],
        token: &str,
        agents: usize,
        first: usize,
        rate: f64,
        extra: &[&str],
    ) -> Result<()> {
        let mut left = agents;
        let mut index = first;
        while left > 0 {
            let n = left.min(PER_SIMULATOR);
            let mut child = Command::new(exe()?)
                .args(["simulate", "--json", "--url", &urls.join(",")])
                .args(["--enrollment-token", token, "--agents", &n.to_string()])
                .args([
                    "--first-index",
                    &index.to_string(),
                    "--enroll-rate",
                    &rate.to_string(),
                ])
                .args(["--name-prefix", "bench", "--jitter", "2s"])
                .args(extra)
                .env("FLOTILLA_LOG", "error")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()?;
            let pid = child.id().unwrap_or_default();
            let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
            let state = Arc::new(Mutex::new(SimState::default()));
            let s = state.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let Ok(v) = serde_json::from_str::<Value>(&line) else {
                        continue;
                    };
                    let mut st = s.lock().expect("sim state");
                    if let Some(r) = v["policy_received"].as_array() {
                        st.policy_received.extend(
                            r.iter()
                                .filter_map(|p| Some((p[0].as_i64()?, p[1].as_f64()?))),
                        );
                    }
                    st.status = v;
                }
                s.lock().expect("sim state").exited = true;
            });
            self.sims.push((Proc { child, pid }, state));
            left -= n;
            index += n;
        }
        Ok(())
    }

    /// Starts simulators for `total` agents, an equal share on each server, all at once (each
    /// enrolls as fast as its server answers).
    async fn spread(
        &mut self,
        urls: &[String],
        token: &str,
        total: usize,
        extra: &[&str],
    ) -> Result<()> {
        let per = total.div_ceil(urls.len().max(1));
        for (i, url) in urls.iter().enumerate() {
            let n = per.min(total - (per * i).min(total));
            self.add(std::slice::from_ref(url), token, n, per * i, 0.0, extra)
                .await?;
        }
        Ok(())
    }

    /// Waits until `total` agents enrolled, received their policy and are held; returns the
    /// enrollment rate (the simulators start together: the last enrollment of any ends it).
    async fn settle(&self, total: usize, bar: &ProgressBar) -> Result<f64> {
        let timeout = Duration::from_secs(1800);
        self.wait("enrolled", total as i64, timeout, bar).await?;
        let enroll_s = self.max_f64("last_enrolled_s").max(0.001);
        self.wait("policy_changes", total as i64, timeout, bar)
            .await?;
        // Every agent polling: held, or told (429) or choosing (jitter) to come back shortly.
        self.wait("polling", total as i64, timeout, bar).await?;
        Ok(total as f64 / enroll_s)
    }

    /// Agents still polling: a check-in in flight, or waiting out the jitter before the next one
    /// (a poll that ran out is followed by up to `--jitter` of quiet, as real agents do). The
    /// simulators report every 250 ms, so a shortfall is looked at again for a few seconds
    /// before it counts. Returns the best count seen.
    async fn alive(&self, want: usize) -> i64 {
        let mut best = 0;
        for _ in 0..20 {
            best = best.max(self.sum("polling"));
            if best >= want as i64 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        best
    }

    fn sum(&self, key: &str) -> i64 {
        if key == "polling" {
            return self.sum("connected") + self.sum("between_polls");
        }
        self.sims
            .iter()
            .map(|(_, s)| {
                s.lock().expect("sim state").status[key]
                    .as_i64()
                    .unwrap_or(0)
            })
            .sum()
    }

    fn max_f64(&self, key: &str) -> f64 {
        self.sims
            .iter()
            .map(|(_, s)| {
                s.lock().expect("sim state").status[key]
                    .as_f64()
                    .unwrap_or(0.0)
            })
            .fold(0.0, f64::max)
    }

    /// The distinct last errors the simulators reported (each keeps its last few).
    fn last_errors(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (_, st) in &self.sims {
            let st = st.lock().expect("sim state");
            for e in st.status["last_errors"].as_array().into_iter().flatten() {
                if let Some(e) = e.as_str() {
                    if !out.iter().any(|o| o == e) {
                        out.push(e.to_string());
                    }
                }
            }
        }
        out
    }

    fn exited(&self) -> bool {
        self.sims
            .iter()
            .any(|(_, s)| s.lock().expect("sim state").exited)
    }

    fn take_received(&self, revision: i64) -> Vec<f64> {
        let mut out = Vec::new();
        for (_, s) in &self.sims {
            let mut st = s.lock().expect("sim state");
            st.policy_received.retain(|(rev, ms)| {
                if *rev == revision {
                    out.push(*ms);
                    false
                } else {
                    true
                }
            });
        }
        out
    }

    /// Waits until `agents` agents received policy `revision`; returns the milliseconds each
    /// took from the policy's update.
    async fn fan_out(
        &self,
        revision: i64,
        agents: usize,
        timeout: Duration,
        bar: &ProgressBar,
    ) -> Result<Vec<f64>> {
        let started = Instant::now();
        loop {
            let got: usize = self
                .sims
                .iter()
                .map(|(_, s)| {
                    s.lock()
                        .expect("sim")
                        .policy_received
                        .iter()
                        .filter(|(r, _)| *r == revision)
                        .count()
                })
                .sum();
            bar.set_message(format!("policy change reached {got}/{agents}"));
            if got >= agents {
                return Ok(self.take_received(revision));
            }
            if started.elapsed() > timeout {
                bail!("the policy change reached {got} of {agents} agents in {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn clear_received(&self) {
        for (_, s) in &self.sims {
            s.lock().expect("sim state").policy_received.clear();
        }
    }

    /// Waits until `key` sums to at least `target`; fails on a simulator exit or the timeout.
    async fn wait(
        &self,
        key: &str,
        target: i64,
        timeout: Duration,
        bar: &ProgressBar,
    ) -> Result<Duration> {
        let started = Instant::now();
        loop {
            let n = self.sum(key);
            bar.set_message(format!(
                "{key} {n}/{target} · errors {}",
                self.sum("errors")
            ));
            if n >= target {
                return Ok(started.elapsed());
            }
            if self.exited() {
                bail!("a simulator exited while waiting for {key}");
            }
            if started.elapsed() > timeout {
                bail!("{key} reached {n} of {target} in {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The management API of a node, as an administrator scripts it.
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(base: &str) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: base.to_string(),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .basic_auth("elastic", Some(PASSWORD))
            .header("kbn-xsrf", "bench");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await?;
        let status = res.status();
        let value: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{path}: {status} {value}");
        }
        Ok(value)
    }

    /// A policy without monitoring (no packages needed) and its enrollment token.
    async fn policy_and_token(&self, name: &str) -> Result<(String, String)> {
        let p = self
            .call(
                reqwest::Method::POST,
                "/api/fleet/agent_policies",
                Some(json!({"name": name, "namespace": "default", "monitoring_enabled": []})),
            )
            .await?;
        let id = p["item"]["id"]
            .as_str()
            .ok_or_else(|| anyhow!("no policy id"))?
            .to_string();
        let keys = self
            .call(
                reqwest::Method::GET,
                "/api/fleet/enrollment_api_keys?perPage=100",
                None,
            )
            .await?;
        let token = keys["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|k| k["policy_id"] == json!(id))
            .and_then(|k| k["api_key"].as_str())
            .ok_or_else(|| anyhow!("no enrollment key for the policy"))?
            .to_string();
        Ok((id, token))
    }

    /// The full policy as agents receive it (`GET .../full`).
    async fn full_policy(&self, id: &str) -> Result<Value> {
        let p = self
            .call(
                reqwest::Method::GET,
                &format!("/api/fleet/agent_policies/{id}/full"),
                None,
            )
            .await?;
        Ok(p["item"].clone())
    }

    async fn change_policy(&self, id: &str, name: &str, description: &str) -> Result<i64> {
        let body = json!({"name": name, "namespace": "default", "description": description});
        let p = self
            .call(
                reqwest::Method::PUT,
                &format!("/api/fleet/agent_policies/{id}"),
                Some(body),
            )
            .await?;
        p["item"]["revision"]
            .as_i64()
            .ok_or_else(|| anyhow!("no revision"))
    }
}

/// A new revision on every floor server at once, delivering `policy`; returns the revision.
async fn floor_policy_change(floors: &[String], policy: &Value) -> Result<i64> {
    let http = reqwest::Client::new();
    let sent: Vec<_> = floors
        .iter()
        .map(|api| {
            let req = http.post(format!("{api}/floor/policy_change")).json(policy);
            tokio::spawn(req.send())
        })
        .collect();
    let mut answers = Vec::new();
    for s in sent {
        answers.push(s.await?);
    }
    let mut revision = None;
    for answer in answers {
        let v: Value = answer?.json().await?;
        let r = v["revision"]
            .as_i64()
            .ok_or_else(|| anyhow!("floor: no revision"))?;
        if revision.is_some_and(|x| x != r) {
            bail!("the floor servers disagree on the revision");
        }
        revision = Some(r);
    }
    revision.ok_or_else(|| anyhow!("no floor server"))
}

/// The multi-node floor: `total` agents over `nodes_n` floor servers (one per Flotilla node),
/// enrolled the same way, then one policy change on all of them. Returns the enrollment rate and
/// each agent's fan-out time.
async fn floor_fleet(
    nodes_n: usize,
    total: usize,
    policy: &Value,
    log: &Path,
) -> Result<(f64, Vec<f64>)> {
    let mut floors = Vec::new();
    for _ in 0..nodes_n {
        floors.push(start_floor(log).await?);
    }
    let bar = spinner(&format!("floor: {nodes_n} servers"));
    let mut fleet = Fleet::new();
    let urls: Vec<String> = floors.iter().map(|f| f.agents.clone()).collect();
    fleet.spread(&urls, "floor", total, &[]).await?;
    let enroll_per_s = fleet.settle(total, &bar).await?;
    fleet.clear_received();
    let apis: Vec<String> = floors.iter().map(|f| f.api.clone()).collect();
    let revision = floor_policy_change(&apis, policy).await?;
    let fan = fleet
        .fan_out(revision, total, Duration::from_secs(900), &bar)
        .await?;
    bar.finish_and_clear();
    Ok((enroll_per_s, fan))
}

fn pct(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1]
}

/// One row of the results table.
struct Row {
    measure: String,
    flotilla: String,
    floor: String,
    ratio: String,
}

fn row(
    measure: impl Into<String>,
    flotilla: impl Into<String>,
    floor: impl Into<String>,
    ratio: impl Into<String>,
) -> Row {
    Row {
        measure: measure.into(),
        flotilla: flotilla.into(),
        floor: floor.into(),
        ratio: ratio.into(),
    }
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 && a.is_finite() && b.is_finite() {
        format!("{:.1}x", a / b)
    } else {
        "—".into()
    }
}

fn spinner(what: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {prefix} {msg}")
            .expect("template"),
    );
    bar.set_prefix(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Figures of one server process holding a growing fleet.
struct Held {
    enroll_per_s: f64,
    per_agent_kib: Vec<(usize, f64, f64)>,
    fanout: Vec<f64>,
    /// After the hold: agents still polling, and errors.
    alive: i64,
    errors: i64,
    last_errors: Vec<String>,
}

/// Grows a fleet on one server (Flotilla or the floor) through `sizes`, measuring memory and idle
/// CPU at each size, then a policy change to all of them; holds the largest for `hold`.
async fn hold_fleet(
    node: &Node,
    token: &str,
    sizes: &[usize],
    hold: Duration,
    idle_window: Duration,
    change: impl AsyncFn() -> Result<i64>,
    what: &str,
) -> Result<Held> {
    let bar = spinner(what);
    let base_rss = node.proc.rss_kib();
    let mut fleet = Fleet::new();
    let mut have = 0usize;
    let mut out = Held {
        enroll_per_s: 0.0,
        per_agent_kib: Vec::new(),
        fanout: Vec::new(),
        alive: 0,
        errors: 0,
        last_errors: Vec::new(),
    };
    for &size in sizes {
        let add = size.saturating_sub(have);
        fleet
            .add(
                std::slice::from_ref(&node.agents),
                token,
                add,
                have,
                0.0,
                &[],
            )
            .await?;
        bar.set_prefix(format!("{what}: {size} agents"));
        fleet
            .wait("enrolled", size as i64, Duration::from_secs(900), &bar)
            .await?;
        if have == 0 {
            // As the simulators timed it: from their start to their last enrollment.
            out.enroll_per_s = add as f64 / fleet.max_f64("last_enrolled_s").max(0.001);
        }
        fleet
            .wait(
                "policy_changes",
                size as i64,
                Duration::from_secs(900),
                &bar,
            )
            .await?;
        fleet
            .wait("polling", size as i64, Duration::from_secs(900), &bar)
            .await?;
        have = size;
        // Let the enrollment burst settle, then measure a quiet window.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let cpu0 = node.proc.cpu_s();
        tokio::time::sleep(idle_window).await;
        let cpu = (node.proc.cpu_s() - cpu0) / idle_window.as_secs_f64() * 100.0;
        let rss = node.proc.rss_kib().saturating_sub(base_rss) as f64 / size as f64;
        out.per_agent_kib.push((size, rss, cpu));
    }
    fleet.clear_received();
    let revision = change().await?;
    out.fanout = fleet
        .fan_out(revision, have, Duration::from_secs(600), &bar)
        .await
        .with_context(|| what.to_string())?;
    let errors = fleet.sum("errors");
    bar.set_prefix(format!("{what}: holding {have} agents"));
    let until = Instant::now() + hold;
    while Instant::now() < until {
        bar.set_message(format!(
            "connected {} · errors {}",
            fleet.sum("connected"),
            fleet.sum("errors")
        ));
        if fleet.exited() {
            bail!("{what}: a simulator exited during the hold");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    out.alive = fleet.alive(have).await;
    out.errors = fleet.sum("errors");
    out.last_errors = fleet.last_errors();
    bar.finish_and_clear();
    if out.errors > errors {
        tracing::warn!(
            what,
            before = errors,
            after = out.errors,
            "errors during the hold"
        );
    }
    Ok(out)
}

pub async fn run(mut args: BenchArgs) -> Result<()> {
    crate_limit();
    if args.quick {
        args.node_agents = vec![500, 1000, 1900];
        args.total_agents = 3000;
        args.nodes = 3;
        args.hold = Duration::from_secs(10);
    }
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("bench.log");
    let idle_window = if args.quick {
        Duration::from_secs(5)
    } else {
        Duration::from_secs(30)
    };
    let mut rows: Vec<Row> = Vec::new();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let measured = measure(&args, dir.path(), &log, idle_window, &mut rows).await;
    print_table(&rows, cores);
    if measured.is_err() {
        // The nodes' logs say what the simulators' errors were: keep them.
        let kept = dir.keep();
        eprintln!(
            "the nodes' logs are kept in {}",
            kept.join("bench.log").display()
        );
    }
    measured
}

async fn measure(
    args: &BenchArgs,
    dir: &Path,
    log: &Path,
    idle_window: Duration,
    rows: &mut Vec<Row>,
) -> Result<()> {
    if !args.skip_single {
        let sizes = args.node_agents.clone();
        let largest = *sizes.iter().max().unwrap_or(&0);
        // Flotilla, one node, SQLite.
        let data = dir.join("single");
        let node = start_node(
            &data,
            &format!("sqlite://{}", data.join("flotilla.db").display()),
            log,
        )
        .await?;
        let api = Api::new(&node.api);
        let (policy, token) = api.policy_and_token("bench-single").await?;
        let f = hold_fleet(
            &node,
            &token,
            &sizes,
            args.hold,
            idle_window,
            async || api.change_policy(&policy, "bench-single", "changed").await,
            "one node",
        )
        .await?;
        let full = api.full_policy(&policy).await?;
        drop(node);
        // The floor: the same fleets parked on a bare axum server, given the same policy.
        let floor = start_floor(log).await?;
        let floor_api = [floor.api.clone()];
        let g = hold_fleet(
            &floor,
            "floor",
            &sizes,
            Duration::ZERO,
            idle_window,
            async || floor_policy_change(&floor_api, &full).await,
            "floor",
        )
        .await?;
        drop(floor);
        rows.push(row(
            format!("enroll, agents/s ({} agents at once, SQLite)", sizes[0]),
            format!("{:.0}", f.enroll_per_s),
            format!("{:.0}", g.enroll_per_s),
            ratio(g.enroll_per_s, f.enroll_per_s),
        ));
        for ((n, kib, cpu), (_, fkib, fcpu)) in f.per_agent_kib.iter().zip(&g.per_agent_kib) {
            rows.push(row(
                format!("RSS per held agent, KiB ({n} agents)"),
                format!("{kib:.1}"),
                format!("{fkib:.1}"),
                ratio(*kib, *fkib),
            ));
            rows.push(row(
                format!("CPU while idle, % of one core ({n} agents)"),
                format!("{cpu:.1}"),
                format!("{fcpu:.1}"),
                ratio(*cpu, *fcpu),
            ));
        }
        let (mut a, mut b) = (f.fanout, g.fanout);
        for (name, q) in [("p50", 0.5), ("p99", 0.99), ("max", 1.0)] {
            let (x, y) = (pct(&mut a, q), pct(&mut b, q));
            rows.push(row(
                format!("policy change to {largest} agents, {name} ms"),
                format!("{x:.0}"),
                format!("{y:.0}"),
                ratio(x, y),
            ));
        }
        rows.push(row(
            format!(
                "{largest} agents held {:?}: still polling / errors",
                args.hold
            ),
            format!("{} / {}", f.alive, f.errors),
            format!("{} / {}", g.alive, g.errors),
            "",
        ));
        if f.alive < largest as i64 || f.errors > 0 {
            eprintln!("one node: last errors: {:#?}", f.last_errors);
            return Err(anyhow!(
                "one node: after holding {largest} agents for {:?}: {} still polling, {} errors",
                args.hold,
                f.alive,
                f.errors
            ));
        }
    }

    if !args.skip_multi {
        multi_node(args, dir, log, rows).await?;
    }
    Ok(())
}

/// The table of what was measured (all of it, or what was measured before a failure).
fn print_table(rows: &[Row], cores: usize) {
    println!("\nflotilla bench — {} cores, {}; ratios are Flotilla / floor (lower is better, except rates)\n", cores, machine());
    println!("| measure | Flotilla | floor | ratio |");
    println!("|---|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} |",
            r.measure, r.flotilla, r.floor, r.ratio
        );
    }
}

fn crate_limit() {
    let limit = flotilla::raise_open_files_limit();
    tracing::info!(open_files = limit, "open files limit");
}

fn machine() -> String {
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map(|k| format!("{} GiB RAM", k / 1024 / 1024))
        .unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or_default().trim().to_string())
        })
        .unwrap_or_default();
    format!("{cpu}, {mem}")
}

/// Several nodes sharing one PostgreSQL database, each with its own simulators.
async fn multi_node(args: &BenchArgs, dir: &Path, log: &Path, rows: &mut Vec<Row>) -> Result<()> {
    let db = format!("flotilla_bench_{}", std::process::id());
    let admin = sqlx::PgPool::connect(&args.database_url)
        .await
        .context("connecting to PostgreSQL")?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {db}"))
        .execute(&admin)
        .await?;
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&admin)
        .await?;
    // Each node's pool (plus its two LISTEN connections), the floor's and the bench's own must
    // fit in PostgreSQL's max_connections (100 by default).
    let pool_size = (85 / args.nodes.max(1)).saturating_sub(2).clamp(2, 16);
    let url = replace_database(&args.database_url, &db);
    let node_url = if url.contains('?') {
        format!("{url}&pool_size={pool_size}")
    } else {
        format!("{url}?pool_size={pool_size}")
    };
    let result = multi_node_on(args, dir, log, rows, &url, &node_url).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .execute(&admin)
        .await?;
    result
}

/// The agent list's first page (newest first, inactive agents left out) as the floor runs it.
fn first_page_sql(limit: usize) -> String {
    format!(
        "SELECT id, version, doc, {} AS status FROM agent WHERE NOT COALESCE(({}), FALSE) ORDER BY enrolled_at DESC NULLS LAST, id DESC LIMIT {limit}",
        fleet::store::AGENT_STATUS_POSTGRES,
        fleet::store::AGENT_INACTIVE_POSTGRES
    )
}

fn replace_database(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = match base.rsplit_once('/') {
        Some((host, _)) if host.contains("://") && !host.ends_with('/') => format!("{host}/{db}"),
        _ => format!("{base}/{db}"),
    };
    match query {
        Some(q) => format!("{base}?{q}"),
        None => base,
    }
}

async fn multi_node_on(
    args: &BenchArgs,
    dir: &Path,
    log: &Path,
    rows: &mut Vec<Row>,
    url: &str,
    node_url: &str,
) -> Result<()> {
    let total = args.total_agents;
    let nodes_n = args.nodes.max(1);
    // The enrollment and fan-out rows go first; their floors are measured last.
    let first_row = rows.len();
    if total.div_ceil(nodes_n) > PER_SIMULATOR {
        bail!("{total} agents over {nodes_n} nodes is more than {PER_SIMULATOR} per node");
    }
    let mut nodes = Vec::new();
    for i in 0..nodes_n {
        // The first node migrates the database; the others start after it.
        nodes.push(start_node(&dir.join(format!("node{i}")), node_url, log).await?);
    }
    let api = Api::new(&nodes[0].api);
    let (policy, token) = api.policy_and_token("bench-multi").await?;
    let bar = spinner(&format!("{nodes_n} nodes on PostgreSQL"));
    let mut fleet = Fleet::new();
    let urls: Vec<String> = nodes.iter().map(|n| n.agents.clone()).collect();
    fleet
        .spread(&urls, &token, total, &["--upgrade-step", "2s"])
        .await?;
    let enroll_per_s = fleet.settle(total, &bar).await?;
    let shed = fleet.sum("throttled");

    // A policy change on one node reaches the agents held by every node.
    fleet.clear_received();
    let revision = api.change_policy(&policy, "bench-multi", "changed").await?;
    let mut fan = fleet
        .fan_out(revision, total, Duration::from_secs(900), &bar)
        .await?;
    let full = api.full_policy(&policy).await?;
    // Said as soon as measured: a long run stopped later still leaves these behind.
    println!(
        "measured: enroll {enroll_per_s:.0} agents/s ({shed} answered 429); policy change to {total} agents over {nodes_n} nodes p50/p99/max {:.0}/{:.0}/{:.0} ms; errors so far {}: {:?}",
        pct(&mut fan, 0.5),
        pct(&mut fan, 0.99),
        pct(&mut fan, 1.0),
        fleet.sum("errors"),
        fleet.last_errors()
    );

    // Hold them, watching for errors. A 503 (the database could not take the work; the agent
    // retried) is counted apart from errors, and a hold that sees any fails.
    let unavailable_before_hold = fleet.sum("unavailable");
    rows.push(row(
        "requests answered 503 (database busy, retried) while enrolling and fanning out",
        format!("{unavailable_before_hold}"),
        "",
        "",
    ));
    let until = Instant::now() + args.hold;
    while Instant::now() < until {
        bar.set_message(format!(
            "holding: connected {} · errors {}",
            fleet.sum("connected"),
            fleet.sum("errors")
        ));
        if fleet.exited() {
            bail!("a simulator exited during the hold");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (alive, errors) = (fleet.alive(total).await, fleet.sum("errors"));
    let unavailable = fleet.sum("unavailable") - unavailable_before_hold;
    rows.push(row(
        format!(
            "{total} agents held {:?} over {nodes_n} nodes: still polling / errors / 503s during the hold",
            args.hold
        ),
        format!("{alive} / {errors} / {unavailable}"),
        "",
        "",
    ));
    // A failed hold is reported at the end: the list and the upgrade are still worth measuring.
    let held_failure = (alive < total as i64 || errors > 0 || unavailable > 0).then(|| {
        format!(
            "after the hold: {alive} of {total} still polling, {errors} errors, {unavailable} answered 503; last errors: {:#?}",
            fleet.last_errors()
        )
    });

    // The agent list with every agent in the store, and the same SQL run directly.
    let floor = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await?;
    for per_page in [20usize, 10_000] {
        let reps = if per_page == 20 { 50 } else { 10 };
        let mut api_ms = Vec::new();
        for _ in 0..reps {
            let t = Instant::now();
            let page = api
                .call(
                    reqwest::Method::GET,
                    &format!("/api/fleet/agents?perPage={per_page}"),
                    None,
                )
                .await?;
            api_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            if page["items"].as_array().map_or(0, Vec::len) != per_page.min(total) {
                bail!(
                    "the agent list returned {} items",
                    page["items"].as_array().map_or(0, Vec::len)
                );
            }
        }
        let sql = first_page_sql(per_page);
        let count = format!(
            "SELECT COUNT(*) FROM agent WHERE NOT COALESCE(({}), FALSE)",
            fleet::store::AGENT_INACTIVE_POSTGRES
        );
        let mut floor_ms = Vec::new();
        for _ in 0..reps {
            let t = Instant::now();
            let _ = sqlx::query(&sql).fetch_all(&floor).await?;
            let _ = sqlx::query(&count).fetch_one(&floor).await?;
            floor_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        for (name, q) in [("p50", 0.5), ("p99", 0.99)] {
            let (a, b) = (pct(&mut api_ms, q), pct(&mut floor_ms, q));
            rows.push(row(
                format!("agent list perPage={per_page} at {total} agents, {name} ms"),
                format!("{a:.1}"),
                format!("{b:.1}"),
                ratio(a, b),
            ));
        }
    }

    // The web UI's agents page, first view: the two requests its script makes together.
    let mut page_ms = Vec::new();
    let mut floor_ms = Vec::new();
    let first_page = first_page_sql(20);
    let counts = format!(
        "SELECT {} AS status, COUNT(*) FROM agent GROUP BY 1",
        fleet::store::AGENT_STATUS_POSTGRES
    );
    for _ in 0..20 {
        let t = Instant::now();
        let (page, status) = tokio::join!(
            api.call(
                reqwest::Method::GET,
                "/api/fleet/agents?perPage=20&sortField=enrolled_at&sortOrder=desc",
                None
            ),
            api.call(reqwest::Method::GET, "/api/fleet/agent_status", None)
        );
        page?;
        status?;
        page_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let (a, b) = tokio::join!(
            sqlx::query(&first_page).fetch_all(&floor),
            sqlx::query(&counts).fetch_all(&floor)
        );
        a?;
        b?;
        floor_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    for (name, q) in [("p50", 0.5), ("p99", 0.99)] {
        let (a, b) = (pct(&mut page_ms, q), pct(&mut floor_ms, q));
        rows.push(row(
            format!("web UI agents page at {total} agents (page of 20 + status counts), {name} ms"),
            format!("{a:.1}"),
            format!("{b:.1}"),
            ratio(a, b),
        ));
    }

    for r in rows.iter().skip(first_row) {
        println!(
            "measured: {} | {} | {} | {}",
            r.measure, r.flotilla, r.floor, r.ratio
        );
    }

    // A bulk upgrade of every agent, from the request to the last agent running the new version.
    let (shed_before_upgrade, unavailable_before_upgrade) =
        (fleet.sum("throttled"), fleet.sum("unavailable"));
    let t = Instant::now();
    api.call(
        reqwest::Method::POST,
        "/api/fleet/agents/bulk_upgrade",
        Some(json!({"agents": format!("policy_id:\"{policy}\""), "version": "9.3.0"})),
    )
    .await?;
    let request_ms = t.elapsed().as_secs_f64() * 1000.0;
    bar.set_prefix("bulk upgrade");
    let mut done = 0i64;
    let deadline = t + args.upgrade_wait;
    while done < total as i64 && Instant::now() < deadline {
        done = fleet.sum("upgrades_completed") + fleet.sum("upgrades_failed");
        bar.set_message(format!(
            "upgraded {done}/{total} · errors {}",
            fleet.sum("errors")
        ));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let upgrade_s = t.elapsed().as_secs_f64();
    bar.finish_and_clear();
    if done >= total as i64 {
        rows.push(row(format!("bulk upgrade of {total} agents: request ms / all upgraded s (6 states each, 2 s apart)"), format!("{request_ms:.0} / {upgrade_s:.0}"), "", ""));
    } else {
        // A fleet this size upgrading at once can take longer than a bench should wait: the
        // progress within the wait is the figure.
        rows.push(row(
            format!(
                "bulk upgrade of {total} agents: request ms / upgraded within {:?} (agents/s)",
                args.upgrade_wait
            ),
            format!(
                "{request_ms:.0} / {done} ({:.0}/s)",
                done as f64 / upgrade_s
            ),
            "",
            "",
        ));
    }
    rows.push(row(
        format!("requests answered 429 / 503 (retried) during the bulk upgrade of {total} agents"),
        format!(
            "{} / {}",
            fleet.sum("throttled") - shed_before_upgrade,
            fleet.sum("unavailable") - unavailable_before_upgrade
        ),
        "",
        "",
    ));
    let upgrade_errors = fleet.sum("errors") - errors;
    if upgrade_errors > 0 {
        bail!(
            "{upgrade_errors} errors during the bulk upgrade; last errors: {:#?}",
            fleet.last_errors()
        );
    }
    drop(fleet);
    drop(nodes);

    // The floor for enrollment and fan-out: as many bare servers as nodes, the same agents.
    let (floor_enroll, mut floor_fan) = floor_fleet(nodes_n, total, &full, log).await?;
    let mut at = 0;
    let mut insert = |r: Row| {
        rows.insert(first_row + at, r);
        at += 1;
    };
    insert(row(
        format!("enroll, agents/s ({total} agents, {nodes_n} nodes, PostgreSQL)"),
        format!("{enroll_per_s:.0}"),
        format!("{floor_enroll:.0}"),
        ratio(floor_enroll, enroll_per_s),
    ));
    insert(row(
        "requests answered 429 (load shed, retried) while enrolling",
        format!("{shed}"),
        "0",
        "",
    ));
    for (name, q) in [("p50", 0.5), ("p99", 0.99), ("max", 1.0)] {
        let (a, b) = (pct(&mut fan, q), pct(&mut floor_fan, q));
        insert(row(
            format!("policy change to {total} agents over {nodes_n} nodes, {name} ms"),
            format!("{a:.0}"),
            format!("{b:.0}"),
            ratio(a, b),
        ));
    }
    match held_failure {
        Some(failure) => Err(anyhow!(failure)),
        None => Ok(()),
    }
}

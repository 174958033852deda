//! Simulated Elastic Agents for load tests and end-to-end tests.
//!
//! Each agent is a task with its own HTTP/1.1 connection that enrolls with an enrollment token
//! (rate-limited), long-polls check-in with its status, components and metadata (a distinct
//! hostname each), acknowledges POLICY_CHANGE, walks UPGRADE through the `upgrade_details`
//! states and reports the new version and its rollback target (a configurable share fails),
//! rolls back, unenrolls, uploads diagnostics bundles, and applies SETTINGS — the way
//! elastic-agent does, against any Fleet Server (Flotilla or Elastic's).
//!
//! ```ignore
//! let sim = simulate::Simulation::start(simulate::Config { urls, enrollment_token, agents: 100, ..Default::default() }).await?;
//! sim.wait_for(|s| s.policy_changes >= 100, Duration::from_secs(30)).await?;
//! let report = sim.stop().await;
//! ```

mod agent;
mod conn;
mod stats;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Result};
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use stats::{Percentiles, Report, Snapshot};

/// What to simulate.
#[derive(Clone, Debug)]
pub struct Config {
    /// Fleet Server URLs (`http(s)://host:port`); agents are spread over them in turn.
    pub urls: Vec<String>,
    pub enrollment_token: String,
    pub agents: usize,
    /// Enrollments started per second, across all agents (0: all at once).
    pub enroll_rate: f64,
    /// The version the agents run (their User-Agent and metadata).
    pub version: String,
    /// Sent as `poll_timeout`; Fleet Server holds a check-in about two minutes less.
    pub poll_timeout: Duration,
    /// Agents wait a random time below this before re-polling after an empty answer.
    pub jitter: Duration,
    /// Time between two upgrade states.
    pub upgrade_step: Duration,
    /// Share of upgrades that fail (while downloading), 0.0 to 1.0.
    pub upgrade_failure_ratio: f64,
    /// Give each agent its own 127.x.y.z source address when the server is on loopback.
    pub spread_source_addresses: bool,
    /// Hostnames are `{name_prefix}-{index:06}`; `first_index` offsets the index so several
    /// simulator processes make distinct hosts.
    pub name_prefix: String,
    pub first_index: usize,
    pub tags: Vec<String>,
    /// Accept any TLS certificate (elastic-agent's `--insecure`).
    pub insecure: bool,
    /// Bytes in a diagnostics bundle.
    pub diagnostics_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            urls: vec!["http://127.0.0.1:8220".into()],
            enrollment_token: String::new(),
            agents: 1,
            enroll_rate: 100.0,
            version: "9.1.0".into(),
            poll_timeout: Duration::from_secs(7 * 60),
            jitter: Duration::from_secs(5),
            upgrade_step: Duration::from_secs(1),
            upgrade_failure_ratio: 0.0,
            spread_source_addresses: true,
            name_prefix: "sim".into(),
            first_index: 0,
            tags: Vec::new(),
            insecure: false,
            diagnostics_size: 64 * 1024,
        }
    }
}

/// State every agent task shares.
pub(crate) struct Shared {
    pub config: Config,
    pub stats: stats::Stats,
    pub started: tokio::time::Instant,
    /// Agent ids by index (empty until enrolled).
    pub ids: Mutex<Vec<String>>,
}

/// A running simulation.
pub struct Simulation {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

/// The `i`-th loopback source address: 127.1.0.0 upwards, skipping .0 and .255 host parts.
fn source_address(i: usize) -> IpAddr {
    let n = i as u32;
    let (a, b, c) = ((n / (254 * 256)) % 254 + 1, (n / 254) % 256, n % 254 + 1);
    IpAddr::V4(Ipv4Addr::new(127, a as u8, b as u8, c as u8))
}

impl Simulation {
    /// Resolves the servers and starts every agent (enrollment follows `enroll_rate`).
    pub async fn start(config: Config) -> Result<Simulation> {
        if config.urls.is_empty() {
            bail!("at least one Fleet Server URL is needed");
        }
        if config.enrollment_token.is_empty() {
            bail!("an enrollment token is needed");
        }
        let mut targets = Vec::new();
        for url in &config.urls {
            targets.push(Arc::new(conn::Target::resolve(url, config.insecure).await?));
        }
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            ids: Mutex::new(vec![String::new(); config.agents]),
            stats: stats::Stats::default(),
            started: tokio::time::Instant::now(),
            config,
        });
        let mut tasks = JoinSet::new();
        for i in 0..shared.config.agents {
            let target = targets[i % targets.len()].clone();
            let source = (shared.config.spread_source_addresses && target.is_loopback())
                .then(|| source_address(shared.config.first_index + i));
            let agent = agent::Agent::new(i, shared.clone(), conn::Conn::new(target, source));
            tasks.spawn(agent.run(stop_rx.clone()));
        }
        Ok(Simulation {
            shared,
            stop,
            tasks,
        })
    }

    pub fn snapshot(&self) -> Snapshot {
        self.shared.stats.snapshot(self.shared.config.agents)
    }

    /// The enrolled agents' ids (in agent order; agents not enrolled yet are left out).
    pub fn agent_ids(&self) -> Vec<String> {
        self.shared
            .ids
            .lock()
            .expect("ids lock")
            .iter()
            .filter(|id| !id.is_empty())
            .cloned()
            .collect()
    }

    /// Policy revisions received since the last call: (revision, ms after the policy changed).
    /// The last few errors the agents ran into, oldest first.
    pub fn last_errors(&self) -> Vec<String> {
        self.shared.stats.last_errors()
    }

    pub fn take_policy_received(&self) -> Vec<(i64, f64)> {
        self.shared.stats.take_policy_received()
    }

    /// Waits until `done` holds for the counters, or fails with them after `timeout`.
    pub async fn wait_for(
        &self,
        done: impl Fn(&Snapshot) -> bool,
        timeout: Duration,
    ) -> Result<Snapshot> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let s = self.snapshot();
            if done(&s) {
                return Ok(s);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "simulation did not get there in {timeout:?}: {s:?}; last errors: {:?}",
                    self.report().last_errors
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn report(&self) -> Report {
        self.shared
            .stats
            .report(self.shared.config.agents, self.shared.started.elapsed())
    }

    /// Stops every agent (their polls are dropped) and returns the summary.
    pub async fn stop(mut self) -> Report {
        let before = self.snapshot();
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        let mut report = self.report();
        // As things stood when asked to stop (stopping disconnects every agent).
        report.counters.connected = before.connected;
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses_are_distinct_loopback_hosts() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..200_000 {
            let ip = source_address(i);
            assert!(ip.is_loopback());
            let IpAddr::V4(v4) = ip else { unreachable!() };
            let o = v4.octets();
            assert!(o[3] != 0 && o[3] != 255 && o[1] != 0, "{ip}");
            assert!(seen.insert(ip), "{ip} twice");
        }
    }
}

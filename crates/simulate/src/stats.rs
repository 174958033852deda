//! What the simulated fleet has done so far: counters every agent bumps, latency histograms,
//! and the last few errors (for the summary).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

#[derive(Default)]
pub struct Stats {
    pub enrolled: AtomicU64,
    /// When the latest enrollment completed, in ms since the simulation started.
    last_enrolled_ms: AtomicU64,
    /// Agents whose check-in is in flight (held by the server, most of the time).
    pub connected: AtomicI64,
    /// Agents waiting out their jitter between an empty answer and the next check-in, as real
    /// agents do: not connected, by choice.
    pub between_polls: AtomicI64,
    pub checkins: AtomicU64,
    pub acks: AtomicU64,
    pub policy_changes: AtomicU64,
    pub upgrades_completed: AtomicU64,
    pub upgrades_failed: AtomicU64,
    pub unenrolled: AtomicU64,
    pub uploads: AtomicU64,
    pub errors: AtomicU64,
    /// Requests answered 429 (the server shedding load): retried after a backoff, not errors.
    pub throttled: AtomicU64,
    /// Requests answered 503 (the server's database could not take the work then; nothing was
    /// changed): retried after a backoff like real agents do, counted apart from both.
    pub unavailable: AtomicU64,
    actions: Mutex<BTreeMap<String, u64>>,
    last_errors: Mutex<VecDeque<String>>,
    enroll: Mutex<Latencies>,
    ack: Mutex<Latencies>,
    delivery: Mutex<Latencies>,
    /// (revision, milliseconds from the policy's update to the agent receiving it), drained by
    /// whoever measures a policy change's fan-out.
    policy_received: Mutex<Vec<(i64, f64)>>,
}

struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        // Microseconds, 1 µs to 1 h, 3 significant digits.
        Latencies(Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"))
    }
}

impl Latencies {
    fn record(&mut self, d: Duration) {
        let us = (d.as_micros() as u64).clamp(1, 3_600_000_000);
        let _ = self.0.record(us);
    }

    fn summary(&self) -> Percentiles {
        let ms = |q: f64| self.0.value_at_quantile(q) as f64 / 1000.0;
        Percentiles {
            count: self.0.len(),
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
            max_ms: self.0.max() as f64 / 1000.0,
        }
    }
}

/// Latency percentiles in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// A point-in-time copy of the counters.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Snapshot {
    pub agents: usize,
    pub enrolled: u64,
    /// Seconds from the start to the latest enrollment (enrolled / this = enrollments per second).
    pub last_enrolled_s: f64,
    pub connected: i64,
    pub between_polls: i64,
    pub checkins: u64,
    pub acks: u64,
    pub policy_changes: u64,
    pub upgrades_completed: u64,
    pub upgrades_failed: u64,
    pub unenrolled: u64,
    pub uploads: u64,
    pub errors: u64,
    pub throttled: u64,
    pub unavailable: u64,
    /// Actions received, by type.
    pub actions: BTreeMap<String, u64>,
}

/// The end-of-run summary: counters, latencies and the last errors seen.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub counters: Snapshot,
    pub elapsed_s: f64,
    pub enroll_latency: Percentiles,
    pub ack_latency: Percentiles,
    /// From an action's `created_at` (a policy's update) to the agent receiving it.
    pub delivery_latency: Percentiles,
    pub last_errors: Vec<String>,
}

impl Stats {
    /// The server answered 429 or 503: the agent backs off and tries again.
    pub fn came_back_later(&self, status: u16) {
        let counter = if status == 503 {
            &self.unavailable
        } else {
            &self.throttled
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(error = %what, "simulated agent error");
        let mut last = self.last_errors.lock().expect("stats lock");
        if last.len() == 10 {
            last.pop_front();
        }
        last.push_back(what);
    }

    pub fn action(&self, kind: &str) {
        *self
            .actions
            .lock()
            .expect("stats lock")
            .entry(kind.to_string())
            .or_default() += 1;
    }

    pub fn enrolled_in(&self, d: Duration, since_start: Duration) {
        self.enrolled.fetch_add(1, Ordering::Relaxed);
        self.last_enrolled_ms
            .fetch_max(since_start.as_millis() as u64, Ordering::Relaxed);
        self.enroll.lock().expect("stats lock").record(d);
    }

    pub fn acked_in(&self, d: Duration) {
        self.ack.lock().expect("stats lock").record(d);
    }

    pub fn delivered_after(&self, d: Duration) {
        self.delivery.lock().expect("stats lock").record(d);
    }

    pub fn policy_received(&self, revision: i64, after: Duration) {
        self.policy_received
            .lock()
            .expect("stats lock")
            .push((revision, after.as_secs_f64() * 1000.0));
    }

    pub fn take_policy_received(&self) -> Vec<(i64, f64)> {
        std::mem::take(&mut *self.policy_received.lock().expect("stats lock"))
    }

    pub fn snapshot(&self, agents: usize) -> Snapshot {
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Snapshot {
            agents,
            enrolled: n(&self.enrolled),
            last_enrolled_s: n(&self.last_enrolled_ms) as f64 / 1000.0,
            connected: self.connected.load(Ordering::Relaxed),
            between_polls: self.between_polls.load(Ordering::Relaxed),
            checkins: n(&self.checkins),
            acks: n(&self.acks),
            policy_changes: n(&self.policy_changes),
            upgrades_completed: n(&self.upgrades_completed),
            upgrades_failed: n(&self.upgrades_failed),
            unenrolled: n(&self.unenrolled),
            uploads: n(&self.uploads),
            errors: n(&self.errors),
            throttled: n(&self.throttled),
            unavailable: n(&self.unavailable),
            actions: self.actions.lock().expect("stats lock").clone(),
        }
    }

    pub fn report(&self, agents: usize, elapsed: Duration) -> Report {
        Report {
            counters: self.snapshot(agents),
            elapsed_s: elapsed.as_secs_f64(),
            enroll_latency: self.enroll.lock().expect("stats lock").summary(),
            ack_latency: self.ack.lock().expect("stats lock").summary(),
            delivery_latency: self.delivery.lock().expect("stats lock").summary(),
            last_errors: self.last_errors(),
        }
    }

    /// The last few errors, oldest first.
    pub fn last_errors(&self) -> Vec<String> {
        self.last_errors
            .lock()
            .expect("stats lock")
            .iter()
            .cloned()
            .collect()
    }
}

/// Counts an in-flight check-in for as long as it lives.
pub struct InFlight<'a>(&'a AtomicI64);

impl<'a> InFlight<'a> {
    pub fn new(gauge: &'a AtomicI64) -> Self {
        gauge.fetch_add(1, Ordering::Relaxed);
        InFlight(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

//! In-process wake-ups for held check-ins: one `watch` channel per agent policy carrying its
//! latest revision, a set of agents whose long-polls are held (their `last_checkin` is refreshed
//! in batches), and a shutdown signal that answers every held poll.
//!
//! A held poll costs a parked task and a receiver: no queries until something changes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

#[derive(Default)]
pub struct Hub {
    policies: Mutex<HashMap<String, watch::Sender<i64>>>,
    /// One channel per held agent, poked when actions are created for it, with the number of
    /// the hold that registered it: an agent that drops a poll and checks in again (as agents
    /// do when their state changes) replaces its entry, and the old hold must not remove it.
    /// With each: when its stored `last_checkin` was last written (check-in or refresh).
    agents: Mutex<HashMap<String, HeldAgent>>,
    holds: AtomicU64,
    shutdown: Mutex<Option<watch::Sender<bool>>>,
}

struct HeldAgent {
    hold: u64,
    wake: watch::Sender<u64>,
    written: Instant,
}

/// Keeps an agent in the held set until dropped.
pub struct Held {
    hub: Arc<Hub>,
    agent_id: String,
    hold: u64,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut agents = self.hub.agents.lock().expect("hub lock poisoned");
        if agents
            .get(&self.agent_id)
            .is_some_and(|a| a.hold == self.hold)
        {
            agents.remove(&self.agent_id);
        }
    }
}

impl Hub {
    pub fn new() -> Arc<Hub> {
        let (tx, _) = watch::channel(false);
        Arc::new(Hub {
            shutdown: Mutex::new(Some(tx)),
            ..Default::default()
        })
    }

    /// A receiver of the policy's revision, current value included.
    pub fn subscribe(&self, policy_id: &str, current: i64) -> watch::Receiver<i64> {
        let mut map = self.policies.lock().expect("hub lock poisoned");
        // Drop channels nobody listens to any more, so the map does not grow with old policies.
        if map.len() > 1024 {
            map.retain(|_, s| s.receiver_count() > 0);
        }
        let sender = map
            .entry(policy_id.to_string())
            .or_insert_with(|| watch::channel(current).0);
        sender.subscribe()
    }

    /// A policy has a new revision: every poll waiting on it wakes.
    pub fn policy_changed(&self, policy_id: &str, revision: i64) {
        if let Some(sender) = self
            .policies
            .lock()
            .expect("hub lock poisoned")
            .get(policy_id)
        {
            sender.send_replace(revision);
        }
    }

    /// Registers a held check-in whose stored `last_checkin` was written at `written`; the
    /// receiver wakes when actions are created for the agent.
    pub fn hold(
        self: &Arc<Self>,
        agent_id: &str,
        written: Instant,
    ) -> (Held, watch::Receiver<u64>) {
        let hold = self.holds.fetch_add(1, Ordering::Relaxed);
        let (wake, rx) = watch::channel(0);
        // Replacing the sender ends an older poll of the same agent (its receiver closes).
        self.agents.lock().expect("hub lock poisoned").insert(
            agent_id.to_string(),
            HeldAgent {
                hold,
                wake,
                written,
            },
        );
        (
            Held {
                hub: self.clone(),
                agent_id: agent_id.to_string(),
                hold,
            },
            rx,
        )
    }

    /// New actions exist for these agents: wake the ones held here.
    pub fn actions_created(&self, agent_ids: &[String]) {
        let agents = self.agents.lock().expect("hub lock poisoned");
        for id in agent_ids {
            if let Some(a) = agents.get(id) {
                a.wake.send_modify(|n| *n += 1);
            }
        }
    }

    /// The held agents whose stored `last_checkin` is at least `older_than` old, marked as
    /// written now (the caller refreshes them).
    pub fn take_stale(&self, older_than: Duration) -> Vec<String> {
        let now = Instant::now();
        let mut agents = self.agents.lock().expect("hub lock poisoned");
        agents
            .iter_mut()
            .filter(|(_, a)| now.saturating_duration_since(a.written) >= older_than)
            .map(|(id, a)| {
                a.written = now;
                id.clone()
            })
            .collect()
    }

    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        match &*self.shutdown.lock().expect("hub lock poisoned") {
            Some(tx) => tx.subscribe(),
            None => watch::channel(true).1,
        }
    }

    /// Completes when the server shuts down.
    pub async fn wait_shutdown(rx: &mut watch::Receiver<bool>) {
        // Map the guard away at once: it must not live in a future that crosses threads.
        let _ = rx.wait_for(|down| *down).await.map(|_| ());
    }

    /// Answers every held poll now (server shutdown).
    pub fn shut_down(&self) {
        if let Some(tx) = self.shutdown.lock().expect("hub lock poisoned").take() {
            tx.send_replace(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_new_poll_replaces_the_old_one_and_outlives_its_drop() {
        let hub = Hub::new();
        let (old, mut old_rx) = hub.hold("a", Instant::now());
        let (new, mut new_rx) = hub.hold("a", Instant::now());
        // The old poll is told to end; dropping it leaves the new one registered.
        assert!(old_rx.changed().await.is_err());
        drop(old);
        assert_eq!(hub.take_stale(Duration::ZERO), vec!["a".to_string()]);
        hub.actions_created(&["a".to_string()]);
        assert!(new_rx.changed().await.is_ok());
        drop(new);
        assert!(hub.take_stale(Duration::ZERO).is_empty());
    }

    #[test]
    fn only_agents_written_long_enough_ago_are_refreshed_and_then_not_again() {
        let hub = Hub::new();
        let (_a, _) = hub.hold("a", Instant::now());
        std::thread::sleep(Duration::from_millis(60));
        let (_b, _) = hub.hold("b", Instant::now());
        let older_than = Duration::from_millis(50);
        assert_eq!(hub.take_stale(older_than), vec!["a".to_string()]);
        // Marked as written: not due again until another 50 ms pass.
        assert!(hub.take_stale(older_than).is_empty());
        let mut both = hub.take_stale(Duration::ZERO);
        both.sort();
        assert_eq!(both, vec!["a".to_string(), "b".to_string()]);
    }
}

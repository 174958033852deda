//! In-process wake-ups for held check-ins: one `watch` channel per agent policy carrying its
//! latest revision, a set of agents whose long-polls are held (their `last_checkin` is refreshed
//! in batches), and a shutdown signal that answers every held poll.
//!
//! A held poll costs a parked task and a receiver: no queries until something changes.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

#[derive(Default)]
pub struct Hub {
    policies: Mutex<HashMap<String, watch::Sender<i64>>>,
    held: Mutex<HashSet<String>>,
    /// One channel per held agent, poked when actions are created for it.
    agents: Mutex<HashMap<String, watch::Sender<u64>>>,
    shutdown: Mutex<Option<watch::Sender<bool>>>,
}

/// Keeps an agent in the held set until dropped.
pub struct Held {
    hub: Arc<Hub>,
    agent_id: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.hub
            .held
            .lock()
            .expect("hub lock poisoned")
            .remove(&self.agent_id);
        self.hub
            .agents
            .lock()
            .expect("hub lock poisoned")
            .remove(&self.agent_id);
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

    /// Registers a held check-in; the receiver wakes when actions are created for the agent.
    pub fn hold(self: &Arc<Self>, agent_id: &str) -> (Held, watch::Receiver<u64>) {
        self.held
            .lock()
            .expect("hub lock poisoned")
            .insert(agent_id.to_string());
        let (tx, rx) = watch::channel(0);
        self.agents
            .lock()
            .expect("hub lock poisoned")
            .insert(agent_id.to_string(), tx);
        (
            Held {
                hub: self.clone(),
                agent_id: agent_id.to_string(),
            },
            rx,
        )
    }

    /// New actions exist for these agents: wake the ones held here.
    pub fn actions_created(&self, agent_ids: &[String]) {
        let agents = self.agents.lock().expect("hub lock poisoned");
        for id in agent_ids {
            if let Some(tx) = agents.get(id) {
                tx.send_modify(|n| *n += 1);
            }
        }
    }

    pub fn held_ids(&self) -> Vec<String> {
        self.held
            .lock()
            .expect("hub lock poisoned")
            .iter()
            .cloned()
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

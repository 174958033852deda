//! Agents by status over time, for the web UI's overview chart. Fleet keeps agent history in
//! Elasticsearch; Flotilla samples the status counts once a minute into its own store (any
//! node may sample; the minute's row is written once) and keeps a week of them.

use chrono::{DateTime, Duration as Span, DurationRound, Utc};
use serde_json::{json, Value};

use crate::error::{FleetError, Result};
use crate::Fleet;
use store::Mode;

/// How often a node samples (the sampler skips a minute another node already recorded).
pub const SAMPLE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
/// How far back samples are kept.
const KEEP_DAYS: i64 = 7;

fn minute(t: DateTime<Utc>) -> String {
    t.duration_trunc(Span::minutes(1))
        .unwrap_or(t)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Fleet {
    /// Records this minute's agent counts by status unless a node already did; true when this
    /// call wrote them. Samples older than a week are dropped at the same time.
    pub async fn sample_agent_status(&self) -> Result<bool> {
        self.sample_agent_status_at(Utc::now()).await
    }

    /// [`Fleet::sample_agent_status`] as if it were `now` (tests move the clock).
    pub async fn sample_agent_status_at(&self, now: DateTime<Utc>) -> Result<bool> {
        let at = minute(now);
        {
            let mut tx = self.store.begin(Mode::Read).await?;
            if tx.status_sample_exists(&at).await? {
                return Ok(false);
            }
        }
        let counts = self.agent_status_summary(&[], None).await?["results"].clone();
        let mut tx = self.store.begin(Mode::Write).await?;
        let wrote = tx.status_sample_put(&at, &counts.to_string()).await?;
        tx.status_samples_prune(&minute(now - Span::days(KEEP_DAYS)))
            .await?;
        tx.commit().await?;
        Ok(wrote)
    }

    /// `GET /internal/fleet/agent_status_history`: the samples since `since` (RFC 3339; default
    /// the last 24 hours), oldest first, each the `/agent_status` counts plus `timestamp`.
    pub async fn agent_status_history(&self, since: Option<&str>) -> Result<Value> {
        let since = match since {
            None => Utc::now() - Span::hours(24),
            Some(s) => DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    FleetError::BadRequest(format!(
                        "[request query.since]: expected an ISO 8601 date but got [{s}]"
                    ))
                })?,
        };
        let mut tx = self.store.begin(Mode::Read).await?;
        let rows = tx.status_samples(&minute(since)).await?;
        let items: Vec<Value> = rows
            .into_iter()
            .filter_map(|(at, counts)| {
                let mut v: Value = serde_json::from_str(&counts).ok()?;
                v["timestamp"] = json!(at);
                Some(v)
            })
            .collect();
        Ok(json!({ "items": items }))
    }
}

//! Kibana's agent status (`build_status_runtime_field.ts`) as one SQL expression per dialect, so
//! filters, sorts, counts and responses all use the same definition, in the database.
//!
//! In Kibana's order: unenrolled (not active); inactive (last check-in, else enrollment, older
//! than the policy's `inactivity_timeout`); uninstalled / orphaned (audit reason); offline (older
//! than 12 missed 30 s check-ins, or last status `disconnected`); updating (no acknowledged
//! policy revision, or an upgrade started and not finished); enrolling (never checked in);
//! unenrolling; error / degraded (last reported status); online.

/// Seconds without a check-in after which an agent is offline (12 intervals of 30 s).
pub const OFFLINE_AFTER_SECS: i64 = 360;

// An active agent is inactive when its last check-in (else its enrollment) is older than its
// policy's `inactivity_timeout` (default 14 days; 0 = never).
macro_rules! sqlite_inactive {
    () => {
        "COALESCE(agent.last_checkin, agent.enrolled_at) < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || (SELECT NULLIF(COALESCE(json_extract(p.doc, '$.inactivity_timeout'), 1209600), 0) FROM saved_object p WHERE p.kind = 'ingest-agent-policies' AND p.id = agent.policy_id) || ' seconds')"
    };
}

macro_rules! postgres_inactive {
    () => {
        "COALESCE(agent.last_checkin, agent.enrolled_at) < to_char((now() AT TIME ZONE 'UTC') - make_interval(secs => (SELECT NULLIF(COALESCE((p.doc #>> '{inactivity_timeout}')::float8, 1209600), 0) FROM saved_object p WHERE p.kind = 'ingest-agent-policies' AND p.id = agent.policy_id)), 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
    };
}

/// For active agents, the same test as status `inactive`, without the rest of the status: bulk
/// selections and lists that leave inactive agents out need only this.
pub const SQLITE_INACTIVE: &str = concat!("(", sqlite_inactive!(), ")");
pub const POSTGRES_INACTIVE: &str = concat!("(", postgres_inactive!(), ")");

macro_rules! status_sql {
    (last_seen_before = $before:literal, inactive_before = $inactive:expr, json = $json:literal, end = $end:literal) => {
        concat!(
            "(CASE",
            " WHEN NOT agent.active THEN 'unenrolled'",
            " WHEN ",
            $inactive,
            " THEN 'inactive'",
            " WHEN ",
            $json,
            "audit_unenrolled_reason",
            $end,
            " = 'uninstall' THEN 'uninstalled'",
            " WHEN ",
            $json,
            "audit_unenrolled_reason",
            $end,
            " = 'orphaned' THEN 'orphaned'",
            " WHEN COALESCE(agent.last_checkin, agent.enrolled_at) < ",
            $before,
            " THEN 'offline'",
            " WHEN agent.last_checkin_status = 'disconnected' THEN 'offline'",
            " WHEN agent.policy_revision_idx IS NULL OR (",
            $json,
            "upgrade_started_at",
            $end,
            " IS NOT NULL AND ",
            $json,
            "upgraded_at",
            $end,
            " IS NULL) THEN 'updating'",
            " WHEN agent.last_checkin IS NULL THEN 'enrolling'",
            " WHEN ",
            $json,
            "unenrollment_started_at",
            $end,
            " IS NOT NULL THEN 'unenrolling'",
            " WHEN lower(agent.last_checkin_status) = 'error' THEN 'error'",
            " WHEN lower(agent.last_checkin_status) = 'degraded' THEN 'degraded'",
            " ELSE 'online' END)"
        )
    };
}

pub const SQLITE: &str = status_sql!(
    last_seen_before = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-360 seconds')",
    inactive_before = sqlite_inactive!(),
    json = "json_extract(agent.doc, '$.",
    end = "')"
);

pub const POSTGRES: &str = status_sql!(
    last_seen_before = "to_char((now() AT TIME ZONE 'UTC') - interval '360 seconds', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
    inactive_before = postgres_inactive!(),
    json = "(agent.doc #>> '{",
    end = "}')"
);

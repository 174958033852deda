//! Kibana's agent status (`build_status_runtime_field.ts`) as one SQL expression per dialect, so
//! filters, sorts, counts and responses all use the same definition, in the database.
//!
//! In Kibana's order: unenrolled (not active); inactive (last check-in, else enrollment, older
//! than the policy's `inactivity_timeout`); uninstalled / orphaned (audit reason); offline (older
//! than 12 missed 30 s check-ins, or last status `disconnected`); updating (no acknowledged
//! policy revision, or an upgrade started and not finished); enrolling (never checked in);
//! unenrolling; error / degraded (last reported status); online.

/// The part of the status an agent's document decides, in the order the status tests it:
/// `uninstalled` / `orphaned` (audit reason), `upgrading` (an upgrade started and not finished),
/// `unenrolling`. Stored in the `status_flag` column on every write, so statuses are computed
/// from columns alone.
pub fn status_flag(doc: &serde_json::Value) -> Option<&'static str> {
    let set = |k: &str| doc.get(k).is_some_and(|v| !v.is_null());
    match doc.get("audit_unenrolled_reason").and_then(|v| v.as_str()) {
        Some("uninstall") => return Some("uninstalled"),
        Some("orphaned") => return Some("orphaned"),
        _ => {}
    }
    if set("upgrade_started_at") && !set("upgraded_at") {
        Some("upgrading")
    } else if set("unenrollment_started_at") {
        Some("unenrolling")
    } else {
        None
    }
}

/// [`status_flag`] in SQL, of the document `doc` (an expression), for updates made in SQL.
pub fn status_flag_sql(dialect: kuery::sql::Dialect, doc: &str) -> String {
    let f = |path: &str| {
        dialect
            .json_text(doc, path)
            .expect("status fields are plain paths")
    };
    format!(
        "(CASE WHEN {reason} = 'uninstall' THEN 'uninstalled' \
         WHEN {reason} = 'orphaned' THEN 'orphaned' \
         WHEN {started} IS NOT NULL AND {upgraded} IS NULL THEN 'upgrading' \
         WHEN {unenrolling} IS NOT NULL THEN 'unenrolling' END)",
        reason = f("audit_unenrolled_reason"),
        started = f("upgrade_started_at"),
        upgraded = f("upgraded_at"),
        unenrolling = f("unenrollment_started_at"),
    )
}

/// Seconds without a check-in after which an agent is offline (12 intervals of 30 s).
pub const OFFLINE_AFTER_SECS: i64 = 360;

// An active agent is inactive when its last check-in (else its enrollment) is older than its
// policy's `inactivity_timeout` (default 14 days; 0 = never). The policy's timeout is a lookup
// per agent, so the test first compares with the latest cutoff of any policy (a subquery the
// database runs once per statement): agents seen since then, nearly all of them, skip the lookup.
// A CASE, not AND: SQLite evaluates both sides of an AND used as a value (inside COALESCE).
macro_rules! inactive {
    ($cutoff:ident) => {
        concat!(
            "CASE WHEN COALESCE(agent.last_checkin, agent.enrolled_at) < (SELECT MAX(",
            $cutoff!("p"),
            ") FROM saved_object p WHERE p.kind = 'ingest-agent-policies') ",
            "THEN COALESCE(agent.last_checkin, agent.enrolled_at) < (SELECT ",
            $cutoff!("p"),
            " FROM saved_object p WHERE p.kind = 'ingest-agent-policies' AND p.id = agent.policy_id) ",
            "ELSE FALSE END"
        )
    };
}

macro_rules! sqlite_cutoff {
    ($p:literal) => {
        concat!(
            "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || NULLIF(COALESCE(json_extract(",
            $p,
            ".doc, '$.inactivity_timeout'), 1209600), 0) || ' seconds')"
        )
    };
}

macro_rules! postgres_cutoff {
    ($p:literal) => {
        concat!(
            "to_char((now() AT TIME ZONE 'UTC') - make_interval(secs => NULLIF(COALESCE((",
            $p,
            ".doc #>> '{inactivity_timeout}')::float8, 1209600), 0)), 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
        )
    };
}

/// For active agents, the same test as status `inactive`, without the rest of the status: bulk
/// selections and lists that leave inactive agents out need only this.
pub const SQLITE_INACTIVE: &str = concat!("(", inactive!(sqlite_cutoff), ")");
pub const POSTGRES_INACTIVE: &str = concat!("(", inactive!(postgres_cutoff), ")");

macro_rules! status_sql {
    (last_seen_before = $before:literal, inactive_before = $inactive:expr) => {
        concat!(
            "(CASE",
            " WHEN NOT agent.active THEN 'unenrolled'",
            " WHEN (",
            $inactive,
            ") THEN 'inactive'",
            " WHEN agent.status_flag = 'uninstalled' THEN 'uninstalled'",
            " WHEN agent.status_flag = 'orphaned' THEN 'orphaned'",
            // A scalar subquery: the database computes the moment once per statement, not per row.
            " WHEN COALESCE(agent.last_checkin, agent.enrolled_at) < (SELECT ",
            $before,
            ") THEN 'offline'",
            " WHEN agent.last_checkin_status = 'disconnected' THEN 'offline'",
            " WHEN agent.policy_revision_idx IS NULL OR agent.status_flag = 'upgrading' THEN 'updating'",
            " WHEN agent.last_checkin IS NULL THEN 'enrolling'",
            " WHEN agent.status_flag = 'unenrolling' THEN 'unenrolling'",
            " WHEN lower(agent.last_checkin_status) = 'error' THEN 'error'",
            " WHEN lower(agent.last_checkin_status) = 'degraded' THEN 'degraded'",
            " ELSE 'online' END)"
        )
    };
}

pub const SQLITE: &str = status_sql!(
    last_seen_before = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-360 seconds')",
    inactive_before = inactive!(sqlite_cutoff)
);

pub const POSTGRES: &str = status_sql!(
    last_seen_before = "to_char((now() AT TIME ZONE 'UTC') - interval '360 seconds', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
    inactive_before = inactive!(postgres_cutoff)
);

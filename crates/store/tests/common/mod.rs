//! Shared by the store's test files.

/// The PostgreSQL URL for tests, or None (after saying why) when PostgreSQL is not configured.
/// With `FLOTILLA_REQUIRE_POSTGRES` set (CI), a missing URL fails instead.
pub fn postgres_url() -> Option<String> {
    match std::env::var("FLOTILLA_TEST_DATABASE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("FLOTILLA_REQUIRE_POSTGRES").is_err(),
                "PostgreSQL tests required"
            );
            eprintln!("skipped: set FLOTILLA_TEST_DATABASE_URL to run on PostgreSQL");
            None
        }
    }
}

/// Now as Kibana writes timestamps: RFC 3339, UTC, milliseconds (`2022-10-14T00:07:19.763Z`).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `ms` milliseconds from now, written as [`now`] writes; None when that is beyond the calendar
/// chrono can represent (durations of millions of years arrive from API callers), so callers
/// answer a 400 instead of overflowing.
pub fn from_now_ms(ms: i64) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::Utc::now().checked_add_signed(chrono::TimeDelta::try_milliseconds(ms)?)
}

/// [`from_now_ms`] as an RFC 3339 timestamp with milliseconds.
pub fn rfc3339_from_now_ms(ms: i64) -> Option<String> {
    from_now_ms(ms).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_past_the_calendar_are_none() {
        assert!(from_now_ms(60_000).is_some());
        assert!(from_now_ms(100_000_000_000_000_000).is_none());
        assert!(from_now_ms(i64::MAX).is_none());
        assert!(from_now_ms(i64::MIN).is_none());
    }
}

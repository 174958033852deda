//! Elasticsearch date math for kuery ranges: `now`, `now-5m`, `now/d`, `2024-01-01||+1M/d`,
//! and ISO dates. Rounding follows Elasticsearch: `gt` and `lte` round up (to the last
//! millisecond of the unit), `gte` and `lt` round down.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};

use crate::ast::RangeOp;

/// Resolves `s` to an instant; None when it is not a date.
pub fn resolve(s: &str, op: Option<RangeOp>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let (anchor, math) = if let Some(rest) = s.strip_prefix("now") {
        (now, rest)
    } else if let Some((date, rest)) = s.split_once("||") {
        (parse_date(date)?, rest)
    } else {
        return parse_date(s);
    };
    apply(anchor, math, op)
}

fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(Utc.from_utc_datetime(&d));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?));
    }
    None
}

fn apply(mut t: DateTime<Utc>, mut math: &str, op: Option<RangeOp>) -> Option<DateTime<Utc>> {
    while !math.is_empty() {
        let sign = math.chars().next()?;
        math = &math[sign.len_utf8()..];
        match sign {
            '+' | '-' => {
                let digits = math
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(math.len());
                let n: i64 = if digits == 0 {
                    1
                } else {
                    math[..digits].parse().ok()?
                };
                let unit = math[digits..].chars().next()?;
                math = &math[digits + unit.len_utf8()..];
                let n = if sign == '-' { -n } else { n };
                t = add(t, n, unit)?;
            }
            '/' => {
                let unit = math.chars().next()?;
                math = &math[unit.len_utf8()..];
                let up = matches!(op, Some(RangeOp::Gt) | Some(RangeOp::Lte));
                t = round(t, unit, up)?;
            }
            _ => return None,
        }
    }
    Some(t)
}

fn add(t: DateTime<Utc>, n: i64, unit: char) -> Option<DateTime<Utc>> {
    Some(match unit {
        'y' => add_months(t, n.checked_mul(12)?)?,
        'M' => add_months(t, n)?,
        'w' => t.checked_add_signed(Duration::try_weeks(n)?)?,
        'd' => t.checked_add_signed(Duration::try_days(n)?)?,
        'h' | 'H' => t.checked_add_signed(Duration::try_hours(n)?)?,
        'm' => t.checked_add_signed(Duration::try_minutes(n)?)?,
        's' => t.checked_add_signed(Duration::try_seconds(n)?)?,
        _ => return None,
    })
}

fn add_months(t: DateTime<Utc>, n: i64) -> Option<DateTime<Utc>> {
    let total = i64::from(t.year()) * 12 + i64::from(t.month0()) + n;
    let year = i32::try_from(total.div_euclid(12)).ok()?;
    let month = u32::try_from(total.rem_euclid(12)).ok()? + 1;
    // Clamp the day to the target month's length, as Elasticsearch does.
    let mut day = t.day();
    loop {
        if let Some(d) = NaiveDate::from_ymd_opt(year, month, day) {
            return Some(Utc.from_utc_datetime(&d.and_time(t.time())));
        }
        day = day.checked_sub(1).filter(|d| *d > 0)?;
    }
}

fn round(t: DateTime<Utc>, unit: char, up: bool) -> Option<DateTime<Utc>> {
    let date = t.date_naive();
    let start = match unit {
        'y' => NaiveDate::from_ymd_opt(t.year(), 1, 1)?.and_hms_opt(0, 0, 0)?,
        'M' => NaiveDate::from_ymd_opt(t.year(), t.month(), 1)?.and_hms_opt(0, 0, 0)?,
        'w' => (date - Duration::try_days(i64::from(date.weekday().num_days_from_monday()))?)
            .and_hms_opt(0, 0, 0)?,
        'd' => date.and_hms_opt(0, 0, 0)?,
        'h' | 'H' => date.and_hms_opt(t.hour(), 0, 0)?,
        'm' => date.and_hms_opt(t.hour(), t.minute(), 0)?,
        's' => date.and_hms_opt(t.hour(), t.minute(), t.second())?,
        _ => return None,
    };
    let start = Utc.from_utc_datetime(&start);
    if !up {
        return Some(start);
    }
    let next = add(start, 1, unit)?;
    next.checked_sub_signed(Duration::try_milliseconds(1)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn math_and_rounding() {
        let now = at("2024-03-15T10:20:30.456Z");
        assert_eq!(resolve("now", None, now), Some(now));
        assert_eq!(
            resolve("now-5m", None, now),
            Some(at("2024-03-15T10:15:30.456Z"))
        );
        assert_eq!(
            resolve("now-1h", None, now),
            Some(at("2024-03-15T09:20:30.456Z"))
        );
        assert_eq!(
            resolve("now/d", Some(RangeOp::Gte), now),
            Some(at("2024-03-15T00:00:00Z"))
        );
        assert_eq!(
            resolve("now/d", Some(RangeOp::Lte), now),
            Some(at("2024-03-15T23:59:59.999Z"))
        );
        assert_eq!(
            resolve("now-1d/d", Some(RangeOp::Lt), now),
            Some(at("2024-03-14T00:00:00Z"))
        );
        assert_eq!(
            resolve("now+1M", None, now),
            Some(at("2024-04-15T10:20:30.456Z"))
        );
        assert_eq!(
            resolve("2024-01-31||+1M", None, now),
            Some(at("2024-02-29T00:00:00Z"))
        );
        assert_eq!(
            resolve("2024-01-01", None, now),
            Some(at("2024-01-01T00:00:00Z"))
        );
        assert_eq!(
            resolve("2024-01-01T05:06:07+02:00", None, now),
            Some(at("2024-01-01T03:06:07Z"))
        );
        assert_eq!(
            resolve("now/w", Some(RangeOp::Gte), now),
            Some(at("2024-03-11T00:00:00Z"))
        );
        assert_eq!(resolve("yesterday", None, now), None);
        assert_eq!(resolve("now-5x", None, now), None);
        assert_eq!(resolve("now-99999999999999y", None, now), None);
        // Found by the fuzzer: math after `now` that starts with a multi-byte character.
        assert_eq!(resolve("now\u{251}\u{1}", None, now), None);
        assert_eq!(resolve("now-1\u{251}", None, now), None);
        assert_eq!(resolve("now/\u{251}", None, now), None);
    }
}

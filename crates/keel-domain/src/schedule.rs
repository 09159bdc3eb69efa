//! Recurring schedules in cron syntax: `"0 * * * *"` (hourly, five fields) or with a leading
//! seconds field (`"*/30 * * * * *"`). Times are UTC.

use chrono::{DateTime, Utc};
use std::str::FromStr;

/// A parsed cron expression.
#[derive(Debug, Clone)]
pub struct Cron {
    text: String,
    schedule: cron::Schedule,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid cron expression {expression:?}: {reason}")]
pub struct InvalidCron {
    pub expression: String,
    pub reason: String,
}

impl Cron {
    pub fn parse(expression: &str) -> Result<Cron, InvalidCron> {
        let fields = expression.split_whitespace().count();
        // The cron crate wants seconds first; the common five-field form starts at minutes.
        let full = if fields == 5 { format!("0 {expression}") } else { expression.to_string() };
        let schedule = cron::Schedule::from_str(&full)
            .map_err(|e| InvalidCron { expression: expression.to_string(), reason: e.to_string() })?;
        Ok(Cron { text: expression.to_string(), schedule })
    }

    /// The first occurrence strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.after(&after).next()
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn five_fields_start_at_minutes() {
        let hourly = Cron::parse("0 * * * *").unwrap();
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 10, 15, 0).unwrap();
        assert_eq!(hourly.next_after(at), Some(Utc.with_ymd_and_hms(2026, 11, 25, 11, 0, 0).unwrap()));
        let boundary = Utc.with_ymd_and_hms(2026, 11, 25, 11, 0, 0).unwrap();
        assert_eq!(
            hourly.next_after(boundary),
            Some(Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()),
            "strictly after"
        );
    }

    #[test]
    fn six_fields_include_seconds_and_nonsense_is_refused() {
        let every_30s = Cron::parse("*/30 * * * * *").unwrap();
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 10, 15, 10).unwrap();
        assert_eq!(every_30s.next_after(at), Some(Utc.with_ymd_and_hms(2026, 11, 25, 10, 15, 30).unwrap()));
        assert!(Cron::parse("every tuesday").is_err());
    }
}

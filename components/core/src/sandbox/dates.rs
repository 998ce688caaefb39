//! Calendar arithmetic for ship and delivery dates: business days skip Saturday and
//! Sunday (no holidays), and the date formats the carriers write.

use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime, Weekday};

/// The UTC date at Unix second `now_secs`.
pub(crate) fn today(now_secs: i64) -> Date {
    OffsetDateTime::from_unix_timestamp(now_secs)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .date()
}

/// `YYYY-MM-DD` exactly.
pub(crate) fn parse_iso(text: &str) -> Option<Date> {
    Date::parse(text, format_description!("[year]-[month]-[day]")).ok()
}

/// The `YYYY-MM-DD` a timestamp starts with (`2026-11-23T14:00:31GMT+01:00`, DHL).
pub(crate) fn parse_iso_start(text: &str) -> Option<Date> {
    parse_iso(text.get(..10)?)
}

/// `YYYYMMDD` (UPS).
pub(crate) fn parse_compact(text: &str) -> Option<Date> {
    if text.len() != 8 {
        return None;
    }
    Date::parse(text, format_description!("[year][month][day]")).ok()
}

/// [`parse_iso`] with its format, for [`super::fields::optional_date`].
pub(crate) const ISO: (fn(&str) -> Option<Date>, &str) = (parse_iso, "YYYY-MM-DD");
/// [`parse_compact`] with its format.
pub(crate) const COMPACT: (fn(&str) -> Option<Date>, &str) = (parse_compact, "YYYYMMDD");

pub(crate) fn iso(date: Date) -> String {
    date.format(format_description!("[year]-[month]-[day]"))
        .expect("a date formats")
}

pub(crate) fn compact(date: Date) -> String {
    date.format(format_description!("[year][month][day]"))
        .expect("a date formats")
}

fn is_weekend(date: Date) -> bool {
    matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday)
}

/// `date`, or the Monday after it when it falls on a weekend (the pickup day).
pub(crate) fn business_day_from(date: Date) -> Date {
    let mut d = date;
    while is_weekend(d) {
        d = d.saturating_add(Duration::days(1));
    }
    d
}

/// The business day `days` business days after `date`.
pub(crate) fn add_business_days(date: Date, days: u32) -> Date {
    let mut d = business_day_from(date);
    for _ in 0..days {
        d = business_day_from(d.saturating_add(Duration::days(1)));
    }
    d
}

/// Calendar days from `from` to `to`.
pub(crate) fn days_between(from: Date, to: Date) -> i64 {
    (to - from).whole_days()
}

/// `MON` … `SUN`.
pub(crate) fn day_abbrev(date: Date) -> &'static str {
    match date.weekday() {
        Weekday::Monday => "MON",
        Weekday::Tuesday => "TUE",
        Weekday::Wednesday => "WED",
        Weekday::Thursday => "THU",
        Weekday::Friday => "FRI",
        Weekday::Saturday => "SAT",
        Weekday::Sunday => "SUN",
    }
}

/// ISO day number, Monday = 1 … Sunday = 7 (DHL `deliveryDayOfWeek`).
pub(crate) fn day_number(date: Date) -> u8 {
    date.weekday().number_from_monday()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn business_days_skip_the_weekend() {
        // 2026-11-20 is a Friday; a Saturday ship date is picked up on Monday.
        for (from, days, to) in [
            (date!(2026 - 11 - 20), 1, date!(2026 - 11 - 23)),
            (date!(2026 - 11 - 20), 0, date!(2026 - 11 - 20)),
            (date!(2026 - 11 - 18), 2, date!(2026 - 11 - 20)),
            (date!(2026 - 11 - 21), 1, date!(2026 - 11 - 24)),
        ] {
            assert_eq!(add_business_days(from, days), to, "{from} + {days}");
        }
    }

    #[test]
    fn carrier_date_formats_round_trip() {
        let d = date!(2026 - 03 - 09);
        assert_eq!(iso(d), "2026-03-09");
        assert_eq!(compact(d), "20260309");
        assert_eq!(parse_iso_start("2026-03-09T14:00:31GMT+01:00"), Some(d));
        assert_eq!(parse_iso("2026-03-09T14:00:31GMT+01:00"), None);
        assert_eq!(parse_compact("20260309"), Some(d));
        assert_eq!(parse_compact("2026039"), None);
        assert_eq!(parse_iso("2026-13-01"), None);
        assert_eq!(day_abbrev(d), "MON");
        assert_eq!(today(1_800_000_000), date!(2027 - 01 - 15));
    }
}

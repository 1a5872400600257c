//! Instants, civil dates and time zones.
//!
//! Every decision takes its instant as an argument: this module never reads a
//! clock. Instants are absolute ([`Timestamp`], nanosecond precision). Text
//! given by a user is parsed strictly: a time of day must carry an offset or a
//! zone, because a silent choice of UTC would move a decision by hours. A bare
//! date is only accepted where the caller says which zone it belongs to, and
//! then means a whole civil day in that zone.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, ZonedDateTime};

/// Why a piece of time text could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// A date and time of day without an offset or a zone.
    #[error(
        "`{0}` has no offset or zone; give one, e.g. `2019-11-23T00:00:00+09:00` or `2019-11-23T00:00:00Z`"
    )]
    NoOffset(String),
    /// A bare date where an instant is required.
    #[error(
        "`{0}` is a date, not an instant; give a time of day with an offset, e.g. `{0}T00:00:00+09:00`"
    )]
    DateOnly(String),
    /// Text that is not a date or time at all.
    #[error("`{text}` is not a valid instant ({detail})")]
    Invalid {
        /// The text given.
        text: String,
        /// What the parser said.
        detail: String,
    },
    /// A zone name the bundled time zone database does not know.
    #[error("unknown time zone `{0}`")]
    UnknownZone(String),
    /// Calendar arithmetic left the supported range of years.
    #[error("date arithmetic out of range near `{0}`")]
    OutOfRange(String),
    /// A wire instant (seconds, nanoseconds) that is no instant: nanoseconds
    /// beyond a second, or seconds outside the years -9999 to 9999.
    #[error(
        "`{seconds}.{nanos:09}` is not an instant (seconds since 1970 and nanoseconds below 10^9)"
    )]
    Wire {
        /// The seconds given.
        seconds: i64,
        /// The nanoseconds given.
        nanos: u32,
    },
}

/// An instant as it travels in signed messages and ledger records:
/// seconds since 1970-01-01T00:00:00Z and nanoseconds within that second.
/// The one conversion out; [`from_wire`] is the one conversion back.
pub fn to_wire(ts: Timestamp) -> (i64, u32) {
    // INVARIANT: a Timestamp's sub-second part is in [0, 10^9) once the
    // seconds are floored, which `as_second` and `subsec_nanosecond` do
    // together: jiff gives a negative sub-second part for instants before
    // 1970, so borrow one second for it.
    let (s, n) = (ts.as_second(), ts.subsec_nanosecond());
    if n < 0 {
        (s - 1, n.unsigned_abs().abs_diff(1_000_000_000))
    } else {
        (s, n.unsigned_abs())
    }
}

/// A wire instant back, strictly: nanoseconds must be below 10^9 and the
/// instant within jiff's range; nothing is clamped or defaulted.
pub fn from_wire((seconds, nanos): (i64, u32)) -> Result<Timestamp, TimeError> {
    let bad = || TimeError::Wire { seconds, nanos };
    let n = i32::try_from(nanos)
        .ok()
        .filter(|n| *n < 1_000_000_000)
        .ok_or_else(bad)?;
    let ts = Timestamp::new(seconds, 0).map_err(|_| bad())?;
    ts.checked_add(jiff::SignedDuration::new(0, n))
        .map_err(|_| bad())
}

/// Parses an absolute instant: RFC 3339 with an offset (`Z` allowed), or RFC
/// 9557 with a bracketed zone. Civil times without offset are refused.
pub fn parse_instant(text: &str) -> Result<Timestamp, TimeError> {
    let text = text.trim();
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Ok(ts);
    }
    if text.contains('[') {
        return text
            .parse::<ZonedDateTime>()
            .map(|z| z.timestamp())
            .map_err(|e| TimeError::Invalid {
                text: text.to_owned(),
                detail: e.to_string(),
            });
    }
    let has_time = text.contains(['T', 't', ' ']);
    if !has_time && text.parse::<Date>().is_ok() {
        return Err(TimeError::DateOnly(text.to_owned()));
    }
    if text.parse::<jiff::civil::DateTime>().is_ok() {
        return Err(TimeError::NoOffset(text.to_owned()));
    }
    Err(TimeError::Invalid {
        text: text.to_owned(),
        detail: "expected e.g. `2019-11-23T00:00:00+09:00`".to_owned(),
    })
}

/// An instant, or a whole civil day in a zone the caller names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstantOrDate {
    /// An absolute instant.
    Instant(Timestamp),
    /// A civil date (its meaning depends on a zone).
    Date(Date),
}

/// Parses an instant, or a bare `YYYY-MM-DD` date.
pub fn parse_instant_or_date(text: &str) -> Result<InstantOrDate, TimeError> {
    match parse_instant(text) {
        Ok(ts) => Ok(InstantOrDate::Instant(ts)),
        Err(TimeError::DateOnly(_)) => text
            .trim()
            .parse::<Date>()
            .map(InstantOrDate::Date)
            .map_err(|e| TimeError::Invalid {
                text: text.to_owned(),
                detail: e.to_string(),
            }),
        Err(e) => Err(e),
    }
}

impl InstantOrDate {
    /// The first instant *after* this value: for a date, the start of the next
    /// day in `zone` (so the date is valid through its last nanosecond); for an
    /// instant, the instant itself.
    pub fn end_exclusive(self, zone: &TimeZone) -> Result<Timestamp, TimeError> {
        match self {
            InstantOrDate::Instant(ts) => Ok(ts),
            InstantOrDate::Date(d) => {
                let next = d
                    .tomorrow()
                    .map_err(|_| TimeError::OutOfRange(d.to_string()))?;
                start_of_day(next, zone)
            }
        }
    }

    /// The first instant of this value: for a date, its start in `zone`.
    pub fn start(self, zone: &TimeZone) -> Result<Timestamp, TimeError> {
        match self {
            InstantOrDate::Instant(ts) => Ok(ts),
            InstantOrDate::Date(d) => start_of_day(d, zone),
        }
    }
}

/// Looks a zone up in the bundled time zone database (no file system access).
pub fn zone(name: &str) -> Result<TimeZone, TimeError> {
    if name.eq_ignore_ascii_case("UTC") {
        return Ok(TimeZone::UTC);
    }
    TimeZone::get(name).map_err(|_| TimeError::UnknownZone(name.to_owned()))
}

/// The first instant of a civil day in a zone.
pub fn start_of_day(date: Date, zone: &TimeZone) -> Result<Timestamp, TimeError> {
    date.to_zoned_datetime(zone.clone())
        .and_then(|z| z.start_of_day())
        .map(|z| z.timestamp())
        .map_err(|_| TimeError::OutOfRange(date.to_string()))
}

/// The civil date of an instant in a zone.
pub fn date_in(ts: Timestamp, zone: &TimeZone) -> Date {
    ts.to_zoned_datetime(zone.clone()).date()
}

/// `ts` moved by whole calendar years in `zone` (29 February clamps to 28).
pub fn add_years(ts: Timestamp, years: i64, zone: &TimeZone) -> Result<Timestamp, TimeError> {
    let zoned = ts.to_zoned_datetime(zone.clone());
    Span::new()
        .try_years(years)
        .and_then(|span| zoned.checked_add(span))
        .map(|z| z.timestamp())
        .map_err(|_| TimeError::OutOfRange(ts.to_string()))
}

/// `date` moved by a number of calendar days (negative goes back).
pub fn add_days(date: Date, days: i64) -> Result<Date, TimeError> {
    Span::new()
        .try_days(days)
        .and_then(|span| date.checked_add(span))
        .map_err(|_| TimeError::OutOfRange(date.to_string()))
}

/// Formats an instant as RFC 3339 with the offset it has in `zone`.
pub fn format_in(ts: Timestamp, zone: &TimeZone) -> String {
    let offset = zone.to_offset(ts);
    ts.display_with_offset(offset).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_instants_round_trip_and_nothing_out_of_range_is_clamped() {
        for text in [
            "1969-12-31T23:59:59.5Z",
            "1970-01-01T00:00:00Z",
            "2019-11-22T15:00:00.000000001Z",
            "-009999-01-02T01:59:59Z",
            "9999-12-30T22:00:00Z",
        ] {
            let ts: Timestamp = text.parse().unwrap();
            let w = to_wire(ts);
            assert!(w.1 < 1_000_000_000, "{text}: {w:?}");
            assert_eq!(from_wire(w).unwrap(), ts, "{text}");
        }
        assert_eq!(
            to_wire("1969-12-31T23:59:59.5Z".parse().unwrap()),
            (-1, 500_000_000)
        );
        // Nanoseconds of a whole second or more are no instant, never 0.
        assert!(matches!(
            from_wire((0, 1_000_000_000)),
            Err(TimeError::Wire { .. })
        ));
        assert!(from_wire((0, u32::MAX)).is_err());
        assert!(from_wire((i64::MAX, 0)).is_err());
        assert!(from_wire((253_402_207_200, 0)).is_ok());
        assert!(from_wire((253_402_207_201, 0)).is_err());
    }

    #[test]
    fn instants_with_offsets_parse_and_civil_times_are_refused() {
        let ts = parse_instant("2019-11-23T00:00:00+09:00").unwrap();
        assert_eq!(ts.to_string(), "2019-11-22T15:00:00Z");
        assert_eq!(
            parse_instant("2019-11-22T15:00:00Z").unwrap(),
            ts,
            "Z and +09:00 name the same instant"
        );
        assert_eq!(
            parse_instant("2019-11-23T00:00:00[Asia/Seoul]").unwrap(),
            ts
        );
        assert!(matches!(
            parse_instant("2019-11-23T00:00:00"),
            Err(TimeError::NoOffset(_))
        ));
        assert!(matches!(
            parse_instant("2019-11-23"),
            Err(TimeError::DateOnly(_))
        ));
        assert!(matches!(
            parse_instant("yesterday"),
            Err(TimeError::Invalid { .. })
        ));
    }

    #[test]
    fn a_bare_date_is_valid_through_its_last_nanosecond_in_the_zone() {
        let seoul = zone("Asia/Seoul").unwrap();
        let d = parse_instant_or_date("2027-01-01").unwrap();
        let end = d.end_exclusive(&seoul).unwrap();
        assert_eq!(format_in(end, &seoul), "2027-01-02T00:00:00+09:00");
        let ny = zone("America/New_York").unwrap();
        assert_eq!(
            format_in(d.end_exclusive(&ny).unwrap(), &ny),
            "2027-01-02T00:00:00-05:00"
        );
    }

    #[test]
    fn years_are_calendar_years_in_the_zone() {
        let seoul = zone("Asia/Seoul").unwrap();
        let eif = parse_instant("2016-11-23T00:00:00+09:00").unwrap();
        let e3 = add_years(eif, 3, &seoul).unwrap();
        assert_eq!(format_in(e3, &seoul), "2019-11-23T00:00:00+09:00");
        let leap = parse_instant("2016-02-29T00:00:00+09:00").unwrap();
        assert_eq!(
            format_in(add_years(leap, 1, &seoul).unwrap(), &seoul),
            "2017-02-28T00:00:00+09:00"
        );
    }

    #[test]
    fn unknown_zones_are_refused() {
        assert!(matches!(
            zone("Mars/Olympus"),
            Err(TimeError::UnknownZone(_))
        ));
    }
}

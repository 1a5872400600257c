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
use jiff::{Span, Timestamp};

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
    /// Beyond the calendar: years 0000 to 9999.
    #[error("`{0}` is beyond the calendar this engine counts (years 0000 to 9999)")]
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

/// The last instant of the calendar users may write: 9999-12-31T23:59:59.999999999Z.
const LAST_SECOND: i64 = 253_402_300_799;

/// An instant or a date as written, before it is resolved.
struct Written<'a> {
    date: Date,
    /// Hour, minute, second, nanosecond; none for a date alone.
    time: Option<(i8, i8, i8, i32)>,
    /// The offset in seconds, if written.
    offset: Option<i32>,
    /// The bracketed zone annotation, if written.
    zone: Option<&'a str>,
}

fn invalid(text: &str, detail: impl Into<String>) -> TimeError {
    TimeError::Invalid {
        text: text.to_owned(),
        detail: detail.into(),
    }
}

/// Reads exactly `n` ASCII digits at the front of `s`.
fn digits(s: &str, n: usize) -> Option<(i64, &str)> {
    let (head, rest) = (s.get(..n)?, s.get(n..)?);
    if !head.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    head.parse().ok().map(|v| (v, rest))
}

/// The one grammar for instants and dates (RFC 3339 with RFC 9557's zone
/// annotation): `YYYY-MM-DD`, optionally `T` (or `t`, or a space) and
/// `HH:MM:SS` with up to nine fraction digits, optionally `Z` or `±HH:MM`
/// (at most 23:59), optionally `[Zone/Name]` (a leading `!` allowed).
fn read(text: &str) -> Result<Written<'_>, TimeError> {
    let bad = |what: &str| invalid(text, what);
    let (year, rest) =
        digits(text, 4).ok_or_else(|| bad("expected a date such as `2019-11-23`"))?;
    let rest = rest
        .strip_prefix('-')
        .ok_or_else(|| bad("expected `-` after the year"))?;
    let (month, rest) = digits(rest, 2).ok_or_else(|| bad("expected a two-digit month"))?;
    let rest = rest
        .strip_prefix('-')
        .ok_or_else(|| bad("expected `-` after the month"))?;
    let (day, mut rest) = digits(rest, 2).ok_or_else(|| bad("expected a two-digit day"))?;
    let date = Date::new(
        i16::try_from(year).map_err(|_| bad("year out of range"))?,
        i8::try_from(month).map_err(|_| bad("month out of range"))?,
        i8::try_from(day).map_err(|_| bad("day out of range"))?,
    )
    .map_err(|e| bad(&format!("not a calendar date ({e})")))?;
    let mut time = None;
    if let Some(r) = rest
        .strip_prefix('T')
        .or_else(|| rest.strip_prefix('t'))
        .or_else(|| rest.strip_prefix(' '))
    {
        let (h, r) = digits(r, 2).ok_or_else(|| bad("expected a two-digit hour"))?;
        let r = r
            .strip_prefix(':')
            .ok_or_else(|| bad("expected `HH:MM:SS`"))?;
        let (mi, r) = digits(r, 2).ok_or_else(|| bad("expected two-digit minutes"))?;
        let r = r
            .strip_prefix(':')
            .ok_or_else(|| bad("expected `HH:MM:SS` (seconds are required)"))?;
        let (sec, mut r) = digits(r, 2).ok_or_else(|| bad("expected two-digit seconds"))?;
        let mut nanos = 0i64;
        if let Some(f) = r.strip_prefix('.').or_else(|| r.strip_prefix(',')) {
            let n = f.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 || n > 9 {
                return Err(bad("a fraction of a second has 1 to 9 digits"));
            }
            let (frac, after) = digits(f, n).ok_or_else(|| bad("bad fraction"))?;
            nanos = frac * 10i64.pow(u32::try_from(9 - n).unwrap_or(0));
            r = after;
        }
        if h > 23 || mi > 59 {
            return Err(bad("hours are 00–23 and minutes 00–59"));
        }
        if sec == 60 {
            return Err(bad(
                "second 60 (a leap second) is not an instant here: the engine counts UTC without leap seconds",
            ));
        }
        if sec > 59 {
            return Err(bad("seconds are 00–59"));
        }
        time = Some((h as i8, mi as i8, sec as i8, nanos as i32));
        rest = r;
    }
    let mut offset = None;
    if time.is_some() {
        if let Some(r) = rest.strip_prefix('Z').or_else(|| rest.strip_prefix('z')) {
            offset = Some(0);
            rest = r;
        } else if let Some(sign) = rest.chars().next().filter(|c| *c == '+' || *c == '-') {
            let r = rest.get(1..).unwrap_or_default();
            let (oh, r) = digits(r, 2).ok_or_else(|| bad("an offset is `±HH:MM`"))?;
            let r = r
                .strip_prefix(':')
                .ok_or_else(|| bad("an offset is `±HH:MM`"))?;
            let (om, r) = digits(r, 2).ok_or_else(|| bad("an offset is `±HH:MM`"))?;
            if oh > 23 || om > 59 {
                return Err(bad("an offset is at most ±23:59"));
            }
            let secs = i32::try_from(oh * 3600 + om * 60).unwrap_or(0);
            offset = Some(if sign == '-' { -secs } else { secs });
            rest = r;
        }
    }
    let mut zone = None;
    if let Some(r) = rest.strip_prefix('[') {
        let end = r
            .find(']')
            .ok_or_else(|| bad("an unclosed `[` zone annotation"))?;
        let name = r.get(..end).unwrap_or_default();
        let name = name.strip_prefix('!').unwrap_or(name);
        if name.is_empty() || name.contains('=') {
            return Err(bad(
                "the only annotation taken is a time zone, e.g. `[Asia/Seoul]`",
            ));
        }
        zone = Some(name);
        rest = r.get(end + 1..).unwrap_or_default();
    }
    if !rest.is_empty() {
        return Err(bad(&format!("unexpected `{rest}`")));
    }
    Ok(Written {
        date,
        time,
        offset,
        zone,
    })
}

/// Days from 1970-01-01 to `date` (proleptic Gregorian).
fn days_from_epoch(date: Date) -> i64 {
    let (y, m, d) = (
        i64::from(date.year()),
        i64::from(date.month()),
        i64::from(date.day()),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The instant a civil date and time at a fixed offset names. Instants of
/// the last hours of 9999 beyond what jiff represents (it keeps a day's
/// margin for offsets) are taken as its last instant: nothing any profile
/// can record falls between them, so every decision there is the same.
fn at_offset(
    text: &str,
    date: Date,
    time: (i8, i8, i8, i32),
    offset: i32,
) -> Result<Timestamp, TimeError> {
    let (h, mi, s, ns) = time;
    let secs =
        days_from_epoch(date) * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s)
            - i64::from(offset);
    if secs > LAST_SECOND {
        return Err(TimeError::OutOfRange(text.to_owned()));
    }
    match Timestamp::new(secs, ns) {
        Ok(ts) => Ok(ts),
        Err(_) if secs > 0 => Ok(Timestamp::MAX),
        Err(_) => Err(TimeError::OutOfRange(text.to_owned())),
    }
}

/// The civil date and time `dt` in `zone`, refused when the zone's clocks
/// skip it or pass through it twice.
fn in_zone(
    text: &str,
    date: Date,
    time: (i8, i8, i8, i32),
    zone: &TimeZone,
    name: &str,
) -> Result<Timestamp, TimeError> {
    let (h, mi, s, ns) = time;
    let dt = date.at(h, mi, s, ns);
    match zone.to_ambiguous_timestamp(dt).unambiguous() {
        Ok(ts) => Ok(ts),
        Err(_) => {
            // Past jiff's range (the last day of 9999), or a gap or fold.
            if date.year() == 9999 && date.month() == 12 && date.day() >= 30 {
                let offset = zone.to_offset(Timestamp::MAX).seconds();
                return at_offset(text, date, time, offset);
            }
            Err(invalid(
                text,
                format!(
                    "{dt} happens twice or not at all in `{name}` (a clock change); give an offset"
                ),
            ))
        }
    }
}

/// Parses an absolute instant: RFC 3339 with an offset (`Z` allowed; at
/// most ±23:59; no second 60), or with a bracketed zone (RFC 9557), or
/// both when they agree. A time without offset or zone is refused, and so
/// is a bare date (see [`parse_instant_or_date`]).
pub fn parse_instant(text: &str) -> Result<Timestamp, TimeError> {
    let text = text.trim();
    let w = read(text)?;
    let Some(time) = w.time else {
        return Err(TimeError::DateOnly(text.to_owned()));
    };
    match (w.offset, w.zone) {
        (None, None) => Err(TimeError::NoOffset(text.to_owned())),
        (Some(offset), None) => at_offset(text, w.date, time, offset),
        (None, Some(name)) => in_zone(text, w.date, time, &zone(name)?, name),
        (Some(offset), Some(name)) => {
            let ts = at_offset(text, w.date, time, offset)?;
            let z = zone(name)?;
            let theirs = z.to_offset(ts);
            if theirs.seconds() != offset {
                return Err(invalid(
                    text,
                    format!("the offset contradicts `{name}`, which is {theirs} at that instant"),
                ));
            }
            Ok(ts)
        }
    }
}

/// An instant, or a whole civil day in a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstantOrDate {
    /// An absolute instant.
    Instant(Timestamp),
    /// A civil date; its zone is the caller's.
    Date(Date),
    /// A civil date with its zone written (`2027-01-01[Asia/Seoul]`).
    DateIn(Date, TimeZone),
}

/// Parses an instant, or a date (`YYYY-MM-DD`, optionally with a zone
/// annotation) meaning that whole day.
pub fn parse_instant_or_date(text: &str) -> Result<InstantOrDate, TimeError> {
    let trimmed = text.trim();
    let w = read(trimmed)?;
    if w.time.is_some() {
        return parse_instant(trimmed).map(InstantOrDate::Instant);
    }
    match w.zone {
        None => Ok(InstantOrDate::Date(w.date)),
        Some(name) => Ok(InstantOrDate::DateIn(w.date, zone(name)?)),
    }
}

impl InstantOrDate {
    /// The first instant *after* this value: for a date, the start of the next
    /// day in its zone, or `zone` when it has none (so the date is valid
    /// through its last nanosecond); for an instant, the instant itself.
    pub fn end_exclusive(&self, zone: &TimeZone) -> Result<Timestamp, TimeError> {
        match self {
            InstantOrDate::Instant(ts) => Ok(*ts),
            InstantOrDate::Date(d) | InstantOrDate::DateIn(d, _) => {
                let z = self.zone_or(zone);
                match d.tomorrow() {
                    Ok(next) => start_of_day(next, z),
                    // The day after 9999-12-31: the end of the calendar.
                    Err(_) => Ok(Timestamp::MAX),
                }
            }
        }
    }

    /// The first instant of this value: for a date, its start in its zone,
    /// or `zone` when it has none.
    pub fn start(&self, zone: &TimeZone) -> Result<Timestamp, TimeError> {
        match self {
            InstantOrDate::Instant(ts) => Ok(*ts),
            InstantOrDate::Date(d) | InstantOrDate::DateIn(d, _) => {
                start_of_day(*d, self.zone_or(zone))
            }
        }
    }

    /// The date, if this is one.
    pub fn date(&self) -> Option<Date> {
        match self {
            InstantOrDate::Instant(_) => None,
            InstantOrDate::Date(d) | InstantOrDate::DateIn(d, _) => Some(*d),
        }
    }

    fn zone_or<'a>(&'a self, zone: &'a TimeZone) -> &'a TimeZone {
        match self {
            InstantOrDate::DateIn(_, z) => z,
            _ => zone,
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

    fn refused(text: &str) -> String {
        match parse_instant(text) {
            Ok(ts) => panic!("`{text}` parsed as {ts}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn offsets_are_at_most_23_59_and_written_hh_mm() {
        assert_eq!(
            parse_instant("2019-11-23T00:00:00+23:59").unwrap(),
            parse_instant("2019-11-22T00:01:00Z").unwrap()
        );
        assert_eq!(
            parse_instant("2019-11-23T00:00:00-23:59").unwrap(),
            parse_instant("2019-11-23T23:59:00Z").unwrap()
        );
        for bad in [
            "2019-11-23T00:00:00+24:00",
            "2019-11-23T00:00:00+25:30",
            "2019-11-23T00:00:00+09:60",
            "2019-11-23T00:00:00+0900",
            "2019-11-23T00:00:00+9:00",
        ] {
            assert!(refused(bad).contains("offset"), "{bad}: {}", refused(bad));
        }
        // `-00:00` and lower-case `t`/`z` are RFC 3339.
        assert_eq!(
            parse_instant("2019-11-23t00:00:00z").unwrap(),
            parse_instant("2019-11-23T00:00:00-00:00").unwrap()
        );
    }

    #[test]
    fn second_60_is_no_instant_and_seconds_are_required() {
        for bad in ["2016-12-31T23:59:60Z", "2019-11-23T23:59:60+09:00"] {
            assert!(refused(bad).contains("leap second"), "{bad}");
        }
        assert!(refused("2019-11-23T00:00+09:00").contains("seconds"));
        assert!(refused("2019-11-23T24:00:00Z").contains("hours"));
        assert!(refused("2019-02-29T00:00:00Z").contains("calendar date"));
        assert!(refused("2019-11-23T00:00:00.0000000001Z").contains("fraction"));
        assert_eq!(
            parse_instant("2019-11-23T00:00:00.123456789Z")
                .unwrap()
                .subsec_nanosecond(),
            123_456_789
        );
    }

    #[test]
    fn a_zone_annotation_must_agree_with_the_offset_and_name_one_instant() {
        let seoul = parse_instant("2019-11-23T00:00:00+09:00").unwrap();
        assert_eq!(
            parse_instant("2019-11-23T00:00:00+09:00[Asia/Seoul]").unwrap(),
            seoul
        );
        assert_eq!(
            parse_instant("2019-11-23T00:00:00+09:00[!Asia/Seoul]").unwrap(),
            seoul
        );
        assert_eq!(
            parse_instant("2019-11-23T00:00:00[Asia/Seoul]").unwrap(),
            seoul
        );
        assert!(refused("2019-11-23T00:00:00+09:00[America/New_York]").contains("contradicts"));
        // New York's clocks skip 02:30 on 10 March 2019 and pass 01:30 twice on 3 November.
        assert!(refused("2019-03-10T02:30:00[America/New_York]").contains("clock change"));
        assert!(refused("2019-11-03T01:30:00[America/New_York]").contains("clock change"));
        assert_eq!(
            parse_instant("2019-11-03T01:30:00-04:00[America/New_York]")
                .unwrap()
                .to_string(),
            "2019-11-03T05:30:00Z"
        );
        assert!(refused("2019-11-23T00:00:00+09:00[u-ca=japanese]").contains("time zone"));
        assert!(matches!(
            parse_instant("2019-11-23T00:00:00[Mars/Olympus]"),
            Err(TimeError::UnknownZone(_))
        ));
    }

    #[test]
    fn a_date_with_or_without_a_zone_means_that_whole_day_in_that_zone() {
        let utc = TimeZone::UTC;
        let seoul = zone("Asia/Seoul").unwrap();
        let bare = parse_instant_or_date("2027-01-01").unwrap();
        let annotated = parse_instant_or_date("2027-01-01[Asia/Seoul]").unwrap();
        // A bare date takes the caller's zone; an annotated one its own.
        assert_eq!(
            bare.end_exclusive(&seoul).unwrap(),
            annotated.end_exclusive(&utc).unwrap()
        );
        assert_eq!(
            format_in(annotated.start(&utc).unwrap(), &seoul),
            "2027-01-01T00:00:00+09:00"
        );
        assert_eq!(
            format_in(annotated.end_exclusive(&utc).unwrap(), &seoul),
            "2027-01-02T00:00:00+09:00",
            "through its last nanosecond"
        );
        assert!(matches!(
            parse_instant("2027-01-01[Asia/Seoul]"),
            Err(TimeError::DateOnly(_))
        ));
        // The last day of the calendar still ends.
        assert_eq!(
            parse_instant_or_date("9999-12-31")
                .unwrap()
                .end_exclusive(&utc)
                .unwrap(),
            Timestamp::MAX
        );
    }

    #[test]
    fn every_instant_to_the_end_of_9999_is_answered_and_nothing_after() {
        for last in [
            "9999-12-31T23:59:59.999999999Z",
            "9999-12-31T23:59:59+00:00",
            "9999-12-31T23:00:00+09:00",
            "9999-12-31T23:59:59[Asia/Seoul]",
            "9999-12-30T22:00:00Z",
        ] {
            assert!(parse_instant(last).is_ok(), "{last}");
        }
        // Beyond jiff's last instant: decided as at it (nothing can differ there).
        assert_eq!(
            parse_instant("9999-12-31T23:59:59.999999999Z").unwrap(),
            Timestamp::MAX
        );
        assert!(matches!(
            parse_instant("9999-12-31T23:59:59-00:01"),
            Err(TimeError::OutOfRange(_))
        ));
        assert!(parse_instant("0000-01-01T00:00:00Z").is_ok());
        assert!(refused("10000-01-01T00:00:00Z").contains("after the year"));
    }

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

//! ACL time windows: weekdays and a local time range in an IANA time zone.
//!
//! Windows are judged on the wall clock of their zone, so they follow DST: a window of
//! 08:00–18:30 Europe/Berlin opens at 06:00 UTC in summer and 07:00 UTC in winter. On the
//! spring-forward day the skipped local hour never occurs (a window inside it does not open
//! that day); on the fall-back day the repeated hour occurs twice and is inside a window that
//! covers it both times. The tz database is the one compiled into the binary, never the host's.

use jiff::civil::{DateTime, Weekday};
use jiff::tz::{TimeZone, TimeZoneDatabase};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Minutes in a day: `24:00` as a `to`.
const DAY_MINUTES: u16 = 24 * 60;

/// The weekdays as a policy names them and as a reason shows them. The one table for both.
const DAYS: [(&str, &str, Weekday); 7] = [
    ("mon", "Mon", Weekday::Monday),
    ("tue", "Tue", Weekday::Tuesday),
    ("wed", "Wed", Weekday::Wednesday),
    ("thu", "Thu", Weekday::Thursday),
    ("fri", "Fri", Weekday::Friday),
    ("sat", "Sat", Weekday::Saturday),
    ("sun", "Sun", Weekday::Sunday),
];

/// The longest time zone name accepted (the longest IANA name is about 32 characters).
pub(super) const MAX_ZONE_LEN: usize = 64;

/// When commands may run: on `days` (the days a window *starts*), from `from` up to but not
/// including `to`, local time in `time_zone`. `to <= from` runs past midnight into the next
/// day. All four fields are required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeWindow {
    /// Weekdays the window starts on: `mon`, `tue`, `wed`, `thu`, `fri`, `sat`, `sun`.
    #[schema(example = json!(["mon", "tue", "wed", "thu", "fri"]))]
    pub days: Vec<String>,
    /// Start, `HH:MM` (24 h, `00:00`–`23:59`), inclusive.
    #[schema(example = "08:00")]
    pub from: String,
    /// End, `HH:MM` (24 h, `00:01`–`24:00`), exclusive; at or before `from`: the next day.
    #[schema(example = "18:30")]
    pub to: String,
    /// IANA time zone name, e.g. `Europe/Berlin` or `UTC`.
    #[schema(example = "Europe/Berlin")]
    pub time_zone: String,
}

/// The weekday named `name` (`mon`…`sun`, lowercase), if any.
pub(super) fn weekday(name: &str) -> Option<Weekday> {
    DAYS.iter().find(|(n, _, _)| *n == name).map(|(_, _, d)| *d)
}

/// The accepted day names, for error messages.
pub(super) fn day_names() -> String {
    DAYS.map(|(n, _, _)| n).join(", ")
}

/// Minutes since midnight of an `HH:MM` time; `24:00` only when `end` is set.
pub(super) fn minutes(s: &str, end: bool) -> Option<u16> {
    let [h1, h2, b':', m1, m2] = *s.as_bytes() else {
        return None;
    };
    let digit = |b: u8| b.is_ascii_digit().then(|| u16::from(b - b'0'));
    let (h, m) = (digit(h1)? * 10 + digit(h2)?, digit(m1)? * 10 + digit(m2)?);
    let total = h * 60 + m;
    let ok = m < 60 && (h < 24 || (end && total == DAY_MINUTES));
    ok.then_some(total)
}

/// The zone named `name` in the bundled tz database. `Etc/Unknown` (jiff's placeholder for
/// "no zone") is not a zone a policy can mean, so it is refused like a missing one.
pub(super) fn zone(name: &str) -> Option<TimeZone> {
    if name.len() > MAX_ZONE_LEN {
        return None;
    }
    TimeZoneDatabase::bundled()
        .get(name)
        .ok()
        .filter(|tz| !tz.is_unknown())
}

/// Local wall-clock time of `now` in `tz`; `None` outside jiff's supported range.
fn local(now: time::OffsetDateTime, tz: &TimeZone) -> Option<DateTime> {
    let ts = Timestamp::from_second(now.unix_timestamp()).ok()?;
    Some(tz.to_datetime(ts))
}

impl TimeWindow {
    /// Whether `now` is inside this window. Anything unparsable (a bad time, an unknown zone
    /// or day) does not match: a broken window never opens.
    pub(super) fn contains(&self, now: time::OffsetDateTime) -> bool {
        self.check(now).unwrap_or(false)
    }

    fn check(&self, now: time::OffsetDateTime) -> Option<bool> {
        let from = minutes(&self.from, false)?;
        let to = minutes(&self.to, true)?;
        let at = local(now, &zone(&self.time_zone)?)?;
        let t = u16::try_from(i32::from(at.hour()) * 60 + i32::from(at.minute())).ok()?;
        let today = self.starts_on(at.weekday())?;
        if from < to {
            return Some(today && from <= t && t < to);
        }
        // Past midnight: the evening part belongs to today's window, the early-morning part
        // to the window that started yesterday.
        let yesterday = self.starts_on(at.weekday().previous())?;
        Some((today && t >= from) || (yesterday && t < to))
    }

    /// Whether the window starts on `day`; `None` if a day name is not one.
    fn starts_on(&self, day: Weekday) -> Option<bool> {
        let mut hit = false;
        for name in &self.days {
            hit |= weekday(name)? == day;
        }
        Some(hit)
    }
}

/// `now` as a person reads it in zone `name`, e.g. `Sat 23:10 Europe/Berlin`, or a note that
/// the zone is unknown.
pub(super) fn describe_now(now: time::OffsetDateTime, name: &str) -> String {
    let Some(at) = zone(name).and_then(|tz| local(now, &tz)) else {
        return format!("time zone {} unknown", super::shown(name));
    };
    let day = DAYS
        .iter()
        .find(|(_, _, d)| *d == at.weekday())
        .map_or("?", |(_, short, _)| *short);
    format!("{day} {:02}:{:02} {name}", at.hour(), at.minute())
}

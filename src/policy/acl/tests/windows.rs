//! Time windows on the wall clock of real zones, across DST and midnight.

use super::*;

/// A policy with the one window `days` `from`–`to` in `zone`.
fn window(days: &[&str], from: &str, to: &str, zone: &str) -> AclPolicy {
    let p = policy(json!({
        "windows": [{ "days": days, "from": from, "to": to, "time_zone": zone }],
    }));
    p.validate().unwrap();
    p
}

fn open_at(p: &AclPolicy, now: OffsetDateTime) -> bool {
    let d = ask(p, ActionKind::Exec, Role::Operator, AGENT, &[], now);
    assert_eq!(
        d.rule,
        if d.allowed {
            "default_allow"
        } else {
            "outside_time_window"
        }
    );
    d.allowed
}

/// The minutes from `start` (inclusive) to `end` (exclusive) at which `p` is open.
fn open_minutes(p: &AclPolicy, start: OffsetDateTime, end: OffsetDateTime) -> Vec<OffsetDateTime> {
    let mut t = start;
    let mut open = Vec::new();
    while t < end {
        if open_at(p, t) {
            open.push(t);
        }
        t += time::Duration::minutes(1);
    }
    open
}

#[test]
fn office_hours_follow_berlin_summer_and_winter_time() {
    let p = window(
        &["mon", "tue", "wed", "thu", "fri"],
        "08:00",
        "18:30",
        "Europe/Berlin",
    );
    // Monday 1 June 2026, CEST = UTC+2.
    assert!(!open_at(&p, datetime!(2026-06-01 05:59:59 UTC)));
    assert!(open_at(&p, datetime!(2026-06-01 06:00 UTC)));
    assert!(open_at(&p, datetime!(2026-06-01 16:29:59.999 UTC)));
    assert!(
        !open_at(&p, datetime!(2026-06-01 16:30 UTC)),
        "`to` is exclusive"
    );
    // Monday 5 January 2026, CET = UTC+1.
    assert!(!open_at(&p, datetime!(2026-01-05 06:59 UTC)));
    assert!(open_at(&p, datetime!(2026-01-05 07:00 UTC)));
    assert!(open_at(&p, datetime!(2026-01-05 17:29 UTC)));
    assert!(!open_at(&p, datetime!(2026-01-05 17:30 UTC)));
    // Saturday 6 June 2026 noon.
    assert!(!open_at(&p, datetime!(2026-06-06 10:00 UTC)));
}

#[test]
fn the_weekday_is_the_local_one() {
    let p = window(&["mon"], "08:00", "18:00", "Asia/Tokyo");
    // Sunday 23:30 UTC is Monday 08:30 in Tokyo; Monday 23:30 UTC is already Tuesday there.
    assert!(open_at(&p, datetime!(2026-05-31 23:30 UTC)));
    assert!(!open_at(&p, datetime!(2026-06-01 23:30 UTC)));
}

#[test]
fn the_skipped_hour_of_spring_forward_never_opens() {
    // Sunday 29 March 2026: Berlin jumps from 02:00 CET to 03:00 CEST at 01:00 UTC.
    let (start, end) = (
        datetime!(2026-03-28 20:00 UTC),
        datetime!(2026-03-29 06:00 UTC),
    );
    let inside_the_gap = window(&["sun"], "02:00", "02:30", "Europe/Berlin");
    assert!(open_minutes(&inside_the_gap, start, end).is_empty());
    // The Sunday after, the same window opens at 02:00 CEST.
    assert!(open_at(&inside_the_gap, datetime!(2026-04-05 00:00 UTC)));

    // 01:00–03:30 local spans the jump: 01:00–01:59 CET and 03:00–03:29 CEST, 90 minutes.
    let across = window(&["sun"], "01:00", "03:30", "Europe/Berlin");
    let open = open_minutes(&across, start, end);
    assert_eq!(open.len(), 90);
    assert_eq!(open.first(), Some(&datetime!(2026-03-29 00:00 UTC)));
    assert_eq!(open.last(), Some(&datetime!(2026-03-29 01:29 UTC)));
}

#[test]
fn the_repeated_hour_of_fall_back_is_open_both_times() {
    // Sunday 25 October 2026: Berlin goes from 03:00 CEST back to 02:00 CET at 01:00 UTC.
    let p = window(&["sun"], "02:00", "03:00", "Europe/Berlin");
    let open = open_minutes(
        &p,
        datetime!(2026-10-24 20:00 UTC),
        datetime!(2026-10-25 06:00 UTC),
    );
    // 02:00–02:59 CEST (00:00–00:59 UTC), then 02:00–02:59 CET (01:00–01:59 UTC).
    assert_eq!(open.len(), 120);
    assert_eq!(open.first(), Some(&datetime!(2026-10-25 00:00 UTC)));
    assert_eq!(open.last(), Some(&datetime!(2026-10-25 01:59 UTC)));
}

#[test]
fn a_night_window_belongs_to_the_day_it_starts() {
    // Friday 22:00 to Saturday 06:00, Berlin winter (UTC+1). 9 January 2026 is a Friday.
    let p = window(&["fri"], "22:00", "06:00", "Europe/Berlin");
    assert!(!open_at(&p, datetime!(2026-01-09 20:59 UTC)), "Fri 21:59");
    assert!(open_at(&p, datetime!(2026-01-09 21:00 UTC)), "Fri 22:00");
    assert!(open_at(&p, datetime!(2026-01-09 23:30 UTC)), "Sat 00:30");
    assert!(open_at(&p, datetime!(2026-01-10 04:59 UTC)), "Sat 05:59");
    assert!(!open_at(&p, datetime!(2026-01-10 05:00 UTC)), "Sat 06:00");
    assert!(
        !open_at(&p, datetime!(2026-01-10 21:30 UTC)),
        "Sat 22:30: not a start day"
    );
    assert!(
        !open_at(&p, datetime!(2026-01-09 02:00 UTC)),
        "Fri 03:00 belongs to Thursday's window"
    );
}

#[test]
fn a_sunday_night_window_runs_into_monday() {
    let p = window(&["sun"], "23:00", "01:00", "UTC");
    assert!(open_at(&p, datetime!(2026-06-07 23:00 UTC)), "Sun 23:00");
    assert!(open_at(&p, datetime!(2026-06-08 00:59 UTC)), "Mon 00:59");
    assert!(!open_at(&p, datetime!(2026-06-08 01:00 UTC)), "Mon 01:00");
    assert!(!open_at(&p, datetime!(2026-06-08 23:00 UTC)), "Mon 23:00");
}

#[test]
fn to_24_00_runs_until_midnight() {
    let evening = window(&["mon"], "20:00", "24:00", "UTC");
    assert!(open_at(&evening, datetime!(2026-06-01 23:59:59 UTC)));
    assert!(!open_at(&evening, datetime!(2026-06-02 00:00 UTC)));
    assert!(!open_at(&evening, datetime!(2026-06-01 19:59 UTC)));

    let all_day = window(&["mon"], "00:00", "24:00", "UTC");
    assert!(open_at(&all_day, datetime!(2026-06-01 00:00 UTC)));
    assert!(open_at(&all_day, datetime!(2026-06-01 23:59 UTC)));
    assert!(!open_at(&all_day, datetime!(2026-05-31 23:59 UTC)));
    assert!(!open_at(&all_day, datetime!(2026-06-02 00:00 UTC)));

    // `to` 00:00 after a `from` is past midnight, so it too ends at midnight.
    let to_midnight = window(&["mon"], "20:00", "00:00", "UTC");
    assert!(open_at(&to_midnight, datetime!(2026-06-01 23:59 UTC)));
    assert!(!open_at(&to_midnight, datetime!(2026-06-02 00:00 UTC)));
}

#[test]
fn any_open_window_is_enough() {
    let p = policy(json!({
        "windows": [
            { "days": ["mon"], "from": "08:00", "to": "09:00", "time_zone": "UTC" },
            { "days": ["mon"], "from": "12:00", "to": "13:00", "time_zone": "UTC" },
        ],
    }));
    assert!(open_at(&p, datetime!(2026-06-01 08:30 UTC)));
    assert!(open_at(&p, datetime!(2026-06-01 12:30 UTC)));
    assert!(!open_at(&p, datetime!(2026-06-01 10:30 UTC)));
}

#[test]
fn a_window_in_an_unknown_zone_never_opens() {
    let broken = json!({ "days": ["mon"], "from": "00:00", "to": "24:00",
                         "time_zone": "Mars/Olympus_Mons" });
    let p = policy(json!({ "windows": [broken.clone()] }));
    let d = exec(&p, AGENT, &[]);
    assert_eq!(d.rule, "outside_time_window");
    assert_eq!(
        d.reason,
        "outside the allowed time windows (now time zone \"Mars/Olympus_Mons\" unknown)"
    );
    // Another window still opens on its own.
    let ok = json!({ "days": ["mon"], "from": "00:00", "to": "24:00", "time_zone": "UTC" });
    let p = policy(json!({ "windows": [broken, ok] }));
    assert!(exec(&p, AGENT, &[]).allowed);
}

#[test]
fn a_window_with_bad_fields_never_opens() {
    // evaluate assumes validate passed; if it did not, a broken window stays shut.
    for (days, from, to) in [
        (vec!["mon", "funday"], "00:00", "24:00"),
        (vec!["mon"], "24:00", "10:00"),
        (vec!["mon"], "00:00", "25:00"),
        (vec!["mon"], "0:00", "24:00"),
    ] {
        let p = policy(json!({
            "windows": [{ "days": days, "from": from, "to": to, "time_zone": "UTC" }],
        }));
        assert!(p.validate().is_err());
        assert!(!exec(&p, AGENT, &[]).allowed, "{days:?} {from} {to}");
    }
}

#[test]
fn times_beyond_the_tz_database_range_fail_closed() {
    let p = window(&["fri"], "00:00", "24:00", "UTC");
    let d = ask(
        &p,
        ActionKind::Exec,
        Role::Owner,
        AGENT,
        &[],
        datetime!(9999-12-31 23:59:59 UTC),
    );
    assert_eq!((d.allowed, d.rule), (false, "outside_time_window"));
}

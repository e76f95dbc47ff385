//! Quiet hours: a member's daily window (local wall-clock times, in their
//! zone) in which SMS and push reminders are held, never dropped, and
//! delivered when the window ends; and the whole send-time decision of a
//! claimed reminder (stale → skip, quiet → hold, otherwise send). Pure: the
//! senders and the minute run act on what is decided here.
//!
//! - The window is `[start, end)` on the member's wall clock; `start > end`
//!   crosses midnight (22:00–07:00), `start == end` is no window at all.
//! - A held delivery is released at the first instant after it was handled
//!   at which the member's wall clock reaches `end` and shows a time outside
//!   the window: when `end` falls in a spring-forward gap, the first valid
//!   instant after it (the end of the gap: 02:30 on the last Sunday of March
//!   in Warsaw releases at 03:00 CEST); when it is ambiguous (fall-back), the
//!   earlier instant that is still after the handled time, as `schedule.rs`
//!   reads ambiguous times. So nothing is ever sent while the wall clock
//!   shows a time inside the window (never early), and nothing is held past
//!   the window's end (a fall-back hour that briefly shows times outside the
//!   window does not end it).

use crate::{Freshness, Stale};
use chrono::{DateTime, Days, MappedLocalTime, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// A member's quiet window (`users.quiet_hours_start`, `quiet_hours_end`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    start: NaiveTime,
    end: NaiveTime,
}

/// What quiet hours say about a delivery handled now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuietDecision {
    /// Outside the window (or no window): send it now.
    SendNow,
    /// Inside the window: hold it until this instant (the window's end).
    HoldUntil(DateTime<Utc>),
}

impl QuietHours {
    /// The window of the two columns; `None` when both are NULL, when only
    /// one is set (the database refuses that) or when they are equal.
    pub fn new(start: Option<NaiveTime>, end: Option<NaiveTime>) -> Option<Self> {
        match (start, end) {
            (Some(start), Some(end)) if start != end => Some(QuietHours { start, end }),
            _ => None,
        }
    }

    /// Whether a local time of day is inside the window.
    pub fn contains(&self, local: NaiveTime) -> bool {
        if self.start < self.end {
            self.start <= local && local < self.end
        } else {
            local >= self.start || local < self.end
        }
    }

    /// Send now, or hold until the window's end, for a delivery handled at
    /// `handled_at` for a member in `zone`.
    pub fn decide(&self, handled_at: DateTime<Utc>, zone: Tz) -> QuietDecision {
        let local = handled_at.with_timezone(&zone).naive_local();
        if !self.contains(local.time()) {
            return QuietDecision::SendNow;
        }
        // The wall clock reaches `end` today or tomorrow (later only when a
        // gap jumps over `end` straight back into the window).
        let release = (0..=3)
            .filter_map(|days| local.date().checked_add_days(Days::new(days)))
            .flat_map(|date| instants_of(zone, date.and_time(self.end)))
            .find(|&instant| instant > handled_at && !self.contains(instant.with_timezone(&zone).time()));
        // Only beyond chrono's range is there no end to wait for.
        release.map_or(QuietDecision::SendNow, QuietDecision::HoldUntil)
    }
}

/// The instants at which the wall clock of `zone` reaches `local`, in
/// order: one, two in a fall-back overlap, or the end of a spring-forward
/// gap the time falls into.
fn instants_of(zone: Tz, local: NaiveDateTime) -> Vec<DateTime<Utc>> {
    match zone.from_local_datetime(&local) {
        MappedLocalTime::Single(instant) => vec![instant.with_timezone(&Utc)],
        MappedLocalTime::Ambiguous(earlier, later) => vec![earlier.with_timezone(&Utc), later.with_timezone(&Utc)],
        MappedLocalTime::None => gap_end(zone, local).into_iter().collect(),
    }
}

/// The first instant after a spring-forward gap that `local` falls into:
/// the transition itself, found by bisection between the two readings of
/// `local` (with the offsets a day before and a day after; zones do not
/// change their offset twice within a day).
fn gap_end(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let offset_at = |instant: DateTime<Utc>| zone.offset_from_utc_datetime(&instant.naive_utc()).fix();
    let before = offset_at(local.checked_sub_signed(TimeDelta::days(1))?.and_utc()).local_minus_utc();
    let after = offset_at(local.checked_add_signed(TimeDelta::days(1))?.and_utc()).local_minus_utc();
    let mut high = local.checked_sub_signed(TimeDelta::seconds(i64::from(before)))?.and_utc().timestamp();
    if after <= before {
        return DateTime::from_timestamp(high, 0);
    }
    // Invariant: `low` is before the transition, `high` at or after it
    // (transitions fall on whole seconds).
    let mut low = local.checked_sub_signed(TimeDelta::seconds(i64::from(after)))?.and_utc().timestamp();
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if offset_at(DateTime::from_timestamp(middle, 0)?).local_minus_utc() == before {
            low = middle;
        } else {
            high = middle;
        }
    }
    DateTime::from_timestamp(high, 0)
}

/// The zone a member's quiet hours are read in: their own
/// (`users.time_zone`), else the event's, else UTC (a name chrono-tz cannot
/// read falls through to the next; the database refuses such names).
pub fn member_zone(user_zone: Option<&str>, event_zone: &str) -> Tz {
    user_zone.and_then(|zone| zone.parse().ok()).or_else(|| event_zone.parse().ok()).unwrap_or(Tz::UTC)
}

/// What a sender does with a claimed reminder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendDecision {
    /// Fresh and outside quiet hours: send it.
    Send,
    /// Not sent: the row is `skipped` with the reason.
    Skip(Stale),
    /// Held: the row is `deferred` until this instant.
    Hold(DateTime<Utc>),
}

/// The send-time decision for a reminder handled at `now`. `released`: the
/// row was released from a quiet-hours deferral (it is never held again,
/// and only the event's start makes it stale). `quiet`: the member's window
/// and zone, when this channel holds deliveries in quiet hours.
pub fn send_decision(
    freshness: Freshness,
    now: DateTime<Utc>,
    released: bool,
    quiet: Option<(QuietHours, Tz)>,
) -> SendDecision {
    if let Err(stale) = freshness.check(now, released) {
        return SendDecision::Skip(stale);
    }
    match quiet {
        Some((hours, zone)) if !released => match hours.decide(now, zone) {
            QuietDecision::HoldUntil(until) => SendDecision::Hold(until),
            QuietDecision::SendNow => SendDecision::Send,
        },
        _ => SendDecision::Send,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_time::utc;
    use chrono::{Datelike, NaiveDate, Timelike};
    use proptest::prelude::*;

    fn time(text: &str) -> NaiveTime {
        NaiveTime::parse_from_str(text, "%H:%M").expect("test time")
    }

    fn window(start: &str, end: &str) -> QuietHours {
        QuietHours::new(Some(time(start)), Some(time(end))).expect("a window")
    }

    const WARSAW: Tz = chrono_tz::Europe::Warsaw;

    #[test]
    fn no_window_when_unset_or_empty() {
        assert_eq!(QuietHours::new(None, None), None);
        assert_eq!(QuietHours::new(Some(time("22:00")), None), None);
        assert_eq!(QuietHours::new(None, Some(time("07:00"))), None);
        assert_eq!(QuietHours::new(Some(time("07:00")), Some(time("07:00"))), None);
    }

    #[test]
    fn a_window_is_start_inclusive_end_exclusive_and_may_cross_midnight() {
        let night = window("22:00", "07:00");
        for inside in ["22:00", "23:59", "00:00", "03:00", "06:59"] {
            assert!(night.contains(time(inside)), "{inside}");
        }
        for outside in ["07:00", "12:00", "21:59"] {
            assert!(!night.contains(time(outside)), "{outside}");
        }
        let siesta = window("13:00", "15:00");
        assert!(siesta.contains(time("13:00")) && siesta.contains(time("14:59")));
        assert!(!siesta.contains(time("15:00")) && !siesta.contains(time("12:59")));
    }

    #[test]
    fn inside_is_held_until_the_end_outside_is_sent() {
        let night = window("22:00", "07:00");
        // 23:30 CET on 10 January → 07:00 CET the next day.
        assert_eq!(
            night.decide(utc("2026-01-10T22:30:00Z"), WARSAW),
            QuietDecision::HoldUntil(utc("2026-01-11T06:00:00Z"))
        );
        // 05:00 CET → 07:00 the same day.
        assert_eq!(
            night.decide(utc("2026-01-11T04:00:00Z"), WARSAW),
            QuietDecision::HoldUntil(utc("2026-01-11T06:00:00Z"))
        );
        assert_eq!(night.decide(utc("2026-01-11T06:00:00Z"), WARSAW), QuietDecision::SendNow);
        assert_eq!(night.decide(utc("2026-01-11T11:00:00Z"), WARSAW), QuietDecision::SendNow);
    }

    #[test]
    fn across_the_spring_forward_night_in_warsaw() {
        // 29 March 2026: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
        let night = window("22:00", "07:00");
        assert_eq!(
            night.decide(utc("2026-03-28T22:00:00Z"), WARSAW),
            QuietDecision::HoldUntil(utc("2026-03-29T05:00:00Z")),
            "23:00 CET → 07:00 CEST"
        );
        // An end inside the gap releases at the gap's end, 03:00 CEST.
        let ends_in_gap = window("23:00", "02:30");
        assert_eq!(
            ends_in_gap.decide(utc("2026-03-28T23:30:00Z"), WARSAW),
            QuietDecision::HoldUntil(utc("2026-03-29T01:00:00Z"))
        );
    }

    #[test]
    fn across_the_fall_back_night_in_warsaw() {
        // 25 October 2026: 03:00 CEST goes back to 02:00 CET (01:00 UTC).
        let night = window("22:00", "07:00");
        assert_eq!(
            night.decide(utc("2026-10-24T21:00:00Z"), WARSAW),
            QuietDecision::HoldUntil(utc("2026-10-25T06:00:00Z")),
            "23:00 CEST → 07:00 CET"
        );
        // An ambiguous end: the earlier 02:30 (CEST) when handled before it…
        let ends_twice = window("23:00", "02:30");
        assert_eq!(
            ends_twice.decide(utc("2026-10-24T23:00:00Z"), WARSAW),
            QuietDecision::HoldUntil(utc("2026-10-25T00:30:00Z"))
        );
        // …and the later one (CET) when handled during the repeated hour.
        assert_eq!(
            ends_twice.decide(utc("2026-10-25T01:10:00Z"), WARSAW),
            QuietDecision::HoldUntil(utc("2026-10-25T01:30:00Z"))
        );
    }

    #[test]
    fn the_members_zone_falls_back_to_the_events_then_utc() {
        assert_eq!(member_zone(Some("America/New_York"), "Europe/Warsaw"), chrono_tz::America::New_York);
        assert_eq!(member_zone(None, "Europe/Warsaw"), WARSAW);
        assert_eq!(member_zone(Some("CEST"), "Europe/Warsaw"), WARSAW);
        assert_eq!(member_zone(None, "nowhere"), Tz::UTC);
    }

    #[test]
    fn the_send_decision_skips_stale_holds_quiet_and_never_holds_a_released_row() {
        let night = Some((window("22:00", "07:00"), WARSAW));
        let at_night = utc("2026-01-10T23:00:00Z");
        let morning = utc("2026-01-11T06:00:00Z");
        let fresh = Freshness::default();
        assert_eq!(send_decision(fresh, at_night, false, night), SendDecision::Hold(morning));
        assert_eq!(send_decision(fresh, at_night, true, night), SendDecision::Send, "released");
        assert_eq!(send_decision(fresh, at_night, false, None), SendDecision::Send, "a channel that does not hold");

        let once = Freshness { event_starts_at: Some(at_night), late_after: None };
        assert_eq!(send_decision(once, at_night, false, night), SendDecision::Skip(Stale::EventStarted));
        assert_eq!(send_decision(once, morning, true, night), SendDecision::Skip(Stale::EventStarted));

        let periodical = Freshness { event_starts_at: None, late_after: Some(at_night - TimeDelta::minutes(1)) };
        assert_eq!(send_decision(periodical, at_night, false, night), SendDecision::Skip(Stale::TooLate));
        assert_eq!(send_decision(periodical, morning, true, night), SendDecision::Send, "released from quiet hours");
    }

    /// Zones with DST at 02:00 or 03:00, at midnight (São Paulo until 2019,
    /// Havana), by 30 minutes (Lord Howe), with 45-minute offsets (Chatham),
    /// south and north, and without DST.
    const ZONES: &[Tz] = &[
        chrono_tz::Europe::Warsaw,
        chrono_tz::America::New_York,
        chrono_tz::America::Sao_Paulo,
        chrono_tz::America::Havana,
        chrono_tz::Australia::Lord_Howe,
        chrono_tz::Pacific::Chatham,
        chrono_tz::Pacific::Auckland,
        chrono_tz::Asia::Kolkata,
        chrono_tz::UTC,
    ];

    /// The release a brute-force walk finds: the first whole minute after
    /// `handled_at` at which the wall clock reaches `end` (shows it, or
    /// jumps over it in a spring-forward gap) and shows a time outside.
    fn walk_to_end(zone: Tz, handled_at: DateTime<Utc>, hours: QuietHours) -> Option<DateTime<Utc>> {
        let end = hours.end;
        let local = |instant: DateTime<Utc>| instant.with_timezone(&zone).naive_local();
        let minute = handled_at.with_second(0).and_then(|t| t.with_nanosecond(0)).expect("a whole minute");
        let mut previous = local(minute);
        for step in 1..=(60 * 50) {
            let at = minute + TimeDelta::minutes(step);
            let now = local(at);
            let reached = if now > previous {
                // Any local time with `end` as its time of day in (previous, now].
                let candidate = previous.date().and_time(end);
                let candidates = [candidate, candidate + TimeDelta::days(1)];
                candidates.iter().any(|&c| previous < c && c <= now) && !hours.contains(now.time())
            } else {
                false
            };
            if reached {
                return Some(at);
            }
            previous = now;
        }
        None
    }

    fn check(zone: Tz, handled_at: DateTime<Utc>, hours: QuietHours) -> Result<(), TestCaseError> {
        let local = handled_at.with_timezone(&zone).naive_local();
        match hours.decide(handled_at, zone) {
            QuietDecision::SendNow => prop_assert!(!hours.contains(local.time()), "sent inside the window at {local}"),
            QuietDecision::HoldUntil(until) => {
                prop_assert!(hours.contains(local.time()), "held outside the window at {local}");
                prop_assert!(until > handled_at);
                prop_assert_eq!(Some(until), walk_to_end(zone, handled_at, hours), "at {} ({})", local, zone);
                let released = until.with_timezone(&zone).naive_local().time();
                prop_assert!(!hours.contains(released), "released inside at {released}");
            }
        }
        Ok(())
    }

    /// The DST transitions of a zone in a year (instants where the offset changes).
    fn transitions(zone: Tz, year: i32) -> Vec<DateTime<Utc>> {
        let offset = |t: DateTime<Utc>| zone.offset_from_utc_datetime(&t.naive_utc()).fix();
        let start = NaiveDate::from_ymd_opt(year, 1, 1).expect("a year").and_hms_opt(0, 0, 0).expect("midnight");
        let mut found = Vec::new();
        let mut t = start.and_utc();
        while t.year() == year {
            let next = t + TimeDelta::hours(6);
            if offset(t) != offset(next) {
                let (mut low, mut high) = (t.timestamp(), next.timestamp());
                while high - low > 1 {
                    let middle = low + (high - low) / 2;
                    let at = DateTime::from_timestamp(middle, 0).expect("an instant");
                    if offset(at) == offset(t) { low = middle } else { high = middle }
                }
                found.push(DateTime::from_timestamp(high, 0).expect("an instant"));
            }
            t = next;
        }
        found
    }

    fn minute_of_day(minutes: u32) -> NaiveTime {
        NaiveTime::from_num_seconds_from_midnight_opt(minutes * 60, 0).expect("a time of day")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn never_early_never_late_anywhere(
            zone in proptest::sample::select(ZONES),
            seconds in 946_684_800i64..2_208_988_800, // 2000 .. 2040
            start in 0u32..1440,
            end in 0u32..1440,
        ) {
            prop_assume!(start != end);
            let hours = window_of(start, end);
            check(zone, DateTime::from_timestamp(seconds, 0).expect("an instant"), hours)?;
        }

        #[test]
        fn never_early_never_late_around_dst_changes(
            zone in proptest::sample::select(ZONES),
            year in 2000i32..2040,
            which in 0usize..4,
            around in -(26 * 3600i64)..(26 * 3600),
            start in 0u32..1440,
            end_near_change in -90i64..90,
            end_anywhere in 0u32..1440,
            end_at_change in proptest::bool::ANY,
        ) {
            let changes = transitions(zone, year);
            prop_assume!(!changes.is_empty());
            let change = changes[which % changes.len()];
            // The window's end on either side of the change's wall-clock
            // time, or anywhere.
            let end = if end_at_change {
                let local = (change.with_timezone(&zone).naive_local() + TimeDelta::minutes(end_near_change)).time();
                local.hour() * 60 + local.minute()
            } else {
                end_anywhere
            };
            prop_assume!(start != end);
            check(zone, change + TimeDelta::seconds(around), window_of(start, end))?;
        }
    }

    fn window_of(start: u32, end: u32) -> QuietHours {
        QuietHours::new(Some(minute_of_day(start)), Some(minute_of_day(end))).expect("start differs from end")
    }

    #[test]
    fn every_minute_of_a_year_in_warsaw_across_midnight() {
        let night = window("22:00", "07:00");
        let mut t = utc("2026-01-01T00:00:00Z");
        while t < utc("2027-01-01T00:00:00Z") {
            check(WARSAW, t, night).map_err(|e| format!("{t}: {e}")).expect("holds");
            t += TimeDelta::minutes(37);
        }
    }
}

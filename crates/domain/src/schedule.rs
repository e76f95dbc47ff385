//! When an event's reminder fires.
//!
//! The months and days of a schedule period are calendar steps on the
//! event's local wall clock in its IANA zone, so a daily reminder at 18:00
//! stays at 18:00 across DST and a monthly one on the 31st is clamped to the
//! last day of shorter months without drifting. The microseconds part is
//! elapsed time, added after the calendar steps: that is how PostgreSQL adds
//! an `interval` to a `timestamptz`, and it keeps firings strictly increasing
//! even for sub-hour periods around a DST change.
//!
//! A local time the calendar steps land on may not exist or may exist twice:
//! - in a spring-forward gap it is shifted forward by the gap's length, i.e.
//!   read with the offset in force before the gap (02:30 in Warsaw on the last
//!   Sunday of March becomes 03:30 CEST), as PostgreSQL does;
//! - in a fall-back overlap it is the earlier of the two instants.

use crate::{ReminderKind, SchedulePeriod};
use chrono::{DateTime, MappedLocalTime, Months, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// Why a schedule cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The zone name is not one chrono-tz knows (the name).
    #[error("{0:?} is not a known IANA time zone")]
    UnknownTimeZone(String),
    /// Some part of the period is negative.
    #[error(
        "schedule period has a negative part ({} months, {} days, {} microseconds)",
        .0.months, .0.days, .0.microseconds
    )]
    NegativePeriod(SchedulePeriod),
    /// A periodical reminder with a period of zero.
    #[error("a periodical reminder needs a non-zero schedule period")]
    ZeroPeriod,
    /// A periodical reminder's period is under an hour (of elapsed time,
    /// with no months or days).
    #[error(
        "a periodical reminder's schedule period must be at least one hour, not {} microseconds",
        .0.microseconds
    )]
    PeriodUnderAnHour(SchedulePeriod),
}

/// The shortest period of a periodical reminder: one scheduler run then has
/// at most one firing per event to send, and members are not flooded. The
/// database refuses shorter ones too (migration V7).
pub(crate) const MIN_PERIODICAL_PERIOD: TimeDelta = TimeDelta::hours(1);

/// Every zone name the scheduler can read (chrono-tz's), in its order: what
/// the database's `time_zones` table must hold (tests/it/migrations.rs
/// compares the two).
pub fn known_time_zone_names() -> impl Iterator<Item = &'static str> {
    chrono_tz::TZ_VARIANTS.iter().map(|zone| zone.name())
}

/// The firings of one event's reminder.
///
/// `once`: a single firing, `period` before the event. `periodical`: firings
/// at the event time plus k periods, k = 0, 1, 2, … Each firing is computed
/// from the event time directly, never from the previous firing, so clamping
/// (Jan 31 → Feb 28) never carries over to later months.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderSchedule {
    kind: ReminderKind,
    event_at: DateTime<Utc>,
    period: SchedulePeriod,
    time_zone: Tz,
    /// The event's time on its local wall clock: the anchor of calendar steps.
    local_event_at: NaiveDateTime,
}

impl ReminderSchedule {
    /// The schedule of an event at `event_at` in `time_zone` (an IANA name),
    /// when the zone is known and the period fits the kind.
    pub fn new(
        kind: ReminderKind,
        event_at: DateTime<Utc>,
        period: SchedulePeriod,
        time_zone: &str,
    ) -> Result<Self, ScheduleError> {
        let time_zone: Tz = time_zone.parse().map_err(|_| ScheduleError::UnknownTimeZone(time_zone.to_owned()))?;
        if period.months < 0 || period.days < 0 || period.microseconds < 0 {
            return Err(ScheduleError::NegativePeriod(period));
        }
        if kind == ReminderKind::Periodical {
            check_periodical_period(period)?;
        }
        let local_event_at = event_at.with_timezone(&time_zone).naive_local();
        Ok(ReminderSchedule { kind, event_at, period, time_zone, local_event_at })
    }

    /// One firing, or one per period.
    pub fn kind(&self) -> ReminderKind {
        self.kind
    }

    /// The event's time (its first occurrence, for periodical).
    pub fn event_at(&self) -> DateTime<Utc> {
        self.event_at
    }

    /// The lead time (`once`) or the period (`periodical`).
    pub fn period(&self) -> SchedulePeriod {
        self.period
    }

    /// The zone whose wall clock calendar steps follow.
    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    /// The earliest firing at or after `t`; `None` when there is none (a
    /// `once` reminder before `t`, or a firing beyond chrono's range).
    pub fn first_at_or_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.kind {
            ReminderKind::Once => self.once_firing().filter(|&firing| firing >= t),
            ReminderKind::Periodical => self.periodical_firing(self.first_index_at_or_after(t)?),
        }
    }

    /// The earliest firing strictly after `fired_at`; `None` for `once`.
    pub fn next_after(&self, fired_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.kind {
            ReminderKind::Once => None,
            ReminderKind::Periodical => {
                self.first_at_or_after(fired_at.checked_add_signed(TimeDelta::microseconds(1))?)
            }
        }
    }

    fn once_firing(&self) -> Option<DateTime<Utc>> {
        let before_calendar = self.shift_calendar(-i64::from(self.period.months), -i64::from(self.period.days))?;
        before_calendar.checked_sub_signed(TimeDelta::microseconds(self.period.microseconds))
    }

    /// The k-th firing of a periodical reminder (k = 0 is the event itself).
    fn periodical_firing(&self, k: u64) -> Option<DateTime<Utc>> {
        let k = i64::try_from(k).ok()?;
        let months = i64::from(self.period.months).checked_mul(k)?;
        let days = i64::from(self.period.days).checked_mul(k)?;
        let elapsed = self.period.microseconds.checked_mul(k)?;
        self.shift_calendar(months, days)?.checked_add_signed(TimeDelta::microseconds(elapsed))
    }

    /// The event time moved by whole months (clamped to the month's last
    /// day), then whole days, on the local wall clock.
    fn shift_calendar(&self, months: i64, days: i64) -> Option<DateTime<Utc>> {
        if months == 0 && days == 0 {
            // Exactly the event, even when its local time is ambiguous.
            return Some(self.event_at);
        }
        let month_step = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
        let shifted = if months >= 0 {
            self.local_event_at.checked_add_months(month_step)?
        } else {
            self.local_event_at.checked_sub_months(month_step)?
        };
        let shifted = shifted.checked_add_signed(TimeDelta::try_days(days)?)?;
        local_to_utc(self.time_zone, shifted)
    }

    /// The smallest k whose firing is at or after `t` (`None` only when even
    /// the search overflows). Firings increase with k, so this estimates k
    /// from the average period length, then gallops and bisects from there:
    /// a few evaluations however far `t` lies from the event.
    fn first_index_at_or_after(&self, t: DateTime<Utc>) -> Option<u64> {
        // A firing beyond chrono's range counts as "after t": the search
        // still ends, and the caller then gets `None` for it.
        let at_or_after = |k: u64| self.periodical_firing(k).is_none_or(|firing| firing >= t);
        let guess = self.estimate_index(t);

        // Invariant: firings before `low` are before t; firing `high` is not.
        let (mut low, mut high);
        if at_or_after(guess) {
            (low, high) = (0, guess);
            let mut step = 1u64;
            while high > 0 {
                let probe = high.saturating_sub(step);
                if at_or_after(probe) {
                    high = probe;
                    step = step.saturating_mul(2);
                } else {
                    low = probe + 1;
                    break;
                }
            }
        } else {
            low = guess.checked_add(1)?;
            let mut step = 1u64;
            loop {
                let probe = guess.checked_add(step)?;
                if at_or_after(probe) {
                    high = probe;
                    break;
                }
                low = probe + 1;
                step = step.saturating_mul(2);
            }
        }
        while low < high {
            let middle = low + (high - low) / 2;
            if at_or_after(middle) {
                high = middle;
            } else {
                low = middle + 1;
            }
        }
        Some(high)
    }

    /// How many average-length periods fit between the event and `t`.
    fn estimate_index(&self, t: DateTime<Utc>) -> u64 {
        const AVERAGE_MONTH_MICROS: i128 = 2_629_746 * 1_000_000; // 365.2425 days / 12
        const DAY_MICROS: i128 = 86_400 * 1_000_000;
        let period_micros = i128::from(self.period.months) * AVERAGE_MONTH_MICROS
            + i128::from(self.period.days) * DAY_MICROS
            + i128::from(self.period.microseconds);
        let elapsed = t.signed_duration_since(self.event_at);
        let elapsed_micros = i128::from(elapsed.num_seconds()) * 1_000_000 + i128::from(elapsed.subsec_nanos() / 1_000);
        if period_micros <= 0 || elapsed_micros <= 0 {
            return 0;
        }
        u64::try_from(elapsed_micros / period_micros).unwrap_or(u64::MAX)
    }
}

/// A periodical period (non-negative parts) is not zero and not under
/// [`MIN_PERIODICAL_PERIOD`]; a month or a day always is long enough.
fn check_periodical_period(period: SchedulePeriod) -> Result<(), ScheduleError> {
    if period == SchedulePeriod::default() {
        return Err(ScheduleError::ZeroPeriod);
    }
    let min_micros = MIN_PERIODICAL_PERIOD.num_microseconds().unwrap_or(i64::MAX);
    if period.months == 0 && period.days == 0 && period.microseconds < min_micros {
        return Err(ScheduleError::PeriodUnderAnHour(period));
    }
    Ok(())
}

/// The instant a local wall-clock time denotes in `zone`, by the gap and
/// overlap rules of the module documentation.
fn local_to_utc(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&local) {
        MappedLocalTime::Single(instant) => Some(instant.with_timezone(&Utc)),
        MappedLocalTime::Ambiguous(earlier, _later) => Some(earlier.with_timezone(&Utc)),
        MappedLocalTime::None => {
            // The offset a day earlier is the one before the gap: zones do
            // not change their offset twice within a day.
            let before_gap = local.checked_sub_signed(TimeDelta::days(1))?;
            let offset = zone.offset_from_utc_datetime(&before_gap).fix().local_minus_utc();
            Some(local.checked_sub_signed(TimeDelta::seconds(i64::from(offset)))?.and_utc())
        }
    }
}

/// Whether a firing due at `trigger_at` is too stale to send at `now`.
///
/// Tests only: production decides staleness with `Freshness`.
#[cfg(test)]
fn is_too_late(trigger_at: DateTime<Utc>, now: DateTime<Utc>, max_lateness: TimeDelta) -> bool {
    now.signed_duration_since(trigger_at) > max_lateness
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_time::utc;
    use chrono::{Datelike, NaiveDate, Timelike, Weekday};
    use proptest::prelude::*;

    const WARSAW: &str = "Europe/Warsaw";

    fn local(zone: &str, text: &str) -> DateTime<Utc> {
        let zone: Tz = zone.parse().expect("test zone");
        let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").expect("test local time");
        zone.from_local_datetime(&naive).single().expect("unambiguous test time").with_timezone(&Utc)
    }

    fn period(months: i32, days: i32, microseconds: i64) -> SchedulePeriod {
        SchedulePeriod { months, days, microseconds }
    }

    const HOUR: i64 = 3_600_000_000;

    fn once(event_at: DateTime<Utc>, lead: SchedulePeriod, zone: &str) -> Option<DateTime<Utc>> {
        let schedule = ReminderSchedule::new(ReminderKind::Once, event_at, lead, zone).expect("valid schedule");
        schedule.first_at_or_after(DateTime::<Utc>::MIN_UTC)
    }

    fn periodical(event_at: DateTime<Utc>, every: SchedulePeriod, zone: &str) -> ReminderSchedule {
        ReminderSchedule::new(ReminderKind::Periodical, event_at, every, zone).expect("valid schedule")
    }

    /// The first `count` firings, walked with `next_after`.
    fn firings(schedule: &ReminderSchedule, count: usize) -> Vec<DateTime<Utc>> {
        let first = schedule.first_at_or_after(schedule.event_at()).expect("first firing");
        std::iter::successors(Some(first), |&fired| schedule.next_after(fired)).take(count).collect()
    }

    #[test]
    fn once_fires_the_period_before_the_event_on_the_local_clock() {
        let cases = [
            // (event, lead time, expected firing)
            ("2026-12-24T17:00:00Z", period(0, 1, 0), "2026-12-23T17:00:00Z"),
            ("2026-12-24T17:00:00Z", period(0, 0, 0), "2026-12-24T17:00:00Z"),
            ("2026-12-24T17:00:00Z", period(0, 0, 2 * HOUR), "2026-12-24T15:00:00Z"),
            ("2026-12-24T17:00:00Z", period(1, 0, 0), "2026-11-24T17:00:00Z"),
            // Across spring-forward: 18:00 CEST on the 30th, 18:00 CET before.
            ("2026-03-30T16:00:00Z", period(0, 1, 0), "2026-03-29T16:00:00Z"),
            ("2026-03-30T16:00:00Z", period(0, 7, 0), "2026-03-23T17:00:00Z"),
            // Across fall-back: 18:00 CET on 26 Oct, 18:00 CEST the day before.
            ("2026-10-26T17:00:00Z", period(0, 1, 0), "2026-10-25T17:00:00Z"),
            ("2026-10-26T17:00:00Z", period(0, 2, 0), "2026-10-24T16:00:00Z"),
            // Clamped: a month before 31 March is the last day of February.
            ("2027-03-31T16:00:00Z", period(1, 0, 0), "2027-02-28T17:00:00Z"),
            ("2028-03-31T16:00:00Z", period(1, 0, 0), "2028-02-29T17:00:00Z"),
            // Months, then days, then elapsed time.
            ("2026-12-24T17:00:00Z", period(1, 1, HOUR), "2026-11-23T16:00:00Z"),
        ];
        for (event_at, lead, expected) in cases {
            assert_eq!(once(utc(event_at), lead, WARSAW), Some(utc(expected)), "{event_at} minus {lead:?}");
        }
        assert_eq!(local(WARSAW, "2026-03-29 18:00"), utc("2026-03-29T16:00:00Z"));
    }

    #[test]
    fn once_fires_only_once() {
        let schedule =
            ReminderSchedule::new(ReminderKind::Once, utc("2026-12-24T17:00:00Z"), period(0, 1, 0), WARSAW).unwrap();
        let firing = utc("2026-12-23T17:00:00Z");
        assert_eq!(schedule.first_at_or_after(firing), Some(firing));
        assert_eq!(schedule.first_at_or_after(firing - TimeDelta::days(30)), Some(firing));
        assert_eq!(schedule.first_at_or_after(firing + TimeDelta::seconds(1)), None);
        assert_eq!(schedule.next_after(firing - TimeDelta::days(1)), None);
        assert_eq!(schedule.next_after(firing), None);
    }

    #[test]
    fn monthly_on_the_31st_clamps_to_each_month_without_drifting() {
        for (year, february) in [(2027, 28), (2028, 29)] {
            let schedule = periodical(local(WARSAW, &format!("{year}-01-31 18:00")), period(1, 0, 0), WARSAW);
            let days: Vec<(u32, u32)> = firings(&schedule, 13)
                .iter()
                .map(|firing| {
                    let local = firing.with_timezone(&schedule.time_zone());
                    assert_eq!((local.hour(), local.minute()), (18, 0), "{firing}");
                    (local.month(), local.day())
                })
                .collect();
            let expected = [
                (1, 31),
                (2, february),
                (3, 31),
                (4, 30),
                (5, 31),
                (6, 30),
                (7, 31),
                (8, 31),
                (9, 30),
                (10, 31),
                (11, 30),
                (12, 31),
                (1, 31),
            ];
            assert_eq!(days, expected, "{year}");
        }
    }

    #[test]
    fn weekly_keeps_the_local_time_across_both_dst_changes() {
        let schedule = periodical(utc("2026-03-20T17:00:00Z"), period(0, 7, 0), WARSAW);
        let spring: Vec<_> = firings(&schedule, 3);
        assert_eq!(spring, [utc("2026-03-20T17:00:00Z"), utc("2026-03-27T17:00:00Z"), utc("2026-04-03T16:00:00Z")]);

        let autumn = schedule.first_at_or_after(utc("2026-10-20T00:00:00Z")).unwrap();
        assert_eq!(autumn, utc("2026-10-23T16:00:00Z"));
        assert_eq!(schedule.next_after(autumn), Some(utc("2026-10-30T17:00:00Z")));
        for firing in firings(&schedule, 60) {
            let local = firing.with_timezone(&schedule.time_zone());
            assert_eq!((local.weekday(), local.hour(), local.minute()), (Weekday::Fri, 18, 0), "{firing}");
        }
    }

    #[test]
    fn daily_keeps_the_local_time_across_dst() {
        let schedule = periodical(utc("2026-03-28T17:00:00Z"), period(0, 1, 0), WARSAW);
        assert_eq!(
            firings(&schedule, 3),
            [utc("2026-03-28T17:00:00Z"), utc("2026-03-29T16:00:00Z"), utc("2026-03-30T16:00:00Z")]
        );
        let autumn = schedule.first_at_or_after(utc("2026-10-24T00:00:00Z")).unwrap();
        assert_eq!(autumn, utc("2026-10-24T16:00:00Z"));
        assert_eq!(schedule.next_after(autumn), Some(utc("2026-10-25T17:00:00Z")));
    }

    #[test]
    fn sub_day_periods_are_elapsed_time() {
        // Every 6 hours from 00:00 CET on the spring-forward day: elapsed
        // time, so the wall clock jumps with DST and nothing fires twice.
        let schedule = periodical(utc("2026-03-28T23:00:00Z"), period(0, 0, 6 * HOUR), WARSAW);
        assert_eq!(
            firings(&schedule, 3),
            [utc("2026-03-28T23:00:00Z"), utc("2026-03-29T05:00:00Z"), utc("2026-03-29T11:00:00Z")]
        );
    }

    #[test]
    fn a_local_time_in_the_spring_forward_gap_moves_forward_by_the_gap() {
        // Daily at 02:30 local, from 28 February 2026 (02:30 CET = 01:30Z).
        let schedule = periodical(utc("2026-02-28T01:30:00Z"), period(0, 1, 0), WARSAW);
        // 2026-03-29 02:30 does not exist in Warsaw: it fires at 03:30 CEST.
        let in_gap = schedule.first_at_or_after(utc("2026-03-29T00:00:00Z")).unwrap();
        assert_eq!(in_gap, utc("2026-03-29T01:30:00Z"));
        assert_eq!(in_gap.with_timezone(&schedule.time_zone()).naive_local().to_string(), "2026-03-29 03:30:00");
        // The day after, back to 02:30 local, now CEST.
        assert_eq!(schedule.next_after(in_gap), Some(utc("2026-03-30T00:30:00Z")));

        let lead = once(utc("2026-03-30T00:30:00Z"), period(0, 1, 0), WARSAW);
        assert_eq!(lead, Some(utc("2026-03-29T01:30:00Z")));
    }

    #[test]
    fn an_ambiguous_local_time_takes_the_earlier_instant() {
        // 02:30 on 25 October 2026 happens twice in Warsaw: 00:30Z and 01:30Z.
        let schedule = periodical(utc("2026-10-24T00:30:00Z"), period(0, 1, 0), WARSAW);
        let overlap = schedule.first_at_or_after(utc("2026-10-25T00:00:00Z")).unwrap();
        assert_eq!(overlap, utc("2026-10-25T00:30:00Z"));
        assert_eq!(schedule.next_after(overlap), Some(utc("2026-10-26T01:30:00Z")));

        // An event at the later 02:30 still fires at its own instant.
        let later = periodical(utc("2026-10-25T01:30:00Z"), period(0, 1, 0), WARSAW);
        assert_eq!(firings(&later, 2), [utc("2026-10-25T01:30:00Z"), utc("2026-10-26T01:30:00Z")]);
    }

    #[test]
    fn far_future_search_is_arithmetic() {
        let daily = periodical(utc("2026-01-01T17:00:00Z"), period(0, 1, 0), WARSAW);
        assert_eq!(daily.first_at_or_after(utc("2099-07-01T12:00:00Z")), Some(utc("2099-07-01T16:00:00Z")));
        assert_eq!(daily.first_at_or_after(utc("2099-07-01T16:00:00Z")), Some(utc("2099-07-01T16:00:00Z")));

        let monthly = periodical(local(WARSAW, "2026-01-31 18:00"), period(1, 0, 0), WARSAW);
        assert_eq!(monthly.first_at_or_after(utc("2100-02-01T00:00:00Z")), Some(local(WARSAW, "2100-02-28 18:00")));

        let hourly = periodical(utc("2026-01-01T00:00:00Z"), period(0, 0, HOUR), WARSAW);
        let t = utc("2090-05-05T05:00:00Z");
        assert_eq!(hourly.first_at_or_after(t), Some(t));
        assert_eq!(hourly.first_at_or_after(t + TimeDelta::microseconds(1)), Some(utc("2090-05-05T06:00:00Z")));
        assert_eq!(hourly.next_after(t), Some(utc("2090-05-05T06:00:00Z")));

        // Before the event, the first firing is the event itself.
        assert_eq!(daily.first_at_or_after(utc("1990-01-01T00:00:00Z")), Some(utc("2026-01-01T17:00:00Z")));
        // Beyond chrono's range there is nothing.
        let yearly = periodical(utc("2026-01-01T00:00:00Z"), period(12_000, 0, 0), WARSAW);
        assert_eq!(yearly.first_at_or_after(DateTime::<Utc>::MAX_UTC), None);
    }

    #[test]
    fn invalid_schedules_are_refused() {
        let at = utc("2026-12-24T17:00:00Z");
        let new = |kind, period, zone| ReminderSchedule::new(kind, at, period, zone);
        assert_eq!(
            new(ReminderKind::Once, period(0, 1, 0), "Europe/Narnia"),
            Err(ScheduleError::UnknownTimeZone("Europe/Narnia".into()))
        );
        assert_eq!(
            new(ReminderKind::Periodical, period(0, 0, 0), WARSAW).unwrap_err().to_string(),
            "a periodical reminder needs a non-zero schedule period"
        );
        for bad in [period(-1, 0, 0), period(0, -1, 0), period(1, 1, -1)] {
            assert_eq!(new(ReminderKind::Once, bad, WARSAW), Err(ScheduleError::NegativePeriod(bad)));
            assert_eq!(new(ReminderKind::Periodical, bad, WARSAW), Err(ScheduleError::NegativePeriod(bad)));
        }
        assert_eq!(
            new(ReminderKind::Once, period(0, -1, 0), WARSAW).unwrap_err().to_string(),
            "schedule period has a negative part (0 months, -1 days, 0 microseconds)"
        );
        assert!(new(ReminderKind::Once, period(0, 0, 0), "UTC").is_ok());
    }

    #[test]
    fn a_periodical_period_under_an_hour_is_refused() {
        let at = utc("2026-12-24T17:00:00Z");
        let new = |kind, period| ReminderSchedule::new(kind, at, period, WARSAW);
        for short in [period(0, 0, 1), period(0, 0, 1_000_000), period(0, 0, HOUR - 1)] {
            assert_eq!(new(ReminderKind::Periodical, short), Err(ScheduleError::PeriodUnderAnHour(short)));
        }
        assert_eq!(
            new(ReminderKind::Periodical, period(0, 0, 1_000_000)).unwrap_err().to_string(),
            "a periodical reminder's schedule period must be at least one hour, not 1000000 microseconds"
        );
        // The contract's periods, an hour exactly, and any `once` lead time.
        for fine in [period(0, 0, HOUR), period(0, 1, 0), period(0, 7, 0), period(1, 0, 0), period(0, 1, 1)] {
            assert!(new(ReminderKind::Periodical, fine).is_ok(), "{fine:?}");
        }
        assert!(new(ReminderKind::Once, period(0, 0, 1)).is_ok());
    }

    #[test]
    fn the_known_zones_are_chrono_tz_s_and_read_back() {
        let names: Vec<&str> = known_time_zone_names().collect();
        assert!(names.contains(&"Europe/Warsaw") && names.contains(&"America/St_Johns"));
        assert!(!names.contains(&"europe/warsaw") && !names.contains(&"UTC+2") && !names.contains(&"Mars/Olympus"));
        assert!(names.iter().all(|name| name.parse::<Tz>().is_ok()));
    }

    #[test]
    fn lateness() {
        let trigger = utc("2026-12-24T17:00:00Z");
        let max = TimeDelta::minutes(30);
        assert!(!is_too_late(trigger, trigger, max));
        assert!(!is_too_late(trigger, trigger + max, max));
        assert!(is_too_late(trigger, trigger + max + TimeDelta::seconds(1), max));
        assert!(!is_too_late(trigger, trigger - TimeDelta::hours(1), max));
    }

    const ZONES: &[&str] = &[
        "Europe/Warsaw",
        "America/New_York",
        "America/Sao_Paulo",
        "Australia/Lord_Howe",
        "Pacific/Auckland",
        "Asia/Kolkata",
        "UTC",
    ];

    fn days_in_month(year: i32, month: u32) -> u32 {
        let first_of_next = if month == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(year, month + 1, 1)
        };
        first_of_next.and_then(|date| date.pred_opt()).map_or(31, |last| last.day())
    }

    proptest! {
        #[test]
        fn periodical_search_finds_the_next_firing(
            zone in proptest::sample::select(ZONES),
            step in prop_oneof![Just(period(0, 1, 0)), Just(period(0, 7, 0)), Just(period(1, 0, 0))],
            anchor_seconds in 946_684_800i64..4_102_444_800, // 2000-01-01 .. 2100-01-01
            offset_seconds in -400_000_000i64..4_000_000_000,
        ) {
            let anchor = DateTime::from_timestamp(anchor_seconds, 0).unwrap();
            let t = anchor + TimeDelta::seconds(offset_seconds);
            let schedule = periodical(anchor, step, zone);
            let tz = schedule.time_zone();

            let found = schedule.first_at_or_after(t).unwrap();
            prop_assert!(found >= t);

            // It is a firing: the anchor's local time of day (or the time a
            // DST gap shifted it to) on the right kind of day.
            let anchor_local = anchor.with_timezone(&tz).naive_local();
            let found_local = found.with_timezone(&tz).naive_local();
            if found_local.time() != anchor_local.time() {
                let intended = found_local.date().and_time(anchor_local.time());
                prop_assert!(tz.from_local_datetime(&intended).earliest().is_none(), "{found_local} vs {anchor_local}");
            }
            if step.days == 7 {
                prop_assert_eq!(found_local.weekday(), anchor_local.weekday());
            }
            if step.months == 1 {
                let last_day = days_in_month(found_local.year(), found_local.month());
                prop_assert_eq!(found_local.day(), anchor_local.day().min(last_day));
            }

            // Nothing fires in [t, found): the firing before it is before t
            // and leads straight to it.
            let index = schedule.first_index_at_or_after(t).unwrap();
            prop_assert_eq!(schedule.periodical_firing(index), Some(found));
            if index > 0 {
                let previous = schedule.periodical_firing(index - 1).unwrap();
                prop_assert!(previous < t);
                prop_assert_eq!(schedule.next_after(previous), Some(found));
            } else {
                prop_assert_eq!(found, anchor);
            }

            // Strictly increasing, and next_after moves forward.
            let mut fired = found;
            for _ in 0..4 {
                let next = schedule.next_after(fired).unwrap();
                prop_assert!(next > fired);
                fired = next;
            }
            let next_after_t = schedule.next_after(t).unwrap();
            prop_assert!(next_after_t > t);
            if found > t {
                prop_assert_eq!(next_after_t, found);
            } else {
                prop_assert_eq!(Some(next_after_t), schedule.next_after(found));
            }
        }
    }
}

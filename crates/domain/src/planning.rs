//! The decisions of the two scheduling handlers, kept pure so every case is
//! unit-tested: which firings of a due event to send or skip (schedule-events).
//! By which channel each member is reached is `routing`.

use crate::ReminderSchedule;
use chrono::{DateTime, TimeDelta, Utc};

/// At most this many skipped firings are recorded one by one per event and
/// run; an event further behind jumps straight to its first firing within
/// the lateness bound.
pub(crate) const MAX_RECORDED_SKIPS: usize = 50;

/// What one scheduler run does with one due event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FiringPlan {
    /// The one firing to hand on now: the latest due one, when it is within
    /// the lateness bound. One run never sends an event twice.
    pub fire: Option<DateTime<Utc>>,
    /// Due firings not sent, oldest first: later than the lateness bound,
    /// or superseded by a later due firing (after an outage). Recorded.
    pub skip: Vec<DateTime<Utc>>,
    /// Late firings jumped over without a record of their own.
    pub skipped_unrecorded: u64,
    /// When the event fires next, after this run (`None`: nothing left).
    pub next: Option<DateTime<Utc>>,
}

/// Plans the firings of an event at scheduler time `now`.
///
/// `first` is the earliest firing not handled yet: the stored
/// `next_reminder_at`, or, after the API changed the schedule, the first
/// firing at or after the change. Of the firings up to `now`, only the
/// latest is fired, and only when it is at most `max_lateness` old; the
/// older ones are skipped. `next` is the first firing after `now`.
pub fn plan_firings(
    schedule: &ReminderSchedule,
    first: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    max_lateness: TimeDelta,
) -> FiringPlan {
    let mut plan = FiringPlan::default();
    let late_before = now - max_lateness;
    let mut firing = first;
    while let Some(at) = firing.filter(|&at| at <= now) {
        let next = schedule.next_after(at);
        let latest = next.is_none_or(|n| n > now);
        if latest && at >= late_before {
            plan.fire = Some(at);
        } else if plan.skip.len() < MAX_RECORDED_SKIPS {
            plan.skip.push(at);
        } else {
            // Far behind: jump to the first firing still within the bound
            // (or past `now`), counting what is jumped over.
            let resume = schedule.first_at_or_after(late_before).filter(|&r| r > at);
            let resume = resume.or(next);
            plan.skipped_unrecorded += count_firings_between(schedule, at, resume);
            firing = resume;
            continue;
        }
        firing = next;
    }
    plan.next = firing;
    plan
}

/// Firings in `[from, until)`, counted with a bounded walk (only used for
/// the log line of an event that was far behind).
fn count_firings_between(schedule: &ReminderSchedule, from: DateTime<Utc>, until: Option<DateTime<Utc>>) -> u64 {
    let mut count = 0;
    let mut at = Some(from);
    while let Some(t) = at.filter(|&t| until.is_none_or(|u| t < u)) {
        count += 1;
        if count >= 1_000_000 {
            break;
        }
        at = schedule.next_after(t);
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_time::utc;
    use crate::{ReminderKind, SchedulePeriod};

    const DAY: SchedulePeriod = SchedulePeriod { months: 0, days: 1, microseconds: 0 };
    const HOUR: TimeDelta = TimeDelta::hours(1);

    fn daily(event_at: &str) -> ReminderSchedule {
        ReminderSchedule::new(ReminderKind::Periodical, utc(event_at), DAY, "Europe/Warsaw").unwrap()
    }

    #[test]
    fn a_due_once_reminder_fires_and_leaves_nothing() {
        let once =
            ReminderSchedule::new(ReminderKind::Once, utc("2026-12-24T17:00:00Z"), DAY, "Europe/Warsaw").unwrap();
        let plan = plan_firings(&once, Some(utc("2026-12-23T17:00:00Z")), utc("2026-12-23T17:00:00Z"), HOUR);
        assert_eq!(plan, FiringPlan { fire: Some(utc("2026-12-23T17:00:00Z")), next: None, ..Default::default() });
    }

    #[test]
    fn a_once_reminder_found_too_late_is_skipped() {
        let once =
            ReminderSchedule::new(ReminderKind::Once, utc("2026-12-24T17:00:00Z"), DAY, "Europe/Warsaw").unwrap();
        let plan = plan_firings(&once, Some(utc("2026-12-23T17:00:00Z")), utc("2026-12-23T18:00:01Z"), HOUR);
        assert_eq!(plan, FiringPlan { skip: vec![utc("2026-12-23T17:00:00Z")], next: None, ..Default::default() });
        // Exactly at the bound it still fires.
        let plan = plan_firings(&once, Some(utc("2026-12-23T17:00:00Z")), utc("2026-12-23T18:00:00Z"), HOUR);
        assert_eq!(plan.fire, Some(utc("2026-12-23T17:00:00Z")));
    }

    #[test]
    fn nothing_due_yet_changes_nothing() {
        let schedule = daily("2026-11-01T17:00:00Z");
        let plan = plan_firings(&schedule, Some(utc("2026-11-24T17:00:00Z")), utc("2026-11-24T16:59:00Z"), HOUR);
        assert_eq!(plan, FiringPlan { next: Some(utc("2026-11-24T17:00:00Z")), ..Default::default() });
    }

    #[test]
    fn a_periodical_reminder_fires_and_advances_by_one_period() {
        let schedule = daily("2026-11-01T17:00:00Z");
        let plan = plan_firings(&schedule, Some(utc("2026-11-24T17:00:00Z")), utc("2026-11-24T17:00:00Z"), HOUR);
        assert_eq!(plan.fire, Some(utc("2026-11-24T17:00:00Z")));
        assert_eq!(plan.next, Some(utc("2026-11-25T17:00:00Z")));
    }

    #[test]
    fn after_an_outage_late_firings_are_skipped_and_recent_ones_fire() {
        let schedule = daily("2026-11-01T17:00:00Z");
        // Down for three days and 30 minutes: three firings are late, one is recent.
        let plan = plan_firings(&schedule, Some(utc("2026-11-21T17:00:00Z")), utc("2026-11-24T17:30:00Z"), HOUR);
        assert_eq!(plan.skip, [utc("2026-11-21T17:00:00Z"), utc("2026-11-22T17:00:00Z"), utc("2026-11-23T17:00:00Z")]);
        assert_eq!(plan.fire, Some(utc("2026-11-24T17:00:00Z")));
        assert_eq!(plan.next, Some(utc("2026-11-25T17:00:00Z")));
        assert_eq!(plan.skipped_unrecorded, 0);
    }

    fn hourly(event_at: &str) -> ReminderSchedule {
        let hour = SchedulePeriod { months: 0, days: 0, microseconds: 3_600_000_000 };
        ReminderSchedule::new(ReminderKind::Periodical, utc(event_at), hour, "Europe/Warsaw").unwrap()
    }

    #[test]
    fn of_several_firings_within_the_bound_only_the_latest_fires() {
        let schedule = hourly("2026-11-24T08:00:00Z");
        // Down from 11:50 to 15:30, the bound is four hours: 12:00 to 15:00
        // are all recent enough, one run still sends only 15:00.
        let plan = plan_firings(
            &schedule,
            Some(utc("2026-11-24T12:00:00Z")),
            utc("2026-11-24T15:30:00Z"),
            TimeDelta::hours(4),
        );
        assert_eq!(plan.fire, Some(utc("2026-11-24T15:00:00Z")));
        assert_eq!(plan.skip, [utc("2026-11-24T12:00:00Z"), utc("2026-11-24T13:00:00Z"), utc("2026-11-24T14:00:00Z")]);
        assert_eq!(plan.next, Some(utc("2026-11-24T16:00:00Z")));
        assert_eq!(plan.skipped_unrecorded, 0);
    }

    #[test]
    fn the_latest_due_firing_past_the_bound_is_skipped_too() {
        let schedule = daily("2026-11-01T17:00:00Z");
        let plan = plan_firings(&schedule, Some(utc("2026-11-23T17:00:00Z")), utc("2026-11-24T16:00:00Z"), HOUR);
        assert_eq!(
            plan,
            FiringPlan {
                skip: vec![utc("2026-11-23T17:00:00Z")],
                next: Some(utc("2026-11-24T17:00:00Z")),
                ..Default::default()
            }
        );
    }

    #[test]
    fn many_firings_within_a_long_bound_are_skipped_boundedly_and_the_latest_fires() {
        let schedule = hourly("2026-11-01T00:00:00Z");
        let first = utc("2026-11-20T00:00:00Z");
        let now = utc("2026-11-24T12:30:00Z");
        let plan = plan_firings(&schedule, Some(first), now, TimeDelta::days(7));
        assert_eq!(plan.fire, Some(utc("2026-11-24T12:00:00Z")));
        assert_eq!(plan.skip.len(), MAX_RECORDED_SKIPS);
        let hours_before_latest = (utc("2026-11-24T12:00:00Z") - first).num_hours() as u64;
        assert_eq!(plan.skip.len() as u64 + plan.skipped_unrecorded, hours_before_latest);
        assert_eq!(plan.next, Some(utc("2026-11-24T13:00:00Z")));
    }

    #[test]
    fn an_event_far_behind_records_a_bounded_number_of_skips() {
        let schedule = daily("2020-01-01T17:00:00Z");
        let plan = plan_firings(&schedule, Some(utc("2020-01-01T17:00:00Z")), utc("2026-11-24T17:10:00Z"), HOUR);
        assert_eq!(plan.skip.len(), MAX_RECORDED_SKIPS);
        assert_eq!(plan.fire, Some(utc("2026-11-24T17:00:00Z")), "only the latest fires");
        assert_eq!(plan.next, Some(utc("2026-11-25T17:00:00Z")));
        let total_days = (utc("2026-11-24T17:00:00Z") - utc("2020-01-01T17:00:00Z")).num_days() as u64;
        assert_eq!(plan.skip.len() as u64 + plan.skipped_unrecorded, total_days);
    }
}

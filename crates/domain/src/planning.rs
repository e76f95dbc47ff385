//! The decisions of the two scheduling handlers, kept pure so every case is
//! unit-tested: which firings of a due event to send or skip (schedule-events).
//! By which channel each member is reached is `routing`.

use crate::ReminderSchedule;
use chrono::{DateTime, TimeDelta, Utc};

/// At most this many skipped firings are recorded one by one per event and
/// run; an event further behind jumps straight to its first firing within
/// the lateness bound.
pub const MAX_RECORDED_SKIPS: usize = 50;

/// What one scheduler run does with one due event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FiringPlan {
    /// Firings to hand on now, oldest first.
    pub fire: Vec<DateTime<Utc>>,
    /// Firings reached later than the lateness bound: recorded, not sent.
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
/// firing at or after the change. Every firing up to `now` is either fired
/// (at most `max_lateness` old) or skipped; `next` is the first after `now`.
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
        if at >= late_before {
            plan.fire.push(at);
            firing = schedule.next_after(at);
        } else if plan.skip.len() < MAX_RECORDED_SKIPS {
            plan.skip.push(at);
            firing = schedule.next_after(at);
        } else {
            // Far behind: jump to the first firing still within the bound.
            let resume = schedule.first_at_or_after(late_before);
            plan.skipped_unrecorded = count_firings_between(schedule, at, resume);
            firing = resume;
        }
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
    use crate::{ReminderKind, SchedulePeriod};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const DAY: SchedulePeriod = SchedulePeriod { months: 0, days: 1, microseconds: 0 };
    const HOUR: TimeDelta = TimeDelta::hours(1);

    fn daily(event_at: &str) -> ReminderSchedule {
        ReminderSchedule::new(ReminderKind::Periodical, at(event_at), DAY, "Europe/Warsaw").unwrap()
    }

    #[test]
    fn a_due_once_reminder_fires_and_leaves_nothing() {
        let once = ReminderSchedule::new(ReminderKind::Once, at("2026-12-24T17:00:00Z"), DAY, "Europe/Warsaw").unwrap();
        let plan = plan_firings(&once, Some(at("2026-12-23T17:00:00Z")), at("2026-12-23T17:00:00Z"), HOUR);
        assert_eq!(plan, FiringPlan { fire: vec![at("2026-12-23T17:00:00Z")], next: None, ..Default::default() });
    }

    #[test]
    fn a_once_reminder_found_too_late_is_skipped() {
        let once = ReminderSchedule::new(ReminderKind::Once, at("2026-12-24T17:00:00Z"), DAY, "Europe/Warsaw").unwrap();
        let plan = plan_firings(&once, Some(at("2026-12-23T17:00:00Z")), at("2026-12-23T18:00:01Z"), HOUR);
        assert_eq!(plan, FiringPlan { skip: vec![at("2026-12-23T17:00:00Z")], next: None, ..Default::default() });
        // Exactly at the bound it still fires.
        let plan = plan_firings(&once, Some(at("2026-12-23T17:00:00Z")), at("2026-12-23T18:00:00Z"), HOUR);
        assert_eq!(plan.fire, [at("2026-12-23T17:00:00Z")]);
    }

    #[test]
    fn nothing_due_yet_changes_nothing() {
        let schedule = daily("2026-11-01T17:00:00Z");
        let plan = plan_firings(&schedule, Some(at("2026-11-24T17:00:00Z")), at("2026-11-24T16:59:00Z"), HOUR);
        assert_eq!(plan, FiringPlan { next: Some(at("2026-11-24T17:00:00Z")), ..Default::default() });
    }

    #[test]
    fn a_periodical_reminder_fires_and_advances_by_one_period() {
        let schedule = daily("2026-11-01T17:00:00Z");
        let plan = plan_firings(&schedule, Some(at("2026-11-24T17:00:00Z")), at("2026-11-24T17:00:00Z"), HOUR);
        assert_eq!(plan.fire, [at("2026-11-24T17:00:00Z")]);
        assert_eq!(plan.next, Some(at("2026-11-25T17:00:00Z")));
    }

    #[test]
    fn after_an_outage_late_firings_are_skipped_and_recent_ones_fire() {
        let schedule = daily("2026-11-01T17:00:00Z");
        // Down for three days and 30 minutes: three firings are late, one is recent.
        let plan = plan_firings(&schedule, Some(at("2026-11-21T17:00:00Z")), at("2026-11-24T17:30:00Z"), HOUR);
        assert_eq!(plan.skip, [at("2026-11-21T17:00:00Z"), at("2026-11-22T17:00:00Z"), at("2026-11-23T17:00:00Z")]);
        assert_eq!(plan.fire, [at("2026-11-24T17:00:00Z")]);
        assert_eq!(plan.next, Some(at("2026-11-25T17:00:00Z")));
        assert_eq!(plan.skipped_unrecorded, 0);
    }

    #[test]
    fn an_event_far_behind_records_a_bounded_number_of_skips() {
        let schedule = daily("2020-01-01T17:00:00Z");
        let plan = plan_firings(&schedule, Some(at("2020-01-01T17:00:00Z")), at("2026-11-24T17:10:00Z"), HOUR);
        assert_eq!(plan.skip.len(), MAX_RECORDED_SKIPS);
        assert_eq!(plan.fire, [at("2026-11-24T17:00:00Z")]);
        assert_eq!(plan.next, Some(at("2026-11-25T17:00:00Z")));
        let total_days = (at("2026-11-24T17:00:00Z") - at("2020-01-01T17:00:00Z")).num_days() as u64;
        assert_eq!(plan.skip.len() as u64 + plan.skipped_unrecorded, total_days);
    }
}

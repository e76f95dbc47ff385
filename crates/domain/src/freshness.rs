//! When a reminder is no longer worth sending, on every path it can take
//! (a late fan-out, a redelivery, a dead-letter redrive, the API's "notify
//! now" for a past event): a `once` reminder never after its event has
//! started; a periodical firing never later than the lateness bound after
//! its trigger time, unless quiet hours held it (then only the start of the
//! occurrence it reminds of counts).

use crate::ReminderKind;
use chrono::{DateTime, TimeDelta, Utc};

/// The limits a firing is sent within, carried in each delivery body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Freshness {
    /// A `once` reminder's event start: nothing is sent from then on.
    pub event_starts_at: Option<DateTime<Utc>>,
    /// A periodical firing's trigger time plus the lateness bound.
    pub late_after: Option<DateTime<Utc>>,
}

/// Why a reminder is not sent any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Stale {
    /// A `once` reminder whose event has started.
    #[error("the event already started")]
    EventStarted,
    /// A periodical firing past its lateness bound.
    #[error("later than the lateness bound after its trigger time")]
    TooLate,
}

impl Freshness {
    /// The limits of one firing: `occurrence_at` is what it reminds of (the
    /// event for `once`), `trigger_at` when it was due.
    pub fn of_firing(
        kind: ReminderKind,
        occurrence_at: DateTime<Utc>,
        trigger_at: DateTime<Utc>,
        max_lateness: TimeDelta,
    ) -> Self {
        match kind {
            ReminderKind::Once => Freshness { event_starts_at: Some(occurrence_at), late_after: None },
            ReminderKind::Periodical => {
                Freshness { event_starts_at: None, late_after: Some(trigger_at + max_lateness) }
            }
        }
    }

    /// Whether a reminder handled at `now` is stale; `held` says quiet
    /// hours deferred it (the lateness bound then does not apply).
    pub fn check(&self, now: DateTime<Utc>, held: bool) -> Result<(), Stale> {
        if self.event_starts_at.is_some_and(|start| now >= start) {
            return Err(Stale::EventStarted);
        }
        if !held && self.late_after.is_some_and(|bound| now > bound) {
            return Err(Stale::TooLate);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_time::utc;

    const HOUR: TimeDelta = TimeDelta::hours(1);

    #[test]
    fn a_once_reminder_is_stale_from_the_event_start_on_held_or_not() {
        let event = utc("2026-12-24T17:00:00Z");
        let fresh = Freshness::of_firing(ReminderKind::Once, event, utc("2026-12-23T17:00:00Z"), HOUR);
        assert_eq!(fresh.check(utc("2026-12-24T16:59:59Z"), false), Ok(()));
        // A day after the trigger, still before the event: sent.
        assert_eq!(fresh.check(utc("2026-12-24T10:00:00Z"), false), Ok(()));
        assert_eq!(fresh.check(event, false), Err(Stale::EventStarted));
        assert_eq!(fresh.check(utc("2026-12-25T08:00:00Z"), true), Err(Stale::EventStarted));
    }

    #[test]
    fn a_periodical_firing_is_stale_after_the_lateness_bound_unless_held() {
        let trigger = utc("2026-12-01T09:00:00Z");
        let fresh = Freshness::of_firing(ReminderKind::Periodical, trigger, trigger, HOUR);
        assert_eq!(fresh.check(trigger + HOUR, false), Ok(()));
        assert_eq!(fresh.check(trigger + HOUR + TimeDelta::seconds(1), false), Err(Stale::TooLate));
        assert_eq!(fresh.check(trigger + TimeDelta::hours(9), true), Ok(()), "held by quiet hours");
    }

    #[test]
    fn a_body_without_limits_never_goes_stale() {
        assert_eq!(Freshness::default().check(utc("2099-01-01T00:00:00Z"), false), Ok(()));
    }
}

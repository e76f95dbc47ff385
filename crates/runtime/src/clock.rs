//! What "now" is for a handler's time-based decisions (is a reminder still
//! fresh, is it inside someone's quiet hours): the system clock in every
//! deployed function, a clock of the test's own timeline in tests, so the
//! same fixtures read the same on every date the suite runs.

use chrono::{DateTime, Utc};
use std::fmt;
use std::sync::Arc;

/// A source of the current instant; cheap to clone.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock(Arc::new(Utc::now))
    }

    /// Always `at`.
    pub fn fixed(at: DateTime<Utc>) -> Self {
        Clock(Arc::new(move || at))
    }

    /// Whatever `now` returns when asked (a test's moving timeline).
    pub fn from_fn(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        Clock(Arc::new(now))
    }

    /// The time now, by this clock.
    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_stays_and_the_system_clock_moves_on() {
        let at = DateTime::from_timestamp(1_798_045_230, 0).unwrap();
        assert_eq!(Clock::fixed(at).now(), at);
        let before = Utc::now();
        assert!(Clock::system().now() >= before);
    }
}

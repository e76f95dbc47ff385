//! The time an invocation has. Lambda hands every invocation its deadline
//! (`Context::deadline`, epoch milliseconds) and kills the process when it
//! passes: whatever was not written by then is lost. Handlers stop taking
//! new work at the deadline minus a margin, and bound every call by the time
//! left, so that the outcomes they have are always recorded.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Time kept back at the end of an invocation by default: to record the
/// outcomes of what was done and answer Lambda.
pub const DEFAULT_MARGIN: Duration = Duration::from_secs(2);

/// What is kept back even from the final writes: the answer itself.
const ANSWER_TIME: Duration = Duration::from_millis(250);

/// The time left for one invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    /// New work (a message, a provider call) must finish before this.
    cutoff: Instant,
    /// Recording outcomes must finish before this.
    end: Instant,
}

/// The work did not finish in the time the invocation had left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the invocation's deadline is too close to finish this")]
pub struct DeadlineReached;

impl Deadline {
    /// The deadline Lambda gave (epoch milliseconds), keeping `margin` back.
    ///
    /// `cargo lambda watch` (1.9) sends the function's timeout itself in
    /// that header (e.g. `600000`), not an instant: a value before 2001 is
    /// read as a timeout from now, so local runs get the time they were given.
    pub fn at_epoch_millis(deadline_ms: u64, margin: Duration) -> Self {
        const YEAR_2001_MS: u64 = 978_307_200_000;
        if deadline_ms < YEAR_2001_MS {
            return Deadline::after(Duration::from_millis(deadline_ms), margin);
        }
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        Deadline::after(Duration::from_millis(deadline_ms.saturating_sub(now_ms)), margin)
    }

    /// A deadline `total` from now, keeping `margin` back (tests, tools).
    pub fn after(total: Duration, margin: Duration) -> Self {
        let now = Instant::now();
        let end = now + total.saturating_sub(ANSWER_TIME);
        Deadline { cutoff: now + total.saturating_sub(margin.max(ANSWER_TIME)), end }
    }

    /// Time left for new work; zero once the margin is reached.
    pub fn time_left(&self) -> Duration {
        self.cutoff.saturating_duration_since(Instant::now())
    }

    /// True once no new work should start.
    pub fn is_reached(&self) -> bool {
        self.time_left().is_zero()
    }

    /// Runs `work` if it can finish before the cutoff; cut off otherwise.
    pub async fn bound<T>(&self, work: impl Future<Output = T>) -> Result<T, DeadlineReached> {
        if self.is_reached() {
            return Err(DeadlineReached);
        }
        tokio::time::timeout_at(self.cutoff, work).await.map_err(|_| DeadlineReached)
    }

    /// Runs the final writes of an invocation (its outcomes) in the margin.
    pub async fn bound_final<T>(&self, work: impl Future<Output = T>) -> Result<T, DeadlineReached> {
        tokio::time::timeout_at(self.end, work).await.map_err(|_| DeadlineReached)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_that_would_pass_the_cutoff_is_cut_off_and_the_margin_is_kept() {
        let deadline = Deadline::after(Duration::from_millis(400), Duration::from_millis(300));
        assert!(deadline.time_left() <= Duration::from_millis(100));
        let slow = deadline.bound(tokio::time::sleep(Duration::from_secs(5))).await;
        assert_eq!(slow, Err(DeadlineReached));
        assert!(deadline.is_reached());
        // The margin is still there for the final writes.
        assert_eq!(deadline.bound_final(async { 7 }).await, Ok(7));
    }

    #[tokio::test]
    async fn a_past_deadline_leaves_no_time() {
        let an_hour_ago = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64 - 3_600_000;
        let deadline = Deadline::at_epoch_millis(an_hour_ago, DEFAULT_MARGIN);
        assert!(deadline.is_reached());
        assert_eq!(deadline.bound(async { 1 }).await, Err(DeadlineReached));
    }

    #[test]
    fn an_epoch_deadline_and_cargo_lambdas_bare_timeout_both_give_the_time_left() {
        let in_a_minute = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64 + 60_000;
        let left = Deadline::at_epoch_millis(in_a_minute, DEFAULT_MARGIN).time_left();
        assert!(left > Duration::from_secs(55) && left <= Duration::from_secs(58), "{left:?}");
        let local = Deadline::at_epoch_millis(600_000, DEFAULT_MARGIN).time_left();
        assert!(local > Duration::from_secs(595) && local <= Duration::from_secs(598), "{local:?}");
    }
}

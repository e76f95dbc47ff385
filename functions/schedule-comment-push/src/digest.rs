//! Comment digests: the comments posted on one event within
//! `COMMENT_DIGEST_WINDOW_SECONDS` (default 120, at most 900) reach each
//! other member as one push (`3 new comments on <event>`, the latest
//! comment's preview), or as the plain comment push when only one of them
//! is theirs to receive. Window 0 pushes every comment at once.
//!
//! A comment joins its event's open digest (`Store::join_comment_digest`);
//! the comment that opens one sends a flush message (`{"type":
//! "comment_digest_due", "digest_id": …}`) to the standard queue
//! `COMMENT_DIGEST_QUEUE_URL` with `DelaySeconds` = the time left in the
//! window (FIFO queues take no per-message delay), so the first comment is
//! held at most the window. The flush claims the digest (later comments open
//! the next one), then pushes each receiver once for the comments not yet
//! `sent` to them (never their own) and writes one `events_comments_logs`
//! row per (comment, receiver), all with that push's provider message id.
//!
//! What a crash or a duplicate leaves:
//! - after the comment joined, before its flush was sent: the comment is
//!   redelivered, finds itself in the unflushed digest and sends the flush
//!   again (a duplicate flush is harmless);
//! - a flush lost for good (in the dead-letter queue): the digest stays open;
//!   the next comment on the event finds it overdue and sends a flush at
//!   once; a redrive of the dead letter flushes it too;
//! - a flush delivered twice (standard queues may), or redelivered after a
//!   partial failure: the claim changes nothing and only rows not yet `sent`
//!   are pushed;
//! - between a push and its log write: the rows stay `pending`, and the
//!   flush's redelivery pushes that receiver again (at least once).

use crate::{CommentPushError, CommentPushSummary, Due, claim, finish, publish_and_record, timed_out};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::time::Duration;
use torium_aws::{SdkConfig, SqsQueue, classify};
use torium_delivery::PushPublisher;
use torium_domain::DeliveryKey;
use torium_domain::{CommentPosted, DeliveryStatus, UserId, comment_digest_push, sns_push_message};
use torium_runtime::{ConfigError, Deadline, Env};
use torium_store::{DigestComment, DigestSlot, DigestToPush, Joined, Store};

/// The window by default: two minutes.
pub(crate) const DEFAULT_WINDOW_SECONDS: u64 = 120;
/// SQS delays a message at most 15 minutes.
pub(crate) const MAX_WINDOW_SECONDS: u64 = 900;

/// How comments are collected into digests, built once per cold start.
#[derive(Debug, Clone)]
pub struct CommentDigests {
    window: Duration,
    flushes: Option<FlushQueue>,
}

/// Where digest flushes are sent: the standard queue the function also consumes.
#[derive(Debug, Clone)]
pub struct FlushQueue {
    pub sqs: SqsQueue,
    pub url: String,
}

impl CommentDigests {
    /// Every comment pushed at once.
    pub fn off() -> Self {
        CommentDigests { window: Duration::ZERO, flushes: None }
    }

    /// Comments collected for `window` (a zero window is [`off`](Self::off)).
    pub fn new(window: Duration, flushes: FlushQueue) -> Self {
        if window.is_zero() {
            return Self::off();
        }
        CommentDigests { window, flushes: Some(flushes) }
    }

    /// `COMMENT_DIGEST_WINDOW_SECONDS` (0 to 900, default 120) and, unless
    /// it is 0, `COMMENT_DIGEST_QUEUE_URL`.
    pub fn from_env(env: &Env, sdk: &SdkConfig) -> Result<Self, ConfigError> {
        let seconds: u64 = env.parsed_or("COMMENT_DIGEST_WINDOW_SECONDS", DEFAULT_WINDOW_SECONDS)?;
        if seconds > MAX_WINDOW_SECONDS {
            return Err(ConfigError::Invalid {
                name: "COMMENT_DIGEST_WINDOW_SECONDS",
                reason: format!("{seconds} s is over SQS's longest delay, {MAX_WINDOW_SECONDS} s"),
            });
        }
        if seconds == 0 {
            return Ok(Self::off());
        }
        let url = env.required("COMMENT_DIGEST_QUEUE_URL")?.to_owned();
        Ok(Self::new(Duration::from_secs(seconds), FlushQueue { sqs: SqsQueue::new(sdk), url }))
    }

    /// The window and the flush queue, unless every comment is pushed at once.
    pub fn collecting(&self) -> Option<(Duration, &FlushQueue)> {
        self.flushes.as_ref().map(|flushes| (self.window, flushes))
    }
}

/// The flush message of one digest (the function's own typed body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestDue {
    pub digest_id: i64,
}

impl DigestDue {
    const TYPE: &'static str = "comment_digest_due";

    pub fn to_body(self) -> String {
        serde_json::json!({ "type": Self::TYPE, "digest_id": self.digest_id }).to_string()
    }

    /// `None` when the body is not a flush (a comment); a flush without a
    /// usable digest id is an error.
    pub fn recognise(body: &str) -> Option<Result<DigestDue, String>> {
        let value: serde_json::Value = serde_json::from_str(body).ok()?;
        if value.get("type").and_then(|t| t.as_str()) != Some(Self::TYPE) {
            return None;
        }
        Some(match value.get("digest_id").and_then(|id| id.as_i64()) {
            Some(digest_id) if digest_id > 0 => Ok(DigestDue { digest_id }),
            _ => Err("digest_id is not a positive integer".to_owned()),
        })
    }
}

/// What collecting one comment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collected {
    /// The comment no longer exists: nothing to push.
    Gone,
    /// In a digest; `flush_delay` when this comment sent its flush.
    InDigest { slot: DigestSlot, flush_delay: Option<Duration> },
}

/// Puts a comment into its event's digest (collected for `window`) and,
/// when the digest needs it ([`flush_delay`]), sends the digest's flush.
#[tracing::instrument(skip_all, fields(comment_id = comment.comment_id.0))]
pub async fn collect_comment(
    store: &Store,
    (window, flushes): (Duration, &FlushQueue),
    deadline: &Deadline,
    comment: &CommentPosted,
    now: DateTime<Utc>,
) -> Result<Collected, CommentPushError> {
    let joined = deadline.bound(store.join_comment_digest(comment.comment_id, now, window)).await;
    let Some(slot) = joined.map_err(timed_out)?? else {
        tracing::warn!("comment no longer exists; acknowledged");
        return Ok(Collected::Gone);
    };
    let delay = flush_delay(&slot, now);
    if let Some(delay) = delay {
        let due = DigestDue { digest_id: slot.digest_id };
        deadline.bound(send_flush(flushes, due, delay)).await.map_err(timed_out)??;
    }
    tracing::info!(
        digest_id = slot.digest_id,
        joined = ?slot.joined,
        flush_in_seconds = delay.map(|d| d.as_secs()),
        "comment collected into its digest"
    );
    Ok(Collected::InDigest { slot, flush_delay: delay })
}

/// When the digest's flush is to be sent, and with what delay: by the
/// comment that opened the digest; again by a redelivered comment of a
/// digest not yet flushed (its first send may never have happened); at once
/// by a comment joining a digest past its close (its flush is late or lost).
pub fn flush_delay(slot: &DigestSlot, now: DateTime<Utc>) -> Option<Duration> {
    let left = (slot.closes_at - now).to_std().unwrap_or(Duration::ZERO);
    let overdue = left.is_zero();
    let send = match slot.joined {
        Joined::Opened | Joined::AlreadyIn { flushed: false } => true,
        Joined::Added => overdue,
        Joined::AlreadyIn { flushed: true } => false,
    };
    // SQS counts whole seconds: round up so the flush never comes early.
    let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    send.then(|| Duration::from_secs(seconds.min(MAX_WINDOW_SECONDS)))
}

async fn send_flush(flushes: &FlushQueue, due: DigestDue, delay: Duration) -> Result<(), CommentPushError> {
    let seconds = i32::try_from(delay.as_secs().min(MAX_WINDOW_SECONDS)).unwrap_or(0);
    flushes
        .sqs
        .client()
        .send_message()
        .queue_url(&flushes.url)
        .message_body(due.to_body())
        .delay_seconds(seconds)
        .send()
        .await
        .map_err(|e| classify("SendMessage", &e))?;
    Ok(())
}

/// Flushes one digest: claims it, then pushes each receiver once for the
/// digest's comments not yet sent to them (never their own comments).
#[tracing::instrument(skip_all, fields(digest_id, event_id = tracing::field::Empty))]
pub async fn flush_digest(
    store: &Store,
    publisher: &impl PushPublisher,
    deadline: &Deadline,
    digest_id: i64,
    now: DateTime<Utc>,
) -> Result<CommentPushSummary, CommentPushError> {
    let claimed = deadline.bound(store.claim_comment_digest(digest_id, now)).await.map_err(timed_out)??;
    let Some(digest) = claimed else {
        tracing::warn!("digest no longer exists (its event was deleted); acknowledged");
        return Ok(CommentPushSummary::default());
    };
    tracing::Span::current().record("event_id", digest.event_id.0);
    let keys: Vec<DeliveryKey> =
        digest.receivers.iter().flat_map(|(user_id, _)| theirs(&digest, *user_id).map(|(key, _)| key)).collect();
    let statuses = claim(store, deadline, &keys).await?;
    let mut summary = CommentPushSummary::default();
    let planned = plan_pushes(&digest, &statuses, &mut summary);
    let due: Vec<Due> = planned
        .iter()
        .map(|(receiver, keys, message_json)| Due {
            user_id: receiver.0,
            endpoint: receiver.1.as_str(),
            message_json: message_json.as_str(),
            keys: keys.clone(),
        })
        .collect();
    let transient = publish_and_record(store, publisher, deadline, due, &mut summary).await?;
    let what = format!("digest of {} comments flushed", digest.comments.len());
    finish(summary, transient, &what)
}

/// The digest's comments a member receives (every one but their own), with
/// their log keys, oldest first.
fn theirs(digest: &DigestToPush, user_id: UserId) -> impl Iterator<Item = (DeliveryKey, &DigestComment)> {
    digest
        .comments
        .iter()
        .filter(move |c| c.author_id != user_id)
        .map(move |c| (DeliveryKey { item_id: c.comment_id.0, user_id }, c))
}

/// One push per receiver with comments still to be sent (claimed, not
/// `sent`): the receiver, the log rows it goes to, and its SNS message.
fn plan_pushes<'a>(
    digest: &'a DigestToPush,
    statuses: &HashMap<DeliveryKey, DeliveryStatus>,
    summary: &mut CommentPushSummary,
) -> Vec<(&'a (UserId, String), Vec<DeliveryKey>, String)> {
    let mut planned = Vec::new();
    for receiver in &digest.receivers {
        let mut theirs = theirs(digest, receiver.0).peekable();
        if theirs.peek().is_none() {
            continue; // every comment is their own
        }
        summary.receivers += 1;
        let pending: Vec<(DeliveryKey, &DigestComment)> =
            theirs.filter(|(key, _)| statuses.get(key).is_some_and(|s| !s.was_accepted())).collect();
        let Some((_, latest)) = pending.last() else {
            summary.already_pushed += 1;
            continue;
        };
        let author = latest.author_email.as_deref().unwrap_or("A member");
        let push = comment_digest_push(digest.event_id, &digest.event_name, pending.len(), author, &latest.comment);
        planned.push((receiver, pending.iter().map(|(key, _)| *key).collect(), sns_push_message(&push)));
    }
    planned
}

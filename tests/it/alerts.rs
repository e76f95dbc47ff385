//! The alerts function on real PostgreSQL, moto (CloudWatch Logs, SQS,
//! Secrets Manager) and a webhook receiver on 127.0.0.1.

use crate::fixtures::{self, at};
use alerts::{AlertsConfig, AlertsError, HttpWebhook, Sources, WebhookError, run_alerts, webhook_url_from_secret};
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use std::time::Duration;
use torium_aws::{CloudWatchLogs, SecretStore, SecretsManager, SqsQueue};
use torium_domain::WebhookFormat;
use torium_tests::moto::{self, create_fifo_queue};
use torium_tests::webhook::{Receiver, Reply};
use torium_tests::{TestDatabase, unique_name};

struct Suite {
    db: TestDatabase,
    logs: CloudWatchLogs,
    sqs: SqsQueue,
    log_group: String,
    dlq: String,
    config: AlertsConfig,
}

async fn suite() -> Suite {
    let db = TestDatabase::migrated().await;
    let sdk = moto::sdk_config().await;
    let logs = CloudWatchLogs::new(&sdk);
    let sqs = SqsQueue::new(&sdk);
    let log_group = format!("/aws/lambda/{}", unique_name("torium-send-email"));
    logs.client().create_log_group().log_group_name(&log_group).send().await.expect("log group in moto");
    logs.client()
        .create_log_stream()
        .log_group_name(&log_group)
        .log_stream_name("2026/11/24/[$LATEST]a1")
        .send()
        .await
        .unwrap();
    let dlq = create_fifo_queue(sqs.client(), "send-sms-dlq").await;
    let config = AlertsConfig {
        webhook_secret_arn: "unused: the tests build the webhook directly".into(),
        // A group that does not exist yet (a function that never ran) is fine.
        log_groups: vec![log_group.clone(), "/aws/lambda/torium-never-ran".into()],
        dlq_urls: vec![dlq.clone()],
        format: WebhookFormat::Discord,
        repeat_every: TimeDelta::hours(1),
        scheduler_stall_after: TimeDelta::minutes(3),
        first_window: TimeDelta::minutes(5),
    };
    Suite { db, logs, sqs, log_group, dlq, config }
}

impl Suite {
    async fn run(&self, webhook: &HttpWebhook, now: DateTime<Utc>) -> Result<alerts::AlertsSummary, AlertsError> {
        let sources = Sources { store: &self.db.store, logs: &self.logs, sqs: &self.sqs };
        run_alerts(&sources, webhook, &self.config, now).await
    }

    async fn log(&self, at: DateTime<Utc>, level: &str, message: &str) {
        let line =
            serde_json::json!({"timestamp": at.to_rfc3339(), "level": level, "message": message, "reminder_id": 7})
                .to_string();
        self.logs
            .client()
            .put_log_events()
            .log_group_name(&self.log_group)
            .log_stream_name("2026/11/24/[$LATEST]a1")
            .log_events(InputLogEvent::builder().timestamp(at.timestamp_millis()).message(line).build().unwrap())
            .send()
            .await
            .expect("put log event");
    }

    /// Failures that keep happening: an error line, a failed push and a
    /// skipped firing one minute before `now`; the DLQ keeps its messages
    /// and the scheduler stays silent.
    async fn still_broken(&self, event: i64, user: i64, now: DateTime<Utc>) {
        let when = now - TimeDelta::minutes(1);
        self.log(when, "ERROR", "sending the email failed").await;
        let c = self.db.client().await;
        let reminder: i64 = c
            .query_one(
                "INSERT INTO event_reminders (event_id, trigger_timestamp, outcome, \"timestamp\") VALUES ($1, $2, 'skipped', $2) RETURNING id",
                &[&event, &when],
            )
            .await
            .unwrap()
            .get(0);
        c.execute(
            "INSERT INTO event_reminders_logs (event_reminders_id, user_id, channel, status, last_error, updated_at) \
             VALUES ($1, $2, 'push', 'failed', 'Publish failed (Permanent, EndpointDisabled): Endpoint is disabled', $3)",
            &[&reminder, &user, &when],
        )
        .await
        .unwrap();
    }
}

fn titles(post: &serde_json::Value) -> Vec<String> {
    post["embeds"].as_array().unwrap().iter().map(|e| e["title"].as_str().unwrap().to_owned()).collect()
}

fn webhook(receiver: &Receiver) -> HttpWebhook {
    HttpWebhook::new(&receiver.url, Duration::from_secs(2)).unwrap()
}

#[tokio::test]
async fn conditions_are_posted_when_they_start_hourly_while_they_last_and_once_when_they_clear() {
    let s = suite().await;
    let receiver = Receiver::start(Vec::new()).await;
    let hook = webhook(&receiver);
    let c = s.db.client().await;
    let group = fixtures::group(&c, "G").await;
    let event = fixtures::ApiEvent::on(at("2026-12-24T17:00:00Z")).insert(&c, group, "E").await;
    let user = fixtures::user(&c, "u@example.com").await;
    // CloudWatch (and moto) refuse log events more than two hours ahead of
    // the clock, so this timeline starts at the current minute.
    let t0 = Utc::now().duration_trunc(TimeDelta::minutes(1)).unwrap();
    c.execute("INSERT INTO scheduler_runs (scheduled_for, started_at, finished_at, claimed, enqueued, skipped) VALUES ($1, $1, $1, 0, 0, 0)", &[&(t0 - TimeDelta::minutes(10))]).await.unwrap();
    s.log(t0 - TimeDelta::minutes(30), "ERROR", "too old for this window").await;
    s.log(t0 - TimeDelta::minutes(2), "INFO", "delivered").await;
    s.log(t0 - TimeDelta::minutes(2), "ERROR", "sending the email failed").await;
    s.still_broken(event, user, t0).await;
    let mut dlq_messages = Vec::new();
    for i in 0..2 {
        dlq_messages.push(
            s.sqs
                .client()
                .send_message()
                .queue_url(&s.dlq)
                .message_body(format!("dead {i}"))
                .message_group_id("g")
                .message_deduplication_id(format!("d{i}"))
                .send()
                .await
                .unwrap(),
        );
    }

    // 12:00: everything starts, in one post, most severe first.
    let summary = s.run(&hook, t0).await.unwrap();
    assert_eq!(summary.findings, 5, "{:?}", summary.notices);
    let posts = receiver.posts();
    assert_eq!(posts.len(), 1);
    let dlq_name = s.dlq.rsplit('/').next().unwrap();
    let function = s.log_group.rsplit('/').next().unwrap();
    assert_eq!(
        titles(&posts[0]),
        [
            format!("🔴 {dlq_name}: 2 message(s) in the dead-letter queue"),
            "🔴 The scheduler has stopped".to_owned(),
            "🔴 1 failed push deliveries (EndpointDisabled)".to_owned(),
            format!("🔴 {function}: 2 error(s) logged"),
            "🔴 1 reminder firing(s) skipped for lateness".to_owned(),
        ]
    );
    assert_eq!(posts[0]["embeds"][0]["color"], 0xE74C3C);
    let errors = posts[0]["embeds"][3]["description"].as_str().unwrap();
    assert!(errors.contains("• sending the email failed") && !errors.contains("too old"), "{errors}");

    // 12:05: the same state: nothing is repeated.
    let t1 = t0 + TimeDelta::minutes(5);
    s.still_broken(event, user, t1).await;
    assert!(s.run(&hook, t1).await.unwrap().notices.is_empty());
    assert_eq!(receiver.posts().len(), 1);

    // 13:05: still broken an hour after it was told: told again, once.
    let t2 = t0 + TimeDelta::minutes(65);
    s.still_broken(event, user, t2).await;
    s.run(&hook, t2).await.unwrap();
    let posts = receiver.posts();
    assert_eq!(posts.len(), 2);
    assert!(titles(&posts[1]).iter().all(|t| t.starts_with("🔁 Still: ")), "{:?}", titles(&posts[1]));
    assert_eq!(titles(&posts[1]).len(), 5);

    // 13:10: all cleared: one post of resolutions, then silence.
    let t3 = t2 + TimeDelta::minutes(5);
    s.sqs.client().purge_queue().queue_url(&s.dlq).send().await.unwrap();
    c.execute("INSERT INTO scheduler_runs (scheduled_for, started_at, finished_at, claimed, enqueued, skipped) VALUES ($1, $1, $1, 0, 0, 0)", &[&t3]).await.unwrap();
    s.run(&hook, t3).await.unwrap();
    let posts = receiver.posts();
    assert_eq!(posts.len(), 3);
    let resolved = titles(&posts[2]);
    assert_eq!(resolved.len(), 5);
    assert!(resolved.iter().all(|t| t.starts_with("✅ Resolved: ")), "{resolved:?}");
    let t4 = t3 + TimeDelta::minutes(5);
    c.execute("INSERT INTO scheduler_runs (scheduled_for, started_at, finished_at, claimed, enqueued, skipped) VALUES ($1, $1, $1, 0, 0, 0)", &[&t4]).await.unwrap();
    assert!(s.run(&hook, t4).await.unwrap().notices.is_empty());
    assert_eq!(receiver.posts().len(), 3);
}

#[tokio::test]
async fn a_failing_webhook_is_the_functions_error_and_the_next_run_still_posts() {
    let s = suite().await;
    let receiver = Receiver::start(vec![Reply::Status(500), Reply::Hang, Reply::RateLimited(1)]).await;
    let hook = webhook(&receiver);
    let t0 = at("2026-11-24T12:00:00Z");

    let err = s.run(&hook, t0).await.unwrap_err();
    assert!(matches!(err, AlertsError::Webhook(WebhookError::Status { status: 500, .. })), "{err:?}");
    let conditions: i64 =
        s.db.client().await.query_one("SELECT count(*) FROM alert_conditions", &[]).await.unwrap().get(0);
    assert_eq!(conditions, 0, "nothing is recorded as told");

    let err = s.run(&hook, t0 + TimeDelta::minutes(5)).await.unwrap_err();
    assert!(matches!(err, AlertsError::Webhook(WebhookError::Timeout(_))), "{err:?}");

    // Rate limited with a short Retry-After: waited for and retried once.
    let summary = s.run(&hook, t0 + TimeDelta::minutes(10)).await.unwrap();
    assert_eq!(summary.notices.len(), 1, "the stalled scheduler is still news: {summary:?}");
    assert_eq!(receiver.posts().len(), 1);
    assert_eq!(titles(&receiver.posts()[0]), ["🔴 The scheduler has stopped"]);
    assert_eq!(receiver.requests(), 4);
}

#[tokio::test]
async fn the_webhook_url_comes_from_secrets_manager_and_slack_format_is_available() {
    let s = suite().await;
    let receiver = Receiver::start(Vec::new()).await;
    let sdk = moto::sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let arn = secrets
        .create_secret()
        .name(unique_name("torium/alerts-webhook"))
        .secret_string(serde_json::json!({ "url": receiver.url }).to_string())
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    let secret = SecretsManager::new(&sdk).secret_string(&arn).await.unwrap();
    let url = webhook_url_from_secret(&secret).expect("a URL in the secret");
    assert_eq!(url, receiver.url);
    assert_eq!(
        webhook_url_from_secret("https://discord.com/api/webhooks/1/abc").as_deref(),
        Some("https://discord.com/api/webhooks/1/abc")
    );
    assert_eq!(webhook_url_from_secret("{}"), None);

    let mut slack = s;
    slack.config.format = WebhookFormat::Slack;
    slack.run(&HttpWebhook::new(&url, Duration::from_secs(2)).unwrap(), at("2026-11-24T12:00:00Z")).await.unwrap();
    let post = &receiver.posts()[0];
    assert_eq!(post["attachments"][0]["title"], "🔴 The scheduler has stopped");
    assert_eq!(post["attachments"][0]["color"], "#e74c3c");
}

#[test]
fn configuration_comes_from_the_environment() {
    use torium_runtime::Env;
    let env = Env::from_pairs([
        ("ALERTS_WEBHOOK_SECRET_ARN", "arn:aws:secretsmanager:eu-central-1:123456789012:secret:alerts"),
        ("ALERTS_LOG_GROUPS", "/aws/lambda/a, /aws/lambda/b"),
        ("ALERTS_DLQ_URLS", "https://sqs.eu-central-1.amazonaws.com/123456789012/x-dlq.fifo"),
        ("ALERTS_WEBHOOK_FORMAT", "slack"),
    ]);
    let config = AlertsConfig::from_env(&env).unwrap();
    assert_eq!(config.log_groups, ["/aws/lambda/a", "/aws/lambda/b"]);
    assert_eq!(config.format, WebhookFormat::Slack);
    assert!(AlertsConfig::from_env(&Env::from_pairs([])).is_err());
    assert!(HttpWebhook::new("ftp://example.com/x", Duration::from_secs(1)).is_err());
}

#[test]
fn the_sample_event_is_a_scheduled_event() {
    let event: torium_runtime::aws_lambda_events::event::eventbridge::EventBridgeEvent =
        serde_json::from_str(include_str!("../../events/alerts.json")).unwrap();
    assert_eq!(event.time, Some(at("2026-12-23T17:05:00Z")));
}

/// `n` reminder deliveries of one channel and status, each its own firing
/// of `event` (trigger times from `first` on, a minute apart).
#[allow(clippy::too_many_arguments)]
async fn deliveries(
    c: &tokio_postgres::Client,
    event: i64,
    user: i64,
    first: DateTime<Utc>,
    n: i32,
    channel: &str,
    status: &str,
    sent_at: DateTime<Utc>,
    reported_at: Option<DateTime<Utc>>,
) {
    c.execute(
        "WITH r AS ( \
             INSERT INTO event_reminders (event_id, trigger_timestamp) \
             SELECT $1, $3::timestamptz + make_interval(mins => g) FROM generate_series(1, $4::int) g RETURNING id) \
         INSERT INTO event_reminders_logs (event_reminders_id, user_id, channel, status, sent_timestamp, reported_at, updated_at) \
         SELECT id, $2, $5::text::delivery_channel, $6, $7::timestamptz, $8::timestamptz, coalesce($8::timestamptz, $7::timestamptz) FROM r",
        &[&event, &user, &first, &n, &channel, &status, &sent_at, &reported_at],
    )
    .await
    .expect("delivery log rows");
}

#[tokio::test]
async fn delivery_rates_and_unreadable_schedules_are_told_at_their_levels_and_cleared() {
    let s = suite().await;
    let receiver = Receiver::start(Vec::new()).await;
    let hook = webhook(&receiver);
    let c = s.db.client().await;
    let t0 = Utc::now().duration_trunc(TimeDelta::minutes(1)).unwrap();
    let alive = |when: DateTime<Utc>| {
        let c = &c;
        async move {
            c.execute("INSERT INTO scheduler_runs (scheduled_for, started_at, finished_at, claimed, enqueued, skipped) VALUES ($1, $1, $1, 0, 0, 0)", &[&when]).await.unwrap();
        }
    };
    alive(t0).await;
    let group = fixtures::group(&c, "G").await;
    let event = fixtures::ApiEvent::on(at("2026-12-24T17:00:00Z")).insert(&c, group, "E").await;
    let user = fixtures::user(&c, "u@example.com").await;
    let hour_ago = t0 - TimeDelta::hours(1);
    let yesterday = t0 - TimeDelta::hours(25);
    let base = at("2020-01-01T00:00:00Z");
    // Emails of the last 24 h: 40 sent, 2 bounced (5 %: both levels), none
    // complained; bounces sent earlier than that do not count.
    deliveries(&c, event, user, base, 30, "email", "delivered", hour_ago, Some(hour_ago)).await;
    deliveries(&c, event, user, base + TimeDelta::days(1), 8, "email", "sent", hour_ago, None).await;
    deliveries(&c, event, user, base + TimeDelta::days(2), 2, "email", "bounced", hour_ago, Some(hour_ago)).await;
    deliveries(&c, event, user, base + TimeDelta::days(3), 10, "email", "bounced", yesterday, Some(yesterday)).await;
    // SMS receipts of the last 24 h: 17 delivered, 3 failed (15 %: warning);
    // failed ones without a receipt, or with an older one, do not count.
    deliveries(&c, event, user, base + TimeDelta::days(4), 17, "sms", "delivered", hour_ago, Some(hour_ago)).await;
    deliveries(&c, event, user, base + TimeDelta::days(5), 3, "sms", "failed", hour_ago, Some(hour_ago)).await;
    deliveries(&c, event, user, base + TimeDelta::days(6), 9, "sms", "failed", yesterday, Some(yesterday)).await;
    // Pushes have no rate rule.
    deliveries(&c, event, user, base + TimeDelta::days(7), 5, "push", "failed", hour_ago, None).await;

    let summary = s.run(&hook, t0).await.unwrap();
    let posts = receiver.posts();
    assert_eq!(posts.len(), 1, "{:?}", summary.notices);
    assert_eq!(
        titles(&posts[0]),
        [
            "🔴 Email bounce rate 5 % over 24 h (≥ 5 %)",
            "🔴 Email bounce rate 5 % over 24 h (≥ 2.5 %)",
            "🔴 SMS failure rate 15 % over 24 h (≥ 10 %)",
        ]
    );
    assert_eq!(posts[0]["embeds"][0]["color"], 0xE74C3C);
    assert!(posts[0]["embeds"][0]["description"].as_str().unwrap().starts_with("2 of 40 in the last 24 hours."));

    // An event whose schedule the scheduler could not read: one condition
    // naming it, told once, resolved when its zone is fixed.
    c.execute(
        "UPDATE events SET schedule_error = '\"europe/warsaw\" is not a known IANA time zone', schedule_error_at = $2, next_reminder_at = NULL WHERE id = $1",
        &[&event, &t0],
    )
    .await
    .unwrap();
    let t1 = t0 + TimeDelta::minutes(5);
    alive(t1).await;
    s.run(&hook, t1).await.unwrap();
    let posts = receiver.posts();
    assert_eq!(posts.len(), 2);
    assert_eq!(titles(&posts[1]), [format!("🔴 Unreadable time zone or schedule: 1 event(s) not reminded ({event})")]);
    assert!(posts[1]["embeds"][0]["description"].as_str().unwrap().contains(&format!("• event {event} (time zone")));
    let t2 = t1 + TimeDelta::minutes(5);
    alive(t2).await;
    assert!(s.run(&hook, t2).await.unwrap().notices.is_empty(), "no repeat within the hour");

    c.execute("UPDATE events SET time_zone = 'Europe/Berlin' WHERE id = $1", &[&event]).await.unwrap();
    let t3 = t2 + TimeDelta::minutes(5);
    alive(t3).await;
    s.run(&hook, t3).await.unwrap();
    let posts = receiver.posts();
    assert_eq!(posts.len(), 3);
    assert_eq!(
        titles(&posts[2]),
        ["✅ Resolved: Unreadable time zone or schedule: 1 event(s) not reminded (".to_owned()
            + &event.to_string()
            + ")"]
    );
}

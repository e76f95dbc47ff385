//! send-group-invitation and schedule-comment-push on real PostgreSQL and
//! moto's SNS: the pushes moto recorded, and the log rows.

use crate::fixtures::{self, CommentScene, at, batch, comment_by, comment_scene, devices, fcm, legacy_body};
use schedule_comment_push::{CommentPushSummary, push_comment};
use send_group_invitation::{InvitationOutcome, push_invitation};
use std::sync::atomic::{AtomicBool, Ordering};
use torium_delivery::{PushPublisher, SendFailure, SnsPushPublisher};
use torium_domain::{CommentPosted, EndpointArn, GroupInvitation, InvitationStatus};
use torium_runtime::aws_lambda_events::event::sqs::SqsEvent;
use torium_store::PooledClient;
use torium_tests::TestDatabase;
use torium_tests::moto::{self, pushes_to};

async fn invitation(c: &PooledClient, group: i64, user: i64, status: &str) -> i64 {
    c.query_one(
        "INSERT INTO group_invitation_logs (group_id, user_to, \"timestamp\", status) VALUES ($1, $2, now(), $3::text::status_type) RETURNING id",
        &[&group, &user, &status],
    )
    .await
    .unwrap()
    .get(0)
}

fn invitation_body(id: i64, user: i64, group: i64) -> String {
    legacy_body(&[
        ("group_invitation_logs_id", id.to_string()),
        ("user_id", user.to_string()),
        ("group_id", group.to_string()),
    ])
}

async fn invitation_status(c: &PooledClient, id: i64) -> (String, bool) {
    let r = c
        .query_one("SELECT status::text, sent_at IS NOT NULL FROM group_invitation_logs WHERE id = $1", &[&id])
        .await
        .unwrap();
    (r.get(0), r.get(1))
}

#[tokio::test]
async fn an_invitation_is_pushed_once_from_the_group_admin_and_marked_sent() {
    let db = TestDatabase::migrated().await;
    let d = devices().await;
    let c = db.client().await;
    let admin = fixtures::user(&c, "admin@example.com").await;
    let group = fixtures::group_with_admin(&c, "Climbing", admin).await;
    let endpoint = d.endpoint(true).await;
    let invited = fixtures::Person::new("new@example.com").prefers("PUSH").device(&endpoint).insert(&c).await;
    let id = invitation(&c, group, invited, "pending").await;

    let body = invitation_body(id, invited, group);
    let response = send_group_invitation::handle_batch(
        &db.store,
        &d.publisher,
        &fixtures::consumer().await,
        &fixtures::deadline(),
        &batch(std::slice::from_ref(&body)),
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    let pushes = pushes_to(&endpoint);
    assert_eq!(pushes.len(), 1);
    let message = fcm(&pushes[0]);
    assert_eq!(message["notification"]["title"], "Climbing - Group invitation");
    assert_eq!(message["notification"]["body"], "From admin@example.com");
    assert_eq!(message["data"]["event"], "group_invitation");
    assert_eq!(invitation_status(&c, id).await, ("sent".into(), true));

    // Redelivered: not pushed again.
    let response = send_group_invitation::handle_batch(
        &db.store,
        &d.publisher,
        &fixtures::consumer().await,
        &fixtures::deadline(),
        &batch(&[body]),
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(pushes_to(&endpoint).len(), 1);
}

#[tokio::test]
async fn answered_invitations_missing_devices_and_gone_rows_push_nothing() {
    let db = TestDatabase::migrated().await;
    let d = devices().await;
    let c = db.client().await;
    let group = fixtures::group(&c, "G").await;
    let endpoint = d.endpoint(true).await;
    let user = fixtures::Person::new("u@example.com").prefers("PUSH").device(&endpoint).insert(&c).await;
    let now = at("2026-11-24T10:00:00Z");
    for status in ["confirmed", "rejected", "sent"] {
        let id = invitation(&c, group, user, status).await;
        let message = GroupInvitation::parse(&invitation_body(id, user, group)).unwrap();
        let outcome = push_invitation(&db.store, &d.publisher, &fixtures::deadline(), &message, now).await.unwrap();
        assert_eq!(outcome, InvitationOutcome::AlreadyHandled(status.parse::<InvitationStatus>().unwrap()));
    }
    assert!(pushes_to(&endpoint).is_empty());

    let no_device = fixtures::user(&c, "nodevice@example.com").await;
    let id = invitation(&c, group, no_device, "pending").await;
    let message = GroupInvitation::parse(&invitation_body(id, no_device, group)).unwrap();
    assert_eq!(
        push_invitation(&db.store, &d.publisher, &fixtures::deadline(), &message, now).await.unwrap(),
        InvitationOutcome::NoDevice
    );
    assert_eq!(invitation_status(&c, id).await, ("pending".into(), false), "it stays visible in the app");

    let dead = d.endpoint(false).await;
    let dead_user = fixtures::Person::new("dead@example.com").prefers("PUSH").device(&dead).insert(&c).await;
    let id = invitation(&c, group, dead_user, "pending").await;
    let message = GroupInvitation::parse(&invitation_body(id, dead_user, group)).unwrap();
    assert_eq!(
        push_invitation(&db.store, &d.publisher, &fixtures::deadline(), &message, now).await.unwrap(),
        InvitationOutcome::NoDevice
    );
    let device: Option<String> =
        c.query_one("SELECT device_arn FROM users WHERE id = $1", &[&dead_user]).await.unwrap().get(0);
    assert_eq!(device, None, "the dead endpoint is forgotten");
    assert_eq!(invitation_status(&c, id).await.0, "pending");

    // The invitation is deleted (the API deletes a group's invitations
    // before the group): acknowledged.
    let gone = invitation(&c, group, user, "pending").await;
    c.execute("DELETE FROM group_invitation_logs WHERE group_id = $1 AND user_to = $2", &[&group, &user])
        .await
        .unwrap();
    let bodies = [invitation_body(gone, user, group), "not json".to_owned(), invitation_body(gone, user, group)];
    let consumer = fixtures::consumer().await;
    let response =
        send_group_invitation::handle_batch(&db.store, &d.publisher, &consumer, &fixtures::deadline(), &batch(&bodies))
            .await;
    assert!(response.batch_item_failures.is_empty(), "the malformed one is set aside, the others acknowledged");
    assert!(pushes_to(&endpoint).is_empty());
    let sqs = torium_aws::SqsQueue::new(&moto::sdk_config().await);
    let set_aside = moto::drain_dead_letters(sqs.client(), consumer.dead_letters.queue_url()).await;
    assert_eq!(set_aside.len(), 1);
    assert_eq!(set_aside[0].0.body, "not json");
    assert_eq!(set_aside[0].1["original_message_id"], "m1");
}

async fn comment_on(db: &TestDatabase, scene: &CommentScene, text: &str) -> CommentPosted {
    CommentPosted::parse(&comment_by(db, scene.event, scene.author, text).await).unwrap()
}

#[tokio::test]
async fn a_comment_is_pushed_once_to_every_other_member_with_a_device() {
    let db = TestDatabase::migrated().await;
    let d = devices().await;
    let scene = comment_scene(&db, &d, 3, &[]).await;
    let text = "Zażółć gęślą jaźń! Kto przynosi pierogi? 🥟🎅 ".repeat(4);
    let comment = comment_on(&db, &scene, &text).await;

    let summary = push_comment(&db.store, &d.publisher, &fixtures::deadline(), &comment).await.unwrap();
    assert_eq!(summary, CommentPushSummary { receivers: 3, pushed: 3, already_pushed: 0, refused: 0 });
    assert!(pushes_to(&scene.author_endpoint).is_empty(), "never to the author");
    let expected_body = format!("author@example.com: {}...", text.chars().take(100).collect::<String>());
    for (_, endpoint) in &scene.receivers {
        let pushes = pushes_to(endpoint);
        assert_eq!(pushes.len(), 1);
        let message = fcm(&pushes[0]);
        assert_eq!(message["notification"]["title"], "New comment: Wigilia 🎄");
        assert_eq!(message["notification"]["body"], expected_body.as_str(), "cut on a character boundary");
        assert_eq!(message["data"]["event_id"], scene.event.to_string());
    }

    // Redelivered: nobody is pushed twice.
    let again = push_comment(&db.store, &d.publisher, &fixtures::deadline(), &comment).await.unwrap();
    assert_eq!(again, CommentPushSummary { receivers: 3, pushed: 0, already_pushed: 3, refused: 0 });
    assert!(scene.receivers.iter().all(|(_, e)| pushes_to(e).len() == 1));
    let rows: i64 = db
        .client()
        .await
        .query_one("SELECT count(*) FROM events_comments_logs WHERE status = 'sent'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 3);
}

/// The real publisher, failing transiently once for one endpoint.
struct FlakyOnce<'a> {
    inner: &'a SnsPushPublisher,
    endpoint: String,
    failed: AtomicBool,
}

impl PushPublisher for FlakyOnce<'_> {
    async fn publish(&self, endpoint_arn: &EndpointArn, message_json: &str) -> Result<String, SendFailure> {
        if endpoint_arn.as_str() == self.endpoint && !self.failed.swap(true, Ordering::SeqCst) {
            return Err(SendFailure::Transient("InternalError (injected)".into()));
        }
        self.inner.publish(endpoint_arn, message_json).await
    }
}

#[tokio::test]
async fn a_dead_endpoint_does_not_stop_the_others_and_a_transient_failure_retries_only_its_receiver() {
    let db = TestDatabase::migrated().await;
    let d = devices().await;
    let scene = comment_scene(&db, &d, 4, &[1]).await;
    let comment = comment_on(&db, &scene, "See you at 6").await;
    let flaky =
        FlakyOnce { inner: &d.publisher, endpoint: scene.receivers[3].1.clone(), failed: AtomicBool::new(false) };

    let body = legacy_body(&[
        ("events_comments_id", comment.comment_id.0.to_string()),
        ("event_id", scene.event.to_string()),
        ("event_timestamp", "2026-11-24 10:00:00".into()),
        ("user_id", scene.author.to_string()),
        ("comment", comment.comment.clone()),
    ]);
    let response = schedule_comment_push::handle_batch(
        &db.store,
        &flaky,
        &fixtures::consumer().await,
        &fixtures::deadline(),
        &batch(std::slice::from_ref(&body)),
    )
    .await;
    assert_eq!(response.batch_item_failures.len(), 1, "the transient failure returns the message");
    let counts: Vec<usize> = scene.receivers.iter().map(|(_, e)| pushes_to(e).len()).collect();
    assert_eq!(counts, [1, 0, 1, 0]);
    let device: Option<String> = db
        .client()
        .await
        .query_one("SELECT device_arn FROM users WHERE id = $1", &[&scene.receivers[1].0])
        .await
        .unwrap()
        .get(0);
    assert_eq!(device, None, "the disabled endpoint is forgotten");

    let response = schedule_comment_push::handle_batch(
        &db.store,
        &flaky,
        &fixtures::consumer().await,
        &fixtures::deadline(),
        &batch(&[body]),
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    let counts: Vec<usize> = scene.receivers.iter().map(|(_, e)| pushes_to(e).len()).collect();
    assert_eq!(counts, [1, 0, 1, 1], "only the receiver not yet pushed was retried");
}

#[tokio::test]
async fn a_500_member_event_pushes_each_other_member_once() {
    let db = TestDatabase::migrated().await;
    let d = devices().await;
    let c = db.client().await;
    let group = fixtures::group(&c, "Big").await;
    let event = fixtures::ApiEvent::on(at("2026-12-24T17:00:00Z")).insert(&c, group, "Town hall").await;
    // One shared endpoint keeps moto's set-up quick; the log rows are per member.
    let endpoint = d.endpoint(true).await;
    c.execute(
        "WITH u AS (INSERT INTO users (cognito_user_id, email, device_arn) \
             SELECT 'm-' || n, 'member' || n || '@example.com', $2 FROM generate_series(1, 500) n RETURNING id) \
         INSERT INTO events_users (event_id, user_id) SELECT $1, id FROM u",
        &[&event, &endpoint],
    )
    .await
    .unwrap();
    let author: i64 =
        c.query_one("SELECT min(user_id) FROM events_users WHERE event_id = $1", &[&event]).await.unwrap().get(0);
    let scene = CommentScene { event, author, author_endpoint: endpoint.clone(), receivers: Vec::new() };
    let comment = comment_on(&db, &scene, "Agenda attached").await;

    let summary = push_comment(&db.store, &d.publisher, &fixtures::deadline(), &comment).await.unwrap();
    assert_eq!(summary, CommentPushSummary { receivers: 499, pushed: 499, already_pushed: 0, refused: 0 });
    assert_eq!(pushes_to(&endpoint).len(), 499, "moto recorded one push per other member");
    let again = push_comment(&db.store, &d.publisher, &fixtures::deadline(), &comment).await.unwrap();
    assert_eq!(again.pushed, 0);
    assert_eq!(pushes_to(&endpoint).len(), 499);
}

#[test]
fn the_sample_events_are_what_the_handlers_read() {
    for (file, check) in [
        (include_str!("../../events/send-group-invitation.json"), "invitation"),
        (include_str!("../../events/schedule-comment-push.json"), "comment"),
    ] {
        let event: SqsEvent = serde_json::from_str(file).unwrap();
        let body = event.records[0].body.as_deref().unwrap();
        match check {
            "invitation" => assert_eq!(GroupInvitation::parse(body).unwrap().invitation_id.0, 1),
            _ => assert_eq!(CommentPosted::parse(body).unwrap().comment, "Kto przynosi pierogi? 🥟"),
        }
    }
}

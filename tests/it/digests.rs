//! Comment digests (schedule-comment-push with a window) on real PostgreSQL
//! and moto: the pushes moto recorded, the flush messages in moto's standard
//! queue, and the `events_comments_logs` rows.

use crate::fixtures::{self, CommentScene, Devices, at, batch, comment_by, comment_scene, devices, fcm};
use chrono::{DateTime, Utc};
use schedule_comment_push::digest::{Collected, CommentDigests, DigestDue, FlushQueue, collect_comment};
use schedule_comment_push::handle_batch_with;
use std::time::Duration;
use torium_aws::SqsQueue;
use torium_domain::CommentPosted;
use torium_store::Joined;
use torium_tests::TestDatabase;
use torium_tests::moto::{self, ReceivedMessage, drain_queue, pushes_to, sqs_event};

/// A standard queue in moto for the flushes, and digests over `window`.
async fn flush_queue() -> FlushQueue {
    let sqs = SqsQueue::new(&moto::sdk_config().await);
    let name = torium_tests::unique_name("comment-digest");
    let url = sqs.client().create_queue().queue_name(name).send().await.unwrap().queue_url.unwrap();
    FlushQueue { sqs, url }
}

/// Runs one batch through the handler; asserts everything was acknowledged.
async fn handle(
    db: &TestDatabase,
    d: &Devices,
    digests: &CommentDigests,
    event: &torium_runtime::aws_lambda_events::event::sqs::SqsEvent,
) {
    let response =
        handle_batch_with(&db.store, &d.publisher, digests, &fixtures::consumer().await, &fixtures::deadline(), event)
            .await;
    assert!(response.batch_item_failures.is_empty(), "{:?}", response.batch_item_failures);
}

/// The flush messages that become visible in the queue within `wait`.
async fn await_flushes(queue: &FlushQueue, wait: Duration) -> Vec<ReceivedMessage> {
    let started = std::time::Instant::now();
    loop {
        let received = drain_queue(queue.sqs.client(), &queue.url).await;
        if !received.is_empty() || started.elapsed() > wait {
            return received;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// (comment, status, provider message id) of one member's log rows, by comment.
async fn log_rows(db: &TestDatabase, user: i64) -> Vec<(i64, String, Option<String>)> {
    db.client()
        .await
        .query(
            "SELECT events_comments_id, status, provider_message_id FROM events_comments_logs \
             WHERE user_id = $1 ORDER BY events_comments_id",
            &[&user],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

fn flush_of(digest_id: i64) -> String {
    DigestDue { digest_id }.to_body()
}

async fn digest_ids(db: &TestDatabase, event: i64) -> Vec<i64> {
    db.client()
        .await
        .query("SELECT id FROM comment_digests WHERE event_id = $1 ORDER BY id", &[&event])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn three_comments_in_the_window_reach_each_member_as_one_push_with_one_log_row_per_comment() {
    let db = TestDatabase::migrated().await;
    let d = devices().await;
    let scene = comment_scene(&db, &d, 3, &[]).await;
    let queue = flush_queue().await;
    let digests = CommentDigests::new(Duration::from_secs(4), queue.clone());
    let long = "Zażółć gęślą jaźń 🎄 ".repeat(8);
    let texts = ["Who brings the pierogi?", "I can bring barszcz", long.as_str()];
    let mut bodies = Vec::new();
    for text in &texts {
        bodies.push(comment_by(&db, scene.event, scene.author, text).await);
    }
    handle(&db, &d, &digests, &batch(&bodies)).await;
    assert!(scene.receivers.iter().all(|(_, e)| pushes_to(e).is_empty()), "held for the window");

    // The flush comes out of the queue once the window has passed.
    let flushes = await_flushes(&queue, Duration::from_secs(15)).await;
    assert_eq!(flushes.len(), 1, "the comment that opened the digest sent its flush, the others none");
    handle(&db, &d, &digests, &sqs_event(&flushes)).await;

    assert!(pushes_to(&scene.author_endpoint).is_empty(), "never to the author");
    let latest = format!("author@example.com: {}...", texts[2].chars().take(100).collect::<String>());
    let mut provider_ids = Vec::new();
    for (user, endpoint) in &scene.receivers {
        let pushes = pushes_to(endpoint);
        assert_eq!(pushes.len(), 1, "one push for the three comments");
        let message = fcm(&pushes[0]);
        assert_eq!(message["notification"]["title"], "3 new comments on Wigilia 🎄");
        assert_eq!(message["notification"]["body"], latest.as_str(), "the latest comment's preview");
        assert_eq!(message["data"]["event_id"], scene.event.to_string(), "the app opens the event");
        assert_eq!(message["data"]["title"], "3 new comments on Wigilia 🎄");
        let rows = log_rows(&db, *user).await;
        assert_eq!(rows.len(), 3, "one row per comment");
        assert!(rows.iter().all(|(_, status, _)| status == "sent"));
        assert!(rows.iter().all(|(_, _, id)| id.is_some() && *id == rows[0].2), "the one push's id on each");
        provider_ids.push(rows[0].2.clone());
    }
    provider_ids.dedup();
    assert_eq!(provider_ids.len(), 3, "a push of its own per member");
    assert!(log_rows(&db, scene.author).await.is_empty(), "the author is logged for nothing");

    // Redelivered comments and flush: nothing changes, no new flush is sent.
    handle(&db, &d, &digests, &batch(&bodies)).await;
    handle(&db, &d, &digests, &sqs_event(&flushes)).await;
    assert!(drain_queue(queue.sqs.client(), &queue.url).await.is_empty(), "the flushed digest is not armed again");
    assert!(scene.receivers.iter().all(|(_, e)| pushes_to(e).len() == 1));
    assert_eq!(digest_ids(&db, scene.event).await.len(), 1, "no digest opened by a redelivery");
    for (user, _) in &scene.receivers {
        assert_eq!(log_rows(&db, *user).await.len(), 3);
    }
}

#[tokio::test]
async fn comments_in_separate_windows_are_pushed_one_each_as_plain_comment_pushes() {
    let db = TestDatabase::migrated().await;
    let d = devices().await;
    let scene = comment_scene(&db, &d, 2, &[]).await;
    let digests = CommentDigests::new(Duration::from_secs(60), flush_queue().await);
    for (round, text) in ["First!", "Second, an hour later"].iter().enumerate() {
        let body = comment_by(&db, scene.event, scene.author, text).await;
        handle(&db, &d, &digests, &batch(&[body])).await;
        let digests_so_far = digest_ids(&db, scene.event).await;
        assert_eq!(digests_so_far.len(), round + 1, "the flushed digest takes no new comment");
        handle(&db, &d, &digests, &batch(&[flush_of(digests_so_far[round])])).await;
        for (_, endpoint) in &scene.receivers {
            let pushes = pushes_to(endpoint);
            assert_eq!(pushes.len(), round + 1);
            // moto keeps an endpoint's messages by message id, not in order.
            let messages: Vec<serde_json::Value> = pushes.iter().map(fcm).collect();
            let this_one = messages.iter().find(|m| m["notification"]["body"] == format!("author@example.com: {text}"));
            let message = this_one.unwrap_or_else(|| panic!("no push of {text:?}: {messages:?}"));
            assert_eq!(message["notification"]["title"], "New comment: Wigilia 🎄", "one comment: the plain push");
        }
    }
    for (user, _) in &scene.receivers {
        let rows = log_rows(&db, *user).await;
        assert_eq!(rows.len(), 2);
        assert_ne!(rows[0].2, rows[1].2, "two pushes, two provider ids");
    }
}

#[tokio::test]
async fn each_member_is_told_of_the_others_comments_only() {
    let db = TestDatabase::migrated().await;
    let d = devices().await;
    let scene: CommentScene = comment_scene(&db, &d, 2, &[]).await;
    let digests = CommentDigests::new(Duration::from_secs(60), flush_queue().await);
    let (bob, bob_endpoint) = scene.receivers[0].clone();
    let (carol, carol_endpoint) = scene.receivers[1].clone();
    let bodies = [
        comment_by(&db, scene.event, scene.author, "Dinner at 6?").await,
        comment_by(&db, scene.event, bob, "Fine by me").await,
        comment_by(&db, scene.event, scene.author, "Great, see you").await,
    ];
    handle(&db, &d, &digests, &batch(&bodies)).await;
    let digest = digest_ids(&db, scene.event).await;
    assert_eq!(digest.len(), 1);
    handle(&db, &d, &digests, &batch(&[flush_of(digest[0])])).await;

    let title = |endpoint: &str| fcm(&pushes_to(endpoint)[0])["notification"]["title"].clone();
    assert_eq!(pushes_to(&carol_endpoint).len(), 1);
    assert_eq!(title(&carol_endpoint), "3 new comments on Wigilia 🎄");
    assert_eq!(pushes_to(&bob_endpoint).len(), 1);
    assert_eq!(title(&bob_endpoint), "2 new comments on Wigilia 🎄", "not told of his own");
    let author_pushes = pushes_to(&scene.author_endpoint);
    assert_eq!(author_pushes.len(), 1);
    let to_author = fcm(&author_pushes[0]);
    assert_eq!(to_author["notification"]["title"], "New comment: Wigilia 🎄", "Bob's one comment, plainly");
    assert_eq!(to_author["notification"]["body"], "m0@example.com: Fine by me");
    assert_eq!(log_rows(&db, carol).await.len(), 3);
    assert_eq!(log_rows(&db, bob).await.len(), 2);
    assert_eq!(log_rows(&db, scene.author).await.len(), 1);
}

#[tokio::test]
async fn the_flush_is_armed_by_the_opener_again_on_redelivery_and_at_once_when_overdue() {
    let db = TestDatabase::migrated().await;
    let d = devices().await;
    let scene = comment_scene(&db, &d, 1, &[]).await;
    let queue = flush_queue().await;
    let window = Duration::from_secs(60);
    let collect = async |body: &str, now: DateTime<Utc>| {
        let comment = CommentPosted::parse(body).unwrap();
        match collect_comment(&db.store, (window, &queue), &fixtures::deadline(), &comment, now).await.unwrap() {
            Collected::InDigest { slot, flush_delay } => (slot.joined, flush_delay.map(|d| d.as_secs())),
            Collected::Gone => panic!("the comment exists"),
        }
    };
    let t0 = at("2026-11-24T10:00:00Z");
    let first = comment_by(&db, scene.event, scene.author, "one").await;
    let second = comment_by(&db, scene.event, scene.author, "two").await;
    let late = comment_by(&db, scene.event, scene.author, "three").await;
    assert_eq!(collect(&first, t0).await, (Joined::Opened, Some(60)));
    assert_eq!(collect(&second, t0 + chrono::Duration::seconds(10)).await, (Joined::Added, None));
    // Redelivered before its flush: the opener sends it again, for the time left.
    let redelivered = collect(&first, t0 + chrono::Duration::milliseconds(20_500)).await;
    assert_eq!(redelivered, (Joined::AlreadyIn { flushed: false }, Some(40)));
    // The flush never came (lost, or in the dead-letter queue): the next comment sends it at once.
    assert_eq!(collect(&late, t0 + chrono::Duration::seconds(75)).await, (Joined::Added, Some(0)));

    let flushes = await_flushes(&queue, Duration::from_secs(5)).await;
    assert!(!flushes.is_empty(), "the overdue flush is visible at once");
    let digest = digest_ids(&db, scene.event).await;
    assert!(flushes.iter().all(|m| m.body == flush_of(digest[0])));
    let digests = CommentDigests::new(window, queue.clone());
    handle(&db, &d, &digests, &sqs_event(&flushes)).await;
    let pushes = pushes_to(&scene.receivers[0].1);
    assert_eq!(pushes.len(), 1);
    assert_eq!(fcm(&pushes[0])["notification"]["title"], "3 new comments on Wigilia 🎄");
    assert_eq!(collect(&first, t0 + chrono::Duration::seconds(90)).await, (Joined::AlreadyIn { flushed: true }, None));
}

#[tokio::test]
async fn malformed_and_gone_flushes_push_nothing() {
    let db = TestDatabase::migrated().await;
    let d = devices().await;
    let scene = comment_scene(&db, &d, 1, &[]).await;
    let digests = CommentDigests::new(Duration::from_secs(60), flush_queue().await);
    let consumer = fixtures::consumer().await;
    let bodies = [r#"{"type":"comment_digest_due","digest_id":"seven"}"#.to_owned(), flush_of(987_654)];
    let response =
        handle_batch_with(&db.store, &d.publisher, &digests, &consumer, &fixtures::deadline(), &batch(&bodies)).await;
    assert!(response.batch_item_failures.is_empty(), "the malformed one set aside, the unknown digest acknowledged");
    let sqs = SqsQueue::new(&moto::sdk_config().await);
    let set_aside = moto::drain_dead_letters(sqs.client(), consumer.dead_letters.queue_url()).await;
    assert_eq!(set_aside.len(), 1);
    assert!(set_aside[0].1["reason"].contains("digest_id"), "{:?}", set_aside[0].1);
    assert!(pushes_to(&scene.receivers[0].1).is_empty());
}

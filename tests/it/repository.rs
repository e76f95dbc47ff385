//! Every repository function, round-tripped against real PostgreSQL.

use crate::fixtures::{self, at};
use torium_domain::{E164Number, EmailAddress, EndpointArn, SignUp};
use torium_domain::{EventId, GroupId, Member, Pln, ReminderKind, ReminderPreference, SchedulePeriod, UserId};
use torium_store::StoreError;
use torium_tests::TestDatabase;

fn signup(cognito: &str, email: &str, at_: &str) -> SignUp {
    SignUp { cognito_user_id: cognito.to_owned(), email: EmailAddress::parse(email).unwrap(), at: at(at_) }
}

#[tokio::test]
async fn signup_creates_an_unconfirmed_user_that_reads_back_by_both_ids() {
    let db = TestDatabase::migrated().await;
    let user = db.store.record_signup(&signup("sub-1", "ala@example.com", "2026-11-24T10:00:00Z")).await.unwrap();
    assert!(!user.confirmed);
    assert_eq!(user.confirmed_at, None);
    assert_eq!(user.signed_up_at, at("2026-11-24T10:00:00Z"));
    assert_eq!(user.mobile_number, None, "a sign-up has no phone number and needs none");
    assert_eq!(user.reminder_preference, None);

    assert_eq!(db.store.user_by_id(user.id).await.unwrap(), Some(user.clone()));
    assert_eq!(db.store.user_by_cognito_id("sub-1").await.unwrap(), Some(user.clone()));
    assert_eq!(db.store.user_by_id(UserId(user.id.0 + 1000)).await.unwrap(), None);
    assert_eq!(db.store.user_by_cognito_id("nobody").await.unwrap(), None);
}

#[tokio::test]
async fn repeated_signup_with_the_same_cognito_id_updates_the_row() {
    let db = TestDatabase::migrated().await;
    let first = db.store.record_signup(&signup("sub-1", "ala@example.com", "2026-11-24T10:00:00Z")).await.unwrap();
    let again =
        db.store.record_signup(&signup("sub-1", "ala.nowak@example.com", "2026-11-24T10:05:00Z")).await.unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(again.email, "ala.nowak@example.com");
    assert_eq!(again.signed_up_at, at("2026-11-24T10:05:00Z"));
    let count: i64 = db.client().await.query_one("SELECT count(*) FROM users", &[]).await.unwrap().get(0);
    assert_eq!(count, 1);
}

#[tokio::test]
async fn an_address_of_a_confirmed_account_is_a_conflict_and_changes_nothing() {
    let db = TestDatabase::migrated().await;
    let owner = db.store.confirm_signup(&signup("sub-1", "ala@example.com", "2026-11-24T10:00:00Z")).await.unwrap();
    let err = db.store.record_signup(&signup("sub-2", "ALA@example.com", "2026-11-24T11:00:00Z")).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(db.store.user_by_cognito_id("sub-2").await.unwrap(), None);
    assert_eq!(db.store.user_by_id(owner.id).await.unwrap(), Some(owner));
}

#[tokio::test]
async fn an_abandoned_unconfirmed_signup_is_taken_over_by_a_new_cognito_id() {
    let db = TestDatabase::migrated().await;
    let abandoned =
        db.store.record_signup(&signup("sub-old", "ala@example.com", "2026-11-20T10:00:00Z")).await.unwrap();
    let retaken = db.store.record_signup(&signup("sub-new", "Ala@Example.com", "2026-11-24T10:00:00Z")).await.unwrap();
    assert_eq!(retaken.id, abandoned.id);
    assert_eq!(retaken.cognito_user_id, "sub-new");
    assert_eq!(db.store.user_by_cognito_id("sub-old").await.unwrap(), None);

    // Both ids have rows: the stale one with the address gives way.
    db.store.record_signup(&signup("sub-a", "a@example.com", "2026-11-24T10:00:00Z")).await.unwrap();
    db.store.record_signup(&signup("sub-b", "b@example.com", "2026-11-24T10:00:00Z")).await.unwrap();
    let moved = db.store.record_signup(&signup("sub-b", "a@example.com", "2026-11-24T10:01:00Z")).await.unwrap();
    assert_eq!(moved.email, "a@example.com");
    assert_eq!(db.store.user_by_cognito_id("sub-a").await.unwrap(), None);
}

#[tokio::test]
async fn confirming_is_idempotent_and_creates_a_missing_row() {
    let db = TestDatabase::migrated().await;
    db.store.record_signup(&signup("sub-1", "ala@example.com", "2026-11-24T10:00:00Z")).await.unwrap();
    let confirmed = db.store.confirm_signup(&signup("sub-1", "ala@example.com", "2026-11-24T10:03:00Z")).await.unwrap();
    assert!(confirmed.confirmed);
    assert_eq!(confirmed.confirmed_at, Some(at("2026-11-24T10:03:00Z")));
    assert_eq!(confirmed.signed_up_at, at("2026-11-24T10:00:00Z"), "confirmation keeps the sign-up time");

    let retried = db.store.confirm_signup(&signup("sub-1", "ala@example.com", "2026-11-24T10:09:00Z")).await.unwrap();
    assert_eq!(retried, confirmed, "a retried confirmation changes nothing");

    // Pre sign-up never ran for this one: the confirmation creates the user.
    let created = db.store.confirm_signup(&signup("sub-2", "ola@example.com", "2026-11-24T12:00:00Z")).await.unwrap();
    assert!(created.confirmed);
    assert_eq!(db.store.user_by_cognito_id("sub-2").await.unwrap(), Some(created));
}

#[tokio::test]
async fn a_confirmed_user_signing_up_again_keeps_address_and_times() {
    let db = TestDatabase::migrated().await;
    let confirmed = db.store.confirm_signup(&signup("sub-1", "ala@example.com", "2026-11-24T10:00:00Z")).await.unwrap();
    let again = db.store.record_signup(&signup("sub-1", "other@example.com", "2026-11-25T10:00:00Z")).await.unwrap();
    assert_eq!(again, confirmed);
}

#[tokio::test]
async fn group_with_its_admin_from_groups_admin_id() {
    let db = TestDatabase::migrated().await;
    let c = db.client().await;
    let first_admin = fixtures::user(&c, "first@example.com").await;
    let group = fixtures::group_with_admin(&c, "Climbing", first_admin).await;
    let standard = fixtures::user(&c, "std@example.com").await;
    let promoted = fixtures::user(&c, "promoted@example.com").await;
    fixtures::member(&c, group, standard, "standard", at("2026-01-01T00:00:00Z")).await;
    fixtures::member(&c, group, promoted, "admin", at("2025-03-01T00:00:00Z")).await;

    let found = db.store.group_with_admin(GroupId(group)).await.unwrap().expect("group");
    assert_eq!(found.name, "Climbing");
    let admin = found.admin.expect("an admin");
    assert_eq!(admin.user_id, UserId(first_admin), "the group's admin_id, as the API reads it");
    assert_eq!(admin.email, "first@example.com");
    assert_eq!(db.store.group_with_admin(GroupId(group + 100)).await.unwrap(), None);
}

#[tokio::test]
async fn event_with_member_count_budget_and_period() {
    let db = TestDatabase::migrated().await;
    let c = db.client().await;
    let group = fixtures::group(&c, "Trip").await;
    let event =
        fixtures::ApiEvent::on(at("2026-12-24T17:00:00Z")).budget("300.50").insert(&c, group, "Tatra trip").await;
    for email in ["a@example.com", "b@example.com", "c@example.com"] {
        let user = fixtures::user(&c, email).await;
        fixtures::attendee(&c, event, user).await;
    }

    let found = db.store.event_with_member_count(EventId(event)).await.unwrap().expect("event");
    assert_eq!(found.name, "Tatra trip");
    assert_eq!(found.description, "Bring snacks");
    assert_eq!(found.group_id, GroupId(group));
    assert_eq!(found.event_at, at("2026-12-24T17:00:00Z"));
    assert_eq!(found.time_zone, "Europe/Warsaw");
    assert_eq!(found.reminder_kind, ReminderKind::Periodical);
    assert_eq!(found.schedule_period, SchedulePeriod { months: 1, days: 2, microseconds: 3 * 3600 * 1_000_000 });
    assert_eq!(found.budget, Some(Pln::from_grosze(30050)));
    assert_eq!(found.member_count, 3);
    assert!(found.next_reminder_at.is_some(), "a new event is due for its first scheduling");

    let no_budget = fixtures::ApiEvent::on(at("2026-12-25T17:00:00Z")).insert(&c, group, "Empty").await;
    let found = db.store.event_with_member_count(EventId(no_budget)).await.unwrap().unwrap();
    assert_eq!((found.budget, found.member_count), (None, 0));
    assert_eq!(db.store.event_with_member_count(EventId(no_budget + 100)).await.unwrap(), None);
}

#[tokio::test]
async fn members_come_with_contact_data_and_their_bank_url() {
    let db = TestDatabase::migrated().await;
    let c = db.client().await;
    let group = fixtures::group(&c, "Trip").await;
    let event = fixtures::ApiEvent::on(at("2026-12-24T17:00:00Z")).budget("90").insert(&c, group, "Tatra trip").await;
    let sms =
        fixtures::Person::new("sms@example.com").phone("+48500100200").prefers("SMS").bank("PKO").insert(&c).await;
    let push = fixtures::Person::new("push@example.com")
        .prefers("PUSH")
        .device("arn:aws:sns:x:1:endpoint/GCM/app/1")
        .insert(&c)
        .await;
    let outsider = fixtures::user(&c, "outsider@example.com").await;
    fixtures::attendee(&c, event, sms).await;
    fixtures::attendee(&c, event, push).await;

    let members = db.store.event_members(EventId(event)).await.unwrap();
    assert_eq!(
        members,
        vec![
            Member {
                user_id: UserId(sms),
                email: Some(EmailAddress::parse("sms@example.com").unwrap()),
                mobile_number: Some(E164Number::parse("+48500100200").unwrap()),
                reminder_preference: Some(ReminderPreference::Sms),
                device_arn: None,
                organization_payment_url: Some("https://www.pkobp.pl/".into()),
                sms_opted_out: false,
                email_suppressed: false,
            },
            Member {
                user_id: UserId(push),
                email: Some(EmailAddress::parse("push@example.com").unwrap()),
                mobile_number: None,
                reminder_preference: Some(ReminderPreference::Push),
                device_arn: Some(EndpointArn::parse("arn:aws:sns:x:1:endpoint/GCM/app/1").unwrap()),
                organization_payment_url: None,
                sms_opted_out: false,
                email_suppressed: false,
            },
        ]
    );
    assert!(members.iter().all(|m| m.user_id != UserId(outsider)));
    assert!(db.store.event_members(EventId(event + 100)).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_unreachable_database_is_a_retryable_error() {
    let settings =
        torium_store::DbSettings::from_url("postgres://nobody@127.0.0.1:1/none", torium_store::SslMode::Disable)
            .unwrap();
    let store = torium_store::Store::new(torium_store::connect_pool(&settings).unwrap());
    let err = store.user_by_id(UserId(1)).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(err.to_string().contains("refused"), "the cause is kept: {err}");
}

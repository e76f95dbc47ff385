//! The Cognito triggers on real PostgreSQL and moto's Cognito: sign-up →
//! confirm → the row is confirmed and Cognito holds `custom:user_id`.

use crate::fixtures::at;
use aws_sdk_cognitoidentityprovider::Client as CognitoClient;
use aws_sdk_cognitoidentityprovider::types::{AttributeDataType, AttributeType, SchemaAttributeType};
use cognito_post_signup::handle_post_confirmation;
use cognito_pre_signup::handle_pre_signup;
use serde_json::{Value, json};
use torium_aws::{CognitoUserAttributes, USER_ID_ATTRIBUTE};
use torium_runtime::signup_error::SignUpTriggerError;
use torium_tests::{TestDatabase, moto, unique_name};

const PRE_SIGNUP: &str = include_str!("../../events/cognito-pre-signup.json");
const POST_CONFIRMATION: &str = include_str!("../../events/cognito-post-signup.json");

/// A pool with the app's `custom:user_id` attribute and one user in it.
struct Pool {
    client: CognitoClient,
    id: String,
    user_name: String,
}

async fn pool_with_user(email: &str) -> Pool {
    let client = CognitoClient::new(&moto::sdk_config().await);
    let id = client
        .create_user_pool()
        .pool_name(unique_name("torium"))
        .schema(
            SchemaAttributeType::builder()
                .name("user_id")
                .attribute_data_type(AttributeDataType::String)
                .mutable(true)
                .build(),
        )
        .send()
        .await
        .expect("create user pool in moto")
        .user_pool()
        .and_then(|p| p.id())
        .expect("pool id")
        .to_owned();
    let user_name = unique_name("sub");
    client
        .admin_create_user()
        .user_pool_id(&id)
        .username(&user_name)
        .user_attributes(AttributeType::builder().name("email").value(email).build().unwrap())
        .send()
        .await
        .expect("create user in moto");
    Pool { client, id, user_name }
}

impl Pool {
    /// `custom:user_id` as moto holds it.
    async fn user_id_attribute(&self) -> Option<String> {
        let user = self.client.admin_get_user().user_pool_id(&self.id).username(&self.user_name).send().await.unwrap();
        user.user_attributes().iter().find(|a| a.name() == USER_ID_ATTRIBUTE).and_then(|a| a.value().map(str::to_owned))
    }
}

fn event(template: &str, pool_id: &str, user_name: &str, email: &str) -> Value {
    let mut event: Value = serde_json::from_str(template).unwrap();
    event["userPoolId"] = json!(pool_id);
    event["userName"] = json!(user_name);
    event["request"]["userAttributes"]["email"] = json!(email);
    if event["request"]["userAttributes"].get("sub").is_some() {
        event["request"]["userAttributes"]["sub"] = json!(user_name);
    }
    event
}

async fn user_count(db: &TestDatabase) -> i64 {
    db.client().await.query_one("SELECT count(*) FROM users", &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn sign_up_then_confirm_writes_the_user_and_the_cognito_attribute() {
    let db = TestDatabase::migrated().await;
    let pool = pool_with_user("ala@example.com").await;
    let cognito = CognitoUserAttributes::new(&moto::sdk_config().await);

    let pre = event(PRE_SIGNUP, &pool.id, &pool.user_name, "ala@example.com");
    let answered = handle_pre_signup(&db.store, pre.clone(), at("2026-11-24T10:00:00Z")).await.unwrap();
    assert_eq!(answered, pre, "Cognito gets its event back unchanged");
    assert_eq!(answered["response"]["autoConfirmUser"], json!(false));
    let user = db.store.user_by_cognito_id(&pool.user_name).await.unwrap().expect("user row");
    assert!(!user.confirmed);
    assert_eq!(user.email, "ala@example.com");
    assert_eq!(user.signed_up_at, at("2026-11-24T10:00:00Z"));
    assert_eq!(pool.user_id_attribute().await, None);

    let post = event(POST_CONFIRMATION, &pool.id, &pool.user_name, "ala@example.com");
    let answered =
        handle_post_confirmation(&db.store, &cognito, post.clone(), at("2026-11-24T10:02:00Z")).await.unwrap();
    assert_eq!(answered, post);
    let confirmed = db.store.user_by_id(user.id).await.unwrap().unwrap();
    assert!(confirmed.confirmed);
    assert_eq!(confirmed.confirmed_at, Some(at("2026-11-24T10:02:00Z")));
    assert_eq!(pool.user_id_attribute().await, Some(user.id.0.to_string()), "moto holds custom:user_id");

    // Cognito retries both triggers: nothing more changes.
    handle_pre_signup(&db.store, pre, at("2026-11-24T10:05:00Z")).await.unwrap();
    handle_post_confirmation(&db.store, &cognito, post, at("2026-11-24T10:06:00Z")).await.unwrap();
    assert_eq!(db.store.user_by_id(user.id).await.unwrap().unwrap(), confirmed);
    assert_eq!(user_count(&db).await, 1);
    assert_eq!(pool.user_id_attribute().await, Some(user.id.0.to_string()));
}

#[tokio::test]
async fn a_second_sign_up_before_confirming_updates_the_same_row() {
    let db = TestDatabase::migrated().await;
    let first =
        handle_pre_signup(&db.store, event(PRE_SIGNUP, "p", "sub-1", "ala@example.com"), at("2026-11-24T10:00:00Z"));
    first.await.unwrap();
    handle_pre_signup(&db.store, event(PRE_SIGNUP, "p", "sub-1", "ala@example.com"), at("2026-11-24T11:00:00Z"))
        .await
        .unwrap();
    let user = db.store.user_by_cognito_id("sub-1").await.unwrap().unwrap();
    assert_eq!(user.signed_up_at, at("2026-11-24T11:00:00Z"));
    assert_eq!(user_count(&db).await, 1);
}

#[tokio::test]
async fn an_address_of_a_confirmed_user_is_refused_with_a_clear_error() {
    let db = TestDatabase::migrated().await;
    let cognito = CognitoUserAttributes::new(&moto::sdk_config().await);
    let pool = pool_with_user("ala@example.com").await;
    handle_post_confirmation(
        &db.store,
        &cognito,
        event(POST_CONFIRMATION, &pool.id, &pool.user_name, "ala@example.com"),
        at("2026-11-24T10:00:00Z"),
    )
    .await
    .unwrap();

    let err = handle_pre_signup(
        &db.store,
        event(PRE_SIGNUP, &pool.id, "someone-else", "ALA@example.com"),
        at("2026-11-24T12:00:00Z"),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SignUpTriggerError::EmailTaken), "{err:?}");
    assert_eq!(err.to_string(), "an account with this email address already exists");
    let diagnostic: torium_runtime::lambda_runtime::Diagnostic = err.into();
    assert_eq!(diagnostic.error_type, "EmailTaken");
    assert_eq!(db.store.user_by_cognito_id("someone-else").await.unwrap(), None);
}

#[tokio::test]
async fn bad_pre_signup_input_is_refused_and_writes_nothing() {
    let db = TestDatabase::migrated().await;
    let good = event(PRE_SIGNUP, "p", "sub-1", "ala@example.com");
    let now = at("2026-11-24T10:00:00Z");

    let mut no_email = good.clone();
    no_email["request"]["userAttributes"] = json!({});
    let mut malformed = good.clone();
    malformed["request"]["userAttributes"]["email"] = json!("ala(at)example.com");
    let mut no_user_name = good.clone();
    no_user_name.as_object_mut().unwrap().remove("userName");
    let mut other_trigger = good.clone();
    other_trigger["triggerSource"] = json!("PostConfirmation_ConfirmSignUp");
    let not_cognito = json!({"Records": []});

    let cases = [
        (no_email, "the sign-up has no email address"),
        (malformed, "the email address is not valid"),
        (no_user_name, "the sign-up has no user name"),
        (other_trigger, "not a Cognito pre sign-up event"),
        (not_cognito, "not a Cognito pre sign-up event"),
    ];
    for (input, expected) in cases {
        let err = handle_pre_signup(&db.store, input, now).await.unwrap_err();
        assert!(err.to_string().starts_with(expected), "{err} should start with {expected}");
    }
    assert_eq!(user_count(&db).await, 0);
}

#[tokio::test]
async fn a_forgotten_password_confirmation_does_not_touch_the_user() {
    let db = TestDatabase::migrated().await;
    let cognito = CognitoUserAttributes::new(&moto::sdk_config().await);
    handle_pre_signup(&db.store, event(PRE_SIGNUP, "p", "sub-1", "ala@example.com"), at("2026-11-24T10:00:00Z"))
        .await
        .unwrap();
    let mut forgot = event(POST_CONFIRMATION, "no-such-pool", "sub-1", "ala@example.com");
    forgot["triggerSource"] = json!("PostConfirmation_ConfirmForgotPassword");
    let answered =
        handle_post_confirmation(&db.store, &cognito, forgot.clone(), at("2026-11-24T10:01:00Z")).await.unwrap();
    assert_eq!(answered, forgot);
    assert!(!db.store.user_by_cognito_id("sub-1").await.unwrap().unwrap().confirmed);
}

#[tokio::test]
async fn confirmation_creates_the_user_when_pre_sign_up_never_ran() {
    let db = TestDatabase::migrated().await;
    let pool = pool_with_user("ola@example.com").await;
    let cognito = CognitoUserAttributes::new(&moto::sdk_config().await);
    handle_post_confirmation(
        &db.store,
        &cognito,
        event(POST_CONFIRMATION, &pool.id, &pool.user_name, "ola@example.com"),
        at("2026-11-24T10:00:00Z"),
    )
    .await
    .unwrap();
    let user = db.store.user_by_cognito_id(&pool.user_name).await.unwrap().expect("created by the confirmation");
    assert!(user.confirmed);
    assert_eq!(pool.user_id_attribute().await, Some(user.id.0.to_string()));
}

#[tokio::test]
async fn a_cognito_refusal_is_returned_and_leaves_the_database_as_it_was() {
    let db = TestDatabase::migrated().await;
    let pool = pool_with_user("ala@example.com").await;
    let cognito = CognitoUserAttributes::new(&moto::sdk_config().await);
    handle_pre_signup(
        &db.store,
        event(PRE_SIGNUP, &pool.id, &pool.user_name, "ala@example.com"),
        at("2026-11-24T10:00:00Z"),
    )
    .await
    .unwrap();

    // Cognito refuses: the pool named in the event does not exist.
    let missing_pool = format!("{}_Missing1", torium_tests::required_env("AWS_REGION"));
    let refused = event(POST_CONFIRMATION, &missing_pool, &pool.user_name, "ala@example.com");
    let err = handle_post_confirmation(&db.store, &cognito, refused, at("2026-11-24T10:01:00Z")).await.unwrap_err();
    assert!(matches!(err, SignUpTriggerError::Cognito(_)), "{err:?}");
    let diagnostic: torium_runtime::lambda_runtime::Diagnostic = err.into();
    assert_eq!(diagnostic.error_type, "Cognito");
    assert!(diagnostic.error_message.starts_with("the user id could not be written to Cognito, please try again"));
    let user = db.store.user_by_cognito_id(&pool.user_name).await.unwrap().unwrap();
    assert!(!user.confirmed, "the confirmation was rolled back");

    // Cognito's retry (the real pool) then succeeds.
    let retried = event(POST_CONFIRMATION, &pool.id, &pool.user_name, "ala@example.com");
    handle_post_confirmation(&db.store, &cognito, retried, at("2026-11-24T10:02:00Z")).await.unwrap();
    assert!(db.store.user_by_id(user.id).await.unwrap().unwrap().confirmed);
    assert_eq!(pool.user_id_attribute().await, Some(user.id.0.to_string()));
}

#[tokio::test]
async fn bad_post_confirmation_input_is_refused() {
    let db = TestDatabase::migrated().await;
    let cognito = CognitoUserAttributes::new(&moto::sdk_config().await);
    let mut no_pool = event(POST_CONFIRMATION, "", "sub-1", "ala@example.com");
    no_pool.as_object_mut().unwrap().remove("userPoolId");
    let err = handle_post_confirmation(&db.store, &cognito, no_pool, at("2026-11-24T10:00:00Z")).await.unwrap_err();
    assert_eq!(err.to_string(), "not a Cognito post confirmation event: userPoolId is missing");
    let mut no_email = event(POST_CONFIRMATION, "p", "sub-1", "x@example.com");
    no_email["request"]["userAttributes"].as_object_mut().unwrap().remove("email");
    let err = handle_post_confirmation(&db.store, &cognito, no_email, at("2026-11-24T10:00:00Z")).await.unwrap_err();
    assert!(matches!(err, SignUpTriggerError::BadSignUp(_)), "{err:?}");
    assert_eq!(user_count(&db).await, 0);
}

//! The migrate function (the CloudFormation custom resource `DatabaseSchema`
//! that applies the migrations on deploy) driven with CloudFormation's
//! request shapes (Create, Update, Delete) on real PostgreSQL, answering a
//! receiver on 127.0.0.1 that stands in for the pre-signed response URL:
//! what it PUTs there, what it does to the database, and that it answers
//! every request, failures included, within bounded time.

use migrate::{
    FINGERPRINT_PROPERTY, Handled, PHYSICAL_RESOURCE_ID, ResponseClient, ResponseError, handle_custom_resource,
    migrations_fingerprint,
};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use torium_store::{latest_embedded_version, schema_version};
use torium_tests::TestDatabase;
use torium_tests::lambda_api::{FunctionProcess, RuntimeApi, function_binary, invoke_like_lambda, test_env};
use torium_tests::webhook::{Receiver, Reply};

const EARLIER_SCHEMA: &str = include_str!("../fixtures/earlier-schema.sql");
const EARLIER_ROWS: &str = include_str!("../fixtures/earlier-rows.sql");

const STACK_ID: &str =
    "arn:aws:cloudformation:eu-central-1:123456789012:stack/torium/5b1f3c20-c0de-11ef-9a3e-0a1b2c3d4e5f";
const SERVICE_TOKEN: &str = "arn:aws:lambda:eu-central-1:123456789012:function:torium-MigrateFunction-4Xq1ZbC8Jk2L";
const SECRET: &str = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:torium/database-AbCdEf";
/// A pre-signed S3 URL's path and query, as CloudFormation sends them.
const RESPONSE_TARGET: &str = "/cloudformation-custom-resource-response-eucentral1/\
    arn%3Aaws%3Acloudformation%3Aeu-central-1%3A123456789012%3Astack/torium/5b1f3c20%7CDatabaseSchema%7Crequest\
    ?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-SignedHeaders=host&X-Amz-Expires=7200&X-Amz-Signature=0123456789abcdef";

/// Plenty of time for the migrations (an invocation of the deployed
/// function has up to 15 minutes).
const TIME: Duration = Duration::from_secs(120);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn client() -> ResponseClient {
    ResponseClient::with_limits(3, Duration::from_secs(2), Duration::from_millis(50)).expect("the response client")
}

fn properties(fingerprint: &str) -> Value {
    json!({
        "ServiceToken": SERVICE_TOKEN,
        "ServiceTimeout": "1200",
        FINGERPRINT_PROPERTY: fingerprint,
        "DatabaseSecret": SECRET,
    })
}

/// A request as CloudFormation sends it; `old` (Update) is the previous
/// deployment's properties.
fn request(kind: &str, url: &str, request_id: &str, props: Value, old: Option<Value>) -> Value {
    let mut request = json!({
        "RequestType": kind,
        "ServiceToken": SERVICE_TOKEN,
        "ResponseURL": url,
        "StackId": STACK_ID,
        "RequestId": request_id,
        "LogicalResourceId": "DatabaseSchema",
        "ResourceType": "AWS::CloudFormation::CustomResource",
        "ResourceProperties": props,
    });
    if kind != "Create" {
        request["PhysicalResourceId"] = json!(PHYSICAL_RESOURCE_ID);
    }
    if let Some(old) = old {
        request["OldResourceProperties"] = old;
    }
    request
}

fn create(url: &str, request_id: &str) -> Value {
    request("Create", url, request_id, properties(&migrations_fingerprint()), None)
}

/// Sends `request` to the handler and returns the one body CloudFormation
/// received, after checking how it was sent.
async fn answer(database: Result<&torium_store::Pool, &str>, request: Value) -> (Handled, Value) {
    let receiver = Receiver::start_at(RESPONSE_TARGET, vec![]).await;
    let mut request = request;
    request["ResponseURL"] = json!(receiver.url);
    let request_id = request["RequestId"].clone();
    let handled = handle_custom_resource(database, &client(), request, TIME).await.expect("a custom resource request");
    assert_eq!(handled.delivered, Ok(1), "answered at the first attempt");
    let received = receiver.received();
    assert_eq!(received.len(), 1, "one answer per request: {received:?}");
    let put = &received[0];
    assert_eq!(put.method, "PUT");
    assert_eq!(put.target, RESPONSE_TARGET, "the pre-signed URL's path and query, as given");
    assert_eq!(put.header("content-type"), Some(""), "an empty Content-Type (the URL is signed without one)");
    assert_eq!(put.header("content-length"), Some(put.body.len().to_string().as_str()));
    let body: Value = serde_json::from_slice(&put.body).expect("a JSON response");
    assert_eq!(body["StackId"], STACK_ID, "{body}");
    assert_eq!(body["RequestId"], request_id, "{body}");
    assert_eq!(body["LogicalResourceId"], "DatabaseSchema", "{body}");
    assert_eq!(body["PhysicalResourceId"], PHYSICAL_RESOURCE_ID, "{body}");
    assert!(body["Reason"].as_str().is_some_and(|r| !r.is_empty()), "a reason: {body}");
    assert!(put.body.len() < 4096, "CloudFormation takes responses up to 4 KB: {} bytes", put.body.len());
    (handled, body)
}

async fn history(db: &TestDatabase) -> Vec<(i32, String)> {
    let client = db.client().await;
    let exists: bool =
        client.query_one("SELECT to_regclass('refinery_schema_history') IS NOT NULL", &[]).await.unwrap().get(0);
    if !exists {
        return vec![];
    }
    client
        .query("SELECT version, name FROM refinery_schema_history ORDER BY version", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// Every table and column of the public schema, and the row count of each table.
async fn snapshot(db: &TestDatabase) -> Vec<String> {
    let client = db.client().await;
    let mut out: Vec<String> = client
        .query(
            "SELECT table_name::text || '.' || column_name::text || ' ' || data_type::text \
             FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let tables: Vec<String> = client
        .query("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for table in tables {
        let count: i64 = client.query_one(&format!("SELECT count(*) FROM \"{table}\""), &[]).await.unwrap().get(0);
        out.push(format!("{table}: {count} rows"));
    }
    out
}

/// Only part of the earlier system's schema (its enums, organizations and
/// users): `torium-migrate` refuses it, naming what is missing.
async fn partial_earlier_database() -> TestDatabase {
    let db = TestDatabase::empty().await;
    let (part, _) = EARLIER_SCHEMA.split_once("CREATE TABLE public.groups").expect("the fixture creates groups");
    db.client().await.batch_execute(part).await.expect("loading part of the earlier schema");
    db
}

fn latest() -> String {
    latest_embedded_version().expect("embedded migrations").to_string()
}

// ------------------------------------------------------------------ Create and Update

#[tokio::test]
async fn create_migrates_an_empty_database_and_a_second_create_or_update_does_nothing() {
    let db = TestDatabase::empty().await;
    let (handled, body) = answer(Ok(&db.pool), create("", "create-1")).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["Data"]["SchemaVersion"], latest(), "{body}");
    assert_eq!(body["Data"]["AppliedNow"], latest(), "every migration, V1 included: {body}");
    assert_eq!(body["Data"][FINGERPRINT_PROPERTY], migrations_fingerprint(), "{body}");
    assert!(body["Reason"].as_str().unwrap().contains("applied V1__"), "{body}");
    assert!(matches!(
        handled.response.status,
        aws_lambda_events::event::cloudformation::CloudFormationCustomResourceResponseStatus::Success
    ));
    let current = schema_version(&db.pool).await.unwrap().expect("a schema version");
    assert_eq!(Some(current.version), latest_embedded_version());
    let (history_after, schema_after) = (history(&db).await, snapshot(&db).await);
    assert_eq!(history_after.len(), latest_embedded_version().unwrap() as usize);

    // CloudFormation may send a Create again (a retried request), and sends
    // Update on every deployment that changes a property: both are no-ops.
    let (_, again) = answer(Ok(&db.pool), create("", "create-2")).await;
    assert_eq!(again["Status"], "SUCCESS", "{again}");
    assert_eq!(again["Data"]["AppliedNow"], "0", "{again}");
    let moved = json!({ FINGERPRINT_PROPERTY: migrations_fingerprint(), "DatabaseSecret": "arn:another" });
    let update = request("Update", "", "update-1", properties(&migrations_fingerprint()), Some(moved));
    let (_, updated) = answer(Ok(&db.pool), update).await;
    assert_eq!(updated["Status"], "SUCCESS", "{updated}");
    assert_eq!(updated["Data"]["AppliedNow"], "0", "{updated}");
    assert_eq!(updated["Data"]["SchemaVersion"], latest(), "{updated}");
    assert!(updated["Reason"].as_str().unwrap().contains("nothing applied"), "{updated}");
    assert_eq!(history(&db).await, history_after, "the no-ops recorded nothing");
    assert_eq!(snapshot(&db).await, schema_after, "the no-ops changed nothing");
}

#[tokio::test]
async fn an_update_with_new_migrations_applies_them_adopting_an_earlier_database_too() {
    // The earlier schema (V1), no history: a stack gaining the resource by an update.
    let db = TestDatabase::empty().await;
    db.client().await.batch_execute(EARLIER_SCHEMA).await.expect("the V1 schema");
    let old = properties("0123456789abcdef");
    let update = request("Update", "", "update-forward", properties(&migrations_fingerprint()), Some(old));
    let (_, body) = answer(Ok(&db.pool), update).await;
    // Without history, that database is the earlier system's: adopted.
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["Data"]["SchemaVersion"], latest(), "{body}");
    let versions: Vec<i32> = history(&db).await.iter().map(|(v, _)| *v).collect();
    assert_eq!(versions.first(), Some(&1), "V1 recorded as the baseline: {versions:?}");
    assert_eq!(versions.len(), latest_embedded_version().unwrap() as usize);
}

#[tokio::test]
async fn create_adopts_the_earlier_systems_database_keeping_its_rows() {
    let db = TestDatabase::empty().await;
    let client = db.client().await;
    client.batch_execute(EARLIER_SCHEMA).await.expect("the earlier schema");
    client.batch_execute(EARLIER_ROWS).await.expect("the earlier rows");
    let users_before: i64 = client.query_one("SELECT count(*) FROM users", &[]).await.unwrap().get(0);
    drop(client);

    let (_, body) = answer(Ok(&db.pool), create("", "create-adopt")).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["Data"]["SchemaVersion"], latest(), "{body}");
    let applied_now: i32 = body["Data"]["AppliedNow"].as_str().unwrap().parse().unwrap();
    assert_eq!(applied_now, latest_embedded_version().unwrap() - 1, "everything after the baseline: {body}");
    assert!(!body["Reason"].as_str().unwrap().contains("V1__"), "V1 is the baseline, not run: {body}");
    let users_after: i64 = db.client().await.query_one("SELECT count(*) FROM users", &[]).await.unwrap().get(0);
    assert_eq!(users_after, users_before, "adoption keeps every row");
}

// ------------------------------------------------------------------ failures

#[tokio::test]
async fn a_refused_migration_answers_failed_with_the_reason_and_changes_nothing() {
    let db = partial_earlier_database().await;
    let before = snapshot(&db).await;
    let (handled, body) = answer(Ok(&db.pool), create("", "create-refused")).await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    let reason = body["Reason"].as_str().unwrap();
    for missing in ["groups.admin_id", "events.budget", "nothing was changed"] {
        assert!(reason.contains(missing), "the reason names {missing:?}: {reason}");
    }
    assert!(!reason.contains("password"), "{reason}");
    assert_eq!(body["PhysicalResourceId"], PHYSICAL_RESOURCE_ID, "a FAILED Create still names its resource");
    assert!(handled.delivered.is_ok(), "the function answered and returned normally");
    assert_eq!(history(&db).await, vec![], "no migration history was started");
    assert_eq!(snapshot(&db).await, before, "the refused database is as it was");

    // The same on an Update (a deployment bringing new migrations).
    let update = request("Update", "", "update-refused", properties(&migrations_fingerprint()), Some(properties("x")));
    let (_, body) = answer(Ok(&db.pool), update).await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert!(body["Reason"].as_str().unwrap().contains("groups.admin_id"), "{body}");
    assert_eq!(snapshot(&db).await, before);
}

#[tokio::test]
async fn a_migration_that_fails_part_way_answers_failed_naming_the_constraint() {
    // Two accounts whose addresses differ only in case: V2's key refuses them.
    let db = TestDatabase::empty().await;
    let client = db.client().await;
    client.batch_execute(EARLIER_SCHEMA).await.expect("the earlier schema");
    client
        .batch_execute(
            "INSERT INTO users (username, email, mobile_number, \"timestamp\", is_confirmed, cognito_user_id) \
             VALUES ('twin', 'TWIN@example.com', '+48500000001', '2024-01-01 10:00:00', true, 'cognito-twin-upper'), \
                    ('twin2', 'twin@example.com', '+48500000002', '2024-01-01 10:00:00', true, 'cognito-twin-lower')",
        )
        .await
        .expect("case-duplicate addresses");
    drop(client);
    let before = snapshot(&db).await;
    let (_, body) = answer(Ok(&db.pool), create("", "create-twins")).await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    let reason = body["Reason"].as_str().unwrap();
    assert!(reason.contains("users_email_key"), "the reason names the failing key: {reason}");
    assert!(!reason.contains("twin@example.com"), "no row is quoted in stack events: {reason}");
    assert_eq!(history(&db).await, vec![], "the baseline was removed again");
    assert_eq!(snapshot(&db).await, before, "one transaction: nothing is left of the failed run");
}

#[tokio::test]
async fn a_cold_start_that_failed_answers_failed_and_delete_still_succeeds() {
    let setup = "reading the database secret: AccessDeniedException (the role may not read it)";
    let (_, body) = answer(Err(setup), create("", "create-no-db")).await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert!(body["Reason"].as_str().unwrap().contains(setup), "{body}");

    // Deleting the stack never needs the database.
    let delete = request("Delete", "", "delete-no-db", properties(&migrations_fingerprint()), None);
    let (_, body) = answer(Err(setup), delete).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
}

#[tokio::test]
async fn migrations_that_run_out_of_time_answer_failed_and_the_next_deployment_applies_them() {
    let db = TestDatabase::empty().await;
    let receiver = Receiver::start(vec![]).await;
    let client = client();
    // Only the time answering needs: nothing left for the migrations.
    let handled =
        handle_custom_resource(Ok(&db.pool), &client, create(&receiver.url, "create-late"), client.worst_case())
            .await
            .unwrap();
    assert_eq!(handled.delivered, Ok(1));
    let body = &receiver.posts()[0];
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert!(body["Reason"].as_str().unwrap().contains("did not finish"), "{body}");
    assert!(history(&db).await.is_empty(), "nothing committed");

    // The connection of the abandoned run was closed: the next run is not blocked.
    let (_, body) = answer(Ok(&db.pool), create("", "create-in-time")).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["Data"]["SchemaVersion"], latest(), "{body}");
}

#[tokio::test]
async fn a_rollback_update_runs_nothing_and_succeeds() {
    // The deployment that brought this code's migrations failed; CloudFormation
    // rolls back to the previous template (other migrations) with this code
    // still answering. Running the migrations again would fail again and
    // leave the stack in UPDATE_ROLLBACK_FAILED: nothing is run.
    let db = partial_earlier_database().await; // migrating it would fail
    let before = snapshot(&db).await;
    let rollback = request(
        "Update",
        "",
        "update-rollback",
        properties("00000000deadbeef"),
        Some(properties(&migrations_fingerprint())),
    );
    let (_, body) = answer(Ok(&db.pool), rollback).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert!(body["Reason"].as_str().unwrap().contains("rollback"), "{body}");
    assert_eq!(snapshot(&db).await, before, "a rollback runs nothing");
    assert!(history(&db).await.is_empty());
}

// ------------------------------------------------------------------ Delete

#[tokio::test]
async fn delete_does_nothing_to_the_database() {
    for db in [TestDatabase::migrated().await, TestDatabase::empty().await] {
        db.client()
            .await
            .batch_execute("CREATE TABLE IF NOT EXISTS kept (id int); INSERT INTO kept VALUES (1)")
            .await
            .unwrap();
        let (before, history_before) = (snapshot(&db).await, history(&db).await);
        let delete = request("Delete", "", "delete-1", properties(&migrations_fingerprint()), None);
        let (_, body) = answer(Ok(&db.pool), delete).await;
        assert_eq!(body["Status"], "SUCCESS", "{body}");
        assert!(body["Reason"].as_str().unwrap().contains("nothing was done to the database"), "{body}");
        assert_eq!(snapshot(&db).await, before, "Delete changed the database");
        assert_eq!(history(&db).await, history_before, "Delete migrated or dropped something");
    }
}

#[tokio::test]
async fn an_unknown_request_type_is_answered_failed() {
    let db = TestDatabase::empty().await;
    let mut odd = create("", "odd-1");
    odd["RequestType"] = json!("Import");
    let (_, body) = answer(Ok(&db.pool), odd).await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert!(history(&db).await.is_empty(), "nothing was run");

    // Without a response URL there is no one to answer.
    let mut lost = create("", "lost");
    lost.as_object_mut().unwrap().remove("ResponseURL");
    assert!(handle_custom_resource(Ok(&db.pool), &client(), lost, TIME).await.is_err());
}

// ------------------------------------------------------------------ answering

#[tokio::test]
async fn the_answer_is_retried_a_bounded_number_of_times() {
    let db = TestDatabase::migrated().await;
    let delete = || request("Delete", "", "delete-retry", properties(&migrations_fingerprint()), None);
    let client = ResponseClient::with_limits(3, Duration::from_millis(500), Duration::from_millis(20)).unwrap();

    // S3 briefly failing, then not answering, then taking it.
    let receiver = Receiver::start(vec![Reply::Status(503), Reply::Hang, Reply::Status(200)]).await;
    let mut request = delete();
    request["ResponseURL"] = json!(receiver.url);
    let started = std::time::Instant::now();
    let handled = handle_custom_resource(Ok(&db.pool), &client, request, TIME).await.unwrap();
    assert_eq!(handled.delivered, Ok(3));
    assert_eq!(receiver.requests(), 3);
    assert_eq!(receiver.posts().len(), 1, "one answer taken");
    assert!(started.elapsed() <= client.worst_case() + Duration::from_secs(1), "took {:?}", started.elapsed());

    // Never taking it: three attempts, then the error (the invocation fails, so Lambda runs it again).
    let receiver = Receiver::start(vec![Reply::Status(500); 5]).await;
    let mut request = delete();
    request["ResponseURL"] = json!(receiver.url);
    let handled = handle_custom_resource(Ok(&db.pool), &client, request, TIME).await.unwrap();
    assert!(matches!(handled.delivered, Err(ResponseError::Status { status: 500, .. })), "{:?}", handled.delivered);
    assert_eq!(receiver.requests(), 3, "bounded");

    // A refused URL (expired, or signed for something else) is not tried again.
    let receiver = Receiver::start(vec![Reply::Status(403)]).await;
    let mut request = delete();
    request["ResponseURL"] = json!(receiver.url);
    let handled = handle_custom_resource(Ok(&db.pool), &client, request, TIME).await.unwrap();
    assert!(matches!(handled.delivered, Err(ResponseError::Status { status: 403, .. })), "{:?}", handled.delivered);
    assert_eq!(receiver.requests(), 1);
}

// ------------------------------------------------------------------ the binary, as Lambda runs it

/// The `migrate` binary itself under a local Lambda Runtime API: its `main`
/// migrates on Create with the settings every function reads, and when its
/// cold start fails (no database configured) it still answers every request
/// instead of exiting, FAILED for Create and SUCCESS for Delete.
#[tokio::test]
async fn the_binary_answers_every_request_even_when_its_cold_start_failed() {
    let binary = function_binary("migrate");
    let timeout = Duration::from_secs(60);

    let db = TestDatabase::empty().await;
    let api = RuntimeApi::start();
    let mut process = FunctionProcess::spawn(&binary, &api, &test_env(&db.url));
    let receiver = Receiver::start_at(RESPONSE_TARGET, vec![]).await;
    let outcome = invoke_like_lambda(&api, &mut process, create(&receiver.url, "binary-create"), timeout).await;
    assert!(!outcome.killed, "{}", process.log());
    assert_eq!(outcome.result, Ok(json!({ "Status": "SUCCESS" })), "log:\n{}", process.log());
    let posts = receiver.posts();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0]["Status"], "SUCCESS", "{}", posts[0]);
    assert_eq!(posts[0]["Data"]["SchemaVersion"], latest());
    assert_eq!(schema_version(&db.pool).await.unwrap().map(|v| v.version), latest_embedded_version());
    assert!(!process.log().contains("X-Amz-Signature"), "the pre-signed URL is never logged");

    // Nothing tells it where the database is: the cold start fails.
    let api = RuntimeApi::start();
    let mut process = FunctionProcess::spawn(&binary, &api, &[]);
    let receiver = Receiver::start(vec![]).await;
    let outcome = invoke_like_lambda(&api, &mut process, create(&receiver.url, "binary-no-db"), timeout).await;
    assert_eq!(outcome.result, Ok(json!({ "Status": "FAILED" })), "log:\n{}", process.log());
    let delete = request("Delete", &receiver.url, "binary-delete", properties(&migrations_fingerprint()), None);
    let outcome = invoke_like_lambda(&api, &mut process, delete, timeout).await;
    assert_eq!(outcome.result, Ok(json!({ "Status": "SUCCESS" })), "log:\n{}", process.log());
    let posts = receiver.posts();
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert_eq!(posts[0]["Status"], "FAILED");
    let reason = posts[0]["Reason"].as_str().unwrap();
    assert!(reason.contains("could not start") && reason.contains("DATABASE_URL or DB_SECRET_ARN"), "{reason}");
    assert_eq!(posts[1]["Status"], "SUCCESS");
    assert_eq!(posts[1]["RequestId"], "binary-delete");
}

// ------------------------------------------------------------------ the template and the sample event

/// The template's `DatabaseSchema` is for this code's migrations (the
/// property CloudFormation compares to decide on an Update), is served by the
/// migrate function, and every other function waits for it.
#[test]
fn the_template_runs_the_migrations_before_the_other_functions_and_names_this_codes_fingerprint() {
    let text = std::fs::read_to_string(workspace().join("template.yaml")).expect("template.yaml");
    let template: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("template.yaml is YAML");
    let resources = template["Resources"].as_mapping().expect("Resources");
    let schema = &template["Resources"]["DatabaseSchema"];
    assert_eq!(schema["Type"].as_str(), Some("AWS::CloudFormation::CustomResource"));
    let props = &schema["Properties"];
    assert_eq!(
        props[FINGERPRINT_PROPERTY].as_str(),
        Some(migrations_fingerprint().as_str()),
        "the migrations changed: set DatabaseSchema's {FINGERPRINT_PROPERTY} in template.yaml to \"{}\" \
         (CloudFormation runs them on deploy only when a property changed)",
        migrations_fingerprint()
    );
    let token = format!("{:?}", props["ServiceToken"]);
    assert!(token.contains("GetAtt") && token.contains("MigrateFunction.Arn"), "ServiceToken: {token}");
    for (id, resource) in resources {
        let id = id.as_str().unwrap();
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") || id == "MigrateFunction" {
            continue;
        }
        let depends: Vec<&str> = match &resource["DependsOn"] {
            serde_yaml_ng::Value::String(one) => vec![one.as_str()],
            serde_yaml_ng::Value::Sequence(many) => many.iter().filter_map(|v| v.as_str()).collect(),
            _ => vec![],
        };
        assert!(depends.contains(&"DatabaseSchema"), "{id} must DependsOn DatabaseSchema (migrated before its code)");
    }
}

#[test]
fn the_sample_event_is_a_create_request_for_this_codes_migrations() {
    use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest;
    let text = std::fs::read_to_string(workspace().join("events/migrate.json")).expect("events/migrate.json");
    let event: Value = serde_json::from_str(&text).expect("JSON");
    let typed: CloudFormationCustomResourceRequest =
        serde_json::from_value(event.clone()).expect("a custom resource request");
    assert!(matches!(typed, CloudFormationCustomResourceRequest::Create(_)));
    assert_eq!(
        event["ResourceProperties"][FINGERPRINT_PROPERTY].as_str(),
        Some(migrations_fingerprint().as_str()),
        "set events/migrate.json's {FINGERPRINT_PROPERTY} to \"{}\"",
        migrations_fingerprint()
    );
}

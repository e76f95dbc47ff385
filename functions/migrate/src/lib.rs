//! The CloudFormation custom resource behind `DatabaseSchema` in
//! `template.yaml`: `sam deploy` applies the migrations itself, from inside
//! the functions' network, before the other functions' new code is deployed
//! (they depend on the resource).
//!
//! - **Create / Update**: `torium_store::migrate` (idempotent: what is
//!   applied is skipped; an earlier Torium database is adopted; all pending
//!   migrations in one transaction), answered SUCCESS with the schema
//!   version, or FAILED with the error, so that CloudFormation fails the
//!   deployment (and rolls it back) before traffic reaches new code.
//! - **Update during a rollback** (the template goes back to migrations
//!   this code does not carry): nothing is run; migrations are never undone
//!   and the earlier code works on the newer, additive schema. Answered
//!   SUCCESS, so the rollback itself completes.
//! - **Delete**: nothing is done to the database; answered SUCCESS.
//!
//! Every request is answered, even when the function could not start (the
//! database secret unreadable, a bad setting) or the migrations run out of
//! time: CloudFormation is never left waiting for an answer it would
//! otherwise wait an hour for.

mod response;

pub use response::{ResponseClient, ResponseError};

use aws_lambda_events::event::cloudformation::{
    CloudFormationCustomResourceRequest as Request, CloudFormationCustomResourceResponse as Response,
    CloudFormationCustomResourceResponseStatus as Status,
};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;
use torium_store::Pool;

/// The one physical resource: the schema of the stack's database. Stable,
/// so CloudFormation never takes an update for a replacement.
pub const PHYSICAL_RESOURCE_ID: &str = "torium-schema";

/// The resource property that names the migrations a template is for: it
/// changes with every new migration, and CloudFormation sends an Update only
/// when a property changed.
pub const FINGERPRINT_PROPERTY: &str = "MigrationsFingerprint";

/// CloudFormation refuses responses over 4 KB: the reason is cut to this.
const MAX_REASON_CHARS: usize = 1500;

/// The fingerprint of the migrations this binary carries, as the template
/// gives it (`MigrationsFingerprint`).
pub fn migrations_fingerprint() -> String {
    format!("{:016x}", torium_store::migrations_fingerprint())
}

/// What one request came to: the response, and whether CloudFormation got
/// it (the attempts it took) or not.
#[derive(Debug)]
pub struct Handled {
    pub response: Response,
    pub delivered: Result<u32, ResponseError>,
}

/// An invocation that is not a custom resource request at all: there is no
/// response URL to answer.
#[derive(Debug, thiserror::Error)]
#[error("not a CloudFormation custom resource request (no ResponseURL)")]
pub struct NotARequest;

/// Handles one CloudFormation request and answers it at its `ResponseURL`.
///
/// `database` is the pool the cold start built, or why it could not be
/// built (the answer is then FAILED with that reason, for Create and
/// Update; Delete needs no database). `time_left` is what the invocation
/// has: the migrations get it minus the time answering may take.
pub async fn handle_custom_resource(
    database: Result<&Pool, &str>,
    client: &ResponseClient,
    request: Value,
    time_left: Duration,
) -> Result<Handled, NotARequest> {
    let (url, request_type, mut response) = response_to(&request)?;
    let budget = time_left.saturating_sub(client.worst_case());
    let outcome = decide(database, request, &request_type, budget).await;
    response.status = outcome.status;
    response.reason = Some(cut(&outcome.reason, MAX_REASON_CHARS));
    response.data = outcome.data;
    if matches!(response.status, Status::Success) {
        tracing::info!(request_type, reason = response.reason.as_deref(), "answering SUCCESS");
    } else {
        tracing::error!(request_type, reason = response.reason.as_deref(), "answering FAILED");
    }
    let delivered = answer(client, &url, &response).await;
    Ok(Handled { response, delivered })
}

/// The request's response URL and type, and the response with the ids it
/// echoes (status and reason still to be set).
fn response_to(request: &Value) -> Result<(String, String, Response), NotARequest> {
    let raw = |key: &str| request.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    let url = raw("ResponseURL");
    if url.is_empty() {
        return Err(NotARequest);
    }
    let mut response = Response::default();
    response.stack_id = raw("StackId");
    response.request_id = raw("RequestId");
    response.logical_resource_id = raw("LogicalResourceId");
    response.physical_resource_id =
        Some(raw("PhysicalResourceId")).filter(|id| !id.is_empty()).unwrap_or_else(|| PHYSICAL_RESOURCE_ID.to_owned());
    Ok((url, raw("RequestType"), response))
}

/// What the request comes to: the migrations applied (Create, Update),
/// nothing run (a rollback's Update, Delete), or refused.
async fn decide(database: Result<&Pool, &str>, request: Value, request_type: &str, budget: Duration) -> Outcome {
    match serde_json::from_value::<Request>(request) {
        Ok(Request::Create(_)) => apply(database, budget).await,
        Ok(Request::Update(update)) => {
            let fingerprint =
                |props: &Value| props.get(FINGERPRINT_PROPERTY).and_then(Value::as_str).map(str::to_owned);
            let (new, old) = (fingerprint(&update.resource_properties), fingerprint(&update.old_resource_properties));
            let own = migrations_fingerprint();
            if old.as_deref() == Some(own.as_str()) && new.is_some() && new.as_deref() != Some(own.as_str()) {
                Outcome::rolled_back(&own, new.as_deref().unwrap_or_default())
            } else {
                apply(database, budget).await
            }
        }
        Ok(Request::Delete(_)) => Outcome {
            status: Status::Success,
            reason: "stack or resource deleted: nothing was done to the database (it keeps its schema and rows)"
                .to_owned(),
            data: HashMap::new(),
        },
        Ok(_) => Outcome::failed(format!("request type {request_type:?} is not one this function handles")),
        Err(error) => Outcome::failed(format!("not a custom resource request this function understands: {error}")),
    }
}

/// PUTs the response to CloudFormation; the attempts it took, or why not.
async fn answer(client: &ResponseClient, url: &str, response: &Response) -> Result<u32, ResponseError> {
    let body = serde_json::to_value(response).unwrap_or(Value::Null);
    let host = url.parse::<hyper::Uri>().ok().and_then(|u| u.host().map(str::to_owned)).unwrap_or_default();
    let delivered = client.put(url, &body).await;
    match &delivered {
        // The URL itself is a credential (pre-signed): only its host is logged.
        Ok(attempts) => tracing::info!(host, attempts, "CloudFormation answered"),
        Err(error) => tracing::error!(host, %error, "CloudFormation could not be answered"),
    }
    delivered
}

/// What the request came to, before it is answered.
struct Outcome {
    status: Status,
    reason: String,
    data: HashMap<String, String>,
}

impl Outcome {
    fn failed(reason: String) -> Outcome {
        Outcome { status: Status::Failed, reason, data: HashMap::new() }
    }

    fn rolled_back(own: &str, requested: &str) -> Outcome {
        Outcome {
            status: Status::Success,
            reason: format!(
                "rollback to the template for migrations {requested} (this code carries {own}): nothing was run; \
                 migrations are never undone, and the earlier code works on the newer schema"
            ),
            data: HashMap::from([(FINGERPRINT_PROPERTY.to_owned(), own.to_owned())]),
        }
    }
}

/// Applies the migrations within `budget`.
async fn apply(database: Result<&Pool, &str>, budget: Duration) -> Outcome {
    let pool = match database {
        Ok(pool) => pool,
        Err(setup) => return Outcome::failed(format!("the migrate function could not start: {setup}")),
    };
    match tokio::time::timeout(budget, migrate_and_read_version(pool)).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(error)) => Outcome::failed(without_details(&error.to_string())),
        Err(_) => {
            // The connection inside the abandoned migration went back to the
            // pool mid-transaction: close it, so the server rolls it back and
            // releases its locks now.
            pool.retain(|_, _| false);
            Outcome::failed(format!(
                "the migrations did not finish within {} s (the time the invocation had): nothing was committed; \
                 deploy again, or apply them with torium-migrate (docs/deploy.md)",
                budget.as_secs()
            ))
        }
    }
}

async fn migrate_and_read_version(pool: &Pool) -> Result<Outcome, torium_store::StoreError> {
    let applied = torium_store::migrate(pool).await?;
    let current = torium_store::schema_version(pool).await?;
    let utc = torium_store::database_time_zone_is_utc(pool).await?;
    let mut data = HashMap::from([
        (FINGERPRINT_PROPERTY.to_owned(), migrations_fingerprint()),
        ("AppliedNow".to_owned(), applied.len().to_string()),
    ]);
    let mut reason = match applied.as_slice() {
        [] => "the schema was current: nothing applied".to_owned(),
        applied => format!(
            "applied {}",
            applied.iter().map(|m| format!("V{}__{}", m.version, m.name)).collect::<Vec<_>>().join(", ")
        ),
    };
    if let Some(version) = &current {
        reason.push_str(&format!("; schema version {} ({})", version.version, version.name));
        data.insert("SchemaVersion".to_owned(), version.version.to_string());
        data.insert("SchemaName".to_owned(), version.name.clone());
    }
    if !utc {
        tracing::warn!("the database's TimeZone is not UTC; its owner must set it (docs/deploy.md)");
        reason.push_str(
            "; warning: the database's TimeZone is not set to UTC (the migrating role does not own the database?): \
             as the owner, run ALTER DATABASE <name> SET timezone TO 'UTC'",
        );
    }
    for m in &applied {
        tracing::info!(version = m.version, name = %m.name, "migration applied");
    }
    Ok(Outcome { status: Status::Success, reason, data })
}

/// A database error without PostgreSQL's DETAIL, which may quote rows (an
/// address that is duplicated): stack events are read more widely than the
/// database. The message still names the failing constraint.
fn without_details(error: &str) -> String {
    let mut kept = Vec::new();
    let mut in_detail = false;
    for line in error.lines() {
        if line.starts_with("DETAIL:") {
            in_detail = true;
        } else if line.starts_with("HINT:") {
            in_detail = false;
        }
        if !in_detail {
            kept.push(line);
        }
    }
    let mut text = kept.join("\n");
    if kept.len() < error.lines().count() {
        text.push_str(" (PostgreSQL's DETAIL left out, as it may quote rows: torium-migrate prints it)");
    }
    text
}

/// `text` cut to about `max` characters (never inside one), keeping its
/// beginning and its end (where an error says what to do) around " … ".
fn cut(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    let tail = max / 3;
    let head: String = text.chars().take(max - tail).collect();
    let end: String = text.chars().skip(count - tail).collect();
    format!("{head} … {end}")
}

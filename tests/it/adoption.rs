//! Adopting the earlier Torium system's database in place (issue 13): the
//! earlier schema with rows (tests/fixtures/earlier-*.sql) is brought forward
//! by `migrate` without losing or changing a row, ends up with exactly the
//! catalog of a fresh install, and a second run does nothing. A database
//! with only part of the earlier schema is refused untouched.

use std::collections::BTreeMap;
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;
use torium_store::{latest_embedded_version, migrate, schema_version};
use torium_tests::TestDatabase;

const EARLIER_SCHEMA: &str = include_str!("../fixtures/earlier-schema.sql");
const EARLIER_ROWS: &str = include_str!("../fixtures/earlier-rows.sql");

/// The earlier system's columns, table by table: what adoption must keep.
const EARLIER_COLUMNS: &[(&str, &[&str])] = &[
    ("organizations", &["id", "name", "url", "file_name"]),
    (
        "users",
        &[
            "id",
            "username",
            "email",
            "mobile_number",
            "timestamp",
            "is_confirmed",
            "reminder_preferences",
            "cognito_user_id",
            "organization_id",
            "device_token",
            "device_arn",
        ],
    ),
    ("groups", &["id", "name", "description", "admin_id", "timestamp"]),
    ("users_groups", &["id", "group_id", "user_id", "timestamp", "status"]),
    ("group_invitation_logs", &["id", "group_id", "user_to", "timestamp", "status", "updated_timestamp"]),
    (
        "events",
        &[
            "id",
            "is_budget",
            "budget",
            "name",
            "description",
            "group_id",
            "event_timestamp",
            "timestamp",
            "updated_timestamp",
            "reminder",
            "schedule_period",
        ],
    ),
    ("events_users", &["id", "event_id", "user_id", "timestamp"]),
    ("event_reminders", &["id", "event_id", "trigger_timestamp", "timestamp"]),
    (
        "event_reminders_logs",
        &["id", "event_reminders_id", "sent_timestamp", "user_id", "status", "answer", "timestamp"],
    ),
    ("events_comments", &["id", "event_id", "user_id", "comment", "timestamp"]),
    ("events_comments_logs", &["id", "events_comments_id", "user_id", "sent_timestamp", "timestamp"]),
    ("users_verification", &["id", "user_id", "mobile_number", "is_sent", "is_confirmed", "code", "timestamp"]),
];

/// An empty database holding the earlier schema and its rows, no history.
async fn earlier_database() -> TestDatabase {
    let db = TestDatabase::empty().await;
    let client = db.client().await;
    client.batch_execute(EARLIER_SCHEMA).await.expect("loading tests/fixtures/earlier-schema.sql");
    client.batch_execute(EARLIER_ROWS).await.expect("loading tests/fixtures/earlier-rows.sql");
    db
}

async fn adopted_database() -> TestDatabase {
    let db = earlier_database().await;
    migrate(&db.pool).await.expect("adopting the earlier database");
    db
}

fn versions(applied: &[torium_store::SchemaVersion]) -> Vec<i32> {
    applied.iter().map(|m| m.version).collect()
}

// ------------------------------------------------------------------ rows

/// Each earlier table's rows (earlier columns only, by id), every value as
/// text; timestamps as their UTC instant, whether the column is `timestamp`
/// (the earlier naive values are UTC) or `timestamptz`; a float4 with its
/// exact bits.
type Rows = BTreeMap<&'static str, Vec<Vec<Option<String>>>>;

fn rendered(column: &str, data_type: &str) -> String {
    const AS_TEXT: &str = "'YYYY-MM-DD HH24:MI:SS.US \"UTC\"'";
    let c = format!("\"{column}\"");
    match data_type {
        "timestamp without time zone" => format!("to_char({c}, {AS_TEXT})"),
        "timestamp with time zone" => format!("to_char({c} AT TIME ZONE 'UTC', {AS_TEXT})"),
        "real" => format!("{c}::text || ' (float4 ' || encode(float4send({c}), 'hex') || ')'"),
        _ => format!("{c}::text"),
    }
}

async fn earlier_rows(client: &Client) -> Rows {
    let mut rows = Rows::new();
    for (table, columns) in EARLIER_COLUMNS {
        let types: BTreeMap<String, String> = client
            .query(
                "SELECT column_name::text, data_type::text FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name = $1",
                &[table],
            )
            .await
            .expect("information_schema.columns")
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let select: Vec<String> = columns
            .iter()
            .map(|c| rendered(c, types.get(*c).unwrap_or_else(|| panic!("{table}.{c} is gone"))))
            .collect();
        let sql = format!("SELECT {} FROM \"{table}\" ORDER BY id", select.join(", "));
        let table_rows = client
            .query(&sql, &[])
            .await
            .unwrap_or_else(|e| panic!("reading {table}: {e}"))
            .iter()
            .map(|r| (0..columns.len()).map(|i| r.get::<_, Option<String>>(i)).collect())
            .collect();
        rows.insert(table, table_rows);
    }
    rows
}

fn rows_difference(before: &Rows, after: &Rows) -> String {
    let mut out = String::new();
    for (table, columns) in EARLIER_COLUMNS {
        let (b, a) = (&before[table], &after[table]);
        if b == a {
            continue;
        }
        out += &format!("{table} ({}): {} rows before, {} after\n", columns.join(", "), b.len(), a.len());
        for row in b.iter().filter(|r| !a.contains(r)) {
            out += &format!("  before only: {row:?}\n");
        }
        for row in a.iter().filter(|r| !b.contains(r)) {
            out += &format!("  after only:  {row:?}\n");
        }
    }
    out
}

/// Every row of every table in public, every column (Torium's included).
async fn all_rows(client: &Client) -> BTreeMap<String, Vec<String>> {
    let tables: Vec<String> = client
        .query("SELECT relname::text FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'", &[])
        .await
        .expect("tables")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut rows = BTreeMap::new();
    for table in tables {
        let sql = format!("SELECT to_jsonb(t)::text FROM \"{table}\" t ORDER BY 1");
        let content = client.query(&sql, &[]).await.expect("table rows").iter().map(|r| r.get(0)).collect();
        rows.insert(table, content);
    }
    rows
}

// ------------------------------------------------------------------ catalog

/// What a schema is, by kind, each entry one line of text; sorted.
type Catalog = BTreeMap<&'static str, Vec<String>>;

const CATALOG: &[(&str, &str)] = &[
    (
        "relations",
        "SELECT format('%s kind %s persistence %s options %s', relname, relkind, relpersistence, \
                coalesce(array_to_string(reloptions, ','), '-')) \
         FROM pg_class WHERE relnamespace = 'public'::regnamespace",
    ),
    (
        "columns",
        "SELECT format('%s.%s #%s %s%s%s%s%s', c.relname, a.attname, \
                row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum), \
                format_type(a.atttypid, a.atttypmod), \
                CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE ' NULL' END, \
                coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), ''), \
                CASE WHEN a.attidentity <> '' THEN ' IDENTITY ' || a.attidentity::text ELSE '' END, \
                CASE WHEN a.attgenerated <> '' THEN ' GENERATED ' || a.attgenerated::text ELSE '' END) \
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
           AND a.attnum > 0 AND NOT a.attisdropped",
    ),
    (
        "constraints",
        "SELECT format('%s %s type %s: %s validated %s deferrable %s', \
                CASE WHEN conrelid = 0 THEN contypid::regtype::text ELSE conrelid::regclass::text END, \
                conname, contype, pg_get_constraintdef(oid), convalidated, condeferrable) \
         FROM pg_constraint WHERE connamespace = 'public'::regnamespace",
    ),
    ("indexes", "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'"),
    (
        "enums",
        "SELECT format('%s: %s', t.typname, string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder)) \
         FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid \
         WHERE t.typnamespace = 'public'::regnamespace GROUP BY t.typname",
    ),
    ("types", "SELECT format('%s type %s', typname, typtype) FROM pg_type WHERE typnamespace = 'public'::regnamespace"),
    (
        "sequences",
        "SELECT format('%s as %s start %s min %s max %s increment %s cycle %s cache %s', sequencename, data_type, \
                start_value, min_value, max_value, increment_by, cycle, cache_size) \
         FROM pg_sequences WHERE schemaname = 'public'",
    ),
    (
        "sequence owners",
        "SELECT format('%s owned by %s.%s', s.relname, t.relname, a.attname) \
         FROM pg_class s \
         JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid \
              AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') \
         JOIN pg_class t ON t.oid = d.refobjid \
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid \
         WHERE s.relkind = 'S' AND s.relnamespace = 'public'::regnamespace",
    ),
    (
        "triggers",
        "SELECT format('%s enabled %s', pg_get_triggerdef(t.oid), t.tgenabled) \
         FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
         WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal",
    ),
    (
        "functions",
        "SELECT pg_get_functiondef(p.oid) FROM pg_proc p \
         WHERE p.pronamespace = 'public'::regnamespace AND p.prokind IN ('f', 'p')",
    ),
    (
        "database settings",
        "SELECT coalesce(array_to_string(setconfig, ', '), '') FROM pg_db_role_setting \
         WHERE setrole = 0 AND setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())",
    ),
];

async fn catalog(client: &Client) -> Catalog {
    let mut catalog = Catalog::new();
    for (kind, sql) in CATALOG {
        let mut lines: Vec<String> = client
            .query(*sql, &[])
            .await
            .unwrap_or_else(|e| panic!("reading the catalog's {kind}: {e}"))
            .iter()
            .map(|r| r.get(0))
            .collect();
        lines.sort();
        catalog.insert(kind, lines);
    }
    let has_history: bool = client
        .query_one("SELECT to_regclass('public.refinery_schema_history') IS NOT NULL", &[])
        .await
        .expect("to_regclass")
        .get(0);
    let history = if has_history {
        // applied_on is when, which differs by nature; the rest must not.
        client
            .query("SELECT format('V%s %s checksum %s', version, name, checksum) FROM refinery_schema_history ORDER BY version", &[])
            .await
            .expect("refinery_schema_history")
            .iter()
            .map(|r| r.get(0))
            .collect()
    } else {
        vec!["(no refinery_schema_history)".to_owned()]
    };
    catalog.insert("migration history", history);
    catalog
}

fn catalog_difference(left_name: &str, left: &Catalog, right_name: &str, right: &Catalog) -> String {
    let mut out = String::new();
    for (kind, left_lines) in left {
        let right_lines = &right[kind];
        let only_left: Vec<&String> = left_lines.iter().filter(|l| !right_lines.contains(l)).collect();
        let only_right: Vec<&String> = right_lines.iter().filter(|l| !left_lines.contains(l)).collect();
        if only_left.is_empty() && only_right.is_empty() && left_lines.len() == right_lines.len() {
            continue;
        }
        out += &format!("{kind}:\n");
        let width = left_name.len().max(right_name.len());
        for line in only_left {
            out += &format!("  {left_name:<width$} only: {line}\n");
        }
        for line in only_right {
            out += &format!("  {right_name:<width$} only: {line}\n");
        }
    }
    out
}

// ------------------------------------------------------------------ tests

#[tokio::test]
async fn adopting_keeps_every_earlier_row_unchanged() {
    let db = earlier_database().await;
    let before = earlier_rows(&*db.client().await).await;
    for (table, rows) in &before {
        assert!(!rows.is_empty(), "the fixture has no {table} rows");
    }

    let applied = migrate(&db.pool).await.expect("adopting the earlier database");
    let applied = versions(&applied);
    assert!(!applied.contains(&1), "the earlier schema (V1) was run instead of recorded as the baseline: {applied:?}");
    assert_eq!(applied.first(), Some(&2), "adoption applies everything after the baseline: {applied:?}");
    assert_eq!(applied.last().copied(), latest_embedded_version());
    let current = schema_version(&db.pool).await.unwrap().expect("a recorded version");
    assert_eq!(Some(current.version), latest_embedded_version());

    let client = db.client().await;
    let after = earlier_rows(&client).await;
    let difference = rows_difference(&before, &after);
    assert!(difference.is_empty(), "adoption changed earlier rows:\n{difference}");

    // budget is still the very float4 the earlier API wrote.
    let budgets: Vec<(i64, Option<f32>)> = client
        .query("SELECT id::bigint, budget FROM events ORDER BY id", &[])
        .await
        .expect("events.budget as float4")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let bits: Vec<Option<u32>> = budgets.iter().map(|(_, b)| b.map(f32::to_bits)).collect();
    let expected: Vec<Option<u32>> =
        [Some(123.45f32), Some(1499.99), None, Some(0.1)].iter().map(|b| b.map(f32::to_bits)).collect();
    assert_eq!(bits, expected, "events.budget read back {budgets:?}");

    // The earlier Lambdas' rows are marked as such (they are outside Torium's keys).
    for table in ["event_reminders", "event_reminders_logs", "events_comments_logs"] {
        let not_adopted: i64 = client
            .query_one(&format!("SELECT count(*) FROM {table} WHERE NOT adopted"), &[])
            .await
            .expect("adopted flag")
            .get(0);
        assert_eq!(not_adopted, 0, "{table}: earlier rows not marked adopted");
    }
}

#[tokio::test]
async fn the_adopted_catalog_equals_a_fresh_install() {
    let adopted = adopted_database().await;
    let fresh = TestDatabase::empty().await;
    let applied = migrate(&fresh.pool).await.expect("a fresh install");
    assert_eq!(versions(&applied).first(), Some(&1), "a fresh install runs V1");

    let adopted_catalog = catalog(&*adopted.client().await).await;
    let fresh_catalog = catalog(&*fresh.client().await).await;
    for kind in ["columns", "constraints", "indexes", "enums", "sequences", "triggers", "functions"] {
        assert!(!fresh_catalog[kind].is_empty(), "the catalog query for {kind} found nothing at all");
    }
    let difference = catalog_difference("adopted", &adopted_catalog, "fresh", &fresh_catalog);
    assert!(difference.is_empty(), "the adopted schema differs from a fresh install's:\n{difference}");
}

#[tokio::test]
async fn migrating_an_adopted_database_again_applies_and_changes_nothing() {
    let db = adopted_database().await;
    let (catalog_before, rows_before) = {
        let client = db.client().await;
        (catalog(&client).await, all_rows(&client).await)
    };

    let again = migrate(&db.pool).await.expect("migrating again");
    assert!(again.is_empty(), "the second run applied {:?}", versions(&again));

    let client = db.client().await;
    let catalog_after = catalog(&client).await;
    let difference = catalog_difference("before", &catalog_before, "after", &catalog_after);
    assert!(difference.is_empty(), "the second run changed the schema:\n{difference}");
    let rows_after = all_rows(&client).await;
    for (table, rows) in &rows_before {
        assert_eq!(rows, &rows_after[table], "the second run changed rows of {table}");
    }
    assert_eq!(rows_before.len(), rows_after.len(), "the second run added or removed tables");
}

async fn assert_refused_untouched(db: &TestDatabase, missing: &[&str]) {
    let before = catalog(&*db.client().await).await;
    let error = migrate(&db.pool).await.expect_err("a partial earlier schema must be refused").to_string();
    for name in missing {
        assert!(error.contains(name), "the refusal does not name {name}: {error}");
    }
    let client = db.client().await;
    let after = catalog(&client).await;
    assert_eq!(after["migration history"], vec!["(no refinery_schema_history)".to_owned()]);
    let difference = catalog_difference("before", &before, "after", &after);
    assert!(difference.is_empty(), "the refused run changed the database:\n{difference}");
}

#[tokio::test]
async fn a_database_with_part_of_the_earlier_schema_is_refused_and_left_as_it_was() {
    // Only the enum types, organizations and users.
    let db = TestDatabase::empty().await;
    let (part, _) = EARLIER_SCHEMA.split_once("CREATE TABLE public.groups").expect("the fixture creates groups");
    db.client().await.batch_execute(part).await.expect("loading part of the earlier schema");
    assert_refused_untouched(&db, &["groups.admin_id", "events.budget", "users_verification.code"]).await;

    // Every table, one column short.
    let db = TestDatabase::empty().await;
    let client = db.client().await;
    client.batch_execute(EARLIER_SCHEMA).await.expect("loading the earlier schema");
    client.batch_execute("ALTER TABLE events DROP COLUMN schedule_period").await.expect("dropping a column");
    drop(client);
    assert_refused_untouched(&db, &["events.schedule_period"]).await;
}

#[tokio::test]
async fn an_adoption_that_fails_part_way_leaves_the_database_as_it_was() {
    // Live data that Torium's keys refuse: two accounts whose addresses
    // differ only in case (V2's users_email_key cannot be built).
    let db = earlier_database().await;
    let client = db.client().await;
    client
        .batch_execute(
            "INSERT INTO users (username, email, mobile_number, \"timestamp\", is_confirmed, cognito_user_id) \
             VALUES ('twin', 'TWIN@example.com', '+48500000001', '2024-01-01 10:00:00', true, 'cognito-twin-upper'), \
                    ('twin2', 'twin@example.com', '+48500000002', '2024-01-01 10:00:00', true, 'cognito-twin-lower')",
        )
        .await
        .expect("case-duplicate addresses, as the earlier system allowed");
    let before = catalog(&client).await;
    let rows_before = all_rows(&client).await;
    let error = migrate(&db.pool).await.expect_err("the unique address key refuses the data").to_string();
    assert!(error.contains("users_email_key"), "the error names what failed: {error}");
    let after = catalog(&client).await;
    assert_eq!(after["migration history"], vec!["(no refinery_schema_history)".to_owned()]);
    let difference = catalog_difference("before", &before, "after", &after);
    assert!(difference.is_empty(), "the failed adoption changed the database:\n{difference}");
    assert_eq!(all_rows(&client).await, rows_before, "no row changed");
}

#[tokio::test]
async fn torium_keys_leave_adopted_rows_out() {
    let db = adopted_database().await;
    let client = db.client().await;

    // Reminders 2 and 3 are the earlier scheduler's duplicate firing of event 2.
    let firing = "INSERT INTO event_reminders (event_id, trigger_timestamp, source) \
                  VALUES (2, '2024-03-01 08:00:00+00', 'scheduled') RETURNING id";
    client.query_one(firing, &[]).await.expect("a new firing beside the adopted duplicates");
    let error = client.query_one(firing, &[]).await.expect_err("the same firing twice");
    let db_error = error.as_db_error().expect("a database error");
    assert_eq!(db_error.code(), &SqlState::UNIQUE_VIOLATION, "{db_error}");
    assert_eq!(db_error.constraint(), Some("event_reminders_firing_key"));

    // Reminder 4 was logged twice for user 2; comment 2 pushed twice to user 1.
    for (insert, key) in [
        (
            "INSERT INTO event_reminders_logs (event_reminders_id, user_id) VALUES (4, 2)",
            "event_reminders_logs_reminder_user_key",
        ),
        (
            "INSERT INTO events_comments_logs (events_comments_id, user_id) VALUES (2, 1)",
            "events_comments_logs_comment_user_key",
        ),
    ] {
        client.execute(insert, &[]).await.unwrap_or_else(|e| panic!("{insert} beside adopted duplicates: {e}"));
        let error = client.execute(insert, &[]).await.expect_err("the same delivery twice");
        assert_eq!(error.as_db_error().and_then(|e| e.constraint()), Some(key), "{error}");
    }

    // And the API may still write a membership it already has.
    client
        .execute("INSERT INTO users_groups (group_id, user_id, status) VALUES (1, 2, 'standard')", &[])
        .await
        .expect("a third users_groups row for one membership");
    client
        .execute("INSERT INTO events_users (event_id, user_id) VALUES (1, 2)", &[])
        .await
        .expect("a third events_users row for one member");
}

use chrono::{DateTime, Utc};
use torium_store::{latest_embedded_version, migrate, schema_version};
use torium_tests::TestDatabase;

#[tokio::test]
async fn migrations_apply_on_an_empty_database_and_reapply_as_a_no_op() {
    let db = TestDatabase::empty().await;
    assert_eq!(schema_version(&db.pool).await.unwrap(), None);

    let applied = migrate(&db.pool).await.expect("first migration run");
    let versions: Vec<i32> = applied.iter().map(|m| m.version).collect();
    assert_eq!(versions.first(), Some(&1));
    assert_eq!(versions.last().copied(), latest_embedded_version());

    let current = schema_version(&db.pool).await.unwrap().expect("a recorded version");
    assert_eq!(Some(current.version), latest_embedded_version());

    let again = migrate(&db.pool).await.expect("second migration run");
    assert!(again.is_empty(), "re-applying applied {again:?}");
    let client = db.client().await;
    let recorded: i64 = client.query_one("SELECT count(*) FROM refinery_schema_history", &[]).await.unwrap().get(0);
    assert_eq!(recorded, versions.len() as i64, "one history row per migration, none added by the re-run");
}

#[tokio::test]
async fn concurrent_migrators_apply_each_migration_once() {
    let db = TestDatabase::empty().await;
    let (a, b) = tokio::join!(migrate(&db.pool), migrate(&db.pool));
    let total = a.expect("first migrator").len() + b.expect("second migrator").len();
    assert_eq!(Some(total as i32), latest_embedded_version());
}

/// The database's `time_zones` (migration V7 and any later one) holds
/// exactly the zones the scheduler can read: chrono-tz's, the version in
/// Cargo.lock. When chrono-tz changes, this prints the next migration.
#[tokio::test]
async fn time_zones_match_chrono_tz() {
    let db = TestDatabase::migrated().await;
    let client = db.client().await;
    let stored: std::collections::BTreeSet<String> =
        client.query("SELECT name FROM time_zones", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    let known: std::collections::BTreeSet<String> = torium_domain::known_time_zone_names().map(str::to_owned).collect();
    let quote = |names: Vec<&String>| names.iter().map(|n| format!("('{n}')")).collect::<Vec<_>>().join(", ");
    let added: Vec<&String> = known.difference(&stored).collect();
    let removed: Vec<&String> = stored.difference(&known).collect();
    assert!(
        added.is_empty() && removed.is_empty(),
        "chrono-tz and the time_zones table differ. Add a migration (never edit V7) with:\n\
         INSERT INTO time_zones (name) VALUES {};\n\
         -- and for the removed names, after moving any events/users off them (report them like V7 does):\n\
         DELETE FROM time_zones WHERE name IN ({});",
        quote(added),
        removed.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
    );
}

/// V7 run on a database that already holds events it would refuse now:
/// they are reported (a WARNING naming their ids) and kept unchanged.
#[tokio::test]
async fn the_zone_migration_reports_existing_bad_rows_and_leaves_them_unchanged() {
    let db = TestDatabase::empty().await;
    let (client, mut connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await.unwrap();
    let (notices_tx, mut notices) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let Ok(tokio_postgres::AsyncMessage::Notice(notice)) = message {
                let _ = notices_tx.send(notice.message().to_owned());
            }
        }
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let version = |path: &std::path::Path| -> Option<u32> {
        path.file_name()?.to_str()?.strip_prefix('V')?.split_once("__")?.0.parse().ok()
    };
    let mut before: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| version(&p).map(|v| (v, p)))
        .filter(|(v, _)| *v < 7)
        .collect();
    before.sort();
    for (_, path) in &before {
        client.batch_execute(&std::fs::read_to_string(path).unwrap()).await.unwrap();
    }
    let insert = "INSERT INTO events (is_budget, group_id, name, event_timestamp, reminder, schedule_period, \"timestamp\", time_zone) \
                  VALUES (false, $1, 'E', '2026-12-24 17:00Z', $2::text::reminder_type, $3::text::interval, now(), $4) RETURNING id";
    let group = crate::fixtures::group(&db.client().await, "G").await;
    let mut bad = Vec::new();
    for (kind, period, zone) in [("once", "1 day", "europe/warsaw"), ("periodical", "1 second", "Europe/Warsaw")] {
        let id: i64 = client.query_one(insert, &[&group, &kind, &period, &zone]).await.unwrap().get(0);
        bad.push(id);
    }
    let good: i64 = client.query_one(insert, &[&group, &"periodical", &"1 day", &"UTC"]).await.unwrap().get(0);
    let snapshot = "SELECT id, time_zone, schedule_period::text, next_reminder_at FROM events ORDER BY id";
    let rows = |rows: Vec<tokio_postgres::Row>| -> Vec<(i64, String, String, Option<DateTime<Utc>>)> {
        rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect()
    };
    let earlier = rows(client.query(snapshot, &[]).await.unwrap());

    let v7 = std::fs::read_to_string(dir.join("V7__time_zones.sql")).unwrap();
    client.batch_execute(&v7).await.expect("V7 applies over rows it would refuse now");

    assert_eq!(rows(client.query(snapshot, &[]).await.unwrap()), earlier, "no row changed");
    let mut said = Vec::new();
    while let Ok(notice) = notices.try_recv() {
        said.push(notice);
    }
    let zones = said.iter().find(|n| n.contains("time zone the scheduler cannot read")).expect("zones reported");
    assert!(zones.contains(&format!("1: {} ('europe/warsaw')", bad[0])), "{zones}");
    let periods = said.iter().find(|n| n.contains("period under one hour")).expect("periods reported");
    assert!(periods.contains(&format!("1: {} (00:00:01)", bad[1])), "{periods}");
    assert!(!said.iter().any(|n| n.contains(&format!("{good} ("))), "{said:?}");
}

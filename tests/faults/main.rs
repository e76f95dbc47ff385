//! The fault suite: faults injected on the wire between the real handlers
//! (in-process, through their public entry points, or the real send-sms
//! binary run as Lambda runs it) and moto / PostgreSQL, never by replacing
//! our code. Every scenario asserts on what moto and PostgreSQL recorded:
//! who got which reminder how often, in which order, and the delivery log.
//!
//! Run with `make test` (or `bash scripts/test.sh -p torium-tests --test
//! faults`); prints one table and `faults: N passed, M failed`, and exits
//! non-zero when a scenario failed. `FAULTS_SEED=<n>` repeats the random
//! kill points of a run; an argument runs only the scenarios whose name
//! contains it.

// The integration tests' fixtures: this suite uses only some of them.
#[allow(dead_code, unused_imports)]
#[path = "../it/fixtures/mod.rs"]
mod fixtures;
mod kills;
mod kit;
mod poison;
mod postgres;
mod sqs;
mod stalls;
mod storm;

use kit::Outcome;
use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// One scenario's bound; a scenario past it fails (and is dropped).
const SCENARIO_LIMIT: Duration = Duration::from_secs(90);
/// The whole suite's bound: scenarios not started by then fail unrun.
const SUITE_LIMIT: Duration = Duration::from_secs(300);

// Not `Send`: scenarios run one at a time on the main thread (a LocalSet),
// the proxies on the runtime's workers.
type Scenario = fn(u64) -> Pin<Box<dyn Future<Output = Outcome>>>;

/// Every scenario, run in this order, one at a time.
const SCENARIOS: &[(&str, Scenario)] = &[
    ("stall: send-sms binary", |_| Box::pin(stalls::sms_binary())),
    ("stall: send-email", |_| Box::pin(stalls::email())),
    ("stall: send-push", |_| Box::pin(stalls::push())),
    ("stall: comment push", |_| Box::pin(stalls::comment())),
    ("stall: invitation push", |_| Box::pin(stalls::invitation())),
    ("lost response: send-sms binary", |_| Box::pin(stalls::lost_response())),
    ("throttling storm: SMS, email, push", |_| Box::pin(storm::storm())),
    ("SQS 5xx: fan-out", |_| Box::pin(sqs::fan_out())),
    ("SQS 5xx: schedule-events", |_| Box::pin(sqs::scheduler())),
    ("PostgreSQL restart: sender batch", |_| Box::pin(postgres::sender())),
    ("PostgreSQL restart: fan-out", |_| Box::pin(postgres::fan_out())),
    ("PostgreSQL restart: scheduler run", |_| Box::pin(postgres::scheduler())),
    ("SIGKILL send-sms, GROUP_CONCURRENCY=10", |seed| Box::pin(kills::sigkill(10, seed))),
    ("SIGKILL send-sms, GROUP_CONCURRENCY=1", |seed| Box::pin(kills::sigkill(1, seed))),
    ("poison at the head of 10 groups", |_| Box::pin(poison::poison())),
];

struct Row {
    name: &'static str,
    faults: String,
    counts: Option<kit::Tally>,
    failures: Vec<String>,
    elapsed: Duration,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in SCENARIOS {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    let filter = args.iter().find(|a| !a.starts_with('-')).cloned();
    let seed = std::env::var("FAULTS_SEED").ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
    });
    logs::install();
    // The real binaries are built before any scenario's clock starts.
    let building = Instant::now();
    torium_tests::lambda_api::function_binary("send-sms");
    println!("fault suite: send-sms built in {:.1} s", building.elapsed().as_secs_f64());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    let started = Instant::now();
    println!("\nfault suite: seed {seed} (FAULTS_SEED={seed} repeats the kill points)");
    let rows = runtime.block_on(tokio::task::LocalSet::new().run_until(run_all(filter.as_deref(), seed)));
    drop(runtime);
    print_table(&rows);
    let failed = rows.iter().filter(|r| !r.failures.is_empty()).count();
    for row in rows.iter().filter(|r| !r.failures.is_empty()) {
        println!("\nFAILED {}:", row.name);
        for failure in &row.failures {
            println!("  - {failure}");
        }
    }
    println!("\nfault suite: seed {seed}, {:.1} s", started.elapsed().as_secs_f64());
    println!("faults: {} passed, {failed} failed", rows.len() - failed);
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

async fn run_all(filter: Option<&str>, seed: u64) -> Vec<Row> {
    let selected: Vec<&(&str, Scenario)> =
        SCENARIOS.iter().filter(|(name, _)| filter.is_none_or(|f| name.contains(f))).collect();
    let suite_end = Instant::now() + SUITE_LIMIT;
    let mut rows = Vec::new();
    for (i, (name, scenario)) in selected.iter().enumerate() {
        let started = Instant::now();
        if started >= suite_end {
            rows.push(Row {
                name,
                faults: "not run".into(),
                counts: None,
                failures: vec![format!("not started: the suite ran past {SUITE_LIMIT:?}")],
                elapsed: Duration::ZERO,
            });
            continue;
        }
        logs::clear();
        let task = tokio::task::spawn_local(scenario(seed));
        let abort = task.abort_handle();
        let row = match tokio::time::timeout(SCENARIO_LIMIT, task).await {
            Ok(Ok(outcome)) => {
                let mut failures = outcome.failures;
                if !failures.is_empty() {
                    let excerpt = logs::warnings(&logs::captured(), 25);
                    if !excerpt.is_empty() {
                        failures.push(format!("in-process handler log (WARN/ERROR):\n{excerpt}"));
                    }
                }
                Row { name, faults: outcome.faults, counts: Some(outcome.tally), failures, elapsed: started.elapsed() }
            }
            Ok(Err(error)) => {
                let message = match error.try_into_panic() {
                    Ok(panic) => panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_else(|| "a panic".to_owned()),
                    Err(error) => error.to_string(),
                };
                Row {
                    name,
                    faults: "—".into(),
                    counts: None,
                    failures: vec![format!("panicked: {message}")],
                    elapsed: started.elapsed(),
                }
            }
            Err(_) => {
                abort.abort();
                Row {
                    name,
                    faults: "—".into(),
                    counts: None,
                    failures: vec![format!("did not finish within {SCENARIO_LIMIT:?}")],
                    elapsed: started.elapsed(),
                }
            }
        };
        println!(
            "  [{}/{}] {name}: {} ({:.1} s)",
            i + 1,
            selected.len(),
            if row.failures.is_empty() { "ok" } else { "FAILED" },
            row.elapsed.as_secs_f64()
        );
        rows.push(row);
    }
    rows
}

fn print_table(rows: &[Row]) {
    let header = ["scenario", "faults injected", "people", "sent", "duplicates", "lost"];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            let mark = if r.failures.is_empty() { "" } else { " FAILED" };
            let count = |f: fn(&kit::Tally) -> usize| r.counts.as_ref().map_or("—".to_owned(), |t| f(t).to_string());
            [
                format!("{}{mark}", r.name),
                r.faults.clone(),
                count(|t| t.people),
                count(|t| t.sent),
                count(|t| t.duplicates),
                count(|t| t.lost),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (c, w))| {
                let pad = w - c.chars().count();
                if i >= 2 { format!("{}{c}", " ".repeat(pad)) } else { format!("{c}{}", " ".repeat(pad)) }
            })
            .collect();
        format!("| {} |", parts.join(" | "))
    };
    println!();
    println!("{}", line(&header.map(str::to_owned)));
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    println!("|-{}-|", rule.join("-|-"));
    for row in &cells {
        println!("{}", line(row));
    }
}

/// A seeded generator (splitmix64) for the kill points.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..=max`.
    pub fn up_to(&mut self, max: u64) -> u64 {
        self.next_u64() % (max + 1)
    }
}

/// The in-process handlers' logs (JSON lines, as in Lambda), captured per
/// scenario and printed with a scenario that failed.
pub mod logs {
    use std::io;
    use std::sync::Mutex;

    static BUFFER: Mutex<Vec<u8>> = Mutex::new(Vec::new());
    /// Kept per scenario at most (the oldest half goes first).
    const LIMIT: usize = 16 * 1024 * 1024;

    struct Capture;

    impl io::Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let mut buffer = BUFFER.lock().unwrap_or_else(|e| e.into_inner());
            if buffer.len() + bytes.len() > LIMIT {
                let half = buffer.len() / 2;
                buffer.drain(..half);
            }
            buffer.extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    pub fn install() {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let _ = tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_target(false)
            .with_ansi(false)
            .with_writer(|| Capture)
            .try_init();
    }

    pub fn clear() {
        BUFFER.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    pub fn captured() -> String {
        String::from_utf8_lossy(&BUFFER.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// The last `max` WARN and ERROR lines of a JSON log.
    pub fn warnings(log: &str, max: usize) -> String {
        let lines: Vec<&str> =
            log.lines().filter(|l| l.contains(r#""level":"WARN""#) || l.contains(r#""level":"ERROR""#)).collect();
        lines[lines.len().saturating_sub(max)..].iter().map(|l| format!("      {l}")).collect::<Vec<_>>().join("\n")
    }
}

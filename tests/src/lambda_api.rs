//! The AWS Lambda Runtime API (2018-06-01) on 127.0.0.1, so a real handler
//! binary built by cargo runs as Lambda runs it: it polls
//! `GET /2018-06-01/runtime/invocation/next`, gets an event with its request
//! id and deadline, and posts `.../{id}/response` or `.../{id}/error` (or
//! `/runtime/init/error`). [`invoke_like_lambda`] adds what Lambda does at
//! the deadline: the process is killed (SIGKILL), whatever it was doing.
//!
//! Bounded: a `next` poll is held at most [`NEXT_POLL_LIMIT`], every wait
//! takes a bound, and a [`FunctionProcess`] is killed when dropped.

use crate::http1::{self, Conn, Head};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// The longest a `next` poll is held with nothing to hand out; then the
/// connection is closed (the runtime then fails and the process exits).
pub const NEXT_POLL_LIMIT: Duration = Duration::from_secs(120);
/// Lambda's limit for the init phase (cold start before the first `next`).
pub const INIT_LIMIT: Duration = Duration::from_secs(10);
const IO_TIMEOUT: Duration = Duration::from_secs(30);
const ACCOUNT: &str = "123456789012";

#[derive(Debug, Clone)]
struct Pending {
    id: String,
    event: Vec<u8>,
    timeout: Duration,
}

#[derive(Debug, Clone, Default)]
struct InvocationState {
    /// Epoch ms deadline, set when the function took the event.
    deadline_ms: Option<u64>,
    outcome: Option<Result<Value, String>>,
}

#[derive(Default)]
struct ApiState {
    queue: VecDeque<Pending>,
    invocations: HashMap<String, InvocationState>,
    init_error: Option<String>,
    function_name: String,
}

struct ApiShared {
    state: Mutex<ApiState>,
    /// Bumped on every change, to wake waiters.
    changed: watch::Sender<u64>,
}

impl ApiShared {
    fn state(&self) -> MutexGuard<'_, ApiState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update<T>(&self, f: impl FnOnce(&mut ApiState) -> T) -> T {
        let result = f(&mut self.state());
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
        result
    }

    /// Waits (at most `bound`) until `check` gives something.
    async fn wait_for<T>(&self, bound: Duration, mut check: impl FnMut(&mut ApiState) -> Option<T>) -> Option<T> {
        let mut changes = self.changed.subscribe();
        let end = tokio::time::Instant::now() + bound;
        for _ in 0..1_000_000 {
            if let Some(found) = check(&mut self.state()) {
                return Some(found);
            }
            if tokio::time::timeout_at(end, changes.changed()).await.is_err() {
                break;
            }
        }
        check(&mut self.state())
    }
}

fn epoch_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A Lambda Runtime API server on 127.0.0.1 (see the module docs).
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<ApiShared>,
    task: JoinHandle<()>,
}

impl RuntimeApi {
    /// Starts the server on a free port. Call inside a tokio runtime.
    pub fn start() -> RuntimeApi {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let listener = TcpListener::from_std(listener).expect("a tokio runtime to run the Runtime API in");
        let addr = listener.local_addr().expect("Runtime API address");
        let shared = Arc::new(ApiShared {
            state: Mutex::new(ApiState { function_name: "torium-test".to_owned(), ..Default::default() }),
            changed: watch::Sender::new(0),
        });
        let serving = shared.clone();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            for _ in 0..100_000 {
                let Ok((socket, _)) = listener.accept().await else { return };
                while connections.try_join_next().is_some() {}
                let _ = socket.set_nodelay(true);
                connections.spawn(serve(serving.clone(), Conn::new(socket, IO_TIMEOUT)));
            }
        });
        RuntimeApi { addr, shared, task }
    }

    /// `127.0.0.1:PORT`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Queues one invocation of `event`; the function gets `timeout` from
    /// when it takes the event (Lambda's timer starts after init).
    pub fn invoke(&self, event: Value, timeout: Duration) -> Invocation {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let id = format!(
            "{:08x}-{:04x}-4000-8000-{:012x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed) & 0xffff,
            epoch_ms(SystemTime::now())
        );
        let event = serde_json::to_vec(&event).expect("event as JSON");
        self.shared.update(|state| {
            state.invocations.insert(id.clone(), InvocationState::default());
            state.queue.push_back(Pending { id: id.clone(), event, timeout });
        });
        Invocation { id, shared: self.shared.clone() }
    }

    /// What the runtime posted to `/runtime/init/error`, if it did.
    pub fn init_error(&self) -> Option<String> {
        self.shared.state().init_error.clone()
    }

    /// Invocations queued and not yet taken by a function.
    pub fn queued(&self) -> usize {
        self.shared.state().queue.len()
    }

    fn set_function_name(&self, name: &str) {
        self.shared.update(|state| state.function_name = name.to_owned());
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One queued invocation.
pub struct Invocation {
    id: String,
    shared: Arc<ApiShared>,
}

impl Invocation {
    /// The `Lambda-Runtime-Aws-Request-Id`.
    pub fn request_id(&self) -> &str {
        &self.id
    }

    /// The deadline handed to the function, once it took the event.
    pub fn deadline(&self) -> Option<SystemTime> {
        let state = self.shared.state();
        state.invocations.get(&self.id)?.deadline_ms.map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
    }

    /// Waits (at most `bound`) for the function to take the event; its deadline.
    pub async fn taken(&self, bound: Duration) -> Option<SystemTime> {
        self.shared
            .wait_for(bound, |state| state.invocations.get(&self.id)?.deadline_ms)
            .await
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
    }

    /// The outcome so far, without waiting.
    pub fn outcome(&self) -> Option<Result<Value, String>> {
        self.shared.state().invocations.get(&self.id)?.outcome.clone()
    }

    /// Waits (at most `bound`) for the outcome: the response, or as the
    /// error the function's error document (`{"errorType":…,"errorMessage":…}`),
    /// `init error: …`, or that nothing came within the bound.
    pub async fn wait(&self, bound: Duration) -> Result<Value, String> {
        let found = self
            .shared
            .wait_for(bound, |state| {
                let invocation = state.invocations.get(&self.id)?;
                if let Some(outcome) = &invocation.outcome {
                    return Some(outcome.clone());
                }
                match (&state.init_error, invocation.deadline_ms) {
                    (Some(error), None) => Some(Err(format!("init error: {error}"))),
                    _ => None,
                }
            })
            .await;
        found.unwrap_or_else(|| Err(format!("no response to invocation {} within {bound:?}", self.id)))
    }

    fn settle(&self, outcome: Result<Value, String>) {
        self.shared.update(|state| {
            if let Some(invocation) = state.invocations.get_mut(&self.id) {
                invocation.outcome.get_or_insert(outcome);
            }
        });
    }
}

async fn serve(shared: Arc<ApiShared>, mut conn: Conn<tokio::net::TcpStream>) {
    for _ in 0..100_000 {
        let head = match conn.read_head(NEXT_POLL_LIMIT).await {
            Ok(Some(head)) => head,
            _ => return,
        };
        let Ok(body) = conn.read_body(head.request_body()).await else { return };
        let path = head.path().to_owned();
        let answer = match (head.method(), path.as_str()) {
            ("GET", "/2018-06-01/runtime/invocation/next") => match next_invocation(&shared, &mut conn).await {
                Some(answer) => answer,
                None => return,
            },
            ("POST", "/2018-06-01/runtime/init/error") => {
                let text = String::from_utf8_lossy(&body.decoded).into_owned();
                shared.update(|state| state.init_error = Some(text));
                accepted()
            }
            ("POST", p) if p.starts_with("/2018-06-01/runtime/invocation/") => {
                let rest = &p["/2018-06-01/runtime/invocation/".len()..];
                match rest.split_once('/') {
                    Some((id, kind @ ("response" | "error"))) => record(&shared, id, kind, &head, &body.decoded),
                    _ => not_found(),
                }
            }
            _ => not_found(),
        };
        if conn.write(&answer).await.is_err() || !head.keep_alive() {
            return;
        }
    }
}

/// Holds the poll until an invocation is queued (bounded), handing it out
/// only while the runtime is still connected.
async fn next_invocation(shared: &ApiShared, conn: &mut Conn<tokio::net::TcpStream>) -> Option<Vec<u8>> {
    let end = tokio::time::Instant::now() + NEXT_POLL_LIMIT;
    for _ in 0..10_000 {
        let remaining = end.saturating_duration_since(tokio::time::Instant::now());
        if remaining.is_zero() {
            return None;
        }
        let take = shared.wait_for(remaining, |state| {
            let pending = state.queue.pop_front()?;
            let deadline_ms = epoch_ms(SystemTime::now() + pending.timeout);
            if let Some(invocation) = state.invocations.get_mut(&pending.id) {
                invocation.deadline_ms = Some(deadline_ms);
            }
            Some((pending, deadline_ms, state.function_name.clone()))
        });
        tokio::select! {
            biased;
            // A runtime that went away (killed while polling) must not get
            // the event: nothing would ever answer it.
            read = conn.fill() => match read {
                Ok(0) | Err(_) => return None,
                Ok(_) => continue,
            },
            taken = take => {
                let (pending, deadline_ms, name) = taken?;
                shared.changed.send_modify(|v| *v = v.wrapping_add(1));
                let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "eu-central-1".to_owned());
                let trace = format!(
                    "Root=1-{:08x}-{:024x};Parent={:016x};Sampled=0",
                    epoch_ms(SystemTime::now()) / 1000,
                    u128::from(deadline_ms) << 32 | u128::from(std::process::id()),
                    deadline_ms
                );
                let headers = [
                    ("Content-Type", "application/json".to_owned()),
                    ("Lambda-Runtime-Aws-Request-Id", pending.id.clone()),
                    ("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string()),
                    ("Lambda-Runtime-Invoked-Function-Arn", format!("arn:aws:lambda:{region}:{ACCOUNT}:function:{name}")),
                    ("Lambda-Runtime-Trace-Id", trace),
                ];
                return Some(http1::response(200, "OK", &headers, &pending.event));
            }
        }
    }
    None
}

fn record(shared: &ApiShared, id: &str, kind: &str, head: &Head, body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(body).into_owned();
    let outcome = if kind == "response" {
        Ok(serde_json::from_slice(body).unwrap_or(Value::String(text)))
    } else {
        let error_type = head.header("Lambda-Runtime-Function-Error-Type").unwrap_or("");
        Err(if text.is_empty() { error_type.to_owned() } else { text })
    };
    let known = shared.update(|state| match state.invocations.get_mut(id) {
        Some(invocation) => {
            invocation.outcome.get_or_insert(outcome);
            true
        }
        None => false,
    });
    if known { accepted() } else { not_found() }
}

fn accepted() -> Vec<u8> {
    http1::response(202, "Accepted", &[("Content-Type", "application/json".to_owned())], br#"{"status":"OK"}"#)
}

fn not_found() -> Vec<u8> {
    http1::response(
        404,
        "Not Found",
        &[("Content-Type", "application/json".to_owned())],
        br#"{"errorType":"InvalidRequestID","errorMessage":"unknown path or request id"}"#,
    )
}

/// A handler binary running against a [`RuntimeApi`]. Killed when dropped.
pub struct FunctionProcess {
    child: Child,
    name: String,
    log_path: PathBuf,
}

impl FunctionProcess {
    /// Starts `binary` with only `env` plus the variables Lambda sets
    /// (`AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_FUNCTION_NAME`, memory,
    /// version, log group and stream, `AWS_EXECUTION_ENV`, `TZ`, and
    /// `AWS_REGION` from this process when `env` has none); stdout and
    /// stderr go to a log file under `target/debug/function-logs/` (kept when
    /// the test fails).
    pub fn spawn(binary: &Path, api: &RuntimeApi, env: &[(String, String)]) -> FunctionProcess {
        let name = binary.file_name().and_then(|n| n.to_str()).unwrap_or("function").to_owned();
        api.set_function_name(&name);
        let logs = target_dir().join("function-logs");
        std::fs::create_dir_all(&logs).unwrap_or_else(|e| panic!("creating {}: {e}", logs.display()));
        let log_path = logs.join(format!("{}.log", crate::unique_name(&name)));
        let log = std::fs::File::create(&log_path).unwrap_or_else(|e| panic!("creating {}: {e}", log_path.display()));
        let err_log = log.try_clone().expect("log file handle");
        let mut command = Command::new(binary);
        command.env_clear().stdin(Stdio::null()).stdout(log).stderr(err_log);
        let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "eu-central-1".to_owned());
        for (key, value) in [
            ("AWS_LAMBDA_RUNTIME_API", api.address()),
            ("AWS_LAMBDA_FUNCTION_NAME", name.clone()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".to_owned()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
            ("AWS_LAMBDA_LOG_STREAM_NAME", crate::unique_name("stream")),
            ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".to_owned()),
            ("AWS_REGION", region.clone()),
            ("AWS_DEFAULT_REGION", region),
            ("TZ", ":UTC".to_owned()),
        ] {
            command.env(key, value);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        FunctionProcess { child, name, log_path }
    }

    /// SIGKILL, as Lambda does at the deadline; waits for the exit.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The exit status once it ended.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything it wrote so far (stdout and stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for FunctionProcess {
    /// Kills the process; its log is kept only when the test is failing.
    fn drop(&mut self) {
        self.kill();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log_path);
        }
    }
}

/// What became of one invocation run as Lambda runs it.
#[derive(Debug, Clone)]
pub struct LambdaOutcome {
    pub request_id: String,
    /// The response, or the error (see [`Invocation::wait`]; also
    /// `Task timed out …` when killed, `process exited …`).
    pub result: Result<Value, String>,
    /// Whether the process was killed (deadline passed, or init too long).
    pub killed: bool,
    /// From the event being taken to the outcome (or the kill).
    pub duration: Duration,
}

/// Invokes `event` as Lambda does: the function has `timeout` from when it
/// takes the event (after at most [`INIT_LIMIT`] of init); when the deadline
/// passes without a response the process is killed with SIGKILL. A process
/// that exits without answering is reported as such.
pub async fn invoke_like_lambda(
    api: &RuntimeApi,
    process: &mut FunctionProcess,
    event: Value,
    timeout: Duration,
) -> LambdaOutcome {
    let invocation = api.invoke(event, timeout);
    let request_id = invocation.request_id().to_owned();
    let step = Duration::from_millis(5);
    let outcome = |result, killed, duration| LambdaOutcome { request_id: request_id.clone(), result, killed, duration };

    // Init: until the function takes the event.
    let init_end = Instant::now() + INIT_LIMIT;
    let mut taken = None;
    for _ in 0..(INIT_LIMIT.as_millis() / step.as_millis() + 10) {
        if let Some(deadline) = invocation.taken(step).await {
            taken = Some(deadline);
            break;
        }
        if let Some(error) = api.init_error() {
            process.kill();
            return outcome(Err(format!("init error: {error}")), false, Duration::ZERO);
        }
        if let Some(status) = process.exit_status() {
            let error = format!("process exited during init ({status})");
            invocation.settle(Err(error.clone()));
            return outcome(Err(error), false, Duration::ZERO);
        }
        if Instant::now() >= init_end {
            break;
        }
    }
    let Some(deadline) = taken else {
        process.kill();
        let error = format!("init did not finish within {INIT_LIMIT:?}");
        invocation.settle(Err(error.clone()));
        return outcome(Err(error), true, Duration::ZERO);
    };

    // Invoke: until the response, an exit, or the deadline.
    let taken_at = Instant::now();
    let left = deadline.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO);
    let end = taken_at + left;
    for _ in 0..(left.as_millis() / step.as_millis() + 10) {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if let Some(result) = invocation.outcome() {
            return outcome(result, false, taken_at.elapsed());
        }
        if let Some(status) = process.exit_status() {
            let error = format!("process exited before answering ({status})");
            invocation.settle(Err(error.clone()));
            return outcome(invocation.outcome().unwrap_or(Err(error)), false, taken_at.elapsed());
        }
        // Wakes on the outcome, or after one step to look at the process.
        invocation
            .shared
            .wait_for(step.min(end - now), |state| state.invocations.get(&invocation.id)?.outcome.as_ref().map(|_| ()))
            .await;
    }
    if let Some(result) = invocation.outcome() {
        return outcome(result, false, taken_at.elapsed());
    }
    process.kill();
    let error = format!("Task timed out after {:.2} seconds", timeout.as_secs_f64());
    invocation.settle(Err(error.clone()));
    outcome(Err(error), true, taken_at.elapsed())
}

/// The cargo target profile directory the test binary runs from
/// (`target/debug`), where `cargo build -p NAME` puts `NAME`.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/debug/deps/it-HASH → target/debug
    let mut dir = exe.parent().expect("executable directory").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// The handler binary `name` under [`target_dir`], built first with
/// `cargo build --locked -p NAME --bin NAME` when the test runs under cargo
/// (a no-op when it is up to date; cargo does not hold its lock while tests
/// run), so a fault test never runs a stale binary. Bounded: a build taking
/// longer than [`BUILD_LIMIT`] fails the test. Without cargo the binary
/// must exist.
pub fn function_binary(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let path = target_dir().join(name);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|b| b == name)
        && let Ok(cargo) = std::env::var("CARGO")
    {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
        let profile_release = target_dir().ends_with("release");
        let mut command = Command::new(cargo);
        command.current_dir(workspace).args(["build", "--locked", "--quiet", "-p", name, "--bin", name]);
        if profile_release {
            command.arg("--release");
        }
        let output = run_bounded(command, BUILD_LIMIT)
            .unwrap_or_else(|e| panic!("building {name} (`cargo build -p {name}`): {e}"));
        built.push(name.to_owned());
        drop(output);
    }
    assert!(path.is_file(), "{} is missing: build it first with `cargo build -p {name}`", path.display());
    path
}

/// The longest [`function_binary`] waits for cargo.
pub const BUILD_LIMIT: Duration = Duration::from_secs(900);

/// Runs a command to its end within `limit`; its combined output, or why not.
fn run_bounded(mut command: Command, limit: Duration) -> Result<String, String> {
    let log = std::env::temp_dir().join(format!("{}.log", crate::unique_name("cargo-build")));
    let file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let err_file = file.try_clone().map_err(|e| e.to_string())?;
    let mut child = command.stdin(Stdio::null()).stdout(file).stderr(err_file).spawn().map_err(|e| e.to_string())?;
    let end = Instant::now() + limit;
    let step = Duration::from_millis(50);
    let mut status = None;
    for _ in 0..(limit.as_millis() / step.as_millis() + 1) {
        status = child.try_wait().map_err(|e| e.to_string())?;
        if status.is_some() || Instant::now() >= end {
            break;
        }
        std::thread::sleep(step);
    }
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("still running after {limit:?}"));
    };
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    if status.success() { Ok(output) } else { Err(format!("{status}\n{output}")) }
}

/// The environment `make test` gives this process for the AWS side and the
/// database (`DATABASE_URL` set to `database_url`), to hand a function.
pub fn test_env(database_url: &str) -> Vec<(String, String)> {
    let mut env = vec![("DATABASE_URL".to_owned(), database_url.to_owned())];
    for key in [
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_EC2_METADATA_DISABLED",
        "AWS_ACCOUNT_ID",
        "RUST_LOG",
    ] {
        if let Ok(value) = std::env::var(key) {
            env.push((key.to_owned(), value));
        }
    }
    env
}

//! Faults on the wire, for the fault suite: real clients and real services,
//! with a proxy between them that misbehaves as AWS and PostgreSQL do.
//!
//! - [`HttpFaultProxy`] sits between the AWS SDK clients and moto and knows
//!   which AWS operation each request is (`sns:Publish`,
//!   `sqs:SendMessageBatch`, `ses:SendEmail`, ...). Rules added at any time
//!   stall, throttle, fail, delay or lose the response of chosen calls of one
//!   operation, with the error bodies the real services send, so the SDK and
//!   `torium_aws::classify` see what they would see from AWS.
//! - [`TcpFaultProxy`] sits in front of PostgreSQL (or anything TCP): cuts
//!   every connection at once (a restart), refuses new ones for a while,
//!   stalls bytes.
//!
//! Both listen on 127.0.0.1 only, forward only to loopback, and stop when
//! dropped. Every wait is bounded (see the constants).

use crate::http1::{self, Body, BodyKind, Conn, Head};
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use torium_aws::SdkConfig;

/// The longest a `Stall`ed request holds its connection (when the client
/// never gives up), and the longest a stalled [`TcpFaultProxy`] holds bytes.
pub const STALL_LIMIT: Duration = Duration::from_secs(60);
/// An idle keep-alive connection is closed after this (longer than the SDK's
/// 90 s pool idle timeout, so the client always closes first).
const HTTP_IDLE_LIMIT: Duration = Duration::from_secs(120);
/// Each read or write once a message has started, and moto's answer.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A TCP connection with no bytes either way for this long is closed.
const TCP_IDLE_LIMIT: Duration = Duration::from_secs(300);
const MAX_CONNECTIONS: usize = 100_000;
const MAX_REQUESTS_PER_CONNECTION: usize = 100_000;

// ---------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------

/// What happens to a call a rule selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Read the request, never forward it, hold the connection open until
    /// the client gives up (or [`STALL_LIMIT`]), then close it.
    Stall,
    /// Answer, without forwarding, with the service's throttling error
    /// (SNS `Throttling` 400, SQS `RequestThrottled` 400, SES v2
    /// `TooManyRequestsException` 429, other JSON services
    /// `ThrottlingException` 400).
    Throttle,
    /// Answer, without forwarding, 500 with the protocol's internal error.
    ServerError,
    /// Answer, without forwarding, 503 `ServiceUnavailable`.
    ServiceUnavailable,
    /// Forward after this delay.
    Delay(Duration),
    /// Forward to moto (which records the call), read its whole answer, then
    /// close the client's connection without a response: a lost response.
    DropAfterForward,
}

/// Which of the calls matching a rule's operation it applies to. Calls are
/// counted per rule, 1-based, from when the rule was added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Calls {
    /// Only the k-th call.
    Nth(usize),
    /// `count` calls from the `first`-th on: first, first+1, ...
    Range { first: usize, count: usize },
    /// Every `n`-th call (the n-th, 2n-th, ...) while `window` lasts from
    /// when the rule was added; `n = 1` is every call, `n = 2` half of them.
    EveryNth { n: usize, window: Duration },
}

/// A fault on chosen calls of one operation. `operation` is a name as
/// [`HttpFaultProxy::calls`] counts them (`sns:Publish`), `sns:*` for every
/// operation of a service, or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub operation: String,
    pub calls: Calls,
    pub action: Action,
}

impl Rule {
    /// `action` on the k-th call (1-based) of `operation`.
    pub fn nth(operation: &str, k: usize, action: Action) -> Rule {
        Rule { operation: operation.to_owned(), calls: Calls::Nth(k), action }
    }

    /// `action` on `count` calls from the `first`-th on.
    pub fn range(operation: &str, first: usize, count: usize, action: Action) -> Rule {
        Rule { operation: operation.to_owned(), calls: Calls::Range { first, count }, action }
    }

    /// `action` on every `n`-th call during `window`.
    pub fn every_nth(operation: &str, n: usize, window: Duration, action: Action) -> Rule {
        Rule { operation: operation.to_owned(), calls: Calls::EveryNth { n, window }, action }
    }

    /// `action` on every call until the rule is cleared.
    pub fn always(operation: &str, action: Action) -> Rule {
        Rule::range(operation, 1, usize::MAX, action)
    }

    fn matches(&self, operation: &str) -> bool {
        match self.operation.strip_suffix('*') {
            Some(prefix) => operation.starts_with(prefix),
            None => self.operation == operation,
        }
    }

    /// Whether the `seen`-th matching call, `elapsed` after the rule was
    /// added, is selected.
    fn selects(&self, seen: usize, elapsed: Duration) -> bool {
        match self.calls {
            Calls::Nth(k) => seen == k,
            Calls::Range { first, count } => seen >= first && seen - first < count,
            Calls::EveryNth { n, window } => elapsed < window && n > 0 && seen.is_multiple_of(n),
        }
    }
}

/// A rule once added, to ask how often it fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleId(usize);

/// One request the proxy saw: its operation and the fault injected, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub operation: String,
    pub fault: Option<Action>,
}

struct ActiveRule {
    id: RuleId,
    rule: Rule,
    seen: usize,
    added: Instant,
}

#[derive(Default)]
struct ProxyState {
    rules: Vec<ActiveRule>,
    next_rule: usize,
    fired: HashMap<RuleId, usize>,
    calls: BTreeMap<String, usize>,
    faults_by_operation: BTreeMap<String, usize>,
    history: Vec<Seen>,
}

struct HttpShared {
    upstream: SocketAddr,
    state: Mutex<ProxyState>,
    faults: AtomicUsize,
    connections: AtomicUsize,
}

impl HttpShared {
    fn state(&self) -> std::sync::MutexGuard<'_, ProxyState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts the call and picks the first rule (in the order added) that
    /// selects it; every matching rule counts it.
    fn decide(&self, operation: &str) -> Option<Action> {
        let mut state = self.state();
        *state.calls.entry(operation.to_owned()).or_default() += 1;
        let mut chosen = None;
        for rule in state.rules.iter_mut().filter(|r| r.rule.matches(operation)) {
            rule.seen += 1;
            if chosen.is_none() && rule.rule.selects(rule.seen, rule.added.elapsed()) {
                chosen = Some((rule.id, rule.rule.action.clone()));
            }
        }
        if let Some((id, _)) = &chosen {
            *state.fired.entry(*id).or_default() += 1;
            *state.faults_by_operation.entry(operation.to_owned()).or_default() += 1;
            self.faults.fetch_add(1, Ordering::Relaxed);
        }
        let fault = chosen.map(|(_, action)| action);
        if state.history.len() < 1_000_000 {
            state.history.push(Seen { operation: operation.to_owned(), fault: fault.clone() });
        }
        fault
    }
}

// ---------------------------------------------------------------------------
// HttpFaultProxy
// ---------------------------------------------------------------------------

/// An operation-aware HTTP/1.1 proxy in front of moto (see the module docs).
pub struct HttpFaultProxy {
    addr: SocketAddr,
    shared: Arc<HttpShared>,
    task: JoinHandle<()>,
}

impl HttpFaultProxy {
    /// Starts a proxy on 127.0.0.1 (a free port) to `upstream`
    /// (`http://127.0.0.1:PORT`, loopback only). Call inside a tokio runtime.
    pub fn start(upstream: &str) -> HttpFaultProxy {
        let authority = upstream
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("upstream {upstream} is not http://"))
            .trim_end_matches('/');
        let upstream = loopback_addr(authority);
        let listener = bind_loopback();
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(HttpShared {
            upstream,
            state: Mutex::new(ProxyState::default()),
            faults: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
        });
        let accepting = shared.clone();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            for _ in 0..MAX_CONNECTIONS {
                let Ok((socket, _)) = listener.accept().await else { return };
                while connections.try_join_next().is_some() {}
                accepting.connections.fetch_add(1, Ordering::Relaxed);
                connections.spawn(serve_http(accepting.clone(), socket));
            }
        });
        HttpFaultProxy { addr, shared, task }
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL` or an SDK endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `base` with every client's endpoint set to this proxy (set in code,
    /// so it wins over `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`).
    pub fn sdk_config(&self, base: &SdkConfig) -> SdkConfig {
        let mut builder = base.to_builder().endpoint_url(self.url());
        builder.insert_origin("endpoint_url", aws_types::origin::Origin::shared_config());
        builder.build()
    }

    /// Adds a rule; it counts calls from now on.
    pub fn add_rule(&self, rule: Rule) -> RuleId {
        let mut state = self.shared.state();
        let id = RuleId(state.next_rule);
        state.next_rule += 1;
        state.rules.push(ActiveRule { id, rule, seen: 0, added: Instant::now() });
        id
    }

    /// Removes every rule (counters are kept).
    pub fn clear_rules(&self) {
        self.shared.state().rules.clear();
    }

    /// How many calls a rule injected its fault into.
    pub fn fired(&self, rule: RuleId) -> usize {
        self.shared.state().fired.get(&rule).copied().unwrap_or(0)
    }

    /// Requests seen for one operation (faulted ones included).
    pub fn calls(&self, operation: &str) -> usize {
        self.shared.state().calls.get(operation).copied().unwrap_or(0)
    }

    /// Requests seen, by operation.
    pub fn all_calls(&self) -> BTreeMap<String, usize> {
        self.shared.state().calls.clone()
    }

    /// Faults injected, all operations.
    pub fn faults(&self) -> usize {
        self.shared.faults.load(Ordering::Relaxed)
    }

    /// Faults injected into one operation.
    pub fn faults_on(&self, operation: &str) -> usize {
        self.shared.state().faults_by_operation.get(operation).copied().unwrap_or(0)
    }

    /// Every request seen, in order.
    pub fn history(&self) -> Vec<Seen> {
        self.shared.state().history.clone()
    }

    /// Client connections accepted (fewer than calls when kept alive).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
    }
}

impl Drop for HttpFaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An SDK configuration with explicit limits, for clients in fault tests:
/// each attempt and the whole operation are bounded, at most `max_attempts`
/// attempts with a 10 ms initial backoff.
pub fn with_limits(
    base: &SdkConfig,
    attempt_timeout: Duration,
    operation_timeout: Duration,
    max_attempts: u32,
) -> SdkConfig {
    use aws_sdk_sqs::config::retry::RetryConfig;
    use aws_sdk_sqs::config::timeout::TimeoutConfig;
    base.to_builder()
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_attempt_timeout(attempt_timeout)
                .operation_timeout(operation_timeout)
                .build(),
        )
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(max_attempts)
                .with_initial_backoff(Duration::from_millis(10))
                .with_max_backoff(Duration::from_millis(100)),
        )
        .build()
}

async fn serve_http(shared: Arc<HttpShared>, socket: TcpStream) {
    let _ = socket.set_nodelay(true);
    let mut client = Conn::new(socket, IO_TIMEOUT);
    let mut upstream: Option<Conn<TcpStream>> = None;
    for _ in 0..MAX_REQUESTS_PER_CONNECTION {
        let head = match client.read_head(HTTP_IDLE_LIMIT).await {
            Ok(Some(head)) => head,
            _ => return,
        };
        let Ok(body) = client.read_body(head.request_body()).await else { return };
        let request = identify(&head, &body.decoded);
        let fault = shared.decide(&request.operation);
        let keep_alive = head.keep_alive();
        let close_client = match fault {
            Some(Action::Stall) => {
                hold_until_closed(&mut client).await;
                return;
            }
            Some(action @ (Action::Throttle | Action::ServerError | Action::ServiceUnavailable)) => {
                client.write(&error_response(&request, &action)).await.is_err()
            }
            Some(Action::DropAfterForward) => {
                let _ = exchange(&shared, &mut upstream, &head, &body).await;
                return;
            }
            Some(Action::Delay(delay)) => {
                tokio::time::sleep(delay).await;
                forward(&shared, &mut upstream, &mut client, &head, &body).await
            }
            None => forward(&shared, &mut upstream, &mut client, &head, &body).await,
        };
        if close_client || !keep_alive {
            return;
        }
    }
}

/// Forwards one request and relays the answer; true when the client
/// connection must be closed afterwards.
async fn forward(
    shared: &HttpShared,
    upstream: &mut Option<Conn<TcpStream>>,
    client: &mut Conn<TcpStream>,
    head: &Head,
    body: &Body,
) -> bool {
    match exchange(shared, upstream, head, body).await {
        Ok((response, close)) => client.write(&response).await.is_err() || close,
        Err(e) => {
            let message = format!("fault proxy: upstream failed: {e}");
            let _ = client.write(&http1::response(502, "Bad Gateway", &[], message.as_bytes())).await;
            true
        }
    }
}

/// Sends the request to moto and reads its whole answer (interim 1xx
/// answers included): the bytes as received, and whether the connection
/// closes after it. A kept-alive upstream connection that moto closed in
/// the meantime is replaced once.
async fn exchange(
    shared: &HttpShared,
    upstream: &mut Option<Conn<TcpStream>>,
    head: &Head,
    body: &Body,
) -> io::Result<(Vec<u8>, bool)> {
    for attempt in 0..2 {
        let reused = upstream.is_some();
        let conn = match upstream {
            Some(conn) => conn,
            None => {
                let socket = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(shared.upstream))
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connecting to upstream"))??;
                let _ = socket.set_nodelay(true);
                upstream.insert(Conn::new(socket, IO_TIMEOUT))
            }
        };
        match round_trip(conn, head, body).await {
            Ok((response, close)) => {
                if close {
                    *upstream = None;
                }
                return Ok((response, close));
            }
            Err(e) => {
                *upstream = None;
                let stale = matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionAborted
                );
                if !(reused && stale && attempt == 0) {
                    return Err(e);
                }
            }
        }
    }
    Err(io::Error::other("upstream unreachable"))
}

async fn round_trip(conn: &mut Conn<TcpStream>, head: &Head, body: &Body) -> io::Result<(Vec<u8>, bool)> {
    let mut request = head.raw.clone();
    request.extend_from_slice(&body.raw);
    conn.write(&request).await?;
    let mut response = Vec::new();
    for _ in 0..8 {
        let Some(answer) = conn.read_head(IO_TIMEOUT).await? else {
            return Err(io::Error::new(io::ErrorKind::ConnectionAborted, "upstream closed before answering"));
        };
        let kind = answer.response_body(head.method());
        let answer_body = conn.read_body(kind).await?;
        response.extend_from_slice(&answer.raw);
        response.extend_from_slice(&answer_body.raw);
        let status = answer.status();
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        return Ok((response, !answer.keep_alive() || kind == BodyKind::UntilClose));
    }
    Err(io::Error::new(io::ErrorKind::InvalidData, "too many interim responses"))
}

/// Holds a stalled request's connection until the client closes it (or
/// [`STALL_LIMIT`]); whatever the client sends meanwhile is dropped.
async fn hold_until_closed(client: &mut Conn<TcpStream>) {
    let mut scratch = [0u8; 4096];
    let _ = tokio::time::timeout(STALL_LIMIT, async {
        for _ in 0..100_000 {
            match client.stream.read(&mut scratch).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
}

// ---------------------------------------------------------------------------
// Which operation a request is
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// awsQuery (SNS): form body with `Action=`, XML answers.
    Query,
    /// awsJson 1.0/1.1 (SQS, Secrets Manager, Cognito, Logs): `X-Amz-Target`.
    Json,
    /// restJson1 (SES v2): method and path.
    Rest,
}

#[derive(Debug, Clone)]
struct Request {
    operation: String,
    service: String,
    protocol: Protocol,
}

/// The operation a request is, as the AWS SDK for Rust sends it.
fn identify(head: &Head, body: &[u8]) -> Request {
    let scope = signing_service(head);
    if let Some(target) = head.header("x-amz-target") {
        let (prefix, name) = target.split_once('.').unwrap_or(("", target));
        let service = scope.unwrap_or_else(|| service_of_target(prefix));
        return Request { operation: format!("{service}:{name}"), service, protocol: Protocol::Json };
    }
    let form = head.header("content-type").is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if form && let Some(action) = form_field(body, "Action") {
        let service = scope.unwrap_or_else(|| "query".to_owned());
        return Request { operation: format!("{service}:{action}"), service, protocol: Protocol::Query };
    }
    let path = head.path();
    let service = scope.unwrap_or_else(|| if path.starts_with("/v2/email") { "ses" } else { "http" }.to_owned());
    let name = if service == "ses" { ses_v2_operation(head.method(), path) } else { None };
    let name = name.map(str::to_owned).unwrap_or_else(|| format!("{} {path}", head.method()));
    Request { operation: format!("{service}:{name}"), service, protocol: Protocol::Rest }
}

/// The service of the SigV4 credential scope
/// (`Credential=AKID/20240101/eu-central-1/sns/aws4_request`).
fn signing_service(head: &Head) -> Option<String> {
    let authorization = head.header("authorization")?;
    let credential = authorization.split("Credential=").nth(1)?.split([',', ' ']).next()?;
    let parts: Vec<&str> = credential.split('/').collect();
    (parts.len() >= 5).then(|| parts[parts.len() - 2].to_owned())
}

fn service_of_target(prefix: &str) -> String {
    match prefix {
        "AmazonSQS" => "sqs",
        "secretsmanager" => "secretsmanager",
        "AWSCognitoIdentityProviderService" => "cognito-idp",
        "Logs_20140328" => "logs",
        other => return other.to_ascii_lowercase(),
    }
    .to_owned()
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    body.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (percent_decode(key) == name).then(|| percent_decode(value))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// SES v2 operations by route (the ones Torium and its tests call).
fn ses_v2_operation(method: &str, path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    Some(match (method, segments.as_slice()) {
        ("POST", ["v2", "email", "outbound-emails"]) => "SendEmail",
        ("POST", ["v2", "email", "outbound-bulk-emails"]) => "SendBulkEmail",
        ("POST", ["v2", "email", "identities"]) => "CreateEmailIdentity",
        ("GET", ["v2", "email", "identities"]) => "ListEmailIdentities",
        ("GET", ["v2", "email", "identities", _]) => "GetEmailIdentity",
        ("DELETE", ["v2", "email", "identities", _]) => "DeleteEmailIdentity",
        ("GET", ["v2", "email", "account"]) => "GetAccount",
        ("POST", ["v2", "email", "configuration-sets"]) => "CreateConfigurationSet",
        ("PUT", ["v2", "email", "suppression", "addresses"]) => "PutSuppressedDestination",
        ("GET", ["v2", "email", "suppression", "addresses", _]) => "GetSuppressedDestination",
        _ => return None,
    })
}

// ---------------------------------------------------------------------------
// The errors AWS answers with
// ---------------------------------------------------------------------------

fn request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let hex = format!("{:032x}", nanos ^ (u128::from(n) << 96));
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// The answer the real service gives for a throttled or failed call.
fn error_response(request: &Request, action: &Action) -> Vec<u8> {
    let id = request_id();
    let (status, reason) = match action {
        Action::Throttle if request.protocol == Protocol::Rest => (429, "Too Many Requests"),
        Action::Throttle => (400, "Bad Request"),
        Action::ServiceUnavailable => (503, "Service Unavailable"),
        _ => (500, "Internal Server Error"),
    };
    let throttled = matches!(action, Action::Throttle);
    let unavailable = matches!(action, Action::ServiceUnavailable);
    match request.protocol {
        Protocol::Query => {
            let (kind, code, message) = if throttled {
                ("Sender", "Throttling", "Rate exceeded")
            } else if unavailable {
                ("Receiver", "ServiceUnavailable", "Service is unavailable. Try again later.")
            } else {
                ("Receiver", "InternalError", "We encountered an internal error. Please try again.")
            };
            let namespace =
                if request.service == "sns" { r#" xmlns="http://sns.amazonaws.com/doc/2010-03-31/""# } else { "" };
            let body = format!(
                "<ErrorResponse{namespace}><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{id}</RequestId></ErrorResponse>"
            );
            http1::response(
                status,
                reason,
                &[("Content-Type", "text/xml".to_owned()), ("x-amzn-RequestId", id)],
                body.as_bytes(),
            )
        }
        Protocol::Json => {
            let sqs = request.service == "sqs";
            let code = if throttled {
                match request.service.as_str() {
                    "sqs" => "RequestThrottled",
                    "cognito-idp" => "TooManyRequestsException",
                    _ => "ThrottlingException",
                }
            } else if unavailable {
                "ServiceUnavailable"
            } else {
                "InternalFailure"
            };
            let message = if throttled {
                "Rate exceeded"
            } else {
                "The request processing has failed because of an unknown error."
            };
            let qualified = if sqs { format!("com.amazonaws.sqs#{code}") } else { code.to_owned() };
            let body = serde_json::json!({ "__type": qualified, "message": message }).to_string();
            let mut headers = vec![
                (
                    "Content-Type",
                    if sqs { "application/x-amz-json-1.0" } else { "application/x-amz-json-1.1" }.to_owned(),
                ),
                ("x-amzn-RequestId", id),
            ];
            if sqs {
                // The SQS JSON protocol is query-compatible: the SDK takes
                // the code from this header (`<code>;<Sender|Receiver>`).
                let fault = if throttled { "Sender" } else { "Receiver" };
                headers.push(("x-amzn-query-error", format!("{code};{fault}")));
            }
            http1::response(status, reason, &headers, body.as_bytes())
        }
        Protocol::Rest => {
            let (code, message) = if throttled {
                ("TooManyRequestsException", "Too many requests have been made to the operation.")
            } else if unavailable {
                ("ServiceUnavailable", "Service is unavailable. Try again later.")
            } else {
                ("InternalFailure", "The request processing has failed because of an unknown error.")
            };
            let body = serde_json::json!({ "message": message }).to_string();
            let headers = [
                ("Content-Type", "application/json".to_owned()),
                ("x-amzn-RequestId", id),
                ("x-amzn-ErrorType", code.to_owned()),
            ];
            http1::response(status, reason, &headers, body.as_bytes())
        }
    }
}

// ---------------------------------------------------------------------------
// TcpFaultProxy
// ---------------------------------------------------------------------------

struct TcpShared {
    upstream: SocketAddr,
    /// Both sockets of every open connection (duplicated handles), so a cut
    /// closes them at once, synchronously.
    open: Mutex<HashMap<u64, Vec<std::net::TcpStream>>>,
    next_id: AtomicU64,
    refuse_until: Mutex<Option<Instant>>,
    stalled: tokio::sync::watch::Sender<bool>,
    accepted: AtomicUsize,
    refused: AtomicUsize,
}

impl TcpShared {
    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Vec<std::net::TcpStream>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn refusing(&self) -> bool {
        self.refuse_until.lock().unwrap_or_else(|e| e.into_inner()).is_some_and(|until| Instant::now() < until)
    }
}

/// A plain TCP proxy (see the module docs).
pub struct TcpFaultProxy {
    addr: SocketAddr,
    shared: Arc<TcpShared>,
    task: JoinHandle<()>,
}

impl TcpFaultProxy {
    /// Starts a proxy on 127.0.0.1 (a free port) to `upstream` (loopback
    /// only). Call inside a tokio runtime.
    pub fn start(upstream: SocketAddr) -> TcpFaultProxy {
        assert!(upstream.ip().is_loopback(), "the fault proxy forwards to loopback only, not {upstream}");
        let listener = bind_loopback();
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(TcpShared {
            upstream,
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            refuse_until: Mutex::new(None),
            stalled: tokio::sync::watch::Sender::new(false),
            accepted: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
        });
        let accepting = shared.clone();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            for _ in 0..MAX_CONNECTIONS {
                let Ok((socket, _)) = listener.accept().await else { return };
                while connections.try_join_next().is_some() {}
                if accepting.refusing() {
                    accepting.refused.fetch_add(1, Ordering::Relaxed);
                    drop(socket);
                    continue;
                }
                accepting.accepted.fetch_add(1, Ordering::Relaxed);
                connections.spawn(serve_tcp(accepting.clone(), socket));
            }
        });
        TcpFaultProxy { addr, shared, task }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every open connection at once, both ways (each side sees the
    /// other end close, as clients see a PostgreSQL restart); returns how
    /// many were open. New connections are still accepted.
    pub fn cut_all(&self) -> usize {
        let open: Vec<_> = self.shared.open().drain().collect();
        for (_, sockets) in &open {
            for socket in sockets {
                let _ = socket.shutdown(std::net::Shutdown::Both);
            }
        }
        open.len()
    }

    /// For `duration` from now, new connections are accepted and closed at
    /// once (open ones are left alone).
    pub fn refuse_for(&self, duration: Duration) {
        *self.shared.refuse_until.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + duration);
    }

    /// Stops (true) or resumes (false) forwarding bytes on every connection,
    /// both ways. A connection stalled longer than [`STALL_LIMIT`] is closed.
    pub fn stall(&self, stalled: bool) {
        self.shared.stalled.send_replace(stalled);
    }

    /// Connections accepted and forwarded so far.
    pub fn connections(&self) -> usize {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Connections closed at once while refusing.
    pub fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::Relaxed)
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.shared.open().len()
    }

    /// `url` (`scheme://[user@]host:port/...`) pointed at this proxy.
    pub fn redirect(&self, url: &str) -> String {
        redirect_url(url, self.addr)
    }
}

impl Drop for TcpFaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut_all();
    }
}

async fn serve_tcp(shared: Arc<TcpShared>, client: TcpStream) {
    // Registered before connecting upstream, so a cut meanwhile closes it too.
    let _ = client.set_nodelay(true);
    let Ok((client, client_handle)) = duplicated(client) else { return };
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    shared.open().insert(id, vec![client_handle]);
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(shared.upstream)).await;
    let Ok(Ok(upstream)) = connected else {
        shared.open().remove(&id);
        return;
    };
    let _ = upstream.set_nodelay(true);
    let Ok((upstream, upstream_handle)) = duplicated(upstream) else {
        shared.open().remove(&id);
        return;
    };
    match shared.open().get_mut(&id) {
        Some(handles) => handles.push(upstream_handle),
        // Cut while connecting: the client side is already closed.
        None => return,
    }
    let (client_read, client_write) = client.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    tokio::join!(
        pump(client_read, upstream_write, shared.stalled.subscribe()),
        pump(upstream_read, client_write, shared.stalled.subscribe()),
    );
    shared.open().remove(&id);
}

/// The stream, and a duplicated std handle to the same socket for cuts.
fn duplicated(stream: TcpStream) -> io::Result<(TcpStream, std::net::TcpStream)> {
    let std_stream = stream.into_std()?;
    let handle = std_stream.try_clone()?;
    Ok((TcpStream::from_std(std_stream)?, handle))
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut stalled: tokio::sync::watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    for _ in 0..100_000_000u64 {
        let n = match tokio::time::timeout(TCP_IDLE_LIMIT, from.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => break,
        };
        if *stalled.borrow_and_update() {
            match tokio::time::timeout(STALL_LIMIT, stalled.wait_for(|s| !*s)).await {
                Ok(Ok(_)) => {}
                _ => break,
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

// ---------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------

fn bind_loopback() -> TcpListener {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.set_nonblocking(true).expect("non-blocking listener");
    TcpListener::from_std(listener).expect("a tokio runtime to run the proxy in")
}

/// `host:port` resolved, loopback only.
fn loopback_addr(authority: &str) -> SocketAddr {
    let addr = authority
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.find(|a| a.ip().is_loopback()))
        .unwrap_or_else(|| panic!("{authority} is not a loopback address"));
    assert!(addr.ip().is_loopback());
    addr
}

/// The loopback address a URL (`postgres://user@127.0.0.1:5432/db`,
/// `http://127.0.0.1:5000`) points at; `default_port` when it names none.
pub fn socket_addr_of(url: &str, default_port: u16) -> SocketAddr {
    let (_, authority, _) = split_url(url);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        loopback_addr(host_port)
    } else {
        loopback_addr(&format!("{host_port}:{default_port}"))
    }
}

/// `url` with its host and port replaced by `to` (user, path and query kept).
pub fn redirect_url(url: &str, to: SocketAddr) -> String {
    let (scheme, authority, rest) = split_url(url);
    let user = authority.rsplit_once('@').map(|(u, _)| format!("{u}@")).unwrap_or_default();
    format!("{scheme}://{user}{to}{rest}")
}

fn split_url(url: &str) -> (&str, &str, &str) {
    let (scheme, after) = url.split_once("://").unwrap_or_else(|| panic!("{url} is not a URL"));
    let end = after.find(['/', '?']).unwrap_or(after.len());
    (scheme, &after[..end], &after[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_select_the_calls_they_name() {
        let nth = Rule::nth("sns:Publish", 2, Action::Stall);
        assert!(nth.matches("sns:Publish") && !nth.matches("sns:PublishBatch"));
        assert_eq!((1..=4).map(|k| nth.selects(k, Duration::ZERO)).collect::<Vec<_>>(), [false, true, false, false]);
        let range = Rule::range("sqs:*", 2, 2, Action::Throttle);
        assert!(range.matches("sqs:SendMessage") && !range.matches("sns:Publish"));
        assert_eq!(
            (1..=5).map(|k| range.selects(k, Duration::ZERO)).collect::<Vec<_>>(),
            [false, true, true, false, false]
        );
        let every = Rule::every_nth("*", 2, Duration::from_secs(1), Action::Throttle);
        assert_eq!((1..=4).map(|k| every.selects(k, Duration::ZERO)).collect::<Vec<_>>(), [false, true, false, true]);
        assert!(!every.selects(2, Duration::from_secs(2)), "the window is over");
        assert!(Rule::always("x", Action::Stall).selects(1_000_000, Duration::ZERO));
    }

    #[test]
    fn urls_are_redirected_and_resolved() {
        let to: SocketAddr = "127.0.0.1:6000".parse().unwrap();
        assert_eq!(
            redirect_url("postgres://postgres@127.0.0.1:5432/db?sslmode=disable", to),
            "postgres://postgres@127.0.0.1:6000/db?sslmode=disable"
        );
        assert_eq!(redirect_url("http://127.0.0.1:5000", to), "http://127.0.0.1:6000");
        assert_eq!(socket_addr_of("postgres://u:p@127.0.0.1:5433/x", 5432).port(), 5433);
        assert_eq!(socket_addr_of("postgres://127.0.0.1/x", 5432).port(), 5432);
        assert_eq!(percent_decode("Publish%2Bx+y"), "Publish+x y");
    }
}

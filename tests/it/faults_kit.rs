//! The fault-injection kit itself (torium_tests::faults, ::lambda_api), on
//! real moto, PostgreSQL and a real handler binary: each fault does to the
//! real SDK clients, tokio-postgres and the Lambda runtime what it claims.

use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_postgres::NoTls;
use torium_aws::{SdkConfig, classify};
use torium_tests::faults::{Action, HttpFaultProxy, Rule, TcpFaultProxy, socket_addr_of, with_limits};
use torium_tests::lambda_api::{FunctionProcess, RuntimeApi, function_binary, invoke_like_lambda, test_env};
use torium_tests::{TestDatabase, moto, required_env, unique_name};

const PRE_SIGNUP: &str = include_str!("../../events/cognito-pre-signup.json");

fn proxy() -> HttpFaultProxy {
    HttpFaultProxy::start(&required_env("AWS_ENDPOINT_URL"))
}

/// Clients through the proxy: 500 ms per attempt and operation, no retries.
async fn through(proxy: &HttpFaultProxy) -> SdkConfig {
    let base = moto::sdk_config().await;
    with_limits(&proxy.sdk_config(&base), Duration::from_millis(500), Duration::from_millis(500), 1)
}

async fn publish(
    sns: &aws_sdk_sns::Client,
    phone: &str,
    text: &str,
) -> Result<(), SdkError<aws_sdk_sns::operation::publish::PublishError>> {
    sns.publish().phone_number(phone).message(text).send().await.map(|_| ())
}

fn texts(phone: &str) -> Vec<String> {
    moto::sms_to(phone).into_iter().map(|(_, text)| text).collect()
}

#[tokio::test]
async fn a_stalled_publish_times_out_and_moto_records_only_the_others() {
    let proxy = proxy();
    let sns = aws_sdk_sns::Client::new(&through(&proxy).await);
    let rule = proxy.add_rule(Rule::nth("sns:Publish", 2, Action::Stall));
    let phone = moto::unique_phone();

    publish(&sns, &phone, "first").await.expect("the first publish goes through");
    let started = Instant::now();
    let error = publish(&sns, &phone, "second").await.expect_err("the second publish stalls");
    assert!(matches!(error, SdkError::TimeoutError(_)), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "cut off by the 500 ms timeout: {:?}", started.elapsed());
    assert!(classify("Publish", &error).is_transient());
    publish(&sns, &phone, "third").await.expect("later publishes go through again");

    assert_eq!(texts(&phone), ["first", "third"], "moto never saw the stalled call");
    assert_eq!(proxy.calls("sns:Publish"), 3);
    assert_eq!((proxy.faults(), proxy.fired(rule), proxy.faults_on("sns:Publish")), (1, 1, 1));
}

#[tokio::test]
async fn sdk_retries_go_around_a_stall_as_the_next_call() {
    let proxy = proxy();
    let base = proxy.sdk_config(&moto::sdk_config().await);
    // 300 ms per attempt, 3 attempts: the retry is the rule's 2nd call.
    let sns = aws_sdk_sns::Client::new(&with_limits(&base, Duration::from_millis(300), Duration::from_secs(3), 3));
    proxy.add_rule(Rule::nth("sns:Publish", 1, Action::Stall));
    let phone = moto::unique_phone();
    publish(&sns, &phone, "retried").await.expect("the retry goes through");
    assert_eq!((proxy.calls("sns:Publish"), proxy.faults()), (2, 1));
    assert_eq!(texts(&phone), ["retried"]);
}

#[tokio::test]
async fn sns_throttling_and_server_errors_look_like_aws() {
    let proxy = proxy();
    let sns = aws_sdk_sns::Client::new(&through(&proxy).await);
    let phone = moto::unique_phone();

    proxy.add_rule(Rule::nth("sns:Publish", 1, Action::Throttle));
    let error = publish(&sns, &phone, "throttled").await.expect_err("throttled");
    assert_eq!(error.code(), Some("Throttling"), "{error:?}");
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(400));
    let classified = classify("Publish", &error);
    assert!(classified.is_transient(), "{classified}");
    proxy.clear_rules();

    for (action, status, code) in
        [(Action::ServerError, 500, "InternalError"), (Action::ServiceUnavailable, 503, "ServiceUnavailable")]
    {
        proxy.add_rule(Rule::nth("sns:Publish", 1, action));
        let error = publish(&sns, &phone, "failed").await.expect_err("server error");
        assert_eq!(error.code(), Some(code));
        assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(status));
        assert!(classify("Publish", &error).is_transient());
        proxy.clear_rules();
    }
    assert!(texts(&phone).is_empty(), "no faulted call reached moto");

    // The SDK's own retry classifier treats it as retryable: two throttles,
    // then the third attempt goes through.
    let base = proxy.sdk_config(&moto::sdk_config().await);
    let retrying = aws_sdk_sns::Client::new(&with_limits(&base, Duration::from_secs(1), Duration::from_secs(5), 3));
    proxy.add_rule(Rule::range("sns:Publish", 1, 2, Action::Throttle));
    let before = proxy.calls("sns:Publish");
    publish(&retrying, &phone, "after two throttles").await.expect("retried past the throttling");
    assert_eq!(proxy.calls("sns:Publish") - before, 3);
    assert_eq!(texts(&phone), ["after two throttles"]);
    assert_eq!(proxy.faults(), 5);
}

#[tokio::test]
async fn every_nth_and_range_rules_pick_their_calls() {
    let proxy = proxy();
    let sns = aws_sdk_sns::Client::new(&through(&proxy).await);
    let phone = moto::unique_phone();
    proxy.add_rule(Rule::every_nth("sns:Publish", 2, Duration::from_secs(10), Action::Throttle));
    let mut outcomes = Vec::new();
    for i in 1..=4 {
        outcomes.push(publish(&sns, &phone, &format!("half {i}")).await.is_ok());
    }
    assert_eq!(outcomes, [true, false, true, false]);
    proxy.clear_rules();

    proxy.add_rule(Rule::range("sns:Publish", 2, 2, Action::ServerError));
    let mut outcomes = Vec::new();
    for i in 1..=4 {
        outcomes.push(publish(&sns, &phone, &format!("range {i}")).await.is_ok());
    }
    assert_eq!(outcomes, [true, false, false, true]);
    assert_eq!(texts(&phone), ["half 1", "half 3", "range 1", "range 4"]);
    assert_eq!(proxy.faults(), 4);
    // Keep-alive: the SDK sent everything over fewer connections than calls.
    assert!(proxy.connections() < proxy.calls("sns:Publish"), "{} connections", proxy.connections());
}

#[tokio::test]
async fn sqs_throttling_server_errors_and_lost_responses() {
    let proxy = proxy();
    let direct = aws_sdk_sqs::Client::new(&moto::sdk_config().await);
    let url = moto::create_fifo_queue(&direct, "faults_kit").await;
    let sqs = aws_sdk_sqs::Client::new(&through(&proxy).await);
    let entry = |id: &str| {
        aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
            .id(id)
            .message_body(format!("batch {id}"))
            .message_group_id("g")
            .message_deduplication_id(unique_name("d"))
            .build()
            .unwrap()
    };
    let send = |body: &'static str| {
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .message_group_id("g")
            .message_deduplication_id(unique_name("d"))
            .send()
    };

    proxy.add_rule(Rule::nth("sqs:SendMessageBatch", 1, Action::Throttle));
    let error = sqs.send_message_batch().queue_url(&url).entries(entry("1")).send().await.expect_err("throttled");
    assert_eq!(error.code(), Some("RequestThrottled"), "{error:?}");
    assert!(error.as_service_error().is_some_and(|e| e.is_request_throttled()), "the SDK's modelled error");
    assert!(classify("SendMessageBatch", &error).is_transient());

    proxy.add_rule(Rule::nth("sqs:SendMessage", 1, Action::ServerError));
    let error = send("server error").await.expect_err("500");
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(500));
    assert_eq!(error.code(), Some("InternalFailure"));
    assert!(classify("SendMessage", &error).is_transient());

    // Lost response: moto has the message, the client got an error. (Rules
    // count from when they are added: this is the next SendMessage.)
    proxy.add_rule(Rule::nth("sqs:SendMessage", 1, Action::DropAfterForward));
    let error = send("response lost").await.expect_err("no response");
    assert!(matches!(error, SdkError::DispatchFailure(_) | SdkError::ResponseError(_)), "{error:?}");
    assert!(classify("SendMessage", &error).is_transient());

    proxy.add_rule(Rule::nth("sqs:GetQueueAttributes", 1, Action::Delay(Duration::from_millis(200))));
    let started = Instant::now();
    sqs.get_queue_attributes().queue_url(&url).send().await.expect("delayed, then answered");
    assert!(started.elapsed() >= Duration::from_millis(200));
    sqs.send_message_batch().queue_url(&url).entries(entry("2")).send().await.expect("batch after the throttle");

    let bodies: Vec<String> = moto::drain_queue(&direct, &url).await.into_iter().map(|m| m.body).collect();
    assert_eq!(bodies, ["response lost", "batch 2"]);
    assert_eq!(proxy.calls("sqs:SendMessage"), 2);
    assert_eq!(proxy.calls("sqs:SendMessageBatch"), 2);
    assert_eq!(proxy.calls("sqs:GetQueueAttributes"), 1);
    assert_eq!(proxy.faults(), 4);
}

#[tokio::test]
async fn the_sdk_retries_a_lost_response_so_moto_sees_the_call_twice() {
    let proxy = proxy();
    let direct = aws_sdk_sqs::Client::new(&moto::sdk_config().await);
    let url = moto::create_fifo_queue(&direct, "faults_kit_lost").await;
    let base = proxy.sdk_config(&moto::sdk_config().await);
    let sqs = aws_sdk_sqs::Client::new(&with_limits(&base, Duration::from_secs(1), Duration::from_secs(3), 3));
    proxy.add_rule(Rule::nth("sqs:SendMessage", 1, Action::DropAfterForward));
    let sent = sqs
        .send_message()
        .queue_url(&url)
        .message_body("once")
        .message_group_id("g")
        .message_deduplication_id(unique_name("d"))
        .send()
        .await;
    assert!(sent.is_ok(), "the retry got an answer: {sent:?}");
    assert_eq!((proxy.calls("sqs:SendMessage"), proxy.faults()), (2, 1), "sent twice");
    // Same deduplication id on both attempts: one copy delivered.
    assert_eq!(moto::drain_queue(&direct, &url).await.len(), 1);
}

#[tokio::test]
async fn ses_throttling_is_429_too_many_requests() {
    let proxy = proxy();
    let config = through(&proxy).await;
    let ses = aws_sdk_sesv2::Client::new(&config);
    let from = format!("{}@example.com", unique_name("from"));
    let to = format!("{}@example.com", unique_name("to"));
    ses.create_email_identity().email_identity(&from).send().await.expect("verify sender in moto");
    let send = || {
        use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
        let text = Content::builder().data("hello").build().unwrap();
        let message = Message::builder().subject(text.clone()).body(Body::builder().text(text).build()).build();
        ses.send_email()
            .from_email_address(&from)
            .destination(Destination::builder().to_addresses(&to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
    };

    proxy.add_rule(Rule::nth("ses:SendEmail", 1, Action::Throttle));
    let error = send().await.expect_err("throttled");
    assert_eq!(error.code(), Some("TooManyRequestsException"), "{error:?}");
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(429));
    assert!(error.as_service_error().is_some_and(|e| e.is_too_many_requests_exception()));
    assert!(classify("SendEmail", &error).is_transient());

    proxy.add_rule(Rule::nth("ses:SendEmail", 1, Action::ServiceUnavailable));
    let error = send().await.expect_err("503");
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(503));
    assert!(classify("SendEmail", &error).is_transient());

    send().await.expect("sent once the faults are past");
    assert_eq!(moto::emails_to(&to).len(), 1);
    assert_eq!(proxy.calls("ses:CreateEmailIdentity"), 1);
    assert_eq!(proxy.calls("ses:SendEmail"), 3);
}

#[tokio::test]
async fn operations_are_named_as_the_sdk_sends_them() {
    let proxy = proxy();
    let config = through(&proxy).await;
    let sns = aws_sdk_sns::Client::new(&config);
    sns.check_if_phone_number_is_opted_out().phone_number(moto::unique_phone()).send().await.expect("opt-out check");
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    let name = unique_name("secret");
    secrets.create_secret().name(&name).secret_string("{}").send().await.expect("create secret");
    secrets.get_secret_value().secret_id(&name).send().await.expect("get secret");
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&config);
    cognito.list_user_pools().max_results(1).send().await.expect("list user pools");
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    logs.describe_log_groups().limit(1).send().await.expect("describe log groups");
    let sqs = aws_sdk_sqs::Client::new(&config);
    sqs.list_queues().send().await.expect("list queues");

    let calls = proxy.all_calls();
    for operation in [
        "sns:CheckIfPhoneNumberIsOptedOut",
        "secretsmanager:CreateSecret",
        "secretsmanager:GetSecretValue",
        "cognito-idp:ListUserPools",
        "logs:DescribeLogGroups",
        "sqs:ListQueues",
    ] {
        assert_eq!(calls.get(operation), Some(&1), "{operation} in {calls:?}");
    }
    assert_eq!(calls.len(), 6, "{calls:?}");

    // Cognito's throttling is TooManyRequestsException, others' ThrottlingException.
    proxy.add_rule(Rule::nth("cognito-idp:ListUserPools", 1, Action::Throttle));
    let error = cognito.list_user_pools().max_results(1).send().await.expect_err("throttled");
    assert_eq!(error.code(), Some("TooManyRequestsException"));
    proxy.add_rule(Rule::nth("secretsmanager:*", 1, Action::Throttle));
    let error = secrets.get_secret_value().secret_id(&name).send().await.expect_err("throttled");
    assert_eq!(error.code(), Some("ThrottlingException"));
    assert!(classify("GetSecretValue", &error).is_transient());
}

/// A one-request upstream that answers close-delimited (no Content-Length)
/// and hands back the bytes it received.
async fn close_delimited_upstream() -> (String, tokio::task::JoinHandle<Vec<u8>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut received = Vec::new();
        let mut chunk = [0u8; 1024];
        for _ in 0..1000 {
            let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut chunk)).await.unwrap().unwrap();
            received.extend_from_slice(&chunk[..n]);
            if n == 0 || received.ends_with(b"0\r\n\r\n") {
                break;
            }
        }
        socket.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close").await.unwrap();
        received
    });
    (url, task)
}

#[tokio::test]
async fn chunked_requests_and_close_delimited_responses_pass_through() {
    let (upstream, received) = close_delimited_upstream().await;
    let proxy = HttpFaultProxy::start(&upstream);
    let request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
        Authorization: AWS4-HMAC-SHA256 Credential=test/20250101/eu-central-1/sns/aws4_request, SignedHeaders=host, Signature=0\r\n\
        Transfer-Encoding: chunked\r\n\r\n7\r\nAction=\r\n7\r\nPublish\r\n9\r\n&Message=\r\n0\r\n\r\n";
    let mut client = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    client.write_all(request).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut response)).await.unwrap().unwrap();
    let response = String::from_utf8(response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK") && response.ends_with("\r\n\r\nuntil close"), "{response}");
    assert_eq!(received.await.unwrap(), request, "forwarded byte for byte");
    assert_eq!(proxy.calls("sns:Publish"), 1, "the operation read from the chunked body");

    // The same request throttled: answered by the proxy, and kept alive.
    proxy.add_rule(Rule::always("sns:Publish", Action::Throttle));
    let mut client = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    for _ in 0..2 {
        client.write_all(request).await.unwrap();
        let mut answer = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), client.read(&mut answer)).await.unwrap().unwrap();
        let answer = String::from_utf8_lossy(&answer[..n]);
        assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
        assert!(answer.contains("<Code>Throttling</Code>"), "{answer}");
    }
    assert_eq!((proxy.calls("sns:Publish"), proxy.faults(), proxy.connections()), (3, 2, 2));
}

async fn pg(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio::time::timeout(Duration::from_secs(5), tokio_postgres::connect(url, NoTls))
        .await
        .expect("connecting is bounded")?;
    tokio::spawn(connection);
    Ok(client)
}

async fn one(client: &tokio_postgres::Client) -> Result<i32, tokio_postgres::Error> {
    client.query_one("SELECT 1", &[]).await.map(|row| row.get(0))
}

#[tokio::test]
async fn tcp_proxy_cuts_refuses_and_stalls_postgres_connections() {
    let url = required_env("DATABASE_URL");
    let proxy = TcpFaultProxy::start(socket_addr_of(&url, 5432));
    let proxied = proxy.redirect(&url);

    let client = pg(&proxied).await.expect("connect through the proxy");
    assert_eq!(one(&client).await.unwrap(), 1);
    assert_eq!(proxy.cut_all(), 1, "one connection was open");
    let error = one(&client).await.expect_err("the connection is gone");
    assert!(error.is_closed() || error.to_string().contains("connection"), "{error}");

    proxy.refuse_for(Duration::from_millis(600));
    let started = Instant::now();
    assert!(pg(&proxied).await.is_err(), "refused while the window lasts");
    assert!(started.elapsed() < Duration::from_secs(1), "refused at once");
    assert!(proxy.refused() >= 1);
    tokio::time::sleep(Duration::from_millis(700).saturating_sub(started.elapsed())).await;
    let client = pg(&proxied).await.expect("a new connection works after the window");
    assert_eq!(one(&client).await.unwrap(), 1);

    proxy.stall(true);
    let stalled = tokio::time::timeout(Duration::from_millis(300), one(&client)).await;
    assert!(stalled.is_err(), "no answer while stalled");
    proxy.stall(false);
    let answered = tokio::time::timeout(Duration::from_secs(3), one(&client)).await;
    assert_eq!(answered.expect("answers again").unwrap(), 1);
    assert_eq!(proxy.open_connections(), 1);
}

fn pre_signup_event() -> (Value, String, String) {
    let mut event: Value = serde_json::from_str(PRE_SIGNUP).unwrap();
    let cognito_user_id = unique_name("sub");
    let email = format!("{}@example.com", unique_name("kit"));
    event["userName"] = json!(cognito_user_id);
    event["request"]["userAttributes"]["email"] = json!(email);
    (event, cognito_user_id, email)
}

async fn user_row(db: &TestDatabase, cognito_user_id: &str) -> Option<(String, bool)> {
    db.client()
        .await
        .query_opt("SELECT email, is_confirmed FROM users WHERE cognito_user_id = $1", &[&cognito_user_id])
        .await
        .unwrap()
        .map(|row| (row.get(0), row.get(1)))
}

#[tokio::test]
async fn a_real_handler_binary_runs_against_the_runtime_api() {
    let binary = function_binary("cognito-pre-signup");
    let db = TestDatabase::migrated().await;
    let api = RuntimeApi::start();
    let mut process = FunctionProcess::spawn(&binary, &api, &test_env(&db.url));

    let (event, cognito_user_id, email) = pre_signup_event();
    let outcome = invoke_like_lambda(&api, &mut process, event.clone(), Duration::from_secs(5)).await;
    assert!(!outcome.killed, "{}", process.log());
    assert_eq!(outcome.result, Ok(event), "the trigger hands the event back; log:\n{}", process.log());
    assert_eq!(user_row(&db, &cognito_user_id).await, Some((email, false)));

    // A warm second invocation on the same process, then a function error.
    let (event, cognito_user_id, _) = pre_signup_event();
    let outcome = invoke_like_lambda(&api, &mut process, event.clone(), Duration::from_secs(5)).await;
    assert_eq!(outcome.result, Ok(event));
    assert!(user_row(&db, &cognito_user_id).await.is_some());
    let outcome = invoke_like_lambda(&api, &mut process, json!({"not": "a trigger"}), Duration::from_secs(5)).await;
    let error = outcome.result.expect_err("refused");
    assert!(error.contains("NotThisTrigger"), "{error}");
    // The plain API: queue an invocation, wait for its outcome.
    let (event, _, _) = pre_signup_event();
    let invocation = api.invoke(event.clone(), Duration::from_secs(5));
    assert_eq!(invocation.wait(Duration::from_secs(5)).await, Ok(event));
    assert!(invocation.deadline().is_some());
    assert!(process.is_running());
    assert!(process.log().contains("sign-up recorded"), "{}", process.log());
}

#[tokio::test]
async fn a_function_past_its_deadline_is_killed() {
    let binary = function_binary("cognito-pre-signup");
    let db = TestDatabase::migrated().await;
    // The database through a proxy that will stall: the handler cannot finish.
    let postgres = TcpFaultProxy::start(socket_addr_of(&db.url, 5432));
    let api = RuntimeApi::start();
    let mut process = FunctionProcess::spawn(&binary, &api, &test_env(&postgres.redirect(&db.url)));
    let (event, _, _) = pre_signup_event();
    let warm = invoke_like_lambda(&api, &mut process, event, Duration::from_secs(5)).await;
    assert!(warm.result.is_ok(), "{:?}\n{}", warm.result, process.log());

    postgres.stall(true);
    let (event, cognito_user_id, _) = pre_signup_event();
    let outcome = invoke_like_lambda(&api, &mut process, event, Duration::from_millis(300)).await;
    assert!(outcome.killed, "{outcome:?}");
    assert_eq!(outcome.result, Err("Task timed out after 0.30 seconds".to_owned()));
    assert!(outcome.duration >= Duration::from_millis(250) && outcome.duration < Duration::from_secs(2), "{outcome:?}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(process.exit_status().and_then(|s| s.signal()), Some(9), "SIGKILLed");
    assert!(!process.is_running());
    // Still stalled: the statement it sent never reached PostgreSQL.
    assert_eq!(user_row(&db, &cognito_user_id).await, None);
}

#[tokio::test]
async fn a_function_that_cannot_start_is_reported() {
    let binary = function_binary("cognito-pre-signup");
    let api = RuntimeApi::start();
    // No database configured: the cold start fails and the process exits.
    let mut process = FunctionProcess::spawn(&binary, &api, &[]);
    let outcome = invoke_like_lambda(&api, &mut process, json!({}), Duration::from_secs(5)).await;
    let error = outcome.result.expect_err("never answered");
    assert!(error.contains("exited during init") || error.starts_with("init error"), "{error}");
    assert!(!outcome.killed);
}

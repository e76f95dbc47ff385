//! moto's server: the local AWS endpoint, and its record of what was really
//! sent (`GET /moto-api/data.json`), which tests assert on.

use crate::required_env;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;

/// The SDK configuration the handlers would load, pointed at moto.
pub async fn sdk_config() -> torium_aws::SdkConfig {
    required_env("AWS_ENDPOINT_URL");
    required_env("AWS_REGION");
    torium_aws::load_sdk_config().await
}

/// Everything moto recorded, across services, accounts and regions.
pub fn recorded() -> Value {
    let endpoint = required_env("AWS_ENDPOINT_URL");
    let body = http_get(&endpoint, "/moto-api/data.json");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("moto's data.json is not JSON: {e}"))
}

/// The records of one model (e.g. `("sns", "SMS")`, `("ses", "Message")`).
pub fn recorded_models(service: &str, model: &str) -> Vec<Value> {
    match &recorded()[service][model] {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => panic!("unexpected moto record for {service}.{model}: {other}"),
    }
}

/// A plain HTTP/1.0 GET on loopback (no chunking, body until close).
fn http_get(endpoint: &str, path: &str) -> String {
    let authority =
        endpoint.strip_prefix("http://").unwrap_or_else(|| panic!("moto endpoint {endpoint} is not http://"));
    let authority = authority.trim_end_matches('/');
    let mut stream = TcpStream::connect(authority)
        .unwrap_or_else(|e| panic!("cannot reach moto at {endpoint} ({e}); run the suite with `make test`"));
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n").expect("request to moto");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response from moto");
    let (head, body) = response.split_once("\r\n\r\n").expect("HTTP response from moto");
    assert!(head.starts_with("HTTP/1.") && head.contains(" 200 "), "moto answered {head}");
    body.to_owned()
}

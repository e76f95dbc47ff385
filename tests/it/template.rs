//! `template.yaml` (the SAM template that deploys the suite) checked against the
//! code, without AWS: every function package is deployed, every environment
//! variable the code reads is set, every queue a function sends to is declared
//! and granted, every queue is FIFO with a dead-letter queue and consumed with
//! partial batch responses, no IAM statement has a `*` action, and the three
//! queues the existing HTTP API sends to accept its messages (content-based
//! deduplication) under their stack-prefixed names or, with `ApiQueueNames`,
//! the names the API has hard-coded.
//!
//! The template's short-form tags (`!Ref X`, `!GetAtt A.B`, `!Sub …`, `!If […]`)
//! are read into their long form (`{"Ref": X}`, `{"Fn::GetAtt": [A, B]}`, …), the
//! shape CloudFormation itself works on.

use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Read by the code but never set by the template: `DATABASE_URL` (deployed
/// functions get `DB_SECRET_ARN` instead of a URL with a password in it),
/// and what Lambda itself sets in every function's environment.
const NOT_SET_BY_TEMPLATE: [&str; 2] = ["DATABASE_URL", "AWS_LAMBDA_FUNCTION_NAME"];

/// Actions that have no resource types (or, for SMS, no ARN to name), so a
/// statement may allow them on `"*"`.
const ACTIONS_WITHOUT_RESOURCES: [&str; 5] = [
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "sns:ListPhoneNumbersOptedOut",
    "sns:Publish",
    // An account setting (SMS delivery-status logging), set by ProviderReportsSettings.
    "sns:SetSMSAttributes",
];

/// The queues the existing HTTP API sends to (contracts §2): logical id, the
/// name after `<stack>-` by default, and the name the API has hard-coded. It
/// sends no deduplication id, so these have content-based deduplication.
const API_QUEUES: [(&str, &str, &str); 3] = [
    ("ScheduleNotificationsQueue", "schedule-notifications.fifo", "schedule-notifications-queue.fifo"),
    ("GroupInvitationQueue", "group-invitation.fifo", "send_push_group_invitation-queue.fifo"),
    ("CommentPushQueue", "comment-push.fifo", "schedule-push-notification-comments-queue.fifo"),
];

/// The standard (not FIFO) queues: comment digest flushes need a
/// per-message delay, which FIFO queues do not take; a duplicate flush
/// changes nothing. A standard queue's dead-letter queue is standard too.
const STANDARD_QUEUES: [&str; 3] = ["CommentDigestQueue", "CommentDigestDeadLetterQueue", "DeliveryEventsFailedQueue"];

/// Queues a function's asynchronous invocations fail into (Lambda's
/// on-failure destination): kept for a redrive by hand, no consumer.
const FAILURE_DESTINATIONS: [&str; 1] = ["DeliveryEventsFailedQueue"];

/// The parameter that gives those three queues the API's names, and its values.
const API_QUEUE_NAMES_PARAMETER: &str = "ApiQueueNames";
const STACK_PREFIXED: &str = "stack-prefixed";
const API_NAMES: &str = "torium-api";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

// ---------------------------------------------------------------------------
// Reading the template
// ---------------------------------------------------------------------------

struct Template {
    doc: Value,
}

impl Template {
    fn load() -> Template {
        let path = workspace().join("template.yaml");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("template.yaml is valid YAML");
        Template { doc: long_form(yaml) }
    }

    fn resources(&self) -> &Map<String, Value> {
        self.doc["Resources"].as_object().expect("Resources")
    }

    fn resource(&self, id: &str) -> &Value {
        self.resources().get(id).unwrap_or_else(|| panic!("no resource {id}"))
    }

    fn of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a String, &'a Value)> + 'a {
        self.resources().iter().filter(move |(_, r)| r["Type"] == kind)
    }

    fn functions(&self) -> Vec<Function<'_>> {
        self.of_type("AWS::Serverless::Function")
            .map(|(id, r)| Function { id, props: &r["Properties"], res: r })
            .collect()
    }

    fn globals(&self) -> &Value {
        &self.doc["Globals"]["Function"]
    }

    /// Every IAM statement of the template, with where it is.
    fn statements(&self) -> Vec<(String, &Value)> {
        let mut out = Vec::new();
        for (id, r) in self.resources() {
            let p = &r["Properties"];
            let docs: Vec<&Value> = match r["Type"].as_str().unwrap_or("") {
                "AWS::IAM::Role" => {
                    p["Policies"].as_array().into_iter().flatten().map(|x| &x["PolicyDocument"]).collect()
                }
                "AWS::IAM::ManagedPolicy" | "AWS::IAM::Policy" | "AWS::IAM::RolePolicy" => vec![&p["PolicyDocument"]],
                // SAM inline policies, should a function ever use them again
                "AWS::Serverless::Function" => p["Policies"].as_array().into_iter().flatten().collect(),
                _ => vec![],
            };
            for doc in docs {
                for s in branches(&doc["Statement"]) {
                    out.push((id.clone(), s));
                }
            }
        }
        out
    }

    /// Statements that apply to a function: its role's inline policies, the
    /// template's managed policies it attaches, and role policies naming its role.
    fn statements_of(&self, f: &Function) -> Vec<&Value> {
        let role = f.role_id();
        let role_res = self.resource(&role);
        let mut sources: BTreeSet<String> = BTreeSet::from([role.clone()]);
        for arn in role_res["Properties"]["ManagedPolicyArns"].as_array().into_iter().flatten().flat_map(branches) {
            if let Some(id) = arn["Ref"].as_str() {
                sources.insert(id.to_owned());
            }
        }
        for (id, r) in self.of_type("AWS::IAM::RolePolicy") {
            if r["Properties"]["RoleName"]["Ref"] == role.as_str() {
                sources.insert(id.clone());
            }
        }
        self.statements().into_iter().filter(|(id, _)| sources.contains(id)).map(|(_, s)| s).collect()
    }

    fn queue_timeout_of(&self, f: &Function) -> i64 {
        f.props["Timeout"].as_i64().or_else(|| self.globals()["Timeout"].as_i64()).expect("a numeric Timeout")
    }
}

struct Function<'a> {
    id: &'a str,
    props: &'a Value,
    res: &'a Value,
}

impl Function<'_> {
    /// `functions/<dir>` → `<dir>`
    fn package_dir(&self) -> &str {
        let uri = self.props["CodeUri"].as_str().unwrap_or_else(|| panic!("{}: CodeUri is not a path", self.id));
        uri.trim_end_matches('/').strip_prefix("functions/").unwrap_or_else(|| panic!("{}: CodeUri {uri}", self.id))
    }

    fn role_id(&self) -> String {
        let att = &self.props["Role"]["Fn::GetAtt"];
        assert_eq!(att[1], "Arn", "{}: Role must be !GetAtt <its role>.Arn, not SAM's generated role", self.id);
        att[0].as_str().unwrap().to_owned()
    }

    fn env<'t>(&'t self, globals: &'t Value) -> BTreeMap<&'t str, &'t Value> {
        let mut vars = BTreeMap::new();
        for source in [&globals["Environment"]["Variables"], &self.props["Environment"]["Variables"]] {
            for (k, v) in source.as_object().into_iter().flatten() {
                vars.insert(k.as_str(), v);
            }
        }
        vars
    }

    fn sqs_events(&self) -> Vec<(&str, &Value)> {
        self.props["Events"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, e)| e["Type"] == "SQS")
            .map(|(name, e)| (name.as_str(), &e["Properties"]))
            .collect()
    }
}

/// YAML with CloudFormation's short-form tags → JSON in long form.
fn long_form(v: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => json!(b),
        Y::Number(n) => serde_json::to_value(&n).unwrap(),
        Y::String(s) => json!(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(long_form).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k.as_str().map(str::to_owned).unwrap_or_else(|| format!("{k:?}")), long_form(v)))
                .collect(),
        ),
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let tag = tag.trim_start_matches('!');
            let value = long_form(t.value);
            let (key, value) = match tag {
                "Ref" | "Condition" => (tag.to_owned(), value),
                "GetAtt" => {
                    let value = match value {
                        Value::String(s) => {
                            let (res, att) = s.split_once('.').expect("!GetAtt Resource.Attribute");
                            json!([res, att])
                        }
                        other => other,
                    };
                    ("Fn::GetAtt".to_owned(), value)
                }
                other => (format!("Fn::{other}"), value),
            };
            json!({ key: value })
        }
    }
}

/// A value, or each branch of a `Fn::If` (recursively), without `AWS::NoValue`;
/// a list is flattened the same way, item by item.
fn branches(v: &Value) -> Vec<&Value> {
    if let Some([_, yes, no]) = v.get("Fn::If").and_then(Value::as_array).map(Vec::as_slice) {
        return [yes, no].into_iter().flat_map(branches).collect();
    }
    if v["Ref"] == "AWS::NoValue" {
        return vec![];
    }
    match v {
        Value::Array(items) => items.iter().flat_map(branches).collect(),
        other => vec![other],
    }
}

/// Whether a value may be left unset (`AWS::NoValue` in some branch of `Fn::If`).
fn may_be_unset(v: &Value) -> bool {
    match v.get("Fn::If").and_then(Value::as_array).map(Vec::as_slice) {
        Some([_, yes, no]) => may_be_unset(yes) || may_be_unset(no),
        _ => v["Ref"] == "AWS::NoValue",
    }
}

/// The logical ids named by `Ref` anywhere inside a value.
fn refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(id)) = m.get("Ref") {
                out.insert(id.clone());
            }
            m.values().for_each(|x| refs(x, out));
        }
        Value::Array(items) => items.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

fn strings(v: &Value) -> Vec<&str> {
    branches(v).into_iter().filter_map(Value::as_str).collect()
}

fn get_att_arn(id: &str) -> Value {
    json!({ "Fn::GetAtt": [id, "Arn"] })
}

/// Whether an Allow statement among `statements` grants `action` on `resource`.
fn allows(statements: &[&Value], action: &str, resource: &Value) -> bool {
    statements.iter().any(|s| {
        s["Effect"] == "Allow"
            && strings(&s["Action"]).contains(&action)
            && branches(&s["Resource"]).into_iter().any(|r| r == resource)
    })
}

/// One deployment of the template: a stack name and the parameter values given
/// (the others take their defaults), enough to evaluate the template's
/// conditions and the names it builds from them, as CloudFormation would.
struct Deployment<'t> {
    template: &'t Template,
    stack: &'t str,
    parameters: BTreeMap<&'t str, &'t str>,
}

impl Deployment<'_> {
    fn parameter(&self, name: &str) -> String {
        if let Some(value) = self.parameters.get(name) {
            return (*value).to_owned();
        }
        let declared = &self.template.doc["Parameters"][name];
        assert!(declared.is_object(), "no parameter {name}");
        match &declared["Default"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => panic!("parameter {name} has no default and is not given"),
        }
    }

    fn condition(&self, name: &str) -> bool {
        let condition = &self.template.doc["Conditions"][name];
        assert!(!condition.is_null(), "no condition {name}");
        self.truth(condition)
    }

    fn truth(&self, v: &Value) -> bool {
        let args = |f: &str| v[f].as_array().unwrap_or_else(|| panic!("{f}: a list")).clone();
        if v.get("Fn::Equals").is_some() {
            let a = args("Fn::Equals");
            self.value(&a[0]) == self.value(&a[1])
        } else if v.get("Fn::Not").is_some() {
            !self.truth(&args("Fn::Not")[0])
        } else if v.get("Fn::And").is_some() {
            args("Fn::And").iter().all(|x| self.truth(x))
        } else if v.get("Fn::Or").is_some() {
            args("Fn::Or").iter().any(|x| self.truth(x))
        } else if let Some(name) = v["Condition"].as_str() {
            self.condition(name)
        } else {
            panic!("not a condition this test evaluates: {v}")
        }
    }

    /// A string value: literal, `Ref`, `Fn::If`, or `Fn::Sub` of references.
    fn value(&self, v: &Value) -> String {
        if let Some(s) = v.as_str() {
            return s.to_owned();
        }
        if let Some(name) = v["Ref"].as_str() {
            return self.reference(name);
        }
        if let Some([condition, yes, no]) = v.get("Fn::If").and_then(Value::as_array).map(Vec::as_slice) {
            let condition = condition.as_str().expect("Fn::If names a condition");
            return self.value(if self.condition(condition) { yes } else { no });
        }
        if let Some(text) = v["Fn::Sub"].as_str() {
            let mut out = String::new();
            let mut rest = text;
            while let Some(at) = rest.find("${") {
                out.push_str(&rest[..at]);
                let end = rest[at..].find('}').map(|e| at + e).expect("${ without }");
                out.push_str(&self.reference(&rest[at + 2..end]));
                rest = &rest[end + 1..];
            }
            out.push_str(rest);
            return out;
        }
        panic!("not a value this test evaluates: {v}")
    }

    fn reference(&self, name: &str) -> String {
        match name {
            "AWS::StackName" => self.stack.to_owned(),
            "AWS::Region" => "eu-central-1".to_owned(),
            "AWS::AccountId" => "123456789012".to_owned(),
            "AWS::Partition" => "aws".to_owned(),
            _ => self.parameter(name),
        }
    }

    /// Every queue's name in this deployment, by logical id.
    fn queue_names(&self) -> BTreeMap<String, String> {
        self.template
            .of_type("AWS::SQS::Queue")
            .map(|(id, r)| (id.clone(), self.value(&r["Properties"]["QueueName"])))
            .collect()
    }
}

/// Every string inside a value, with where it is (a path of keys).
fn all_strings(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) => out.push((at.to_owned(), s.clone())),
        Value::Array(items) => items.iter().enumerate().for_each(|(i, x)| all_strings(x, &format!("{at}[{i}]"), out)),
        Value::Object(m) => m.iter().for_each(|(k, x)| all_strings(x, &format!("{at}.{k}"), out)),
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Reading the code
// ---------------------------------------------------------------------------

fn function_packages() -> BTreeSet<String> {
    std::fs::read_dir(workspace().join("functions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// A function package and the `crates/<x>` directories it depends on
/// (`torium-<x>`), plus `crates/runtime`, where the database settings are read.
fn sources_of(package_dir: &Path) -> BTreeSet<PathBuf> {
    let manifest = std::fs::read_to_string(package_dir.join("Cargo.toml")).unwrap();
    let mut dirs = BTreeSet::from([package_dir.to_path_buf(), workspace().join("crates/runtime")]);
    for line in manifest.lines() {
        if let Some(rest) = line.trim().strip_prefix("torium-") {
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            let dir = workspace().join("crates").join(name);
            if dir.is_dir() {
                dirs.insert(dir);
            }
        }
    }
    dirs
}

fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Variable names read through `Env::required/optional/parsed_or("NAME"…)`,
/// outside `#[cfg(test)]` code (by convention at the end of a file).
fn env_reads(dirs: &BTreeSet<PathBuf>) -> BTreeMap<String, bool> {
    let mut reads = BTreeMap::new(); // name → read with `required`
    for dir in dirs {
        let mut files = Vec::new();
        rust_sources(&dir.join("src"), &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            for (call, required) in [("required(\"", true), ("optional(\"", false), ("parsed_or(\"", false)] {
                for (at, _) in code.match_indices(call) {
                    let name: String = code[at + call.len()..].chars().take_while(|c| *c != '"').collect();
                    if name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') {
                        *reads.entry(name).or_insert(false) |= required;
                    }
                }
            }
        }
    }
    reads
}

// ---------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------

#[test]
fn template_deploys_every_function_package() {
    let t = Template::load();
    let functions = t.functions();
    let deployed: BTreeMap<&str, &str> = functions.iter().map(|f| (f.package_dir(), f.id)).collect();
    assert_eq!(deployed.len(), functions.len(), "two functions share a CodeUri");

    for package in function_packages() {
        assert!(deployed.contains_key(package.as_str()), "functions/{package} has no AWS::Serverless::Function");
    }
    for f in &functions {
        let dir = f.package_dir();
        let exists = workspace().join("functions").join(dir).join("Cargo.toml").is_file();
        assert!(exists, "{}: CodeUri functions/{dir} is not a package", f.id);
        assert_eq!(f.res["Metadata"]["BuildMethod"], "rust-cargolambda", "{}: Metadata.BuildMethod", f.id);
        for (key, expected) in [
            ("Runtime", json!("provided.al2023")),
            ("Handler", json!("bootstrap")),
            ("Architectures", json!(["arm64"])),
        ] {
            let value = f.props.get(key).unwrap_or(&t.globals()[key]);
            assert_eq!(value, &expected, "{}: {key}", f.id);
        }
    }
    assert_eq!(t.globals()["LoggingConfig"]["LogFormat"], "JSON");
    assert_eq!(t.globals()["Tracing"], "Active");
}

#[test]
fn template_sets_every_variable_the_code_reads() {
    let t = Template::load();
    let globals = t.globals();
    for f in t.functions() {
        let dir = workspace().join("functions").join(f.package_dir());
        let env = f.env(globals);
        for (name, required) in env_reads(&sources_of(&dir)) {
            if NOT_SET_BY_TEMPLATE.contains(&name.as_str()) {
                continue;
            }
            let value = env.get(name.as_str()).unwrap_or_else(|| {
                panic!("{} ({}) reads {name}, which the template does not set", f.id, f.package_dir())
            });
            assert!(!(required && may_be_unset(value)), "{}: {name} is required but may be left unset", f.id);
        }
        assert!(env.contains_key("DB_SECRET_ARN"), "{}: DB_SECRET_ARN", f.id);
    }
}

#[test]
fn template_declares_and_grants_every_queue_a_function_is_given() {
    let t = Template::load();
    for f in t.functions() {
        let statements = t.statements_of(&f);
        for (name, value) in f.env(t.globals()) {
            // A queue URL or a dead-letter queue URL is for sending (poison is
            // set aside there); a list of dead-letter queues is watched.
            let sends = name.ends_with("_QUEUE_URL") || name.ends_with("_DLQ_URL");
            if !(sends || name.ends_with("_URLS") && name.contains("DLQ")) {
                continue;
            }
            let mut ids = BTreeSet::new();
            refs(value, &mut ids);
            assert!(!ids.is_empty(), "{}: {name} names no queue", f.id);
            for id in ids {
                let kind = &t.resource(&id)["Type"];
                assert_eq!(kind, "AWS::SQS::Queue", "{}: {name} refers to {id}, not a queue", f.id);
                let action = if sends { "sqs:SendMessage" } else { "sqs:GetQueueAttributes" };
                assert!(allows(&statements, action, &get_att_arn(&id)), "{}: {name} but no {action} on {id}", f.id);
            }
        }
    }
}

#[test]
fn template_queues_are_fifo_with_dead_letter_queues_and_partial_batch_responses() {
    let t = Template::load();
    let queues: BTreeMap<&String, &Value> =
        t.of_type("AWS::SQS::Queue").map(|(id, r)| (id, &r["Properties"])).collect();
    let mut dead_letter_queues = BTreeSet::new();
    let mut consumed = BTreeMap::new();

    for f in t.functions() {
        let statements = t.statements_of(&f);
        for (event, p) in f.sqs_events() {
            let queue = p["Queue"]["Fn::GetAtt"][0].as_str().expect("Queue: !GetAtt <queue>.Arn").to_owned();
            let what = format!("{}.{event}", f.id);
            assert!(
                strings(&p["FunctionResponseTypes"]).contains(&"ReportBatchItemFailures"),
                "{what}: FunctionResponseTypes [ReportBatchItemFailures]"
            );
            let batch = p["BatchSize"].as_i64().unwrap_or_else(|| panic!("{what}: an explicit BatchSize"));
            assert!((1..=10).contains(&batch), "{what}: a FIFO batch is 1 to 10 messages");
            let visibility = queues[&queue]["VisibilityTimeout"].as_i64().expect("VisibilityTimeout");
            let timeout = t.queue_timeout_of(&f);
            assert!(visibility >= 6 * timeout, "{queue}: visibility {visibility} s < 6 x {} timeout {timeout} s", f.id);
            for action in ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"] {
                assert!(allows(&statements, action, &get_att_arn(&queue)), "{}: no {action} on {queue}", f.id);
            }
            assert!(consumed.insert(queue.clone(), f.id).is_none(), "{queue} has two consumers");
        }
    }
    for (id, p) in &queues {
        let fifo = !STANDARD_QUEUES.contains(&id.as_str());
        assert_eq!(p["FifoQueue"] == true, fifo, "{id}: FifoQueue");
        // A name, or one per branch of `Fn::If` (see the ApiQueueNames test below).
        let names = branches(&p["QueueName"]);
        assert!(!names.is_empty(), "{id}: an explicit QueueName");
        for name in names {
            let name = name.as_str().or_else(|| name["Fn::Sub"].as_str()).expect("QueueName: a name or !Sub");
            assert_eq!(name.ends_with(".fifo"), fifo, "{id}: QueueName {name} (*.fifo exactly for FIFO queues)");
        }
        if let Some(redrive) = p.get("RedrivePolicy") {
            let dlq = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0].as_str().expect("deadLetterTargetArn: !GetAtt");
            assert!(queues.contains_key(&dlq.to_owned()), "{id}: dead-letter queue {dlq} is not declared");
            assert!(redrive["maxReceiveCount"].as_i64().is_some_and(|n| n >= 1), "{id}: maxReceiveCount");
            assert!(dead_letter_queues.insert(dlq.to_owned()), "{dlq} is the dead-letter queue of two queues");
        }
    }
    for id in FAILURE_DESTINATIONS {
        let destinations: Vec<&Value> = t
            .functions()
            .iter()
            .map(|f| &f.props["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"])
            .filter(|d| **d == get_att_arn(id))
            .collect();
        assert_eq!(destinations.len(), 1, "{id}: the on-failure destination of exactly one function");
    }
    for id in queues.keys() {
        let is_dlq = dead_letter_queues.contains(id.as_str()) || FAILURE_DESTINATIONS.contains(&id.as_str());
        assert!(is_dlq || queues[id].get("RedrivePolicy").is_some(), "{id} has no dead-letter queue");
        assert!(is_dlq || consumed.contains_key(id.as_str()), "{id} has no consumer");
        assert!(!(is_dlq && consumed.contains_key(id.as_str())), "dead-letter queue {id} is consumed");
    }
    assert_eq!(
        consumed.keys().cloned().collect::<BTreeSet<_>>(),
        [
            "ScheduleNotificationsQueue",
            "SendSmsQueue",
            "SendEmailQueue",
            "SendPushQueue",
            "GroupInvitationQueue",
            "CommentPushQueue",
            "CommentDigestQueue"
        ]
        .map(String::from)
        .into()
    );
}

#[test]
fn template_iam_has_no_wildcard_actions() {
    let t = Template::load();
    let statements = t.statements();
    assert!(!statements.is_empty());
    for (id, s) in statements {
        let actions = strings(&s["Action"]);
        assert!(!actions.is_empty(), "{id}: a statement without Action (NotAction is not used here)");
        for action in &actions {
            assert!(!action.contains('*'), "{id}: wildcard action {action}");
        }
        let everything = branches(&s["Resource"]).into_iter().any(|r| r == "*");
        if everything && s["Effect"] == "Allow" {
            for action in &actions {
                assert!(ACTIONS_WITHOUT_RESOURCES.contains(action), "{id}: {action} on \"*\"; name the resource");
            }
        }
    }
    for f in t.functions() {
        assert!(f.props.get("Policies").is_none(), "{}: use its own Role, not SAM Policies", f.id);
        f.role_id();
    }
}

#[test]
fn template_content_based_deduplication_is_on_exactly_for_the_queues_the_api_sends_to() {
    let t = Template::load();
    let api_queues: BTreeSet<&str> = API_QUEUES.iter().map(|(id, _, _)| *id).collect();
    let mut seen = BTreeSet::new();
    for (id, r) in t.of_type("AWS::SQS::Queue") {
        let p = &r["Properties"];
        let dedup = p.get("ContentBasedDeduplication");
        if api_queues.contains(id.as_str()) {
            // A plain `true`, whatever the parameters: the API never sends an id.
            assert_eq!(dedup, Some(&json!(true)), "{id}: the HTTP API sends no deduplication id");
            seen.insert(id.as_str());
            // Its dead-letter queue is FIFO like it (SQS requires it) and needs no
            // content-based deduplication: a moved message keeps an id (its message id).
            let dlq = p["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0].as_str().expect("a dead-letter queue");
            let dlq = &t.resource(dlq)["Properties"];
            assert_eq!(dlq["FifoQueue"], true, "{id}: a FIFO queue's dead-letter queue is FIFO");
            assert!(dlq.get("ContentBasedDeduplication").is_none_or(|d| d == false), "{id}'s dead-letter queue");
        } else {
            // Torium's own producers send explicit deduplication ids.
            assert!(dedup.is_none_or(|d| d == false), "{id}: content-based deduplication is off or absent");
        }
    }
    assert_eq!(seen, api_queues, "the queues the HTTP API sends to are declared");
}

#[test]
fn template_api_queue_names_parameter_gives_the_three_queues_the_apis_names() {
    let t = Template::load();
    let parameter = &t.doc["Parameters"][API_QUEUE_NAMES_PARAMETER];
    assert_eq!(parameter["Type"], "String", "{API_QUEUE_NAMES_PARAMETER}");
    assert_eq!(parameter["Default"], STACK_PREFIXED, "{API_QUEUE_NAMES_PARAMETER}: stack-prefixed names by default");
    assert_eq!(parameter["AllowedValues"], json!([STACK_PREFIXED, API_NAMES]), "{API_QUEUE_NAMES_PARAMETER}");

    let deploy = |stack, value: Option<&'static str>| {
        let parameters = value.map(|v| (API_QUEUE_NAMES_PARAMETER, v)).into_iter().collect();
        Deployment { template: &t, stack, parameters }.queue_names()
    };
    let default = deploy("torium", None);
    assert_eq!(default, deploy("torium", Some(STACK_PREFIXED)));
    let api = deploy("torium", Some(API_NAMES));
    for (id, name) in &default {
        let fifo = !STANDARD_QUEUES.contains(&id.as_str());
        assert!(name.starts_with("torium-") && name.ends_with(".fifo") == fifo, "{id}: {name} is not <stack>-*.fifo");
    }
    for (id, prefixed, hard_coded) in API_QUEUES {
        assert_eq!(default[id], format!("torium-{prefixed}"), "{id} by default");
        assert_eq!(api[id], hard_coded, "{id} with {API_QUEUE_NAMES_PARAMETER}={API_NAMES}");
    }
    for (id, name) in &default {
        if !API_QUEUES.iter().any(|(api_id, _, _)| *api_id == id.as_str()) {
            assert_eq!(&api[id], name, "{id} (dead-letter queues included) keeps its name with {API_NAMES}");
        }
    }

    // Valid SQS names (at most 80 characters, letters, digits, - and _), all
    // different, with a stack name as long as docs/deploy.md allows (40).
    let long_stack = "a-forty-character-stack-name-for-torium0";
    assert_eq!(long_stack.len(), 40);
    for value in [STACK_PREFIXED, API_NAMES] {
        let names = deploy(long_stack, Some(value));
        let distinct: BTreeSet<&String> = names.values().collect();
        assert_eq!(distinct.len(), names.len(), "two queues share a name with {value}: {names:?}");
        for (id, name) in &names {
            let base = match STANDARD_QUEUES.contains(&id.as_str()) {
                true => name.as_str(),
                false => name.strip_suffix(".fifo").unwrap_or_else(|| panic!("{id}: {name} is not *.fifo")),
            };
            assert!(name.len() <= 80, "{id}: {name} is longer than 80 characters");
            assert!(base.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{id}: {name}");
        }
    }

    // Whatever the names, everything else finds a queue through Ref / GetAtt
    // (event source mappings, policies, environment, alarms, outputs): no
    // queue name is spelt out anywhere but in the queues' own QueueName.
    let mut found = Vec::new();
    for (id, r) in t.resources() {
        let mut r = r.clone();
        if r["Type"] == "AWS::SQS::Queue" {
            r["Properties"].as_object_mut().unwrap().remove("QueueName");
        }
        all_strings(&r, &format!("Resources.{id}"), &mut found);
    }
    all_strings(&t.doc["Outputs"], "Outputs", &mut found);
    let spelt: Vec<_> = found.iter().filter(|(_, s)| s.contains(".fifo")).collect();
    assert!(spelt.is_empty(), "queue names spelt out instead of referenced: {spelt:?}");
}

/// The most concurrent instances of a function: its reserved concurrency,
/// or the maximum concurrency of its SQS event source.
fn concurrency_cap(deploy: &Deployment, f: &Function) -> Option<i64> {
    let reserved = f.props.get("ReservedConcurrentExecutions").map(|v| deploy.value_number(v));
    let scaling = f
        .sqs_events()
        .iter()
        .find_map(|(_, e)| e.get("ScalingConfig").map(|c| deploy.value_number(&c["MaximumConcurrency"])));
    reserved.or(scaling)
}

impl Deployment<'_> {
    /// A number: literal or a parameter's value.
    fn value_number(&self, v: &Value) -> i64 {
        match v {
            Value::Number(n) => n.as_i64().expect("an integer"),
            other => self.value(other).parse().unwrap_or_else(|_| panic!("not a number: {other}")),
        }
    }
}

#[test]
fn template_caps_every_function_so_database_connections_stay_under_the_budget() {
    let t = Template::load();
    let deploy = Deployment { template: &t, stack: "torium", parameters: BTreeMap::new() };
    let pool_size = deploy.value_number(&t.globals()["Environment"]["Variables"]["DB_POOL_SIZE"]);
    let budget: i64 = deploy.parameter("DatabaseMaxConnections").parse().unwrap();
    let mut total = 0;
    let mut per_function = Vec::new();
    for f in t.functions() {
        let cap = concurrency_cap(&deploy, &f).unwrap_or_else(|| panic!("{}: no concurrency cap", f.id));
        total += cap * pool_size;
        per_function.push(format!("{} {cap} x {pool_size}", f.id));
    }
    assert!(total <= budget, "worst case {total} connections over DatabaseMaxConnections {budget}: {per_function:?}");
    assert_eq!(total, 74, "the figure docs/deploy.md and the parameter's description give: {per_function:?}");
}

/// The metrics of our own namespace that a dashboard widget names: metric
/// rows (`[namespace, name, ...]`) and `SEARCH` expressions.
fn dashboard_metrics(body: &Value, namespace: &str, out: &mut BTreeSet<String>) {
    match body {
        Value::Array(row) if row.first().and_then(Value::as_str) == Some(namespace) => {
            out.insert(row[1].as_str().expect("a metric name").to_owned());
        }
        Value::Object(map) => {
            if let Some(expression) = map.get("expression").and_then(Value::as_str) {
                assert!(expression.contains(namespace), "a search outside our namespace: {expression}");
                for found in expression.split("MetricName=\"").skip(1) {
                    out.insert(found.split('"').next().unwrap().to_owned());
                }
            }
            map.values().for_each(|v| dashboard_metrics(v, namespace, out));
        }
        Value::Array(items) => items.iter().for_each(|v| dashboard_metrics(v, namespace, out)),
        _ => {}
    }
}

#[test]
fn template_dashboard_and_alarms_name_only_metrics_the_code_emits() {
    let t = Template::load();
    let emitted: BTreeSet<&str> = torium_runtime::metrics::ALL.iter().copied().collect();
    let (_, dashboard) = t.of_type("AWS::CloudWatch::Dashboard").next().expect("a dashboard");
    let body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"].as_str().expect("the body is a !Sub string");
    let body: Value = serde_json::from_str(body).expect("the dashboard body is JSON");
    let mut named = BTreeSet::new();
    dashboard_metrics(&body, "${MetricsNamespace}", &mut named);
    for (id, alarm) in t.of_type("AWS::CloudWatch::Alarm") {
        if alarm["Properties"]["Namespace"] == json!({"Ref": "MetricsNamespace"}) {
            named.insert(alarm["Properties"]["MetricName"].as_str().unwrap_or_else(|| panic!("{id}")).to_owned());
        }
    }
    for name in &named {
        assert!(emitted.contains(name.as_str()), "the dashboard or an alarm names {name}, which the code never emits");
    }
    // What the issue asks the dashboard and alarms to show.
    for wanted in ["Deliveries", "DeliveryLateness", "SchedulerRuns"] {
        assert!(named.contains(wanted), "nothing shows {wanted}: {named:?}");
    }
    let widgets = body["widgets"].to_string();
    for wanted in ["ApproximateNumberOfMessagesVisible", "\"Errors\"", "\"Throttles\"", "p50", "p99"] {
        assert!(widgets.contains(wanted), "the dashboard shows no {wanted}");
    }
    let lateness = t.resource("LatenessAlarm")["Properties"].clone();
    assert_eq!(
        (
            lateness["ExtendedStatistic"].clone(),
            lateness["EvaluationPeriods"].clone(),
            lateness["DatapointsToAlarm"].clone()
        ),
        (json!("p99"), json!(5), json!(3))
    );
    assert_eq!(t.doc["Parameters"]["LatenessAlarmMilliseconds"]["Default"], json!(300000), "5 minutes by default");
}

/// Provider reports (issue 16): SES's event destination and the push
/// applications' events reach delivery-events through topics only this
/// account's SES and SNS may publish to; the SMS delivery-status log groups
/// are subscribed to it with a permission scoped to them.
#[test]
fn template_wires_every_provider_report_to_delivery_events_and_nothing_else() {
    let t = Template::load();
    let function =
        t.functions().into_iter().find(|f| f.id == "DeliveryEventsFunction").expect("DeliveryEventsFunction");
    let sns_topics: BTreeSet<&str> = function.props["Events"]
        .as_object()
        .expect("Events")
        .values()
        .filter(|e| e["Type"] == "SNS")
        .map(|e| e["Properties"]["Topic"]["Ref"].as_str().expect("Topic: !Ref"))
        .collect();
    assert_eq!(sns_topics, BTreeSet::from(["EmailEventsTopic", "PushEventsTopic"]));

    for (topic, service) in [("EmailEventsTopic", "ses.amazonaws.com"), ("PushEventsTopic", "sns.amazonaws.com")] {
        let policies: Vec<&Value> = t
            .of_type("AWS::SNS::TopicPolicy")
            .filter(|(_, p)| p["Properties"]["Topics"] == json!([{ "Ref": topic }]))
            .flat_map(|(_, p)| branches(&p["Properties"]["PolicyDocument"]["Statement"]))
            .collect();
        assert_eq!(policies.len(), 1, "{topic}: one statement");
        let s = policies[0];
        assert_eq!(s["Principal"]["Service"], service, "{topic}: only {service} publishes");
        assert_eq!(s["Action"], "sns:Publish");
        assert_eq!(
            s["Condition"]["StringEquals"]["AWS:SourceAccount"]["Ref"], "AWS::AccountId",
            "{topic}: this account only"
        );
    }

    let destination = &t.resource("EmailEventDestination")["Properties"];
    let types: BTreeSet<&str> = strings(&destination["EventDestination"]["MatchingEventTypes"]).into_iter().collect();
    assert_eq!(
        types,
        BTreeSet::from(["bounce", "complaint", "delivery", "reject", "deliveryDelay", "renderingFailure"])
    );
    assert_eq!(destination["EventDestination"]["SnsDestination"]["TopicARN"]["Ref"], "EmailEventsTopic");
    // send-email sends through the very configuration set the destination is on.
    let send_email = t.functions().into_iter().find(|f| f.id == "SendEmailFunction").expect("SendEmailFunction");
    let env = send_email.env(t.globals());
    assert_eq!(env["SES_CONFIGURATION_SET"], &destination["ConfigurationSetName"]);
    assert!(!may_be_unset(env["SES_CONFIGURATION_SET"]), "send-email always uses a configuration set");

    let filters: Vec<&Value> = t.of_type("AWS::Logs::SubscriptionFilter").map(|(_, r)| &r["Properties"]).collect();
    assert_eq!(filters.len(), 2, "the SMS delivery-status log groups: successes and failures");
    for f in filters {
        assert_eq!(f["DestinationArn"], get_att_arn("DeliveryEventsFunction"));
        let names: Vec<String> = branches(&f["LogGroupName"])
            .into_iter()
            .map(|v| {
                v["Fn::Sub"].as_str().map(str::to_owned).unwrap_or_else(|| {
                    let id = v["Ref"].as_str().expect("a log group name or !Ref");
                    t.resource(id)["Properties"]["LogGroupName"]["Fn::Sub"].as_str().expect("!Sub name").to_owned()
                })
            })
            .collect();
        for name in names {
            assert!(name.starts_with("sns/${AWS::Region}/${AWS::AccountId}/DirectPublishToPhoneNumber"), "{name}");
        }
    }
    let permission = &t.resource("SmsDeliveryLogsInvokePermission")["Properties"];
    assert_eq!(permission["Principal"], "logs.amazonaws.com");
    assert_eq!(permission["SourceAccount"]["Ref"], "AWS::AccountId");
    assert!(permission["SourceArn"]["Fn::Sub"].as_str().unwrap().contains("DirectPublishToPhoneNumber"));

    // SNS writes the receipts with a role only it may assume, only to those groups.
    let role = &t.resource("SmsDeliveryStatusRole")["Properties"];
    assert_eq!(role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"], "sns.amazonaws.com");
    for s in branches(&role["Policies"][0]["PolicyDocument"]["Statement"]) {
        for r in branches(&s["Resource"]) {
            assert!(
                r["Fn::Sub"]
                    .as_str()
                    .unwrap()
                    .contains("log-group:sns/${AWS::Region}/${AWS::AccountId}/DirectPublishToPhoneNumber")
            );
        }
    }
    let settings = &t.resource("ProviderReportsSettings")["Properties"];
    assert_eq!(settings["SmsDeliveryStatusRoleArn"], get_att_arn("SmsDeliveryStatusRole"));
    assert_eq!(settings["PushEventsTopicArn"]["Ref"], "PushEventsTopic");
}

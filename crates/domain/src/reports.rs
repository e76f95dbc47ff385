//! What the providers report after they accepted a delivery, parsed into
//! typed reports: SES event publishing records (inside an SNS notification's
//! `Message`), SNS mobile push application events (likewise), and SNS SMS
//! delivery-status log records (one CloudWatch Logs event's `message`).
//! Also the rule every report obeys: a delivery's status never goes back
//! ([`DeliveryStatus::may_become`]).
//!
//! Pure: nothing is stored here, so a crash leaves nothing behind. An event
//! type that says nothing about a delivery (SES `Send`, `Open`, a push
//! endpoint created) parses to [`Report::Ignored`]; a record that is not
//! what its source documents is a [`ReportError`] naming the field, never
//! its value (values hold addresses and numbers).

use crate::DeliveryStatus;
use serde_json::Value;

impl DeliveryStatus {
    /// How far a delivery got: 0 before any provider report (pending, sent,
    /// skipped), 1 delivered, 2 failed / bounced / rejected, 3 complained.
    /// A complaint arrives after a delivery, so it outranks it; nothing
    /// outranks a complaint.
    pub fn rank(self) -> u8 {
        match self {
            DeliveryStatus::Delivered => 1,
            DeliveryStatus::Failed | DeliveryStatus::Bounced | DeliveryStatus::Rejected => 2,
            DeliveryStatus::Complained => 3,
            // Every state before a provider report.
            _ => 0,
        }
    }

    /// True when a report may move a row from `self` to `next`: only
    /// forwards, so a late Delivery after a Bounce, or the same report
    /// twice, changes nothing.
    pub fn may_become(self, next: DeliveryStatus) -> bool {
        next.rank() > self.rank()
    }

    /// True once the provider accepted the delivery and may have reported on
    /// it since: a sender must not send such a row again.
    pub fn was_accepted(self) -> bool {
        matches!(
            self,
            DeliveryStatus::Sent
                | DeliveryStatus::Delivered
                | DeliveryStatus::Bounced
                | DeliveryStatus::Complained
                | DeliveryStatus::Rejected
        )
    }
}

/// Which provider feed a report came from (a low-cardinality metric
/// dimension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportSource {
    /// SES event publishing through SNS.
    Ses,
    /// SNS mobile push application events.
    Push,
    /// SNS SMS delivery-status logs.
    Sms,
}

impl ReportSource {
    /// The metric dimension's value: `ses`, `push` or `sms`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportSource::Ses => "ses",
            ReportSource::Push => "push",
            ReportSource::Sms => "sms",
        }
    }
}

/// One report, as the store applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// About one delivery, keyed by the provider's message id.
    Delivery(DeliveryReport),
    /// SNS disabled a push endpoint (`EndpointUpdated`, `Enabled` false).
    EndpointDisabled {
        /// The disabled endpoint, as SNS names it.
        endpoint_arn: String,
    },
    /// Nothing to change; `what` is the event type, for the log line.
    Ignored {
        /// The feed it came from.
        source: ReportSource,
        /// The provider's event type.
        what: String,
    },
}

impl Report {
    /// The feed it came from.
    pub fn source(&self) -> ReportSource {
        match self {
            Report::Delivery(d) => d.source,
            Report::EndpointDisabled { .. } => ReportSource::Push,
            Report::Ignored { source, .. } => *source,
        }
    }
}

/// What a provider said about the message it gave `message_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// The feed it came from.
    pub source: ReportSource,
    /// The id the provider answered the send with (`provider_message_id`).
    pub message_id: String,
    /// What became of the message.
    pub outcome: ReportedOutcome,
}

/// SES's `bounce.bounceType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BounceType {
    /// The address will never take mail: suppress it.
    Permanent,
    /// Mailbox full, message too large, …: the address stays usable.
    Transient,
    /// SES could not tell (or named another type): the address stays usable.
    Undetermined,
}

/// What a provider said became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportedOutcome {
    /// SES Delivery, or an SMS receipt with status SUCCESS.
    Delivered,
    /// SES Bounce.
    Bounced {
        /// Permanent, transient or undetermined.
        bounce_type: BounceType,
        /// `bounce.bounceSubType`, e.g. `General`, `MailboxFull`.
        sub_type: Option<String>,
        /// Lowercased `bouncedRecipients[].emailAddress`.
        recipients: Vec<String>,
        /// The first `diagnosticCode` among the bounced recipients (the
        /// receiving server's answer); `None` when SES gave none.
        diagnostic: Option<String>,
    },
    /// SES Complaint: the receiver marked the email as spam.
    Complained {
        /// Lowercased `complainedRecipients[].emailAddress`.
        recipients: Vec<String>,
        /// `complaint.complaintFeedbackType` (e.g. `abuse`); `None` when SES
        /// gave none.
        feedback_type: Option<String>,
    },
    /// SES Reject: SES took the email but did not send it on.
    Rejected {
        /// `reject.reason`.
        reason: String,
    },
    /// SES DeliveryDelay: SES keeps trying; nothing changes.
    Delayed,
    /// SES Rendering Failure.
    RenderingFailed {
        /// `failure.errorMessage`.
        error: String,
    },
    /// An SMS receipt with status FAILURE.
    SmsFailed {
        /// The receipt's `delivery.providerResponse`, as the carrier put it.
        provider_response: String,
        /// The response says the number opted out.
        opted_out: bool,
    },
    /// SNS push `DeliveryFailure`.
    PushFailed {
        /// The event's `FailureType` (e.g. `DeliveryFailedPerm`).
        failure_type: String,
        /// The event's `FailureMessage`.
        failure_message: String,
    },
}

/// What a report does to the user whose delivery it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportedUserEffect {
    /// No more email to the user, if their address is still one of these.
    SuppressEmail {
        /// The lowercased addresses the report names.
        recipients: Vec<String>,
        /// Why (`bounce: Permanent/<subtype>`, `complaint: <type>`), for
        /// `users.email_suppressed_reason`.
        reason: String,
    },
    /// The number opted out of SMS.
    SmsOptedOut,
}

impl ReportedOutcome {
    /// The status the row moves to (if the rank allows); `None` changes no
    /// status.
    pub fn status(&self) -> Option<DeliveryStatus> {
        match self {
            ReportedOutcome::Delivered => Some(DeliveryStatus::Delivered),
            ReportedOutcome::Bounced { .. } => Some(DeliveryStatus::Bounced),
            ReportedOutcome::Complained { .. } => Some(DeliveryStatus::Complained),
            ReportedOutcome::Rejected { .. } => Some(DeliveryStatus::Rejected),
            ReportedOutcome::Delayed => None,
            ReportedOutcome::RenderingFailed { .. }
            | ReportedOutcome::SmsFailed { .. }
            | ReportedOutcome::PushFailed { .. } => Some(DeliveryStatus::Failed),
        }
    }

    /// The row's `last_error`: the part before the first `:` is the kind of
    /// error the alerts function counts.
    pub fn last_error(&self) -> Option<String> {
        match self {
            ReportedOutcome::Bounced { bounce_type, sub_type, diagnostic, .. } => Some(format!(
                "SES bounce {bounce_type:?}/{}: {}",
                sub_type.as_deref().unwrap_or("unknown"),
                diagnostic.as_deref().unwrap_or("no diagnostic")
            )),
            ReportedOutcome::Rejected { reason } => Some(format!("SES reject: {reason}")),
            ReportedOutcome::RenderingFailed { error } => Some(format!("SES rendering failure: {error}")),
            ReportedOutcome::SmsFailed { provider_response, .. } => Some(format!("SMS receipt: {provider_response}")),
            ReportedOutcome::PushFailed { failure_type, failure_message } => {
                Some(format!("push delivery failure {failure_type}: {failure_message}"))
            }
            ReportedOutcome::Delivered | ReportedOutcome::Complained { .. } | ReportedOutcome::Delayed => None,
        }
    }

    /// A permanent bounce or a complaint suppresses the address; an opted-out
    /// receipt flags the number. A transient bounce and a delay change no
    /// user.
    pub fn user_effect(&self) -> Option<ReportedUserEffect> {
        match self {
            ReportedOutcome::Bounced { bounce_type: BounceType::Permanent, sub_type, recipients, .. } => {
                Some(ReportedUserEffect::SuppressEmail {
                    recipients: recipients.clone(),
                    reason: format!("bounce: Permanent/{}", sub_type.as_deref().unwrap_or("unknown")),
                })
            }
            ReportedOutcome::Complained { recipients, feedback_type } => Some(ReportedUserEffect::SuppressEmail {
                recipients: recipients.clone(),
                reason: format!("complaint: {}", feedback_type.as_deref().unwrap_or("unknown")),
            }),
            ReportedOutcome::SmsFailed { opted_out: true, .. } => Some(ReportedUserEffect::SmsOptedOut),
            _ => None,
        }
    }
}

/// Why a provider record cannot be read. Names the field, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// The record is not JSON.
    #[error("{feed} record is not JSON: {detail}")]
    NotJson {
        /// The feed (`SES`, `push`, `SMS`, `SNS`).
        feed: &'static str,
        /// The JSON parser's message.
        detail: String,
    },
    /// The record is JSON but not an object.
    #[error("{feed} record is not a JSON object")]
    NotAnObject {
        /// The feed (`SES`, `push`, `SMS`, `SNS`).
        feed: &'static str,
    },
    /// A field the record's shape needs is missing or of another type.
    #[error("{feed} record: `{field}` is missing or not {expected}")]
    Field {
        /// The feed (`SES`, `push`, `SMS`, `SNS`).
        feed: &'static str,
        /// The field's name.
        field: &'static str,
        /// What it should have been (`a string`, `an array`, …).
        expected: &'static str,
    },
    /// An SNS message that is neither of the two shapes it can carry.
    #[error("SNS message is neither an SES event nor a push application event (no eventType / EventType)")]
    UnknownShape,
}

/// The JSON of one record, with field access that names what is wrong.
struct Record<'a> {
    source: &'static str,
    value: &'a Value,
}

impl<'a> Record<'a> {
    fn error(&self, field: &'static str, expected: &'static str) -> ReportError {
        ReportError::Field { feed: self.source, field, expected }
    }

    /// `pointer` is a JSON pointer (`/mail/messageId`); `field` names it.
    fn str(&self, pointer: &str, field: &'static str) -> Result<&'a str, ReportError> {
        self.optional_str(pointer, field)?.ok_or_else(|| self.error(field, "a string"))
    }

    fn optional_str(&self, pointer: &str, field: &'static str) -> Result<Option<&'a str>, ReportError> {
        match self.value.pointer(pointer) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.error(field, "a string")),
        }
    }

    /// Lowercased `emailAddress` of every object in the array at `pointer`.
    fn addresses(&self, pointer: &str, field: &'static str) -> Result<Vec<String>, ReportError> {
        let items =
            self.value.pointer(pointer).and_then(Value::as_array).ok_or_else(|| self.error(field, "an array"))?;
        items
            .iter()
            .map(|item| {
                item.get("emailAddress")
                    .and_then(Value::as_str)
                    .map(str::to_lowercase)
                    .ok_or_else(|| self.error(field, "a list of objects with an emailAddress string"))
            })
            .collect()
    }
}

fn parse_json(source: &'static str, text: &str) -> Result<Value, ReportError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| ReportError::NotJson { feed: source, detail: e.to_string() })?;
    if value.is_object() { Ok(value) } else { Err(ReportError::NotAnObject { feed: source }) }
}

/// An SNS notification's `Message`: an SES event (`eventType`, or
/// `notificationType` for identity notifications) or a push application
/// event (`EventType`).
pub fn parse_sns_message(message: &str) -> Result<Report, ReportError> {
    let value = parse_json("SNS", message)?;
    if value.get("eventType").is_some() || value.get("notificationType").is_some() {
        ses_event(&Record { source: "SES", value: &value })
    } else if value.get("EventType").is_some() {
        push_event(&Record { source: "push", value: &value })
    } else {
        Err(ReportError::UnknownShape)
    }
}

fn ses_event(r: &Record<'_>) -> Result<Report, ReportError> {
    let event_type = match r.optional_str("/eventType", "eventType")? {
        Some(t) => t,
        None => r.str("/notificationType", "eventType")?,
    };
    let outcome = match event_type {
        "Bounce" => ReportedOutcome::Bounced {
            bounce_type: match r.str("/bounce/bounceType", "bounce.bounceType")? {
                "Permanent" => BounceType::Permanent,
                "Transient" => BounceType::Transient,
                _ => BounceType::Undetermined,
            },
            sub_type: r.optional_str("/bounce/bounceSubType", "bounce.bounceSubType")?.map(str::to_owned),
            recipients: r.addresses("/bounce/bouncedRecipients", "bounce.bouncedRecipients")?,
            diagnostic: first_diagnostic(r.value.pointer("/bounce/bouncedRecipients")),
        },
        "Complaint" => ReportedOutcome::Complained {
            recipients: r.addresses("/complaint/complainedRecipients", "complaint.complainedRecipients")?,
            feedback_type: r
                .optional_str("/complaint/complaintFeedbackType", "complaint.complaintFeedbackType")?
                .map(str::to_owned),
        },
        "Delivery" => ReportedOutcome::Delivered,
        "Reject" => ReportedOutcome::Rejected {
            reason: r.optional_str("/reject/reason", "reject.reason")?.unwrap_or("no reason given").to_owned(),
        },
        "DeliveryDelay" => ReportedOutcome::Delayed,
        "Rendering Failure" => ReportedOutcome::RenderingFailed {
            error: r.optional_str("/failure/errorMessage", "failure.errorMessage")?.unwrap_or("unknown").to_owned(),
        },
        other => return Ok(Report::Ignored { source: ReportSource::Ses, what: other.to_owned() }),
    };
    let message_id = r.str("/mail/messageId", "mail.messageId")?.to_owned();
    Ok(Report::Delivery(DeliveryReport { source: ReportSource::Ses, message_id, outcome }))
}

fn first_diagnostic(recipients: Option<&Value>) -> Option<String> {
    recipients?.as_array()?.iter().find_map(|r| r.get("diagnosticCode")?.as_str()).map(str::to_owned)
}

fn push_event(r: &Record<'_>) -> Result<Report, ReportError> {
    match r.str("/EventType", "EventType")? {
        "EndpointUpdated" => match r.optional_str("/Attributes/Enabled", "Attributes.Enabled")? {
            Some(enabled) if enabled.eq_ignore_ascii_case("false") => {
                Ok(Report::EndpointDisabled { endpoint_arn: r.str("/EndpointArn", "EndpointArn")?.to_owned() })
            }
            _ => Ok(Report::Ignored { source: ReportSource::Push, what: "EndpointUpdated (enabled)".to_owned() }),
        },
        "DeliveryFailure" => Ok(Report::Delivery(DeliveryReport {
            source: ReportSource::Push,
            message_id: r.str("/MessageId", "MessageId")?.to_owned(),
            outcome: ReportedOutcome::PushFailed {
                failure_type: r.optional_str("/FailureType", "FailureType")?.unwrap_or("unknown").to_owned(),
                failure_message: r.optional_str("/FailureMessage", "FailureMessage")?.unwrap_or("").to_owned(),
            },
        })),
        other => Ok(Report::Ignored { source: ReportSource::Push, what: other.to_owned() }),
    }
}

/// One SNS SMS delivery-status log record (a CloudWatch Logs event's
/// `message`): `status` SUCCESS or FAILURE, `notification.messageId`,
/// `delivery.providerResponse`. A FAILURE saying the phone opted out flags
/// the number.
pub fn parse_sms_receipt(message: &str) -> Result<Report, ReportError> {
    let value = parse_json("SMS receipt", message)?;
    let r = Record { source: "SMS receipt", value: &value };
    let outcome = match r.str("/status", "status")? {
        "SUCCESS" => ReportedOutcome::Delivered,
        "FAILURE" => {
            let response = r.optional_str("/delivery/providerResponse", "delivery.providerResponse")?.unwrap_or("");
            ReportedOutcome::SmsFailed {
                opted_out: response.to_lowercase().contains("opted out"),
                provider_response: response.to_owned(),
            }
        }
        other => return Ok(Report::Ignored { source: ReportSource::Sms, what: other.to_owned() }),
    };
    let message_id = r.str("/notification/messageId", "notification.messageId")?.to_owned();
    Ok(Report::Delivery(DeliveryReport { source: ReportSource::Sms, message_id, outcome }))
}

/// An SES event publishing record (the shapes of the SES developer guide,
/// "Examples of event data that Amazon SES publishes to Amazon SNS").
///
/// Tests only: the handler reads SES events through `parse_sns_message`.
#[cfg(test)]
fn parse_ses_event(message: &str) -> Result<Report, ReportError> {
    let value = parse_json("SES", message)?;
    ses_event(&Record { source: "SES", value: &value })
}

/// An SNS mobile push application event: `EndpointUpdated` (disabled when
/// `Attributes.Enabled` is `"false"`) and `DeliveryFailure`.
///
/// Tests only: the handler reads push events through `parse_sns_message`.
#[cfg(test)]
fn parse_push_event(message: &str) -> Result<Report, ReportError> {
    let value = parse_json("push", message)?;
    push_event(&Record { source: "push", value: &value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ses(event: Value) -> Report {
        parse_sns_message(&event.to_string()).unwrap()
    }

    fn outcome(report: Report) -> ReportedOutcome {
        match report {
            Report::Delivery(d) => d.outcome,
            other => panic!("not a delivery report: {other:?}"),
        }
    }

    const MESSAGE_ID: &str = "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000";

    fn mail() -> Value {
        json!({"timestamp": "2017-08-05T00:40:02.012Z", "source": "sender@example.com", "messageId": MESSAGE_ID,
               "destination": ["recipient@example.com"]})
    }

    #[test]
    fn status_never_goes_backwards() {
        use DeliveryStatus::*;
        assert!(Sent.may_become(Delivered));
        assert!(Pending.may_become(Bounced));
        assert!(Delivered.may_become(Complained), "a complaint after a delivery applies");
        assert!(Delivered.may_become(Bounced));
        assert!(Bounced.may_become(Complained));
        assert!(!Bounced.may_become(Delivered), "a late delivery after a bounce changes nothing");
        assert!(!Failed.may_become(Rejected) && !Rejected.may_become(Bounced), "one failure is as final as another");
        assert!(!Complained.may_become(Bounced));
        for s in DeliveryStatus::ALL {
            assert!(!s.may_become(*s), "the same report twice changes nothing ({s})");
            assert!(!s.may_become(Sent) && !s.may_become(Pending), "a report never un-sends ({s})");
        }
    }

    #[test]
    fn accepted_rows_are_never_sent_again() {
        use DeliveryStatus::*;
        assert!([Sent, Delivered, Bounced, Complained, Rejected].iter().all(|s| s.was_accepted()));
        assert!(![Pending, Failed, Skipped].iter().any(|s| s.was_accepted()));
    }

    #[test]
    fn a_permanent_bounce_suppresses_its_recipients_with_the_diagnostic() {
        let report = ses(json!({
            "eventType": "Bounce",
            "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
                       "bouncedRecipients": [{"emailAddress": "Recipient@Example.com", "action": "failed",
                                              "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]},
            "mail": mail()
        }));
        let Report::Delivery(DeliveryReport { source, message_id, outcome }) = report else { panic!() };
        assert_eq!((source, message_id.as_str()), (ReportSource::Ses, MESSAGE_ID));
        assert_eq!(outcome.status(), Some(DeliveryStatus::Bounced));
        assert_eq!(outcome.last_error().unwrap(), "SES bounce Permanent/General: smtp; 550 5.1.1 user unknown");
        assert_eq!(
            outcome.user_effect(),
            Some(ReportedUserEffect::SuppressEmail {
                recipients: vec!["recipient@example.com".into()],
                reason: "bounce: Permanent/General".into()
            })
        );
    }

    #[test]
    fn a_transient_bounce_and_a_delay_change_no_user() {
        let transient = outcome(ses(json!({
            "eventType": "Bounce",
            "bounce": {"bounceType": "Transient", "bounceSubType": "MailboxFull",
                       "bouncedRecipients": [{"emailAddress": "recipient@example.com"}]},
            "mail": mail()
        })));
        assert_eq!(transient.status(), Some(DeliveryStatus::Bounced));
        assert_eq!(transient.user_effect(), None);
        let delay = outcome(ses(json!({"eventType": "DeliveryDelay", "mail": mail(),
            "deliveryDelay": {"delayType": "TransientCommunicationFailure"}})));
        assert_eq!((delay.status(), delay.user_effect(), delay.last_error()), (None, None, None));
    }

    #[test]
    fn complaint_delivery_reject_and_rendering_failure() {
        let complaint = outcome(ses(json!({"eventType": "Complaint", "mail": mail(),
            "complaint": {"complainedRecipients": [{"emailAddress": "recipient@example.com"}],
                          "complaintFeedbackType": "abuse"}})));
        assert_eq!(complaint.status(), Some(DeliveryStatus::Complained));
        assert!(
            matches!(complaint.user_effect(), Some(ReportedUserEffect::SuppressEmail { reason, .. }) if reason == "complaint: abuse")
        );
        assert_eq!(outcome(ses(json!({"eventType": "Delivery", "mail": mail()}))), ReportedOutcome::Delivered);
        let reject = outcome(ses(json!({"eventType": "Reject", "mail": mail(), "reject": {"reason": "Bad content"}})));
        assert_eq!(reject.last_error().unwrap(), "SES reject: Bad content");
        assert_eq!(reject.status(), Some(DeliveryStatus::Rejected));
        let rendering = outcome(ses(json!({"eventType": "Rendering Failure", "mail": mail(),
            "failure": {"errorMessage": "Attribute 'x' is not present", "templateName": "T"}})));
        assert_eq!(rendering.status(), Some(DeliveryStatus::Failed));
    }

    #[test]
    fn events_about_nothing_we_track_are_ignored() {
        for t in ["Send", "Open", "Click", "Subscription"] {
            assert!(matches!(ses(json!({"eventType": t, "mail": mail()})), Report::Ignored { .. }), "{t}");
        }
        let created = parse_sns_message(r#"{"EventType":"EndpointCreated","EndpointArn":"arn:e"}"#).unwrap();
        assert_eq!(created, Report::Ignored { source: ReportSource::Push, what: "EndpointCreated".into() });
    }

    #[test]
    fn identity_notifications_use_notification_type() {
        let report = ses(json!({"notificationType": "Delivery", "mail": mail()}));
        assert_eq!(outcome(report), ReportedOutcome::Delivered);
    }

    #[test]
    fn push_events_disable_endpoints_and_fail_deliveries() {
        let disabled = parse_sns_message(
            r#"{"EventType":"EndpointUpdated","EndpointArn":"arn:aws:sns:eu-central-1:1:endpoint/GCM/app/1",
                "Attributes":{"Enabled":"false"},"Service":"SNS"}"#,
        )
        .unwrap();
        assert_eq!(
            disabled,
            Report::EndpointDisabled { endpoint_arn: "arn:aws:sns:eu-central-1:1:endpoint/GCM/app/1".into() }
        );
        let enabled =
            parse_push_event(r#"{"EventType":"EndpointUpdated","EndpointArn":"e","Attributes":{"Enabled":"true"}}"#);
        assert!(matches!(enabled, Ok(Report::Ignored { .. })));
        let failure = parse_sns_message(
            r#"{"DeliveryAttempts":1,"EndpointArn":"e","EventType":"DeliveryFailure","FailureMessage":"Endpoint was not found",
                "FailureType":"EndpointNotFound","MessageId":"4e658b3c","Service":"SNS"}"#,
        )
        .unwrap();
        let Report::Delivery(d) = failure else { panic!() };
        assert_eq!((d.source, d.message_id.as_str()), (ReportSource::Push, "4e658b3c"));
        assert_eq!(d.outcome.last_error().unwrap(), "push delivery failure EndpointNotFound: Endpoint was not found");
    }

    #[test]
    fn sms_receipts_deliver_fail_and_flag_opted_out_numbers() {
        let receipt = |status: &str, response: &str| {
            parse_sms_receipt(
                &json!({"notification": {"messageId": "34d9b400", "timestamp": "2016-06-28 00:40:34.558"},
                        "delivery": {"destination": "+15555550100", "providerResponse": response, "priceInUSD": 0.00645},
                        "status": status})
                .to_string(),
            )
            .unwrap()
        };
        assert_eq!(
            outcome(receipt("SUCCESS", "Message has been accepted by phone carrier")),
            ReportedOutcome::Delivered
        );
        let failed = outcome(receipt("FAILURE", "Unknown error attempting to reach phone"));
        assert_eq!((failed.status(), failed.user_effect()), (Some(DeliveryStatus::Failed), None));
        assert_eq!(failed.last_error().unwrap(), "SMS receipt: Unknown error attempting to reach phone");
        let opted_out = outcome(receipt("FAILURE", "Phone is currently opted out"));
        assert_eq!(opted_out.user_effect(), Some(ReportedUserEffect::SmsOptedOut));
        assert!(matches!(receipt("PENDING", ""), Report::Ignored { .. }));
    }

    #[test]
    fn malformed_records_name_the_field_and_never_the_address() {
        let err = parse_sns_message("{not json").unwrap_err();
        assert!(matches!(err, ReportError::NotJson { .. }), "{err}");
        assert_eq!(parse_sns_message("[1]").unwrap_err(), ReportError::NotAnObject { feed: "SNS" });
        assert_eq!(parse_sns_message(r#"{"foo":1}"#).unwrap_err(), ReportError::UnknownShape);
        let err = parse_ses_event(
            r#"{"eventType":"Bounce","bounce":{"bounceType":"Permanent","bouncedRecipients":"a@b.c"},"mail":{}}"#,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "SES record: `bounce.bouncedRecipients` is missing or not an array");
        let err =
            parse_ses_event(r#"{"eventType":"Delivery","mail":{"destination":["secret@example.com"]}}"#).unwrap_err();
        assert_eq!(err.to_string(), "SES record: `mail.messageId` is missing or not a string");
        let err = parse_sms_receipt(r#"{"status":"SUCCESS","delivery":{"destination":"+15555550100"}}"#).unwrap_err();
        assert!(!err.to_string().contains("555"), "{err}");
    }
}

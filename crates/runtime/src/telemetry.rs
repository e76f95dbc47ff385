//! Structured JSON logs, one object per line, as Lambda's JSON log format
//! expects. Personal data never goes into a log whole: use the redactors.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber; `RUST_LOG` filters (default `info`).
/// Every line carries the fields of every span it is in (`spans`: the
/// batch driver's message span, then the handler's own), so log calls never
/// repeat the ids of their unit of work. Safe to call more than once
/// (later calls are ignored).
pub fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .with_target(false)
        .with_ansi(false)
        .try_init();
}

/// `+48123456789` → `+48*******89`: enough to tell numbers apart in a log.
pub fn redact_phone(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    if chars.len() <= 5 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 5))
}

/// `jan.kowalski@example.com` → `j***@example.com`.
pub fn redact_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first = local.chars().next().map(String::from).unwrap_or_default();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_no_full_contact() {
        assert_eq!(redact_phone("+48123456789"), "+48*******89");
        assert_eq!(redact_phone("123"), "***");
        assert_eq!(redact_email("jan.kowalski@example.com"), "j***@example.com");
        assert_eq!(redact_email("żaneta@example.pl"), "ż***@example.pl");
        assert_eq!(redact_email("nonsense"), "***");
    }
}

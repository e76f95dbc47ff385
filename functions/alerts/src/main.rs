use alerts::{AlertsConfig, HttpWebhook, Sources, run_alerts, webhook_url_from_secret};
use std::time::Duration;
use torium_aws::{CloudWatchLogs, SecretStore, SecretsManager, SqsQueue};
use torium_runtime::aws_lambda_events::event::eventbridge::EventBridgeEvent;
use torium_runtime::lambda_runtime::{self, LambdaEvent, service_fn};
use torium_runtime::{ColdStart, Measure, cold_start};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let ColdStart { env, sdk, store, metrics, .. } = cold_start().await?;
    let config = AlertsConfig::from_env(&env)?;
    // Read once per cold start; the URL is a secret, never logged.
    let secret = SecretsManager::new(&sdk).secret_string(&config.webhook_secret_arn).await?;
    let url = webhook_url_from_secret(&secret).ok_or("the webhook secret holds no URL")?;
    let webhook = HttpWebhook::new(&url, Duration::from_secs(10))?;
    let (logs, sqs) = (CloudWatchLogs::new(&sdk), SqsQueue::new(&sdk));
    let sources = Sources { store: &store, logs: &logs, sqs: &sqs };
    let (sources, webhook, config, metrics) = (&sources, &webhook, &config, &metrics);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<EventBridgeEvent>| async move {
        let now = event.payload.time.ok_or("the scheduled event has no time")?;
        let summary = run_alerts(sources, webhook, config, now).await?;
        metrics.emit(
            &[],
            &[&["Function"]],
            &[Measure::count(torium_runtime::metrics::ALERTS_POSTED, &[summary.notices.len() as f64])],
        );
        Ok::<_, lambda_runtime::Error>(
            serde_json::json!({ "findings": summary.findings, "notices": summary.notices.len() }),
        )
    }))
    .await
}

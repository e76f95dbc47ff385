//! The real send-sms process SIGKILLed at a random point of a 10-message
//! batch (10 people, 10 message groups), as an instance lost or Lambda's
//! kill would: nothing after the kill runs. SQS then redelivers what was
//! not acknowledged to a fresh process. Nobody may be lost; duplicates (a
//! Publish accepted but its outcome not yet written) are counted and never
//! more than the messages in flight: GROUP_CONCURRENCY per kill.

use crate::Rng;
use crate::kit::{BINARY_TIMEOUT, Outcome, Person, Scene, SmsFunction, Tally, drive, recorded, sms_env, tally};
use std::collections::BTreeMap;
use std::time::Duration;
use torium_domain::{Channel, Delivery};
use torium_tests::moto::ReceivedMessage;
use torium_tests::required_env;

const RUNS: usize = 10;

pub async fn sigkill(concurrency: usize, seed: u64) -> Outcome {
    // Each concurrency draws its own kill points from the suite's seed.
    let mut rng = Rng::new(seed ^ (concurrency as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut scene = Scene::new().await;
    // One event of ten people per run, plus one to time a batch.
    let mut events = Vec::new();
    for _ in 0..=RUNS {
        let people = scene.people(Channel::Sms, 10).await;
        events.push(scene.event("K", &people).await);
    }
    scene.fan_out(&events).await;
    let mut batches: BTreeMap<i64, Vec<ReceivedMessage>> = BTreeMap::new();
    for m in scene.take(Channel::Sms).await {
        let event = Delivery::parse(&m.body).expect("a delivery").event_id.0;
        batches.entry(event).or_default().push(m);
    }
    let batches: Vec<Vec<ReceivedMessage>> = events.iter().map(|e| batches.remove(e).unwrap_or_default()).collect();
    let env = sms_env(
        &scene.db.url,
        &required_env("AWS_ENDPOINT_URL"),
        scene.consumer.dead_letters.queue_url(),
        &[("GROUP_CONCURRENCY", &concurrency.to_string())],
    );
    let mut outcome = Outcome::default();
    if let Some(short) = batches.iter().find(|b| b.len() != 10) {
        outcome.failures.push(format!("set-up: a batch of {} messages, not 10", short.len()));
        return outcome;
    }

    // How long a cold process takes over a whole batch: the kills land in it.
    let mut timing = SmsFunction::start(env.clone(), BINARY_TIMEOUT);
    let calibration = drive(batches[0].clone(), async |batch| timing.invoke(&batch).await).await;
    let batch_time = timing.invocations.first().map_or(Duration::from_millis(500), |i| i.duration);
    if let Err(error) = calibration {
        outcome.failures.push(format!("timing batch: {error}\n{}", timing.log_excerpt(20)));
    }
    drop(timing);
    let window = (batch_time.as_millis() as u64 * 6 / 5).max(20);

    let mut runs: Vec<(Vec<Person>, u64, bool)> = Vec::new();
    let mut logs = String::new();
    for batch in &batches[1..] {
        // Both processes cold-start at once: the victim and the one SQS
        // redelivers to.
        let mut victim = SmsFunction::start(env.clone(), BINARY_TIMEOUT);
        let mut fresh = SmsFunction::start(env.clone(), BINARY_TIMEOUT);
        let kill_at = rng.up_to(window);
        let killed = victim.invoke_and_kill(batch, Duration::from_millis(kill_at)).await;
        let (returned, before_answer) = match killed {
            Ok(k) => k,
            Err(error) => {
                outcome.failures.push(error);
                (batch.iter().map(|m| m.message_id.clone()).collect(), true)
            }
        };
        let pending: Vec<ReceivedMessage> =
            batch.iter().filter(|m| returned.contains(&m.message_id)).cloned().collect();
        if let Err(error) = drive(pending, async |batch| fresh.invoke(&batch).await).await {
            outcome.failures.push(format!("redelivery after the kill at {kill_at} ms: {error}"));
            logs.push_str(&fresh.log_excerpt(10));
        }
        if fresh.invocations.iter().any(|i| i.killed) {
            outcome.failures.push("a redelivery invocation was killed at its deadline".to_owned());
        }
        runs.push((scene.expected(batch), kill_at, before_answer));
    }

    let record = recorded();
    let markers = scene.markers();
    let mut total = Tally::default();
    let mut per_kill = Vec::new();
    for (people, kill_at, _) in &runs {
        let t = tally(people, &record, &markers, false);
        per_kill.push(t.duplicates);
        outcome.check(t.lost == 0, || format!("kill at {kill_at} ms: {} people got nothing: {:?}", t.lost, t.details));
        outcome.check(t.duplicates <= concurrency, || {
            format!(
                "kill at {kill_at} ms: {} duplicates, more than the {concurrency} in flight: {:?}",
                t.duplicates, t.details
            )
        });
        total += t;
    }
    let timing_people = scene.expected(&batches[0]);
    let t = tally(&timing_people, &record, &markers, false);
    outcome.check(t.lost == 0 && t.duplicates == 0, || format!("timing batch (no kill): {:?}", t.details));
    let mid_batch = runs.iter().filter(|(_, _, before)| *before).count();
    let kill_points: Vec<String> = runs.iter().map(|(_, at, _)| at.to_string()).collect();
    println!(
        "    GROUP_CONCURRENCY={concurrency}: a batch takes {} ms; killed at {} ms; duplicates per kill {per_kill:?}",
        batch_time.as_millis(),
        kill_points.join(", ")
    );
    outcome.faults = format!(
        "SIGKILL ×{} at 0-{window} ms (seed {seed}), {mid_batch} mid-batch; max {} duplicates per kill, bound {concurrency}",
        runs.len(),
        per_kill.iter().max().copied().unwrap_or(0)
    );
    let due: usize = runs.iter().flat_map(|(p, _, _)| p.iter().map(|p| p.due.len())).sum::<usize>() + 10;
    scene.check_log(&mut outcome, due).await;
    if !outcome.failures.is_empty() && !logs.is_empty() {
        outcome.failures.push(format!("send-sms log (WARN/ERROR):\n{logs}"));
    }
    outcome.tally = total;
    outcome
}

#!/usr/bin/env python3
"""The local end-to-end run behind `make demo` (dev tooling, not product code).

Against the PostgreSQL and moto that scripts/services.sh started:
1. creates the suite's FIFO queues (each with a FIFO dead-letter queue), a
   verified SES sender, an SNS platform application and device endpoints;
2. seeds a small group: people with every reminder preference, a budgeted
   `once` event due in a moment, a weekly event, an invitation, a comment;
3. runs the real handler binaries under `cargo lambda watch` and feeds them
   as AWS would: the scheduled event to schedule-events, then every queue's
   messages as SQS batch events to its consumer, deleting only what the
   handler acknowledged (reported failures stay for redelivery);
4. closes the loop with the providers: SES reports a permanent bounce for
   Bartek's reminder email (delivery-events, fed the SNS notification SES
   would publish), and his next reminder, a minute later, falls back to SMS;
5. prints what each person received, as moto recorded it, and the delivery
   log; with --check it asserts it instead and exits non-zero on a mismatch.

Uses boto3 (from the moto virtualenv) and psql; no other dependencies.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUEUES = {  # queue -> (consumer, batch size)
    "schedule-notifications": ("schedule-notifications", 10),
    "send-sms": ("send-sms", 10),
    "send-email": ("send-email", 10),
    "send-push": ("send-push", 10),
    "group-invitation": ("send-group-invitation", 10),
    "comment-push": ("schedule-comment-push", 10),
}
SENDER = "reminders@torium.example"
PEOPLE = {  # name -> (email, phone, preference, bank, has a device)
    "Ala": ("ala@example.com", "+48500100200", "SMS", "PKO", False),
    # Email first; the number on file is his fallback once his address bounces.
    "Bartek": ("bartek@example.com", "+48500100300", "EMAIL", "ING", False),
    "Celina": ("celina@example.com", None, "PUSH", None, True),
    "Darek": ("darek@example.com", None, "PUSH", None, False),
    "Ewa": ("ewa@example.com", None, None, None, False),
    "Filip": ("filip@example.com", None, "PUSH", None, True),
}
TIMINGS = []
SIGNUP_RECORDED = []


def step(name):
    """Context manager that records how long a step took."""

    class Timer:
        def __enter__(self):
            self.start = time.monotonic()
            print(f"== {name}", flush=True)

        def __exit__(self, *exc):
            TIMINGS.append((name, time.monotonic() - self.start))

    return Timer()


def psql(sql, *args):
    """Runs SQL (with :'vN' variables) and returns rows as lists of strings."""
    cmd = ["psql", os.environ["DATABASE_URL"], "-v", "ON_ERROR_STOP=1", "-AtqF", "\t"]
    for i, value in enumerate(args):
        cmd += ["-v", f"v{i}={value}"]
    out = subprocess.run(cmd, input=sql, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"psql failed: {out.stderr}")
    return [line.split("\t") for line in out.stdout.splitlines() if line]


def setup_aws(env_file):
    sqs, sns, ses, secrets = (boto3.client(s) for s in ("sqs", "sns", "sesv2", "secretsmanager"))
    urls = {}
    for name in QUEUES:
        dlq = sqs.create_queue(QueueName=f"{name}-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        urls[name] = sqs.create_queue(
            QueueName=f"{name}.fifo",
            Attributes={
                "FifoQueue": "true",
                # On for the three queues the HTTP API sends to without a deduplication id.
                "ContentBasedDeduplication": str(name in ("schedule-notifications", "group-invitation", "comment-push")).lower(),
                # Short, so a reported failure comes back within the demo.
                "VisibilityTimeout": "5",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
            },
        )["QueueUrl"]
        urls[f"{name}-dlq"] = dlq
    ses.create_email_identity(EmailIdentity=SENDER)
    app = sns.create_platform_application(
        Name="torium-android", Platform="GCM", Attributes={"PlatformCredential": "local-demo-key"}
    )["PlatformApplicationArn"]
    devices = {
        name: sns.create_platform_endpoint(PlatformApplicationArn=app, Token=f"fcm-token-{name.lower()}")["EndpointArn"]
        for name, person in PEOPLE.items()
        if person[4]
    }
    try:
        webhook = secrets.create_secret(Name="torium/alerts-webhook", SecretString="http://127.0.0.1:9/unused")["ARN"]
    except secrets.exceptions.ResourceExistsException:
        webhook = secrets.describe_secret(SecretId="torium/alerts-webhook")["ARN"]
    env = {
        key: os.environ[key]
        for key in ("DATABASE_URL", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    }
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        RUST_LOG="info",
        SCHEDULE_NOTIFICATIONS_QUEUE_URL=urls["schedule-notifications"],
        SEND_SMS_QUEUE_URL=urls["send-sms"],
        SEND_EMAIL_QUEUE_URL=urls["send-email"],
        SEND_PUSH_QUEUE_URL=urls["send-push"],
        SES_FROM_ADDRESS=SENDER,
        SMS_SENDER_ID="Torium",
        ALERTS_WEBHOOK_SECRET_ARN=webhook,
        ALERTS_DLQ_URLS=",".join(urls[f"{q}-dlq"] for q in QUEUES),
        ALERTS_LOG_GROUPS="",
        # Each consumer sets poison messages aside in its queue's dead-letter queue.
        SCHEDULE_NOTIFICATIONS_DLQ_URL=urls["schedule-notifications-dlq"],
        SEND_SMS_DLQ_URL=urls["send-sms-dlq"],
        SEND_EMAIL_DLQ_URL=urls["send-email-dlq"],
        SEND_PUSH_DLQ_URL=urls["send-push-dlq"],
        GROUP_INVITATION_DLQ_URL=urls["group-invitation-dlq"],
        COMMENT_PUSH_DLQ_URL=urls["comment-push-dlq"],
        # Every comment pushed at once (no digest window): the demo shows one
        # comment, and no digest flush queue is needed.
        COMMENT_DIGEST_WINDOW_SECONDS="0",
    )
    with open(env_file, "w") as f:
        f.writelines(f"{k}={v}\n" for k, v in env.items())
    return urls, devices


def seed(devices, run_at):
    ids = {}
    for name, (email, phone, preference, bank, _) in PEOPLE.items():
        rows = psql(
            "INSERT INTO users (cognito_user_id, email, is_confirmed) VALUES (:'v0', :'v1', true) RETURNING id",
            f"demo-{name.lower()}", email,
        )
        ids[name] = rows[0][0]
        # What the app then sets through the API: preference, number, bank, device.
        psql(
            "UPDATE users SET reminder_preferences = nullif(:'v1', '')::reminder_preferences_type, mobile_number = nullif(:'v2', ''), "
            "organization_id = (SELECT id FROM organizations WHERE name = nullif(:'v3', '')), "
            "device_arn = nullif(:'v4', '') WHERE id = :'v0'",
            ids[name], preference or "", phone or "", bank or "", devices.get(name, ""),
        )
    # From here on, every statement is shaped as the HTTP API writes it
    # (its column lists, naive UTC times in the "timestamp" columns).
    utc_now = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(sep=" ")
    group = psql(
        "INSERT INTO groups (name, admin_id, description, \"timestamp\") "
        "VALUES ('Climbing club', :'v0', 'Tuesdays and Thursdays', :'v1') RETURNING id",
        ids["Ewa"], utc_now,
    )[0][0]
    for name in ("Ewa", "Ala", "Bartek", "Celina", "Darek"):
        psql(
            "INSERT INTO users_groups (group_id, user_id, status, \"timestamp\") VALUES (:'v0', :'v1', :'v2', :'v3')",
            group, ids[name], "admin" if name == "Ewa" else "standard", utc_now,
        )
    # Due at the next minute, when schedule-events runs: the `once` reminder
    # a day before the dinner, the weekly one at its first occurrence.
    event_insert = (
        "INSERT INTO events (is_budget, budget, description, group_id, event_timestamp, reminder, schedule_period, "
        "\"timestamp\", name) VALUES (:'v0', nullif(:'v1', '')::float4, :'v2', :'v3', :'v4', :'v5', :'v6', :'v7', :'v8') "
        "RETURNING id"
    )
    naive = lambda t: t.astimezone(timezone.utc).replace(tzinfo=None).isoformat(sep=" ")
    dinner = psql(
        event_insert, "true", "500", "Bring something <homemade> & warm", group,
        naive(run_at + timedelta(days=1)), "once", "1 day", utc_now, "Christmas dinner",
    )[0][0]
    wall = psql(
        event_insert, "false", "", "Shoes and chalk", group, naive(run_at), "periodical", "7 days", utc_now,
        "Wall session",
    )[0][0]
    # Reminded a minute after the others, once SES has reported on Bartek's email.
    gear = psql(
        event_insert, "false", "", "Ropes, harnesses, shoes", group,
        naive(run_at + timedelta(minutes=1, days=1)), "once", "1 day", utc_now, "Gear swap",
    )[0][0]
    attend = "INSERT INTO events_users (event_id, user_id, \"timestamp\") VALUES (:'v0', :'v1', :'v2')"
    for name in ("Ala", "Bartek", "Celina", "Darek", "Ewa"):
        psql(attend, dinner, ids[name], utc_now)
    for name in ("Ala", "Celina", "Ewa"):
        psql(attend, wall, ids[name], utc_now)
    psql(attend, gear, ids["Bartek"], utc_now)
    # The API may write a membership twice; Celina is still reminded once.
    psql(attend, dinner, ids["Celina"], utc_now)
    invitation = psql(
        "INSERT INTO group_invitation_logs (group_id, user_to, \"timestamp\", status) "
        "VALUES (:'v0', :'v1', :'v2', 'pending') RETURNING id",
        group, ids["Filip"], utc_now,
    )[0][0]
    comment_text = "Who brings the pierogi? 🥟 I can do the barszcz."
    comment = psql(
        "INSERT INTO events_comments (event_id, user_id, comment, \"timestamp\") "
        "VALUES (:'v0', :'v1', :'v2', :'v3') RETURNING id",
        dinner, ids["Ala"], comment_text, utc_now,
    )[0][0]
    return ids, {"group": group, "dinner": dinner, "wall": wall, "gear": gear, "invitation": invitation, "comment": comment,
                 "comment_text": comment_text}


def api_messages(urls, ids, seeded, now):
    """What the HTTP API sends for the invitation and the comment, as it
    sends it: one constant message group per queue, no deduplication id (the
    queues deduplicate by content), the same map as body and attributes."""
    sqs = boto3.client("sqs")
    for queue, group_id, fields in [
        ("group-invitation", "CreateSendPushGroupInvitationEvent",
         {"group_invitation_logs_id": seeded["invitation"], "user_id": ids["Filip"], "group_id": seeded["group"]}),
        ("comment-push", "CreateSchedulePushNotificationCommentsEvent",
         {"events_comments_id": seeded["comment"], "event_id": seeded["dinner"],
          "event_timestamp": now.strftime("%Y-%m-%d %H:%M:%S"), "user_id": ids["Ala"],
          "comment": seeded["comment_text"]}),
    ]:
        attributes = {k: {"DataType": "String", "StringValue": str(v)} for k, v in fields.items()}
        sqs.send_message(QueueUrl=urls[queue], MessageGroupId=group_id, MessageBody=json.dumps(attributes),
                         MessageAttributes=attributes)


def ses_bounce(message_id, address):
    """The SNS notification SES publishes for a permanent bounce of one of
    our messages (the sample event, pointed at the real message id)."""
    with open(os.path.join(ROOT, "events", "delivery-events-ses-bounce.json")) as f:
        event = json.load(f)
    ses = json.loads(event["Records"][0]["Sns"]["Message"])
    ses["mail"]["messageId"] = message_id
    ses["mail"]["destination"] = [address]
    ses["bounce"]["bouncedRecipients"][0]["emailAddress"] = address
    event["Records"][0]["Sns"]["Message"] = json.dumps(ses)
    return event


def bounce_and_fall_back(watch, urls, run_at):
    """SES reports Bartek's reminder email bounced for good; his next
    reminder (the gear swap, due a minute later) goes by SMS."""
    (message_id,) = psql(
        "SELECT l.provider_message_id FROM event_reminders_logs l JOIN users u ON u.id = l.user_id "
        "WHERE u.email = 'bartek@example.com' AND l.channel = 'email'"
    )[0]
    summary = watch.invoke("delivery-events", ses_bounce(message_id, "bartek@example.com"))
    print(f"   delivery-events, SES Bounce (Permanent) for {message_id[:12]}...: {summary}")
    next_minute = run_at + timedelta(minutes=1)
    summary = watch.invoke("schedule-events", scheduled_event(next_minute))
    print(f"   schedule-events at {next_minute:%H:%M}: {summary}")
    for function, count in pump(watch, urls).items():
        print(f"   {function}: {count} message(s) acknowledged")


class Watch:
    """`cargo lambda watch` serving every function of the workspace."""

    def __init__(self, env_file, port, log_path):
        self.port = port
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(
            ["cargo", "lambda", "watch", "--invoke-address", "127.0.0.1", "--invoke-port", str(port),
             "--env-file", env_file, "--ignore-changes", "--timeout", "600"],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_ready(self):
        import socket
        for _ in range(240):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise SystemExit(f"cargo lambda watch exited; see {self.log.name}")
                time.sleep(0.25)
        raise SystemExit("cargo lambda watch did not start")

    def invoke(self, function, payload):
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/2015-03-31/functions/{function}/invocations",
            data=json.dumps(payload).encode(), method="POST", headers={"content-type": "application/json"},
        )
        for attempt in range(120):  # the server may still be starting
            try:
                with urllib.request.urlopen(request, timeout=600) as response:
                    return json.loads(response.read() or b"null")
            except urllib.error.HTTPError as error:
                raise SystemExit(f"{function} failed: {error.read().decode(errors='replace')[:500]}")
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        raise SystemExit("cargo lambda watch did not start")

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


def scheduled_event(at):
    return {"version": "0", "id": "demo-schedule", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": os.environ["AWS_REGION"],
            "resources": ["arn:aws:events:eu-central-1:123456789012:rule/torium-schedule-events"], "detail": {}}


def pump(watch, urls, rounds=20):
    """Feeds every queue to its consumer until all are empty (bounded)."""
    sqs = boto3.client("sqs")
    counts = {}
    for _ in range(rounds):
        moved = 0
        for queue, (function, batch_size) in QUEUES.items():
            got = sqs.receive_message(QueueUrl=urls[queue], MaxNumberOfMessages=batch_size,
                                      AttributeNames=["All"], MessageAttributeNames=["All"])
            messages = got.get("Messages", [])
            if not messages:
                continue
            records = [{
                "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs", "eventSourceARN": f"arn:aws:sqs:{os.environ['AWS_REGION']}:123456789012:{queue}.fifo",
                "awsRegion": os.environ["AWS_REGION"],
            } for m in messages]
            response = watch.invoke(function, {"Records": records}) or {}
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
            for m in messages:
                if m["MessageId"] not in failed:
                    sqs.delete_message(QueueUrl=urls[queue], ReceiptHandle=m["ReceiptHandle"])
            counts[function] = counts.get(function, 0) + len(messages) - len(failed)
            if failed:
                print(f"   {function}: {len(failed)} message(s) reported failed, left for redelivery")
            moved += len(messages)
        if moved == 0:
            break
    return counts


def received(ids, devices):
    """What each person got, as moto recorded it."""
    data = json.load(urllib.request.urlopen(os.environ["AWS_ENDPOINT_URL"] + "/moto-api/data.json"))
    people = {name: [] for name in PEOPLE}
    by_phone = {p[1]: n for n, p in PEOPLE.items() if p[1]}
    by_email = {p[0]: n for n, p in PEOPLE.items()}
    by_device = {arn: n for n, arn in devices.items()}
    for sms in data.get("sns", {}).get("SMS", []):
        if sms["phone_number"] in by_phone:
            people[by_phone[sms["phone_number"]]].append(("SMS", sms["message"]))
    for mail in data.get("ses", {}).get("Message", []):
        for to in mail["destinations"].get("ToAddresses", []):
            if to in by_email:
                people[by_email[to]].append(("email", f"Subject: {mail['subject']}\n{mail['body']}"))
    for endpoint in data.get("sns", {}).get("PlatformEndpoint", []):
        if endpoint["arn"] in by_device:
            for raw in endpoint["messages"].values():
                gcm = json.loads(json.loads(raw)["GCM"])["fcmV1Message"]["message"]
                people[by_device[endpoint["arn"]]].append(
                    ("push", f"{gcm['notification']['title']} | {gcm['notification']['body']} | data={json.dumps(gcm['data'], ensure_ascii=False)}"))
    return people


def emitted_metrics(log_path):
    """The functions' EMF records (JSON lines with an `_aws` key) from the
    watch log: deliveries by (channel, outcome), lateness values, and the
    other metrics summed by name."""
    deliveries, lateness, totals = {}, [], {}
    with open(log_path, errors="replace") as log:
        for line in log:
            line = line.strip()
            if not line.startswith("{") or '"_aws"' not in line:
                continue
            record = json.loads(line)
            for definition in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                name = definition["Name"]
                values = record[name] if isinstance(record[name], list) else [record[name]]
                if name == "Deliveries":
                    key = (record.get("Channel", "-"), record.get("Outcome", "-"))
                    deliveries[key] = deliveries.get(key, 0) + sum(values)
                elif name == "DeliveryLateness":
                    lateness.extend(values)
                else:
                    totals[name] = totals.get(name, 0) + sum(values)
    return deliveries, lateness, totals


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else None


def check(people, log_rows, metrics):
    """The demo's promises, asserted."""
    failures = []

    checks = [0]

    def expect(condition, what):
        checks[0] += 1
        print(f"   {'ok  ' if condition else 'FAIL'} {what}")
        if not condition:
            failures.append(what)

    kinds = {name: sorted(kind for kind, _ in got) for name, got in people.items()}
    expect(kinds["Ala"] == ["SMS", "SMS"], "Ala (SMS, PKO) gets two SMS")
    expect(any("Your share: 100.00 PLN, pay at https://www.pkobp.pl/" in t for _, t in people["Ala"]), "Ala's SMS carries her share and PKO's link")
    expect(kinds["Bartek"] == ["SMS", "email"], "Bartek (EMAIL, ING) gets the dinner by email, then the gear swap by SMS")
    expect(any("pay at https://www.ing.pl/" in t for _, t in people["Bartek"]), "Bartek's email carries ING's link")
    expect(all("&lt;homemade&gt; &amp; warm" in t for kind, t in people["Bartek"] if kind == "email"),
           "user text in the email is HTML-escaped")
    expect(kinds["Celina"] == ["push", "push", "push"], "Celina (PUSH) gets two reminder pushes and the comment push")
    expect(any(t.startswith("New comment: Christmas dinner | ala@example.com: Who brings the pierogi? 🥟") for _, t in people["Celina"]),
           "Celina's comment push names the event and the author")
    expect(kinds["Darek"] == ["email"], "Darek (PUSH without a device) falls back to one email")
    expect(kinds["Ewa"] == ["email", "email"], "Ewa (no preference) gets two emails")
    expect(kinds["Filip"] == ["push"] and people["Filip"][0][1].startswith("Climbing club - Group invitation | From ewa@example.com"),
           "Filip gets the group invitation push from the admin")
    statuses = sorted(row[3] for row in log_rows)
    expect(statuses == ["bounced"] + ["sent"] * 8, f"nine reminder deliveries, Bartek's email bounced (got {statuses})")
    bartek = {(row[0], row[2], row[3]) for row in log_rows if row[1] == "bartek@example.com"}
    expect(bartek == {("Christmas dinner", "email", "bounced"), ("Gear swap", "sms", "sent")},
           f"after the bounce Bartek's next reminder went by SMS (got {sorted(bartek)})")
    suppressed = psql("SELECT email_suppression_reason FROM users WHERE email = 'bartek@example.com' AND email_suppressed_at IS NOT NULL")
    expect(bool(suppressed) and "Permanent" in suppressed[0][0], "Bartek's address is suppressed, with the bounce as the reason")
    expect(SIGNUP_RECORDED == [True], "cargo lambda invoke --data-file events/cognito-pre-signup.json recorded the sign-up")
    deliveries, lateness, _ = metrics
    sent = sum(n for (_, outcome), n in deliveries.items() if outcome == "sent")
    expect(sent == 9 and len(lateness) == 9, f"the functions' EMF metrics count the nine reminder deliveries (got {sent}, {len(lateness)} lateness values)")
    return failures, checks[0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true", help="assert what people received instead of only printing it")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--setup-only", action="store_true", help="create the local AWS resources and the env file, then stop")
    parser.add_argument("--env-file", default=os.path.join(ROOT, ".local", "demo.env"))
    args = parser.parse_args()
    env_file = args.env_file
    os.makedirs(os.path.dirname(env_file), exist_ok=True)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    # The next minute at least 30 s ahead: the seed (whose rows become due
    # when written) must land before the minute the scheduler runs for.
    run_at = (now + timedelta(seconds=90)).replace(second=0)

    with step("local AWS: queues with dead-letter queues, SES sender, SNS platform application"):
        urls, devices = setup_aws(env_file)
    if args.setup_only:
        print(f"   queues and identities created; environment written to {env_file}")
        return
    with step("seed: 6 people, a group, 3 events, an invitation, a comment"):
        ids, seeded = seed(devices, run_at)
    with step("build the handler binaries"):
        subprocess.run(["cargo", "build", "--locked", "--quiet", "--workspace", "--bins"], cwd=ROOT, check=True)
    watch = Watch(env_file, args.port, os.path.join(ROOT, ".local", "cargo-lambda-watch.log"))
    try:
        with step("cargo lambda invoke cognito-pre-signup --data-file events/cognito-pre-signup.json"):
            watch.wait_ready()
            out = subprocess.run(
                ["cargo", "lambda", "invoke", "--invoke-address", "127.0.0.1", "--invoke-port", str(args.port),
                 "--data-file", "events/cognito-pre-signup.json", "--output-format", "json", "cognito-pre-signup"],
                cwd=ROOT, capture_output=True, text=True, timeout=600,
            )
            if out.returncode != 0:
                raise SystemExit(f"cargo lambda invoke failed: {out.stderr[-1000:]}")
            signed_up = psql("SELECT count(*) FROM users WHERE cognito_user_id = '7d4f6c2e-91b3-4a57-8e0f-2b6a9c1d3e58' AND NOT is_confirmed")
            SIGNUP_RECORDED.append(signed_up[0][0] == "1")
            print(f"   the sample sign-up is in the users table, unconfirmed: {SIGNUP_RECORDED[0]}")
        with step("schedule-events for the next minute, then every queue to its consumer"):
            summary = watch.invoke("schedule-events", scheduled_event(run_at))
            print(f"   schedule-events at {run_at:%H:%M}: {summary}")
            api_messages(urls, ids, seeded, now)
            for function, count in pump(watch, urls).items():
                print(f"   {function}: {count} message(s) acknowledged")
        with step("SES reports a permanent bounce; the next reminder falls back to SMS"):
            bounce_and_fall_back(watch, urls, run_at)
    finally:
        watch.stop()

    people = received(ids, devices)
    log_rows = psql(
        "SELECT e.name, u.email, coalesce(l.channel::text, '-'), l.status::text, coalesce(l.provider_message_id, '-') "
        "FROM event_reminders_logs l JOIN event_reminders r ON r.id = l.event_reminders_id JOIN events e ON e.id = r.event_id "
        "JOIN users u ON u.id = l.user_id ORDER BY e.name, u.email"
    )
    metrics = emitted_metrics(watch.log.name)
    if args.check:
        with step("check what each person received"):
            failures, checked = check(people, log_rows, metrics)
        print(f"demo: {checked - len(failures)} passed, {len(failures)} failed")
        sys.exit(1 if failures else 0)

    print("\n== What each person received (as moto recorded it)")
    for name, got in people.items():
        email, phone, preference, bank, device = PEOPLE[name]
        print(f"\n-- {name} <{email}> preference={preference or 'none'} bank={bank or '-'} device={'yes' if device else 'no'}")
        for kind, text in got or [("-", "(nothing)")]:
            print(f"   [{kind}] " + text.replace("\n", "\n         "))
    print("\n== Delivery log (event_reminders_logs)")
    for row in log_rows:
        print("   " + " | ".join(row))
    deliveries, lateness, totals = metrics
    print("\n== Metrics the functions emitted (CloudWatch Embedded Metric Format, from their log lines)")
    print("   channel  outcome        count")
    for (channel, outcome), count in sorted(deliveries.items()):
        print(f"   {channel:8} {outcome:14} {count:5.0f}")
    if lateness:
        print(f"   lateness of {len(lateness)} deliveries: p50 {percentile(lateness, 50) / 1000:.1f} s, "
              f"p99 {percentile(lateness, 99) / 1000:.1f} s (provider accept minus trigger time)")
    for name, total in sorted(totals.items()):
        print(f"   {name}: {total:g}")
    print("\n== Where the time went")
    for name, seconds in TIMINGS:
        print(f"   {seconds:6.1f} s  {name}")


if __name__ == "__main__":
    main()

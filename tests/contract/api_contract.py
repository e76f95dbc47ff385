#!/usr/bin/env python3
"""The database contract with the existing HTTP API (../shared/torium-contracts.md section 5).

The API shares Torium's PostgreSQL database and will not change. This script
plays the API against a database that `torium-migrate` migrated: for every
table of section 5 it runs statements shaped as the API's (the same column
lists, the same filters and joins, psycopg2 `%(name)s` parameters, values of
the Python types the API passes) and checks what psycopg2 reads back. It also
checks the catalog for every earlier column, so that a later migration which
renames, narrows or tightens anything the API relies on fails here by name.

Users are never inserted by the API (Torium's Cognito trigger creates them),
so test users come from Torium's own minimal sign-up insert; the rows the
Lambdas write (event_reminders and the two log tables) are set up with the
earlier columns only.

Usage: DATABASE_URL=postgres://... python3 tests/contract/api_contract.py
Prints one line per failed case and, last, `contract: N passed, M failed`;
exits non-zero when any case failed. Needs psycopg2 (psycopg2-binary).
"""
import datetime
import os
import struct
import sys
import uuid

import psycopg2

UTC = datetime.timezone.utc
RUN = uuid.uuid4().hex[:8]  # keeps reruns on one database apart


def naive_utc_now():
    """What the API writes: `datetime.utcnow()` (naive, UTC wall clock)."""
    return datetime.datetime.now(UTC).replace(tzinfo=None)


# The earlier columns the API relies on: (column, kind, detail, nullable).
# kind: int, varchar (detail = the earlier length), timestamp, bool, float,
# interval, enum (detail = the labels the API writes). nullable: the API
# may write or leave NULL there, so the column must stay nullable.
EARLIER_COLUMNS = {
    "organizations": [
        ("id", "int", None, False),
        ("name", "varchar", 200, False),
        ("url", "varchar", 200, False),
        ("file_name", "varchar", 200, False),
    ],
    "users": [
        ("id", "int", None, False),
        ("username", "varchar", 50, True),  # nullable: a sign-up has none
        ("email", "varchar", 50, False),
        ("mobile_number", "varchar", 50, True),  # nullable: a sign-up has none
        ("timestamp", "timestamp", None, False),
        ("is_confirmed", "bool", None, False),
        ("reminder_preferences", "enum", ("SMS", "PUSH", "EMAIL"), True),
        ("cognito_user_id", "varchar", 50, False),
        ("organization_id", "int", None, True),
        ("device_token", "varchar", 200, True),
        ("device_arn", "varchar", 200, True),  # the live system's width
    ],
    "groups": [
        ("id", "int", None, False),
        ("name", "varchar", 50, False),
        ("description", "varchar", 500, True),
        ("admin_id", "int", None, False),
        ("timestamp", "timestamp", None, False),
    ],
    "users_groups": [
        ("id", "int", None, False),
        ("group_id", "int", None, False),
        ("user_id", "int", None, False),
        ("timestamp", "timestamp", None, False),
        ("status", "enum", ("standard", "admin", "moderator"), True),
    ],
    "group_invitation_logs": [
        ("id", "int", None, False),
        ("group_id", "int", None, False),
        ("user_to", "int", None, False),
        ("timestamp", "timestamp", None, False),
        ("status", "enum", ("pending", "sent", "confirmed", "rejected"), False),
        ("updated_timestamp", "timestamp", None, True),
    ],
    "events": [
        ("id", "int", None, False),
        ("is_budget", "bool", None, False),
        ("budget", "float", None, True),
        ("name", "varchar", 50, False),
        ("description", "varchar", 500, True),
        ("group_id", "int", None, False),
        ("event_timestamp", "timestamp", None, False),
        ("timestamp", "timestamp", None, False),
        ("updated_timestamp", "timestamp", None, True),
        ("reminder", "enum", ("periodical", "once"), False),
        ("schedule_period", "interval", None, False),
    ],
    "events_users": [
        ("id", "int", None, False),
        ("event_id", "int", None, False),
        ("user_id", "int", None, False),
        ("timestamp", "timestamp", None, False),
    ],
    "event_reminders": [
        ("id", "int", None, False),
        ("event_id", "int", None, False),
        ("trigger_timestamp", "timestamp", None, False),
        ("timestamp", "timestamp", None, False),
    ],
    "event_reminders_logs": [
        ("id", "int", None, False),
        ("event_reminders_id", "int", None, False),
        ("sent_timestamp", "timestamp", None, False),
        ("user_id", "int", None, False),
        ("status", "varchar", 50, False),
        ("answer", "varchar", 10, True),
        ("timestamp", "timestamp", None, False),
    ],
    "events_comments": [
        ("id", "int", None, False),
        ("event_id", "int", None, False),
        ("user_id", "int", None, False),
        ("comment", "varchar", 500, False),
        ("timestamp", "timestamp", None, False),
    ],
    "events_comments_logs": [
        ("id", "int", None, False),
        ("events_comments_id", "int", None, False),
        ("user_id", "int", None, False),
        ("sent_timestamp", "timestamp", None, False),
        ("timestamp", "timestamp", None, False),
    ],
    "users_verification": [
        ("id", "int", None, False),
        ("user_id", "int", None, False),
        ("mobile_number", "varchar", 50, False),
        ("is_sent", "bool", None, False),
        ("is_confirmed", "bool", None, False),
        ("code", "varchar", 50, False),
        ("timestamp", "timestamp", None, False),
    ],
}

ACCEPTED_TYPES = {
    "int": {"integer", "bigint"},
    "timestamp": {"timestamp without time zone", "timestamp with time zone"},
    "bool": {"boolean"},
    "float": {"real", "double precision"},  # never numeric: psycopg2 reads that as Decimal
    "interval": {"interval"},
}


class Missing(Exception):
    """A case needs a row that an earlier, failed case should have made."""


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def expect_type(value, kind, what):
    expect(type(value) is kind, f"{what}: expected {kind.__name__}, read back {type(value).__name__} {value!r}")


def expect_instant(value, written, what):
    """A naive UTC datetime written reads back as that UTC instant."""
    expect_type(value, datetime.datetime, what)
    if value.tzinfo is None:
        expect(value == written, f"{what}: wrote {written} (naive UTC), read back {value}")
    else:
        expect(
            value == written.replace(tzinfo=UTC) and value.utcoffset() == datetime.timedelta(0),
            f"{what}: wrote {written} (naive UTC), read back {value.isoformat()}, "
            f"not {written.replace(tzinfo=UTC).isoformat()}",
        )


def as_float4(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def describe(error):
    if isinstance(error, psycopg2.Error):
        text = (error.pgerror or str(error)).strip().replace("\n", " | ")
        return f"{error.pgcode or 'error'}: {text}"
    if isinstance(error, (AssertionError, Missing)):
        return str(error)
    return f"{type(error).__name__}: {error}"


class Contract:
    def __init__(self, conn):
        self.conn = conn
        self.state = {}
        self.passed = 0
        self.failed = 0

    def need(self, *keys):
        for key in keys:
            if key not in self.state:
                raise Missing(f"needs {key}, which an earlier case did not create")
        return [self.state[k] for k in keys] if len(keys) > 1 else self.state[keys[0]]

    def run(self, name, check):
        """Runs one case in a transaction of its own; what it returns is kept for later cases."""
        try:
            with self.conn.cursor() as cur:
                made = check(cur)
            self.conn.commit()
        except Exception as error:  # every failure is reported, none stops the run
            self.conn.rollback()
            self.failed += 1
            message = describe(error)
            if len(message) > 400:
                message = message[:400] + " ..."
            print(f"FAIL {name}: {message}", flush=True)
            return
        self.state.update(made or {})
        self.passed += 1


def one(cur, sql, params=None):
    cur.execute(sql, params)
    rows = cur.fetchall()
    expect(len(rows) == 1, f"expected one row, got {len(rows)}")
    return rows[0]


def as_dicts(cur):
    names = [d.name for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


# ---------------------------------------------------------------- the catalog


def schema_case(table, columns):
    def check(cur):
        cur.execute(
            "SELECT column_name, data_type, character_maximum_length, is_nullable, udt_name "
            "FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %(table)s",
            {"table": table},
        )
        present = {r[0]: r[1:] for r in cur.fetchall()}
        expect(present, f"table {table} does not exist")
        problems = []
        for column, kind, detail, nullable in columns:
            if column not in present:
                problems.append(f"{column} is missing")
                continue
            data_type, length, is_nullable, udt = present[column]
            if kind == "varchar":
                if data_type == "character varying":
                    if length is not None and length < detail:
                        problems.append(f"{column} is varchar({length}), narrower than the earlier varchar({detail})")
                elif data_type != "text":
                    problems.append(f"{column} is {data_type}, not a string type")
            elif kind == "enum":
                if data_type != "USER-DEFINED":
                    problems.append(f"{column} is {data_type}, not the earlier enum")
                else:
                    cur.execute(
                        "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
                        "WHERE t.typname = %(udt)s",
                        {"udt": udt},
                    )
                    labels = {r[0] for r in cur.fetchall()}
                    lost = [label for label in detail if label not in labels]
                    if lost:
                        problems.append(f"{column} ({udt}) lacks the labels {lost}")
            elif data_type not in ACCEPTED_TYPES[kind]:
                problems.append(f"{column} is {data_type}, the API needs {kind}")
            if nullable and is_nullable != "YES":
                problems.append(f"{column} became NOT NULL")
        expect(not problems, f"{table}: " + "; ".join(problems))

    return check


# ---------------------------------------------------------------- users and banks


def signup_user(label):
    def check(cur):
        email = f"{label}.{RUN}@example.com"
        (user_id,) = one(
            cur,
            "INSERT INTO users (cognito_user_id, email) VALUES (%(cognito_user_id)s, %(email)s) RETURNING id",
            {"cognito_user_id": f"cognito-{label}-{RUN}", "email": email},
        )
        expect_type(user_id, int, "users.id")
        return {f"user:{label}": user_id, f"email:{label}": email}

    return check


def long_email_user(cur):
    # The earlier email column held 50 characters: the API's lookups must find such an address.
    email = f"{RUN}.{'x' * (50 - len(RUN) - len('.@example.com'))}@example.com"
    expect(len(email) == 50, "test data")
    (user_id,) = one(
        cur,
        "INSERT INTO users (cognito_user_id, email) VALUES (%(cognito_user_id)s, %(email)s) RETURNING id",
        {"cognito_user_id": f"cognito-long-{RUN}", "email": email},
    )
    return {"user:long": user_id, "email:long": email}


def read_organizations(cur):
    cur.execute("SELECT id, name, url, file_name FROM organizations ORDER BY id")
    rows = cur.fetchall()
    expect(rows, "organizations is empty: the app lists the banks from it")
    for row in rows:
        expect_type(row[0], int, "organizations.id")
        for i, column in ((1, "name"), (2, "url"), (3, "file_name")):
            expect_type(row[i], str, f"organizations.{column}")
    return {"organization": rows[0][0]}


def update_user(column, value):
    def check(cur, contract):
        user_id = contract.need("user:member")
        cur.execute(
            f"UPDATE users SET {column} = %({column})s WHERE id = %(id)s", {column: value, "id": user_id}
        )
        expect(cur.rowcount == 1, f"UPDATE users SET {column} changed {cur.rowcount} rows")
        (back,) = one(cur, f"SELECT {column} FROM users WHERE id = %(id)s", {"id": user_id})
        expect(back == value, f"users.{column}: wrote {value!r}, read back {back!r}")
        expect_type(back, type(value), f"users.{column}")

    return check


USER_COLUMNS = (
    "id, username, email, mobile_number, reminder_preferences, cognito_user_id, device_arn, device_token, organization_id"
)


def check_user_row(row, contract):
    (user_id, username, email, mobile, preference, cognito, arn, token, organization) = row
    expect_type(user_id, int, "users.id")
    expect(username is None, f"users.username of a sign-up: expected None, read back {username!r}")
    expect_type(email, str, "users.email")
    expect(mobile == contract.state["mobile"], f"users.mobile_number: read back {mobile!r}")
    expect(preference == "PUSH", f"users.reminder_preferences: expected 'PUSH' (str), read back {preference!r}")
    expect_type(preference, str, "users.reminder_preferences")
    expect_type(cognito, str, "users.cognito_user_id")
    expect(arn == contract.state["arn"], f"users.device_arn: read back {arn!r}")
    expect(token == contract.state["token"], f"users.device_token: read back {token!r}")
    expect_type(organization, int, "users.organization_id")


def read_user_by_id(cur, contract):
    user_id = contract.need("user:member")
    check_user_row(one(cur, f"SELECT {USER_COLUMNS} FROM users WHERE id = %(id)s", {"id": user_id}), contract)


def read_user_by_email(cur, contract):
    user_id, email = contract.need("user:member", "email:member")
    row = one(cur, f"SELECT {USER_COLUMNS} FROM users WHERE email = %(email)s", {"email": email})
    expect(row[0] == user_id, f"users by email found id {row[0]}, not {user_id}")
    check_user_row(row, contract)
    long_id, long_email = contract.need("user:long", "email:long")
    (found,) = one(cur, "SELECT id FROM users WHERE email = %(email)s", {"email": long_email})
    expect(found == long_id, "a 50-character email is not found by email")


# ---------------------------------------------------------------- groups and members


def insert_group(name, description, at):
    def check(cur, contract):
        admin = contract.need("user:admin")
        (group_id,) = one(
            cur,
            'INSERT INTO groups (name, admin_id, description, "timestamp") '
            "VALUES (%(name)s, %(admin_id)s, %(description)s, %(timestamp)s) RETURNING id",
            {"name": name, "admin_id": admin, "description": description, "timestamp": at},
        )
        expect_type(group_id, int, "groups.id")
        return {f"group:{name}": group_id, f"group:{name}:at": at}

    return check


def read_group_timestamp(cur, contract):
    group_id, at = contract.need("group:Flat", "group:Flat:at")
    (written,) = one(cur, 'SELECT "timestamp" FROM groups WHERE id = %(id)s', {"id": group_id})
    expect_instant(written, at, 'groups."timestamp"')


def update_group(cur, contract):
    group_id, member, admin = contract.need("group:Flat", "user:member", "user:admin")
    params = {"name": "Flat 12", "description": "Rent and bills " + "ż" * 400, "admin_id": member, "id": group_id}
    cur.execute(
        "UPDATE groups SET name = %(name)s, description = %(description)s, admin_id = %(admin_id)s WHERE id = %(id)s",
        params,
    )
    expect(cur.rowcount == 1, f"UPDATE groups changed {cur.rowcount} rows")
    back = one(cur, "SELECT name, description, admin_id FROM groups WHERE id = %(id)s", {"id": group_id})
    expect(back == (params["name"], params["description"], member), f"groups read back {back!r}")
    # Back to the first admin, as the API's "change admin" would.
    cur.execute("UPDATE groups SET name = %(name)s, description = %(description)s, admin_id = %(admin_id)s "
                "WHERE id = %(id)s", {**params, "admin_id": admin})


def read_groups_with_admin(cur, contract):
    group_id, bare, admin, admin_email = contract.need("group:Flat", "group:Trip", "user:admin", "email:admin")
    cur.execute(
        "SELECT g.id, g.name, g.description, g.admin_id, u.email AS admin_email "
        "FROM groups g JOIN users u ON u.id = g.admin_id WHERE g.admin_id = %(admin_id)s ORDER BY g.id",
        {"admin_id": admin},
    )
    rows = as_dicts(cur)
    expect([r["id"] for r in rows] == [group_id, bare], f"groups of the admin: {rows!r}")
    for r in rows:
        expect_type(r["id"], int, "groups.id")
        expect_type(r["admin_id"], int, "groups.admin_id")
        expect_type(r["name"], str, "groups.name")
        expect(r["admin_email"] == admin_email, f"admin's email joined on admin_id: {r['admin_email']!r}")
    expect(rows[1]["description"] is None, "a group written without description reads back None")


def insert_membership(user_key, status, state_key):
    def check(cur, contract):
        group_id, user_id = contract.need("group:Flat", user_key)
        (row_id,) = one(
            cur,
            'INSERT INTO users_groups (group_id, user_id, status, "timestamp") '
            "VALUES (%(group_id)s, %(user_id)s, %(status)s, %(timestamp)s) RETURNING id",
            {"group_id": group_id, "user_id": user_id, "status": status, "timestamp": naive_utc_now()},
        )
        expect_type(row_id, int, "users_groups.id")
        return {state_key: row_id}

    return check


def duplicate_membership_counts(cur, contract):
    group_id, member = contract.need("group:Flat", "user:member")
    contract.need("membership:member:again")
    (count,) = one(
        cur,
        "SELECT count(*) FROM users_groups WHERE group_id = %(group_id)s AND user_id = %(user_id)s",
        {"group_id": group_id, "user_id": member},
    )
    expect(count == 2, f"two membership rows written, {count} read back")


def update_membership_status(cur, contract):
    group_id, moderator = contract.need("group:Flat", "user:moderator")
    for status in ("standard", "admin", "moderator"):
        cur.execute(
            "UPDATE users_groups SET status = %(status)s WHERE group_id = %(group_id)s AND user_id = %(user_id)s",
            {"status": status, "group_id": group_id, "user_id": moderator},
        )
        expect(cur.rowcount == 1, f"UPDATE users_groups status changed {cur.rowcount} rows")
        (back,) = one(
            cur,
            "SELECT status FROM users_groups WHERE group_id = %(group_id)s AND user_id = %(user_id)s",
            {"group_id": group_id, "user_id": moderator},
        )
        expect(back == status and type(back) is str, f"users_groups.status: wrote {status!r}, read back {back!r}")


def read_admin_literal(cur, contract):
    group_id, admin = contract.need("group:Flat", "user:admin")
    cur.execute(
        "SELECT user_id FROM users_groups WHERE group_id = %(group_id)s AND status = 'admin'", {"group_id": group_id}
    )
    admins = [r[0] for r in cur.fetchall()]
    expect(admins == [admin], f"status = 'admin' found {admins!r}")


def read_status_parameter(cur, contract):
    group_id, admin, member = contract.need("group:Flat", "user:admin", "user:member")
    cur.execute(
        "SELECT ug.user_id, ug.status, u.email FROM users_groups ug JOIN users u ON u.id = ug.user_id "
        "WHERE ug.group_id = %(group_id)s AND ug.status IN (%(first)s, %(second)s) ORDER BY ug.id",
        {"group_id": group_id, "first": "admin", "second": "standard"},
    )
    rows = cur.fetchall()
    expect([r[0] for r in rows] == [admin, member, member], f"members by status parameter: {rows!r}")
    for r in rows:
        expect_type(r[1], str, "users_groups.status")
    (is_admin,) = one(
        cur,
        "SELECT EXISTS (SELECT 1 FROM users_groups WHERE group_id = %(group_id)s AND user_id = %(user_id)s "
        "AND status = %(status)s)",
        {"group_id": group_id, "user_id": admin, "status": "admin"},
    )
    expect(is_admin is True, "the admin's status = %(status)s test is false")


def read_groups_of_user(cur, contract):
    group_id, member = contract.need("group:Flat", "user:member")
    cur.execute(
        "SELECT g.id, g.name, g.description, g.admin_id, ug.status FROM groups g "
        "JOIN users_groups ug ON ug.group_id = g.id WHERE ug.user_id = %(user_id)s",
        {"user_id": member},
    )
    rows = cur.fetchall()
    expect([r[0] for r in rows] == [group_id, group_id],
           f"groups of a member (duplicate rows kept): {[(r[0], r[4]) for r in rows]!r}")


# ---------------------------------------------------------------- invitations


def insert_invitation(group_key, at, state_key):
    def check(cur, contract):
        group_id, invitee = contract.need(group_key, "user:invitee")
        (row_id,) = one(
            cur,
            'INSERT INTO group_invitation_logs (group_id, user_to, "timestamp", status) '
            "VALUES (%(group_id)s, %(user_to)s, %(timestamp)s, %(status)s) RETURNING id",
            {"group_id": group_id, "user_to": invitee, "timestamp": at, "status": "pending"},
        )
        expect_type(row_id, int, "group_invitation_logs.id")
        return {state_key: row_id, f"{state_key}:at": at}

    return check


INVITATIONS_OF_USER = (
    'SELECT gil.id, gil.group_id, g.name, u.email AS inviter, gil.status, gil."timestamp" '
    "FROM group_invitation_logs gil JOIN groups g ON g.id = gil.group_id JOIN users u ON u.id = g.admin_id "
    'WHERE gil.user_to = %(user_to)s AND gil.status = %(status)s ORDER BY gil."timestamp"'
)


def read_pending_invitations(cur, contract):
    early, late, invitee, admin_email = contract.need(
        "invitation:early", "invitation:late", "user:invitee", "email:admin"
    )
    cur.execute(INVITATIONS_OF_USER, {"user_to": invitee, "status": "pending"})
    rows = as_dicts(cur)
    expect([r["id"] for r in rows] == [early, late], f"pending invitations ordered by timestamp: {rows!r}")
    for r in rows:
        expect(r["inviter"] == admin_email, f"inviter (the group's admin) read back {r['inviter']!r}")
        expect(r["status"] == "pending" and type(r["status"]) is str, f"status read back {r['status']!r}")
    expect_instant(rows[0]["timestamp"], contract.state["invitation:early:at"], 'group_invitation_logs."timestamp"')


def answer_invitation(cur, contract):
    group_id, invitee = contract.need("group:Trip", "user:invitee")
    for status in ("sent", "rejected", "confirmed"):
        at = naive_utc_now()
        cur.execute(
            "UPDATE group_invitation_logs SET status = %(status)s, updated_timestamp = %(updated_timestamp)s "
            "WHERE group_id = %(group_id)s AND user_to = %(user_to)s",
            {"status": status, "updated_timestamp": at, "group_id": group_id, "user_to": invitee},
        )
        expect(cur.rowcount == 1, f"UPDATE group_invitation_logs changed {cur.rowcount} rows")
        status_back, at_back = one(
            cur,
            "SELECT status, updated_timestamp FROM group_invitation_logs "
            "WHERE group_id = %(group_id)s AND user_to = %(user_to)s",
            {"group_id": group_id, "user_to": invitee},
        )
        expect(status_back == status, f"invitation status: wrote {status!r}, read back {status_back!r}")
        expect_instant(at_back, at, "group_invitation_logs.updated_timestamp")
    cur.execute(INVITATIONS_OF_USER, {"user_to": invitee, "status": "confirmed"})
    expect(len(cur.fetchall()) == 1, "the confirmed invitation is not found by user_to and status")


# ---------------------------------------------------------------- events


EVENT_INSERT = (
    "INSERT INTO events (is_budget, budget, description, group_id, event_timestamp, reminder, schedule_period, "
    '"timestamp", name) VALUES (%(is_budget)s, %(budget)s, %(description)s, %(group_id)s, %(event_timestamp)s, '
    "%(reminder)s, %(schedule_period)s, %(timestamp)s, %(name)s) RETURNING id"
)
EVENT_COLUMNS = (
    'id, is_budget, budget, name, description, group_id, event_timestamp, "timestamp", updated_timestamp, '
    "reminder, schedule_period"
)
DINNER_AT = datetime.datetime(2026, 12, 24, 18, 0, 0, 123456)
RENT_AT = datetime.datetime(2026, 11, 30, 9, 30, 0)


def insert_event(name, **values):
    def check(cur, contract):
        group_id = contract.need("group:Flat")
        params = {"group_id": group_id, "name": name, "timestamp": naive_utc_now(), **values}
        (event_id,) = one(cur, EVENT_INSERT, params)
        expect_type(event_id, int, "events.id")
        return {f"event:{name}": event_id, f"event_params:{name}": params}

    return check


def read_events(cur, contract):
    group_id, dinner, rent = contract.need("group:Flat", "event:Dinner", "event:Rent")
    cur.execute(f"SELECT {EVENT_COLUMNS} FROM events WHERE group_id = %(group_id)s ORDER BY event_timestamp",
                {"group_id": group_id})
    rows = as_dicts(cur)
    expect([r["id"] for r in rows] == [rent, dinner], f"events ordered by event_timestamp: {[r['id'] for r in rows]}")
    for r in rows:
        written = contract.state[f"event_params:{r['name']}"]
        expect_type(r["id"], int, "events.id")
        expect_type(r["group_id"], int, "events.group_id")
        expect_type(r["is_budget"], bool, "events.is_budget")
        expect(r["is_budget"] == written["is_budget"], "events.is_budget changed")
        expect_type(r["name"], str, "events.name")
        expect(r["description"] == written["description"], f"events.description read back {r['description']!r}")
        expect(r["reminder"] == written["reminder"], f"events.reminder: wrote {written['reminder']!r}, "
                                                     f"read back {r['reminder']!r}")
        expect_type(r["reminder"], str, "events.reminder")
        expect_type(r["schedule_period"], datetime.timedelta, "events.schedule_period")
        expect(r["schedule_period"] == written["schedule_period"], f"events.schedule_period read back "
                                                                   f"{r['schedule_period']!r}")
        expect_instant(r["event_timestamp"], written["event_timestamp"], "events.event_timestamp")
        expect_instant(r["timestamp"], written["timestamp"], 'events."timestamp"')
        expect(r["updated_timestamp"] is None, "events.updated_timestamp of a new event is not None")
        if written["budget"] is None:
            expect(r["budget"] is None, f"events.budget written None, read back {r['budget']!r}")
        else:
            expect_type(r["budget"], float, "events.budget")
            expect(r["budget"] in (written["budget"], as_float4(written["budget"])),
                   f"events.budget: wrote {written['budget']!r}, read back {r['budget']!r}")


def update_event(cur, contract):
    dinner, group_id = contract.need("event:Dinner", "group:Flat")
    params = {
        "is_budget": True, "budget": 250.5, "description": "Christmas dinner, moved", "group_id": group_id,
        "event_timestamp": DINNER_AT + datetime.timedelta(hours=1), "reminder": "once",
        "schedule_period": datetime.timedelta(days=2), "timestamp": naive_utc_now(), "name": "Dinner",
        "updated_timestamp": naive_utc_now(), "id": dinner,
    }
    cur.execute(
        "UPDATE events SET is_budget = %(is_budget)s, budget = %(budget)s, description = %(description)s, "
        "group_id = %(group_id)s, event_timestamp = %(event_timestamp)s, reminder = %(reminder)s, "
        'schedule_period = %(schedule_period)s, "timestamp" = %(timestamp)s, name = %(name)s, '
        "updated_timestamp = %(updated_timestamp)s WHERE id = %(id)s",
        params,
    )
    expect(cur.rowcount == 1, f"UPDATE events changed {cur.rowcount} rows")
    cur.execute(f"SELECT {EVENT_COLUMNS} FROM events WHERE id = %(id)s", {"id": dinner})
    (r,) = as_dicts(cur)
    expect(r["reminder"] == "once" and r["schedule_period"] == params["schedule_period"], f"events read back {r!r}")
    expect(r["budget"] == 250.5 and type(r["budget"]) is float, f"events.budget read back {r['budget']!r}")
    expect_instant(r["event_timestamp"], params["event_timestamp"], "events.event_timestamp (updated)")
    expect_instant(r["updated_timestamp"], params["updated_timestamp"], "events.updated_timestamp")


def naive_utc_lands_as_utc(cur, contract):
    """A fixed naive value, microseconds included, is that UTC instant in SQL too."""
    rent = contract.need("event:Rent")
    cur.execute("UPDATE events SET event_timestamp = %(event_timestamp)s WHERE id = %(id)s",
                {"event_timestamp": DINNER_AT, "id": rent})
    (utc_text,) = one(
        cur,
        "SELECT to_char(CASE WHEN pg_typeof(event_timestamp) = 'timestamptz'::regtype "
        "THEN (event_timestamp::timestamptz AT TIME ZONE 'UTC') ELSE event_timestamp::timestamp END, "
        "'YYYY-MM-DD HH24:MI:SS.US') FROM events WHERE id = %(id)s",
        {"id": rent},
    )
    expect(utc_text == str(DINNER_AT), f"naive UTC {DINNER_AT} is stored as the UTC instant {utc_text}")
    cur.execute("UPDATE events SET event_timestamp = %(event_timestamp)s WHERE id = %(id)s",
                {"event_timestamp": RENT_AT, "id": rent})


def insert_event_member(user_key, state_key):
    def check(cur, contract):
        event_id, user_id = contract.need("event:Dinner", user_key)
        (row_id,) = one(
            cur,
            'INSERT INTO events_users (event_id, user_id, "timestamp") '
            "VALUES (%(event_id)s, %(user_id)s, %(timestamp)s) RETURNING id",
            {"event_id": event_id, "user_id": user_id, "timestamp": naive_utc_now()},
        )
        expect_type(row_id, int, "events_users.id")
        return {state_key: row_id}

    return check


def read_event_members(cur, contract):
    event_id, admin, member = contract.need("event:Dinner", "user:admin", "user:member")
    contract.need("event_member:member:again")
    cur.execute("SELECT user_id FROM events_users WHERE event_id = %(event_id)s ORDER BY id", {"event_id": event_id})
    ids = [r[0] for r in cur.fetchall()]
    expect(ids == [admin, member, member], f"events_users user_id by event (a duplicate kept): {ids!r}")
    for i in ids:
        expect_type(i, int, "events_users.user_id")


def read_event_members_array(cur, contract):
    group_id, dinner, admin, member = contract.need("group:Flat", "event:Dinner", "user:admin", "user:member")
    cur.execute(
        "SELECT e.id, e.name, ARRAY(SELECT eu.user_id FROM events_users eu WHERE eu.event_id = e.id ORDER BY eu.id) "
        "AS users FROM events e WHERE e.group_id = %(group_id)s ORDER BY e.event_timestamp",
        {"group_id": group_id},
    )
    rows = {r[0]: r[2] for r in cur.fetchall()}
    expect(rows.get(dinner) == [admin, member, member], f"ARRAY(SELECT user_id ...) read back {rows!r}")
    expect(all(type(x) is int for x in rows[dinner]), "ARRAY(SELECT user_id ...) elements are not int")
    expect(all(type(v) is list for v in rows.values()), "ARRAY(SELECT user_id ...) is not a list")


# ---------------------------------------------------------------- firings (written by the Lambdas)


def lambda_firings(cur, contract):
    """Rows as the Lambdas write them, with the earlier columns only."""
    dinner, member = contract.need("event:Dinner", "user:member")
    now = naive_utc_now()
    made = {}
    for label, ago in (("recent", datetime.timedelta(hours=2)), ("old", datetime.timedelta(days=2))):
        (reminder,) = one(
            cur,
            'INSERT INTO event_reminders (event_id, trigger_timestamp, "timestamp") '
            "VALUES (%(event_id)s, %(trigger)s, %(timestamp)s) RETURNING id",
            {"event_id": dinner, "trigger": now - ago, "timestamp": now - ago},
        )
        cur.execute(
            'INSERT INTO event_reminders_logs (event_reminders_id, sent_timestamp, user_id, status, "timestamp") '
            "VALUES (%(reminder)s, %(sent)s, %(user_id)s, 'sent', %(sent)s)",
            {"reminder": reminder, "sent": now - ago, "user_id": member},
        )
        made[f"firing:{label}"] = (reminder, now - ago)
    return made


def notify_now_rule(cur, contract):
    dinner, (recent, recent_at) = contract.need("event:Dinner", "firing:recent")
    cur.execute(
        "SELECT id, trigger_timestamp FROM event_reminders "
        "WHERE event_id = %(event_id)s AND now() - trigger_timestamp < interval '1 day'",
        {"event_id": dinner},
    )
    rows = cur.fetchall()
    expect([r[0] for r in rows] == [recent], f"the 24-hour rule found {rows!r}, expected only the 2-hour-old firing")
    expect_instant(rows[0][1], recent_at, "event_reminders.trigger_timestamp")
    rent = contract.need("event:Rent")
    (blocked,) = one(
        cur,
        "SELECT EXISTS (SELECT 1 FROM event_reminders WHERE event_id = %(event_id)s "
        "AND now() - trigger_timestamp < interval '1 day')",
        {"event_id": rent},
    )
    expect(blocked is False, "an event never reminded is refused by the 24-hour rule")


# ---------------------------------------------------------------- comments


COMMENT_INSERT = (
    'INSERT INTO events_comments (event_id, user_id, comment, "timestamp") '
    "VALUES (%(event_id)s, %(user_id)s, %(comment)s, %(timestamp)s) RETURNING id"
)


def insert_comments(cur, contract):
    dinner, admin, member = contract.need("event:Dinner", "user:admin", "user:member")
    later = naive_utc_now()
    earlier = later - datetime.timedelta(minutes=5)
    long_comment = "Zażółć gęślą jaźń 🎄 " * 25  # 500 characters, most of them not ASCII
    expect(len(long_comment) == 500, "test data")
    (second,) = one(cur, COMMENT_INSERT, {"event_id": dinner, "user_id": member, "comment": "I bring the fish",
                                          "timestamp": later})
    (first,) = one(cur, COMMENT_INSERT, {"event_id": dinner, "user_id": admin, "comment": long_comment,
                                         "timestamp": earlier})
    expect_type(first, int, "events_comments.id")
    # The push the Lambdas log for it, earlier columns only.
    cur.execute(
        'INSERT INTO events_comments_logs (events_comments_id, user_id, sent_timestamp, "timestamp") '
        "VALUES (%(comment)s, %(user_id)s, %(sent)s, %(sent)s)",
        {"comment": second, "user_id": admin, "sent": later},
    )
    return {"comment:first": (first, long_comment, earlier), "comment:second": second}


def update_comment(cur, contract):
    second = contract.need("comment:second")
    cur.execute("UPDATE events_comments SET comment = %(comment)s WHERE id = %(id)s",
                {"comment": "I bring the fish and the wine", "id": second})
    expect(cur.rowcount == 1, f"UPDATE events_comments changed {cur.rowcount} rows")


def read_comments(cur, contract):
    dinner, (first, text, at), second = contract.need("event:Dinner", "comment:first", "comment:second")
    cur.execute('SELECT id, user_id, comment, "timestamp" FROM events_comments WHERE event_id = %(event_id)s '
                'ORDER BY "timestamp"', {"event_id": dinner})
    rows = cur.fetchall()
    expect([r[0] for r in rows] == [first, second], f"comments ordered by timestamp: {[r[0] for r in rows]}")
    expect(rows[0][2] == text, "the 500-character comment did not read back unchanged")
    expect(rows[1][2] == "I bring the fish and the wine", f"updated comment read back {rows[1][2]!r}")
    expect_type(rows[0][1], int, "events_comments.user_id")
    expect_instant(rows[0][3], at, 'events_comments."timestamp"')


# ---------------------------------------------------------------- phone verification


def insert_verification(cur, contract):
    member, mobile = contract.need("user:member", "mobile")
    at = naive_utc_now()
    (row_id,) = one(
        cur,
        'INSERT INTO users_verification (user_id, mobile_number, is_sent, is_confirmed, code, "timestamp") '
        "VALUES (%(user_id)s, %(mobile_number)s, %(is_sent)s, %(is_confirmed)s, %(code)s, %(timestamp)s) "
        "RETURNING id",
        {"user_id": member, "mobile_number": mobile, "is_sent": True, "is_confirmed": False, "code": "482913",
         "timestamp": at},
    )
    expect_type(row_id, int, "users_verification.id")
    return {"verification": (row_id, at)}


VERIFICATION_BY_CODE = (
    'SELECT id, user_id, mobile_number, is_sent, is_confirmed, code, "timestamp" FROM users_verification '
    "WHERE user_id = %(user_id)s AND code = %(code)s"
)


def confirm_verification(cur, contract):
    member, (row_id, at) = contract.need("user:member", "verification")
    row = one(cur, VERIFICATION_BY_CODE, {"user_id": member, "code": "482913"})
    expect(row[0] == row_id and row[3] is True and row[4] is False, f"users_verification read back {row!r}")
    expect_instant(row[6], at, 'users_verification."timestamp"')
    cur.execute("UPDATE users_verification SET is_confirmed = %(is_confirmed)s WHERE user_id = %(user_id)s "
                "AND code = %(code)s", {"is_confirmed": True, "user_id": member, "code": "482913"})
    expect(cur.rowcount == 1, f"UPDATE users_verification changed {cur.rowcount} rows")
    row = one(cur, VERIFICATION_BY_CODE, {"user_id": member, "code": "482913"})
    expect(row[4] is True, f"is_confirmed read back {row[4]!r}")
    cur.execute(VERIFICATION_BY_CODE, {"user_id": member, "code": "000000"})
    expect(cur.fetchall() == [], "a wrong code matched")


# ---------------------------------------------------------------- deletes, children first as the API does


def count(cur, table, where, params):
    (n,) = one(cur, f"SELECT count(*) FROM {table} WHERE {where}", params)
    return n


def leave_group(cur, contract):
    group_id, moderator = contract.need("group:Flat", "user:moderator")
    cur.execute("DELETE FROM users_groups WHERE user_id = %(user_id)s AND group_id = %(group_id)s",
                {"user_id": moderator, "group_id": group_id})
    expect(cur.rowcount == 1, f"DELETE users_groups by (user, group) removed {cur.rowcount} rows")


def delete_comment(cur, contract):
    (first, _, _) = contract.need("comment:first")
    cur.execute("DELETE FROM events_comments WHERE id = %(id)s", {"id": first})
    expect(cur.rowcount == 1, f"DELETE events_comments by id removed {cur.rowcount} rows")


def delete_invitation(cur, contract):
    early = contract.need("invitation:early")
    cur.execute("DELETE FROM group_invitation_logs WHERE id = %(id)s", {"id": early})
    expect(cur.rowcount == 1, f"DELETE group_invitation_logs by id removed {cur.rowcount} rows")


def delete_event(cur, contract):
    """An event the Lambdas reminded about and pushed a comment of: the API deletes what it knows, then the event."""
    dinner = contract.need("event:Dinner")
    contract.need("firing:recent", "comment:second")
    p = {"event_id": dinner}
    cur.execute("DELETE FROM events_comments WHERE event_id = %(event_id)s", p)
    cur.execute("DELETE FROM events_users WHERE event_id = %(event_id)s", p)
    cur.execute("DELETE FROM events WHERE id = %(event_id)s", p)
    expect(cur.rowcount == 1, f"DELETE events by id removed {cur.rowcount} rows")
    expect(count(cur, "event_reminders", "event_id = %(event_id)s", p) == 0, "the event's firings are left behind")


def delete_group(cur, contract):
    """Deleting a group as the API does: its events, memberships and invitations first."""
    group_id, trip = contract.need("group:Flat", "group:Trip")
    for g in (group_id, trip):
        p = {"group_id": g}
        cur.execute("DELETE FROM events_users WHERE event_id IN (SELECT id FROM events WHERE group_id = %(group_id)s)",
                    p)
        cur.execute("DELETE FROM events WHERE group_id = %(group_id)s", p)
        cur.execute("DELETE FROM users_groups WHERE group_id = %(group_id)s", p)
        cur.execute("DELETE FROM group_invitation_logs WHERE group_id = %(group_id)s", p)
        cur.execute("DELETE FROM groups WHERE id = %(group_id)s", p)
        expect(cur.rowcount == 1, f"DELETE groups by id removed {cur.rowcount} rows")
        for table, where in (("events", "group_id"), ("users_groups", "group_id"),
                             ("group_invitation_logs", "group_id"), ("groups", "id")):
            expect(count(cur, table, f"{where} = %(group_id)s", p) == 0, f"{table} rows of the group are left")


def cases():
    """(name, check) in order; a check takes (cursor) or (cursor, contract)."""
    listed = [(f"schema.{table}", schema_case(table, columns)) for table, columns in EARLIER_COLUMNS.items()]
    now = naive_utc_now()
    listed += [
        ("users.insert (Torium sign-up): admin", signup_user("admin")),
        ("users.insert (Torium sign-up): member", signup_user("member")),
        ("users.insert (Torium sign-up): moderator", signup_user("moderator")),
        ("users.insert (Torium sign-up): invitee", signup_user("invitee")),
        ("users.insert (Torium sign-up): a 50-character email", long_email_user),
        ("organizations.select", read_organizations),
    ]
    for preference in ("SMS", "EMAIL", "PUSH"):  # PUSH last: the reads below expect it
        listed.append((f"users.update reminder_preferences = {preference}",
                       update_user("reminder_preferences", preference)))
    listed += [
        ("users.update mobile_number", lambda cur, c: update_user("mobile_number", c.need("mobile"))(cur, c)),
        ("users.update organization_id",
         lambda cur, c: update_user("organization_id", c.need("organization"))(cur, c)),
        ("users.update device_arn", lambda cur, c: update_user("device_arn", c.need("arn"))(cur, c)),
        ("users.update device_token", lambda cur, c: update_user("device_token", c.need("token"))(cur, c)),
        ("users.select by id", read_user_by_id),
        ("users.select by email", read_user_by_email),
        ("groups.insert", insert_group("Flat", "Our flat", now)),
        ("groups.insert without description", insert_group("Trip", None, now)),
        ("groups.select \"timestamp\": the naive UTC value written is that UTC instant", read_group_timestamp),
        ("groups.update name, description, admin_id", update_group),
        ("groups.select joined on admin_id", read_groups_with_admin),
        ("users_groups.insert admin", insert_membership("user:admin", "admin", "membership:admin")),
        ("users_groups.insert standard", insert_membership("user:member", "standard", "membership:member")),
        ("users_groups.insert a duplicate membership",
         insert_membership("user:member", "standard", "membership:member:again")),
        ("users_groups.insert moderator", insert_membership("user:moderator", "moderator", "membership:moderator")),
        ("users_groups.duplicate rows kept", duplicate_membership_counts),
        ("users_groups.update status", update_membership_status),
        ("users_groups.select status = 'admin'", read_admin_literal),
        ("users_groups.select status = %(param)s", read_status_parameter),
        ("users_groups.select groups of a user", read_groups_of_user),
        ("group_invitation_logs.insert (later one first)",
         insert_invitation("group:Trip", now, "invitation:late")),
        ("group_invitation_logs.insert", insert_invitation("group:Flat", now - datetime.timedelta(hours=1),
                                                           "invitation:early")),
        ("group_invitation_logs.select by user_to and status ordered by timestamp", read_pending_invitations),
        ("group_invitation_logs.update status, updated_timestamp by (group, user_to)", answer_invitation),
        ("events.insert periodical with a budget",
         insert_event("Dinner", is_budget=True, budget=123.45, description="Christmas dinner",
                      event_timestamp=DINNER_AT, reminder="periodical",
                      schedule_period=datetime.timedelta(days=7))),
        ("events.insert once without a budget",
         insert_event("Rent", is_budget=False, budget=None, description=None, event_timestamp=RENT_AT,
                      reminder="once", schedule_period=datetime.timedelta(hours=12))),
        ("events.select ordered by event_timestamp", read_events),
        ("events.timestamps: a naive UTC datetime lands as that UTC instant", naive_utc_lands_as_utc),
        ("events.update every column and updated_timestamp", update_event),
        ("events_users.insert admin", insert_event_member("user:admin", "event_member:admin")),
        ("events_users.insert member", insert_event_member("user:member", "event_member:member")),
        ("events_users.insert a duplicate member", insert_event_member("user:member", "event_member:member:again")),
        ("events_users.select user_id by event", read_event_members),
        ("events_users.select ARRAY(SELECT user_id ...)", read_event_members_array),
        ("event_reminders.set-up: firings and logs as the Lambdas write them", lambda_firings),
        ("event_reminders.select notify-now rule (now() - trigger_timestamp < 1 day)", notify_now_rule),
        ("events_comments.insert (and the Lambdas' push log)", insert_comments),
        ("events_comments.update comment", update_comment),
        ("events_comments.select ordered by timestamp", read_comments),
        ("users_verification.insert", insert_verification),
        ("users_verification.select by (user, code), update is_confirmed", confirm_verification),
        ("users_groups.delete by (user, group)", leave_group),
        ("events_comments.delete by id", delete_comment),
        ("group_invitation_logs.delete by id", delete_invitation),
        ("events.delete by id, children first (with the Lambdas' rows)", delete_event),
        ("groups.delete by id, children first (events by group, users_groups by group)", delete_group),
    ]
    return listed


def main():
    url = os.environ.get("DATABASE_URL")
    if not url:
        print("FAIL connect: DATABASE_URL is not set (a database migrated by torium-migrate)")
        print("contract: 0 passed, 1 failed")
        return 1
    try:
        conn = psycopg2.connect(url)
    except psycopg2.Error as error:
        print(f"FAIL connect: {describe(error)}")
        print("contract: 0 passed, 1 failed")
        return 1
    contract = Contract(conn)
    contract.state.update({
        "mobile": "+48600100200",
        "arn": f"arn:aws:sns:eu-central-1:123456789012:endpoint/GCM/torium-android/{uuid.uuid4()}",
        "token": "f" * 24 + ":APA91b" + "x" * 169,  # an FCM registration token is about 160-200 characters
    })
    assert len(contract.state["token"]) == 200
    for name, check in cases():
        takes_contract = check.__code__.co_argcount == 2
        contract.run(name, (lambda cur, c=check: c(cur, contract)) if takes_contract else check)
    conn.close()
    print(f"contract: {contract.passed} passed, {contract.failed} failed")
    return 1 if contract.failed else 0


if __name__ == "__main__":
    sys.exit(main())

-- The earlier Torium system's schema, as its HTTP API uses it
-- (../shared/torium-contracts.md section 5). This is the baseline: a
-- database that already holds it is adopted in place (torium-migrate
-- records this version as applied without running it) and every later
-- migration brings it forward exactly as it does a fresh install. Never
-- change this file: an existing database has exactly this.
--
-- users.device_arn is missing here on purpose: the earlier schema file did
-- not have it, although the API and the earlier Lambdas used it. V2 adds it
-- when it is missing and normalises its type when a database already has it.

CREATE TYPE reminder_preferences_type AS ENUM ('SMS', 'PUSH', 'EMAIL');
CREATE TYPE status_type AS ENUM ('pending', 'sent', 'confirmed', 'rejected');
CREATE TYPE reminder_type AS ENUM ('periodical', 'once');
CREATE TYPE member_status AS ENUM ('standard', 'admin', 'moderator');

CREATE TABLE organizations (
    id        serial4 NOT NULL,
    name      varchar(200) NOT NULL,
    url       varchar(200) NOT NULL,
    file_name varchar(200) NOT NULL,
    CONSTRAINT organizations_pk PRIMARY KEY (id)
);

INSERT INTO organizations (name, url, file_name) VALUES
    ('PKO', 'https://www.pkobp.pl/', 'pko.png'),
    ('Pekao', 'https://www.pekao.com.pl/', 'pekao.png'),
    ('ING', 'https://www.ing.pl/', 'ing.png');

CREATE TABLE users (
    id                   serial4 NOT NULL,
    username             varchar(50) NOT NULL,
    email                varchar(50) NOT NULL,
    mobile_number        varchar(50) NOT NULL,
    "timestamp"          timestamp NOT NULL,
    is_confirmed         bool NOT NULL,
    reminder_preferences reminder_preferences_type NULL,
    cognito_user_id      varchar(50) NOT NULL,
    organization_id      int4 NULL,
    device_token         varchar(200) NULL,
    CONSTRAINT users_pk PRIMARY KEY (id),
    CONSTRAINT users_organization_fk FOREIGN KEY (organization_id) REFERENCES organizations (id)
);

CREATE TABLE "groups" (
    id          serial4 NOT NULL,
    name        varchar(50) NOT NULL,
    description varchar(500) NULL,
    admin_id    int4 NOT NULL,
    "timestamp" timestamp NOT NULL,
    CONSTRAINT groups_pk PRIMARY KEY (id),
    CONSTRAINT groups_admin_fk FOREIGN KEY (admin_id) REFERENCES users (id)
);

CREATE TABLE users_groups (
    id          serial4 NOT NULL,
    group_id    int4 NOT NULL,
    user_id     int4 NOT NULL,
    "timestamp" timestamp NOT NULL,
    status      member_status NULL,
    CONSTRAINT users_groups_pk PRIMARY KEY (id),
    CONSTRAINT users_groups_group_fk FOREIGN KEY (group_id) REFERENCES "groups" (id),
    CONSTRAINT users_groups_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
);

CREATE TABLE group_invitation_logs (
    id                serial4 NOT NULL,
    group_id          int4 NOT NULL,
    user_to           int4 NOT NULL,
    "timestamp"       timestamp NOT NULL,
    status            status_type NOT NULL,
    updated_timestamp timestamp NULL,
    CONSTRAINT group_invitation_logs_pk PRIMARY KEY (id),
    CONSTRAINT group_invitation_logs_group_fk FOREIGN KEY (group_id) REFERENCES "groups" (id),
    CONSTRAINT group_invitation_logs_user_to_fk FOREIGN KEY (user_to) REFERENCES users (id)
);

CREATE TABLE events (
    id                serial4 NOT NULL,
    is_budget         bool NOT NULL,
    budget            float4 NULL,
    name              varchar(50) NOT NULL,
    description       varchar(500) NULL,
    group_id          int4 NOT NULL,
    event_timestamp   timestamp NOT NULL,
    "timestamp"       timestamp NOT NULL,
    updated_timestamp timestamp NULL,
    reminder          reminder_type NOT NULL,
    schedule_period   interval NOT NULL,
    CONSTRAINT events_pk PRIMARY KEY (id),
    CONSTRAINT events_group_fk FOREIGN KEY (group_id) REFERENCES "groups" (id)
);

CREATE TABLE events_users (
    id          serial4 NOT NULL,
    event_id    int4 NOT NULL,
    user_id     int4 NOT NULL,
    "timestamp" timestamp NOT NULL,
    CONSTRAINT events_users_pk PRIMARY KEY (id),
    CONSTRAINT events_users_event_fk FOREIGN KEY (event_id) REFERENCES events (id),
    CONSTRAINT events_users_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
);

CREATE TABLE event_reminders (
    id                serial4 NOT NULL,
    event_id          int4 NOT NULL,
    trigger_timestamp timestamp NOT NULL,
    "timestamp"       timestamp NOT NULL,
    CONSTRAINT event_reminders_pk PRIMARY KEY (id),
    CONSTRAINT event_reminders_event_fk FOREIGN KEY (event_id) REFERENCES events (id)
);

CREATE TABLE event_reminders_logs (
    id                 serial4 NOT NULL,
    event_reminders_id int4 NOT NULL,
    sent_timestamp     timestamp NOT NULL,
    user_id            int4 NOT NULL,
    status             varchar(50) NOT NULL,
    answer             varchar(10) NULL,
    "timestamp"        timestamp NOT NULL,
    CONSTRAINT event_reminders_logs_pk PRIMARY KEY (id),
    CONSTRAINT event_reminders_logs_reminder_fk FOREIGN KEY (event_reminders_id) REFERENCES event_reminders (id),
    CONSTRAINT event_reminders_logs_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
);

CREATE TABLE events_comments (
    id          serial4 NOT NULL,
    event_id    int4 NOT NULL,
    user_id     int4 NOT NULL,
    comment     varchar(500) NOT NULL,
    "timestamp" timestamp NOT NULL,
    CONSTRAINT events_comments_pk PRIMARY KEY (id),
    CONSTRAINT events_comments_event_fk FOREIGN KEY (event_id) REFERENCES events (id),
    CONSTRAINT events_comments_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
);

CREATE TABLE events_comments_logs (
    id                 serial4 NOT NULL,
    events_comments_id int4 NOT NULL,
    user_id            int4 NOT NULL,
    sent_timestamp     timestamp NOT NULL,
    "timestamp"        timestamp NOT NULL,
    CONSTRAINT events_comments_logs_pk PRIMARY KEY (id),
    CONSTRAINT events_comments_logs_comment_fk FOREIGN KEY (events_comments_id) REFERENCES events_comments (id),
    CONSTRAINT events_comments_logs_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
);

CREATE TABLE users_verification (
    id            serial4 NOT NULL,
    user_id       int4 NOT NULL,
    mobile_number varchar(50) NOT NULL,
    is_sent       bool NOT NULL,
    is_confirmed  bool NOT NULL,
    code          varchar(50) NOT NULL,
    "timestamp"   timestamp NOT NULL,
    CONSTRAINT users_verification_pk PRIMARY KEY (id),
    CONSTRAINT users_verification_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
);

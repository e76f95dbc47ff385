//! Integration tests of the foundation, on real PostgreSQL and moto.
//! One test binary (modules below) keeps link time down.

mod adoption;
mod alerts;
mod api_messages;
mod cognito;
mod database_settings;
mod delivery;
mod delivery_events;
mod digests;
mod fan_out;
mod faults_kit;
mod fixtures;
mod migrate_resource;
mod migrations;
mod provider_loop;
mod pushes;
mod quiet_hours;
mod repository;
mod routing;
mod scheduling;
mod schema;
mod sqs;
mod template;

//! The integration tests: the real application (`vitrine::Application`, the same wiring as
//! `vitrine serve`) spawned on port 0 with a fresh data dir and a fresh database, driven over
//! real HTTP, against real components (GStreamer on real media, PostgreSQL, an S3 server, an
//! SMTP server, Chromium). One test binary, one module per area (zero-to-production's
//! `tests/api/` shape): `common` is compiled once and `TestApp` has one method per endpoint the
//! tests share.

mod common;

mod attribution;
mod authz;
mod bad_input;
mod catalog;
mod checkout;
mod contract;
mod feed;
mod feed_commerce;
mod feed_simulation;
mod hardening;
mod identity;
mod manifest;
mod operations;
mod outages;
mod pipeline;
mod repository;
mod roles_apart;
mod tags;
mod tus_clients;
mod upload_crash;
mod uploads;
mod web;
mod worker;

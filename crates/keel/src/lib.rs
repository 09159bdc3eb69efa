//! The Keel binary's library half: configuration, telemetry set-up and the wiring that turns a
//! [`config::Config`] into a running server. `main.rs` is only the CLI on top; the black-box tests
//! boot the same [`app`] functions on a random port.

pub mod app;
pub mod config;
pub mod telemetry;

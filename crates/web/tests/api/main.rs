//! Integration tests of the HTTP API against real PostgreSQL and Redis.

mod auth;
mod helpers;
mod public;
mod startup;
mod upload;
mod videos;

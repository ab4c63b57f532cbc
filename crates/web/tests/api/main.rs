//! Integration tests of the HTTP API against real PostgreSQL and Redis.

mod auth;
mod events;
mod helpers;
mod input;
mod limits;
mod openapi;
mod outage;
mod public;
mod races;
mod slow;
mod startup;
mod upload;
mod videos;

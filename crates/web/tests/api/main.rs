//! Integration tests of the HTTP API against real PostgreSQL and Redis.

mod auth;
mod events;
mod flood;
mod helpers;
mod input;
mod limits;
mod openapi;
mod outage;
mod public;
mod races;
mod resumable;
mod resumable_rules;
mod slow;
mod startup;
mod upload;
mod videos;
mod vote_night;

//! Integration tests of the HTTP API against real PostgreSQL and Redis.

mod admin;
mod auth;
mod events;
mod flood;
mod helpers;
mod input;
mod limits;
mod moderation;
mod openapi;
mod outage;
mod public;
mod races;
mod resumable;
mod resumable_rules;
mod rounds;
mod slow;
mod startup;
mod suspension;
mod upload;
mod videos;
mod views;
mod vote_night;

//! End-to-end tests of the processing pipeline: the real web service and worker,
//! real PostgreSQL, Redis and ffmpeg, local storage and S3 (moto).

mod e2e;
mod events;
mod faults;
mod helpers;
mod posters;
mod recovery;
mod resumable;
mod source;
mod source_glitch;
mod startup;

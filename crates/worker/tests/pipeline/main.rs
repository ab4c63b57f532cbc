//! End-to-end tests of the processing pipeline: the real web service and worker,
//! real PostgreSQL, Redis and ffmpeg, local storage and S3 (moto).

mod e2e;
mod faults;
mod helpers;
mod recovery;
mod resumable;
mod startup;

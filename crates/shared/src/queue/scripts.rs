//! The Lua scripts of [`super::JobQueue`], loaded once (redis-rs sends `EVALSHA` and
//! falls back to `EVAL` after a Redis restart lost the script cache).

use std::sync::LazyLock;

use redis::Script;

pub(super) static FINISH: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/finish.lua")));
pub(super) static DEFER: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/defer.lua")));
pub(super) static RELEASE_WORKER: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/release_worker.lua")));
pub(super) static LOST: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/lost.lua")));
pub(super) static REQUEUE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/requeue.lua")));

-- skillreel initial schema: players, videos, votes.
-- Constraints live here, not only in Rust: unique e-mail (case-insensitive),
-- one vote per player and video, the five video states.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE players (
    id            BIGSERIAL PRIMARY KEY,
    first_name    TEXT NOT NULL CHECK (char_length(first_name) BETWEEN 1 AND 100),
    last_name     TEXT NOT NULL CHECK (char_length(last_name) BETWEEN 1 AND 100),
    email         TEXT NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    city          TEXT NOT NULL CHECK (char_length(city) BETWEEN 1 AND 100),
    country       TEXT NOT NULL CHECK (char_length(country) BETWEEN 1 AND 100),
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX players_email_lower_key ON players (lower(email));
CREATE INDEX players_city_lower_idx ON players (lower(city), id);

CREATE TABLE videos (
    id                    BIGSERIAL PRIMARY KEY,
    owner_id              BIGINT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    title                 TEXT NOT NULL CHECK (char_length(title) BETWEEN 1 AND 255),
    status                TEXT NOT NULL DEFAULT 'uploaded'
                          CHECK (status IN ('uploaded', 'processing', 'processed', 'public', 'failed')),
    task_id               UUID NOT NULL UNIQUE,
    original_key          TEXT NOT NULL UNIQUE,
    processed_key         TEXT UNIQUE,
    size_bytes            BIGINT NOT NULL CHECK (size_bytes > 0),
    source_duration_secs  DOUBLE PRECISION NOT NULL,
    source_width          INT NOT NULL,
    source_height         INT NOT NULL,
    error                 TEXT,
    attempts              INT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    progress              REAL CHECK (progress BETWEEN 0 AND 100),
    votes_count           INT NOT NULL DEFAULT 0 CHECK (votes_count >= 0),
    claimed_by            TEXT,
    heartbeat_at          TIMESTAMPTZ,
    uploaded_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    processed_at          TIMESTAMPTZ,
    published_at          TIMESTAMPTZ,
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- a processed or public video always has its output
    CONSTRAINT videos_output_present CHECK (
        status NOT IN ('processed', 'public') OR (processed_key IS NOT NULL AND processed_at IS NOT NULL)
    ),
    CONSTRAINT videos_public_has_date CHECK (status <> 'public' OR published_at IS NOT NULL),
    CONSTRAINT videos_failed_has_error CHECK (status <> 'failed' OR error IS NOT NULL)
);

-- own list: newest first
CREATE INDEX videos_owner_idx ON videos (owner_id, uploaded_at DESC, id DESC);
-- public list: newest first, only public rows
CREATE INDEX videos_public_idx ON videos (uploaded_at DESC, id DESC) WHERE status = 'public';
-- rankings: sum of votes per owner over public videos, index-only
CREATE INDEX videos_public_owner_votes_idx ON videos (owner_id) INCLUDE (votes_count) WHERE status = 'public';
-- title search
CREATE INDEX videos_title_trgm_idx ON videos USING gin (lower(title) gin_trgm_ops) WHERE status = 'public';
-- recovery sweep
CREATE INDEX videos_pending_idx ON videos (updated_at) WHERE status IN ('uploaded', 'processing');

CREATE TABLE votes (
    video_id   BIGINT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    player_id  BIGINT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT votes_one_per_player PRIMARY KEY (video_id, player_id)
);

CREATE INDEX votes_player_idx ON votes (player_id);

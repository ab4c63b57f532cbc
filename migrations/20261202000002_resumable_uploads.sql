-- Resumable direct uploads: one row per upload a player started and has not finished.
-- The row is removed when the upload becomes a video (in the same transaction as the
-- video row), when the player aborts it, or by the sweep once it expired.

CREATE TABLE resumable_uploads (
    id                 UUID PRIMARY KEY,
    owner_id           BIGINT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    title              TEXT NOT NULL CHECK (char_length(title) BETWEEN 1 AND 255),
    filename           TEXT NOT NULL CHECK (char_length(filename) BETWEEN 1 AND 255),
    size_bytes         BIGINT NOT NULL CHECK (size_bytes > 0),
    part_size          BIGINT NOT NULL CHECK (part_size > 0),
    parts_count        INT NOT NULL CHECK (parts_count BETWEEN 1 AND 10000),
    -- the object the parts become; unique so two uploads can never assemble into one
    storage_key        TEXT NOT NULL UNIQUE,
    -- the storage backend's id of the multipart upload (S3 UploadId, or the local store's)
    backend_upload_id  TEXT NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at         TIMESTAMPTZ NOT NULL,
    CONSTRAINT resumable_uploads_parts_cover_size CHECK (
        parts_count = (size_bytes + part_size - 1) / part_size
    )
);

-- pending uploads of a player (the per-player limit)
CREATE INDEX resumable_uploads_owner_idx ON resumable_uploads (owner_id, expires_at);
-- the sweep
CREATE INDEX resumable_uploads_expires_idx ON resumable_uploads (expires_at);

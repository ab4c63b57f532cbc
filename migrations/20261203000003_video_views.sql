-- View counts: `POST /api/public/videos/{id}/view` counts a view at most once per viewer
-- (an account, `p:<id>`, else a client address, `a:<ip>`) per video per clock hour (UTC).
-- The primary key is the rule: a view is `INSERT … ON CONFLICT DO NOTHING`, and raises
-- videos.views_count (migration 20261203000001) only when its row was inserted, in the
-- same statement. Rows older than the current hour only matter for no rule and may be
-- pruned (`DELETE … WHERE hour < …`, the index below).
CREATE TABLE video_views (
    video_id BIGINT      NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    viewer   TEXT        NOT NULL CHECK (char_length(viewer) BETWEEN 3 AND 64),
    hour     TIMESTAMPTZ NOT NULL CHECK (hour = date_trunc('hour', hour, 'UTC')),
    PRIMARY KEY (video_id, viewer, hour)
);
CREATE INDEX video_views_hour_idx ON video_views (hour);

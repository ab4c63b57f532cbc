-- Organizers: moderation (hidden videos, suspended players), the audit log, the
-- competition's rounds (closing dates) and view counts. The routes are /api/admin/* and
-- /api/public/competition; who is an organizer is configuration (ADMIN_EMAILS), not data.

-- Suspended players: cannot log in, their tokens are refused, their public videos are
-- hidden and the votes they cast stop counting (votes.counted).
ALTER TABLE players
    ADD COLUMN suspended_at     TIMESTAMPTZ,
    ADD COLUMN suspended_reason TEXT CHECK (char_length(suspended_reason) BETWEEN 1 AND 500),
    ADD CONSTRAINT players_suspended_has_reason
        CHECK ((suspended_at IS NULL) = (suspended_reason IS NULL));

-- Hidden videos: out of the public list and the rankings (the totals' triggers count
-- status = 'public' only); `hidden_from` is the status a restore brings back; a video
-- hidden because its owner was suspended has `hidden_by_suspension`, so unsuspending
-- restores those and not the ones an organizer hid one by one.
ALTER TABLE videos DROP CONSTRAINT videos_status_check;
ALTER TABLE videos
    ADD CONSTRAINT videos_status_check
        CHECK (status IN ('uploaded', 'processing', 'processed', 'public', 'failed', 'hidden')),
    ADD COLUMN hidden_from          TEXT CHECK (hidden_from IN ('processed', 'public')),
    ADD COLUMN hidden_reason        TEXT CHECK (char_length(hidden_reason) BETWEEN 1 AND 500),
    ADD COLUMN hidden_at            TIMESTAMPTZ,
    ADD COLUMN hidden_by_suspension BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN views_count          BIGINT NOT NULL DEFAULT 0 CHECK (views_count >= 0),
    ADD CONSTRAINT videos_hidden_has_reason CHECK (
        (status = 'hidden') = (hidden_from IS NOT NULL AND hidden_reason IS NOT NULL AND hidden_at IS NOT NULL)
    );

-- The moderation queue: every video, newest first, optionally by status.
CREATE INDEX videos_status_uploaded_idx ON videos (status, uploaded_at DESC, id DESC);
CREATE INDEX videos_uploaded_idx ON videos (uploaded_at DESC, id DESC);

-- A vote of a suspended player stays stored (unsuspending counts it again) but is left
-- out of videos.votes_count, and so of the rankings, trends and statistics.
ALTER TABLE votes ADD COLUMN counted BOOLEAN NOT NULL DEFAULT true;
CREATE INDEX votes_created_idx ON votes (created_at) WHERE counted;

-- Every organizer action.
CREATE TABLE audit_log (
    id          BIGSERIAL PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor_id    BIGINT REFERENCES players (id) ON DELETE SET NULL,
    actor_email TEXT NOT NULL,
    action      TEXT NOT NULL CHECK (char_length(action) BETWEEN 1 AND 64),
    target_type TEXT CHECK (target_type IN ('video', 'player', 'competition')),
    target_id   BIGINT,
    reason      TEXT CHECK (char_length(reason) <= 500),
    details     JSONB NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC, id DESC);

-- The competition's one row of dates: NULL means open.
CREATE TABLE competition (
    id               BOOLEAN PRIMARY KEY DEFAULT true CHECK (id),
    uploads_close_at TIMESTAMPTZ,
    voting_close_at  TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO competition (id) VALUES (true);

-- Suspension and votes race: a batch that checked its voter before a suspension
-- committed must not insert a counted vote after the suspension uncounted the old ones.
-- Both sides take a transaction-level advisory lock on the voter's bucket (id mod 64,
-- under the key space 7_350_000): batches shared, in bucket order, before anything else;
-- a suspension exclusive, before anything else. A batch then checks its voters with a
-- fresh snapshot. Buckets bound a batch to 64 locks whatever its size.
CREATE FUNCTION voter_lock_key(p_player BIGINT) RETURNS BIGINT
LANGUAGE sql IMMUTABLE AS $$ SELECT 7350000::BIGINT * 100 + (p_player % 64) $$;

-- cast_votes as in 20261202000003, plus: voters' bucket locks first; a suspended voter
-- gets 'suspended'; every ballot gets 'voting-closed' once competition.voting_close_at
-- has passed (the transaction's time).
CREATE OR REPLACE FUNCTION cast_votes(p_videos BIGINT[], p_players BIGINT[])
RETURNS TABLE (vote_slot INT, vote_outcome TEXT)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    slots    INT[];
    outcomes TEXT[];
    ids      BIGINT[];
    counts   INT[];
    closed   BOOLEAN;
BEGIN
    SELECT COALESCE(voting_close_at <= now(), false) INTO closed FROM competition;
    IF closed THEN
        RETURN QUERY SELECT t.slot::INT, 'voting-closed'::TEXT
                       FROM unnest(p_videos) WITH ORDINALITY AS t(video_id, slot);
        RETURN;
    END IF;

    PERFORM pg_advisory_xact_lock_shared(k)
       FROM (SELECT DISTINCT voter_lock_key(p) AS k FROM unnest(p_players) AS p ORDER BY 1) l;

    WITH input AS (
        SELECT t.video_id, t.player_id, t.slot::INT AS slot
          FROM unnest(p_videos, p_players) WITH ORDINALITY AS t(video_id, player_id, slot)
    ), checked AS (
        SELECT i.slot, i.video_id, i.player_id,
               CASE WHEN p.id IS NULL THEN 'unknown-player'
                    WHEN p.suspended_at IS NOT NULL THEN 'suspended'
                    WHEN v.id IS NULL OR v.status <> 'public' THEN 'not-found'
                    WHEN v.owner_id = i.player_id THEN 'own-video'
                    ELSE 'eligible' END AS verdict,
               row_number() OVER (PARTITION BY i.video_id, i.player_id ORDER BY i.slot) AS copy
          FROM input i
          LEFT JOIN videos v ON v.id = i.video_id
          LEFT JOIN players p ON p.id = i.player_id
    ), inserted AS (
        -- In (video, player) order, so that two batches sharing pairs wait, not deadlock.
        INSERT INTO votes (video_id, player_id)
        SELECT video_id, player_id FROM checked
         WHERE verdict = 'eligible' AND copy = 1
         ORDER BY video_id, player_id
        ON CONFLICT DO NOTHING
        RETURNING video_id, player_id
    )
    SELECT array_agg(c.slot ORDER BY c.slot),
           array_agg(CASE WHEN c.verdict <> 'eligible' THEN c.verdict
                          WHEN c.copy = 1 AND ins.video_id IS NOT NULL THEN 'registered'
                          ELSE 'already-voted' END ORDER BY c.slot)
      INTO slots, outcomes
      FROM checked c
      LEFT JOIN inserted ins ON ins.video_id = c.video_id AND ins.player_id = c.player_id;

    SELECT array_agg(d.video_id ORDER BY d.video_id), array_agg(d.n ORDER BY d.video_id)
      INTO ids, counts
      FROM (SELECT p_videos[s] AS video_id, COUNT(*)::INT AS n
              FROM unnest(slots, outcomes) AS u(s, o)
             WHERE o = 'registered'
             GROUP BY 1) d;
    IF ids IS NOT NULL THEN
        PERFORM 1 FROM videos WHERE id = ANY (ids) ORDER BY id FOR NO KEY UPDATE;
        UPDATE videos v
           SET votes_count = v.votes_count + d.n
          FROM unnest(ids, counts) AS d(id, n)
         WHERE v.id = d.id;
    END IF;

    RETURN QUERY SELECT * FROM unnest(slots, outcomes);
END
$$;

-- Votes in batches (group commit) without hot-row deadlocks.
--
-- 1. players.public_votes / public_videos are kept by statement-level triggers over the
--    transition tables instead of a row-level trigger: a batch of votes that raises
--    votes_count on 40 videos of one favourite player updates that player's row once,
--    not 40 times. Every path that changes videos (publishing, a vote batch, deleting,
--    a bulk load) still goes through them, inside the same transaction.
-- 2. Row locks are always taken in the same order — vote pairs, then videos by id, then
--    players by id — so concurrent batches (of one web instance or of many) wait for
--    each other but never deadlock.
-- 3. cast_votes() does a whole batch in one round trip and one transaction: validation
--    (the voter exists, the video is public and not the voter's own), one multi-row
--    INSERT … ON CONFLICT DO NOTHING (the primary key stays the one-vote rule), and one
--    aggregated votes_count update. It answers one outcome per input position.

DROP TRIGGER videos_player_totals_ins_del ON videos;
DROP TRIGGER videos_player_totals_upd ON videos;
DROP FUNCTION videos_keep_player_totals();

-- Applies per-owner deltas: locks the players in id order, then updates each once.
CREATE FUNCTION players_apply_totals(d_owners BIGINT[], d_votes BIGINT[], d_videos INT[])
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF d_owners IS NULL THEN
        RETURN;
    END IF;
    PERFORM 1 FROM players WHERE id = ANY (d_owners) ORDER BY id FOR NO KEY UPDATE;
    UPDATE players p
       SET public_votes = p.public_votes + d.votes,
           public_videos = p.public_videos + d.videos
      FROM unnest(d_owners, d_votes, d_videos) AS d(owner_id, votes, videos)
     WHERE p.id = d.owner_id;
END
$$;

CREATE FUNCTION videos_player_totals() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    d_owners BIGINT[];
    d_votes  BIGINT[];
    d_videos INT[];
BEGIN
    -- Each public row leaving counts -(votes, 1) for its owner, each arriving +(votes, 1);
    -- rows whose status, owner and votes did not change cancel out.
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(owner_id ORDER BY owner_id), array_agg(v ORDER BY owner_id),
               array_agg(n ORDER BY owner_id)
          INTO d_owners, d_votes, d_videos
          FROM (SELECT owner_id, SUM(votes_count)::BIGINT AS v, COUNT(*)::INT AS n
                  FROM new_rows WHERE status = 'public' GROUP BY owner_id) d;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(owner_id ORDER BY owner_id), array_agg(v ORDER BY owner_id),
               array_agg(n ORDER BY owner_id)
          INTO d_owners, d_votes, d_videos
          FROM (SELECT owner_id, -SUM(votes_count)::BIGINT AS v, -COUNT(*)::INT AS n
                  FROM old_rows WHERE status = 'public' GROUP BY owner_id) d;
    ELSE
        SELECT array_agg(owner_id ORDER BY owner_id), array_agg(v ORDER BY owner_id),
               array_agg(n ORDER BY owner_id)
          INTO d_owners, d_votes, d_videos
          FROM (SELECT owner_id, SUM(v)::BIGINT AS v, SUM(n)::INT AS n
                  FROM (SELECT owner_id, -votes_count::BIGINT AS v, -1 AS n
                          FROM old_rows WHERE status = 'public'
                        UNION ALL
                        SELECT owner_id, votes_count::BIGINT, 1
                          FROM new_rows WHERE status = 'public') c
                 GROUP BY owner_id
                HAVING SUM(v) <> 0 OR SUM(n) <> 0) d;
    END IF;
    PERFORM players_apply_totals(d_owners, d_votes, d_videos);
    RETURN NULL;
END
$$;

CREATE TRIGGER videos_player_totals_ins
    AFTER INSERT ON videos REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION videos_player_totals();
CREATE TRIGGER videos_player_totals_upd
    AFTER UPDATE ON videos REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION videos_player_totals();
CREATE TRIGGER videos_player_totals_del
    AFTER DELETE ON videos REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION videos_player_totals();

-- One batch of votes. p_videos[i], p_players[i] is the i-th vote; the answer has one
-- row per position with its outcome: 'registered', 'already-voted', 'own-video',
-- 'not-found' (no such video, or not public) or 'unknown-player'. A pair repeated
-- inside one batch is registered at most once (the later copies: 'already-voted').
CREATE FUNCTION cast_votes(p_videos BIGINT[], p_players BIGINT[])
RETURNS TABLE (vote_slot INT, vote_outcome TEXT)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    slots    INT[];
    outcomes TEXT[];
    ids      BIGINT[];
    counts   INT[];
BEGIN
    WITH input AS (
        SELECT t.video_id, t.player_id, t.slot::INT AS slot
          FROM unnest(p_videos, p_players) WITH ORDINALITY AS t(video_id, player_id, slot)
    ), checked AS (
        SELECT i.slot, i.video_id, i.player_id,
               CASE WHEN p.id IS NULL THEN 'unknown-player'
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

-- Rankings from per-player totals instead of an aggregate over every public video.
--
-- players.public_votes  = SUM(votes_count) of the player's public videos
-- players.public_videos = how many public videos the player has (ranked when > 0)
--
-- A trigger on videos keeps both exact on every path that changes them (publishing,
-- a vote's votes_count + 1, deleting a row, a bulk load), inside the same transaction,
-- so a ranking page becomes an index range scan whatever the number of videos.

ALTER TABLE players
    ADD COLUMN public_votes  BIGINT NOT NULL DEFAULT 0 CHECK (public_votes >= 0),
    ADD COLUMN public_videos INT    NOT NULL DEFAULT 0 CHECK (public_videos >= 0);

UPDATE players p
   SET public_votes = t.votes, public_videos = t.videos
  FROM (SELECT owner_id, SUM(votes_count) AS votes, COUNT(*) AS videos
          FROM videos WHERE status = 'public' GROUP BY owner_id) t
 WHERE p.id = t.owner_id;

CREATE FUNCTION videos_keep_player_totals() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status = 'public' THEN
        UPDATE players
           SET public_votes = public_votes - OLD.votes_count,
               public_videos = public_videos - 1
         WHERE id = OLD.owner_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status = 'public' THEN
        UPDATE players
           SET public_votes = public_votes + NEW.votes_count,
               public_videos = public_videos + 1
         WHERE id = NEW.owner_id;
    END IF;
    RETURN NULL;
END
$$;

-- Only changes that can move a total fire it: a row arriving or leaving, or its
-- status, owner or vote count changing (not heartbeats or progress updates).
CREATE TRIGGER videos_player_totals_ins_del
    AFTER INSERT OR DELETE ON videos
    FOR EACH ROW EXECUTE FUNCTION videos_keep_player_totals();
CREATE TRIGGER videos_player_totals_upd
    AFTER UPDATE OF status, owner_id, votes_count ON videos
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          OR OLD.owner_id IS DISTINCT FROM NEW.owner_id
          OR OLD.votes_count IS DISTINCT FROM NEW.votes_count)
    EXECUTE FUNCTION videos_keep_player_totals();

-- The ranking, globally and per city: most votes first, then the earliest sign-up.
CREATE INDEX players_ranking_idx ON players (public_votes DESC, id)
    WHERE public_videos > 0;
CREATE INDEX players_city_ranking_idx ON players (lower(city), public_votes DESC, id)
    WHERE public_videos > 0;

-- The aggregate index the old query used is no longer read.
DROP INDEX videos_public_owner_votes_idx;

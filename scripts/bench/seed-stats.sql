-- Spreads the read-path benchmark data (scripts/bench/seed.sql: 10,000 players, 20,000
-- videos, 200,000 votes) over the last 72 hours for `GET /api/admin/stats`: uploads and
-- votes at deterministic times (every hourly bucket of the 48-hour series has data), view
-- counts, 1 % of the videos in each of failed / hidden / uploaded, and the votes of 1 % of
-- the players not counted (as if suspended).
-- Usage: psql -d <db> -v ON_ERROR_STOP=1 -f scripts/bench/seed.sql -f scripts/bench/seed-stats.sql
BEGIN;
UPDATE videos
   SET uploaded_at = now() - make_interval(secs => (id * 7919) % (72 * 3600)),
       views_count = (id * 31) % 500;
UPDATE votes
   SET created_at = now() - make_interval(secs => (video_id * 131 + player_id * 17) % (72 * 3600)),
       counted = player_id % 100 <> 0;
UPDATE videos SET status = 'failed', error = 'bench' WHERE id % 100 = 1;
UPDATE videos SET status = 'hidden', hidden_from = 'public', hidden_reason = 'bench', hidden_at = now()
 WHERE id % 100 = 2;
UPDATE videos SET status = 'uploaded' WHERE id % 100 = 3;
COMMIT;
ANALYZE players; ANALYZE videos; ANALYZE votes;
SELECT (SELECT count(*) FROM videos) AS videos, (SELECT count(*) FROM votes) AS votes,
       (SELECT count(*) FROM votes WHERE counted AND created_at > now() - interval '48 hours') AS votes_48h,
       (SELECT count(*) FROM videos WHERE uploaded_at > now() - interval '48 hours') AS uploads_48h;

-- Seeds the read-path benchmark database (run after skillreel-web has migrated it):
--   10,000 players over 50 cities, 20,000 public videos (2 per player),
--   200,000 votes (unique (video_id, player_id), no self votes, skewed towards low video ids),
--   videos.votes_count = per-video vote count.
-- Deterministic: setseed() fixes random().
-- Usage: psql -h 127.0.0.1 -U postgres -d skillreel_bench -v ON_ERROR_STOP=1 -f scripts/bench/seed.sql
BEGIN;
TRUNCATE votes, videos, players RESTART IDENTITY CASCADE;
SELECT setseed(0.42);

INSERT INTO players (first_name, last_name, email, city, country, password_hash, created_at)
SELECT 'First' || g, 'Last' || g, 'bench' || g || '@example.com',
       'City ' || lpad(((g - 1) % 50 + 1)::text, 2, '0'), 'Colombia',
       -- not a valid bcrypt hash of anything: seeded players cannot log in
       '$2b$12$benchbenchbenchbenchbeOaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
       now() - make_interval(secs => 10000 - g)
  FROM generate_series(1, 10000) g;

INSERT INTO videos (owner_id, title, status, task_id, original_key, processed_key, size_bytes,
                    source_duration_secs, source_width, source_height, attempts, progress,
                    uploaded_at, processed_at, published_at, updated_at)
SELECT (g - 1) % 10000 + 1,
       (ARRAY['Freestyle', 'Dribbling', 'Juggling', 'Skills', 'Penalty', 'Crossbar', 'Rabona', 'Panna'])[(g % 8) + 1]
         || ' clip ' || g,
       'public', gen_random_uuid(),
       'uploaded/bench-' || g || '.mp4', 'processed/bench-' || g || '.mp4',
       25000000, 45.0, 1920, 1080, 1, 100,
       now() - make_interval(secs => 20000 - g) - interval '1 hour',
       now() - make_interval(secs => 20000 - g) - interval '50 minutes',
       now() - make_interval(secs => 20000 - g) - interval '40 minutes',
       now()
  FROM generate_series(1, 20000) g;

-- 200,000 distinct (video, voter) pairs; video ids drawn with a power-law skew
INSERT INTO votes (video_id, player_id)
SELECT c.v, c.p
  FROM (SELECT DISTINCT v, p
          FROM (SELECT 1 + floor(20000 * power(random(), 1.6))::bigint AS v,
                       1 + floor(10000 * random())::bigint AS p
                  FROM generate_series(1, 320000)) s) c
  JOIN videos ON videos.id = c.v
 WHERE videos.owner_id <> c.p
 LIMIT 200000;

UPDATE videos v SET votes_count = c.n
  FROM (SELECT video_id, count(*)::int AS n FROM votes GROUP BY video_id) c
 WHERE v.id = c.video_id;
COMMIT;
ANALYZE players; ANALYZE videos; ANALYZE votes;
SELECT (SELECT count(*) FROM players) AS players, (SELECT count(*) FROM videos WHERE status = 'public') AS public_videos,
       (SELECT count(*) FROM votes) AS votes, (SELECT sum(votes_count) FROM videos) AS votes_count_sum,
       (SELECT count(DISTINCT city) FROM players) AS cities,
       (SELECT count(*) FROM votes JOIN videos ON videos.id = votes.video_id WHERE videos.owner_id = votes.player_id) AS self_votes;

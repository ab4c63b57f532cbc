-- Cold (cache-miss) cost of the public read queries, exactly as crates/shared/src/db/{rankings,videos}.rs send them.
-- Usage: psql -h 127.0.0.1 -U postgres -d skillreel_bench -f scripts/bench/explain.sql
\timing on
PREPARE rank(bigint, bigint) AS
SELECT id AS player_id, first_name, last_name, city, public_votes AS votes
  FROM players
 WHERE public_videos > 0
 ORDER BY public_votes DESC, id ASC
 LIMIT $1 OFFSET $2;
PREPARE rank_city(text, bigint, bigint) AS
SELECT id AS player_id, first_name, last_name, city, public_votes AS votes
  FROM players
 WHERE public_videos > 0 AND lower(city) = lower($1)
 ORDER BY public_votes DESC, id ASC
 LIMIT $2 OFFSET $3;
PREPARE pub(text, text, bigint, bigint) AS
SELECT v.id, v.title, v.uploaded_at, v.processed_key, p.first_name, p.last_name, p.city, v.votes_count
  FROM videos v JOIN players p ON p.id = v.owner_id
 WHERE v.status = 'public'
   AND ($1::TEXT IS NULL OR lower(p.city) = lower($1))
   AND ($2::TEXT IS NULL OR lower(v.title) LIKE $2)
 ORDER BY v.uploaded_at DESC, v.id DESC
 LIMIT $3 OFFSET $4;
-- warm the buffer cache once, then measure
EXECUTE rank(10, 0);
EXPLAIN (ANALYZE, BUFFERS) EXECUTE rank(10, 0);
EXPLAIN (ANALYZE, BUFFERS) EXECUTE rank_city('city 07', 10, 10);
EXPLAIN (ANALYZE, BUFFERS) EXECUTE pub(NULL, NULL, 20, 0);
EXPLAIN (ANALYZE, BUFFERS) EXECUTE pub('city 07', '%skills%', 20, 0);

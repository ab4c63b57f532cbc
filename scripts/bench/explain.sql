-- Cold (cache-miss) cost of the public read queries, exactly as crates/shared/src/db/{rankings,videos}.rs send them.
-- Usage: psql -h 127.0.0.1 -U postgres -d skillreel_bench -f scripts/bench/explain.sql
\timing on
PREPARE rank(text, bigint, bigint) AS
SELECT p.id AS player_id, p.first_name, p.last_name, p.city, t.votes
  FROM (SELECT owner_id, SUM(votes_count)::BIGINT AS votes
          FROM videos WHERE status = 'public' GROUP BY owner_id) t
  JOIN players p ON p.id = t.owner_id
 WHERE ($1::TEXT IS NULL OR lower(p.city) = lower($1))
 ORDER BY t.votes DESC, p.id ASC
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
EXECUTE rank(NULL, 10, 0);
EXPLAIN (ANALYZE, BUFFERS) EXECUTE rank(NULL, 10, 0);
EXPLAIN (ANALYZE, BUFFERS) EXECUTE rank('city 07', 10, 10);
EXPLAIN (ANALYZE, BUFFERS) EXECUTE pub(NULL, NULL, 20, 0);
EXPLAIN (ANALYZE, BUFFERS) EXECUTE pub('city 07', '%skills%', 20, 0);

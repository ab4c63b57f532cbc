-- Views in batches (crates/shared/src/views.rs, the group commit of crates/shared/src/batch.rs):
-- one call counts a batch of views under the rule of migration 20261203000003 — at most
-- once per viewer, video and clock hour (UTC) — in one round trip and one transaction.
--
-- record_views(videos, viewers) answers one outcome per input slot, in order:
--   'counted'          the (video, viewer, hour) row was inserted and views_count raised;
--   'already-counted'  this viewer was counted for this video this hour (also a repeat
--                      of an earlier slot of the same batch);
--   'not-found'        no such video, or it is not public.
-- Each video's views_count is raised once per batch, by the batch's new views of it, so a
-- video everybody is watching takes one row update per batch, not one per viewer. The
-- video rows are locked in id order (as cast_votes does, migration 20261202000003) and the
-- dedup rows inserted in key order, so concurrent batches, vote batches and moderation
-- do not deadlock each other.
CREATE FUNCTION record_views(p_videos BIGINT[], p_viewers TEXT[])
RETURNS TEXT[]
LANGUAGE plpgsql AS $$
DECLARE
    outcomes TEXT[];
    ids BIGINT[];
    counts BIGINT[];
BEGIN
    IF cardinality(p_videos) IS DISTINCT FROM cardinality(p_viewers) THEN
        RAISE EXCEPTION 'record_views: % videos but % viewers',
            cardinality(p_videos), cardinality(p_viewers);
    END IF;
    WITH input AS (
        SELECT t.video_id, t.viewer, t.slot
          FROM unnest(p_videos, p_viewers) WITH ORDINALITY AS t(video_id, viewer, slot)
    ), target AS (
        SELECT i.slot, i.video_id, i.viewer,
               row_number() OVER (PARTITION BY i.video_id, i.viewer ORDER BY i.slot) = 1 AS first
          FROM input i
          JOIN videos v ON v.id = i.video_id AND v.status = 'public'
    ), inserted AS (
        INSERT INTO video_views (video_id, viewer, hour)
        SELECT video_id, viewer, date_trunc('hour', now(), 'UTC')
          FROM target
         WHERE first
         ORDER BY video_id, viewer
        ON CONFLICT DO NOTHING
        RETURNING video_id, viewer
    ), per_video AS (
        SELECT video_id, count(*) AS n FROM inserted GROUP BY video_id
    )
    SELECT (SELECT array_agg(CASE
                                 WHEN t.slot IS NULL THEN 'not-found'
                                 WHEN t.first AND ins.video_id IS NOT NULL THEN 'counted'
                                 ELSE 'already-counted'
                             END ORDER BY i.slot)
              FROM input i
              LEFT JOIN target t ON t.slot = i.slot
              LEFT JOIN inserted ins ON ins.video_id = i.video_id AND ins.viewer = i.viewer),
           (SELECT array_agg(video_id ORDER BY video_id) FROM per_video),
           (SELECT array_agg(n ORDER BY video_id) FROM per_video)
      INTO outcomes, ids, counts;
    IF ids IS NOT NULL THEN
        PERFORM 1 FROM videos WHERE id = ANY (ids) ORDER BY id FOR NO KEY UPDATE;
        UPDATE videos v
           SET views_count = v.views_count + c.n
          FROM unnest(ids, counts) AS c(id, n)
         WHERE v.id = c.id;
    END IF;
    RETURN coalesce(outcomes, '{}');
END;
$$;

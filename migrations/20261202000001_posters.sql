-- Poster (JPEG) and hover preview (silent MP4) of a processed video, written by the
-- same ffmpeg run as the processed file. NULL until processed, and for videos processed
-- before this migration (the API then shows null URLs; the gallery falls back).
ALTER TABLE videos
    ADD COLUMN thumbnail_key TEXT UNIQUE,
    ADD COLUMN preview_key   TEXT UNIQUE;

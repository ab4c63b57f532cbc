#!/usr/bin/env bash
# Makes a valid 1920x1080 30 s MP4 of exactly <bytes> bytes, like
# skillreel_shared::media::testclip::generate_sized: the clip is encoded with the
# testclip settings (testsrc2 15 fps, x264 ultrafast, AAC sine) and padded with
# top-level `free` boxes, which players and ffprobe skip.
# Usage: scripts/bench/make-sized-clip.sh <bytes> <out.mp4>
set -euo pipefail
bytes="$1"; out="$2"
mkdir -p "$(dirname "$out")"
[ -s "$out" ] && [ "$(stat -c %s "$out")" = "$bytes" ] && exit 0
ffmpeg -loglevel error -y -nostdin -f lavfi -i "testsrc2=size=1920x1080:rate=15:duration=30.000" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=30.000" \
  -map 0:v -c:v libx264 -preset ultrafast -crf 38 -pix_fmt yuv420p -map 1:a -c:a aac -b:a 96k \
  -f mp4 "$out.base.mp4"
python3 - "$out.base.mp4" "$out" "$bytes" <<'PY'
import os, struct, sys
base, out, target = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(base, "rb").read()
pad = target - len(data)
assert pad >= 8, "base clip larger than target"
with open(out, "wb") as f:
    f.write(data)
    while pad > 0:
        n = min(pad, 1 << 30)
        if pad - n and pad - n < 8:  # never leave a remainder too small for a box
            n -= 8
        f.write(struct.pack(">I", n) + b"free" + b"\0" * (n - 8))
        pad -= n
PY
rm -f "$out.base.mp4"

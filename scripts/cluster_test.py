#!/usr/bin/env python3
"""The client side of scripts/cluster-test.sh (standard library only).

Talks to the cluster through nginx over HTTPS, verifying its certificate against the
cluster's CA, and checks the database, Redis, the S3 emulator, logs and metrics behind it.

    cluster_test.py xff | api-flow | failover-web | rejoin | failover-worker

Settings come from the environment (CT_*, set by cluster-test.sh); state shared between
the steps (players, tokens, the published video) is kept in $CT_STATE (JSON).
"""

import http.client
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid

ENV = os.environ
HOST = "127.0.0.1"  # by address: the certificate names 127.0.0.1 too (the browser uses localhost)
PORT = int(ENV["CT_HTTPS_PORT"])
CA = ENV["CT_CA"]
DB = ENV["CT_DB"]
PREFIX = ENV["CT_PREFIX"]
CLUSTER_DIR = ENV["CT_CLUSTER_DIR"]
STATE = ENV["CT_STATE"]
RUN = ENV.get("CT_RUN", uuid.uuid4().hex[:8])
WEB_PORTS = [int(p) for p in ENV["CT_WEB_PORTS"].replace(",", " ").split()]
WORKER_METRICS = [int(p) for p in ENV["CT_WORKER_METRICS_PORTS"].replace(",", " ").split()]
S3 = ENV["CT_S3_ENDPOINT"]
BUCKET = ENV["CT_BUCKET"]
PASSWORD = "correct horse battery"
TLS = ssl.create_default_context(cafile=CA)  # verifies the chain and the name


def log(msg):
    print(f"  {msg}", flush=True)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


# ---------- HTTP ----------

class Client:
    """One HTTPS keep-alive connection to nginx, like a browser tab."""

    def __init__(self, source=None, timeout=60):
        self.source = source
        self.timeout = timeout
        self.conn = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, headers=None, token=None):
        """(status, parsed JSON or raw bytes, response headers); raises on a transport error."""
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.conn is None:
            self.conn = http.client.HTTPSConnection(
                HOST, PORT, context=TLS, timeout=self.timeout,
                source_address=(self.source, 0) if self.source else None)
        try:
            self.conn.request(method, path, body=body, headers=headers)
            resp = self.conn.getresponse()
            data = resp.read()
        except Exception:
            self.close()
            raise
        if resp.will_close:
            self.close()
        if (resp.getheader("Content-Type") or "").startswith("application/json"):
            data = json.loads(data or b"null")
        return resp.status, data, resp

    def signup(self, email, first="Test", last="Player", city="Cali"):
        return self.request("POST", "/api/auth/signup", {
            "first_name": first, "last_name": last, "email": email, "city": city,
            "country": "Colombia", "password1": PASSWORD, "password2": PASSWORD})

    def login(self, email):
        return self.request("POST", "/api/auth/login", {"email": email, "password": PASSWORD})

    def upload(self, token, title, clip_path):
        with open(clip_path, "rb") as f:
            data = f.read()
        boundary = uuid.uuid4().hex
        body = (
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n{title}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"video_file\"; filename=\"clip.mp4\"\r\n"
            f"Content-Type: video/mp4\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        return self.request("POST", "/api/videos/upload", body, token=token,
                            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})


def new_player(client, tag, **kw):
    email = f"{tag}.{RUN}.{uuid.uuid4().hex[:6]}@example.test"
    status, body, _ = client.signup(email, **kw)
    check(status == 201, f"sign-up answered {status}: {body}")
    status, body, _ = client.login(email)
    check(status == 200 and body.get("token_type") == "bearer", f"login answered {status}: {body}")
    return {"email": email, "id": None, "token": body["access_token"]}


# ---------- what is behind the proxy ----------

def sql(query):
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", DB, "-AtqX", "-F", "|", "-v", "ON_ERROR_STOP=1",
         "-c", query], check=True, capture_output=True, text=True, env={**ENV, "PGPASSWORD": "postgres"})
    return [line.split("|") for line in out.stdout.splitlines() if line]


def quote(text):
    return "'" + text.replace("'", "''") + "'"


def redis_keys(pattern):
    out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", "6379", "--scan", "--pattern", pattern],
                         check=True, capture_output=True, text=True)
    return sorted(set(out.stdout.split()))


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()


def metric_sum(text, name, **labels):
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def s3_keys(prefix):
    query = urllib.parse.urlencode({"list-type": "2", "prefix": prefix, "max-keys": "1000"})
    with urllib.request.urlopen(f"{S3}/{BUCKET}?{query}", timeout=10) as r:
        xml = r.read().decode()
    return re.findall(r"<Key>([^<]+)</Key>", xml)


def pid_of(member):
    with open(os.path.join(CLUSTER_DIR, "run", f"{member}.pid")) as f:
        return int(f.read().strip())


def load_state():
    with open(STATE) as f:
        return json.load(f)


def save_state(state):
    with open(STATE, "w") as f:
        json.dump(state, f, indent=2)


def wait_status(token, video_id, wanted, timeout):
    client = Client()
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        status, body, _ = client.request("GET", f"/api/videos/{video_id}", token=token)
        check(status == 200, f"GET /api/videos/{video_id} answered {status}: {body}")
        last = body["status"]
        if last == "failed":
            raise AssertionError(f"video {video_id} failed: {body.get('error')}")
        if last == wanted:
            return body
        time.sleep(0.5)
    raise AssertionError(f"video {video_id} still {last} after {timeout}s (wanted {wanted})")


def ffprobe(url):
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", url],
                         check=True, capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout)


def check_playable(url, expect_secs):
    """The processed output: H.264 1280x720, no audio, source (≤ 30 s) + 5 s of bumpers."""
    probe = ffprobe(url)
    video = [s for s in probe["streams"] if s["codec_type"] == "video"]
    audio = [s for s in probe["streams"] if s["codec_type"] == "audio"]
    duration = float(probe["format"]["duration"])
    check(len(video) == 1 and video[0]["codec_name"] == "h264", f"streams: {probe['streams']}")
    check((video[0]["width"], video[0]["height"]) == (1280, 720), f"size {video[0]['width']}x{video[0]['height']}")
    check(not audio, "the output has an audio stream")
    check(abs(duration - expect_secs) < 1.5, f"duration {duration:.2f}s, expected about {expect_secs}s")
    return duration


# ---------- steps ----------

def step_xff():
    """The web believes X-Forwarded-For only from nginx's address: the rate-limit keys in
    Redis are named after the client address the web resolved."""
    def login_keys(addr):
        return redis_keys(f"{PREFIX}:rl:login:{addr}")

    def counted(addr, send):
        """Sends a login until the limiter has counted `addr` (at most 3 tries, under the
        login limit). The limiter fails open: on a machine loaded enough that a check
        misses its Redis budget, that one login passes uncounted, by design."""
        for _ in range(3):
            status = send()
            check(status == 401, f"login from {addr} answered {status}")
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                if login_keys(addr):
                    return True
                time.sleep(0.1)
        return False

    # Through nginx from 127.0.0.5, with a forged header: counted as 127.0.0.5.
    proxied = Client(source="127.0.0.5")

    def via_nginx():
        status, _, _ = proxied.request("POST", "/api/auth/login", {"email": "nobody@example.test", "password": "x" * 8},
                                       headers={"X-Forwarded-For": "203.0.113.9"})
        return status
    check(counted("127.0.0.5", via_nginx), "a login through nginx from 127.0.0.5 was not counted for 127.0.0.5")
    check(not login_keys("203.0.113.9"), "a forged X-Forwarded-For sent through nginx was believed")
    # Straight to a web port from 127.0.0.6, with a forged header: not believed.
    def direct():
        conn = http.client.HTTPConnection("127.0.0.1", WEB_PORTS[0], timeout=10, source_address=("127.0.0.6", 0))
        conn.request("POST", "/api/auth/login", json.dumps({"email": "nobody@example.test", "password": "x" * 8}),
                     {"Content-Type": "application/json", "X-Forwarded-For": "198.51.100.7"})
        status = conn.getresponse().status
        conn.close()
        return status
    check(counted("127.0.0.6", direct), "a direct login from 127.0.0.6 was not counted for 127.0.0.6")
    check(not login_keys("198.51.100.7"), "X-Forwarded-For from a client that is not nginx was believed")
    check(not redis_keys(f"{PREFIX}:rl:*:127.0.0.2"), "requests were counted for nginx's own address")
    # Without the CA, the certificate is not trusted.
    try:
        conn = http.client.HTTPSConnection(HOST, PORT, context=ssl.create_default_context(), timeout=10)
        conn.request("GET", "/health/live")
        conn.getresponse()
        raise AssertionError("the certificate verified without the cluster's CA")
    except ssl.SSLCertVerificationError:
        pass
    log("X-Forwarded-For is believed from nginx only; the certificate verifies only against the cluster's CA")


def step_api_flow():
    """Sign-up, login, upload, processing, publish, vote, rankings — all through nginx."""
    client = Client()
    city = f"Pasto{RUN}"
    ana = new_player(client, "ana", first="Ana", last=f"Api{RUN}", city=city)
    luis = new_player(client, "luis", first="Luis", last=f"Api{RUN}")
    title = f"cluster api {RUN}"
    status, body, _ = client.upload(ana["token"], title, ENV["CT_CLIP"])
    check(status == 201, f"upload answered {status}: {body}")
    video_id = body["video_id"]
    log(f"uploaded video {video_id}; waiting for processing")
    done = wait_status(ana["token"], video_id, "processed", 240)
    check_playable(done["processed_url"], 26.0)
    status, body, _ = client.request("POST", f"/api/videos/{video_id}/publish", token=ana["token"])
    check(status == 200, f"publish answered {status}: {body}")
    status, body, _ = client.request("POST", f"/api/public/videos/{video_id}/vote", token=luis["token"])
    check(status == 200, f"vote answered {status}: {body}")
    status, body, _ = client.request("POST", f"/api/public/videos/{video_id}/vote", token=luis["token"])
    check(status == 400, f"a second vote answered {status}: {body}")
    deadline = time.monotonic() + 20
    while True:
        status, body, _ = client.request("GET", f"/api/public/rankings?city={urllib.parse.quote(city)}")
        check(status == 200, f"rankings answered {status}: {body}")
        if body and body[0]["username"] == f"Ana Api{RUN}" and body[0]["votes"] == 1:
            break
        check(time.monotonic() < deadline, f"the vote is not in the rankings after 20 s: {body}")
        time.sleep(1)
    save_state({"ana": ana, "luis": luis, "video": video_id})
    log(f"video {video_id} processed ({done['processed_url'].split('?')[0]}), published, voted, ranked")


def step_failover_web():
    """Kills one web instance with SIGKILL while clients keep working through nginx."""
    state = load_state()
    video = state["video"]
    victim = pid_of("web-1")
    warmup, after = float(ENV.get("CT_WARMUP_SECS", "4")), float(ENV.get("CT_AFTER_SECS", "10"))
    grace = float(ENV.get("CT_NOTICE_SECS", "2"))
    t0 = time.monotonic()
    kill_at, end = t0 + warmup, t0 + warmup + after
    records, lock = [], threading.Lock()

    def record(op, key, start, status, body=None, error=None):
        with lock:
            records.append({"op": op, "key": key, "start": start - t0, "end": time.monotonic() - t0,
                            "status": status, "body": body, "error": error})

    def call(client, op, key, expect, *args, **kw):
        start = time.monotonic()
        try:
            status, body, _ = getattr(client, args[0])(*args[1:], **kw)
        except Exception as e:  # a transport error is a failed request too
            record(op, key, start, None, error=repr(e))
            return None
        record(op, key, start, status, body if status != expect else None)
        return body if status == expect else None

    def player_loop(n):
        # Each loop is another client machine (its own source address).
        client = Client(source=f"127.0.0.{10 + n}", timeout=30)
        i = 0
        while time.monotonic() < end:
            email = f"fo{n}-{i}.{RUN}@example.test"
            i += 1
            if call(client, "signup", email, 201, "signup", email) is None:
                continue
            body = call(client, "login", email, 200, "login", email)
            if body is None:
                continue
            call(client, "vote", email, 200, "request", "POST", f"/api/public/videos/{video}/vote",
                 token=body["access_token"])
            call(client, "rankings", None, 200, "request", "GET", "/api/public/rankings?limit=5")
            call(client, "gallery", None, 200, "request", "GET", "/api/public/videos?limit=5")
            call(client, "own-list", None, 200, "request", "GET", "/api/videos", token=body["access_token"])

    def upload_loop():
        client = Client(source="127.0.0.20", timeout=60)
        i = 0
        while time.monotonic() < end:
            title = f"failover upload {RUN} #{i}"
            i += 1
            call(client, "upload", title, 201, "upload", state["ana"]["token"], title, ENV["CT_SMALL_CLIP"])
            time.sleep(1.0)

    threads = [threading.Thread(target=player_loop, args=(n,)) for n in range(3)]
    threads.append(threading.Thread(target=upload_loop))
    for t in threads:
        t.start()
    time.sleep(max(0.0, kill_at - time.monotonic()))
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic() - t0
    log(f"killed web-1 (pid {victim}) with SIGKILL at t={killed:.2f}s")
    for t in threads:
        t.join()

    ok = [r for r in records if r["status"] is not None and 200 <= r["status"] < 300]
    failed = [r for r in records if r["status"] is None or not 200 <= r["status"] < 300]
    before = [r for r in records if r["start"] < killed]
    after_kill = [r for r in records if r["start"] >= killed]
    late = [r for r in failed if r["start"] >= killed + grace]
    in_flight = [r for r in failed if r["start"] < killed + grace]
    log(f"{len(records)} requests ({len(before)} before the kill, {len(after_kill)} after), "
        f"{len(failed)} failed: {len(in_flight)} in flight at the kill or within {grace:g}s of it, {len(late)} later")
    for r in in_flight:
        log(f"  failed while nginx was noticing: {r['op']} at t={r['start']:.2f}s: {r['status'] or r['error']} {r['body'] or ''}")
    check(not late, f"requests failed after nginx had noticed: {late[:5]}")
    # A GET that met the dying instance is retried on the other one; only a POST that
    # the dying instance had already received may fail (nginx cannot know whether it ran).
    reads = [r for r in failed if r["op"] not in ("signup", "login", "vote", "upload")]
    check(not reads, f"reads failed, nginx did not pass them to the other instance: {reads[:5]}")
    check(len([r for r in after_kill if r['start'] >= killed + grace]) >= 20,
          "too few requests after the kill to say anything")
    acked = {op: [r["key"] for r in ok if r["op"] == op] for op in ("signup", "vote", "upload")}
    check(all(acked.values()), f"a kind of write was never acknowledged: { {k: len(v) for k, v in acked.items()} }")

    # Nothing acknowledged is lost, nothing is stored twice.
    emails = [r["key"] for r in records if r["op"] == "signup"]
    rows = dict(sql("SELECT lower(email), count(*) FROM players WHERE email LIKE "
                    f"{quote('fo%.' + RUN + '@example.test')} GROUP BY 1"))
    for email in acked["signup"]:
        check(rows.get(email.lower()) == "1", f"acknowledged sign-up {email} is stored {rows.get(email.lower(), 0)} times")
    unacked = [e for e in emails if e not in acked["signup"] and rows.get(e.lower())]
    votes = dict(sql(f"SELECT lower(p.email), count(*) FROM votes v JOIN players p ON p.id = v.player_id "
                     f"WHERE v.video_id = {int(video)} GROUP BY 1"))
    for email in acked["vote"]:
        check(votes.get(email.lower()) == "1", f"acknowledged vote of {email} is stored {votes.get(email.lower(), 0)} times")
    [[counted, actual]] = sql(f"SELECT votes_count, (SELECT count(*) FROM votes WHERE video_id = {int(video)}) "
                              f"FROM videos WHERE id = {int(video)}")
    check(counted == actual, f"votes_count {counted} but {actual} votes")
    titles = dict(sql(f"SELECT title, count(*) FROM videos WHERE title LIKE {quote('failover upload ' + RUN + ' #%')} GROUP BY 1"))
    for title in acked["upload"]:
        check(titles.get(title) == "1", f"acknowledged upload {title!r} is stored {titles.get(title, 0)} times")
    check(all(v == "1" for v in titles.values()), f"an upload is stored twice: {titles}")
    log(f"acknowledged and stored exactly once: {len(acked['signup'])} sign-ups, {len(acked['vote'])} votes, "
        f"{len(acked['upload'])} uploads; unacknowledged sign-ups stored anyway: {len(unacked)}")

    # nginx did retry: requests that met the dead instance were answered by the other one.
    dead = f"127.0.0.1:{WEB_PORTS[0]}"
    retried = []
    with open(os.path.join(CLUSTER_DIR, "log", "nginx-access.log")) as f:
        for line in f:
            m = re.search(r'" (\d{3}) .* upstream="([^"]*)"', line)
            if m and "," in m.group(2) and m.group(2).startswith(dead):
                retried.append((m.group(1), line.strip()))
    check(retried, "no request was passed to the next upstream after the kill")
    check(all(status.startswith("2") for status, _ in retried), f"a retried request failed: {retried}")
    log(f"{len(retried)} requests met the dead instance and were answered by the other one, e.g.:")
    log(f"  {retried[0][1]}")


def step_rejoin():
    """After `cluster.sh up` restarted web-1, nginx sends it requests again."""
    port = WEB_PORTS[0]
    path = os.path.join(CLUSTER_DIR, "log", "nginx-access.log")
    offset = os.path.getsize(path)
    client = Client()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status, body, _ = client.request("GET", "/api/public/rankings?limit=3")
        check(status == 200, f"rankings answered {status}: {body}")
        with open(path) as f:
            f.seek(offset)
            if re.search(rf'" 200 .* upstream="127\.0\.0\.1:{port}"', f.read()):
                log(f"web-1 serves again (port {port})")
                return
        time.sleep(0.3)
    raise AssertionError(f"nginx sent nothing to the restarted web-1 within 20 s")


def step_failover_worker():
    """Kills the worker running a job with SIGKILL: the other one finishes it, once."""
    state = load_state()
    token = state["ana"]["token"]
    deadline = time.monotonic() + 180
    while sql("SELECT count(*) FROM videos WHERE status IN ('uploaded', 'processing')")[0][0] != "0":
        check(time.monotonic() < deadline, "the queue did not drain within 180 s")
        time.sleep(0.5)
    workers = {pid_of(f"worker-{i + 1}"): i for i in range(len(WORKER_METRICS))}
    processed_before = {i: metric_sum(metrics(WORKER_METRICS[i]), "skillreel_jobs_total", outcome="processed")
                        for i in workers.values()}

    client = Client()
    status, body, _ = client.upload(token, f"worker failover {RUN}", ENV["CT_CLIP"])
    check(status == 201, f"upload answered {status}: {body}")
    video = body["video_id"]
    deadline = time.monotonic() + 120
    # Killed once ffmpeg has reported progress, or half a second after the claim: the test
    # clip takes under 3 s on a quiet machine, and the row's progress is written once a
    # second, so waiting for a progress value alone can miss the whole job.
    claimed_at = None
    while True:
        row = sql(f"SELECT status, coalesce(claimed_by, ''), coalesce(progress, 0) FROM videos WHERE id = {video}")[0]
        if row[0] == "processing":
            claimed_at = claimed_at or time.monotonic()
            if float(row[2]) > 0 or time.monotonic() - claimed_at >= 0.5:
                break
        check(row[0] in ("uploaded", "processing"), f"video {video} reached {row[0]} before a worker could be killed")
        check(time.monotonic() < deadline, f"video {video} did not start processing within 120 s")
        time.sleep(0.05)
    holder = int(row[1].rsplit("-", 2)[1])  # worker names are <host>-<pid>-<random>
    check(holder in workers, f"video {video} is held by {row[1]}, not a worker of this cluster")
    index = workers[holder]
    survivor = 1 - index
    os.kill(holder, signal.SIGKILL)
    killed_at = time.monotonic()
    log(f"killed worker-{index + 1} (pid {holder}) with SIGKILL at {float(row[2]):.0f}% of video {video}")
    time.sleep(1)
    job_dir = os.path.join(CLUSTER_DIR, "tmp", f"worker-{index + 1}")
    orphans = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "ffmpeg" in cmd and job_dir in cmd:
            orphans.append(pid)
    check(not orphans, f"the killed worker's ffmpeg still runs: {orphans}")

    done = wait_status(token, video, "processed", 180)
    took = time.monotonic() - killed_at
    [[attempts, claimed, error]] = sql(f"SELECT attempts, coalesce(claimed_by, ''), coalesce(error, '') FROM videos WHERE id = {video}")
    check(int(attempts) >= 2, f"attempts = {attempts}: the job was not taken over")
    check(claimed == "" and error == "", f"claimed_by={claimed!r} error={error!r} after processing")
    text = metrics(WORKER_METRICS[survivor])
    delta = metric_sum(text, "skillreel_jobs_total", outcome="processed") - processed_before[survivor]
    check(delta == 1, f"worker-{survivor + 1} processed {delta:g} jobs, expected exactly this one")
    check(metric_sum(text, "skillreel_jobs_recovered_total") >= 1, "the survivor recovered no job")
    with open(os.path.join(CLUSTER_DIR, "log", f"worker-{survivor + 1}.log")) as f:
        check("released the jobs of dead workers" in f.read(), "the survivor never released the dead worker's jobs")
    duration = check_playable(done["processed_url"], 26.0)

    # Exactly one output (video, poster, preview) per processed video in the bucket, none
    # for anything else.
    outputs = sorted(s3_keys("processed/"))
    expected = sorted(k for row in sql("SELECT processed_key, thumbnail_key, preview_key FROM videos "
                                       "WHERE processed_key IS NOT NULL") for k in row)
    check(outputs == expected, f"processed/ holds {outputs}, the database names {expected}")
    # Every recorded video still has its original; an original with no video would be an
    # upload whose web instance died between storing it and recording it (reported only).
    originals = set(s3_keys("uploaded/"))
    recorded = {k for [k] in sql("SELECT original_key FROM videos")}
    check(recorded <= originals, f"originals missing from the bucket: {sorted(recorded - originals)}")
    if originals - recorded:
        log(f"note: {len(originals - recorded)} original(s) in the bucket belong to no video: {sorted(originals - recorded)}")
    deadline = time.monotonic() + 15
    while metric_sum(metrics(WORKER_METRICS[survivor]), "skillreel_queue_depth") != 0:
        check(time.monotonic() < deadline, "jobs are still queued after the video was processed")
        time.sleep(0.5)
    log(f"worker-{survivor + 1} finished video {video} {took:.1f}s after the kill (attempts {attempts}); "
        f"output h264 1280x720 {duration:.1f}s; {len(outputs)} outputs for {len(expected)} processed videos")


STEPS = {"xff": step_xff, "api-flow": step_api_flow, "failover-web": step_failover_web,
         "rejoin": step_rejoin, "failover-worker": step_failover_worker}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in STEPS:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(STEPS)}")
    try:
        STEPS[sys.argv[1]]()
    except AssertionError as e:
        print(f"FAILED ({sys.argv[1]}): {e}", file=sys.stderr)
        sys.exit(1)

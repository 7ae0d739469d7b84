#!/usr/bin/env python3
"""Load test of moe_server: many concurrent clients, every answer compared with the same request answered alone.

    PY=$(tools/server_test_venv.sh build/server-venv | tail -n 1)
    "$PY" tests/server/load_test.py --server build/default/examples/moe_server \\
        --cli build/default/examples/moe_cli --model models/tiny-reasoner [--clients 32 --requests 200]

1. Starts the server (`--port 0 -np 4 -t 2`).
2. Serial answers: --prompts distinct prompts "a+b" (a, b random 5-digit numbers, fixed seed), each with its own
   request seed and temperature 0.7, sent one at a time. Their accuracy (the content's last number == a+b) is
   reported, not required (the tiny model is about 94 % right).
3. Warm-up: one concurrent round over all prompts (every answer must equal its serial one); then the server's RSS
   (VmRSS of /proc/PID/status) is read.
4. Load: --requests requests cycling over the prompts from --clients threads (each with its own keep-alive
   connection); every other one streamed (stream_options.include_usage). Each answer's reasoning_content and
   content must equal the serial answer exactly. Alongside, every --abandon-every'th request is followed by a
   stream whose client leaves after two chunks (cancelled sequences leave the batch; the others must not notice).
5. RSS again: the growth over the warm-up must stay under 10 % + 20 MiB (the limit chosen: allocator noise and
   buffers sized by the warm-up fit in it; keeping a KV cache or a response per request would not).
6. Reports p50/p99 latency, p50/p99 time to first token (streamed requests: the first chunk with text), generated
   tokens/s over the load phase, and stops the server with SIGTERM (exit status 0 required).
Exit status 1 on any mismatch, any failed request, RSS growth over the limit, a crash or an unclean stop.
The moe_cli argument is accepted for symmetry with test_server.py (and used for one sanity comparison)."""

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server import (TIMEOUT, Server, ServerError, last_number, model_id, percentile,  # noqa: E402
                         run_cli, sigterm_as_interrupt, sse_data)

RSS_FRACTION = 0.10
RSS_SLACK_KIB = 20 * 1024


class Client:
    """One keep-alive HTTP connection (reopened after an error or a close)."""

    def __init__(self, server):
        self.server = server
        self.conn = None

    def _connection(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=TIMEOUT)
        return self.conn

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def chat(self, body):
        """{status, reasoning, content, completion_tokens, latency, ttft, error}."""
        out = {"status": None, "reasoning": "", "content": "", "completion_tokens": None, "ttft": None,
               "error": None}
        t0 = time.monotonic()
        for attempt in (0, 1):  # one retry when a kept-alive connection turns out closed before the request
            try:
                conn = self._connection()
                conn.request("POST", "/v1/chat/completions", body=json.dumps(body).encode(),
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                self.close()
                if attempt == 1:
                    out["error"] = repr(e)
                    out["latency"] = time.monotonic() - t0
                    return out
        out["status"] = r.status
        try:
            if r.status != 200:
                out["error"] = r.read()[:500]
            elif body.get("stream"):
                done = False
                for data in sse_data(r):
                    if data == "[DONE]":
                        done = True
                        break
                    e = json.loads(data)
                    if e.get("usage"):
                        out["completion_tokens"] = e["usage"].get("completion_tokens")
                    for c in e.get("choices") or []:
                        d = c.get("delta") or {}
                        piece = (d.get("reasoning_content") or "") + (d.get("content") or "")
                        if piece and out["ttft"] is None:
                            out["ttft"] = time.monotonic() - t0
                        out["reasoning"] += d.get("reasoning_content") or ""
                        out["content"] += d.get("content") or ""
                r.read()
                if not done:
                    out["error"] = "the stream ended without data: [DONE]"
            else:
                j = json.loads(r.read())
                m = j["choices"][0]["message"]
                out["reasoning"], out["content"] = m.get("reasoning_content") or "", m.get("content") or ""
                out["completion_tokens"] = j["usage"]["completion_tokens"]
            if r.getheader("Connection", "").lower() == "close" or r.will_close:
                self.close()
        except Exception as e:  # noqa: BLE001 -- reported as this request's failure
            out["error"] = repr(e)
            self.close()
        out["latency"] = time.monotonic() - t0
        return out


def abandon(server, body):
    """A streamed request whose client leaves after two chunks. Returns None, or what went wrong."""
    data = json.dumps(body).encode()
    try:
        s = socket.create_connection((server.host, server.port), timeout=TIMEOUT)
    except OSError as e:
        return f"connect: {e!r}"
    try:
        s.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: {server.host}\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
        got = b""
        while got.count(b"data:") < 2:
            d = s.recv(4096)
            if not d:
                return f"the server closed the stream before two chunks: {got[:200]!r}"
            got += d
        if not got.startswith(b"HTTP/1.1 200"):
            return f"answered {got[:200]!r}"
        return None
    except OSError as e:
        return repr(e)
    finally:
        s.close()


def run_concurrent(server, bodies, clients, abandon_every=0, abandoned=None):
    """Answers to `bodies` from `clients` threads, in the order of `bodies`; and the wall time. With
    `abandon_every` N, after every Nth request its thread also starts a stream and leaves it after two chunks
    (what went wrong with those goes to the list `abandoned`, None for each that went as planned)."""
    results = [None] * len(bodies)
    next_index = iter(range(len(bodies)))
    lock = threading.Lock()

    def worker():
        c = Client(server)
        try:
            while True:
                with lock:
                    i = next(next_index, None)
                if i is None:
                    return
                results[i] = c.chat(bodies[i])
                if abandon_every and i % abandon_every == 0:
                    what = abandon(server, dict(bodies[i], stream=True, seed=5000 + i, temperature=1.0))
                    with lock:
                        abandoned.append(what)
        finally:
            c.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return results, time.monotonic() - t0


def diff_at(a, b):
    n = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"first difference at character {n}: {a[max(0, n - 20):n + 20]!r} vs {b[max(0, n - 20):n + 20]!r}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--prompts", type=int, default=50, help="distinct prompts (default 50)")
    ap.add_argument("--seed", type=int, default=1234, help="seed of the prompts")
    ap.add_argument("--np", type=int, default=4, help="the server's -np (default 4)")
    ap.add_argument("--threads", type=int, default=2, help="the server's -t (default 2)")
    ap.add_argument("--abandon-every", type=int, default=10,
                    help="during the load, every Nth request is followed by a stream its client leaves after two "
                         "chunks (default 10; 0: none)")
    args = ap.parse_args()
    for what, path in (("--server", args.server), ("--cli", args.cli)):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            print(f"load_test: {what} {path}: no such executable", file=sys.stderr)
            return 2
    sigterm_as_interrupt()
    mid = model_id(args.model)
    rng = random.Random(args.seed)
    problems = []
    while len(problems) < args.prompts:
        a, b = rng.randint(10000, 99999), rng.randint(10000, 99999)
        if (a, b) not in problems:
            problems.append((a, b))

    def body(i, stream):
        a, b = problems[i]
        out = {"model": mid, "messages": [{"role": "user", "content": f"{a}+{b}"}], "temperature": 0.7,
               "seed": 1000 + i}
        if stream:
            out.update(stream=True, stream_options={"include_usage": True})
        return out

    failures = []
    logdir = tempfile.mkdtemp(prefix="moe_server_load.")
    server = Server("load", args.server, args.model, ["-np", str(args.np), "-t", str(args.threads)], logdir)
    t_all = time.monotonic()
    try:
        server.start()
        print(f"server: {' '.join(server.command)} -> {server.base_url} (pid {server.proc.pid})", flush=True)

        # 2. Serial answers.
        c = Client(server)
        serial, t0 = [], time.monotonic()
        for i in range(len(problems)):
            r = c.chat(body(i, stream=False))
            if r["status"] != 200 or r["error"]:
                failures.append(f"serial request {i} ({problems[i][0]}+{problems[i][1]}): {r['status']} "
                                f"{r['error']!r}")
            serial.append(r)
        c.close()
        serial_secs = time.monotonic() - t0
        correct = sum(last_number(r["content"]) == a + b for r, (a, b) in zip(serial, problems))
        serial_tokens = sum(r["completion_tokens"] or 0 for r in serial)
        print(f"serial: {len(serial)} requests in {serial_secs:.2f} s ({serial_tokens / serial_secs:.0f} tokens/s); "
              f"accuracy {correct}/{len(problems)} = {100.0 * correct / len(problems):.1f} % "
              f"(reported, not required)", flush=True)
        # The server's request 0 against moe_cli with the same seed (the one-request path; test_server.py does
        # the full comparison).
        a, b = problems[0]
        cli = run_cli(args.cli, args.model, f"{a}+{b}", ["--seed", 1000, "--temp", 0.7, "--top-k", 0, "--top-p", 1,
                                                        "--min-p", 0, "-n", 256])
        if (cli["reasoning"].strip("\n"), cli["answer"].strip("\n")) != \
                (serial[0]["reasoning"].strip("\n"), serial[0]["content"].strip("\n")):
            print(f"note: request 0 differs from moe_cli ({cli['command']}): cli {cli['reasoning']!r} "
                  f"{cli['answer']!r}, server {serial[0]['reasoning']!r} {serial[0]['content']!r}", flush=True)

        def compare(label, results, indexes):
            bad = 0
            for k, (r, i) in enumerate(zip(results, indexes)):
                s = serial[i]
                if r is None or r["status"] != 200 or r["error"]:
                    failures.append(f"{label} request {k} (prompt {i}): status {r and r['status']}, "
                                    f"error {r and r['error']!r}")
                    bad += 1
                elif (r["reasoning"], r["content"]) != (s["reasoning"], s["content"]):
                    where = diff_at(s["reasoning"] + "|" + s["content"], r["reasoning"] + "|" + r["content"])
                    failures.append(f"{label} request {k} (prompt {i} {problems[i][0]}+{problems[i][1]}, seed "
                                    f"{1000 + i}, {'stream' if k % 2 else 'non-stream'}): answer differs from the "
                                    f"serial one: {where}\n      serial: {s['reasoning']!r} {s['content']!r}\n"
                                    f"      load:   {r['reasoning']!r} {r['content']!r}")
                    bad += 1
                elif r["completion_tokens"] is not None and s["completion_tokens"] is not None and \
                        r["completion_tokens"] != s["completion_tokens"]:
                    failures.append(f"{label} request {k}: completion_tokens {r['completion_tokens']} != serial "
                                    f"{s['completion_tokens']}")
                    bad += 1
            return bad

        # 3. Warm-up: every prompt once, concurrently; then the RSS baseline.
        idx = list(range(len(problems)))
        warm, warm_secs = run_concurrent(server, [body(i, stream=i % 2 == 1) for i in idx], args.clients)
        bad = compare("warm-up", warm, idx)
        rss0 = server.rss_kib()
        print(f"warm-up: {len(idx)} requests, {args.clients} clients, {warm_secs:.2f} s, {bad} mismatches; "
              f"RSS {rss0 / 1024:.1f} MiB", flush=True)

        # 4. The load.
        idx = [k % len(problems) for k in range(args.requests)]
        bodies = [body(i, stream=k % 2 == 1) for k, i in enumerate(idx)]
        abandoned = []
        load, load_secs = run_concurrent(server, bodies, args.clients, args.abandon_every, abandoned)
        bad = compare("load", load, idx)
        for what in abandoned:
            if what is not None:
                failures.append(f"abandoned stream: {what}")
        alive = server.alive()
        if not alive:
            failures.append(f"the server died during the load (status {server.proc.returncode}); stderr: "
                            f"{server.stderr_tail()}")
        rss1 = server.rss_kib() if alive else None

        # 5. RSS growth.
        limit = rss0 * RSS_FRACTION + RSS_SLACK_KIB
        if rss1 is not None:
            grew = rss1 - rss0
            verdict = "ok" if grew < limit else "TOO MUCH"
            print(f"RSS: {rss0 / 1024:.1f} MiB after the warm-up, {rss1 / 1024:.1f} MiB after the load: "
                  f"{grew / 1024:+.1f} MiB (limit 10 % + 20 MiB = {limit / 1024:.1f} MiB): {verdict}", flush=True)
            if grew >= limit:
                failures.append(f"RSS grew by {grew / 1024:.1f} MiB over the load (limit {limit / 1024:.1f} MiB)")

        # 6. Numbers.
        ok = [r for r in load if r and r["status"] == 200 and not r["error"]]
        lat = [r["latency"] for r in ok]
        ttft = [r["ttft"] for r in ok if r["ttft"] is not None]
        tokens = sum(r["completion_tokens"] or 0 for r in ok)
        print(f"load: {len(load)} requests ({sum(1 for b in bodies if b.get('stream'))} streamed) from "
              f"{args.clients} clients in {load_secs:.2f} s, {len(ok)} ok, {bad} mismatched or failed; "
              f"{len(abandoned)} more streams abandoned after two chunks", flush=True)
        if lat:
            print(f"  latency p50 {percentile(lat, 50) * 1000:.0f} ms, p99 {percentile(lat, 99) * 1000:.0f} ms, "
                  f"max {max(lat) * 1000:.0f} ms", flush=True)
        if ttft:
            print(f"  time to first token (streamed) p50 {percentile(ttft, 50) * 1000:.0f} ms, "
                  f"p99 {percentile(ttft, 99) * 1000:.0f} ms", flush=True)
        print(f"  generated {tokens} tokens: {tokens / load_secs:.0f} tokens/s "
              f"(serial: {serial_tokens / serial_secs:.0f} tokens/s); {len(ok) / load_secs:.1f} requests/s",
              flush=True)
    except ServerError as e:
        failures.append(str(e))
    except KeyboardInterrupt:
        failures.append("interrupted")
    finally:
        was_alive = server.alive()
        status, how = server.stop()
        if was_alive and (how != "sigterm" or status != 0):
            failures.append(f"SIGTERM: expected exit status 0, got {how} {status}; stderr: {server.stderr_tail()}")
        server.kill()
    print(f"\n{'PASS' if not failures else 'FAIL'}: {len(failures)} failure(s) in {time.monotonic() - t_all:.0f} s")
    for f in failures[:30]:
        print(f"  - {f}")
    if len(failures) > 30:
        print(f"  ... and {len(failures) - 30} more")
    if failures:
        print(f"server log: {logdir}")
    else:
        shutil.rmtree(logdir, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

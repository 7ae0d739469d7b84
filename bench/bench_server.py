#!/usr/bin/env python3
"""Serving benchmark: generated tokens/s and time to first token of OpenAI-compatible servers under concurrent load.

    bench/bench_server.py --server 'moe=build/bench-server/bench/moe_server_bench -m MODEL.gguf --port {port} -np 32 ...' \
                          --server 'llama.cpp=llama-server -m MODEL.gguf --port {port} -np 32 ...' \
                          [--concurrency 1,4,16,32] [--json results.json] [--markdown results.md]

The comparison on the medium benchmark model (bench_e2e's Mixtral-shaped random-weight model, its BF16 GGUF written
by bench/run_vs_llama_cpp.py): moe_server built for that file's type with bf16_compute weights (bf16 x bf16
products, as llama.cpp multiplies a BF16 model), llama-server (llama.cpp's server program, built with -DLLAMA_BUILD_SERVER=ON)
on the same file, 32 slots each, 2 threads each, 256 positions per sequence:

    M=/tmp/moe_e2e/mixtral/model-bf16.gguf
    bench/bench_server.py --wait-idle --requests-per-client 1 --min-requests 4 --json server.json \
        --server "moe=build/bench-server/bench/moe_server_bench -m $M --port {port} -t 2 -c 256 -np 32" \
        --server "llama.cpp=llama-server -m $M --port {port} -t 2 -tb 2 -c 8192 -np 32 -cram 0 --no-webui" \
        --extra 'llama.cpp={"ignore_eos": true}'

Each --server NAME=COMMAND is started by this script (COMMAND is split like a shell line; {port} becomes a free
port; its output goes to LOG_DIR/NAME.log) and is ready when GET /health answers 200; --url NAME=http://HOST:PORT
benchmarks one already running instead. The model id comes from GET /v1/models.

For each concurrency C (one "round"), C client threads send streaming requests (`stream: true`,
`stream_options.include_usage`), each client one after the other, so C requests are in flight at any time; the
round has max(C * --requests-per-client, --min-requests) requests. Per request: time to first token (TTFT: from
sending the request to the first streamed chunk carrying generated text) and the generated tokens (the usage
block's completion_tokens, else the number of text chunks). Per round: generated tokens/s = all generated tokens /
the round's wall time (first request sent to last one finished), TTFT p50/p99 (linear interpolation between the
sorted samples; with few requests p99 is close to the maximum) and the median time per output token after the
first (TPOT = (last chunk - first chunk) / (tokens - 1)).

Prompts: by default --prompt-tokens random token ids (POST /v1/completions with `prompt` as an array of ids; ids
in [--token-min, --vocab), a different prompt for every request, the same sequence for every server), so both
servers see exactly the same tokens and no prompt cache can help; --prompt text sends words instead (and
--endpoint chat sends them as one user message). temperature 0 (greedy) unless --temperature; `seed` is set per
request. A server may stop early at an end-of-sequence token: the counted tokens are what it generated. --extra
NAME=JSON adds fields to that server's requests (llama-server: '{"ignore_eos": true}').

With several servers they are all started first (memory for each) and the rounds alternate between them (the
order flipped every round), so that slow drifts of the machine (other load, memory bandwidth) hit all alike;
--sequential runs one server at a time instead. Before each round the script looks for compiler processes
(cc1plus, ninja, make, ld) on the machine: it warns, or with --wait-idle waits until none is left; such processes
seen during a round mark it disturbed (in the JSON and the table), and with --wait-idle the round runs again. Only
the Python standard library is used.
"""
import argparse
import http.client
import json
import os
import platform
import random
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

BUSY_NAMES = ("cc1plus", "cc1", "ninja", "make", "gmake", "ld", "collect2", "nvcc")


# ---------------------------------------------------------------------------------------------------- the machine
def machine_info():
    info = {"nproc": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)), "platform": platform.platform(),
            "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            info["mem_total_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return info


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return [float(x) for x in f.read().split()[:3]]
    except OSError:
        return None


def busy_processes(exclude=()):
    """(pid, name) of compiler/build processes running on this machine, besides `exclude`."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) in exclude:
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                name = f.read().strip()
        except OSError:
            continue
        if name in BUSY_NAMES:
            found.append((int(pid), name))
    return found


def cpu_seconds(pid):
    """utime + stime of a process and its waited-for children, in seconds (None if gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def peak_rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


# ---------------------------------------------------------------------------------------------------- servers
def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(host, port, path, timeout=10.0, headers=None):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


class Server:
    def __init__(self, name, command=None, url=None, extra=None, log_dir=None, api_key=None):
        self.name = name
        self.command = command
        self.extra = extra or {}
        self.proc = None
        self.log_path = None
        self.log_dir = log_dir
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.host, self.port = "127.0.0.1", None
        if url:
            u = urllib.parse.urlparse(url)
            self.host, self.port = u.hostname or "127.0.0.1", u.port or 80
        self.model = None
        self.load_seconds = None
        self.argv = None

    def start(self, load_timeout):
        if self.command is not None:
            self.port = free_port()
            self.argv = shlex.split(self.command.replace("{port}", str(self.port)))
            os.makedirs(self.log_dir, exist_ok=True)
            self.log_path = os.path.join(self.log_dir, f"{self.name}.log")
            log = open(self.log_path, "wb")
            print(f"[{self.name}] starting: {shlex.join(self.argv)}  (log: {self.log_path})", file=sys.stderr)
            t0 = time.perf_counter()
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
            log.close()
        else:
            t0 = time.perf_counter()
        deadline = time.monotonic() + load_timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with status {self.proc.returncode} before /health answered "
                                   f"200; last lines of {self.log_path}:\n{self.log_tail()}")
            try:
                status, _ = http_get(self.host, self.port, "/health", timeout=5.0, headers=self.headers)
                if status == 200:
                    break
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: /health did not answer 200 within {load_timeout} s")
            time.sleep(0.25)
        self.load_seconds = time.perf_counter() - t0
        status, body = http_get(self.host, self.port, "/v1/models", headers=self.headers)
        if status != 200:
            raise RuntimeError(f"{self.name}: GET /v1/models answered {status}: {body[:300]!r}")
        self.model = json.loads(body)["data"][0]["id"]
        print(f"[{self.name}] ready in {self.load_seconds:.1f} s on port {self.port}, model id {self.model!r}",
              file=sys.stderr)

    def log_tail(self, n=30):
        if not self.log_path:
            return ""
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            print(f"[{self.name}] did not stop within 30 s of SIGINT; killing it", file=sys.stderr)
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------------------------------------------- requests
WORDS = ("the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not",
         "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they", "you", "were",
         "their", "one", "all", "we", "can", "her", "has", "there", "been", "if", "more", "when", "will", "would")


def make_prompt(args, round_index, request_index):
    rng = random.Random(args.seed * 1_000_003 + round_index * 100_003 + request_index)
    if args.prompt == "ids":
        return [rng.randrange(args.token_min, args.vocab) for _ in range(args.prompt_tokens)]
    return " ".join(rng.choice(WORDS) for _ in range(args.prompt_tokens))


def request_body(args, server, prompt, seed):
    body = {"model": server.model, "max_tokens": args.max_tokens, "temperature": args.temperature, "seed": seed,
            "stream": True, "stream_options": {"include_usage": True}}
    if args.endpoint == "chat":
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    body.update(server.extra)
    return body


def run_request(server, path, body, timeout):
    """One streaming request; returns a dict with t_start, t_first, t_end (perf_counter), tokens, chunks, error."""
    r = {"t_start": time.perf_counter(), "t_first": None, "t_end": None, "tokens": None, "chunks": 0,
         "finish_reason": None, "error": None}
    conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    try:
        payload = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream", **server.headers}
        conn.request("POST", path, body=payload, headers=headers)
        resp = conn.getresponse()
        if resp.status != 200:
            r["error"] = f"HTTP {resp.status}: {resp.read()[:300].decode(errors='replace')}"
            return r
        while True:
            line = resp.readline()
            if not line:
                break
            line = line.strip()
            if not line.startswith(b"data:"):
                continue  # blank separators, ":" keep-alive comments, event: lines
            data = line[5:].strip()
            if data == b"[DONE]":
                break
            now = time.perf_counter()
            try:
                obj = json.loads(data)
            except ValueError:
                r["error"] = f"bad chunk: {data[:200]!r}"
                break
            if "error" in obj:
                r["error"] = f"error chunk: {json.dumps(obj['error'])[:300]}"
                break
            for c in obj.get("choices") or []:
                delta = c.get("delta") or {}
                text = c.get("text") or delta.get("content") or delta.get("reasoning_content") or ""
                if text or c.get("tokens"):
                    r["chunks"] += 1
                    if r["t_first"] is None:
                        r["t_first"] = now
                if c.get("finish_reason"):
                    r["finish_reason"] = c["finish_reason"]
            usage = obj.get("usage")
            if isinstance(usage, dict) and usage.get("completion_tokens") is not None:
                r["tokens"] = int(usage["completion_tokens"])
    except (OSError, http.client.HTTPException) as e:
        r["error"] = f"{type(e).__name__}: {e}"
    finally:
        r["t_end"] = time.perf_counter()
        conn.close()
    if r["tokens"] is None:
        r["tokens_source"] = "chunks"
        r["tokens"] = r["chunks"]
    else:
        r["tokens_source"] = "usage"
    return r


def percentile(values, q):
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def run_round(args, server, concurrency, round_index):
    n = max(concurrency * args.requests_per_client, args.min_requests)
    path = "/v1/chat/completions" if args.endpoint == "chat" else "/v1/completions"
    bodies = [request_body(args, server, make_prompt(args, round_index, i), args.seed + i) for i in range(n)]
    results = [None] * n
    barrier = threading.Barrier(concurrency)

    def client(k):
        barrier.wait()
        for i in range(k, n, concurrency):
            results[i] = run_request(server, path, bodies[i], args.request_timeout)

    pid = server.proc.pid if server.proc else None
    others = {s.name: (s.proc.pid, cpu_seconds(s.proc.pid)) for s in args.servers_started
              if s is not server and s.proc is not None}
    cpu0 = cpu_seconds(pid) if pid else None
    load0 = loadavg()
    # Build processes seen while the round runs (polled twice a second): the round is marked disturbed.
    mine = {os.getpid()} | {s.proc.pid for s in args.servers_started if s.proc is not None}
    disturbed, done = {}, threading.Event()

    def watch():
        while not done.wait(0.5):
            for busy_pid, busy_name in busy_processes(mine):
                disturbed[busy_pid] = busy_name

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    watcher.join()
    ok = [r for r in results if r and not r["error"]]
    errors = [r["error"] for r in results if r and r["error"]]
    t_start = min(r["t_start"] for r in results)
    t_end = max(r["t_end"] for r in results)
    wall = t_end - t_start
    tokens = sum(r["tokens"] for r in ok)
    ttft = [(r["t_first"] - r["t_start"]) * 1e3 for r in ok if r["t_first"] is not None]
    tpot = [(r["t_end"] - r["t_first"]) * 1e3 / (r["tokens"] - 1) for r in ok
            if r["t_first"] is not None and r["tokens"] > 1]
    cpu1 = cpu_seconds(pid) if pid else None
    idle_cpu = {name: (None if c0 is None or cpu_seconds(p) is None else round(cpu_seconds(p) - c0, 2))
                for name, (p, c0) in others.items()}
    row = {
        "server": server.name, "concurrency": concurrency, "requests": n, "ok": len(ok), "errors": len(errors),
        "error_samples": errors[:3], "generated_tokens": tokens,
        "prompt_tokens_per_request": args.prompt_tokens, "max_tokens": args.max_tokens,
        "short_requests": sum(1 for r in ok if r["tokens"] < args.max_tokens),
        "tokens_from_usage": sum(1 for r in ok if r["tokens_source"] == "usage"),
        "wall_s": round(wall, 3), "tokens_per_s": round(tokens / wall, 2) if wall > 0 else None,
        "ttft_ms_p50": percentile(ttft, 50), "ttft_ms_p99": percentile(ttft, 99),
        "ttft_ms_max": max(ttft) if ttft else None, "tpot_ms_p50": percentile(tpot, 50),
        "server_cpu_s": None if cpu0 is None or cpu1 is None else round(cpu1 - cpu0, 2),
        "idle_servers_cpu_s": idle_cpu, "loadavg_before": load0, "loadavg_after": loadavg(),
        "disturbed_by": sorted({f"{name}({busy_pid})" for busy_pid, name in disturbed.items()}),
        "finish_reasons": sorted({str(r["finish_reason"]) for r in ok}),
    }
    for key in ("ttft_ms_p50", "ttft_ms_p99", "ttft_ms_max", "tpot_ms_p50"):
        if row[key] is not None:
            row[key] = round(row[key], 1)
    return row


def warm_up(args, server):
    """Two short requests at once: pages the weights in and lets the server allocate its batch buffers."""
    path = "/v1/chat/completions" if args.endpoint == "chat" else "/v1/completions"
    out = [None, None]

    def go(i):
        body = request_body(args, server, make_prompt(args, 999, i), 12345 + i)
        body["max_tokens"] = 8
        out[i] = run_request(server, path, body, args.request_timeout)

    ts = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for r in out:
        if r["error"]:
            raise RuntimeError(f"{server.name}: warm-up request failed: {r['error']}\n{server.log_tail()}")


def wait_idle(args):
    mine = {os.getpid()} | {s.proc.pid for s in args.servers_started if s.proc is not None}
    busy = busy_processes(mine)
    if not busy:
        return
    names = ", ".join(f"{name}({pid})" for pid, name in busy[:6])
    if not args.wait_idle:
        print(f"warning: build processes are running ({names}); the numbers are disturbed (--wait-idle waits)",
              file=sys.stderr)
        return
    print(f"waiting for build processes to finish: {names}", file=sys.stderr)
    while busy_processes(mine):
        time.sleep(5)
    time.sleep(2)


# ---------------------------------------------------------------------------------------------------- output
def fmt(x, digits=1):
    return "—" if x is None else f"{x:,.{digits}f}"


def markdown(results, servers):
    lines = ["| clients | server | requests | generated tokens | wall s | tokens/s | TTFT p50 ms | TTFT p99 ms "
             "| TPOT p50 ms | errors | notes |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in sorted(results, key=lambda r: (r["concurrency"], servers.index(r["server"]))):
        lines.append(f"| {row['concurrency']} | {row['server']} | {row['requests']} | {row['generated_tokens']} | "
                     f"{fmt(row['wall_s'])} | **{fmt(row['tokens_per_s'])}** | {fmt(row['ttft_ms_p50'], 0)} | "
                     f"{fmt(row['ttft_ms_p99'], 0)} | {fmt(row['tpot_ms_p50'])} | {row['errors']} | "
                     f"{'build processes ran during it' if row.get('disturbed_by') else ''} |")
    if len(servers) == 2:
        a, b = servers
        by = {(r["server"], r["concurrency"]): r for r in results}
        lines += ["", f"| clients | tokens/s {a} / {b} | {a} ÷ {b} | TTFT p50 ms {a} / {b} | "
                      f"TTFT p99 ms {a} / {b} |", "|---|---|---|---|---|"]
        for c in sorted({r["concurrency"] for r in results}):
            ra, rb = by.get((a, c)), by.get((b, c))
            if not ra or not rb:
                continue
            ratio = (f"**{ra['tokens_per_s'] / rb['tokens_per_s']:.2f}×**"
                     if ra["tokens_per_s"] and rb["tokens_per_s"] else "—")
            lines.append(f"| {c} | {fmt(ra['tokens_per_s'])} / {fmt(rb['tokens_per_s'])} | {ratio} | "
                         f"{fmt(ra['ttft_ms_p50'], 0)} / {fmt(rb['ttft_ms_p50'], 0)} | "
                         f"{fmt(ra['ttft_ms_p99'], 0)} / {fmt(rb['ttft_ms_p99'], 0)} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------- main
def name_value(text, what):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"{what} must be NAME=VALUE, got {text!r}")
    name, value = text.split("=", 1)
    if not name:
        raise argparse.ArgumentTypeError(f"{what} must be NAME=VALUE, got {text!r}")
    return name, value


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--server", action="append", default=[], type=lambda s: name_value(s, "--server"),
                   metavar="NAME=COMMAND", help="a server to start; {port} in COMMAND becomes its port")
    p.add_argument("--url", action="append", default=[], type=lambda s: name_value(s, "--url"),
                   metavar="NAME=URL", help="an already running server, e.g. moe=http://127.0.0.1:8080")
    p.add_argument("--extra", action="append", default=[], type=lambda s: name_value(s, "--extra"),
                   metavar="NAME=JSON", help="fields added to that server's requests")
    p.add_argument("--api-key", default=None, help="sent as Authorization: Bearer KEY to every server")
    p.add_argument("--concurrency", default="1,4,16,32", help="client counts, comma-separated (default 1,4,16,32)")
    p.add_argument("--requests-per-client", type=int, default=2, help="requests per client per round (default 2)")
    p.add_argument("--min-requests", type=int, default=8, help="at least this many requests per round (default 8)")
    p.add_argument("--prompt-tokens", type=int, default=64, help="prompt length: ids, or words with --prompt text")
    p.add_argument("--max-tokens", type=int, default=64, help="max_tokens of every request (default 64)")
    p.add_argument("--prompt", choices=("ids", "text"), default="ids", help="token-id prompts (default) or words")
    p.add_argument("--endpoint", choices=("completions", "chat"), default="completions")
    p.add_argument("--vocab", type=int, default=32000, help="prompt ids are below this (default 32000)")
    p.add_argument("--token-min", type=int, default=259,
                   help="prompt ids are at least this (default 259: past the control and byte tokens of a "
                        "SentencePiece vocabulary)")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--sequential", action="store_true",
                   help="run the servers one after the other (one in memory at a time) instead of alternating")
    p.add_argument("--wait-idle", action="store_true",
                   help="before each round wait while compilers run; run a round again (up to --retries times) "
                        "when one ran during it")
    p.add_argument("--retries", type=int, default=3, help="with --wait-idle: disturbed rounds run again (default 3)")
    p.add_argument("--load-timeout", type=float, default=900.0)
    p.add_argument("--request-timeout", type=float, default=900.0)
    p.add_argument("--log-dir", default=os.path.join(tempfile.gettempdir(), "bench_server_logs"),
                   help="where the started servers' output goes (default: TMPDIR/bench_server_logs)")
    p.add_argument("--json", help="write the results (and the machine, commands, settings) to this file")
    p.add_argument("--markdown", help="write the Markdown table to this file")
    args = p.parse_args()

    extras = {}
    for name, value in args.extra:
        try:
            extras[name] = json.loads(value)
        except ValueError as e:
            p.error(f"--extra {name}: not JSON: {e}")
        if not isinstance(extras[name], dict):
            p.error(f"--extra {name}: must be a JSON object")
    servers = [Server(n, command=c, extra=extras.get(n), log_dir=args.log_dir, api_key=args.api_key)
               for n, c in args.server]
    servers += [Server(n, url=u, extra=extras.get(n), api_key=args.api_key) for n, u in args.url]
    if not servers:
        p.error("give at least one --server NAME=COMMAND or --url NAME=URL")
    names = [s.name for s in servers]
    if len(set(names)) != len(names):
        p.error("server names must differ")
    for n in extras:
        if n not in names:
            p.error(f"--extra {n}: no server of that name")
    concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    args.servers_started = []

    meta = {"machine": machine_info(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "argv": sys.argv, "settings": {k: getattr(args, k) for k in (
                "concurrency", "requests_per_client", "min_requests", "prompt_tokens", "max_tokens", "prompt",
                "endpoint", "vocab", "token_min", "temperature", "seed", "sequential")}}
    print(f"machine: {meta['machine'].get('cpu')}, {meta['machine']['nproc']} CPUs, "
          f"{meta['machine'].get('mem_total_gib')} GiB", file=sys.stderr)
    results = []

    def one(server, round_index, c):
        for attempt in range(args.retries + 1):
            wait_idle(args)
            row = run_round(args, server, c, round_index)
            row["attempt"] = attempt + 1
            if not row["disturbed_by"] or not args.wait_idle:
                break
            print(f"[{server.name}] C={c}: build processes ran during the round ({', '.join(row['disturbed_by'][:4])})"
                  + ("; running it again" if attempt < args.retries else "; keeping it, marked disturbed"),
                  file=sys.stderr)
        results.append(row)
        print(f"[{server.name}] C={c}: {row['requests']} requests, {row['generated_tokens']} tokens in "
              f"{row['wall_s']:.1f} s = {fmt(row['tokens_per_s'])} tokens/s, TTFT p50 {fmt(row['ttft_ms_p50'], 0)} "
              f"ms p99 {fmt(row['ttft_ms_p99'], 0)} ms, TPOT p50 {fmt(row['tpot_ms_p50'])} ms"
              + (f", {row['errors']} errors: {row['error_samples'][0]}" if row["errors"] else ""), file=sys.stderr)

    def finish(server):
        server.peak_rss_mib = peak_rss_mib(server.proc.pid) if server.proc else None
        server.stop()

    try:
        if args.sequential:
            for server in servers:
                server.start(args.load_timeout)
                args.servers_started = [server]
                warm_up(args, server)
                for r, c in enumerate(concurrency):
                    one(server, r, c)
                finish(server)
        else:
            for server in servers:
                server.start(args.load_timeout)
                args.servers_started.append(server)
            for server in servers:
                warm_up(args, server)
            for r, c in enumerate(concurrency):
                for server in (servers if r % 2 == 0 else servers[::-1]):
                    one(server, r, c)
            for server in servers:
                finish(server)
    finally:
        for server in servers:
            server.stop()

    meta["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    meta["servers"] = [{"name": s.name, "argv": s.argv, "url": f"http://{s.host}:{s.port}", "model": s.model,
                        "extra": s.extra, "load_s": None if s.load_seconds is None else round(s.load_seconds, 1),
                        "peak_rss_mib": getattr(s, "peak_rss_mib", None), "log": s.log_path} for s in servers]
    table = markdown(results, names)
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({**meta, "results": results}, f, indent=2)
            f.write("\n")
    return 1 if any(r["errors"] for r in results) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as e:
        print(f"bench_server: {e}", file=sys.stderr)
        sys.exit(1)

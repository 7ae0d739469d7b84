#!/usr/bin/env python3
"""End-to-end tests of moe_server: the real server driven over HTTP by the official `openai` Python client, by raw
HTTP (http.client, sockets) and by curl.

    PY=$(tools/server_test_venv.sh build/server-venv | tail -n 1)
    "$PY" tests/server/test_server.py --server build/default/examples/moe_server \\
        --cli build/default/examples/moe_cli --model models/tiny-reasoner [-k SUBSTRING] [--keep-logs]

No pytest: the checks below are plain functions; each failure is printed with what was expected and what came back,
the summary counts them, and the exit status is 1 when any check failed. Four servers are started, one after the
other, on ports the OS picks (`--port 0`; the port is read from the "listening on http://HOST:PORT" line): the main
one (`-np 4 -t 2`), one with `--api-key secret --alias tiny-alias` (authentication, model alias), one with
`-np 4 --queue 0` (admission with no waiting room) and one with `-np 1 --queue 1` (queue full, client disconnects,
SIGTERM with a stalled client). Each is stopped with SIGTERM once its checks are done (the exit status must be 0,
within 15 s), and killed at the end whatever happens (try/finally; a killed test takes its servers with it:
PR_SET_PDEATHSIG). After every check the server must still answer GET /health with 200 (a crashed or hung server is
restarted so that the other checks still run). A run takes about 20 s on 2 cores.

load_test.py imports the helpers of this file (Server, request, ...)."""

import argparse
import http.client
import json
import math
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

TIMEOUT = 60.0  # seconds, every request and every wait
LISTENING = re.compile(r"listening on http://([^\s/]+):(\d+)")
PROMPT = "57486+68937"
SUM = 57486 + 68937  # 126423


# --- servers, raw HTTP, server-sent events, moe_cli (shared with load_test.py) -------------------------------------

class ServerError(Exception):
    """The server did not start, or died."""


class Server:
    """One moe_server process: `-m MODEL --port 0` plus `args`; its stdout is drained by a thread (the
    "listening on" line is read from it), its stderr goes to a log file."""

    def __init__(self, name, exe, model, args, logdir):
        self.name, self.exe, self.model, self.args, self.logdir = name, exe, model, list(args), logdir
        self.proc = None
        self.host = self.port = None
        self.stdout_lines = []
        self.health_statuses = []  # (status, body) seen while waiting for 200
        self.starts = 0
        self._stderr = None

    @property
    def command(self):
        return [self.exe, "-m", self.model, "--port", "0", *self.args]

    @property
    def base_url(self):
        return f"http://{self.host}:{self.port}"

    def start(self, timeout=TIMEOUT):
        self.starts += 1
        self.stderr_path = os.path.join(self.logdir, f"{self.name}.{self.starts}.stderr")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._stderr, preexec_fn=_die_with_parent)
        lines = queue.Queue()

        def drain(stream):
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.stdout_lines.append(line)
                lines.put(line)
            lines.put(None)

        threading.Thread(target=drain, args=(self.proc.stdout,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ServerError(f"{self.name}: no 'listening on http://HOST:PORT' line on stdout within "
                                  f"{timeout:.0f} s ({' '.join(self.command)}); stderr: {self.stderr_tail()}")
            try:
                line = lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if line is None:
                self.proc.wait(timeout=5)
                raise ServerError(f"{self.name}: exited with status {self.proc.returncode} before listening "
                                  f"({' '.join(self.command)}); stdout: {self.stdout_lines[-5:]}; stderr: "
                                  f"{self.stderr_tail()}")
            m = LISTENING.search(line)
            if m:
                self.host, self.port = m.group(1), int(m.group(2))
                break
        # GET /health until 200: 503 {"status": "loading model"} (or a refused connection) before that.
        while True:
            if self.proc.poll() is not None:
                raise ServerError(f"{self.name}: exited with status {self.proc.returncode} while loading; stderr: "
                                  f"{self.stderr_tail()}")
            try:
                r = request(self, "GET", "/health", timeout=5)
                self.health_statuses.append((r.status, r.body[:200]))
                if r.status == 200:
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ServerError(f"{self.name}: GET /health did not answer 200 within {timeout:.0f} s (last: "
                                  f"{self.health_statuses[-3:]}); stderr: {self.stderr_tail()}")
            time.sleep(0.05)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def healthy(self, timeout=10):
        """(ok, what): the process runs and GET /health answers 200 within `timeout` seconds."""
        if self.proc is None:
            return False, "not started"
        if not self.alive():
            return False, f"the process exited with status {self.proc.returncode}"
        try:
            r = request(self, "GET", "/health", timeout=timeout)
        except OSError as e:
            return False, f"GET /health failed: {e!r}"
        if r.status != 200:
            return False, f"GET /health answered {r.status} {r.body[:200]!r}"
        return True, "ok"

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise ServerError("no VmRSS in /proc/PID/status")

    def stop(self, timeout=15):
        """SIGTERM, then SIGKILL after `timeout` seconds. Returns (exit status, how): how is "sigterm", "killed"
        (it did not stop on SIGTERM) or "dead" (it had exited already)."""
        if self.proc is None:
            return None, "not started"
        how = "sigterm"
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                how = "killed"
        else:
            how = "dead"
        if self._stderr:
            self._stderr.close()
        return self.proc.returncode, how

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stderr_tail(self, n=1500):
        try:
            if self._stderr and not self._stderr.closed:
                self._stderr.flush()
            with open(self.stderr_path, "rb") as f:
                data = f.read()
        except (OSError, AttributeError):
            return "(unreadable)"
        text = data[-n:].decode("utf-8", "replace")
        return repr(text) if text else "(empty)"


def _die_with_parent():
    """In the child before exec: SIGKILL when the test process dies (Linux prctl PR_SET_PDEATHSIG), so that a
    killed test leaves no server behind."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except Exception:  # noqa: BLE001 -- best effort: the try/finally of the driver still stops the servers
        pass


def sigterm_as_interrupt():
    """SIGTERM raises KeyboardInterrupt, so that the drivers' finally blocks stop the servers."""
    def handler(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, handler)


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None

    def __repr__(self):
        return f"HTTP {self.status} {self.body[:300]!r}"


def request(server, method, path, body=None, headers=None, timeout=TIMEOUT):
    """One request on a fresh connection; `body` a dict/list (sent as JSON), bytes or str."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    try:
        hdrs = {}
        if body is not None:
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            if isinstance(body, str):
                body = body.encode()
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        conn.close()


def read_response(reader):
    """(status, headers, body) of one HTTP/1.1 response read from a socket's binary file (Content-Length or
    chunked framing)."""
    line = reader.readline()
    if not line:
        raise ConnectionError("the server closed the connection")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", line)
    if not m:
        raise ConnectionError(f"not an HTTP status line: {line[:100]!r}")
    headers = {}
    while True:
        h = reader.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    body = b""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int(reader.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                reader.readline()
                break
            body += reader.read(size)
            reader.readline()
    elif "content-length" in headers:
        body = reader.read(int(headers["content-length"]))
    return int(m.group(1)), headers, body


def sse_data(resp):
    """The data payloads of a text/event-stream http.client response, as they arrive ("[DONE]" included); comment
    lines (":" keep-alives) are skipped."""
    while True:
        raw = resp.readline()
        if not raw:
            return
        line = raw.rstrip(b"\r\n")
        if line.startswith(b"data:"):
            yield line[5:].lstrip(b" ").decode("utf-8")


def stream_request(server, path, body, headers=None, timeout=TIMEOUT):
    """POST a streaming request: (status, events, error): events the parsed JSON chunks plus the string "[DONE]",
    error the parsed body of a non-200 answer."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    try:
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})
        conn.request("POST", path, body=json.dumps(body).encode(), headers=hdrs)
        r = conn.getresponse()
        if r.status != 200:
            data = r.read()
            try:
                return r.status, [], json.loads(data)
            except ValueError:
                return r.status, [], data
        events = []
        for data in sse_data(r):
            events.append("[DONE]" if data == "[DONE]" else json.loads(data))
        return r.status, events, None
    finally:
        conn.close()


def chat_stream_text(events):
    """({index: [reasoning, content, finish_reason]}, usage or None) from chat.completion.chunk events."""
    out, usage = {}, None
    for e in events:
        if e == "[DONE]":
            continue
        if e.get("usage") is not None:
            usage = e["usage"]
        for c in e.get("choices") or []:
            slot = out.setdefault(c.get("index", 0), ["", "", None])
            d = c.get("delta") or {}
            slot[0] += d.get("reasoning_content") or ""
            slot[1] += d.get("content") or ""
            if c.get("finish_reason"):
                slot[2] = c["finish_reason"]
    return out, usage


CLI_OUTPUT = re.compile(r"(?:\[thinking\]\n(?P<reasoning>.*?))?(?:\n?\[answer\]\n(?P<answer>.*?))?"
                        r"\n\[(?P<tokens>\d+) tokens, (?P<thinking>\d+) thinking, finish: (?P<finish>[a-z_]+)\]\n?",
                        re.S)


def run_cli(cli, model, prompt, args, timeout=TIMEOUT):
    """moe_cli's answer to one chat turn: {reasoning, answer, tokens, thinking, finish, raw}. moe_cli prints
    "[thinking]\\n" REASONING "\\n[answer]\\n" ANSWER "\\n[N tokens, M thinking, finish: F]\\n" (the newlines
    before the headings and the tokens line are its own)."""
    cmd = [cli, model, "-p", prompt, *[str(a) for a in args]]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    out = p.stdout.decode("utf-8", "replace")
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {p.returncode}: "
                           f"{p.stderr.decode('utf-8', 'replace')[-500:]}")
    m = CLI_OUTPUT.fullmatch(out)
    if not m:
        raise RuntimeError(f"unexpected moe_cli output of {' '.join(cmd)}: {out!r}")
    return {"reasoning": m.group("reasoning") or "", "answer": m.group("answer") or "",
            "tokens": int(m.group("tokens")), "thinking": int(m.group("thinking")), "finish": m.group("finish"),
            "raw": out, "command": " ".join(cmd)}


def cli_prompt_ids(cli, model, prompt, timeout=TIMEOUT):
    """The prompt's token ids as moe_cli encodes the chat turn (--print-prompt-ids)."""
    p = subprocess.run([cli, model, "-p", prompt, "-n", "1", "--temp", "0", "--print-prompt-ids"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    m = re.search(r"prompt ids:((?: \d+)+)", p.stderr.decode("utf-8", "replace"))
    if p.returncode != 0 or not m:
        raise RuntimeError(f"moe_cli --print-prompt-ids failed: {p.stderr.decode('utf-8', 'replace')[-500:]}")
    return [int(x) for x in m.group(1).split()]


def last_number(text):
    nums = re.findall(r"\d+", text or "")
    return int(nums[-1]) if nums else None


def percentile(values, p):
    """Nearest-rank percentile of a non-empty list."""
    v = sorted(values)
    k = max(0, min(len(v) - 1, math.ceil(p / 100.0 * len(v)) - 1))
    return v[k]


def model_id(model_path):
    base = os.path.basename(os.path.normpath(model_path))
    return base[:-5] if base.endswith(".gguf") else base


def extra(obj, key, default=None):
    """A field the openai types do not declare (reasoning_content, moe_ledger, moe_finish_reason, ...)."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(key, default)
    ex = getattr(obj, "model_extra", None) or {}
    if key in ex:
        return ex[key]
    return getattr(obj, key, default)


def openai_client(server, api_key="none", timeout=TIMEOUT):
    import openai
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key=api_key, timeout=timeout, max_retries=0)


# --- the check machinery -----------------------------------------------------------------------------------------

class Stop(Exception):
    """Ends a check after a failure that makes the rest meaningless."""


class Ctx:
    def __init__(self, name, server):
        self.name, self.server = name, server
        self.failures, self.notes = [], []

    @property
    def client(self):
        """One openai client per check (its keep-alive connections are reused by the check's requests)."""
        if getattr(self, "_client", None) is None:
            self._client = openai_client(self.server)
        return self._client

    def close(self):
        if getattr(self, "_client", None) is not None:
            self._client.close()
            self._client = None

    def expect(self, cond, what, expected=None, got=None):
        if not cond:
            msg = what
            if expected is not None or got is not None:
                msg += f"\n      expected: {expected}\n      got:      {got}"
            self.failures.append(msg)
        return bool(cond)

    def require(self, cond, what, expected=None, got=None):
        if not self.expect(cond, what, expected, got):
            raise Stop()

    def equal(self, what, expected, got):
        return self.expect(expected == got, what, _short(expected), _short(got))

    def note(self, text):
        self.notes.append(text)

    def error_body(self, label, resp, statuses, etype=None, code=None, param=None):
        """`resp` (Response, or (status, body) pair) must have a status in `statuses` and an OpenAI error body."""
        if isinstance(resp, Response):
            status, body, raw = resp.status, resp.json(), resp.body
        else:
            status, raw = resp
            try:
                body = json.loads(raw) if isinstance(raw, (bytes, str)) else raw
            except ValueError:
                body = None
        statuses = statuses if isinstance(statuses, (tuple, list, set)) else (statuses,)
        ok = self.expect(status in statuses, f"{label}: HTTP status", " or ".join(map(str, statuses)),
                         f"{status} {_short(raw)}")
        e = body.get("error") if isinstance(body, dict) else None
        if not self.expect(isinstance(e, dict), f"{label}: body must be {{\"error\": {{...}}}}",
                           '{"error": {"message", "type", "param", "code"}}', _short(raw)):
            return False
        ok &= self.expect(isinstance(e.get("message"), str) and e["message"] != "", f"{label}: error.message",
                          "a non-empty string", _short(e.get("message")))
        ok &= self.expect(isinstance(e.get("type"), str), f"{label}: error.type", "a string", _short(e.get("type")))
        for k in ("param", "code"):
            ok &= self.expect(k in e and (e[k] is None or isinstance(e[k], str)), f"{label}: error.{k}",
                              "present, a string or null", _short(e.get(k, "(absent)")))
        if etype is not None:
            ok &= self.expect(e.get("type") == etype, f"{label}: error.type", etype, _short(e.get("type")))
        if code is not None:
            ok &= self.expect(e.get("code") == code, f"{label}: error.code", code, _short(e.get("code")))
        if param is not None:
            ok &= self.expect(e.get("param") == param, f"{label}: error.param", param, _short(e.get("param")))
        return ok


def _short(v, n=400):
    s = v.decode("utf-8", "replace") if isinstance(v, bytes) else v
    s = repr(s)
    return s if len(s) <= n else s[:n] + f"... ({len(s)} chars)"


CHECKS = []  # (name, server group, function)


def check(group):
    def deco(f):
        CHECKS.append((f.__name__, group, f))
        return f
    return deco


class Env:
    """What the checks share: arguments, the model id, cached reference answers."""
    args = None
    model = None
    prompt_ids = None
    _greedy = None
    _cli_greedy = None


def chat(t, **kw):
    """A chat completion with the openai client; `extra_body` for the extensions."""
    body = dict(model=Env.model, messages=[{"role": "user", "content": PROMPT}])
    body.update(kw)
    return t.client.chat.completions.create(**body)


def greedy(t):
    """The server's temperature-0 answer to PROMPT (non-stream), computed once."""
    if Env._greedy is None:
        r = chat(t, temperature=0)
        m = r.choices[0].message
        Env._greedy = {"reasoning": extra(m, "reasoning_content") or "", "content": m.content or "",
                       "usage": r.usage, "resp": r}
    return Env._greedy


def cli_greedy():
    if Env._cli_greedy is None:
        Env._cli_greedy = run_cli(Env.args.cli, Env.args.model, PROMPT, ["--temp", "0", "-n", "100"])
    return Env._cli_greedy


def strip_nl(s):
    return (s or "").strip("\n")


# --- main server (-np 4 -t 2) ------------------------------------------------------------------------------------

@check("main")
def health_and_models(t):
    for status, body in t.server.health_statuses[:-1]:
        t.expect(status == 503 and b"loading" in body, "GET /health while loading",
                 '503 {"status":"loading model"}', f"{status} {body!r}")
    r = request(t.server, "GET", "/health")
    t.equal("GET /health status", 200, r.status)
    t.equal("GET /health body", {"status": "ok"}, r.json())
    t.expect("application/json" in r.headers.get("content-type", ""), "GET /health Content-Type",
             "application/json", r.headers.get("content-type"))
    r = request(t.server, "GET", "/v1/models")
    t.equal("GET /v1/models status", 200, r.status)
    j = r.json() or {}
    t.equal("GET /v1/models object", "list", j.get("object"))
    ids = [m.get("id") for m in j.get("data") or [] if isinstance(m, dict)]
    t.expect(Env.model in ids, "GET /v1/models lists the model", Env.model, ids)
    for m in j.get("data") or []:
        t.equal("GET /v1/models data[].object", "model", m.get("object"))
    ids = [m.id for m in t.client.models.list()]
    t.expect(Env.model in ids, "openai client models.list()", Env.model, ids)


@check("main")
def chat_non_stream(t):
    r = chat(t, temperature=0)
    t.equal("object", "chat.completion", r.object)
    t.expect(isinstance(r.id, str) and r.id, "id", "a non-empty string", r.id)
    t.equal("model", Env.model, r.model)
    t.require(len(r.choices) == 1, "number of choices", 1, len(r.choices))
    c = r.choices[0]
    t.equal("choices[0].index", 0, c.index)
    t.equal("message.role", "assistant", c.message.role)
    t.equal("finish_reason", "stop", c.finish_reason)
    t.equal("moe_finish_reason", "stop_token", extra(c, "moe_finish_reason"))
    reasoning = extra(c.message, "reasoning_content")
    t.expect(isinstance(reasoning, str) and reasoning.strip(), "message.reasoning_content", "non-empty", reasoning)
    t.expect("<think>" not in (reasoning or "") + (c.message.content or "") and
             "</think>" not in (reasoning or "") + (c.message.content or ""),
             "no <think>/</think> delimiters in reasoning_content or content", "none",
             (reasoning, c.message.content))
    t.equal(f"the last number of message.content ({c.message.content!r})", SUM, last_number(c.message.content))
    u = r.usage
    t.require(u is not None, "usage", "present", None)
    t.equal("usage.prompt_tokens (moe_cli --print-prompt-ids)", len(Env.prompt_ids), u.prompt_tokens)
    t.equal("usage.total_tokens", u.prompt_tokens + u.completion_tokens, u.total_tokens)
    rt = u.completion_tokens_details.reasoning_tokens if u.completion_tokens_details else None
    t.expect(isinstance(rt, int) and rt > 0, "usage.completion_tokens_details.reasoning_tokens", "> 0", rt)
    t.expect(isinstance(rt, int) and rt < u.completion_tokens, "reasoning_tokens < completion_tokens",
             f"< {u.completion_tokens}", rt)
    ledger = extra(u, "moe_ledger")
    t.require(isinstance(ledger, dict), "usage.moe_ledger", "an object", ledger)
    phases = ledger.get("phases")
    t.require(isinstance(phases, dict), "moe_ledger.phases", "an object", phases)
    for p in ("prompt", "thinking", "answer"):
        ph = phases.get(p)
        if t.expect(isinstance(ph, dict), f"moe_ledger.phases.{p}", "an object", ph):
            t.expect(isinstance(ph.get("joules"), (int, float)) and ph["joules"] > 0,
                     f"moe_ledger.phases.{p}.joules", "> 0", ph.get("joules"))
            t.expect(isinstance(ph.get("tokens"), int) and ph["tokens"] > 0, f"moe_ledger.phases.{p}.tokens",
                     "> 0", ph.get("tokens"))
    total = ledger.get("total") or {}
    t.expect(isinstance(total.get("joules"), (int, float)) and total["joules"] > 0, "moe_ledger.total.joules",
             "> 0", total.get("joules"))
    if isinstance(phases.get("prompt"), dict):
        t.equal("moe_ledger.phases.prompt.tokens == usage.prompt_tokens", u.prompt_tokens,
                phases["prompt"].get("tokens"))
    if all(isinstance(phases.get(p), dict) for p in ("prompt", "thinking", "answer")):
        ph = [phases[p] for p in ("prompt", "thinking", "answer")]
        t.equal("moe_ledger.total.tokens == the phases' tokens summed", sum(x.get("tokens", 0) for x in ph),
                total.get("tokens"))
        joules = sum(x.get("joules", 0) for x in ph)
        t.expect(abs(joules - (total.get("joules") or 0)) <= 1e-9 + 1e-6 * joules,
                 "moe_ledger.total.joules == the phases' joules summed", joules, total.get("joules"))
        t.expect(phases["thinking"].get("tokens", 0) + phases["answer"].get("tokens", 0) <= u.completion_tokens,
                 "ledger: thinking + answer forward tokens <= completion_tokens", f"<= {u.completion_tokens}",
                 (phases["thinking"].get("tokens"), phases["answer"].get("tokens")))
    for k in ("model", "energy_note"):
        t.expect(k in ledger, f"moe_ledger.{k}", "present", sorted(ledger))
    t.expect("parameters" in ledger or "parameters_total" in ledger, "moe_ledger parameters (total/active)",
             "present", sorted(ledger))


@check("main")
def chat_stream(t):
    ref = greedy(t)
    chunks = list(chat(t, temperature=0, stream=True, stream_options={"include_usage": True}))
    t.require(chunks, "stream chunks", "at least one", 0)
    ids = {c.id for c in chunks}
    t.equal("one id across the chunks", 1, len(ids))
    t.expect(all(c.object == "chat.completion.chunk" for c in chunks), "every chunk's object",
             "chat.completion.chunk", sorted({c.object for c in chunks}))
    with_choices = [c for c in chunks if c.choices]
    t.require(with_choices, "chunks with choices", "some", 0)
    t.equal("first delta's role", "assistant", with_choices[0].choices[0].delta.role)
    reasoning = content = ""
    finishes = []
    for c in with_choices:
        for ch in c.choices:
            t.expect(ch.index == 0, "choice index in chunks", 0, ch.index)
            reasoning += extra(ch.delta, "reasoning_content") or ""
            content += ch.delta.content or ""
            if ch.finish_reason:
                finishes.append(ch.finish_reason)
    t.equal("streamed reasoning_content == non-stream reasoning_content", ref["reasoning"], reasoning)
    t.equal("streamed content == non-stream content", ref["content"], content)
    if ref["reasoning"] != reasoning or ref["content"] != content:
        if strip_nl(ref["reasoning"]) == strip_nl(reasoning) and strip_nl(ref["content"]) == strip_nl(content):
            t.note("stream and non-stream differ only in leading/trailing newlines")
    t.equal("finish_reasons in the stream", ["stop"], finishes)
    last = chunks[-1]
    t.expect(last.usage is not None and last.choices == [], "last chunk: usage chunk with choices []",
             "usage, choices=[]", (last.usage, last.choices))
    if last.usage is not None:
        t.equal("stream usage.completion_tokens", ref["usage"].completion_tokens, last.usage.completion_tokens)
        t.equal("stream usage.prompt_tokens", ref["usage"].prompt_tokens, last.usage.prompt_tokens)
        t.equal("stream usage reasoning_tokens", ref["usage"].completion_tokens_details.reasoning_tokens,
                last.usage.completion_tokens_details.reasoning_tokens if last.usage.completion_tokens_details
                else None)
        t.expect(isinstance(extra(last.usage, "moe_ledger"), dict), "stream usage.moe_ledger", "an object",
                 extra(last.usage, "moe_ledger"))
    # Without include_usage: no usage chunk.
    chunks = list(chat(t, temperature=0, stream=True))
    t.expect(all(c.usage is None for c in chunks), "no usage without stream_options.include_usage", "none",
             [c.usage for c in chunks if c.usage is not None][:1])
    # Raw: the content type, "data: " lines, [DONE] last.
    conn = http.client.HTTPConnection(t.server.host, t.server.port, timeout=TIMEOUT)
    try:
        conn.request("POST", "/v1/chat/completions", headers={"Content-Type": "application/json"},
                     body=json.dumps({"model": Env.model, "messages": [{"role": "user", "content": PROMPT}],
                                      "temperature": 0, "stream": True}))
        r = conn.getresponse()
        t.equal("stream HTTP status", 200, r.status)
        t.expect(r.getheader("Content-Type", "").startswith("text/event-stream"), "stream Content-Type",
                 "text/event-stream", r.getheader("Content-Type"))
        data = list(sse_data(r))
        t.expect(data and data[-1] == "[DONE]", "last event", "data: [DONE]", data[-1:] if data else data)
        t.equal("events after [DONE]", 1, data.count("[DONE]"))
    finally:
        conn.close()


def compare_with_cli(t, label, seed, temp, n, top_p=1.0):
    cli = run_cli(Env.args.cli, Env.args.model, PROMPT,
                  ["--seed", seed, "--temp", temp, "--top-k", 0, "--top-p", top_p, "--min-p", 0, "-n", n])
    r = chat(t, seed=seed, temperature=temp, top_p=top_p, max_tokens=n, extra_body={"top_k": 0, "min_p": 0})
    c = r.choices[0]
    reasoning, content = extra(c.message, "reasoning_content") or "", c.message.content or ""
    same = strip_nl(cli["reasoning"]) == strip_nl(reasoning) and strip_nl(cli["answer"]) == strip_nl(content)
    t.expect(same, f"{label}: server text == moe_cli text ({cli['command']})",
             f"moe_cli reasoning {cli['reasoning']!r}, answer {cli['answer']!r}",
             f"server reasoning_content {reasoning!r}, content {content!r}")
    rt = r.usage.completion_tokens_details.reasoning_tokens if r.usage.completion_tokens_details else None
    t.equal(f"{label}: usage.completion_tokens == moe_cli's token count", cli["tokens"], r.usage.completion_tokens)
    t.equal(f"{label}: reasoning_tokens == moe_cli's thinking count", cli["thinking"], rt)
    t.equal(f"{label}: moe_finish_reason == moe_cli's finish", cli["finish"], extra(c, "moe_finish_reason"))
    t.equal(f"{label}: finish_reason", "length" if cli["finish"] == "max_tokens" else "stop", c.finish_reason)
    return cli


@check("main")
def same_answer_as_moe_cli(t):
    compare_with_cli(t, "seed 7, temperature 0.9, max_tokens 80", 7, 0.9, 80)
    compare_with_cli(t, "temperature 0, max_tokens 100", 0, 0.0, 100)
    # Hotter, so that the sampled tokens differ from the greedy ones and the seed matters.
    differ = 0
    for seed in (1, 2, 3, 4):
        cli = compare_with_cli(t, f"seed {seed}, temperature 1.6, max_tokens 60", seed, 1.6, 60)
        differ += cli["raw"] != cli_greedy()["raw"]
    t.expect(differ > 0, "temperature 1.6 changes some answer (else the seed comparison proves little)",
             "at least one of 4 differs from greedy", differ)


@check("main")
def n3_determinism(t):
    kw = dict(n=3, seed=42, temperature=1.0, max_tokens=100)
    r1 = chat(t, **kw)
    t.require(len(r1.choices) == 3, "n=3: number of choices", 3, len(r1.choices))
    t.equal("n=3: choice indexes", [0, 1, 2], sorted(c.index for c in r1.choices))
    for c in r1.choices:
        t.expect(isinstance(c.message.content, str) and c.message.content.strip(), f"choice {c.index}: content",
                 "non-empty", c.message.content)
        t.expect(c.finish_reason in ("stop", "length"), f"choice {c.index}: finish_reason", "stop or length",
                 c.finish_reason)

    def texts(r):
        return {c.index: (extra(c.message, "reasoning_content"), c.message.content, c.finish_reason)
                for c in r.choices}

    r2 = chat(t, **kw)
    t.equal("n=3, same seed again: identical choices", texts(r1), texts(r2))
    t.equal("n=3, same seed again: identical usage.completion_tokens", r1.usage.completion_tokens,
            r2.usage.completion_tokens)
    # The stream of the same request carries the same choices, per index.
    body = {"model": Env.model, "messages": [{"role": "user", "content": PROMPT}], "stream": True, **kw}
    status, events, err = stream_request(t.server, "/v1/chat/completions", body)
    t.require(status == 200, "n=3 stream status", 200, (status, err))
    got, _ = chat_stream_text(events)
    want = {i: [v[0] or "", v[1] or "", v[2]] for i, v in texts(r1).items()}
    t.equal("n=3 stream, per index: [reasoning, content, finish_reason] == non-stream", want, got)


@check("main")
def stop_strings(t):
    ref = greedy(t)
    R, C = ref["reasoning"], ref["content"]
    t.require("=" in R, "the greedy reasoning contains '='", "'=' in it", R)
    r = chat(t, temperature=0, stop=["="])
    c = r.choices[0]
    reasoning, content = extra(c.message, "reasoning_content") or "", c.message.content or ""
    t.equal("stop ['=']: finish_reason", "stop", c.finish_reason)
    t.equal("stop ['=']: moe_finish_reason", "stop_string", extra(c, "moe_finish_reason"))
    t.expect("=" not in reasoning + content, "stop ['=']: the text does not contain '='", "no '='",
             (reasoning, content))
    t.equal("stop ['=']: reasoning_content is the greedy reasoning up to the first '='", strip_nl(R.split("=")[0]),
            strip_nl(reasoning))
    t.equal("stop ['=']: content", "", strip_nl(content))
    # A stop string in the answer only (a string, not an array).
    digits = C.strip()
    stop = next((digits[i:i + 2] for i in range(1, len(digits) - 1) if digits[i:i + 2] not in R), None)
    t.require(stop is not None, "a 2-character piece of the greedy answer absent from its reasoning", "one", C)
    r = chat(t, temperature=0, stop=stop)
    c = r.choices[0]
    t.equal(f"stop {stop!r}: finish_reason", "stop", c.finish_reason)
    t.equal(f"stop {stop!r}: reasoning_content unchanged", R, extra(c.message, "reasoning_content") or "")
    t.equal(f"stop {stop!r}: content cut before it", strip_nl(C.split(stop)[0]), strip_nl(c.message.content))
    # Four strings that never occur: the greedy answer.
    r = chat(t, temperature=0, stop=["xyz", "###", "Q:", "@@"])
    c = r.choices[0]
    t.equal("4 absent stop strings: content", C, c.message.content or "")
    t.equal("4 absent stop strings: moe_finish_reason", "stop_token", extra(c, "moe_finish_reason"))
    # Streaming with a stop string whose first character occurs without it ("=1" after "=0..."): the stream must
    # hold back the partial match and still equal the non-stream text.
    for stop in (["=1"], ["+1+", "\n\n"]):
        r = chat(t, temperature=0, stop=stop)
        c = r.choices[0]
        want = [extra(c.message, "reasoning_content") or "", c.message.content or "", c.finish_reason]
        status, events, err = stream_request(t.server, "/v1/chat/completions",
                                             {"model": Env.model, "messages": [{"role": "user", "content": PROMPT}],
                                              "temperature": 0, "stop": stop, "stream": True})
        got, _ = chat_stream_text(events)
        t.equal(f"stop {stop}: streamed text == non-stream text", want, got.get(0))
        for s in stop:
            t.expect(s not in want[0] + want[1], f"stop {stop}: text does not contain {s!r}", "absent", want)


@check("main")
def logprobs(t):
    r = chat(t, temperature=0, logprobs=True, top_logprobs=3)
    lp = r.choices[0].logprobs
    t.require(lp is not None and lp.content, "choices[0].logprobs.content", "non-empty", lp)
    t.expect(len(lp.content) <= r.usage.completion_tokens, "logprobs entries <= completion_tokens",
             f"<= {r.usage.completion_tokens}", len(lp.content))
    bad = []
    for i, e in enumerate(lp.content):
        tops = e.top_logprobs or []
        vals = [x.logprob for x in tops]
        problems = []
        if not isinstance(e.token, str):
            problems.append("token not a string")
        if not (e.logprob <= 1e-9):
            problems.append(f"logprob {e.logprob} > 0")
        if len(tops) != 3:
            problems.append(f"{len(tops)} top_logprobs")
        if vals != sorted(vals, reverse=True):
            problems.append(f"top_logprobs not descending {vals}")
        if any(v > 1e-9 for v in vals):
            problems.append(f"a top logprob > 0 {vals}")
        if vals and abs(e.logprob - max(vals)) > 1e-6:
            problems.append(f"greedy token's logprob {e.logprob} != max of top_logprobs {max(vals)}")
        if vals and sum(math.exp(v) for v in vals) > 1 + 1e-6:
            problems.append(f"top probabilities sum {sum(math.exp(v) for v in vals)} > 1")
        if e.bytes is not None and list(e.bytes) != list(e.token.encode("utf-8")) and "\ufffd" not in e.token \
                and not (e.token.startswith("<") and e.token.endswith(">")):
            problems.append(f"bytes {e.bytes} != utf-8 of token {e.token!r}")
        if problems:
            bad.append(f"entry {i} ({e.token!r}): " + "; ".join(problems))
    t.expect(not bad, "logprobs entries (temperature 0)", "all well-formed and greedy", bad[:5])
    # Sampled: the chosen token's logprob is at most the best one's.
    r = chat(t, temperature=1.0, seed=3, logprobs=True, top_logprobs=5)
    lp = r.choices[0].logprobs
    t.require(lp is not None and lp.content, "sampled: logprobs.content", "non-empty", lp)
    bad = [i for i, e in enumerate(lp.content)
           if len(e.top_logprobs) != 5 or e.logprob > max(x.logprob for x in e.top_logprobs) + 1e-6]
    t.expect(not bad, "sampled: 5 top_logprobs each, chosen logprob <= best", "all", bad[:5])
    r = chat(t, temperature=0)
    t.expect(r.choices[0].logprobs is None, "no logprobs unless asked", None, r.choices[0].logprobs)
    # Streamed: the chunks' logprobs.content entries, concatenated, are the non-stream ones.
    r = chat(t, temperature=0, logprobs=True, top_logprobs=2)
    want = [(e.token, round(e.logprob, 9), [x.token for x in e.top_logprobs]) for e in r.choices[0].logprobs.content]
    got = []
    for ch in chat(t, temperature=0, logprobs=True, top_logprobs=2, stream=True):
        for c in ch.choices:
            if c.logprobs is not None and c.logprobs.content:
                got += [(e.token, round(e.logprob, 9), [x.token for x in e.top_logprobs]) for e in c.logprobs.content]
    t.equal("streamed logprobs entries (concatenated) == non-stream entries", want, got)
    # /v1/completions: logprobs is an int there.
    r = request(t.server, "POST", "/v1/completions",
                {"model": Env.model, "prompt": Env.prompt_ids, "temperature": 0, "logprobs": 2, "max_tokens": 20})
    t.equal("completions logprobs=2: status", 200, r.status)
    ch = ((r.json() or {}).get("choices") or [{}])[0]
    t.expect(ch.get("logprobs") is not None, "completions logprobs=2: choices[0].logprobs", "present",
             _short(ch))


@check("main")
def completions(t):
    text_prompt = f"<|im_start|>user\n{PROMPT}<|im_end|>\n<|im_start|>assistant\n"
    cl = t.client
    # The text is encoded as text (48 tokens: "<|im_start|>" is not the control token), so max_tokens 60 fits the
    # context of 128.
    r = cl.completions.create(model=Env.model, prompt=text_prompt, temperature=0, max_tokens=60)
    t.equal("object", "text_completion", r.object)
    t.require(len(r.choices) == 1, "choices", 1, len(r.choices))
    c = r.choices[0]
    t.expect(isinstance(c.text, str) and c.text != "", "string prompt: choices[0].text", "a non-empty string", c.text)
    t.expect(c.finish_reason in ("stop", "length"), "finish_reason", "stop or length", c.finish_reason)
    u = r.usage
    t.require(u is not None, "usage", "present", None)
    t.expect(u.prompt_tokens > 0 and u.completion_tokens > 0 and u.total_tokens == u.prompt_tokens +
             u.completion_tokens, "usage tokens", "prompt>0, completion>0, total=sum", u)
    nonstream = (c.text, extra(c, "reasoning_content") or "", c.finish_reason)
    chunks = list(cl.completions.create(model=Env.model, prompt=text_prompt, temperature=0, max_tokens=60,
                                        stream=True, stream_options={"include_usage": True}))
    text = "".join(ch.choices[0].text or "" for ch in chunks if ch.choices)
    reasoning = "".join(extra(ch.choices[0], "reasoning_content") or "" for ch in chunks if ch.choices)
    finish = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    t.equal("string prompt, stream: (text, reasoning_content, finish_reason) == non-stream", nonstream,
            (text, reasoning, finish[-1] if finish else None))
    t.expect(all(ch.object == "text_completion" for ch in chunks), "stream chunks' object", "text_completion",
             sorted({ch.object for ch in chunks}))
    t.expect(chunks and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == u.completion_tokens,
             "stream: last chunk carries the usage", u.completion_tokens, chunks[-1].usage if chunks else None)
    # The chat prompt as token ids: the same tokens as the chat request, so the same greedy answer.
    ref = greedy(t)
    r = cl.completions.create(model=Env.model, prompt=Env.prompt_ids, temperature=0, max_tokens=100)
    c = r.choices[0]
    t.equal("token-id prompt: usage.prompt_tokens", len(Env.prompt_ids), r.usage.prompt_tokens)
    t.equal("token-id prompt (the chat prompt's ids): text == chat content", strip_nl(ref["content"]),
            strip_nl(c.text))
    t.equal("token-id prompt: reasoning_content == chat reasoning_content", strip_nl(ref["reasoning"]),
            strip_nl(extra(c, "reasoning_content")))
    t.equal("token-id prompt: completion_tokens == chat", ref["usage"].completion_tokens, r.usage.completion_tokens)


@check("main")
def extensions(t):
    def rtok(r):
        d = r.usage.completion_tokens_details
        return d.reasoning_tokens if d else None

    ref = greedy(t)
    r = chat(t, temperature=0, extra_body={"thinking_budget": 0})
    t.expect(rtok(r) is not None and rtok(r) <= 2, "thinking_budget 0: reasoning_tokens", "0 (or at most 2)",
             rtok(r))
    t.expect(last_number(r.choices[0].message.content) is not None, "thinking_budget 0: an answer", "a number",
             r.choices[0].message.content)
    r = chat(t, temperature=0, extra_body={"thinking_budget": 10})
    t.expect(rtok(r) is not None and 0 < rtok(r) <= 14, "thinking_budget 10: reasoning_tokens", "1..14", rtok(r))
    t.expect(len(extra(r.choices[0].message, "reasoning_content") or "") <
             len(ref["reasoning"]), "thinking_budget 10: shorter reasoning than without a budget",
             f"< {len(ref['reasoning'])} chars", extra(r.choices[0].message, "reasoning_content"))
    r = chat(t, temperature=0, extra_body={"thinking_budget": None})
    t.equal("thinking_budget null: the unlimited greedy answer", ref["content"], r.choices[0].message.content)
    for label, body in (("chat_template_kwargs.enable_thinking false",
                         {"chat_template_kwargs": {"enable_thinking": False}}),
                        ("enable_thinking false", {"enable_thinking": False})):
        r = chat(t, temperature=0, extra_body=body)
        t.equal(f"{label}: reasoning_tokens", 0, rtok(r))
        t.expect(not extra(r.choices[0].message, "reasoning_content"), f"{label}: reasoning_content",
                 "empty or null", extra(r.choices[0].message, "reasoning_content"))
        t.expect(r.usage.prompt_tokens > len(Env.prompt_ids), f"{label}: the prompt pre-fills <think></think>",
                 f"> {len(Env.prompt_ids)} prompt tokens", r.usage.prompt_tokens)
    r = chat(t, temperature=0, extra_body={"min_thinking_tokens": 70, "max_waits": 1})
    t.expect(rtok(r) is not None and rtok(r) > ref["usage"].completion_tokens_details.reasoning_tokens,
             "min_thinking_tokens 70, max_waits 1: more reasoning tokens than greedy",
             f"> {ref['usage'].completion_tokens_details.reasoning_tokens}", rtok(r))
    # Self-consistency: N paths, a vote.
    r = chat(t, temperature=0.8, seed=5, extra_body={"self_consistency": 4})
    t.equal("self_consistency 4: choices", 4, len(r.choices))
    t.equal("self_consistency 4: indexes", [0, 1, 2, 3], sorted(c.index for c in r.choices))
    sc = extra(r, "moe_self_consistency")
    if t.expect(isinstance(sc, dict) and "answer" in sc and isinstance(sc.get("votes"), list),
                "moe_self_consistency", "{answer, votes: [...]}", sc):
        votes = {v.get("answer"): v.get("votes") for v in sc["votes"]}
        t.expect(1 <= sum(votes.values()) <= 4, "self_consistency: votes total", "1..4", votes)
        t.equal("self_consistency: answer is the most voted", max(votes, key=votes.get) if votes else None,
                sc.get("answer"))
        mine = [None if last_number(c.message.content) is None else str(last_number(c.message.content))
                for c in sorted(r.choices, key=lambda c: c.index)]
        paths = sc.get("path_answers", mine)
        t.equal("self_consistency: path_answers == each choice's last number", mine, paths)
        if sc.get("answer") is not None:
            t.equal("self_consistency: the answer's votes == the paths that gave it", votes.get(sc["answer"]),
                    sum(p == sc["answer"] for p in paths))
            t.equal("self_consistency: the answer (the model is 94 % right; 4 paths at 0.8)", str(SUM),
                    str(sc["answer"]))
    r2 = chat(t, temperature=0.8, seed=5, extra_body={"self_consistency": 4})
    t.equal("self_consistency 4, same seed: same votes", sc, extra(r2, "moe_self_consistency"))
    # CoT-decoding: K branches from the top-K first tokens.
    r = chat(t, extra_body={"cot_decoding": 3})
    cd = extra(r, "moe_cot_decoding")
    t.equal("cot_decoding 3: choices", 3, len(r.choices))
    if t.expect(isinstance(cd, dict) and isinstance(cd.get("branches"), list), "moe_cot_decoding",
                "{max_path_answer, aggregated_answer, branches}", cd):
        t.equal("cot_decoding 3: branches", 3, len(cd["branches"]))
        for k in ("max_path_answer", "aggregated_answer"):
            t.expect(k in cd, f"moe_cot_decoding.{k}", "present", sorted(cd))
        for i, b in enumerate(cd["branches"]):
            t.expect(isinstance(b, dict) and isinstance(b.get("first_token"), int) and "answer" in b and
                     isinstance(b.get("delta"), (int, float)), f"moe_cot_decoding.branches[{i}]",
                     "{first_token: int, answer, delta: number}", b)
        firsts = [b.get("first_token") for b in cd["branches"] if isinstance(b, dict)]
        t.equal("cot_decoding: distinct first tokens", len(firsts), len(set(firsts)))


@check("main")
def request_shapes(t):
    ref = greedy(t)
    r = chat(t, temperature=0, messages=[{"role": "user", "content": [{"type": "text", "text": PROMPT}]}])
    t.equal("content as [{type: text}] parts: same answer", ref["content"], r.choices[0].message.content)
    r = chat(t, temperature=0, messages=[{"role": "user", "content": [{"type": "text", "text": PROMPT[:5]},
                                                                      {"type": "text", "text": PROMPT[5:]}]}])
    t.equal("content split in two text parts: same prompt tokens", len(Env.prompt_ids), r.usage.prompt_tokens)
    r = chat(t, temperature=0, messages=[{"role": "system", "content": "add"},
                                         {"role": "user", "content": "12345+54321"},
                                         {"role": "assistant", "content": "66666"},
                                         {"role": "user", "content": PROMPT}])
    t.expect(r.usage.prompt_tokens > len(Env.prompt_ids), "multi-turn with a system prompt: longer prompt",
             f"> {len(Env.prompt_ids)}", r.usage.prompt_tokens)
    r = chat(t, temperature=0, messages=[{"role": "developer", "content": "add"},
                                         {"role": "user", "content": PROMPT}])
    t.expect(r.choices[0].message.content is not None, "role developer accepted", "an answer", r)
    r = chat(t, temperature=0, max_tokens=5)
    c = r.choices[0]
    t.equal("max_tokens 5: completion_tokens", 5, r.usage.completion_tokens)
    t.equal("max_tokens 5: finish_reason", "length", c.finish_reason)
    t.equal("max_tokens 5: moe_finish_reason", "max_tokens", extra(c, "moe_finish_reason"))
    r = chat(t, temperature=0, max_completion_tokens=7)
    t.equal("max_completion_tokens 7: completion_tokens", 7, r.usage.completion_tokens)
    r = chat(t, temperature=0.7, seed=1, presence_penalty=0.5, frequency_penalty=0.5,
             extra_body={"repetition_penalty": 1.1, "top_k": 20, "min_p": 0.05})
    t.expect(r.choices[0].message.content is not None, "penalties and samplers accepted", "an answer", r)
    # More than the context leaves: either clipped to the context or refused as too long; never more tokens.
    rr = request(t.server, "POST", "/v1/chat/completions",
                 {"model": Env.model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 2000,
                  "temperature": 2.0, "seed": 1})
    if rr.status == 200:
        u = (rr.json() or {}).get("usage") or {}
        t.expect(u.get("prompt_tokens", 0) + u.get("completion_tokens", 10 ** 9) <= 128,
                 "max_tokens 2000 (context 128): prompt + completion tokens", "<= 128", u)
    else:
        t.error_body("max_tokens 2000 (context 128)", rr, 400, "invalid_request_error")
    # Keep-alive: several requests over one connection.
    conn = http.client.HTTPConnection(t.server.host, t.server.port, timeout=TIMEOUT)
    try:
        statuses = []
        for method, path, body in (("GET", "/health", None), ("POST", "/v1/chat/completions",
                                   {"model": Env.model, "messages": [{"role": "user", "content": PROMPT}],
                                    "temperature": 0}), ("GET", "/v1/models", None),
                                   ("POST", "/v1/chat/completions", b"{bad json")):
            conn.request(method, path, body=json.dumps(body) if isinstance(body, dict) else body,
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            statuses.append(resp.status)
        t.equal("four requests on one keep-alive connection", [200, 200, 200, 400], statuses)
    finally:
        conn.close()


@check("main")
def concurrent_determinism(t):
    body = {"model": Env.model, "messages": [{"role": "user", "content": PROMPT}], "seed": 11,
            "temperature": 1.2, "max_tokens": 80}
    solo = request(t.server, "POST", "/v1/chat/completions", body)
    t.require(solo.status == 200, "solo request", 200, solo)
    want = [(c["message"].get("reasoning_content"), c["message"].get("content")) for c in solo.json()["choices"]]
    results = [None] * 8
    others = [dict(body, seed=100 + i, n=1 + i % 2) for i in range(8)]  # different work alongside

    def one(i):
        try:
            if i % 2 == 0:
                r = request(t.server, "POST", "/v1/chat/completions", body)
                results[i] = [(c["message"].get("reasoning_content"), c["message"].get("content"))
                              for c in r.json()["choices"]] if r.status == 200 else r
            else:
                request(t.server, "POST", "/v1/chat/completions", others[i])
                st, events, err = stream_request(t.server, "/v1/chat/completions", dict(body, stream=True))
                got, _ = chat_stream_text(events)
                results[i] = [(got[0][0] or None, got[0][1])] if st == 200 and 0 in got else (st, err)
        except Exception as e:  # noqa: BLE001 -- reported below
            results[i] = repr(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(TIMEOUT * 2)
    norm = [[(strip_nl(a or ""), strip_nl(b or "")) for a, b in w] if isinstance(w, list) else w for w in results]
    wn = [(strip_nl(a or ""), strip_nl(b or "")) for a, b in want]
    t.expect(all(w == wn for w in norm), "same seed alongside other requests (4 plain, 4 streamed): same answer",
             wn, [i for i, w in enumerate(norm) if w != wn] and norm)


# --- bad requests ------------------------------------------------------------------------------------------------

DROP = object()


def chat_body(**kw):
    b = {"model": None, "messages": [{"role": "user", "content": "12345+54321"}], "max_tokens": 8}
    b.update(kw)
    b["model"] = Env.model if b["model"] is None else b["model"]
    return {k: v for k, v in b.items() if v is not DROP}


def completion_body(**kw):
    b = {"model": Env.model, "prompt": "12345+54321", "max_tokens": 8}
    b.update(kw)
    return {k: v for k, v in b.items() if v is not DROP}


def bad_requests():
    """(label, method, path, body, statuses, type, code, param)."""
    C, P = "/v1/chat/completions", "/v1/completions"
    inv = "invalid_request_error"
    tool = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
    long_text = "1+" * 50_000  # 100 KB
    rows = [
        ("malformed JSON", "POST", C, b'{"model": "x", "messages": [', 400, inv, None, None),
        ("trailing garbage after JSON", "POST", C, json.dumps(chat_body()).encode() + b" }", 400, inv, None, None),
        ("not UTF-8", "POST", C, b'{"model": "\xff\xfe"}', 400, inv, None, None),
        ("body is an array", "POST", C, b"[1, 2, 3]", 400, inv, None, None),
        ("body is a string", "POST", C, b'"hello"', 400, inv, None, None),
        ("body is null", "POST", C, b"null", 400, inv, None, None),
        ("empty body", "POST", C, b"", 400, inv, None, None),
        ("missing model", "POST", C, chat_body(model=DROP), 400, inv, None, None),
        ("unknown model", "POST", C, chat_body(model="gpt-4o"), 404, "not_found_error", "model_not_found", None),
        ("model not a string", "POST", C, chat_body(model=5), 400, inv, None, None),
        ("missing messages", "POST", C, chat_body(messages=DROP), 400, inv, None, None),
        ("messages not an array", "POST", C, chat_body(messages="hi"), 400, inv, None, None),
        ("messages empty", "POST", C, chat_body(messages=[]), 400, inv, None, None),
        ("temperature NaN (not JSON)", "POST", C, json.dumps(chat_body(temperature=float("nan"))).encode(), 400,
         inv, None, None),
        ("temperature 1e400", "POST", C, json.dumps(chat_body()).replace('"max_tokens": 8',
                                                                       '"max_tokens": 8, "temperature": 1e400'),
         400, inv, None, None),
        ("max_tokens 1e20", "POST", C, chat_body(max_tokens=1e20), 400, inv, None, "max_tokens"),
        ("max_tokens true", "POST", C, chat_body(max_tokens=True), 400, inv, None, "max_tokens"),
        ("max_tokens 2**63", "POST", C, chat_body(max_tokens=2 ** 63), 400, inv, None, "max_tokens"),
        ("n 1e300", "POST", C, chat_body(n=1e300), 400, inv, None, "n"),
        ("messages an object", "POST", C, chat_body(messages={"role": "user", "content": "x"}), 400, inv, None, None),
        ("message not an object", "POST", C, chat_body(messages=["hi"]), 400, inv, None, None),
        ("message without role", "POST", C, chat_body(messages=[{"content": "hi"}]), 400, inv, None, None),
        ("unknown role", "POST", C, chat_body(messages=[{"role": "robot", "content": "hi"}]), 400, inv, None, None),
        ("content a number", "POST", C, chat_body(messages=[{"role": "user", "content": 5}]), 400, inv, None, None),
        ("content part image_url", "POST", C, chat_body(messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "http://example.com/a.png"}}]}]), 400, inv, None, None),
        ("temperature 'hot'", "POST", C, chat_body(temperature="hot"), 400, inv, None, "temperature"),
        ("temperature 5", "POST", C, chat_body(temperature=5), 400, inv, None, "temperature"),
        ("temperature -1", "POST", C, chat_body(temperature=-1), 400, inv, None, "temperature"),
        ("top_p 0", "POST", C, chat_body(top_p=0), 400, inv, None, "top_p"),
        ("top_p 1.5", "POST", C, chat_body(top_p=1.5), 400, inv, None, "top_p"),
        ("n 0", "POST", C, chat_body(n=0), 400, inv, None, "n"),
        ("n 100 (> -np 4)", "POST", C, chat_body(n=100), 400, inv, None, "n"),
        ("n 'two'", "POST", C, chat_body(n="two"), 400, inv, None, "n"),
        ("n 2.5", "POST", C, chat_body(n=2.5), 400, inv, None, "n"),
        ("max_tokens 0", "POST", C, chat_body(max_tokens=0), 400, inv, None, "max_tokens"),
        ("max_tokens -5", "POST", C, chat_body(max_tokens=-5), 400, inv, None, "max_tokens"),
        ("max_completion_tokens 0", "POST", C, chat_body(max_tokens=DROP, max_completion_tokens=0), 400, inv, None,
         "max_completion_tokens"),
        ("top_logprobs 50", "POST", C, chat_body(logprobs=True, top_logprobs=50), 400, inv, None, "top_logprobs"),
        ("top_logprobs -1", "POST", C, chat_body(logprobs=True, top_logprobs=-1), 400, inv, None, "top_logprobs"),
        ("logprobs 'yes'", "POST", C, chat_body(logprobs="yes"), 400, inv, None, "logprobs"),
        ("stop with 5 strings", "POST", C, chat_body(stop=["a", "b", "c", "d", "e"]), 400, inv, None, "stop"),
        ("stop a number", "POST", C, chat_body(stop=5), 400, inv, None, "stop"),
        ("stop [1, 2]", "POST", C, chat_body(stop=[1, 2]), 400, inv, None, "stop"),
        ("presence_penalty 3", "POST", C, chat_body(presence_penalty=3), 400, inv, None, "presence_penalty"),
        ("frequency_penalty -3", "POST", C, chat_body(frequency_penalty=-3), 400, inv, None, "frequency_penalty"),
        ("min_p 2", "POST", C, chat_body(min_p=2), 400, inv, None, "min_p"),
        ("repetition_penalty 0", "POST", C, chat_body(repetition_penalty=0), 400, inv, None, "repetition_penalty"),
        ("top_k 'x'", "POST", C, chat_body(top_k="x"), 400, inv, None, "top_k"),
        ("thinking_budget -1", "POST", C, chat_body(thinking_budget=-1), 400, inv, None, "thinking_budget"),
        ("seed 'x'", "POST", C, chat_body(seed="x"), 400, inv, None, "seed"),
        ("stream 'yes'", "POST", C, chat_body(stream="yes"), 400, inv, None, "stream"),
        ("stream_options a string", "POST", C, chat_body(stream=True, stream_options="x"), 400, inv, None, None),
        ("self_consistency 0", "POST", C, chat_body(self_consistency=0), 400, inv, None, None),
        ("self_consistency 100 (> -np 4)", "POST", C, chat_body(self_consistency=100), 400, inv, None, None),
        ("cot_decoding 'x'", "POST", C, chat_body(cot_decoding="x"), 400, inv, None, None),
        ("stream with self_consistency", "POST", C, chat_body(stream=True, self_consistency=2), 400, inv, None,
         None),
        ("top_logprobs without logprobs", "POST", C, chat_body(top_logprobs=2), 400, inv, None, None),
        ("tools", "POST", C, chat_body(tools=tool), 400, inv, None, None),
        ("response_format json_object", "POST", C, chat_body(response_format={"type": "json_object"}), 400, inv,
         None, None),
        ("response_format json_schema", "POST", C, chat_body(response_format={
            "type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}), 400, inv, None, None),
        ("logit_bias", "POST", C, chat_body(logit_bias={"1": 5}), 400, inv, None, None),
        ("prompt longer than the context (100 KB message)", "POST", C,
         chat_body(messages=[{"role": "user", "content": long_text}]), 400, inv, "context_length_exceeded", None),
        ("completions: missing prompt", "POST", P, completion_body(prompt=DROP), 400, inv, None, None),
        ("completions: missing model", "POST", P, completion_body(model=DROP), 400, inv, None, None),
        ("completions: unknown model", "POST", P, completion_body(model="davinci"), 404, "not_found_error",
         "model_not_found", None),
        ("completions: prompt a number", "POST", P, completion_body(prompt=5), 400, inv, None, None),
        ("completions: token ids out of range [0, 10**9]", "POST", P, completion_body(prompt=[0, 10 ** 9]), 400,
         inv, None, None),
        ("completions: token id -1", "POST", P, completion_body(prompt=[1, -1]), 400, inv, None, None),
        ("completions: token id 2**40", "POST", P, completion_body(prompt=[2 ** 40]), 400, inv, None, None),
        ("completions: empty token array", "POST", P, completion_body(prompt=[]), 400, inv, None, None),
        ("completions: mixed array [1, 'a']", "POST", P, completion_body(prompt=[1, "a"]), 400, inv, None, None),
        ("completions: echo true", "POST", P, completion_body(echo=True), 400, inv, None, None),
        ("completions: best_of 2", "POST", P, completion_body(best_of=2), 400, inv, None, None),
        ("completions: logprobs 50", "POST", P, completion_body(logprobs=50), 400, inv, None, "logprobs"),
        ("completions: logit_bias", "POST", P, completion_body(logit_bias={"1": 5}), 400, inv, None, None),
        ("completions: prompt longer than the context (100 KB)", "POST", P, completion_body(prompt=long_text), 400,
         inv, "context_length_exceeded", None),
        ("completions: 200 token ids (> context 128)", "POST", P, completion_body(prompt=[5] * 200), 400, inv,
         "context_length_exceeded", None),
        ("unknown route GET /v1/foo", "GET", "/v1/foo", None, 404, "not_found_error", None, None),
        ("unknown route POST /v1/embeddings", "POST", "/v1/embeddings", {"model": "x", "input": "y"}, 404,
         "not_found_error", None, None),
        ("unknown route GET /", "GET", "/", None, 404, "not_found_error", None, None),
        ("GET /v1/chat/completions", "GET", C, None, (404, 405), None, None, None),
        ("DELETE /v1/models", "DELETE", "/v1/models", None, (404, 405), None, None, None),
        ("POST /health", "POST", "/health", {}, (404, 405), None, None, None),
    ]
    return rows


@check("main")
def bad_requests_raw(t):
    for label, method, path, body, statuses, etype, code, param in bad_requests():
        try:
            r = request(t.server, method, path, body)
        except OSError as e:
            t.expect(False, f"{label}: {method} {path}", "an HTTP answer", repr(e))
            continue
        t.error_body(f"{label} ({method} {path})", r, statuses, etype, code, param)
        ok, what = t.server.healthy()
        if not t.expect(ok, f"after '{label}': GET /health", "200", what):
            raise Stop()
    # The openai client raises the matching exception classes.
    import openai
    for label, kw, cls in (("unknown model", {"model": "gpt-4o"}, openai.NotFoundError),
                           ("temperature 5", {"temperature": 5}, openai.BadRequestError),
                           ("tools", {"tools": [{"type": "function", "function": {"name": "f"}}]},
                            openai.BadRequestError)):
        try:
            chat(t, **kw)
            t.expect(False, f"openai client, {label}", cls.__name__, "success")
        except openai.APIStatusError as e:
            t.expect(isinstance(e, cls), f"openai client, {label}", cls.__name__,
                     f"{type(e).__name__} {e.status_code} {e.body}")


def send_big(server, size, content_type="application/json", timeout=TIMEOUT):
    """POST `size` bytes to /v1/chat/completions while reading: (status or None, response bytes, what happened)."""
    s = socket.create_connection((server.host, server.port), timeout=timeout)
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n").encode()
    prefix = b'{"model": "x", "messages": [{"role": "user", "content": "'
    chunk = b"1+" * 32768
    sent, got, what = 0, b"", "sent everything"
    s.setblocking(False)
    import select
    deadline = time.monotonic() + timeout
    out = head + prefix
    total = len(head) + size
    done_reading = False
    try:
        while time.monotonic() < deadline and not done_reading:
            want_write = sent < total
            rl, wl, _ = select.select([s], [s] if want_write else [], [], 1.0)
            if rl:
                try:
                    data = s.recv(65536)
                except (ConnectionResetError, BrokenPipeError) as e:
                    what = f"reset while reading ({e!r})"
                    break
                if not data:
                    done_reading = True
                    break
                got += data
                if _complete_response(got):
                    done_reading = True
                    break
            if wl and sent < total:
                if not out:
                    n = min(len(chunk), total - sent)
                    out = chunk[:n]
                try:
                    k = s.send(out)
                except (ConnectionResetError, BrokenPipeError) as e:
                    what = f"the server closed while we were sending, after {sent} of {total} bytes ({e!r})"
                    sent = total  # stop sending, keep reading
                    continue
                sent += k
                out = out[k:]
        else:
            if not done_reading:
                what = f"no complete answer within {timeout} s"
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3})", got)
    return (int(m.group(1)) if m else None), got, what


def _complete_response(data):
    i = data.find(b"\r\n\r\n")
    if i < 0:
        return False
    m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", data[:i])
    return bool(m) and len(data) - i - 4 >= int(m.group(1))


@check("main")
def huge_body(t):
    for size in (20 * 1024 * 1024, 200 * 1024 * 1024):
        status, got, what = send_big(t.server, size)
        ok, health = t.server.healthy()
        t.require(ok, f"{size >> 20} MB body: the server survives (GET /health)", "200", health)
        if status is None:
            t.note(f"{size >> 20} MB body: no HTTP answer read ({what}); the server stays healthy")
            continue
        t.expect(status in (413, 400), f"{size >> 20} MB body: status", "413 or 400", f"{status} ({what})")
        body = got.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in got else b""
        t.error_body(f"{size >> 20} MB body", (status, body), (413, 400))
    # 1,000,000 nested arrays (2 MB, under the body limit): refused, no stack overflow.
    deep = b'{"model": "' + Env.model.encode() + b'", "messages": ' + b"[" * 1_000_000 + b"]" * 1_000_000 + b"}"
    try:
        r = request(t.server, "POST", "/v1/chat/completions", deep)
        t.error_body("1,000,000 nested arrays", r, 400, "invalid_request_error")
    except OSError as e:
        t.expect(False, "1,000,000 nested arrays", "400", repr(e))
    ok, health = t.server.healthy()
    t.require(ok, "after 1,000,000 nested arrays: GET /health", "200", health)
    # A body announced longer than sent, then the client goes away; and a request cut in the headers.
    for raw in (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"model\"",
                b"POST /v1/chat/compl", b"GARBAGE\r\n\r\n",
                b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"):
        try:
            s = socket.create_connection((t.server.host, t.server.port), timeout=5)
            s.sendall(raw)
            if raw.startswith(b"GARBAGE") or b"-5" in raw:
                try:
                    data = s.recv(4096)
                    m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
                    if raw.startswith(b"GARBAGE"):
                        t.expect(not m or m.group(1).startswith(b"4"), f"request {raw[:30]!r}: status",
                                 "4xx or closed", data[:100])
                    elif m and not m.group(1).startswith(b"4"):  # RFC 9112 6.3: a 400; not required here
                        t.note(f"a request with 'Content-Length: -5' was answered {m.group(1).decode()} (RFC 9112 "
                               "says 400)")
                except OSError:
                    pass
            s.close()
        except OSError as e:
            t.expect(False, f"request {raw[:30]!r}", "sent", repr(e))
        ok, health = t.server.healthy()
        t.require(ok, f"after {raw[:30]!r} and a close: GET /health", "200", health)


def curl(server, method, path, body=None, headers=(), stream=False, timeout=TIMEOUT):
    """(status, body bytes, seconds) of one curl call: curl -s -o - -w '%{http_code}'."""
    cmd = ["curl", "-s", "-o", "-", "-w", "%{http_code}", "-m", str(int(timeout)), "-X", method]
    if stream:
        cmd.append("-N")
    for h in headers:
        cmd += ["-H", h]
    if body is not None:
        cmd += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
    cmd.append(server.base_url + path)
    t0 = time.monotonic()
    p = subprocess.run(cmd, input=body if body is not None else b"", capture_output=True, timeout=timeout + 10)
    out = p.stdout
    return int(out[-3:]) if out[-3:].isdigit() else None, out[:-3], time.monotonic() - t0


@check("main")
def with_curl(t):
    if not shutil.which("curl"):
        t.expect(False, "curl", "installed", "not found")
        return
    ref = greedy(t)
    st, body, _ = curl(t.server, "POST", "/v1/chat/completions",
                       {"model": Env.model, "messages": [{"role": "user", "content": PROMPT}], "temperature": 0})
    t.equal("curl chat completion: status", 200, st)
    try:
        j = json.loads(body)
        t.equal("curl chat completion: content", ref["content"], j["choices"][0]["message"]["content"])
    except (ValueError, KeyError, IndexError, TypeError) as e:
        t.expect(False, "curl chat completion body", "a chat.completion", f"{e!r} {_short(body)}")
    st, body, _ = curl(t.server, "POST", "/v1/chat/completions",
                       {"model": Env.model, "messages": [{"role": "user", "content": PROMPT}], "temperature": 0,
                        "stream": True}, stream=True)
    t.equal("curl -N stream: status", 200, st)
    lines = [ln[5:].strip() for ln in body.decode("utf-8", "replace").splitlines() if ln.startswith("data:")]
    t.expect(lines and lines[-1] == "[DONE]", "curl -N stream: last data line", "[DONE]", lines[-1:])
    try:
        got, _ = chat_stream_text([json.loads(x) for x in lines if x != "[DONE]"])
        t.equal("curl -N stream: content", ref["content"], got.get(0, [None, None])[1])
    except ValueError as e:
        t.expect(False, "curl -N stream: JSON chunks", "parse", repr(e))
    st, body, _ = curl(t.server, "POST", "/v1/chat/completions", b'{"model": ')
    t.error_body("curl malformed JSON", (st, body), 400, "invalid_request_error")
    st, body, _ = curl(t.server, "POST", "/v1/chat/completions", chat_body(model="nope"))
    t.error_body("curl unknown model", (st, body), 404, "not_found_error", "model_not_found")
    st, body, _ = curl(t.server, "POST", "/v1/chat/completions", chat_body(temperature="hot"))
    t.error_body("curl temperature 'hot'", (st, body), 400, "invalid_request_error", param="temperature")
    st, body, _ = curl(t.server, "GET", "/v1/nothing")
    t.error_body("curl unknown route", (st, body), 404)
    st, body, _ = curl(t.server, "GET", "/v1/chat/completions")
    t.error_body("curl GET /v1/chat/completions", (st, body), (404, 405))
    # 2 MB (under the 8 MiB body limit): curl sends "Expect: 100-continue" first (bodies over 1 MiB).
    st, body, secs = curl(t.server, "POST", "/v1/chat/completions",
                          chat_body(messages=[{"role": "user", "content": "1+" * 1_000_000}]))
    t.error_body("curl 2 MB prompt (Expect: 100-continue)", (st, body), 400, "invalid_request_error",
                 "context_length_exceeded")
    t.expect(secs < 10, "curl 2 MB prompt: answered in", "< 10 s", f"{secs:.2f} s")
    if secs > 0.5:
        t.note(f"the 2 MB prompt took {secs:.2f} s to refuse (it is tokenized before the context check)")
    st, body, _ = curl(t.server, "GET", "/health")
    t.equal("curl /health", (200, {"status": "ok"}), (st, json.loads(body) if st == 200 else body))


# --- authentication and alias (--api-key secret --alias tiny-alias) ------------------------------------------------

@check("auth")
def api_key(t):
    import openai
    alias = "tiny-alias"
    r = request(t.server, "GET", "/health")
    t.equal("GET /health needs no key", 200, r.status)
    t.error_body("GET /v1/models without a key", request(t.server, "GET", "/v1/models"), 401, "authentication_error")
    t.error_body("GET /v1/models, wrong key",
                 request(t.server, "GET", "/v1/models", headers={"Authorization": "Bearer wrong"}), 401,
                 "authentication_error")
    t.error_body("GET /v1/models, key without 'Bearer '",
                 request(t.server, "GET", "/v1/models", headers={"Authorization": "secret"}), 401,
                 "authentication_error")
    body = {"model": alias, "messages": [{"role": "user", "content": PROMPT}], "temperature": 0}
    t.error_body("POST chat without a key", request(t.server, "POST", "/v1/chat/completions", body), 401,
                 "authentication_error")
    t.error_body("POST chat, wrong key", request(t.server, "POST", "/v1/chat/completions", body,
                                                 headers={"Authorization": "Bearer secreT"}), 401,
                 "authentication_error")
    t.error_body("POST completions, wrong key, malformed body", request(
        t.server, "POST", "/v1/completions", b"{x", headers={"Authorization": "Bearer nope"}), 401,
        "authentication_error")
    r = request(t.server, "GET", "/v1/models", headers={"Authorization": "Bearer secret"})
    t.equal("GET /v1/models with the key", 200, r.status)
    # A refused POST leaves its connection usable: its body must not be read as the next request. The body goes
    # out 50 ms after the headers (as from a client that writes them separately), so that it is not yet there
    # when the headers are read.
    payload = json.dumps(body).encode()
    statuses = []
    sock = socket.create_connection((t.server.host, t.server.port), timeout=10)
    try:
        sock.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode())
        time.sleep(0.05)
        sock.sendall(payload)
        reader = sock.makefile("rb")
        statuses.append(read_response(reader)[0])
        for _ in range(2):
            sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret\r\n\r\n")
            statuses.append(read_response(reader)[0])
    except OSError as e:
        statuses.append(repr(e))
    finally:
        sock.close()
    t.equal("one keep-alive connection: POST with a wrong key (body sent after the headers), then GET /v1/models "
            "twice with the key", [401, 200, 200], statuses)
    good = openai_client(t.server, api_key="secret")
    ids = [m.id for m in good.models.list()]
    t.equal("--alias: the model id", [alias], ids)
    r = good.chat.completions.create(model=alias, messages=[{"role": "user", "content": PROMPT}], temperature=0)
    t.equal("openai client with the key: the answer", SUM, last_number(r.choices[0].message.content))
    t.equal("--alias: response model", alias, r.model)
    try:
        good.chat.completions.create(model=Env.model, messages=[{"role": "user", "content": PROMPT}])
        t.expect(False, "--alias: the directory name is not the id", "404 model_not_found", "success")
    except openai.NotFoundError as e:
        t.equal("--alias: the directory name -> error.code", "model_not_found",
                (e.body or {}).get("code") if isinstance(e.body, dict) else e.body)
    wrong = openai_client(t.server, api_key="wrong")
    for attempt in (1, 2):  # the second call reuses the client's kept-alive connection
        try:
            wrong.chat.completions.create(model=alias, messages=[{"role": "user", "content": PROMPT}])
            t.expect(False, f"openai client, wrong key, call {attempt}", "AuthenticationError", "success")
        except openai.AuthenticationError:
            pass
        except openai.APIStatusError as e:
            t.expect(False, f"openai client, wrong key, call {attempt}", "AuthenticationError (401)",
                     f"{type(e).__name__} {e.status_code} {e.body}")
    wrong.close()
    good.close()
    if shutil.which("curl"):
        st, b, _ = curl(t.server, "GET", "/v1/models")
        t.error_body("curl /v1/models without a key", (st, b), 401, "authentication_error")
        st, b, _ = curl(t.server, "GET", "/v1/models", headers=["Authorization: Bearer secret"])
        t.equal("curl /v1/models with the key", 200, st)


# --- -np 1 --queue 1: queue full, client disconnects ---------------------------------------------------------------

@check("small")
def queue_full(t):
    body = {"model": Env.model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 100,
            "temperature": 2.0, "stream": True}
    rounds = []
    for attempt in range(4):
        k = 8
        barrier = threading.Barrier(k)
        results = [None] * k

        def one(i):
            try:
                barrier.wait(10)
                results[i] = stream_request(t.server, "/v1/chat/completions", dict(body, seed=i))
            except Exception as e:  # noqa: BLE001
                results[i] = (None, [], repr(e))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(k)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(TIMEOUT * 2)
        rounds.append(results)
        rejected = [r for r in results if r[0] == 503]
        if rejected:
            break
    statuses = [r[0] for r in results]
    completed = [r for r in results if r[0] == 200 and r[1] and r[1][-1] == "[DONE]"]
    t.expect(any(s == 503 for s in statuses), f"{k} concurrent streams on -np 1 --queue 1 (attempt {attempt + 1})",
             "at least one 503", statuses)
    t.expect(len(completed) >= 1, "the admitted streams complete with [DONE]", ">= 1", statuses)
    t.expect(all(s in (200, 503) for s in statuses), "statuses", "200 or 503 only",
             [(r[0], r[2]) for r in results if r[0] not in (200, 503)])
    t.note(f"statuses of the {k} concurrent streams (attempt {attempt + 1}): {statuses}")
    for r in results:
        if r[0] == 503:
            t.error_body("queue full", (503, r[2]), 503, "overloaded_error")
            break
    # Two simultaneous requests on the idle server: one runs, one waits (--queue 1); neither is refused.
    for attempt in range(3):
        barrier = threading.Barrier(2)
        pair = [None, None]

        def one(i):
            barrier.wait(10)
            pair[i] = request(t.server, "POST", "/v1/chat/completions",
                              dict(body, stream=False, seed=i, max_tokens=60)).status

        threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(TIMEOUT * 2)
        if not t.expect(pair == [200, 200], f"2 simultaneous requests on an idle -np 1 --queue 1 server "
                        f"(attempt {attempt + 1} of 3)", "[200, 200] (one runs, one waits)", pair):
            break
    # n beyond -np 1.
    t.error_body("n=2 with -np 1", request(t.server, "POST", "/v1/chat/completions",
                                           dict(body, stream=False, n=2)), 400, "invalid_request_error")


def open_stream(server, body):
    """Sends a streaming request on a raw socket; returns the socket (caller reads and closes)."""
    s = socket.create_connection((server.host, server.port), timeout=TIMEOUT)
    data = json.dumps(body).encode()
    s.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: {server.host}\r\nContent-Type: application/json\r\n"
              f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
    return s


@check("small")
def client_disconnect(t):
    body = {"model": Env.model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 2000,
            "temperature": 1.0, "seed": 3, "stream": True}
    # max_tokens 2000 > the context: the server either clips it or refuses it; take what it accepts.
    probe = request(t.server, "POST", "/v1/chat/completions", dict(body, stream=False))
    if probe.status != 200:
        body["max_tokens"] = 100
    follow = {"model": Env.model, "messages": [{"role": "user", "content": PROMPT}], "temperature": 0}
    for how in ("after two chunks", "before any answer", "non-stream, at once", "half-sent body"):
        s = None
        try:
            if how == "non-stream, at once":
                s = open_stream(t.server, dict(body, stream=False))
            elif how == "half-sent body":
                s = socket.create_connection((t.server.host, t.server.port), timeout=TIMEOUT)
                s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"mo")
            else:
                s = open_stream(t.server, body)
            if how == "after two chunks":
                got = b""
                while got.count(b"data:") < 2:
                    d = s.recv(4096)
                    if not d:
                        break
                    got += d
                t.expect(got.count(b"data:") >= 2, "two chunks before closing", ">= 2 data lines", got[:300])
        finally:
            if s is not None:
                s.close()
        # The slot must be free again: a follow-up finishes within a few seconds (503 "queue full" retried while
        # the server notices the disconnect).
        t0 = time.monotonic()
        status = None
        while time.monotonic() - t0 < 5:
            try:
                r = request(t.server, "POST", "/v1/chat/completions", follow, timeout=5)
                status = r.status
                if r.status == 200:
                    break
            except OSError as e:
                status = repr(e)
            time.sleep(0.05)
        secs = time.monotonic() - t0
        t.expect(status == 200 and secs < 5, f"disconnect {how}: a follow-up request on -np 1",
                 "200 within 5 s", f"{status} after {secs:.2f} s")
        ok, health = t.server.healthy()
        t.require(ok, f"disconnect {how}: GET /health", "200", health)


# --- -np 4 --queue 0: no waiting room, but the slots -----------------------------------------------------------------

@check("noqueue")
def queue_zero_admits_up_to_np(t):
    """--queue counts requests waiting beyond those running: with --queue 0 a request that finds a free sequence
    slot runs at once, and 4 simultaneous requests on -np 4 all run."""
    body = {"model": Env.model, "messages": [{"role": "user", "content": PROMPT}], "temperature": 0}
    r = request(t.server, "POST", "/v1/chat/completions", body)
    t.expect(r.status == 200, "-np 4 --queue 0, idle server, one request", "200", r)
    for k in (4, 8):
        for attempt in range(3):
            barrier = threading.Barrier(k)
            statuses = [None] * k

            def one(i):
                try:
                    barrier.wait(10)
                    rr = request(t.server, "POST", "/v1/chat/completions", dict(body, seed=i, temperature=1.0))
                    statuses[i] = rr.status if rr.status != 503 else ("503", (rr.json() or {}).get("error", {})
                                                                      .get("type"))
                except Exception as e:  # noqa: BLE001
                    statuses[i] = repr(e)

            threads = [threading.Thread(target=one, args=(i,)) for i in range(k)]
            for th in threads:
                th.start()
            for th in threads:
                th.join(TIMEOUT * 2)
            ok = statuses.count(200)
            if k == 4:
                good = t.expect(ok == 4, f"-np 4 --queue 0: 4 simultaneous requests (attempt {attempt + 1} of 3)",
                                "all 200 (4 free slots)", statuses)
            else:
                good = t.expect(ok >= 4 and all(s == 200 or s == ("503", "overloaded_error") for s in statuses),
                                f"-np 4 --queue 0: 8 simultaneous requests (attempt {attempt + 1} of 3)",
                                "at least 4 200s, the others 503 overloaded_error", statuses)
            if not good:
                break


@check("small")
def sigterm_with_a_stalled_client(t):
    """Stops the server: SIGTERM while a client holds a half-sent request (and another an idle connection) must
    still end the server promptly, with exit status 0."""
    stalled = socket.create_connection((t.server.host, t.server.port), timeout=TIMEOUT)
    stalled.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"mo")
    idle = socket.create_connection((t.server.host, t.server.port), timeout=TIMEOUT)
    time.sleep(0.2)
    t0 = time.monotonic()
    t.server.proc.send_signal(signal.SIGTERM)
    try:
        status = t.server.proc.wait(timeout=10)
        t.equal("SIGTERM with a stalled client: exit status", 0, status)
    except subprocess.TimeoutExpired:
        status = None
        t.expect(False, "SIGTERM with a half-sent request open: the server exits", "within 10 s",
                 "still running after 10 s")
    finally:
        stalled.close()
        idle.close()
    if status is None:
        try:
            status = t.server.proc.wait(timeout=TIMEOUT)
            t.note(f"it exited {time.monotonic() - t0:.1f} s after SIGTERM (status {status}) once the client left")
        except subprocess.TimeoutExpired:
            t.expect(False, "after the stalled client closed", "the server exits", "still running")
            t.server.kill()


sigterm_with_a_stalled_client.stops_server = True


# --- driver --------------------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", required=True, help="the moe_server binary")
    ap.add_argument("--cli", required=True, help="the moe_cli binary (reference answers)")
    ap.add_argument("--model", required=True, help="the checkpoint directory (models/tiny-reasoner)")
    ap.add_argument("-k", default="", help="run only the checks whose name contains this")
    ap.add_argument("--keep-logs", action="store_true", help="keep the servers' stderr logs (printed path)")
    args = ap.parse_args()
    for what, path in (("--server", args.server), ("--cli", args.cli)):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            print(f"test_server: {what} {path}: no such executable", file=sys.stderr)
            return 2
    try:
        import openai  # noqa: F401
    except ImportError:
        print("test_server: the openai package is missing; make a venv with tools/server_test_venv.sh VENV and run "
              "this with VENV/bin/python", file=sys.stderr)
        return 2
    sigterm_as_interrupt()
    Env.args, Env.model = args, model_id(args.model)
    Env.prompt_ids = cli_prompt_ids(args.cli, args.model, PROMPT)
    logdir = tempfile.mkdtemp(prefix="moe_server_test.")
    common = ["-t", "2"]
    servers = {
        "main": Server("main", args.server, args.model, ["-np", "4", *common], logdir),
        "auth": Server("auth", args.server, args.model,
                       ["-np", "2", "--api-key", "secret", "--alias", "tiny-alias", *common], logdir),
        "small": Server("small", args.server, args.model, ["-np", "1", "--queue", "1", *common], logdir),
        "noqueue": Server("noqueue", args.server, args.model, ["-np", "4", "--queue", "0", *common], logdir),
    }
    selected = [c for c in CHECKS if args.k in c[0]]
    results = []  # (name, failures, notes, seconds)
    t_start = time.monotonic()

    def report(name, failures, notes, secs):
        results.append((name, failures, notes, secs))
        print(f"{'PASS' if not failures else 'FAIL'}  {name}  ({secs:.1f} s)", flush=True)
        for f in failures:
            print(f"    - {f}", flush=True)
        for n in notes:
            print(f"    note: {n}", flush=True)

    try:
        for group in ("main", "auth", "noqueue", "small"):
            group_checks = [c for c in selected if c[1] == group]
            if not group_checks:
                continue
            srv = servers[group]
            for name, _, fn in group_checks:
                t0 = time.monotonic()
                ctx = Ctx(name, srv)
                if not srv.alive():
                    try:
                        srv.start()
                    except ServerError as e:
                        report(f"{group}: start ({' '.join(srv.command)})", [str(e)], [], time.monotonic() - t0)
                        break
                try:
                    fn(ctx)
                except Stop:
                    pass
                except Exception as e:  # noqa: BLE001 -- a check's crash is its failure
                    status = getattr(e, "status_code", None)
                    extra_info = f" (HTTP {status}: {getattr(e, 'body', None)})" if status else ""
                    ctx.failures.append(f"exception {type(e).__name__}: {e}{extra_info}\n"
                                        + "".join(traceback.format_exc(limit=4)).rstrip())
                ctx.close()
                ok, what = (True, "") if getattr(fn, "stops_server", False) else srv.healthy()
                if not ok:
                    ctx.failures.append(f"after the check the server is unhealthy: {what}; stderr: "
                                        f"{srv.stderr_tail()}")
                    srv.kill()  # restarted by the next check
                report(f"{group}: {name}", ctx.failures, ctx.notes, time.monotonic() - t0)
            if srv.proc is not None:
                t0 = time.monotonic()
                was_alive = srv.alive()
                status, how = srv.stop()
                fails = []
                if was_alive and (how != "sigterm" or status != 0):
                    fails.append(f"SIGTERM: expected exit status 0 within 15 s, got {how} {status}; stderr: "
                                 f"{srv.stderr_tail()}")
                report(f"{group}: SIGTERM stops cleanly", fails, [], time.monotonic() - t0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        for srv in servers.values():
            srv.kill()
    failed = [r for r in results if r[1]]
    total = time.monotonic() - t_start
    print(f"\n{len(results) - len(failed)} of {len(results)} checks passed, {len(failed)} failed "
          f"({sum(len(r[1]) for r in results)} failed assertions) in {total:.0f} s")
    for name, fails, _, _ in failed:
        print(f"  FAILED: {name} ({len(fails)})")
    if args.keep_logs or failed:
        print(f"server logs: {logdir}")
    else:
        shutil.rmtree(logdir, ignore_errors=True)
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Observability benchmark (issue 14): what the runtime's metrics cost, and scraping them.

Prints, from one run on this machine, with the stock `buntime` binary (release):
  * req/s and p50/p99 of GET /hello/api/greeting with the metrics registry on and off
    (RUNTIME_METRICS=false), measured alternately in the same run, and the on/off ratio
    (goal >= 0.97);
  * p50/p99 of GET /metrics/api/prometheus with BENCH_APPS apps known to the pool (default 500,
    each served once as an ephemeral `ttl: 0` app so the pool keeps its statistics without
    keeping 500 workers) and BENCH_PLUGINS loaded plugins (default 50), against the goal
    p99 <= 5 ms; and the exposition's size.

Usage: bench/observability.py   (BENCH_DURATION=10 s per load run, BENCH_CONNECTIONS=50,
                                 BENCH_ROUNDS=2 on/off pairs, BENCH_APPS=500, BENCH_PLUGINS=50,
                                 BENCH_BIN=<binary> to skip the release build)
Needs: cargo, wrk (installed with apt-get when missing), Bun (scripts/setup.sh) for the apps.
"""
import concurrent.futures
import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DURATION = int(os.environ.get("BENCH_DURATION", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "50"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
APPS = int(os.environ.get("BENCH_APPS", "500"))
PLUGINS = int(os.environ.get("BENCH_PLUGINS", "50"))
# BENCH_BIN: a binary to measure instead of building target/release/buntime (to try the script).
BIN = os.environ.get("BENCH_BIN") or os.path.join(ROOT, "target", "release", "buntime")
MASTER_KEY = "bench-master-key"


def sh(*args, **kw):
    return subprocess.run(args, check=True, **kw)


def ensure_wrk():
    if shutil.which("wrk"):
        return
    print("==> installing wrk (apt-get)")
    sh("apt-get", "update", "-qq", stdout=subprocess.DEVNULL)
    sh("apt-get", "install", "-y", "-qq", "wrk", stdout=subprocess.DEVNULL)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, timeout=30):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, body
    except OSError:
        return 0, b""


def copy_plugin(src, plugins):
    dst = os.path.join(plugins, os.path.basename(src))
    os.makedirs(dst)
    shutil.copy(os.path.join(ROOT, "plugins", src, "manifest.yaml"), dst)


def start(plugins, apps, port, metrics):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/root"),
        "PORT": str(port),
        "RUNTIME_HOST": "127.0.0.1",
        "RUNTIME_PLUGIN_DIRS": plugins,
        "RUNTIME_WORKER_DIRS": apps,
        "RUNTIME_STATE_DIR": os.path.join(plugins, ".state"),
        "RUNTIME_LOG_LEVEL": "error",
        "NODE_ENV": "production",
        "RUNTIME_SHUTDOWN_GRACE_MS": "2000",
        "RUNTIME_MASTER_KEY": MASTER_KEY,
        "RUNTIME_METRICS": "true" if metrics else "false",
        "RUNTIME_EPHEMERAL_CONCURRENCY": "4",
    }
    proc = subprocess.Popen([BIN], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while get(port, "/api/health/ready", timeout=2)[0] != 200:
        if proc.poll() is not None:
            raise RuntimeError("runtime exited during start-up")
        time.sleep(0.01)
    return proc


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def to_ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url, duration=DURATION, conns=CONNECTIONS, threads=2):
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {p: to_ms(v, u) for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    errs = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return {"rps": rps, "p50": lat.get("50"), "p99": lat.get("99"), "failed": non2xx + errs}


def hello_on_off(work):
    """The hello route with the registry on and off, alternating so drift hits both alike."""
    plugins = os.path.join(work, "hello-plugins")
    os.makedirs(plugins)
    for p in ("plugin-hello", "plugin-metrics", "plugin-logs"):
        copy_plugin(p, plugins)
    apps = os.path.join(work, "no-apps")
    os.makedirs(apps)
    runs = {True: [], False: []}
    for _ in range(ROUNDS):
        for metrics in (False, True):
            port = free_port()
            proc = start(plugins, apps, port, metrics)
            wrk(f"http://127.0.0.1:{port}/hello/api/greeting", duration=2)  # warm-up
            runs[metrics].append(wrk(f"http://127.0.0.1:{port}/hello/api/greeting"))
            stop(proc)
    return runs


def scrape_many(work):
    """GET /metrics/api/prometheus with APPS apps known to the pool and PLUGINS plugins."""
    plugins = os.path.join(work, "many-plugins")
    os.makedirs(plugins)
    for p in ("plugin-hello", "plugin-metrics", "plugin-logs"):
        copy_plugin(p, plugins)
    # The rest are UI-only plugins (a manifest and a static entrypoint): each is a loaded plugin
    # with its own hook-duration series, without starting the JS plugin host.
    for i in range(PLUGINS - 3):
        d = os.path.join(plugins, f"ui-{i:02d}")
        os.makedirs(d)
        with open(os.path.join(d, "manifest.yaml"), "w") as f:
            f.write(f"name: ui-{i:02d}\nbase: /ui-{i:02d}\nentrypoint: index.html\n")
        with open(os.path.join(d, "index.html"), "w") as f:
            f.write("<!doctype html><title>ui</title>\n")
    apps = os.path.join(work, "many-apps")
    for i in range(APPS):
        d = os.path.join(apps, f"app{i:03d}")
        os.makedirs(d)
        with open(os.path.join(d, "index.ts"), "w") as f:
            f.write('export default { fetch: () => new Response("ok") };\n')
        with open(os.path.join(d, "manifest.yaml"), "w") as f:
            f.write("ttl: 0\ntimeout: 30s\n")
    port = free_port()
    proc = start(plugins, apps, port, True)
    try:
        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            statuses = list(ex.map(lambda i: get(port, f"/app{i:03d}/")[0], range(APPS)))
        warm_s = time.perf_counter() - t0
        ok = sum(1 for s in statuses if s == 200)
        status, body = get(port, "/metrics/api/prometheus")
        text = body.decode()
        apps_seen = len(re.findall(r"^buntime_worker_requests\{", text, re.M))
        plugins_seen = len(re.findall(r'^buntime_plugin_hook_duration_seconds_count\{plugin="[^"]*",hook="on_request"\}', text, re.M))
        # One connection: the latency of a scrape, not of a queue of scrapes.
        result = wrk(f"http://127.0.0.1:{port}/metrics/api/prometheus", conns=1, threads=1)
    finally:
        stop(proc)
    return {"apps_ok": ok, "warm_s": warm_s, "status": status, "bytes": len(body), "lines": text.count("\n"),
            "apps_seen": apps_seen, "plugins_seen": plugins_seen, **result}


def main():
    ensure_wrk()
    if not os.environ.get("BENCH_BIN"):
        print("==> building the runtime (release)")
        sh("cargo", "build", "--release", "-q", "-p", "buntime-cli", cwd=ROOT)
    work = tempfile.mkdtemp(prefix="buntime-obs-bench-")
    try:
        runs = hello_on_off(work)
        scrape = scrape_many(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"GET /hello/api/greeting, wrk -t2 -c{CONNECTIONS} -d{DURATION}s, {ROUNDS} alternating rounds, {os.cpu_count()} cores (load generator on the same machine)")
    print(f"{'metrics':<10} {'round':>5} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7}")
    for metrics in (False, True):
        for i, r in enumerate(runs[metrics]):
            print(f"{'on' if metrics else 'off':<10} {i + 1:>5} {r['rps']:>10.0f} {r['p50']:>8.3f} {r['p99']:>8.3f} {r['failed']:>7}")
    on = statistics.median(r["rps"] for r in runs[True])
    off = statistics.median(r["rps"] for r in runs[False])
    ratio = on / off
    print(f"median req/s: on {on:.0f}, off {off:.0f}, on/off {ratio:.3f} (goal >= 0.97)")
    print()
    print(f"GET /metrics/api/prometheus, {APPS} apps ({scrape['apps_ok']} served, {scrape['apps_seen']} in the exposition, "
          f"warmed in {scrape['warm_s']:.1f} s), {PLUGINS} plugins ({scrape['plugins_seen']} with hook series): "
          f"status {scrape['status']}, {scrape['bytes']} bytes, {scrape['lines']} lines")
    print(f"wrk -t1 -c1 -d{DURATION}s: {scrape['rps']:.0f} scrapes/s, p50 {scrape['p50']:.3f} ms, p99 {scrape['p99']:.3f} ms, "
          f"{scrape['failed']} failed (goal p99 <= 5 ms)")
    ok = ratio >= 0.97 and scrape["p99"] <= 5.0 and scrape["failed"] == 0
    print(f"goals: {'all met' if ok else 'NOT all met'}")


if __name__ == "__main__":
    sys.exit(main())

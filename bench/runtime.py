#!/usr/bin/env python3
"""Runtime core benchmark (issue: runtime core).

Prints, from one run on this machine:
  * requests/s and p50/p99 of GET /hello/api/greeting through the full pipeline with 0 and with 10
    no-op on_request plugins, against a bare hyper hello-world measured in the same run (ratios);
  * failed requests while 100 reloads run under load;
  * time from process start to ready with 20 plugins;
  * idle RSS.

Usage: bench/runtime.py            (BENCH_DURATION=10 seconds per load run, BENCH_CONNECTIONS=50)
Needs: cargo, wrk (installed with apt-get when missing).
"""
import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DURATION = int(os.environ.get("BENCH_DURATION", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "50"))
TARGET = os.path.join(ROOT, "target", "release")
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


def plugin_dir(noops, root):
    """A plugin dir with the hello plugin plus `noops` no-op on_request plugins."""
    d = tempfile.mkdtemp(prefix="bench-plugins-", dir=root)
    os.makedirs(os.path.join(d, "hello"))
    shutil.copy(os.path.join(ROOT, "plugins", "plugin-hello", "manifest.yaml"), os.path.join(d, "hello"))
    for i in range(noops):
        p = os.path.join(d, f"noop-{i:02d}")
        os.makedirs(p)
        with open(os.path.join(p, "manifest.yaml"), "w") as f:
            f.write(f"name: noop-{i:02d}\nnative: bench-noop\n")
    return d


def get_status(port, path, method="GET"):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        # Production refuses the API without credentials: reload with the bench's master key.
        headers = {"X-API-Key": MASTER_KEY} if method == "POST" else {}
        c.request(method, path, headers=headers)
        r = c.getresponse()
        r.read()
        c.close()
        return r.status
    except OSError:
        return 0


def start_runtime(plugins, port, extra_env=None):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PORT": str(port),
        "RUNTIME_HOST": "127.0.0.1",
        "RUNTIME_PLUGIN_DIRS": plugins,
        "RUNTIME_WORKER_DIRS": os.path.join(plugins, "no-apps"),
        "RUNTIME_LOG_LEVEL": "error",
        "NODE_ENV": "production",
        "RUNTIME_SHUTDOWN_GRACE_MS": "2000",
        "RUNTIME_MASTER_KEY": MASTER_KEY,
    }
    env.update(extra_env or {})
    started = time.perf_counter()
    proc = subprocess.Popen([os.path.join(TARGET, "bench-buntime")], env=env, cwd=plugins,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while get_status(port, "/api/health/ready") != 200:
        if proc.poll() is not None:
            raise RuntimeError("runtime exited during start-up")
        time.sleep(0.0005)
    return proc, time.perf_counter() - started


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def to_ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url, duration=DURATION):
    out = subprocess.run(["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{duration}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {p: to_ms(v, u) for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    errs = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return {"rps": rps, "p50": lat.get("50"), "p99": lat.get("99"), "total": total, "failed": non2xx + errs}


def main():
    ensure_wrk()
    print("==> building release binaries")
    sh("cargo", "build", "--release", "-q", "-p", "buntime-bench", cwd=ROOT)
    work = tempfile.mkdtemp(prefix="buntime-bench-")
    results = {}
    try:
        # Baseline: bare hyper.
        port = free_port()
        bare = subprocess.Popen([os.path.join(TARGET, "bare-hello")], env={"PORT": str(port)}, stdout=subprocess.DEVNULL)
        while get_status(port, "/") != 200:
            time.sleep(0.01)
        results["bare hyper"] = wrk(f"http://127.0.0.1:{port}/hello/api/greeting")
        stop(bare)

        for noops in (0, 10):
            port = free_port()
            proc, _ = start_runtime(plugin_dir(noops, work), port)
            results[f"buntime, {noops} no-op hooks"] = wrk(f"http://127.0.0.1:{port}/hello/api/greeting")
            stop(proc)

        # 100 reloads under load.
        port = free_port()
        proc, _ = start_runtime(plugin_dir(10, work), port)
        load = {}
        t = threading.Thread(target=lambda: load.update(wrk(f"http://127.0.0.1:{port}/hello/api/greeting", duration=max(DURATION, 10))))
        t.start()
        time.sleep(1)
        reload_failures, reload_times = 0, []
        for _ in range(100):
            t0 = time.perf_counter()
            if get_status(port, "/api/plugins/reload", "POST") != 200:
                reload_failures += 1
            reload_times.append((time.perf_counter() - t0) * 1000)
        t.join()
        gen = http.client.HTTPConnection("127.0.0.1", port)
        gen.request("GET", "/hello/api/greeting")
        generation = gen.getresponse().getheader("x-buntime-generation")
        stop(proc)

        # Start-up to ready with 20 plugins; idle RSS.
        startups, rss = [], []
        twenty = plugin_dir(19, work)
        for _ in range(7):
            port = free_port()
            proc, elapsed = start_runtime(twenty, port)
            startups.append(elapsed * 1000)
            time.sleep(1.0)
            rss.append(rss_mb(proc.pid))
            stop(proc)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    base = results["bare hyper"]["rps"]
    print()
    print(f"GET /hello/api/greeting, wrk -t2 -c{CONNECTIONS} -d{DURATION}s, {os.cpu_count()} cores (load generator on the same machine)")
    print(f"{'server':<28} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7} {'vs bare':>8}")
    for name, r in results.items():
        print(f"{name:<28} {r['rps']:>10.0f} {r['p50']:>8.3f} {r['p99']:>8.3f} {r['failed']:>7} {r['rps'] / base:>8.2f}")
    print()
    print(f"100 reloads under load (10 no-op hooks): {load['total']} requests, {load['failed']} failed, "
          f"{reload_failures} reloads failed, final generation {generation}, "
          f"reload p50 {statistics.median(reload_times):.1f} ms")
    print(f"start to ready, 20 plugins: median {statistics.median(startups):.1f} ms (min {min(startups):.1f}, max {max(startups):.1f})")
    print(f"idle RSS after start (20 plugins): median {statistics.median(rss):.1f} MB")
    ok = (results["buntime, 0 no-op hooks"]["rps"] / base >= 0.8 and results["buntime, 10 no-op hooks"]["rps"] / base >= 0.7
          and load["failed"] == 0 and statistics.median(startups) < 100 and statistics.median(rss) < 15)
    print(f"goals (>=0.8, >=0.7, 0 failed, <100 ms, <15 MB): {'all met' if ok else 'NOT all met'}")


if __name__ == "__main__":
    sys.exit(main())

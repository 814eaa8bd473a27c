#!/usr/bin/env python3
"""Login cost under load, against the real release binary (numbers for the notes).

Usage: benches/login_load.py [path/to/tundra]

Starts `tundra serve` on a temp data dir (ports 0 → fixed high ports), creates a user,
then measures: p50/p99 latency of sequential logins (no load), logins/s with 4 clients for
10 s, and the server's peak RSS during a burst of 50 simultaneous logins (hashing pool
bound: slots x 64 MiB). Loopback only; bounded in time and count.
"""
import http.client, json, os, socket, ssl, statistics, subprocess, sys, tempfile, threading, time

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/x86_64-unknown-linux-gnu/release/tundra"
PORT, RPORT = 18543, 18580
PW = "correct horse battery staple"

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    return 0

def login(ctx, email=b"load@example.com"):
    c = http.client.HTTPSConnection("localhost", PORT, context=ctx, timeout=60)
    c.request("GET", "/healthz")
    r = c.getresponse(); r.read()
    csrf = [v.split(";")[0].split("=", 1)[1] for k, v in r.getheaders()
            if k.lower() == "set-cookie" and v.startswith("__Host-tundra_csrf=")][0]
    body = json.dumps({"email": email.decode(), "password": PW})
    t = time.perf_counter()
    c.request("POST", "/api/v1/auth/login", body, {
        "content-type": "application/json", "x-csrf-token": csrf,
        "cookie": f"__Host-tundra_csrf={csrf}"})
    r = c.getresponse(); r.read()
    dt = time.perf_counter() - t
    c.close()
    return r.status, dt

def main():
    tmp = tempfile.mkdtemp()
    data = os.path.join(tmp, "data")
    cfg = os.path.join(tmp, "tundra.toml")
    with open(cfg, "w") as f:
        f.write(f'panel_addr = "127.0.0.1:{PORT}"\nredirect_addr = "127.0.0.1:{RPORT}"\n'
                'require_two_factor = false\nlogin_ip_max_failures = 100000\n'
                'login_lockout_failures = 100000\nlogin_delay_after_failures = 100000\n'
                'hash_queue_timeout_ms = 30000\n')
    env = dict(os.environ, TUNDRA_LOG="warn")
    run = lambda *a, **k: subprocess.run([BIN, "--config", cfg, "--data-dir", data, *a], env=env, check=True, capture_output=True, **k)
    run("init"); run("team", "add", "Load")
    run("user", "add", "--team", "Load", "--email", "load@example.com", "--role", "operator", "--password-stdin", input=(PW + "\n").encode())
    srv = subprocess.Popen([BIN, "--config", cfg, "--data-dir", data, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ctx = ssl.create_default_context(cafile=os.path.join(data, "panel-cert.pem"))
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", PORT), 0.2).close(); break
            except OSError:
                time.sleep(0.05)
        base = rss_kib(srv.pid)
        lat = []
        for _ in range(20):
            s, dt = login(ctx); assert s == 200, s; lat.append(dt * 1000)
        lat.sort()
        print(f"sequential login: p50 {statistics.median(lat):.1f} ms, max {lat[-1]:.1f} ms (n=20)")

        done, stop = [0], time.time() + 10
        def worker():
            while time.time() < stop:
                s, _ = login(ctx)
                if s == 200: done[0] += 1
        ts = [threading.Thread(target=worker) for _ in range(4)]
        t0 = time.time(); [t.start() for t in ts]; [t.join() for t in ts]
        print(f"4 concurrent clients: {done[0] / (time.time() - t0):.1f} logins/s")

        peak, sampling = [rss_kib(srv.pid)], [True]
        before = peak[0]
        def sample():
            while sampling[0]:
                peak[0] = max(peak[0], rss_kib(srv.pid)); time.sleep(0.005)
        st = threading.Thread(target=sample); st.start()
        res = []
        burst = [threading.Thread(target=lambda: res.append(login(ctx)[0])) for _ in range(50)]
        t0 = time.time(); [t.start() for t in burst]; [t.join() for t in burst]
        sampling[0] = False; st.join()
        print(f"50-login burst: {time.time() - t0:.1f} s, statuses {sorted(set(res))}, "
              f"RSS idle {base / 1024:.1f} MiB, before burst {before / 1024:.1f} MiB, "
              f"peak {peak[0] / 1024:.1f} MiB (growth {(peak[0] - before) / 1024:.1f} MiB)")
    finally:
        srv.terminate(); srv.wait()

main()

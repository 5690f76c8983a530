#!/usr/bin/env python3
"""Measure the server's resident memory while workers send system metrics.

Starts the orchestrator binary on a loopback port with a fresh data folder,
registers WORKERS workers, and sends each a heartbeat with system_metrics
every INTERVAL seconds for DURATION seconds, one keep-alive connection per
worker. Prints VmRSS from /proc/PID/status every 10 seconds, then stops the
server with SIGTERM.

Usage: bench/metrics_memory.py BINARY [--workers 12] [--interval 0.04]
       [--duration 150] [--port 18431] [--without-metrics] [--keep]
       [-- EXTRA SERVER ARGUMENTS]
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

SAMPLE_EVERY_S = 10


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS line for process {pid}")


def wait_listening(port, deadline_s=10.0):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/health")
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the server did not listen on 127.0.0.1:{port}")


def post(connection, path, body):
    connection.request("POST", path, json.dumps(body),
                       {"Content-Type": "application/json"})
    reply = connection.getresponse()
    text = reply.read()
    if reply.status != 200:
        raise RuntimeError(f"POST {path} returned {reply.status}: {text[:200]!r}")


def heartbeat_body(server_id, beat, with_metrics):
    if not with_metrics:
        return {"server_id": server_id, "current_streams": 0, "status": "active"}
    return {
        "server_id": server_id,
        "current_streams": 0,
        "status": "active",
        "system_metrics": {
            "cpu_percent": 10 + beat % 50,
            "memory_percent": 40.5,
            "memory_used_gb": 3.2,
            "memory_total_gb": 8,
            "disk_percent": 55,
            "disk_free_gb": 90,
            "disk_total_gb": 200,
            "load_average": [0.5, 0.4, 0.3],
            "uptime_seconds": 1000 + beat,
        },
    }


def run_worker(port, server_id, interval_s, with_metrics, end, errors, counts,
               index):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    beat = 0
    next_at = time.monotonic()
    try:
        while time.monotonic() < end:
            post(connection, "/heartbeat",
                 heartbeat_body(server_id, beat, with_metrics))
            beat += 1
            next_at += interval_s
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    except Exception as error:  # reported by the main thread
        errors.append(f"{server_id}: {error}")
    finally:
        counts[index] = beat
        connection.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary")
    parser.add_argument("--workers", type=int, default=12)
    parser.add_argument("--interval", type=float, default=0.04,
                        help="seconds between one worker's heartbeats")
    parser.add_argument("--duration", type=float, default=150,
                        help="seconds of heartbeats")
    parser.add_argument("--port", type=int, default=18431)
    parser.add_argument("--without-metrics", action="store_true",
                        help="send heartbeats without system_metrics, for "
                             "comparison")
    parser.add_argument("--keep", action="store_true",
                        help="keep the data folder with the server's log")
    parser.add_argument("server_args", nargs="*",
                        help="more server arguments, after --")
    options = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="metrics-memory-")
    log = open(os.path.join(data_dir, "server.log"), "w")
    server = subprocess.Popen(
        [options.binary, "--listen", f"127.0.0.1:{options.port}",
         "--data-dir", data_dir, "--heartbeat-timeout", "3600",
         *options.server_args],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_listening(options.port)
        setup = http.client.HTTPConnection("127.0.0.1", options.port, timeout=5)
        ids = [f"mem-w{k}" for k in range(options.workers)]
        for server_id in ids:
            post(setup, "/register", {"server_id": server_id, "ip": "127.0.0.1",
                                      "port": 9000, "max_streams": 10})
        setup.close()

        errors = []
        counts = [0] * len(ids)
        start = time.monotonic()
        end = start + options.duration
        threads = [threading.Thread(target=run_worker,
                                    args=(options.port, server_id,
                                          options.interval,
                                          not options.without_metrics, end,
                                          errors, counts, k))
                   for k, server_id in enumerate(ids)]
        for thread in threads:
            thread.start()
        print(f"pid={server.pid} workers={len(ids)} "
              f"interval_s={options.interval} duration_s={options.duration} "
              f"system_metrics={not options.without_metrics}")
        print("t_s  VmRSS_KiB")
        sample_at = start
        while True:
            print(f"{sample_at - start:4.0f}  {vm_rss_kib(server.pid)}",
                  flush=True)
            sample_at += SAMPLE_EVERY_S
            if sample_at > end + 0.5:
                break
            time.sleep(max(0.0, sample_at - time.monotonic()))
        for thread in threads:
            thread.join()
        print(f"heartbeats_sent={sum(counts)}")
        if errors:
            print("errors:", *errors[:5], sep="\n  ")
            return 1
        return 0
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
        if options.keep:
            print(f"server log and database: {data_dir}")
        else:
            shutil.rmtree(data_dir)


if __name__ == "__main__":
    sys.exit(main())

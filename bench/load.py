"""Signup load from a second process: real HTTP POSTs of the public form, with latencies.

Usage: python bench/load.py URL TOTAL CONCURRENCY SECONDS EMAIL_PREFIX
Spreads TOTAL signups evenly over SECONDS (0: as fast as possible) and prints JSON with every
request's latency in milliseconds.
"""

import http.client
import json
import re
import sys
import threading
import time
import urllib.parse


def worker(host, port, jobs, start, interval, prefix, latencies, errors):
    connection = http.client.HTTPConnection(host, port, timeout=30)
    connection.request("GET", "/")
    response = connection.getresponse()
    page = response.read().decode()
    cookie = response.getheader("Set-Cookie").split(";")[0]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    for n in jobs:
        wait = start + n * interval - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        body = urllib.parse.urlencode(
            {
                "csrfmiddlewaretoken": token,
                "full_name": f"Fan {n}",
                "email": f"{prefix}{n}@example.com",
                "consent": "on",
            }
        )
        clock = time.perf_counter()
        connection.request(
            "POST",
            "/",
            body,
            {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
        )
        response = connection.getresponse()
        response.read()
        latencies.append((time.perf_counter() - clock) * 1000)
        if response.status != 302:
            errors.append(response.status)


def main() -> None:
    url, total, concurrency, seconds, prefix = sys.argv[1:6]
    parts = urllib.parse.urlsplit(url)
    total, concurrency, seconds = int(total), int(concurrency), float(seconds)
    interval = seconds / total if seconds else 0
    latencies: list[float] = []
    errors: list[int] = []
    start = time.perf_counter() + 0.5
    threads = [
        threading.Thread(
            target=worker,
            args=(
                parts.hostname,
                parts.port,
                range(i, total, concurrency),
                start,
                interval,
                prefix,
                latencies,
                errors,
            ),
        )
        for i in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(
        json.dumps(
            {"latencies_ms": latencies, "errors": errors, "wall": time.perf_counter() - start}
        )
    )


if __name__ == "__main__":
    main()

"""A small HTTP load generator for the resilience tests and bench/resilience.py:
worker threads, each with its own keep-alive connection, send a fixed number of
requests between them and record when each started, how long it took and its
status (0 when it failed without one: refused, reset, timed out)."""
import http.client
import threading
import time


class Load:
    """n requests of method to path (Host: host) at addr, from workers threads.
    start() runs them in the background; .done counts finished ones; wait()
    joins. .results is a list of (start, seconds, status), start on the
    time.monotonic() clock."""

    def __init__(self, addr, host, path, n, workers=20, method="GET", body=None, timeout=30):
        self.addr, self.host, self.path, self.n = addr, host, path, n
        self.workers, self.method, self.body, self.timeout = workers, method, body, timeout
        self.results = []
        self.lock = threading.Lock()
        self.next = 0
        self.threads = []

    @property
    def done(self):
        with self.lock:
            return len(self.results)

    def _worker(self):
        conn = None
        while True:
            with self.lock:
                if self.next >= self.n:
                    break
                self.next += 1
            t0 = time.monotonic()
            status = 0
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(*self.addr, timeout=self.timeout)
                conn.request(self.method, self.path, body=self.body,
                             headers={"Host": self.host})
                r = conn.getresponse()
                r.read()
                status = r.status
                if (r.getheader("Connection") or "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
            with self.lock:
                self.results.append((t0, time.monotonic() - t0, status))
        if conn is not None:
            conn.close()

    def start(self):
        for _ in range(self.workers):
            t = threading.Thread(target=self._worker, daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def wait(self, timeout=120):
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        return self.results

    def wait_done(self, count, timeout=60):
        """Waits until at least count requests finished."""
        deadline = time.monotonic() + timeout
        while self.done < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {self.done} of {count} requests done")
            time.sleep(0.01)

"""A `warren daemon` for the e2e tests: its own repo, its API on a free loopback
port, its libp2p listener on 127.0.0.1 with a port the kernel picks (kubo's
4001 would clash between tests), its log kept in a file."""
import os
import pathlib
import signal
import subprocess
import time

from conftest import WARREN


class Daemon:
    """A `warren daemon` on a free loopback port; .url, .port, .stop()."""

    def __init__(self, repo, *flags, api="127.0.0.1:0", default_swarm=True):
        """api=None leaves the API address to the repo's config; default_swarm=False
        leaves the swarm addresses to it too."""
        self.repo = pathlib.Path(repo)
        self.log = open(self.repo.parent / f"daemon-{os.getpid()}-{time.monotonic_ns()}.log", "w+")
        if default_swarm and not any(str(f).startswith("--swarm") for f in flags):
            flags = ("--swarm", "/ip4/127.0.0.1/tcp/0", *flags)
        api_flag = ["--api", api] if api else []
        self.proc = subprocess.Popen([str(WARREN), "--repo", str(repo), "daemon", *api_flag,
                                      *flags],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        api = self.repo / "api"
        for _ in range(200):
            if api.exists() and api.read_text():
                break
            assert self.proc.poll() is None, self.output()
            time.sleep(0.025)
        maddr = api.read_text()
        assert maddr.startswith("/ip4/127.0.0.1/tcp/"), maddr
        self.port = int(maddr.rsplit("/", 1)[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.final_output = self.output()  # for an assertion's message
            self.log.close()
        return self.proc.returncode

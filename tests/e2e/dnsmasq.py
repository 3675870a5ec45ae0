"""A real DNS server for the DNSLink tests: Debian's dnsmasq, unprivileged on
127.0.0.1:<free port>, answering only the TXT records a test gives it."""
import os
import pwd
import shutil
import socket
import struct
import subprocess
import time

from edgeenv import free_udp_port

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


def txt_query(name, qid=0x4242):
    """A DNS query for name's TXT records (RD set), as bytes."""
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", 16, 1)


class Dnsmasq:
    """dnsmasq serving records [(name, value), ...] (a value may be a tuple of
    strings: one TXT record with several character-strings) for its zones
    only (`.test` unless zones says), so any other name under them is
    NXDOMAIN. TTL of every answer:
    ttl seconds. .log() is what it logged (with --log-queries)."""

    def __init__(self, tmp, records, ttl=300, port=None, zones=("test",)):
        self.zones = zones
        self.tmp = tmp
        self.port = port or free_udp_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.records = records
        self.ttl = ttl
        self.proc = None
        self.n = 0
        self.start()

    def start(self):
        self.n += 1
        self.logfile = self.tmp / f"dnsmasq.{self.n}.log"
        args = [DNSMASQ, "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-daemon",
                f"--port={self.port}", "--listen-address=127.0.0.1", "--bind-interfaces",
                *[f"--local=/{z}/" for z in self.zones], f"--local-ttl={self.ttl}",
                "--log-queries",
                "--log-facility=-", f"--pid-file={self.tmp / 'dnsmasq.pid'}",
                f"--user={pwd.getpwuid(os.getuid()).pw_name}", "--conf-file=/dev/null"]
        for name, value in self.records:
            parts = value if isinstance(value, tuple) else (value,)
            # on the command line dnsmasq keeps quotes as text, so values
            # go bare (none of ours has a comma: a comma starts a new string)
            assert not any("," in p for p in parts)
            args.append(f"--txt-record={name}," + ",".join(parts))
        self.out = open(self.logfile, "w")
        self.proc = subprocess.Popen(args, stdout=self.out, stderr=subprocess.STDOUT)
        self.wait_ready()

    def wait_ready(self):
        """Returns once a TXT query gets any answer (dnsmasq has bound its socket)."""
        deadline = time.monotonic() + 10
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, self.log()
                try:
                    s.sendto(txt_query("ready.probe.test"), ("127.0.0.1", self.port))
                    s.recvfrom(4096)
                    return
                except OSError:
                    time.sleep(0.05)
        raise AssertionError("dnsmasq did not answer: " + self.log())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc:
            self.out.close()
        self.proc = None

    def restart(self, records):
        """The same port, new records (dnsmasq has no cache to carry over)."""
        self.stop()
        self.records = records
        self.start()

    def log(self):
        return self.logfile.read_text() if self.logfile.exists() else ""

    def queries(self, name):
        """How many TXT queries for name this run of dnsmasq saw."""
        return sum(1 for line in self.log().splitlines()
                   if f"query[TXT] {name} from" in line)

"""`warren tunnel create|list|delete` and `warren tunnel ingress validate|rule`
run as a user would: real files on disk, exact outputs and exit codes."""
import base64
import json
import os
import re
import stat
import subprocess

from conftest import WARREN, run_warren

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


def create(tmp_path, name, *hosts, cred=None, extra=()):
    args = ["tunnel", "create", name]
    for h in hosts:
        args += ["--hostname", h]
    args += ["--tunnels", tmp_path / "TUNNELS.yml",
             "--credentials-file", cred or tmp_path / f"{name}.json", *extra]
    return run_warren(*args)


def test_create_writes_both_files_0600(warren_bin, tmp_path):
    r = create(tmp_path, "web", "app.example.com", "*.dev.example.com")
    assert r.returncode == 0, r.stderr
    cred_path = tmp_path / "web.json"
    cred = json.loads(cred_path.read_text())
    assert UUID_RE.match(cred["TunnelID"])
    secret = base64.b64decode(cred["TunnelSecret"], validate=True)
    assert len(secret) == 32
    assert cred["AccountTag"] == ""
    assert cred["TunnelName"] == "web"
    assert mode(cred_path) == 0o600
    tunnels = tmp_path / "TUNNELS.yml"
    assert mode(tunnels) == 0o600
    text = tunnels.read_text()
    assert f"id: {cred['TunnelID']}" in text
    assert f"secret: {cred['TunnelSecret']}" in text
    assert '- "*.dev.example.com"' in text
    assert r.stdout.splitlines()[-1] == f"Created tunnel web with id {cred['TunnelID']}"
    assert f"Tunnel credentials written to {cred_path}." in r.stdout
    # No temporary files are left next to them.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["TUNNELS.yml", "TUNNELS.yml.lock",
                                                          "web.json"]


def test_create_under_a_loose_umask_is_still_0600(warren_bin, tmp_path):
    r = subprocess.run(["sh", "-c", f'umask 000; exec "$0" "$@"', str(warren_bin), "tunnel",
                        "create", "web", "--hostname", "a.example.com", "--tunnels",
                        str(tmp_path / "T.yml"), "--credentials-file", str(tmp_path / "c.json")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert mode(tmp_path / "T.yml") == 0o600
    assert mode(tmp_path / "c.json") == 0o600


def test_flags_before_the_subcommand(warren_bin, tmp_path):
    r = run_warren("tunnel", "--tunnels", tmp_path / "TUNNELS.yml", "--hostname",
                   "a.example.com", "create", "--credentials-file", tmp_path / "a.json", "a")
    assert r.returncode == 0, r.stderr
    r = run_warren("tunnel", "--tunnels", tmp_path / "TUNNELS.yml", "list")
    assert r.returncode == 0
    assert r.stdout.splitlines()[1].split()[1:] == ["a", "a.example.com"]


def test_create_refusals_change_nothing(warren_bin, tmp_path):
    assert create(tmp_path, "web", "app.example.com").returncode == 0
    before = (tmp_path / "TUNNELS.yml").read_bytes()

    r = create(tmp_path, "web", "other.example.com", cred=tmp_path / "web2.json")
    assert r.returncode == 1
    assert r.stderr == (f'warren: tunnel create: a tunnel named "web" already exists in '
                        f'{tmp_path / "TUNNELS.yml"}.\n')

    r = create(tmp_path, "api", "other.example.com", "APP.example.com")
    assert r.returncode == 1
    assert r.stderr == ('warren: tunnel create: hostname "app.example.com" already belongs to '
                        f'tunnel "web" in {tmp_path / "TUNNELS.yml"}.\n')

    r = create(tmp_path, "api", "api.example.com", cred=tmp_path / "web.json")
    assert r.returncode == 1
    assert "already exists; refusing to overwrite" in r.stderr

    r = create(tmp_path, "api", "api.example.com:8080")
    assert r.returncode == 1
    assert r.stderr == ('warren: tunnel create: "api.example.com:8080" is not a valid hostname: '
                        f'a hostname cannot contain a port in {tmp_path / "TUNNELS.yml"}.\n')

    assert (tmp_path / "TUNNELS.yml").read_bytes() == before
    assert not (tmp_path / "api.json").exists()
    assert not (tmp_path / "web2.json").exists()


def test_create_usage_errors_exit_2(warren_bin, tmp_path):
    r = run_warren("tunnel", "create", "web", "--tunnels", tmp_path / "T.yml",
                   "--credentials-file", tmp_path / "c.json")
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == "warren: tunnel create needs at least one --hostname HOST."
    r = run_warren("tunnel", "create", "bad name", "--hostname", "a.example.com")
    assert r.returncode == 2
    assert "is not a valid tunnel name" in r.stderr
    r = run_warren("tunnel", "list", "--hostname", "a.example.com", "--tunnels", tmp_path / "T")
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == "warren: tunnel list does not take --hostname."
    r = run_warren("tunnel", "frob")
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == 'warren: unknown command "tunnel frob".'
    assert not (tmp_path / "T.yml").exists()


def test_broken_tunnels_file_is_reported_with_its_line(warren_bin, tmp_path):
    t = tmp_path / "T.yml"
    t.write_text("tunnels:\n  - id: 6ff42ae2-765d-4adf-8112-31c55c1551ef\n    name: web\n"
                 "    secret: abcde\n    hostnames: [a.example.com]\n")
    os.chmod(t, 0o600)
    r = run_warren("tunnel", "list", "--tunnels", t)
    assert r.returncode == 1
    assert r.stderr == (f"warren: tunnel list: {t}:4:13: the secret is not valid base64: the "
                        "length is not a multiple of 4 at character 6.\n")
    r = create(tmp_path, "api", "b.example.com", extra=["--tunnels", t])
    assert r.returncode == 1
    assert not (tmp_path / "api.json").exists()


def test_list_and_delete(warren_bin, tmp_path):
    r = run_warren("tunnel", "list", "--tunnels", tmp_path / "TUNNELS.yml")
    assert r.returncode == 1
    assert "cannot open" in r.stderr
    (tmp_path / "TUNNELS.yml").write_text("")
    r = run_warren("tunnel", "list", "--tunnels", tmp_path / "TUNNELS.yml")
    assert r.returncode == 0
    assert r.stdout.startswith("No tunnels were found in")
    assert create(tmp_path, "web", "app.example.com").returncode == 0
    assert create(tmp_path, "api", "api.example.com", "*.api.example.com").returncode == 0
    r = run_warren("tunnel", "list", "--tunnels", tmp_path / "TUNNELS.yml")
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "HOSTNAMES"]
    web_id = json.loads((tmp_path / "web.json").read_text())["TunnelID"]
    assert lines[1].split() == [web_id, "web", "app.example.com"]
    assert lines[2].split()[1:] == ["api", "api.example.com,*.api.example.com"]

    # The wrong credentials file stops the delete.
    r = run_warren("tunnel", "delete", "web", "--tunnels", tmp_path / "TUNNELS.yml",
                   "--credentials-file", tmp_path / "api.json")
    assert r.returncode == 1
    assert "holds the credentials of another tunnel" in r.stderr
    r = run_warren("tunnel", "delete", "web", "--tunnels", tmp_path / "TUNNELS.yml",
                   "--credentials-file", tmp_path / "web.json")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"Deleted tunnel web with id {web_id}\n"
    assert not (tmp_path / "web.json").exists()
    r = run_warren("tunnel", "delete", "web", "--tunnels", tmp_path / "TUNNELS.yml")
    assert r.returncode == 1
    assert r.stderr == (f'warren: tunnel delete: there is no tunnel named "web" in '
                        f'{tmp_path / "TUNNELS.yml"}.\n')
    # The freed hostname can be claimed again.
    assert create(tmp_path, "web2", "app.example.com").returncode == 0


CONFIG = """\
tunnel: web
credentials-file: /etc/warren/web.json
no-autoupdate: true
originRequest:
  connectTimeout: 10s
ingress:
  - hostname: app.example.com
    service: http://localhost:8000
  - hostname: "*.example.com"
    path: ^/api/
    service: unix:/run/api.sock
    originRequest:
      noTLSVerify: true
  - service: http_status:404
edge: [127.0.0.1:7844]
"""


def test_ingress_validate_ok_with_unused_keys(warren_bin, tmp_path):
    cfg = tmp_path / "config.yml"
    cfg.write_text(CONFIG)
    r = run_warren("tunnel", "ingress", "validate", "--config", cfg)
    assert r.returncode == 0, r.stderr
    assert r.stdout == (f"Validating rules from {cfg}\n"
                        "Warning: unused keys detected in your config file. Here is a list of "
                        "unused keys:\n3:1: no-autoupdate\n")
    assert r.stderr == ""


def test_ingress_rule_matches(warren_bin, tmp_path):
    cfg = tmp_path / "config.yml"
    cfg.write_text(CONFIG)
    cases = [
        ("https://app.example.com/x", "Matched rule #0\n\thostname: app.example.com\n"
                                      "\tservice: http://localhost:8000\n"),
        ("http://A.B.Example.COM:8080/api/v1?q=1", "Matched rule #1\n\thostname: *.example.com\n"
                                                   "\tpath: ^/api/\n\tservice: unix:/run/api.sock\n"),
        ("https://b.example.com/v1/api/", "Matched rule #2\n\tservice: http_status:404\n"),
        ("https://example.com/api/", "Matched rule #2\n\tservice: http_status:404\n"),
    ]
    for url, want in cases:
        r = run_warren("tunnel", "--config", cfg, "ingress", "rule", url)
        assert r.returncode == 0, r.stderr
        assert r.stdout == f"Using rules from {cfg}\n" + want, url
    r = run_warren("tunnel", "ingress", "rule", "app.example.com/x", "--config", cfg)
    assert r.returncode == 1
    assert r.stderr == ("warren: app.example.com/x doesn't have a hostname, consider adding a "
                        "scheme\n")


def write(tmp_path, text):
    cfg = tmp_path / "c.yml"
    cfg.write_text(text)
    return cfg


def test_ingress_validate_errors(warren_bin, tmp_path):
    cases = [
        ("ingress:\n  - hostname: a.example.com\n    service: http://x\n",
         "2:5: The last ingress rule must match all URLs (i.e. it should not have a hostname or "
         "path filter)"),
        ("ingress:\n  - service: http://x\n  - service: http://y\n",
         "2:5: Rule #1 is matching the hostname '', but this will match every hostname, meaning "
         "the rules which follow it will never be triggered."),
        ("ingress:\n  - service: localhost:8000\n",
         "2:14: localhost:8000 is an invalid address, please make sure it has a scheme and a "
         "hostname"),
        ("ingress:\n  - hostname: a.example.com:443\n    service: http://x\n  - service: http://y\n",
         "2:15: Hostname cannot contain a port"),
        ("ingress:\n  - hostname: a.*.example.com\n    service: http://x\n  - service: http://y\n",
         '2:15: Hostname patterns can have at most one wildcard character ("*") and it can only '
         'be used for subdomains, e.g. "*.example.com"'),
        ("ingress:\n  - path: \"\\\\d+\"\n    service: http://x\n  - service: http://y\n", None),
        ("ingress:\n  - path: \"a**\"\n    service: http://x\n  - service: http://y\n",
         "2:11: Rule #1 has an invalid regex: invalid nested repetition operator: `**`"),
        ("originRequest:\n  connectTimeout: 30\ningress:\n  - service: http://x\n",
         "2:19: connectTimeout must be a duration such as 30s, 1m30s or 500ms, not \"30\""),
        ("ingress:\n  - service: http_status:1000\n", "2:14: invalid HTTP status code: 1000"),
        ("tunnel: web\n", "The config file doesn't contain any ingress rules"),
        ("ingress: [\n", "2:1: invalid YAML: did not find expected node content while parsing a "
                         "flow node"),
    ]
    for text, msg in cases:
        cfg = write(tmp_path, text)
        r = run_warren("tunnel", "ingress", "validate", "--config", cfg)
        if msg is None:
            # "\d" means a digit in Go but a literal 'd' in POSIX: accepted, documented.
            assert r.returncode == 0, r.stderr
            continue
        assert r.returncode == 1, text
        assert r.stdout == f"Validating rules from {cfg}\n"
        sep = ":" if msg[0].isdigit() else ": "
        assert r.stderr == f"warren: Validation failed: {cfg}{sep}{msg}\n", text


def test_ingress_missing_config(warren_bin, tmp_path):
    env = dict(os.environ, HOME=str(tmp_path))
    if os.path.exists("/etc/warren/config.yml") or os.path.exists("/etc/warren/config.yaml"):
        return  # a machine-wide config would be found; nothing to check here
    r = run_warren("tunnel", "ingress", "validate", env=env)
    assert r.returncode == 1
    assert r.stderr.startswith("warren: No configuration file was found. Please create one, or "
                               "use the --config flag to specify its filepath")
    # ~/.warren/config.yml is the first place looked at.
    (tmp_path / ".warren").mkdir()
    (tmp_path / ".warren" / "config.yml").write_text("ingress:\n  - service: hello_world\n")
    r = run_warren("tunnel", "ingress", "validate", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"Validating rules from {tmp_path}/.warren/config.yml\nOK\n"
    r = run_warren("tunnel", "ingress", "validate", "--config", tmp_path / "nope.yml")
    assert r.returncode == 1
    assert r.stderr == (f"warren: Validation failed: cannot open {tmp_path}/nope.yml: "
                        "No such file or directory\n")


def test_help(warren_bin):
    r = run_warren("tunnel", "--help")
    assert r.returncode == 0
    assert "ingress rule URL" in r.stdout and "~/.warren/config.yml" in r.stdout
    r = run_warren("tunnel")
    assert r.returncode == 2


def test_url_with_ingress_is_refused(warren_bin, tmp_path):
    cfg = write(tmp_path, "url: http://localhost:8000\ningress:\n  - service: hello_world\n")
    r = run_warren("tunnel", "ingress", "validate", "--config", cfg)
    assert r.returncode == 1
    assert r.stderr == ("warren: You can't set the --url flag (or $TUNNEL_URL) when using "
                        "multiple-origin ingress rules\n")


def test_parallel_creates_all_land(warren_bin, tmp_path):
    """The lock file serialises load-add-save: no create overwrites another's tunnel."""
    procs = [subprocess.Popen([str(warren_bin), "tunnel", "create", f"t{i}", "--hostname",
                               f"h{i}.example.com", "--tunnels", str(tmp_path / "T.yml"),
                               "--credentials-file", str(tmp_path / f"t{i}.json")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(8)]
    for p in procs:
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
    r = run_warren("tunnel", "list", "--tunnels", tmp_path / "T.yml")
    names = sorted(line.split()[1] for line in r.stdout.splitlines()[1:])
    assert names == [f"t{i}" for i in range(8)]
    ids = {json.loads((tmp_path / f"t{i}.json").read_text())["TunnelID"] for i in range(8)}
    assert len(ids) == 8


def test_create_into_a_missing_folder(warren_bin, tmp_path):
    r = create(tmp_path, "web", "app.example.com", cred=tmp_path / "no" / "web.json")
    assert r.returncode == 1
    assert r.stderr == (f"warren: tunnel create: cannot create {tmp_path}/no/web.json: "
                        "No such file or directory.\n")
    # Nothing was added to the tunnels file either (it was never created).
    assert not (tmp_path / "TUNNELS.yml").exists()


def test_tunnels_file_defaults_to_home(warren_bin, tmp_path):
    """Without --tunnels, create/list/delete use ~/.warren/tunnels.yml (made 0700/0600)."""
    env = {**os.environ, "HOME": str(tmp_path)}
    r = run_warren("tunnel", "create", "web", "--hostname", "app.example.com",
                   "--credentials-file", tmp_path / "web.json", env=env)
    assert r.returncode == 0, r.stderr
    tf = tmp_path / ".warren" / "tunnels.yml"
    assert stat.S_IMODE(tf.stat().st_mode) == 0o600
    assert stat.S_IMODE(tf.parent.stat().st_mode) == 0o700
    r = run_warren("tunnel", "list", env=env)
    assert r.returncode == 0 and "app.example.com" in r.stdout, r.stdout + r.stderr
    r = run_warren("tunnel", "delete", "web", env=env)
    assert r.returncode == 0, r.stderr
    assert "web" not in tf.read_text()


def test_tunnel_token_is_cloudflareds(warren_bin, tmp_path):
    """`tunnel token NAME`: base64 of Go's JSON {"a","s","t"} holding the same
    credentials as the file; --credentials-file writes the file again instead."""
    env = {**os.environ, "HOME": str(tmp_path)}
    r = run_warren("tunnel", "create", "web", "--hostname", "app.example.com",
                   "--credentials-file", tmp_path / "web.json", env=env)
    assert r.returncode == 0, r.stderr
    cred = json.loads((tmp_path / "web.json").read_text())
    r = run_warren("tunnel", "token", "web", env=env)
    assert r.returncode == 0, r.stderr
    raw = base64.b64decode(r.stdout.strip(), validate=True)
    assert raw == json.dumps({"a": "", "s": cred["TunnelSecret"], "t": cred["TunnelID"]},
                             separators=(",", ":")).encode()
    r = run_warren("tunnel", "token", "web", "--credentials-file", tmp_path / "again.json",
                   env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "again.json").read_text()) == cred
    assert stat.S_IMODE((tmp_path / "again.json").stat().st_mode) == 0o600


def test_edge_finds_the_default_tunnels_file(warren_bin, tmp_path):
    """`warren edge` without --tunnels reads the file `tunnel create` wrote by default."""
    env = {**os.environ, "HOME": str(tmp_path)}
    r = run_warren("tunnel", "create", "web", "--hostname", "app.example.com",
                   "--credentials-file", tmp_path / "web.json", env=env)
    assert r.returncode == 0, r.stderr
    from edgeenv import free_udp_port  # a UDP port whose TCP twin (http2) is free too
    p = subprocess.Popen([str(WARREN), "edge", "--listen", f"127.0.0.1:{free_udp_port()}",
                          "--http", "127.0.0.1:0",
                          "--self-signed", str(tmp_path / "certs")], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        started = next((line for line in p.stdout if "INF Starting edge" in line), "")
        assert " tunnels=1 hostnames=1 " in started, started
    finally:
        p.terminate()
        p.wait(10)


def test_metrics_localhost_in_the_config_is_served(warren_bin, tmp_path):
    """cloudflared's `metrics: localhost:2000`: validate accepts it, and so does run
    (it resolves the name once, to 127.0.0.1) instead of refusing a flag never given."""
    import socket
    import urllib.request
    from edgeenv import LoggedProc
    assert create(tmp_path, "web", "a.example.com").returncode == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "config.yml"
    cfg.write_text(f"tunnel: web\ncredentials-file: {tmp_path / 'web.json'}\n"
                   f"metrics: localhost:{port}\nedge:\n  - 127.0.0.1:9\nedge-fingerprint: "
                   f"{'0' * 64}\ningress:\n  - service: http_status:404\n")
    assert run_warren("tunnel", "ingress", "validate", "--config", cfg).returncode == 0
    c = LoggedProc([WARREN, "tunnel", "--config", cfg, "run"], "connector")
    try:
        c.wait_for(rf"Starting metrics server addr=127\.0\.0\.1:{port}")
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        assert b"# TYPE" in body
    finally:
        c.stop()

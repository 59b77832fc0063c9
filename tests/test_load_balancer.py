"""deploy/haproxy.cfg as benchmarks/load.py --servers runs it, and that benchmark's refusals of bad input."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import load  # noqa: E402


def rendered(port=18080, backends=(18001, 18002)):
    return load.render_haproxy_config(load.HAPROXY_CONFIG.read_text(), port, list(backends))


def test_the_shipped_config_is_rendered_with_one_local_bind_and_the_given_app_servers():
    config = rendered()
    lines = [line.strip() for line in config.splitlines()]
    assert [line for line in lines if line.startswith("bind ")] == ["bind 127.0.0.1:18080"]
    assert [line for line in lines if line.startswith("server ")] == [
        "server app1 127.0.0.1:18001", "server app2 127.0.0.1:18002"]
    assert "redirect scheme https" not in config  # no TLS in front of the benchmark
    # What makes it a load balancer with failover, kept as shipped: round robin, health checks, safe retries.
    for kept in ("balance roundrobin", "option httpchk", "default-server check inter 1s fall 2 rise 2 maxconn 10",
                 "retry-on conn-failure", "option redispatch 1", "http-request set-header X-Forwarded-Proto https"):
        assert kept in lines
    directives = [line.split()[0] for line in lines if line and not line.startswith("#")]
    assert not {"cookie", "stick", "stick-table", "hash-type"} & set(directives)  # no sticky sessions


@pytest.mark.skipif(not shutil.which("haproxy") and not Path("/usr/sbin/haproxy").exists(),
                    reason="HAProxy is not installed (make bench-packages)")
def test_haproxy_accepts_the_rendered_config(tmp_path):
    path = tmp_path / "haproxy.cfg"
    path.write_text(rendered())
    check = subprocess.run([load.find_haproxy(), "-c", "-f", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("argv, message", [
    (["--servers", "0"], "--servers must be 1 or more app servers, not 0"),
    (["--servers", "-2"], "--servers must be 1 or more app servers, not -2"),
    (["--kill-server"], "--kill-server needs --servers 2 or more"),
    (["--servers", "1", "--kill-server"], "--kill-server needs --servers 2 or more"),
    (["--servers", "2", "--kill"], "with --servers use --kill-server"),
    (["--servers", "2", "--floor", "5"], "--floor measures one gunicorn"),
    (["--url", "http://127.0.0.1:8000", "--servers", "2"], "--url drives a server started elsewhere"),
])
def test_bad_options_are_refused_before_anything_starts(argv, message, capsys):
    with pytest.raises(SystemExit) as exit:
        load.main(argv)
    assert exit.value.code == 2
    assert message in capsys.readouterr().err


def test_a_missing_haproxy_is_named_with_how_to_install_it(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(load.os.path, "exists", lambda path: False)
    with pytest.raises(SystemExit, match="make bench-packages"):
        load.main(["--servers", "2"])

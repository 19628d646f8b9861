"""`server set --metrics-listen / --metrics-per-session`: validation (exit 2 naming the problem), loopback by default,
a warning for an address that is not loopback, `off`, and the config keys they write."""

from __future__ import annotations

import json

import pytest

from rrasctl.config.model import listen_address
from rrasctl.errors import ValidationError


@pytest.mark.parametrize("given,stored", [
    ("127.0.0.1:9477", "127.0.0.1:9477"), ("9477", "127.0.0.1:9477"), ("[::1]:9100", "[::1]:9100"),
    ("localhost:9477", "localhost:9477"), ("0.0.0.0:9477", "0.0.0.0:9477"), (9477, "127.0.0.1:9477"),
])
def test_listen_address_forms(given, stored):
    assert listen_address("server.metrics_listen", given) == stored


@pytest.mark.parametrize("bad,why", [
    ("127.0.0.1", "is not HOST:PORT"), ("127.0.0.1:0", "no valid port"), ("127.0.0.1:65536", "no valid port"),
    ("example.org:9477", "IPv4 address, [IPv6 address] or localhost"), ("[zz]:1", "no valid IPv6"), ("", "HOST:PORT"),
])
def test_listen_address_rejects(bad, why):
    with pytest.raises(ValidationError) as e:
        listen_address("server.metrics_listen", bad)
    assert e.value.message.startswith("server.metrics_listen: ") and why in e.value.message


def test_set_show_and_clear(rr, cfg):
    r = rr("server", "set", "--metrics-listen", "9477")
    assert r.exit_code == 0 and r.stderr == "metrics endpoint: http://127.0.0.1:9477/metrics\nserver settings saved\n"
    assert 'metrics_listen = "127.0.0.1:9477"' in cfg.read_text()
    show = json.loads(rr("server", "show", "-o", "json").stdout)
    assert (show["metrics_listen"], show["metrics_per_session"]) == ("127.0.0.1:9477", False)
    assert rr("server", "set", "--metrics-per-session", "on").exit_code == 0
    assert json.loads(rr("server", "show", "-o", "json").stdout)["metrics_per_session"] is True
    assert "--metrics-listen 127.0.0.1:9477 --metrics-per-session on" in rr("dump").stdout
    r = rr("server", "set", "--metrics-listen", "off")
    assert r.exit_code == 0 and r.stderr.startswith("metrics endpoint: off\n")
    assert "metrics_listen" not in cfg.read_text()


def test_a_non_loopback_address_is_kept_but_warned_about(rr):
    r = rr("server", "set", "--metrics-listen", "0.0.0.0:9477")
    assert r.exit_code == 0
    assert "warning: 0.0.0.0 is not a loopback address: anyone who can reach it can read the metrics" in r.stderr


@pytest.mark.parametrize("args,msg", [
    (["--metrics-listen", "127.0.0.1:99999"], "no valid port"),
    (["--metrics-per-session", "maybe"], "'maybe' is not on or off"),
])
def test_bad_values_exit_2_and_change_nothing(rr, cfg, args, msg):
    r = rr("server", "set", *args)
    assert r.exit_code == 2 and msg in r.stderr and not cfg.exists()

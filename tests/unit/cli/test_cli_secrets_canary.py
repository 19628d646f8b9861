"""Acceptance 5: no secret in plain text in the config dir, the state dir, any output (table or JSON), logs or
exception text, checked after every command that touched it."""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

import pytest

from rrasctl import redact
from rrasctl.config import secrets, store


def _files_contain(root: Path, needle: bytes) -> list[str]:
    hits = []
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            try:
                if needle in p.read_bytes():
                    hits.append(str(p))
            except OSError:
                pass
    return hits


def test_canaries_never_leak(rr, cfg, _isolated_env):
    home = _isolated_env
    pw, psk, radius, dd_pw, l2tp = (f"canary-{k}-{uuid.uuid4().hex}" for k in ("pw", "psk", "rad", "dd", "l2tp"))
    canaries = [pw, psk, radius, dd_pw, l2tp]

    def run(*args, input=None, code=0):
        r = rr(*args, input=input)
        assert r.exit_code == code, (args, r.stderr)
        for c in canaries:
            assert c not in r.stdout and c not in r.stderr, (args, c)
        for c in canaries:
            assert _files_contain(home, c.encode()) == [], (args, c)
        return r

    run("users", "add", "alice", "--password-stdin", "--dial-in", "allow", input=pw + "\n")
    run("users", "set", "alice", "--password-stdin", input=pw + "\n")
    run("users", "add", "alice", "--password-stdin", input=pw + "\n", code=4)  # conflict after reading it
    run("auth", "set", "--psk-stdin", input=psk + "\n")
    run("auth", "set", "--provider", "radius", "--radius-server", "192.0.2.9:1812", "--secret-stdin",
        input=radius + "\n")
    run("demand-dial", "add", "b1", "--destination", "203.0.113.2", "--user", "hq", "--password-stdin",
        input=dd_pw + "\n")
    run("server", "set", "--l2tp-secret-stdin", "--l2tp-hide-avps", input=l2tp + "\n")
    for fmt in ("table", "json"):
        for args in (["users", "show", "alice"], ["users", "list"], ["auth", "show"], ["server", "show"],
                     ["demand-dial", "show", "b1"], ["demand-dial", "list"]):
            r = run(*args, "-o", fmt)
            if (args[-1], fmt) != ("list", "table") or args[0] == "users":
                assert "********" in r.stdout, (args, fmt)
    run("dump")
    run("config", "export")
    run("config", "export", "--effective")
    run("config", "check", "--secrets")
    # the values are really there, sealed, and open with the key
    c = store.load(cfg)
    key = cfg.with_name("rrasctl.key")
    assert secrets.open_secret(key, c.users["alice"].password) == pw
    assert secrets.open_secret(key, c.auth.psk) == psk
    assert secrets.open_secret(key, c.auth.radius_secret) == radius
    assert secrets.open_secret(key, c.demand_dial["b1"].password) == dd_pw
    assert secrets.open_secret(key, c.l2tp.secret) == l2tp
    # exception text: a secret that does not open names no value
    other = home / "elsewhere.key"
    secrets.ensure_key(other)
    with pytest.raises(Exception) as e:
        secrets.open_secret(other, c.auth.psk)
    assert psk not in str(e.value) and c.auth.psk not in str(e.value)


def test_logging_filter_masks_registered_and_sealed_values(caplog):
    plain = f"canary-{uuid.uuid4().hex}"
    redact.register(plain)
    log = logging.getLogger("rrasctl.test.canary")
    log.addFilter(redact.RedactingFilter())
    with caplog.at_level(logging.INFO, logger="rrasctl.test.canary"):
        log.info("user alice password %s psk enc:v1:QUJDRA==", plain)
    assert caplog.records[0].getMessage() == "user alice password ******** psk ********"


def test_redact_masks_secret_keys_and_secret_objects():
    s = redact.Secret("x-plain")
    assert repr(s) == str(s) == "********" and s.reveal() == "x-plain"
    data = {"user": "a", "password": "p", "nested": [{"psk": "k", "ok": 1}], "v": "enc:v1:AAAA", "obj": s,
            "radius_secret": None}
    assert redact.redact(data) == {"user": "a", "password": "********", "nested": [{"psk": "********", "ok": 1}],
                                   "v": "********", "obj": "********", "radius_secret": None}

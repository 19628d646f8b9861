"""Issue 13, hole 3: losing or replacing the key file must never silently destroy the stored secrets (decision 0141).

`config check` fails with the reason, commands that seal refuse to start a new key, `config rekey` is the explicit
way out, v1 values still open and are re-sealed as v2 on the next sealing write, and opening a secret fails with a
typed project error naming the key file, never the value."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from rrasctl.config import secrets, store
from rrasctl.errors import RrasctlError, SecretUnavailable
from rrasctl.paths import resolve

PW = "Pw-alice-17"


@pytest.fixture
def paths(_isolated_env):
    return resolve()


def _users(rr, *names):
    for n in names:
        r = rr("users", "add", n, "--password-stdin", "--dial-in", "allow", input=f"{PW}-{n}\n")
        assert r.exit_code == 0, r.stderr


def _sealed(cfg: Path) -> dict[str, str]:
    import tomlkit

    return {secrets.dotted(p): v for p, v in secrets.find_sealed(tomlkit.parse(cfg.read_text()).unwrap())}


def test_sealed_values_name_their_key(rr, paths):
    _users(rr, "alice")
    (value,) = _sealed(paths.config).values()
    kid = secrets.key_id(paths.key.read_bytes())
    assert value.startswith(f"enc:v2:{kid}:") and len(kid) == 16
    assert secrets.open_secret(paths.key, value) == f"{PW}-alice"
    assert rr("config", "check").exit_code == 0


def test_key_deleted_check_fails_and_no_command_creates_a_new_key(rr, paths):
    _users(rr, "alice", "carol")
    before = paths.config.read_bytes()
    paths.key.unlink()
    r = rr("config", "check")
    assert r.exit_code == 1
    assert r.stderr == (f"error: 2 sealed secret(s) cannot be opened: the secrets key {paths.key} is missing\n"
                        f"hint: {secrets.RESET_HINT}\n")
    r = rr("users", "add", "bob", "--password-stdin", input="Pw-bob-1\n")
    assert r.exit_code == 1 and "refusing to seal a new secret" in r.stderr and "is missing" in r.stderr, r.stderr
    r = rr("users", "set", "alice", "--password-stdin", input="Pw-new-1\n")
    assert r.exit_code == 1 and "refusing to seal a new secret" in r.stderr
    assert not paths.key.exists() and paths.config.read_bytes() == before
    assert "Traceback" not in r.stderr and "Pw-" not in r.stderr


def test_key_replaced_check_names_both_key_ids_and_sealing_is_refused(rr, paths):
    _users(rr, "alice")
    old = secrets.key_id(paths.key.read_bytes())
    paths.key.write_bytes(os.urandom(32))
    new = secrets.key_id(paths.key.read_bytes())
    r = rr("config", "check")
    assert r.exit_code == 1
    assert r.stderr.splitlines()[0] == (
        f"error: 1 sealed secret(s) cannot be opened (users.alice.password): the secrets key {paths.key} is not "
        f"the key the config's secrets were sealed with (they name key {old}; the file holds key {new})")
    r = rr("demand-dial", "add", "b1", "--destination", "203.0.113.2", "--user", "hq", "--password-stdin",
           input="Pw-dd-1\n")
    assert r.exit_code == 1 and "refusing to seal" in r.stderr
    assert secrets.key_id(paths.key.read_bytes()) == new and "b1" not in paths.config.read_text()
    with pytest.raises(SecretUnavailable, match="is not the key the config's secrets were sealed with"):
        secrets.open_secret(paths.key, _sealed(paths.config)["users.alice.password"])


def test_damaged_key_is_named(rr, paths):
    _users(rr, "alice")
    paths.key.write_bytes(b"short")
    r = rr("config", "check")
    assert r.exit_code == 1 and f"the secrets key {paths.key} is damaged (expected 32 bytes, found 5)" in r.stderr


def test_no_secrets_no_key_needed_and_the_first_secret_creates_it(rr, paths):
    assert rr("ports", "add", "pptp", "1").exit_code == 0
    assert rr("config", "check").exit_code == 0 and not paths.key.exists()
    _users(rr, "alice")
    assert paths.key.exists() and os.stat(paths.key).st_mode & 0o777 == 0o600


def test_rekey_reset_secrets_is_the_explicit_way_out(rr, paths):
    _users(rr, "alice", "carol")
    paths.key.unlink()
    r = rr("config", "rekey", "--reset-secrets")
    assert r.exit_code == 0, r.stderr
    assert r.stderr.splitlines() == [
        "warning: removed 2 sealed secret(s) that must now be set again: users.alice.password, users.carol.password",
        f"new secrets key {paths.key}"]
    assert _sealed(paths.config) == {} and paths.key.exists()
    assert store.load(paths.config).users["alice"].dial_in == "allow"        # the rest of the config stays
    assert rr("config", "check").exit_code == 0
    _users(rr, "bob")
    assert rr("config", "check", "--secrets").exit_code == 0
    assert not paths.key.with_name("rrasctl.key.new").exists()


def test_rekey_reseals_every_secret_under_a_new_key(rr, paths):
    _users(rr, "alice")
    assert rr("auth", "set", "--psk-stdin", input="psk-secret-1\n").exit_code == 0
    old = secrets.key_id(paths.key.read_bytes())
    r = rr("config", "rekey")
    assert r.exit_code == 0 and r.stderr == f"new secrets key {paths.key}; 2 secret(s) re-sealed\n"
    new = secrets.key_id(paths.key.read_bytes())
    values = _sealed(paths.config)
    assert new != old and all(v.startswith(f"enc:v2:{new}:") for v in values.values())
    assert secrets.open_secret(paths.key, values["users.alice.password"]) == f"{PW}-alice"
    assert secrets.open_secret(paths.key, values["auth.psk"]) == "psk-secret-1"


def test_rekey_without_the_key_changes_nothing(rr, paths):
    _users(rr, "alice")
    paths.key.unlink()
    before = paths.config.read_bytes()
    r = rr("config", "rekey")
    assert r.exit_code == 1 and "cannot re-seal" in r.stderr and "--reset-secrets" in r.stderr
    assert paths.config.read_bytes() == before and not paths.key.exists()
    assert not paths.key.with_name("rrasctl.key.new").exists()


def test_an_interrupted_rekey_is_named_in_the_hint(rr, paths):
    _users(rr, "alice")
    pending = paths.key.with_name("rrasctl.key.new")
    pending.write_bytes(paths.key.read_bytes())
    paths.key.write_bytes(os.urandom(32))
    r = rr("config", "check")
    assert r.exit_code == 1 and f"hint: an interrupted `rrasctl config rekey` left {pending}: move it to " \
                                f"{paths.key}" in r.stderr


def _v1(key_path: Path, plain: str) -> str:
    """A value in the first format: no key id, the key path alone as associated data."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    ct = AESGCM(key_path.read_bytes()).encrypt(nonce, plain.encode(), os.path.abspath(key_path).encode())
    return "enc:v1:" + base64.b64encode(nonce + ct).decode()


def test_v1_values_still_open_and_are_resealed_on_the_next_sealing_write(rr, paths):
    _users(rr, "alice")
    v1 = _v1(paths.key, "old-secret-1")
    with store.edit(paths.config) as e:
        e.set("users.alice.password", v1)
    assert secrets.open_secret(paths.key, v1) == "old-secret-1"
    assert rr("config", "check").exit_code == 0
    assert rr("ports", "add", "pptp").exit_code == 0 and _sealed(paths.config)["users.alice.password"] == v1
    _users(rr, "bob")
    values = _sealed(paths.config)
    kid = secrets.key_id(paths.key.read_bytes())
    assert all(v.startswith(f"enc:v2:{kid}:") for v in values.values())
    assert secrets.open_secret(paths.key, values["users.alice.password"]) == "old-secret-1"


def test_a_v1_value_under_another_key_fails_the_check(rr, paths):
    _users(rr, "alice")
    with store.edit(paths.config) as e:
        e.set("users.alice.password", _v1(paths.key, "old-secret-1"))
    paths.key.write_bytes(os.urandom(32))
    r = rr("config", "check")
    assert r.exit_code == 1 and f"(users.alice.password): they do not open with the key {paths.key}" in r.stderr


@pytest.mark.parametrize("mangle,why", [
    (lambda v: v[:30], "damaged"),
    (lambda v: "enc:v2:abc:" + v.split(":", 3)[3], "damaged (no key id)"),
    (lambda v: v[:-6] + "AAAAAA", "does not open with the key"),
])
def test_open_secret_raises_a_typed_error_without_the_value(paths, mangle, why):
    value = secrets.seal_secret(paths.key, "hidden-value-9")
    with pytest.raises(SecretUnavailable) as e:
        secrets.open_secret(paths.key, mangle(value))
    assert isinstance(e.value, RrasctlError) and e.value.exit_code == 1 and e.value.kind == "secret_unavailable"
    assert why in e.value.message and "hidden-value-9" not in e.value.message + (e.value.hint or "")


def test_the_engine_open_secret_raises_secret_unavailable(paths):
    """What the engine's login path receives when the key is gone (the refusal itself is the engine's)."""
    import asyncio

    from rrasctl.config.model import validate
    from rrasctl.engine.run import build_context

    value = secrets.seal_secret(paths.key, "engine-secret-1")
    loop = asyncio.new_event_loop()
    try:
        ctx = build_context(loop, paths, validate({}))
        assert ctx.open_secret(value) == "engine-secret-1"
        paths.key.unlink()
        with pytest.raises(SecretUnavailable, match=f"the secrets key {paths.key} is missing"):
            ctx.open_secret(value)
    finally:
        loop.close()

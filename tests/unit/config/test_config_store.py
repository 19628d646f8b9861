from __future__ import annotations

import os

import pytest

from rrasctl.config import secrets, store
from rrasctl.errors import RrasctlError, ValidationError


def test_missing_file_means_defaults_and_is_not_written(tmp_path):
    p = tmp_path / "rrasctl.toml"
    assert store.load(p).ports["pptp"].count == 5
    assert not p.exists()


def test_comments_survive_edits(tmp_path):
    p = tmp_path / "rrasctl.toml"
    p.write_text("# my header\nschema_version = 1\n\n[ports.pptp] # the pptp pool\n"
                 "count = 7 # seven, for now\n\n# users below\n[users.alice]\ndial_in = \"allow\" # boss\n")
    with store.edit(p) as e:
        e.set("ports.pptp.count", 9)
        e.set(["users", "alice", "dial_in"], "deny")
        e.set(["users", "bob", "dial_in"], "policy")
    assert p.read_text() == ("# my header\nschema_version = 1\n\n[ports.pptp] # the pptp pool\n"
                             "count = 9 # seven, for now\n\n# users below\n[users.alice]\ndial_in = \"deny\" # boss\n"
                             "\n[users.bob]\ndial_in = \"policy\"\n")


@pytest.mark.parametrize("text,msg", [
    ("[ports.pptp]\ncount = = 3\n", "TOML syntax error at line 2, column 9"),
    ("[ports.pptp]\ncount = 2000\n", "ports.pptp.count: 2000 is over the standard edition's limit of 1000"),
])
def test_invalid_file_is_never_overwritten(tmp_path, text, msg):
    p = tmp_path / "rrasctl.toml"
    p.write_text(text)
    with pytest.raises(ValidationError) as e:
        with store.edit(p) as ed:
            ed.set("ports.l2tp.count", 3)
    assert msg in e.value.message
    assert p.read_text() == text
    with pytest.raises(ValidationError):
        store.load(p)


def test_invalid_change_writes_nothing(tmp_path):
    p = tmp_path / "rrasctl.toml"
    p.write_text("schema_version = 1\n")
    with pytest.raises(ValidationError, match="ports.pptp.count: 1001 is over"):
        with store.edit(p) as e:
            e.set("ports.pptp.count", 1001)
    assert p.read_text() == "schema_version = 1\n"
    with pytest.raises(KeyError):
        with store.edit(p) as e:
            e.set("ports.pptp.count", 3)
            raise KeyError("boom")
    assert p.read_text() == "schema_version = 1\n"
    assert sorted(os.listdir(tmp_path)) == ["rrasctl.toml", "rrasctl.toml.lock"]


def test_old_file_is_migrated_on_write_only(tmp_path):
    p = tmp_path / "rrasctl.toml"
    old = "# hand written\n[server]\npool = \"10.9.0.0/24\" # mine\n"
    p.write_text(old)
    assert store.load(p).server.address_pool == "10.9.0.0/24"
    assert p.read_text() == old
    with store.edit(p) as e:
        e.set("server.edition", "web")
    text = p.read_text()
    assert text.startswith("# hand written\nschema_version = 1\n[server]\n")
    assert "address_pool = \"10.9.0.0/24\" # mine" in text and "pool =" not in text.replace("address_pool", "")
    assert store.load(p).server.edition == "web"


def test_newer_schema_is_refused_untouched(tmp_path):
    p = tmp_path / "rrasctl.toml"
    p.write_text("schema_version = 2\n")
    with pytest.raises(ValidationError, match="newer than this rrasctl reads"):
        with store.edit(p) as e:
            e.set("server.edition", "web")
    assert p.read_text() == "schema_version = 2\n"


def test_new_file_mode_is_0600(tmp_path):
    p = tmp_path / "sub" / "rrasctl.toml"
    with store.edit(p) as e:
        e.set("server.edition", "web")
    assert os.stat(p).st_mode & 0o777 == 0o600


def test_secrets_round_trip_and_bind_to_the_key_path(tmp_path):
    k = tmp_path / "rrasctl.key"
    sealed = secrets.seal_secret(k, "correct horse")
    assert sealed.startswith("enc:v2:") and "correct horse" not in sealed
    assert secrets.open_secret(k, sealed) == "correct horse"
    assert os.stat(k).st_mode & 0o777 == 0o600 and len(k.read_bytes()) == 32
    other = tmp_path / "copy" / "rrasctl.key"
    other.parent.mkdir()
    other.write_bytes(k.read_bytes())
    with pytest.raises(RrasctlError) as e:
        secrets.open_secret(other, sealed)
    assert "correct horse" not in str(e.value)
    assert secrets.seal_secret(k, "x") != secrets.seal_secret(k, "x")  # fresh nonce

"""Weak choices named (issue 13, hole 12; decision 0147): `auth show` marks them, and the engine's log and
`engine status` carry the MS-CHAP v2-over-PPTP note exactly while PPTP is enabled."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from rrasctl.config.model import validate
from rrasctl.engine.run import apply_config, apply_notes, build_context
from rrasctl.paths import resolve
from rrasctl.router import notes


def test_weak_choices_in_the_order_allowed():
    assert notes.weak_choices(["pap", "chap", "ms-chap", "ms-chap-v2", "eap-tls"],
                              ["none", "basic", "strong", "strongest"]) == [
        "pap", "chap", "ms-chap", "none", "basic", "strong"]
    assert notes.weak_choices(["ms-chap-v2", "eap-tls"], ["strongest"]) == []
    assert "DES" in notes.why_weak("basic") and "DES" in notes.why_weak("strong") and notes.why_weak("x") is None


def test_the_pptp_note_follows_the_pptp_pool():
    assert notes.pptp_notes(validate({})) == [notes.PPTP_NOTE]                 # 5 ports by default
    assert notes.pptp_notes(validate({"ports": {"pptp": {"count": 0}}})) == []
    assert "cracked offline" in notes.PPTP_NOTE and "single DES key search" in notes.PPTP_NOTE
    assert "L2TP/IPsec or EAP-TLS" in notes.PPTP_NOTE


@pytest.fixture
def ctx(_isolated_env):
    loop = asyncio.new_event_loop()
    c = build_context(loop, resolve(), validate({"ports": {"pptp": {"count": 0}}}))
    yield c
    loop.close()


def test_notes_appear_once_and_disappear_when_pptp_is_off(ctx, caplog):
    ctx.notes.append("plain L2TP only: IPsec is not available yet")          # a driver's own note stays
    with caplog.at_level(logging.WARNING, logger="rrasctl.engine"):
        apply_notes(ctx, ctx.config)
        assert ctx.notes == ["plain L2TP only: IPsec is not available yet"]
        apply_config(ctx, validate({}))                                     # reload: PPTP on
        apply_config(ctx, validate({"server": {"edition": "web"}}))         # again: not repeated
    assert ctx.notes == ["plain L2TP only: IPsec is not available yet", notes.PPTP_NOTE]
    assert [r.getMessage() for r in caplog.records].count(notes.PPTP_NOTE) == 1
    apply_config(ctx, validate({"ports": {"pptp": {"count": 0}}}))
    assert ctx.notes == ["plain L2TP only: IPsec is not available yet"]


def test_engine_status_shows_the_note(ctx):
    from rrasctl.engine.ops import Ops

    apply_config(ctx, validate({}))
    ops = Ops(ctx, reload=None, listeners={}, started=0.0)
    status = ctx.loop.run_until_complete(ops.status({}, None))
    assert notes.PPTP_NOTE in status["notes"]


def test_a_missing_key_is_a_note_at_start(ctx, caplog):
    from rrasctl.config import secrets

    paths = resolve()
    sealed = secrets.seal_secret(paths.key, "pw-1")
    cfg = validate({"ports": {"pptp": {"count": 0}}, "users": {"alice": {"password": sealed}}})
    apply_notes(ctx, cfg)
    assert ctx.notes == []
    paths.key.unlink()
    with caplog.at_level(logging.WARNING, logger="rrasctl.engine"):
        apply_notes(ctx, cfg)
    (note,) = ctx.notes
    assert note.startswith("sealed secrets cannot be opened: 1 sealed secret(s) cannot be opened: the secrets key")
    assert "logins that need them will be refused" in note and note in caplog.text


def test_auth_show_marks_the_weak_choices(rr):
    assert rr("auth", "set", "--methods", "pap,ms-chap-v2", "--encryption", "none,strongest").exit_code == 0
    table = rr("auth", "show").stdout.splitlines()
    rows = {line.split(None, 1)[0]: line.split(None, 1)[1] for line in table if line.strip()}
    assert rows["methods"] == "pap (weak), ms-chap-v2"
    assert rows["encryption"] == "none (weak), strongest"
    (weak,) = [line for line in table if line.startswith("weak")]
    assert weak.split(None, 1)[1] == "pap: PAP sends the password in clear; none: no encryption at all"
    data = json.loads(rr("auth", "show", "-o", "json").stdout)
    assert data["weak"] == ["pap", "none"] and data["methods"] == ["pap", "ms-chap-v2"]
    assert rr("auth", "set", "--methods", "ms-chap-v2", "--encryption", "strongest").exit_code == 0
    assert json.loads(rr("auth", "show", "-o", "json").stdout)["weak"] == []
    assert [x for x in rr("auth", "show").stdout.splitlines() if x.startswith("weak")] == ["weak                   -"]

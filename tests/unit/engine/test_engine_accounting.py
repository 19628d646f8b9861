"""Accounting across restarts and crashes (issue 13, hole 8; issue 12's `--accounting none`; decision 0144)."""

from __future__ import annotations

import json
import os
import re

from rrasctl.engine.accounting import NAS_REBOOT, Accounting
from rrasctl.engine.sessions import Session


def _session(i: int, user: str = "alice") -> Session:
    s = Session("pptp", i, f"198.51.100.{i}", user=user, ip=f"10.87.0.{10 + i}")
    s.id = i + 1           # small ids restart at 1 in every engine, like connections list
    return s


def _records(d) -> list[dict]:
    p = d / "accounting.jsonl"
    return [json.loads(x) for x in p.read_text().splitlines()] if p.exists() else []


def _every_start_has_one_stop(recs: list[dict]) -> None:
    starts = [r["session_id"] for r in recs if r["event"] == "start"]
    stops = [r["session_id"] for r in recs if r["event"] == "stop"]
    assert sorted(starts) == sorted(stops) and len(set(starts)) == len(starts), recs


def test_session_ids_are_unique_across_restarts(tmp_path):
    first, second = Accounting(tmp_path), Accounting(tmp_path)
    assert re.fullmatch(r"[0-9a-f]{12}", first.instance) and first.instance != second.instance
    a, b = _session(0), _session(0)          # the same small id in both runs
    assert first.start(a)["session_id"] == f"{first.instance}-1"
    assert second.start(b)["session_id"] == f"{second.instance}-1"
    first.stop(a, "peer hung up")
    second.stop(b, "peer hung up")
    recs = _records(tmp_path)
    assert [r["id"] for r in recs] == [1, 1, 1, 1] and len({r["session_id"] for r in recs}) == 2
    _every_start_has_one_stop(recs)


def test_a_crash_leaves_starts_the_next_engine_closes_with_nas_reboot(tmp_path):
    crashed = Accounting(tmp_path)
    sessions = [_session(i) for i in range(3)]
    for s in sessions:
        crashed.start(s)
    sessions[1].bytes_in = 500
    crashed.stop(sessions[1], "peer hung up")
    started = {r["session_id"]: r for r in _records(tmp_path) if r["event"] == "start"}
    del crashed                                          # SIGKILL: no stops for the two others
    t0 = json.loads((tmp_path / "accounting.open.jsonl").read_text().splitlines()[0])["t"]
    restarted = Accounting(tmp_path)
    stops = restarted.close_orphans(now=t0 + 125.7)
    instance = next(iter(started))[:12]
    assert [s["session_id"] for s in stops] == [f"{instance}-1", f"{instance}-3"]
    for s in stops:
        start = started[s["session_id"]]
        assert s["event"] == "stop" and s["cause"] == NAS_REBOOT and s["approximate"] is True
        assert s["duration_s"] == 125 and s["bytes_in"] is None and s["packets_out"] is None
        assert {k: s[k] for k in ("id", "user", "peer", "port", "protocol", "ip")} == \
               {k: start[k] for k in ("id", "user", "peer", "port", "protocol", "ip")}
    recs = _records(tmp_path)
    _every_start_has_one_stop(recs)
    assert [r["cause"] for r in recs if r["event"] == "stop"] == ["peer hung up", NAS_REBOOT, NAS_REBOOT]
    assert not (tmp_path / "accounting.open.jsonl").exists()
    assert restarted.close_orphans() == []               # once only


def test_a_journal_line_cut_by_the_crash_is_skipped(tmp_path):
    acc = Accounting(tmp_path)
    acc.start(_session(0))
    with open(tmp_path / "accounting.open.jsonl", "a") as f:
        f.write('{"start": {"session_id": "cut')
    stops = Accounting(tmp_path).close_orphans()
    assert len(stops) == 1
    _every_start_has_one_stop(_records(tmp_path))


def test_the_journal_is_compacted_to_the_open_sessions(tmp_path):
    acc = Accounting(tmp_path)
    keep = _session(0)
    acc.start(keep)
    for i in range(1, 200):
        s = _session(i)
        acc.start(s)
        acc.stop(s, "peer hung up")
    lines = (tmp_path / "accounting.open.jsonl").read_text().splitlines()
    assert len(lines) <= 2 + 64 + 2
    assert (keep.id, acc.session_id(keep)) == (1, f"{acc.instance}-1")
    (stop,) = Accounting(tmp_path).close_orphans()
    assert stop["session_id"] == f"{acc.instance}-1"


def test_accounting_none_writes_no_accounting_but_keeps_refusals(tmp_path):
    acc = Accounting(tmp_path, enabled=False)
    s = _session(0)
    acc.start(s)
    acc.stop(s, "peer hung up")
    acc.refusal(peer="198.51.100.9", protocol="pptp", cause="wrong password", reason="authentication failed",
                wire="PPP CHAP Failure", windows_error=691)
    assert sorted(os.listdir(tmp_path)) == ["refusals.jsonl"]
    assert [r["windows_error"] for r in acc.refusal_rows()] == [691]
    assert acc.session_id(s) is None


def test_a_session_started_with_accounting_on_gets_its_stop_after_it_is_switched_off(tmp_path):
    acc = Accounting(tmp_path)
    s = _session(0)
    acc.start(s)
    acc.enabled = False                                  # auth set --accounting none + reload
    later = _session(1)
    acc.start(later)
    acc.stop(s, "peer hung up")
    acc.stop(later, "peer hung up")
    recs = _records(tmp_path)
    assert [(r["event"], r["id"]) for r in recs] == [("start", 1), ("stop", 1)]
    assert Accounting(tmp_path).close_orphans() == []


def test_the_engine_context_follows_auth_accounting(tmp_path):
    import asyncio

    from rrasctl.config.model import validate
    from rrasctl.engine.run import apply_config, build_context
    from rrasctl.paths import Paths

    paths = Paths(config=tmp_path / "c.toml", key=tmp_path / "k", state_dir=tmp_path, socket=tmp_path / "s")
    loop = asyncio.new_event_loop()
    try:
        ctx = build_context(loop, paths, validate({}))
        assert ctx.accounting.enabled is False            # the default is none (SPEC §4 lists none first)
        apply_config(ctx, validate({"auth": {"accounting": "local"}}))
        assert ctx.accounting.enabled is True
        ctx2 = build_context(loop, paths, validate({"auth": {"accounting": "local"}}))
        assert ctx2.accounting.enabled is True
    finally:
        loop.close()

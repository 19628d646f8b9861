"""router/causes.py: every cause has exactly one Windows error and a text; every Windows error is defined once and
used; the answering side's refusal causes and the dialling side's view of them agree (issue #10, acceptance 2)."""

from __future__ import annotations

import re
from pathlib import Path

from rrasctl.protocols.causes import Cause
from rrasctl.router.causes import TABLE, WindowsError, cause_for_error, explain, unreachability, windows_error

SRC = Path(__file__).resolve().parents[3] / "src" / "rrasctl"


def test_every_cause_has_one_windows_error_and_a_text():
    assert set(TABLE) == set(Cause)
    for cause in Cause:
        err, text = TABLE[cause]
        assert isinstance(err, WindowsError) and text and not text.endswith(".")
        info = explain(cause)
        assert info.windows_error is err and str(info) == f"{text} (error {int(err)})"
        assert windows_error(cause) is err


def test_every_windows_error_is_defined_once_and_used():
    numbers = [int(e) for e in WindowsError]
    assert len(numbers) == len(set(numbers))
    assert {err for err, _ in TABLE.values()} == set(WindowsError)
    for e in WindowsError:
        assert e.text.endswith(".")


def test_no_windows_error_number_is_written_out_in_the_engine_or_the_router():
    """Each number lives in WindowsError (router/causes.py); engine/ and router/ ask the table. (The PPP auth cores
    keep the MS-CHAP E= codes of their wire format, RFC 2759 §6.)"""
    import ast

    offenders = []
    for path in [*(SRC / "engine").glob("*.py"), *(SRC / "router").glob("*.py")]:
        if path.name == "causes.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and type(node.value) is int and (
                    600 <= node.value <= 877 or 917 <= node.value <= 924):
                offenders.append(f"{path.name}:{node.lineno}: {node.value}")
    assert offenders == []


def test_explain_appends_a_detail_once():
    assert str(explain(Cause.AUTH_FAILED, "wrong user name or password")) == (
        "the user name or password is not valid: wrong user name or password (error 691)")
    assert str(explain(Cause.AUTH_FAILED, "the user name or password is not valid")) == (
        "the user name or password is not valid (error 691)")


def test_what_the_dialling_side_concludes_from_the_error_the_answering_side_sent():
    refusals = (Cause.AUTH_FAILED, Cause.DIAL_IN_DENIED, Cause.POLICY_DENIED, Cause.PORT_USE_NOT_ALLOWED,
                Cause.ACCOUNT_LOCKED, Cause.METHOD_NOT_ALLOWED, Cause.ENCRYPTION_MISMATCH, Cause.SECRET_UNAVAILABLE,
                Cause.NO_FREE_PORT, Cause.EDITION_CAP, Cause.PROTOCOL_DISABLED, Cause.SETUP_LIMIT)
    for cause in refusals:                       # the same number on both sides, whatever the client names it
        assert windows_error(cause_for_error(int(windows_error(cause)))) is windows_error(cause)
    assert cause_for_error(691) is Cause.AUTH_FAILED and cause_for_error(649) is Cause.DIAL_IN_DENIED
    assert cause_for_error(0) is Cause.AUTH_FAILED and cause_for_error(12345) is Cause.AUTH_FAILED


def test_unreachability_reasons():
    assert unreachability(Cause.NO_LOCAL_PORT) == "OUT_OF_RESOURCES"
    assert unreachability(Cause.AUTH_FAILED) == "AUTHENTICATION_FAILURE"
    assert unreachability(Cause.NO_ANSWER) == "CONNECTION_FAILURE"


def test_no_reason_text_is_searched_anywhere():
    """Causes are typed: nothing in the engine looks for words inside a reason to decide what happened."""
    pattern = re.compile(r'"[a-z ()0-9=]+" in (reason|cause|detail|ev\.reason|exc\.reason)\b')
    offenders = [f"{p.relative_to(SRC)}" for p in [*SRC.glob("engine/*.py"), *SRC.glob("router/*.py"),
                                                    *SRC.glob("protocols/**/*.py")] if pattern.search(p.read_text())]
    assert offenders == []

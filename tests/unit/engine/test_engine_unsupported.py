"""Decision 0121: settings the engine cannot honour yet (RADIUS authentication and accounting, EAP-TLS alone) make
`engine run` refuse to start and `engine reload` refuse the file, naming the setting and what to do; `auth set`
and `config check` warn."""

from __future__ import annotations

import asyncio
import json

import pytest

from rrasctl.config.model import Auth, Config, RadiusServer
from rrasctl.config.supported import Unsupported, check, unsupported
from rrasctl.engine import run
from rrasctl.errors import ValidationError
from rrasctl.paths import resolve

RADIUS = '[auth]\nprovider = "radius"\nradius_servers = ["192.0.2.5"]\naccounting = "radius"\n'
START = ("the engine cannot start with this configuration: auth.provider is radius, but RADIUS authentication is "
         "not available in this engine yet: it would check every caller against the local users instead; "
         "auth.accounting is radius, but RADIUS accounting is not available in this engine yet: nothing would reach "
         "the RADIUS server")


def test_the_list_names_each_setting_and_its_fix():
    assert unsupported(Config()) == []
    cfg = Config(auth=Auth(provider="radius", radius_servers=(RadiusServer("192.0.2.5"),), accounting="radius",
                           methods=("eap-tls",)))
    assert [(u.key, u.value, u.fix) for u in unsupported(cfg)] == [
        ("auth.provider", "radius", "rrasctl auth set --provider local"),
        ("auth.accounting", "radius", "rrasctl auth set --accounting local"),
        ("auth.methods", "eap-tls", "rrasctl auth set --methods ms-chap-v2")]
    assert unsupported(Config(auth=Auth(methods=("eap-tls", "ms-chap-v2")))) == []   # one method still works
    assert all(isinstance(u, Unsupported) for u in unsupported(cfg))


def test_engine_run_refuses_to_start_with_exit_2(monkeypatch, capsys):
    paths = resolve()
    paths.config.parent.mkdir(parents=True, exist_ok=True)
    paths.config.write_text(RADIUS)
    monkeypatch.setattr(run, "missing_capabilities", lambda: [])
    monkeypatch.setattr(asyncio, "run", lambda *a, **k: pytest.fail("the engine started"))
    assert run.main(paths, "info") == 2
    err = capsys.readouterr().err
    assert f"cannot start: {START}\n" in err
    assert "hint: rrasctl auth set --provider local; rrasctl auth set --accounting local\n" in err


def test_engine_reload_refuses_and_keeps_the_running_configuration():
    paths = resolve()
    paths.config.parent.mkdir(parents=True, exist_ok=True)
    paths.config.write_text('[server]\nedition = "web"\n')

    async def main():
        ctx = run.build_context(asyncio.get_running_loop(), paths, run.load_config(paths.config))
        reload = run.make_reload(ctx, paths)
        paths.config.write_text('[server]\nedition = "enterprise"\n' + RADIUS)
        with pytest.raises(ValidationError) as ei:
            await reload()
        ctx.timers.close()
        return ctx.config.server.edition, ei.value

    edition, exc = asyncio.run(main())
    assert edition == "web"
    assert exc.message == "the configuration was not reloaded: " + START.replace("cannot start", "cannot reload")
    assert exc.hint == "rrasctl auth set --provider local; rrasctl auth set --accounting local"
    with pytest.raises(ValidationError):
        check(Config(auth=Auth(methods=("eap-tls",))))


def test_auth_set_and_config_check_warn(rr_cli):
    rr = rr_cli
    r = rr("auth", "set", "--provider", "radius", "--radius-server", "192.0.2.5")
    assert r.exit_code == 0
    assert r.stderr == (
        "authentication settings saved\n"
        "warning: auth.provider is radius, but RADIUS authentication is not available in this engine yet: it would "
        "check every caller against the local users instead; `rrasctl engine run` and `engine reload` refuse this "
        "configuration until it changes (rrasctl auth set --provider local)\n")
    r = rr("auth", "set", "--lockout-max", "3")                    # not this command's doing: no warning
    assert r.stderr == "authentication settings saved\n"
    r = rr("config", "check")
    assert r.exit_code == 0 and r.stderr.splitlines()[1].startswith("warning: auth.provider is radius")
    assert json.loads(rr("auth", "show", "-o", "json").stdout)["provider"] == "radius"   # stored as asked


@pytest.fixture
def rr_cli():
    from click.testing import CliRunner

    from rrasctl.cli import cli

    runner = CliRunner()
    return lambda *args, input=None: runner.invoke(cli, list(args), input=input, catch_exceptions=False)

"""Man pages from the Click tree: man/rrasctl.1 and one page per command group (rrasctl-ports.1 …).

Run through tools/gen_docs.py. Deterministic (no dates), so a test can regenerate and compare."""

from __future__ import annotations

import click

from rrasctl import __version__
from rrasctl.cli import SHORT_HELP, cli

EXIT_STATUS = [("0", "success"), ("1", "runtime failure"), ("2", "usage or validation error"),
               ("3", "not found"), ("4", "limit or conflict (port cap, edition cap, name exists, in use)"),
               ("5", "engine not running or unreachable")]
ENVIRONMENT = [
    ("RRASCTL_CONFIG", "the config file when --config is not given"),
    ("RRASCTL_STATE_DIR", "the state directory (default: /var/lib/rrasctl for root, else the user state dir)"),
    ("RRASCTL_SOCKET", "the engine's control socket (default: <state dir>/control.sock)"),
    ("RRASCTL_OUTPUT", "table or json: the default of -o/--output"),
    ("RRASCTL_DEBUG", "1 shows the traceback of an unexpected failure"),
    ("NO_COLOR", "no colour in tables"),
]


def esc(text: str) -> str:
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + line) if line.startswith((".", "'")) else line for line in text.split("\n"))


def walk(cmd: click.Command, ctx: click.Context, path: tuple[str, ...]):
    yield path, cmd, ctx
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is not None:
                yield from walk(sub, click.Context(sub, parent=ctx, info_name=name), (*path, name))


def help_roff(text: str) -> str:
    """Click help text (paragraphs; a \\b paragraph is kept as is) to roff."""
    out = []
    for para in (text or "").strip().split("\n\n"):
        lines = para.split("\n")
        if lines and lines[0].strip() == "\b":
            out.append(".PP\n.nf\n" + esc("\n".join(x[4:] if x.startswith("    ") else x for x in lines[1:]))
                       + "\n.fi")
        else:
            out.append(".PP\n" + esc(" ".join(x.strip() for x in lines)))
    return "\n".join(out)


def usage(ctx: click.Context, cmd: click.Command) -> str:
    return " ".join(ctx.command_path.split()[:1] + ctx.command_path.split()[1:] + cmd.collect_usage_pieces(ctx))


def options_roff(cmd: click.Command, ctx: click.Context) -> str:
    out = []
    for p in cmd.get_params(ctx):
        if not isinstance(p, click.Option) or p.hidden:
            continue
        rec = p.get_help_record(ctx)
        if rec is None:
            continue
        out.append(f".TP\n\\fB{esc(rec[0])}\\fR\n{esc(rec[1])}")
    return "\n".join(out)


def command_section(path: tuple[str, ...], cmd: click.Command, ctx: click.Context) -> str:
    return "\n".join([f'.SS "{esc(usage(ctx, cmd))}"', help_roff(cmd.help or ""), options_roff(cmd, ctx)]).rstrip()


def header(name: str, summary: str) -> str:
    return (f'.TH {name.upper()} 1 "" "rrasctl {__version__}" "rrasctl manual"\n'
            f".SH NAME\n{esc(name)} \\- {esc(summary)}\n")


def common_tail(see_also: list[str]) -> str:
    out = [".SH EXIT STATUS"]
    out += [f".TP\n\\fB{c}\\fR\n{esc(t)}" for c, t in EXIT_STATUS]
    out.append(".SH ENVIRONMENT")
    out += [f".TP\n\\fB{esc(n)}\\fR\n{esc(t)}" for n, t in ENVIRONMENT]
    out.append(".SH SEE ALSO\n" + ",\n".join(f"\\fB{esc(s)}\\fR(1)" for s in see_also))
    return "\n".join(out) + "\n"


def render_all() -> dict[str, str]:
    root = click.Context(cli, info_name="rrasctl", **cli.context_settings)
    groups = [n for n in cli.list_commands(root)]
    pages: dict[str, str] = {}
    see = [f"rrasctl-{g}" for g in groups]
    main = [header("rrasctl", "a Windows-RRAS-style VPN router for Linux"), ".SH SYNOPSIS",
            "\\fBrrasctl\\fR [\\fB\\-\\-config\\fR \\fIPATH\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]...",
            ".SH DESCRIPTION", help_roff(cli.help or ""), ".SH OPTIONS", options_roff(cli, root),
            ".SH COMMANDS"]
    for g in groups:
        main.append(f".TP\n\\fBrrasctl {esc(g)}\\fR\n{esc(SHORT_HELP.get(g, ''))} See \\fBrrasctl\\-{esc(g)}\\fR(1).")
    pages["rrasctl.1"] = "\n".join(main) + "\n" + common_tail(see)
    for g in groups:
        cmd = cli.get_command(root, g)
        if cmd is None:
            continue
        gctx = click.Context(cmd, parent=root, info_name=g)
        body = [header(f"rrasctl-{g}", SHORT_HELP.get(g, "")), ".SH SYNOPSIS", f".B {esc(usage(gctx, cmd))}",
                ".SH DESCRIPTION", help_roff(cmd.help or "")]
        json_notes = []
        if isinstance(cmd, click.Group):
            body.append(".SH COMMANDS")
            for path, sub, sctx in walk(cmd, gctx, (g,)):
                if sub is cmd or isinstance(sub, click.Group) and not sub.params:
                    if sub is not cmd:
                        body.append(f'.SS "{esc(" ".join(("rrasctl",) + path))}"\n' + help_roff(sub.help or ""))
                    continue
                body.append(command_section(path, sub, sctx))
                note = _json_note(sub.help or "")
                if note:
                    json_notes.append((" ".join(path), note))
        else:
            body.append(".SH OPTIONS")
            body.append(options_roff(cmd, gctx))
        if json_notes:
            body.append(".SH JSON OUTPUT")
            body.append(".PP\nWith \\fB\\-o json\\fR (or RRASCTL_OUTPUT=json) a command prints one JSON document on "
                        "stdout; keys are snake_case.")
            for name, note in json_notes:
                body.append(f".TP\n\\fBrrasctl {esc(name)}\\fR\n{esc(note)}")
        pages[f"rrasctl-{g}.1"] = "\n".join(x for x in body if x) + "\n" + common_tail(["rrasctl"])
    return pages


def _json_note(help_text: str) -> str | None:
    for para in help_text.split("\n\n"):
        p = " ".join(x.strip() for x in para.strip().split("\n"))
        if p.startswith("JSON:"):
            return p[len("JSON:"):].strip()
    return None

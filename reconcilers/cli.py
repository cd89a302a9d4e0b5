"""The `simon-visma` command (DESIGN.md section 4).

    simon-visma run --tenant FILE --secrets FILE [--loop L]... [--once] [--database URL] [--json]
    simon-visma log --tenant NAME [--severity info|warning|error] [--database URL] [--json]
    simon-visma emulate [--host H] [--port P] [--size N] [--seed S]
    simon-visma demo [--size N] [--output DIR]

`emulate` and `demo` are development commands: the emulators package of a source checkout
(`make setup`) adds them through the entry-point group `simon_visma.commands`. Where it is not
installed (the operator image), they answer that in one line, exit 2.

Exit codes of `run`: 0 when every loop completed (problems with single records are log
entries) or did not run because another process (the operator, another `run`) was running
that pass of the tenant on the same database (the summary says so), 1 when a loop could not
complete (API unreachable, settings invalid), 2 for a bad command line, tenant or secrets
file.

Whatever goes wrong, the command ends with one line on stderr (`simon-visma: ...`) and never
a traceback: 2 for what the user has to fix (the command line, a file, the database URL), 1
for what could not be done (a database that cannot be reached). Text that came from outside
(files, the APIs, the log) is shown with escape and control characters made visible, so it
cannot clear or retitle the terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any, NoReturn, TextIO

from reconcilers.logview.terminal import MESSAGE_LIMIT, cell, print_log, whole_number
from reconcilers.resource.credentials import CredentialsError, load_secrets_file, resolve
from reconcilers.resource.spec import TenantSpecError
from reconcilers.resource.tenant import Tenant, load_tenant
from reconcilers.runtime.runner import LOOPS, AnyLoop, LoopOutcome, TenantRun, build_clients
from reconcilers.runtime.schedule import run_on_schedule
from reconcilers.store import (
    DatabaseUnavailableError,
    DatabaseUrlError,
    Severity,
    default_database_url,
    open_store,
)
from reconcilers.store.records import utc_now
from reconcilers.text import for_terminal

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

LIMIT_MAX = 1_000_000
"""The most log entries `log --limit` asks for."""
COMMANDS_GROUP = "simon_visma.commands"
"""Entry points that add subcommands: each is named after its command and loads a function
that takes the subparsers (`add_parser`) and adds its parser with a `handler` default."""
DEVELOPMENT_COMMANDS = ("emulate", "demo")
"""The subcommands the emulators package adds from a source checkout."""

log = logging.getLogger(__name__)


class UsageError(Exception):
    """A bad command line, tenant or secrets file: one line for the user, exit 2."""


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):  # a terminal that cannot show a character
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.handler(args)
    except UsageError as error:
        return _fail(EXIT_USAGE, str(error))
    except DatabaseUnavailableError as error:
        return _fail(EXIT_FAILED, str(error))
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:
        # The reader went away (`simon-visma log | head`): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as error:  # the last resort: one line, the details with --verbose
        log.info("unexpected error", exc_info=True)
        return _fail(EXIT_FAILED, f"unexpected error ({type(error).__name__}: {error}); "
                                  "run again with --verbose for details and please report it")


def _fail(code: int, message: str) -> int:
    """Print one line for the user (escapes and line breaks made visible)."""
    print(f"simon-visma: {for_terminal(message)}", file=sys.stderr)
    return code


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error: `simon-visma: <problem> (see ... --help)`, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"simon-visma: {for_terminal(message)} "
                              f"(see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="simon-visma",
        description="Simple-Simon <-> Visma.net integration: standalone runs, the integration "
                    "log and the API emulators.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the integration for one tenant")
    run.add_argument("--tenant", required=True, metavar="FILE",
                     help="a VismaIntegration manifest, as `kubectl apply` takes it")
    run.add_argument("--secrets", required=True, metavar="FILE",
                     help="the tenant's two Secrets as `kind: Secret` manifests")
    keys = [loop.key for loop in LOOPS]
    run.add_argument("--loop", action="append", type=str.lower, choices=[*keys, "all"],
                     metavar="LOOP", help=f"{', '.join(keys)} or all (default; repeatable)")
    run.add_argument("--once", action="store_true",
                     help="run each loop once, now, whatever its schedule, then exit")
    run.add_argument("--database", metavar="URL",
                     help="state database (default $SIMON_VISMA_DATABASE_URL, else "
                          "sqlite:///simon-visma.db)")
    run.add_argument("--json", action="store_true", help="print one JSON summary per run")
    run.add_argument("--verbose", "-v", action="store_true", help="log progress to stderr")
    run.set_defaults(handler=cmd_run)

    show = commands.add_parser("log", help="show a tenant's integration log")
    show.add_argument("--tenant", required=True, metavar="NAME",
                      help="namespace/name, or the name alone when it is unique")
    show.add_argument("--severity", choices=[s.value for s in Severity], default="info",
                      help="show entries of at least this severity")
    show.add_argument("--limit", type=whole_number(1, LIMIT_MAX), default=50,
                      help="newest entries to show")
    show.add_argument("--all", action="store_true",
                      help="also show entries that cleared themselves once the record was fixed")
    show.add_argument("--database", metavar="URL")
    show.add_argument("--json", action="store_true", help="one JSON object per line")
    show.set_defaults(handler=cmd_log)

    found = {command.name: command for command in entry_points(group=COMMANDS_GROUP)}
    for name in [*DEVELOPMENT_COMMANDS, *sorted(found.keys() - set(DEVELOPMENT_COMMANDS))]:
        if name in found:
            found[name].load()(commands)
        else:
            _not_installed(commands, name)
    return parser


def _not_installed(commands: argparse._SubParsersAction, name: str) -> None:
    """`name`, a development command this installation lacks: whatever its arguments, it says
    so in one line (exit 2)."""
    def handler(args: argparse.Namespace) -> int:
        raise UsageError(f"{name} is a development command, not installed here (a source "
                         "checkout's `make setup` installs it with the emulators)")

    # No help: the command is left out of `--help`. No option prefix: any words are taken.
    missing = commands.add_parser(name, add_help=False, prefix_chars="\0")
    missing.add_argument("arguments", nargs=argparse.REMAINDER)
    missing.set_defaults(handler=handler)


# --- run -----------------------------------------------------------------------------------

def _chosen_loops(requested: list[str] | None) -> list[AnyLoop]:
    """The loops to run (named in lower case), in their natural order (all by default)."""
    if not requested or "all" in requested:
        return list(LOOPS)
    return [loop for loop in LOOPS if loop.key in requested]


def _load(args: argparse.Namespace) -> tuple[Tenant, Any, Any]:
    try:
        tenant = load_tenant(args.tenant)
    except TenantSpecError as error:
        raise UsageError(str(error)) from error
    except OSError as error:
        raise UsageError(f"{args.tenant}: {error.strerror}") from error
    try:
        visma, simon = resolve(tenant, load_secrets_file(args.secrets))
    except CredentialsError as error:
        raise UsageError(str(error)) from error
    except OSError as error:
        raise UsageError(f"{args.secrets}: {error.strerror}") from error
    return tenant, visma, simon


def cmd_run(args: argparse.Namespace) -> int:
    loops = _chosen_loops(args.loop)
    tenant, visma, simon = _load(args)
    url = args.database or default_database_url()
    return asyncio.run(_run(tenant, visma, simon, url, loops, args))


async def _run(tenant: Tenant, visma_credentials: Any, simon_credentials: Any, url: str,
               loops: list[AnyLoop], args: argparse.Namespace) -> int:
    try:
        store = await open_store(url)
    except DatabaseUrlError as error:
        raise UsageError(str(error)) from error
    visma, simon = build_clients(tenant, visma_credentials, simon_credentials)
    run = TenantRun(tenant, visma, simon, store.tenant(tenant.key))
    outcomes: dict[str, LoopOutcome] = {}
    """The latest pass of each loop, by loop key: the summary's `loops`."""
    summary: dict[str, Any] = {"tenant": tenant.key, "enabled": tenant.spec.enabled,
                               "loops": outcomes}
    try:
        activation = await run.activate()
        summary["activation"] = {"event": activation.event.value, "wiped": activation.wiped}
        if activation.wipe_skipped:
            summary["activation"]["wipeSkipped"] = activation.wipe_skipped
        summary["settings"] = {"valid": activation.settings.valid,
                               "problems": activation.settings.problems}
        if not tenant.spec.enabled:
            summary["message"] = "The tenant is disabled (spec.enabled: false): nothing to do."
            code = EXIT_OK
        elif not activation.settings.company_reachable:
            code = EXIT_FAILED
        elif args.once:
            code = EXIT_OK
            for loop in loops:
                outcome = outcomes[loop.key] = await run.run_loop(loop)
                if not outcome.ok:
                    code = EXIT_FAILED
            if not activation.settings.valid:
                code = EXIT_FAILED
        else:
            code = await _forever(run, loops, outcomes, args)
    finally:
        await run.close()
        await store.close()
    summary["exitCode"] = code
    _print_summary(summary, args.json)
    return code


async def _forever(run: TenantRun, loops: list[AnyLoop], outcomes: dict[str, LoopOutcome],
                   args: argparse.Namespace) -> int:
    """Each loop on its own schedule until interrupted (Ctrl-C or SIGTERM)."""
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)

    async def report(outcome: LoopOutcome) -> None:
        outcomes[outcome.loop.key] = outcome
        if not args.json:
            print(cell(f"{utc_now():%H:%M:%S} {outcome.loop.key}: {_verdict(outcome)}",
                    MESSAGE_LIMIT), flush=True)

    async def waiting(loop: AnyLoop, due: datetime) -> None:
        if not args.json:
            print(f"{utc_now():%H:%M:%S} {loop.key}: next pass at {due:%Y-%m-%d %H:%M:%S} UTC",
                  flush=True)

    await run_on_schedule(run, loops, stop, report, spread=False, on_wait=waiting)
    return EXIT_OK


def _print_summary(summary: dict[str, Any], as_json: bool, out: TextIO = sys.stdout) -> None:
    """The run's summary: `summary["loops"]` holds the latest outcome of each loop by key."""
    outcomes: dict[str, LoopOutcome] = summary["loops"]
    if as_json:
        shown = {**summary, "loops": {key: o.to_json() for key, o in outcomes.items()}}
        print(json.dumps(shown, default=str, ensure_ascii=True), file=out)
        return

    def say(line: str) -> None:  # problems and errors quote what the APIs sent
        print(cell(line, MESSAGE_LIMIT), file=out)

    say(f"tenant {summary['tenant']}")
    if "message" in summary:
        say(f"  {summary['message']}")
    activation = summary.get("activation", {})
    if activation.get("event") not in (None, "none"):
        say(f"  activation: {activation['event']}")
    if activation.get("wiped"):
        wiped = ", ".join(f"{n} {kind}" for kind, n in activation["wiped"].items())
        say(f"  activation wipe removed from Simon: {wiped}")
    if activation.get("wipeSkipped"):
        say(f"  activation wipe: {activation['wipeSkipped']}")
    settings = summary.get("settings", {})
    for problem in settings.get("problems", []):
        say(f"  settings: {problem}")
    for key, outcome in outcomes.items():
        say(f"  {key}: {_verdict(outcome)}")
        for line in outcome.result.lines() if outcome.result is not None else []:
            say(f"    {line}")


def _verdict(outcome: LoopOutcome) -> str:
    """A pass in a few words: ok, skipped (another process ran it) or FAILED and why."""
    if outcome.skipped:
        return outcome.skipped
    return "ok" if outcome.ok else f"FAILED: {outcome.error or None}"


# --- log -----------------------------------------------------------------------------------

def cmd_log(args: argparse.Namespace) -> int:
    return asyncio.run(_log(args))


async def _log(args: argparse.Namespace) -> int:
    try:
        store = await open_store(args.database or default_database_url())
    except DatabaseUrlError as error:
        raise UsageError(str(error)) from error
    try:
        key = await _tenant_key(store, args.tenant)
        entries = await store.tenant(key).log.entries(
            min_severity=args.severity, limit=args.limit, include_resolved=args.all)
    finally:
        await store.close()
    print_log(entries, as_json=args.json)
    return EXIT_OK


async def _tenant_key(store: Any, name: str) -> str:
    known = await store.tenants()
    if name in known:
        return name
    matches = [k for k in known if k.split("/", 1)[-1] == name]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        hint = f"; known: {', '.join(known)}" if known else "; the database has no tenants yet"
        raise UsageError(f"no tenant {name!r} in the database{hint}")
    raise UsageError(f"tenant name {name!r} is ambiguous; use one of {', '.join(matches)}")


if __name__ == "__main__":
    sys.exit(main())

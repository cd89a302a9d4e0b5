"""The kubectl plugin: a tenant's integration log through the Kubernetes API.

    kubectl simon-visma log [-n NAMESPACE] NAME [--severity info|warning|error] [--limit N]
                            [--all] [--json] [--kubeconfig FILE] [--context NAME]
                            [--operator-namespace NS] [--service NAME]

Installed as the console script ``kubectl-simon_visma``, which kubectl finds on PATH. It loads
the caller's kubeconfig, reads the VismaIntegration first (so the caller's RBAC on the
resource decides), then reads the log from the operator's log view through the API server's
service proxy, and prints it as ``simon-visma log`` does (same columns, ``--severity`` means
"at least", ``--json`` one object per line).

Exit codes as the CLI's: 0 when the log was shown, 1 when it could not be read (no access, no
such resource, the operator not reachable), 2 for a bad command line. Whatever goes wrong ends
in one line on stderr that says what to check, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn
from urllib.parse import quote, urlencode

import kubernetes
import urllib3

from reconcilers.logview.terminal import print_log, whole_number
from reconcilers.resource.spec import GROUP, PLURAL, VERSION
from reconcilers.store import Severity
from reconcilers.text import for_terminal

from .entries import DEFAULT_LIMIT, LIMIT_MAX, EntryFormatError, from_json
from .names import NAME, NAMESPACE

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PROG = "kubectl simon-visma"
DEFAULT_OPERATOR_NAMESPACE = "simon-visma"
DEFAULT_SERVICE = "simon-visma-log-view"
PORT_NAME = "http"
TIMEOUT = 30.0
"""Seconds to wait for one answer of the API server."""


class Failure(Exception):
    """What kept the log from being shown: one line for the user, exit 1."""


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error: `kubectl simon-visma: <problem> (see ... --help)`."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{PROG}: {for_terminal(message)} (see {self.prog} --help)\n")


def _matching(pattern: re.Pattern[str], what: str) -> Any:
    def parse(text: str) -> str:
        if not pattern.fullmatch(text):
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid {what}")
        return text
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Simon <-> Visma.net integration, through the "
                                            "Kubernetes API.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    show = commands.add_parser("log", help="show a tenant's integration log")
    show.add_argument("name", metavar="NAME", type=_matching(NAME, "resource name"),
                      help="the VismaIntegration")
    show.add_argument("-n", "--namespace", type=_matching(NAMESPACE, "namespace"),
                      help="its namespace (default: the kubeconfig context's namespace)")
    show.add_argument("--severity", choices=[s.value for s in Severity], default="info",
                      help="show entries of at least this severity")
    show.add_argument("--limit", type=whole_number(1, LIMIT_MAX), default=DEFAULT_LIMIT,
                      help="newest entries to show")
    show.add_argument("--all", action="store_true",
                      help="also show entries that cleared themselves once the record was fixed")
    show.add_argument("--json", action="store_true", help="one JSON object per line")
    show.add_argument("--kubeconfig", metavar="FILE",
                      help="the kubeconfig to use (default $KUBECONFIG, else ~/.kube/config)")
    show.add_argument("--context", help="the kubeconfig context to use")
    show.add_argument("--operator-namespace", default=DEFAULT_OPERATOR_NAMESPACE,
                      type=_matching(NAMESPACE, "namespace"),
                      help=f"where the operator runs (default {DEFAULT_OPERATOR_NAMESPACE})")
    show.add_argument("--service", default=DEFAULT_SERVICE,
                      type=_matching(NAMESPACE, "Service name"),
                      help=f"the operator's log view Service (default {DEFAULT_SERVICE})")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):  # a terminal that cannot show a character
            stream.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    try:
        return show_log(args)
    except Failure as error:
        print(f"{PROG}: {for_terminal(str(error))}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:
        # The reader went away (`kubectl simon-visma log acme | head`): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


def show_log(args: argparse.Namespace) -> int:
    client, namespace = connect(args.kubeconfig, args.context)
    namespace = args.namespace or namespace
    what = f"vismaintegration {args.name} in namespace {namespace}"
    status, body = get(client, f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/"
                               f"{args.name}")
    if status == 401:
        raise Failure(f"the API server at {client.configuration.host} did not accept your "
                      "credentials: log in again or check the kubeconfig's user")
    if status == 404:
        raise Failure(f"there is no {what}")
    if status == 403:
        raise Failure(f"you may not read {what}: ask for get on {PLURAL}.{GROUP} "
                      "(the chart's log-reader ClusterRole)")
    if status != 200:
        raise Failure(f"the API server refused to read {what}: {_status_message(body, status)}")

    service = f"{args.operator_namespace}/{args.service}"
    query = {"severity": args.severity, "limit": str(args.limit)}
    if args.all:
        query["all"] = "true"
    status, body = get(client, f"/api/v1/namespaces/{args.operator_namespace}/services/"
                               f"{args.service}:{PORT_NAME}/proxy/tenants/{namespace}/"
                               f"{args.name}/log", query)
    if status != 200:
        raise Failure(_proxy_problem(status, body, service, args.operator_namespace,
                                     lambda: _service_exists(client, args.operator_namespace,
                                                             args.service)))
    try:
        answer = json.loads(body)
        entries = [from_json(entry) for entry in answer["entries"]]
    except (ValueError, TypeError, KeyError, EntryFormatError) as error:
        raise Failure(f"the log view Service {service} did not answer with log entries "
                      f"({error}); is it the simon-visma operator's log view?") from None
    print_log(entries, as_json=args.json)
    return EXIT_OK


def connect(kubeconfig: str | None, context: str | None) -> tuple[Any, str]:
    """An API client for the kubeconfig's context, and that context's namespace."""
    config_file = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
    try:
        configuration = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(config_file=kubeconfig, context=context,
                                           client_configuration=configuration)
        contexts, active = kubernetes.config.list_kube_config_contexts(config_file=kubeconfig)
    except (kubernetes.config.ConfigException, OSError, ValueError) as error:
        raise Failure(f"cannot use the kubeconfig {config_file}: {error}") from None
    chosen = next((c for c in contexts if c.get("name") == context), None) if context else active
    namespace = ((chosen or {}).get("context") or {}).get("namespace") or "default"
    return kubernetes.client.ApiClient(configuration), namespace


def get(client: Any, path: str, query: dict[str, str] | None = None) -> tuple[int, bytes]:
    """GET `path` of the API server with the kubeconfig's credentials: (status, body)."""
    configuration = client.configuration
    headers = {"Accept": "application/json"}
    for auth in configuration.auth_settings().values():
        if auth["in"] == "header" and auth["value"]:
            headers[auth["key"]] = auth["value"]
    url = configuration.host + quote(path, safe="/:") + (f"?{urlencode(query)}" if query else "")
    try:
        response = client.rest_client.request("GET", url, headers=headers,
                                              _request_timeout=TIMEOUT)
        return response.status, response.read()
    except kubernetes.client.ApiException as error:  # TLS problems
        raise Failure(f"cannot talk to the API server at {configuration.host}: "
                      f"{_first_line(error.reason)}") from None
    except urllib3.exceptions.HTTPError as error:
        reason = getattr(error, "reason", None) or error
        raise Failure(f"cannot reach the API server at {configuration.host}: "
                      f"{_first_line(reason)}") from None


def _service_exists(client: Any, namespace: str, name: str) -> bool | None:
    """Whether the Service exists; None when the caller may not read Services."""
    status, _ = get(client, f"/api/v1/namespaces/{namespace}/services/{name}")
    return True if status == 200 else False if status == 404 else None


def _proxy_problem(status: int, body: bytes, service: str, operator_namespace: str,
                   service_exists: Callable[[], bool | None]) -> str:
    """What an answer other than 200 through the service proxy means, and what to check.

    The API server answers 503 "no endpoints available" both for a Service without ready
    endpoints and for one that does not exist: `service_exists` tells them apart where the
    caller may read Services."""
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    from_api_server = isinstance(answer, dict) and answer.get("kind") == "Status"
    if not from_api_server and isinstance(answer, dict) and "message" in answer:
        return str(answer["message"])  # the log view's own answer
    message = _status_message(body, status)
    if status == 403:
        return (f"you may not read the integration log through the Service {service}: ask "
                "for get on services/proxy of that Service (the chart's log-reader Role)")
    missing = ("check that the operator is installed there with its log view enabled "
               "(logView.enabled), or name another with --operator-namespace and --service")
    running = f"check that the operator is running (kubectl get pods -n {operator_namespace})"
    if status == 404 and from_api_server:
        return f"there is no log view Service {service}: {missing}"
    if status == 503 and "no endpoints available" in message:
        exists = service_exists()
        if exists is False:
            return f"there is no log view Service {service}: {missing}"
        if exists:
            return f"the log view Service {service} has no ready endpoint: {running}"
        return (f"the log view Service {service} is missing or has no ready endpoint: "
                f"{running}; {missing}")
    if status in (502, 503):
        return (f"the API server could not reach the operator behind the Service {service} "
                f"({message}): check that the operator is running and that the Service's "
                "target port is the operator's log view port (logView.port)")
    return f"the log view Service {service} answered {status}: {message}"


def _status_message(body: bytes, status: int) -> str:
    """The message of a Kubernetes Status answer (or the start of whatever came)."""
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if isinstance(answer, dict) and isinstance(answer.get("message"), str):
        return _first_line(answer["message"])
    text = body.decode(errors="replace").strip()
    return _first_line(text) if text else f"HTTP {status}"


def _first_line(value: object, limit: int = 300) -> str:
    lines = str(value).strip().splitlines() or [""]
    line = lines[0]
    return line if len(line) <= limit else f"{line[:limit]}..."


if __name__ == "__main__":
    sys.exit(main())

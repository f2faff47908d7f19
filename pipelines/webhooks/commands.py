"""`lune-pipeline webhooks serve` and `lune-pipeline webhooks register`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from pipelines.logs import register_secret

from . import WebhookConfigError, receiver_settings
from .app import FACTORY, LOG_FORMAT_ENV, LOG_LEVEL_ENV

log = logging.getLogger("lune.webhooks")

EXIT_OK = 0
EXIT_FAILED = 1


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Adds `webhooks serve` and `webhooks register` to the CLI."""
    webhooks = commands.add_parser(
        "webhooks", help="Lune webhooks: serve the receiver, register it with Lune"
    )
    actions = webhooks.add_subparsers(dest="webhooks_command", required=True)
    serve = actions.add_parser(
        "serve",
        help="receive signed deliveries at / and store them in the spool (uvicorn)",
        description="Serves the webhook receiver. Secret and spool come from "
        "SOURCES__LUNE__WEBHOOK_SECRET and SOURCES__LUNE__WEBHOOK_SPOOL.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to bind (8080)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes sharing the port (1); more use more cores (stop them as a group)",
    )
    serve.add_argument("--log-format", choices=("text", "json"), default="text")
    serve.add_argument("--log-level", default="INFO")
    register = actions.add_parser(
        "register",
        help="register an HTTPS endpoint with Lune (POST /v1/webhooks); prints its secret once",
    )
    register.add_argument("--url", required=True, help="the receiver's public https:// URL")
    register.add_argument(
        "--account",
        action="append",
        dest="accounts",
        metavar="ACCOUNT_ID",
        help="only this account's events (repeatable; default: every account)",
    )
    register.add_argument("--log-format", choices=("text", "json"), default="text")
    register.add_argument("--log-level", default="WARNING")


def cmd_webhooks(args: argparse.Namespace) -> int:
    if args.webhooks_command == "serve":
        return cmd_serve(args)
    return cmd_register(args)


def cmd_serve(args: argparse.Namespace) -> int:
    """Runs the receiver until SIGINT/SIGTERM (in-flight deliveries finish first)."""
    import uvicorn

    from sources.lune.webhooks.spool import Spool, SpoolError

    from .app import WebhookReceiver

    try:
        settings = receiver_settings()
        register_secret(settings.secret)
        spool = Spool(settings.spool)
        spool.prepare()
    except (WebhookConfigError, SpoolError) as e:
        print(f"lune-pipeline: {e}", file=sys.stderr)
        return EXIT_FAILED
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_config": None,  # our handler (with secret masking) formats uvicorn's lines too
        "access_log": False,  # a line per delivery at 500/s is noise; refusals are logged
        "lifespan": "on",
        "server_header": False,
        "timeout_graceful_shutdown": 10,
    }
    log.info(
        "receiving Lune webhooks at http://%s:%d/ into %s (tolerance %gs, max body %d bytes, "
        "%d worker(s))",
        args.host,
        args.port,
        spool.description,
        settings.tolerance_seconds,
        settings.max_body_bytes,
        max(1, args.workers),
    )
    if args.workers > 1:
        # uvicorn spawns the workers, each building the app from the same configuration
        os.environ[LOG_FORMAT_ENV] = args.log_format
        os.environ[LOG_LEVEL_ENV] = str(args.log_level)
        uvicorn.run(FACTORY, factory=True, workers=args.workers, **options)
        return EXIT_OK
    app = WebhookReceiver(
        settings.secret,
        spool,
        tolerance_seconds=settings.tolerance_seconds,
        max_body_bytes=settings.max_body_bytes,
    )
    server = uvicorn.Server(uvicorn.Config(app, **options))
    server.run()
    return EXIT_OK if server.started else EXIT_FAILED


def cmd_register(args: argparse.Namespace) -> int:
    """Registers the endpoint and prints its secret once, with how to store it."""
    import dlt

    from sources.lune.client import LuneClient
    from sources.lune.errors import LuneError
    from sources.lune.settings import DEFAULT_BASE_URL
    from sources.lune.webhooks.registration import register_webhook

    api_key = dlt.secrets.get("sources.lune.api_key")
    base_url = dlt.config.get("sources.lune.base_url") or DEFAULT_BASE_URL
    try:
        with LuneClient(str(api_key or ""), str(base_url)) as client:
            webhook = register_webhook(client, args.url, args.accounts)
    except LuneError as e:
        print(f"lune-pipeline: {e}", file=sys.stderr)
        return EXIT_FAILED
    accounts = ", ".join(webhook.get("account_ids") or []) or "every account"
    print(
        f"Registered webhook {webhook.get('id')} for {webhook.get('url')} "
        f"({webhook.get('account_type', '?')} events of {accounts}).\n"
        "Its signing secret, shown this once (Lune's API shows only its last 4 characters "
        "from now on):\n"
        f"\n    {webhook['secret']}\n\n"
        "Store it where the receiver reads it, never in the manifest or a repository:\n"
        "    SOURCES__LUNE__WEBHOOK_SECRET=<the secret>   (environment, or a secret manager)\n"
        '    or in .dlt/secrets.toml:  [sources.lune]  webhook_secret = "<the secret>"\n'
        "Then start the receiver with SOURCES__LUNE__WEBHOOK_SPOOL set "
        "(`lune-pipeline webhooks serve`), and set the same spool for `lune-pipeline run`."
    )
    return EXIT_OK

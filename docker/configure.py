"""Render the dialplan and build the prompt audio for the compose deployment.

    python docker/configure.py --rules routing_rules.yaml --dialplan-out DIR --prompts-out DIR \
        [--agi-host app] [--agi-port 4573] [--trunk NAME] [--no-prompts]

Runs once per `docker compose up` (service "configure") and writes into the volumes
Asterisk mounts at /etc/asterisk/hl12319 and /var/lib/asterisk/sounds/hl12319.
Exit status 1 with the rules problems on stderr when routing_rules.yaml is invalid.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", default=os.environ.get("HOTLINE_RULES_FILE", "routing_rules.yaml"))
    ap.add_argument("--dialplan-out", required=True)
    ap.add_argument("--prompts-out", required=True)
    ap.add_argument("--agi-host", default="app")
    ap.add_argument("--agi-port", type=int, default=4573)
    ap.add_argument("--trunk", default=os.environ.get("HOTLINE_DIALPLAN_TRUNK") or None,
                    help="dial every district over this endpoint instead of the rules' trunk")
    ap.add_argument("--prompts-dir", default="hl12319", help="sound path prefix as Asterisk sees it")
    ap.add_argument("--no-prompts", action="store_true", help="render the dialplan only")
    args = ap.parse_args(argv)

    from hotline.ivrconfig import build_prompts_from_rules_file, render_dialplan_from_rules_file
    from hotline.rules import RulesError
    from ivr.flow import FlowError
    from ivr.prompts import PromptError

    try:
        for path in render_dialplan_from_rules_file(args.rules, args.dialplan_out, agi_host=args.agi_host,
                                           agi_port=args.agi_port, trunk=args.trunk, prompts_dir=args.prompts_dir):
            print(f"dialplan: {path}")
        if not args.no_prompts:
            paths = build_prompts_from_rules_file(args.rules, args.prompts_out)
            print(f"prompts: {len(paths)} files in {args.prompts_out}")
    except (RulesError, FlowError, PromptError, ValueError) as exc:
        print(f"configure failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

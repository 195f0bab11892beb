"""``python -m kb``: import/export content, search and suggest from the command line (docs/interfaces.md)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .articles import ArticleError, load_directory
from .config import Settings
from .db import Database


def _db(settings: Settings) -> Database:
    settings.ensure_dirs()
    db = Database(settings.database_url)
    db.upgrade()
    return db


def cmd_import(args, settings: Settings) -> int:
    if args.check:
        loaded = load_directory(Path(args.path))
        for error in loaded.errors:
            print(f"error: {error}", file=sys.stderr)
        print(f"{len(loaded.articles)} valid, {len(loaded.errors)} invalid", file=sys.stderr)
        return 1 if loaded.errors else 0
    from .store import import_directory
    report = import_directory(_db(settings), Path(args.path), author=args.author)
    for error in report.errors:
        print(f"error: {error}", file=sys.stderr)
    print(f"import: {report.summary()}", file=sys.stderr)
    return 1 if report.errors and args.strict else 0


def cmd_import_faq(args, settings: Settings) -> int:
    from .faq import load_faq_file
    from .store import import_articles
    try:
        articles = load_faq_file(Path(args.path), prefix=args.prefix)
    except ArticleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    report = import_articles(_db(settings), articles, author=args.author, message=f"FAQ import from {args.path}")
    print(f"import-faq: {report.summary()}", file=sys.stderr)
    return 0


def cmd_export(args, settings: Settings) -> int:
    from .store import export_directory
    written = export_directory(_db(settings), Path(args.path))
    print(f"export: {len(written)} articles written to {args.path}", file=sys.stderr)
    return 0


def _engine(settings: Settings):
    from .engine import KnowledgeBase
    return KnowledgeBase(settings)


def cmd_search(args, settings: Settings) -> int:
    from .engine import QueryError
    kb = _engine(settings)
    try:
        answers = kb.search(args.query, k=args.k, mode=args.mode)
    except QueryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(answers, ensure_ascii=False))
        return 0
    if not answers:
        print("no results")
    for rank, answer in enumerate(answers, 1):
        print(f"{rank}. [{answer['type']}] {answer['title']} › {answer['heading']}  ({answer['score']:.3f})  "
              f"{answer['article_id']}")
    return 0


def _suggest_object(kb, text: str) -> dict:
    from .engine import QueryError
    try:
        return kb.suggest(text)
    except QueryError as exc:
        return {"answers": [], "disclosures": [], "escalations": [], "error": str(exc)}


def cmd_suggest(args, settings: Settings) -> int:
    kb = _engine(settings)
    if not args.jsonl:
        if args.text is None:
            print("error: give a text, or --jsonl to read JSON lines from stdin", file=sys.stderr)
            return 2
        print(json.dumps(_suggest_object(kb, args.text), ensure_ascii=False))
        return 0
    stdin = open(sys.stdin.fileno(), encoding="utf-8", errors="replace", closefd=False)
    for number, line in enumerate(stdin, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            text = item["text"] if isinstance(item, dict) else None
            if not isinstance(text, str):
                raise ValueError('expected an object with a string "text"')
        except (ValueError, KeyError) as exc:
            print(f"line {number}: {exc}", file=sys.stderr)
            out = {"answers": [], "disclosures": [], "escalations": [], "error": f"line {number}: invalid input"}
        else:
            out = _suggest_object(kb, text)
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    return 0


def cmd_db(args, settings: Settings) -> int:
    """Schema migrations: ``upgrade`` to the newest revision, ``current`` revision, ``history`` of revisions."""
    from . import migrate
    settings.ensure_dirs()
    if args.action == "upgrade":
        migrate.upgrade(settings.database_url, args.revision)
        print(f"database at {migrate.current(settings.database_url)} (head {migrate.head()})", file=sys.stderr)
    elif args.action == "current":
        revision = migrate.current(settings.database_url)
        print(revision or "none (empty database: run python -m kb db upgrade)")
        return 0 if revision == migrate.head() else 1
    else:
        print("\n".join(migrate.history()))
    return 0


def cmd_token(args, settings: Settings) -> int:
    """Integration API tokens (``kb/tokens.py``): the token is printed once, on stdout, at creation."""
    from .tokens import TokenError, create_token, list_tokens, revoke_token
    db = _db(settings)
    try:
        with db.session() as s:
            if args.action == "create":
                row, token = create_token(s, args.name, args.role)
                print(f"created token {row.name!r} (role {row.role}); it is shown only now:", file=sys.stderr)
                print(token)
            elif args.action == "revoke":
                revoke_token(s, args.name)
                print(f"revoked token {args.name!r}", file=sys.stderr)
            else:
                for row in list_tokens(s):
                    state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
                    used = f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never"
                    print(f"{row.name}\t{row.role}\t{state}\tcreated {row.created_at:%Y-%m-%d %H:%M}\tused {used}")
    except TokenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_replay(args, settings: Settings) -> int:
    from .replay import ReplayError, replay_file
    try:
        summary = replay_file(Path(args.path), args.url, args.token, speed=args.speed, agent=args.agent,
                              call_ref=args.call_ref, end=not args.no_end)
    except ReplayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary, file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kb", description="Agent-assist knowledge base")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("import", help="import Markdown articles from a folder (idempotent)")
    p.add_argument("path")
    p.add_argument("--check", action="store_true", help="only validate, write nothing")
    p.add_argument("--strict", action="store_true", help="exit 1 when any file is invalid")
    p.add_argument("--author", default="import")
    p.set_defaults(func=cmd_import)
    p = sub.add_parser("import-faq", help='import a {"<id>": [{"question", "answers"}]} JSON file')
    p.add_argument("path")
    p.add_argument("--prefix", default="faq")
    p.add_argument("--author", default="import")
    p.set_defaults(func=cmd_import_faq)
    p = sub.add_parser("export", help="write the published articles as Markdown")
    p.add_argument("path")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("search", help="ranked answers for a query")
    p.add_argument("query")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--mode", choices=("hybrid", "keyword", "dense"), default="hybrid")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)
    p = sub.add_parser("suggest", help="answers, disclosures and escalations (JSON)")
    p.add_argument("text", nargs="?")
    p.add_argument("--jsonl", action="store_true", help='read {"text": ...} lines on stdin, write one object each')
    p.set_defaults(func=cmd_suggest)
    p = sub.add_parser("db", help="schema migrations of the database in KB_DATABASE_URL")
    p.add_argument("action", choices=("upgrade", "current", "history"))
    p.add_argument("revision", nargs="?", default="head", help="upgrade target (default: head)")
    p.set_defaults(func=cmd_db)
    p = sub.add_parser("token", help="API tokens for integrations (create prints the token once)")
    p.add_argument("action", choices=("create", "list", "revoke"))
    p.add_argument("name", nargs="?", help="the integration account's name (create, revoke)")
    p.add_argument("--role", default="integration", help="what the token may do (integration: post live calls)")
    p.set_defaults(func=cmd_token)
    p = sub.add_parser("replay", help="post a recorded call (JSON lines) to the live API with its timing")
    p.add_argument("path", help="a .jsonl file, one utterance per line (docs/interfaces.md)")
    p.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:5000")
    p.add_argument("--token", required=True, help="an integration token (python -m kb token create NAME)")
    p.add_argument("--speed", type=float, default=1.0, help="2 = twice as fast; 0 = no waiting")
    p.add_argument("--agent", help="bind the call to this agent instead of the file's")
    p.add_argument("--call-ref", help="use this call_ref instead of the file's (replay the same call again)")
    p.add_argument("--no-end", action="store_true", help="do not end the call after the last utterance")
    p.set_defaults(func=cmd_replay)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "token" and args.action != "list" and not args.name:
        parser.error(f"token {args.action} needs the token's name")
    return args.func(args, Settings.from_env())

"""Profile one endpoint in-process with pyinstrument: where does a request's time go?

    python bench/profile_list.py                         # a scratch SQLite of 5,000 templates
    python bench/profile_list.py --templates 100000 --as admin --path '/template?limit=20'
    python bench/profile_list.py --database-url sqlite:///$PWD/bench/results/bench.sqlite \
        --timings-only --path '/template?limit=20' --path '/template?limit=20&cursor={after:90000}'
    python bench/profile_list.py --database-url postgresql+psycopg://postgres@127.0.0.1/meme_bench

The app runs as in production (APP_ENV=production, rate limiting off) behind Flask's test client,
so the profile shows the application's own work without gunicorn or the network. It prints the
mean time per request without the profiler, then pyinstrument's call tree.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"


def build_app(database_url: str, overrides: dict[str, str] | None = None):
    """The service configured as the benchmark runs it; request-log lines go to /dev/null."""
    os.environ.update({"APP_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(48),
                       "RATELIMIT_ENABLED": "false", "DATABASE_URL": database_url,
                       **(overrides or {})})
    from meme_api import create_app

    sink = open(os.devnull, "w")  # noqa: SIM115 - open for the life of the process
    with contextlib.redirect_stdout(sink):
        return create_app()  # the request log's handler keeps the stream it saw here


def prepare(app, templates: int, fresh: bool) -> None:
    """Migrate, and seed when the database has no templates yet (or `fresh` was asked)."""
    import flask_migrate
    from sqlalchemy import func, select

    from meme_api.extensions import db
    from meme_api.models import Template

    with app.app_context():
        flask_migrate.upgrade(directory=str(REPO / "migrations"))
        have = db.session.scalar(select(func.count()).select_from(Template))
        if fresh or not have:
            result = app.test_cli_runner().invoke(
                args=["seed", "--users", "100", "--posts", str(templates)])
            if result.exit_code:
                raise SystemExit(result.output)


def credentials(app, as_admin: bool) -> dict[str, str]:
    """Headers of a fresh app token and a login session (no password hashing involved)."""
    from sqlalchemy import select

    from meme_api.accounts import create_user
    from meme_api.client_apps import register_app
    from meme_api.extensions import db
    from meme_api.models import User
    from meme_api.sessions import start_session

    with app.app_context():
        _, app_token = register_app(f"profile-{secrets.token_hex(4)}")
        if as_admin:
            user = create_user(f"profile-{secrets.token_hex(4)}", secrets.token_urlsafe(12),
                               role="admin")
        else:
            user = db.session.scalar(select(User).where(User.role == "user").limit(1))
        tokens = start_session(user)
    return {"x-application-token": app_token, "x-access-token": tokens["token"]}


def deep_cursor_in(path: str, secret_key: str) -> str:
    """`{after:N}` in a path becomes the cursor that resumes after template N."""
    start = path.find("{after:")
    if start < 0:
        return path
    end = path.index("}", start)
    sys.path.insert(0, str(REPO / "bench"))
    from scenarios import deep_cursor

    cursor = deep_cursor(secret_key, int(path[start + len("{after:"):end]))
    return path[:start] + cursor + path[end + 1:]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="profile this (seeded) database instead of a "
                        "scratch SQLite file in bench/results/")
    parser.add_argument("--templates", type=int, default=5000,
                        help="templates to seed into the scratch database (default 5000)")
    parser.add_argument("--fresh", action="store_true", help="seed again even if not empty")
    parser.add_argument("--as", dest="role", choices=("user", "admin"), default="user")
    parser.add_argument("--path", action="append",
                        help="the request to profile (default /template?limit=20); repeat it "
                        "with --timings-only to time several")
    parser.add_argument("--timings-only", action="store_true",
                        help="only print the mean time per request of each --path")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--interval", type=float, default=0.0001,
                        help="pyinstrument sampling interval in seconds")
    parser.add_argument("--html", help="also write pyinstrument's HTML report here")
    parser.add_argument("--all", action="store_true", help="show library frames too")
    parser.add_argument("--cprofile", type=int, metavar="N",
                        help="instead: cProfile's N functions with the most own time")
    args = parser.parse_args(argv)

    if args.database_url:
        url = args.database_url
    else:
        RESULTS.mkdir(parents=True, exist_ok=True)
        scratch = RESULTS / f"profile-{args.templates}.sqlite"
        url = f"sqlite:///{scratch}"
    app = build_app(url)
    prepare(app, args.templates, args.fresh)
    headers = credentials(app, args.role == "admin")
    client = app.test_client()
    paths = [deep_cursor_in(path, app.config["SECRET_KEY"])
             for path in args.path or ["/template?limit=20"]]

    def timed(path: str) -> float:
        """Mean milliseconds per request, after a warm-up (imports, caches, connection pool)."""
        for _ in range(200):
            response = client.get(path, headers=headers)
            if response.status_code not in (200, 304):
                raise SystemExit(f"{path} answered {response.status_code}: "
                                 f"{response.get_data(as_text=True)[:300]}")
        started = time.perf_counter()
        for _ in range(args.requests):
            client.get(path, headers=headers)
        return (time.perf_counter() - started) * 1000 / args.requests

    for path in paths:
        print(f"{timed(path):8.3f} ms per request in-process: GET {path} as {args.role} "
              f"({args.requests} requests, no profiler)", file=sys.stderr)
    if args.timings_only:
        return
    path = paths[0]

    def one() -> None:
        client.get(path, headers=headers)

    if args.cprofile:
        import cProfile
        import pstats

        with cProfile.Profile() as profile:
            for _ in range(args.requests):
                one()
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.cprofile)
        return

    from pyinstrument import Profiler

    profiler = Profiler(interval=args.interval)
    with profiler:
        for _ in range(args.requests):
            one()
    print(profiler.output_text(unicode=True, color=False, show_all=args.all))
    if args.html:
        Path(args.html).write_text(profiler.output_html())


if __name__ == "__main__":
    main()

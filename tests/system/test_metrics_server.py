"""GET /metrics on real gunicorn (contract §8): the instance's figures, summed over its workers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from prometheus_client.parser import text_string_to_metric_families
from servers import LiveClient, Server, migrate, on_two_workers, running, seed, server_env

REQUESTS = 60
LABELS = {"method": "GET", "route": "/user/me", "status": "200"}


def counted(client: LiveClient) -> float:
    response = client.call("GET", "/metrics")
    assert response.status_code == 200, response.text
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "http_requests_total" and sample.labels == LABELS:
                return sample.value
    return 0.0


def test_the_counter_rises_by_exactly_n_across_two_workers(tmp_path):
    database = f"sqlite:///{tmp_path / 'metrics.sqlite'}"
    migrate(database)
    seeded = seed(database, admins=(), users=("carol",))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    server = Server(server_env(database, TMPDIR=str(scratch)), tmp_path, workers=2)
    with running(server):
        client = LiveClient(server.url, seeded.app_token)
        token = client.login("carol", seeded.passwords["carol"])["token"]
        before = counted(client)
        # Two of them pinned on two different workers (checked), the rest wherever they land.
        pinned = on_two_workers(server, "GET", "/user/me", client.headers(token))
        with ThreadPoolExecutor(6) as pool:
            statuses = list(pool.map(lambda _: client.call("GET", "/user/me", token).status_code,
                                     range(REQUESTS - 2)))
        assert [answer.status for answer in pinned] + statuses == [200] * REQUESTS
        # Several /metrics reads: whichever worker answers, the figure is the same sum.
        readings = {counted(client) - before for _ in range(6)}
        made = [path.name for path in scratch.iterdir()]
        assert len(made) == 1 and made[0].startswith("meme_api-metrics-"), made

    assert readings == {REQUESTS}  # both workers served, and the figures are their sum
    assert list(scratch.iterdir()) == []  # the multiprocess directory went with the server

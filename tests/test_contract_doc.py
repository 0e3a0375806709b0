"""docs/api.md is the contract in the repository, and the code's "contract §N" point into it."""

from __future__ import annotations

import re

from servers import REPO_ROOT

CONTRACT = REPO_ROOT / "docs" / "api.md"
REFERENCE = re.compile(r"(?:contract |\(|\b)§(\d+)")


def sections() -> dict[int, str]:
    return {int(number): title for number, title in
            re.findall(r"^## (\d+)\. (.+)$", CONTRACT.read_text(), re.MULTILINE)}


def test_the_contract_has_its_twelve_sections():
    assert sorted(sections()) == list(range(1, 13))


def test_the_contract_says_where_this_version_deviates():
    head = CONTRACT.read_text().split("## 1.")[0]
    assert "Status of this version" in head
    assert "8,176" in head  # the request-line limit behind gunicorn (README: request size)


def test_the_published_contract_is_the_master_copy_below_its_status_note():
    master = REPO_ROOT.parent / "shared" / "API.md"
    if not master.exists():  # a clone on its own has only the published copy
        assert CONTRACT.exists()
        return
    published = CONTRACT.read_text()
    body = published[published.index("\n\nThis is the contract"):]
    assert body.strip() == master.read_text().split("\n", 1)[1].strip()


def test_every_section_reference_in_the_code_exists():
    known = sections()
    referenced = set()
    for path in (REPO_ROOT / "meme_api").rglob("*.py"):
        referenced |= {int(number) for number in REFERENCE.findall(path.read_text())}
    assert referenced
    assert referenced <= set(known)


def test_the_package_says_where_the_contract_is():
    import meme_api

    assert "docs/api.md" in meme_api.__doc__

"""The Learn tab's links into the documentation site: every page it names is a page of the site.

The pictures themselves are tested through the server (``tests/test_app.py::test_learn``).
"""

from pathlib import Path

import pytest

pytest.importorskip("gradio")
from eqlab.app import learn  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _source(site_path: str) -> Path:
    """The file of the repository a page of the built site comes from (mkdocs.yml: use_directory_urls false)."""
    page = Path(site_path).with_suffix("")
    if page.parts[0] == "notebooks":
        return ROOT / "notebooks" / f"{page.name}.py"  # executed into the site (scripts/site_hooks.py)
    return ROOT / "docs" / f"{page}.md"


@pytest.mark.parametrize("name", sorted(learn.DOCS_PAGES))
def test_every_linked_page_is_a_page_of_the_site(name):
    title, path = learn.DOCS_PAGES[name]
    assert path.endswith(".html") and _source(path).is_file(), f"{name}: {path} is not a page of the site"
    assert path.split("/")[-1].removesuffix(".html") in (ROOT / "mkdocs.yml").read_text()


def test_read_more_links_to_the_served_site():
    text = learn.read_more("01", "groups")
    assert text.count(f"]({learn.DOCS_URL}/") == 2 and "eqlab docs" in text

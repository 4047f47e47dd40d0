"""Every relative link and #anchor in README.md and docs/ resolves (anchors as GitHub makes them from headings)."""
import glob
import os
import re

import pytest

from conftest import ROOT

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def pages():
    return [os.path.join(ROOT, "README.md"), *sorted(glob.glob(os.path.join(ROOT, "docs", "**", "*.md"),
                                                          recursive=True))]


def prose_lines(path):
    """The lines of a Markdown file outside fenced code blocks."""
    fenced = False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.lstrip().startswith("```"):
                fenced = not fenced
            elif not fenced:
                yield line


def anchors(path):
    """GitHub's heading anchors: lower case, punctuation dropped (word characters, spaces and hyphens stay), spaces
    as hyphens, and -1, -2, ... for repeats."""
    seen, found = {}, set()
    for line in prose_lines(path):
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-")
            found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
            seen[slug] = seen.get(slug, 0) + 1
    return found


def test_anchors_follow_githubs_rules(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Set-up: two commands\n## 1. Teacher: `run_glue.py`\n## Notes\n## Notes\n"
                    "```\n# not a heading\n```\n", encoding="utf-8")
    assert anchors(str(page)) == {"set-up-two-commands", "1-teacher-run_gluepy", "notes", "notes-1"}


@pytest.mark.parametrize("page", pages(), ids=lambda path: os.path.relpath(path, ROOT))
def test_every_relative_link_and_anchor_resolves(page):
    broken = []
    for target in LINK.findall("".join(prose_lines(page))):  # (a link's text may run over two lines)
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            continue
        path, _, anchor = target.partition("#")
        resolved = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
        if not os.path.exists(resolved):
            broken.append(f"{target}: no such file")
        elif anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading with that anchor")
    assert not broken, f"{os.path.relpath(page, ROOT)}: {broken}"

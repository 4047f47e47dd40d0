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


# --- Every command runs from a fresh clone: what a page's commands read exists in the repository, or an earlier
# documented command makes it. Pages in reading order: the README's set-up first, then each page after those it uses.
ORDER = ["README.md", "docs/install.md", "docs/pipeline.md", "docs/own-task.md", "docs/teacher.md", "docs/student.md",
         "docs/howto-unlabeled.md", "docs/howto-teacher-elsewhere.md", "docs/deploy.md", "docs/serve.md", "docs/scale.md",
         "docs/faq.md",
         "docs/results.md", "docs/development.md"]
READ_FLAGS = ("--data_dir", "--input_file", "--unlabeled_file", "--model_dir", "--teacher_dir", "--teacher_outputs",
              "--pretrained_embeddings", "--vocab_file", "--model_name_or_path", "--ood_file", "DATA_DIR=")
WRITE_FLAGS = ("--output_dir", "--output_path", "--write_transfer_set", "--cache_dir", ">", "OUTPUT_DIR=")
PLACEHOLDERS = {"my-finetuned-ernie", "my_reviews.txt", "s3://my-bucket/reviews.txt", "''"}  # the reader's own files, named as such on the page
# The README's set-up, `bash scripts/run_all.sh` (and its QUICK=1 run), makes these; results.md's measurements also
# read the project's measurement data under data/, which development.md says how to get.
SET_UP = {"data/chnsenticorp", "tmp/ChnSentiCorp", "tmp/quick"}
MEASUREMENT_PAGES = {"docs/results.md", "docs/development.md"}


def fenced_commands(path):
    """The commands of a page's ```bash blocks: continuation lines joined, comments dropped."""
    commands, block = [], None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.lstrip().startswith("```"):
                block = [] if block is None and line.strip() in ("```bash", "```sh") else None
                continue
            if block is not None:
                line = re.split(r"\s#\s", line)[0].rstrip()
                if commands and commands[-1].endswith("\\"):
                    commands[-1] = commands[-1][:-1].rstrip() + " " + line.strip()
                elif line.strip():
                    commands.append(line.strip())
    return commands


def paths(command, flags):
    """The values of `flags` in a command (`--flag VALUE`, `NAME=VALUE`, `> FILE`)."""
    words = command.replace("=", "= ").split()
    values = []
    for i, word in enumerate(words[:-1]):
        if word in flags:
            value = words[i + 1]
            if value.startswith("<("):  # a process substitution reads the file named inside it
                value = next((w for w in words[i + 2:] if "/" in w), value)
            values.append(value.strip("\"'") or "''")
    return values


def produced_by(command):
    """What a command writes: its output flags, and for run_all.sh its OUTPUT_DIR and the data it downloads."""
    made = set(paths(command, WRITE_FLAGS))
    if "scripts/run_all.sh" in command and not paths(command, ("OUTPUT_DIR=",)):
        made.add("tmp/quick" if "QUICK=1" in command else "tmp/ChnSentiCorp")
    if "scripts/benchmark_student.py" in command and not paths(command, ("--output_dir",)):
        made.add("tmp/benchmark-student/" + paths(command, ("--name",))[0])
    if "scripts/download_data.py" in command:
        made.add("data/chnsenticorp")
    if " -m venv " in command:
        made.add(command.split(" -m venv ")[1].split()[0])
    return made


def test_commands_read_only_what_exists_or_was_made_before():
    made, missing = set(SET_UP), []
    for page in ORDER:
        for command in fenced_commands(os.path.join(ROOT, page)):
            for path in paths(command, READ_FLAGS):
                norm = os.path.normpath(path)
                if "/" not in path and not path.startswith("tmp") and "--model_name_or_path" in command:
                    continue  # a PaddleNLP model name
                if (path in PLACEHOLDERS or os.path.exists(os.path.join(ROOT, norm))
                        or any(norm == m or norm.startswith(m.rstrip("/") + "/") for m in map(os.path.normpath, made))
                        or (page in MEASUREMENT_PAGES and norm.startswith("data/"))):
                    continue
                missing.append(f"{page}: {path} in: {command}")
            made |= produced_by(command)
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("page", ORDER)
def test_user_pages_read_nothing_outside_the_checkout(page):
    allowed = {"docs/development.md"}  # contributors may be told where the project's own data lives
    text = open(os.path.join(ROOT, page), encoding="utf-8").read()
    assert page in allowed or "../shared" not in text


def test_every_page_is_in_the_reading_order():
    assert set(ORDER) == {os.path.relpath(p, ROOT) for p in pages() if "experiments" not in p}

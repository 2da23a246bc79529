"""The documentation a newcomer reads: a README short enough to read first, links that lead
somewhere, every setting `config/` reads documented in docs/operations.md, and every path of
the OpenAPI document listed in docs/api.md. No database, no service: plain files."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]

# [text](target) and ![alt](target), not inside code.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
CODE = re.compile(r"`[^`\n]*`")


def _prose(text: str) -> str:
    return CODE.sub("", FENCE.sub("", text))


def _anchor(heading: str) -> str:
    """The id a Markdown renderer (GitHub's rules) gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    found, seen = set(), {}
    for line in FENCE.sub("", path.read_text(encoding="utf-8")).splitlines():
        if m := re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line):
            slug = _anchor(m.group(1))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            found.add(slug if n == 0 else f"{slug}-{n}")
    return found


def test_the_readme_is_at_most_200_lines():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines: move the detail into docs/"


def test_the_readme_links_to_every_document():
    linked = {target for target in LINK.findall(_prose(README.read_text(encoding="utf-8")))}
    missing = [f"docs/{doc.name}" for doc in DOCS if f"docs/{doc.name}" not in linked]
    assert missing == [], f"README.md does not link to {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_its_anchor(page):
    broken = []
    for target in LINK.findall(_prose(page.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: …
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
            broken.append(f"{target}: no heading with that anchor in {file.relative_to(ROOT)}")
    assert broken == [], f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_projects_files_speak_of_the_project_only():
    """Written for their readers (the docs, the code, its comments and tests): nothing that points
    outside the repository."""
    outside = re.compile(r"\bissue\s+#?\d+|\.\./shared|/w" r"ork/|\bsession notes?\b", re.I)
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    files = [ROOT / name for name in listed if name.endswith((".md", ".py", ".html", ".js", ".txt", ".cfg", ".ini", ".toml"))
             and (ROOT / name).is_file()] or PAGES
    said = [f"{p.relative_to(ROOT)}: {m.group(0)!r}" for p in files
            for m in outside.finditer(p.read_text(encoding="utf-8", errors="replace"))]
    assert said == [], said


def _settings_read_by_config() -> set[str]:
    source = (ROOT / "config" / "__init__.py").read_text(encoding="utf-8")
    return {f"DEALSVC_{name}" for name in re.findall(r"""\bget\(\s*["']([A-Z0-9_]+)["']""", source)}


def test_every_setting_is_documented_in_operations():
    read = _settings_read_by_config()
    assert len(read) > 30, read  # the pattern still finds what config reads
    table = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    rows = "\n".join(line for line in table.splitlines() if line.startswith("| `DEALSVC_"))
    documented = set(re.findall(r"`(DEALSVC_[A-Z0-9_]+)`", rows))
    assert sorted(read - documented) == [], "settings config/ reads that docs/operations.md's table leaves out"
    assert sorted(documented - read) == [], "settings docs/operations.md's table names that config/ does not read"


def test_every_api_path_is_in_the_reference(app):
    """docs/api.md lists every operation of the OpenAPI document the service serves."""
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    operations = {
        f"{method.upper()} {path.removeprefix('/api/v1')}"
        for path, ops in spec["paths"].items() for method in ops if method in ("get", "post", "put", "patch", "delete")
    }
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    table = text[text.index("<!-- paths: start -->"):text.index("<!-- paths: end -->")]
    listed = set(re.findall(r"^\| `([A-Z]+ [^`]+)`", table, re.M))
    assert sorted(operations - listed) == [], "operations docs/api.md does not list (add a row each)"
    assert sorted(listed - operations) == [], "rows of docs/api.md the API does not have"

"""The repository's docs are complete on their own.

- No tracked file cites design notes kept outside the repository (the reference folder next
  to the checkout): a clone would have dangling references.
- Every relative Markdown link in README.md and the pages under docs/ (docs/measurements/
  included) points to an existing file.
- Every citation of a docs section in the form `docs/<page>.md, "<heading>"` (how code,
  tests and configs point into the docs) names a heading that exists on that page.

The checks are pure functions over text, each also run on a small bad example, so that a
check that silently matches nothing cannot pass for a clean tree.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT

# Names of files outside the repository that nothing in it may cite. Built from pieces so
# that this file does not cite them itself.
_MD = ".md"
FORBIDDEN_MENTIONS = (
    "SPINNAKER2" + _MD,
    "design/" + "ROS2" + _MD,
    "ANCHORS" + _MD,
    "ARCHITECTURE" + _MD,
    "LAYOUT-SKETCH" + _MD,
    "STYLE" + _MD,
    ".." + "/shared",
)

#: an inline Markdown link or image: [text](target) or ![alt](target)
_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
#: a fenced code block (``` or ~~~), whose contents are code, not links
_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
#: an inline code span
_CODE_SPAN = re.compile(r"`[^`\n]*`")
#: a URL scheme (http:, https:, mailto:, ...): not a relative link
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
#: a citation of a docs section: docs/<page>.md, "<heading>" (straight or typographic quotes)
_CITATION = re.compile(r"docs/([\w-]+\.md),\s+"
                       r"(?:\"([^\"]{1,120})\"|\u201c([^\u201d]{1,120})\u201d)")
#: a line break inside a comment or docstring, with what continues the comment
_CONTINUATION = re.compile(r"\s*\n\s*(?:#:?\s*)?")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def tracked_files(root: Path) -> list[Path]:
    """Files git tracks under `root` (skips the test when this is not a git checkout)."""
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout: no list of tracked files")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True,
                         check=True).stdout
    return [root / name for name in out.decode().split("\0") if name]


def forbidden_mentions(data: bytes) -> list[str]:
    """The forbidden names that `data` mentions (case-insensitive, any encoding)."""
    low = data.lower()
    return [name for name in FORBIDDEN_MENTIONS if name.lower().encode() in low]


def relative_link_targets(markdown: str) -> list[str]:
    """Targets of the relative links of `markdown`, without #fragment or ?query; links in
    code (fenced blocks, code spans), absolute URLs and same-page anchors are left out."""
    text = _CODE_SPAN.sub("", _FENCE.sub("", markdown))
    targets = []
    for target in _LINK.findall(text):
        if _SCHEME.match(target) or target.startswith(("#", "/")):
            continue
        path = target.split("#", 1)[0].split("?", 1)[0]
        if path:
            targets.append(path)
    return targets


def broken_links(md_file: Path) -> list[str]:
    """Relative link targets of `md_file` that do not exist, relative to its folder."""
    text = md_file.read_text(encoding="utf-8")
    return [t for t in relative_link_targets(text) if not (md_file.parent / t).exists()]


def _plain(title: str) -> str:
    """A heading or cited title compared without code marks and extra whitespace."""
    return " ".join(title.replace("`", "").split())


def headings(markdown: str) -> set[str]:
    """Every heading's text (ATX `#` headings), outside fenced code blocks."""
    return {_plain(h) for h in _HEADING.findall(_FENCE.sub("", markdown))}


def section_citations(text: str) -> list[tuple[str, str]]:
    """(page, heading) of every `docs/<page>.md, "<heading>"` in `text`; a title broken over
    lines of a comment or docstring is joined first."""
    joined = _CONTINUATION.sub(" ", text)
    return [(page, _plain(straight or curly))
            for page, straight, curly in _CITATION.findall(joined)]


def _markdown_pages() -> list[Path]:
    return [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]


def test_no_tracked_file_cites_files_outside_the_repository():
    offenders = {}
    for path in tracked_files(REPO_ROOT):
        if path.is_file():
            found = forbidden_mentions(path.read_bytes())
            if found:
                offenders[str(path.relative_to(REPO_ROOT))] = found
    assert not offenders, f"tracked files cite files outside the repository: {offenders}"


def test_the_mention_check_finds_each_forbidden_name():
    for name in FORBIDDEN_MENTIONS:
        assert forbidden_mentions(f"see {name.lower()}, section 2".encode()) == [name]
    assert forbidden_mentions(b"see docs/chip.md; shared cores; design notes") == []


def test_every_relative_link_in_the_docs_points_to_a_file():
    pages = _markdown_pages()
    assert len(pages) > 2, "README.md and docs/*.md not found"
    assert any(p.parent.name == "measurements" for p in pages), "docs/measurements/ not read"
    broken = {str(p.relative_to(REPO_ROOT)): b for p in pages if (b := broken_links(p))}
    assert not broken, f"relative links to missing files: {broken}"


def test_the_link_check_sees_relative_links_only():
    text = ("[a](docs/chip.md) ![b](img/x.png \"t\") [c](https://example.org/x.md) "
            "[d](#local) [e](ros.md#keeping-dds-on-loopback) `[f](code.md)`\n"
            "```\n[g](in_fence.md)\n```\n")
    assert relative_link_targets(text) == ["docs/chip.md", "img/x.png", "ros.md"]


def test_the_link_check_reports_a_missing_file(tmp_path):
    (tmp_path / "there.md").write_text("x")
    page = tmp_path / "page.md"
    page.write_text("[ok](there.md) [gone](missing.md#part)")
    assert broken_links(page) == ["missing.md"]


def test_cited_docs_sections_exist():
    pages = {p.name: headings(p.read_text(encoding="utf-8"))
             for p in (REPO_ROOT / "docs").glob("*.md")}
    missing, seen = [], 0
    for path in tracked_files(REPO_ROOT):
        if path.suffix not in (".py", ".md", ".yaml", ".yml", ".sh", ".toml", ".cfg", ".txt"):
            continue
        if not path.is_file():
            continue
        for page, title in section_citations(path.read_text(encoding="utf-8")):
            seen += 1
            if title not in pages.get(page, ()):
                missing.append(f"{path.relative_to(REPO_ROOT)}: docs/{page}, \"{title}\"")
    assert seen > 0, "no docs section citations found: the pattern no longer matches"
    assert not missing, "citations of docs sections that do not exist:\n" + "\n".join(missing)


def test_the_citation_check_joins_titles_broken_over_lines():
    d = "docs"  # kept apart from the page names so that this file cites no section itself
    source = (f'"""Keep DDS on loopback ({d}/ros.md, "Keeping DDS on\n'
              f'loopback")."""\n#: see ({d}/chip.md, "Performance levels\n#: and power")\n')
    assert section_citations(source) == [("ros.md", "Keeping DDS on loopback"),
                                         ("chip.md", "Performance levels and power")]
    assert headings("# Top\n## `code` title ##\n```\n# not a heading\n```\n") == {
        "Top", "code title"}


NODE_MODULES = ("actuator_node", "event_camera_node", "event_node", "policy_node",
                "sim_robot_node")


@pytest.mark.parametrize("module", NODE_MODULES)
def test_every_parameter_a_node_declares_is_in_its_help_and_the_docs(module):
    """`--help` printed the node module's docstring, whose parameter list left out
    wait_subscribers (sim robot) and hold_action (camera), and sent the reader to
    docs/ros.md (an outsider): every parameter the node declares is named in its
    docstring and, in backquotes, in docs/ros.md or docs/events.md."""
    import ast
    import re

    source = (REPO_ROOT / "ros_nodes" / f"{module}.py").read_text()
    declared = (set(re.findall(r'declare\(\s*self,\s*"(\w+)"', source))
                | set(re.findall(r'declare_parameter\(\s*"(\w+)"', source)))
    assert len(declared) >= 5, declared  # the patterns still find the declarations
    doc = ast.get_docstring(ast.parse(source)) or ""
    pages = ((REPO_ROOT / "docs" / "ros.md").read_text()
             + (REPO_ROOT / "docs" / "events.md").read_text())
    assert [n for n in sorted(declared) if not re.search(rf"\b{n}\b", doc)] == []
    assert [n for n in sorted(declared) if f"`{n}`" not in pages] == []


def test_every_launch_argument_is_named_where_docs_ros_describes_its_launch_file():
    """docs/ros.md listed event_sim.launch.py's arguments without linger_s (an outsider):
    each launch file's DeclareLaunchArgument names are in its paragraph of docs/ros.md."""
    import re

    ros = (REPO_ROOT / "docs" / "ros.md").read_text()
    launches = sorted((REPO_ROOT / "launch").glob("*.launch.py"))
    assert launches
    for path in launches:
        args = re.findall(r'DeclareLaunchArgument\(\s*"(\w+)"', path.read_text())
        start = ros.find(f"- `launch/{path.name}`")
        assert start >= 0 and args, path.name
        ends = [i for i in (ros.find("\n- `launch/", start + 1), ros.find("\n**", start))
                if i >= 0]
        paragraph = ros[start:min(ends, default=len(ros))]
        assert [a for a in args if f"`{a}`" not in paragraph] == [], path.name


def test_the_python_page_s_examples_run_and_match_neuroq_eval(tmp_path):
    """docs/python.md: each example runs as written, from a folder outside the repository,
    and the first one's return is what `neuroq eval` reports for the same episode seed."""
    import json
    import sys

    text = (REPO_ROOT / "docs" / "python.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 2
    outputs = []
    for block in blocks:
        proc = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout)
    total = float(outputs[0].split()[0])
    proc = subprocess.run([sys.executable, "-m", "neuroq.agents.cli.main", "eval", "acrobot",
                           "--seed", "123",
                           "--episodes", "1", "--out", str(tmp_path / "eval")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(next((tmp_path / "eval").rglob("result.json")).read_text())
    assert result["return_mean"] == total
    assert f"--seed 123 --episodes 1` ({total:.1f};" in " ".join(text.split())

"""The README and docs/ stay short, linked and true of the code: what a newcomer reads first must not point
to files that are gone, commands that do not exist, or settings and operations that changed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from cexlink.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS, ROOT / "bench" / "README.md"]

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
INLINE = re.compile(r"`([^`\n]+)`")
# "cexlink" as a command (after a space, a backtick, a path's slash or a line start), then its words.
COMMAND = re.compile(r"(?:^|(?<=[\s`/(]))cexlink((?:[ \t]+[a-z][a-z0-9-]*)+)", re.M)


def _code(text: str) -> Iterator[str]:
    """The code in a page: fenced blocks and inline spans (prose says "cexlink connects…", code says commands)."""
    yield from (m.group(0) for m in FENCE.finditer(text))
    yield from (m.group(1) for m in INLINE.finditer(FENCE.sub("", text)))


def _prose(text: str) -> str:
    """The README's sentences: no code blocks, tables, headings or list markers."""
    lines = [line for line in FENCE.sub("", text).splitlines()
             if line.strip() and not line.lstrip().startswith(("|", "#"))]
    return " ".join(line.strip().lstrip("-* ") for line in lines)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {_slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", text, re.M)}


def test_readme_is_short() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 150
    assert len(text.split()) < 1000
    sentences = [s for s in re.split(r"(?<=[.!?:])\s+", _prose(text)) if len(s.split()) > 1]
    mean = sum(len(s.split()) for s in sentences) / len(sentences)
    assert mean < 20, f"README sentences average {mean:.1f} words"


def test_readme_quick_start_is_make_up_then_make_test() -> None:
    commands = [line.split("#")[0].strip() for block in FENCE.findall(README.read_text())
                if block.startswith("```sh") for line in block.splitlines()[1:-1]]
    assert [c for c in commands if c][:2] == ["make up", "make test"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve_inside_the_repository(page: Path) -> None:
    broken = []
    for target in LINK.findall(FENCE.sub("", page.read_text())):
        if re.match(r"[a-z]+:", target):  # a URL: none in these pages
            broken.append(f"{target}: links outside the repository")
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.is_relative_to(ROOT) or not resolved.is_file():
            broken.append(f"{target}: no such file in the repository")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {resolved.name}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def _named_commands() -> dict[tuple[str, ...], str]:
    """Every ``cexlink …`` command path written in the README and docs, with where it was seen."""
    root = typer.main.get_command(app)
    named: dict[tuple[str, ...], str] = {}
    for page in [README, *DOCS]:
        for code in _code(page.read_text()):
            for m in COMMAND.finditer(code):
                command: Any = root
                path: list[str] = []
                for word in m.group(1).split():
                    if not hasattr(command, "list_commands"):
                        break  # a leaf command's arguments (users create NAME)
                    # Typer's groups (the top one builds its subgroups on first use) by their own lookup
                    sub = command.get_command(None, word)
                    if sub is None:  # a word where a subcommand belongs: one the CLI does not have
                        path.append(word)
                        break
                    command, path = sub, [*path, word]
                named.setdefault(tuple(path), page.name)
    return named


def test_every_cexlink_command_in_the_docs_exists() -> None:
    named = _named_commands()
    assert ("up",) in named and ("accounts", "connect") in named  # the parser finds what the README shows
    runner = CliRunner()
    failed = {" ".join(path): page for path, page in named.items()
              if runner.invoke(app, [*path, "--help"]).exit_code != 0}
    assert not failed, f"commands named in the docs that `cexlink … --help` does not know: {failed}"


def test_sign_center_reference_covers_every_operation() -> None:
    from cexlink.signer.protocol import OPS

    headings = set(re.findall(r"^## (\w+)$", (ROOT / "docs" / "sign-center.md").read_text(), re.M))
    assert {*OPS, "forward", "health"} <= headings


def test_configuration_lists_every_environment_variable() -> None:
    used = {name for source in (ROOT / "src" / "cexlink").rglob("*.py")
            for name in re.findall(r"CEXLINK_[A-Z0-9_]+", source.read_text())}
    documented = set(re.findall(r"CEXLINK_[A-Z0-9_]+", (ROOT / "docs" / "configuration.md").read_text()))
    assert used <= documented, f"not in docs/configuration.md: {sorted(used - documented)}"

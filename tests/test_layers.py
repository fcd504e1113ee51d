"""Which parts may load which: the API process never loads the sandbox or the Sign Center's internals, and
the packages import each other one way only (a scan of every ``import`` in src/cexlink)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "cexlink"

# Modules the API process (and its clients) must never load: the fake exchange, and the Sign Center's
# policy, engine and secret store (they belong to the one process that holds secrets).
FOREIGN_TO_CLIENTS = ("cexlink.sandbox", "cexlink.signer.policy", "cexlink.signer.engine", "cexlink.signer.store")

# package -> packages it must never import (directly, lazily inside a function, or by relative import)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "sandbox": ("signer", "accounts", "api"),
    "accounts": ("sandbox", "api"),
    "exchanges": ("sandbox",),
    "signer": ("sandbox",),
}


def _loaded_by(module: str) -> list[str]:
    code = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout)


@pytest.mark.parametrize("module", ["cexlink.api.server", "cexlink.cli", "cexlink.ccxt", "cexlink.signer",
                                    "cexlink.wiring"])
def test_the_api_side_loads_no_sandbox_and_no_sign_center_internals(module: str) -> None:
    assert _foreign(_loaded_by(module)) == [], f"importing {module} loads them"


def test_the_signer_package_exports_the_client_side() -> None:
    from cexlink.signer import AsyncHttpSignerClient, AsyncSignerClient, ForwardFailed, SignerClient
    from cexlink.signer.client import SignerClient as Direct

    assert SignerClient is Direct
    assert {AsyncSignerClient.__name__, AsyncHttpSignerClient.__name__, ForwardFailed.__name__}


def _imported(path: Path) -> set[str]:
    """Every cexlink module a file imports, absolute or relative, at any depth of the file."""
    package = ".".join(("cexlink", *path.relative_to(SRC).with_suffix("").parts))
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
                # ``from . import x`` names modules too
                out.update(f"{target}.{a.name}" for a in node.names)
            else:
                target = node.module or ""
            out.add(target)
    return {m for m in out if m == "cexlink" or m.startswith("cexlink.")}


def _package_files(package: str) -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_packages_import_one_way(package: str) -> None:
    files = _package_files(package)
    assert files, f"no source under {package}"
    wrong = []
    for path in files:
        for target in _imported(path):
            for banned in FORBIDDEN[package]:
                if target == f"cexlink.{banned}" or target.startswith(f"cexlink.{banned}."):
                    wrong.append(f"{path.relative_to(SRC)} imports {target}")
    assert wrong == []


def _foreign(modules: set[str] | list[str]) -> list[str]:
    return sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in FOREIGN_TO_CLIENTS))


@pytest.mark.parametrize("module", ["ccxt.py", "wiring.py", "api/server.py", "exchanges/probes.py"])
def test_client_side_modules_import_nothing_of_the_policy(module: str) -> None:
    """Not even lazily, inside a function: the subprocess test above only sees what import time loads."""
    assert _foreign(_imported(SRC / module)) == []


def test_the_scan_sees_relative_and_lazy_imports(tmp_path: Path) -> None:
    """The scanner must find what it is asked to forbid, including an import inside a function."""
    found = _imported(SRC / "exchanges" / "probes.py") | _imported(SRC / "signer" / "engine.py")
    assert "cexlink.exchanges.capabilities" in found  # ``from . import capabilities``
    assert "cexlink.ccxt" in found  # ``from ..ccxt import remote``
    assert any(m.startswith("cexlink.signer.") for m in found)

"""``python -m bench.mmap_audit signer serve ...``: the current Sign Center with its audit log written through
the memory-mapped writer of a previous revision (``mapped.py``, path in ``BENCH_MAPPED_PY``) instead of
``O_APPEND`` writes. Only for the A/B in compare.py: both writers in one run, on the same code otherwise."""

from __future__ import annotations

import importlib.util
import os
import sys

from cexlink.signer import audit

spec = importlib.util.spec_from_file_location("bench_mapped", os.environ["BENCH_MAPPED_PY"])
assert spec is not None and spec.loader is not None
mapped = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mapped)
# Same methods (read_tail, cut, append, sync, close, end); its reserve is the old default.
audit.AppendFile = mapped.MappedAppendFile  # type: ignore[attr-defined,misc]
audit.FileInUse = mapped.FileInUse  # type: ignore[attr-defined,misc]

if __name__ == "__main__":
    from cexlink.cli import app

    sys.argv[0] = "cexlink"
    app()

"""``python -m bench [--base REV]``: run every benchmark in turn (``--base``: the revision the Sign Center is
compared with, see compare.py)."""

import sys

from . import accounts_rate, compare, sandbox_rate, signer_instructions, signer_rate

argv = sys.argv[1:]
base = argv[argv.index("--base") + 1] if "--base" in argv else compare.BASE
sandbox_rate.main()
signer_rate.main(base=base)
signer_instructions.main()
accounts_rate.main()

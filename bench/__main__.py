"""``python -m bench``: run every benchmark in turn."""

from . import accounts_rate, sandbox_rate, signer_instructions, signer_rate

for bench in (sandbox_rate, signer_rate, signer_instructions, accounts_rate):
    bench.main()

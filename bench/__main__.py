"""``python -m bench``: run every benchmark in turn."""

from . import sandbox_rate, signer_rate

for bench in (sandbox_rate, signer_rate):
    bench.main()

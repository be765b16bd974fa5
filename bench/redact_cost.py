"""What redaction costs per ledger write: ``etlcrew.redact.redact`` on one batch outcome (10 records), per call.

How: ``timeit`` over 2,000 calls on the JSON of a 10-record outcome, with one secret-named variable set, as a run
has. Prints microseconds per call; every ledger write, console line and trace line pays this once.
Usage: python bench/redact_cost.py
"""

from __future__ import annotations

import json
import os
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from etlcrew.redact import redact


def main() -> None:
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench-0123456789abcdef")
    text = json.dumps({"records": [{"item_id": f"inbox:{i:04d}.eml", "summary": "printer offline after update",
                                    "category": "bug"} for i in range(10)]})
    calls = 2000
    per_call = timeit.timeit(lambda: redact(text), number=calls) / calls
    print(f"redact: {per_call * 1e6:.1f} us per call on a {len(text)}-character batch outcome ({calls} calls)")


if __name__ == "__main__":
    main()

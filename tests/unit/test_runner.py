"""The one runner's start-up (``node.runner``): a serving process settles its heap once it
is ready. Run in a child interpreter, so the test process's own collector is left alone."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from node.runner import GC_THRESHOLDS

CHILD = textwrap.dedent("""
    import gc, json, sys
    from node.runner import Runner
    before = {"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()}
    seen = []
    with Runner(state_file=None) as runner:
        runner.ready({"pid": 1}, seen.append)
    print(json.dumps({"before": before, "threshold": gc.get_threshold(),
                      "frozen": gc.get_freeze_count(), "told": seen}))
""")


def test_ready_freezes_what_was_loaded_and_raises_the_young_threshold(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         timeout=60, check=True, cwd=Path(__file__).parents[2])
    found = json.loads(out.stdout)
    assert found["before"]["threshold"] == [700, 10, 10]  # Python's defaults until then
    assert found["before"]["frozen"] == 0
    assert tuple(found["threshold"]) == GC_THRESHOLDS
    assert found["frozen"] > 1_000  # the objects of the modules loaded to start
    assert found["told"] == [{"pid": 1}]


def test_a_frozen_heap_still_collects_cycles_made_after_it() -> None:
    child = textwrap.dedent("""
        import gc, weakref
        from node.runner import settle_heap
        settle_heap()
        class Node: pass
        a, b = Node(), Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        del a, b
        gc.collect()
        print(gone() is None)
    """)
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                         timeout=60, check=True, cwd=Path(__file__).parents[2])
    assert out.stdout.strip() == "True"

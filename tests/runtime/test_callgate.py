"""CallGate: how a shared Detector admits backend calls and closes under running ones (real
threads)."""
import threading
import time

import pytest

from ssd_edge.errors import SsdEdgeError
from ssd_edge.runtime.callgate import CallGate


def _overlap_and_close(exclusive):
    gate, running, peak, closed_at, ended, refused = CallGate(exclusive), [0], [0], [], [], []
    lock, go = threading.Lock(), threading.Barrier(4)

    def call():
        go.wait()
        try:
            with gate.call():
                with lock:
                    running[0] += 1
                    peak[0] = max(peak[0], running[0])
                time.sleep(0.2)
                with lock:
                    running[0] -= 1
                ended.append(time.monotonic())
        except SsdEdgeError as e:
            refused.append(str(e))

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    go.wait()
    time.sleep(0.05)
    gate.close()
    closed_at.append(time.monotonic())
    for t in threads:
        t.join(10)
    return gate, peak[0], closed_at[0], ended, refused


def test_overlapping_gate_lets_calls_run_together_and_close_waits_for_them():
    gate, peak, closed_at, ended, refused = _overlap_and_close(exclusive=False)
    assert peak == 3 and len(ended) == 3 and closed_at >= max(ended) and not refused
    with pytest.raises(SsdEdgeError, match="closed"):
        with gate.call():
            pass


def test_exclusive_gate_runs_one_call_and_turns_the_waiting_ones_away_on_close():
    gate, peak, closed_at, ended, refused = _overlap_and_close(exclusive=True)
    assert peak == 1 and len(ended) == 1 and closed_at >= ended[0]
    assert len(refused) == 2 and all("closed" in r for r in refused)
    gate.close()                                                        # idempotent

"""The RAM + swap rule for engine builds, and ssd-doctor's memory line agreeing with it."""
import os

import pytest

from ssd_edge.doctor import Env
from ssd_edge.doctor.system import check_memory
from ssd_edge.export.build_memory import (BUILD_MIN_TOTAL, SMALL_BOARD_RAM, SWAP_FIX,
                                          build_memory_warning, check_build_memory,
                                          parse_meminfo, read_meminfo)

GIB = 1 << 30
KIB = 1 << 10


def _root(tmp_path, ram, swap):
    """A fake filesystem root with /proc/meminfo giving ``ram`` and ``swap`` bytes."""
    os.makedirs(str(tmp_path / "proc"), exist_ok=True)
    path = tmp_path / "proc" / "meminfo"
    path.write_text("MemTotal:       %d kB\nMemFree:         1000 kB\nMemAvailable:   %d kB\n"
                    "SwapTotal:      %d kB\nSwapFree:       %d kB\n"
                    % (ram // KIB, ram // 2 // KIB, swap // KIB, swap // KIB))
    return str(tmp_path), str(path)


# (RAM, swap, warn?): Nano 4 GB reads ~3.9 GiB; JetPack's zram gives RAM/2 of swap.
CASES = [
    (int(3.9 * GIB), 0, True),                 # 4 GB board, no swap
    (int(3.9 * GIB), int(1.9 * GIB), True),    # 4 GB board + zram: 5.8 GiB, just under
    (int(3.9 * GIB), 4 * GIB, False),          # 4 GB board + 4 GB swapfile
    (int(1.9 * GIB), 4 * GIB, True),           # Nano 2 GB + 4 GB swapfile: 5.9 GiB, more needed
    (SMALL_BOARD_RAM, BUILD_MIN_TOTAL - SMALL_BOARD_RAM - 1, True),   # edge: just under
    (SMALL_BOARD_RAM, BUILD_MIN_TOTAL - SMALL_BOARD_RAM, False),      # edge: exactly 6 GiB
    (SMALL_BOARD_RAM + KIB, 0, False),         # above 4 GiB: never warned
    (int(7.4 * GIB), 0, False),                # 8 GB Orin Nano / Xavier NX
    (32 * GIB, 0, False),
]


@pytest.mark.parametrize("ram,swap,warn", CASES)
def test_build_warning_and_doctor_agree(tmp_path, ram, swap, warn):
    root, path = _root(tmp_path, ram, swap)
    msg = check_build_memory(path)
    assert (msg is not None) == warn
    (verdict,) = check_memory(Env(root=root), {"jetson": True})
    assert verdict.status == ("warn" if warn else "ok")
    (plain,) = check_memory(Env(root=root), {})        # not a Jetson: the same rule
    assert plain.status == verdict.status
    if warn:
        assert "may be killed" in msg and verdict.fix == SWAP_FIX
        assert "sudo fallocate -l 4G /swapfile" in SWAP_FIX and "jetson/README.md" in SWAP_FIX
        assert "%.1f GiB RAM + %.1f GiB swap" % (ram / GIB, swap / GIB) in msg
    assert verdict.data["ram_bytes"] == ram // KIB * KIB


def test_thresholds_are_the_documented_ones():
    assert SMALL_BOARD_RAM == 4 * GIB and BUILD_MIN_TOTAL == 6 * GIB
    assert build_memory_warning(3 * GIB, None) is not None      # no SwapTotal line = no swap


def test_unreadable_or_foreign_meminfo_gives_no_warning(tmp_path):
    assert check_build_memory(str(tmp_path / "missing")) is None
    (tmp_path / "garbage").write_text("not meminfo\n")
    assert read_meminfo(str(tmp_path / "garbage")) is None
    assert check_build_memory(str(tmp_path / "garbage")) is None
    assert parse_meminfo("MemTotal: 1024 kB\nHugePages_Total: 0\n") == {"MemTotal": 1 << 20}

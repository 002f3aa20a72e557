"""pytest plugin (``-p tests.nbval_tolerance``): nbval compares a cell tagged ``nbval-tolerance`` number by number.

A seeded training trajectory is not bit-identical across CPUs: PyTorch and MKL choose kernels by instruction
set, so float rounding differs and printed losses move in their last digits. For a cell with this tag, the
text around the numbers must still match exactly (same words, same count of numbers, same order), and each
number must agree with the recorded one within ``RELATIVE`` of its size or ``ABSOLUTE``, whichever is larger.
Every other cell is compared exactly, as nbval does.
"""

from __future__ import annotations

import copy
import re
from collections import defaultdict

from nbval.plugin import IPyNbCell

TAG = "nbval-tolerance"
RELATIVE = 0.02
ABSOLUTE = 0.005
NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?")


def close(recorded: float, measured: float) -> bool:
    return abs(recorded - measured) <= max(RELATIVE * max(abs(recorded), abs(measured)), ABSOLUTE)


def _numbers_and_skeleton(outputs) -> tuple[dict[str, list[float]], list]:
    """Every number of the text outputs (per output field, in order), and the outputs with each number as '#'."""
    numbers: dict[str, list[float]] = defaultdict(list)
    skeleton = copy.deepcopy(outputs)

    def strip(field: str, text):
        if not isinstance(text, str):
            return text
        numbers[field] += [float(m.replace(",", "")) for m in NUMBER.findall(text)]
        return NUMBER.sub("#", text)

    for output in skeleton:
        if output.get("output_type") == "stream":
            output["text"] = strip(output["name"], output["text"])
        for mime, value in output.get("data", {}).items():
            output["data"][mime] = strip(mime, value)
    return numbers, skeleton


_exact = IPyNbCell.compare_outputs


def compare_outputs(self, test, ref, skip_compare=None):
    if TAG not in self.cell.metadata.get("tags", []):
        return _exact(self, test, ref, skip_compare)
    test_numbers, test_skeleton = _numbers_and_skeleton(test)
    ref_numbers, ref_skeleton = _numbers_and_skeleton(ref)
    if not _exact(self, test_skeleton, ref_skeleton, skip_compare):  # the words differ, or the count of numbers
        return False
    far = [f"{field}: recorded {r:g}, measured {t:g}" for field in ref_numbers
           for r, t in zip(ref_numbers[field], test_numbers[field], strict=True) if not close(r, t)]
    if far:
        self.comparison_traceback = [f"numbers outside the tolerance ({RELATIVE:.0%} or {ABSOLUTE}):", *far]
        return False
    return True


IPyNbCell.compare_outputs = compare_outputs

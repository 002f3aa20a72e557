"""Assignments and a papermill grader that instructors can trust (``arlib assign`` / ``arlib grade``).

- :mod:`arlib.grading.assignment`: source notebooks with solution regions, hidden tests and parameters;
  the released (student) and solution notebooks made from them.
- :func:`grade`: run every submission with papermill in a sandbox, then the hidden tests in the grader's
  own process against the submission's functions (called in a second sandboxed process), and write
  ``grades.csv`` and one feedback file per submission.

The modules that run inside the sandbox (``sandbox``, ``executor``, ``kernel``, ``server``, ``protocol``)
are started by file path and import nothing from arlib's package (so not torch) before student code does.
"""

from arlib.grading.assignment import Assignment, AssignmentError, HiddenTest, available, find, load
from arlib.grading.batch import Options, collect, grade

__all__ = ["Assignment", "AssignmentError", "HiddenTest", "Options", "available", "collect", "find", "grade", "load"]

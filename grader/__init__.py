"""Assignments and a papermill grader that instructors can trust: the ``arlib-grade`` command (:mod:`grader.cli`).

The grader sits beside the ``arlib`` library, not inside it: ``arlib`` never imports it, and it imports
nothing of ``arlib`` (only an assignment's reference solution and hidden tests do, when they run).

- :mod:`grader.assignment`: source notebooks with solution regions, hidden tests and parameters;
  the released (student) and solution notebooks made from them.
- :func:`grade`: run every submission with papermill in a sandbox, then the hidden tests in the grader's
  own process against the submission's functions (called in a second sandboxed process), and write
  ``grades.csv`` and one feedback file per submission.

The modules that run inside the sandbox (``sandbox``, ``executor``, ``kernel``, ``server``, ``protocol``)
are started by file path and import nothing from this package (nor torch) before student code does.
"""

from grader.assignment import Assignment, AssignmentError, HiddenTest, available, find, load
from grader.batch import Options, collect, grade

__all__ = ["Assignment", "AssignmentError", "HiddenTest", "Options", "available", "collect", "find", "grade", "load"]

"""Instructor tooling: what makes, runs and grades the course, never imported by a notebook.

    student_copy          strip solution blocks, lock check cells, drop hidden checks (the student copy)
    headless              papermill runs with parameter checks (around nbclient #312)
    autograde/            `ppedu grade`: the instructor's checks on each student's answers, sandboxed
    book/                 the course book: build, measured figures, computed numbers, server
"""
